// /v1/status/leader and /v1/status/peers.
#include "api/http_api.h"

namespace gangway::api {
namespace {

void Leader(Call& call) {
  auto* s = call.backend.server;
  call.Json(catalog::Json(s ? s->Leader() : ""));
}

void Peers(Call& call) {
  auto* s = call.backend.server;
  call.Json(s ? catalog::Json(s->Peers()) : catalog::Json::array());
}

}  // namespace

void AddStatusRoutes(std::vector<Route>* routes) {
  // Consul gates nothing here.
  Route leader{"/v1/status/leader", {"GET"}, Leader, true, true};
  leader.acl = AclCheck::kNone;
  routes->push_back(leader);
  Route peers{"/v1/status/peers", {"GET"}, Peers, true, true};
  peers.acl = AclCheck::kNone;
  routes->push_back(peers);
}

}  // namespace gangway::api
