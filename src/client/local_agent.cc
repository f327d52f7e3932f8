#include "client/local_agent.h"

#include <algorithm>

#include "core/check.h"
#include "core/log.h"

namespace gangway::client {

namespace {
constexpr const char* kServiceMaintPrefix = "_service_maintenance:";
constexpr const char* kNodeMaint = "_node_maintenance";
constexpr const char* kDefaultMaintReason =
    "Maintenance mode is enabled for this service, but no reason was provided. This is a default "
    "message.";
constexpr const char* kDefaultNodeMaintReason =
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default "
    "message.";

std::string CheckType(const catalog::CheckRegistration& r) {
  if (!r.definition.grpc.empty()) return "grpc";
  if (r.definition.ttl_ns > 0) return "ttl";
  if (!r.definition.http.empty()) return "http";
  if (!r.definition.tcp.empty()) return "tcp";
  if (!r.definition.udp.empty()) return "udp";
  if (!r.alias_service.empty()) return "alias";
  if (!r.definition.script_args.empty()) return "script";
  if (!r.definition.h2ping.empty()) return "h2ping";
  return "";
}

int Severity(const std::string& status) {
  if (status == catalog::kPassing) return 0;
  if (status == catalog::kWarning) return 1;
  return 2;
}
}  // namespace

LocalAgent::LocalAgent(Loop& loop, std::unique_ptr<Prober> prober, catalog::Applier& writer,
                       const catalog::Store* catalog, LocalAgentOptions options)
    : loop_(loop),
      prober_(std::move(prober)),
      writer_(writer),
      catalog_(catalog),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {}

LocalAgent::~LocalAgent() { *alive_ = false; }

catalog::Node LocalAgent::NodeRecord() const {
  catalog::Node n;
  n.id = options_.node_id;
  n.node = options_.node_name;
  n.address = options_.address;
  n.datacenter = options_.datacenter;
  n.tagged_addresses = options_.tagged_addresses;
  if (n.tagged_addresses.empty()) {
    n.tagged_addresses = {{"lan", n.address}, {"lan_ipv4", n.address},
                          {"wan", n.address}, {"wan_ipv4", n.address}};
  }
  n.meta = options_.node_meta;
  if (n.meta.empty()) n.meta = {{"consul-network-segment", ""}};
  return n;
}

void LocalAgent::Start() {
  ScheduleSync();
  ArmFullSync();
  ArmReap();
}

// Each timer re-arms the next from its own callback: no closure owns itself, so nothing outlives
// the agent (the timers are members and cancel when it goes).
void LocalAgent::ArmFullSync() {
  sync_timer_ = loop_.After(options_.sync_interval, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    FullSync();
    ArmFullSync();
  });
}

void LocalAgent::ArmReap() {
  reap_timer_ = loop_.After(options_.reap_interval, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    Reap();
    ArmReap();
  });
}

int LocalAgent::AllocateSidecarPort() const {
  std::set<int> used;
  for (const auto& [id, s] : services_) {
    if (s.service.kind == "connect-proxy") used.insert(s.service.port);
  }
  for (int p = options_.sidecar_min_port; p <= options_.sidecar_max_port; ++p) {
    if (!used.count(p)) return p;
  }
  return 0;
}

Status LocalAgent::AddService(catalog::ServiceRegistration reg, bool replace_existing_checks) {
  catalog::NodeService svc = reg.service;
  if (svc.id.empty()) svc.id = svc.service;
  if (svc.service.empty()) return InvalidArgument("Missing service name");

  // Expand Connect.SidecarService into a managed connect-proxy registration.
  std::optional<catalog::ServiceRegistration> sidecar;
  if (reg.sidecar) {
    catalog::ServiceRegistration sc = std::move(*reg.sidecar);
    if (sc.token.empty()) sc.token = reg.token;
    auto& p = sc.service;
    p.kind = "connect-proxy";
    if (p.id.empty()) p.id = svc.id + "-sidecar-proxy";
    if (p.service.empty()) p.service = svc.service + "-sidecar-proxy";
    if (p.tags.empty()) p.tags = svc.tags;
    if (p.meta.empty()) p.meta = svc.meta;
    if (p.port == 0) {
      auto existing = services_.find(p.id);
      p.port = existing != services_.end() ? existing->second.service.port : AllocateSidecarPort();
      if (p.port == 0) {
        return Unavailable("No sidecar port available in range " +
                           std::to_string(options_.sidecar_min_port) + "-" +
                           std::to_string(options_.sidecar_max_port));
      }
    }
    catalog::ProxyConfig& proxy = p.proxy ? *p.proxy : p.proxy.emplace();
    proxy.destination_service_name = svc.service;
    proxy.destination_service_id = svc.id;
    if (proxy.local_service_address.empty()) proxy.local_service_address = "127.0.0.1";
    if (proxy.local_service_port == 0) proxy.local_service_port = svc.port;
    if (sc.checks.empty()) {
      catalog::CheckRegistration aliasing;
      aliasing.name = "Connect Sidecar Aliasing " + svc.id;
      aliasing.alias_service = svc.id;
      sc.checks = {aliasing};
      // A static route's sidecar (kind mesh-gateway-upstream) only carries the route's
      // upstreams: no proxy runs for it, so there is no listener to check.
      if (svc.kind != "mesh-gateway-upstream") {
        std::string addr = p.address.empty() ? "127.0.0.1" : p.address;
        catalog::CheckRegistration listening;
        listening.name = "Connect Sidecar Listening";
        listening.definition.tcp = addr + ":" + std::to_string(p.port);
        listening.definition.interval_ns = 10'000'000'000;
        sc.checks.insert(sc.checks.begin(), listening);
      }
    }
    sidecar = std::move(sc);
    svc.connect = catalog::Json::object();
  }

  auto it = services_.find(svc.id);
  std::set<std::string> old_checks;
  if (it != services_.end()) {
    if (auto sc = service_checks_.find(svc.id); sc != service_checks_.end()) old_checks = sc->second;
  }
  LocalService& ls = services_[svc.id];
  uint64_t version = ls.version + 1;
  ls.service = svc;
  ls.token = reg.token;
  ls.version = version;
  dirty_services_.insert(svc.id);
  ls.sidecar_parent.clear();
  removed_services_.erase(svc.id);

  std::vector<std::string> added;
  for (size_t i = 0; i < reg.checks.size(); ++i) {
    auto c = reg.checks[i];
    c.service_id = svc.id;
    if (c.check_id.empty()) {
      c.check_id = "service:" + svc.id;
      if (reg.checks.size() > 1) c.check_id += ":" + std::to_string(i + 1);
    }
    if (c.name.empty()) c.name = "Service '" + svc.service + "' check";
    Status s = AddCheckLocked(c, &ls.service);
    if (!s.ok()) return s;
    added.push_back(c.check_id);
  }
  if (replace_existing_checks) {
    for (const auto& cid : old_checks) {
      if (std::find(added.begin(), added.end(), cid) == added.end() &&
          cid.rfind(kServiceMaintPrefix, 0) != 0) {
        EraseCheck(cid);
      }
    }
  }
  if (sidecar) {
    std::string parent = svc.id;
    Status s = AddService(std::move(*sidecar), replace_existing_checks);
    if (!s.ok()) return s;
    services_[parent + "-sidecar-proxy"].sidecar_parent = parent;
  }
  RefreshAliasChecks();
  Changed();
  return Status::Ok();
}

Status LocalAgent::RemoveService(const std::string& id) {
  auto it = services_.find(id);
  if (it == services_.end()) return NotFound("Unknown service ID \"" + id + "\". Ensure that the service ID is passed, not the service name.");
  // Its checks first: they are deregistered with the service's token.
  if (auto sc = service_checks_.find(id); sc != service_checks_.end()) {
    for (const auto& cid : std::set<std::string>(sc->second)) EraseCheck(cid);
  }
  removed_services_[id] = it->second.token;
  services_.erase(it);
  dirty_services_.erase(id);
  // An agent-managed sidecar goes with its parent.
  std::vector<std::string> sidecars;
  for (const auto& [sid, s] : services_) {
    if (s.sidecar_parent == id) sidecars.push_back(sid);
  }
  for (const auto& sid : sidecars) {
    Status removed = RemoveService(sid);  // listed from services_ just above
    GANGWAY_CHECK(removed.ok()) << removed.message();
  }
  RefreshAliasChecks();
  Changed();
  return Status::Ok();
}

Status LocalAgent::AddCheck(catalog::CheckRegistration reg) {
  if (reg.name.empty()) return InvalidArgument("Missing check name");
  if (reg.check_id.empty()) reg.check_id = reg.name;
  const catalog::NodeService* svc = nullptr;
  if (!reg.service_id.empty()) {
    auto it = services_.find(reg.service_id);
    if (it == services_.end()) {
      return NotFound("ServiceID \"" + reg.service_id + "\" does not exist");
    }
    svc = &it->second.service;
  }
  Status s = AddCheckLocked(std::move(reg), svc);
  if (!s.ok()) return s;
  RefreshAliasChecks();
  Changed();
  return s;
}

Status LocalAgent::AddCheckLocked(catalog::CheckRegistration reg, const catalog::NodeService* svc) {
  LocalCheck& lc = checks_[reg.check_id];
  removed_checks_.erase(reg.check_id);
  // Node-level checks are indexed under "".
  if (auto old = service_checks_.find(lc.check.service_id); old != service_checks_.end()) {
    old->second.erase(reg.check_id);
  }
  service_checks_[svc ? svc->id : ""].insert(reg.check_id);
  uint64_t version = lc.version + 1;
  lc.runner.reset();
  lc.check = catalog::HealthCheck{};
  lc.check.node = options_.node_name;
  lc.check.check_id = reg.check_id;
  lc.check.name = reg.name;
  lc.check.notes = reg.notes;
  lc.check.status = reg.status.empty() ? catalog::kCritical : reg.status;
  lc.check.type = CheckType(reg);
  lc.check.definition = reg.definition;
  if (svc) {
    lc.check.service_id = svc->id;
    lc.check.service_name = svc->service;
    lc.check.service_tags = svc->tags;
  }
  lc.definition = reg;
  lc.version = version;
  dirty_checks_.insert(reg.check_id);
  if (lc.check.type == "alias") {
    alias_checks_.insert(reg.check_id);
  } else {
    alias_checks_.erase(reg.check_id);
  }
  lc.critical_since.reset();
  if (lc.check.status == catalog::kCritical) lc.critical_since = loop_.Now();
  if (lc.check.type == "ttl" || lc.check.type == "http" || lc.check.type == "tcp" ||
      lc.check.type == "script" || lc.check.type == "udp" || lc.check.type == "grpc" ||
      lc.check.type == "h2ping") {
    std::string id = reg.check_id;
    lc.runner = std::make_unique<CheckRunner>(
        loop_, *prober_, reg, [this, id](const std::string& status, const std::string& output) {
          UpdateCheckStatus(id, status, output);
        });
    lc.runner->Start();
  }
  return Status::Ok();
}

Status LocalAgent::RemoveCheck(const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return NotFound("Unknown check ID \"" + id + "\"");
  EraseCheck(id);
  RefreshAliasChecks();
  Changed();
  return Status::Ok();
}

Status LocalAgent::UpdateTTL(const std::string& check_id, const std::string& status,
                             const std::string& output) {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) {
    return NotFound("Unknown check ID \"" + check_id +
                    "\". Ensure that the check ID is passed, not the check name.");
  }
  if (!it->second.runner || !it->second.runner->is_ttl()) {
    return InvalidArgument("Check \"" + check_id + "\" is not a TTL check");
  }
  if (status != catalog::kPassing && status != catalog::kWarning && status != catalog::kCritical) {
    return InvalidArgument("Unknown check status: \"" + status + "\"");
  }
  it->second.runner->SetTTL(status, output);
  return Status::Ok();
}

void LocalAgent::UpdateCheckStatus(const std::string& check_id, const std::string& status,
                                   const std::string& output) {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) return;
  auto& c = it->second;
  if (c.check.status == status && c.check.output == output) return;
  if (status == catalog::kCritical && c.check.status != catalog::kCritical) {
    c.critical_since = loop_.Now();
  } else if (status != catalog::kCritical) {
    c.critical_since.reset();
  }
  if (c.check.status != status) {
    LogDebug("agent", "Check status updated: check=" + check_id + " status=" + status);
  }
  c.check.status = status;
  c.check.output = output;
  ++c.version;
  dirty_checks_.insert(check_id);
  RefreshAliasChecks();
  Changed();
}

// Consul's rule: a check's own token, else that of the service it belongs to.
std::string LocalAgent::CheckToken(const LocalCheck& c) const {
  if (!c.definition.token.empty() || c.check.service_id.empty()) return c.definition.token;
  auto it = services_.find(c.check.service_id);
  return it == services_.end() ? std::string() : it->second.token;
}

void LocalAgent::EraseCheck(const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  auto sc = service_checks_.find(it->second.check.service_id);
  if (sc != service_checks_.end()) {
    sc->second.erase(id);
    if (sc->second.empty()) service_checks_.erase(sc);
  }
  removed_checks_[id] = CheckToken(it->second);
  checks_.erase(it);
  dirty_checks_.erase(id);
  alias_checks_.erase(id);
}

void LocalAgent::RefreshAliasChecks() {
  for (const auto& id : alias_checks_) {
    auto& c = checks_.at(id);
    const std::string& target = c.definition.alias_service;
    std::string worst = catalog::kPassing;
    bool found = services_.count(target) > 0;
    // The aliased service's checks and the node's own checks.
    for (const std::string& key : {target, std::string()}) {
      auto sc = service_checks_.find(key);
      if (sc == service_checks_.end()) continue;
      for (const auto& oid : sc->second) {
        const auto& o = checks_.at(oid);
        if (o.check.type != "alias" && Severity(o.check.status) > Severity(worst)) {
          worst = o.check.status;
        }
      }
    }
    std::string output = found ? (worst == catalog::kPassing ? "All checks passing."
                                                             : "Aliased service has failing checks")
                               : "Service not found";
    if (!found) worst = catalog::kCritical;
    if (c.check.status != worst || c.check.output != output) {
      c.check.status = worst;
      c.check.output = output;
      ++c.version;
      dirty_checks_.insert(id);
    }
  }
}

Status LocalAgent::SetServiceMaintenance(const std::string& id, bool enable,
                                         const std::string& reason) {
  auto it = services_.find(id);
  if (it == services_.end()) return NotFound("No service registered with ID \"" + id + "\"");
  std::string check_id = kServiceMaintPrefix + id;
  if (enable) {
    if (checks_.count(check_id)) return Status::Ok();
    catalog::CheckRegistration r;
    r.check_id = check_id;
    r.name = "Service Maintenance Mode";
    r.notes = reason.empty() ? kDefaultMaintReason : reason;
    r.status = catalog::kCritical;
    r.service_id = id;
    return AddCheck(r);
  }
  if (!checks_.count(check_id)) return Status::Ok();
  return RemoveCheck(check_id);
}

void LocalAgent::SetNodeMaintenance(bool enable, const std::string& reason) {
  if (enable) {
    if (checks_.count(kNodeMaint)) return;
    catalog::CheckRegistration r;
    r.check_id = kNodeMaint;
    r.name = "Node Maintenance Mode";
    r.notes = reason.empty() ? kDefaultNodeMaintReason : reason;
    r.status = catalog::kCritical;
    Status added = AddCheck(r);  // a node check with a fixed, valid definition
    GANGWAY_CHECK(added.ok()) << added.message();
  } else if (checks_.count(kNodeMaint)) {
    Status removed = RemoveCheck(kNodeMaint);
    GANGWAY_CHECK(removed.ok()) << removed.message();
  }
}

uint64_t LocalAgent::WatchLocal(std::function<void()> fire) {
  uint64_t id = next_watch_++;
  local_watches_[id] = std::move(fire);
  return id;
}

void LocalAgent::UnwatchLocal(uint64_t id) { local_watches_.erase(id); }

void LocalAgent::Changed() {
  ++generation_;
  auto watches = std::move(local_watches_);
  local_watches_.clear();
  for (auto& [id, fn] : watches) fn();
  ScheduleSync();
}

void LocalAgent::ScheduleSync() {
  if (sync_pending_) return;
  sync_pending_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (alive.expired()) return;
    SyncNow();
  });
}

bool LocalAgent::InSync() const {
  if (!node_synced_ || !removed_services_.empty() || !removed_checks_.empty()) return false;
  for (const auto& [id, s] : services_) {
    if (s.version != s.synced_version) return false;
  }
  for (const auto& [id, c] : checks_) {
    if (c.version != c.synced_version) return false;
  }
  return true;
}

void LocalAgent::SyncNow() {
  sync_pending_ = false;
  std::weak_ptr<bool> alive = alive_;
  auto on_error = [](const std::string& what, const catalog::ApplyResult& r) {
    LogWarn("agent.anti_entropy", what + ": " + r.status.message());
  };
  if (!node_synced_) {
    catalog::RegisterRequest req;
    // The node only: its serfHealth check is the leader's to write, from LAN membership.
    req.node = NodeRecord();
    writer_.Apply(req, [this, alive, on_error](catalog::ApplyResult r) {
      if (alive.expired()) return;
      if (r.status.ok()) {
        node_synced_ = true;
      } else {
        on_error("failed to sync node", r);
      }
    });
  }
  for (auto it = removed_services_.begin(); it != removed_services_.end();) {
    auto [id, token] = *it;
    it = removed_services_.erase(it);
    catalog::DeregisterRequest req{options_.node_name, id, ""};
    writer_.ApplyWithToken(req, token, [this, alive, id, token, on_error](catalog::ApplyResult r) {
      if (alive.expired()) return;
      if (!r.status.ok()) {
        on_error("failed to deregister service " + id, r);
        if (!services_.count(id)) removed_services_.emplace(id, token);
      } else {
        LogInfo("agent", "Deregistered service: service=" + id);
      }
    });
  }
  for (auto it = removed_checks_.begin(); it != removed_checks_.end();) {
    auto [id, token] = *it;
    it = removed_checks_.erase(it);
    catalog::DeregisterRequest req{options_.node_name, "", id};
    writer_.ApplyWithToken(req, token, [this, alive, id, token, on_error](catalog::ApplyResult r) {
      if (alive.expired()) return;
      if (!r.status.ok()) {
        on_error("failed to deregister check " + id, r);
        if (!checks_.count(id)) removed_checks_.emplace(id, token);
      }
    });
  }
  for (const auto& id : std::vector<std::string>(dirty_services_.begin(), dirty_services_.end())) {
    auto& s = services_.at(id);
    catalog::RegisterRequest req;
    req.node = NodeRecord();
    req.service = s.service;
    uint64_t v = s.version;
    std::string sid = id;
    writer_.ApplyWithToken(req, s.token, [this, alive, sid, v, on_error](catalog::ApplyResult r) {
      if (alive.expired()) return;
      auto it = services_.find(sid);
      if (!r.status.ok()) return on_error("failed to sync service " + sid, r);
      if (it != services_.end()) {
        it->second.synced_version = std::max(it->second.synced_version, v);
        if (it->second.synced_version == it->second.version) dirty_services_.erase(sid);
        LogDebug("agent", "Synced service: service=" + sid);
      }
    });
  }
  for (const auto& id : std::vector<std::string>(dirty_checks_.begin(), dirty_checks_.end())) {
    auto& c = checks_.at(id);
    if (!c.check.service_id.empty()) {
      auto sit = services_.find(c.check.service_id);
      if (sit == services_.end()) continue;
    }
    catalog::RegisterRequest req;
    req.node = NodeRecord();
    req.checks.push_back(c.check);
    uint64_t v = c.version;
    std::string cid = id;
    writer_.ApplyWithToken(req, CheckToken(c), [this, alive, cid, v, on_error](catalog::ApplyResult r) {
      if (alive.expired()) return;
      if (!r.status.ok()) return on_error("failed to sync check " + cid, r);
      auto it = checks_.find(cid);
      if (it == checks_.end()) return;
      it->second.synced_version = std::max(it->second.synced_version, v);
      if (it->second.synced_version == it->second.version) dirty_checks_.erase(cid);
    });
  }
}

void LocalAgent::FullSync() {
  if (!catalog_) {
    // No local copy of the catalog to compare with (a client agent): push everything again,
    // which also restores what a server lost.
    node_synced_ = false;
    for (auto& [id, s] : services_) {
      s.synced_version = 0;
      dirty_services_.insert(id);
    }
    for (auto& [id, c] : checks_) {
      c.synced_version = 0;
      dirty_checks_.insert(id);
    }
    SyncNow();
    return;
  }
  std::optional<catalog::Node> node;
  std::vector<catalog::NodeService> remote_services;
  catalog_->NodeServices(nullptr, options_.node_name, &node, &remote_services);
  if (!node) node_synced_ = false;
  for (const auto& rs : remote_services) {
    if (rs.id == "consul") continue;  // registered by the servers themselves
    auto it = services_.find(rs.id);
    if (it == services_.end()) {
      removed_services_.emplace(rs.id, std::string());
    }
  }
  std::set<std::string> remote_ids;
  for (const auto& rs : remote_services) remote_ids.insert(rs.id);
  for (auto& [id, s] : services_) {
    if (!remote_ids.count(id)) {
      s.synced_version = 0;
      dirty_services_.insert(id);
    }
  }
  std::vector<catalog::HealthCheck> remote_checks;
  catalog_->NodeChecks(nullptr, options_.node_name, &remote_checks);
  std::map<std::string, const catalog::HealthCheck*> by_id;
  for (const auto& rc : remote_checks) by_id[rc.check_id] = &rc;
  for (const auto& rc : remote_checks) {
    if (rc.check_id == catalog::kSerfCheckID) continue;
    if (!checks_.count(rc.check_id)) removed_checks_.emplace(rc.check_id, std::string());
  }
  for (auto& [id, c] : checks_) {
    auto r = by_id.find(id);
    if (r == by_id.end() || r->second->status != c.check.status ||
        r->second->output != c.check.output) {
      c.synced_version = 0;
      dirty_checks_.insert(id);
    }
  }
  SyncNow();
}

void LocalAgent::Reap() {
  auto now = loop_.Now();
  std::vector<std::string> doomed;
  for (const auto& [id, c] : checks_) {
    auto after = std::chrono::nanoseconds(c.definition.definition.deregister_critical_service_after_ns);
    if (after.count() <= 0 || c.check.service_id.empty() || !c.critical_since) continue;
    if (c.check.status == catalog::kCritical && now - *c.critical_since >= after) {
      doomed.push_back(c.check.service_id);
    }
  }
  for (const auto& sid : doomed) {
    if (!services_.count(sid)) continue;
    LogInfo("agent", "Check for service has been critical for too long; deregistered service: service=" + sid);
    Status removed = RemoveService(sid);
    GANGWAY_CHECK(removed.ok()) << removed.message();
  }
}

}  // namespace gangway::client
