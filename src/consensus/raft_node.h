// RaftNode: one member of a Raft group, backed by libraft 0.15 on a thread of its own (see
// docs/consensus.md). The owner supplies a byte-level StateMachine and a Loop; every method,
// every callback and every state-machine call runs on that owner loop's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/loop.h"
#include "core/status.h"

namespace gangway::consensus {

namespace internal {
class HandoffInbox;
}

// A point-in-time copy of a state machine's state (StateMachine::BeginSnapshot), serialised
// later on another thread while the owner goes on applying entries.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // The snapshot bytes, which Restore must accept. Called at most once, on a libuv worker
  // thread, concurrently with the owner's Apply calls: it may read only the copy. When stop is
  // requested (the node is shutting down) it should give up soon with any error. The source
  // may be destroyed on any thread.
  virtual Result<std::string> Encode(std::stop_token stop) = 0;
};

// Implemented by the owner; called on the owner's loop thread only.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies a committed entry. Indexes grow, with gaps where the log holds entries of Raft's own
  // (configuration changes, barriers). Must be deterministic: every server applies the same
  // entries in the same order. The result reaches the Apply caller on the leader; an error here
  // is a deterministic rejection and changes nothing else.
  virtual Result<std::string> Apply(uint64_t index, std::string_view entry) = 0;
  // A copy of the whole state as of the last applied entry, independent of the live state: the
  // next Apply may change anything once this returns. Keep it cheap (no encoding): the owner
  // loop waits for it. An error skips this snapshot; libraft tries again after a later entry.
  virtual Result<std::unique_ptr<SnapshotSource>> BeginSnapshot() = 0;
  // Replaces the whole state with a snapshot's. A failure leaves the state as it was.
  virtual Status Restore(std::string_view snapshot) = 0;
};

enum class RaftState { kUnavailable, kFollower, kCandidate, kLeader };
// "Leader", "Follower", "Candidate", "Shutdown" (Consul's names).
const char* RaftStateName(RaftState state);

enum class Suffrage { kVoter, kStandby, kSpare };

struct Peer {
  uint64_t id = 0;  // 0: none/unknown
  std::string address;
  friend bool operator==(const Peer&, const Peer&) = default;
};

struct Member {
  uint64_t id = 0;
  std::string address;
  Suffrage suffrage = Suffrage::kVoter;
  friend bool operator==(const Member&, const Member&) = default;
};
using Configuration = std::vector<Member>;

// Why an operation did not succeed; the Status carries the human-readable text.
enum class Error {
  kNone,
  kNotLeader,            // not the leader (or transferring leadership); see OpResult::leader
  kLeadershipLost,       // lost leadership before commit: the entry may still commit
  kShutdown,             // the node shut down before the outcome was known
  kAlreadyBootstrapped,  // Bootstrap on a data dir that already holds state: ignore it
  kBusy,                 // another configuration change is in progress: retry
  kInvalid,              // bad argument or wrong phase (e.g. Apply before Start)
  kIo,                   // storage or network failure
  kOther,
};

struct OpResult {
  Status status;
  Error error = Error::kNone;
  uint64_t index = 0;  // Apply/Barrier: the entry's log index
  Peer leader;         // on kNotLeader/kLeadershipLost: the leader this node knows of, if any
  bool ok() const { return status.ok(); }
};

struct ApplyResult : OpResult {
  // StateMachine::Apply's result for this entry on this node; meaningful when ok().
  Result<std::string> response;
};

// What the raft thread last reported; at most RaftOptions::poll_interval old.
struct RaftInfo {
  RaftState state = RaftState::kUnavailable;
  Peer leader;
  uint64_t term = 0;
  uint64_t last_index = 0;      // last entry in the local log
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;   // last entry handed to the state machine
  uint64_t snapshot_index = 0;  // last entry covered by the latest local snapshot
  Configuration configuration;  // the latest, possibly uncommitted
  // When this follower last heard from its leader (see LastContact).
  std::chrono::steady_clock::time_point last_contact{};
};

struct RaftOptions {
  uint64_t id = 0;           // this server's id, > 0 (see ServerIdFromUuid)
  std::string address;       // "a.b.c.d:port": advertised to peers and listened on
  std::string bind_address;  // optional listen address such as "0.0.0.0:8300"; same port
  std::string data_dir;      // created if missing; one node per directory

  std::chrono::milliseconds election_timeout{1000};  // randomised 1-2x by libraft
  std::chrono::milliseconds heartbeat_timeout{100};  // < election_timeout
  // How long the leader waits for an InstallSnapshot answer before retrying. libraft's 30 s
  // default turns its "busy follower sends no reply" bug into 30 s stalls.
  std::chrono::milliseconds install_snapshot_timeout{2000};
  std::chrono::milliseconds connect_retry_delay{1000};  // TCP transport reconnect pause
  std::chrono::milliseconds poll_interval{20};          // freshness of Info() and callbacks
  // Entries since the last snapshot before a new one; each server adds an offset of up to 1/8 of
  // it derived from its id (see SnapshotThreshold), so that a group's servers do not all
  // snapshot at the same index.
  unsigned snapshot_threshold = 16384;
  unsigned snapshot_trailing = 10240;   // entries kept in the log behind a snapshot
  size_t segment_size = 8 << 20;        // bytes fallocated per open log segment
  bool pre_vote = true;                 // a rejoining server cannot depose a healthy leader

  // How peers reach this node (docs/consensus.md, "Transport").
  //  kOwnPort: libraft's TCP transport listens on `address` (or bind_address) itself.
  //  kHandoff: `address` is this server's RPC address (port 8300). Nothing listens here: the
  //    RPC server hands connections whose mode byte is 0x01 to AcceptConnection. Peers are
  //    dialed at their RPC addresses with the mode byte and a handshake.
  enum class Transport { kOwnPort, kHandoff };
  Transport transport = Transport::kOwnPort;
  // kHandoff: the longest a dial (connect, handshake, answer) or an incoming handshake may take.
  std::chrono::milliseconds handshake_timeout{5000};
  // kHandoff: how peers are dialed. Unset: TCP and the mode byte 0x01 (plaintext). Set (Raft
  // inside TLS, docs/rpc.md): called on the raft thread with the peer's address, must not block,
  // and calls done exactly once, on any thread, with a connected stream fd on which the mode
  // byte(s) are already sent (the node takes it and writes the Raft handshake next), or with -1
  // and the reason, which is logged. handshake_timeout bounds the whole dial; a late fd is
  // closed. Ignored by kOwnPort.
  using Dialer =
      std::function<void(std::string address, std::function<void(int fd, std::string error)> done)>;
  Dialer dial;

  // Consul-like timing: a dead leader is replaced within a few seconds.
  static RaftOptions Default() { return {}; }
  // Fast timing for tests on loopback.
  static RaftOptions Fast();
};

// Checks ids, addresses and timings; RaftNode reports the same errors from Start.
Status ValidateOptions(const RaftOptions& options);

// Maps a canonical UUID ("8-4-4-4-12" hex) to the server id made of its first 64 bits.
Result<uint64_t> ServerIdFromUuid(std::string_view uuid);

// The snapshot threshold a node uses: options.snapshot_threshold plus an offset in
// [0, snapshot_threshold / 8] that a hash of options.id picks. Deterministic per server.
unsigned SnapshotThreshold(const RaftOptions& options);

class RaftNode {
 public:
  RaftNode(Loop& owner, StateMachine& fsm, RaftOptions options);
  ~RaftNode();  // Shutdown()
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  // Writes the initial configuration to an empty data dir; before Start. On a data dir that
  // already holds state: kAlreadyBootstrapped, and nothing changes.
  void Bootstrap(Configuration configuration, std::function<void(OpResult)> done);
  // Loads the snapshot and log from data_dir (restoring the state machine), listens and joins
  // the group. Once only; a later call reports the first call's outcome.
  void Start(std::function<void(OpResult)> done);

  // Appends an entry on the leader; done once it is committed and applied here, or failed.
  void Apply(std::string entry, std::function<void(ApplyResult)> done);
  // done once every entry before it is applied here (on the leader).
  void Barrier(std::function<void(OpResult)> done);
  // Adds a server (or promotes an existing non-voter) as a voter once it has caught up.
  void AddVoter(uint64_t id, std::string address, std::function<void(OpResult)> done);
  void Remove(uint64_t id, std::function<void(OpResult)> done);
  // Hands leadership to id (0: the most up-to-date voter). ok once this node stepped down.
  void TransferLeadership(uint64_t id, std::function<void(OpResult)> done);

  const RaftInfo& Info() const;
  RaftState State() const { return Info().state; }
  bool IsLeader() const { return Info().state == RaftState::kLeader; }
  Peer Leader() const { return Info().leader; }
  const Configuration& GetConfiguration() const { return Info().configuration; }
  uint64_t LastIndex() const { return Info().last_index; }
  uint64_t CommitIndex() const { return Info().commit_index; }
  uint64_t AppliedIndex() const { return Info().applied_index; }
  // Follower: time since the leader last reached this node; 0 on the leader; negative when
  // unknown (no leader, candidate, not started).
  std::chrono::milliseconds LastContact() const;

  // Transport::kHandoff: takes over a connection accepted on the RPC port whose mode byte was
  // 0x01, with the bytes already read after that byte. Any thread. Always takes ownership of
  // fd: the raft thread reads the handshake and hands the connection to libraft, or closes it
  // (bad handshake, not started yet, shut down, or another transport).
  void AcceptConnection(int fd, std::string already_read);

  // Called when the state or the known leader changes. Set before Start.
  void OnLeaderChange(std::function<void(RaftState, Peer)> fn);

  // Closes raft gracefully, then the uv loop, then joins the thread. Idempotent. Must not be
  // called from inside a StateMachine call.
  void Shutdown();

  const RaftOptions& options() const { return options_; }

  struct Shared;  // owner-side state shared with posted closures
  class Core;     // raft-thread state

 private:
  void EnsureThread();
  void Submit(std::function<void(Core&)> fn);
  void Op(std::function<void(OpResult)> done, std::function<void(Core&, uint64_t)> fn);
  uint64_t AddPending(std::function<void(ApplyResult)> apply_done,
                      std::function<void(OpResult)> op_done);

  Loop& owner_;
  RaftOptions options_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<internal::HandoffInbox> inbox_;  // kHandoff only; AcceptConnection's queue
  std::unique_ptr<Core> core_;
  std::thread thread_;
  bool shut_down_ = false;
};

}  // namespace gangway::consensus
