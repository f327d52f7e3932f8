// HTTP API benchmark against a running agent: registrations/s, KV writes/s, and the wake-up
// latency of many concurrent blocking queries after one write.
//
//   api_bench <host:port> register <total> <connections>
//   api_bench <host:port> kv <total> <connections> [value_bytes]
//   api_bench <host:port> watch <watchers>
//
// Prints one line of figures per mode. Talks only to the given (loopback) address.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

namespace {

std::string g_host;
std::string g_port;

// Reads one HTTP/1.1 response (Content-Length bodies only, as the agent sends). Returns the
// status code and the X-Consul-Index header, or -1 on error.
asio::awaitable<int> ReadResponse(tcp::socket& s, asio::streambuf& buf, uint64_t* index) {
  auto [ec, n] = co_await asio::async_read_until(s, buf, "\r\n\r\n", kTok);
  if (ec) co_return -1;
  std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
  buf.consume(n);
  int status = std::atoi(head.c_str() + 9);
  size_t len = 0;
  for (auto pos = head.find("\r\n"); pos != std::string::npos; pos = head.find("\r\n", pos + 2)) {
    std::string line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.rfind("content-length:", 0) == 0) len = std::stoul(line.substr(15));
    if (index && lower.rfind("x-consul-index:", 0) == 0) *index = std::stoull(line.substr(15));
  }
  while (buf.size() < len) {
    auto [rec, rn] = co_await asio::async_read(s, buf, asio::transfer_at_least(1), kTok);
    (void)rn;
    if (rec) co_return -1;
  }
  buf.consume(len);
  co_return status;
}

asio::awaitable<bool> Connect(tcp::socket& s) {
  tcp::resolver r(s.get_executor());
  auto [ec, eps] = co_await r.async_resolve(g_host, g_port, kTok);
  if (ec) co_return false;
  auto [cec, ep] = co_await asio::async_connect(s, eps, kTok);
  (void)ep;
  co_return !cec;
}

std::string Request(const std::string& method, const std::string& target, const std::string& body) {
  return method + " " + target + " HTTP/1.1\r\nHost: " + g_host + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

int Load(const std::string& mode, int total, int conns, int value_bytes) {
  asio::io_context io;
  std::atomic<int> next{0};
  std::vector<double> lat;
  int errors = 0;
  std::string value(value_bytes, 'x');
  auto t0 = Clock::now();
  for (int c = 0; c < conns; ++c) {
    asio::co_spawn(io, [&, c]() -> asio::awaitable<void> {
      tcp::socket s(io);
      if (!co_await Connect(s)) { ++errors; co_return; }
      asio::streambuf buf;
      for (;;) {
        int i = next++;
        if (i >= total) break;
        std::string req;
        if (mode == "register") {
          std::string body = "{\"Name\":\"bench-" + std::to_string(i % 1000) + "\",\"ID\":\"bench-" +
                             std::to_string(i) + "\",\"Port\":" + std::to_string(1000 + i % 60000) +
                             ",\"Tags\":[\"b\"],\"Check\":{\"TTL\":\"600s\",\"Status\":\"passing\"}}";
          req = Request("PUT", "/v1/agent/service/register", body);
        } else {
          req = Request("PUT", "/v1/kv/bench/" + std::to_string(c) + "/" + std::to_string(i), value);
        }
        auto start = Clock::now();
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTok);
        (void)wn;
        if (wec) { ++errors; break; }
        int st = co_await ReadResponse(s, buf, nullptr);
        if (st != 200) { ++errors; if (st < 0) break; }
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
    }, asio::detached);
  }
  io.run();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s: %d requests over %d connections in %.2f s = %.0f ops/s; latency p50 %.2f ms "
              "p99 %.2f ms; errors %d\n",
              mode.c_str(), total, conns, secs, total / secs, Pct(lat, 50), Pct(lat, 99), errors);
  return errors == 0 ? 0 : 1;
}

int Watch(int watchers) {
  asio::io_context io;
  // Seed the key and learn its index.
  uint64_t index = 0;
  int ready = 0, errors = 0;
  std::vector<double> wake;
  Clock::time_point write_at{};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    if (!co_await Connect(s)) { ++errors; co_return; }
    asio::streambuf buf;
    std::string req = Request("PUT", "/v1/kv/bench-watch", "0");
    co_await asio::async_write(s, asio::buffer(req), kTok);
    co_await ReadResponse(s, buf, nullptr);
    req = Request("GET", "/v1/kv/bench-watch", "");
    co_await asio::async_write(s, asio::buffer(req), kTok);
    co_await ReadResponse(s, buf, &index);
  }, asio::detached);
  io.run();
  io.restart();
  std::string target = "/v1/kv/bench-watch?index=" + std::to_string(index) + "&wait=120s";
  for (int w = 0; w < watchers; ++w) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      tcp::socket s(io);
      if (!co_await Connect(s)) { ++errors; co_return; }
      asio::streambuf buf;
      std::string req = Request("GET", target, "");
      auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTok);
      (void)wn;
      if (wec) { ++errors; co_return; }
      ++ready;
      uint64_t got = 0;
      int st = co_await ReadResponse(s, buf, &got);
      if (st != 200 || got <= index) { ++errors; co_return; }
      wake.push_back(std::chrono::duration<double, std::milli>(Clock::now() - write_at).count());
    }, asio::detached);
  }
  // Let every watcher connect and park, then write once.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer t(io);
    while (ready + errors < watchers) {
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(kTok);
    }
    t.expires_after(std::chrono::seconds(2));  // the agent parks the last requests
    co_await t.async_wait(kTok);
    tcp::socket s(io);
    if (!co_await Connect(s)) { ++errors; co_return; }
    asio::streambuf buf;
    std::string req = Request("PUT", "/v1/kv/bench-watch", "1");
    write_at = Clock::now();
    co_await asio::async_write(s, asio::buffer(req), kTok);
    co_await ReadResponse(s, buf, nullptr);
  }, asio::detached);
  io.run();
  std::printf("watch: %d blocking queries woken by one write: p50 %.1f ms p99 %.1f ms max %.1f ms; "
              "woken %zu; errors %d\n",
              watchers, Pct(wake, 50), Pct(wake, 99), wake.empty() ? 0.0 : wake.back(), wake.size(),
              errors);
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: api_bench host:port register|kv|watch ...\n");
    return 2;
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::string hp = argv[1];
  g_host = hp.substr(0, hp.rfind(':'));
  g_port = hp.substr(hp.rfind(':') + 1);
  std::string mode = argv[2];
  if (mode == "watch") return Watch(argc > 3 ? std::atoi(argv[3]) : 10000);
  int total = argc > 3 ? std::atoi(argv[3]) : 20000;
  int conns = argc > 4 ? std::atoi(argv[4]) : 16;
  int vbytes = argc > 5 ? std::atoi(argv[5]) : 64;
  return Load(mode, total, conns, vbytes);
}
