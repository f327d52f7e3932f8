// snapshot_bench: what a Raft snapshot of the catalog costs, and where. A store is filled with
// KV entries (keys as raft-vs-etcd writes them, bench/<conn>/<i>); then, several times each:
//   copy    Store::CopyForSnapshot, the part that runs on the server's control loop
//   encode  SnapshotCopy::Encode, the part that runs on a libuv worker thread
//   free    destroying the copy (also on the worker)
//   direct  Store::Snapshot, the direct encoder on the live tables (/v1/snapshot)
//   tree    the JSON-tree encoder that the servers used until the direct one (with --tree)
//
// Each phase is reported in wall time and in this thread's CPU time; on a shared machine the CPU
// time is the steadier figure.
//
//   snapshot_bench [keys] [value-bytes] [repeats] [--tree]    (defaults: 300000 1024 3)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "catalog/store.h"

namespace {

using namespace gangway;           // NOLINT: a benchmark program
using namespace gangway::catalog;  // NOLINT
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Wall and CPU milliseconds of one run of fn.
struct Timing {
  double wall = 0, cpu = 0;
};
template <typename F>
Timing Time(F fn) {
  auto w0 = Clock::now();
  double c0 = CpuMs();
  fn();
  return {Ms(Clock::now() - w0), CpuMs() - c0};
}

long RssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) / 1024;
  }
  return -1;
}

struct Figures {
  std::vector<Timing> copy, encode, free, direct, tree;
};

void Print(const char* what, const std::vector<Timing>& runs) {
  if (runs.empty()) return;
  std::vector<double> wall, cpu;
  for (const auto& t : runs) {
    wall.push_back(t.wall);
    cpu.push_back(t.cpu);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("%-7s wall min %7.1f median %7.1f max %7.1f ms   cpu min %7.1f median %7.1f ms\n",
              what, wall.front(), wall[wall.size() / 2], wall.back(), cpu.front(),
              cpu[cpu.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool tree = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tree") == 0) {
      tree = true;
    } else {
      args.emplace_back(argv[i]);
    }
  }
  size_t keys = args.size() > 0 ? std::strtoul(args[0].c_str(), nullptr, 10) : 300000;
  size_t value_bytes = args.size() > 1 ? std::strtoul(args[1].c_str(), nullptr, 10) : 1024;
  int repeats = args.size() > 2 ? std::atoi(args[2].c_str()) : 3;

  Store store;
  Index index = 0;
  auto fill_start = Clock::now();
  std::string value(value_bytes, 'v');
  for (size_t i = 0; i < keys; ++i) {
    KVRequest r;
    r.entry.key = "bench/" + std::to_string(i % 64) + "/" + std::to_string(i);
    // Distinct values, as a real store holds (and lz4 does not see one value 300,000 times).
    std::snprintf(value.data(), value.size(), "%zu", i);
    r.entry.value = value;
    store.Apply(++index, r);
  }
  std::printf("store: %zu keys x %zu B values, filled in %.0f ms, RSS %ld MiB\n", keys,
              value_bytes, Ms(Clock::now() - fill_start), RssMiB());

  Figures f;
  size_t bytes = 0;
  long peak_rss = 0;
  for (int r = 0; r < repeats; ++r) {
    std::unique_ptr<SnapshotCopy> copy;
    Result<std::string> encoded;
    f.copy.push_back(Time([&] { copy = store.CopyForSnapshot(); }));
    f.encode.push_back(Time([&] { encoded = copy->Encode(); }));
    peak_rss = std::max(peak_rss, RssMiB());
    f.free.push_back(Time([&] { copy.reset(); }));
    if (!encoded.ok()) {
      std::fprintf(stderr, "encode: %s\n", encoded.status().message().c_str());
      return 1;
    }
    bytes = encoded->size();
    encoded = Result<std::string>();

    std::string direct;
    f.direct.push_back(Time([&] { direct = store.Snapshot(); }));
    if (direct.size() != bytes) {
      std::fprintf(stderr, "direct and copied encodings differ in size\n");
      return 1;
    }
    if (tree) {
      std::string old;
      f.tree.push_back(Time([&] { old = internal::SnapshotThroughJson(store); }));
      if (old != direct) {
        std::fprintf(stderr, "the JSON-tree encoder wrote different bytes\n");
        return 1;
      }
    }
  }
  std::printf("snapshot: %.1f MiB; RSS with a copy and its encoding alive: %ld MiB\n",
              double(bytes) / (1 << 20), peak_rss);
  Print("copy", f.copy);
  Print("encode", f.encode);
  Print("free", f.free);
  Print("direct", f.direct);
  Print("tree", f.tree);
  return 0;
}
