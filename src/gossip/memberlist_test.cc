#include "gossip/memberlist.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "core/log.h"
#include "gossip/testing/sim.h"

namespace gangway::gossip {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::LinkOptions;
using testing::SimLoop;
using testing::SimNetwork;

const bool kQuietLogs = [] {
  if (std::getenv("GANGWAY_SIM_LOG") == nullptr) SetLogLevel(LogLevel::kError);
  return true;
}();

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

// Every simulation prints its seed; GANGWAY_SIM_SEED=<seed> replays a run exactly.
uint64_t TestSeed() {
  if (const char* env = std::getenv("GANGWAY_SIM_SEED")) return std::strtoull(env, nullptr, 0);
  return RandomSeed();
}

// What one node's memberlist told its delegate, plus the failed members Serf would remember
// for reconnecting.
class RecordingDelegate final : public Delegate {
 public:
  explicit RecordingDelegate(SimLoop* loop) : loop_(loop) {}

  void NotifyJoin(const Node& n) override {
    ++joins[n.name];
    failed.erase(n.name);
  }
  void NotifyLeave(const Node& n) override {
    if (n.state == NodeState::kDead) {
      dead_at[n.name].push_back(loop_->Now());
      failed[n.name] = n.addr;
    } else {
      left_at[n.name].push_back(loop_->Now());
    }
  }
  void NotifyUpdate(const Node& n) override { ++updates[n.name]; }
  void NotifyMsg(std::string_view msg) override { messages.emplace_back(msg); }
  std::string NodeMeta(size_t) override { return meta; }

  std::map<std::string, int> joins;
  std::map<std::string, int> updates;
  std::map<std::string, std::vector<TimePoint>> dead_at;
  std::map<std::string, std::vector<TimePoint>> left_at;
  std::map<std::string, Address> failed;
  std::vector<std::string> messages;
  std::string meta;

 private:
  SimLoop* loop_;
};

struct SimNode {
  std::string name;
  Address addr;
  Transport* transport = nullptr;
  std::unique_ptr<SeededRandom> random;
  std::unique_ptr<testing::SeededNonceSource> nonces;
  std::unique_ptr<RecordingDelegate> delegate;
  std::unique_ptr<Memberlist> ml;
  bool crashed = false;
};

std::string NodeName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "node-%03d", i);
  return buf;
}

Address NodeAddress(int i) {
  const char ip[4] = {10, 0, static_cast<char>(i / 250), static_cast<char>(i % 250 + 1)};
  return *Address::FromIp(std::string_view(ip, 4), 7946);
}

// N memberlists on one simulated network and clock. Members are declared so that the nodes go
// first, then the network, then the loop.
class Cluster {
 public:
  using Tweak = std::function<void(Options&)>;

  Cluster(uint64_t seed, int n, Options (*profile)(std::string) = &Options::Lan,
          Tweak tweak = nullptr)
      : seed_(seed), net_(&loop_, seed), profile_(profile), tweak_(std::move(tweak)) {
    std::printf("[   SIM    ] seed %llu (replay with GANGWAY_SIM_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    for (int i = 0; i < n; ++i) Add();
  }
  ~Cluster() { nodes_.clear(); }

  SimNode& Add() {
    const int i = static_cast<int>(nodes_.size());
    auto node = std::make_unique<SimNode>();
    node->name = NodeName(i);
    node->addr = NodeAddress(i);
    node->transport = net_.AddNode(node->addr);
    node->random = std::make_unique<SeededRandom>(seed_ * 0x9e3779b97f4a7c15ULL + i + 1);
    node->nonces = std::make_unique<testing::SeededNonceSource>(seed_ + 7919 * (i + 1));
    node->delegate = std::make_unique<RecordingDelegate>(&loop_);
    Options o = profile_(node->name);
    if (tweak_) tweak_(o);
    auto ml = Memberlist::Create(
        o, {&loop_, node->transport, node->random.get(), node->delegate.get(), node->nonces.get()});
    EXPECT_TRUE(ml.ok()) << ml.status().message();
    node->ml = std::move(ml).value();
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  SimNode& node(int i) { return *nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  SimLoop& loop() { return loop_; }
  SimNetwork& net() { return net_; }

  // Every node but `seed` joins it at a random moment within `spread`.
  void JoinAllTo(int seed, Duration spread) {
    SeededRandom r(seed_ ^ 0x5eed);
    for (int i = 0; i < size(); ++i) {
      if (i == seed) continue;
      loop_.Defer(UniformDuration(r, spread), [this, i, seed] {
        node(i).ml->Join({node(seed).addr}, [this](int joined, Status s) {
          if (joined == 1 && s.ok()) ++joins_ok_;
        });
      });
    }
  }
  int joins_ok() const { return joins_ok_; }

  // Kills a node: its packets and streams stop both ways and its process is gone.
  void Crash(int i) {
    net_.Crash(node(i).addr);
    node(i).ml->Shutdown();
    node(i).crashed = true;
  }

  std::vector<int> Live() const {
    std::vector<int> out;
    for (int i = 0; i < size(); ++i) {
      if (!nodes_[i]->crashed) out.push_back(i);
    }
    return out;
  }

  // Every live node sees every node in `group` in `state`.
  bool AllSee(const std::vector<int>& observers, const std::vector<int>& group, NodeState state) {
    for (int o : observers) {
      for (int g : group) {
        auto n = nodes_[o]->ml->GetNode(nodes_[g]->name);
        if (!n || n->state != state) return false;
      }
    }
    return true;
  }
  // Every observer has declared every member of `group` dead at least once (a dead member is
  // reaped after GossipToTheDeadTime, so "sees it dead now" can never hold for all at once when
  // the declarations are spread out).
  bool AllDeclaredDead(const std::vector<int>& observers, const std::vector<int>& group) {
    for (int o : observers) {
      for (int g : group) {
        auto it = nodes_[o]->delegate->dead_at.find(nodes_[g]->name);
        if (it == nodes_[o]->delegate->dead_at.end() || it->second.empty()) return false;
      }
    }
    return true;
  }
  bool Converged() {
    auto live = Live();
    return AllSee(live, live, NodeState::kAlive);
  }

  // Runs until every live node sees every live node alive.
  ::testing::AssertionResult Converge(Duration limit, Duration step = milliseconds(100)) {
    const TimePoint start = loop_.Now();
    if (loop_.RunUntil([&] { return Converged(); }, limit, step)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "not converged after " << Secs(loop_.Now() - start) << " s:" << Summary();
  }

  // Who is missing what, for failure messages.
  std::string Summary() {
    std::string out;
    auto live = Live();
    for (int o : live) {
      std::string missing;
      for (int g : live) {
        auto n = nodes_[o]->ml->GetNode(nodes_[g]->name);
        if (n && n->state == NodeState::kAlive) continue;
        missing +=
            " " + nodes_[g]->name + "(" +
            (n ? std::string(NodeStateName(n->state)) + " inc " + std::to_string(n->incarnation)
               : std::string("unknown")) +
            ")";
      }
      if (!missing.empty()) out += "\n  " + nodes_[o]->name + " lacks" + missing;
    }
    return out;
  }

  // Serf's reconnect loop (§11.5), which memberlist relies on after a partition: every
  // `interval`, each node joins one random member it saw fail.
  void StartReconnector(Duration interval) {
    loop_.Defer(interval, [this, interval] {
      SeededRandom& r = reconnect_random_;
      for (int i : Live()) {
        auto& failed = nodes_[i]->delegate->failed;
        if (failed.empty()) continue;
        auto it = failed.begin();
        std::advance(it, Uniform(r, failed.size()));
        nodes_[i]->ml->Join({it->second}, [](int, Status) {});
      }
      StartReconnector(interval);
    });
  }

  // Total NotifyLeave(dead) reports about any node in `about`, across live observers.
  int DeadReports(const std::vector<int>& about) {
    int n = 0;
    for (int o : Live()) {
      for (int a : about) {
        auto it = nodes_[o]->delegate->dead_at.find(nodes_[a]->name);
        if (it != nodes_[o]->delegate->dead_at.end()) n += static_cast<int>(it->second.size());
      }
    }
    return n;
  }

  MemberlistStats TotalStats() {
    MemberlistStats t;
    for (const auto& n : nodes_) {
      const MemberlistStats& s = n->ml->stats();
      t.probes += s.probes;
      t.probe_failures += s.probe_failures;
      t.indirect_probes += s.indirect_probes;
      t.tcp_fallback_successes += s.tcp_fallback_successes;
      t.suspicions_started += s.suspicions_started;
      t.refutations += s.refutations;
      t.push_pulls += s.push_pulls;
      t.push_pull_failures += s.push_pull_failures;
      t.packets_sent += s.packets_sent;
    }
    return t;
  }

 private:
  uint64_t seed_;
  SimLoop loop_;
  SimNetwork net_;
  Options (*profile_)(std::string);
  Tweak tweak_;
  SeededRandom reconnect_random_{seed_ ^ 0xc0ffee};
  int joins_ok_ = 0;
  std::vector<std::unique_ptr<SimNode>> nodes_;
};

std::vector<int> Range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

// ---------------------------------------------------------------------------------------------
// (a) joins

TEST(MemberlistSim, ThreeNodesJoinAndConverge) {
  Cluster c(TestSeed(), 3);
  std::vector<int> joined;
  for (int i : {1, 2}) {
    c.node(i).ml->Join({c.node(0).addr}, [&](int n, Status s) {
      EXPECT_TRUE(s.ok()) << s.message();
      joined.push_back(n);
    });
  }
  const TimePoint start = c.loop().Now();
  ASSERT_TRUE(c.Converge(seconds(10), milliseconds(5)));
  std::printf("[   SIM    ] 3 nodes converged after %.3f s\n", Secs(c.loop().Now() - start));
  EXPECT_EQ(joined, (std::vector<int>{1, 1}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.node(i).ml->NumMembers(), 3);

  // A quiet minute changes nothing.
  c.loop().RunFor(minutes(1));
  EXPECT_TRUE(c.Converged()) << c.Summary();
  EXPECT_EQ(c.DeadReports(Range(0, 3)), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.node(i).ml->LocalNode().incarnation, 1u) << "nobody needed to refute";
    EXPECT_EQ(c.node(i).ml->GetHealthScore(), 0);
  }
}

TEST(MemberlistSim, EncryptedLabeledClusterConvergesAndKeepsStrangersOut) {
  auto keyring = Keyring::Create({}, std::string(32, 'k'));
  auto other = Keyring::Create({}, std::string(32, 'x'));
  ASSERT_TRUE(keyring.ok() && other.ok());
  Cluster c(TestSeed(), 4, &Options::Lan, [&](Options& o) {
    o.keyring = o.name == NodeName(3) ? &*other : &*keyring;
    o.label = "dc1";
  });
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        return c.AllSee({0, 1, 2}, {0, 1, 2}, NodeState::kAlive);
      },
      seconds(10)));
  EXPECT_EQ(c.joins_ok(), 2) << "the node with the wrong key cannot join";
  c.loop().RunFor(seconds(30));
  for (int i : {0, 1, 2}) {
    EXPECT_FALSE(c.node(i).ml->GetNode(NodeName(3))) << "stranger leaked into node " << i;
    EXPECT_EQ(c.node(i).ml->NumMembers(), 3);
  }
  EXPECT_EQ(c.node(3).ml->NumMembers(), 1);
}

TEST(MemberlistSim, JoinReportsFailures) {
  Cluster c(TestSeed(), 2, &Options::Local);
  int joined = -1;
  Status status;
  // Nobody listens on 10.9.9.9; node 1 is crashed, so its SYNs go unanswered.
  c.Crash(1);
  c.node(0).ml->Join({*Address::Parse("10.9.9.9:7946", 0), c.node(1).addr}, [&](int n, Status s) {
    joined = n;
    status = s;
  });
  c.loop().RunFor(seconds(5));
  EXPECT_EQ(joined, 0);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(c.node(0).ml->NumMembers(), 1);
}

// (b) 128 members, all joining through one seed node.
TEST(MemberlistSim, HundredTwentyEightNodesConvergeThroughOneSeed) {
  constexpr int kNodes = 128;
  Cluster c(TestSeed(), kNodes);
  c.JoinAllTo(0, seconds(5));
  const TimePoint start = c.loop().Now();
  ASSERT_TRUE(c.Converge(minutes(4), milliseconds(250)));
  std::printf(
      "[   SIM    ] %d nodes converged %.2f s after the first join (joins spread over 5 s)\n",
      kNodes, Secs(c.loop().Now() - start));
  EXPECT_EQ(c.joins_ok(), kNodes - 1);
  c.loop().RunFor(seconds(30));
  EXPECT_TRUE(c.Converged()) << c.Summary();
  EXPECT_EQ(c.DeadReports(Range(0, kNodes)), 0);
}

// (c) A crashed node is declared dead by every member within the Lifeguard bound: someone
// probes it within two rounds of the shuffled probe order, and the first suspicion ends after
// at most the starting suspicion timeout (§9.3).
class CrashDetection : public ::testing::TestWithParam<int> {};

TEST_P(CrashDetection, EveryMemberMarksTheCrashedNodeDeadWithinTheSuspicionBound) {
  const int n = GetParam();
  Cluster c(TestSeed(), n);
  c.JoinAllTo(0, seconds(2));
  ASSERT_TRUE(c.Converge(minutes(3)));
  c.loop().RunFor(seconds(10));  // steady state

  const int victim = n - 1 - static_cast<int>(c.loop().events_run() % (n - 1));
  const std::string name = NodeName(victim);
  const TimePoint crash = c.loop().Now();
  c.Crash(victim);
  const std::vector<int> observers = c.Live();

  std::optional<TimePoint> first_suspect;
  auto all_dead = [&] {
    if (!first_suspect) {
      for (int o : observers) {
        auto v = c.node(o).ml->GetNode(name);
        if (v && v->state != NodeState::kAlive) first_suspect = c.loop().Now();
      }
    }
    return c.AllSee(observers, {victim}, NodeState::kDead);
  };
  ASSERT_TRUE(c.loop().RunUntil(all_dead, minutes(3), milliseconds(10)));
  ASSERT_TRUE(first_suspect);

  const Options& o = c.node(0).ml->options();
  const int k = o.suspicion_mult - 2 > n - 2 ? 0 : o.suspicion_mult - 2;
  const Duration min = SuspicionTimeout(o.suspicion_mult, n, o.probe_interval);
  const Duration start_timeout = k < 1 ? min : o.suspicion_max_timeout_mult * min;
  const Duration probe_bound = (2 * (n - 1) + 1) * o.probe_interval;
  const Duration gossip_slack = seconds(1);

  std::vector<double> detect;
  for (int obs : observers) {
    const auto& dead = c.node(obs).delegate->dead_at[name];
    ASSERT_FALSE(dead.empty()) << NodeName(obs);
    detect.push_back(Secs(dead.front() - crash));
    EXPECT_LE(dead.front() - *first_suspect, start_timeout + gossip_slack) << NodeName(obs);
  }
  EXPECT_LE(*first_suspect - crash, probe_bound);
  std::sort(detect.begin(), detect.end());
  std::printf(
      "[   SIM    ] n=%d: first suspicion %.2f s after the crash; dead everywhere: min %.2f / "
      "median %.2f / max %.2f s (suspicion %.1f s..%.1f s, k=%d)\n",
      n, Secs(*first_suspect - crash), detect.front(), detect[detect.size() / 2], detect.back(),
      Secs(min), Secs(start_timeout), k);
  // Nobody else was hurt.
  EXPECT_EQ(c.DeadReports(observers), 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CrashDetection, ::testing::Values(3, 10, 32));

// (d) A false accusation: the accused hears it, refutes with a higher incarnation and is never
// declared dead.
//
// Ten nodes, because the refutation travels only by gossip: memberlist ignores a suspect that
// carries an older incarnation, so an accuser that misses every retransmission of the
// refutation (4 per relaying node below ten members, 8 from ten on) fires its timer anyway.
// With five nodes that happened for about one seed in forty.
TEST(MemberlistSim, FalselySuspectedNodeRefutesAndStaysAlive) {
  Cluster c(TestSeed(), 10);
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.Converge(minutes(2)));
  c.loop().RunFor(seconds(5));

  const int victim = 2;
  const uint32_t before = c.node(victim).ml->LocalNode().incarnation;
  // node-004 "suspects" node-002, telling nodes 0 and 1 only.
  auto packet =
      BuildPacket({Suspect{before, NodeName(victim), NodeName(4)}}, SendOptions{}, nullptr);
  ASSERT_TRUE(packet.ok());
  for (int to : {0, 1}) c.net().InjectPacket(c.node(4).addr, c.node(to).addr, *packet);
  c.loop().RunFor(milliseconds(10));
  // Suspected now, unless gossip already carried the accusation to the victim and its
  // refutation back (a gossip round can fall inside these 10 ms).
  {
    auto v = c.node(0).ml->GetNode(NodeName(victim));
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->state == NodeState::kSuspect ||
                (v->state == NodeState::kAlive && v->incarnation > before))
        << "the accusation was ignored";
  }

  c.loop().RunFor(minutes(1));
  const uint32_t after = c.node(victim).ml->LocalNode().incarnation;
  EXPECT_GT(after, before);
  EXPECT_GE(c.node(victim).ml->stats().refutations, 1u);
  EXPECT_EQ(c.DeadReports({victim}), 0) << "the accused was declared dead";
  for (int i = 0; i < c.size(); ++i) {
    auto v = c.node(i).ml->GetNode(NodeName(victim));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->state, NodeState::kAlive) << NodeName(i);
    EXPECT_EQ(v->incarnation, after) << NodeName(i);
  }
}

// A peer that missed a refutation and still gossips the old accusation is sent the newer alive
// (Options::correct_stale_accusations).
TEST(MemberlistSim, StaleAccusationIsAnsweredWithTheNewerAlive) {
  Cluster c(TestSeed(), 3);
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.Converge(minutes(2)));
  // node-002 refutes once, so everyone holds it at incarnation 2.
  auto accuse = BuildPacket({Suspect{1, NodeName(2), NodeName(0)}}, SendOptions{}, nullptr);
  ASSERT_TRUE(accuse.ok());
  c.net().InjectPacket(c.node(0).addr, c.node(2).addr, *accuse);
  ASSERT_TRUE(c.loop().RunUntil(
      [&] {
        for (int i = 0; i < 3; ++i) {
          auto n = c.node(i).ml->GetNode(NodeName(2));
          if (n->state != NodeState::kAlive || n->incarnation != 2) return false;
        }
        return true;
      },
      seconds(30)));

  // The laggard is a bare endpoint that records what it is sent.
  const Address laggard = NodeAddress(99);
  std::vector<Alive> corrections;
  c.net().AddNode(laggard)->SetPacketHandler([&](const Address&, std::string bytes) {
    auto packet = DecodePacket(bytes, PacketOptions{});
    if (!packet.ok()) return;
    for (const Message* m : Leaves(packet->body)) {
      if (const auto* a = m->As<Alive>()) corrections.push_back(*a);
    }
  });
  for (const Message& stale :
       {Message(Suspect{1, NodeName(2), "node-099"}), Message(Dead{1, NodeName(2), "node-099"})}) {
    corrections.clear();
    auto packet = BuildPacket({stale}, SendOptions{}, nullptr);
    ASSERT_TRUE(packet.ok());
    c.net().InjectPacket(laggard, c.node(1).addr, *packet);
    c.loop().RunFor(milliseconds(20));
    // The reply may carry piggybacked gossip too; one of its alives is the correction.
    bool corrected = false;
    for (const Alive& a : corrections) {
      corrected |= a.node == NodeName(2) && a.incarnation == 2;
    }
    EXPECT_TRUE(corrected) << MessageTypeName(stale.type());
    EXPECT_EQ(c.node(1).ml->GetNode(NodeName(2))->state, NodeState::kAlive);
  }
}

// (d') Lifeguard's buddy path: a node cut off for a moment gets suspected; once it is back,
// probes of a suspect carry the suspicion along (ping + suspect), so it refutes before any
// suspicion timer runs out.
TEST(MemberlistSim, BrieflyIsolatedNodeRefutesTheSuspicionWhenItIsBack) {
  Cluster c(TestSeed(), 10);
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.Converge(minutes(2)));
  c.loop().RunFor(seconds(5));
  const int victim = 1;
  std::vector<Address> rest;
  for (int i = 0; i < c.size(); ++i) {
    if (i != victim) rest.push_back(c.node(i).addr);
  }
  c.net().Partition({{c.node(victim).addr}, rest});
  bool suspected = false;
  c.loop().RunUntil(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          auto v = c.node(i).ml->GetNode(NodeName(victim));
          if (i != victim && v->state == NodeState::kSuspect) suspected = true;
        }
        return suspected;
      },
      seconds(30), milliseconds(10));  // someone probes it within two shuffled rounds
  ASSERT_TRUE(suspected) << "nobody suspected the isolated node";
  c.net().Heal();
  c.loop().RunFor(seconds(60));
  EXPECT_EQ(c.DeadReports(Range(0, c.size())), 0);
  EXPECT_TRUE(c.Converged()) << c.Summary();
  EXPECT_GE(c.node(victim).ml->stats().refutations, 1u);
  EXPECT_GT(c.node(victim).ml->LocalNode().incarnation, 1u);
}

// (e) 10% packet loss for five simulated minutes: suspicions happen and are refuted; at most
// one live node is declared dead once, and everyone converges on all alive afterwards.
TEST(MemberlistSim, NoFalsePositivesAtTenPercentLoss) {
  constexpr int kNodes = 50;
  Cluster c(TestSeed(), kNodes, &Options::Lan, [](Options& o) {
    if (std::getenv("GANGWAY_SIM_GO_EXACT") != nullptr) o.correct_stale_accusations = false;
  });
  c.JoinAllTo(0, seconds(2));
  ASSERT_TRUE(c.Converge(minutes(3)));
  const MemberlistStats before = c.TotalStats();
  c.net().SetDefaultLink(LinkOptions{0.10, milliseconds(1), milliseconds(1)});
  c.loop().RunFor(minutes(5));
  const MemberlistStats after = c.TotalStats();
  const auto& net = c.net().stats();
  std::printf(
      "[   SIM    ] 50 nodes, 10%% loss, 5 min: %llu probes, %llu indirect, %llu TCP-only "
      "successes, %llu suspicions, %llu refutations; %llu/%llu packets lost\n",
      static_cast<unsigned long long>(after.probes - before.probes),
      static_cast<unsigned long long>(after.indirect_probes - before.indirect_probes),
      static_cast<unsigned long long>(after.tcp_fallback_successes - before.tcp_fallback_successes),
      static_cast<unsigned long long>(after.suspicions_started - before.suspicions_started),
      static_cast<unsigned long long>(after.refutations - before.refutations),
      static_cast<unsigned long long>(net.packets_lost),
      static_cast<unsigned long long>(net.packets_sent));
  // About one seed in twenty-five, one node declares one live node dead once in these
  // 15,000 probes (a refutation that lost the race against the suspicion timeout); the node
  // refutes and is alive everywhere again (checked below). More than that is a regression.
  EXPECT_LE(c.DeadReports(Range(0, kNodes)), 1) << "live nodes were declared dead";
  EXPECT_GT(after.indirect_probes - before.indirect_probes, 0u) << "the loss had no effect";
  c.net().SetDefaultLink(LinkOptions{});
  c.loop().RunFor(seconds(30));
  EXPECT_TRUE(c.Converged()) << c.Summary();
}

// (f) Split brain and recovery: each half declares the other dead; after the network heals,
// Serf-style reconnects (join a failed member) plus push/pull bring everyone back.
TEST(MemberlistSim, PartitionedHalvesDeclareEachOtherDeadAndRecoverAfterHeal) {
  constexpr int kNodes = 20;
  Cluster c(TestSeed(), kNodes);
  c.JoinAllTo(0, seconds(2));
  ASSERT_TRUE(c.Converge(minutes(3)));
  c.loop().RunFor(seconds(5));

  const std::vector<int> a = Range(0, kNodes / 2), b = Range(kNodes / 2, kNodes);
  std::vector<Address> aa, ba;
  for (int i : a) aa.push_back(c.node(i).addr);
  for (int i : b) ba.push_back(c.node(i).addr);
  const TimePoint split = c.loop().Now();
  c.net().Partition({aa, ba});
  ASSERT_TRUE(c.loop().RunUntil(
      [&] { return c.AllDeclaredDead(a, b) && c.AllDeclaredDead(b, a); }, minutes(3)));
  std::printf("[   SIM    ] partition: each half saw the other dead after %.2f s\n",
              Secs(c.loop().Now() - split));
  EXPECT_TRUE(c.AllSee(a, a, NodeState::kAlive) && c.AllSee(b, b, NodeState::kAlive))
      << "a half turned on itself";

  // Long enough for memberlist to reap the dead (GossipToTheDeadTime): only the reconnector
  // remembers them.
  c.loop().RunFor(seconds(40));
  const TimePoint heal = c.loop().Now();
  c.net().Heal();
  c.StartReconnector(seconds(30));
  ASSERT_TRUE(c.Converge(minutes(5)));
  std::printf("[   SIM    ] partition healed: all %d alive everywhere %.2f s after the heal\n",
              kNodes, Secs(c.loop().Now() - heal));
  c.loop().RunFor(seconds(30));
  EXPECT_TRUE(c.Converged()) << c.Summary();
}

// (g) A graceful leave is reported as "left", never as a failure, even once the process is gone.
TEST(MemberlistSim, GracefulLeaveShowsAsLeftEverywhere) {
  Cluster c(TestSeed(), 10);
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.Converge(minutes(2)));
  c.loop().RunFor(seconds(5));

  const int leaver = 3;
  std::optional<Status> left;
  c.node(leaver).ml->Leave(seconds(5), [&](Status s) { left = s; });
  ASSERT_TRUE(c.loop().RunUntil([&] { return left.has_value(); }, seconds(6), milliseconds(10)));
  EXPECT_TRUE(left->ok()) << left->message();
  EXPECT_EQ(c.node(leaver).ml->LocalNode().state, NodeState::kLeft);
  c.Crash(leaver);
  c.loop().RunFor(seconds(20));
  for (int i : c.Live()) {
    auto v = c.node(i).ml->GetNode(NodeName(leaver));
    ASSERT_TRUE(v) << NodeName(i);
    EXPECT_EQ(v->state, NodeState::kLeft) << NodeName(i);
    EXPECT_EQ(c.node(i).delegate->left_at[NodeName(leaver)].size(), 1u) << NodeName(i);
    EXPECT_EQ(c.node(i).ml->NumMembers(), 9);
  }
  EXPECT_EQ(c.DeadReports({leaver}), 0) << "a graceful leave was reported as a failure";
}

TEST(MemberlistSim, UpdateNodeSpreadsNewMeta) {
  Cluster c(TestSeed(), 4);
  c.JoinAllTo(0, seconds(1));
  ASSERT_TRUE(c.Converge(minutes(2)));
  c.node(2).delegate->meta = "role=server";
  std::optional<Status> done;
  c.node(2).ml->UpdateNode(seconds(5), [&](Status s) { done = s; });
  ASSERT_TRUE(c.loop().RunUntil([&] { return done.has_value(); }, seconds(6), milliseconds(10)));
  EXPECT_TRUE(done->ok());
  // Gossip almost always delivers it at once; push/pull repairs the rare miss.
  c.loop().RunUntil(
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (c.node(i).ml->GetNode(NodeName(2))->meta != "role=server") return false;
        }
        return true;
      },
      minutes(2));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c.node(i).ml->GetNode(NodeName(2))->meta, "role=server") << NodeName(i);
    if (i != 2) {
      EXPECT_EQ(c.node(i).delegate->updates[NodeName(2)], 1) << NodeName(i);
    }
  }
}

TEST(MemberlistSim, UserMessagesArriveByPacketAndStream) {
  Cluster c(TestSeed(), 2);
  c.node(1).ml->Join({c.node(0).addr}, [](int, Status) {});
  ASSERT_TRUE(c.Converge(seconds(10)));
  ASSERT_TRUE(c.node(0).ml->SendToAddress(c.node(1).addr, "by packet").ok());
  std::optional<Status> sent;
  c.node(0).ml->SendReliable(c.node(1).addr, std::string(5000, 's'), [&](Status s) { sent = s; });
  c.loop().RunFor(seconds(1));
  ASSERT_TRUE(sent && sent->ok());
  EXPECT_EQ(c.node(1).delegate->messages,
            (std::vector<std::string>{"by packet", std::string(5000, 's')}));
}

// ---------------------------------------------------------------------------------------------
// (h) the broadcast queue (§9.5)

struct Recorded {
  std::vector<std::string> finished;
};

std::unique_ptr<Broadcast> Named(Recorded* r, std::string name, std::string msg) {
  std::string tag = msg;
  return std::make_unique<SimpleBroadcast>(std::move(msg), std::move(name), false,
                                           [r, tag] { r->finished.push_back(tag); });
}

std::unique_ptr<Broadcast> Unique(Recorded* r, std::string msg) {
  std::string tag = msg;
  return std::make_unique<SimpleBroadcast>(std::move(msg), "", true,
                                           [r, tag] { r->finished.push_back(tag); });
}

TEST(BroadcastQueue, RetransmitLimitScalesWithLog10OfClusterSize) {
  EXPECT_EQ(RetransmitLimit(4, 0), 0);
  EXPECT_EQ(RetransmitLimit(4, 1), 4);
  EXPECT_EQ(RetransmitLimit(4, 9), 4);
  EXPECT_EQ(RetransmitLimit(4, 10), 8);
  EXPECT_EQ(RetransmitLimit(4, 99), 8);
  EXPECT_EQ(RetransmitLimit(4, 100), 12);
  EXPECT_EQ(RetransmitLimit(4, 999), 12);
  EXPECT_EQ(RetransmitLimit(2, 5), 2);
}

TEST(BroadcastQueue, EachMessageIsSentRetransmitLimitTimesThenFinished) {
  Recorded r;
  int n = 5;  // limit 4 × ceil(log10(6)) = 4
  TransmitLimitedQueue q(4, [&] { return n; });
  q.QueueBroadcast(Unique(&r, "hello"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(q.GetBroadcasts(2, 100), std::vector<std::string>{"hello"}) << i;
    EXPECT_EQ(r.finished.empty(), i < 3);
  }
  EXPECT_EQ(r.finished, std::vector<std::string>{"hello"});
  EXPECT_EQ(q.NumQueued(), 0u);
  EXPECT_TRUE(q.GetBroadcasts(2, 100).empty());

  // A bigger cluster keeps messages longer.
  n = 50;
  q.QueueBroadcast(Unique(&r, "x"));
  for (int i = 0; i < 7; ++i) q.GetBroadcasts(2, 100);
  EXPECT_EQ(q.NumQueued(), 1u);
  q.GetBroadcasts(2, 100);
  EXPECT_EQ(q.NumQueued(), 0u);
}

TEST(BroadcastQueue, OrderIsFewestTransmitsThenLargestThenNewest) {
  Recorded r;
  TransmitLimitedQueue q(4, [] { return 1000; });
  q.QueueBroadcast(Unique(&r, "aa"));
  q.QueueBroadcast(Unique(&r, "bbbb"));
  q.QueueBroadcast(Unique(&r, "cc"));
  // Everyone at 0 transmits: the larger first, then the newer of the equal-sized ones.
  EXPECT_EQ(q.GetBroadcasts(0, 100), (std::vector<std::string>{"bbbb", "cc", "aa"}));
  // A new message has fewer transmits than all of them, so it goes first despite its size.
  q.QueueBroadcast(Unique(&r, "d"));
  EXPECT_EQ(q.GetBroadcasts(0, 100), (std::vector<std::string>{"d", "bbbb", "cc", "aa"}));
}

TEST(BroadcastQueue, RespectsTheByteBudgetAndFillsWithSmallerMessages) {
  Recorded r;
  TransmitLimitedQueue q(4, [] { return 10; });
  q.QueueBroadcast(Unique(&r, std::string(10, 'a')));
  q.QueueBroadcast(Unique(&r, std::string(6, 'b')));
  q.QueueBroadcast(Unique(&r, std::string(3, 'c')));
  // Budget 20 with 2 bytes overhead each: 10+2, then 6+2 = 20 exactly; 3+2 no longer fits.
  auto got = q.GetBroadcasts(2, 20);
  EXPECT_EQ(got, (std::vector<std::string>{std::string(10, 'a'), std::string(6, 'b')}));
  // 9 bytes: the 10 and 6 byte messages do not fit (even though they have fewer transmits
  // than nothing else), the 3-byte one does.
  got = q.GetBroadcasts(2, 9);
  EXPECT_EQ(got, std::vector<std::string>{std::string(3, 'c')});
  EXPECT_TRUE(q.GetBroadcasts(2, 2).empty());
}

TEST(BroadcastQueue, NamedBroadcastReplacesTheQueuedOneAboutTheSameNode) {
  Recorded r;
  TransmitLimitedQueue q(4, [] { return 10; });
  q.QueueBroadcast(Named(&r, "node-a", "suspect a"));
  q.QueueBroadcast(Named(&r, "node-b", "alive b"));
  q.QueueBroadcast(Named(&r, "node-a", "dead a"));
  EXPECT_EQ(r.finished, std::vector<std::string>{"suspect a"});
  EXPECT_EQ(q.NumQueued(), 2u);
  auto got = q.GetBroadcasts(0, 100);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"alive b", "dead a"}));
  // Replacement also works after a message has been sent a few times.
  q.QueueBroadcast(Named(&r, "node-b", "suspect b"));
  EXPECT_EQ(r.finished.back(), "alive b");
}

// Regression: a named message that left the queue used to leave its name behind, and queueing
// the name again corrupted the queue.
TEST(BroadcastQueue, NameCanBeQueuedAgainAfterItsMessageFinished) {
  Recorded r;
  TransmitLimitedQueue q(1, [] { return 1; });  // limit 1: sent once, then finished
  q.QueueBroadcast(Named(&r, "node-a", "alive a"));
  q.QueueBroadcast(Named(&r, "node-b", "alive b"));
  EXPECT_EQ(q.GetBroadcasts(0, 100).size(), 2u);
  EXPECT_EQ(q.NumQueued(), 0u);
  q.QueueBroadcast(Named(&r, "node-a", "dead a"));
  q.QueueBroadcast(Named(&r, "node-a", "alive a again"));
  EXPECT_EQ(q.GetBroadcasts(0, 100), std::vector<std::string>{"alive a again"});
  EXPECT_EQ(r.finished.size(), 4u);
}

TEST(BroadcastQueue, UniqueBroadcastsNeverInvalidateAndPlainOnesUseInvalidates) {
  struct Prefix final : Broadcast {
    Prefix(std::string m, Recorded* r) : msg(std::move(m)), rec(r) {}
    std::string_view Message() const override { return msg; }
    bool Invalidates(const Broadcast& other) const override {
      return other.Message().substr(0, 1) == msg.substr(0, 1);
    }
    void Finished() override { rec->finished.push_back(msg); }
    std::string msg;
    Recorded* rec;
  };
  Recorded r;
  TransmitLimitedQueue q(4, [] { return 10; });
  q.QueueBroadcast(Unique(&r, "u1"));
  q.QueueBroadcast(Unique(&r, "u1"));  // identical, still kept
  q.QueueBroadcast(std::make_unique<Prefix>("p-old", &r));
  q.QueueBroadcast(std::make_unique<Prefix>("p-new", &r));    // invalidates p-old, not u1
  q.QueueBroadcast(std::make_unique<Prefix>("u-plain", &r));  // cannot touch unique ones
  EXPECT_EQ(r.finished, std::vector<std::string>{"p-old"});
  EXPECT_EQ(q.NumQueued(), 4u);
}

// An alive message about X is X's own news: a packet to X skips it, and the transmission goes
// to a node that may not have heard.
TEST(BroadcastQueue, PacketToTheNodeABroadcastIsKnownToSkipsItWithoutSpendingATransmit) {
  struct OwnNews final : Broadcast {
    OwnNews(std::string m, std::string node) : msg(std::move(m)), node(std::move(node)) {}
    std::string_view Message() const override { return msg; }
    std::string_view Name() const override { return node; }
    std::string_view KnownTo() const override { return node; }
    std::string msg;
    std::string node;
  };
  Recorded r;
  TransmitLimitedQueue q(1, [] { return 1; });  // limit 1: sent once, then finished
  q.QueueBroadcast(std::make_unique<OwnNews>("alive a", "node-a"));
  q.QueueBroadcast(std::make_unique<OwnNews>("alive b", "node-b"));
  q.QueueBroadcast(Unique(&r, "intent"));
  // To node-a: everything but a's own alive; it stays queued with no transmit spent.
  auto got = q.GetBroadcasts(0, 100, "node-a");
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"alive b", "intent"}));
  EXPECT_EQ(q.NumQueued(), 1u);
  EXPECT_TRUE(q.GetBroadcasts(0, 100, "node-a").empty());
  // To anyone else it goes out.
  EXPECT_EQ(q.GetBroadcasts(0, 100, "node-c"), std::vector<std::string>{"alive a"});
  EXPECT_EQ(q.NumQueued(), 0u);

  // Skipping one message does not stop the walk: smaller ones of the same tier still fill the
  // packet.
  q.QueueBroadcast(std::make_unique<OwnNews>("alive a, the largest", "node-a"));
  q.QueueBroadcast(Unique(&r, "small"));
  EXPECT_EQ(q.GetBroadcasts(0, 100, "node-a"), std::vector<std::string>{"small"});
}

TEST(BroadcastQueue, PruneDropsTheMostSentAndOldestAndResetFinishesAll) {
  Recorded r;
  TransmitLimitedQueue q(10, [] { return 10; });
  q.QueueBroadcast(Unique(&r, "old"));
  q.GetBroadcasts(0, 100);  // "old" now has one transmit
  q.QueueBroadcast(Unique(&r, "new1"));
  q.QueueBroadcast(Unique(&r, "new2"));
  q.Prune(2);
  EXPECT_EQ(r.finished, std::vector<std::string>{"old"});
  q.Reset();
  EXPECT_EQ(q.NumQueued(), 0u);
  EXPECT_EQ(r.finished.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// (i) suspicion timeouts (§9.3)

TEST(SuspicionMath, MatchesTheReferenceExamples) {
  const Duration s1 = seconds(1);
  // LAN: mult 4, max-mult 6, interval 1 s.
  EXPECT_EQ(SuspicionTimeout(4, 3, s1), seconds(4));
  EXPECT_EQ(SuspicionTimeout(4, 10, s1), seconds(4));
  EXPECT_EQ(6 * SuspicionTimeout(4, 10, s1), seconds(24));
  EXPECT_EQ(SuspicionTimeout(4, 100, s1), seconds(8));
  EXPECT_EQ(6 * SuspicionTimeout(4, 100, s1), seconds(48));
  // The node scale is floored to a thousandth: log10(50) = 1.69897 -> 1.698.
  EXPECT_EQ(SuspicionTimeout(4, 50, s1), milliseconds(6792));
  EXPECT_EQ(SuspicionTimeout(4, 0, s1), seconds(4));
  // WAN: mult 6, interval 5 s, n <= 10 -> 30 s min, 180 s max.
  EXPECT_EQ(SuspicionTimeout(6, 10, seconds(5)), seconds(30));
  EXPECT_EQ(6 * SuspicionTimeout(6, 10, seconds(5)), seconds(180));

  // n = 10: k = 2; 0, 1, 2 confirmations -> 24 s, 11.381 s (ms-floored), 4 s.
  const Duration min = seconds(4), max = seconds(24);
  EXPECT_EQ(RemainingSuspicionTime(0, 2, Duration::zero(), min, max), seconds(24));
  EXPECT_EQ(RemainingSuspicionTime(1, 2, Duration::zero(), min, max), milliseconds(11381));
  EXPECT_EQ(RemainingSuspicionTime(2, 2, Duration::zero(), min, max), seconds(4));
  // Elapsed time is subtracted, and may leave nothing.
  EXPECT_EQ(RemainingSuspicionTime(1, 2, seconds(3), min, max), milliseconds(8381));
  EXPECT_LT(RemainingSuspicionTime(2, 2, seconds(5), min, max), Duration::zero());
}

TEST(SuspicionMath, TimerShrinksWithDistinctConfirmations) {
  SimLoop loop;
  const TimePoint t0 = loop.Now();
  std::optional<TimePoint> fired;
  int confirmations_at_fire = -1;
  Suspicion s(&loop, "accuser", 2, seconds(4), seconds(24), [&](int c) {
    fired = loop.Now();
    confirmations_at_fire = c;
  });
  EXPECT_EQ(s.deadline(), t0 + seconds(24));
  loop.RunFor(seconds(1));
  EXPECT_FALSE(s.Confirm("accuser")) << "the accuser does not confirm itself";
  EXPECT_TRUE(s.Confirm("b"));
  EXPECT_FALSE(s.Confirm("b")) << "one confirmation per peer";
  EXPECT_EQ(s.deadline(), t0 + milliseconds(11381));
  loop.RunFor(seconds(5));  // t = 6 s, past the 4 s minimum
  EXPECT_TRUE(s.Confirm("c"));
  EXPECT_FALSE(s.Confirm("d")) << "no more than k confirmations";
  loop.RunFor(Duration::zero());
  ASSERT_TRUE(fired);
  EXPECT_EQ(*fired, t0 + seconds(6)) << "already overdue: fires at once";
  EXPECT_EQ(confirmations_at_fire, 2);
}

TEST(SuspicionMath, WithoutExpectedConfirmationsTheMinimumApplies) {
  SimLoop loop;
  const TimePoint t0 = loop.Now();
  std::optional<TimePoint> fired;
  Suspicion s(&loop, "a", 0, seconds(4), seconds(24), [&](int) { fired = loop.Now(); });
  EXPECT_FALSE(s.Confirm("b"));
  loop.RunFor(seconds(30));
  ASSERT_TRUE(fired);
  EXPECT_EQ(*fired, t0 + seconds(4));
}

TEST(SuspicionMath, PushPullScaleAndAwareness) {
  const Duration i = seconds(30);
  EXPECT_EQ(PushPullScale(i, 1), i);
  EXPECT_EQ(PushPullScale(i, 32), i);
  EXPECT_EQ(PushPullScale(i, 33), 2 * i);
  EXPECT_EQ(PushPullScale(i, 64), 2 * i);
  EXPECT_EQ(PushPullScale(i, 65), 3 * i);
  EXPECT_EQ(PushPullScale(i, 128), 3 * i);
  EXPECT_EQ(PushPullScale(i, 129), 4 * i);

  Awareness a(8);
  a.ApplyDelta(-1);
  EXPECT_EQ(a.score(), 0);
  a.ApplyDelta(20);
  EXPECT_EQ(a.score(), 7);
  EXPECT_EQ(a.Scale(seconds(1)), seconds(8));
}

TEST(MemberlistOptions, ProfilesMatchMemberlistDefaults) {
  const Options lan = Options::Lan("n");
  EXPECT_EQ(lan.tcp_timeout, seconds(10));
  EXPECT_EQ(lan.indirect_checks, 3);
  EXPECT_EQ(lan.retransmit_mult, 4);
  EXPECT_EQ(lan.suspicion_mult, 4);
  EXPECT_EQ(lan.suspicion_max_timeout_mult, 6);
  EXPECT_EQ(lan.push_pull_interval, seconds(30));
  EXPECT_EQ(lan.probe_interval, seconds(1));
  EXPECT_EQ(lan.probe_timeout, milliseconds(500));
  EXPECT_EQ(lan.awareness_max_multiplier, 8);
  EXPECT_EQ(lan.gossip_nodes, 3);
  EXPECT_EQ(lan.gossip_interval, milliseconds(200));
  EXPECT_EQ(lan.gossip_to_the_dead_time, seconds(30));
  EXPECT_EQ(lan.udp_buffer_size, 1400u);
  EXPECT_TRUE(lan.enable_compression);
  const Options wan = Options::Wan("n");
  EXPECT_EQ(wan.tcp_timeout, seconds(30));
  EXPECT_EQ(wan.suspicion_mult, 6);
  EXPECT_EQ(wan.push_pull_interval, seconds(60));
  EXPECT_EQ(wan.probe_interval, seconds(5));
  EXPECT_EQ(wan.probe_timeout, seconds(3));
  EXPECT_EQ(wan.gossip_nodes, 4);
  EXPECT_EQ(wan.gossip_interval, milliseconds(500));
  EXPECT_EQ(wan.gossip_to_the_dead_time, seconds(60));
  const Options local = Options::Local("n");
  EXPECT_EQ(local.tcp_timeout, seconds(1));
  EXPECT_EQ(local.indirect_checks, 1);
  EXPECT_EQ(local.retransmit_mult, 2);
  EXPECT_EQ(local.suspicion_mult, 3);
  EXPECT_EQ(local.push_pull_interval, seconds(15));
  EXPECT_EQ(local.probe_timeout, milliseconds(200));
  EXPECT_EQ(local.gossip_interval, milliseconds(100));
  EXPECT_EQ(local.gossip_to_the_dead_time, seconds(15));
  EXPECT_TRUE(lan.Validate().ok());
  EXPECT_FALSE(Options::Lan("").Validate().ok());
}

TEST(Address, ParsesAndPrintsLiteralIps) {
  auto a = Address::Parse("10.0.0.1:8301", 7946);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ToString(), "10.0.0.1:8301");
  EXPECT_EQ(Address::Parse("10.0.0.1", 7946)->port, 7946);
  EXPECT_EQ(Address::Parse("[::1]:8301", 0)->ToString(), "[::1]:8301");
  EXPECT_EQ(Address::Parse("::1", 7946)->ToString(), "[::1]:7946");
  // IPv4-mapped IPv6 folds to the 4-byte form memberlist sends.
  EXPECT_EQ(*Address::Parse("[::ffff:10.0.0.1]:8301", 0), *a);
  EXPECT_FALSE(Address::Parse("node1:8301", 0).ok());
  EXPECT_FALSE(Address::Parse("10.0.0.1:99999", 0).ok());
  EXPECT_FALSE(Address::Parse("10.0.0.1:", 0).ok());
  EXPECT_FALSE(Address::FromIp("abc", 1).ok());
}

}  // namespace
}  // namespace gangway::gossip
