#include "gossip/serf.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/base64.h"
#include "core/log.h"
#include "core/regexp.h"

namespace gangway::gossip {

namespace {

constexpr std::string_view kLog = "serf";
// The smallest a base64 key can encode to inside a list-keys response: bounds how many keys
// one response can hold (serf's minEncodedKeyLength).
constexpr size_t kMinEncodedKeyLength = 25;

constexpr std::string_view kPingQuery = "ping";
constexpr std::string_view kConflictQuery = "conflict";
constexpr std::string_view kInstallKeyQuery = "install-key";
constexpr std::string_view kUseKeyQuery = "use-key";
constexpr std::string_view kRemoveKeyQuery = "remove-key";
constexpr std::string_view kListKeysQuery = "list-keys";

std::string InternalQueryName(std::string_view name) {
  return std::string(kInternalQueryPrefix) + std::string(name);
}

serf::StringMap ToStringMap(const Tags& tags) { return serf::StringMap(tags.begin(), tags.end()); }

// Tags as Meta for a given Serf protocol: below 3 the bare role (§11.4).
Result<std::string> EncodeTagsFor(uint8_t protocol, const Tags& tags) {
  if (protocol < 3) {
    auto it = tags.find("role");
    std::string role = it == tags.end() ? std::string() : it->second;
    if (role.size() > serf::kMetaMaxSize) {
      return Status(Code::kTooLarge, "serf: encoded length of tags exceeds limit of " +
                                         std::to_string(serf::kMetaMaxSize) + " bytes");
    }
    return role;
  }
  return serf::EncodeTags(ToStringMap(tags));
}

// Go compares event payloads with bytes.Equal, for which nil and empty are the same.
bool SameEvent(const serf::EventEntry& a, const serf::EventEntry& b) {
  return a.name == b.name && a.payload.value_or(std::string()) == b.payload.value_or(std::string());
}

// Serf's regexp.MatchString on a tag filter from any peer: RE2, as Go's regexp, so matching is
// linear in the tag's length whatever the pattern. A bad pattern never matches.
bool RegexSearch(const std::string& expr, const std::string& value) {
  auto re = Regexp::Compile(expr);
  if (!re.ok()) {
    LogWarn(kLog, "failed to compile filter regex (" + expr + "): " + re.status().message());
    return false;
  }
  return re->Search(value);
}

}  // namespace

const char* MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kNone:
      return "none";
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kLeaving:
      return "leaving";
    case MemberStatus::kLeft:
      return "left";
    case MemberStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* MemberEventTypeName(MemberEventType t) {
  switch (t) {
    case MemberEventType::kJoin:
      return "member-join";
    case MemberEventType::kLeave:
      return "member-leave";
    case MemberEventType::kFailed:
      return "member-failed";
    case MemberEventType::kUpdate:
      return "member-update";
    case MemberEventType::kReap:
      return "member-reap";
  }
  return "unknown";
}

const char* SerfStateName(SerfState s) {
  switch (s) {
    case SerfState::kAlive:
      return "alive";
    case SerfState::kLeaving:
      return "leaving";
    case SerfState::kLeft:
      return "left";
    case SerfState::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Options

SerfOptions SerfOptions::Lan(std::string name) {
  SerfOptions o;
  o.memberlist = Options::Lan(std::move(name));
  return o;
}

SerfOptions SerfOptions::Wan(std::string name) {
  SerfOptions o;
  o.memberlist = Options::Wan(std::move(name));
  o.missing_member_pull_delay = std::chrono::milliseconds(2500);
  return o;
}

SerfOptions SerfOptions::Local(std::string name) {
  SerfOptions o;
  o.memberlist = Options::Local(std::move(name));
  o.missing_member_pull_delay = std::chrono::milliseconds(500);
  return o;
}

Status SerfOptions::Validate() const {
  if (Status s = memberlist.Validate(); !s.ok()) return s;
  if (protocol_version < kSerfProtocolMin || protocol_version > kSerfProtocolMax) {
    return InvalidArgument("serf: protocol version must be in [" +
                           std::to_string(kSerfProtocolMin) + ", " +
                           std::to_string(kSerfProtocolMax) + "]");
  }
  if (auto meta = EncodeTagsFor(protocol_version, tags); !meta.ok()) return meta.status();
  if (event_buffer == 0 || query_buffer == 0) {
    return InvalidArgument("serf: event and query buffers need at least one slot");
  }
  if (reap_interval <= Duration::zero() || queue_check_interval <= Duration::zero()) {
    return InvalidArgument("serf: reap and queue check intervals must be positive");
  }
  if (reconnect_interval < Duration::zero() || broadcast_timeout <= Duration::zero() ||
      leave_propagate_delay < Duration::zero() || missing_member_pull_delay < Duration::zero()) {
    return InvalidArgument("serf: negative interval or non-positive broadcast timeout");
  }
  if (query_timeout_mult < 1) return InvalidArgument("serf: query_timeout_mult must be >= 1");
  if (user_event_size_limit > kUserEventSaneLimit) {
    return InvalidArgument("serf: user_event_size_limit is above the sane limit of " +
                           std::to_string(kUserEventSaneLimit) + " bytes");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Queries as seen by the owner

Status IncomingQuery::Respond(std::string_view payload) {
  if (life_.expired()) return Unavailable("serf: the query's Serf is gone");
  if (responded_) return InvalidArgument("serf: response already sent");
  if (serf_->loop_->Now() > deadline_) {
    return Unavailable("serf: response is past the deadline");
  }
  serf::QueryResponse r{ltime_, id_, serf_->name(), 0, std::string(payload)};
  std::string raw = serf::EncodeMessage(r);
  if (raw.size() > serf_->options_.query_response_size_limit) {
    return Status(Code::kTooLarge, "serf: response exceeds limit of " +
                                       std::to_string(serf_->options_.query_response_size_limit) +
                                       " bytes");
  }
  if (Status s = serf_->memberlist_->SendToAddress(reply_to_, raw); !s.ok()) return s;
  if (Status s = serf_->RelayResponse(relay_factor_, reply_to_, source_node_, raw); !s.ok()) {
    return s;
  }
  responded_ = true;
  return Status::Ok();
}

void QueryResponse::Close() {
  if (closed_) return;
  closed_ = true;
  if (callbacks_.on_finish == nullptr) return;
  loop_->Post([life = life_, fn = std::move(callbacks_.on_finish)] {
    if (!life.expired()) fn();
  });
}

// ---------------------------------------------------------------------------------------------
// The memberlist delegate: a thin forwarder, so Serf's own interface stays free of it.

class Serf::MemberlistDelegate final : public Delegate {
 public:
  explicit MemberlistDelegate(Serf* serf) : serf_(serf) {}

  std::string NodeMeta(size_t /*limit*/) override { return serf_->NodeMeta(); }
  void NotifyMsg(std::string_view msg) override { serf_->NotifyMsg(msg); }
  std::vector<std::string> GetBroadcasts(size_t overhead, size_t limit) override {
    return serf_->GetBroadcasts(overhead, limit);
  }
  std::string LocalState(bool /*join*/) override { return serf_->LocalState(); }
  void MergeRemoteState(std::string_view state, bool join) override {
    serf_->MergeRemoteState(state, join);
  }
  void NotifyJoin(const Node& node) override { serf_->HandleNodeJoin(node); }
  void NotifyLeave(const Node& node) override { serf_->HandleNodeLeave(node); }
  void NotifyUpdate(const Node& node) override { serf_->HandleNodeUpdate(node); }
  Status NotifyAlive(const Node& node) override {
    if (!serf_->options_.merge) return Status::Ok();
    return serf_->HandleMerge({node});
  }
  Status NotifyMerge(const std::vector<Node>& peers) override {
    if (!serf_->options_.merge) return Status::Ok();
    return serf_->HandleMerge(peers);
  }
  void NotifyConflict(const Node& existing, const Node& other) override {
    serf_->HandleNodeConflict(existing, other);
  }
  std::optional<std::string> AckPayload() override { return serf_->AckPayload(); }
  void NotifyPingComplete(const Node& node, Duration rtt, std::string_view payload) override {
    serf_->HandlePingComplete(node, rtt, payload);
  }

 private:
  Serf* serf_;
};

// ---------------------------------------------------------------------------------------------
// Lifecycle

Serf::Serf(SerfOptions options, Deps deps)
    : options_(std::move(options)),
      loop_(deps.loop),
      transport_(deps.transport),
      random_(deps.random),
      nonces_(deps.nonces),
      handlers_(std::move(deps.handlers)),
      intent_queue_(options_.memberlist.retransmit_mult,
                    [this] { return static_cast<int>(members_.size()); }),
      event_queue_(options_.memberlist.retransmit_mult,
                   [this] { return static_cast<int>(members_.size()); }),
      query_queue_(options_.memberlist.retransmit_mult,
                   [this] { return static_cast<int>(members_.size()); }) {
  // Every clock starts at 1 (§11.2).
  clock_.Increment();
  event_clock_.Increment();
  query_clock_.Increment();
  event_buffer_.resize(options_.event_buffer);
  query_buffer_.resize(options_.query_buffer);
  if (!options_.disable_coordinates) {
    coord_client_ = std::make_unique<coordinate::Client>(options_.coordinate, random_);
    // As Go serf: our own entry exists from the start (the origin until a probe moves it).
    coord_cache_[options_.memberlist.name] = coord_client_->GetCoordinate();
  }
}

Result<std::unique_ptr<Serf>> Serf::Create(SerfOptions options, Deps deps) {
  if (deps.loop == nullptr || deps.transport == nullptr || deps.random == nullptr) {
    return InvalidArgument("serf: loop, transport and random are required");
  }
  if (Status s = options.Validate(); !s.ok()) return s;
  options.memberlist.delegate_protocol_min = kSerfProtocolMin;
  options.memberlist.delegate_protocol_max = kSerfProtocolMax;
  options.memberlist.delegate_protocol_version = options.protocol_version;
  std::unique_ptr<Serf> serf(new Serf(std::move(options), std::move(deps)));
  if (Status s = serf->Start(); !s.ok()) return s;
  return serf;
}

Status Serf::Start() {
  delegate_ = std::make_unique<MemberlistDelegate>(this);
  // Memberlist announces us from inside Create: our own NotifyJoin arrives before it returns.
  auto ml = Memberlist::Create(options_.memberlist,
                               {loop_, transport_, random_, delegate_.get(), nonces_});
  if (!ml.ok()) return ml.status();
  memberlist_ = std::move(ml).value();
  reap_timer_ = loop_->After(options_.reap_interval, [this] { Reap(); });
  if (options_.reconnect_interval > Duration::zero()) {
    reconnect_timer_ = loop_->After(options_.reconnect_interval, [this] { Reconnect(); });
  }
  queue_timer_ = loop_->After(options_.queue_check_interval, [this] { CheckQueues(); });
  return Status::Ok();
}

Serf::~Serf() {
  // Nothing posted from here on may run: the queues' Finished() callbacks below included.
  life_.reset();
  timers_.clear();
  memberlist_.reset();
  // A QueryResponse may outlive us; its deadline timer calls into this Serf.
  for (auto& [ltime, q] : query_responses_) q->timer_.reset();
  // Emptied here, while every member their Finished() callbacks touch still exists.
  intent_queue_.Reset();
  event_queue_.Reset();
  query_queue_.Reset();
}

void Serf::Shutdown() {
  if (state_ == SerfState::kShutdown) return;
  if (state_ != SerfState::kLeft) {
    LogWarn(kLog, "Shutdown without a Leave");
  }
  state_ = SerfState::kShutdown;
  memberlist_->Shutdown();
  reap_timer_.reset();
  reconnect_timer_.reset();
  queue_timer_.reset();
}

void Serf::Post(std::function<void()> fn) {
  loop_->Post([life = std::weak_ptr<int>(life_), fn = std::move(fn)] {
    if (!life.expired()) fn();
  });
}

uint64_t Serf::RunAfter(Duration d, std::function<void()> fn) {
  const uint64_t id = ++next_timer_id_;
  timers_[id] = loop_->After(d, [this, id, fn = std::move(fn)] {
    timers_.erase(id);  // destroys this timer; the loop keeps the callback alive until it returns
    fn();
  });
  return id;
}

void Serf::CancelTimer(uint64_t id) { timers_.erase(id); }

// ---------------------------------------------------------------------------------------------
// Members

Serf::MemberState* Serf::Find(std::string_view name) {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

const Serf::MemberState* Serf::Find(std::string_view name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

std::vector<Member> Serf::Members() const {
  std::vector<Member> out;
  out.reserve(members_.size());
  for (const auto& [name, m] : members_) out.push_back(m.member);
  return out;
}

std::optional<Member> Serf::GetMember(std::string_view name) const {
  const MemberState* m = Find(name);
  if (m == nullptr) return std::nullopt;
  return m->member;
}

Member Serf::LocalMember() const {
  const MemberState* m = Find(name());
  return m != nullptr ? m->member : Member{};
}

bool Serf::HasAliveMembers() const {
  for (const auto& [n, m] : members_) {
    if (n != name() && m.member.status == MemberStatus::kAlive) return true;
  }
  return false;
}

Tags Serf::DecodeTags(std::string_view meta) const {
  auto decoded = serf::DecodeTags(meta);
  if (!decoded.ok()) {
    LogError(kLog, "Failed to decode tags: " + decoded.status().message());
    return {};
  }
  Tags tags;
  // A repeated key keeps its last value, as a Go map decode does.
  for (auto& [k, v] : *decoded) tags[k] = v;
  return tags;
}

Member Serf::NodeToMember(const Node& n) const {
  Member m;
  m.name = n.name;
  m.addr = n.addr;
  m.tags = DecodeTags(n.meta);
  m.status = n.state == NodeState::kLeft ? MemberStatus::kLeft : MemberStatus::kNone;
  m.protocol_min = n.pmin();
  m.protocol_max = n.pmax();
  m.protocol_cur = n.pcur();
  m.delegate_min = n.dmin();
  m.delegate_max = n.dmax();
  m.delegate_cur = n.dcur();
  return m;
}

void Serf::EmitMember(MemberEventType type, const Member& m) {
  LogInfo(kLog, std::string(MemberEventTypeName(type)) + ": " + m.name + " " + m.addr.IpString());
  ++counters_.events_delivered;
  if (!handlers_.on_member) return;
  Post([this, event = MemberEvent{type, {m}}] {
    if (handlers_.on_member) handlers_.on_member(event);
  });
}

void Serf::EraseNode(const std::string& name) {
  auto it = members_.find(name);
  if (it == members_.end()) return;
  const Member m = it->second.member;
  members_.erase(it);
  if (auto c = coord_cache_.find(name); c != coord_cache_.end()) coord_cache_.erase(c);
  if (coord_client_) coord_client_->ForgetNode(name);
  EmitMember(MemberEventType::kReap, m);
}

// ---------------------------------------------------------------------------------------------
// Coordinates (serf's ping delegate, §11.8)

namespace {
coordinate::Coordinate FromWire(const serf::Coordinate& w) {
  return coordinate::Coordinate{w.vec, w.error, w.adjustment, w.height};
}
}  // namespace

std::optional<std::string> Serf::AckPayload() const {
  if (!coord_client_) return std::nullopt;
  const coordinate::Coordinate& c = coord_client_->GetCoordinate();
  return serf::EncodePingPayload(serf::Coordinate{c.vec, c.error, c.adjustment, c.height});
}

void Serf::HandlePingComplete(const Node& node, Duration rtt, std::string_view payload) {
  // A peer without coordinates acks with nothing; that is fine (coordinates are optional).
  if (!coord_client_ || payload.empty()) return;
  auto wire = serf::DecodePingPayload(payload);
  if (!wire.ok()) {
    ++counters_.coordinate_rejected;
    LogDebug(kLog, "Rejected coordinate from " + node.name + ": " + wire.status().message());
    return;
  }
  coordinate::Coordinate peer = FromWire(*wire);
  const double rtt_seconds = std::chrono::duration<double>(rtt).count();
  auto updated = coord_client_->Update(node.name, peer, rtt_seconds);
  if (!updated.ok()) {
    ++counters_.coordinate_rejected;
    LogDebug(kLog, "Rejected coordinate from " + node.name + ": " + updated.status().message());
    return;
  }
  // Only members get cached: a reaped one would otherwise linger.
  if (members_.find(node.name) != members_.end()) coord_cache_[node.name] = std::move(peer);
  coord_cache_[name()] = coord_client_->GetCoordinate();
}

std::optional<coordinate::Coordinate> Serf::GetCoordinate() const {
  if (!coord_client_) return std::nullopt;
  return coord_client_->GetCoordinate();
}

std::optional<coordinate::Coordinate> Serf::GetCachedCoordinate(std::string_view name) const {
  auto it = coord_cache_.find(name);
  if (it == coord_cache_.end()) return std::nullopt;
  return it->second;
}

namespace {
void RemoveName(std::vector<std::string>& list, const std::string& name) {
  auto it = std::find(list.begin(), list.end(), name);
  if (it == list.end()) return;
  std::swap(*it, list.back());
  list.pop_back();
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// memberlist events (§11.3)

void Serf::HandleNodeJoin(const Node& n) {
  MemberState* m = Find(n.name);
  MemberStatus old_status = MemberStatus::kNone;
  if (m == nullptr) {
    MemberState fresh;
    fresh.member = NodeToMember(n);
    fresh.member.status = MemberStatus::kAlive;
    // An intent that arrived before memberlist told us about the node decides its status.
    if (auto it = recent_intents_.find(n.name); it != recent_intents_.end()) {
      if (it->second.type == serf::MessageType::kJoin) {
        fresh.status_ltime = it->second.ltime;
      } else if (it->second.type == serf::MessageType::kLeave) {
        fresh.member.status = MemberStatus::kLeaving;
        fresh.status_ltime = it->second.ltime;
      }
    }
    m = &members_.emplace(n.name, std::move(fresh)).first->second;
  } else {
    old_status = m->member.status;
    if (old_status == MemberStatus::kFailed &&
        loop_->Now() - m->leave_time < options_.flap_timeout) {
      ++counters_.flaps;
    }
    const Member fresh = NodeToMember(n);
    m->member.status = MemberStatus::kAlive;
    m->leave_time = TimePoint{};
    m->member.addr = fresh.addr;
    m->member.tags = fresh.tags;
  }
  m->member.protocol_min = n.pmin();
  m->member.protocol_max = n.pmax();
  m->member.protocol_cur = n.pcur();
  m->member.delegate_min = n.dmin();
  m->member.delegate_max = n.dmax();
  m->member.delegate_cur = n.dcur();
  if (old_status == MemberStatus::kFailed || old_status == MemberStatus::kLeft) {
    RemoveName(failed_members_, n.name);
    RemoveName(left_members_, n.name);
  }
  EmitMember(MemberEventType::kJoin, m->member);
}

void Serf::HandleNodeLeave(const Node& n) {
  MemberState* m = Find(n.name);
  if (m == nullptr) return;
  switch (m->member.status) {
    case MemberStatus::kLeaving:
      // The leave intent came first: a graceful leave.
      m->member.status = MemberStatus::kLeft;
      m->leave_time = loop_->Now();
      left_members_.push_back(n.name);
      break;
    case MemberStatus::kAlive:
      m->member.status = MemberStatus::kFailed;
      m->leave_time = loop_->Now();
      failed_members_.push_back(n.name);
      break;
    default:
      LogWarn(kLog, std::string("Bad state when leave: ") + MemberStatusName(m->member.status));
      return;
  }
  EmitMember(
      m->member.status == MemberStatus::kLeft ? MemberEventType::kLeave : MemberEventType::kFailed,
      m->member);
}

void Serf::HandleNodeUpdate(const Node& n) {
  MemberState* m = Find(n.name);
  if (m == nullptr) return;
  const Member fresh = NodeToMember(n);
  m->member.addr = fresh.addr;
  m->member.tags = fresh.tags;
  m->member.protocol_min = n.pmin();
  m->member.protocol_max = n.pmax();
  m->member.protocol_cur = n.pcur();
  m->member.delegate_min = n.dmin();
  m->member.delegate_max = n.dmax();
  m->member.delegate_cur = n.dcur();
  EmitMember(MemberEventType::kUpdate, m->member);
}

Status Serf::HandleMerge(const std::vector<Node>& nodes) {
  std::vector<Member> members;
  members.reserve(nodes.size());
  for (const Node& n : nodes) {
    if (n.addr.ip.size() != 4 && n.addr.ip.size() != 16) {
      return InvalidArgument("serf: " + n.name + " has an invalid IP address");
    }
    if (n.meta.size() > serf::kMetaMaxSize) {
      return InvalidArgument("serf: encoded length of tags of " + n.name + " exceeds limit of " +
                             std::to_string(serf::kMetaMaxSize) + " bytes");
    }
    members.push_back(NodeToMember(n));
  }
  return options_.merge(members);
}

void Serf::HandleNodeConflict(const Node& existing, const Node& other) {
  if (existing.name != name()) {
    LogWarn(kLog, "Name conflict for '" + existing.name + "' both " + existing.addr.ToString() +
                      " and " + other.addr.ToString() + " are claiming");
    return;
  }
  LogError(kLog, "Node name conflicts with another node at " + other.addr.ToString() +
                     ". Names must be unique! (Resolution enabled: " +
                     (options_.enable_name_conflict_resolution ? "true" : "false") + ")");
  if (options_.enable_name_conflict_resolution) {
    Post([this] { ResolveNodeConflict(); });
  }
}

void Serf::ResolveNodeConflict() {
  if (state_ != SerfState::kAlive) return;
  const Node local = memberlist_->LocalNode();
  struct Tally {
    int responses = 0;
    int matching = 0;
  };
  auto tally = std::make_shared<Tally>();
  QueryCallbacks cb;
  cb.on_response = [tally, local](const NodeResponse& r) {
    const std::string payload = r.payload.value_or(std::string());
    if (payload.empty() || static_cast<uint8_t>(payload[0]) !=
                               static_cast<uint8_t>(serf::MessageType::kConflictResponse)) {
      LogError(kLog, "Invalid conflict query response type from " + r.from);
      return;
    }
    auto decoded = serf::DecodeMessage(payload);
    const auto* c = decoded.ok() ? std::get_if<serf::ConflictResponse>(&*decoded) : nullptr;
    if (c == nullptr) {
      LogError(kLog, "Failed to decode conflict query response from " + r.from);
      return;
    }
    ++tally->responses;
    auto addr = Address::FromIp(c->member.addr, c->member.port);
    if (addr.ok() && *addr == local.addr) ++tally->matching;
  };
  cb.on_finish = [this, tally] {
    const int majority = tally->responses / 2 + 1;
    if (tally->matching >= majority) {
      LogInfo(kLog, "majority in name conflict resolution [" + std::to_string(tally->matching) +
                        " / " + std::to_string(tally->responses) + "]");
      return;
    }
    LogWarn(kLog, "minority in name conflict resolution, quitting [" +
                      std::to_string(tally->matching) + " / " + std::to_string(tally->responses) +
                      "]");
    Shutdown();
    if (handlers_.on_shutdown) {
      handlers_.on_shutdown(
          Status(Code::kConflict, "serf: lost the name conflict vote for " + name()));
    }
  };
  auto q = Query(InternalQueryName(kConflictQuery), name(), QueryParams{}, std::move(cb));
  if (!q.ok()) LogError(kLog, "Failed to start name resolution query: " + q.status().message());
}

// ---------------------------------------------------------------------------------------------
// Messages from memberlist (§11.1)

std::string Serf::NodeMeta() const {
  auto meta = EncodeTagsFor(options_.protocol_version, options_.tags);
  // Create and SetTags refuse tags that do not fit, so this cannot fail.
  return meta.ok() ? std::move(meta).value() : std::string();
}

void Serf::NotifyMsg(std::string_view msg) {
  if (msg.empty()) return;
  const auto type = static_cast<serf::MessageType>(static_cast<uint8_t>(msg[0]));
  switch (type) {
    case serf::MessageType::kLeave:
    case serf::MessageType::kJoin:
    case serf::MessageType::kUserEvent:
    case serf::MessageType::kQuery:
    case serf::MessageType::kQueryResponse:
    case serf::MessageType::kRelay:
      break;
    default:
      LogWarn(kLog, "Received message of unknown type " +
                        std::to_string(static_cast<unsigned>(static_cast<uint8_t>(msg[0]))));
      return;
  }
  auto decoded = serf::DecodeMessage(msg);
  if (!decoded.ok()) {
    LogError(kLog, std::string("Error decoding ") + serf::MessageTypeName(msg[0]) +
                       " message: " + decoded.status().message());
    return;
  }
  TransmitLimitedQueue* rebroadcast = nullptr;
  if (const auto* leave = std::get_if<serf::Leave>(&*decoded)) {
    if (HandleLeaveIntent(*leave)) rebroadcast = &intent_queue_;
  } else if (const auto* join = std::get_if<serf::Join>(&*decoded)) {
    if (HandleJoinIntent(*join)) {
      rebroadcast = &intent_queue_;
      if (Find(join->node) == nullptr) AwaitMember(join->node);
    }
  } else if (const auto* event = std::get_if<serf::UserEvent>(&*decoded)) {
    if (HandleUserEvent(*event)) rebroadcast = &event_queue_;
  } else if (const auto* query = std::get_if<serf::Query>(&*decoded)) {
    if (HandleQuery(*query)) rebroadcast = &query_queue_;
  } else if (const auto* resp = std::get_if<serf::QueryResponse>(&*decoded)) {
    HandleQueryResponse(*resp);
  } else if (const auto* relay = std::get_if<serf::Relay>(&*decoded)) {
    // Forward the wrapped message unchanged to its destination.
    auto to =
        relay->dest_addr.port > 0 && relay->dest_addr.port <= 65535
            ? Address::FromIp(relay->dest_addr.ip, static_cast<uint16_t>(relay->dest_addr.port))
            : Result<Address>(InvalidArgument("bad port"));
    if (!to.ok()) {
      LogError(kLog, "Relay message with a bad destination: " + to.status().message());
      return;
    }
    if (Status s = memberlist_->SendToAddress(*to, relay->inner); !s.ok()) {
      LogError(kLog, "Error forwarding message to " + to->ToString() + ": " + s.message());
    }
  }
  // News to us is news to others: gossip it on unchanged.
  if (rebroadcast != nullptr) Broadcast(*rebroadcast, std::string(msg));
}

std::vector<std::string> Serf::GetBroadcasts(size_t overhead, size_t limit) {
  // Intents first, then queries, then user events (§9.5).
  std::vector<std::string> out = intent_queue_.GetBroadcasts(overhead, limit);
  size_t used = 0;
  for (const std::string& m : out) used += overhead + m.size();
  for (TransmitLimitedQueue* q : {&query_queue_, &event_queue_}) {
    if (used >= limit) break;
    for (std::string& m : q->GetBroadcasts(overhead, limit - used)) {
      used += overhead + m.size();
      out.push_back(std::move(m));
    }
  }
  return out;
}

void Serf::Broadcast(TransmitLimitedQueue& queue, std::string msg, std::function<void()> finished) {
  // Serf's broadcasts are unique: they never replace one another.
  queue.QueueBroadcast(std::make_unique<SimpleBroadcast>(std::move(msg), std::string(),
                                                         /*unique=*/true, std::move(finished)));
}

void Serf::WaitForBroadcast(TransmitLimitedQueue& queue, std::string msg, Duration timeout,
                            std::string timeout_message, std::function<void(Status)> done) {
  struct Wait {
    std::function<void(Status)> done;
    uint64_t timer = 0;
  };
  auto wait = std::make_shared<Wait>();
  wait->done = std::move(done);
  wait->timer = RunAfter(timeout, [wait, timeout_message = std::move(timeout_message)] {
    if (wait->done) std::exchange(wait->done, nullptr)(Unavailable(timeout_message));
  });
  // Finished() runs inside the queue; continue from the loop.
  Broadcast(queue, std::move(msg), [this, wait] {
    Post([this, wait] {
      CancelTimer(wait->timer);
      if (wait->done) std::exchange(wait->done, nullptr)(Status::Ok());
    });
  });
}

std::string Serf::LocalState() {
  serf::PushPull pp;
  pp.ltime = clock_.Time();
  pp.status_ltimes.reserve(members_.size());
  for (const auto& [n, m] : members_) pp.status_ltimes.emplace_back(n, m.status_ltime);
  pp.left_members = left_members_;
  pp.event_ltime = event_clock_.Time();
  // Go sends the whole ring with nil slots; receivers skip those, so only used slots go out.
  for (const auto& slot : event_buffer_) {
    if (slot) pp.events.push_back(slot);
  }
  pp.query_ltime = query_clock_.Time();
  return serf::EncodeMessage(pp);
}

void Serf::MergeRemoteState(std::string_view state, bool join) {
  if (state.empty()) {
    LogError(kLog, "Remote state is zero bytes");
    return;
  }
  if (static_cast<uint8_t>(state[0]) != static_cast<uint8_t>(serf::MessageType::kPushPull)) {
    LogError(kLog, "Remote state has bad type prefix: " +
                       std::to_string(static_cast<unsigned>(static_cast<uint8_t>(state[0]))));
    return;
  }
  auto decoded = serf::DecodeMessage(state);
  const auto* pp = decoded.ok() ? std::get_if<serf::PushPull>(&*decoded) : nullptr;
  if (pp == nullptr) {
    LogError(kLog, "Failed to decode remote state: " + decoded.status().message());
    return;
  }
  // Nothing was sent at the remote's current times yet, hence the − 1.
  if (pp->ltime > 0) clock_.Witness(pp->ltime - 1);
  if (pp->event_ltime > 0) event_clock_.Witness(pp->event_ltime - 1);
  if (pp->query_ltime > 0) query_clock_.Witness(pp->query_ltime - 1);

  std::map<std::string_view, LamportTime> status;
  for (const auto& [n, t] : pp->status_ltimes) status[n] = t;
  // Left members first, as leave intents just after their last status time (the leave must
  // have come after it to put them on the list).
  std::set<std::string_view> left(pp->left_members.begin(), pp->left_members.end());
  for (const std::string& n : pp->left_members) {
    auto it = status.find(n);
    HandleLeaveIntent(serf::Leave{(it == status.end() ? 0 : it->second) + 1, n, false});
  }
  for (const auto& [n, t] : pp->status_ltimes) {
    if (left.count(n) != 0) continue;
    HandleJoinIntent(serf::Join{t, n});
  }

  // A join that ignores old events starts counting at the remote's event time.
  if (join && join_ignore_ > 0 && pp->event_ltime > event_min_time_) {
    event_min_time_ = pp->event_ltime;
  }
  for (const auto& slot : pp->events) {
    if (!slot) continue;
    for (const serf::EventEntry& e : slot->events) {
      HandleUserEvent(serf::UserEvent{slot->ltime, e.name, e.payload, false});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Intents (§11.3)

bool Serf::UpsertIntent(const std::string& node, serf::MessageType type, LamportTime ltime) {
  auto it = recent_intents_.find(node);
  if (it != recent_intents_.end() && ltime <= it->second.ltime) return false;
  recent_intents_[node] = Intent{type, ltime, loop_->Now()};
  return true;
}

bool Serf::HandleJoinIntent(const serf::Join& msg) {
  clock_.Witness(msg.ltime);
  MemberState* m = Find(msg.node);
  // Unknown yet: remember it for when memberlist reports the node; re-gossip only news.
  if (m == nullptr) return UpsertIntent(msg.node, serf::MessageType::kJoin, msg.ltime);
  if (msg.ltime <= m->status_ltime) return false;
  m->status_ltime = msg.ltime;
  // The leave we knew of must have been older.
  if (m->member.status == MemberStatus::kLeaving) m->member.status = MemberStatus::kAlive;
  return true;
}

bool Serf::HandleLeaveIntent(const serf::Leave& msg) {
  const SerfState state = state_;
  clock_.Witness(msg.ltime);
  MemberState* m = Find(msg.node);
  if (m == nullptr) return UpsertIntent(msg.node, serf::MessageType::kLeave, msg.ltime);
  if (msg.ltime <= m->status_ltime) return false;

  // A stale leave about us while we are alive: refute it with a fresh join intent.
  if (msg.node == name() && state == SerfState::kAlive) {
    LogDebug(kLog, "Refuting an older leave intent");
    Post([this] {
      if (state_ == SerfState::kAlive) BroadcastJoin(clock_.Time());
    });
    return false;
  }

  // Recorded even when the status does not change, so a repeated leave is not re-gossiped
  // forever.
  m->status_ltime = msg.ltime;
  switch (m->member.status) {
    case MemberStatus::kAlive:
      m->member.status = MemberStatus::kLeaving;
      if (msg.prune) HandlePrune(msg.node);
      return true;
    case MemberStatus::kFailed: {
      // A force-leave: it joins the left list, so push/pulls clear it from others' failed lists.
      m->member.status = MemberStatus::kLeft;
      RemoveName(failed_members_, msg.node);
      left_members_.push_back(msg.node);
      LogInfo(kLog, "EventMemberLeave (forced): " + msg.node);
      EmitMember(MemberEventType::kLeave, m->member);
      if (msg.prune) HandlePrune(msg.node);
      return true;
    }
    case MemberStatus::kLeaving:
    case MemberStatus::kLeft:
      if (msg.prune) HandlePrune(msg.node);
      return true;
    default:
      return false;
  }
}

void Serf::HandlePrune(const std::string& node) {
  const MemberState* m = Find(node);
  if (m == nullptr) return;
  auto erase = [this, node] {
    const MemberState* m = Find(node);
    if (m == nullptr) return;
    const MemberStatus s = m->member.status;
    if (s != MemberStatus::kLeaving && s != MemberStatus::kLeft) return;
    LogInfo(kLog, "EventMemberReap (forced): " + node);
    RemoveName(left_members_, node);
    EraseNode(node);
  };
  // A member still leaving gets the time its own leave needs before it disappears.
  if (m->member.status == MemberStatus::kLeaving) {
    RunAfter(options_.broadcast_timeout + options_.leave_propagate_delay, erase);
    return;
  }
  erase();
}

void Serf::BroadcastJoin(LamportTime ltime) {
  serf::Join msg{ltime, name()};
  clock_.Witness(ltime);
  HandleJoinIntent(msg);
  Broadcast(intent_queue_, serf::EncodeMessage(msg));
}

void Serf::AwaitMember(const std::string& node) {
  const Duration delay = options_.missing_member_pull_delay;
  if (delay <= Duration::zero() || state_ != SerfState::kAlive) return;
  awaited_members_.try_emplace(node, AwaitedMember{loop_->Now() + delay, 0});
  // Entries only ever get later deadlines than the ones already waiting, so a pending check is
  // early enough.
  if (awaited_timer_ == 0) {
    awaited_timer_ = RunAfter(delay, [this] {
      awaited_timer_ = 0;
      CheckAwaitedMembers();
    });
  }
}

void Serf::CheckAwaitedMembers() {
  if (state_ != SerfState::kAlive) {
    awaited_members_.clear();
    return;
  }
  // Two pulls from different random peers; a member still unknown after them is left to the
  // periodic push/pull (it may have failed before its news reached anyone we ask).
  constexpr int kMaxPulls = 2;
  const TimePoint now = loop_->Now();
  bool pull = false;
  std::optional<TimePoint> next;
  for (auto it = awaited_members_.begin(); it != awaited_members_.end();) {
    AwaitedMember& a = it->second;
    const bool due = a.deadline <= now;
    if (Find(it->first) != nullptr || (due && a.pulls >= kMaxPulls)) {
      it = awaited_members_.erase(it);
      continue;
    }
    if (due) {
      LogInfo(kLog, "no alive message about " + it->first +
                        " arrived after its join intent; pulling a member's state");
      pull = true;
      ++a.pulls;
      a.deadline = now + options_.missing_member_pull_delay;
    }
    next = next ? std::min(*next, a.deadline) : a.deadline;
    ++it;
  }
  // One push/pull brings every member the peer knows, so one serves all the missing ones.
  if (pull) PullFromRandomMember();
  if (next) {
    awaited_timer_ = RunAfter(*next - now, [this] {
      awaited_timer_ = 0;
      CheckAwaitedMembers();
    });
  }
}

void Serf::PullFromRandomMember() {
  std::vector<Node> peers;
  for (Node& n : memberlist_->Members()) {
    if (n.name != name() && n.state == NodeState::kAlive) peers.push_back(std::move(n));
  }
  if (peers.empty()) return;
  const Node& peer = peers[Uniform(*random_, peers.size())];
  ++counters_.missing_member_pulls;
  memberlist_->SyncWith(peer.addr, [peer = peer.name](Status s) {
    if (!s.ok()) LogWarn(kLog, "Push/Pull with " + peer + " failed: " + s.message());
  });
}

void Serf::Join(std::vector<Address> addrs, bool ignore_old,
                std::function<void(int, Status)> done) {
  if (state_ != SerfState::kAlive) {
    Post([done = std::move(done)] {
      done(0, Unavailable("serf: can't Join after Leave or Shutdown"));
    });
    return;
  }
  if (ignore_old) ++join_ignore_;
  memberlist_->Join(std::move(addrs), [this, ignore_old, done = std::move(done)](int n, Status s) {
    if (ignore_old) --join_ignore_;
    if (n > 0 && state_ == SerfState::kAlive) BroadcastJoin(clock_.Time());
    done(n, s);
  });
}

void Serf::Leave(std::function<void(Status)> done) {
  switch (state_) {
    case SerfState::kLeft:
      Post([done = std::move(done)] { done(Status::Ok()); });
      return;
    case SerfState::kLeaving:
      Post([done = std::move(done)] { done(Unavailable("serf: leave already in progress")); });
      return;
    case SerfState::kShutdown:
      Post([done = std::move(done)] { done(Unavailable("serf: leave called after shutdown")); });
      return;
    case SerfState::kAlive:
      break;
  }
  state_ = SerfState::kLeaving;
  const serf::Leave msg{clock_.Time(), name(), false};
  clock_.Increment();
  HandleLeaveIntent(msg);
  // Peers must hear the intent before memberlist's dead message, or they record a failure.
  if (HasAliveMembers()) {
    WaitForBroadcast(intent_queue_, serf::EncodeMessage(msg), options_.broadcast_timeout,
                     "serf: timeout while waiting for graceful leave",
                     [this, done = std::move(done)](Status s) mutable {
                       if (!s.ok()) return done(s);
                       FinishLeave(std::move(done));
                     });
  } else {
    FinishLeave(std::move(done));
  }
}

void Serf::FinishLeave(std::function<void(Status)> done) {
  memberlist_->Leave(options_.broadcast_timeout, [this, done = std::move(done)](Status s) mutable {
    if (!s.ok()) return done(s);
    // Keep answering probes while the leave spreads.
    RunAfter(options_.leave_propagate_delay, [this, done = std::move(done)] {
      if (state_ != SerfState::kShutdown) state_ = SerfState::kLeft;
      done(Status::Ok());
    });
  });
}

void Serf::RemoveFailedNode(const std::string& node, bool prune, std::function<void(Status)> done) {
  const serf::Leave msg{clock_.Time(), node, prune};
  clock_.Increment();
  HandleLeaveIntent(msg);
  if (!HasAliveMembers()) {
    Post([done = std::move(done)] { done(Status::Ok()); });
    return;
  }
  WaitForBroadcast(intent_queue_, serf::EncodeMessage(msg), options_.broadcast_timeout,
                   "serf: timed out broadcasting node removal", std::move(done));
}

Status Serf::SetTags(Tags tags, std::function<void(Status)> done) {
  if (auto meta = EncodeTagsFor(options_.protocol_version, tags); !meta.ok()) {
    return meta.status();
  }
  if (state_ == SerfState::kShutdown) return Unavailable("serf: shut down");
  options_.tags = std::move(tags);
  memberlist_->UpdateNode(
      options_.broadcast_timeout, done ? std::move(done) : [](Status s) {
        if (!s.ok()) LogWarn(kLog, "Tag update: " + s.message());
      });
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// User events (§11.6)

Status Serf::UserEvent(std::string_view name, std::optional<std::string> payload, bool coalesce) {
  const size_t before = name.size() + (payload ? payload->size() : 0);
  if (before > options_.user_event_size_limit) {
    return Status(Code::kTooLarge, "serf: user event exceeds configured limit of " +
                                       std::to_string(options_.user_event_size_limit) +
                                       " bytes before encoding");
  }
  if (before > kUserEventSaneLimit) {
    return Status(Code::kTooLarge, "serf: user event exceeds sane limit of " +
                                       std::to_string(kUserEventSaneLimit) +
                                       " bytes before encoding");
  }
  serf::UserEvent msg{event_clock_.Time(), std::string(name), std::move(payload), coalesce};
  std::string raw = serf::EncodeMessage(msg);
  if (raw.size() > options_.user_event_size_limit) {
    return Status(Code::kTooLarge, "serf: encoded user event exceeds configured limit of " +
                                       std::to_string(options_.user_event_size_limit) +
                                       " bytes after encoding");
  }
  if (raw.size() > kUserEventSaneLimit) {
    return Status(Code::kTooLarge, "serf: encoded user event exceeds sane limit of " +
                                       std::to_string(kUserEventSaneLimit) +
                                       " bytes after encoding");
  }
  event_clock_.Increment();
  HandleUserEvent(msg);
  Broadcast(event_queue_, std::move(raw));
  return Status::Ok();
}

bool Serf::HandleUserEvent(const serf::UserEvent& msg) {
  event_clock_.Witness(msg.ltime);
  if (msg.ltime < event_min_time_) return false;
  const LamportTime now = event_clock_.Time();
  const LamportTime slots = event_buffer_.size();
  if (now > slots && msg.ltime < now - slots) {
    LogWarn(kLog, "received old event " + msg.name + " from time " + std::to_string(msg.ltime) +
                      " (current: " + std::to_string(now) + ")");
    return false;
  }
  auto& seen = event_buffer_[msg.ltime % slots];
  const serf::EventEntry entry{msg.name, msg.payload};
  if (seen && seen->ltime == msg.ltime) {
    for (const serf::EventEntry& prev : seen->events) {
      if (SameEvent(prev, entry)) return false;
    }
  } else {
    seen = serf::UserEvents{msg.ltime, {}};
  }
  seen->events.push_back(entry);
  ++counters_.events_delivered;
  if (handlers_.on_user_event) {
    Post([this, ev = gossip::UserEvent{msg.ltime, msg.name, msg.payload, msg.cc}] {
      if (handlers_.on_user_event) handlers_.on_user_event(ev);
    });
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Queries (§11.6)

Duration Serf::DefaultQueryTimeout() const {
  const int n = memberlist_->NumMembers();
  const auto scale = static_cast<int64_t>(std::ceil(std::log10(static_cast<double>(n) + 1)));
  return options_.memberlist.gossip_interval * options_.query_timeout_mult * scale;
}

Result<std::shared_ptr<QueryResponse>> Serf::Query(std::string_view name,
                                                   std::optional<std::string> payload,
                                                   QueryParams params, QueryCallbacks callbacks) {
  if (options_.protocol_version < 4) {
    return InvalidArgument("serf: queries need protocol version 4 or higher");
  }
  if (state_ == SerfState::kShutdown) return Unavailable("serf: shut down");
  if (params.timeout <= Duration::zero()) params.timeout = DefaultQueryTimeout();

  std::optional<std::vector<std::string>> filters;
  if (!params.filter_nodes.empty() || !params.filter_tags.empty()) {
    filters.emplace();
    if (!params.filter_nodes.empty()) {
      filters->push_back(serf::EncodeFilter(serf::NodeFilter{params.filter_nodes}));
    }
    for (const auto& [tag, expr] : params.filter_tags) {
      filters->push_back(serf::EncodeFilter(serf::TagFilter{tag, expr}));
    }
  }
  const Node local = memberlist_->LocalNode();
  serf::Query q;
  q.ltime = query_clock_.Time();
  q.id = static_cast<uint32_t>(Uniform(*random_, 1u << 31));  // Go: uint32(rand.Int31())
  q.addr = local.addr.ip;
  q.port = local.addr.port;
  q.source_node = local.name;
  q.filters = std::move(filters);
  q.flags = params.request_ack ? serf::kQueryFlagAck : 0;
  q.relay_factor = params.relay_factor;
  q.timeout_ns = params.timeout.count();
  q.name = std::string(name);
  q.payload = std::move(payload);
  std::string raw = serf::EncodeMessage(q);
  if (raw.size() > options_.query_size_limit) {
    return Status(Code::kTooLarge, "serf: query exceeds limit of " +
                                       std::to_string(options_.query_size_limit) + " bytes");
  }

  auto resp = std::make_shared<QueryResponse>();
  resp->loop_ = loop_;
  resp->life_ = life_;
  resp->ltime_ = q.ltime;
  resp->id_ = q.id;
  resp->deadline_ = loop_->Now() + params.timeout;
  resp->callbacks_ = std::move(callbacks);
  // Our query clock moves past q.ltime below, so no other query of ours shares the key.
  query_responses_[q.ltime] = resp;
  const LamportTime ltime = q.ltime;
  // The response may outlive us (its owner keeps it), and so may this timer.
  resp->timer_ = loop_->After(params.timeout, [this, ltime, life = resp->life_] {
    if (life.expired()) return;
    auto it = query_responses_.find(ltime);
    if (it == query_responses_.end()) return;
    std::shared_ptr<QueryResponse> r = std::move(it->second);
    query_responses_.erase(it);
    r->Close();
  });

  // We are a recipient too: filters, ack and answer apply to us like to anyone.
  HandleQuery(q);
  Broadcast(query_queue_, std::move(raw));
  return resp;
}

bool Serf::ShouldProcessQuery(const std::optional<std::vector<std::string>>& filters) const {
  if (!filters) return true;
  for (const std::string& raw : *filters) {
    auto f = serf::DecodeFilter(raw);
    if (!f.ok()) {
      LogWarn(kLog, "Failed to decode query filter: " + f.status().message());
      return false;
    }
    if (const auto* nodes = std::get_if<serf::NodeFilter>(&*f)) {
      if (std::find(nodes->nodes.begin(), nodes->nodes.end(), name()) == nodes->nodes.end()) {
        return false;
      }
    } else if (const auto* tag = std::get_if<serf::TagFilter>(&*f)) {
      auto it = options_.tags.find(tag->tag);
      const std::string value = it == options_.tags.end() ? std::string() : it->second;
      if (!RegexSearch(tag->expr, value)) return false;
    }
  }
  return true;
}

bool Serf::HandleQuery(const serf::Query& q) {
  query_clock_.Witness(q.ltime);
  if (q.ltime < query_min_time_) return false;
  const LamportTime now = query_clock_.Time();
  const LamportTime slots = query_buffer_.size();
  if (now > slots && q.ltime < now - slots) {
    LogWarn(kLog, "received old query " + q.name + " from time " + std::to_string(q.ltime) +
                      " (current: " + std::to_string(now) + ")");
    return false;
  }
  auto& seen = query_buffer_[q.ltime % slots];
  if (seen && seen->ltime == q.ltime) {
    if (std::find(seen->ids.begin(), seen->ids.end(), q.id) != seen->ids.end()) return false;
  } else {
    seen = SeenQueries{q.ltime, {}};
  }
  seen->ids.push_back(q.id);
  ++counters_.queries_seen;

  const bool rebroadcast = (q.flags & serf::kQueryFlagNoBroadcast) == 0;
  // Filtered out: still gossip it on, this is the first time we see it.
  if (!ShouldProcessQuery(q.filters)) return rebroadcast;

  auto reply_to = Address::FromIp(q.addr, q.port);
  if (!reply_to.ok()) {
    LogWarn(kLog, "Query " + q.name + " from " + q.source_node + " has a bad address");
    return rebroadcast;
  }
  if ((q.flags & serf::kQueryFlagAck) != 0) {
    const std::string ack = serf::EncodeMessage(
        serf::QueryResponse{q.ltime, q.id, name(), serf::kResponseFlagAck, std::nullopt});
    if (Status s = memberlist_->SendToAddress(*reply_to, ack); !s.ok()) {
      LogError(kLog, "Failed to send ack: " + s.message());
    }
    if (Status s = RelayResponse(q.relay_factor, *reply_to, q.source_node, ack); !s.ok()) {
      LogError(kLog, "Failed to relay ack: " + s.message());
    }
  }

  auto in = std::make_shared<IncomingQuery>();
  in->serf_ = this;
  in->life_ = life_;
  in->ltime_ = q.ltime;
  in->id_ = q.id;
  in->name_ = q.name;
  in->payload_ = q.payload;
  in->source_node_ = q.source_node;
  in->reply_to_ = *reply_to;
  in->relay_factor_ = q.relay_factor;
  in->deadline_ = loop_->Now() + Duration(q.timeout_ns);
  if (q.name.starts_with(kInternalQueryPrefix)) {
    Post([this, in] { HandleInternalQuery(in); });
  } else if (handlers_.on_query) {
    Post([this, in] {
      if (handlers_.on_query) handlers_.on_query(in);
    });
  }
  return rebroadcast;
}

Status Serf::RelayResponse(uint8_t relay_factor, const Address& to, const std::string& dest_name,
                           const std::string& inner) {
  if (relay_factor == 0) return Status::Ok();
  // Only worth it with at least relay_factor other members.
  if (members_.size() < static_cast<size_t>(relay_factor) + 1) return Status::Ok();
  const std::string raw =
      serf::EncodeMessage(serf::Relay{serf::UdpAddr{to.ip, to.port, ""}, dest_name, inner});
  if (raw.size() > options_.query_response_size_limit) {
    return Status(Code::kTooLarge, "serf: relayed response exceeds limit of " +
                                       std::to_string(options_.query_response_size_limit) +
                                       " bytes");
  }
  std::vector<const Member*> eligible;
  for (const auto& [n, m] : members_) {
    // Relays need protocol 5 peers.
    if (n == name() || m.member.status != MemberStatus::kAlive || m.member.protocol_max < 5) {
      continue;
    }
    eligible.push_back(&m.member);
  }
  const size_t take = std::min<size_t>(relay_factor, eligible.size());
  for (size_t i = 0; i < take; ++i) {
    std::swap(eligible[i], eligible[i + Uniform(*random_, eligible.size() - i)]);
    if (Status s = memberlist_->SendToAddress(eligible[i]->addr, raw); !s.ok()) {
      return Unavailable("serf: failed to send relay response: " + s.message());
    }
  }
  return Status::Ok();
}

void Serf::HandleQueryResponse(const serf::QueryResponse& r) {
  auto it = query_responses_.find(r.ltime);
  if (it == query_responses_.end()) {
    LogWarn(kLog, "reply for non-running query (LTime: " + std::to_string(r.ltime) +
                      ", ID: " + std::to_string(r.id) + ") From: " + r.from);
    return;
  }
  QueryResponse& q = *it->second;
  if (q.id_ != r.id) {
    LogWarn(kLog, "query reply ID mismatch (Local: " + std::to_string(q.id_) +
                      ", Response: " + std::to_string(r.id) + ")");
    return;
  }
  if (q.closed_) return;
  // Relays make duplicates normal: only the first ack/response per node counts.
  if ((r.flags & serf::kResponseFlagAck) != 0) {
    if (!q.acks_.insert(r.from).second) return;
    if (q.callbacks_.on_ack) {
      Post([cb = q.callbacks_.on_ack, from = r.from] { cb(from); });
    }
  } else {
    if (!q.responses_.emplace(r.from, r.payload).second) return;
    if (q.callbacks_.on_response) {
      Post([cb = q.callbacks_.on_response, resp = NodeResponse{r.from, r.payload}] { cb(resp); });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Internal queries and the key manager

void Serf::HandleInternalQuery(const std::shared_ptr<IncomingQuery>& q) {
  const std::string_view op = std::string_view(q->name()).substr(kInternalQueryPrefix.size());
  auto respond = [&](const std::string& payload) {
    if (Status s = q->Respond(payload); !s.ok()) {
      LogError(kLog, "Failed to respond to " + q->name() + ": " + s.message());
    }
  };
  if (op == kPingQuery) return;  // the ack is the answer
  if (op == kConflictQuery) {
    const std::string node = q->payload().value_or(std::string());
    // Not for us to judge a conflict about ourselves.
    if (node == name()) return;
    LogDebug(kLog, "Got conflict resolution query for '" + node + "'");
    const MemberState* m = Find(node);
    if (m == nullptr) {
      // Go encodes the nil *Member.
      respond(std::string{static_cast<char>(serf::MessageType::kConflictResponse),
                          static_cast<char>(0xc0)});
      return;
    }
    serf::Member out;
    out.name = m->member.name;
    out.addr = m->member.addr.ip;
    out.port = m->member.addr.port;
    out.tags = ToStringMap(m->member.tags);
    out.status = static_cast<int64_t>(m->member.status);
    out.protocol_min = m->member.protocol_min;
    out.protocol_max = m->member.protocol_max;
    out.protocol_cur = m->member.protocol_cur;
    out.delegate_min = m->member.delegate_min;
    out.delegate_max = m->member.delegate_max;
    out.delegate_cur = m->member.delegate_cur;
    respond(serf::EncodeMessage(serf::ConflictResponse{std::move(out)}));
    return;
  }

  Keyring* keyring = options_.memberlist.keyring;
  serf::KeyResponse resp;
  if (op == kListKeysQuery) {
    if (!EncryptionEnabled()) {
      resp.message = "Keyring is empty (encryption not enabled)";
    } else {
      LogInfo(kLog, "Received list-keys query");
      resp.keys.emplace();
      for (const std::string& k : keyring->keys()) resp.keys->push_back(Base64Encode(k));
      resp.primary_key = Base64Encode(keyring->primary());
      resp.result = true;
    }
    // Drop keys until the answer fits one response.
    const size_t actual = resp.keys ? resp.keys->size() : 0;
    for (size_t i = options_.query_response_size_limit / kMinEncodedKeyLength;; --i) {
      const std::string payload = serf::EncodeMessage(resp);
      const size_t size =
          serf::EncodeMessage(serf::QueryResponse{q->ltime(), 0, name(), 0, payload}).size();
      if (size <= options_.query_response_size_limit) {
        if (i < actual) LogWarn(kLog, resp.message);
        respond(payload);
        return;
      }
      if (i == 0 || !resp.keys) break;
      resp.keys->resize(std::min(resp.keys->size(), i - 1));
      resp.message = "truncated key list response, showing first " +
                     std::to_string(resp.keys->size()) + " of " + std::to_string(actual) + " keys";
    }
    LogError(kLog, "Failed to truncate response so that it fits into message");
    return;
  }

  Status (Keyring::*change)(std::string_view) = nullptr;
  if (op == kInstallKeyQuery) {
    change = &Keyring::AddKey;
  } else if (op == kUseKeyQuery) {
    change = &Keyring::UseKey;
  } else if (op == kRemoveKeyQuery) {
    change = &Keyring::RemoveKey;
  } else {
    LogWarn(kLog, "Unhandled internal query '" + std::string(op) + "'");
    return;
  }
  auto decoded = serf::DecodeMessage(q->payload().value_or(std::string()));
  const auto* req = decoded.ok() ? std::get_if<serf::KeyRequest>(&*decoded) : nullptr;
  if (req == nullptr) {
    resp.message = "Failed to decode key request";
  } else if (!EncryptionEnabled()) {
    resp.message = "No keyring to modify (encryption not enabled)";
  } else {
    LogInfo(kLog, "Received " + std::string(op) + " query");
    if (Status s = (keyring->*change)(req->key.value_or(std::string())); !s.ok()) {
      resp.message = s.message();
    } else {
      resp.result = true;
      if (handlers_.on_keyring_change) {
        Post([this] {
          if (handlers_.on_keyring_change && options_.memberlist.keyring != nullptr) {
            handlers_.on_keyring_change(*options_.memberlist.keyring);
          }
        });
      }
    }
  }
  respond(serf::EncodeMessage(resp));
}

void Serf::InstallKey(std::string_view key, KeyCallback done, uint8_t relay_factor) {
  KeyQuery(kInstallKeyQuery, key, relay_factor, std::move(done));
}

void Serf::UseKey(std::string_view key, KeyCallback done, uint8_t relay_factor) {
  KeyQuery(kUseKeyQuery, key, relay_factor, std::move(done));
}

void Serf::RemoveKey(std::string_view key, KeyCallback done, uint8_t relay_factor) {
  KeyQuery(kRemoveKeyQuery, key, relay_factor, std::move(done));
}

void Serf::ListKeys(KeyCallback done, uint8_t relay_factor) {
  KeyQuery(kListKeysQuery, "", relay_factor, std::move(done));
}

void Serf::KeyQuery(std::string_view query, std::string_view key_b64, uint8_t relay_factor,
                    KeyCallback done) {
  struct State {
    KeyResponse resp;
    KeyCallback done;
    std::weak_ptr<QueryResponse> query;
    void Finish() {
      if (!done) return;
      if (auto q = query.lock()) q->Close();
      Status s;
      if (resp.num_err != 0) {
        s = Status(Code::kInternal, std::to_string(resp.num_err) + "/" +
                                        std::to_string(resp.num_nodes) + " nodes reported failure");
      } else if (resp.num_resp != resp.num_nodes) {
        s = Status(Code::kUnavailable, std::to_string(resp.num_resp) + "/" +
                                           std::to_string(resp.num_nodes) +
                                           " nodes reported success");
      }
      std::exchange(done, nullptr)(s, resp);
    }
  };
  auto state = std::make_shared<State>();
  state->done = std::move(done);
  state->resp.num_nodes = static_cast<int>(NumNodes());
  auto fail = [this, state](Status s) {
    Post([state, s] { std::exchange(state->done, nullptr)(s, state->resp); });
  };

  auto raw_key = Base64Decode(key_b64);
  if (!raw_key.ok()) return fail(InvalidArgument("serf: bad key: " + raw_key.status().message()));
  QueryParams params;
  params.relay_factor = relay_factor;
  QueryCallbacks cb;
  cb.on_response = [state](const NodeResponse& r) {
    KeyResponse& resp = state->resp;
    ++resp.num_resp;
    const std::string payload = r.payload.value_or(std::string());
    auto decoded = serf::DecodeMessage(payload);
    const auto* kr = decoded.ok() ? std::get_if<serf::KeyResponse>(&*decoded) : nullptr;
    if (payload.empty() ||
        static_cast<uint8_t>(payload[0]) != static_cast<uint8_t>(serf::MessageType::kKeyResponse)) {
      resp.messages[r.from] = "Invalid key query response type";
      ++resp.num_err;
    } else if (kr == nullptr) {
      resp.messages[r.from] = "Failed to decode key query response";
      ++resp.num_err;
    } else {
      if (!kr->result) {
        resp.messages[r.from] = kr->message;
        ++resp.num_err;
      } else if (!kr->message.empty()) {
        resp.messages[r.from] = kr->message;
        LogWarn(kLog, kr->message);
      }
      if (kr->keys) {
        for (const std::string& k : *kr->keys) ++resp.keys[k];
      }
      if (!kr->primary_key.empty()) ++resp.primary_keys[kr->primary_key];
    }
    // Everyone answered: no need to wait for the deadline.
    if (resp.num_resp == resp.num_nodes) state->Finish();
  };
  cb.on_finish = [state] { state->Finish(); };
  auto q = Query(InternalQueryName(query),
                 serf::EncodeMessage(serf::KeyRequest{std::move(raw_key).value()}), params,
                 std::move(cb));
  if (!q.ok()) return fail(q.status());
  state->query = *q;
}

// ---------------------------------------------------------------------------------------------
// Maintenance (§11.5)

void Serf::Reap() {
  reap_timer_ = loop_->After(options_.reap_interval, [this] { Reap(); });
  ReapList(failed_members_, options_.reconnect_timeout, /*failed=*/true);
  ReapList(left_members_, options_.tombstone_timeout, /*failed=*/false);
  const TimePoint now = loop_->Now();
  std::erase_if(recent_intents_, [&](const auto& kv) {
    return now - kv.second.wall_time > options_.recent_intent_timeout;
  });
}

void Serf::ReapList(std::vector<std::string>& list, Duration timeout, bool failed) {
  const TimePoint now = loop_->Now();
  for (size_t i = 0; i < list.size();) {
    const MemberState* m = Find(list[i]);
    Duration limit = timeout;
    if (failed && m != nullptr && options_.reconnect_timeout_override) {
      limit = options_.reconnect_timeout_override(m->member, timeout);
    }
    if (m != nullptr && now - m->leave_time <= limit) {
      ++i;
      continue;
    }
    const std::string name = list[i];
    std::swap(list[i], list.back());
    list.pop_back();
    EraseNode(name);
  }
}

void Serf::Reconnect() {
  reconnect_timer_ = loop_->After(options_.reconnect_interval, [this] { Reconnect(); });
  if (state_ != SerfState::kAlive || failed_members_.empty()) return;
  // Expected one attempt per failed member per interval across the whole cluster.
  const double failed = static_cast<double>(failed_members_.size());
  double alive =
      static_cast<double>(members_.size() - failed_members_.size() - left_members_.size());
  if (alive <= 0) alive = 1;
  if (UniformDouble(*random_) > failed / alive) {
    LogDebug(kLog, "forgoing reconnect for random throttling");
    return;
  }
  const std::string& pick = failed_members_[Uniform(*random_, failed_members_.size())];
  const MemberState* m = Find(pick);
  if (m == nullptr) return;
  LogInfo(kLog, "attempting reconnect to " + m->member.name + " " + m->member.addr.ToString());
  ++counters_.reconnect_attempts;
  memberlist_->Join({m->member.addr}, [this](int joined, Status) {
    if (joined > 0) ++counters_.reconnects;
  });
}

size_t Serf::QueueMax() const {
  if (options_.min_queue_depth == 0) return options_.max_queue_depth;
  return std::max(options_.min_queue_depth, 2 * members_.size());
}

void Serf::CheckQueues() {
  queue_timer_ = loop_->After(options_.queue_check_interval, [this] { CheckQueues(); });
  const std::pair<const char*, TransmitLimitedQueue*> queues[] = {
      {"Intent", &intent_queue_}, {"Event", &event_queue_}, {"Query", &query_queue_}};
  for (const auto& [label, queue] : queues) {
    const size_t n = queue->NumQueued();
    if (n >= options_.queue_depth_warning) {
      LogWarn(kLog, std::string(label) + " queue depth: " + std::to_string(n));
    }
    if (const size_t max = QueueMax(); n > max) {
      LogWarn(kLog, std::string(label) + " queue depth (" + std::to_string(n) +
                        ") exceeds limit (" + std::to_string(max) + "), dropping messages!");
      queue->Prune(max);
    }
  }
}

SerfStats Serf::Stats() const {
  SerfStats s = counters_;
  if (coord_client_) s.coordinate_resets = coord_client_->resets();
  s.members = members_.size();
  s.failed = failed_members_.size();
  s.left = left_members_.size();
  s.health_score = static_cast<size_t>(memberlist_->GetHealthScore());
  s.member_time = clock_.Time();
  s.event_time = event_clock_.Time();
  s.query_time = query_clock_.Time();
  s.intent_queue = intent_queue_.NumQueued();
  s.event_queue = event_queue_.NumQueued();
  s.query_queue = query_queue_.NumQueued();
  s.encrypted = EncryptionEnabled();
  return s;
}

}  // namespace gangway::gossip
