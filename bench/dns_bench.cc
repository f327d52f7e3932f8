// dns_bench: what the DNS message codec costs per query on one thread. Each case runs for about
// a second of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID: the steadier figure on a shared
// machine) and prints operations per CPU-second, nanoseconds and heap allocations per operation:
//   parse-query   dns::Parse of dig's SRV query (EDNS0 with a cookie)
//   encode-srv    dns::Encode of an answer to it: 3 SRV records and their A glue, compressed
//   parse-srv     dns::Parse of that answer
//   size-srv      dns::UncompressedSize of that answer (Consul's truncation measure)
//   answer        parse the query, build the answer into a reused string: the server's path
//
//   dns_bench [seconds-per-case]    (default 1)
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "dns/message.h"

namespace {

std::atomic<long> allocations{0};

}  // namespace

// GCC 12 takes the free() below for a mismatch with a new-expression it inlined: these are the
// replaceable operators themselves, so it is not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts every heap allocation of the process (this benchmark is single-threaded).
void* operator new(size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using namespace gangway;  // NOLINT: a benchmark program

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

template <typename F>
void Run(const char* name, double seconds, F fn) {
  long ops = 0;
  const long a0 = allocations.load();
  const double c0 = CpuSeconds();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 1000; ++i) fn();
    ops += 1000;
    elapsed = CpuSeconds() - c0;
  }
  std::printf("%-14s %12.0f /CPU-s %9.1f ns/op %6.1f allocs/op\n", name, double(ops) / elapsed,
              elapsed * 1e9 / double(ops), double(allocations.load() - a0) / double(ops));
}

const uint8_t kDigQuery[] = {
    0x1a, 0x2b, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 3,    'w',  'e',
    'b',  7,    's',  'e',  'r',  'v',  'i',  'c',  'e',  6,    'c',  'o',  'n',  's',  'u',
    'l',  0,    0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
};

// The answer Consul gives for web.service.consul SRV with three healthy instances.
void Answer(const dns::Message& query, dns::Message* m) {
  m->header = query.header;
  m->header.qr = true;
  m->header.aa = true;
  m->header.ra = false;
  m->questions = query.questions;
  m->answer.resize(3);
  m->additional.resize(3);
  static const char* const kTargets[] = {"0a000001.addr.dc1.consul.", "0a000002.addr.dc1.consul.",
                                         "0a000003.addr.dc1.consul."};
  for (int i = 0; i < 3; ++i) {
    dns::Record& srv = m->answer[i];
    srv.name = query.questions[0].name;
    srv.type = dns::kSRV;
    srv.srv = {1, 1, static_cast<uint16_t>(20000 + i), kTargets[i]};
    dns::Record& a = m->additional[i];
    a.name = kTargets[i];
    a.type = dns::kA;
    a.ip = {10, 0, 0, static_cast<uint8_t>(i + 1)};
  }
  m->edns = dns::Edns{.udp_size = 1232};
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::span<const uint8_t> query(kDigQuery, sizeof(kDigQuery));
  auto parsed = dns::Parse(query);
  if (!parsed.ok()) {
    std::fprintf(stderr, "query: %s\n", parsed.status().message().c_str());
    return 1;
  }
  dns::Message response;
  Answer(*parsed, &response);
  std::string wire;
  dns::Encode(response, true, &wire);
  const std::string response_wire = wire;
  const std::span<const uint8_t> response_bytes(
      reinterpret_cast<const uint8_t*>(response_wire.data()), response_wire.size());
  std::printf("query %zu bytes; answer %zu bytes compressed, %zu uncompressed\n", query.size(),
              wire.size(), dns::UncompressedSize(response));

  volatile size_t sink = 0;
  Run("parse-query", seconds, [&] { sink = sink + dns::Parse(query)->questions.size(); });
  Run("encode-srv", seconds, [&] {
    dns::Encode(response, true, &wire);
    sink = sink + wire.size();
  });
  Run("parse-srv", seconds, [&] { sink = sink + dns::Parse(response_bytes)->answer.size(); });
  Run("size-srv", seconds, [&] { sink = sink + dns::UncompressedSize(response); });
  dns::Message reply;
  Run("answer", seconds, [&] {
    auto q = dns::Parse(query);
    Answer(*q, &reply);
    dns::Encode(reply, true, &wire);
    sink = sink + wire.size();
  });
  return 0;
}
