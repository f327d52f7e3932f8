// The state store's private pieces, shared by its files as Consul's state/ package shares its
// schema: the tables, what one Apply changed, the watch-key scheme and Store::Impl, whose
// members each table file defines (store_catalog.cc, store_kv.cc, store_ca.cc, store_config.cc,
// store_snapshot.cc; store.cc holds Apply and the watches). Not for use outside src/catalog.
// Owned by the store's loop, as Store is.
//
// A new table: its rows in SnapshotTables (and the snapshot encoders and decoder), a watch key
// below, its mutations and reads declared in Store::Impl and defined in its own store_<table>.cc,
// and its command dispatched in Store::Apply (store.cc).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "catalog/commands.h"
#include "catalog/store.h"
#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

// (node, service ID): one service instance.
using InstanceKey = std::pair<std::string, std::string>;

template <typename V>
using SortedMap = std::map<std::string, V, std::less<>>;

namespace internal {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// ---- Watch keys. A read adds the keys of what it looked at; a write fires the keys of what it
// changed. The scheme is private to the store (and documented in docs/state-store-commands.md).
inline constexpr std::string_view kNodesKey = "nodes";         // any node record
inline constexpr std::string_view kServicesKey = "services";   // any service instance
inline constexpr std::string_view kChecksKey = "checks";       // any check
inline constexpr std::string_view kKVPrefix = "kv/";           // kv/<key>: that key
inline constexpr std::string_view kKVTreePrefix = "kvp/";      // kvp/<p>: any key starting with p
inline constexpr std::string_view kCAConfigKey = "ca-config";  // the Connect CA configuration
inline constexpr std::string_view kCARootsKey = "ca-roots";    // the Connect CA roots
inline constexpr std::string_view kConfigEntriesKey = "config-entries";  // any config entry
inline constexpr std::string_view kSessionsKey = "sessions";   // any session
inline constexpr std::string_view kAclTokensKey = "acl-tokens";      // any ACL token
inline constexpr std::string_view kAclPoliciesKey = "acl-policies";  // any ACL policy
inline constexpr std::string_view kAclRolesKey = "acl-roles";        // any ACL role
inline constexpr std::string_view kPreparedQueriesKey = "prepared-queries";  // any query
inline constexpr std::string_view kCoordinatesKey = "coordinates";  // any network coordinate

inline std::string Key(std::string_view kind, std::string_view name) {
  std::string k;
  k.reserve(kind.size() + 1 + name.size());
  k.append(kind).append("/").append(name);
  return k;
}
inline std::string NodeKey(std::string_view n) { return Key("node", n); }  // the node record
inline std::string NodeServicesKey(std::string_view n) { return Key("node-services", n); }
inline std::string NodeChecksKey(std::string_view n) { return Key("node-checks", n); }
// Instances of a service, their checks and their nodes (records and node checks).
inline std::string ServiceKey(std::string_view s) { return Key("service", s); }
// The Connect endpoints for a service (proxies to it, native instances), as for ServiceKey.
inline std::string ConnectKey(std::string_view s) { return Key("connect", s); }
inline std::string CheckStateKey(std::string_view s) { return Key("checks/state", s); }
// Config entries of one kind, and one entry (kind, name).
inline std::string ConfigKindKey(std::string_view kind) { return Key("config-kind", kind); }
inline std::string ConfigEntryKey(std::string_view kind, std::string_view name) {
  return Key(Key("config", kind), name);
}

// The names under which an instance is a Connect endpoint: a connect-proxy's destination, and its
// own name when it is Connect-native. Defined in store_catalog.cc.
std::vector<std::string> ConnectNames(const NodeService& s);

inline ApplyResult Rejected(Status s) {
  ApplyResult r;
  r.status = std::move(s);
  r.success = false;
  return r;
}

}  // namespace internal

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

  // Config entries (ConfigEntryRequest): kind -> name -> the entry's JSON, stamped with
  // CreateIndex and ModifyIndex. The table index includes deletes, so a blocking list wakes on
  // one.
  SortedMap<SortedMap<Json>> config_entries;
  Index config_entries_index = 0;

  // Sessions (SessionRequest): ID -> session. The table index includes destroys.
  SortedMap<Session> sessions;
  Index sessions_index = 0;

  // Prepared queries (PreparedQueryRequest): ID -> the query's JSON, stamped with CreateIndex and
  // ModifyIndex. The table index includes deletes.
  SortedMap<Json> prepared_queries;
  Index prepared_queries_index = 0;

  // ACL objects (AclRequest), each kept whole with CreateIndex and ModifyIndex: tokens by
  // AccessorID, policies and roles by ID. The table indexes include deletes. acl_bootstrap_index
  // is the index of the last bootstrap (0: never bootstrapped), which a reset must name.
  SortedMap<Json> acl_tokens;
  SortedMap<Json> acl_policies;
  SortedMap<Json> acl_roles;
  Index acl_tokens_index = 0;
  Index acl_policies_index = 0;
  Index acl_roles_index = 0;
  Index acl_bootstrap_index = 0;
  // Network coordinates (CoordinateBatchRequest): (node, segment) -> coordinate. The table
  // index includes the deletes that deregistering a node makes.
  std::map<std::pair<std::string, std::string>, coordinate::Coordinate> coordinates;
  Index coordinates_index = 0;

  bool has_acl() const {
    return acl_tokens_index != 0 || acl_policies_index != 0 || acl_roles_index != 0 ||
           acl_bootstrap_index != 0;
  }
};

// The store's state: the snapshot's tables and what is derived from them (rebuilt on Restore).
// Kept apart from the watches so Restore can build a new one and swap it in whole.
struct Tables : SnapshotTables {
  SortedMap<std::set<InstanceKey>> by_service;
  SortedMap<std::set<InstanceKey>> by_connect;
  SortedMap<std::string> node_ids;  // node ID -> node name
  // Sessions by node, and by (node, check ID) they depend on (Consul's session_checks table).
  SortedMap<std::set<std::string>> sessions_by_node;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> session_checks;
  // ACL lookups: token SecretID -> AccessorID, policy and role Name -> ID.
  SortedMap<std::string> acl_secrets;
  SortedMap<std::string> acl_policy_names;
  SortedMap<std::string> acl_role_names;
  // Rebuilds the three lookups from the ACL tables (after a restore).
  void IndexAcl();

  void IndexSession(const Session& s) {
    sessions_by_node[s.node].insert(s.id);
    for (const auto& c : s.AllChecks()) session_checks[{s.node, c}].insert(s.id);
  }
  void UnindexSession(const Session& s) {
    if (auto it = sessions_by_node.find(s.node); it != sessions_by_node.end()) {
      it->second.erase(s.id);
      if (it->second.empty()) sessions_by_node.erase(it);
    }
    for (const auto& c : s.AllChecks()) {
      auto it = session_checks.find({s.node, c});
      if (it == session_checks.end()) continue;
      it->second.erase(s.id);
      if (it->second.empty()) session_checks.erase(it);
    }
  }

  void IndexInstance(const std::string& node, const NodeService& s) {
    by_service[s.service].emplace(node, s.id);
    for (const auto& name : internal::ConnectNames(s)) by_connect[name].emplace(node, s.id);
  }
  void UnindexInstance(const std::string& node, const NodeService& s) {
    auto drop = [&](SortedMap<std::set<InstanceKey>>& index, const std::string& name) {
      auto it = index.find(name);
      if (it == index.end()) return;
      it->second.erase({node, s.id});
      if (it->second.empty()) index.erase(it);
    };
    drop(by_service, s.service);
    for (const auto& name : internal::ConnectNames(s)) drop(by_connect, name);
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
  // Keys released or deleted by a session's invalidation, with their lock-delay in ns.
  std::vector<std::pair<std::string, int64_t>> lock_delays;
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
  std::unordered_map<std::string, std::unordered_set<WatchId>, internal::StringHash,
                     std::equal_to<>>
      watch_index;
  // Lengths of watched kvp/ keys, counted, so a KV write looks up only prefixes someone watches.
  std::map<size_t, size_t> kv_tree_lengths;
  WatchId next_watch = 1;

  Index Clamp(Index i) const { return i == 0 && t.last_index > 0 ? 1 : i; }
  static void AddKey(WatchSet* ws, std::string key) {
    if (ws != nullptr) ws->Add(std::move(key));
  }

  // ---- Catalog (store_catalog.cc). Each mutation records what it touched in `ch`.
  void TouchInstance(Changes& ch, const NodeService& s);
  void TouchNodeInstances(Changes& ch, const std::string& node);
  void TouchCheck(Changes& ch, const HealthCheck& c);
  void EnsureNode(Changes& ch, const Node& in);
  void EnsureService(Changes& ch, const std::string& node, const NodeService& in);
  void EnsureCheck(Changes& ch, const HealthCheck& in);
  void DeleteCheck(Changes& ch, const std::string& node, const std::string& check_id);
  void DeleteService(Changes& ch, const std::string& node, const std::string& id);
  void DeleteNode(Changes& ch, const std::string& name);
  ApplyResult Register(Changes& ch, const RegisterRequest& req);
  ApplyResult Deregister(Changes& ch, const DeregisterRequest& req);
  // Moves the per-service indexes of what `ch` touched and adds their watch keys.
  void MoveServiceIndexes(Changes& ch);

  ServiceNode Row(const InstanceKey& key) const;
  CheckServiceNode WithChecks(const InstanceKey& key) const;
  const std::set<InstanceKey>* Instances(std::string_view service, bool connect) const;
  Index ServiceIndex(std::string_view service, bool connect, bool exists, bool checks) const;

  // ---- KV (store_kv.cc). `undo`, when set, records each key's prior state so a transaction can
  // be rolled back.
  struct KVUndo {
    std::string key;
    std::shared_ptr<const KVEntry> entry;  // null: absent
    std::optional<Index> tombstone;
  };
  void SaveUndo(std::vector<KVUndo>* undo, const std::string& key);
  void Rollback(std::vector<KVUndo>& undo);
  const KVEntry& KVSet(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in);
  void KVDeleteOne(Changes& ch, std::vector<KVUndo>* undo, const std::string& key);
  void KVDeleteTree(Changes& ch, std::vector<KVUndo>* undo, std::string_view prefix);
  static bool CASMatches(const KVEntry* existing, Index want);
  ApplyResult KV(Changes& ch, const KVRequest& req);
  ApplyResult Txn(Changes& ch, const TxnRequest& req);

  Index KVTreeIndex(std::string_view prefix, Index entries_max) const;

  // ---- Sessions (store_session.cc).
  ApplyResult SessionApply(Changes& ch, const SessionRequest& req);
  // ---- Coordinates (store_coordinate.cc).
  ApplyResult CoordinateBatch(Changes& ch, const CoordinateBatchRequest& req);
  void DeleteNodeCoordinates(Changes& ch, const std::string& node);
  // Deletes the session and applies its behaviour to the keys it holds.
  void InvalidateSession(Changes& ch, const std::string& id);
  void InvalidateCheckSessions(Changes& ch, const std::string& node, const std::string& check_id);
  void InvalidateNodeSessions(Changes& ch, const std::string& node);
  // Lock verbs; false (no change) when the lock is held by another session or not held.
  Result<bool> KVLock(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in,
                      const KVEntry** stored);
  Result<bool> KVUnlock(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in,
                        const KVEntry** stored);
  // Stores `e` as given (index fields included) under e.key.
  const KVEntry& KVPutRaw(Changes& ch, std::vector<KVUndo>* undo, KVEntry e);

  // ---- Connect CA (store_ca.cc).
  ApplyResult ConnectCA(Changes& ch, const ConnectCARequest& req);

  // ---- Config entries (store_config.cc).
  ApplyResult ConfigEntry(Changes& ch, const ConfigEntryRequest& req);

  // ---- Prepared queries (store_query.cc).
  ApplyResult PreparedQuery(Changes& ch, const PreparedQueryRequest& req);
  // Deletes the queries bound to session `id` (it was invalidated).
  void DeleteSessionQueries(Changes& ch, const std::string& id);

  // ---- ACL objects (store_acl.cc).
  ApplyResult Acl(Changes& ch, const AclRequest& req);
  // Upserts one object of a table, keeping its lookup by `key_field` (Name or SecretID) unique.
  Status AclUpsert(Changes& ch, SortedMap<Json>& table, SortedMap<std::string>& lookup,
                   const char* id_field, const char* key_field, const char* what,
                   const Json& object);
  void AclErase(SortedMap<Json>& table, SortedMap<std::string>& lookup, const char* key_field,
                const std::string& id);

  // ---- Snapshots (store_snapshot.cc).
  ApplyResult RestoreFrom(const RestoreRequest& req);
  Json SnapshotJson() const;
  static Result<Tables> TablesFromJson(const Json& j);
  static Result<Tables> ParseSnapshot(std::string_view bytes);

  // ---- Watches (store.cc).
  void CollectWatches(std::string_view key, std::vector<WatchId>* ids) const;
  void Fire(const Changes& ch);
  void FireAll();
  void FireIds(std::vector<WatchId> ids);
  void Detach(WatchId id, WatchEntry* w);
};

}  // namespace gangway::catalog
