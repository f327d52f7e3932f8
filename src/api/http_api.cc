#include "api/http_api.h"

#include <algorithm>

#include "core/log.h"
#include "core/strings.h"

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
  if (match->prepare != nullptr && !match->prepare(call)) return;
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
    call.reply = [inner = std::move(call.reply), mode](http::Response r) {
      r.Set("X-Consul-Effective-Consistency", mode);
      inner(std::move(r));
    };
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

}  // namespace gangway::api
