// Serf 0.9 on top of memberlist (§11 of shared/reference/gossip-wire.md): members with tags and
// Serf statuses, Lamport clocks, join/leave intents, user events, queries (internal ones included:
// ping, name conflict, keyring), push/pull anti-entropy of that state, and reaping of failed and
// left members. The Memberlist does failure detection; Serf is its Delegate.
//
// Ownership and threads: the pool owns the Serf together with its Loop, Transport, Random and
// Keyring, which must outlive it; the Serf owns its Memberlist. Every method must be called on the
// loop. Events reach the owner through SerfHandlers, always posted to the loop (never run inside a
// Serf call), so a handler may call back into the Serf or destroy it.
//
// Deliberate differences from Go serf:
//  * No snapshot file and no event coalescing (yet); the owner gets every member event.
//  * A join intent gossiped about a member memberlist does not know, and still does not know
//    missing_member_pull_delay later, makes us push/pull with a random member: the member's
//    alive message missed us. Go waits for the periodic push/pull (30-60 s after start); in 5 %
//    of simulated bursts of 30 joins, and in real ones, some member waited that long
//    (serf_test BurstOfJoinsReachesEveryMemberWithoutWaitingForPushPull).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "core/loop.h"
#include "core/random.h"
#include "core/status.h"
#include "coordinate/coordinate.h"
#include "gossip/broadcast_queue.h"
#include "gossip/memberlist.h"
#include "gossip/security.h"
#include "gossip/serf_wire.h"
#include "gossip/transport.h"

namespace gangway::gossip {

// Serf protocol versions (§7): 2 base, 3 tags in Meta, 4 queries, 5 relayed responses.
inline constexpr uint8_t kSerfProtocolMin = 2;
inline constexpr uint8_t kSerfProtocolMax = 5;
// Prefix of the queries Serf answers itself and never hands to the owner.
inline constexpr std::string_view kInternalQueryPrefix = "_serf_";
// Hard cap on a user event (name + payload, and encoded), whatever the options say.
inline constexpr size_t kUserEventSaneLimit = 9 * 1024;

using LamportTime = uint64_t;

// A Lamport clock (§11.2). Plain value; one loop.
class LamportClock {
 public:
  LamportTime Time() const { return counter_; }
  // Advances by one and returns the new time.
  LamportTime Increment() { return ++counter_; }
  // Another clock said `v`: make sure ours is past it.
  void Witness(LamportTime v) {
    if (v >= counter_) counter_ = v + 1;
  }

 private:
  LamportTime counter_ = 0;
};

enum class MemberStatus : uint8_t { kNone = 0, kAlive = 1, kLeaving = 2, kLeft = 3, kFailed = 4 };
// "none", "alive", "leaving", "left", "failed" (as `serf members` and Consul's API print them).
const char* MemberStatusName(MemberStatus s);

using Tags = std::map<std::string, std::string>;

// A member as Serf reports it.
struct Member {
  std::string name;
  Address addr;
  Tags tags;
  MemberStatus status = MemberStatus::kNone;
  // The memberlist Vsn of the node: its memberlist protocol range and current version, then its
  // Serf (delegate) protocol range and current version.
  uint8_t protocol_min = 0, protocol_max = 0, protocol_cur = 0;
  uint8_t delegate_min = 0, delegate_max = 0, delegate_cur = 0;
};

enum class MemberEventType { kJoin, kLeave, kFailed, kUpdate, kReap };
// "member-join", "member-leave", ... (Serf's event names).
const char* MemberEventTypeName(MemberEventType t);

struct MemberEvent {
  MemberEventType type = MemberEventType::kJoin;
  std::vector<Member> members;
};

// A user event, delivered once per node per (LTime, name, payload).
struct UserEvent {
  LamportTime ltime = 0;
  std::string name;
  std::optional<std::string> payload;
  bool coalesce = false;
};

class Serf;

// A query another node (or we) started, handed to the owner to answer. Respond at most once,
// before the deadline, on the loop. Outliving the Serf is harmless: Respond then fails.
class IncomingQuery {
 public:
  LamportTime ltime() const { return ltime_; }
  const std::string& name() const { return name_; }
  const std::optional<std::string>& payload() const { return payload_; }
  const std::string& source_node() const { return source_node_; }
  TimePoint deadline() const { return deadline_; }

  // Sends the answer straight to the originator, and through relay_factor random members.
  Status Respond(std::string_view payload);

 private:
  friend class Serf;
  Serf* serf_ = nullptr;
  std::weak_ptr<int> life_;
  LamportTime ltime_ = 0;
  uint32_t id_ = 0;
  std::string name_;
  std::optional<std::string> payload_;
  std::string source_node_;
  Address reply_to_;
  uint8_t relay_factor_ = 0;
  TimePoint deadline_{};
  bool responded_ = false;
};

// What the owner of a Serf hears. Every handler is optional and runs posted on the loop.
struct SerfHandlers {
  std::function<void(const MemberEvent&)> on_member;
  std::function<void(const UserEvent&)> on_user_event;
  // Queries not starting with "_serf_". Without a handler nobody answers (acks still go out).
  std::function<void(std::shared_ptr<IncomingQuery>)> on_query;
  // The keyring was changed by a key query (Consul rewrites serf/local.keyring here).
  std::function<void(const Keyring&)> on_keyring_change;
  // The Serf shut itself down: it lost a name conflict vote (§11.7).
  std::function<void(const Status&)> on_shutdown;
};

struct QueryParams {
  // Only these nodes answer (empty = all).
  std::vector<std::string> filter_nodes;
  // Only nodes whose tag matches the regular expression answer (unanchored search).
  std::map<std::string, std::string> filter_tags;
  // Nodes that pass the filters ack receipt before they answer.
  bool request_ack = false;
  // Each responder also sends its ack/response through this many random members, for lossy
  // networks (needs peers speaking Serf protocol 5).
  uint8_t relay_factor = 0;
  // 0 = the default: gossip_interval × query_timeout_mult × ceil(log10(n + 1)).
  Duration timeout = Duration::zero();
};

struct NodeResponse {
  std::string from;
  std::optional<std::string> payload;
};

// Where the acks and responses of our query go. Each runs posted on the loop; on_finish runs
// once, at the deadline or after Close(), and nothing runs after it.
struct QueryCallbacks {
  std::function<void(const std::string& from)> on_ack;
  std::function<void(const NodeResponse&)> on_response;
  std::function<void()> on_finish;
};

// Our running query: what has come back so far. Owned jointly by the Serf (until the deadline)
// and the caller.
class QueryResponse {
 public:
  LamportTime ltime() const { return ltime_; }
  uint32_t id() const { return id_; }
  TimePoint deadline() const { return deadline_; }
  bool finished() const { return closed_; }
  const std::set<std::string>& acks() const { return acks_; }
  const std::map<std::string, std::optional<std::string>>& responses() const { return responses_; }
  // Stops early: later answers are ignored and on_finish runs (posted) if it has not.
  void Close();

 private:
  friend class Serf;
  Loop* loop_ = nullptr;
  std::weak_ptr<int> life_;
  LamportTime ltime_ = 0;
  uint32_t id_ = 0;
  TimePoint deadline_{};
  bool closed_ = false;
  std::set<std::string> acks_;
  std::map<std::string, std::optional<std::string>> responses_;
  QueryCallbacks callbacks_;
  std::unique_ptr<Timer> timer_;
};

// The cluster's answer to a keyring query (Serf's KeyResponse).
struct KeyResponse {
  std::map<std::string, std::string> messages;  // node -> error or warning
  int num_nodes = 0;                            // members Serf knows, any status
  int num_resp = 0;
  int num_err = 0;
  std::map<std::string, int> keys;          // base64 key -> nodes holding it (list-keys)
  std::map<std::string, int> primary_keys;  // base64 key -> nodes using it as primary
};

// Tunables (§11.10). Lan/Wan/Local pick memberlist's profile and Consul's Serf values where the
// reference says Consul differs from the serf library (noted per knob).
struct SerfOptions {
  // memberlist's options; memberlist.name is the node name and the keyring lives here.
  Options memberlist;
  // Our tags, sent as memberlist Meta; at most 512 bytes encoded.
  Tags tags;
  // Serf protocol we speak, in [2, 5]. Consul uses 4 (serf library default 4, serf agent 5).
  // Below 3 only the "role" tag is sent; below 4 there are no queries.
  uint8_t protocol_version = 4;

  // How long Leave and force-leave wait for their intent to be gossiped, and memberlist for its
  // leave/update broadcasts. Longer gives big clusters time; Leave blocks at most about 2×.
  Duration broadcast_timeout = std::chrono::seconds(5);
  // How long Leave keeps running after memberlist's leave, answering probes while the news
  // spreads. Consul 3 s (serf 1 s): reaches >99.99% of a 100k-node cluster.
  Duration leave_propagate_delay = std::chrono::seconds(3);

  // Slots in the user event and query de-duplication rings, indexed by LTime. Events and
  // queries older than current time − slots are dropped as stale.
  size_t event_buffer = 512;
  size_t query_buffer = 512;

  // Period of the reaper of failed (reconnect_timeout) and left (tombstone_timeout) members and
  // of stale intents.
  Duration reap_interval = std::chrono::seconds(15);
  // Period of reconnect attempts to failed members; each round joins one random failed member
  // with probability failed/alive. 0 disables reconnecting.
  Duration reconnect_interval = std::chrono::seconds(30);
  // How long a failed member is remembered (and reconnected to) before being reaped. Consul
  // 72 h (serf 24 h). Longer rides out long partitions; shorter forgets dead nodes sooner.
  Duration reconnect_timeout = std::chrono::hours(72);
  // Per-member override of reconnect_timeout (Consul reads the rc_tm tag); nullptr = none.
  std::function<Duration(const Member&, Duration configured)> reconnect_timeout_override;
  // How long a member that left is remembered (and reported "left") before being reaped. It is
  // also how long its leave is re-announced in push/pulls.
  Duration tombstone_timeout = std::chrono::hours(24);
  // How long intents about members we do not know yet are kept, waiting for memberlist to tell
  // us about the member.
  Duration recent_intent_timeout = std::chrono::minutes(5);
  // A join intent gossiped about a member memberlist has not reported yet is normal for a
  // moment: the intent and the member's alive message travel separately. Still unknown this
  // long after the intent, the alive message missed us (each node sends it only
  // RetransmitMult × ceil(log10(n + 1)) times), and we push/pull with a random member to fetch
  // it, at most twice per member, instead of waiting 30–60 s for the periodic push/pull. Not in
  // Go serf. Shorter repairs sooner but pulls more often where the alive was merely late; 0
  // disables. LAN 1 s (5 gossip rounds), WAN 2.5 s, Local 0.5 s.
  Duration missing_member_pull_delay = std::chrono::seconds(1);
  // A failed member back within this is a flap (counted in stats).
  Duration flap_timeout = std::chrono::seconds(60);

  // Period of the broadcast queue checks.
  Duration queue_check_interval = std::chrono::seconds(30);
  // Queue depth that logs a warning. Consul 1000000, i.e. off (serf 128).
  size_t queue_depth_warning = 1000000;
  // Queues are pruned to max(min_queue_depth, 2 × members) when min_queue_depth > 0 (Consul:
  // 4096), else to max_queue_depth. Pruning drops the most-sent messages first.
  size_t max_queue_depth = 4096;
  size_t min_queue_depth = 4096;

  // Default query timeout = gossip_interval × this × ceil(log10(n + 1)).
  int query_timeout_mult = 16;
  // Encoded size limits of a query and of a response (they must fit a UDP packet).
  size_t query_size_limit = 1024;
  size_t query_response_size_limit = 1024;
  // Name + payload limit of a user event, at most kUserEventSaneLimit.
  size_t user_event_size_limit = 512;

  // On a name conflict about us, ask the cluster and shut down if the majority knows another
  // address for our name. Consul: off (serf: on).
  bool enable_name_conflict_resolution = false;

  // Vivaldi coordinates (docs/coordinates.md): our acks carry ours, completed probes update it
  // and cache the peer's. Off: acks carry nothing and peers' payloads are ignored.
  bool disable_coordinates = false;
  coordinate::Config coordinate;

  // Veto of members before they join (Consul's merge delegates check the datacenter): called
  // for the nodes of a join push/pull and for every alive message. nullptr accepts everyone.
  std::function<Status(const std::vector<Member>&)> merge;

  // Consul's LAN / WAN pools (memberlist LAN / WAN profiles) and a fast local profile.
  static SerfOptions Lan(std::string name);
  static SerfOptions Wan(std::string name);
  static SerfOptions Local(std::string name);

  Status Validate() const;
};

enum class SerfState { kAlive, kLeaving, kLeft, kShutdown };
const char* SerfStateName(SerfState s);

struct SerfStats {
  size_t members = 0;
  size_t failed = 0;
  size_t left = 0;
  size_t health_score = 0;
  LamportTime member_time = 0;
  LamportTime event_time = 0;
  LamportTime query_time = 0;
  size_t intent_queue = 0;
  size_t event_queue = 0;
  size_t query_queue = 0;
  bool encrypted = false;
  uint64_t reconnect_attempts = 0;
  uint64_t reconnects = 0;  // attempts that reached the member
  uint64_t flaps = 0;
  // Push/pulls made because a joined member's alive message missed us
  // (SerfOptions::missing_member_pull_delay).
  uint64_t missing_member_pulls = 0;
  uint64_t events_delivered = 0;
  uint64_t queries_seen = 0;
  // Our coordinate was reset to the origin after an update made it invalid.
  uint64_t coordinate_resets = 0;
  // Ack payloads that did not decode or held an unusable coordinate (ignored).
  uint64_t coordinate_rejected = 0;
};

class Serf {
 public:
  struct Deps {
    Loop* loop = nullptr;
    Transport* transport = nullptr;
    Random* random = nullptr;
    NonceSource* nonces = nullptr;  // optional; default: OpenSSL's CSPRNG
    SerfHandlers handlers;
  };

  // Validates the options, starts memberlist (which announces us) and the reaper, reconnect and
  // queue-check timers. Joining a cluster is a separate step.
  static Result<std::unique_ptr<Serf>> Create(SerfOptions options, Deps deps);
  ~Serf();
  Serf(const Serf&) = delete;
  Serf& operator=(const Serf&) = delete;

  // Joins through the given addresses (memberlist push/pulls), then gossips a join intent if any
  // worked. ignore_old: user events from before the join are not delivered. done(number
  // contacted, ok if any).
  void Join(std::vector<Address> addrs, bool ignore_old,
            std::function<void(int joined, Status)> done);

  // Graceful leave (§11.3): gossips our leave intent and waits for it, then memberlist's leave,
  // then leave_propagate_delay; state leaving → left. Peers then list us "left", not "failed".
  void Leave(std::function<void(Status)> done);

  // Force-leave: tells everyone a failed member left (prune: forget it at once). done after the
  // intent has been gossiped.
  void RemoveFailedNode(const std::string& name, bool prune, std::function<void(Status)> done);

  // Replaces our tags. Errors at once if they encode to more than 512 bytes; otherwise done
  // (optional) once the update was gossiped.
  Status SetTags(Tags tags, std::function<void(Status)> done = nullptr);

  // Gossips a user event to everyone (us included). Errors if name + payload exceed
  // user_event_size_limit.
  Status UserEvent(std::string_view name, std::optional<std::string> payload, bool coalesce);

  // Starts a query; answers arrive through `callbacks` until the deadline.
  Result<std::shared_ptr<QueryResponse>> Query(std::string_view name,
                                               std::optional<std::string> payload,
                                               QueryParams params, QueryCallbacks callbacks = {});
  Duration DefaultQueryTimeout() const;

  // Keyring operations on every member through the _serf_ key queries (Serf's KeyManager). Keys
  // are base64. done gets the per-node answers and an error unless every member succeeded.
  using KeyCallback = std::function<void(Status, const KeyResponse&)>;
  void InstallKey(std::string_view key, KeyCallback done, uint8_t relay_factor = 0);
  void UseKey(std::string_view key, KeyCallback done, uint8_t relay_factor = 0);
  void RemoveKey(std::string_view key, KeyCallback done, uint8_t relay_factor = 0);
  void ListKeys(KeyCallback done, uint8_t relay_factor = 0);

  // Stops everything without a goodbye (Leave first for a graceful exit). Idempotent.
  void Shutdown();

  // Every member we know, whatever its status, until reaped.
  std::vector<Member> Members() const;
  std::optional<Member> GetMember(std::string_view name) const;
  Member LocalMember() const;
  size_t NumNodes() const { return members_.size(); }
  const Tags& tags() const { return options_.tags; }
  SerfState state() const { return state_; }
  bool EncryptionEnabled() const { return options_.memberlist.EncryptionEnabled(); }
  LamportTime member_time() const { return clock_.Time(); }
  LamportTime event_time() const { return event_clock_.Time(); }
  LamportTime query_time() const { return query_clock_.Time(); }
  SerfStats Stats() const;
  const SerfOptions& options() const { return options_; }
  Memberlist& memberlist() { return *memberlist_; }
  const Memberlist& memberlist() const { return *memberlist_; }

  // Our Vivaldi coordinate in this pool; nullopt when coordinates are disabled.
  std::optional<coordinate::Coordinate> GetCoordinate() const;
  // The last coordinate a member reported in an ack, and ours under our own name (the origin
  // until a probe moves it); nullopt when none is known. Dropped when the member is reaped.
  std::optional<coordinate::Coordinate> GetCachedCoordinate(std::string_view name) const;

 private:
  friend class IncomingQuery;
  class MemberlistDelegate;

  struct MemberState {
    Member member;
    LamportTime status_ltime = 0;  // LTime of the last intent applied
    TimePoint leave_time{};        // when it failed or left
  };
  struct Intent {
    serf::MessageType type;
    LamportTime ltime = 0;
    TimePoint wall_time{};
  };
  struct SeenQueries {
    LamportTime ltime = 0;
    std::vector<uint32_t> ids;
  };
  // A member whose join intent we heard of before memberlist reported it.
  struct AwaitedMember {
    TimePoint deadline{};  // pull if it is still unknown then
    int pulls = 0;
  };

  Serf(SerfOptions options, Deps deps);
  Status Start();

  // Memberlist delegate.
  std::string NodeMeta() const;
  void NotifyMsg(std::string_view msg);
  std::vector<std::string> GetBroadcasts(size_t overhead, size_t limit);
  std::string LocalState();
  void MergeRemoteState(std::string_view state, bool join);
  void HandleNodeJoin(const Node& n);
  void HandleNodeLeave(const Node& n);
  void HandleNodeUpdate(const Node& n);
  Status HandleMerge(const std::vector<Node>& nodes);
  void HandleNodeConflict(const Node& existing, const Node& other);
  std::optional<std::string> AckPayload() const;
  void HandlePingComplete(const Node& node, Duration rtt, std::string_view payload);

  // Intents, events and queries (§11.3, §11.6).
  bool UpsertIntent(const std::string& node, serf::MessageType type, LamportTime ltime);
  bool HandleJoinIntent(const serf::Join& msg);
  bool HandleLeaveIntent(const serf::Leave& msg);
  bool HandleUserEvent(const serf::UserEvent& msg);
  bool HandleQuery(const serf::Query& q);
  void HandleQueryResponse(const serf::QueryResponse& r);
  void HandlePrune(const std::string& name);
  void BroadcastJoin(LamportTime ltime);
  // Gossip told of `node`'s join, memberlist does not know it: check again after
  // missing_member_pull_delay and pull a peer's tables if it is still unknown.
  void AwaitMember(const std::string& node);
  void CheckAwaitedMembers();
  void PullFromRandomMember();
  void Broadcast(TransmitLimitedQueue& queue, std::string msg,
                 std::function<void()> finished = nullptr);
  void WaitForBroadcast(TransmitLimitedQueue& queue, std::string msg, Duration timeout,
                        std::string timeout_message, std::function<void(Status)> done);
  bool ShouldProcessQuery(const std::optional<std::vector<std::string>>& filters) const;
  // Sends `inner` (an encoded response) to `to` through relay_factor random alive members.
  Status RelayResponse(uint8_t relay_factor, const Address& to, const std::string& dest_name,
                       const std::string& inner);
  void HandleInternalQuery(const std::shared_ptr<IncomingQuery>& q);
  void KeyQuery(std::string_view query, std::string_view key_b64, uint8_t relay_factor,
                KeyCallback done);
  void ResolveNodeConflict();
  void FinishLeave(std::function<void(Status)> done);

  // Maintenance.
  void Reap();
  void ReapList(std::vector<std::string>& list, Duration timeout, bool failed);
  void Reconnect();
  void CheckQueues();
  size_t QueueMax() const;
  void EraseNode(const std::string& name);
  bool HasAliveMembers() const;
  Member NodeToMember(const Node& n) const;
  Tags DecodeTags(std::string_view meta) const;

  // Posts fn to the loop unless the Serf is gone by then.
  void Post(std::function<void()> fn);
  // A one-shot timer owned by the Serf; returns its id for CancelTimer.
  uint64_t RunAfter(Duration d, std::function<void()> fn);
  void CancelTimer(uint64_t id);
  void EmitMember(MemberEventType type, const Member& m);
  MemberState* Find(std::string_view name);
  const MemberState* Find(std::string_view name) const;
  const std::string& name() const { return options_.memberlist.name; }

  SerfOptions options_;
  Loop* loop_;
  Transport* transport_;
  Random* random_;
  NonceSource* nonces_;
  SerfHandlers handlers_;
  SerfState state_ = SerfState::kAlive;

  LamportClock clock_;
  LamportClock event_clock_;
  LamportClock query_clock_;

  std::map<std::string, MemberState, std::less<>> members_;
  std::vector<std::string> failed_members_;
  std::vector<std::string> left_members_;
  std::map<std::string, Intent, std::less<>> recent_intents_;
  std::map<std::string, AwaitedMember, std::less<>> awaited_members_;
  uint64_t awaited_timer_ = 0;  // RunAfter id, 0 = none

  std::vector<std::optional<serf::UserEvents>> event_buffer_;
  LamportTime event_min_time_ = 0;
  int join_ignore_ = 0;  // Joins with ignore_old in progress
  std::vector<std::optional<SeenQueries>> query_buffer_;
  LamportTime query_min_time_ = 0;
  std::map<LamportTime, std::shared_ptr<QueryResponse>> query_responses_;

  TransmitLimitedQueue intent_queue_;
  TransmitLimitedQueue event_queue_;
  TransmitLimitedQueue query_queue_;

  std::unique_ptr<Timer> reap_timer_;
  std::unique_ptr<Timer> reconnect_timer_;
  std::unique_ptr<Timer> queue_timer_;
  std::map<uint64_t, std::unique_ptr<Timer>> timers_;  // RunAfter
  uint64_t next_timer_id_ = 0;
  SerfStats counters_;
  std::unique_ptr<coordinate::Client> coord_client_;  // null when disabled
  std::map<std::string, coordinate::Coordinate, std::less<>> coord_cache_;

  // Expires with the Serf; posted callbacks check it.
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
  std::unique_ptr<MemberlistDelegate> delegate_;
  // Declared last: destroyed first, while everything it calls into still exists.
  std::unique_ptr<Memberlist> memberlist_;
};

}  // namespace gangway::gossip
