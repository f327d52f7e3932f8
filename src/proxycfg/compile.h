// The proxy-configuration compiler: turns what the agent's watches gathered for one local proxy
// (a connect-proxy sidecar or a mesh gateway) into the proxy::Config it serves
// (docs/proxy-config.md, "What proxycfg emits"). Pure: no sockets, no clocks; any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"
#include "meshcfg/chain.h"
#include "meshcfg/config_entry.h"
#include "proxy/config/config.h"

namespace gangway::proxycfg {

// Which upstream endpoint set: a destination service in one datacenter.
struct UpstreamKey {
  std::string service;
  std::string datacenter;

  auto operator<=>(const UpstreamKey&) const = default;
  bool operator==(const UpstreamKey&) const = default;
};

// Everything the watches gathered for one proxy. Health-query results keep their checks (node
// checks included): an endpoint's health is the worst of them.
struct Inputs {
  // The local registration: Kind "connect-proxy" (with Proxy.DestinationServiceName) or
  // "mesh-gateway".
  catalog::NodeService proxy;
  std::string node;  // the local agent's node name, written on the local_app endpoint
  // Sidecars: the port of the service the sidecar fronts, used when Proxy.LocalServicePort is 0.
  int destination_port = 0;
  std::string datacenter;
  std::string trust_domain;
  std::optional<proxy::Leaf> leaf;  // sidecars only; required for them
  std::vector<std::string> roots_pem;
  // Sidecars: per upstream target (destination name, datacenter), that service's connect
  // endpoints (its sidecars) in that datacenter. A missing key means no instance.
  std::map<UpstreamKey, std::vector<catalog::CheckServiceNode>> upstream_endpoints;
  // Mesh gateways per datacenter, the local one included. For a gateway, every key other than
  // the local DC is a remote DC that gets a chain and a cluster, even with no instance.
  std::map<std::string, std::vector<catalog::CheckServiceNode>> gateways;
  // Gateways only: the local Connect-capable services' sidecars, by destination service name.
  std::map<std::string, std::vector<catalog::CheckServiceNode>> local_services;
  // Gateways only: the subsets the local services' service-resolvers define, by service and
  // subset name. Each becomes a cluster under its subset SNI ("v1.api.default.dc2.internal.<td>"),
  // narrowed as a sidecar narrows a subset target, so a sidecar in another datacenter reaches a
  // subset through this gateway.
  std::map<std::string, std::map<std::string, meshcfg::ResolverSubset>> local_subsets;
  // Sidecars: every service-intentions entry, and what decides when none matches (allow until
  // ACLs and default_intention_policy exist). Compiled into the config's authz for
  // connections to the destination service.
  std::vector<meshcfg::ServiceIntentions> intentions;
  bool default_allow = true;
  // Sidecars: the destination service's protocol (meshcfg::ServiceProtocol; "" is tcp). For
  // "http" the public listener parses each request and enforces the intentions' L7 permissions
  // per request; otherwise an intention with permissions denies the connection.
  std::string destination_protocol;
  // The mesh gateway mode when neither the upstream, the proxy nor the upstream's chain sets
  // one (the agent's configured proxy-defaults).
  std::string default_mesh_gateway_mode;
  // Sidecars: each upstream's discovery chain, by upstream ID (UpstreamId). An upstream without
  // one is compiled through its default chain (no config entries). The chain's targets pick the
  // clusters: a resolver's target, and its failover targets as that cluster's failover; each
  // target's endpoints are the ones of (target service, target datacenter) above. A chain that
  // starts at a router or splitter (an http upstream) becomes an http_route listener whose
  // routes send to the resolvers' clusters by the splitters' weights.
  std::map<std::string, meshcfg::CompiledChain> chains;
};

// Consul's upstream ID: the destination, with "?dc=<dc>" when the upstream names a datacenter.
std::string UpstreamId(const catalog::Upstream& upstream);

// The discovery chain of `upstream` of a sidecar whose registration carries `proxy`: evaluated in
// the upstream's datacenter (`local_dc` when it names none), with the upstream's mesh gateway
// mode, else the proxy's, as the override. Errors are the chain compiler's.
Result<meshcfg::CompiledChain> UpstreamChain(const catalog::Upstream& upstream,
                                             const catalog::ProxyConfig& proxy,
                                             const std::string& local_dc,
                                             const std::string& trust_domain,
                                             const meshcfg::EntrySet& entries);

// The config for `inputs.proxy` at `version` (>= 1), checked by proxy::Validate. Errors: a kind
// other than connect-proxy or mesh-gateway, a sidecar without destination service or leaf, an
// upstream kind the data plane does not carry (prepared query, peer, unix socket), a mesh gateway
// mode other than "", none, local, remote (`Invalid Mesh Gateway Mode: "<x>"`), a subset filter
// other than
// `Service.Meta.<key> == <value>` and `Service.Tags contains <tag>` clauses joined by `and`, and
// whatever Validate refuses.
Result<proxy::Config> Compile(const Inputs& inputs, uint64_t version);

// The worst of an instance's checks (maintenance and unknown statuses count as critical); passing
// when it has none.
proxy::Endpoint::Health HealthOf(const catalog::CheckServiceNode& instance);

// Consul's CheckServiceNode.BestAddress: LAN is the service address, else the node address; WAN
// is the service's `wan` tagged address, else the service address, else the node's `wan` tagged
// address, else the node address. The port is the service's unless the tagged address has one.
catalog::ServiceAddress BestAddress(const catalog::CheckServiceNode& instance, bool wan);

}  // namespace gangway::proxycfg
