// /v1/coordinate/... (docs/coordinates.md): the WAN pool's coordinates per datacenter, the
// datacenter's LAN coordinates from the store, and updates batched by the leader.
#include <algorithm>
#include <map>

#include "api/http_api.h"
#include "catalog/json.h"
#include "server/coordinates.h"

namespace gangway::api {
namespace {

bool Disabled(Call& call) {
  if (!call.backend.disable_coordinates) return false;
  call.Error(401, "Coordinate support disabled");
  return true;
}

// Each datacenter's servers with their WAN coordinates, as this server's WAN pool has them.
void Datacenters(Call& call) {
  if (Disabled(call)) return;
  catalog::Json out = catalog::Json::array();
  if (call.backend.wan == nullptr) return call.Json(out);
  std::map<std::string, catalog::Json> by_dc;
  gossip::Serf& serf = call.backend.wan->serf();
  for (const auto& m : call.backend.wan->Members()) {
    auto dc = m.tags.find("dc");
    if (dc == m.tags.end()) continue;
    auto& list = by_dc[dc->second];
    if (list.is_null()) list = catalog::Json::array();
    auto coord = serf.GetCachedCoordinate(m.name);
    if (!coord) continue;
    // WAN members are "<node>.<dc>"; the answer names the node.
    std::string node = m.name;
    const std::string suffix = "." + dc->second;
    if (node.size() > suffix.size() && node.ends_with(suffix)) {
      node.resize(node.size() - suffix.size());
    }
    list.push_back({{"Node", node}, {"Segment", ""}, {"Coord", catalog::CoordinateToJson(*coord)}});
  }
  for (auto& [dc, list] : by_dc) {
    out.push_back({{"Datacenter", dc}, {"AreaID", "wan"}, {"Coordinates", std::move(list)}});
  }
  call.Json(out);
}

catalog::Json Rows(const std::vector<catalog::CoordinateEntry>& list) {
  catalog::Json arr = catalog::Json::array();
  for (const auto& e : list) arr.push_back(catalog::CoordinateEntryToJson(e));
  return arr;
}

void Nodes(Call& call) {
  if (Disabled(call)) return;
  auto* store = &call.backend.server->store();
  std::optional<std::string> segment = call.req.Query("segment");
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, segment, acl](catalog::WatchSet* ws, http::Response* out) {
             std::vector<catalog::CoordinateEntry> all, kept;
             catalog::Index idx = store->Coordinates(ws, &all);
             bool filtered = false;
             for (auto& e : all) {
               if (segment && e.segment != *segment) continue;
               if (!acl.Node(e.node, &filtered)) continue;
               kept.push_back(std::move(e));
             }
             *out = JsonResponse(Rows(kept));
             acl.Mark(filtered, out);
             // An empty table has index 0, which clients see as 1 (Consul's floor); block on 1.
             return std::max<catalog::Index>(idx, 1);
           },
           call.cancel, std::move(call.reply));
}

void Node(Call& call) {
  if (Disabled(call)) return;
  const std::string node = call.rest;
  if (node.empty()) return call.Error(400, "Missing node name");
  if (!Authorize(call, acl::Resource::kNode, node, acl::Level::kRead)) return;
  auto* store = &call.backend.server->store();
  std::optional<std::string> segment = call.req.Query("segment");
  Blocking(call.backend, call.opts,
           [store, node, segment](catalog::WatchSet* ws, http::Response* out) {
             std::vector<catalog::CoordinateEntry> all, kept;
             catalog::Index idx = store->NodeCoordinates(ws, node, &all);
             for (auto& e : all) {
               if (!segment || e.segment == *segment) kept.push_back(std::move(e));
             }
             if (kept.empty()) {
               *out = http::Response{};
               out->status = 404;
             } else {
               *out = JsonResponse(Rows(kept));
             }
             return std::max<catalog::Index>(idx, 1);
           },
           call.cancel, std::move(call.reply));
}

// Consul's Coordinate.Update through HTTP: checked here, on the leader, and kept for its next
// batch.
void Update(Call& call) {
  if (Disabled(call)) return;
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  catalog::CoordinateEntry e;
  if (Status s = catalog::DecodeCoordinateEntryAt(body, "", &e); !s.ok()) {
    return call.Error(400, "Request decode failed: " + s.message());
  }
  if (Status s = server::Coordinates::Check(e.coord); !s.ok()) {
    return call.Error(400, s.message());
  }
  if (!Authorize(call, acl::Resource::kNode, e.node, acl::Level::kWrite)) return;
  call.backend.server->coordinates().Enqueue(std::move(e));
  http::Response r;
  r.status = 200;
  call.Respond(std::move(r));
}

}  // namespace

void AddCoordinateRoutes(std::vector<Route>* routes) {
  Route dcs{"/v1/coordinate/datacenters", {"GET"}, Datacenters, true};
  dcs.any_server = true;
  dcs.acl = AclCheck::kNone;
  routes->push_back(dcs);
  routes->push_back({"/v1/coordinate/nodes", {"GET"}, Nodes, true});
  routes->push_back({"/v1/coordinate/node/", {"GET"}, Node, true});
  Route update{"/v1/coordinate/update", {"PUT"}, Update, true};
  update.put_only = true;
  routes->push_back(update);
}

}  // namespace gangway::api
