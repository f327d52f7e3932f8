// The state store: nodes, services, checks and KV with Raft-style indexes and watches.
// It is the state machine that [M3]'s Raft log drives: all mutation goes through Apply() with a
// strictly increasing index. Pure: no sockets, clocks or threads. Owned by one loop; all calls
// (reads, Apply, watch callbacks) happen on that loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/commands.h"
#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

// What a read touched. A blocking query waits on exactly these; the store fills it in.
// Keys are opaque to callers.
class WatchSet {
 public:
  void Add(std::string key) { keys_.push_back(std::move(key)); }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  std::vector<std::string> keys_;
};

using WatchId = uint64_t;

struct SnapshotTables;  // store.cc
class Store;

namespace internal {
// The snapshot as the first encoder wrote it: an nlohmann::json tree of the tables, then
// Json::to_msgpack. Kept as the reference that tests hold the direct encoder to, byte for byte.
std::string SnapshotThroughJson(const Store& store);
}  // namespace internal

// A point-in-time copy of a store's snapshot tables (Store::CopyForSnapshot): the nodes,
// services, checks, KV entries, tombstones, indexes, CA documents and config entries, without
// watches or derived indexes. Immutable and independent of the store, so it may be encoded and
// destroyed on any thread while the store goes on applying.
class SnapshotCopy {
 public:
  explicit SnapshotCopy(std::unique_ptr<const SnapshotTables> tables);
  ~SnapshotCopy();
  SnapshotCopy(const SnapshotCopy&) = delete;
  SnapshotCopy& operator=(const SnapshotCopy&) = delete;

  Index LastIndex() const;
  // The snapshot bytes: exactly what Store::Snapshot() returned when the copy was taken. Fails
  // only when stop is requested before it is done.
  Result<std::string> Encode(std::stop_token stop = {}) const;

 private:
  std::unique_ptr<const SnapshotTables> tables_;
};

class Store {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies a committed command at `index` (> LastIndex()). Rejected commands change nothing
  // but still advance LastIndex(). Fires the watches of everything that changed, synchronously,
  // after the change is complete.
  ApplyResult Apply(Index index, const Command& cmd);
  Index LastIndex() const;

  // ---- Reads. Each returns the index a blocking query should report (the max modify index of
  // the data read, or of its table when that is more meaningful) and, when ws != nullptr, adds
  // the keys it read to ws.
  Index Nodes(WatchSet* ws, std::vector<Node>* out) const;
  // found=false when the node is unknown.
  Index GetNode(WatchSet* ws, std::string_view node, std::optional<Node>* out) const;
  // name -> union of tags, for /v1/catalog/services.
  Index Services(WatchSet* ws, std::map<std::string, std::vector<std::string>>* out) const;
  // Every service instance, sorted by service name then node then ID.
  Index AllServiceNodes(WatchSet* ws, std::vector<ServiceNode>* out) const;
  // Instances of `service`; with connect=true the Connect-capable endpoints instead: proxies whose
  // Proxy.DestinationServiceName is `service`, plus instances with Connect.Native.
  Index ServiceNodes(WatchSet* ws, std::string_view service, bool connect,
                     std::vector<ServiceNode>* out) const;
  Index NodeServices(WatchSet* ws, std::string_view node, std::optional<Node>* node_out,
                     std::vector<NodeService>* out) const;
  Index NodeChecks(WatchSet* ws, std::string_view node, std::vector<HealthCheck>* out) const;
  Index ServiceChecks(WatchSet* ws, std::string_view service, std::vector<HealthCheck>* out) const;
  // state: "any", "passing", "warning", "critical", "maintenance".
  Index ChecksInState(WatchSet* ws, std::string_view state, std::vector<HealthCheck>* out) const;
  Index CheckServiceNodes(WatchSet* ws, std::string_view service, bool connect,
                          std::vector<CheckServiceNode>* out) const;
  // Every instance of every service of `kind` ("mesh-gateway", "connect-proxy", ...) with its
  // checks, sorted by service name then node then ID (Consul's Internal.ServiceDump by kind).
  Index ServiceDump(WatchSet* ws, std::string_view kind, std::vector<CheckServiceNode>* out) const;

  Index KVGet(WatchSet* ws, std::string_view key, std::optional<KVEntry>* out) const;
  Index KVList(WatchSet* ws, std::string_view prefix, std::vector<KVEntry>* out) const;
  // Keys under prefix, rolled up at the first `separator` after the prefix (empty: no rollup).
  Index KVKeys(WatchSet* ws, std::string_view prefix, std::string_view separator,
               std::vector<std::string>* out) const;

  // Sessions. All three report the sessions table's index (moved by every create and destroy),
  // as Consul's session endpoints do.
  Index SessionGet(WatchSet* ws, std::string_view id, std::optional<Session>* out) const;
  Index SessionList(WatchSet* ws, std::vector<Session>* out) const;  // sorted by ID
  Index NodeSessions(WatchSet* ws, std::string_view node, std::vector<Session>* out) const;

  // Network coordinates, sorted by node then segment; both report the coordinates table's index.
  Index Coordinates(WatchSet* ws, std::vector<CoordinateEntry>* out) const;
  Index NodeCoordinates(WatchSet* ws, std::string_view node,
                        std::vector<CoordinateEntry>* out) const;

  // Connect CA documents as the last ConnectCARequest stored them (null before the CA exists).
  Index CAConfig(WatchSet* ws, Json* out) const;
  Index CARoots(WatchSet* ws, Json* out) const;

  // Prepared queries as PreparedQueryRequest stored them (with CreateIndex and ModifyIndex),
  // sorted by ID; both report the table's index (moved by every write and delete).
  Index PreparedQueries(WatchSet* ws, std::vector<Json>* out) const;
  Index PreparedQueryGet(WatchSet* ws, std::string_view id, Json* out) const;  // null: none

  // Config entries as ConfigEntryRequest stored them (with CreateIndex and ModifyIndex). Both
  // report the table's index, which moves on every write and delete of any entry (Consul's
  // config-entries index). `out` is null when the entry does not exist.
  Index ConfigEntry(WatchSet* ws, std::string_view kind, std::string_view name, Json* out) const;
  // The entries of `kind` sorted by name; with an empty kind, every entry sorted by kind then
  // name.
  Index ConfigEntries(WatchSet* ws, std::string_view kind, std::vector<Json>* out) const;

  // ACL objects as AclRequest stored them (with CreateIndex and ModifyIndex); `out` is null
  // when absent. Each reports its table's index (tokens, policies or roles), which moves on
  // every write and delete in it.
  Index AclToken(WatchSet* ws, std::string_view accessor, Json* out) const;
  Index AclTokenBySecret(WatchSet* ws, std::string_view secret, Json* out) const;
  Index AclTokens(WatchSet* ws, std::vector<Json>* out) const;  // sorted by AccessorID
  Index AclPolicy(WatchSet* ws, std::string_view id, Json* out) const;
  Index AclPolicyByName(WatchSet* ws, std::string_view name, Json* out) const;
  Index AclPolicies(WatchSet* ws, std::vector<Json>* out) const;  // sorted by ID
  Index AclRole(WatchSet* ws, std::string_view id, Json* out) const;
  Index AclRoleByName(WatchSet* ws, std::string_view name, Json* out) const;
  Index AclRoles(WatchSet* ws, std::vector<Json>* out) const;  // sorted by ID
  // The index of the last ACL bootstrap; 0 when ACLs were never bootstrapped.
  Index AclBootstrapIndex() const;

  // ---- Watches. `fire` runs once, on the first Apply that changes anything in ws; the watch is
  // then removed. Unwatch is a no-op for fired or unknown ids.
  WatchId Watch(const WatchSet& ws, std::function<void()> fire);
  void Unwatch(WatchId id);
  size_t WatchCount() const;

  // ---- Snapshots (Raft snapshot/restore). Restore replaces everything; watches all fire.
  std::string Snapshot() const;
  Status Restore(std::string_view bytes);
  // Copies the snapshot tables for encoding elsewhere (see SnapshotCopy). It copies every node,
  // service, check and KV entry: O(size of the store), but no encoding.
  std::unique_ptr<SnapshotCopy> CopyForSnapshot() const;

 private:
  friend std::string internal::SnapshotThroughJson(const Store& store);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gangway::catalog
