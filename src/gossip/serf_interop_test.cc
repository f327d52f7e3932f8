// Interop with Debian's `serf` agent (memberlist 0.2 / Serf 0.9 on the wire): our Serf joins a
// real serf process over loopback, plaintext and encrypted; each side lists the other alive, and
// our graceful leave shows as "left" in serf. Skipped with the reason when serf is not installed.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/base64.h"
#include "core/testing/ports.h"
#include "core/random.h"
#include "gossip/serf.h"
#include "gossip/udp_transport.h"

extern char** environ;

namespace gangway::gossip {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSerf = "/usr/bin/serf";
constexpr const char* kKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

// The serf agent binds these itself, later: ports reserved for this test process.
int FreePort() { return gangway::testing::ReservePort(); }

// A serf agent we started; stopped by its PID.
class SerfProcess {
 public:
  SerfProcess(const std::string& node, int port, int rpc_port, bool encrypted) {
    rpc_ = "127.0.0.1:" + std::to_string(rpc_port);
    std::vector<std::string> args = {kSerf, "agent", "-node=" + node,
                                     "-bind=127.0.0.1:" + std::to_string(port),
                                     "-rpc-addr=" + rpc_, "-profile=local", "-log-level=warn",
                                     "-tag", "role=serf"};
    if (encrypted) args.push_back(std::string("-encrypt=") + kKey);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, kSerf, &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~SerfProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // `serf members` output (name addr status tags), or "" on error.
  std::string Members() const {
    std::string cmd = std::string(kSerf) + " members -rpc-addr=" + rpc_ + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return "";
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  }
  // `serf rtt <node>`: the estimate from the node to this agent, or serf's error.
  std::string Rtt(const std::string& node) const {
    std::string cmd = std::string(kSerf) + " rtt -rpc-addr=" + rpc_ + " " + node + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return "";
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  }
  std::string StatusOf(const std::string& node) const {
    std::string all = Members();
    size_t pos = 0;
    while (pos < all.size()) {
      size_t end = all.find('\n', pos);
      std::string line = all.substr(pos, end - pos);
      pos = end == std::string::npos ? all.size() : end + 1;
      char name[256], addr[256], status[64];
      if (std::sscanf(line.c_str(), "%255s %255s %63s", name, addr, status) == 3 && node == name) {
        return status;
      }
    }
    return "";
  }

 private:
  pid_t pid_ = -1;
  std::string rpc_;
};

bool RunUntil(net::EventLoop& loop, std::chrono::milliseconds limit,
              const std::function<bool()>& pred) {
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
    tick = loop.After(100ms, poll);
  };
  tick = loop.After(0ms, poll);
  loop.Run();
  loop.context().restart();
  return met;
}

class SerfInterop : public ::testing::TestWithParam<bool> {};

TEST_P(SerfInterop, JoinBothSeeAliveThenLeave) {
  if (access(kSerf, X_OK) != 0) GTEST_SKIP() << "Debian's serf is not installed (scripts/install-deps installs it)";
  bool encrypted = GetParam();
  int serf_port = FreePort(), rpc_port = FreePort();
  ASSERT_NE(serf_port, 0);
  SerfProcess serf("real-serf", serf_port, rpc_port, encrypted);
  ASSERT_TRUE(serf.started());

  net::EventLoop loop;
  auto t = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  ASSERT_TRUE(t.ok()) << t.status().message();
  SeededRandom random(std::random_device{}());
  auto opts = SerfOptions::Local("gangway-node");
  opts.tags = {{"role", "node"}};
  Keyring keyring;
  if (encrypted) {
    auto key = Base64Decode(kKey);
    ASSERT_TRUE(key.ok());
    auto kr = Keyring::Create({}, *key);
    ASSERT_TRUE(kr.ok()) << kr.status().message();
    keyring = std::move(*kr);
    opts.memberlist.keyring = &keyring;
  }
  Serf::Deps deps;
  deps.loop = &loop;
  deps.transport = t->get();
  deps.random = &random;
  auto s = Serf::Create(opts, deps);
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto serf_addr = Address::Parse("127.0.0.1:" + std::to_string(serf_port), 0);
  ASSERT_TRUE(serf_addr.ok());

  // serf needs a moment to bind; retry the join until it answers.
  bool joined = false;
  auto start = std::chrono::steady_clock::now();
  while (!joined && std::chrono::steady_clock::now() - start < 10s) {
    bool done = false;
    (*s)->Join({*serf_addr}, false, [&](int n, Status) {
      joined = n > 0;
      done = true;
    });
    RunUntil(loop, 3s, [&] { return done; });
    if (!joined) usleep(200 * 1000);
  }
  ASSERT_TRUE(joined) << "could not join serf at " << serf_addr->ToString();
  auto joined_at = std::chrono::steady_clock::now();

  bool both = RunUntil(loop, 5s, [&] {
    auto m = (*s)->GetMember("real-serf");
    return m && m->status == MemberStatus::kAlive && serf.StatusOf("gangway-node") == "alive";
  });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - joined_at).count();
  std::printf("[ INTEROP ] %s: both sides alive %.2f s after the join\n",
              encrypted ? "encrypted" : "plaintext", secs);
  ASSERT_TRUE(both) << "serf members:\n" << serf.Members();
  auto m = (*s)->GetMember("real-serf");
  EXPECT_EQ(m->tags.at("role"), "serf");

  // Coordinates in acks (§11.8), both ways: we take serf's, and serf takes ours (`serf rtt`
  // answers only once it holds a coordinate for both nodes).
  EXPECT_TRUE(RunUntil(loop, 20s, [&] { return (*s)->GetCachedCoordinate("real-serf").has_value(); }))
      << "no coordinate from serf";
  EXPECT_EQ((*s)->Stats().coordinate_rejected, 0u);
  std::string rtt;
  RunUntil(loop, 20s, [&] {
    rtt = serf.Rtt("gangway-node");
    return rtt.find("Estimated gangway-node <-> real-serf rtt:") != std::string::npos;
  });
  EXPECT_NE(rtt.find("Estimated gangway-node <-> real-serf rtt:"), std::string::npos) << rtt;

  bool left = false;
  (*s)->Leave([&](Status st) {
    EXPECT_TRUE(st.ok()) << st.message();
    left = true;
  });
  EXPECT_TRUE(RunUntil(loop, 15s, [&] { return left && serf.StatusOf("gangway-node") == "left"; }))
      << "serf members:\n" << serf.Members();
  (*s)->Shutdown();
}

// kill -9 on either side: the survivor reports the other failed within memberlist's bound.
TEST(SerfInteropFailure, KilledMembersAreReportedFailed) {
  if (access(kSerf, X_OK) != 0) GTEST_SKIP() << "Debian's serf is not installed (scripts/install-deps installs it)";
  int serf_port = FreePort(), rpc_port = FreePort();
  SerfProcess serf("real-serf", serf_port, rpc_port, false);
  ASSERT_TRUE(serf.started());
  net::EventLoop loop;
  SeededRandom random(std::random_device{}());
  auto serf_addr = Address::Parse("127.0.0.1:" + std::to_string(serf_port), 0);
  ASSERT_TRUE(serf_addr.ok());

  auto make = [&](const std::string& name, std::unique_ptr<UdpTransport>* t) {
    auto bound = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
    EXPECT_TRUE(bound.ok());
    *t = std::move(*bound);
    Serf::Deps deps;
    deps.loop = &loop;
    deps.transport = t->get();
    deps.random = &random;
    auto s = Serf::Create(SerfOptions::Local(name), deps);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(*s);
  };
  auto join = [&](Serf& s) {
    bool joined = false;
    auto start = std::chrono::steady_clock::now();
    while (!joined && std::chrono::steady_clock::now() - start < 10s) {
      bool done = false;
      s.Join({*serf_addr}, false, [&](int n, Status) {
        joined = n > 0;
        done = true;
      });
      RunUntil(loop, 3s, [&] { return done; });
      if (!joined) usleep(200 * 1000);
    }
    return joined;
  };

  // Our node dies without a goodbye: serf must call it failed.
  std::unique_ptr<UdpTransport> t1;
  auto victim = make("gangway-victim", &t1);
  ASSERT_TRUE(join(*victim));
  ASSERT_TRUE(RunUntil(loop, 5s, [&] { return serf.StatusOf("gangway-victim") == "alive"; }));
  victim->Shutdown();
  t1->Shutdown();
  auto killed_at = std::chrono::steady_clock::now();
  bool failed = RunUntil(loop, 20s, [&] { return serf.StatusOf("gangway-victim") == "failed"; });
  double ours = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::printf("[ INTEROP ] serf reported our killed node failed after %.2f s\n", ours);
  EXPECT_TRUE(failed) << serf.Members();

  // serf dies (kill -9): we must call it failed.
  std::unique_ptr<UdpTransport> t2;
  auto watcher = make("gangway-watcher", &t2);
  ASSERT_TRUE(join(*watcher));
  ASSERT_TRUE(RunUntil(loop, 5s, [&] {
    auto m = watcher->GetMember("real-serf");
    return m && m->status == MemberStatus::kAlive;
  }));
  serf.Kill();
  killed_at = std::chrono::steady_clock::now();
  failed = RunUntil(loop, 20s, [&] {
    auto m = watcher->GetMember("real-serf");
    return m && m->status == MemberStatus::kFailed;
  });
  double theirs = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::printf("[ INTEROP ] we reported the killed serf failed after %.2f s\n", theirs);
  // Local profile, 2-3 members: suspicion = 3 x 1 s probe interval, plus up to one probe
  // interval and its timeout to notice. The figure is printed; the 20 s wait is only a cap.
  EXPECT_TRUE(failed);
  watcher->Shutdown();
}

INSTANTIATE_TEST_SUITE_P(Modes, SerfInterop, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plaintext"; });

}  // namespace
}  // namespace gangway::gossip
