// State-store commands: every mutation of the catalog is one of these, applied in log order.
// They are the Raft log entries of [M3]. Encoding (docs/state-store-commands.md): one type byte,
// then the body as MessagePack of its JSON form. Type numbers are append-only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

enum class CommandType : uint8_t {
  kRegister = 0,
  kDeregister = 1,
  kKV = 2,
  kTxn = 3,
  kRestore = 4,
  kConnectCA = 5,
  kConfigEntry = 6,
  kSession = 7,
  kAcl = 8,
  kPreparedQuery = 9,
  kCoordinateBatch = 10,
  // Append new types here; never renumber.
};

// Catalog register: upserts the node, then the optional service, then the checks.
struct RegisterRequest {
  Node node;  // node.node required
  std::optional<NodeService> service;
  std::vector<HealthCheck> checks;
  bool skip_node_update = false;
};

// Removes a check, a service (with its checks), or the whole node (with everything on it).
struct DeregisterRequest {
  std::string node;
  std::string service_id;  // set: remove this service
  std::string check_id;    // set: remove this check
};

enum class KVOp : uint8_t {
  kSet = 0,
  kCAS = 1,          // set only if entry.raft.modify_index matches (0: only if absent)
  kDelete = 2,
  kDeleteCAS = 3,    // delete only if entry.raft.modify_index matches
  kDeleteTree = 4,   // delete every key with prefix entry.key
  // Txn-only verbs:
  kGet = 5,
  kGetTree = 6,
  kCheckIndex = 7,
  kCheckNotExists = 8,
  // Locks (docs/sessions.md): entry.session names the session.
  kLock = 9,     // acquire for the session (and write the value)
  kUnlock = 10,  // release if held by the session (and write the value)
  // Txn-only:
  kCheckSession = 11,  // fail unless the key is held by entry.session
};

// Operations valid only inside a transaction.
inline bool TxnOnly(KVOp op) {
  return (op >= KVOp::kGet && op <= KVOp::kCheckNotExists) || op == KVOp::kCheckSession;
}

struct KVRequest {
  KVOp op = KVOp::kSet;
  KVEntry entry;
};

// A KV transaction (/v1/txn). All-or-nothing: on any failed op nothing is applied.
struct TxnRequest {
  std::vector<KVRequest> ops;
};

// Replaces the whole state with a snapshot (Store::Snapshot bytes), as one log entry: how an
// operator's snapshot restore reaches every server in log order.
struct RestoreRequest {
  std::string snapshot;
};

enum class CAOp : uint8_t {
  kSetConfig = 0,          // replace the CA configuration
  kSetRoots = 1,           // replace the roots (and the provider material that goes with them)
  kSetConfigAndRoots = 2,  // both in one entry: a rotation, or the first initialisation
};

// Connect CA state (docs/connect-ca.md). The documents are written by the server's CA manager in
// the ca module's storage form; the store keeps them whole, versions them (CreateIndex,
// ModifyIndex) and wakes their readers. `config` is an object; `roots` is an object whose
// "Roots" is a list of objects (each stamped with CreateIndex/ModifyIndex).
struct ConnectCARequest {
  CAOp op = CAOp::kSetConfig;
  Json config;  // kSetConfig, kSetConfigAndRoots
  Json roots;   // kSetRoots, kSetConfigAndRoots
  // Non-zero: check-and-set. kSetConfig compares the configuration's ModifyIndex, the others
  // the roots' index; a mismatch changes nothing and gives success = false.
  Index cas = 0;
};

enum class ConfigEntryOp : uint8_t {
  kUpsert = 0,
  kUpsertCAS = 1,  // store only if the entry's ModifyIndex is `cas` (0: only if absent)
  kDelete = 2,
  kDeleteCAS = 3,  // delete only if the entry exists and its ModifyIndex is `cas`
};

// A config entry write (docs/config-entries.md). The entry is the JSON of Consul's /v1/config
// API, already validated and normalized by the server (meshcfg); the store keeps it whole, keyed
// by (kind, name), and stamps CreateIndex and ModifyIndex. A failed CAS changes nothing and gives
// success = false.
struct ConfigEntryRequest {
  ConfigEntryOp op = ConfigEntryOp::kUpsert;
  std::string kind;
  std::string name;
  Index cas = 0;
  Json entry;  // an object for the upserts; unused by the deletes
};

enum class SessionOp : uint8_t {
  kCreate = 0,   // store `session` (its ID chosen by the leader, unused)
  kDestroy = 1,  // invalidate session.id: its behaviour applied to the keys it holds
};

// A session write (docs/sessions.md). Create is rejected when the node or a listed check is
// missing or a listed check is critical; destroy of an unknown session changes nothing.
struct SessionRequest {
  SessionOp op = SessionOp::kCreate;
  Session session;  // kDestroy: only the ID
};

enum class AclOp : uint8_t {
  kTokenSet = 0,      // upsert `object` (a token, keyed by AccessorID)
  kTokenDelete = 1,   // remove the token `id` (an accessor)
  kPolicySet = 2,     // upsert `object` (a policy, keyed by ID)
  kPolicyDelete = 3,  // remove the policy `id`
  kRoleSet = 4,       // upsert `object` (a role, keyed by ID)
  kRoleDelete = 5,    // remove the role `id`
  // Store `object` (the bootstrap token) when ACLs were never bootstrapped, or when `cas` equals
  // the index of the last bootstrap (Consul's reset procedure); otherwise refused.
  kBootstrap = 6,
  // Replication from the primary datacenter: `object` is the whole list of `kind`'s objects
  // ("policies", "roles" or "tokens"); every stored one of that kind that is not local and not
  // in the list goes, the others are upserted.
  kReplicate = 7,
};

// An ACL write (docs/acl.md). Objects are the JSON of Consul's /v1/acl API, validated and
// completed (IDs, links, Hash, CreateTime) by the server before they reach the log; the store
// keeps them whole, stamps CreateIndex and ModifyIndex, and refuses a second object with the
// same policy or role Name or token SecretID.
struct AclRequest {
  AclOp op = AclOp::kTokenSet;
  Json object;      // the set ops, kBootstrap (an object) and kReplicate (an array)
  std::string id;   // the delete ops
  std::string kind; // kReplicate
  Index cas = 0;    // kBootstrap: the reset index
};

enum class PreparedQueryOp : uint8_t {
  kSet = 0,     // upsert `query` (keyed by its ID)
  kDelete = 1,  // remove the query `id`
};

// A prepared query write (docs/prepared-queries.md). The query is the JSON of Consul's
// /v1/query API, validated by the server (its ID chosen by the leader); the store keeps it whole,
// stamps CreateIndex and ModifyIndex, and refuses what Consul's transaction refuses: a name
// equal to another query's name or ID, a second template with an empty name, an unknown
// session. A query bound to a session goes when the session is invalidated.
struct PreparedQueryRequest {
  PreparedQueryOp op = PreparedQueryOp::kSet;
  Json query;      // kSet
  std::string id;  // kDelete
};

// Network coordinates batched by the leader (docs/coordinates.md): each entry replaces the
// (node, segment) coordinate; entries for nodes not in the catalog, or not valid, are skipped.
struct CoordinateBatchRequest {
  std::vector<CoordinateEntry> updates;
};

using Command = std::variant<RegisterRequest, DeregisterRequest, KVRequest, TxnRequest,
                             RestoreRequest, ConnectCARequest, ConfigEntryRequest, SessionRequest,
                             AclRequest, PreparedQueryRequest, CoordinateBatchRequest>;

std::string EncodeCommand(const Command& cmd);
// Rejects unknown types, truncated or malformed bodies with a message; never throws.
Result<Command> DecodeCommand(std::string_view bytes);

struct TxnError {
  int op_index = 0;
  std::string what;
};

// What applying a command produced.
struct ApplyResult {
  Status status;            // non-ok: the command was rejected and changed nothing
  bool success = true;      // KV CAS/delete-CAS outcome
  std::vector<KVEntry> txn_results;  // one per op that returns an entry (set, cas, get, get-tree...)
  std::vector<TxnError> txn_errors;  // non-empty: the transaction was rolled back
  // Keys whose session was invalidated by this command, with the lock-delay (ns, > 0) during
  // which no session may acquire them. Not part of the encoded result: each server notes them
  // on its own clock when it applies the entry (docs/sessions.md, "Lock-delay").
  std::vector<std::pair<std::string, int64_t>> lock_delays;
};

// An ApplyResult as it travels back to the agent that asked for the write (RPC
// "Catalog.Apply", docs/rpc.md). The decoder takes untrusted bytes; never throws.
std::string EncodeApplyResult(const ApplyResult& r);
Result<ApplyResult> DecodeApplyResult(std::string_view bytes);

}  // namespace gangway::catalog
