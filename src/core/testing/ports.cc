#include "core/testing/ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <string>

namespace gangway::testing {
namespace {

constexpr char kLockDir[] = "/tmp/gangway-test-ports";

// The ports to pick from: 23000 up to the start of the ephemeral range (or 32767).
void PortPool(int* lo, int* hi) {
  int eph_lo = 32768, eph_hi = 60999;
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  if (f) f >> eph_lo >> eph_hi;
  *lo = 23000;
  *hi = eph_lo > 24000 ? eph_lo - 1 : 32767;
}

bool Bindable(int type, int port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Locks the port's file; the descriptor stays open (and the lock held) until the process exits.
bool Lock(int port) {
  mkdir(kLockDir, 01777);
  std::string path = std::string(kLockDir) + "/" + std::to_string(port);
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return false;
  }
  return true;
}

}  // namespace

int ReservePort() {
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard<std::mutex> l(mu);
  int lo = 0, hi = 0;
  PortPool(&lo, &hi);
  std::uniform_int_distribution<int> pick(lo, hi);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    int port = pick(rng);
    // The lock first: a port this process already holds fails it (flock is per open file).
    if (!Lock(port)) continue;
    if (Bindable(SOCK_STREAM, port) && Bindable(SOCK_DGRAM, port)) return port;
  }
  std::fprintf(stderr, "ReservePort: no free port in %d-%d\n", lo, hi);
  std::abort();
}

}  // namespace gangway::testing
