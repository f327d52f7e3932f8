#include "gossip/serf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "core/base64.h"
#include "core/log.h"
#include "gossip/testing/sim.h"

namespace gangway::gossip {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::SimLoop;
using testing::SimNetwork;

const bool kQuietLogs = [] {
  if (std::getenv("GANGWAY_SIM_LOG") == nullptr) SetLogLevel(LogLevel::kError);
  return true;
}();

// Every simulation prints its seed; GANGWAY_SIM_SEED=<seed> replays a run exactly.
uint64_t TestSeed() {
  if (const char* env = std::getenv("GANGWAY_SIM_SEED")) return std::strtoull(env, nullptr, 0);
  return RandomSeed();
}

std::string NodeName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "node-%03d", i);
  return buf;
}

Address NodeAddress(int i) {
  const char ip[4] = {10, 1, static_cast<char>(i / 250), static_cast<char>(i % 250 + 1)};
  return *Address::FromIp(std::string_view(ip, 4), 8301);
}

// One Serf and everything it told its owner. Declared so the Serf goes before its keyring.
struct SerfNode {
  std::string name;
  Address addr;
  Transport* transport = nullptr;
  std::unique_ptr<SeededRandom> random;
  std::unique_ptr<testing::SeededNonceSource> nonces;
  std::unique_ptr<Keyring> keyring;
  std::vector<MemberEvent> member_events;
  std::vector<UserEvent> user_events;
  std::vector<std::string> queries_seen;  // names of queries handed to the owner
  bool hold_queries = false;              // keep queries in `held` instead of answering
  std::vector<std::shared_ptr<IncomingQuery>> held;
  int keyring_changes = 0;
  std::unique_ptr<Serf> serf;
  bool crashed = false;

  // Member events of `type` about `about`.
  int Events(MemberEventType type, const std::string& about) const {
    int n = 0;
    for (const MemberEvent& e : member_events) {
      if (e.type != type) continue;
      for (const Member& m : e.members) n += m.name == about ? 1 : 0;
    }
    return n;
  }
};

// N Serfs on one simulated network and clock. Nodes go first, then the network, then the loop.
class SerfCluster {
 public:
  using Tweak = std::function<void(int index, SerfOptions&)>;

  SerfCluster(uint64_t seed, int n, Tweak tweak = nullptr)
      : seed_(seed), net_(&loop_, seed), tweak_(std::move(tweak)) {
    std::printf("[   SIM    ] seed %llu (replay with GANGWAY_SIM_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    for (int i = 0; i < n; ++i) Add();
  }
  ~SerfCluster() { nodes_.clear(); }

  SerfNode& Add() {
    const int i = static_cast<int>(nodes_.size());
    auto node = std::make_unique<SerfNode>();
    SerfNode* raw = node.get();
    node->name = NodeName(i);
    node->addr = NodeAddress(i);
    node->transport = net_.AddNode(node->addr);
    node->random = std::make_unique<SeededRandom>(seed_ * 0x9e3779b97f4a7c15ULL + i + 1);
    node->nonces = std::make_unique<testing::SeededNonceSource>(seed_ + 7919 * (i + 1));
    SerfOptions o = SerfOptions::Lan(node->name);
    o.tags = {{"role", "node"}, {"dc", "dc1"}, {"id", node->name}};
    if (tweak_) tweak_(i, o);
    if (o.memberlist.keyring != nullptr) {
      // Each node owns its copy: key queries change them one by one.
      node->keyring = std::make_unique<Keyring>(*o.memberlist.keyring);
      o.memberlist.keyring = node->keyring.get();
    }
    SerfHandlers h;
    h.on_member = [raw](const MemberEvent& e) { raw->member_events.push_back(e); };
    h.on_user_event = [raw](const UserEvent& e) { raw->user_events.push_back(e); };
    h.on_query = [raw](std::shared_ptr<IncomingQuery> q) {
      raw->queries_seen.push_back(q->name());
      if (raw->hold_queries) return raw->held.push_back(std::move(q));
      // Every node answers with its own name.
      EXPECT_TRUE(q->Respond("I am " + raw->name).ok());
    };
    h.on_keyring_change = [raw](const Keyring&) { ++raw->keyring_changes; };
    auto serf = Serf::Create(
        o, {&loop_, node->transport, node->random.get(), node->nonces.get(), std::move(h)});
    EXPECT_TRUE(serf.ok()) << serf.status().message();
    if (serf.ok()) node->serf = std::move(serf).value();
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  SerfNode& node(int i) { return *nodes_[i]; }
  Serf& serf(int i) { return *nodes_[i]->serf; }
  int size() const { return static_cast<int>(nodes_.size()); }
  SimLoop& loop() { return loop_; }
  SimNetwork& net() { return net_; }

  // Nodes [1, n) join node 0, spread over a second; waits until everyone sees everyone alive
  // and prints the views when that does not happen.
  bool JoinAll() {
    SeededRandom r(seed_ ^ 0x5eed);
    for (int i = 1; i < size(); ++i) {
      loop_.Defer(UniformDuration(r, seconds(1)), [this, i] {
        serf(i).Join({node(0).addr}, false, [](int n, Status s) {
          EXPECT_EQ(n, 1);
          EXPECT_TRUE(s.ok()) << s.message();
        });
      });
    }
    // Usually about a second. Now and then an alive message misses a node (a tiny cluster
    // sends each broadcast only 4 times): the member's join intent then makes that node pull a
    // peer's state a second later, and the periodic push/pulls (within ~60 s) repair what both
    // missed.
    if (loop_.RunUntil([&] { return AllSee(Live(), Live(), MemberStatus::kAlive); }, seconds(90))) {
      return true;
    }
    for (int o : Live()) {
      std::printf("[   SIM    ] %s sees:", NodeName(o).c_str());
      for (const Member& m : serf(o).Members()) {
        std::printf(" %s=%s", m.name.c_str(), MemberStatusName(m.status));
      }
      std::printf("\n");
    }
    return false;
  }

  std::vector<int> Live() const {
    std::vector<int> out;
    for (int i = 0; i < size(); ++i) {
      if (!nodes_[i]->crashed) out.push_back(i);
    }
    return out;
  }

  std::vector<int> LiveExcept(int skip) const {
    std::vector<int> out;
    for (int i : Live()) {
      if (i != skip) out.push_back(i);
    }
    return out;
  }

  // Every observer lists every node of `group` with `status`.
  bool AllSee(const std::vector<int>& observers, const std::vector<int>& group,
              MemberStatus status) {
    for (int o : observers) {
      for (int g : group) {
        auto m = serf(o).GetMember(NodeName(g));
        if (!m || m->status != status) return false;
      }
    }
    return true;
  }

  // Who lacks whom, for failure messages.
  std::string Missing(const std::vector<int>& nodes) {
    std::string out;
    for (int o : nodes) {
      std::string lacks;
      for (int g : nodes) {
        auto m = serf(o).GetMember(NodeName(g));
        if (m && m->status == MemberStatus::kAlive) continue;
        lacks +=
            " " + NodeName(g) + (m ? std::string("(") + MemberStatusName(m->status) + ")" : "");
      }
      if (!lacks.empty()) out += "\n  " + NodeName(o) + " lacks" + lacks;
    }
    return out;
  }

  // No observer knows the node any more.
  bool NobodyKnows(const std::vector<int>& observers, int about) {
    for (int o : observers) {
      if (serf(o).GetMember(NodeName(about))) return false;
    }
    return true;
  }

  // The process dies: no goodbye, no packets either way.
  void Crash(int i) {
    net_.Crash(node(i).addr);
    serf(i).Shutdown();
    node(i).crashed = true;
  }

 private:
  uint64_t seed_;
  SimLoop loop_;
  SimNetwork net_;
  Tweak tweak_;
  std::vector<std::unique_ptr<SerfNode>> nodes_;
};

// Short maintenance periods so that reaping fits in a few simulated minutes.
void FastReaping(int, SerfOptions& o) {
  o.reap_interval = seconds(1);
  o.reconnect_interval = seconds(5);
  o.tombstone_timeout = seconds(60);
  o.reconnect_timeout = seconds(90);
  o.leave_propagate_delay = seconds(1);
}

// Queries have no anti-entropy: one that misses a node is lost for it. A 5-node cluster sends
// each broadcast 4 times (RetransmitMult 4), which misses some node for roughly one message in
// a few hundred; tests that need every node to answer double that.
void ReliableGossip(int i, SerfOptions& o) {
  FastReaping(i, o);
  o.memberlist.retransmit_mult = 8;
}

// ---------------------------------------------------------------------------------------------
// Pure parts

TEST(LamportClock, WitnessMovesPastTheSeenTimeAndNeverBack) {
  LamportClock c;
  EXPECT_EQ(c.Time(), 0u);
  EXPECT_EQ(c.Increment(), 1u);
  c.Witness(5);
  EXPECT_EQ(c.Time(), 6u) << "witnessing v leaves the clock at v + 1";
  c.Witness(3);
  EXPECT_EQ(c.Time(), 6u) << "an older time changes nothing";
  c.Witness(6);
  EXPECT_EQ(c.Time(), 7u) << "equal to the current time still moves past it";
  EXPECT_EQ(c.Increment(), 8u);
}

TEST(SerfOptions, ValidateRefusesBadSettings) {
  SerfOptions o = SerfOptions::Lan("n1");
  EXPECT_TRUE(o.Validate().ok());
  EXPECT_EQ(o.protocol_version, 4) << "Consul's Serf protocol";
  EXPECT_EQ(o.reconnect_timeout, std::chrono::hours(72)) << "Consul's agent default";
  EXPECT_EQ(o.leave_propagate_delay, seconds(3)) << "Consul's value";
  EXPECT_FALSE(o.enable_name_conflict_resolution) << "Consul turns it off";
  EXPECT_EQ(SerfOptions::Wan("n1").memberlist.probe_interval, seconds(5));

  o.protocol_version = 6;
  EXPECT_FALSE(o.Validate().ok());
  o.protocol_version = 4;
  o.tags["big"] = std::string(600, 'x');
  Status s = o.Validate();
  EXPECT_EQ(s.code(), Code::kTooLarge) << s.message();
  o.tags.clear();
  o.user_event_size_limit = 10 * 1024;
  EXPECT_FALSE(o.Validate().ok());
}

// ---------------------------------------------------------------------------------------------
// Membership and tags

TEST(SerfSim, TagsPropagateToAllMembers) {
  SerfCluster c(TestSeed(), 5,
                [](int i, SerfOptions& o) { o.tags["rack"] = "r" + std::to_string(i % 2); });
  ASSERT_TRUE(c.JoinAll());
  for (int o = 0; o < 5; ++o) {
    ASSERT_EQ(c.serf(o).Members().size(), 5u);
    for (int g = 0; g < 5; ++g) {
      auto m = c.serf(o).GetMember(NodeName(g));
      ASSERT_TRUE(m);
      EXPECT_EQ(m->tags, (Tags{{"role", "node"},
                               {"dc", "dc1"},
                               {"id", NodeName(g)},
                               {"rack", "r" + std::to_string(g % 2)}}))
          << NodeName(o) << " about " << NodeName(g);
      EXPECT_EQ(m->addr, NodeAddress(g));
      // Versions as Consul advertises them: memberlist [1, 5] at 2, Serf [2, 5] at 4.
      EXPECT_EQ(m->protocol_min, 1);
      EXPECT_EQ(m->protocol_max, 5);
      EXPECT_EQ(m->protocol_cur, 2);
      EXPECT_EQ(m->delegate_min, 2);
      EXPECT_EQ(m->delegate_max, 5);
      EXPECT_EQ(m->delegate_cur, 4);
    }
    // One join event per member, ourselves included.
    for (int g = 0; g < 5; ++g) EXPECT_EQ(c.node(o).Events(MemberEventType::kJoin, NodeName(g)), 1);
  }
}

// Probes carry coordinates (§11.8): after a minute of gossip on links of 1-2 ms each way, every
// node has a coordinate and caches the coordinates its probes brought back, its own included,
// and the coordinates put the nodes about one simulated RTT apart. A reaped member's goes with
// it. Vivaldi is only that exact: over 1,000 seeds a single pair's estimate ranged from 0.03 to
// 21 ms, while the median of the 20 estimates stayed within 0.88-4.2 ms. So the median is held
// to the true RTT (2-4 ms, with room), each pair only to a sane range; fresh coordinates would
// put every pair 0.02 ms apart.
TEST(SerfSim, ProbesTeachVivaldiCoordinates) {
  SerfCluster c(TestSeed(), 5, FastReaping);
  ASSERT_TRUE(c.JoinAll());
  c.loop().RunFor(seconds(60));
  std::vector<double> estimates;
  for (int o = 0; o < 5; ++o) {
    auto mine = c.serf(o).GetCoordinate();
    ASSERT_TRUE(mine);
    EXPECT_TRUE(c.serf(o).GetCachedCoordinate(NodeName(o)));
    for (int g = 0; g < 5; ++g) {
      if (g == o) continue;
      EXPECT_TRUE(c.serf(o).GetCachedCoordinate(NodeName(g))) << NodeName(o) << " " << NodeName(g);
      const double est = mine->DistanceTo(*c.serf(g).GetCoordinate());
      EXPECT_GT(est, 0.0) << NodeName(o) << " <-> " << NodeName(g);
      EXPECT_LT(est, 0.050) << NodeName(o) << " <-> " << NodeName(g);
      estimates.push_back(est);
    }
    EXPECT_EQ(c.serf(o).Stats().coordinate_rejected, 0u);
  }
  std::sort(estimates.begin(), estimates.end());
  const double median = estimates[estimates.size() / 2];
  EXPECT_GT(median, 0.0005);
  EXPECT_LT(median, 0.008);
  c.Crash(4);
  ASSERT_TRUE(c.loop().RunUntil([&] { return c.NobodyKnows(c.Live(), 4); }, minutes(10)));
  EXPECT_FALSE(c.serf(0).GetCachedCoordinate(NodeName(4)));
}

TEST(SerfSim, CoordinatesCanBeDisabled) {
  SerfCluster c(TestSeed(), 3, [](int i, SerfOptions& o) { o.disable_coordinates = i == 0; });
  ASSERT_TRUE(c.JoinAll());
  c.loop().RunFor(seconds(20));
  EXPECT_FALSE(c.serf(0).GetCoordinate());
  EXPECT_FALSE(c.serf(0).GetCachedCoordinate(NodeName(1)));
  // The others probe node 0, get empty acks, and go on without its coordinate.
  EXPECT_FALSE(c.serf(1).GetCachedCoordinate(NodeName(0)));
  EXPECT_TRUE(c.serf(1).GetCachedCoordinate(NodeName(2)));
  EXPECT_EQ(c.serf(1).Stats().coordinate_rejected, 0u);
}

TEST(SerfSim, TagUpdatePropagatesAndOversizedTagsAreRefused) {
  SerfCluster c(TestSeed(), 5);
  ASSERT_TRUE(c.JoinAll());

  Tags too_big = c.serf(2).tags();
  too_big["blob"] = std::string(500, 'x');
  Status s = c.serf(2).SetTags(too_big);
  EXPECT_EQ(s.code(), Code::kTooLarge);
  EXPECT_NE(s.message().find("exceeds limit of 512 bytes"), std::string::npos) << s.message();
  EXPECT_EQ(c.serf(2).tags().count("blob"), 0u) << "refused tags are not applied";

  Tags fresh = c.serf(2).tags();
  fresh["version"] = "2";
  Status done = Internal("not called");
  ASSERT_TRUE(c.serf(2).SetTags(fresh, [&](Status st) { done = st; }).ok());
  auto everyone_sees = [&] {
    for (int o = 0; o < 5; ++o) {
      auto m = c.serf(o).GetMember(NodeName(2));
      if (!m || m->tags != fresh) return false;
    }
    return true;
  };
  // Gossip carries the update to most members at once, but with 5 members a node misses every
  // one of the ~16 transmissions about 1 % of the time (seed 4467663571001959000); memberlist's
  // push-pull (every 30 s on the LAN) then brings it, so allow two push-pull rounds.
  ASSERT_TRUE(c.loop().RunUntil(everyone_sees, seconds(60), milliseconds(50)));
  c.loop().RunFor(seconds(2));
  EXPECT_TRUE(done.ok()) << done.message();
  for (int o = 0; o < 5; ++o) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kUpdate, NodeName(2)), 1) << NodeName(o);
    EXPECT_EQ(c.serf(o).GetMember(NodeName(2))->status, MemberStatus::kAlive);
  }
}

// The seeds a burst test runs: GANGWAY_SIM_SEED alone when given, else seeds 1..n. Fixed seeds
// keep these tests deterministic: each seed is one interleaving, and the bug they guard against
// showed up in a few percent of them.
std::vector<uint64_t> BurstSeeds(uint64_t n) {
  if (const char* env = std::getenv("GANGWAY_SIM_SEED")) return {std::strtoull(env, nullptr, 0)};
  std::vector<uint64_t> seeds;
  for (uint64_t s = 1; s <= n; ++s) seeds.push_back(s);
  return seeds;
}

// A burst of joins as bench/gossip-vs-serf starts it: 29 agents started 20 ms apart, each
// joining one seed, with a Consul client's tags. Each node gossips a member's alive message
// only RetransmitMult × ceil(log10(n + 1)) = 8 times to random peers, so in a few percent of
// such bursts some member never hears of some later one by gossip, and used to wait for the
// periodic push/pull, which first runs 30-60 s after start (the benchmark measured 32-45 s
// against the usual 2 s, for gangway and serf alike). Every member must list every other alive
// within a few seconds of the first join.
TEST(SerfSim, BurstOfJoinsReachesEveryMemberWithoutWaitingForPushPull) {
  constexpr int kNodes = 30;
  uint64_t pulls = 0;
  Duration slowest{};
  for (uint64_t seed : BurstSeeds(130)) {
    SerfCluster c(seed, kNodes, [](int i, SerfOptions& o) {
      o.tags = {{"role", "node"},
                {"dc", "dc1"},
                {"segment", ""},
                {"vsn", "2"},
                {"vsn_min", "2"},
                {"vsn_max", "3"},
                {"build", "1.17.0:gangway"},
                {"id", "00000000-0000-0000-0000-0000000000" + std::to_string(10 + i)}};
    });
    for (int i = 1; i < kNodes; ++i) {
      c.loop().Defer(milliseconds(20) * i, [&c, i] {
        c.serf(i).Join({c.node(0).addr}, false, [](int n, Status s) {
          EXPECT_EQ(n, 1);
          EXPECT_TRUE(s.ok()) << s.message();
        });
      });
    }
    const TimePoint start = c.loop().Now();
    const bool converged =
        c.loop().RunUntil([&] { return c.AllSee(c.Live(), c.Live(), MemberStatus::kAlive); },
                          seconds(5), milliseconds(20));
    ASSERT_TRUE(converged) << "seed " << seed
                           << ": not converged 5 s after the first join:" << c.Missing(c.Live());
    slowest = std::max(slowest, c.loop().Now() - start);
    for (int i = 0; i < kNodes; ++i) pulls += c.serf(i).Stats().missing_member_pulls;
  }
  std::printf(
      "[   SIM    ] slowest burst converged %.2f s after the first join; %llu pulls after "
      "missed alive messages\n",
      std::chrono::duration<double>(slowest).count(), static_cast<unsigned long long>(pulls));
}

// Two nodes joining a third at almost the same time, on the Local profile as
// serf_loopback_test runs them: every broadcast is sent twice, and each node has only two
// peers. When the seed spent both transmissions of the second joiner's alive message on that
// joiner itself (piggybacked on a ping and an ack), the first joiner never heard of it until
// push/pull, 15-30 s later: about one seed in a hundred.
TEST(SerfSim, ThreeNodesJoiningTogetherConvergeByGossip) {
  for (uint64_t seed : BurstSeeds(200)) {
    SerfCluster c(seed, 3, [](int i, SerfOptions& o) {
      Tags tags = o.tags;
      o = SerfOptions::Local(NodeName(i));
      o.tags = tags;
    });
    SeededRandom r(seed);
    for (int i : {1, 2}) {
      c.loop().Defer(UniformDuration(r, milliseconds(30)), [&c, i] {
        c.serf(i).Join({c.node(0).addr}, false, [](int n, Status s) {
          EXPECT_EQ(n, 1);
          EXPECT_TRUE(s.ok()) << s.message();
        });
      });
    }
    ASSERT_TRUE(
        c.loop().RunUntil([&] { return c.AllSee(c.Live(), c.Live(), MemberStatus::kAlive); },
                          seconds(5), milliseconds(10)))
        << "seed " << seed << ": not converged after 5 s:" << c.Missing(c.Live());
  }
}

// The repair itself: a node that was deaf while a member joined hears of that member only
// through its join intent, gossiped late; it pulls a peer's state a second later instead of
// waiting for the periodic push/pull.
TEST(SerfSim, JoinIntentAboutAnUnknownMemberPullsItsState) {
  SerfCluster c(TestSeed(), 4);
  for (int i : {1, 2}) c.serf(i).Join({c.node(0).addr}, false, [](int, Status) {});
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        return c.AllSee({0, 1, 2}, {0, 1, 2}, MemberStatus::kAlive);
      },
      seconds(10)))
      << c.Missing({0, 1, 2});
  // Node 2 hears nothing while node 3 joins and the news is gossiped.
  for (int i : {0, 1, 3}) c.net().Block(c.node(i).addr, c.node(2).addr);
  c.serf(3).Join({c.node(0).addr}, false, [](int, Status) {});
  c.loop().RunFor(seconds(2));
  for (int i : {0, 1, 3}) c.net().Unblock(c.node(i).addr, c.node(2).addr);
  ASSERT_TRUE(c.AllSee({0, 1, 3}, {0, 1, 3}, MemberStatus::kAlive)) << c.Missing({0, 1, 3});
  ASSERT_FALSE(c.serf(2).GetMember(NodeName(3))) << "node 2 was meant to miss the join";
  c.loop().RunFor(seconds(1));
  ASSERT_FALSE(c.serf(2).GetMember(NodeName(3))) << "gossip about the join is over";

  // The join intent reaches node 2 late, as a straggling gossip message from node 0.
  const std::string intent = serf::EncodeMessage(serf::Join{c.serf(3).member_time(), NodeName(3)});
  auto packet = BuildPacket({UserMsg{intent}}, SendOptions{}, nullptr);
  ASSERT_TRUE(packet.ok()) << packet.status().message();
  c.net().InjectPacket(c.node(0).addr, c.node(2).addr, *packet);
  const TimePoint heard = c.loop().Now();
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        return c.AllSee({0, 1, 2, 3}, {0, 1, 2, 3}, MemberStatus::kAlive);
      },
      seconds(3), milliseconds(10)))
      << c.Missing({0, 1, 2, 3});
  EXPECT_GE(c.loop().Now() - heard, c.serf(2).options().missing_member_pull_delay)
      << "the alive message is given time to arrive first";
  EXPECT_EQ(c.serf(2).Stats().missing_member_pulls, 1u);
  for (int i : {0, 1, 3}) EXPECT_EQ(c.serf(i).Stats().missing_member_pulls, 0u) << NodeName(i);
}

TEST(SerfSim, GracefulLeaveShowsLeftEverywhereThenIsReapedAfterTheTombstoneTimeout) {
  // A node that misses the leave intent but hears memberlist's dead message records a failure
  // (and a forced leave at the next push/pull): ReliableGossip keeps that rare race out.
  SerfCluster c(TestSeed(), 5, ReliableGossip);
  ASSERT_TRUE(c.JoinAll());
  c.loop().RunFor(seconds(5));

  Status left = Internal("not called");
  const TimePoint start = c.loop().Now();
  c.serf(3).Leave([&](Status s) { left = s; });
  EXPECT_EQ(c.serf(3).state(), SerfState::kLeaving);
  ASSERT_TRUE(c.loop().RunUntil([&] { return left.code() != Code::kInternal; }, seconds(20),
                                milliseconds(10)));
  ASSERT_TRUE(left.ok()) << left.message();
  EXPECT_EQ(c.serf(3).state(), SerfState::kLeft);
  EXPECT_EQ(c.serf(3).LocalMember().status, MemberStatus::kLeft);
  std::printf("[   SIM    ] leave took %.3f s\n",
              std::chrono::duration<double>(c.loop().Now() - start).count());
  const std::vector<int> others = c.LiveExcept(3);
  EXPECT_TRUE(c.loop().RunUntil([&] { return c.AllSee(others, {3}, MemberStatus::kLeft); },
                                seconds(5), milliseconds(10)));
  c.Crash(3);  // the process exits after leaving

  // Still remembered as left (not failed) for most of the tombstone timeout...
  c.loop().RunFor(seconds(40));
  EXPECT_TRUE(c.AllSee(others, {3}, MemberStatus::kLeft));
  for (int o : others) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kLeave, NodeName(3)), 1) << NodeName(o);
    EXPECT_EQ(c.node(o).Events(MemberEventType::kFailed, NodeName(3)), 0) << NodeName(o);
    EXPECT_EQ(c.node(o).Events(MemberEventType::kReap, NodeName(3)), 0) << NodeName(o);
  }
  // ...then reaped everywhere.
  ASSERT_TRUE(c.loop().RunUntil([&] { return c.NobodyKnows(others, 3); }, seconds(30)));
  EXPECT_GE(c.loop().Now() - start, seconds(60));
  for (int o : others) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kReap, NodeName(3)), 1) << NodeName(o);
    EXPECT_EQ(c.serf(o).Members().size(), 4u);
  }
  EXPECT_TRUE(c.AllSee(others, others, MemberStatus::kAlive));
}

TEST(SerfSim, CrashedMemberShowsFailedThenIsReapedAfterTheReconnectTimeout) {
  SerfCluster c(TestSeed(), 5, FastReaping);
  ASSERT_TRUE(c.JoinAll());
  c.loop().RunFor(seconds(5));
  c.Crash(4);
  const TimePoint crash = c.loop().Now();
  const std::vector<int> others = c.LiveExcept(4);
  ASSERT_TRUE(
      c.loop().RunUntil([&] { return c.AllSee(others, {4}, MemberStatus::kFailed); }, seconds(30)));
  std::printf("[   SIM    ] failed everywhere %.2f s after the crash\n",
              std::chrono::duration<double>(c.loop().Now() - crash).count());
  for (int o : others) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kFailed, NodeName(4)), 1) << NodeName(o);
    EXPECT_EQ(c.node(o).Events(MemberEventType::kLeave, NodeName(4)), 0) << NodeName(o);
  }
  // Failed members are kept (and retried) until the reconnect timeout, then reaped.
  c.loop().RunFor(seconds(60));
  EXPECT_TRUE(c.AllSee(others, {4}, MemberStatus::kFailed));
  ASSERT_TRUE(c.loop().RunUntil([&] { return c.NobodyKnows(others, 4); }, seconds(60)));
  EXPECT_GE(c.loop().Now() - crash, seconds(90));
  uint64_t attempts = 0;
  for (int o : others) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kReap, NodeName(4)), 1) << NodeName(o);
    attempts += c.serf(o).Stats().reconnect_attempts;
  }
  EXPECT_GT(attempts, 0u) << "the failed member was retried before being reaped";
}

TEST(SerfSim, ForceLeaveTurnsAFailedMemberIntoLeftAndPruneForgetsIt) {
  SerfCluster c(TestSeed(), 5, FastReaping);
  ASSERT_TRUE(c.JoinAll());
  c.Crash(4);
  c.Crash(3);
  const std::vector<int> others = {0, 1, 2};
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        return c.AllSee(others, {3, 4}, MemberStatus::kFailed);
      },
      seconds(30)));
  Status removed = Internal("not called");
  c.serf(0).RemoveFailedNode(NodeName(4), false, [&](Status s) { removed = s; });
  // Gossip usually carries the intent; with two dead gossip targets among four it can miss a
  // node, and then the next push/pull's left-members list does it.
  ASSERT_TRUE(c.loop().RunUntil([&] { return c.AllSee(others, {4}, MemberStatus::kLeft); },
                                seconds(70), milliseconds(20)));
  c.loop().RunFor(seconds(2));
  EXPECT_TRUE(removed.ok()) << removed.message();
  for (int o : others) EXPECT_EQ(c.node(o).Events(MemberEventType::kLeave, NodeName(4)), 1);

  c.serf(1).RemoveFailedNode(NodeName(3), /*prune=*/true, [](Status) {});
  // As above, the intent can miss a node (about one seed in a few hundred); that node then
  // forgets the member when its reconnect timeout (90 s here) reaps it, as Serf does.
  ASSERT_TRUE(
      c.loop().RunUntil([&] { return c.NobodyKnows(others, 3); }, seconds(150), milliseconds(20)));
  for (int o : others) EXPECT_EQ(c.node(o).Events(MemberEventType::kReap, NodeName(3)), 1);
}

TEST(SerfSim, FailedMemberThatComesBackRejoinsThroughReconnect) {
  SerfCluster c(TestSeed(), 5, [](int i, SerfOptions& o) {
    FastReaping(i, o);
    o.reconnect_timeout = minutes(10);  // the outage must not outlast it
  });
  ASSERT_TRUE(c.JoinAll());
  c.loop().RunFor(seconds(5));
  // A long outage of node 2's network: its process keeps running.
  c.net().Crash(c.node(2).addr);
  const std::vector<int> others = c.LiveExcept(2);
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        return c.AllSee(others, {2}, MemberStatus::kFailed) &&
               c.AllSee({2}, others, MemberStatus::kFailed);
      },
      // The isolated node suspects its peers one probe at a time, with its awareness score
      // stretching the probe interval up to 8×.
      seconds(150)));
  // Long enough for memberlist to forget the dead on both sides (gossip_to_the_dead_time):
  // only Serf's failed list still remembers them.
  c.loop().RunFor(seconds(40));
  for (int o : others) EXPECT_FALSE(c.serf(o).memberlist().GetNode(NodeName(2)));
  uint64_t reconnects_before = 0;
  for (int i = 0; i < 5; ++i) reconnects_before += c.serf(i).Stats().reconnects;
  EXPECT_EQ(reconnects_before, 0u) << "nothing to reach during the outage";

  c.net().Restart(c.node(2).addr);
  const TimePoint healed = c.loop().Now();
  ASSERT_TRUE(c.loop().RunUntil([&] { return c.AllSee(c.Live(), c.Live(), MemberStatus::kAlive); },
                                seconds(30)));
  std::printf("[   SIM    ] rejoined everywhere %.2f s after the network came back\n",
              std::chrono::duration<double>(c.loop().Now() - healed).count());
  // Nobody called Join and memberlist had forgotten the dead: only reconnects can do this.
  uint64_t reconnects = 0;
  for (int i = 0; i < 5; ++i) reconnects += c.serf(i).Stats().reconnects;
  EXPECT_GT(reconnects, 0u);
  for (int o : others) {
    EXPECT_EQ(c.node(o).Events(MemberEventType::kJoin, NodeName(2)), 2) << "joined, then rejoined";
    EXPECT_EQ(c.node(o).Events(MemberEventType::kReap, NodeName(2)), 0);
    EXPECT_EQ(c.serf(o).Stats().failed, 0u);
  }
}

// ---------------------------------------------------------------------------------------------
// User events

TEST(SerfSim, UserEventsReachEveryNodeExactlyOnce) {
  SerfCluster c(TestSeed(), 5, FastReaping);
  ASSERT_TRUE(c.JoinAll());
  std::set<std::string> sent;
  for (int k = 0; k < 6; ++k) {
    const int from = k % 5;
    const std::string name = "deploy-" + std::to_string(k);
    ASSERT_TRUE(c.serf(from).UserEvent(name, "v" + std::to_string(k), false).ok());
    sent.insert(name);
    c.loop().RunFor(milliseconds(300));
  }
  // Same name and payload from two nodes at different times: two distinct events. Serf tells
  // events apart by Lamport time, name and payload, so the second is distinct only once its
  // sender has seen the first (its event clock has moved past it); gossip alone misses a node
  // now and then, and push/pull brings the event within a round.
  ASSERT_TRUE(c.serf(0).UserEvent("restart", std::nullopt, true).ok());
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        for (const UserEvent& e : c.node(3).user_events) {
          if (e.name == "restart") return true;
        }
        return false;
      },
      seconds(60), milliseconds(20)));
  ASSERT_TRUE(c.serf(3).UserEvent("restart", std::nullopt, true).ok());
  // Gossip plus a couple of push/pulls, which carry the event buffer again.
  c.loop().RunFor(seconds(75));

  for (int o = 0; o < 5; ++o) {
    std::map<std::string, int> got;
    for (const UserEvent& e : c.node(o).user_events) ++got[e.name];
    for (const std::string& name : sent) EXPECT_EQ(got[name], 1) << NodeName(o) << " " << name;
    EXPECT_EQ(got["restart"], 2) << NodeName(o);
    EXPECT_EQ(c.node(o).user_events.size(), sent.size() + 2) << NodeName(o);
  }

  // A late joiner that ignores old events gets none; one that does not gets each once.
  SerfNode& quiet = c.Add();
  SerfNode& curious = c.Add();
  quiet.serf->Join({c.node(0).addr}, /*ignore_old=*/true, [](int, Status) {});
  curious.serf->Join({c.node(1).addr}, /*ignore_old=*/false, [](int, Status) {});
  c.loop().RunFor(seconds(75));
  EXPECT_TRUE(quiet.user_events.empty()) << quiet.user_events.size() << " old events delivered";
  EXPECT_EQ(curious.user_events.size(), sent.size() + 2);
  std::set<std::pair<LamportTime, std::string>> unique;
  for (const UserEvent& e : curious.user_events) unique.insert({e.ltime, e.name});
  EXPECT_EQ(unique.size(), curious.user_events.size()) << "no duplicates";

  // A new event reaches the late joiners too (by gossip, or by push/pull when gossip missed).
  ASSERT_TRUE(c.serf(4).UserEvent("after-join", "x", false).ok());
  auto after_join = [&](int o) {
    return std::count_if(c.node(o).user_events.begin(), c.node(o).user_events.end(),
                         [](const UserEvent& e) { return e.name == "after-join"; });
  };
  EXPECT_TRUE(c.loop().RunUntil(
      [&] {
        for (int o = 0; o < c.size(); ++o) {
          if (after_join(o) == 0) return false;
        }
        return true;
      },
      seconds(75)));
  c.loop().RunFor(seconds(30));
  for (int o = 0; o < c.size(); ++o) EXPECT_EQ(after_join(o), 1) << NodeName(o);
}

TEST(SerfSim, OversizedUserEventsAreRefused) {
  SerfCluster c(TestSeed(), 1);
  Status s = c.serf(0).UserEvent("big", std::string(600, 'x'), false);
  EXPECT_EQ(s.code(), Code::kTooLarge);
  EXPECT_NE(s.message().find("configured limit of 512 bytes"), std::string::npos) << s.message();
  EXPECT_TRUE(c.serf(0).UserEvent("small", std::string(400, 'x'), false).ok());
  c.loop().RunFor(seconds(1));
  EXPECT_EQ(c.node(0).user_events.size(), 1u) << "the originator gets its own event";
}

// ---------------------------------------------------------------------------------------------
// Queries

struct QueryResult {
  std::vector<std::string> acks;
  std::vector<std::string> responses;
  int finished = 0;
};

QueryCallbacks Record(QueryResult* r) {
  QueryCallbacks cb;
  cb.on_ack = [r](const std::string& from) { r->acks.push_back(from); };
  cb.on_response = [r](const NodeResponse& resp) {
    EXPECT_EQ(resp.payload, "I am " + resp.from);
    r->responses.push_back(resp.from);
  };
  cb.on_finish = [r] { ++r->finished; };
  return cb;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(SerfSim, QueryFiltersRespondersAndAcksWhenAsked) {
  SerfCluster c(TestSeed(), 5, [](int i, SerfOptions& o) {
    ReliableGossip(i, o);
    o.tags["role"] = i < 3 ? "web" : "db";
  });
  ASSERT_TRUE(c.JoinAll());
  const std::vector<std::string> web = {NodeName(0), NodeName(1), NodeName(2)};

  QueryResult tagged;
  QueryParams params;
  params.filter_tags = {{"role", "^web$"}};
  params.request_ack = true;
  auto q = c.serf(0).Query("whoami", std::nullopt, params, Record(&tagged));
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(c.serf(0).DefaultQueryTimeout(), milliseconds(200 * 16))
      << "gossip interval × 16 × ceil(log10(5 + 1))";
  c.loop().RunUntil((*q)->deadline() + seconds(1));
  EXPECT_EQ(Sorted(tagged.acks), web);
  EXPECT_EQ(Sorted(tagged.responses), web);
  EXPECT_EQ(tagged.finished, 1);
  EXPECT_TRUE((*q)->finished());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.node(i).queries_seen.size(), i < 3 ? 1u : 0u) << NodeName(i);
  }

  // A node filter, no acks, answers relayed through two members: still one response per node.
  QueryResult named;
  QueryParams by_node;
  by_node.filter_nodes = {NodeName(3), NodeName(4)};
  by_node.relay_factor = 2;
  by_node.timeout = seconds(2);
  q = c.serf(1).Query("whoami", std::nullopt, by_node, Record(&named));
  ASSERT_TRUE(q.ok());
  c.loop().RunFor(seconds(3));
  EXPECT_TRUE(named.acks.empty());
  EXPECT_EQ(Sorted(named.responses), (std::vector<std::string>{NodeName(3), NodeName(4)}));
  EXPECT_EQ(named.finished, 1);

  // Tag filters are Go regexps (RE2): Go's classes work, and a pattern that does not compile
  // (this one once hung std::regex) matches no node.
  QueryResult go_syntax;
  QueryParams letters;
  letters.filter_tags = {{"role", R"(^\pL{3}$)"}};
  letters.request_ack = true;
  q = c.serf(3).Query("whoami", std::nullopt, letters, Record(&go_syntax));
  ASSERT_TRUE(q.ok()) << q.status().message();
  c.loop().RunUntil((*q)->deadline() + seconds(1));
  EXPECT_EQ(Sorted(go_syntax.responses), web);

  QueryResult bad;
  QueryParams bad_filter;
  bad_filter.filter_tags = {{"role", ".*+*'*]"}};
  bad_filter.request_ack = true;
  q = c.serf(0).Query("whoami", std::nullopt, bad_filter, Record(&bad));
  ASSERT_TRUE(q.ok()) << q.status().message();
  c.loop().RunUntil((*q)->deadline() + seconds(1));
  EXPECT_TRUE(bad.acks.empty());
  EXPECT_TRUE(bad.responses.empty());
  EXPECT_EQ(bad.finished, 1);
}

TEST(SerfSim, AnswersAreTakenOnlyUntilTheDeadline) {
  SerfCluster c(TestSeed(), 3, ReliableGossip);
  ASSERT_TRUE(c.JoinAll());
  c.node(2).hold_queries = true;
  QueryResult r;
  QueryParams p;
  p.timeout = seconds(1);
  auto q = c.serf(0).Query("slow", std::nullopt, p, Record(&r));
  ASSERT_TRUE(q.ok());
  c.loop().RunFor(milliseconds(500));
  ASSERT_EQ(c.node(2).held.size(), 1u);
  EXPECT_EQ(c.node(2).held[0]->source_node(), NodeName(0));
  c.loop().RunFor(seconds(1));
  EXPECT_EQ(r.finished, 1);
  EXPECT_EQ(Sorted(r.responses), (std::vector<std::string>{NodeName(0), NodeName(1)}));
  Status late = c.node(2).held[0]->Respond("I am " + NodeName(2));
  EXPECT_FALSE(late.ok());
  EXPECT_NE(late.message().find("past the deadline"), std::string::npos) << late.message();

  // In time, a held query can be answered once, later.
  QueryResult r2;
  q = c.serf(0).Query("slow", std::nullopt, p, Record(&r2));
  ASSERT_TRUE(q.ok());
  c.loop().RunFor(milliseconds(300));
  ASSERT_EQ(c.node(2).held.size(), 2u);
  EXPECT_TRUE(c.node(2).held[1]->Respond("I am " + NodeName(2)).ok());
  EXPECT_FALSE(c.node(2).held[1]->Respond("I am " + NodeName(2)).ok()) << "only once";
  c.loop().RunFor(seconds(1));
  EXPECT_EQ(Sorted(r2.responses),
            (std::vector<std::string>{NodeName(0), NodeName(1), NodeName(2)}));
}

TEST(SerfSim, InternalPingQueryIsAckedByEveryoneAndNotHandedToTheOwner) {
  SerfCluster c(TestSeed(), 5, ReliableGossip);
  ASSERT_TRUE(c.JoinAll());
  QueryResult r;
  QueryParams p;
  p.request_ack = true;
  auto q = c.serf(2).Query("_serf_ping", std::nullopt, p, Record(&r));
  ASSERT_TRUE(q.ok());
  c.loop().RunUntil((*q)->deadline() + seconds(1));
  EXPECT_EQ(r.acks.size(), 5u);
  EXPECT_TRUE(r.responses.empty());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(c.node(i).queries_seen.empty());
}

// ---------------------------------------------------------------------------------------------
// Keyring queries

TEST(SerfSim, KeyringQueriesInstallUseAndRemoveKeysAcrossFiveNodes) {
  const std::string k1(32, '\x01');
  const std::string k2(32, '\x02');
  auto ring = Keyring::Create({}, k1);
  ASSERT_TRUE(ring.ok());
  SerfCluster c(TestSeed(), 5, [&](int i, SerfOptions& o) {
    ReliableGossip(i, o);
    o.memberlist.keyring = &*ring;
  });
  ASSERT_TRUE(c.JoinAll());
  EXPECT_TRUE(c.serf(0).EncryptionEnabled());

  auto run = [&](const std::function<void(Serf::KeyCallback)>& start) {
    std::optional<std::pair<Status, KeyResponse>> out;
    start([&](Status s, const KeyResponse& r) { out.emplace(s, r); });
    EXPECT_TRUE(c.loop().RunUntil([&] { return out.has_value(); }, seconds(10), milliseconds(10)));
    return out.value_or(std::make_pair(Internal("no answer"), KeyResponse{}));
  };
  const std::string b1 = Base64Encode(k1);
  const std::string b2 = Base64Encode(k2);

  auto [s, r] = run([&](auto cb) { c.serf(0).ListKeys(cb); });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r.num_nodes, 5);
  EXPECT_EQ(r.num_resp, 5);
  EXPECT_EQ(r.keys, (std::map<std::string, int>{{b1, 5}}));
  EXPECT_EQ(r.primary_keys, (std::map<std::string, int>{{b1, 5}}));

  std::tie(s, r) = run([&](auto cb) { c.serf(1).InstallKey(b2, cb); });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r.num_resp, 5);
  std::tie(s, r) = run([&](auto cb) { c.serf(2).ListKeys(cb); });
  EXPECT_EQ(r.keys, (std::map<std::string, int>{{b1, 5}, {b2, 5}}));
  EXPECT_EQ(r.primary_keys, (std::map<std::string, int>{{b1, 5}}));

  std::tie(s, r) = run([&](auto cb) { c.serf(3).UseKey(b2, cb); });
  EXPECT_TRUE(s.ok()) << s.message();
  std::tie(s, r) = run([&](auto cb) { c.serf(4).ListKeys(cb); });
  EXPECT_EQ(r.primary_keys, (std::map<std::string, int>{{b2, 5}}));

  // The primary key cannot be removed: every node says so.
  std::tie(s, r) = run([&](auto cb) { c.serf(0).RemoveKey(b2, cb); });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "5/5 nodes reported failure");
  EXPECT_EQ(r.num_err, 5);
  EXPECT_EQ(r.messages.size(), 5u);

  std::tie(s, r) = run([&](auto cb) { c.serf(0).RemoveKey(b1, cb); });
  EXPECT_TRUE(s.ok()) << s.message();
  std::tie(s, r) = run([&](auto cb) { c.serf(1).ListKeys(cb); });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r.keys, (std::map<std::string, int>{{b2, 5}}));
  EXPECT_EQ(r.primary_keys, (std::map<std::string, int>{{b2, 5}}));

  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.node(i).keyring->keys(), (std::vector<std::string>{k2})) << NodeName(i);
    EXPECT_EQ(c.node(i).keyring_changes, 3) << "install, use, remove";
  }
  // The cluster still talks, now under the new key only.
  c.loop().RunFor(seconds(40));
  EXPECT_TRUE(c.AllSee(c.Live(), c.Live(), MemberStatus::kAlive));
  ASSERT_TRUE(c.serf(3).UserEvent("rotated", std::nullopt, false).ok());
  c.loop().RunFor(seconds(3));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.node(i).user_events.size(), 1u) << NodeName(i);

  // A bad key is refused before anything is sent.
  std::tie(s, r) = run([&](auto cb) { c.serf(0).InstallKey("not base64!", cb); });
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
}

TEST(SerfSim, KeyQueriesWithoutEncryptionReportEveryNodeFailing) {
  SerfCluster c(TestSeed(), 3, ReliableGossip);
  ASSERT_TRUE(c.JoinAll());
  std::optional<Status> status;
  KeyResponse resp;
  c.serf(0).ListKeys([&](Status s, const KeyResponse& r) {
    status = s;
    resp = r;
  });
  ASSERT_TRUE(c.loop().RunUntil([&] { return status.has_value(); }, seconds(10)));
  EXPECT_EQ(status->message(), "3/3 nodes reported failure");
  for (const auto& [node, msg] : resp.messages) {
    EXPECT_EQ(msg, "Keyring is empty (encryption not enabled)") << node;
  }
}

TEST(SerfSim, DestroyingASerfMidQueryAndMidLeaveIsSafe) {
  SerfCluster c(TestSeed(), 3);
  ASSERT_TRUE(c.JoinAll());
  QueryResult r;
  auto q = c.serf(0).Query("whoami", std::nullopt, QueryParams{}, Record(&r));
  ASSERT_TRUE(q.ok());
  std::shared_ptr<QueryResponse> kept = *q;  // outlives its Serf
  bool leave_done = false;
  c.serf(1).Leave([&](Status) { leave_done = true; });
  c.loop().RunFor(milliseconds(1));
  for (int i : {0, 1}) {
    c.net().Crash(c.node(i).addr);
    c.node(i).crashed = true;
    c.node(i).serf.reset();
  }
  c.loop().RunFor(seconds(30));
  EXPECT_FALSE(leave_done) << "callbacks of a destroyed Serf never run";
  EXPECT_EQ(r.finished, 0);
  EXPECT_FALSE(kept->finished());
  // The survivor carries on: the destroyed nodes are gone to it (node 1 may have got its
  // leave intent out in that millisecond).
  EXPECT_TRUE(c.AllSee({2}, {0}, MemberStatus::kFailed));
  const MemberStatus one = c.serf(2).GetMember(NodeName(1))->status;
  EXPECT_TRUE(one == MemberStatus::kFailed || one == MemberStatus::kLeft) << MemberStatusName(one);
}

// ---------------------------------------------------------------------------------------------
// Lamport clocks

TEST(SerfSim, LamportClocksAreMonotonicAndConverge) {
  SerfCluster c(TestSeed(), 5, ReliableGossip);
  struct Clocks {
    LamportTime member = 0, event = 0, query = 0;
  };
  std::vector<Clocks> last(5);
  int violations = 0;
  auto sample = [&] {
    for (int i = 0; i < c.size(); ++i) {
      if (i >= static_cast<int>(last.size())) break;
      const Serf& s = c.serf(i);
      if (s.member_time() < last[i].member || s.event_time() < last[i].event ||
          s.query_time() < last[i].query) {
        ++violations;
      }
      last[i] = {s.member_time(), s.event_time(), s.query_time()};
    }
  };
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.serf(i).member_time(), 1u) << "every clock starts at 1";
    EXPECT_EQ(c.serf(i).event_time(), 1u);
    EXPECT_EQ(c.serf(i).query_time(), 1u);
  }
  // Joins, events, queries and a leave, with the clocks sampled every 50 ms throughout.
  std::function<void()> tick = [&] {
    sample();
    c.loop().Defer(milliseconds(50), tick);
  };
  tick();
  ASSERT_TRUE(c.JoinAll());
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.serf(k % 5).UserEvent("e" + std::to_string(k), std::nullopt, false).ok());
    ASSERT_TRUE(c.serf((k + 2) % 5).Query("q", std::nullopt, QueryParams{}).ok());
    c.loop().RunFor(milliseconds(100));
  }
  c.serf(4).Leave([](Status) {});
  c.loop().RunFor(seconds(45));
  EXPECT_EQ(violations, 0);
  // Everyone has witnessed every event and query: the clocks agree, and are past every event
  // time seen. (Member clocks may differ: a push/pull replays a left member's leave at its
  // status time + 1, which moves only the clocks of the nodes that exchanged it.)
  for (int i : {0, 1, 2, 3}) {
    EXPECT_EQ(c.serf(i).event_time(), c.serf(0).event_time()) << NodeName(i);
    EXPECT_EQ(c.serf(i).query_time(), c.serf(0).query_time()) << NodeName(i);
    EXPECT_GT(c.serf(i).query_time(), 1u);
    ASSERT_EQ(c.node(i).user_events.size(), 10u) << NodeName(i);
    for (const UserEvent& e : c.node(i).user_events) EXPECT_GT(c.serf(i).event_time(), e.ltime);
  }
}

}  // namespace
}  // namespace gangway::gossip
