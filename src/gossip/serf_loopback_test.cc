// The whole gossip stack over real sockets: Serf on Memberlist on UdpTransport, three nodes on
// loopback with the Local profile. Joins converge, a graceful leave shows as "left".
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <random>

#include "core/random.h"
#include "gossip/serf.h"
#include "gossip/udp_transport.h"

namespace gangway::gossip {
namespace {

using namespace std::chrono_literals;

struct TestNode {
  std::unique_ptr<UdpTransport> transport;
  std::unique_ptr<SeededRandom> random;
  std::unique_ptr<Serf> serf;
};

TestNode Start(net::EventLoop& loop, const std::string& name, uint64_t seed) {
  TestNode n;
  auto t = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  EXPECT_TRUE(t.ok()) << t.status().message();
  n.transport = std::move(*t);
  n.random = std::make_unique<SeededRandom>(seed);
  auto opts = SerfOptions::Local(name);
  opts.tags = {{"role", "node"}, {"dc", "dc1"}};
  Serf::Deps deps;
  deps.loop = &loop;
  deps.transport = n.transport.get();
  deps.random = n.random.get();
  auto s = Serf::Create(opts, deps);
  EXPECT_TRUE(s.ok()) << s.status().message();
  n.serf = std::move(*s);
  return n;
}

// Runs the loop until pred() holds or `limit` passes; returns pred().
bool RunUntil(net::EventLoop& loop, std::chrono::milliseconds limit, const std::function<bool()>& pred) {
  bool met = false;
  auto deadline = loop.After(limit, [&] { loop.Stop(); });
  std::function<void()> poll;
  std::unique_ptr<Timer> tick;
  poll = [&] {
    if (pred()) {
      met = true;
      loop.Stop();
      return;
    }
    tick = loop.After(20ms, poll);
  };
  tick = loop.After(0ms, poll);
  loop.Run();
  loop.context().restart();
  return met;
}

size_t CountStatus(const Serf& s, MemberStatus st) {
  size_t n = 0;
  for (const auto& m : s.Members()) n += m.status == st ? 1 : 0;
  return n;
}

TEST(SerfLoopback, ThreeNodesJoinAndOneLeaves) {
  uint64_t seed = std::random_device{}();
  std::printf("[ SEED ] %llu\n", static_cast<unsigned long long>(seed));
  net::EventLoop loop;
  auto a = Start(loop, "a", seed);
  auto b = Start(loop, "b", seed + 1);
  auto c = Start(loop, "c", seed + 2);
  int joined = 0;
  for (auto* n : {&b, &c}) {
    n->serf->Join({a.transport->LocalAddress()}, false, [&](int k, Status s) {
      EXPECT_TRUE(s.ok()) << s.message();
      joined += k;
    });
  }
  // Gossip spreads a join in a few 100-ms rounds; 10 s is ample on a busy machine, and stays
  // short of the first periodic push/pull (15-30 s on the Local profile), so a join that gossip
  // failed to spread fails here instead of being repaired by it.
  bool converged = RunUntil(loop, 10s, [&] {
    return joined == 2 && CountStatus(*a.serf, MemberStatus::kAlive) == 3 &&
           CountStatus(*b.serf, MemberStatus::kAlive) == 3 &&
           CountStatus(*c.serf, MemberStatus::kAlive) == 3;
  });
  ASSERT_TRUE(converged) << "a sees " << a.serf->Members().size() << ", b sees "
                         << b.serf->Members().size() << ", c sees " << c.serf->Members().size();
  auto m = b.serf->GetMember("c");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->tags.at("dc"), "dc1");

  bool left = false;
  c.serf->Leave([&](Status s) {
    EXPECT_TRUE(s.ok()) << s.message();
    left = true;
  });
  bool seen_left = RunUntil(loop, 15s, [&] {
    auto ma = a.serf->GetMember("c");
    auto mb = b.serf->GetMember("c");
    return left && ma && mb && ma->status == MemberStatus::kLeft && mb->status == MemberStatus::kLeft;
  });
  EXPECT_TRUE(seen_left);
  for (auto* n : {&a, &b, &c}) n->serf->Shutdown();
}

}  // namespace
}  // namespace gangway::gossip
