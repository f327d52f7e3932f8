// The server role of one datacenter: owns the state store and the write path into it.
//
// Two modes. Dev (`-dev`): a single voter applying commands in order, in memory, through their
// log encoding. Raft: the state-store commands are the entries of a libraft log
// (consensus::RaftNode, persisted in data_dir/raft); the leader appends, every server applies
// in log order; followers forward writes to the leader through `ServerHooks::forward_apply`.
// The leader also keeps the Raft configuration in step with the LAN pool's servers (joining
// servers are added, servers that left are removed, failed ones after a grace period).
// Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "catalog/applier.h"
#include "catalog/session_request.h"
#include "catalog/store.h"
#include "consensus/raft_node.h"
#include "core/loop.h"
#include "server/acl.h"
#include "server/config_entries.h"
#include "server/connect_ca.h"
#include "server/coordinates.h"
#include "server/sessions.h"

namespace gangway::server {

inline constexpr std::chrono::seconds kApplyHoldTimeout{7};
inline constexpr std::chrono::milliseconds kApplyRetryPause{250};

struct ServerOptions {
  std::string datacenter = "dc1";
  std::string node_name;
  std::string node_id;
  std::string rpc_address;  // "ip:port", what /v1/status/leader reports
  // Raft mode (dev = false): where the log lives and how the group starts.
  bool dev = true;
  std::string data_dir;
  std::string raft_address;  // "ip:port" the Raft transport listens on and peers dial
  bool bootstrap = false;    // bootstrap alone as the first voter
  int bootstrap_expect = 0;  // bootstrap once this many servers are seen (BootstrapExpect)
  consensus::RaftOptions raft = consensus::RaftOptions::Default();
  // Autopilot: a failed server is removed from the configuration after this long.
  std::chrono::seconds dead_server_grace{30};
  // The shortest session TTL a create may ask for (session_ttl_min; the longest is 24h).
  std::chrono::nanoseconds session_ttl_min = catalog::kDefaultSessionTTLMin;
  // Batching of agents' coordinate updates (docs/coordinates.md).
  CoordinateOptions coordinates;
};

// One voter of the datacenter's Raft group, as /v1/operator/raft/configuration shows it.
struct RaftServer {
  std::string id;  // the server's node ID
  std::string node;
  std::string address;  // RPC address
  bool leader = false;
  bool voter = true;
};

// A server of this datacenter as the LAN pool knows it.
struct ServerMember {
  enum class Status { kAlive, kFailed, kLeft };
  std::string node;
  std::string node_id;
  std::string rpc_address;
  std::string raft_address;
  Status status = Status::kAlive;
};

struct ServerHooks {
  // Sends a write to the leader at `rpc_address` (RPC Catalog.Apply).
  std::function<void(const std::string& rpc_address, catalog::Command,
                     std::function<void(catalog::ApplyResult)>)>
      forward_apply;
  // The servers gossip knows, to name Raft peers (node, RPC address) and find the leader's RPC
  // address.
  std::function<std::vector<ServerMember>()> servers;
  // Leadership gained or lost (the agent reconciles the catalog while it leads).
  std::function<void(bool leader)> on_leadership;
  // A (new) leader became known: the local agent re-syncs what may have failed without one.
  std::function<void()> on_leader_known;
};

class Server : public catalog::Applier {
 public:
  Server(Loop& loop, ServerOptions options, ServerHooks hooks = {});
  ~Server() override;

  // Raft mode: opens the log. With `bootstrap`, or when the data dir already holds a log, the
  // node starts at once; with `bootstrap_expect` it waits for BootstrapExpect; otherwise it
  // starts empty and waits for a leader to add it. done(error) on a failure to start.
  void Start(std::function<void(Status)> done);
  // bootstrap_expect: called with the servers seen so far; bootstraps once there are enough.
  void BootstrapExpect(const std::vector<ServerMember>& servers);
  // Leader only: keep the Raft configuration in step with a server's gossip status.
  void ReconcileServer(const ServerMember& m);
  void Shutdown();
  void SetLeaderKnownHook(std::function<void()> fn) { hooks_.on_leader_known = std::move(fn); }
  // A connection on the RPC port whose mode byte was 0x01 (Raft); any thread. Closed when Raft
  // is not running or uses a port of its own.
  void AcceptRaftConnection(int fd, std::string already_read);

  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override;

  // Connect (connect.enabled): the datacenter's CA. Call before Start.
  void EnableConnectCA(ConnectCAOptions options, ConnectCAHooks hooks, Workers* workers = nullptr);
  // Null unless Connect is enabled.
  ConnectCA* connect_ca() { return ca_.get(); }
  // Config entries: every server has them, with the built-in checks and as its own primary
  // until this replaces them (call before Start).
  void ConfigureConfigEntries(ConfigEntriesOptions options, ConfigEntryChecks checks,
                              ConfigEntriesHooks hooks);
  ConfigEntries& config_entries() { return *config_entries_; }
  // Session TTL timers (leader) and lock-delays (every server).
  Sessions& sessions() { return *sessions_; }
  // The leader's batching of coordinate updates into the log.
  Coordinates& coordinates() { return *coordinates_; }
  // ACLs (acl.enabled): call before Start. Null when ACLs are off.
  void EnableAcls(AclOptions options);
  Acls* acls() { return acls_.get(); }
  // Dev mode has no elections: the agent says when this single server starts leading.
  void DevLeadershipAcquired();

  Loop& loop() { return loop_; }
  catalog::Store& store() { return store_; }
  const catalog::Store& store() const { return store_; }
  const ServerOptions& options() const { return options_; }

  bool dev() const { return options_.dev; }
  bool started() const { return options_.dev || started_; }
  bool IsLeader() const;
  bool KnownLeader() const;
  // done(ok) once this server has confirmed it is still the leader (a Raft barrier), as
  // ?consistent reads require; dev mode: at once.
  void VerifyLeader(std::function<void(Status)> done);
  // The leader's RPC address ("" when unknown).
  std::string Leader() const;
  std::vector<std::string> Peers() const;
  // Milliseconds since the last contact with the leader (0 on the leader).
  int64_t LastContactMs() const;
  std::vector<RaftServer> RaftConfiguration() const;
  // The last log index applied here.
  uint64_t RaftIndex() const { return store_.LastIndex(); }
  uint64_t RaftTerm() const;
  // Removes a voter by node ID or RPC address.
  void RemovePeer(const std::string& id, const std::string& address, std::function<void(Status)> done);

  // The state as of the last applied entry, for /v1/snapshot.
  std::string Snapshot() const { return store_.Snapshot(); }
  // Replaces the state with a snapshot's, through the log (every server restores at the same
  // point). done(error) when the snapshot is invalid; nothing changes then.
  void Restore(std::string state, std::function<void(Status)> done);

 private:
  class Fsm;
  void StartRaft(std::optional<consensus::Configuration> bootstrap, std::function<void(Status)> done);
  void ApplyHeld(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done,
                 std::chrono::steady_clock::time_point hold_until);
  std::optional<ServerMember> FindServer(uint64_t raft_id) const;
  std::string LeaderRpcAddress() const;

  Loop& loop_;
  ServerOptions options_;
  ServerHooks hooks_;
  catalog::Store store_;
  catalog::Index next_index_ = 1;  // dev mode
  std::unique_ptr<Fsm> fsm_;
  std::unique_ptr<consensus::RaftNode> raft_;
  std::unique_ptr<ConnectCA> ca_;
  std::unique_ptr<ConfigEntries> config_entries_;
  std::unique_ptr<Sessions> sessions_;
  std::unique_ptr<Coordinates> coordinates_;
  std::unique_ptr<Acls> acls_;
  bool started_ = false;
  bool starting_ = false;
  bool leader_ = false;
  uint64_t last_leader_ = 0;
  std::function<void(Status)> pending_start_;
  std::map<uint64_t, std::unique_ptr<Timer>> dead_timers_;  // raft id -> removal timer
  std::set<std::shared_ptr<std::unique_ptr<Timer>>> held_;  // writes waiting for a leader
};

// Whether data_dir/raft already holds a Raft log (then the node must not bootstrap again).
bool HasRaftState(const std::string& data_dir);

}  // namespace gangway::server
