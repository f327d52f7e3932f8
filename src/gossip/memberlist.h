// Memberlist: SWIM membership with Lifeguard, behaving like hashicorp/memberlist 0.2.x (§8–§9 of
// shared/reference/gossip-wire.md) and speaking its wire format through gossip/wire.h. Pure
// protocol: time and timers come from a Loop, bytes go through a Transport, choices through a
// Random, so the same code runs on sockets and in the simulator (testing/sim.h).
//
// Ownership and threads: the pool owns the Memberlist together with its Loop, Transport, Random
// and Delegate, which must outlive it. Every method must be called on the loop, and every
// Delegate callback runs on it. Nothing blocks: Join, Leave, UpdateNode and SendReliable report
// through callbacks, which always run later from the loop (never inside the call that started
// them), so a callback may destroy the Memberlist.
//
// Deliberate differences from Go memberlist:
//  * Incoming messages are handled as they arrive instead of going through the LIFO handoff
//    queues (HandoffQueueDepth): there is one thread, so alive messages cannot be starved.
//  * Left nodes are reaped after GossipToTheDeadTime like dead ones (memberlist HEAD; 0.2.2
//    keeps them forever).
//  * No CIDR allow-list and no DNS: Join takes resolved addresses.
//  * A stale suspect/dead is answered with the newer alive (Options::correct_stale_accusations)
//    instead of being silently ignored. Without it, 6 of 81 seeded 5-minute simulations of 50
//    nodes at 10% loss declared a live node dead: a node had missed the one-second gossip burst
//    of a refutation (memberlist_test NoFalsePositivesAtTenPercentLoss, GANGWAY_SIM_GO_EXACT=1).
//  * An alive message about X is never piggybacked on a packet to X (X made it); Go spends
//    transmissions on that. Each node sends a broadcast only RetransmitMult × ceil(log10(n + 1))
//    times, so in a 3-node cluster on the Local profile (2 transmissions) a joiner's alive
//    missed the other member until push/pull in about one join of a hundred
//    (serf_test ThreeNodesJoiningTogetherConvergeByGossip). Suspect and dead messages about X do
//    go to X, which must hear them to refute.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/duration.h"
#include "core/loop.h"
#include "core/random.h"
#include "core/status.h"
#include "gossip/broadcast_queue.h"
#include "gossip/security.h"
#include "gossip/transport.h"
#include "gossip/wire.h"

namespace gangway::gossip {

using TimePoint = std::chrono::steady_clock::time_point;

// Protocol versions this implementation speaks (§7): memberlist protocol 2, understanding 1..5.
inline constexpr uint8_t kProtocolVersionMin = 1;
inline constexpr uint8_t kProtocolVersionMax = 5;
inline constexpr uint8_t kProtocolVersion = 2;
// Largest Meta an alive message may carry (tags included).
inline constexpr size_t kMetaMaxSize = 512;
// Concurrent push/pulls a node serves before refusing more.
inline constexpr int kMaxPushPullRequests = 128;
// Cluster size up to which push/pull runs at the plain PushPullInterval.
inline constexpr int kPushPullScaleThreshold = 32;

const char* NodeStateName(NodeState state);

// A member as the local node sees it.
struct Node {
  std::string name;
  Address addr;
  std::string meta;
  std::array<uint8_t, 6> vsn{};  // pmin pmax pcur dmin dmax dcur (§7)
  NodeState state = NodeState::kDead;
  uint32_t incarnation = 0;
  TimePoint state_change{};

  uint8_t pmin() const { return vsn[0]; }
  uint8_t pmax() const { return vsn[1]; }
  uint8_t pcur() const { return vsn[2]; }
  uint8_t dmin() const { return vsn[3]; }
  uint8_t dmax() const { return vsn[4]; }
  uint8_t dcur() const { return vsn[5]; }
  bool DeadOrLeft() const { return state == NodeState::kDead || state == NodeState::kLeft; }
};

// How memberlist talks to the layer above it (Serf). Every method has a harmless default. All
// calls are made on the loop, synchronously from inside the engine: a delegate may read the
// Memberlist and send messages, but must not destroy it from inside a callback.
class Delegate {
 public:
  virtual ~Delegate() = default;

  // Meta for our alive messages (Serf: encoded tags). More than `limit` bytes is an error.
  virtual std::string NodeMeta(size_t /*limit*/) { return {}; }
  // A user message (type 8) arrived, by gossip, direct packet or stream.
  virtual void NotifyMsg(std::string_view /*msg*/) {}
  // Messages to piggyback, each costing `overhead` + its size, all within `limit` bytes.
  virtual std::vector<std::string> GetBroadcasts(size_t /*overhead*/, size_t /*limit*/) {
    return {};
  }
  // Our side of a push/pull (Serf: its clocks, left members and events).
  virtual std::string LocalState(bool /*join*/) { return {}; }
  // The peer's side of a push/pull.
  virtual void MergeRemoteState(std::string_view /*state*/, bool /*join*/) {}

  // Payload for our acks (Serf: its Vivaldi coordinate); nullopt sends nil.
  virtual std::optional<std::string> AckPayload() { return std::nullopt; }
  // A direct probe of `node` was acked within ProbeTimeout after `rtt`.
  virtual void NotifyPingComplete(const Node& /*node*/, Duration /*rtt*/,
                                  std::string_view /*payload*/) {}

  // Membership events: a node became alive (from dead, left or unknown), became dead or left,
  // or changed its Meta.
  virtual void NotifyJoin(const Node& /*node*/) {}
  virtual void NotifyLeave(const Node& /*node*/) {}
  virtual void NotifyUpdate(const Node& /*node*/) {}

  // Vetoes: an error drops the alive message (Consul checks the datacenter here) or, for a
  // join's push/pull, the whole merge.
  virtual Status NotifyAlive(const Node& /*node*/) { return Status::Ok(); }
  virtual Status NotifyMerge(const std::vector<Node>& /*peers*/) { return Status::Ok(); }
  // Someone claims `existing`'s name from another address.
  virtual void NotifyConflict(const Node& /*existing*/, const Node& /*other*/) {}
};

// Tunables (§10). The profiles are memberlist's DefaultLANConfig, DefaultWANConfig and
// DefaultLocalConfig; change a knob only knowing its trade-off.
struct Options {
  // This node's name: its identity in the cluster, compared byte for byte.
  std::string name;
  // Address advertised in our alive messages; empty = the transport's LocalAddress().
  Address advertise;

  // Delegate protocol versions advertised in Vsn[3..5] (Serf: 2, 5, 4 like Consul).
  uint8_t delegate_protocol_min = 0;
  uint8_t delegate_protocol_max = 0;
  uint8_t delegate_protocol_version = 0;

  // Deadline for a whole stream exchange (push/pull, TCP ping, reliable send), connect included.
  // Longer tolerates slow links and large states; shorter frees stuck exchanges sooner.
  Duration tcp_timeout = std::chrono::seconds(10);
  // Peers asked to ping a target that missed its direct ping. More helpers make a false
  // suspicion from a single lossy path less likely, at the cost of more packets per failure.
  int indirect_checks = 3;
  // Transmissions of each broadcast = this × ceil(log10(n + 1)). Higher spreads news more
  // reliably under loss; lower uses less bandwidth.
  int retransmit_mult = 4;
  // Suspicion timeout = this × max(1, log10(n)) × probe_interval (the minimum, reached with
  // enough confirmations). Higher gives a suspected node longer to refute; lower detects
  // failures sooner.
  int suspicion_mult = 4;
  // Starting (unconfirmed) suspicion timeout = this × the minimum. Higher protects against
  // a lone accuser with a bad network, lower reacts faster when nobody confirms.
  int suspicion_max_timeout_mult = 6;
  // Interval between full state exchanges with a random peer (scaled up above 32 nodes); 0
  // disables. Shorter converges faster after partitions, longer saves bandwidth.
  Duration push_pull_interval = std::chrono::seconds(30);
  // Interval between probes; each probes one node. Shorter detects failures faster and costs
  // more packets; it also scales the suspicion timeouts.
  Duration probe_interval = std::chrono::seconds(1);
  // Wait for a direct ack before asking helpers. Should exceed the network's 99th-percentile
  // RTT; too short triggers needless indirect probes.
  Duration probe_timeout = std::chrono::milliseconds(500);
  // Skip the TCP fallback probe. Only for networks where TCP to peers is blocked on purpose.
  bool disable_tcp_pings = false;
  // Lifeguard: the probe interval and deadline grow to (score + 1)× while we look unhealthy,
  // score in [0, this - 1]. 1 disables the scaling.
  int awareness_max_multiplier = 8;
  // Peers gossiped to per gossip interval. More spreads news faster for more packets.
  int gossip_nodes = 3;
  // Interval between gossip rounds; 0 disables gossip. Shorter spreads news faster and sends
  // more, smaller packets.
  Duration gossip_interval = std::chrono::milliseconds(200);
  // How long dead nodes keep receiving gossip (so they can refute) and stay in the table before
  // being reaped.
  Duration gossip_to_the_dead_time = std::chrono::seconds(30);
  // With a keyring: false also accepts plaintext input / sends plaintext, for rolling
  // encryption out on a live cluster (§5.3).
  bool gossip_verify_incoming = true;
  bool gossip_verify_outgoing = true;
  // LZW-compress packets (when it shrinks them) and streams (always). Costs CPU, saves bytes;
  // Serf's -disable-compression turns it off.
  bool enable_compression = true;
  // Piggyback budget of one UDP packet in bytes. Raising it past the path MTU fragments.
  size_t udp_buffer_size = 1400;
  // After this long dead, a node may come back under its name from another address; 0 = never
  // (a different address is a conflict).
  Duration dead_node_reclaim_time = Duration::zero();
  // Label bound to every packet and stream (memberlist >= 0.3). Keep empty in pools that Debian
  // serf 0.9.x joins: it drops labeled traffic.
  std::string label;
  // Accept unlabeled traffic as if it carried our label.
  bool skip_inbound_label_check = false;
  // Encryption keys, owned by the caller (the pool, which rotates them); nullptr or empty = off.
  Keyring* keyring = nullptr;
  // Answer a suspect or dead message that is older than the alive we hold (a lower
  // incarnation) by sending that alive straight back to the packet's sender. Not in Go
  // memberlist, which ignores such messages: a node that missed the short gossip burst of a
  // refutation then keeps suspecting a live node until its timer declares it dead, unless a
  // push/pull happens first. Costs one small packet per stale message; false = exactly 0.2.x.
  bool correct_stale_accusations = true;

  static Options Lan(std::string name);
  static Options Wan(std::string name);
  static Options Local(std::string name);

  Status Validate() const;
  bool EncryptionEnabled() const { return keyring != nullptr && !keyring->empty(); }
};

// §9.3: SuspicionMult × max(1, log10(max(1, n))) × interval, with the scale kept to 1/1000.
Duration SuspicionTimeout(int suspicion_mult, int n, Duration interval);
// §9.3: time left after `confirmations` of `k` wanted, `elapsed` into a suspicion.
Duration RemainingSuspicionTime(int confirmations, int k, Duration elapsed, Duration min,
                                Duration max);
// §9.6: push/pull interval for a cluster of n.
Duration PushPullScale(Duration interval, int n);

// A Lifeguard suspicion timer (§9.3): starts at `max` (or `min` when no confirmations are
// expected, k < 1) and shrinks toward `min` as distinct peers confirm. Cancelled on destruction.
class Suspicion {
 public:
  Suspicion(Loop* loop, std::string_view from, int k, Duration min, Duration max,
            std::function<void(int confirmations)> on_timeout);
  // A suspect message from `from`: true if it is a new confirmation (then re-gossip it).
  bool Confirm(std::string_view from);
  int confirmations() const { return n_; }
  // When the timer fires (or fired).
  TimePoint deadline() const { return deadline_; }

 private:
  void Arm(Duration d);

  Loop* loop_;
  int k_;
  int n_ = 0;
  Duration min_;
  Duration max_;
  TimePoint start_;
  TimePoint deadline_;
  std::vector<std::string> seen_;
  std::function<void(int)> on_timeout_;
  std::unique_ptr<Timer> timer_;
};

// Lifeguard's local health score (§9.2).
class Awareness {
 public:
  explicit Awareness(int max_multiplier) : max_(max_multiplier) {}
  void ApplyDelta(int delta);
  int score() const { return score_; }
  Duration Scale(Duration d) const { return d * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

// Counters for tests, metrics and logs.
struct MemberlistStats {
  uint64_t probes = 0;
  uint64_t probe_failures = 0;  // ended in a suspicion
  uint64_t indirect_probes = 0;
  uint64_t tcp_fallback_successes = 0;
  uint64_t suspicions_started = 0;
  uint64_t refutations = 0;
  uint64_t push_pulls = 0;  // completed, either side
  uint64_t push_pull_failures = 0;
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  uint64_t packets_dropped = 0;  // failed to decode
  uint64_t gossip_messages_sent = 0;
};

class Memberlist {
 public:
  struct Deps {
    Loop* loop = nullptr;
    Transport* transport = nullptr;
    Random* random = nullptr;
    Delegate* delegate = nullptr;   // optional
    NonceSource* nonces = nullptr;  // optional; default: OpenSSL's CSPRNG
  };

  // Validates the options, declares ourselves alive (incarnation 1), attaches to the transport
  // and starts the probe, gossip and push/pull timers (each after a random stagger).
  static Result<std::unique_ptr<Memberlist>> Create(Options options, Deps deps);
  ~Memberlist();
  Memberlist(const Memberlist&) = delete;
  Memberlist& operator=(const Memberlist&) = delete;

  // Push/pulls (Join=true) with every address in parallel. done(number that succeeded, ok if
  // any did, else the last error).
  void Join(std::vector<Address> addrs, std::function<void(int joined, Status)> done);

  // One push/pull with `to`, as the periodic one does (not a join): each side merges the other's
  // table. done(status) runs later from the loop.
  void SyncWith(const Address& to, std::function<void(Status)> done);

  // Graceful leave: broadcasts dead{me, From: me} and reports once it has been sent its last
  // time (or replaced), or an error after `timeout` (0 = no timeout). Keep running afterwards
  // for a while so peers can hear it, then Shutdown.
  void Leave(Duration timeout, std::function<void(Status)> done);

  // Re-reads the delegate's NodeMeta and broadcasts alive{++incarnation}; done as for Leave.
  void UpdateNode(Duration timeout, std::function<void(Status)> done);

  // Stops all timers and exchanges and detaches from the transport. No goodbye is sent (that
  // is Leave). Idempotent; the destructor calls it.
  void Shutdown();

  // A user message in one UDP packet, without piggybacked gossip (Serf's SendToAddress).
  Status SendToAddress(const Address& to, std::string_view msg);
  // A user message over a stream (SendReliable).
  void SendReliable(const Address& to, std::string msg, std::function<void(Status)> done);

  // Nodes that are alive or suspect, self included.
  std::vector<Node> Members() const;
  int NumMembers() const;
  // The whole table: every state, until reaped.
  std::vector<Node> AllNodes() const;
  std::optional<Node> GetNode(std::string_view name) const;
  Node LocalNode() const;
  // Table size, the n of the protocol formulas.
  int EstNumNodes() const { return static_cast<int>(nodes_.size()); }
  // Lifeguard awareness score, 0 = healthy.
  int GetHealthScore() const { return awareness_.score(); }
  size_t NumQueuedBroadcasts() const { return broadcasts_.NumQueued(); }
  bool has_left() const { return left_; }
  const Options& options() const { return options_; }
  const MemberlistStats& stats() const { return stats_; }

 private:
  struct NodeEntry;
  struct AckHandler;
  struct Probe;
  struct StreamOp;
  struct Waiter;
  class MessageBroadcast;

  Memberlist(Options options, Deps deps);
  Status Start();

  // Scheduling.
  void ScheduleProbe(Duration d);
  void ScheduleGossip(Duration d);
  void SchedulePushPull(Duration d);
  void ProbeTick();
  void ProbeOnce();
  void ResetNodes();
  void Gossip();
  void PeriodicPushPull();

  // Probing.
  void StartProbe(const Node& target);
  void ProbeAcked(std::string_view payload, TimePoint at);
  void ProbeDirectTimeout();
  void ProbeHandlerTimeout();
  void ProbeTcpDone(uint32_t seq, bool ok);
  void MaybeConcludeProbe();
  void FinishProbe(int awareness_delta);

  // Node state machine (§8).
  void AliveNode(const Alive& a, std::function<void()> notify, bool bootstrap);
  // `from` is the UDP source when the message arrived in a packet (for corrections).
  void SuspectNode(const Suspect& s, const Address* from = nullptr);
  void DeadNode(const Dead& d, std::function<void()> notify = nullptr,
                const Address* from = nullptr);
  void CorrectStaleAccusation(const Address& to, const NodeEntry& e);
  void Refute(NodeEntry& me, uint32_t accused_incarnation);
  void OnSuspicionTimeout(const std::string& name, TimePoint episode, int confirmations);
  void MergeState(const std::vector<PushNodeState>& remote);
  Status VerifyProtocol(const std::vector<PushNodeState>& remote) const;
  Status MergeRemoteState(const PushPull& pp, bool join);
  bool AnyAlive() const;

  // Packets.
  void HandlePacket(const Address& from, std::string bytes);
  void HandleMessage(const Address& from, const Message& m);
  void HandlePing(const Address& from, const Ping& p);
  void HandleIndirectPing(const Address& from, const IndirectPing& ind);
  void HandleAck(const Ack& ack, TimePoint at);
  void HandleNack(const Nack& nack);
  void SetAckHandler(uint32_t seq, std::function<void(std::string_view, TimePoint)> on_ack,
                     std::function<void()> on_nack, std::function<void()> on_timeout,
                     Duration timeout);
  // Broadcasts to piggyback on a packet to the node named `to` (empty: unknown).
  std::vector<Message> GetBroadcasts(size_t overhead, size_t limit, std::string_view to = {});
  // Sends msg with piggybacked broadcasts (memberlist's sendMsg). `node` (optional) is the
  // target's table entry, which decides whether a CRC is added; without it, `to_name` names the
  // target when known.
  Status SendMsg(const Address& to, const Node* node, Message msg, std::string_view to_name = {});
  // Sends the messages as they are: one bare, several as compounds of at most 255.
  Status SendRaw(const Address& to, const Node* node, std::vector<Message> msgs);
  // Where a send's failure changes nothing but the log (SWIM tolerates lost packets).
  void LogSendFailure(std::string_view what, const Address& to, const Status& s);
  void QueueBroadcast(const std::string& node, const Message& m, std::function<void()> notify);
  size_t PacketOverhead() const;

  // Streams.
  using FrameCallback = std::function<void(Result<StreamFrame>)>;
  void Exchange(const Address& to, Message request, Duration timeout, bool want_reply,
                FrameCallback done);
  void HandleStream(std::unique_ptr<Stream> stream);
  void ServeFrame(uint64_t op_id, StreamFrame frame);
  void ReadFrame(uint64_t op_id, bool listener,
                 std::function<void(uint64_t, StreamFrame)> on_frame);
  void FinishOp(uint64_t op_id, Result<StreamFrame> result);
  StreamOp* NewOp(uint64_t* op_id, Duration timeout, FrameCallback done);
  void WriteAndClose(uint64_t op_id, Message reply);
  Result<std::string> EncodeStreamMessage(Message m, bool dialer);
  PushPull LocalPushPull(bool join);
  void PushPullWith(const Address& to, bool join, std::function<void(Status)> done);
  void SendPingStream(const Address& to, const Ping& ping, Duration timeout,
                      std::function<void(bool)> done);

  // Completion of Leave/UpdateNode: when the broadcast finishes, or an error after timeout.
  uint64_t AddWaiter(Duration timeout, std::function<void(Status)> done,
                     std::string timeout_message);
  void CompleteWaiter(uint64_t id, Status s);
  std::function<void()> WaiterNotify(uint64_t id);

  // Helpers.
  // Up to k distinct random nodes for which skip(entry) is false.
  template <typename Skip>
  std::vector<const NodeEntry*> RandomNodes(size_t k, Skip skip);
  std::array<uint8_t, 6> Versions() const;
  std::string VsnBytes() const;
  uint32_t NextSeqNo() { return ++seq_no_; }
  void Post(std::function<void()> fn);
  NodeEntry* Find(std::string_view name);
  const NodeEntry* Find(std::string_view name) const;

  Options options_;
  Loop* loop_;
  Transport* transport_;
  Random* random_;
  Delegate* delegate_;
  NonceSource* nonces_;
  std::unique_ptr<NonceSource> owned_nonces_;
  Address advertise_;

  std::vector<std::unique_ptr<NodeEntry>> nodes_;  // probe order
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, NodeEntry*, NameHash, std::equal_to<>> node_map_;
  size_t probe_index_ = 0;
  uint32_t seq_no_ = 0;
  uint32_t incarnation_ = 0;
  Awareness awareness_;
  TransmitLimitedQueue broadcasts_;
  std::unordered_map<uint32_t, std::unique_ptr<AckHandler>> ack_handlers_;
  std::unique_ptr<Probe> probe_;
  bool probe_tick_pending_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<StreamOp>> stream_ops_;
  uint64_t next_op_id_ = 0;
  int serving_ = 0;  // incoming streams being served
  std::unique_ptr<Timer> probe_timer_;
  std::unique_ptr<Timer> gossip_timer_;
  std::unique_ptr<Timer> push_pull_timer_;
  std::unordered_map<uint64_t, std::unique_ptr<Waiter>> waiters_;
  uint64_t next_waiter_id_ = 0;
  bool left_ = false;
  bool shutdown_ = false;
  MemberlistStats stats_;
  // Expires with the Memberlist; callbacks posted to the loop or handed to the transport check
  // it, so none runs after destruction.
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
};

}  // namespace gangway::gossip
