// /v1/health/...
#include <algorithm>
#include <functional>

#include "api/http_api.h"
#include "catalog/json.h"

namespace gangway::api {
namespace {

catalog::Json ChecksJson(const std::vector<catalog::HealthCheck>& checks) {
  catalog::Json arr = catalog::Json::array();
  for (const auto& c : checks) arr.push_back(catalog::HealthCheckToJson(c));
  return arr;
}

// A blocking list of checks read by `read` (a Store method bound to its argument).
using ChecksReader = std::function<catalog::Index(const catalog::Store&, catalog::WatchSet*,
                                                  std::vector<catalog::HealthCheck>*)>;

void BlockingChecks(Call& call, ChecksReader read) {
  const auto* store = &call.backend.server->store();
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  std::string near = NearNode(call);
  Blocking(call.backend, call.opts,
           [store, read = std::move(read), f, acl, near](catalog::WatchSet* ws,
                                                         http::Response* out) {
             std::vector<catalog::HealthCheck> checks;
             auto idx = read(*store, ws, &checks);
             bool filtered = false;
             std::erase_if(checks, [&](const auto& c) { return !acl.Check(c, &filtered); });
             auto arr = ChecksJson(checks);
             SortNear(*store, near, &arr);
             FilterArray(f, &arr);
             *out = JsonResponse(arr);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void NodeChecks(Call& call) {
  std::string node = call.rest;
  if (node.empty()) return call.Error(400, "Missing node name");
  BlockingChecks(call, [node](const catalog::Store& s, catalog::WatchSet* ws, auto* out) {
    return s.NodeChecks(ws, node, out);
  });
}

void ServiceChecks(Call& call) {
  std::string service = call.rest;
  if (service.empty()) return call.Error(400, "Missing service name");
  BlockingChecks(call, [service](const catalog::Store& s, catalog::WatchSet* ws, auto* out) {
    return s.ServiceChecks(ws, service, out);
  });
}

void State(Call& call) {
  std::string state = call.rest;
  if (state != "any" && state != catalog::kPassing && state != catalog::kWarning &&
      state != catalog::kCritical && state != catalog::kMaintenance) {
    return call.Error(400, "Bad check state: \"" + state +
                               "\" (expected any, passing, warning, critical or maintenance)");
  }
  BlockingChecks(call, [state](const catalog::Store& s, catalog::WatchSet* ws, auto* out) {
    return s.ChecksInState(ws, state, out);
  });
}

void ServiceHealth(Call& call, bool connect) {
  std::string service = call.rest;
  if (service.empty()) return call.Error(400, "Missing service name");
  bool passing = false;
  if (auto p = call.req.Query("passing")) {
    if (!ParseBool(*p, &passing)) return call.Error(400, "Invalid value for ?passing");
  }
  std::vector<std::string> tags = call.req.QueryAll("tag");
  auto* store = &call.backend.server->store();
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  std::string near = NearNode(call);
  Blocking(call.backend, call.opts,
           [store, service, connect, passing, tags, f, acl, near](catalog::WatchSet* ws,
                                                                 http::Response* out) {
             std::vector<catalog::CheckServiceNode> rows;
             auto idx = store->CheckServiceNodes(ws, service, connect, &rows);
             catalog::Json arr = catalog::Json::array();
             bool filtered = false;
             for (auto& row : rows) {
               if (!acl.Instance(row.node.node, row.service.service, &filtered)) continue;
               std::erase_if(row.checks, [&](const auto& c) { return !acl.Check(c, &filtered); });
               bool tags_ok = std::all_of(tags.begin(), tags.end(), [&](const std::string& t) {
                 return std::find(row.service.tags.begin(), row.service.tags.end(), t) !=
                        row.service.tags.end();
               });
               if (!tags_ok) continue;
               if (passing && std::any_of(row.checks.begin(), row.checks.end(), [](const auto& c) {
                     return c.status != catalog::kPassing;
                   })) {
                 continue;
               }
               arr.push_back(catalog::CheckServiceNodeToJson(row));
             }
             SortNear(*store, near, &arr);
             FilterArray(f, &arr);
             *out = JsonResponse(arr);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void Service(Call& call) { ServiceHealth(call, false); }
void Connect(Call& call) { ServiceHealth(call, true); }

// GET /v1/internal/service-dump?kind=<kind>: every instance of every service of one kind with its
// checks, in the health endpoints' form (Consul's Internal.ServiceDump by ServiceKind). Mesh
// gateways find each other's instances with it, across datacenters with ?dc=.
void ServiceDump(Call& call) {
  auto kind = call.req.Query("kind");
  if (!kind) return call.Error(400, "Missing ?kind (a service kind such as mesh-gateway)");
  auto* store = &call.backend.server->store();
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, kind = *kind, f, acl](catalog::WatchSet* ws, http::Response* out) {
             std::vector<catalog::CheckServiceNode> rows;
             auto idx = store->ServiceDump(ws, kind, &rows);
             catalog::Json arr = catalog::Json::array();
             bool filtered = false;
             for (auto& row : rows) {
               if (!acl.Instance(row.node.node, row.service.service, &filtered)) continue;
               std::erase_if(row.checks, [&](const auto& c) { return !acl.Check(c, &filtered); });
               arr.push_back(catalog::CheckServiceNodeToJson(row));
             }
             FilterArray(f, &arr);
             *out = JsonResponse(arr);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

}  // namespace

void AddHealthRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/health/node/", {"GET"}, NodeChecks, true});
  routes->push_back({"/v1/health/checks/", {"GET"}, ServiceChecks, true});
  routes->push_back({"/v1/health/state/", {"GET"}, State, true});
  routes->push_back({"/v1/health/service/", {"GET"}, Service, true});
  routes->push_back({"/v1/health/connect/", {"GET"}, Connect, true});
  routes->push_back({"/v1/internal/service-dump", {"GET"}, ServiceDump, true});
}

}  // namespace gangway::api
