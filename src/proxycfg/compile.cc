#include "proxycfg/compile.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <tuple>
#include <utility>

#include "identity/sni.h"
#include "identity/spiffe.h"
#include "meshcfg/intentions.h"

namespace gangway::proxycfg {
namespace {

using catalog::CheckServiceNode;
using proxy::Cluster;
using proxy::Endpoint;
using proxy::FilterChain;
using proxy::Listener;

constexpr char kConnectProxy[] = "connect-proxy";
constexpr char kMeshGateway[] = "mesh-gateway";
constexpr char kLocalApp[] = "local_app";

enum class GatewayMode { kNone, kLocal, kRemote };

// "" means "not set at this layer" and is left to the caller.
Result<GatewayMode> ParseMode(const std::string& mode) {
  if (mode == "none") return GatewayMode::kNone;
  if (mode == "local") return GatewayMode::kLocal;
  if (mode == "remote") return GatewayMode::kRemote;
  return InvalidArgument("Invalid Mesh Gateway Mode: \"" + mode + "\"");
}

// consul-behaviour.md §1.3: the upstream's own mode, then the proxy's, then proxy-defaults, then
// none. Every layer that is set must be valid, even one a higher layer overrides: the operator
// wrote it and would not learn of the typo otherwise.
Result<GatewayMode> EffectiveMode(const catalog::Upstream& upstream,
                                  const catalog::ProxyConfig& proxy,
                                  const std::string& default_mode) {
  const std::string* layers[] = {
      upstream.mesh_gateway ? &upstream.mesh_gateway->mode : nullptr,
      proxy.mesh_gateway ? &proxy.mesh_gateway->mode : nullptr,
      &default_mode,
  };
  std::optional<GatewayMode> chosen;
  for (const std::string* layer : layers) {
    if (layer == nullptr || layer->empty()) continue;
    Result<GatewayMode> mode = ParseMode(*layer);
    if (!mode.ok()) return mode.status();
    if (!chosen) chosen = *mode;
  }
  return chosen.value_or(GatewayMode::kNone);
}

// Sorted so that the same instances in another order give the same config (rule 2 of
// docs/proxy-config.md compares whole configs).
std::vector<Endpoint> Endpoints(const std::vector<CheckServiceNode>& instances, bool wan) {
  std::vector<Endpoint> out;
  out.reserve(instances.size());
  for (const CheckServiceNode& instance : instances) {
    catalog::ServiceAddress addr = BestAddress(instance, wan);
    out.push_back(Endpoint{addr.address, addr.port, HealthOf(instance), instance.node.node});
  }
  std::sort(out.begin(), out.end(), [](const Endpoint& a, const Endpoint& b) {
    return std::tie(a.node, a.address, a.port) < std::tie(b.node, b.address, b.port);
  });
  return out;
}

template <typename Key>
const std::vector<CheckServiceNode>& Lookup(const std::map<Key, std::vector<CheckServiceNode>>& map,
                                            const Key& key) {
  static const std::vector<CheckServiceNode> kNone;
  auto it = map.find(key);
  return it == map.end() ? kNone : it->second;
}

// Adds `cluster`, or checks that an equal one is already there: several upstreams may reach one
// target, and they then share its cluster.
Status AddCluster(std::map<std::string, Cluster>& clusters, Cluster cluster,
                  const std::string& upstream_id) {
  auto [it, inserted] = clusters.emplace(cluster.name, cluster);
  if (!inserted && !(it->second == cluster)) {
    return InvalidArgument("upstream \"" + upstream_id + "\" reaches " + cluster.name +
                           " as another upstream does, but through other endpoints (a different"
                           " mesh gateway mode)");
  }
  return Status::Ok();
}

Status CheckUpstream(const catalog::Upstream& u, const std::string& id) {
  auto refuse = [&](const std::string& what) {
    return InvalidArgument("upstream \"" + id + "\": " + what + " is not supported");
  };
  if (!u.destination_type.empty() && u.destination_type != "service") {
    return refuse("DestinationType \"" + u.destination_type + "\"");
  }
  if (u.destination_name.empty()) {
    return InvalidArgument("upstream \"" + id + "\": DestinationName is required");
  }
  if (!u.destination_peer.empty()) return refuse("DestinationPeer");
  if (!u.local_bind_socket_path.empty()) return refuse("LocalBindSocketPath");
  if (!u.destination_namespace.empty() && u.destination_namespace != "default") {
    return refuse("DestinationNamespace \"" + u.destination_namespace + "\"");
  }
  if (!u.destination_partition.empty() && u.destination_partition != "default") {
    return refuse("DestinationPartition \"" + u.destination_partition + "\"");
  }
  return Status::Ok();
}

// One clause of a resolver subset's filter, over an instance's service.
struct SubsetClause {
  enum class Kind { kMetaEquals, kTagsContain };
  Kind kind = Kind::kMetaEquals;
  std::string key;  // kMetaEquals
  std::string value;
};

std::string Unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '`') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

// The subset filters the data plane side can apply without a bexpr evaluator: clauses
// `Service.Meta.<key> == <value>` and `Service.Tags contains <tag>` joined by `and`.
Result<std::vector<SubsetClause>> ParseSubsetFilter(const std::string& filter) {
  std::vector<SubsetClause> out;
  std::string rest = Trim(filter);
  while (!rest.empty()) {
    std::string clause;
    size_t and_pos = rest.find(" and ");
    if (and_pos == std::string::npos) {
      clause = rest;
      rest.clear();
    } else {
      clause = Trim(rest.substr(0, and_pos));
      rest = Trim(rest.substr(and_pos + 5));
    }
    constexpr std::string_view kMeta = "Service.Meta.";
    constexpr std::string_view kTags = "Service.Tags contains ";
    SubsetClause c;
    if (clause.rfind(kMeta, 0) == 0 && clause.find(" == ") != std::string::npos) {
      size_t eq = clause.find(" == ");
      c.kind = SubsetClause::Kind::kMetaEquals;
      c.key = Trim(clause.substr(kMeta.size(), eq - kMeta.size()));
      c.value = Unquote(Trim(clause.substr(eq + 4)));
    } else if (clause.rfind(kTags, 0) == 0) {
      c.kind = SubsetClause::Kind::kTagsContain;
      c.value = Unquote(Trim(clause.substr(kTags.size())));
    } else {
      c.key.clear();
    }
    if (c.value.empty() || (c.kind == SubsetClause::Kind::kMetaEquals && c.key.empty()) ||
        c.key.find_first_of(" \"") != std::string::npos) {
      return InvalidArgument("subset filter \"" + filter +
                             "\" is not supported: only Service.Meta.<key> == <value> and "
                             "Service.Tags contains <tag> clauses joined by and are");
    }
    out.push_back(std::move(c));
  }
  return out;
}

bool MatchesSubset(const CheckServiceNode& instance, const std::vector<SubsetClause>& clauses) {
  for (const SubsetClause& c : clauses) {
    const catalog::NodeService& svc = instance.service;
    if (c.kind == SubsetClause::Kind::kMetaEquals) {
      auto it = svc.meta.find(c.key);
      if (it == svc.meta.end() || it->second != c.value) return false;
    } else if (std::find(svc.tags.begin(), svc.tags.end(), c.value) == svc.tags.end()) {
      return false;
    }
  }
  return true;
}

bool AnyUsable(const std::vector<CheckServiceNode>& instances) {
  return std::any_of(instances.begin(), instances.end(), [](const CheckServiceNode& n) {
    return HealthOf(n) != Endpoint::Health::kCritical;
  });
}

// Whether a target in remote datacenter `dc` whose (subset-narrowed) instances are `instances`
// can be reached through mesh gateways: it has a usable instance, and `dc` has a usable gateway
// to take the connection to it. A datacenter with no gateway in the catalog at all is left to
// the first hop: a local gateway may know a static route there (docs/proxycfg.md).
bool ReachableThroughGateways(const Inputs& in, const std::vector<CheckServiceNode>& instances,
                              const std::string& dc) {
  if (!AnyUsable(instances)) return false;
  const std::vector<CheckServiceNode>& gateways = Lookup(in.gateways, dc);
  return gateways.empty() || AnyUsable(gateways);
}

// The cluster of chain target `target_id`: its SNI and name, its connect timeout, and the
// endpoints its mesh gateway mode (the target's, else `fallback`) reaches it through. Instances
// reached directly are narrowed to the target's subset.
Result<Cluster> TargetCluster(const Inputs& in, const meshcfg::CompiledChain& chain,
                              const std::string& target_id, GatewayMode fallback,
                              const std::string& upstream_id) {
  auto it = chain.targets.find(target_id);
  if (it == chain.targets.end()) {
    return InvalidArgument("upstream \"" + upstream_id + "\": its chain names target " + target_id +
                           " but does not define it");
  }
  const meshcfg::ChainTarget& t = it->second;
  GatewayMode mode = fallback;
  if (!t.mesh_gateway.mode.empty()) {
    Result<GatewayMode> m = ParseMode(t.mesh_gateway.mode);
    if (!m.ok()) return m.status();
    mode = *m;
  }
  Result<std::vector<SubsetClause>> subset = ParseSubsetFilter(t.subset.filter);
  if (!subset.ok()) {
    return InvalidArgument("upstream \"" + upstream_id + "\": target " + t.id + ": " +
                           subset.status().message());
  }
  Cluster c;
  c.name = t.name;
  c.tls = Cluster::Tls::kOriginate;
  c.sni = t.sni;
  c.spiffe_ids = {identity::ServiceId(in.trust_domain, "default", t.datacenter, t.service).Uri()};
  if (t.connect_timeout.count() > 0) {
    c.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(t.connect_timeout);
  }
  std::vector<CheckServiceNode> sidecars;
  for (const CheckServiceNode& n :
       Lookup(in.upstream_endpoints, UpstreamKey{t.service, t.datacenter})) {
    if (!MatchesSubset(n, *subset)) continue;
    if (t.subset.only_passing && HealthOf(n) != Endpoint::Health::kPassing) continue;
    sidecars.push_back(n);
  }
  if (t.datacenter == in.datacenter) {
    c.endpoints = Endpoints(sidecars, /*wan=*/false);
  } else if (mode == GatewayMode::kLocal) {
    c.endpoints = Endpoints(Lookup(in.gateways, in.datacenter), /*wan=*/false);
  } else if (mode == GatewayMode::kRemote) {
    c.endpoints = Endpoints(Lookup(in.gateways, t.datacenter), /*wan=*/true);
  } else {
    c.endpoints = Endpoints(sidecars, /*wan=*/true);
  }
  if (t.datacenter != in.datacenter && mode != GatewayMode::kNone &&
      !ReachableThroughGateways(in, sidecars, t.datacenter)) {
    // The gateways' own health says nothing about what is behind them: a connection through
    // them would be closed by the target's gateway. Marked critical, the cluster fails over as
    // one with unhealthy instances does (Consul does the same for the instances, and not for
    // the gateways: its issue 9811).
    for (Endpoint& e : c.endpoints) e.health = Endpoint::Health::kCritical;
  }
  return c;
}

// Adds the clusters of resolver node `node` (its target's, and its failover targets' named in
// that one's `failover`) to `clusters`; returns the target cluster's name.
Result<std::string> ResolverClusters(const Inputs& in, const meshcfg::CompiledChain& chain,
                                     const meshcfg::ChainNode& node, GatewayMode mode,
                                     const std::string& id,
                                     std::map<std::string, Cluster>& clusters) {
  if (!node.resolver) {
    return InvalidArgument("upstream \"" + id + "\": resolver node without resolver");
  }
  const meshcfg::ChainResolver& resolver = *node.resolver;
  Result<Cluster> primary = TargetCluster(in, chain, resolver.target, mode, id);
  if (!primary.ok()) return primary.status();
  for (const std::string& failover_id : resolver.failover) {
    Result<Cluster> failover = TargetCluster(in, chain, failover_id, mode, id);
    if (!failover.ok()) return failover.status();
    primary->failover.push_back(failover->name);
    if (Status s = AddCluster(clusters, std::move(*failover), id); !s.ok()) return s;
  }
  std::string name = primary->name;
  if (Status s = AddCluster(clusters, std::move(*primary), id); !s.ok()) return s;
  return name;
}

// Consul's {Add, Set, Remove} maps as the proxy's lists (Add and Set sorted by name).
proxy::HeaderChanges HeaderChangesOf(const std::optional<meshcfg::HeaderModifiers>& m) {
  proxy::HeaderChanges out;
  if (!m) return out;
  for (const auto& [name, value] : m->add) out.add.push_back({name, value});
  for (const auto& [name, value] : m->set) out.set.push_back({name, value});
  out.remove = m->remove;
  return out;
}

// The weighted clusters node `key` sends to: a resolver's one cluster, or a splitter's splits
// (each to a resolver once the chain is flattened), weights in 1/10000 summing to 10000, each
// split with its own header changes.
Result<std::vector<proxy::WeightedCluster>> NodeClusters(const Inputs& in,
                                                         const meshcfg::CompiledChain& chain,
                                                         const std::string& key, GatewayMode mode,
                                                         const std::string& id,
                                                         std::map<std::string, Cluster>& clusters) {
  auto it = chain.nodes.find(key);
  if (it == chain.nodes.end()) {
    return InvalidArgument("upstream \"" + id + "\": its chain names node " + key +
                           " but does not define it");
  }
  const meshcfg::ChainNode& node = it->second;
  if (node.type == meshcfg::ChainNode::Type::kResolver) {
    Result<std::string> name = ResolverClusters(in, chain, node, mode, id, clusters);
    if (!name.ok()) return name.status();
    return std::vector<proxy::WeightedCluster>{{*name, 10000}};
  }
  if (node.type != meshcfg::ChainNode::Type::kSplitter) {
    return InvalidArgument("upstream \"" + id + "\": a router behind " + key + " is not compiled");
  }
  std::vector<proxy::WeightedCluster> out;
  int total = 0;
  for (const meshcfg::ChainSplit& split : node.splits) {
    const int weight = static_cast<int>(std::llround(split.weight * 100));
    if (weight <= 0) continue;
    Result<std::vector<proxy::WeightedCluster>> next =
        NodeClusters(in, chain, split.next_node, mode, id, clusters);
    if (!next.ok()) return next.status();
    for (const proxy::WeightedCluster& w : *next) {
      const int share = static_cast<int>(static_cast<int64_t>(weight) * w.weight / 10000);
      // A flattened chain has no splitter behind a split, so `w` carries no header changes.
      proxy::WeightedCluster wc{w.cluster, share, HeaderChangesOf(split.definition.request_headers),
                                HeaderChangesOf(split.definition.response_headers)};
      auto same = std::find_if(out.begin(), out.end(), [&](const proxy::WeightedCluster& o) {
        return o.cluster == w.cluster;
      });
      if (same == out.end()) {
        out.push_back(std::move(wc));
      } else if (same->request_headers == wc.request_headers &&
                 same->response_headers == wc.response_headers) {
        same->weight += share;
      } else {
        // Two splits that resolve to one target (through a redirect) and change headers
        // differently: one cluster cannot do both.
        return InvalidArgument("upstream \"" + id + "\": splitter " + key + ": two splits reach " +
                               w.cluster + " with different header changes");
      }
      total += share;
    }
  }
  if (out.empty())
    return InvalidArgument("upstream \"" + id + "\": splitter " + key + " sends nowhere");
  out.back().weight += 10000 - total;  // rounding: the shares sum to the whole
  return out;
}

proxy::RouteMatch TranslateMatch(const std::optional<meshcfg::RouteMatch>& match) {
  proxy::RouteMatch out;
  if (!match || !match->http) return out;
  const meshcfg::RouteHttpMatch& h = *match->http;
  if (!h.path_exact.empty()) {
    out.path_kind = proxy::RouteMatch::Path::kExact;
    out.path = h.path_exact;
  } else if (!h.path_prefix.empty()) {
    out.path_kind = proxy::RouteMatch::Path::kPrefix;
    out.path = h.path_prefix;
  } else if (!h.path_regex.empty()) {
    out.path_kind = proxy::RouteMatch::Path::kRegex;
    out.path = h.path_regex;
  }
  for (const meshcfg::HeaderMatch& m : h.header) {
    proxy::HeaderMatch hm;
    hm.name = m.name;
    hm.invert = m.invert;
    using K = proxy::HeaderMatch::Kind;
    if (!m.exact.empty()) {
      hm.kind = K::kExact, hm.value = m.exact;
    } else if (!m.prefix.empty()) {
      hm.kind = K::kPrefix, hm.value = m.prefix;
    } else if (!m.suffix.empty()) {
      hm.kind = K::kSuffix, hm.value = m.suffix;
    } else if (!m.regex.empty()) {
      hm.kind = K::kRegex, hm.value = m.regex;
    }
    out.headers.push_back(std::move(hm));
  }
  for (const meshcfg::QueryParamMatch& m : h.query_param) {
    proxy::QueryMatch qm;
    qm.name = m.name;
    using K = proxy::QueryMatch::Kind;
    if (!m.exact.empty()) {
      qm.kind = K::kExact, qm.value = m.exact;
    } else if (!m.regex.empty()) {
      qm.kind = K::kRegex, qm.value = m.regex;
    }
    out.query_params.push_back(std::move(qm));
  }
  out.methods = h.methods;
  return out;
}

proxy::HeaderMatch TranslateHeader(const meshcfg::HeaderMatch& m) {
  proxy::HeaderMatch out;
  out.name = m.name;
  out.invert = m.invert;
  using K = proxy::HeaderMatch::Kind;
  if (!m.exact.empty()) {
    out.kind = K::kExact, out.value = m.exact;
  } else if (!m.prefix.empty()) {
    out.kind = K::kPrefix, out.value = m.prefix;
  } else if (!m.suffix.empty()) {
    out.kind = K::kSuffix, out.value = m.suffix;
  } else if (!m.regex.empty()) {
    out.kind = K::kRegex, out.value = m.regex;
  }
  return out;
}

// An intention's Permissions as the proxy's, in order. A permission without HTTP matches every
// request. JWT requirements are not enforced by the proxy, so a permission carrying one is left
// out when it allows (it can never let a request in) and kept, matching more, when it denies.
std::vector<proxy::AuthzPermission> TranslatePermissions(
    const std::vector<meshcfg::IntentionPermission>& permissions) {
  std::vector<proxy::AuthzPermission> out;
  for (const meshcfg::IntentionPermission& p : permissions) {
    const bool allow = p.action == "allow";
    if (allow && !p.jwt.is_null()) continue;
    proxy::AuthzPermission perm;
    perm.allow = allow;
    if (p.http) {
      const meshcfg::PermissionHttp& h = *p.http;
      using P = proxy::RouteMatch::Path;
      if (!h.path_exact.empty()) {
        perm.http.path_kind = P::kExact, perm.http.path = h.path_exact;
      } else if (!h.path_prefix.empty()) {
        perm.http.path_kind = P::kPrefix, perm.http.path = h.path_prefix;
      } else if (!h.path_regex.empty()) {
        perm.http.path_kind = P::kRegex, perm.http.path = h.path_regex;
      }
      for (const meshcfg::HeaderMatch& m : h.header)
        perm.http.headers.push_back(TranslateHeader(m));
      perm.http.methods = h.methods;
    }
    out.push_back(std::move(perm));
  }
  return out;
}

// An L7 chain (router or splitter first) as the upstream listener's routes.
Result<proxy::RouteConfig> ChainRoutes(const Inputs& in, const meshcfg::CompiledChain& chain,
                                       const meshcfg::ChainNode& start, GatewayMode mode,
                                       const std::string& id,
                                       std::map<std::string, Cluster>& clusters) {
  proxy::RouteConfig config;
  if (start.type == meshcfg::ChainNode::Type::kSplitter) {
    Result<std::vector<proxy::WeightedCluster>> to =
        NodeClusters(in, chain, start.Key(), mode, id, clusters);
    if (!to.ok()) return to.status();
    proxy::Route route;
    route.clusters = std::move(*to);
    config.routes.push_back(std::move(route));
    return config;
  }
  for (const meshcfg::ChainRoute& r : start.routes) {
    proxy::Route route;
    route.match = TranslateMatch(r.definition.match);
    Result<std::vector<proxy::WeightedCluster>> to =
        NodeClusters(in, chain, r.next_node, mode, id, clusters);
    if (!to.ok()) return to.status();
    route.clusters = std::move(*to);
    if (const auto& d = r.definition.destination) {
      route.prefix_rewrite = d->prefix_rewrite;
      route.request_timeout =
          std::chrono::duration_cast<std::chrono::milliseconds>(d->request_timeout);
      route.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d->idle_timeout);
      route.num_retries = d->num_retries;
      route.retry_on_connect_failure = d->retry_on_connect_failure;
      route.retry_on_status_codes = d->retry_on_status_codes;
      route.retry_on = d->retry_on;
      route.request_headers = HeaderChangesOf(d->request_headers);
      route.response_headers = HeaderChangesOf(d->response_headers);
    }
    // Consul: the route's RequestTimeout, else that of the resolver the route leads to.
    if (route.request_timeout.count() == 0) {
      auto next = chain.nodes.find(r.next_node);
      if (next != chain.nodes.end() && next->second.resolver) {
        route.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            next->second.resolver->request_timeout);
      }
    }
    config.routes.push_back(std::move(route));
  }
  return config;
}

Result<proxy::Config> CompileSidecar(const Inputs& in, proxy::Config config) {
  const catalog::NodeService& reg = in.proxy;
  if (!reg.proxy || reg.proxy->destination_service_name.empty()) {
    return InvalidArgument("connect-proxy \"" + reg.id +
                           "\": Proxy.DestinationServiceName is "
                           "required");
  }
  const catalog::ProxyConfig& pc = *reg.proxy;
  if (!in.leaf) {
    return InvalidArgument("connect-proxy \"" + reg.id + "\": no leaf certificate for \"" +
                           pc.destination_service_name + "\" yet");
  }
  config.service = pc.destination_service_name;
  config.leaf = in.leaf;
  config.roots_pem = in.roots_pem;
  // Intentions are enforced here, at the destination: who may connect to this service, and for
  // an http service which requests (L7 permissions, checked per request by the public listener).
  // For any other protocol an intention with permissions stays a deny: no request is seen.
  const bool inbound_http = in.destination_protocol == "http";
  config.authz.default_allow = in.default_allow;
  for (meshcfg::IntentionRule& rule :
       meshcfg::CompileAuthz(pc.destination_service_name, in.intentions, in.trust_domain)) {
    proxy::AuthzRule out{std::move(rule.source), rule.allow, rule.precedence,
                         std::move(rule.intention)};
    if (inbound_http) out.permissions = TranslatePermissions(rule.permissions);
    config.authz.rules.push_back(std::move(out));
  }

  std::map<std::string, Cluster> clusters;
  Cluster local_app;
  local_app.name = kLocalApp;
  int app_port = pc.local_service_port != 0 ? pc.local_service_port : in.destination_port;
  if (app_port == 0) {
    return InvalidArgument("connect-proxy \"" + reg.id +
                           "\": no local service port (neither "
                           "Proxy.LocalServicePort nor the port of \"" +
                           pc.destination_service_name + "\")");
  }
  local_app.endpoints.push_back(
      Endpoint{pc.local_service_address.empty() ? "127.0.0.1" : pc.local_service_address, app_port,
               Endpoint::Health::kPassing, in.node});
  clusters.emplace(local_app.name, local_app);

  Listener pub;
  pub.name = "public_listener";
  pub.address = reg.address.empty() ? "0.0.0.0" : reg.address;
  pub.port = reg.port;
  pub.kind = Listener::Kind::kPublic;
  pub.chains.push_back(FilterChain{{}, FilterChain::Action::kTerminateTls, kLocalApp});
  pub.chains.back().inbound_http = inbound_http;
  config.listeners.push_back(std::move(pub));

  for (const catalog::Upstream& u : pc.upstreams) {
    const std::string id = UpstreamId(u);
    if (Status s = CheckUpstream(u, id); !s.ok()) return s;
    Result<GatewayMode> mode = EffectiveMode(u, pc, in.default_mesh_gateway_mode);
    if (!mode.ok()) return mode.status();

    meshcfg::CompiledChain chain;
    if (auto it = in.chains.find(id); it != in.chains.end()) {
      chain = it->second;
    } else {
      Result<meshcfg::CompiledChain> def =
          UpstreamChain(u, pc, in.datacenter, in.trust_domain, meshcfg::EntrySet{});
      if (!def.ok()) return InvalidArgument("upstream \"" + id + "\": " + def.status().message());
      chain = std::move(*def);
    }
    auto start = chain.nodes.find(chain.start_node);
    if (start == chain.nodes.end()) {
      return InvalidArgument("upstream \"" + id + "\": its discovery chain has no start node");
    }
    Listener listener;
    listener.name = "upstream:" + id;
    listener.address = u.local_bind_address.empty() ? "127.0.0.1" : u.local_bind_address;
    listener.port = u.local_bind_port;
    listener.kind = Listener::Kind::kUpstream;
    if (start->second.type == meshcfg::ChainNode::Type::kResolver) {
      Result<std::string> primary = ResolverClusters(in, chain, start->second, *mode, id, clusters);
      if (!primary.ok()) return primary.status();
      const meshcfg::ChainResolver& resolver = *start->second.resolver;
      if (chain.protocol == "http" && resolver.request_timeout.count() > 0) {
        // Only the HTTP router can time a request out: one catch-all route, as Consul's
        // default route for an HTTP upstream carries the resolver's RequestTimeout.
        proxy::Route route;
        route.clusters = {{*primary, 10000}};
        route.request_timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(resolver.request_timeout);
        listener.chains.push_back(FilterChain{
            {}, FilterChain::Action::kHttpRoute, "", proxy::RouteConfig{{std::move(route)}}});
      } else {
        listener.chains.push_back(FilterChain{{}, FilterChain::Action::kOriginateTls, *primary});
      }
    } else {
      Result<proxy::RouteConfig> routes =
          ChainRoutes(in, chain, start->second, *mode, id, clusters);
      if (!routes.ok()) return routes.status();
      listener.chains.push_back(FilterChain{{}, FilterChain::Action::kHttpRoute, "", *routes});
    }
    config.listeners.push_back(std::move(listener));
  }
  for (auto& [name, cluster] : clusters) config.clusters.push_back(std::move(cluster));
  return config;
}

// Reads `{"Address": ..., "Port": ...}` (keys without case, as Consul's decoder reads them).
Result<Listener> BindAddress(const std::string& name, const catalog::Json& value) {
  const std::string where = "envoy_gateway_bind_addresses." + name;
  if (!value.is_object()) return InvalidArgument(where + ": expected an object");
  Listener l;
  l.name = name;
  for (const auto& [key, v] : value.items()) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "address" && v.is_string()) {
      l.address = v.get<std::string>();
    } else if (lower == "port" && v.is_number_integer()) {
      l.port = v.get<int>();
    } else {
      return InvalidArgument(where + "." + key +
                             ": expected Address (a string) or Port (an "
                             "integer)");
    }
  }
  return l;
}

// docs/proxy-config.md, "A mesh gateway": explicit bind addresses, else the tagged addresses,
// else the registration's own address.
Result<std::vector<Listener>> GatewayListeners(const catalog::NodeService& reg) {
  std::vector<Listener> out;
  const catalog::Json* opaque = reg.proxy ? &reg.proxy->config : nullptr;
  if (opaque != nullptr && opaque->is_object()) {
    auto binds = opaque->find("envoy_gateway_bind_addresses");
    if (binds != opaque->end() && binds->is_object() && !binds->empty()) {
      for (const auto& [name, value] : binds->items()) {  // sorted by key
        Result<Listener> l = BindAddress(name, value);
        if (!l.ok()) return l.status();
        out.push_back(std::move(*l));
      }
      return out;
    }
    auto tagged = opaque->find("envoy_gateway_bind_tagged_addresses");
    if (tagged != opaque->end() && tagged->is_boolean() && tagged->get<bool>()) {
      for (const char* name : {"lan", "wan"}) {
        auto it = reg.tagged_addresses.find(name);
        if (it == reg.tagged_addresses.end()) continue;
        // Consul binds an address once: a WAN address equal to the LAN one (one host on one
        // network) is the same listener.
        const catalog::ServiceAddress& a = it->second;
        if (std::any_of(out.begin(), out.end(), [&](const Listener& o) {
              return o.address == a.address && o.port == a.port;
            })) {
          continue;
        }
        Listener l;
        l.name = name;
        l.address = it->second.address;
        l.port = it->second.port;
        out.push_back(std::move(l));
      }
      if (!out.empty()) return out;
    }
  }
  Listener l;
  l.name = "default";
  l.address = reg.address.empty() ? "0.0.0.0" : reg.address;
  l.port = reg.port;
  out.push_back(std::move(l));
  return out;
}

Result<proxy::Config> CompileGateway(const Inputs& in, proxy::Config config) {
  config.service = in.proxy.service;
  Result<std::vector<Listener>> listeners = GatewayListeners(in.proxy);
  if (!listeners.ok()) return listeners.status();

  std::map<std::string, Cluster> clusters;
  std::vector<FilterChain> chains;
  for (const auto& [dc, gateways] : in.gateways) {  // sorted by datacenter
    if (dc == in.datacenter) continue;
    Cluster remote;
    remote.name = identity::DatacenterSni(dc, in.trust_domain);
    remote.endpoints = Endpoints(gateways, /*wan=*/true);
    chains.push_back(
        FilterChain{{"*." + remote.name}, FilterChain::Action::kTcpProxy, remote.name});
    clusters.emplace(remote.name, std::move(remote));
  }
  chains.push_back(FilterChain{{}, FilterChain::Action::kSniCluster, ""});
  for (const auto& [service, sidecars] : in.local_services) {
    if (sidecars.empty()) continue;  // no cluster: an SNI for it is closed, as an unknown one is
    Cluster local;
    local.name = identity::ServiceSni(service, "", "default", in.datacenter, in.trust_domain);
    local.endpoints = Endpoints(sidecars, /*wan=*/false);
    clusters.emplace(local.name, std::move(local));
    auto subsets = in.local_subsets.find(service);
    if (subsets == in.local_subsets.end()) continue;
    for (const auto& [name, subset] : subsets->second) {
      // A filter the data plane cannot apply gets no cluster: its SNI is closed as an unknown
      // one, and the sidecars that would send it refuse the same subset at compile time.
      Result<std::vector<SubsetClause>> clauses = ParseSubsetFilter(subset.filter);
      if (!clauses.ok()) continue;
      std::vector<CheckServiceNode> narrowed;
      for (const CheckServiceNode& n : sidecars) {
        if (!MatchesSubset(n, *clauses)) continue;
        if (subset.only_passing && HealthOf(n) != Endpoint::Health::kPassing) continue;
        narrowed.push_back(n);
      }
      Cluster c;
      c.name = identity::ServiceSni(service, name, "default", in.datacenter, in.trust_domain);
      c.endpoints = Endpoints(narrowed, /*wan=*/false);
      clusters.emplace(c.name, std::move(c));
    }
  }

  for (Listener& l : *listeners) {
    l.kind = Listener::Kind::kGateway;
    l.chains = chains;
    config.listeners.push_back(std::move(l));
  }
  for (auto& [name, cluster] : clusters) config.clusters.push_back(std::move(cluster));
  return config;
}

}  // namespace

std::string UpstreamId(const catalog::Upstream& u) {
  std::string id = u.destination_name;
  if (!u.datacenter.empty()) id += "?dc=" + u.datacenter;
  return id;
}

Result<meshcfg::CompiledChain> UpstreamChain(const catalog::Upstream& u,
                                             const catalog::ProxyConfig& proxy,
                                             const std::string& local_dc,
                                             const std::string& trust_domain,
                                             const meshcfg::EntrySet& entries) {
  meshcfg::ChainRequest request;
  request.service = u.destination_name;
  request.datacenter = u.datacenter.empty() ? local_dc : u.datacenter;
  request.trust_domain = trust_domain;
  if (u.mesh_gateway && !u.mesh_gateway->mode.empty()) {
    request.override_mesh_gateway.mode = u.mesh_gateway->mode;
  } else if (proxy.mesh_gateway && !proxy.mesh_gateway->mode.empty()) {
    request.override_mesh_gateway.mode = proxy.mesh_gateway->mode;
  }
  return meshcfg::CompileChain(request, entries);
}

Endpoint::Health HealthOf(const CheckServiceNode& instance) {
  Endpoint::Health worst = Endpoint::Health::kPassing;
  for (const catalog::HealthCheck& check : instance.checks) {
    if (check.status == catalog::kPassing) continue;
    if (check.status == catalog::kWarning) {
      worst = std::max(worst, Endpoint::Health::kWarning);
    } else {
      return Endpoint::Health::kCritical;  // critical, maintenance, or a status we do not know
    }
  }
  return worst;
}

catalog::ServiceAddress BestAddress(const CheckServiceNode& instance, bool wan) {
  const catalog::NodeService& svc = instance.service;
  if (wan) {
    auto it = svc.tagged_addresses.find("wan");
    if (it != svc.tagged_addresses.end() && !it->second.address.empty()) {
      return {it->second.address, it->second.port != 0 ? it->second.port : svc.port};
    }
  }
  if (!svc.address.empty()) return {svc.address, svc.port};
  if (wan) {
    auto it = instance.node.tagged_addresses.find("wan");
    if (it != instance.node.tagged_addresses.end() && !it->second.empty()) {
      return {it->second, svc.port};
    }
  }
  return {instance.node.address, svc.port};
}

Result<proxy::Config> Compile(const Inputs& in, uint64_t version) {
  proxy::Config config;
  config.version = version;
  config.proxy_id = in.proxy.id;
  config.datacenter = in.datacenter;
  config.trust_domain = in.trust_domain;

  const bool sidecar = in.proxy.kind == kConnectProxy;
  if (!sidecar && in.proxy.kind != kMeshGateway) {
    return InvalidArgument("service \"" + in.proxy.id + "\" has kind \"" + in.proxy.kind +
                           "\"; only connect-proxy and mesh-gateway proxies are compiled");
  }
  config.kind = sidecar ? proxy::Config::Kind::kConnectProxy : proxy::Config::Kind::kMeshGateway;
  Result<proxy::Config> out =
      sidecar ? CompileSidecar(in, std::move(config)) : CompileGateway(in, std::move(config));
  if (!out.ok()) return out;
  if (Status s = proxy::Validate(*out); !s.ok()) {
    return InvalidArgument("proxy \"" + in.proxy.id + "\": " + s.message());
  }
  return out;
}

}  // namespace gangway::proxycfg
