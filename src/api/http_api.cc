#include "api/http_api.h"

#include <algorithm>
#include <cctype>

#include "acl/builtin.h"
#include "api/acl_resolver.h"
#include "core/log.h"
#include "core/strings.h"
#include "http/reply_group.h"
#include "server/coordinates.h"

namespace gangway::api {

HttpApi::HttpApi(Backend backend) : backend_(std::move(backend)) {
  AddAgentRoutes(&routes_);
  AddCatalogRoutes(&routes_);
  AddConfigRoutes(&routes_);
  AddConnectRoutes(&routes_);
  AddDiscoveryChainRoutes(&routes_);
  AddEventRoutes(&routes_);
  AddHealthRoutes(&routes_);
  AddIntentionRoutes(&routes_);
  AddKVRoutes(&routes_);
  AddOperatorRoutes(&routes_);
  AddProxyRoutes(&routes_);
  AddStatusRoutes(&routes_);
  AddRaftRoutes(&routes_);
  AddSessionRoutes(&routes_);
  AddCoordinateRoutes(&routes_);
  AddAclRoutes(&routes_);
  AddPreparedQueryRoutes(&routes_);
  if (backend_.acl.enabled) {
    backend_.acl_resolver = std::make_shared<AclResolver>(backend_);
  }
  // Longest paths first so "/v1/agent/service/register" wins over "/v1/agent/service/".
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const Route& a, const Route& b) { return a.path.size() > b.path.size(); });
}

void HttpApi::Handle(http::Request req, std::shared_ptr<http::Cancellation> cancel,
                     http::Reply reply) {
  const Route* match = nullptr;
  for (const auto& r : routes_) {
    bool prefix = !r.path.empty() && r.path.back() == '/';
    if (prefix ? StartsWith(req.path, r.path) : req.path == r.path) {
      match = &r;
      break;
    }
  }
  if (!match) {
    reply(ErrorResponse(404, "404 page not found\n"));
    return;
  }
  std::string method = req.method;
  if (method == "OPTIONS") {
    http::Response r;
    std::string allow;
    for (const auto& m : match->methods) allow += (allow.empty() ? "" : ",") + m;
    r.Set("Allow", allow + ",OPTIONS");
    reply(std::move(r));
    return;
  }
  bool allowed = std::find(match->methods.begin(), match->methods.end(), method) !=
                 match->methods.end();
  // Consul accepts POST wherever PUT is accepted.
  if (!allowed && method == "POST" && !match->put_only) {
    allowed = std::find(match->methods.begin(), match->methods.end(), "PUT") !=
              match->methods.end();
  }
  if (!allowed) {
    auto r = ErrorResponse(405, "method " + method + " not allowed");
    std::string allow;
    for (const auto& m : match->methods) allow += (allow.empty() ? "" : ",") + m;
    r.Set("Allow", allow);
    reply(std::move(r));
    return;
  }
  Call call{backend_, std::move(req), std::move(cancel), std::move(reply), {}, {}};
  call.rest = call.req.path.substr(std::min(match->path.size(), call.req.path.size()));
  if (Status s = ParseQueryOptions(call.req, backend_.info.datacenter, &call.opts); !s.ok()) {
    call.Fail(s);
    return;
  }
  bool remote_dc = call.opts.dc != backend_.info.datacenter;
  ResolveNearAgent(&call.req, backend_.info.node_name);
  if (match->prepare != nullptr && !match->prepare(call)) return;
  call.token_given = !RequestToken(call.req).empty();
  if (backend_.acl.enabled) {
    call.reply = http::WithHeader(std::move(call.reply), "X-Consul-Default-ACL-Policy",
                                  backend_.acl.default_allow ? "allow" : "deny");
    // A forwarded request carries the agent's default token when its client sent none, so the
    // server that answers decides with it.
    if (!call.token_given && !backend_.acl.tokens.default_token.empty()) {
      call.req.headers["X-Consul-Token"] = backend_.acl.tokens.default_token;
    }
  }
  // Reads and writes of the servers' state are answered by the leader, except ?stale reads,
  // which any server answers from its replica.
  // ?max_stale bounds how far behind a follower's replica may be.
  bool stale_ok = call.opts.stale && call.req.method == "GET" && backend_.server &&
                  (call.opts.max_stale.count() == 0 ||
                   backend_.server->LastContactMs() <= call.opts.max_stale.count());
  bool any_server = match->any_server || (match->writes_on_any_server && call.req.method != "GET");
  bool to_leader = match->server_state && !any_server && backend_.server &&
                   !backend_.server->IsLeader() && !stale_ok;
  if (match->server_state && (remote_dc || !backend_.server || to_leader) && backend_.forward) {
    backend_.forward(std::move(call.req), call.opts.dc, std::move(call.cancel), std::move(call.reply));
    return;
  }
  if (remote_dc) {
    call.Error(500, "No path to datacenter");
    return;
  }
  if (match->server_state && !backend_.server) {
    call.Error(500, "No known Consul servers");
    return;
  }
  if (!backend_.acl_resolver || match->acl != AclCheck::kHandler) return Run(*match, std::move(call));
  // Answered here: the token decides first (docs/acl.md, "Enforcement").
  std::string secret = RequestToken(call.req);
  if (secret.empty()) secret = backend_.acl_resolver->DefaultSecret();
  const std::string& recovery = backend_.acl.tokens.agent_recovery;
  if (!recovery.empty() && StartsWith(call.req.path, "/v1/agent/") &&
      acl::SecretsEqual(secret, recovery)) {
    // agent_recovery: this agent's own API, even with no server reachable.
    call.authz = acl::Authorizer::Management();
    call.accessor = "agent-recovery";
    return Run(*match, std::move(call));
  }
  auto pending = std::make_shared<Call>(std::move(call));
  const Route* route = match;
  backend_.acl_resolver->Resolve(secret, [this, pending, route, secret](Result<Resolved> r) {
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) return pending->Error(403, acl::kAclNotFound);
      return pending->Fail(r.status());
    }
    pending->authz = r->authz;
    pending->accessor = r->accessor;
    std::weak_ptr<AclResolver> resolver = backend_.acl_resolver;
    pending->opts.token_still_valid = [resolver, secret] {
      auto res = resolver.lock();
      if (!res) return true;
      auto now = res->ResolveNow(secret);
      return !now || now->ok();
    };
    Run(*route, std::move(*pending));
  });
}

void HttpApi::Run(const Route& route, Call call) {
  const Route* match = &route;
  // Identical blocking reads answered here share one parked query and one rendered answer.
  // ?consistent reads stay apart: each must see every write completed before it arrived.
  if (call.req.method == "GET" && call.opts.blocking && !call.opts.consistent) {
    call.opts.share_key = ShareKey(call.req);
  }
  if (match->server_state && !match->any_server && call.req.method == "GET") {
    // Which consistency mode answered (Consul's X-Consul-Effective-Consistency).
    const char* mode = call.opts.consistent ? "consistent"
                       : (call.opts.stale && !backend_.server->IsLeader()) ? "stale"
                                                                           : "leader";
    call.reply = http::WithHeader(std::move(call.reply), "X-Consul-Effective-Consistency", mode);
  }
  if (match->server_state && call.opts.consistent && !backend_.server->dev()) {
    // ?consistent: the leader first confirms it still leads (a Raft barrier) before reading.
    auto pending = std::make_shared<Call>(std::move(call));
    EndpointFn fn = match->fn;
    backend_.server->VerifyLeader([pending, fn](Status s) {
      if (!s.ok()) return pending->Fail(s);
      RunEndpoint(fn, *pending);
    });
    return;
  }
  RunEndpoint(match->fn, call);
}

void RunEndpoint(EndpointFn fn, Call& call) {
  try {
    fn(call);
  } catch (const std::exception& e) {
    // A handler bug must not take the agent down; the client gets a 500 naming it.
    LogError("agent.http", "handler failed for " + call.req.path + ": " + e.what());
    if (call.reply) call.Error(500, std::string("internal error: ") + e.what());
  }
}

bool DecodeBody(Call& call, catalog::Json* out) {
  if (call.req.body.empty()) {
    call.Error(400, "Request decode failed: request body is empty; expected a JSON object");
    return false;
  }
  try {
    *out = catalog::Json::parse(call.req.body);
  } catch (const catalog::Json::parse_error& e) {
    // nlohmann's text names the byte offset and what it expected.
    std::string what = e.what();
    auto pos = what.find("] ");
    call.Error(400, "Request decode failed: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
    return false;
  }
  return true;
}

bool ParseFilter(Call& call, FilterPtr* out) {
  out->reset();
  if (call.opts.filter.empty()) return true;
  auto f = Filter::Parse(call.opts.filter);
  if (!f.ok()) {
    call.Error(400, "Failed to create boolean expression evaluator: " + f.status().message());
    return false;
  }
  *out = std::make_shared<const Filter>(std::move(*f));
  return true;
}

void FilterArray(const FilterPtr& f, catalog::Json* rows) {
  if (!f) return;
  catalog::Json kept = catalog::Json::array();
  for (auto& row : *rows) {
    if (f->Matches(row)) kept.push_back(std::move(row));
  }
  *rows = std::move(kept);
}

void FilterMap(const FilterPtr& f, catalog::Json* map) {
  if (!f) return;
  catalog::Json kept = catalog::Json::object();
  for (auto& [k, v] : map->items()) {
    if (f->Matches(v)) kept[k] = v;
  }
  *map = std::move(kept);
}

bool FoldKeys(Call& call, catalog::Json* body, std::initializer_list<const char*> known) {
  if (!body->is_object()) return true;
  catalog::Json folded = catalog::Json::object();
  for (auto& [k, v] : body->items()) {
    const char* match = nullptr;
    for (const char* name : known) {
      if (k == name) {
        match = name;
        break;
      }
      if (!match && ToLower(k) == ToLower(name)) match = name;
    }
    if (!match) {
      call.Error(400, "Request decode failed: json: unknown field \"" + k + "\"");
      return false;
    }
    folded[match] = std::move(v);  // of keys naming one field, the last wins
  }
  *body = std::move(folded);
  return true;
}

std::string RequestToken(const http::Request& req) {
  if (auto q = req.Query("token"); q && !q->empty()) return *q;
  if (auto h = req.headers.find("X-Consul-Token"); h != req.headers.end() && !h->second.empty()) {
    return h->second;
  }
  if (auto h = req.headers.find("Authorization"); h != req.headers.end()) {
    const std::string& v = h->second;
    auto sp = v.find(' ');
    if (sp != std::string::npos && ToLower(v.substr(0, sp)) == "bearer") {
      std::string rest = v.substr(sp + 1);
      auto b = rest.find_first_not_of(' ');
      if (b == std::string::npos) return "";
      rest = rest.substr(b);
      return rest.substr(0, rest.find(' '));
    }
  }
  return "";
}

bool Allowed(const Call& call, acl::Resource r, std::string_view name, acl::Level level) {
  return call.authz->Allowed(r, name, level);
}

bool Authorize(Call& call, acl::Resource r, std::string_view name, acl::Level level) {
  if (call.authz->Allowed(r, name, level)) return true;
  call.Error(403, acl::PermissionDeniedText(call.accessor, r, level, name));
  return false;
}

bool AclView::Allowed(acl::Resource r, std::string_view name, bool* filtered) const {
  if (authz->Allowed(r, name, acl::Level::kRead)) return true;
  *filtered = true;
  return false;
}
bool AclView::Node(std::string_view node, bool* filtered) const {
  return Allowed(acl::Resource::kNode, node, filtered);
}
bool AclView::Service(std::string_view service, bool* filtered) const {
  return Allowed(acl::Resource::kService, service, filtered);
}
bool AclView::Instance(std::string_view node, std::string_view service, bool* filtered) const {
  return Service(service, filtered) && Node(node, filtered);
}
bool AclView::Check(const catalog::HealthCheck& c, bool* filtered) const {
  if (!c.service_id.empty()) return Service(c.service_name, filtered);
  return Node(c.node, filtered);
}
void AclView::Mark(bool filtered, http::Response* r) const {
  if (filtered && token_given) r->Set("X-Consul-Results-Filtered-By-ACLs", "true");
}

namespace {

std::string Denied(const std::string& accessor, acl::Resource r, std::string_view name) {
  return acl::PermissionDeniedText(accessor, r, acl::Level::kWrite, name);
}

}  // namespace

std::string RegistrationDenial(const acl::Authorizer& authz, const std::string& accessor,
                               const catalog::RegisterRequest& req, const catalog::Store* store) {
  if (authz.all_allowed()) return "";
  bool node_changes = !req.skip_node_update;
  if (node_changes && store != nullptr) {
    std::optional<catalog::Node> existing;
    store->GetNode(nullptr, req.node.node, &existing);
    node_changes = !existing || existing->address != req.node.address ||
                   existing->meta != req.node.meta ||
                   existing->tagged_addresses != req.node.tagged_addresses ||
                   (!req.node.id.empty() && existing->id != req.node.id);
  }
  if (node_changes && !authz.Allowed(acl::Resource::kNode, req.node.node, acl::Level::kWrite)) {
    return Denied(accessor, acl::Resource::kNode, req.node.node);
  }
  if (req.service) {
    const std::string& name = req.service->service;
    if (!authz.Allowed(acl::Resource::kService, name, acl::Level::kWrite)) {
      return Denied(accessor, acl::Resource::kService, name);
    }
    if (req.service->proxy && !req.service->proxy->destination_service_name.empty()) {
      const std::string& dest = req.service->proxy->destination_service_name;
      if (!authz.Allowed(acl::Resource::kService, dest, acl::Level::kWrite)) {
        return Denied(accessor, acl::Resource::kService, dest);
      }
    }
  }
  for (const auto& c : req.checks) {
    if (c.service_id.empty()) {
      if (!authz.Allowed(acl::Resource::kNode, req.node.node, acl::Level::kWrite)) {
        return Denied(accessor, acl::Resource::kNode, req.node.node);
      }
      continue;
    }
    std::string service = c.service_name;
    if (req.service && req.service->id == c.service_id) service = req.service->service;
    if (service.empty() && store != nullptr) {
      std::optional<catalog::Node> n;
      std::vector<catalog::NodeService> services;
      store->NodeServices(nullptr, req.node.node, &n, &services);
      for (const auto& s : services) {
        if (s.id == c.service_id) service = s.service;
      }
    }
    if (!authz.Allowed(acl::Resource::kService, service, acl::Level::kWrite)) {
      return Denied(accessor, acl::Resource::kService, service);
    }
  }
  return "";
}

std::string DeregistrationDenial(const acl::Authorizer& authz, const std::string& accessor,
                                 const catalog::DeregisterRequest& req,
                                 const catalog::Store& store) {
  if (authz.all_allowed()) return "";
  std::optional<catalog::Node> n;
  std::vector<catalog::NodeService> services;
  store.NodeServices(nullptr, req.node, &n, &services);
  auto service_name = [&](const std::string& id) -> std::optional<std::string> {
    for (const auto& s : services) {
      if (s.id == id) return s.service;
    }
    return std::nullopt;
  };
  auto write = [&](acl::Resource r, const std::string& name) -> std::string {
    return authz.Allowed(r, name, acl::Level::kWrite) ? "" : Denied(accessor, r, name);
  };
  if (!req.service_id.empty()) {
    auto name = service_name(req.service_id);
    return name ? write(acl::Resource::kService, *name) : write(acl::Resource::kNode, req.node);
  }
  if (!req.check_id.empty()) {
    std::vector<catalog::HealthCheck> checks;
    store.NodeChecks(nullptr, req.node, &checks);
    for (const auto& c : checks) {
      if (c.check_id != req.check_id || c.service_id.empty()) continue;
      auto name = service_name(c.service_id);
      return write(acl::Resource::kService, name ? *name : c.service_name);
    }
    return write(acl::Resource::kNode, req.node);
  }
  return write(acl::Resource::kNode, req.node);
}

bool AuthorizeRegistration(Call& call, const catalog::RegisterRequest& req,
                           const catalog::Store* store) {
  std::string denied = RegistrationDenial(*call.authz, call.accessor, req, store);
  if (denied.empty()) return true;
  call.Error(403, denied);
  return false;
}

bool AuthorizeDeregistration(Call& call, const catalog::DeregisterRequest& req,
                             const catalog::Store& store) {
  std::string denied = DeregistrationDenial(*call.authz, call.accessor, req, store);
  if (denied.empty()) return true;
  call.Error(403, denied);
  return false;
}

Status AuthorizeCommand(const acl::Authorizer& authz, const std::string& accessor,
                        const catalog::Command& cmd, const catalog::Store& store) {
  std::string denied;
  if (const auto* reg = std::get_if<catalog::RegisterRequest>(&cmd)) {
    denied = RegistrationDenial(authz, accessor, *reg, &store);
  } else if (const auto* dereg = std::get_if<catalog::DeregisterRequest>(&cmd)) {
    denied = DeregistrationDenial(authz, accessor, *dereg, store);
  } else if (!authz.all_allowed()) {
    // Agents send only their catalog registrations this way; anything else goes through the
    // HTTP API, where each endpoint decides.
    denied = "Permission denied: only catalog registrations are taken over RPC with a token";
  }
  return denied.empty() ? Status::Ok() : PermissionDenied(denied);
}

bool ParseBool(const std::string& v, bool* out) {
  std::string l = ToLower(v);
  if (l == "" || l == "true" || l == "1" || l == "t") {
    *out = true;
  } else if (l == "false" || l == "0" || l == "f") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

std::string NearNode(const Call& call) {
  if (call.backend.disable_coordinates) return "";
  if (call.opts.dc != call.backend.info.datacenter) return "";
  auto near = call.req.Query("near");
  return near ? *near : "";
}

void ResolveNearAgent(http::Request* req, const std::string& node_name) {
  req->headers.try_emplace(kAgentNodeHeader, node_name);
  bool found = false;
  for (auto& [k, v] : req->query) {
    if (k == "near" && v == "_agent") {
      v = node_name;
      found = true;
    }
  }
  if (!found) return;
  // The target travels when the request is forwarded: rewrite it from the decoded parameters.
  std::string target = req->path;
  char sep = '?';
  auto escape = [](const std::string& in) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : in) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    }
    return out;
  };
  const std::string raw_query =
      req->target.find('?') == std::string::npos ? "" : req->target.substr(req->target.find('?') + 1);
  // Keep the other parameters byte for byte; only near=_agent changes.
  size_t pos = 0;
  while (pos <= raw_query.size() && !raw_query.empty()) {
    size_t amp = raw_query.find('&', pos);
    std::string part = raw_query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (part == "near=_agent") part = "near=" + escape(node_name);
    target.push_back(sep);
    sep = '&';
    target += part;
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  req->target = std::move(target);
}

void SortNear(const catalog::Store& store, const std::string& near, catalog::Json* rows) {
  if (near.empty() || !rows->is_array() || rows->size() < 2) return;
  std::vector<catalog::CoordinateEntry> source;
  store.NodeCoordinates(nullptr, near, &source);
  if (source.empty()) return;
  std::vector<catalog::Json> items;
  items.reserve(rows->size());
  for (auto& r : *rows) items.push_back(std::move(r));
  server::SortByDistance(store, near, &items, [](const catalog::Json& row) -> std::string {
    if (!row.is_object()) return "";
    auto it = row.find("Node");
    if (it == row.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
      auto n = it->find("Node");
      if (n != it->end() && n->is_string()) return n->get<std::string>();
    }
    return "";
  });
  // A node is no distance from itself: its rows go first. Consul measures the source against
  // its own coordinate (twice its height), which on a fast LAN can put a neighbour with a
  // smaller height ahead of it.
  auto node_is = [&near](const catalog::Json& row) {
    if (!row.is_object()) return false;
    auto it = row.find("Node");
    if (it == row.end()) return false;
    if (it->is_string()) return *it == near;
    if (!it->is_object()) return false;
    auto n = it->find("Node");
    return n != it->end() && n->is_string() && *n == near;
  };
  std::stable_partition(items.begin(), items.end(), node_is);
  *rows = catalog::Json::array();
  for (auto& r : items) rows->push_back(std::move(r));
}

std::vector<std::string> DatacentersByDistance(Backend& backend) {
  std::map<std::string, std::vector<coordinate::Coordinate>> coords;
  coords[backend.info.datacenter];
  std::optional<coordinate::Coordinate> self;
  if (backend.wan != nullptr) {
    gossip::Serf& serf = backend.wan->serf();
    if (!backend.disable_coordinates) self = serf.GetCoordinate();
    for (const auto& m : backend.wan->Members()) {
      auto dc = m.tags.find("dc");
      if (dc == m.tags.end() || m.status == gossip::MemberStatus::kLeft) continue;
      auto& list = coords[dc->second];
      if (auto c = serf.GetCachedCoordinate(m.name)) list.push_back(*c);
    }
  }
  if (!self) {
    // Without our own coordinate nothing is comparable: ours first, then by name.
    std::vector<std::string> out = {backend.info.datacenter};
    for (const auto& [dc, list] : coords) {
      if (dc != backend.info.datacenter) out.push_back(dc);
    }
    return out;
  }
  return server::DatacentersByDistance(*self, backend.info.datacenter, coords);
}

}  // namespace gangway::api
