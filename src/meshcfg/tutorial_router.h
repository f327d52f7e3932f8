// The mesh-gateway tutorial's service-router, which Consul rejects (`invalid config key
// "Services"`), read as what it means: traffic for the named services goes to another datacenter
// through the local mesh gateway. Translated into the canonical entries that do that (a
// service-resolver Redirect per service, proxy-defaults MeshGateway { Mode = "local" }). Pure
// functions over decoded documents; any thread. The CLI's `config write` is the caller.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/document.h"
#include "core/status.h"

namespace gangway::meshcfg {

// Where one service's traffic goes.
struct TutorialRedirect {
  std::string datacenter;
  // The service to send it to in `datacenter`; empty: the same service.
  std::string service;
  bool operator==(const TutorialRedirect&) const = default;
};

struct TutorialRouter {
  // The entry's Name ("route-to-dc2"): a label, since it names no service.
  std::string name;
  // By source service, the map keys of the entry's and its routes' `Services`.
  std::map<std::string, TutorialRedirect> redirects;
  // MeshGateway.Name of a route (the local gateway's service); empty when no route names one.
  // Any MeshGateway block means Mode "local".
  std::string local_gateway;
  bool mesh_gateway = false;
  // Destination.Service values naming a mesh-gateway-upstream route (the path, not a target).
  std::vector<std::string> gateway_routes;
};

// True when `entry` (a config entry as decoded from a file, keys as written) is a service-router
// in the tutorial's shape: a top-level `Services` map, or a route with `Services` or
// `MeshGateway`. Such an entry is read by ReadTutorialRouter, not by DecodeConfigEntry.
bool IsTutorialRouter(const nlohmann::json& entry);

// Reads the tutorial's shape strictly: an unknown key is an error naming it, its line and the
// nearest valid key; a service sent to two different places is an error; a route needs a
// datacenter (its own `Services` or the entry's). `doc` supplies lines; it may be null.
Result<TutorialRouter> ReadTutorialRouter(const nlohmann::json& entry,
                                          const codec::Document* doc);

// The service-resolver that carries `redirect` for `service`, in the JSON of /v1/config: a new
// entry, or `existing` (as read from /v1/config, or null) with its Redirect replaced and the
// store's indexes dropped.
nlohmann::json RedirectResolver(const std::string& service, const TutorialRedirect& redirect,
                                const nlohmann::json* existing);

// proxy-defaults "global" with MeshGateway { Mode = "local" }: new, or `existing` (or null) with
// only its MeshGateway mode changed.
nlohmann::json LocalGatewayProxyDefaults(const nlohmann::json* existing);

// The one-line explanation `config write` prints after "note: ": what the entry was understood
// as and the canonical entries written for it.
std::string DescribeTranslation(const TutorialRouter& router);

}  // namespace gangway::meshcfg
