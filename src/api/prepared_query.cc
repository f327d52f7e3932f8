// /v1/query: Consul's prepared queries (consul-api-more.md §3; docs/prepared-queries.md) —
// create, list, read, update, delete, execute and explain. Queries live in the servers' state
// store (PreparedQueryRequest); the decoding, validation, templates and name resolution are
// catalog/prepared_query.h. Execution runs on a server of the datacenter asked: the local
// instances first, then, when none is left, the failover datacenters in order, each through
// /v1/internal/query/execute-remote on one of its servers (no sorting there, no further
// failover), as Consul's PreparedQuery.ExecuteRemote.
#include <algorithm>
#include <memory>
#include <random>

#include "acl/builtin.h"
#include "api/acl_resolver.h"
#include "api/http_api.h"
#include "catalog/json.h"
#include "catalog/prepared_query.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/uuid.h"
#include "server/coordinates.h"

namespace gangway::api {
namespace {

using catalog::Json;
using catalog::PreparedQuery;

constexpr const char* kQueryNotFound = "Query not found";

std::vector<PreparedQuery> StoredQueries(const catalog::Store& store, catalog::WatchSet* ws,
                                         catalog::Index* index) {
  std::vector<Json> stored;
  catalog::Index idx = store.PreparedQueries(ws, &stored);
  if (index != nullptr) *index = idx;
  std::vector<PreparedQuery> out;
  for (const Json& j : stored) {
    auto q = catalog::PreparedQueryFromJson(j);
    if (q.ok()) out.push_back(std::move(*q));
  }
  return out;
}

// Consul's GetACLPrefix: a named query or a template is governed by query rules on its name;
// an unnamed one by nothing but knowing its ID.
bool HasAclPrefix(const PreparedQuery& q) { return !q.name.empty() || !q.tmpl.type.empty(); }

// A query the token may list: query:read on its name (an unnamed one only with a management
// token).
bool Listable(const AclView& acl, const PreparedQuery& q, bool* filtered) {
  if (acl.authz == nullptr || acl.authz->all_allowed()) return true;
  if (!HasAclPrefix(q)) {
    *filtered = true;
    return false;
  }
  return acl.Allowed(acl::Resource::kQuery, q.name, filtered);
}

// The stored token is shown only to those who may write ACLs.
bool ShowsTokens(const AclView& acl) {
  return acl.authz == nullptr || acl.authz->Allowed(acl::Resource::kAcl, "", acl::Level::kWrite);
}

// query:write on the query's name, when it has one (create, update, delete; old and new).
bool AuthorizeQueryWrite(Call& call, const PreparedQuery& q) {
  if (!HasAclPrefix(q)) return true;
  return Authorize(call, acl::Resource::kQuery, q.name, acl::Level::kWrite);
}

// Create and update: decode, Consul's checks, the template compiled.
bool DecodeForWrite(Call& call, PreparedQuery* q) {
  auto decoded = catalog::DecodePreparedQuery(call.req.body);
  if (!decoded.ok()) {
    call.Error(400, decoded.status().message());
    return false;
  }
  *q = std::move(*decoded);
  return true;
}

bool CheckForWrite(Call& call, const PreparedQuery& q) {
  if (Status s = catalog::ValidatePreparedQuery(q); !s.ok()) {
    call.Error(500, s.message());
    return false;
  }
  if (Status s = catalog::TemplateCheck(q); !s.ok()) {
    call.Error(500, s.message());
    return false;
  }
  return true;
}

void ApplyQuery(Call& call, catalog::PreparedQueryRequest req, Json answer) {
  auto reply = std::move(call.reply);
  call.backend.server->Apply(req, [reply, answer](catalog::ApplyResult r) {
    if (!r.status.ok()) return reply(ErrorResponse(500, r.status.message()));
    reply(answer.is_null() ? http::Response::Text(200, "") : JsonResponse(answer));
  });
}

void Create(Call& call) {
  PreparedQuery q;
  if (!DecodeForWrite(call, &q)) return;
  if (!q.id.empty()) return call.Error(500, "ID must be empty when creating a new prepared query");
  if (!CheckForWrite(call, q)) return;
  if (!AuthorizeQueryWrite(call, q)) return;
  auto& store = call.backend.server->store();
  for (;;) {
    q.id = NewUuid();
    Json existing;
    store.PreparedQueryGet(nullptr, q.id, &existing);
    if (existing.is_null()) break;
  }
  catalog::PreparedQueryRequest req;
  req.query = catalog::PreparedQueryToJson(q);
  ApplyQuery(call, std::move(req), {{"ID", q.id}});
}

// The stored query `id`, or a 500 "Cannot modify non-existent prepared query".
bool ExistingForWrite(Call& call, const std::string& id, PreparedQuery* out) {
  Json existing;
  call.backend.server->store().PreparedQueryGet(nullptr, id, &existing);
  auto q = existing.is_null() ? Result<PreparedQuery>(NotFound(""))
                              : catalog::PreparedQueryFromJson(existing);
  if (!q.ok()) {
    call.Error(500, "Cannot modify non-existent prepared query: '" + id + "'");
    return false;
  }
  *out = std::move(*q);
  return true;
}

void Update(Call& call, const std::string& id) {
  PreparedQuery q;
  if (!DecodeForWrite(call, &q)) return;
  q.id = id;
  PreparedQuery old;
  if (!ExistingForWrite(call, id, &old)) return;
  if (!AuthorizeQueryWrite(call, old) || !AuthorizeQueryWrite(call, q)) return;
  if (!CheckForWrite(call, q)) return;
  catalog::PreparedQueryRequest req;
  req.query = catalog::PreparedQueryToJson(q);
  ApplyQuery(call, std::move(req), nullptr);
}

void Delete(Call& call, const std::string& id) {
  PreparedQuery old;
  if (!ExistingForWrite(call, id, &old)) return;
  if (!AuthorizeQueryWrite(call, old)) return;
  catalog::PreparedQueryRequest req;
  req.op = catalog::PreparedQueryOp::kDelete;
  req.id = id;
  ApplyQuery(call, std::move(req), nullptr);
}

void List(Call& call) {
  const catalog::Store* store = &call.backend.server->store();
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, acl](catalog::WatchSet* ws, http::Response* out) {
             catalog::Index idx = 0;
             bool filtered = false;
             Json list = Json::array();
             for (const auto& q : StoredQueries(*store, ws, &idx)) {
               if (Listable(acl, q, &filtered)) {
                 list.push_back(catalog::PreparedQueryToJson(q, !ShowsTokens(acl)));
               }
             }
             *out = JsonResponse(list);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void Get(Call& call, const std::string& id) {
  const catalog::Store* store = &call.backend.server->store();
  Json found;
  store->PreparedQueryGet(nullptr, id, &found);
  if (found.is_null()) return call.Error(404, kQueryNotFound);
  auto q = catalog::PreparedQueryFromJson(found);
  if (!q.ok()) return call.Fail(q.status());
  if (HasAclPrefix(*q) && !Authorize(call, acl::Resource::kQuery, q->name, acl::Level::kRead)) {
    return;
  }
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, acl, id](catalog::WatchSet* ws, http::Response* out) {
             Json j;
             catalog::Index idx = store->PreparedQueryGet(ws, id, &j);
             auto q = j.is_null() ? Result<PreparedQuery>(NotFound(kQueryNotFound))
                                  : catalog::PreparedQueryFromJson(j);
             *out = q.ok() ? JsonResponse(Json::array(
                                 {catalog::PreparedQueryToJson(*q, !ShowsTokens(acl))}))
                           : ErrorResponse(404, kQueryNotFound);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

// ---- execution

// The query `id_or_name` means, rendered when it is a template.
Result<PreparedQuery> Resolve(const Backend& b, const std::string& id_or_name) {
  std::vector<PreparedQuery> all = StoredQueries(b.server->store(), nullptr, nullptr);
  const PreparedQuery* q = catalog::ResolvePreparedQuery(all, id_or_name);
  if (q == nullptr) return NotFound(kQueryNotFound);
  if (q->tmpl.type.empty()) return *q;
  return catalog::RenderTemplate(*q, id_or_name);
}

struct ExecOptions {
  int64_t limit = 0;  // 0: no limit
  bool connect = false;
  std::string near_node;  // the node to sort next to ("": none)
};

// Consul's step 3-8 on this datacenter's catalog: health, meta and tag filters, the ACL filter,
// a shuffle, a sort by round trip from the near node (which goes first when among the first
// ten), the limit.
Json ExecuteLocal(const catalog::Store& store, const PreparedQuery& q, const AclView& acl,
                  const ExecOptions& o, bool* filtered) {
  std::vector<catalog::CheckServiceNode> nodes;
  store.CheckServiceNodes(nullptr, q.service.service, o.connect || q.service.connect, &nodes);
  const auto& s = q.service;
  std::erase_if(nodes, [&](const catalog::CheckServiceNode& n) {
    for (const auto& c : n.checks) {
      if (std::find(s.ignore_check_ids.begin(), s.ignore_check_ids.end(), c.check_id) !=
          s.ignore_check_ids.end()) {
        continue;
      }
      if (c.status == catalog::kCritical) return true;
      if (s.only_passing && c.status != catalog::kPassing) return true;
    }
    for (const auto& [k, v] : s.node_meta) {
      auto it = n.node.meta.find(k);
      if (it == n.node.meta.end() || it->second != v) return true;
    }
    for (const auto& [k, v] : s.service_meta) {
      auto it = n.service.meta.find(k);
      if (it == n.service.meta.end() || it->second != v) return true;
    }
    if (!catalog::TagsMatch(n.service.tags, s.tags)) return true;
    return !acl.Instance(n.node.node, n.service.service, filtered);
  });
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::shuffle(nodes.begin(), nodes.end(), rng);
  if (!o.near_node.empty()) {
    server::SortByDistance(store, o.near_node, &nodes,
                           [](const catalog::CheckServiceNode& n) { return n.node.node; });
    // Consul moves the source node to the front when it is among the first ten.
    for (size_t i = 0; i < nodes.size() && i < 10; ++i) {
      if (nodes[i].node.node == o.near_node) {
        std::swap(nodes[0], nodes[i]);
        break;
      }
    }
  }
  if (o.limit > 0 && nodes.size() > static_cast<size_t>(o.limit)) {
    nodes.resize(static_cast<size_t>(o.limit));
  }
  Json out = Json::array();
  for (const auto& n : nodes) out.push_back(catalog::CheckServiceNodeToJson(n));
  return out;
}

bool ParseExecOptions(Call& call, ExecOptions* o) {
  if (auto l = call.req.Query("limit")) {
    try {
      size_t used = 0;
      o->limit = std::stoll(*l, &used);
      if (used != l->size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      call.Error(500, "Bad limit: strconv.Atoi: parsing \"" + *l + "\": invalid syntax");
      return false;
    }
  }
  if (auto c = call.req.Query("connect")) {
    if (!ParseBool(*c, &o->connect)) {
      call.Error(400, "Error parsing 'connect' value: strconv.ParseBool: parsing \"" + *c +
                          "\": invalid syntax");
      return false;
    }
  }
  return true;
}

std::string NearNode(const Call& call, const PreparedQuery& q) {
  std::string near = call.req.Query("near").value_or(q.service.near);
  if (near == "_agent") {
    // The agent the client asked, which may be a client agent that forwarded the request.
    auto agent = call.req.headers.find(kAgentNodeHeader);
    return agent != call.req.headers.end() ? agent->second : call.backend.info.node_name;
  }
  if (near == "_ip") {
    std::string ip = call.req.remote_address.substr(0, call.req.remote_address.rfind(':'));
    if (auto xff = call.req.headers.find("X-Forwarded-For"); xff != call.req.headers.end()) {
      ip = xff->second.substr(0, xff->second.find(','));
      std::erase_if(ip, [](char c) { return c == ' ' || c == '\t'; });
    }
    std::vector<catalog::Node> nodes;
    call.backend.server->store().Nodes(nullptr, &nodes);
    for (const auto& n : nodes) {
      if (n.address == ip) return n.node;
    }
    return "";
  }
  return near;
}

// The failover targets in Consul's order: the NearestN other datacenters (by WAN round trip; by
// name without coordinates), then Datacenters as listed, each once, unknown ones skipped.
std::vector<std::string> FailoverTargets(Backend& b, const PreparedQuery& q) {
  std::vector<std::string> known = DatacentersByDistance(b);
  std::vector<std::string> out;
  auto add = [&](const std::string& dc) {
    if (dc == b.info.datacenter) return;
    if (std::find(known.begin(), known.end(), dc) == known.end()) return;
    if (std::find(out.begin(), out.end(), dc) == out.end()) out.push_back(dc);
  };
  int64_t nearest = 0;
  for (const auto& dc : known) {
    if (nearest >= q.service.failover.nearest_n) break;
    if (dc == b.info.datacenter) continue;
    add(dc);
    ++nearest;
  }
  for (const auto& dc : q.service.failover.datacenters) add(dc);
  for (const auto& t : q.service.failover.targets) {
    if (!t.datacenter.empty()) add(t.datacenter);
  }
  return out;
}

struct Execution {
  Backend* backend = nullptr;
  PreparedQuery query;
  ExecOptions options;
  std::string caller_token;
  std::vector<std::string> targets;
  size_t next = 0;
  int failovers = 0;
  http::Reply reply;
  std::shared_ptr<http::Cancellation> cancel;
};

void Answer(const std::shared_ptr<Execution>& e, Json nodes, const std::string& dc) {
  Json out = {{"Service", e->query.service.service},
              {"Nodes", std::move(nodes)},
              {"DNS", {{"TTL", e->query.dns_ttl}}},
              {"Datacenter", dc},
              {"Failovers", e->failovers},
              {"PeerName", ""},
              {"Index", 0},
              {"LastContact", 0},
              {"KnownLeader", true},
              {"ConsistencyLevel", "leader"},
              {"NotModified", false},
              {"Backend", 0},
              {"ResultsFilteredByACLs", false}};
  e->reply(JsonResponse(out));
}

// Tries the next failover datacenter; answers with no nodes when none is left.
void TryNext(const std::shared_ptr<Execution>& e) {
  if (e->next >= e->targets.size() || !e->backend->forward) {
    return Answer(e, Json::array(), e->backend->info.datacenter);
  }
  const std::string dc = e->targets[e->next++];
  ++e->failovers;
  http::Request req;
  req.method = "POST";
  req.path = "/v1/internal/query/execute-remote";
  req.target = req.path + "?dc=" + dc;
  req.query.emplace_back("dc", dc);
  // The query's own token decides what the remote datacenter shows, else the caller's.
  std::string token = !e->query.token.empty() ? e->query.token : e->caller_token;
  if (!token.empty()) req.headers["X-Consul-Token"] = token;
  req.body = Json{{"Query", catalog::PreparedQueryToJson(e->query)},
                  {"Limit", e->options.limit},
                  {"Connect", e->options.connect}}
                 .dump();
  e->backend->forward(std::move(req), dc, e->cancel, [e, dc](http::Response r) {
    if (r.status == 200) {
      Json body = Json::parse(r.Body(), nullptr, false);
      if (body.is_object() && body.contains("Nodes") && body["Nodes"].is_array() &&
          !body["Nodes"].empty()) {
        return Answer(e, std::move(body["Nodes"]), dc);
      }
    } else {
      LogWarn("agent.server.prepared_query",
              "failed querying for service in datacenter " + dc + ": " + r.Body());
    }
    TryNext(e);
  });
}

void Run(Call& call, const std::string& id_or_name, bool explain) {
  auto q = Resolve(call.backend, id_or_name);
  if (!q.ok()) {
    if (q.status().code() == Code::kNotFound) return call.Error(404, kQueryNotFound);
    return call.Error(500, q.status().message());
  }
  if (explain) {
    if (HasAclPrefix(*q) && !Authorize(call, acl::Resource::kQuery, q->name, acl::Level::kRead)) {
      return;
    }
    AclView acl(call);
    return call.Json({{"Query", catalog::PreparedQueryToJson(*q, !ShowsTokens(acl))}});
  }
  auto e = std::make_shared<Execution>();
  if (!ParseExecOptions(call, &e->options)) return;
  e->options.near_node = NearNode(call, *q);
  e->backend = &call.backend;
  e->query = std::move(*q);
  e->caller_token = RequestToken(call.req);
  e->reply = std::move(call.reply);
  e->cancel = call.cancel;
  auto run = [e](AclView acl) {
    bool filtered = false;
    Json nodes = ExecuteLocal(e->backend->server->store(), e->query, acl, e->options, &filtered);
    if (!nodes.empty()) return Answer(e, std::move(nodes), e->backend->info.datacenter);
    e->targets = FailoverTargets(*e->backend, e->query);
    TryNext(e);
  };
  AclView acl(call);
  if (e->query.token.empty() || !call.backend.acl_resolver) return run(acl);
  // A stored token decides what the query shows (how a query gives DNS users access).
  call.backend.acl_resolver->Resolve(e->query.token, [e, run, acl](Result<Resolved> r) mutable {
    if (!r.ok()) return e->reply(ErrorResponse(403, acl::kAclNotFound));
    acl.authz = r->authz;
    run(acl);
  });
}

void Query(Call& call) {
  const std::string& rest = call.rest;
  for (const char* verb : {"/execute", "/explain"}) {
    std::string_view v(verb);
    if (rest.size() > v.size() && rest.compare(rest.size() - v.size(), v.size(), v) == 0) {
      if (call.req.method != "GET") return call.Error(405, "method not allowed");
      return Run(call, rest.substr(0, rest.size() - v.size()), v == "/explain");
    }
  }
  if (rest.empty() || rest.find('/') != std::string::npos) return call.Error(404, kQueryNotFound);
  if (call.req.method == "GET") return Get(call, rest);
  if (call.req.method == "PUT") return Update(call, rest);
  return Delete(call, rest);
}

void Queries(Call& call) {
  if (call.req.method == "POST") return Create(call);
  List(call);
}

// The datacenter asked by another one's failover: this catalog only, no sorting, no failover.
void ExecuteRemote(Call& call) {
  Json body = Json::parse(call.req.body, nullptr, false);
  if (!body.is_object() || !body.contains("Query")) {
    return call.Error(400, "Request decode failed: expected {\"Query\": ...}");
  }
  auto q = catalog::PreparedQueryFromJson(body["Query"]);
  if (!q.ok()) return call.Error(400, q.status().message());
  ExecOptions o;
  if (auto l = body.find("Limit"); l != body.end() && l->is_number_integer()) o.limit = *l;
  if (auto c = body.find("Connect"); c != body.end() && c->is_boolean()) o.connect = *c;
  AclView acl(call);
  bool filtered = false;
  Json nodes = ExecuteLocal(call.backend.server->store(), *q, acl, o, &filtered);
  http::Response r = JsonResponse({{"Nodes", std::move(nodes)}});
  acl.Mark(filtered, &r);
  call.Respond(std::move(r));
}

}  // namespace

void AddPreparedQueryRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/query", {"GET", "POST"}, Queries, true});
  routes->push_back({"/v1/query/", {"GET", "PUT", "DELETE"}, Query, true});
  routes->push_back({"/v1/internal/query/execute-remote", {"POST"}, ExecuteRemote, true});
}

}  // namespace gangway::api
