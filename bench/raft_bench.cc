// raft_bench: three RaftNodes in one process on loopback, each with its own temp data dir (real
// O_DSYNC writes), default timing. Measures committed applies per second and commit latency
// (Apply call to done on the leader) with a given number of applies in flight.
//
//   raft_bench [entries-per-run] [payload-bytes] [windows...]    (defaults: 5000 64 1 16 64 256)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "consensus/raft_node.h"
#include "consensus/testing/test_loop.h"

namespace {

using namespace gangway;               // NOLINT: a benchmark program
using namespace gangway::consensus;    // NOLINT
using Clock = std::chrono::steady_clock;

class StringSource : public SnapshotSource {
 public:
  explicit StringSource(std::string bytes) : bytes_(std::move(bytes)) {}
  Result<std::string> Encode(std::stop_token) override { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class CountingFsm : public StateMachine {
 public:
  Result<std::string> Apply(uint64_t, std::string_view entry) override {
    bytes_ += entry.size();
    return std::string();
  }
  Result<std::unique_ptr<SnapshotSource>> BeginSnapshot() override {
    return std::unique_ptr<SnapshotSource>(std::make_unique<StringSource>(std::to_string(bytes_)));
  }
  Status Restore(std::string_view data) override {
    bytes_ = std::strtoull(std::string(data).c_str(), nullptr, 10);
    return Status::Ok();
  }

 private:
  uint64_t bytes_ = 0;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  size_t per_run = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5000;
  size_t payload = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 64;
  std::vector<size_t> windows;
  for (int i = 3; i < argc; ++i) windows.push_back(std::strtoul(argv[i], nullptr, 10));
  if (windows.empty()) windows = {1, 16, 64, 256};

  std::string root = (std::filesystem::temp_directory_path() / "gangway-raft-bench-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  testing::TestLoop loop;
  Configuration conf;
  std::vector<RaftOptions> options;
  for (uint64_t id = 1; id <= 3; ++id) {
    RaftOptions o = RaftOptions::Default();
    o.id = id;
    o.address = "127.0.0.1:" + std::to_string(FreePort());
    o.data_dir = root + "/node" + std::to_string(id);
    options.push_back(o);
    conf.push_back(Member{id, o.address, Suffrage::kVoter});
  }
  std::vector<std::unique_ptr<CountingFsm>> fsms;
  std::vector<std::unique_ptr<RaftNode>> nodes;
  int started = 0;
  bool failed = false;
  for (const auto& o : options) {
    fsms.push_back(std::make_unique<CountingFsm>());
    nodes.push_back(std::make_unique<RaftNode>(loop, *fsms.back(), o));
    nodes.back()->Bootstrap(conf, [](OpResult) {});
    nodes.back()->Start([&](OpResult r) {
      if (!r.ok()) {
        std::fprintf(stderr, "start: %s\n", r.status.message().c_str());
        failed = true;
      }
      ++started;
    });
  }
  RaftNode* leader = nullptr;
  loop.RunUntil(
      [&] {
        for (auto& n : nodes) {
          if (n->IsLeader()) leader = n.get();
        }
        return failed || leader != nullptr;
      },
      std::chrono::seconds(30));
  if (leader == nullptr) {
    std::fprintf(stderr, "no leader\n");
    return 1;
  }
  std::printf("== raft_bench: 3 nodes in one process, loopback, %s, %zu-byte entries, %u cores\n",
              root.c_str(), payload, unsigned(sysconf(_SC_NPROCESSORS_ONLN)));
  std::printf("%-8s %12s %10s %10s %10s %8s\n", "window", "applies/s", "p50 ms", "p90 ms",
              "p99 ms", "errors");

  std::string body(payload, 'x');
  for (size_t window : windows) {
    std::vector<double> latencies;
    latencies.reserve(per_run);
    size_t submitted = 0, done = 0, errors = 0;
    auto submit = [&](auto& self) -> void {
      while (submitted < per_run && submitted - done < window) {
        ++submitted;
        auto t0 = Clock::now();
        leader->Apply(body, [&, t0, self](ApplyResult r) {
          ++done;
          if (!r.ok()) ++errors;
          latencies.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          self(self);
        });
      }
    };
    auto start = Clock::now();
    submit(submit);
    loop.RunUntil([&] { return done == per_run; }, std::chrono::seconds(300));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%-8zu %12.0f %10.3f %10.3f %10.3f %8zu\n", window, double(done) / secs,
                Percentile(latencies, 0.50), Percentile(latencies, 0.90),
                Percentile(latencies, 0.99), errors);
    std::fflush(stdout);
  }
  nodes.clear();
  loop.RunFor(std::chrono::milliseconds(10));
  std::filesystem::remove_all(root);
  return 0;
}
