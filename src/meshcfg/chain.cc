#include "meshcfg/chain.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <utility>

#include "identity/sni.h"
#include "meshcfg/internal/encode.h"

namespace gangway::meshcfg {
namespace {

constexpr Duration kDefaultConnectTimeout = std::chrono::seconds(5);

std::string OrDefault(const std::string& s) { return s.empty() ? "default" : s; }
const std::string& Or(const std::string& s, const std::string& fallback) {
  return s.empty() ? fallback : s;
}

bool IsHttpLike(const std::string& protocol) {
  return protocol == "http" || protocol == "http2" || protocol == "grpc";
}

std::string ToLowerAscii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Weights have a resolution of 0.01 (Consul's NormalizeServiceSplitWeight).
double NormalizeWeight(double w) { return std::round(w * 100) / 100; }

Status GraphError(std::string message) { return InvalidArgument(std::move(message)); }

// What a target is made of before its ID, SNI and resolver settings are filled in.
struct TargetOpts {
  std::string service;
  std::string subset;
  std::string ns;
  std::string partition;
  std::string datacenter;
  std::string peer;
};

class Compiler {
 public:
  Compiler(const ChainRequest& request, const EntrySet& entries)
      : req_(request),
        entries_(entries),
        ns_(OrDefault(request.namespace_)),
        partition_(OrDefault(request.partition)) {}

  Result<CompiledChain> Run();

 private:
  // The protocol the entries give a service: its service-defaults entry's (tcp when that says
  // none), else proxy-defaults' Config.protocol, else tcp. As Consul's compiler: a
  // service-defaults entry without a protocol does not inherit the proxy-defaults one.
  std::string ProtocolOf(const std::string& service) const;
  // Every service a chain reaches must speak the chain's protocol.
  Status RecordProtocol(const std::string& service);

  ChainTarget NewTarget(TargetOpts opts) const;
  // Consul's rewriteTarget: `opts` replaces the fields it sets; naming another service drops
  // the subset; the target is a peer's only when `opts` names that peer.
  ChainTarget Rewrite(const ChainTarget& t, const TargetOpts& opts) const;
  static TargetOpts OptsOf(const ChainTarget& t);

  // The key of the node traffic for `target` goes to: its service's splitter, else its resolver.
  Result<std::string> SplitterOrResolver(const ChainTarget& target);
  // The key of the splitter node of a service; "" when it has none.
  Result<std::string> SplitterNode(const std::string& service, const std::string& ns,
                                   const std::string& partition);
  // Resolves `target` (redirects, default subset) and returns its resolver node's key. For a
  // failover target no node is recorded and no failover is followed: the resolved target's ID is
  // returned instead.
  Result<std::string> ResolverNode(ChainTarget target, bool for_failover);
  Status BuildRouter(const ServiceRouter& router);
  Status FlattenSplitters();
  void RemoveUnused(CompiledChain* chain);

  const ChainRequest& req_;
  const EntrySet& entries_;
  const std::string ns_;
  const std::string partition_;

  std::string protocol_;  // the chain's, from the first service recorded
  bool uses_advanced_routing_ = false;
  bool disable_advanced_routing_ = false;  // an override protocol that is not HTTP-like
  bool customized_ = false;
  std::map<std::string, ChainNode> nodes_;
  std::map<std::string, ChainTarget> targets_;
};

std::string Compiler::ProtocolOf(const std::string& service) const {
  return ServiceProtocol(entries_, service);
}

Status Compiler::RecordProtocol(const std::string& service) {
  std::string p = ProtocolOf(service);
  if (protocol_.empty()) {
    protocol_ = p;
  } else if (p != protocol_) {
    return GraphError("discovery chain \"" + req_.service + "\" uses inconsistent protocols; " +
                      "service \"" + service + "\" has \"" + p + "\" which is not \"" + protocol_ +
                      "\"");
  }
  return Status::Ok();
}

ChainTarget Compiler::NewTarget(TargetOpts o) const {
  ChainTarget t;
  t.service = o.service;
  t.service_subset = o.subset;
  t.namespace_ = Or(o.ns, ns_);
  t.partition = Or(o.partition, partition_);
  t.peer = o.peer;
  if (t.peer.empty()) t.datacenter = Or(o.datacenter, req_.datacenter);
  std::string prefix = t.service_subset.empty() ? "" : t.service_subset + ".";
  if (!t.peer.empty()) {
    // The SNI of a peer's service carries the peer's trust domain, which the entries do not
    // know: it is left empty, as Consul leaves it.
    t.id = t.service + "." + t.namespace_ + "." + t.partition + ".external." + t.peer;
  } else {
    t.id = prefix + t.service + "." + t.namespace_ + "." + t.partition + "." + t.datacenter;
    t.sni = identity::ServiceSni(t.service, t.service_subset, t.namespace_, t.datacenter,
                                 req_.trust_domain, t.partition);
    t.name = t.sni;
  }
  return t;
}

TargetOpts Compiler::OptsOf(const ChainTarget& t) {
  return {t.service, t.service_subset, t.namespace_, t.partition, t.datacenter, t.peer};
}

ChainTarget Compiler::Rewrite(const ChainTarget& t, const TargetOpts& opts) const {
  TargetOpts m = OptsOf(t);
  if (!opts.service.empty() && opts.service != m.service) {
    m.service = opts.service;
    m.subset.clear();
  }
  if (!opts.subset.empty()) m.subset = opts.subset;
  if (!opts.partition.empty()) m.partition = opts.partition;
  if (!opts.ns.empty()) m.ns = opts.ns;
  if (!opts.datacenter.empty()) m.datacenter = opts.datacenter;
  m.peer = opts.peer;
  if (!m.peer.empty()) m.datacenter.clear();
  return NewTarget(std::move(m));
}

Result<std::string> Compiler::SplitterOrResolver(const ChainTarget& target) {
  Result<std::string> splitter = SplitterNode(target.service, target.namespace_, target.partition);
  if (!splitter.ok() || !splitter->empty()) return splitter;
  return ResolverNode(target, false);
}

Result<std::string> Compiler::SplitterNode(const std::string& service, const std::string& ns,
                                           const std::string& partition) {
  const std::string name = service + "." + ns + "." + partition;
  const std::string key = "splitter:" + name;
  if (nodes_.contains(key)) return key;
  auto it = entries_.splitters.find(service);
  if (it == entries_.splitters.end()) return std::string();
  if (disable_advanced_routing_) {
    customized_ = true;
    return std::string();
  }
  if (Status s = RecordProtocol(service); !s.ok()) return s;
  ChainNode node;
  node.type = ChainNode::Type::kSplitter;
  node.name = name;
  nodes_[key] = node;  // recorded first, so that a splitter reached again is not rebuilt
  std::vector<ChainSplit> splits;
  for (const Split& split : it->second.splits) {
    ChainSplit cs{split, NormalizeWeight(split.weight), ""};
    const std::string& svc = Or(split.service, service);
    const std::string& split_ns = Or(split.namespace_, ns);
    const std::string& split_partition = Or(split.partition, partition);
    if (svc != service && split.service_subset.empty()) {
      Result<std::string> nested = SplitterNode(svc, split_ns, split_partition);
      if (!nested.ok()) return nested;
      if (!nested->empty()) {
        cs.next_node = *nested;
        splits.push_back(std::move(cs));
        continue;
      }
    }
    Result<std::string> next = ResolverNode(
        NewTarget({svc, split.service_subset, split_ns, split_partition, "", ""}), false);
    if (!next.ok()) return next;
    cs.next_node = *next;
    splits.push_back(std::move(cs));
  }
  nodes_[key].splits = std::move(splits);
  uses_advanced_routing_ = true;
  return key;
}

Result<std::string> Compiler::ResolverNode(ChainTarget target, bool for_failover) {
  std::set<std::string> seen;
  std::vector<std::string> order;
  ServiceResolver builtin;
  const ServiceResolver* resolver = nullptr;
  bool is_default = false;
  while (true) {
    if (!for_failover && nodes_.contains("resolver:" + target.id)) return "resolver:" + target.id;
    if (target.peer.empty()) {
      if (Status s = RecordProtocol(target.service); !s.ok()) return s;
    }
    if (auto it = entries_.resolvers.find(target.service); it != entries_.resolvers.end()) {
      resolver = &it->second;
      is_default = false;
    } else {
      builtin = ServiceResolver{};
      builtin.name = target.service;
      resolver = &builtin;
      is_default = true;
    }
    order.push_back(target.id);
    if (!seen.insert(target.id).second) {
      std::string path;
      for (const std::string& id : order) path += (path.empty() ? "" : " -> ") + id;
      return GraphError("detected circular resolver redirect: [" + path + "]");
    }
    if (resolver->redirect) {
      const ResolverRedirect& r = *resolver->redirect;
      ChainTarget next = Rewrite(
          target, {r.service, r.service_subset, r.namespace_, r.partition, r.datacenter, r.peer});
      if (next.id != target.id) {
        target = std::move(next);
        continue;
      }
    }
    if (target.service_subset.empty() && !resolver->default_subset.empty()) {
      target = Rewrite(target, {"", resolver->default_subset, "", "", "", ""});
      continue;
    }
    break;
  }
  if (!target.service_subset.empty() && !resolver->subsets.contains(target.service_subset)) {
    return GraphError("service \"" + target.service + "\" does not have a subset named \"" +
                      target.service_subset + "\"");
  }
  Duration connect_timeout =
      resolver->connect_timeout > Duration(0) ? resolver->connect_timeout : kDefaultConnectTimeout;
  if (req_.override_connect_timeout > Duration(0)) {
    if (req_.override_connect_timeout != connect_timeout) customized_ = true;
    connect_timeout = req_.override_connect_timeout;
  }
  target.connect_timeout = connect_timeout;
  if (auto it = resolver->subsets.find(target.service_subset); it != resolver->subsets.end()) {
    target.subset = it->second;
  }
  const ServiceDefaults* defaults = nullptr;
  if (auto it = entries_.service_defaults.find(target.service);
      it != entries_.service_defaults.end()) {
    defaults = &it->second;
  }
  if (defaults && !defaults->external_sni.empty()) {
    target.sni = defaults->external_sni;
    target.external = true;
    const std::string what = resolver->redirect            ? "redirects"
                             : !resolver->subsets.empty()  ? "subsets"
                             : !resolver->failover.empty() ? "failover"
                                                           : "";
    if (!what.empty()) {
      return GraphError("service \"" + target.service +
                        "\" has an external SNI set; cannot define " + what +
                        " for external services");
    }
  }
  // Gateway mode: service-defaults of the target, else proxy-defaults; the caller's override
  // (the upstream's, else the proxy's) wins over both (reference §1.3).
  // An external service bypasses gateways.
  if (!target.external) {
    if (defaults) target.mesh_gateway = defaults->mesh_gateway;
    if (target.mesh_gateway.mode.empty() && entries_.proxy_defaults) {
      target.mesh_gateway.mode = entries_.proxy_defaults->mesh_gateway.mode;
    }
    if (!req_.override_mesh_gateway.mode.empty() &&
        req_.override_mesh_gateway.mode != target.mesh_gateway.mode) {
      target.mesh_gateway.mode = req_.override_mesh_gateway.mode;
      customized_ = true;
    }
  }
  targets_[target.id] = target;
  if (for_failover) return target.id;

  ChainNode node;
  node.type = ChainNode::Type::kResolver;
  node.name = target.id;
  node.load_balancer = resolver->load_balancer;
  ChainResolver& res = node.resolver.emplace();
  res.is_default = is_default;
  res.connect_timeout = connect_timeout;
  res.request_timeout = resolver->request_timeout;
  res.target = target.id;
  const std::string key = node.Key();
  nodes_[key] = node;

  auto failover = resolver->failover.find(target.service_subset);
  if (failover == resolver->failover.end()) failover = resolver->failover.find("*");
  if (failover == resolver->failover.end()) return key;
  const ResolverFailover& f = failover->second;
  std::vector<ChainTarget> candidates;
  if (!f.targets.empty()) {
    for (const FailoverTarget& t : f.targets) {
      candidates.push_back(Rewrite(
          target, {t.service, t.service_subset, t.namespace_, t.partition, t.datacenter, t.peer}));
    }
  } else if (f.datacenters.empty()) {
    candidates.push_back(Rewrite(target, {f.service, f.service_subset, f.namespace_, "", "", ""}));
  } else {
    for (const std::string& dc : f.datacenters) {
      candidates.push_back(
          Rewrite(target, {f.service, f.service_subset, f.namespace_, "", dc, ""}));
    }
  }
  std::vector<std::string> ids;
  for (ChainTarget& candidate : candidates) {
    if (candidate.id == target.id) continue;  // never fail over to yourself
    Result<std::string> resolved = ResolverNode(std::move(candidate), true);
    if (!resolved.ok()) return resolved.status();
    if (*resolved == target.id) continue;  // a redirect led back to the primary
    if (std::find(ids.begin(), ids.end(), *resolved) == ids.end()) ids.push_back(*resolved);
  }
  ChainResolver& stored = *nodes_[key].resolver;
  stored.failover = std::move(ids);
  if (!stored.failover.empty()) stored.failover_policy = f.policy;
  return key;
}

Status Compiler::BuildRouter(const ServiceRouter& router) {
  if (Status s = RecordProtocol(router.name); !s.ok()) return s;
  uses_advanced_routing_ = true;
  ChainNode node;
  node.type = ChainNode::Type::kRouter;
  node.name = req_.service + "." + ns_ + "." + partition_;
  for (const Route& route : router.routes) {
    ChainRoute cr{route, ""};
    RouteDestination dest = route.destination.value_or(RouteDestination{});
    const std::string svc = Or(dest.service, req_.service);
    const std::string ns = Or(dest.namespace_, ns_);
    const std::string partition = Or(dest.partition, partition_);
    ChainTarget target = NewTarget({svc, dest.service_subset, ns, partition, dest.datacenter, ""});
    // A splitter's splits are evaluated in the chain's datacenter, so a route that names another
    // datacenter goes to that datacenter's resolver directly.
    Result<std::string> next = dest.service_subset.empty() && target.datacenter == req_.datacenter
                                   ? SplitterOrResolver(target)
                                   : ResolverNode(target, false);
    if (!next.ok()) return next.status();
    cr.next_node = *next;
    node.routes.push_back(std::move(cr));
  }
  // Traffic no route matched goes to the service itself.
  Route catch_all;
  catch_all.match.emplace().http.emplace().path_prefix = "/";
  RouteDestination& d = catch_all.destination.emplace();
  d.service = req_.service;
  d.namespace_ = ns_;
  d.partition = partition_;
  Result<std::string> next = SplitterOrResolver(NewTarget({req_.service, "", "", "", "", ""}));
  if (!next.ok()) return next.status();
  node.routes.push_back({std::move(catch_all), *next});
  nodes_[node.Key()] = node;
  return Status::Ok();
}

// Splitters that lead back to themselves (resolver redirects are checked as they are followed).
Status DetectCircularReferences(const std::map<std::string, ChainNode>& nodes,
                                const std::string& key, std::vector<std::string>* path) {
  path->push_back(key);
  if (std::find(path->begin(), path->end() - 1, key) != path->end() - 1) {
    std::string joined;
    for (const std::string& k : *path) joined += (joined.empty() ? "" : " -> ") + k;
    return GraphError("detected circular reference: [" + joined + "]");
  }
  const ChainNode& node = nodes.at(key);
  for (const ChainRoute& r : node.routes) {
    if (Status s = DetectCircularReferences(nodes, r.next_node, path); !s.ok()) return s;
  }
  for (const ChainSplit& sp : node.splits) {
    if (Status s = DetectCircularReferences(nodes, sp.next_node, path); !s.ok()) return s;
  }
  path->pop_back();
  return Status::Ok();
}

// A split that leads to another splitter is replaced by that splitter's splits, with the weights
// multiplied; repeated until no split leads to a splitter.
Status Compiler::FlattenSplitters() {
  while (true) {
    bool changed = false;
    for (auto& [key, node] : nodes_) {
      if (node.type != ChainNode::Type::kSplitter) continue;
      std::vector<ChainSplit> flat;
      bool node_changed = false;
      for (const ChainSplit& split : node.splits) {
        const ChainNode& next = nodes_.at(split.next_node);
        if (next.type != ChainNode::Type::kSplitter) {
          flat.push_back(split);
          continue;
        }
        node_changed = true;
        for (const ChainSplit& inner : next.splits) {
          flat.push_back({inner.definition, NormalizeWeight(split.weight * inner.weight / 100),
                          inner.next_node});
        }
      }
      if (node_changed) {
        node.splits = std::move(flat);
        changed = true;
      }
    }
    if (!changed) return Status::Ok();
  }
}

void Compiler::RemoveUnused(CompiledChain* chain) {
  std::set<std::string> reached;
  std::vector<std::string> pending{chain->start_node};
  std::set<std::string> used_targets;
  while (!pending.empty()) {
    std::string key = pending.back();
    pending.pop_back();
    if (!reached.insert(key).second) continue;
    const ChainNode& node = nodes_.at(key);
    for (const ChainRoute& r : node.routes) pending.push_back(r.next_node);
    for (const ChainSplit& s : node.splits) pending.push_back(s.next_node);
    if (node.resolver) {
      used_targets.insert(node.resolver->target);
      used_targets.insert(node.resolver->failover.begin(), node.resolver->failover.end());
    }
  }
  for (const std::string& key : reached) chain->nodes[key] = nodes_.at(key);
  for (const std::string& id : used_targets) chain->targets[id] = targets_.at(id);
}

Result<CompiledChain> Compiler::Run() {
  if (req_.service.empty()) return InvalidArgument("discovery chain: a service name is required");
  if (req_.datacenter.empty()) return InvalidArgument("discovery chain: a datacenter is required");
  const std::string override_protocol = ToLowerAscii(req_.override_protocol);
  disable_advanced_routing_ = !override_protocol.empty() && !IsHttpLike(override_protocol);

  CompiledChain chain;
  chain.service_name = req_.service;
  chain.namespace_ = ns_;
  chain.partition = partition_;
  chain.datacenter = req_.datacenter;

  // The only router consulted is the top service's.
  auto router = entries_.routers.find(req_.service);
  if (router != entries_.routers.end() && disable_advanced_routing_) {
    customized_ = true;
    router = entries_.routers.end();
  }
  if (router != entries_.routers.end()) {
    if (Status s = BuildRouter(router->second); !s.ok()) return s;
    chain.start_node = "router:" + req_.service + "." + ns_ + "." + partition_;
  } else {
    Result<std::string> start = SplitterOrResolver(NewTarget({req_.service, "", "", "", "", ""}));
    if (!start.ok()) return start.status();
    chain.start_node = *start;
  }
  std::vector<std::string> path;
  if (Status s = DetectCircularReferences(nodes_, chain.start_node, &path); !s.ok()) return s;
  if (Status s = FlattenSplitters(); !s.ok()) return s;
  RemoveUnused(&chain);

  if (uses_advanced_routing_ && !IsHttpLike(protocol_)) {
    return GraphError("discovery chain \"" + req_.service + "\" uses a protocol \"" + protocol_ +
                      "\" that does not permit advanced routing or splitting behavior");
  }
  chain.protocol = protocol_;
  if (!override_protocol.empty() && override_protocol != protocol_) {
    chain.protocol = override_protocol;
    customized_ = true;
  }
  if (customized_) {
    // FNV-1a over the overrides: equal overrides give equal hashes, as Consul's does.
    std::string in = req_.override_mesh_gateway.mode + "|" + override_protocol + "|" +
                     std::to_string(req_.override_connect_timeout.count());
    uint32_t h = 2166136261u;
    for (unsigned char c : in) h = (h ^ c) * 16777619u;
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08x", h);
    chain.customization_hash = buf;
  }
  const ChainNode& start = chain.nodes.at(chain.start_node);
  // A chain that only redirects through built-in resolvers is not the default one.
  chain.is_default = start.resolver && start.resolver->is_default &&
                     chain.targets.at(start.resolver->target).service == req_.service;
  if (auto it = entries_.service_defaults.find(req_.service);
      it != entries_.service_defaults.end()) {
    chain.service_meta = it->second.meta;
  }
  return chain;
}

Json DurationJson(Duration d) { return Json(FormatDuration(d)); }

Json WeightJson(double w) {
  if (std::trunc(w) == w) return Json(static_cast<int64_t>(w));
  return Json(w);
}

std::string_view TypeName(ChainNode::Type t) {
  switch (t) {
    case ChainNode::Type::kRouter:
      return "router";
    case ChainNode::Type::kSplitter:
      return "splitter";
    case ChainNode::Type::kResolver:
      return "resolver";
  }
  return "resolver";
}

Json NodeJson(const ChainNode& n) {
  Json o = Json::object();
  o["Type"] = TypeName(n.type);
  o["Name"] = n.name;
  if (n.type == ChainNode::Type::kRouter) {
    Json routes = Json::array();
    for (const ChainRoute& r : n.routes) {
      routes.push_back(
          {{"Definition", internal::EncodePart(r.definition)}, {"NextNode", r.next_node}});
    }
    o["Routes"] = routes;
  }
  if (n.type == ChainNode::Type::kSplitter) {
    Json splits = Json::array();
    for (const ChainSplit& s : n.splits) {
      splits.push_back({{"Definition", internal::EncodePart(s.definition)},
                        {"Weight", WeightJson(s.weight)},
                        {"NextNode", s.next_node}});
    }
    o["Splits"] = splits;
  }
  if (n.resolver) {
    const ChainResolver& r = *n.resolver;
    Json res = Json::object();
    if (r.is_default) res["Default"] = true;
    res["ConnectTimeout"] = DurationJson(r.connect_timeout);
    if (r.request_timeout > Duration(0)) res["RequestTimeout"] = DurationJson(r.request_timeout);
    res["Target"] = r.target;
    if (!r.failover.empty()) {
      Json f = {{"Targets", r.failover}};
      if (r.failover_policy) f["Policy"] = internal::EncodePart(*r.failover_policy);
      res["Failover"] = f;
    }
    o["Resolver"] = res;
  }
  if (n.load_balancer) o["LoadBalancer"] = internal::EncodePart(*n.load_balancer);
  return o;
}

Json TargetJson(const ChainTarget& t) {
  Json o = Json::object();
  o["ID"] = t.id;
  o["Service"] = t.service;
  if (!t.service_subset.empty()) o["ServiceSubset"] = t.service_subset;
  o["Namespace"] = t.namespace_;
  o["Partition"] = t.partition;
  if (!t.datacenter.empty()) o["Datacenter"] = t.datacenter;
  if (!t.peer.empty()) o["Peer"] = t.peer;
  o["MeshGateway"] = internal::EncodePart(t.mesh_gateway);
  o["Subset"] = internal::EncodePart(t.subset);
  o["ConnectTimeout"] = DurationJson(t.connect_timeout);
  if (t.external) o["External"] = true;
  o["SNI"] = t.sni;
  o["Name"] = t.name;
  return o;
}

}  // namespace

void EntrySet::Add(const ConfigEntry& entry) {
  if (const auto* e = entry.As<ProxyDefaults>()) proxy_defaults = *e;
  if (const auto* e = entry.As<ServiceDefaults>()) service_defaults[e->name] = *e;
  if (const auto* e = entry.As<ServiceResolver>()) resolvers[e->name] = *e;
  if (const auto* e = entry.As<ServiceRouter>()) routers[e->name] = *e;
  if (const auto* e = entry.As<ServiceSplitter>()) splitters[e->name] = *e;
}

std::string ChainNode::Key() const { return std::string(TypeName(type)) + ":" + name; }

std::string ServiceProtocol(const EntrySet& entries, const std::string& service) {
  if (auto it = entries.service_defaults.find(service); it != entries.service_defaults.end()) {
    return it->second.protocol.empty() ? "tcp" : ToLowerAscii(it->second.protocol);
  }
  if (entries.proxy_defaults) {
    const Json& cfg = entries.proxy_defaults->config;
    if (cfg.is_object()) {
      auto it = cfg.find("protocol");
      if (it != cfg.end() && it->is_string() && !it->get<std::string>().empty()) {
        return ToLowerAscii(it->get<std::string>());
      }
    }
  }
  return "tcp";
}

Result<CompiledChain> CompileChain(const ChainRequest& request, const EntrySet& entries) {
  return Compiler(request, entries).Run();
}

Json ChainToJson(const CompiledChain& c) {
  Json o = Json::object();
  o["ServiceName"] = c.service_name;
  o["Namespace"] = c.namespace_;
  o["Partition"] = c.partition;
  o["Datacenter"] = c.datacenter;
  if (!c.customization_hash.empty()) o["CustomizationHash"] = c.customization_hash;
  if (c.is_default) o["Default"] = true;
  o["Protocol"] = c.protocol;
  if (!c.service_meta.empty()) o["ServiceMeta"] = c.service_meta;
  o["StartNode"] = c.start_node;
  Json nodes = Json::object();
  for (const auto& [key, node] : c.nodes) nodes[key] = NodeJson(node);
  o["Nodes"] = nodes;
  Json targets = Json::object();
  for (const auto& [id, t] : c.targets) targets[id] = TargetJson(t);
  o["Targets"] = targets;
  o["AutoVirtualIPs"] = Json::array();
  o["ManualVirtualIPs"] = Json::array();
  return o;
}

}  // namespace gangway::meshcfg
