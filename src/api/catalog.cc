// /v1/catalog/...
#include <algorithm>
#include <set>

#include "api/http_api.h"
#include "catalog/json.h"

namespace gangway::api {

namespace {

bool HasAllTags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (const auto& t : want) {
    if (std::find(have.begin(), have.end(), t) == have.end()) return false;
  }
  return true;
}

// Known datacenters: ours plus every "dc" tag in the WAN pool, ours first, then by estimated
// WAN round-trip time (without coordinates, by name).
void Datacenters(Call& call) {
  catalog::Json out = catalog::Json::array();
  for (const auto& dc : DatacentersByDistance(call.backend)) out.push_back(dc);
  call.Json(out);
}

void Nodes(Call& call) {
  auto* store = &call.backend.server->store();
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  std::string near = NearNode(call);
  Blocking(call.backend, call.opts,
           [store, f, acl, near](catalog::WatchSet* ws, http::Response* out) {
             std::vector<catalog::Node> nodes;
             auto idx = store->Nodes(ws, &nodes);
             bool filtered = false;
             catalog::Json arr = catalog::Json::array();
             for (const auto& n : nodes) {
               if (!acl.Node(n.node, &filtered)) continue;
               arr.push_back(catalog::NodeToJson(n));
             }
             SortNear(*store, near, &arr);
             FilterArray(f, &arr);
             *out = JsonResponse(arr);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void Services(Call& call) {
  auto* store = &call.backend.server->store();
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, f, acl](catalog::WatchSet* ws, http::Response* out) {
             catalog::Json obj = catalog::Json::object();
             catalog::Index idx;
             bool filtered = false;
             if (!f) {
               std::map<std::string, std::vector<std::string>> services;
               idx = store->Services(ws, &services);
               for (const auto& [name, tags] : services) {
                 if (acl.Service(name, &filtered)) obj[name] = tags;
               }
             } else {
               // A filter selects service instances (catalog/service rows); the listing is the
               // union of tags of the instances that match, as Consul's ServiceNodes filter.
               std::vector<catalog::ServiceNode> rows;
               idx = store->AllServiceNodes(ws, &rows);
               for (const auto& sn : rows) {
                 if (!acl.Service(sn.service.service, &filtered)) continue;
                 auto row = catalog::ServiceNodeToJson(sn);
                 if (!f->Matches(row)) continue;
                 auto& tags = obj[sn.service.service];
                 if (tags.is_null()) tags = catalog::Json::array();
                 for (const auto& t : sn.service.tags) {
                   if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
                 }
               }
             }
             *out = JsonResponse(obj);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void ServiceOrConnect(Call& call, bool connect) {
  std::string name = call.rest;
  if (name.empty()) return call.Error(400, "Missing service name");
  auto* store = &call.backend.server->store();
  std::vector<std::string> tags = call.req.QueryAll("tag");
  FilterPtr f;
  if (!ParseFilter(call, &f)) return;
  AclView acl(call);
  std::string near = NearNode(call);
  Blocking(call.backend, call.opts,
           [store, name, connect, tags, f, acl, near](catalog::WatchSet* ws,
                                                      http::Response* out) {
             std::vector<catalog::ServiceNode> rows;
             auto idx = store->ServiceNodes(ws, name, connect, &rows);
             catalog::Json arr = catalog::Json::array();
             bool filtered = false;
             for (const auto& sn : rows) {
               if (!acl.Instance(sn.node.node, sn.service.service, &filtered)) continue;
               if (!HasAllTags(sn.service.tags, tags)) continue;
               auto row = catalog::ServiceNodeToJson(sn);
               if (f && !f->Matches(row)) continue;
               arr.push_back(std::move(row));
             }
             SortNear(*store, near, &arr);
             *out = JsonResponse(arr);
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void Service(Call& call) { ServiceOrConnect(call, false); }
void Connect(Call& call) { ServiceOrConnect(call, true); }

void NodeServices(Call& call) {
  std::string node = call.rest;
  if (node.empty()) return call.Error(400, "Missing node name");
  auto* store = &call.backend.server->store();
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, node, acl](catalog::WatchSet* ws, http::Response* out) {
             std::optional<catalog::Node> n;
             std::vector<catalog::NodeService> services;
             auto idx = store->NodeServices(ws, node, &n, &services);
             bool filtered = false;
             if (!n || !acl.Node(node, &filtered)) {
               *out = JsonResponse(nullptr);
               acl.Mark(filtered, out);
               return idx;
             }
             catalog::Json svc = catalog::Json::object();
             for (const auto& s : services) {
               if (acl.Service(s.service, &filtered)) svc[s.id] = catalog::NodeServiceToJson(s);
             }
             *out = JsonResponse({{"Node", catalog::NodeToJson(*n)}, {"Services", svc}});
             acl.Mark(filtered, out);
             return idx;
           },
           call.cancel, std::move(call.reply));
}

void Register(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected a JSON object");
  catalog::RegisterRequest req;
  catalog::Json node_json = catalog::Json::object();
  if (!FoldKeys(call, &body, {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta",
                             "Service", "Check", "Checks", "SkipNodeUpdate", "Token",
                             "WriteRequest", "Namespace", "Partition", "Locality", "PeerName"})) {
    return;
  }
  for (const char* k : {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta"}) {
    if (body.contains(k)) node_json[std::string(k) == "NodeMeta" ? "Meta" : k] = body[k];
  }
  auto node = catalog::NodeFromJson(node_json);
  if (!node.ok()) return call.Error(400, node.status().message());
  req.node = *node;
  if (req.node.node.empty()) return call.Error(400, "Must provide node");
  if (req.node.address.empty() && !body.value("SkipNodeUpdate", false)) {
    return call.Error(400, "Must provide address");
  }
  if (req.node.datacenter.empty()) req.node.datacenter = call.backend.info.datacenter;
  if (req.node.datacenter != call.backend.info.datacenter) {
    return call.Error(500, "No path to datacenter");
  }
  req.skip_node_update = body.value("SkipNodeUpdate", false);
  if (body.contains("Service") && !body["Service"].is_null()) {
    auto svc = catalog::NodeServiceFromJson(body["Service"]);
    if (!svc.ok()) return call.Error(400, "Service: " + svc.status().message());
    if (svc->service.empty()) return call.Error(400, "Must provide service name (Service.Service)");
    if (svc->id.empty()) svc->id = svc->service;
    req.service = *svc;
  }
  auto add_check = [&](const catalog::Json& j) -> bool {
    auto c = catalog::HealthCheckFromJson(j);
    if (!c.ok()) {
      call.Error(400, "Check: " + c.status().message());
      return false;
    }
    if (c->node.empty()) c->node = req.node.node;
    if (c->check_id.empty()) c->check_id = c->name;
    if (c->check_id.empty()) {
      call.Error(400, "Must provide a CheckID or Name for each check");
      return false;
    }
    if (c->status.empty()) c->status = catalog::kCritical;
    req.checks.push_back(*c);
    return true;
  };
  if (body.contains("Check") && !body["Check"].is_null()) {
    if (!add_check(body["Check"])) return;
  }
  if (body.contains("Checks") && body["Checks"].is_array()) {
    for (const auto& c : body["Checks"]) {
      if (!add_check(c)) return;
    }
  }
  if (!AuthorizeRegistration(call, req, &call.backend.server->store())) return;
  auto reply = std::move(call.reply);
  call.backend.server->Apply(req, [reply](catalog::ApplyResult r) {
    if (!r.status.ok()) return reply(StatusResponse(r.status));
    reply(JsonResponse(true));
  });
}

void Deregister(Call& call) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected a JSON object");
  catalog::DeregisterRequest req;
  if (!FoldKeys(call, &body, {"Node", "ServiceID", "CheckID", "Datacenter", "Token", "Namespace",
                              "Partition"})) {
    return;
  }
  for (const auto& [k, v] : body.items()) {
    if (k == "Node" || k == "ServiceID" || k == "CheckID") {
      if (!v.is_string()) return call.Error(400, "Request decode failed: " + k + " must be a string");
      (k == "Node" ? req.node : k == "ServiceID" ? req.service_id : req.check_id) = v.get<std::string>();
    }
  }
  if (req.node.empty()) return call.Error(400, "Must provide node");
  if (!AuthorizeDeregistration(call, req, call.backend.server->store())) return;
  auto reply = std::move(call.reply);
  call.backend.server->Apply(req, [reply](catalog::ApplyResult r) {
    if (!r.status.ok()) return reply(StatusResponse(r.status));
    reply(JsonResponse(true));
  });
}

}  // namespace

void AddCatalogRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/catalog/register", {"PUT"}, Register, true});
  routes->push_back({"/v1/catalog/deregister", {"PUT"}, Deregister, true});
  Route datacenters{"/v1/catalog/datacenters", {"GET"}, Datacenters, true};
  datacenters.acl = AclCheck::kNone;  // Consul gates nothing here
  routes->push_back(datacenters);
  routes->push_back({"/v1/catalog/nodes", {"GET"}, Nodes, true});
  routes->push_back({"/v1/catalog/services", {"GET"}, Services, true});
  routes->push_back({"/v1/catalog/service/", {"GET"}, Service, true});
  routes->push_back({"/v1/catalog/connect/", {"GET"}, Connect, true});
  routes->push_back({"/v1/catalog/node/", {"GET"}, NodeServices, true});
}

}  // namespace gangway::api
