// /v1/session/create|destroy|renew|info|node|list (consul-api-more.md §1.2; docs/sessions.md).
// Writes run on the leader (the router forwards them there); create's defaults that only the
// receiving agent knows (its node name) are filled in before forwarding.
#include "api/http_api.h"
#include "catalog/json.h"
#include "catalog/session_request.h"
#include "core/strings.h"
#include "core/uuid.h"

namespace gangway::api {
namespace {

catalog::Json SessionList(const std::vector<catalog::Session>& list) {
  catalog::Json out = catalog::Json::array();
  for (const auto& s : list) out.push_back(catalog::SessionToJson(s));
  return out;
}

// Sessions the token may read (session:read on their node); marks what it left out.
http::Response ReadableSessions(const AclView& acl, std::vector<catalog::Session> list) {
  bool filtered = false;
  std::erase_if(list, [&](const catalog::Session& s) {
    return !acl.Allowed(acl::Resource::kSession, s.node, &filtered);
  });
  http::Response r = JsonResponse(SessionList(list));
  acl.Mark(filtered, &r);
  return r;
}

// A write on an existing session needs session:write on its node.
bool AuthorizeSession(Call& call, const std::string& id) {
  std::optional<catalog::Session> s;
  call.backend.server->store().SessionGet(nullptr, id, &s);
  if (!s) return true;  // the handler's own answer for an unknown session
  return Authorize(call, acl::Resource::kSession, s->node, acl::Level::kWrite);
}

// Session IDs are UUIDs, which the store keeps in lower case; Consul's ID index folds case.
std::string SessionId(const std::string& rest) { return ToLower(rest); }

// The receiving agent's part of a create: its node is the default Node, and a client agent
// cannot create a session in another datacenter (the node would be wrong there).
bool PrepareCreate(Call& call) {
  if (!call.backend.server && call.opts.dc != call.backend.info.datacenter) {
    call.Error(500, "cross datacenter lock must be created at server agent");
    return false;
  }
  catalog::Json body = catalog::Json::object();
  if (!call.req.body.empty()) {
    try {
      body = catalog::Json::parse(call.req.body);
    } catch (const catalog::Json::exception&) {
      return true;  // the server reports the decode error
    }
    if (body.is_null()) body = catalog::Json::object();
    if (!body.is_object()) return true;
  }
  for (const auto& [k, v] : body.items()) {
    if (ToLower(k) == "node") return true;
  }
  body["Node"] = call.backend.info.node_name;
  call.req.body = body.dump();
  return true;
}

void Create(Call& call) {
  auto s = catalog::DecodeSessionCreate(call.req.body, call.backend.info.node_name);
  if (!s.ok()) return call.Error(400, s.status().message());
  Status v = catalog::ValidateSession(&*s, call.backend.server->options().session_ttl_min);
  if (!v.ok()) return call.Error(500, v.message());
  if (!Authorize(call, acl::Resource::kSession, s->node, acl::Level::kWrite)) return;
  auto& store = call.backend.server->store();
  for (;;) {
    s->id = NewUuid();
    std::optional<catalog::Session> existing;
    store.SessionGet(nullptr, s->id, &existing);
    if (!existing) break;
  }
  catalog::SessionRequest req{catalog::SessionOp::kCreate, *s};
  auto reply = std::move(call.reply);
  server::Server* server = call.backend.server;
  server->Apply(req, [reply, server, created = *s](catalog::ApplyResult r) {
    if (!r.status.ok()) return reply(ErrorResponse(500, r.status.message()));
    server->sessions().ResetTimer(created);
    reply(JsonResponse({{"ID", created.id}}));
  });
}

void Destroy(Call& call) {
  std::string id = SessionId(call.rest);
  if (id.empty()) return call.Error(400, "Missing session");
  if (!AuthorizeSession(call, id)) return;
  catalog::SessionRequest req;
  req.op = catalog::SessionOp::kDestroy;
  req.session.id = id;
  auto reply = std::move(call.reply);
  server::Server* server = call.backend.server;
  server->Apply(req, [reply, server, id](catalog::ApplyResult r) {
    if (!r.status.ok()) return reply(ErrorResponse(500, r.status.message()));
    server->sessions().ClearTimer(id);
    reply(JsonResponse(true));
  });
}

void Renew(Call& call) {
  std::string id = SessionId(call.rest);
  if (id.empty()) return call.Error(400, "Missing session");
  std::optional<catalog::Session> s;
  call.backend.server->store().SessionGet(nullptr, id, &s);
  if (!s) return call.Error(404, "Session id '" + id + "' not found");
  if (!Authorize(call, acl::Resource::kSession, s->node, acl::Level::kWrite)) return;
  call.backend.server->sessions().ResetTimer(*s);
  call.Json(SessionList({*s}));
}

void Info(Call& call) {
  std::string id = SessionId(call.rest);
  if (id.empty()) return call.Error(400, "Missing session");
  auto* store = &call.backend.server->store();
  AclView acl(call);
  QueryFn fn = [store, id, acl](catalog::WatchSet* ws, http::Response* out) {
    std::optional<catalog::Session> s;
    catalog::Index idx = store->SessionGet(ws, id, &s);
    std::vector<catalog::Session> list;
    if (s) list.push_back(*s);
    *out = ReadableSessions(acl, std::move(list));
    return idx;
  };
  Blocking(call.backend, call.opts, std::move(fn), call.cancel, std::move(call.reply));
}

void Node(Call& call) {
  std::string node = call.rest;
  if (node.empty()) return call.Error(400, "Missing node name");
  auto* store = &call.backend.server->store();
  AclView acl(call);
  QueryFn fn = [store, node, acl](catalog::WatchSet* ws, http::Response* out) {
    std::vector<catalog::Session> list;
    catalog::Index idx = store->NodeSessions(ws, node, &list);
    *out = ReadableSessions(acl, std::move(list));
    return idx;
  };
  Blocking(call.backend, call.opts, std::move(fn), call.cancel, std::move(call.reply));
}

void List(Call& call) {
  auto* store = &call.backend.server->store();
  AclView acl(call);
  QueryFn fn = [store, acl](catalog::WatchSet* ws, http::Response* out) {
    std::vector<catalog::Session> list;
    catalog::Index idx = store->SessionList(ws, &list);
    *out = ReadableSessions(acl, std::move(list));
    return idx;
  };
  Blocking(call.backend, call.opts, std::move(fn), call.cancel, std::move(call.reply));
}

}  // namespace

void AddSessionRoutes(std::vector<Route>* routes) {
  Route create{"/v1/session/create", {"PUT"}, Create, true};
  create.prepare = PrepareCreate;
  create.put_only = true;
  routes->push_back(create);
  Route destroy{"/v1/session/destroy/", {"PUT"}, Destroy, true};
  destroy.put_only = true;
  routes->push_back(destroy);
  Route renew{"/v1/session/renew/", {"PUT"}, Renew, true};
  renew.put_only = true;
  routes->push_back(renew);
  routes->push_back({"/v1/session/info/", {"GET"}, Info, true});
  routes->push_back({"/v1/session/node/", {"GET"}, Node, true});
  routes->push_back({"/v1/session/list", {"GET"}, List, true});
}

}  // namespace gangway::api
