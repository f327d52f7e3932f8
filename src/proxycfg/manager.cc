#include "proxycfg/manager.h"

#include <optional>
#include <set>
#include <utility>

#include "core/log.h"
#include "proxy/config/json.h"
#include "proxycfg/compile.h"

namespace gangway::proxycfg {
namespace {

using catalog::CheckServiceNode;
using Nodes = std::vector<CheckServiceNode>;

constexpr char kComponent[] = "agent.proxycfg";
constexpr char kConnectProxy[] = "connect-proxy";
constexpr char kMeshGateway[] = "mesh-gateway";
// The tutorial's static route to a remote datacenter's gateway (docs/proxycfg.md).
constexpr char kMeshGatewayUpstream[] = "mesh-gateway-upstream";
constexpr char kServiceIntentions[] = "service-intentions";

bool IsProxyKind(const std::string& kind) { return kind == kConnectProxy || kind == kMeshGateway; }

// A static route (kind mesh-gateway-upstream): the gateways of `datacenter` are the instances of
// service `gateway` there (any mesh gateway when empty), or `address:port` when the route names
// an address.
struct StaticRoute {
  std::string datacenter;
  std::string gateway;
  std::string route;  // the mesh-gateway-upstream service's name
  std::string address;
  int port = 0;
};

}  // namespace

class Manager::ProxyState {
 public:
  ProxyState(Manager& manager, LocalProxy reg) : m_(manager), reg_(std::move(reg)) {}

  // Starts the watches of the current registration.
  void Start() {
    Reconcile();
    Schedule();
  }

  void Update(LocalProxy reg) {
    if (reg == reg_) return;
    reg_ = std::move(reg);
    Reconcile();
    Schedule();
  }

  const Published& published() const { return pub_; }

 private:
  bool gateway() const { return reg_.service.kind == kMeshGateway; }
  const std::string& local_dc() const { return m_.options_.datacenter; }
  std::string DcOr(const std::string& dc) const { return dc.empty() ? local_dc() : dc; }

  const Nodes* Answer(HealthQuery::Kind kind, const std::string& name,
                      const std::string& dc) const {
    auto it = health_.find(HealthQuery{kind, name, dc});
    return it == health_.end() ? nullptr : &it->second;
  }
  const Nodes* Dump(const std::string& kind, const std::string& dc) const {
    return Answer(HealthQuery::Kind::kDump, kind, dc);
  }

  // The mesh-gateway-upstream services of this datacenter, read from their own Proxy and from
  // their sidecars' (the tutorial's file declares the upstream on the sidecar).
  std::vector<StaticRoute> StaticRoutes() const {
    std::vector<StaticRoute> out;
    const Nodes* routes = Dump(kMeshGatewayUpstream, local_dc());
    if (routes == nullptr) return out;
    static const Nodes kNone;
    const Nodes* sidecars = Dump(kConnectProxy, local_dc());
    // An lvalue either way: `configs` keeps pointers into these nodes.
    const Nodes& sidecar_nodes = sidecars != nullptr ? *sidecars : kNone;
    for (const CheckServiceNode& r : *routes) {
      std::vector<const catalog::ProxyConfig*> configs;
      if (r.service.proxy) configs.push_back(&*r.service.proxy);
      for (const CheckServiceNode& s : sidecar_nodes) {
        if (s.service.proxy && s.service.proxy->destination_service_name == r.service.service &&
            s.node.node == r.node.node) {
          configs.push_back(&*s.service.proxy);
        }
      }
      for (const catalog::ProxyConfig* pc : configs) {
        for (const catalog::Upstream& u : pc->upstreams) {
          if (u.datacenter.empty() || u.datacenter == local_dc()) continue;
          out.push_back({u.datacenter, u.destination_name, r.service.service, r.service.address,
                         r.service.port});
        }
      }
    }
    return out;
  }

  // The remote datacenters a gateway routes to: the servers' list and the static routes'.
  std::set<std::string> RemoteDatacenters() const {
    std::set<std::string> out;
    if (dcs_) out.insert(dcs_->begin(), dcs_->end());
    for (const StaticRoute& r : StaticRoutes()) out.insert(r.datacenter);
    out.erase(local_dc());
    return out;
  }

  std::set<HealthQuery> WantedQueries() const {
    using K = HealthQuery::Kind;
    std::set<HealthQuery> want;
    if (gateway()) {
      for (const char* kind : {kConnectProxy, kMeshGateway, kMeshGatewayUpstream}) {
        want.insert({K::kDump, kind, local_dc()});
      }
      for (const std::string& dc : RemoteDatacenters()) want.insert({K::kDump, kMeshGateway, dc});
      return want;
    }
    if (!reg_.service.proxy) return want;
    auto target = [&](const std::string& service, const std::string& dc) {
      want.insert({K::kConnect, service, dc});
      if (dc != local_dc()) {
        // Either hop may be needed: the local gateways (mode local) or the target's (remote).
        want.insert({K::kDump, kMeshGateway, dc});
        want.insert({K::kDump, kMeshGateway, local_dc()});
      }
    };
    const std::map<std::string, meshcfg::CompiledChain> chains = Chains(nullptr);
    for (const catalog::Upstream& u : reg_.service.proxy->upstreams) {
      if (u.destination_name.empty() ||
          (!u.destination_type.empty() && u.destination_type != "service")) {
        continue;  // Compile names the problem
      }
      auto chain = chains.find(UpstreamId(u));
      if (chain == chains.end()) {
        target(u.destination_name, DcOr(u.datacenter));
        continue;
      }
      // Every target the chain may send to: the resolvers' own and their failovers.
      for (const auto& [id, t] : chain->second.targets) target(t.service, t.datacenter);
    }
    return want;
  }

  // The upstreams' discovery chains from the config entries (none before they are known). A
  // chain that does not compile is left out, its error kept in `errors` when given.
  std::map<std::string, meshcfg::CompiledChain> Chains(
      std::map<std::string, std::string>* errors) const {
    std::map<std::string, meshcfg::CompiledChain> out;
    if (gateway() || !reg_.service.proxy || !entries_) return out;
    const std::string td = roots_ ? roots_->trust_domain : "";
    for (const catalog::Upstream& u : reg_.service.proxy->upstreams) {
      if (u.destination_name.empty()) continue;
      Result<meshcfg::CompiledChain> chain =
          UpstreamChain(u, *reg_.service.proxy, local_dc(), td, *entries_);
      if (chain.ok()) {
        out[UpstreamId(u)] = std::move(*chain);
      } else if (errors != nullptr) {
        (*errors)[UpstreamId(u)] = chain.status().message();
      }
    }
    return out;
  }

  std::string LeafService() const {
    if (gateway() || !reg_.service.proxy) return "";
    return reg_.service.proxy->destination_service_name;
  }

  // Starts the watches the registration (and, for a gateway, the datacenter list and the static
  // routes) now call for, and stops the others.
  void Reconcile() {
    if (!roots_sub_) {
      roots_sub_ = m_.sources_.ConnectRoots([this](Result<Roots> r) {
        if (!Accept(r, "CA roots")) return;
        roots_ = std::move(*r);
        Schedule();
      });
    }
    if (!entries_asked_) {
      entries_asked_ = true;
      entries_sub_ = m_.sources_.ChainEntries([this](Result<std::vector<meshcfg::ConfigEntry>> r) {
        if (!Accept(r, "config entries")) return;
        meshcfg::EntrySet set;
        for (const meshcfg::ConfigEntry& e : *r) set.Add(e);
        entries_ = std::move(set);
        Reconcile();  // the chains' targets may be other services or datacenters now
        Schedule();
      });
      if (!entries_sub_) entries_ = meshcfg::EntrySet{};  // no entries: default chains
    }
    if (gateway() && !dcs_sub_) {
      dcs_sub_ = m_.sources_.Datacenters([this](Result<std::vector<std::string>> r) {
        if (!Accept(r, "datacenter list")) return;
        dcs_ = std::move(*r);
        Reconcile();
        Schedule();
      });
    }
    // A sidecar enforces the intentions for its destination; it needs every entry, since a
    // "*" destination's applies too.
    if (LeafService().empty()) {
      intentions_sub_.reset();
      intentions_.reset();
    } else if (!intentions_sub_) {
      intentions_sub_ = m_.sources_.ConfigEntries(
          kServiceIntentions, [this](Result<std::vector<meshcfg::ConfigEntry>> r) {
            if (!Accept(r, "service-intentions config entries")) return;
            std::vector<meshcfg::ServiceIntentions> entries;
            for (const meshcfg::ConfigEntry& e : *r) {
              if (const auto* si = e.As<meshcfg::ServiceIntentions>()) entries.push_back(*si);
            }
            intentions_ = std::move(entries);
            Schedule();
          });
    }
    if (std::string service = LeafService(); service != leaf_service_) {
      leaf_sub_.reset();
      leaf_.reset();
      leaf_service_ = service;
      if (!service.empty()) {
        leaf_sub_ = m_.sources_.Leaf(service, [this](Result<proxy::Leaf> r) {
          if (!Accept(r, "leaf certificate of " + leaf_service_)) return;
          leaf_ = std::move(*r);
          Schedule();
        });
      }
    }
    std::set<HealthQuery> want = WantedQueries();
    for (auto it = health_subs_.begin(); it != health_subs_.end();) {
      if (want.count(it->first)) {
        ++it;
        continue;
      }
      health_.erase(it->first);
      it = health_subs_.erase(it);
    }
    for (const HealthQuery& q : want) {
      if (health_subs_.count(q)) continue;
      health_subs_[q] = m_.sources_.Health(q, [this, q](Result<Nodes> r) {
        if (!Accept(r, Describe(q))) return;
        health_[q] = std::move(*r);
        // A gateway's static routes can name datacenters of their own.
        if (gateway() && q.kind == HealthQuery::Kind::kDump && q.name != kMeshGateway) Reconcile();
        Schedule();
      });
    }
  }

  static std::string Describe(const HealthQuery& q) {
    switch (q.kind) {
      case HealthQuery::Kind::kConnect:
        return "connect endpoints of " + q.name + " in " + q.datacenter;
      case HealthQuery::Kind::kService:
        return "instances of " + q.name + " in " + q.datacenter;
      case HealthQuery::Kind::kDump:
        return q.name + " services in " + q.datacenter;
    }
    return q.name;
  }

  // Logs a failed watch (once per distinct error; it retries on its own) and says whether the
  // answer is a value.
  template <typename T>
  bool Accept(const Result<T>& r, const std::string& what) {
    if (r.ok()) {
      failed_.erase(what);
      return true;
    }
    auto [it, inserted] = failed_.emplace(what, r.status().message());
    if (inserted || it->second != r.status().message()) {
      it->second = r.status().message();
      LogWarn(kComponent, "proxy \"" + reg_.service.id + "\": watching the " + what +
                              " failed: " + r.status().message());
    }
    return false;
  }

  void Schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    m_.loop_.Post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.expired()) return;
      scheduled_ = false;
      Recompile();
    });
  }

  // The inputs a first config cannot do without, by name; empty when all are there.
  std::string Missing() const {
    std::string out;
    auto need = [&out](bool have, const std::string& what) {
      if (!have) out += (out.empty() ? "" : ", ") + what;
    };
    need(roots_.has_value(), "the CA roots");
    if (!leaf_service_.empty()) {
      need(leaf_.has_value(), "the leaf certificate");
      // Without them the proxy would admit by the default whom an intention denies.
      need(intentions_.has_value(), "the intentions");
    }
    need(entries_.has_value(), "the config entries");
    if (gateway()) {
      need(dcs_.has_value(), "the datacenter list");
      for (const char* kind : {kConnectProxy, kMeshGateway, kMeshGatewayUpstream}) {
        need(Dump(kind, local_dc()) != nullptr, std::string("the local ") + kind + " services");
      }
    }
    return out;
  }

  // The gateways of `dc` as a gateway sees them, with the static routes applied: a route that
  // names a gateway service keeps only its instances, one with an address adds that address.
  Nodes RemoteGateways(const std::string& dc, const std::vector<StaticRoute>& routes) const {
    const Nodes* dump = Dump(kMeshGateway, dc);
    Nodes all = dump ? *dump : Nodes{};
    std::set<std::string> names;
    Nodes extra;
    for (const StaticRoute& r : routes) {
      if (r.datacenter != dc) continue;
      if (!r.address.empty()) {
        CheckServiceNode n;
        n.node.node = "static-route:" + r.route;
        n.node.address = r.address;
        n.node.datacenter = dc;
        n.service.id = r.route;
        n.service.service = r.route;
        n.service.kind = kMeshGateway;
        n.service.address = r.address;
        n.service.port = r.port;
        extra.push_back(std::move(n));
      }
      if (!r.gateway.empty()) names.insert(r.gateway);
    }
    Nodes out;
    for (CheckServiceNode& n : all) {
      if (names.empty() || names.count(n.service.service)) out.push_back(std::move(n));
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  Result<Inputs> BuildInputs() const {
    Inputs in;
    in.proxy = reg_.service;
    in.node = m_.options_.node;
    in.destination_port = reg_.destination_port;
    in.datacenter = local_dc();
    in.trust_domain = roots_->trust_domain;
    in.roots_pem = roots_->pems;
    in.leaf = leaf_;
    in.default_mesh_gateway_mode = m_.options_.default_mesh_gateway_mode;
    in.default_allow = m_.options_.default_intention_allow;
    if (intentions_) in.intentions = *intentions_;
    if (!gateway() && entries_ && reg_.service.proxy) {
      in.destination_protocol =
          meshcfg::ServiceProtocol(*entries_, reg_.service.proxy->destination_service_name);
    }
    if (!gateway()) {
      std::map<std::string, std::string> errors;
      in.chains = Chains(&errors);
      if (!errors.empty()) {
        return InvalidArgument("upstream \"" + errors.begin()->first +
                               "\": discovery chain: " + errors.begin()->second);
      }
      for (const auto& [q, nodes] : health_) {
        if (q.kind == HealthQuery::Kind::kConnect) {
          in.upstream_endpoints[{q.name, q.datacenter}] = nodes;
        } else if (q.kind == HealthQuery::Kind::kDump && q.name == kMeshGateway) {
          in.gateways[q.datacenter] = nodes;
        }
      }
      return in;
    }
    if (const Nodes* local = Dump(kMeshGateway, local_dc())) in.gateways[local_dc()] = *local;
    std::vector<StaticRoute> routes = StaticRoutes();
    for (const std::string& dc : RemoteDatacenters()) in.gateways[dc] = RemoteGateways(dc, routes);
    std::set<std::string> route_names;
    for (const StaticRoute& r : routes) route_names.insert(r.route);
    if (const Nodes* sidecars = Dump(kConnectProxy, local_dc())) {
      for (const CheckServiceNode& s : *sidecars) {
        if (!s.service.proxy) continue;
        const std::string& dest = s.service.proxy->destination_service_name;
        // A static route's sidecar fronts nothing: no SNI names it.
        if (dest.empty() || route_names.count(dest)) continue;
        in.local_services[dest].push_back(s);
      }
    }
    for (const auto& [service, resolver] : entries_->resolvers) {
      if (!resolver.subsets.empty()) in.local_subsets[service] = resolver.subsets;
    }
    return in;
  }

  void Recompile() {
    std::string missing = Missing();
    if (!missing.empty()) {
      pub_.waiting_for = missing;
      return;
    }
    pub_.waiting_for.clear();
    const uint64_t next =
        pub_.version == 0 ? m_.options_.first_version : pub_.version + 1;
    Result<Inputs> inputs = BuildInputs();
    Result<proxy::Config> config =
        inputs.ok() ? Compile(*inputs, next) : Result<proxy::Config>(inputs.status());
    if (!config.ok()) {
      if (pub_.error != config.status().message()) {
        pub_.error = config.status().message();
        LogWarn(kComponent, "proxy \"" + reg_.service.id + "\": cannot compile its config: " +
                                pub_.error +
                                (pub_.config ? "; it keeps version " +
                                                   std::to_string(pub_.version)
                                             : ""));
        m_.Wake(reg_.service.id);
      }
      return;
    }
    pub_.error.clear();
    if (pub_.config) {
      proxy::Config same = *config;
      same.version = pub_.version;
      if (same == *pub_.config) return;  // rule 2: nothing changed for this proxy
    }
    pub_.version = next;
    pub_.json = proxy::EncodeConfig(*config);
    pub_.config = std::make_shared<const proxy::Config>(std::move(*config));
    LogDebug(kComponent, "proxy \"" + reg_.service.id + "\": config version " +
                             std::to_string(next));
    m_.Wake(reg_.service.id);
  }

  Manager& m_;
  LocalProxy reg_;
  Published pub_;
  std::optional<Roots> roots_;
  std::optional<std::vector<std::string>> dcs_;
  std::optional<proxy::Leaf> leaf_;
  std::string leaf_service_;
  std::optional<std::vector<meshcfg::ServiceIntentions>> intentions_;
  std::map<HealthQuery, Nodes> health_;
  std::optional<meshcfg::EntrySet> entries_;  // sidecars: the chain-relevant config entries
  bool entries_asked_ = false;
  std::map<std::string, std::string> failed_;  // watch -> its last error
  bool scheduled_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, so no callback finds the state half gone.
  std::unique_ptr<Subscription> roots_sub_;
  std::unique_ptr<Subscription> dcs_sub_;
  std::unique_ptr<Subscription> leaf_sub_;
  std::unique_ptr<Subscription> intentions_sub_;
  std::unique_ptr<Subscription> entries_sub_;
  std::map<HealthQuery, std::unique_ptr<Subscription>> health_subs_;
};

Manager::Manager(Loop& loop, DataSources& sources, ManagerOptions options)
    : loop_(loop), sources_(sources), options_(std::move(options)) {}

Manager::~Manager() = default;

void Manager::Sync(const std::vector<LocalProxy>& proxies) {
  std::set<std::string> present;
  for (const LocalProxy& p : proxies) {
    if (!IsProxyKind(p.service.kind)) continue;
    present.insert(p.service.id);
    auto it = proxies_.find(p.service.id);
    if (it != proxies_.end()) {
      it->second->Update(p);
      continue;
    }
    auto state = std::make_unique<ProxyState>(*this, p);
    ProxyState* raw = state.get();
    proxies_.emplace(p.service.id, std::move(state));
    raw->Start();
  }
  for (auto it = proxies_.begin(); it != proxies_.end();) {
    if (present.count(it->first)) {
      ++it;
      continue;
    }
    std::string id = it->first;
    it = proxies_.erase(it);
    Wake(id);
  }
}

const Published* Manager::Find(const std::string& id) const {
  auto it = proxies_.find(id);
  return it == proxies_.end() ? nullptr : &it->second->published();
}

uint64_t Manager::Watch(const std::string& id, std::function<void()> fire) {
  uint64_t w = next_watch_++;
  watches_[w] = Waiter{id, std::move(fire)};
  return w;
}

void Manager::Unwatch(uint64_t watch) { watches_.erase(watch); }

void Manager::Wake(const std::string& id) {
  std::vector<std::function<void()>> fire;
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (it->second.id != id) {
      ++it;
      continue;
    }
    fire.push_back(std::move(it->second.fire));
    it = watches_.erase(it);
  }
  for (auto& f : fire) f();
}

}  // namespace gangway::proxycfg
