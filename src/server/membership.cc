#include "server/membership.h"

#include <set>

#include "core/log.h"

namespace gangway::server {

namespace {

const std::string* Tag(const LanMember& m, const char* key) {
  auto it = m.tags.find(key);
  return it == m.tags.end() ? nullptr : &it->second;
}

// A server of this datacenter: Consul's metadata.IsConsulServer plus the datacenter check.
bool IsLocalServer(const LanMember& m, const std::string& dc) {
  const std::string* role = Tag(m, "role");
  const std::string* mdc = Tag(m, "dc");
  return role && *role == "consul" && mdc && *mdc == dc;
}

std::optional<catalog::HealthCheck> SerfCheck(const catalog::Store& store, const std::string& node) {
  std::vector<catalog::HealthCheck> checks;
  store.NodeChecks(nullptr, node, &checks);
  for (auto& c : checks) {
    if (c.check_id == catalog::kSerfCheckID) return c;
  }
  return std::nullopt;
}

catalog::HealthCheck NewSerfCheck(const std::string& node, const char* status, const char* output) {
  catalog::HealthCheck c;
  c.node = node;
  c.check_id = catalog::kSerfCheckID;
  c.name = kSerfCheckName;
  c.status = status;
  c.output = output;
  c.type = "serf";
  return c;
}

}  // namespace

MembershipReconciler::MembershipReconciler(Server& server, std::string datacenter,
                                           std::string self_name)
    : server_(server), datacenter_(std::move(datacenter)), self_(std::move(self_name)) {}

void MembershipReconciler::Reconcile(const LanMember& m) {
  // The LAN pool vetoes other datacenters; a member that slipped through is not ours to list.
  if (const std::string* dc = Tag(m, "dc"); dc && *dc != datacenter_) return;
  switch (m.status) {
    case LanMember::Status::kAlive:
      HandleAlive(m);
      break;
    case LanMember::Status::kFailed:
      HandleFailed(m);
      break;
    case LanMember::Status::kLeft:
    case LanMember::Status::kReaped:
      HandleGone(m.name);
      break;
    case LanMember::Status::kLeaving:
      break;  // still serving until it has left
  }
}

void MembershipReconciler::ReconcileAll(const std::vector<LanMember>& members) {
  std::set<std::string> known;
  for (const auto& m : members) {
    known.insert(m.name);
    Reconcile(m);
  }
  // Consul's reconcileReaped: a node the catalog tracks through serfHealth but gossip has
  // forgotten is gone.
  std::vector<catalog::Node> nodes;
  server_.store().Nodes(nullptr, &nodes);
  for (const auto& n : nodes) {
    if (known.count(n.node) || n.node == self_) continue;
    if (SerfCheck(server_.store(), n.node)) HandleGone(n.node);
  }
}

void MembershipReconciler::HandleAlive(const LanMember& m) {
  const catalog::Store& store = server_.store();
  std::optional<catalog::Node> node;
  store.GetNode(nullptr, m.name, &node);
  const std::string* id = Tag(m, "id");

  std::optional<catalog::NodeService> consul;
  if (IsLocalServer(m, datacenter_)) {
    catalog::NodeService s;
    s.id = "consul";
    s.service = "consul";
    const std::string* port = Tag(m, "port");
    s.port = port ? std::atoi(port->c_str()) : 8300;
    consul = s;
  }

  bool node_ok = node && node->address == m.address && (!id || node->id == *id);
  bool service_ok = true;
  if (consul) {
    std::optional<catalog::Node> unused;
    std::vector<catalog::NodeService> services;
    store.NodeServices(nullptr, m.name, &unused, &services);
    service_ok = false;
    for (const auto& s : services) {
      if (s.id == "consul" && s.port == consul->port) service_ok = true;
    }
  }
  auto check = SerfCheck(store, m.name);
  bool check_ok = check && check->status == catalog::kPassing;
  if (node_ok && service_ok && check_ok) return;

  catalog::RegisterRequest req;
  if (node) {
    req.node = *node;
  } else {
    req.node.node = m.name;
    req.node.datacenter = datacenter_;
  }
  req.node.address = m.address;
  if (id) req.node.id = *id;
  // An unchanged node keeps what its agent registered (tagged addresses, meta).
  req.skip_node_update = node_ok;
  req.service = consul;
  req.checks.push_back(NewSerfCheck(m.name, catalog::kPassing, kSerfAliveOutput));
  Write(std::move(req), "member joined, marking health alive: member=" + m.name);
}

void MembershipReconciler::HandleFailed(const LanMember& m) {
  const catalog::Store& store = server_.store();
  std::optional<catalog::Node> node;
  store.GetNode(nullptr, m.name, &node);
  auto check = SerfCheck(store, m.name);
  if (node && check && check->status == catalog::kCritical) return;

  catalog::RegisterRequest req;
  if (node) {
    req.node = *node;
    req.skip_node_update = true;
  } else {
    req.node.node = m.name;
    req.node.datacenter = datacenter_;
    req.node.address = m.address;
    if (const std::string* id = Tag(m, "id")) req.node.id = *id;
  }
  req.checks.push_back(NewSerfCheck(m.name, catalog::kCritical, kSerfFailedOutput));
  Write(std::move(req), "member failed, marking health critical: member=" + m.name);
}

void MembershipReconciler::HandleGone(const std::string& name) {
  // Never deregister ourselves: a server that is leaving still answers until it has gone.
  if (name == self_) return;
  std::optional<catalog::Node> node;
  server_.store().GetNode(nullptr, name, &node);
  if (!node) return;
  Write(catalog::DeregisterRequest{name, "", ""}, "deregistering member: member=" + name);
}

void MembershipReconciler::Write(catalog::Command cmd, const std::string& what) {
  ++writes_;
  LogInfo("agent.server", what);
  server_.Apply(std::move(cmd), [what](catalog::ApplyResult r) {
    if (!r.status.ok()) LogWarn("agent.server", "reconcile failed (" + what + "): " + r.status.message());
  });
}

}  // namespace gangway::server
