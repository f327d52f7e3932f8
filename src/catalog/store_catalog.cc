// The catalog tables of the state store: nodes, service instances and checks. Register and
// Deregister, the per-service and Connect indexes they move, and the catalog and health reads
// (Consul's state/catalog.go). Store::Impl is in internal/store_impl.h.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "catalog/internal/json_forms.h"
#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::CheckStateKey;
using internal::ConnectKey;
using internal::ConnectNames;
using internal::kChecksKey;
using internal::kNodesKey;
using internal::kServicesKey;
using internal::NodeChecksKey;
using internal::NodeKey;
using internal::NodeServicesKey;
using internal::Quote;
using internal::Rejected;
using internal::ServiceKey;

namespace internal {
namespace {

// Case-insensitive member lookup in user JSON (Connect keeps the keys users sent).
const Json* Member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> ConnectNames(const NodeService& s) {
  std::vector<std::string> out;
  if (s.kind == "connect-proxy") {
    if (s.proxy && !s.proxy->destination_service_name.empty()) {
      out.push_back(s.proxy->destination_service_name);
    }
  }
  const Json* native = Member(s.connect, "Native");
  if (native != nullptr && native->is_boolean() && native->get<bool>()) out.push_back(s.service);
  return out;
}

}  // namespace internal

// ---- Mutations

// The instance's rows in service and connect reads changed.
void Store::Impl::TouchInstance(Changes& ch, const NodeService& s) {
  ch.service_names.insert(s.service);
  for (auto& name : ConnectNames(s)) ch.connect_names.insert(std::move(name));
}
// Node records and node checks appear in every row of the node's instances.
void Store::Impl::TouchNodeInstances(Changes& ch, const std::string& node) {
  auto it = t.services.find(node);
  if (it == t.services.end()) return;
  for (const auto& [id, s] : it->second) TouchInstance(ch, s);
}
void Store::Impl::TouchCheck(Changes& ch, const HealthCheck& c) {
  t.checks_index = ch.index;
  ch.keys.emplace_back(kChecksKey);
  ch.keys.push_back(CheckStateKey(c.status));
  ch.keys.push_back(NodeChecksKey(c.node));
  if (c.service_id.empty()) {
    TouchNodeInstances(ch, c.node);
  } else if (const NodeService* s = t.FindService(c.node, c.service_id)) {
    TouchInstance(ch, *s);
  }
}

void Store::Impl::EnsureNode(Changes& ch, const Node& in) {
  Node n = in;
  auto it = t.nodes.find(n.node);
  if (it != t.nodes.end()) {
    n.raft = it->second.raft;
    if (n == it->second) return;  // identical re-registration: no write, no wake-up
    n.raft.modify_index = ch.index;
    if (it->second.id != n.id) t.node_ids.erase(it->second.id);
  } else {
    n.raft = {ch.index, ch.index};
  }
  if (!n.id.empty()) t.node_ids[n.id] = n.node;
  ch.keys.emplace_back(kNodesKey);
  ch.keys.push_back(NodeKey(n.node));
  t.nodes_index = ch.index;
  TouchNodeInstances(ch, n.node);
  t.nodes[n.node] = std::move(n);
}

void Store::Impl::EnsureService(Changes& ch, const std::string& node, const NodeService& in) {
  NodeService s = in;
  auto& instances = t.services[node];
  auto it = instances.find(s.id);
  if (it != instances.end()) {
    s.raft = it->second.raft;
    if (s == it->second) return;
    s.raft.modify_index = ch.index;
    TouchInstance(ch, it->second);
    t.UnindexInstance(node, it->second);
  } else {
    s.raft = {ch.index, ch.index};
  }
  t.IndexInstance(node, s);
  TouchInstance(ch, s);
  t.services_index = ch.index;
  ch.keys.emplace_back(kServicesKey);
  ch.keys.push_back(NodeServicesKey(node));
  const std::string id = s.id;
  instances[id] = std::move(s);
  // Checks carry their service's name and tags; keep them current.
  auto checks = t.checks.find(node);
  if (checks == t.checks.end()) return;
  const NodeService& stored = instances[id];
  for (auto& [check_id, c] : checks->second) {
    if (c.service_id != id) continue;
    if (c.service_name == stored.service && c.service_tags == stored.tags) continue;
    c.service_name = stored.service;
    c.service_tags = stored.tags;
    c.raft.modify_index = ch.index;
    TouchCheck(ch, c);
  }
}

// `in` is validated: its node exists and so does its service, if any.
void Store::Impl::EnsureCheck(Changes& ch, const HealthCheck& in) {
  HealthCheck c = in;
  if (c.status.empty()) c.status = kCritical;
  if (const NodeService* s = c.service_id.empty() ? nullptr : t.FindService(c.node, c.service_id)) {
    c.service_name = s->service;
    c.service_tags = s->tags;
  } else {
    c.service_name.clear();
    c.service_tags.clear();
  }
  auto& node_checks = t.checks[c.node];
  auto it = node_checks.find(c.check_id);
  if (it != node_checks.end()) {
    c.raft = it->second.raft;
    if (c == it->second) return;
    c.raft.modify_index = ch.index;
    TouchCheck(ch, it->second);  // its old status and old service
  } else {
    c.raft = {ch.index, ch.index};
  }
  TouchCheck(ch, c);
  const bool critical = c.status == kCritical;
  const std::string node = c.node, id = c.check_id;
  node_checks[c.check_id] = std::move(c);
  // A session dies with any check it depends on turning critical (warning does not count).
  if (critical) InvalidateCheckSessions(ch, node, id);
}

void Store::Impl::DeleteCheck(Changes& ch, const std::string& node, const std::string& check_id) {
  auto n = t.checks.find(node);
  if (n == t.checks.end()) return;
  auto it = n->second.find(check_id);
  if (it == n->second.end()) return;
  TouchCheck(ch, it->second);
  n->second.erase(it);
  if (n->second.empty()) t.checks.erase(n);
  InvalidateCheckSessions(ch, node, check_id);
}

void Store::Impl::DeleteService(Changes& ch, const std::string& node, const std::string& id) {
  auto n = t.services.find(node);
  if (n == t.services.end()) return;
  auto it = n->second.find(id);
  if (it == n->second.end()) return;
  if (auto checks = t.checks.find(node); checks != t.checks.end()) {
    std::vector<std::string> doomed;
    for (const auto& [check_id, c] : checks->second) {
      if (c.service_id == id) doomed.push_back(check_id);
    }
    for (const auto& check_id : doomed) DeleteCheck(ch, node, check_id);
  }
  TouchInstance(ch, it->second);
  t.UnindexInstance(node, it->second);
  n->second.erase(it);
  if (n->second.empty()) t.services.erase(n);
  t.services_index = ch.index;
  ch.keys.emplace_back(kServicesKey);
  ch.keys.push_back(NodeServicesKey(node));
}

void Store::Impl::DeleteNode(Changes& ch, const std::string& name) {
  auto it = t.nodes.find(name);
  if (it == t.nodes.end()) return;
  if (auto n = t.services.find(name); n != t.services.end()) {
    std::vector<std::string> ids;
    for (const auto& [id, s] : n->second) ids.push_back(id);
    for (const auto& id : ids) DeleteService(ch, name, id);
  }
  if (auto n = t.checks.find(name); n != t.checks.end()) {
    std::vector<std::string> ids;
    for (const auto& [id, c] : n->second) ids.push_back(id);
    for (const auto& id : ids) DeleteCheck(ch, name, id);
  }
  InvalidateNodeSessions(ch, name);
  DeleteNodeCoordinates(ch, name);
  t.node_ids.erase(it->second.id);
  t.nodes.erase(it);
  t.nodes_index = ch.index;
  ch.keys.emplace_back(kNodesKey);
  ch.keys.push_back(NodeKey(name));
}

ApplyResult Store::Impl::Register(Changes& ch, const RegisterRequest& req) {
  const Node& node = req.node;
  if (node.node.empty()) return Rejected(InvalidArgument("Must provide node"));
  bool node_exists = t.nodes.count(node.node) > 0;
  std::string renamed_from;
  if (!req.skip_node_update) {
    if (node.address.empty()) return Rejected(InvalidArgument("Must provide address"));
    // Consul treats a known node ID under a new name as the node being renamed.
    if (auto it = t.node_ids.find(node.id);
        !node.id.empty() && it != t.node_ids.end() && it->second != node.node) {
      renamed_from = it->second;
    }
  } else if (!node_exists && (req.service || !req.checks.empty())) {
    return Rejected(InvalidArgument("Missing node registration"));
  }
  std::optional<NodeService> service = req.service;
  if (service) {
    if (service->service.empty()) {
      return Rejected(InvalidArgument("Must provide service name"));
    }
    if (service->id.empty()) service->id = service->service;
  }
  std::vector<HealthCheck> checks = req.checks;
  for (auto& c : checks) {
    if (c.node.empty()) c.node = node.node;
    if (c.check_id.empty()) c.check_id = c.name;
    if (c.check_id.empty()) {
      return Rejected(InvalidArgument("Must provide a CheckID or Name for each check"));
    }
    bool own_node = c.node == node.node;
    if (!own_node && (t.nodes.count(c.node) == 0 || c.node == renamed_from)) {
      return Rejected(InvalidArgument("Missing node registration for check " + Quote(c.check_id) +
                                      " on node " + Quote(c.node)));
    }
    if (!c.service_id.empty()) {
      bool known = (own_node && service && service->id == c.service_id) ||
                   t.FindService(c.node, c.service_id) != nullptr;
      if (!known) {
        return Rejected(InvalidArgument("Unknown service ID " + Quote(c.service_id) +
                                        " for check ID " + Quote(c.check_id)));
      }
    }
  }
  // Validated: from here on nothing fails.
  if (!req.skip_node_update) {
    if (!renamed_from.empty()) DeleteNode(ch, renamed_from);
    EnsureNode(ch, node);
  }
  if (service) EnsureService(ch, node.node, *service);
  for (const auto& c : checks) EnsureCheck(ch, c);
  return {};
}

ApplyResult Store::Impl::Deregister(Changes& ch, const DeregisterRequest& req) {
  if (req.node.empty()) return Rejected(InvalidArgument("Must provide node"));
  if (!req.service_id.empty()) {
    DeleteService(ch, req.node, req.service_id);
  } else if (!req.check_id.empty()) {
    DeleteCheck(ch, req.node, req.check_id);
  } else {
    DeleteNode(ch, req.node);
  }
  return {};
}

void Store::Impl::MoveServiceIndexes(Changes& ch) {
  for (const auto& name : ch.service_names) {
    if (t.by_service.count(name) > 0) {
      t.service_indexes[name] = ch.index;
    } else if (t.service_indexes.erase(name) > 0) {
      t.service_extinction_index = ch.index;
    }
    ch.keys.push_back(ServiceKey(name));
  }
  for (const auto& name : ch.connect_names) {
    t.connect_indexes[name] = ch.index;
    ch.keys.push_back(ConnectKey(name));
  }
}

// ---- Reads

ServiceNode Store::Impl::Row(const InstanceKey& key) const {
  return {t.nodes.at(key.first), *t.FindService(key.first, key.second)};
}

const std::set<InstanceKey>* Store::Impl::Instances(std::string_view service, bool connect) const {
  const auto& index = connect ? t.by_connect : t.by_service;
  auto it = index.find(service);
  return it == index.end() ? nullptr : &it->second;
}

// Consul's maxIndexForService: the service's own index; for an absent service the extinction
// index; else the catalog's table indexes.
Index Store::Impl::ServiceIndex(std::string_view service, bool connect, bool exists,
                                bool checks) const {
  Index fallback = std::max(t.nodes_index, t.services_index);
  if (checks) fallback = std::max(fallback, t.checks_index);
  const auto& indexes = connect ? t.connect_indexes : t.service_indexes;
  if (!connect && !exists && t.service_extinction_index > 0) {
    return Clamp(t.service_extinction_index);
  }
  auto it = indexes.find(service);
  return Clamp(it != indexes.end() ? it->second : fallback);
}

Index Store::Nodes(WatchSet* ws, std::vector<Node>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kNodesKey));
  out->clear();
  for (const auto& [name, n] : s.t.nodes) out->push_back(n);
  return s.Clamp(s.t.nodes_index);
}

Index Store::GetNode(WatchSet* ws, std::string_view node, std::optional<Node>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, NodeKey(node));
  auto it = s.t.nodes.find(node);
  *out = it == s.t.nodes.end() ? std::nullopt : std::optional<Node>(it->second);
  return s.Clamp(s.t.nodes_index);
}

Index Store::Services(WatchSet* ws, std::map<std::string, std::vector<std::string>>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kServicesKey));
  out->clear();
  for (const auto& [name, instances] : s.t.by_service) {
    std::set<std::string> tags;
    for (const auto& key : instances) {
      const NodeService* svc = s.t.FindService(key.first, key.second);
      tags.insert(svc->tags.begin(), svc->tags.end());
    }
    (*out)[name] = std::vector<std::string>(tags.begin(), tags.end());
  }
  return s.Clamp(s.t.services_index);
}

Index Store::AllServiceNodes(WatchSet* ws, std::vector<ServiceNode>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kServicesKey));
  Impl::AddKey(ws, std::string(kNodesKey));
  out->clear();
  for (const auto& [name, instances] : s.t.by_service) {
    for (const auto& key : instances) out->push_back(s.Row(key));
  }
  return s.Clamp(std::max(s.t.services_index, s.t.nodes_index));
}

Index Store::ServiceNodes(WatchSet* ws, std::string_view service, bool connect,
                          std::vector<ServiceNode>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, connect ? ConnectKey(service) : ServiceKey(service));
  out->clear();
  if (const auto* instances = s.Instances(service, connect)) {
    for (const auto& key : *instances) out->push_back(s.Row(key));
  }
  return s.ServiceIndex(service, connect, !out->empty(), /*checks=*/false);
}

Index Store::NodeServices(WatchSet* ws, std::string_view node, std::optional<Node>* node_out,
                          std::vector<NodeService>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, NodeKey(node));
  Impl::AddKey(ws, NodeServicesKey(node));
  out->clear();
  auto n = s.t.nodes.find(node);
  *node_out = n == s.t.nodes.end() ? std::nullopt : std::optional<Node>(n->second);
  if (auto it = s.t.services.find(node); it != s.t.services.end()) {
    for (const auto& [id, svc] : it->second) out->push_back(svc);
  }
  return s.Clamp(std::max(s.t.nodes_index, s.t.services_index));
}

Index Store::NodeChecks(WatchSet* ws, std::string_view node, std::vector<HealthCheck>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, NodeChecksKey(node));
  out->clear();
  if (auto it = s.t.checks.find(node); it != s.t.checks.end()) {
    for (const auto& [id, c] : it->second) out->push_back(c);
  }
  return s.Clamp(s.t.checks_index);
}

Index Store::ServiceChecks(WatchSet* ws, std::string_view service,
                           std::vector<HealthCheck>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, ServiceKey(service));
  out->clear();
  if (const auto* instances = s.Instances(service, false)) {
    for (const auto& [node, id] : *instances) {
      auto checks = s.t.checks.find(node);
      if (checks == s.t.checks.end()) continue;
      for (const auto& [check_id, c] : checks->second) {
        if (c.service_id == id) out->push_back(c);
      }
    }
  }
  return s.Clamp(s.t.checks_index);
}

Index Store::ChecksInState(WatchSet* ws, std::string_view state,
                           std::vector<HealthCheck>* out) const {
  const Impl& s = *impl_;
  bool any = state == "any";
  Impl::AddKey(ws, any ? std::string(kChecksKey) : CheckStateKey(state));
  out->clear();
  for (const auto& [node, checks] : s.t.checks) {
    for (const auto& [id, c] : checks) {
      if (any || c.status == state) out->push_back(c);
    }
  }
  return s.Clamp(s.t.checks_index);
}

// Node checks first, then the instance's own: the order Consul's health endpoints give.
CheckServiceNode Store::Impl::WithChecks(const InstanceKey& key) const {
  ServiceNode row = Row(key);
  CheckServiceNode csn{std::move(row.node), std::move(row.service), {}};
  if (auto checks = t.checks.find(key.first); checks != t.checks.end()) {
    for (const auto& [id, c] : checks->second) {
      if (c.service_id.empty()) csn.checks.push_back(c);
    }
    for (const auto& [id, c] : checks->second) {
      if (!c.service_id.empty() && c.service_id == key.second) csn.checks.push_back(c);
    }
  }
  return csn;
}

Index Store::CheckServiceNodes(WatchSet* ws, std::string_view service, bool connect,
                               std::vector<CheckServiceNode>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, connect ? ConnectKey(service) : ServiceKey(service));
  out->clear();
  if (const auto* instances = s.Instances(service, connect)) {
    for (const auto& key : *instances) out->push_back(s.WithChecks(key));
  }
  return s.ServiceIndex(service, connect, !out->empty(), /*checks=*/true);
}

Index Store::ServiceDump(WatchSet* ws, std::string_view kind,
                         std::vector<CheckServiceNode>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kServicesKey));
  Impl::AddKey(ws, std::string(kNodesKey));
  Impl::AddKey(ws, std::string(kChecksKey));
  out->clear();
  for (const auto& [name, instances] : s.t.by_service) {
    for (const auto& key : instances) {
      const NodeService* svc = s.t.FindService(key.first, key.second);
      if (svc != nullptr && svc->kind == kind) out->push_back(s.WithChecks(key));
    }
  }
  return s.Clamp(std::max({s.t.services_index, s.t.nodes_index, s.t.checks_index}));
}

}  // namespace gangway::catalog
