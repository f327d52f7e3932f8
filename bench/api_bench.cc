// HTTP API benchmark against a running agent: registrations/s, KV writes/s, and the wake-up
// latency of many concurrent blocking queries after one write. Also drives etcd's v3 HTTP/JSON
// gateway with the same write load, for bench/raft-vs-etcd.
//
//   api_bench <host:port> register <total> <connections>
//   api_bench <host:port> kv <total> <connections> [value_bytes]
//   api_bench <host:port> kvread <total> <connections> [value_bytes]
//   api_bench <host:port> etcd <total> <connections> [value_bytes]
//   api_bench <host:port> leaf <total> <connections>
//   api_bench <host:port>[,<host:port>...] watch <watchers> [<write host:port>]
//
// kv: PUT /v1/kv/bench/<conn>/<i> with a value_bytes body; etcd: POST /v3/kv/put with
// {"key": base64("bench/<conn>/<i>"), "value": base64(value)}. Each connection keeps one
// request in flight over keep-alive HTTP/1.1.
// kvread: GET /v1/kv/bench/key, the same key every time, so what is measured is the read path
// (and, with ACLs on, the token check) rather than the store's growth. The key is written once
// first when it is missing; with a token that may only read it, write it beforehand.
// leaf: GET /v1/agent/connect/ca/leaf/bench-<pid>-<i>: every request names a new service, so each is a
// whole issuance (the agent's key and CSR, a server's signature, the cache entry).
// watch: the watchers are spread round-robin over the listed agents; one write goes to the
// write address (default: the first), over a connection opened beforehand. Wake-up times are
// given from the moment the write's response arrived and from the moment the write was sent
// (the figure to compare: the write's own response may queue behind the answers). The answers are read with epoll and read(2), and every connection stays open until
// all have answered, so that the figures are the agent's wake-up rather than this program's
// parsing or the teardown of the connections. Each watcher first reads the key without
// blocking on its connection, as watch loops do, then parks its blocking read there;
// GANGWAY_BENCH_WATCH_COLD=1 sends the blocking read alone on a new connection instead.
//
// GANGWAY_BENCH_TOKEN, when set, is sent as X-Consul-Token on every request of every mode.
//
// Prints one line of figures per mode, including this process's CPU time (so that a saturated
// load generator can be told from a saturated server). Talks only to the given addresses.
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

namespace {

struct Addr {
  std::string host;
  std::string port;
};

Addr ParseAddr(const std::string& hp) {
  return {hp.substr(0, hp.rfind(':')), hp.substr(hp.rfind(':') + 1)};
}

std::vector<Addr> ParseAddrs(const std::string& list) {
  std::vector<Addr> out;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    out.push_back(ParseAddr(list.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Addr g_addr;
std::string g_token_header;  // "X-Consul-Token: <secret>\r\n", or empty

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string Base64(const std::string& in) {
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    out += kAlpha[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Reads one HTTP/1.1 response (Content-Length bodies as the agent sends; chunked bodies are
// read too, in case a server streams). Returns the status code and the X-Consul-Index header,
// or -1 on error.
asio::awaitable<int> ReadResponse(tcp::socket& s, asio::streambuf& buf, uint64_t* index,
                                  std::string* body = nullptr) {
  auto [ec, n] = co_await asio::async_read_until(s, buf, "\r\n\r\n", kTok);
  if (ec) co_return -1;
  std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
  buf.consume(n);
  int status = std::atoi(head.c_str() + 9);
  size_t len = 0;
  bool chunked = false;
  for (auto pos = head.find("\r\n"); pos != std::string::npos; pos = head.find("\r\n", pos + 2)) {
    std::string line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.rfind("content-length:", 0) == 0) len = std::stoul(line.substr(15));
    if (index && lower.rfind("x-consul-index:", 0) == 0) *index = std::stoull(line.substr(15));
    if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos) chunked = true;
  }
  if (chunked) {
    for (;;) {
      auto [cec, cn] = co_await asio::async_read_until(s, buf, "\r\n", kTok);
      if (cec) co_return -1;
      std::string size_line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + cn);
      buf.consume(cn);
      size_t chunk = std::stoul(size_line, nullptr, 16);
      while (buf.size() < chunk + 2) {
        auto [rec, rn] = co_await asio::async_read(s, buf, asio::transfer_at_least(1), kTok);
        (void)rn;
        if (rec) co_return -1;
      }
      buf.consume(chunk + 2);
      if (chunk == 0) co_return status;  // no trailers expected
    }
  }
  while (buf.size() < len) {
    auto [rec, rn] = co_await asio::async_read(s, buf, asio::transfer_at_least(1), kTok);
    (void)rn;
    if (rec) co_return -1;
  }
  if (body) body->assign(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + len);
  buf.consume(len);
  co_return status;
}

asio::awaitable<bool> Connect(tcp::socket& s, const Addr& a = g_addr) {
  tcp::resolver r(s.get_executor());
  auto [ec, eps] = co_await r.async_resolve(a.host, a.port, kTok);
  if (ec) co_return false;
  auto [cec, ep] = co_await asio::async_connect(s, eps, kTok);
  (void)ep;
  if (!cec) s.set_option(tcp::no_delay(true));
  co_return !cec;
}

std::string Request(const std::string& method, const std::string& target, const std::string& body,
                    const char* content_type = nullptr) {
  return method + " " + target + " HTTP/1.1\r\nHost: " + g_addr.host + "\r\n" + g_token_header +
         (content_type ? std::string("Content-Type: ") + content_type + "\r\n" : std::string()) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

std::string ErrorSummary(const std::map<int, int>& by_status, const std::string& first) {
  if (by_status.empty()) return "";
  std::string out = "; error statuses:";
  for (const auto& [st, n] : by_status) out += " " + std::to_string(st) + " x" + std::to_string(n);
  std::string clean;
  for (char ch : first) clean += (ch == '\n' || ch == '\r') ? ' ' : ch;
  return out + "; first: " + clean;
}

// Writes bench/key unless it is there already (kvread). False, with the reason printed, when it
// can be neither read nor written.
bool SeedReadKey(const std::string& value) {
  asio::io_context io;
  bool ok = false;
  std::string why = "could not connect";
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    if (!co_await Connect(s)) co_return;
    asio::streambuf buf;
    std::string body;
    std::string req = Request("GET", "/v1/kv/bench/key", "");
    co_await asio::async_write(s, asio::buffer(req), kTok);
    int st = co_await ReadResponse(s, buf, nullptr, &body);
    if (st == 200) { ok = true; co_return; }
    if (st != 404) { why = "GET answered " + std::to_string(st) + " " + body.substr(0, 120); co_return; }
    req = Request("PUT", "/v1/kv/bench/key", value);
    co_await asio::async_write(s, asio::buffer(req), kTok);
    st = co_await ReadResponse(s, buf, nullptr, &body);
    ok = st == 200;
    if (!ok) why = "PUT answered " + std::to_string(st) + " " + body.substr(0, 120);
  }, asio::detached);
  io.run();
  if (!ok) std::printf("kvread: bench/key is neither readable nor writable: %s\n", why.c_str());
  return ok;
}

int Load(const std::string& mode, int total, int conns, int value_bytes) {
  asio::io_context io;
  std::atomic<int> next{0};
  std::vector<double> lat;
  struct Slow {
    double start, end;  // seconds since t0
    int i;              // the write's number in this run
  };
  std::vector<Slow> slow;  // requests over 100 ms, to tell server stalls from queueing
  int errors = 0;
  std::map<int, int> error_status;  // HTTP status (or -1: connection failed) -> count
  std::string first_error;
  std::string value(value_bytes, 'x');
  const std::string value64 = Base64(value);
  if (mode == "kvread" && !SeedReadKey(value)) return 1;
  const std::string read_request = Request("GET", "/v1/kv/bench/key", "");
  double cpu0 = CpuSeconds();
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
        } else if (mode == "leaf") {
          req = Request("GET", "/v1/agent/connect/ca/leaf/bench-" + std::to_string(getpid()) + "-" +
                                   std::to_string(i), "");
        } else if (mode == "kvread") {
          req = read_request;
        } else if (mode == "etcd") {
          std::string key = "bench/" + std::to_string(c) + "/" + std::to_string(i);
          req = Request("POST", "/v3/kv/put",
                        "{\"key\":\"" + Base64(key) + "\",\"value\":\"" + value64 + "\"}",
                        "application/json");
        } else {
          req = Request("PUT", "/v1/kv/bench/" + std::to_string(c) + "/" + std::to_string(i), value);
        }
        auto start = Clock::now();
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTok);
        (void)wn;
        if (wec) { ++errors; break; }
        std::string body;
        int st = co_await ReadResponse(s, buf, nullptr, &body);
        if (st != 200) {
          ++errors;
          ++error_status[st];
          if (first_error.empty()) first_error = std::to_string(st) + " " + body.substr(0, 120);
          if (st < 0) break;
          continue;
        }
        auto end = Clock::now();
        double ms = std::chrono::duration<double, std::milli>(end - start).count();
        lat.push_back(ms);
        if (ms > 100) {
          slow.push_back({std::chrono::duration<double>(start - t0).count(),
                          std::chrono::duration<double>(end - t0).count(), i});
        }
      }
    }, asio::detached);
  }
  io.run();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  std::sort(lat.begin(), lat.end());  // (argument evaluation order is unspecified)
  double max_ms = lat.empty() ? 0.0 : lat.back();
  std::printf("%s: %d requests over %d connections in %.2f s = %.0f ops/s; latency p50 %.2f ms "
              "p90 %.2f ms p99 %.2f ms p999 %.2f ms max %.2f ms; errors %d; load generator CPU "
              "%.2f s (%.0f %% of one core)%s\n",
              mode.c_str(), total, conns, secs, total / secs, Pct(lat, 50), Pct(lat, 90), Pct(lat, 99),
              Pct(lat, 99.9), max_ms, errors, cpu, cpu / secs * 100.0, ErrorSummary(error_status, first_error).c_str());
  // Overlapping slow requests are one stall of the server: "at <s> (write #<i>) <ms>".
  std::sort(slow.begin(), slow.end(), [](const Slow& a, const Slow& b) { return a.start < b.start; });
  std::vector<Slow> stalls;
  for (const Slow& x : slow) {
    if (!stalls.empty() && x.start <= stalls.back().end) {
      stalls.back().end = std::max(stalls.back().end, x.end);
      stalls.back().i = std::min(stalls.back().i, x.i);
    } else {
      stalls.push_back(x);
    }
  }
  std::printf("%s: stalls (overlapping requests over 100 ms): %zu", mode.c_str(), stalls.size());
  for (size_t k = 0; k < stalls.size() && k < 12; ++k) {
    std::printf("%s at %.2f s (write #%d) %.0f ms", k ? "," : ":", stalls[k].start, stalls[k].i,
                (stalls[k].end - stalls[k].start) * 1000);
  }
  std::printf("\n");
  return errors == 0 ? 0 : 1;
}

// One watcher's response as it arrives on a raw socket (watch mode reads without Asio, so that
// the load generator's cost per response stays a read and a scan).
struct RawResponse {
  std::string buf;
  size_t head_end = 0;  // past "\r\n\r\n", once seen
  size_t length = 0;
  int status = 0;
  uint64_t index = 0;
  bool done = false;  // whole, or the connection ended first

  // Appends what arrived; true once the whole response is there.
  bool Add(const char* data, size_t n) {
    buf.append(data, n);
    if (head_end == 0) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      head_end = end + 4;
      status = std::atoi(buf.c_str() + 9);
      for (size_t pos = buf.find("\r\n"); pos < end; pos = buf.find("\r\n", pos + 2)) {
        const char* line = buf.c_str() + pos + 2;
        if (::strncasecmp(line, "content-length:", 15) == 0) length = std::strtoul(line + 15, nullptr, 10);
        if (::strncasecmp(line, "x-consul-index:", 15) == 0) index = std::strtoull(line + 15, nullptr, 10);
      }
    }
    return buf.size() >= head_end + length;
  }
};

int Watch(const std::vector<Addr>& agents, const Addr& writer, int watchers) {
  asio::io_context io;
  // Seed the key through the write address and learn its index there.
  uint64_t index = 0;
  int ready = 0, errors = 0, stale = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    if (!co_await Connect(s, writer)) { ++errors; co_return; }
    asio::streambuf buf;
    std::string req = Request("PUT", "/v1/kv/bench-watch", "0");
    co_await asio::async_write(s, asio::buffer(req), kTok);
    if (co_await ReadResponse(s, buf, nullptr) != 200) ++errors;
    req = Request("GET", "/v1/kv/bench-watch", "");
    co_await asio::async_write(s, asio::buffer(req), kTok);
    if (co_await ReadResponse(s, buf, &index) != 200) ++errors;
  }, asio::detached);
  io.run();
  io.restart();
  if (errors) {
    std::printf("watch: could not seed the key through %s:%s\n", writer.host.c_str(), writer.port.c_str());
    return 1;
  }
  // Connect every watcher and send its blocking GET; connect the writer too, so that the
  // measured write does not include a connection set-up. The sockets stay open until the end:
  // what is measured is the wake-up, not the teardown of 10,000 connections.
  std::string target = "/v1/kv/bench-watch?index=" + std::to_string(index) + "&wait=120s";
  const char* cold_env = std::getenv("GANGWAY_BENCH_WATCH_COLD");
  bool cold = cold_env != nullptr && *cold_env != '\0' && *cold_env != '0';
  std::vector<tcp::socket> socks;
  socks.reserve(static_cast<size_t>(watchers) + 1);
  for (int w = 0; w <= watchers; ++w) socks.emplace_back(io);
  std::vector<size_t> agent_of(socks.size(), 0);
  for (int w = 0; w <= watchers; ++w) {
    bool is_writer = w == watchers;
    size_t which = static_cast<size_t>(w) % agents.size();
    agent_of[static_cast<size_t>(w)] = which;
    asio::co_spawn(io, [&, w, which, is_writer]() -> asio::awaitable<void> {
      tcp::socket& s = socks[static_cast<size_t>(w)];
      if (!co_await Connect(s, is_writer ? writer : agents[which])) { ++errors; co_return; }
      if (is_writer) co_return;
      if (!cold) {
        // As a watch loop does (Consul's API client, consul watch, consul-template): a first
        // read learns the index, then the blocking read goes out on the same connection.
        asio::streambuf buf;
        std::string first = Request("GET", "/v1/kv/bench-watch", "");
        auto [fec, fn] = co_await asio::async_write(s, asio::buffer(first), kTok);
        (void)fn;
        uint64_t seen = 0;
        if (fec || co_await ReadResponse(s, buf, &seen) != 200 || seen != index) { ++errors; co_return; }
      }
      std::string req = Request("GET", target, "");
      auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTok);
      (void)wn;
      if (wec) { ++errors; co_return; }
      ++ready;
    }, asio::detached);
  }
  io.run();
  if (errors || ready < watchers) {
    std::printf("watch: %d of %d watchers could not connect or send\n", watchers - ready, watchers);
    return 1;
  }
  int ep = ::epoll_create1(0);
  for (size_t i = 0; i < socks.size(); ++i) {
    epoll_event ev{};
    // Edge-triggered, as Go's netpoller registers a connection: one read per answer and no
    // epoll_ctl to take a finished watcher out.
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].native_handle(), &ev);
  }
  std::vector<RawResponse> resp(socks.size());
  std::vector<double> wake, wake_sent;
  std::vector<size_t> woken_per(agents.size(), 0);
  wake.reserve(socks.size());
  wake_sent.reserve(socks.size());
  bool written = false, acked = false;
  Clock::time_point write_at{};
  double ack_ms = 0;
  int finished = 0;
  std::vector<epoll_event> events(1024);
  std::vector<char> chunk(65536);
  // Reads what is readable; before the write, until `until`; after it, until every watcher and
  // the writer have their answer (or 130 s).
  auto pump = [&](Clock::time_point until) {
    while (Clock::now() < until && (!written || finished < watchers || !acked)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                           static_cast<int>(std::max<long long>(1, std::min<long long>(left, 100))));
      auto now = Clock::now();
      for (int k = 0; k < n; ++k) {
        size_t i = events[static_cast<size_t>(k)].data.u64;
        if (resp[i].done) continue;
        // Drained to a short read: more bytes later come with a new edge.
        ssize_t got = 0;
        do {
          got = ::read(socks[i].native_handle(), chunk.data(), chunk.size());
          if (got <= 0) break;
          resp[i].done = resp[i].Add(chunk.data(), static_cast<size_t>(got));
        } while (!resp[i].done && static_cast<size_t>(got) == chunk.size());
        if (got < 0 && errno == EAGAIN) continue;
        if (got <= 0 && !resp[i].done) {
          resp[i].done = true;  // closed or failed before a whole answer
          resp[i].status = -1;
        }
        if (!resp[i].done) continue;
        if (static_cast<int>(i) == watchers) {  // the write's acknowledgement
          if (resp[i].status != 200) ++errors;
          acked = true;
          ack_ms = std::chrono::duration<double, std::milli>(now - write_at).count();
          continue;
        }
        ++finished;
        if (resp[i].status != 200 || resp[i].index <= index) { ++errors; continue; }
        if (!written) { ++stale; continue; }  // returned before the write (e.g. wait expired)
        ++woken_per[agent_of[i]];
        wake_sent.push_back(std::chrono::duration<double, std::milli>(now - write_at).count());
      }
    }
  };
  // Let the agents park the last requests, then write once.
  pump(Clock::now() + std::chrono::seconds(2));
  std::string req = Request("PUT", "/v1/kv/bench-watch", "1");
  written = true;
  double cpu0 = CpuSeconds();
  write_at = Clock::now();
  if (::send(socks[static_cast<size_t>(watchers)].native_handle(), req.data(), req.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(req.size())) {
    std::printf("watch: could not send the write\n");
    return 1;
  }
  pump(Clock::now() + std::chrono::seconds(130));
  double cpu = CpuSeconds() - cpu0;
  ::close(ep);
  // From the acknowledgement (negative: woken before it).
  for (double x : wake_sent) wake.push_back(x - ack_ms);
  std::string per;
  for (size_t i = 0; i < agents.size(); ++i) {
    per += (i ? ", " : "") + agents[i].host + ":" + agents[i].port + " " + std::to_string(woken_per[i]);
  }
  double max_ack = wake.empty() ? 0.0 : *std::max_element(wake.begin(), wake.end());
  double max_sent = wake_sent.empty() ? 0.0 : *std::max_element(wake_sent.begin(), wake_sent.end());
  int missing = watchers - finished;
  std::printf("watch: %d blocking queries over %zu agents woken by one write (acknowledged after "
              "%.2f ms); from the acknowledgement: p50 %.1f ms p99 %.1f ms max %.1f ms; from "
              "sending the write: first %.1f ms p50 %.1f ms p99 %.1f ms max %.1f ms; woken %zu (%s); returned "
              "before the write %d; errors %d; not answered %d; load generator CPU from the "
              "write %.3f s\n",
              watchers, agents.size(), ack_ms, Pct(wake, 50), Pct(wake, 99), max_ack, Pct(wake_sent, 0),
              Pct(wake_sent, 50),
              Pct(wake_sent, 99), max_sent, wake.size(), per.c_str(), stale, errors, missing, cpu);
  return errors == 0 && stale == 0 && missing == 0 && acked ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: api_bench host:port register|kv|kvread|etcd|leaf|watch ...\n");
    return 2;
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (const char* token = std::getenv("GANGWAY_BENCH_TOKEN"); token != nullptr && *token != '\0') {
    g_token_header = std::string("X-Consul-Token: ") + token + "\r\n";
  }
  std::vector<Addr> addrs = ParseAddrs(argv[1]);
  g_addr = addrs.front();
  std::string mode = argv[2];
  if (mode == "watch") {
    return Watch(addrs, argc > 4 ? ParseAddr(argv[4]) : addrs.front(), argc > 3 ? std::atoi(argv[3]) : 10000);
  }
  int total = argc > 3 ? std::atoi(argv[3]) : 20000;
  int conns = argc > 4 ? std::atoi(argv[4]) : 16;
  int vbytes = argc > 5 ? std::atoi(argv[5]) : 64;
  return Load(mode, total, conns, vbytes);
}
