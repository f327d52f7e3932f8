#include "catalog/store.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "catalog/internal/json_forms.h"
#include "catalog/internal/msgpack_writer.h"

namespace gangway::catalog {
namespace {

using internal::Form;
using internal::Quote;

// (node, service ID): one service instance.
using InstanceKey = std::pair<std::string, std::string>;

template <typename V>
using SortedMap = std::map<std::string, V, std::less<>>;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// ---- Watch keys. A read adds the keys of what it looked at; a write fires the keys of what it
// changed. The scheme is private to this file (and documented in docs/state-store-commands.md).
constexpr std::string_view kNodesKey = "nodes";        // any node record
constexpr std::string_view kServicesKey = "services";  // any service instance
constexpr std::string_view kChecksKey = "checks";      // any check
constexpr std::string_view kKVPrefix = "kv/";          // kv/<key>: that key
constexpr std::string_view kKVTreePrefix = "kvp/";     // kvp/<p>: any key starting with p
constexpr std::string_view kCAConfigKey = "ca-config";  // the Connect CA configuration
constexpr std::string_view kCARootsKey = "ca-roots";    // the Connect CA roots

std::string Key(std::string_view kind, std::string_view name) {
  std::string k;
  k.reserve(kind.size() + 1 + name.size());
  k.append(kind).append("/").append(name);
  return k;
}
std::string NodeKey(std::string_view n) { return Key("node", n); }  // the node record
std::string NodeServicesKey(std::string_view n) { return Key("node-services", n); }
std::string NodeChecksKey(std::string_view n) { return Key("node-checks", n); }
// Instances of a service, their checks and their nodes (records and node checks).
std::string ServiceKey(std::string_view s) { return Key("service", s); }
// The Connect endpoints for a service (proxies to it, native instances), as for ServiceKey.
std::string ConnectKey(std::string_view s) { return Key("connect", s); }
std::string CheckStateKey(std::string_view s) { return Key("checks/state", s); }

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

// The names under which an instance is a Connect endpoint: a connect-proxy's destination, and its
// own name when it is Connect-native.
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

ApplyResult Rejected(Status s) {
  ApplyResult r;
  r.status = std::move(s);
  r.success = false;
  return r;
}

}  // namespace

// Everything a snapshot holds, and nothing else: Store::CopyForSnapshot copies exactly this part
// of the tables, so a new snapshot field belongs here (and in the snapshot encoders).
struct SnapshotTables {
  Index last_index = 0;

  SortedMap<Node> nodes;
  SortedMap<SortedMap<NodeService>> services;  // node -> service ID -> instance
  SortedMap<SortedMap<HealthCheck>> checks;    // node -> check ID -> check
  // Entries are immutable once stored (a write stores a new one) and shared, so a copy of the
  // table (CopyForSnapshot) copies a pointer per key, not the values.
  SortedMap<std::shared_ptr<const KVEntry>> kvs;
  SortedMap<Index> tombstones;  // deleted KV key -> index of the delete

  // Table indexes: the last index that changed anything in the table.
  Index nodes_index = 0;
  Index services_index = 0;
  Index checks_index = 0;
  Index kvs_index = 0;  // includes deletes (tombstones)

  // Per-service indexes (Consul's "service.<name>" index entries): the last index that changed an
  // instance of the service, its checks or its nodes. Removed when the last instance goes, which
  // sets the extinction index that reads of absent services report.
  SortedMap<Index> service_indexes;
  SortedMap<Index> connect_indexes;
  Index service_extinction_index = 0;

  // Connect CA documents (ConnectCARequest); null until the CA is initialised.
  Json ca_config;
  Json ca_roots;
  Index ca_config_index = 0;
  Index ca_roots_index = 0;
};

// The store's state: the snapshot's tables and what is derived from them (rebuilt on Restore).
// Kept apart from the watches so Restore can build a new one and swap it in whole.
struct Tables : SnapshotTables {
  SortedMap<std::set<InstanceKey>> by_service;
  SortedMap<std::set<InstanceKey>> by_connect;
  SortedMap<std::string> node_ids;  // node ID -> node name

  void IndexInstance(const std::string& node, const NodeService& s) {
    by_service[s.service].emplace(node, s.id);
    for (const auto& name : ConnectNames(s)) by_connect[name].emplace(node, s.id);
  }
  void UnindexInstance(const std::string& node, const NodeService& s) {
    auto drop = [&](SortedMap<std::set<InstanceKey>>& index, const std::string& name) {
      auto it = index.find(name);
      if (it == index.end()) return;
      it->second.erase({node, s.id});
      if (it->second.empty()) index.erase(it);
    };
    drop(by_service, s.service);
    for (const auto& name : ConnectNames(s)) drop(by_connect, name);
  }

  const NodeService* FindService(std::string_view node, std::string_view id) const {
    auto n = services.find(node);
    if (n == services.end()) return nullptr;
    auto s = n->second.find(id);
    return s == n->second.end() ? nullptr : &s->second;
  }
  const KVEntry* FindKV(std::string_view key) const {
    auto it = kvs.find(key);
    return it == kvs.end() ? nullptr : it->second.get();
  }
};

// What one Apply changed: the watch keys to fire and the per-service indexes to move.
struct Changes {
  explicit Changes(Index i) : index(i) {}
  Index index;
  std::vector<std::string> keys;
  std::vector<std::string> kv_keys;  // fire kv/<k> and kvp/<each prefix of k>
  std::set<std::string> service_names;
  std::set<std::string> connect_names;
  bool empty() const {
    return keys.empty() && kv_keys.empty() && service_names.empty() && connect_names.empty();
  }
};

struct Store::Impl {
  Tables t;

  struct WatchEntry {
    std::function<void()> fire;
    std::vector<std::string> keys;  // empty once detached for firing
  };
  std::unordered_map<WatchId, WatchEntry> watches;
  std::unordered_map<std::string, std::unordered_set<WatchId>, StringHash, std::equal_to<>>
      watch_index;
  // Lengths of watched kvp/ keys, counted, so a KV write looks up only prefixes someone watches.
  std::map<size_t, size_t> kv_tree_lengths;
  WatchId next_watch = 1;

  Index Clamp(Index i) const { return i == 0 && t.last_index > 0 ? 1 : i; }

  // ---- Catalog mutations. Each records what it touched in `ch`.

  // The instance's rows in service and connect reads changed.
  void TouchInstance(Changes& ch, const NodeService& s) {
    ch.service_names.insert(s.service);
    for (auto& name : ConnectNames(s)) ch.connect_names.insert(std::move(name));
  }
  // Node records and node checks appear in every row of the node's instances.
  void TouchNodeInstances(Changes& ch, const std::string& node) {
    auto it = t.services.find(node);
    if (it == t.services.end()) return;
    for (const auto& [id, s] : it->second) TouchInstance(ch, s);
  }
  void TouchCheck(Changes& ch, const HealthCheck& c) {
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

  void EnsureNode(Changes& ch, const Node& in) {
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

  void EnsureService(Changes& ch, const std::string& node, const NodeService& in) {
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
  void EnsureCheck(Changes& ch, const HealthCheck& in) {
    HealthCheck c = in;
    if (c.status.empty()) c.status = kCritical;
    if (const NodeService* s =
            c.service_id.empty() ? nullptr : t.FindService(c.node, c.service_id)) {
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
    node_checks[c.check_id] = std::move(c);
  }

  void DeleteCheck(Changes& ch, const std::string& node, const std::string& check_id) {
    auto n = t.checks.find(node);
    if (n == t.checks.end()) return;
    auto it = n->second.find(check_id);
    if (it == n->second.end()) return;
    TouchCheck(ch, it->second);
    n->second.erase(it);
    if (n->second.empty()) t.checks.erase(n);
  }

  void DeleteService(Changes& ch, const std::string& node, const std::string& id) {
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

  void DeleteNode(Changes& ch, const std::string& name) {
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
    t.node_ids.erase(it->second.id);
    t.nodes.erase(it);
    t.nodes_index = ch.index;
    ch.keys.emplace_back(kNodesKey);
    ch.keys.push_back(NodeKey(name));
  }

  ApplyResult Register(Changes& ch, const RegisterRequest& req) {
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

  ApplyResult Deregister(Changes& ch, const DeregisterRequest& req) {
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

  // ---- KV mutations. `undo`, when set, records each key's prior state so a transaction can be
  // rolled back.

  struct KVUndo {
    std::string key;
    std::shared_ptr<const KVEntry> entry;  // null: absent
    std::optional<Index> tombstone;
  };

  void SaveUndo(std::vector<KVUndo>* undo, const std::string& key) {
    if (undo == nullptr) return;
    KVUndo u{key, nullptr, std::nullopt};
    if (auto it = t.kvs.find(key); it != t.kvs.end()) u.entry = it->second;
    if (auto it = t.tombstones.find(key); it != t.tombstones.end()) u.tombstone = it->second;
    undo->push_back(std::move(u));
  }

  void Rollback(std::vector<KVUndo>& undo) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      if (it->entry) {
        t.kvs[it->key] = it->entry;
      } else {
        t.kvs.erase(it->key);
      }
      if (it->tombstone) {
        t.tombstones[it->key] = *it->tombstone;
      } else {
        t.tombstones.erase(it->key);
      }
    }
  }

  const KVEntry& KVSet(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in) {
    SaveUndo(undo, in.key);
    KVEntry e;
    e.key = in.key;
    e.flags = in.flags;
    e.value = in.value;
    auto it = t.kvs.find(in.key);
    if (it != t.kvs.end()) {
      // Sessions and lock indexes belong to lock operations, which a plain set keeps.
      e.session = it->second->session;
      e.lock_index = it->second->lock_index;
      e.raft.create_index = it->second->raft.create_index;
    } else {
      e.raft.create_index = ch.index;
    }
    e.raft.modify_index = ch.index;
    t.tombstones.erase(in.key);
    t.kvs_index = ch.index;
    ch.kv_keys.push_back(in.key);
    auto& slot = t.kvs[in.key];
    slot = std::make_shared<const KVEntry>(std::move(e));
    return *slot;
  }

  void KVDeleteOne(Changes& ch, std::vector<KVUndo>* undo, const std::string& key) {
    auto it = t.kvs.find(key);
    if (it == t.kvs.end()) return;
    SaveUndo(undo, key);
    t.kvs.erase(it);
    t.tombstones[key] = ch.index;
    t.kvs_index = ch.index;
    ch.kv_keys.push_back(key);
  }

  void KVDeleteTree(Changes& ch, std::vector<KVUndo>* undo, std::string_view prefix) {
    std::vector<std::string> doomed;
    for (auto it = t.kvs.lower_bound(prefix); it != t.kvs.end() && it->first.starts_with(prefix);
         ++it) {
      doomed.push_back(it->first);
    }
    for (const auto& k : doomed) KVDeleteOne(ch, undo, k);
  }

  static bool CASMatches(const KVEntry* existing, Index want) {
    if (want == 0) return existing == nullptr;
    return existing != nullptr && existing->raft.modify_index == want;
  }

  ApplyResult KV(Changes& ch, const KVRequest& req) {
    const KVEntry& e = req.entry;
    if (req.op > KVOp::kDeleteTree) {
      return Rejected(InvalidArgument("KV operation " + std::to_string(static_cast<int>(req.op)) +
                                      " is only valid inside a transaction"));
    }
    if (req.op != KVOp::kDeleteTree && e.key.empty()) {
      return Rejected(InvalidArgument("Missing key name"));
    }
    ApplyResult r;
    switch (req.op) {
      case KVOp::kSet:
        KVSet(ch, nullptr, e);
        break;
      case KVOp::kCAS:
        r.success = CASMatches(t.FindKV(e.key), e.raft.modify_index);
        if (r.success) KVSet(ch, nullptr, e);
        break;
      case KVOp::kDelete:
        KVDeleteOne(ch, nullptr, e.key);
        break;
      case KVOp::kDeleteCAS: {
        // As in Consul, deleting an absent key "succeeds" whatever the index.
        const KVEntry* existing = t.FindKV(e.key);
        r.success = existing == nullptr || existing->raft.modify_index == e.raft.modify_index;
        if (existing != nullptr && r.success) KVDeleteOne(ch, nullptr, e.key);
        break;
      }
      case KVOp::kDeleteTree:
        KVDeleteTree(ch, nullptr, e.key);
        break;
      default:
        break;
    }
    return r;
  }

  // An operator's restore, in log order: the snapshot's tables replace ours (the store's index
  // stays the log's).
  ApplyResult ConnectCA(Changes& ch, const ConnectCARequest& req) {
    ApplyResult r;
    const bool config = req.op != CAOp::kSetRoots;
    const bool roots = req.op != CAOp::kSetConfig;
    if (req.cas != 0) {
      Index current = req.op == CAOp::kSetConfig ? t.ca_config_index : t.ca_roots_index;
      if (current != req.cas) {
        r.success = false;
        return r;
      }
    }
    if (config) {
      Json c = req.config;
      Index created = t.ca_config.is_object() ? t.ca_config.value("CreateIndex", Index{0}) : 0;
      c["CreateIndex"] = created != 0 ? created : ch.index;
      c["ModifyIndex"] = ch.index;
      t.ca_config = std::move(c);
      t.ca_config_index = ch.index;
      ch.keys.emplace_back(kCAConfigKey);
    }
    if (roots) {
      // A root keeps the CreateIndex it was first stored with; every root of the new list is
      // modified at this index (Consul's CARootSetCAS).
      std::map<std::string, Index> created;
      if (t.ca_roots.is_object() && t.ca_roots.contains("Roots")) {
        for (const auto& old : t.ca_roots["Roots"]) {
          if (old.contains("ID") && old["ID"].is_string()) {
            created[old["ID"].get<std::string>()] = old.value("CreateIndex", Index{0});
          }
        }
      }
      Json rs = req.roots;
      for (auto& root : rs["Roots"]) {
        Index c = 0;
        if (root.contains("ID") && root["ID"].is_string()) {
          auto it = created.find(root["ID"].get<std::string>());
          if (it != created.end()) c = it->second;
        }
        root["CreateIndex"] = c != 0 ? c : ch.index;
        root["ModifyIndex"] = ch.index;
      }
      t.ca_roots = std::move(rs);
      t.ca_roots_index = ch.index;
      ch.keys.emplace_back(kCARootsKey);
    }
    return r;
  }

  ApplyResult RestoreFrom(const RestoreRequest& req) {
    auto tables = ParseSnapshot(req.snapshot);
    if (!tables.ok()) return Rejected(tables.status());
    t = std::move(*tables);
    return {};
  }

  ApplyResult Txn(Changes& ch, const TxnRequest& req) {
    ApplyResult r;
    std::vector<KVUndo> undo;
    const Index kvs_index_before = t.kvs_index;
    auto fail = [&](size_t i, std::string what) {
      r.txn_errors.push_back({static_cast<int>(i), std::move(what)});
    };
    // Consul's txn results carry values only for reads.
    auto result_without_value = [&](const KVEntry& e) {
      KVEntry copy = e;
      copy.value.clear();
      r.txn_results.push_back(std::move(copy));
    };
    for (size_t i = 0; i < req.ops.size(); ++i) {
      const KVRequest& op = req.ops[i];
      const KVEntry& e = op.entry;
      const bool writes = op.op == KVOp::kSet || op.op == KVOp::kCAS || op.op == KVOp::kDelete ||
                          op.op == KVOp::kDeleteCAS;
      if (writes && e.key.empty()) {
        fail(i, "Missing key name");
        continue;
      }
      const KVEntry* existing = t.FindKV(e.key);
      switch (op.op) {
        case KVOp::kSet:
          result_without_value(KVSet(ch, &undo, e));
          break;
        case KVOp::kCAS:
          if (!CASMatches(existing, e.raft.modify_index)) {
            fail(i, "failed to set key " + Quote(e.key) + ", index is stale");
          } else {
            result_without_value(KVSet(ch, &undo, e));
          }
          break;
        case KVOp::kDelete:
          KVDeleteOne(ch, &undo, e.key);
          break;
        case KVOp::kDeleteCAS:
          if (existing != nullptr && existing->raft.modify_index != e.raft.modify_index) {
            fail(i, "failed to delete key " + Quote(e.key) + ", index is stale");
          } else {
            KVDeleteOne(ch, &undo, e.key);
          }
          break;
        case KVOp::kDeleteTree:
          KVDeleteTree(ch, &undo, e.key);
          break;
        case KVOp::kGet:
          if (existing == nullptr) {
            fail(i, "key " + Quote(e.key) + " doesn't exist");
          } else {
            r.txn_results.push_back(*existing);
          }
          break;
        case KVOp::kGetTree:
          for (auto it = t.kvs.lower_bound(e.key);
               it != t.kvs.end() && it->first.starts_with(e.key); ++it) {
            r.txn_results.push_back(*it->second);
          }
          break;
        case KVOp::kCheckIndex:
          if (existing == nullptr) {
            fail(i, "key " + Quote(e.key) + " doesn't exist");
          } else if (existing->raft.modify_index != e.raft.modify_index) {
            fail(i, "current modify index " + std::to_string(existing->raft.modify_index) +
                        " != " + std::to_string(e.raft.modify_index));
          } else {
            result_without_value(*existing);
          }
          break;
        case KVOp::kCheckNotExists:
          if (existing != nullptr) fail(i, "key " + Quote(e.key) + " exists");
          break;
      }
    }
    if (!r.txn_errors.empty()) {
      Rollback(undo);
      t.kvs_index = kvs_index_before;
      ch.kv_keys.clear();
      r.txn_results.clear();
      r.success = false;
      r.status = Status(Code::kConflict,
                        "transaction rolled back: " + std::to_string(r.txn_errors.size()) +
                            " operation(s) failed");
    }
    return r;
  }

  // ---- Commit and watches

  void MoveServiceIndexes(Changes& ch) {
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

  void CollectWatches(std::string_view key, std::vector<WatchId>* ids) const {
    auto it = watch_index.find(key);
    if (it != watch_index.end()) ids->insert(ids->end(), it->second.begin(), it->second.end());
  }

  void Fire(const Changes& ch) {
    if (watches.empty()) return;
    std::vector<WatchId> ids;
    for (const auto& k : ch.keys) CollectWatches(k, &ids);
    std::string scratch;
    for (const auto& k : ch.kv_keys) {
      scratch.assign(kKVPrefix).append(k);
      CollectWatches(scratch, &ids);
      if (kv_tree_lengths.empty()) continue;
      scratch.assign(kKVTreePrefix).append(k);
      // Each prefix of k that someone watches: a hash lookup per watched length, no scan.
      for (const auto& [len, count] : kv_tree_lengths) {
        if (len > scratch.size()) break;
        CollectWatches(std::string_view(scratch).substr(0, len), &ids);
      }
    }
    FireIds(std::move(ids));
  }

  void FireAll() {
    std::vector<WatchId> ids;
    ids.reserve(watches.size());
    for (const auto& [id, w] : watches) ids.push_back(id);
    FireIds(std::move(ids));
  }

  // Detaches every watch first, so callbacks may add or remove watches (or even apply) freely;
  // a watch removed by an earlier callback in the same round does not fire. Order: registration.
  void FireIds(std::vector<WatchId> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (WatchId id : ids) {
      auto it = watches.find(id);
      if (it != watches.end()) Detach(id, &it->second);
    }
    for (WatchId id : ids) {
      auto it = watches.find(id);
      if (it == watches.end()) continue;
      std::function<void()> fire = std::move(it->second.fire);
      watches.erase(it);
      if (fire) fire();
    }
  }

  void Detach(WatchId id, WatchEntry* w) {
    for (const auto& k : w->keys) {
      auto it = watch_index.find(k);
      if (it != watch_index.end()) {
        it->second.erase(id);
        if (it->second.empty()) watch_index.erase(it);
      }
      if (k.starts_with(kKVTreePrefix)) {
        auto len = kv_tree_lengths.find(k.size());
        if (len != kv_tree_lengths.end() && --len->second == 0) kv_tree_lengths.erase(len);
      }
    }
    w->keys.clear();
  }

  // ---- Reads

  ServiceNode Row(const InstanceKey& key) const {
    return {t.nodes.at(key.first), *t.FindService(key.first, key.second)};
  }

  const std::set<InstanceKey>* Instances(std::string_view service, bool connect) const {
    const auto& index = connect ? t.by_connect : t.by_service;
    auto it = index.find(service);
    return it == index.end() ? nullptr : &it->second;
  }

  // Consul's maxIndexForService: the service's own index; for an absent service the extinction
  // index; else the catalog's table indexes.
  Index ServiceIndex(std::string_view service, bool connect, bool exists, bool checks) const {
    Index fallback = std::max(t.nodes_index, t.services_index);
    if (checks) fallback = std::max(fallback, t.checks_index);
    const auto& indexes = connect ? t.connect_indexes : t.service_indexes;
    if (!connect && !exists && t.service_extinction_index > 0) {
      return Clamp(t.service_extinction_index);
    }
    auto it = indexes.find(service);
    return Clamp(it != indexes.end() ? it->second : fallback);
  }

  Index KVTreeIndex(std::string_view prefix, Index entries_max) const {
    if (prefix.empty()) return Clamp(t.kvs_index);
    Index idx = entries_max;
    for (auto it = t.tombstones.lower_bound(prefix);
         it != t.tombstones.end() && it->first.starts_with(prefix); ++it) {
      idx = std::max(idx, it->second);
    }
    return Clamp(idx != 0 ? idx : t.kvs_index);
  }

  static void AddKey(WatchSet* ws, std::string key) {
    if (ws != nullptr) ws->Add(std::move(key));
  }

  // ---- Snapshots

  Json SnapshotJson() const;
  static Result<Tables> TablesFromJson(const Json& j);
  static Result<Tables> ParseSnapshot(std::string_view bytes);
};

// ---- Store

Store::Store() : impl_(std::make_unique<Impl>()) {}
Store::~Store() = default;

Index Store::LastIndex() const { return impl_->t.last_index; }

ApplyResult Store::Apply(Index index, const Command& cmd) {
  Impl& s = *impl_;
  if (index <= s.t.last_index) {
    // The log drives the store strictly forward; a replayed or reordered entry is a caller bug
    // that must not corrupt the tables.
    return Rejected(Internal("apply at index " + std::to_string(index) +
                             " is not after the last applied index " +
                             std::to_string(s.t.last_index)));
  }
  Changes ch(index);
  ApplyResult r = std::visit(
      [&](const auto& c) -> ApplyResult {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, RegisterRequest>) return s.Register(ch, c);
        if constexpr (std::is_same_v<T, DeregisterRequest>) return s.Deregister(ch, c);
        if constexpr (std::is_same_v<T, KVRequest>) return s.KV(ch, c);
        if constexpr (std::is_same_v<T, TxnRequest>) return s.Txn(ch, c);
        if constexpr (std::is_same_v<T, RestoreRequest>) return s.RestoreFrom(c);
        if constexpr (std::is_same_v<T, ConnectCARequest>) return s.ConnectCA(ch, c);
      },
      cmd);
  s.t.last_index = index;
  if (!r.status.ok()) return r;
  if (std::holds_alternative<RestoreRequest>(cmd)) {
    s.FireAll();
    return r;
  }
  s.MoveServiceIndexes(ch);
  s.Fire(ch);
  return r;
}

Index Store::CAConfig(WatchSet* ws, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kCAConfigKey));
  *out = s.t.ca_config;
  return s.Clamp(s.t.ca_config_index);
}

Index Store::CARoots(WatchSet* ws, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kCARootsKey));
  *out = s.t.ca_roots;
  return s.Clamp(s.t.ca_roots_index);
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

Index Store::CheckServiceNodes(WatchSet* ws, std::string_view service, bool connect,
                               std::vector<CheckServiceNode>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, connect ? ConnectKey(service) : ServiceKey(service));
  out->clear();
  if (const auto* instances = s.Instances(service, connect)) {
    for (const auto& key : *instances) {
      ServiceNode row = s.Row(key);
      CheckServiceNode csn{std::move(row.node), std::move(row.service), {}};
      if (auto checks = s.t.checks.find(key.first); checks != s.t.checks.end()) {
        for (const auto& [id, c] : checks->second) {
          if (c.service_id.empty()) csn.checks.push_back(c);
        }
        for (const auto& [id, c] : checks->second) {
          if (!c.service_id.empty() && c.service_id == key.second) csn.checks.push_back(c);
        }
      }
      out->push_back(std::move(csn));
    }
  }
  return s.ServiceIndex(service, connect, !out->empty(), /*checks=*/true);
}

Index Store::KVGet(WatchSet* ws, std::string_view key, std::optional<KVEntry>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVPrefix).append(key));
  if (const KVEntry* e = s.t.FindKV(key)) {
    *out = *e;
    return s.Clamp(e->raft.modify_index);
  }
  out->reset();
  auto tomb = s.t.tombstones.find(key);
  return s.Clamp(tomb != s.t.tombstones.end() ? tomb->second : s.t.kvs_index);
}

Index Store::KVList(WatchSet* ws, std::string_view prefix, std::vector<KVEntry>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVTreePrefix).append(prefix));
  out->clear();
  Index max = 0;
  for (auto it = s.t.kvs.lower_bound(prefix); it != s.t.kvs.end() && it->first.starts_with(prefix);
       ++it) {
    out->push_back(*it->second);
    max = std::max(max, it->second->raft.modify_index);
  }
  return s.KVTreeIndex(prefix, max);
}

Index Store::KVKeys(WatchSet* ws, std::string_view prefix, std::string_view separator,
                    std::vector<std::string>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVTreePrefix).append(prefix));
  out->clear();
  Index max = 0;
  for (auto it = s.t.kvs.lower_bound(prefix); it != s.t.kvs.end() && it->first.starts_with(prefix);
       ++it) {
    const std::string& key = it->first;
    max = std::max(max, it->second->raft.modify_index);
    size_t sep = separator.empty() ? std::string::npos : key.find(separator, prefix.size());
    if (sep == std::string::npos) {
      out->push_back(key);
      continue;
    }
    std::string rolled = key.substr(0, sep + separator.size());
    if (out->empty() || out->back() != rolled) out->push_back(std::move(rolled));
  }
  return s.KVTreeIndex(prefix, max);
}

WatchId Store::Watch(const WatchSet& ws, std::function<void()> fire) {
  Impl& s = *impl_;
  WatchId id = s.next_watch++;
  Impl::WatchEntry w;
  w.fire = std::move(fire);
  w.keys = ws.keys();
  std::sort(w.keys.begin(), w.keys.end());
  w.keys.erase(std::unique(w.keys.begin(), w.keys.end()), w.keys.end());
  for (const auto& k : w.keys) {
    s.watch_index[k].insert(id);
    if (k.starts_with(kKVTreePrefix)) ++s.kv_tree_lengths[k.size()];
  }
  s.watches.emplace(id, std::move(w));
  return id;
}

void Store::Unwatch(WatchId id) {
  Impl& s = *impl_;
  auto it = s.watches.find(id);
  if (it == s.watches.end()) return;
  s.Detach(id, &it->second);
  s.watches.erase(it);
}

size_t Store::WatchCount() const { return impl_->watches.size(); }

// ---- Snapshots: one format-version byte, then MessagePack (docs/state-store-commands.md).

namespace {

constexpr uint8_t kSnapshotVersion = 1;
constexpr int kSnapshotMaxDepth = 80;

Json IndexMap(const SortedMap<Index>& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

// Writes the snapshot document straight from the tables: the same document as SnapshotJson(),
// field for field, with every object's keys in std::map order as a JSON object holds them, so
// the bytes are those of Json::to_msgpack(SnapshotJson()) without building the tree (which
// doubled the memory and took seconds for a large store). A field added to the snapshot goes
// into both; snapshot_test.cc compares their bytes on a store that fills every field.
class SnapshotWriter {
 public:
  SnapshotWriter(std::string* out, std::stop_token stop) : w_(out), stop_(std::move(stop)) {}

  // False when stop was requested before the end.
  bool Write(const SnapshotTables& t) {
    const bool ca = !t.ca_config.is_null() || !t.ca_roots.is_null();
    w_.Map(ca ? 10 : 9);
    w_.Str("Checks");
    size_t n = 0;
    for (const auto& [node, list] : t.checks) n += list.size();
    w_.Array(n);
    for (const auto& [node, list] : t.checks) {
      for (const auto& [id, c] : list) {
        Check(c);
        if (Stopped()) return false;
      }
    }
    if (ca) {
      w_.Str("ConnectCA");
      w_.Map(4);
      w_.Str("Config");
      w_.Value(t.ca_config);
      w_.Str("ConfigIndex");
      w_.Uint(t.ca_config_index);
      w_.Str("Roots");
      w_.Value(t.ca_roots);
      w_.Str("RootsIndex");
      w_.Uint(t.ca_roots_index);
    }
    w_.Str("ConnectIndexes");
    IndexMap(t.connect_indexes);
    w_.Str("Indexes");
    w_.Map(5);
    w_.Str("checks");
    w_.Uint(t.checks_index);
    w_.Str("kvs");
    w_.Uint(t.kvs_index);
    w_.Str("nodes");
    w_.Uint(t.nodes_index);
    w_.Str("service_extinction");
    w_.Uint(t.service_extinction_index);
    w_.Str("services");
    w_.Uint(t.services_index);
    w_.Str("KVs");
    w_.Array(t.kvs.size());
    for (const auto& [key, e] : t.kvs) {
      KV(*e);
      if (Stopped()) return false;
    }
    w_.Str("LastIndex");
    w_.Uint(t.last_index);
    w_.Str("Nodes");
    w_.Array(t.nodes.size());
    for (const auto& [name, node] : t.nodes) {
      Node(node);
      if (Stopped()) return false;
    }
    w_.Str("ServiceIndexes");
    IndexMap(t.service_indexes);
    w_.Str("Services");
    n = 0;
    for (const auto& [node, instances] : t.services) n += instances.size();
    w_.Array(n);
    for (const auto& [node, instances] : t.services) {
      for (const auto& [id, svc] : instances) {
        w_.Map(2);
        w_.Str("Node");
        w_.Str(node);
        w_.Str("Service");
        Service(svc);
        if (Stopped()) return false;
      }
    }
    w_.Str("Tombstones");
    IndexMap(t.tombstones);
    return !stop_.stop_requested();
  }

  // What the snapshot of t will roughly take, to allocate the output once.
  static size_t Estimate(const SnapshotTables& t) {
    size_t bytes = 4096 + 64 * t.tombstones.size();
    for (const auto& [key, e] : t.kvs) bytes += 64 + key.size() + e->value.size() + e->session.size();
    bytes += 512 * (t.nodes.size() + t.services.size() + t.checks.size());
    return bytes;
  }

 private:
  // Checked every 1,024 records: a large store takes seconds to encode.
  bool Stopped() { return (++records_ & 1023) == 0 && stop_.stop_requested(); }

  void IndexMap(const SortedMap<Index>& m) {
    w_.Map(m.size());
    for (const auto& [k, v] : m) {
      w_.Str(k);
      w_.Uint(v);
    }
  }

  void Strings(const std::vector<std::string>& list) {
    w_.Array(list.size());
    for (const auto& s : list) w_.Str(s);
  }

  void Strings(const StringMap& m) {
    w_.Map(m.size());
    for (const auto& [k, v] : m) {
      w_.Str(k);
      w_.Str(v);
    }
  }

  // internal::NodeToJson(n, Form::kStorage)
  void Node(const catalog::Node& n) {
    w_.Map(8);
    w_.Str("Address");
    w_.Str(n.address);
    w_.Str("CreateIndex");
    w_.Uint(n.raft.create_index);
    w_.Str("Datacenter");
    w_.Str(n.datacenter);
    w_.Str("ID");
    w_.Str(n.id);
    w_.Str("Meta");
    Strings(n.meta);
    w_.Str("ModifyIndex");
    w_.Uint(n.raft.modify_index);
    w_.Str("Node");
    w_.Str(n.node);
    w_.Str("TaggedAddresses");
    Strings(n.tagged_addresses);
  }

  // internal::NodeServiceToJson(s, Form::kStorage)
  void Service(const NodeService& s) {
    const bool kind = !s.kind.empty(), tagged = !s.tagged_addresses.empty(),
               socket = !s.socket_path.empty(), proxy = s.proxy.has_value(),
               connect = !s.connect.is_null();
    w_.Map(10 + kind + tagged + socket + proxy + connect);
    w_.Str("Address");
    w_.Str(s.address);
    if (connect) {
      w_.Str("Connect");
      w_.Value(s.connect);
    }
    w_.Str("CreateIndex");
    w_.Uint(s.raft.create_index);
    w_.Str("EnableTagOverride");
    w_.Bool(s.enable_tag_override);
    w_.Str("ID");
    w_.Str(s.id);
    if (kind) {
      w_.Str("Kind");
      w_.Str(s.kind);
    }
    w_.Str("Meta");
    Strings(s.meta);
    w_.Str("ModifyIndex");
    w_.Uint(s.raft.modify_index);
    w_.Str("Port");
    w_.Int(s.port);
    if (proxy) {
      w_.Str("Proxy");
      w_.Value(internal::ProxyConfigToJson(*s.proxy, internal::Form::kStorage));
    }
    w_.Str("Service");
    w_.Str(s.service);
    if (socket) {
      w_.Str("SocketPath");
      w_.Str(s.socket_path);
    }
    if (tagged) {
      w_.Str("TaggedAddresses");  // before "Tags": 'g' < 's'
      w_.Map(s.tagged_addresses.size());
      for (const auto& [k, a] : s.tagged_addresses) {
        w_.Str(k);
        w_.Map(2);
        w_.Str("Address");
        w_.Str(a.address);
        w_.Str("Port");
        w_.Int(a.port);
      }
    }
    w_.Str("Tags");
    Strings(s.tags);
    w_.Str("Weights");
    w_.Map(2);
    w_.Str("Passing");
    w_.Int(s.weights.passing);
    w_.Str("Warning");
    w_.Int(s.weights.warning);
  }

  // internal::CheckDefinitionToJson(d, Form::kStorage): every field omitted when empty.
  void Definition(const CheckDefinition& d) {
    w_.Map(!d.body.empty() + (d.deregister_critical_service_after_ns != 0) + !d.http.empty() +
           !d.header.empty() + (d.interval_ns != 0) + !d.method.empty() + !d.tcp.empty() +
           !d.tls_server_name.empty() + d.tls_skip_verify + (d.ttl_ns != 0) +
           (d.timeout_ns != 0));
    if (!d.body.empty()) {
      w_.Str("Body");
      w_.Str(d.body);
    }
    if (d.deregister_critical_service_after_ns != 0) {
      w_.Str("DeregisterCriticalServiceAfter");
      w_.Int(d.deregister_critical_service_after_ns);
    }
    if (!d.http.empty()) {
      w_.Str("HTTP");
      w_.Str(d.http);
    }
    if (!d.header.empty()) {
      w_.Str("Header");
      w_.Map(d.header.size());
      for (const auto& [k, values] : d.header) {
        w_.Str(k);
        Strings(values);
      }
    }
    if (d.interval_ns != 0) {
      w_.Str("Interval");
      w_.Int(d.interval_ns);
    }
    if (!d.method.empty()) {
      w_.Str("Method");
      w_.Str(d.method);
    }
    if (!d.tcp.empty()) {
      w_.Str("TCP");
      w_.Str(d.tcp);
    }
    if (!d.tls_server_name.empty()) {
      w_.Str("TLSServerName");
      w_.Str(d.tls_server_name);
    }
    if (d.tls_skip_verify) {
      w_.Str("TLSSkipVerify");
      w_.Bool(true);
    }
    if (d.ttl_ns != 0) {
      w_.Str("TTL");
      w_.Int(d.ttl_ns);
    }
    if (d.timeout_ns != 0) {
      w_.Str("Timeout");
      w_.Int(d.timeout_ns);
    }
  }

  // internal::HealthCheckToJson(c, Form::kStorage)
  void Check(const HealthCheck& c) {
    w_.Map(14);
    w_.Str("CheckID");
    w_.Str(c.check_id);
    w_.Str("CreateIndex");
    w_.Uint(c.raft.create_index);
    w_.Str("Definition");
    Definition(c.definition);
    w_.Str("ExposedPort");
    w_.Int(c.exposed_port);
    w_.Str("ModifyIndex");
    w_.Uint(c.raft.modify_index);
    w_.Str("Name");
    w_.Str(c.name);
    w_.Str("Node");
    w_.Str(c.node);
    w_.Str("Notes");
    w_.Str(c.notes);
    w_.Str("Output");
    w_.Str(c.output);
    w_.Str("ServiceID");
    w_.Str(c.service_id);
    w_.Str("ServiceName");
    w_.Str(c.service_name);
    w_.Str("ServiceTags");
    Strings(c.service_tags);
    w_.Str("Status");
    w_.Str(c.status);
    w_.Str("Type");
    w_.Str(c.type);
  }

  // internal::KVEntryToJson(e, Form::kStorage)
  void KV(const KVEntry& e) {
    const bool session = !e.session.empty(), value = !e.value.empty();
    w_.Map(5 + session + value);
    w_.Str("CreateIndex");
    w_.Uint(e.raft.create_index);
    w_.Str("Flags");
    w_.Uint(e.flags);
    w_.Str("Key");
    w_.Str(e.key);
    w_.Str("LockIndex");
    w_.Uint(e.lock_index);
    w_.Str("ModifyIndex");
    w_.Uint(e.raft.modify_index);
    if (session) {
      w_.Str("Session");
      w_.Str(e.session);
    }
    if (value) {
      w_.Str("Value");
      w_.Bin(e.value);
    }
  }

  internal::MsgpackWriter w_;
  std::stop_token stop_;
  uint64_t records_ = 0;
};

// The snapshot format: one version byte, then the document.
Result<std::string> EncodeSnapshot(const SnapshotTables& t, std::stop_token stop) {
  std::string out;
  out.reserve(SnapshotWriter::Estimate(t));
  out.push_back(static_cast<char>(kSnapshotVersion));
  SnapshotWriter writer(&out, std::move(stop));
  if (!writer.Write(t)) return Unavailable("snapshot: encoding stopped");
  return out;
}

Status ReadIndexMap(const Json& j, const char* what, SortedMap<Index>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object()) return InvalidArgument(std::string(what) + ": expected a map");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_unsigned()) {
      return InvalidArgument(std::string(what) + "." + k + ": expected an index");
    }
    (*out)[k] = v.get<Index>();
  }
  return Status::Ok();
}

}  // namespace

Json Store::Impl::SnapshotJson() const {
  Json nodes = Json::array();
  for (const auto& [name, n] : t.nodes) nodes.push_back(internal::NodeToJson(n, Form::kStorage));
  Json services = Json::array();
  for (const auto& [node, instances] : t.services) {
    for (const auto& [id, svc] : instances) {
      services.push_back(
          {{"Node", node}, {"Service", internal::NodeServiceToJson(svc, Form::kStorage)}});
    }
  }
  Json checks = Json::array();
  for (const auto& [node, list] : t.checks) {
    for (const auto& [id, c] : list)
      checks.push_back(internal::HealthCheckToJson(c, Form::kStorage));
  }
  Json kvs = Json::array();
  for (const auto& [key, e] : t.kvs) kvs.push_back(internal::KVEntryToJson(*e, Form::kStorage));
  Json out = {
      {"LastIndex", t.last_index},
      {"Indexes",
       {{"nodes", t.nodes_index},
        {"services", t.services_index},
        {"checks", t.checks_index},
        {"kvs", t.kvs_index},
        {"service_extinction", t.service_extinction_index}}},
      {"Nodes", std::move(nodes)},
      {"Services", std::move(services)},
      {"Checks", std::move(checks)},
      {"KVs", std::move(kvs)},
      {"Tombstones", IndexMap(t.tombstones)},
      {"ServiceIndexes", IndexMap(t.service_indexes)},
      {"ConnectIndexes", IndexMap(t.connect_indexes)},
  };
  // Only once the CA exists, so a store without one snapshots as it always did.
  if (!t.ca_config.is_null() || !t.ca_roots.is_null()) {
    out["ConnectCA"] = {{"Config", t.ca_config},
                        {"Roots", t.ca_roots},
                        {"ConfigIndex", t.ca_config_index},
                        {"RootsIndex", t.ca_roots_index}};
  }
  return out;
}

Result<Tables> Store::Impl::TablesFromJson(const Json& j) {
  Tables t;
  internal::FieldReader r(j, "snapshot");
  r.Uint64("LastIndex", &t.last_index);
  if (!r.ok()) return r.status();
  if (const Json* idx = r.Find("Indexes")) {
    internal::FieldReader ir(*idx, "snapshot.Indexes");
    ir.Uint64("nodes", &t.nodes_index)
        .Uint64("services", &t.services_index)
        .Uint64("checks", &t.checks_index)
        .Uint64("kvs", &t.kvs_index)
        .Uint64("service_extinction", &t.service_extinction_index);
    if (!ir.ok()) return ir.status();
  }
  auto list = [&](const char* name) -> Result<const Json*> {
    static const Json kEmpty = Json::array();
    const Json* v = r.Find(name);
    if (v == nullptr) return &kEmpty;
    if (!v->is_array())
      return InvalidArgument(std::string("snapshot.") + name + ": expected a list");
    return v;
  };
  auto bad = [](const std::string& what) { return InvalidArgument("snapshot: " + what); };
  auto check_raft = [&](const RaftIndex& raft, const std::string& what) -> Status {
    if (raft.create_index > raft.modify_index || raft.modify_index > t.last_index) {
      return bad(what + " has indexes beyond the snapshot's last index");
    }
    return Status::Ok();
  };

  auto nodes = list("Nodes");
  if (!nodes.ok()) return nodes.status();
  for (size_t i = 0; i < (*nodes)->size(); ++i) {
    Node n;
    std::string path = "snapshot.Nodes[" + std::to_string(i) + "]";
    if (Status s = internal::DecodeNodeAt((**nodes)[i], path, &n); !s.ok()) return s;
    if (n.node.empty()) return bad("node without a name");
    if (Status s = check_raft(n.raft, "node " + Quote(n.node)); !s.ok()) return s;
    if (!n.id.empty() && !t.node_ids.emplace(n.id, n.node).second) {
      return bad("node ID " + Quote(n.id) + " used twice");
    }
    std::string name = n.node;
    if (!t.nodes.emplace(name, std::move(n)).second) return bad("node " + Quote(name) + " twice");
  }

  auto services = list("Services");
  if (!services.ok()) return services.status();
  for (size_t i = 0; i < (*services)->size(); ++i) {
    std::string path = "snapshot.Services[" + std::to_string(i) + "]";
    internal::FieldReader sr((**services)[i], path);
    std::string node;
    sr.String("Node", &node);
    if (!sr.ok()) return sr.status();
    NodeService svc;
    const Json* body = sr.Find("Service");
    if (body == nullptr) return bad("service entry without a service");
    if (Status s = internal::DecodeNodeServiceAt(*body, path + ".Service", &svc); !s.ok()) return s;
    if (t.nodes.count(node) == 0) return bad("service on unknown node " + Quote(node));
    if (svc.id.empty() || svc.service.empty()) return bad("service without an ID or name");
    if (Status s = check_raft(svc.raft, "service " + Quote(svc.id)); !s.ok()) return s;
    auto& instances = t.services[node];
    if (instances.count(svc.id) > 0) return bad("service " + Quote(svc.id) + " twice");
    t.IndexInstance(node, svc);
    std::string id = svc.id;
    instances.emplace(id, std::move(svc));
  }

  auto checks = list("Checks");
  if (!checks.ok()) return checks.status();
  for (size_t i = 0; i < (*checks)->size(); ++i) {
    HealthCheck c;
    std::string path = "snapshot.Checks[" + std::to_string(i) + "]";
    if (Status s = internal::DecodeHealthCheckAt((**checks)[i], path, &c); !s.ok()) return s;
    if (t.nodes.count(c.node) == 0) return bad("check on unknown node " + Quote(c.node));
    if (c.check_id.empty()) return bad("check without an ID");
    if (!c.service_id.empty() && t.FindService(c.node, c.service_id) == nullptr) {
      return bad("check " + Quote(c.check_id) + " of unknown service " + Quote(c.service_id));
    }
    if (Status s = check_raft(c.raft, "check " + Quote(c.check_id)); !s.ok()) return s;
    std::string id = c.check_id;
    if (!t.checks[c.node].emplace(id, std::move(c)).second)
      return bad("check " + Quote(id) + " twice");
  }

  auto kvs = list("KVs");
  if (!kvs.ok()) return kvs.status();
  for (size_t i = 0; i < (*kvs)->size(); ++i) {
    KVEntry e;
    std::string path = "snapshot.KVs[" + std::to_string(i) + "]";
    if (Status s = internal::DecodeKVEntryAt((**kvs)[i], path, &e); !s.ok()) return s;
    if (Status s = check_raft(e.raft, "key " + Quote(e.key)); !s.ok()) return s;
    std::string key = e.key;
    if (!t.kvs.emplace(key, std::make_shared<const KVEntry>(std::move(e))).second) {
      return bad("key " + Quote(key) + " twice");
    }
  }

  const Json kNull;
  auto map = [&](const char* name) -> const Json& {
    const Json* v = r.Find(name);
    return v == nullptr ? kNull : *v;
  };
  if (Status s = ReadIndexMap(map("Tombstones"), "snapshot.Tombstones", &t.tombstones); !s.ok()) {
    return s;
  }
  if (Status s = ReadIndexMap(map("ServiceIndexes"), "snapshot.ServiceIndexes", &t.service_indexes);
      !s.ok()) {
    return s;
  }
  if (Status s = ReadIndexMap(map("ConnectIndexes"), "snapshot.ConnectIndexes", &t.connect_indexes);
      !s.ok()) {
    return s;
  }
  if (const Json* ca = r.Find("ConnectCA")) {
    internal::FieldReader cr(*ca, "snapshot.ConnectCA");
    cr.Uint64("ConfigIndex", &t.ca_config_index).Uint64("RootsIndex", &t.ca_roots_index);
    if (!cr.ok()) return cr.status();
    const Json* config = cr.Find("Config");
    const Json* roots = cr.Find("Roots");
    if (config != nullptr && !config->is_object()) return bad("ConnectCA.Config is not a map");
    if (roots != nullptr && (!roots->is_object() || !roots->contains("Roots") ||
                             !(*roots)["Roots"].is_array())) {
      return bad("ConnectCA.Roots is not a roots document");
    }
    if (config != nullptr) t.ca_config = *config;
    if (roots != nullptr) t.ca_roots = *roots;
  }
  for (Index i : {t.nodes_index, t.services_index, t.checks_index, t.kvs_index,
                  t.service_extinction_index, t.ca_config_index, t.ca_roots_index}) {
    if (i > t.last_index) return bad("table index beyond the snapshot's last index");
  }
  return t;
}

std::string Store::Snapshot() const { return *EncodeSnapshot(impl_->t, {}); }

std::unique_ptr<SnapshotCopy> Store::CopyForSnapshot() const {
  const SnapshotTables& tables = impl_->t;
  return std::make_unique<SnapshotCopy>(std::make_unique<const SnapshotTables>(tables));
}

SnapshotCopy::SnapshotCopy(std::unique_ptr<const SnapshotTables> tables)
    : tables_(std::move(tables)) {}
SnapshotCopy::~SnapshotCopy() = default;

Index SnapshotCopy::LastIndex() const { return tables_->last_index; }

Result<std::string> SnapshotCopy::Encode(std::stop_token stop) const {
  return EncodeSnapshot(*tables_, std::move(stop));
}

std::string internal::SnapshotThroughJson(const Store& store) {
  std::string out(1, static_cast<char>(kSnapshotVersion));
  Json::to_msgpack(store.impl_->SnapshotJson(), out);
  return out;
}

Result<Tables> Store::Impl::ParseSnapshot(std::string_view bytes) {
  if (bytes.empty()) return InvalidArgument("snapshot: empty");
  auto version = static_cast<uint8_t>(bytes[0]);
  if (version != kSnapshotVersion) {
    return InvalidArgument("snapshot: unsupported format version " + std::to_string(version));
  }
  auto j = internal::ParseMsgpack(bytes.substr(1), kSnapshotMaxDepth);
  if (!j.ok()) return InvalidArgument("snapshot: " + j.status().message());
  Result<Tables> t;
  try {
    t = Impl::TablesFromJson(*j);
  } catch (const std::exception& e) {
    return Internal(std::string("snapshot: ") + e.what());
  }
  return t;
}

Status Store::Restore(std::string_view bytes) {
  auto t = Impl::ParseSnapshot(bytes);
  if (!t.ok()) return t.status();
  impl_->t = std::move(*t);
  impl_->FireAll();
  return Status::Ok();
}

}  // namespace gangway::catalog
