// The discovery-chain compiler (Consul's agent/consul/discoverychain/compile.go): config entries
// and one service name in, the routers, splitters, resolvers and targets an upstream of that
// service uses out. Pure functions over values; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.h"
#include "core/status.h"
#include "meshcfg/config_entry.h"

namespace gangway::meshcfg {

// The entries a chain is compiled from, by name. Entries are taken as stored (normalized); the
// compiler only reads them. Enterprise namespaces and partitions are not keyed: names are unique
// in one (default) namespace, as in Consul CE.
struct EntrySet {
  std::optional<ProxyDefaults> proxy_defaults;  // the "global" entry
  std::map<std::string, ServiceDefaults> service_defaults;
  std::map<std::string, ServiceResolver> resolvers;
  std::map<std::string, ServiceRouter> routers;
  std::map<std::string, ServiceSplitter> splitters;

  // Files an entry under its kind and name; kinds the compiler does not read are ignored.
  void Add(const ConfigEntry& entry);
};

struct ChainRequest {
  std::string service;
  std::string datacenter;    // evaluate-in: the upstream's datacenter, or the local one
  std::string trust_domain;  // for the targets' SNI names
  std::string namespace_;    // "" is "default"
  std::string partition;     // "" is "default"
  // The caller's overrides (Consul's OverrideMeshGateway, OverrideProtocol,
  // OverrideConnectTimeout): the upstream's or the proxy's settings. Empty or 0: none.
  MeshGatewayConfig override_mesh_gateway;
  std::string override_protocol;
  Duration override_connect_timeout{0};
};

// A place traffic can go: one service (or subset of it) in one datacenter. `id` is
// "[<subset>.]<svc>.<ns>.<partition>.<dc>" (a peer's: "<svc>.<ns>.<partition>.external.<peer>");
// `name` is the proxy cluster name, the default SNI.
struct ChainTarget {
  std::string id;
  std::string service;
  std::string service_subset;
  std::string namespace_;
  std::string partition;
  std::string datacenter;
  std::string peer;
  MeshGatewayConfig mesh_gateway;
  ResolverSubset subset;
  Duration connect_timeout{0};
  bool external = false;  // service-defaults ExternalSNI replaced `sni`
  std::string sni;
  std::string name;
  bool operator==(const ChainTarget&) const = default;
};

struct ChainRoute {
  Route definition;       // as written; the appended catch-all is PathPrefix "/" to the service
  std::string next_node;  // a key of CompiledChain::nodes
  bool operator==(const ChainRoute&) const = default;
};

struct ChainSplit {
  Split definition;
  double weight = 0;  // after flattening: the product of the nested weights, to 0.01
  std::string next_node;
  bool operator==(const ChainSplit&) const = default;
};

struct ChainResolver {
  bool is_default = false;  // no service-resolver entry: the built-in one
  Duration connect_timeout{0};
  Duration request_timeout{0};
  std::string target;                 // a key of CompiledChain::targets
  std::vector<std::string> failover;  // target IDs, in order
  std::optional<FailoverPolicy> failover_policy;
  bool operator==(const ChainResolver&) const = default;
};

struct ChainNode {
  enum class Type { kRouter, kSplitter, kResolver };
  Type type = Type::kResolver;
  std::string name;  // router, splitter: "<svc>.<ns>.<partition>"; resolver: its target ID
  std::vector<ChainRoute> routes;         // kRouter
  std::vector<ChainSplit> splits;         // kSplitter
  std::optional<ChainResolver> resolver;  // kResolver
  std::optional<LoadBalancer> load_balancer;

  std::string Key() const;  // "<type>:<name>", e.g. "resolver:web.default.default.dc1"
  bool operator==(const ChainNode&) const = default;
};

struct CompiledChain {
  std::string service_name;
  std::string namespace_;
  std::string partition;
  std::string datacenter;
  std::string customization_hash;  // set when an override changed what the entries say
  bool is_default = false;         // no router, splitter or resolver entry was involved
  std::string protocol;
  StringMap service_meta;  // the service-defaults Meta of the service
  std::string start_node;
  std::map<std::string, ChainNode> nodes;      // by Key()
  std::map<std::string, ChainTarget> targets;  // by id
  bool operator==(const CompiledChain&) const = default;
};

// Compiles the chain of `request.service` as seen from `request.datacenter`. Errors are Consul's
// graph errors: a router or splitter on a non-HTTP protocol, services of one chain with different
// protocols, a circular resolver redirect, a subset that does not exist.
Result<CompiledChain> CompileChain(const ChainRequest& request, const EntrySet& entries);

// A service's protocol, lower case: its service-defaults' Protocol ("" is "tcp"), else the
// proxy-defaults' config "protocol", else "tcp".
std::string ServiceProtocol(const EntrySet& entries, const std::string& service);

// The "Chain" object of Consul's /v1/discovery-chain/:service response (durations as Go
// strings, empty fields omitted as Consul omits them).
Json ChainToJson(const CompiledChain& chain);

}  // namespace gangway::meshcfg
