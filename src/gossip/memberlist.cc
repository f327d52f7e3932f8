#include "gossip/memberlist.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/log.h"

namespace gangway::gossip {

namespace {

constexpr std::string_view kLog = "memberlist";
// Bytes memberlist budgets for compound framing (§5.1) and the user message prefix.
constexpr size_t kCompoundHeaderOverhead = 2;
constexpr size_t kCompoundOverhead = 2;
constexpr size_t kUserMsgOverhead = 1;
constexpr size_t kMaxCompoundParts = 255;
constexpr const char* kEof = "EOF";

// An already-encoded message travels inside compounds as its raw bytes: the wire layer writes an
// Unparsed body back out verbatim.
Message Raw(std::string bytes) { return Unparsed{std::move(bytes), "pre-encoded"}; }

std::string VsnString(const std::array<uint8_t, 6>& v) { return std::string(v.begin(), v.end()); }

std::array<uint8_t, 6> VsnArray(std::string_view s) {
  std::array<uint8_t, 6> v{};
  for (size_t i = 0; i < v.size() && i < s.size(); ++i) v[i] = static_cast<uint8_t>(s[i]);
  return v;
}

}  // namespace

const char* NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kAlive:
      return "alive";
    case NodeState::kSuspect:
      return "suspect";
    case NodeState::kDead:
      return "dead";
    case NodeState::kLeft:
      return "left";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Options

Options Options::Lan(std::string name) {
  Options o;
  o.name = std::move(name);
  return o;
}

Options Options::Wan(std::string name) {
  Options o = Lan(std::move(name));
  o.tcp_timeout = std::chrono::seconds(30);
  o.suspicion_mult = 6;
  o.push_pull_interval = std::chrono::seconds(60);
  o.probe_timeout = std::chrono::seconds(3);
  o.probe_interval = std::chrono::seconds(5);
  o.gossip_nodes = 4;
  o.gossip_interval = std::chrono::milliseconds(500);
  o.gossip_to_the_dead_time = std::chrono::seconds(60);
  return o;
}

Options Options::Local(std::string name) {
  Options o = Lan(std::move(name));
  o.tcp_timeout = std::chrono::seconds(1);
  o.indirect_checks = 1;
  o.retransmit_mult = 2;
  o.suspicion_mult = 3;
  o.push_pull_interval = std::chrono::seconds(15);
  o.probe_timeout = std::chrono::milliseconds(200);
  o.gossip_interval = std::chrono::milliseconds(100);
  o.gossip_to_the_dead_time = std::chrono::seconds(15);
  return o;
}

Status Options::Validate() const {
  if (name.empty()) return InvalidArgument("memberlist: a node name is required");
  if (probe_interval < Duration::zero() || gossip_interval < Duration::zero() ||
      push_pull_interval < Duration::zero()) {
    return InvalidArgument("memberlist: intervals cannot be negative");
  }
  if (probe_interval > Duration::zero() && probe_timeout <= Duration::zero()) {
    return InvalidArgument("memberlist: probe_timeout must be positive");
  }
  if (tcp_timeout <= Duration::zero()) {
    return InvalidArgument("memberlist: tcp_timeout must be positive");
  }
  if (suspicion_mult < 1 || suspicion_max_timeout_mult < 1) {
    return InvalidArgument("memberlist: suspicion multipliers must be at least 1");
  }
  if (awareness_max_multiplier < 1) {
    return InvalidArgument("memberlist: awareness_max_multiplier must be at least 1");
  }
  if (indirect_checks < 0 || retransmit_mult < 0 || gossip_nodes < 0) {
    return InvalidArgument("memberlist: counts cannot be negative");
  }
  if (udp_buffer_size < 64) return InvalidArgument("memberlist: udp_buffer_size is too small");
  if (label.size() > 255) return InvalidArgument("memberlist: label is longer than 255 bytes");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Suspicion math (§9.3) and awareness (§9.2)

Duration SuspicionTimeout(int suspicion_mult, int n, Duration interval) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  // Go: Duration(mult) * Duration(nodeScale*1000) * interval / 1000, i.e. the scale floored to
  // a thousandth before it multiplies.
  const auto scale_milli = static_cast<int64_t>(node_scale * 1000);
  return suspicion_mult * scale_milli * interval / 1000;
}

Duration RemainingSuspicionTime(int confirmations, int k, Duration elapsed, Duration min,
                                Duration max) {
  const double frac = std::log(confirmations + 1.0) / std::log(k + 1.0);
  const double max_s = std::chrono::duration<double>(max).count();
  const double min_s = std::chrono::duration<double>(min).count();
  const double raw = max_s - frac * (max_s - min_s);
  Duration timeout = std::chrono::milliseconds(static_cast<int64_t>(std::floor(1000.0 * raw)));
  if (timeout < min) timeout = min;
  return timeout - elapsed;
}

Duration PushPullScale(Duration interval, int n) {
  if (n <= kPushPullScaleThreshold) return interval;
  const double multiplier =
      std::ceil(std::log2(static_cast<double>(n)) - std::log2(kPushPullScaleThreshold)) + 1.0;
  return interval * static_cast<int64_t>(multiplier);
}

Suspicion::Suspicion(Loop* loop, std::string_view from, int k, Duration min, Duration max,
                     std::function<void(int)> on_timeout)
    : loop_(loop), k_(k), min_(min), max_(max), on_timeout_(std::move(on_timeout)) {
  // The accuser is not a confirmation of its own accusation.
  seen_.emplace_back(from);
  start_ = loop_->Now();
  Arm(k_ < 1 ? min_ : max_);
}

void Suspicion::Arm(Duration d) {
  deadline_ = loop_->Now() + std::max(d, Duration::zero());
  timer_ = loop_->After(std::max(d, Duration::zero()), [this] {
    // Copy first: the callback usually destroys this Suspicion.
    auto fn = on_timeout_;
    fn(n_);
  });
}

bool Suspicion::Confirm(std::string_view from) {
  if (n_ >= k_) return false;
  if (std::find(seen_.begin(), seen_.end(), from) != seen_.end()) return false;
  seen_.emplace_back(from);
  ++n_;
  const Duration remaining = RemainingSuspicionTime(n_, k_, loop_->Now() - start_, min_, max_);
  Arm(remaining);
  return true;
}

void Awareness::ApplyDelta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }

// ---------------------------------------------------------------------------------------------
// Internal types

struct Memberlist::NodeEntry {
  Node node;
  std::unique_ptr<Suspicion> suspicion;
};

struct Memberlist::AckHandler {
  std::function<void(std::string_view, TimePoint)> on_ack;
  std::function<void()> on_nack;
  std::function<void()> on_timeout;
  std::unique_ptr<Timer> timer;
};

// One probe round (§9.1). At most one is in flight.
struct Memberlist::Probe {
  enum class Tcp { kNone, kPending, kOk, kFailed };
  uint32_t seq = 0;
  Node target;  // as it was when the probe started
  TimePoint sent;
  Duration interval{};  // scaled by awareness: the handler timeout and the TCP deadline
  bool indirect = false;
  bool handler_timed_out = false;
  int expected_nacks = 0;
  int nacks = 0;
  Tcp tcp = Tcp::kNone;
  std::unique_ptr<Timer> direct_timer;
};

struct Memberlist::StreamOp {
  std::unique_ptr<Stream> stream;
  std::string received;
  std::unique_ptr<Timer> deadline;
  FrameCallback done;
};

struct Memberlist::Waiter {
  std::function<void(Status)> done;
  std::unique_ptr<Timer> timer;
};

// memberlist's own broadcasts are named by the node they are about, so a newer alive, suspect
// or dead about X replaces the queued one. An alive about X is never news to X (X made it), so
// packets to X skip it: in a 3-node cluster on the Local profile, each holder sends it only
// twice, and a transmission to X left the third node to wait for push/pull about one join in a
// hundred (serf_test ThreeNodesJoiningTogetherConvergeByGossip). A suspect or dead about X does
// go to X, so that it can refute.
class Memberlist::MessageBroadcast final : public Broadcast {
 public:
  MessageBroadcast(std::string node, std::string msg, bool alive, std::function<void()> notify)
      : node_(std::move(node)), msg_(std::move(msg)), alive_(alive), notify_(std::move(notify)) {}
  std::string_view Message() const override { return msg_; }
  std::string_view Name() const override { return node_; }
  std::string_view KnownTo() const override { return alive_ ? std::string_view(node_) : ""; }
  void Finished() override {
    if (notify_) std::exchange(notify_, nullptr)();
  }

 private:
  std::string node_;
  std::string msg_;
  bool alive_;
  std::function<void()> notify_;
};

// ---------------------------------------------------------------------------------------------
// Lifecycle

Memberlist::Memberlist(Options options, Deps deps)
    : options_(std::move(options)),
      loop_(deps.loop),
      transport_(deps.transport),
      random_(deps.random),
      delegate_(deps.delegate),
      nonces_(deps.nonces),
      awareness_(options_.awareness_max_multiplier),
      broadcasts_(options_.retransmit_mult, [this] { return EstNumNodes(); }) {
  if (nonces_ == nullptr) {
    owned_nonces_ = std::make_unique<RandomNonceSource>();
    nonces_ = owned_nonces_.get();
  }
}

Result<std::unique_ptr<Memberlist>> Memberlist::Create(Options options, Deps deps) {
  if (deps.loop == nullptr || deps.transport == nullptr || deps.random == nullptr) {
    return InvalidArgument("memberlist: loop, transport and random are required");
  }
  if (Status s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<Memberlist> m(new Memberlist(std::move(options), deps));
  if (Status s = m->Start(); !s.ok()) return s;
  return m;
}

Status Memberlist::Start() {
  advertise_ = options_.advertise.empty() ? transport_->LocalAddress() : options_.advertise;
  if (advertise_.ip.size() != 4 && advertise_.ip.size() != 16) {
    return InvalidArgument("memberlist: no usable advertise address");
  }
  if (advertise_.port == 0) return InvalidArgument("memberlist: advertise port is 0");
  std::string meta;
  if (delegate_ != nullptr) {
    meta = delegate_->NodeMeta(kMetaMaxSize);
    if (meta.size() > kMetaMaxSize) {
      return InvalidArgument("memberlist: node meta is longer than " +
                             std::to_string(kMetaMaxSize) + " bytes");
    }
  }

  std::weak_ptr<int> life = life_;
  transport_->SetPacketHandler([this, life](const Address& from, std::string bytes) {
    if (life.expired()) return;
    HandlePacket(from, std::move(bytes));
  });
  transport_->SetStreamHandler([this, life](std::unique_ptr<Stream> stream) {
    if (life.expired()) return;
    HandleStream(std::move(stream));
  });

  // setAlive: our first incarnation is 1, announced through the broadcast queue.
  Alive a{++incarnation_,  options_.name,   advertise_.ip,
          advertise_.port, std::move(meta), VsnBytes()};
  AliveNode(a, nullptr, /*bootstrap=*/true);

  if (options_.probe_interval > Duration::zero()) {
    ScheduleProbe(UniformDuration(*random_, options_.probe_interval));
  }
  if (options_.gossip_interval > Duration::zero() && options_.gossip_nodes > 0) {
    ScheduleGossip(UniformDuration(*random_, options_.gossip_interval));
  }
  if (options_.push_pull_interval > Duration::zero()) {
    push_pull_timer_ = loop_->After(UniformDuration(*random_, options_.push_pull_interval), [this] {
      SchedulePushPull(PushPullScale(options_.push_pull_interval, EstNumNodes()));
    });
  }
  return Status::Ok();
}

Memberlist::~Memberlist() {
  Shutdown();
  life_.reset();
}

void Memberlist::Shutdown() {
  if (shutdown_) return;
  shutdown_ = true;
  transport_->SetPacketHandler(nullptr);
  transport_->SetStreamHandler(nullptr);
  probe_timer_.reset();
  gossip_timer_.reset();
  push_pull_timer_.reset();
  probe_.reset();
  ack_handlers_.clear();
  for (auto& e : nodes_) e->suspicion.reset();
  // Whoever waits on an exchange, a leave or an update hears about it (from the loop).
  auto ops = std::move(stream_ops_);
  stream_ops_.clear();
  for (auto& [id, op] : ops) {
    op->deadline.reset();
    if (op->done) op->done(Unavailable("memberlist is shut down"));
  }
  ops.clear();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [id, w] : waiters) {
    Post([done = std::move(w->done)] { done(Unavailable("memberlist is shut down")); });
  }
}

void Memberlist::Post(std::function<void()> fn) {
  loop_->Post([life = std::weak_ptr<int>(life_), fn = std::move(fn)] {
    if (!life.expired()) fn();
  });
}

std::array<uint8_t, 6> Memberlist::Versions() const {
  return {kProtocolVersionMin,
          kProtocolVersionMax,
          kProtocolVersion,
          options_.delegate_protocol_min,
          options_.delegate_protocol_max,
          options_.delegate_protocol_version};
}

std::string Memberlist::VsnBytes() const { return VsnString(Versions()); }

Memberlist::NodeEntry* Memberlist::Find(std::string_view name) {
  auto it = node_map_.find(name);
  return it == node_map_.end() ? nullptr : it->second;
}

const Memberlist::NodeEntry* Memberlist::Find(std::string_view name) const {
  auto it = node_map_.find(name);
  return it == node_map_.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------------------------
// Queries

std::vector<Node> Memberlist::Members() const {
  std::vector<Node> out;
  for (const auto& e : nodes_) {
    if (!e->node.DeadOrLeft()) out.push_back(e->node);
  }
  return out;
}

int Memberlist::NumMembers() const {
  int n = 0;
  for (const auto& e : nodes_) n += e->node.DeadOrLeft() ? 0 : 1;
  return n;
}

std::vector<Node> Memberlist::AllNodes() const {
  std::vector<Node> out;
  out.reserve(nodes_.size());
  for (const auto& e : nodes_) out.push_back(e->node);
  return out;
}

std::optional<Node> Memberlist::GetNode(std::string_view name) const {
  const NodeEntry* e = Find(name);
  if (e == nullptr) return std::nullopt;
  return e->node;
}

Node Memberlist::LocalNode() const { return Find(options_.name)->node; }

bool Memberlist::AnyAlive() const {
  for (const auto& e : nodes_) {
    if (!e->node.DeadOrLeft() && e->node.name != options_.name) return true;
  }
  return false;
}

template <typename Skip>
std::vector<const Memberlist::NodeEntry*> Memberlist::RandomNodes(size_t k, Skip skip) {
  std::vector<const NodeEntry*> eligible;
  for (const auto& e : nodes_) {
    if (!skip(*e)) eligible.push_back(e.get());
  }
  // A partial Fisher-Yates: a uniform sample of k without repeats.
  const size_t take = std::min(k, eligible.size());
  for (size_t i = 0; i < take; ++i) {
    const size_t j = i + Uniform(*random_, eligible.size() - i);
    std::swap(eligible[i], eligible[j]);
  }
  eligible.resize(take);
  return eligible;
}

// ---------------------------------------------------------------------------------------------
// Scheduling

void Memberlist::ScheduleProbe(Duration d) {
  probe_timer_ = loop_->After(d, [this] { ProbeTick(); });
}

void Memberlist::ScheduleGossip(Duration d) {
  gossip_timer_ = loop_->After(d, [this] {
    ScheduleGossip(options_.gossip_interval);
    Gossip();
  });
}

void Memberlist::SchedulePushPull(Duration d) {
  push_pull_timer_ = loop_->After(d, [this] {
    PeriodicPushPull();
    SchedulePushPull(PushPullScale(options_.push_pull_interval, EstNumNodes()));
  });
}

void Memberlist::ProbeTick() {
  ScheduleProbe(options_.probe_interval);
  // Like Go's ticker feeding a blocking probe: a tick that lands during a probe is kept, and the
  // next probe starts as soon as the current one ends. A probe stretched by awareness therefore
  // stretches the interval between probes.
  if (probe_ != nullptr) {
    probe_tick_pending_ = true;
    return;
  }
  ProbeOnce();
}

void Memberlist::ProbeOnce() {
  size_t checked = 0;
  while (checked < nodes_.size()) {
    if (probe_index_ >= nodes_.size()) {
      ResetNodes();
      probe_index_ = 0;
      ++checked;
      continue;
    }
    const NodeEntry& e = *nodes_[probe_index_++];
    if (e.node.name == options_.name || e.node.DeadOrLeft()) {
      ++checked;
      continue;
    }
    StartProbe(e.node);
    return;
  }
}

void Memberlist::ResetNodes() {
  const TimePoint now = loop_->Now();
  // Never ourselves, even long after a Leave: LocalNode() and a repeated Leave need the entry.
  auto reaped = [&](const std::unique_ptr<NodeEntry>& e) {
    return e->node.DeadOrLeft() && e->node.name != options_.name &&
           now - e->node.state_change > options_.gossip_to_the_dead_time;
  };
  for (const auto& e : nodes_) {
    if (reaped(e)) node_map_.erase(e->node.name);
  }
  std::erase_if(nodes_, reaped);
  Shuffle(*random_, nodes_.begin(), nodes_.end());
}

void Memberlist::Gossip() {
  const TimePoint now = loop_->Now();
  auto targets = RandomNodes(options_.gossip_nodes, [&](const NodeEntry& e) {
    if (e.node.name == options_.name) return true;
    switch (e.node.state) {
      case NodeState::kAlive:
      case NodeState::kSuspect:
        return false;
      case NodeState::kDead:
        return now - e.node.state_change > options_.gossip_to_the_dead_time;
      default:
        return true;
    }
  });
  if (options_.udp_buffer_size <= kCompoundHeaderOverhead + PacketOverhead()) return;
  const size_t avail = options_.udp_buffer_size - kCompoundHeaderOverhead - PacketOverhead();
  for (const NodeEntry* t : targets) {
    std::vector<Message> msgs = GetBroadcasts(kCompoundOverhead, avail, t->node.name);
    // Nothing for this target may still leave something for the next: an alive message is
    // never sent to the node it is about.
    if (msgs.empty()) continue;
    stats_.gossip_messages_sent += msgs.size();
    const Node target = t->node;
    LogSendFailure("gossip", target.addr, SendRaw(target.addr, &target, std::move(msgs)));
  }
}

void Memberlist::PeriodicPushPull() {
  auto peers = RandomNodes(1, [&](const NodeEntry& e) {
    return e.node.name == options_.name || e.node.state != NodeState::kAlive;
  });
  if (peers.empty()) return;
  const std::string name = peers[0]->node.name;
  PushPullWith(peers[0]->node.addr, false, [this, name](Status s) {
    if (!s.ok() && !shutdown_) {
      LogWarn(kLog, "Push/Pull with " + name + " failed: " + s.message());
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Probing (§9.1)

void Memberlist::SetAckHandler(uint32_t seq,
                               std::function<void(std::string_view, TimePoint)> on_ack,
                               std::function<void()> on_nack, std::function<void()> on_timeout,
                               Duration timeout) {
  auto h = std::make_unique<AckHandler>();
  h->on_ack = std::move(on_ack);
  h->on_nack = std::move(on_nack);
  h->on_timeout = std::move(on_timeout);
  h->timer = loop_->After(timeout, [this, seq] {
    auto it = ack_handlers_.find(seq);
    if (it == ack_handlers_.end()) return;
    std::unique_ptr<AckHandler> handler = std::move(it->second);
    ack_handlers_.erase(it);
    if (handler->on_timeout) handler->on_timeout();
  });
  ack_handlers_[seq] = std::move(h);
}

void Memberlist::StartProbe(const Node& target) {
  ++stats_.probes;
  auto p = std::make_unique<Probe>();
  p->seq = NextSeqNo();
  p->target = target;
  p->interval = awareness_.Scale(options_.probe_interval);
  const uint32_t seq = p->seq;
  SetAckHandler(
      seq,
      [this, seq](std::string_view payload, TimePoint at) {
        if (probe_ != nullptr && probe_->seq == seq) ProbeAcked(payload, at);
      },
      [this, seq] {
        if (probe_ != nullptr && probe_->seq == seq) ++probe_->nacks;
      },
      [this, seq] {
        if (probe_ != nullptr && probe_->seq == seq) ProbeHandlerTimeout();
      },
      p->interval);
  p->sent = loop_->Now();
  probe_ = std::move(p);

  Ping ping{seq, target.name, advertise_.ip, advertise_.port, options_.name};
  Status sent;
  if (target.state == NodeState::kAlive) {
    sent = SendMsg(target.addr, &target, ping);
  } else {
    // Lifeguard's buddy system: tell a suspect it is suspected so it can refute at once.
    sent = SendRaw(target.addr, &target,
                   {ping, Suspect{target.incarnation, target.name, options_.name}});
  }
  if (!sent.ok()) {
    LogError(kLog, "Failed to send UDP ping to " + target.name + ": " + sent.message());
    ProbeDirectTimeout();
    return;
  }
  probe_->direct_timer = loop_->After(options_.probe_timeout, [this, seq] {
    if (probe_ != nullptr && probe_->seq == seq && !probe_->indirect) ProbeDirectTimeout();
  });
}

void Memberlist::ProbeAcked(std::string_view payload, TimePoint at) {
  if (!probe_->indirect && delegate_ != nullptr) {
    const Node target = probe_->target;
    delegate_->NotifyPingComplete(target, at - probe_->sent, payload);
  }
  FinishProbe(-1);
}

void Memberlist::ProbeDirectTimeout() {
  Probe& p = *probe_;
  p.indirect = true;
  ++stats_.indirect_probes;
  const std::string target_name = p.target.name;
  auto helpers = RandomNodes(options_.indirect_checks, [&](const NodeEntry& e) {
    return e.node.name == options_.name || e.node.name == target_name ||
           e.node.state != NodeState::kAlive;
  });
  IndirectPing ind{p.seq, p.target.addr.ip, p.target.addr.port, p.target.name,
                   false, advertise_.ip,    advertise_.port,    options_.name};
  std::vector<Node> peers;
  for (const NodeEntry* h : helpers) peers.push_back(h->node);
  for (const Node& peer : peers) {
    // Only protocol >= 4 peers know to nack.
    ind.nack = peer.pmax() >= 4;
    if (ind.nack) ++p.expected_nacks;
    LogSendFailure("indirect ping", peer.addr, SendMsg(peer.addr, &peer, ind));
  }

  // Also try TCP, which gets through where UDP is filtered or lossy; it must finish by the
  // probe deadline.
  if (!options_.disable_tcp_pings && p.target.pmax() >= 3) {
    const Duration left = p.sent + p.interval - loop_->Now();
    if (left > Duration::zero()) {
      p.tcp = Probe::Tcp::kPending;
      const uint32_t seq = p.seq;
      Ping ping{seq, p.target.name, advertise_.ip, advertise_.port, options_.name};
      SendPingStream(p.target.addr, ping, left, [this, seq](bool ok) { ProbeTcpDone(seq, ok); });
    }
  }
}

void Memberlist::ProbeHandlerTimeout() {
  if (!probe_->indirect) ProbeDirectTimeout();
  if (probe_ == nullptr) return;
  probe_->handler_timed_out = true;
  MaybeConcludeProbe();
}

void Memberlist::ProbeTcpDone(uint32_t seq, bool ok) {
  if (probe_ == nullptr || probe_->seq != seq) return;
  probe_->tcp = ok ? Probe::Tcp::kOk : Probe::Tcp::kFailed;
  MaybeConcludeProbe();
}

void Memberlist::MaybeConcludeProbe() {
  Probe& p = *probe_;
  // UDP acks get the whole interval before the TCP result counts, so a TCP-only success is
  // noticed (and logged) as such.
  if (!p.handler_timed_out || p.tcp == Probe::Tcp::kPending) return;
  if (p.tcp == Probe::Tcp::kOk) {
    ++stats_.tcp_fallback_successes;
    LogWarn(kLog, "Was able to connect to " + p.target.name +
                      " over TCP but UDP probes failed, network may be misconfigured");
    FinishProbe(-1);
    return;
  }
  // Lifeguard: missing nacks mean our own network may be the problem (§9.2).
  int delta = 1;
  if (p.expected_nacks > 0) delta = std::max(0, p.expected_nacks - p.nacks);
  ++stats_.probe_failures;
  LogInfo(kLog, "Suspect " + p.target.name + " has failed, no acks received");
  const Suspect s{p.target.incarnation, p.target.name, options_.name};
  SuspectNode(s);
  FinishProbe(delta);
}

void Memberlist::FinishProbe(int awareness_delta) {
  awareness_.ApplyDelta(awareness_delta);
  ack_handlers_.erase(probe_->seq);
  probe_.reset();
  if (probe_tick_pending_) {
    probe_tick_pending_ = false;
    ProbeOnce();
  }
}

// ---------------------------------------------------------------------------------------------
// Node state machine (§8)

void Memberlist::QueueBroadcast(const std::string& node, const Message& m,
                                std::function<void()> notify) {
  auto encoded = EncodeMessage(m);
  if (!encoded.ok()) {
    LogError(kLog,
             "Failed to encode a broadcast about " + node + ": " + encoded.status().message());
    return;
  }
  broadcasts_.QueueBroadcast(std::make_unique<MessageBroadcast>(
      node, std::move(encoded).value(), m.As<Alive>() != nullptr, std::move(notify)));
}

void Memberlist::AliveNode(const Alive& a, std::function<void()> notify, bool bootstrap) {
  const bool about_us = a.node == options_.name;
  // A late alive about us must not undo a Leave.
  if (left_ && about_us) return;
  if (a.vsn.size() >= 3) {
    const auto pmin = static_cast<uint8_t>(a.vsn[0]);
    const auto pmax = static_cast<uint8_t>(a.vsn[1]);
    if (pmin == 0 || pmax == 0 || pmin > pmax) {
      LogWarn(kLog, "Ignoring an alive message for '" + a.node +
                        "' because protocol version(s) are wrong");
      return;
    }
  }
  auto addr = Address::FromIp(a.addr, a.port);
  if (!addr.ok()) {
    LogWarn(kLog, "Ignoring an alive message for '" + a.node + "': " + addr.status().message());
    return;
  }
  Node incoming;
  incoming.name = a.node;
  incoming.addr = *addr;
  incoming.meta = a.meta;
  incoming.vsn = VsnArray(a.vsn);
  incoming.state = NodeState::kAlive;
  incoming.incarnation = a.incarnation;
  if (delegate_ != nullptr) {
    if (a.vsn.size() < 6) {
      LogWarn(kLog, "Ignoring alive message for '" + a.node + "' because Vsn is not present");
      return;
    }
    if (Status s = delegate_->NotifyAlive(incoming); !s.ok()) {
      LogWarn(kLog, "Ignoring alive message for '" + a.node + "': " + s.message());
      return;
    }
  }

  NodeEntry* e = Find(a.node);
  bool updates_node = false;
  if (e == nullptr) {
    // A new node starts out dead at incarnation 0 and is inserted at a random position of the
    // probe order, which keeps the failure detection bound low on average.
    auto entry = std::make_unique<NodeEntry>();
    entry->node.name = a.node;
    entry->node.addr = *addr;
    entry->node.meta = a.meta;
    if (a.vsn.size() > 5) entry->node.vsn = VsnArray(a.vsn);
    entry->node.state = NodeState::kDead;
    e = entry.get();
    node_map_[a.node] = e;
    const size_t offset = Uniform(*random_, nodes_.size() + 1);
    nodes_.push_back(std::move(entry));
    std::swap(nodes_[offset], nodes_.back());
  } else if (e->node.addr != *addr) {
    const bool can_reclaim = options_.dead_node_reclaim_time > Duration::zero() &&
                             loop_->Now() - e->node.state_change > options_.dead_node_reclaim_time;
    if (e->node.state == NodeState::kLeft || (e->node.state == NodeState::kDead && can_reclaim)) {
      LogInfo(kLog, "Updating address for left or failed node " + a.node + " from " +
                        e->node.addr.ToString() + " to " + addr->ToString());
      updates_node = true;
    } else {
      LogError(kLog, "Conflicting address for " + a.node + ". Mine: " + e->node.addr.ToString() +
                         " Theirs: " + addr->ToString() +
                         " Old state: " + NodeStateName(e->node.state));
      if (delegate_ != nullptr) {
        const Node existing = e->node;
        delegate_->NotifyConflict(existing, incoming);
      }
      return;
    }
  }

  const bool is_local = e->node.name == options_.name;
  if (a.incarnation <= e->node.incarnation && !is_local && !updates_node) return;
  if (a.incarnation < e->node.incarnation && is_local) return;

  e->suspicion.reset();
  const NodeState old_state = e->node.state;
  const std::string old_meta = e->node.meta;

  if (!bootstrap && is_local) {
    // Same incarnation and same content is our own news coming back; anything else (a restart
    // under our name with other meta, or a higher incarnation) must be refuted.
    if (a.incarnation == e->node.incarnation && a.meta == e->node.meta &&
        a.vsn == VsnString(e->node.vsn)) {
      return;
    }
    Refute(*e, a.incarnation);
    LogWarn(kLog, "Refuting an alive message for '" + a.node + "'");
  } else {
    QueueBroadcast(a.node, a, std::move(notify));
    if (a.vsn.size() >= 6) e->node.vsn = VsnArray(a.vsn);
    e->node.incarnation = a.incarnation;
    e->node.meta = a.meta;
    e->node.addr = *addr;
    if (e->node.state != NodeState::kAlive) {
      e->node.state = NodeState::kAlive;
      e->node.state_change = loop_->Now();
    }
  }

  if (delegate_ != nullptr) {
    const Node node = e->node;
    if (old_state == NodeState::kDead || old_state == NodeState::kLeft) {
      delegate_->NotifyJoin(node);
    } else if (old_meta != node.meta) {
      delegate_->NotifyUpdate(node);
    }
  }
}

void Memberlist::CorrectStaleAccusation(const Address& to, const NodeEntry& e) {
  // Only an alive node can be vouched for; a suspect one is in doubt here too.
  if (!options_.correct_stale_accusations || e.node.state != NodeState::kAlive) return;
  const Node& n = e.node;
  LogSendFailure("alive", to,
                 SendMsg(to, nullptr,
                         Alive{n.incarnation, n.name, n.addr.ip, n.addr.port, n.meta, VsnString(n.vsn)}));
}

void Memberlist::SuspectNode(const Suspect& s, const Address* from) {
  NodeEntry* e = Find(s.node);
  if (e == nullptr) return;
  if (s.incarnation < e->node.incarnation) {
    if (from != nullptr) CorrectStaleAccusation(*from, *e);
    return;
  }

  // An existing suspicion collects independent confirmations, each new one re-gossiped.
  if (e->suspicion != nullptr) {
    if (e->suspicion->Confirm(s.from)) QueueBroadcast(s.node, s, nullptr);
    return;
  }
  if (e->node.state != NodeState::kAlive) return;

  if (e->node.name == options_.name) {
    Refute(*e, s.incarnation);
    LogWarn(kLog, "Refuting a suspect message (from: " + s.from + ")");
    return;
  }
  QueueBroadcast(s.node, s, nullptr);

  e->node.incarnation = s.incarnation;
  e->node.state = NodeState::kSuspect;
  const TimePoint change = loop_->Now();
  e->node.state_change = change;
  ++stats_.suspicions_started;

  // Expect confirmations from SuspicionMult - 2 peers, unless the cluster is too small to
  // provide them (n - 2 leaves out ourselves and the suspect).
  int k = options_.suspicion_mult - 2;
  const int n = EstNumNodes();
  if (n - 2 < k) k = 0;
  const Duration min =
      gossip::SuspicionTimeout(options_.suspicion_mult, n, options_.probe_interval);
  const Duration max = options_.suspicion_max_timeout_mult * min;
  const std::string name = s.node;
  e->suspicion = std::make_unique<Suspicion>(
      loop_, s.from, k, min, max,
      [this, name, change](int confirmations) { OnSuspicionTimeout(name, change, confirmations); });
}

void Memberlist::OnSuspicionTimeout(const std::string& name, TimePoint episode, int confirmations) {
  NodeEntry* e = Find(name);
  // Only the suspicion episode that armed the timer may end in death.
  if (e == nullptr || e->node.state != NodeState::kSuspect || e->node.state_change != episode) {
    return;
  }
  LogInfo(kLog, "Marking " + name + " as failed, suspect timeout reached (" +
                    std::to_string(confirmations) + " peer confirmations)");
  DeadNode(Dead{e->node.incarnation, name, options_.name});
}

void Memberlist::DeadNode(const Dead& d, std::function<void()> notify, const Address* from) {
  NodeEntry* e = Find(d.node);
  if (e == nullptr) return;
  if (d.incarnation < e->node.incarnation) {
    if (from != nullptr) CorrectStaleAccusation(*from, *e);
    return;
  }
  e->suspicion.reset();
  if (e->node.DeadOrLeft()) return;

  if (e->node.name == options_.name) {
    if (!left_) {
      Refute(*e, d.incarnation);
      LogWarn(kLog, "Refuting a dead message (from: " + d.from + ")");
      return;
    }
    // Our own leave: the caller waits for this broadcast to go out.
    QueueBroadcast(d.node, d, std::move(notify));
  } else {
    QueueBroadcast(d.node, d, nullptr);
  }

  e->node.incarnation = d.incarnation;
  e->node.state = d.node == d.from ? NodeState::kLeft : NodeState::kDead;
  e->node.state_change = loop_->Now();
  if (delegate_ != nullptr) {
    const Node node = e->node;
    delegate_->NotifyLeave(node);
  }
}

void Memberlist::Refute(NodeEntry& me, uint32_t accused_incarnation) {
  uint32_t inc = ++incarnation_;
  if (accused_incarnation >= inc) {
    incarnation_ += accused_incarnation - inc + 1;
    inc = incarnation_;
  }
  me.node.incarnation = inc;
  // Having to refute is a sign that our own packets are not getting through.
  awareness_.ApplyDelta(1);
  ++stats_.refutations;
  const Alive a{inc,          me.node.name,          me.node.addr.ip, me.node.addr.port,
                me.node.meta, VsnString(me.node.vsn)};
  QueueBroadcast(me.node.name, a, nullptr);
}

void Memberlist::MergeState(const std::vector<PushNodeState>& remote) {
  for (const PushNodeState& r : remote) {
    switch (r.state) {
      case NodeState::kAlive:
        AliveNode(Alive{r.incarnation, r.name, r.addr, r.port, r.meta, r.vsn}, nullptr, false);
        break;
      case NodeState::kLeft:
        DeadNode(Dead{r.incarnation, r.name, r.name});
        break;
      case NodeState::kDead:
        // A remote verdict of death is only grounds for suspicion here.
      case NodeState::kSuspect:
        SuspectNode(Suspect{r.incarnation, r.name, options_.name});
        break;
      default:
        break;  // unknown states are ignored, as in Go
    }
  }
}

Status Memberlist::VerifyProtocol(const std::vector<PushNodeState>& remote) const {
  uint8_t max_pmin = 0, min_pmax = 255, max_dmin = 0, min_dmax = 255;
  for (const auto& r : remote) {
    if (r.state != NodeState::kAlive || r.vsn.size() < 5) continue;
    max_pmin = std::max<uint8_t>(max_pmin, r.vsn[0]);
    min_pmax = std::min<uint8_t>(min_pmax, r.vsn[1]);
    max_dmin = std::max<uint8_t>(max_dmin, r.vsn[3]);
    min_dmax = std::min<uint8_t>(min_dmax, r.vsn[4]);
  }
  for (const auto& e : nodes_) {
    if (e->node.state != NodeState::kAlive) continue;
    max_pmin = std::max(max_pmin, e->node.pmin());
    min_pmax = std::min(min_pmax, e->node.pmax());
    max_dmin = std::max(max_dmin, e->node.dmin());
    min_dmax = std::min(min_dmax, e->node.dmax());
  }
  auto check = [&](const std::string& name, uint8_t pcur, uint8_t dcur) -> Status {
    if (pcur < max_pmin || pcur > min_pmax) {
      return InvalidArgument("Node '" + name + "' protocol version (" + std::to_string(pcur) +
                             ") is incompatible: [" + std::to_string(max_pmin) + ", " +
                             std::to_string(min_pmax) + "]");
    }
    if (dcur < max_dmin || dcur > min_dmax) {
      return InvalidArgument("Node '" + name + "' delegate protocol version (" +
                             std::to_string(dcur) + ") is incompatible: [" +
                             std::to_string(max_dmin) + ", " + std::to_string(min_dmax) + "]");
    }
    return Status::Ok();
  };
  for (const auto& r : remote) {
    // A short Vsn counts as version 0, which fails: always send all six bytes.
    const uint8_t pcur = r.vsn.size() >= 6 ? static_cast<uint8_t>(r.vsn[2]) : 0;
    const uint8_t dcur = r.vsn.size() >= 6 ? static_cast<uint8_t>(r.vsn[5]) : 0;
    if (Status s = check(r.name, pcur, dcur); !s.ok()) return s;
  }
  for (const auto& e : nodes_) {
    if (Status s = check(e->node.name, e->node.pcur(), e->node.dcur()); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Memberlist::MergeRemoteState(const PushPull& pp, bool join) {
  if (Status s = VerifyProtocol(pp.nodes); !s.ok()) return s;
  if (join && delegate_ != nullptr) {
    std::vector<Node> peers;
    for (const auto& r : pp.nodes) {
      Node n;
      n.name = r.name;
      if (auto addr = Address::FromIp(r.addr, r.port); addr.ok()) n.addr = *addr;
      n.meta = r.meta;
      n.vsn = VsnArray(r.vsn);
      n.state = r.state;
      n.incarnation = r.incarnation;
      peers.push_back(std::move(n));
    }
    if (Status s = delegate_->NotifyMerge(peers); !s.ok()) return s;
  }
  MergeState(pp.nodes);
  if (!pp.user_state.empty() && delegate_ != nullptr) {
    delegate_->MergeRemoteState(pp.user_state, join);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Packets

size_t Memberlist::PacketOverhead() const {
  size_t overhead = options_.label.empty() ? 0 : 2 + options_.label.size();
  if (options_.EncryptionEnabled() && options_.gossip_verify_outgoing) {
    overhead += kVersionSize + kNonceSize + kTagSize;
  }
  return overhead;
}

std::vector<Message> Memberlist::GetBroadcasts(size_t overhead, size_t limit, std::string_view to) {
  std::vector<Message> out;
  size_t used = 0;
  for (std::string& raw : broadcasts_.GetBroadcasts(overhead, limit, to)) {
    used += overhead + raw.size();
    out.push_back(Raw(std::move(raw)));
  }
  if (delegate_ != nullptr && limit > used) {
    const size_t avail = limit - used;
    if (avail > overhead + kUserMsgOverhead) {
      for (std::string& msg : delegate_->GetBroadcasts(overhead + kUserMsgOverhead, avail)) {
        out.push_back(UserMsg{std::move(msg)});
      }
    }
  }
  return out;
}

void Memberlist::LogSendFailure(std::string_view what, const Address& to, const Status& s) {
  // UDP is best effort and the protocol tolerates loss; memberlist logs and goes on.
  if (!s.ok()) LogError(kLog, "Failed to send " + std::string(what) + " to " + to.ToString() + ": " + s.message());
}

Status Memberlist::SendMsg(const Address& to, const Node* node, Message msg,
                           std::string_view to_name) {
  auto encoded = EncodeMessage(msg);
  if (!encoded.ok()) return encoded.status();
  std::vector<Message> msgs;
  const size_t fixed = encoded->size() + kCompoundHeaderOverhead + PacketOverhead();
  msgs.push_back(Raw(std::move(encoded).value()));
  if (options_.udp_buffer_size > fixed) {
    if (node != nullptr) to_name = node->name;
    for (Message& extra :
         GetBroadcasts(kCompoundOverhead, options_.udp_buffer_size - fixed, to_name)) {
      msgs.push_back(std::move(extra));
    }
  }
  return SendRaw(to, node, std::move(msgs));
}

Status Memberlist::SendRaw(const Address& to, const Node* node, std::vector<Message> msgs) {
  SendOptions opts;
  opts.label = options_.label;
  // Any peer that reports protocol max >= 5 checks CRCs (§5.2).
  opts.crc = node != nullptr && node->pmax() >= 5;
  opts.compress = options_.enable_compression;
  if (options_.EncryptionEnabled() && options_.gossip_verify_outgoing) {
    opts.keyring = options_.keyring;
  }
  Status result;
  // memberlist 0.2.2 wraps a compound's u8 part count, so never put more than 255 in one.
  for (size_t start = 0; start < msgs.size(); start += kMaxCompoundParts) {
    const size_t end = std::min(msgs.size(), start + kMaxCompoundParts);
    std::vector<Message> group(std::make_move_iterator(msgs.begin() + start),
                               std::make_move_iterator(msgs.begin() + end));
    auto packet = BuildPacket(std::move(group), opts, nonces_);
    if (!packet.ok()) {
      result = packet.status();
      continue;
    }
    ++stats_.packets_sent;
    if (Status s = transport_->SendPacket(to, std::move(packet).value()); !s.ok()) result = s;
  }
  return result;
}

void Memberlist::HandlePacket(const Address& from, std::string bytes) {
  if (shutdown_) return;
  ++stats_.packets_received;
  PacketOptions opts;
  opts.label = options_.label;
  opts.skip_inbound_label_check = options_.skip_inbound_label_check;
  opts.keyring = options_.EncryptionEnabled() ? options_.keyring : nullptr;
  opts.verify_incoming = options_.gossip_verify_incoming;
  auto packet = DecodePacket(bytes, opts);
  if (!packet.ok()) {
    ++stats_.packets_dropped;
    LogWarn(kLog, "Dropping packet from " + from.ToString() + ": " + packet.status().message());
    return;
  }
  if (auto problem = FirstProblem(packet->body)) {
    LogWarn(kLog, "Packet from " + from.ToString() + ": " + *problem);
  }
  for (const Message* m : Leaves(packet->body)) {
    HandleMessage(from, *m);
    if (shutdown_) return;
  }
}

void Memberlist::HandleMessage(const Address& from, const Message& m) {
  if (const auto* p = m.As<Ping>()) {
    HandlePing(from, *p);
  } else if (const auto* ind = m.As<IndirectPing>()) {
    HandleIndirectPing(from, *ind);
  } else if (const auto* ack = m.As<Ack>()) {
    HandleAck(*ack, loop_->Now());
  } else if (const auto* nack = m.As<Nack>()) {
    HandleNack(*nack);
  } else if (const auto* s = m.As<Suspect>()) {
    SuspectNode(*s, &from);
  } else if (const auto* a = m.As<Alive>()) {
    Alive alive = *a;
    // Protocol 1 peers sent no port: assume ours.
    if (alive.port == 0) alive.port = advertise_.port;
    AliveNode(alive, nullptr, false);
  } else if (const auto* d = m.As<Dead>()) {
    DeadNode(*d, nullptr, &from);
  } else if (const auto* u = m.As<UserMsg>()) {
    if (delegate_ != nullptr) delegate_->NotifyMsg(u->payload);
  } else if (const auto* bad = m.As<Unparsed>()) {
    LogWarn(kLog, "Dropping message from " + from.ToString() + ": " + bad->reason);
  } else {
    LogWarn(kLog, std::string("Received invalid msgType (") + MessageTypeName(m.type()) +
                      ") from " + from.ToString());
  }
}

void Memberlist::HandlePing(const Address& from, const Ping& p) {
  // A ping meant for a previous owner of this address: stay silent so it is not taken as alive.
  if (!p.node.empty() && p.node != options_.name) {
    LogWarn(kLog, "Got ping for unexpected node '" + p.node + "' from " + from.ToString());
    return;
  }
  Ack ack{p.seq_no, delegate_ != nullptr ? delegate_->AckPayload() : std::nullopt};
  Address to = from;
  if (!p.source_addr.empty() && p.source_port != 0) {
    if (auto a = Address::FromIp(p.source_addr, p.source_port); a.ok()) to = *a;
  }
  LogSendFailure("ack", to, SendMsg(to, nullptr, ack, p.source_node));
}

void Memberlist::HandleIndirectPing(const Address& from, const IndirectPing& ind) {
  auto target = Address::FromIp(ind.target, ind.port != 0 ? ind.port : advertise_.port);
  if (!target.ok()) {
    LogWarn(kLog, "Bad indirect ping target from " + from.ToString());
    return;
  }
  Address reply_to = from;
  if (!ind.source_addr.empty() && ind.source_port != 0) {
    if (auto a = Address::FromIp(ind.source_addr, ind.source_port); a.ok()) reply_to = *a;
  }
  const uint32_t local_seq = NextSeqNo();
  const uint32_t their_seq = ind.seq_no;
  const bool nack = ind.nack;
  SetAckHandler(
      local_seq,
      [this, reply_to, their_seq, requester = ind.source_node](std::string_view, TimePoint) {
        LogSendFailure("ack", reply_to,
                       SendMsg(reply_to, nullptr, Ack{their_seq, std::nullopt}, requester));
      },
      nullptr,
      [this, reply_to, their_seq, nack, requester = ind.source_node] {
        if (nack) {
          LogSendFailure("nack", reply_to, SendMsg(reply_to, nullptr, Nack{their_seq}, requester));
        }
      },
      options_.probe_timeout);
  LogSendFailure(
      "ping", *target,
      SendMsg(*target, nullptr,
              Ping{local_seq, ind.node, advertise_.ip, advertise_.port, options_.name}, ind.node));
}

void Memberlist::HandleAck(const Ack& ack, TimePoint at) {
  auto it = ack_handlers_.find(ack.seq_no);
  if (it == ack_handlers_.end()) return;
  std::unique_ptr<AckHandler> h = std::move(it->second);
  ack_handlers_.erase(it);
  if (h->on_ack) h->on_ack(ack.payload.value_or(std::string()), at);
}

void Memberlist::HandleNack(const Nack& nack) {
  auto it = ack_handlers_.find(nack.seq_no);
  if (it == ack_handlers_.end() || !it->second->on_nack) return;
  auto fn = it->second->on_nack;
  fn();
}

// ---------------------------------------------------------------------------------------------
// Streams (§6)

Memberlist::StreamOp* Memberlist::NewOp(uint64_t* id, Duration timeout, FrameCallback done) {
  *id = ++next_op_id_;
  auto op = std::make_unique<StreamOp>();
  op->done = std::move(done);
  const uint64_t op_id = *id;
  op->deadline =
      loop_->After(timeout, [this, op_id] { FinishOp(op_id, Unavailable("stream i/o timeout")); });
  StreamOp* raw = op.get();
  stream_ops_[op_id] = std::move(op);
  return raw;
}

void Memberlist::FinishOp(uint64_t op_id, Result<StreamFrame> result) {
  auto it = stream_ops_.find(op_id);
  if (it == stream_ops_.end()) return;
  std::unique_ptr<StreamOp> op = std::move(it->second);
  stream_ops_.erase(it);
  if (op->stream != nullptr) op->stream->Close();
  if (op->done) op->done(std::move(result));
}

Result<std::string> Memberlist::EncodeStreamMessage(Message m, bool dialer) {
  StreamSendOptions opts;
  opts.label = options_.label;
  opts.label_header = dialer && !options_.label.empty();
  opts.compress = options_.enable_compression;
  if (options_.EncryptionEnabled() && options_.gossip_verify_outgoing) {
    opts.keyring = options_.keyring;
  }
  return BuildStream(std::move(m), opts, nonces_);
}

void Memberlist::ReadFrame(uint64_t op_id, bool listener,
                           std::function<void(uint64_t, StreamFrame)> on_frame) {
  auto it = stream_ops_.find(op_id);
  if (it == stream_ops_.end()) return;
  std::weak_ptr<int> life = life_;
  it->second->stream->Read([this, life, op_id, listener,
                            on_frame = std::move(on_frame)](Result<std::string> chunk) mutable {
    if (life.expired()) return;
    auto it = stream_ops_.find(op_id);
    if (it == stream_ops_.end()) return;
    StreamOp& op = *it->second;
    if (!chunk.ok()) return FinishOp(op_id, chunk.status());
    if (chunk->empty()) {
      return FinishOp(op_id, Unavailable(op.received.empty() ? kEof : "stream closed mid-message"));
    }
    op.received += *chunk;
    StreamOptions opts;
    opts.label = options_.label;
    opts.skip_inbound_label_check = options_.skip_inbound_label_check;
    opts.accept_label_header = listener;
    opts.keyring = options_.EncryptionEnabled() ? options_.keyring : nullptr;
    opts.verify_incoming = options_.gossip_verify_incoming;
    auto frame = DecodeStream(op.received, opts);
    if (!frame.ok()) {
      // The listener tells the dialer why, as memberlist does.
      if (listener) return WriteAndClose(op_id, ErrorResp{frame.status().message()});
      return FinishOp(op_id, frame.status());
    }
    if (!frame->has_value()) return ReadFrame(op_id, listener, std::move(on_frame));
    on_frame(op_id, std::move(**frame));
  });
}

void Memberlist::WriteAndClose(uint64_t op_id, Message reply) {
  auto it = stream_ops_.find(op_id);
  if (it == stream_ops_.end()) return;
  auto bytes = EncodeStreamMessage(std::move(reply), /*dialer=*/false);
  if (!bytes.ok()) return FinishOp(op_id, bytes.status());
  std::weak_ptr<int> life = life_;
  it->second->stream->Write(std::move(bytes).value(), [this, life, op_id](Status s) {
    if (life.expired()) return;
    if (!s.ok()) return FinishOp(op_id, s);
    FinishOp(op_id, StreamFrame{});
  });
}

void Memberlist::Exchange(const Address& to, Message request, Duration timeout, bool want_reply,
                          FrameCallback done) {
  auto bytes = EncodeStreamMessage(std::move(request), /*dialer=*/true);
  if (!bytes.ok()) {
    Post([done = std::move(done), s = bytes.status()] { done(s); });
    return;
  }
  uint64_t op_id = 0;
  NewOp(&op_id, timeout, std::move(done));
  std::weak_ptr<int> life = life_;
  transport_->OpenStream(
      to, timeout,
      [this, life, op_id, want_reply,
       bytes = std::move(bytes).value()](Result<std::unique_ptr<Stream>> stream) mutable {
        if (life.expired()) return;
        auto it = stream_ops_.find(op_id);
        if (it == stream_ops_.end()) return;
        if (!stream.ok()) return FinishOp(op_id, stream.status());
        it->second->stream = std::move(stream).value();
        it->second->stream->Write(std::move(bytes), [this, life, op_id, want_reply](Status s) {
          if (life.expired()) return;
          if (!s.ok()) return FinishOp(op_id, s);
          if (!want_reply) return FinishOp(op_id, StreamFrame{});
          ReadFrame(op_id, /*listener=*/false,
                    [this](uint64_t id, StreamFrame frame) { FinishOp(id, std::move(frame)); });
        });
      });
}

void Memberlist::HandleStream(std::unique_ptr<Stream> stream) {
  if (shutdown_) return;
  if (serving_ >= kMaxPushPullRequests) {
    LogError(kLog,
             "Too many pending stream requests, dropping one from " + stream->remote().ToString());
    return;
  }
  ++serving_;
  const std::string remote = stream->remote().ToString();
  uint64_t op_id = 0;
  StreamOp* op = NewOp(&op_id, options_.tcp_timeout, [this, remote](Result<StreamFrame> r) {
    --serving_;
    // A dialer that hangs up without sending anything is not worth a log line (Go: io.EOF).
    if (!r.ok() && r.status().message() != kEof) {
      LogError(kLog, "Failed to serve stream from " + remote + ": " + r.status().message());
    }
  });
  op->stream = std::move(stream);
  ReadFrame(op_id, /*listener=*/true,
            [this](uint64_t id, StreamFrame frame) { ServeFrame(id, std::move(frame)); });
}

void Memberlist::ServeFrame(uint64_t op_id, StreamFrame frame) {
  Message& m = frame.message;
  if (auto* pp = m.As<PushPull>()) {
    // Reply with our state first, then merge theirs (§6).
    const bool join = pp->join;
    WriteAndClose(op_id, LocalPushPull(join));
    ++stats_.push_pulls;
    if (Status s = MergeRemoteState(*pp, join); !s.ok()) {
      ++stats_.push_pull_failures;
      LogError(kLog, "Failed to merge remote state: " + s.message());
    }
  } else if (const auto* p = m.As<Ping>()) {
    if (!p->node.empty() && p->node != options_.name) {
      LogWarn(kLog, "Got ping for unexpected node " + p->node + " over a stream");
      return FinishOp(op_id, StreamFrame{});
    }
    WriteAndClose(op_id, Ack{p->seq_no, std::nullopt});
  } else if (auto* u = m.As<UserMsg>()) {
    FinishOp(op_id, StreamFrame{});
    if (delegate_ != nullptr) delegate_->NotifyMsg(u->payload);
  } else {
    LogError(kLog, std::string("Received invalid msgType (") + MessageTypeName(m.type()) +
                       ") over a stream");
    FinishOp(op_id, StreamFrame{});
  }
}

PushPull Memberlist::LocalPushPull(bool join) {
  PushPull pp;
  pp.join = join;
  pp.nodes.reserve(nodes_.size());
  for (const auto& e : nodes_) {
    const Node& n = e->node;
    pp.nodes.push_back(PushNodeState{n.name, n.addr.ip, n.addr.port, n.meta, n.incarnation, n.state,
                                     VsnString(n.vsn)});
  }
  if (delegate_ != nullptr) pp.user_state = delegate_->LocalState(join);
  return pp;
}

void Memberlist::PushPullWith(const Address& to, bool join, std::function<void(Status)> done) {
  Exchange(to, LocalPushPull(join), options_.tcp_timeout, /*want_reply=*/true,
           [this, join, done = std::move(done)](Result<StreamFrame> r) {
             Status s;
             if (!r.ok()) {
               s = r.status();
             } else if (const auto* e = r->message.As<ErrorResp>()) {
               s = Unavailable("remote error: " + e->error);
             } else if (const auto* pp = r->message.As<PushPull>()) {
               ++stats_.push_pulls;
               s = MergeRemoteState(*pp, join);
             } else {
               s = InvalidArgument(std::string("push/pull reply was a ") +
                                   MessageTypeName(r->message.type()) + " message");
             }
             if (!s.ok()) ++stats_.push_pull_failures;
             done(s);
           });
}

void Memberlist::SendPingStream(const Address& to, const Ping& ping, Duration timeout,
                                std::function<void(bool)> done) {
  const uint32_t seq = ping.seq_no;
  Exchange(to, ping, timeout, /*want_reply=*/true,
           [seq, done = std::move(done)](Result<StreamFrame> r) {
             if (!r.ok()) return done(false);
             const auto* ack = r->message.As<Ack>();
             if (ack == nullptr || ack->seq_no != seq) {
               LogWarn(kLog, "TCP ping got no matching ack");
               return done(false);
             }
             done(true);
           });
}

// ---------------------------------------------------------------------------------------------
// Public operations

void Memberlist::Join(std::vector<Address> addrs, std::function<void(int, Status)> done) {
  if (shutdown_ || addrs.empty()) {
    Status s = shutdown_ ? Unavailable("memberlist is shut down")
                         : InvalidArgument("memberlist: no addresses to join");
    Post([done = std::move(done), s] { done(0, s); });
    return;
  }
  struct State {
    size_t remaining;
    int joined = 0;
    Status last_error;
    std::function<void(int, Status)> done;
  };
  auto state = std::make_shared<State>();
  state->remaining = addrs.size();
  state->done = std::move(done);
  for (const Address& addr : addrs) {
    PushPullWith(addr, /*join=*/true, [this, state, addr](Status s) {
      if (s.ok()) {
        ++state->joined;
      } else {
        if (!shutdown_) LogWarn(kLog, "Failed to join " + addr.ToString() + ": " + s.message());
        state->last_error = s;
      }
      if (--state->remaining > 0) return;
      const Status result = state->joined > 0 ? Status::Ok() : state->last_error;
      Post([state, result] { state->done(state->joined, result); });
    });
  }
}

void Memberlist::SyncWith(const Address& to, std::function<void(Status)> done) {
  if (shutdown_) {
    Post([done = std::move(done)] { done(Unavailable("memberlist is shut down")); });
    return;
  }
  PushPullWith(to, /*join=*/false,
               [this, done = std::move(done)](Status s) { Post([done, s] { done(s); }); });
}

uint64_t Memberlist::AddWaiter(Duration timeout, std::function<void(Status)> done,
                               std::string timeout_message) {
  const uint64_t id = ++next_waiter_id_;
  auto w = std::make_unique<Waiter>();
  w->done = std::move(done);
  if (timeout > Duration::zero()) {
    w->timer = loop_->After(timeout, [this, id, msg = std::move(timeout_message)] {
      CompleteWaiter(id, Unavailable(msg));
    });
  }
  waiters_[id] = std::move(w);
  return id;
}

void Memberlist::CompleteWaiter(uint64_t id, Status s) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  std::unique_ptr<Waiter> w = std::move(it->second);
  waiters_.erase(it);
  Post([done = std::move(w->done), s = std::move(s)] { done(s); });
}

std::function<void()> Memberlist::WaiterNotify(uint64_t id) {
  // Broadcasts may finish while the queue is torn down with the Memberlist.
  return [this, id, life = std::weak_ptr<int>(life_)] {
    if (!life.expired()) CompleteWaiter(id, Status::Ok());
  };
}

void Memberlist::Leave(Duration timeout, std::function<void(Status)> done) {
  if (shutdown_) {
    Post([done = std::move(done)] { done(Unavailable("memberlist is shut down")); });
    return;
  }
  if (left_) {
    Post([done = std::move(done)] { done(Status::Ok()); });
    return;
  }
  left_ = true;
  const NodeEntry* me = Find(options_.name);
  const uint64_t id = AddWaiter(timeout, std::move(done), "timeout waiting for leave broadcast");
  // From == Node tells everyone this is a leave, not a failure.
  DeadNode(Dead{me->node.incarnation, options_.name, options_.name}, WaiterNotify(id));
  if (!AnyAlive()) CompleteWaiter(id, Status::Ok());
}

void Memberlist::UpdateNode(Duration timeout, std::function<void(Status)> done) {
  if (shutdown_ || left_) {
    Post([done = std::move(done)] { done(Unavailable("memberlist has left or is shut down")); });
    return;
  }
  std::string meta;
  if (delegate_ != nullptr) meta = delegate_->NodeMeta(kMetaMaxSize);
  if (meta.size() > kMetaMaxSize) {
    Post([done = std::move(done)] {
      done(InvalidArgument("memberlist: node meta is longer than 512 bytes"));
    });
    return;
  }
  const uint64_t id = AddWaiter(timeout, std::move(done), "timeout waiting for update broadcast");
  const Alive a{++incarnation_,  options_.name,   advertise_.ip,
                advertise_.port, std::move(meta), VsnBytes()};
  AliveNode(a, WaiterNotify(id), /*bootstrap=*/true);
  if (!AnyAlive()) CompleteWaiter(id, Status::Ok());
}

Status Memberlist::SendToAddress(const Address& to, std::string_view msg) {
  if (shutdown_) return Unavailable("memberlist is shut down");
  return SendRaw(to, nullptr, {UserMsg{std::string(msg)}});
}

void Memberlist::SendReliable(const Address& to, std::string msg,
                              std::function<void(Status)> done) {
  if (shutdown_) {
    Post([done = std::move(done)] { done(Unavailable("memberlist is shut down")); });
    return;
  }
  Exchange(to, UserMsg{std::move(msg)}, options_.tcp_timeout, /*want_reply=*/false,
           [this, done = std::move(done)](Result<StreamFrame> r) {
             Status s = r.status();
             Post([done, s] { done(s); });
           });
}

}  // namespace gangway::gossip
