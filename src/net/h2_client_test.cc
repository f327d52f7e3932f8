// H2Client against a scripted HTTP/2 peer on loopback that writes raw frames (HPACK from the
// static table only): a PING answered or refused with GOAWAY, a response whose body passes the
// caller's limit, a reset stream, and a peer that never answers.
#include "net/h2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "net/event_loop.h"

namespace gangway::net {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  uint32_t n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(stream >> shift));
  return f + payload;
}

constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPing = 6, kGoAway = 7;
constexpr uint8_t kEndStream = 1, kAck = 1, kEndHeaders = 4;

// One connection on 127.0.0.1, served on a thread: `on_frame` sees each frame the client sends
// and returns the bytes to write back. With `silent`, the connection is accepted and never read.
class Peer {
 public:
  using OnFrame = std::function<std::string(uint8_t type, uint8_t flags, uint32_t stream)>;

  explicit Peer(OnFrame on_frame, bool silent = false) : on_frame_(std::move(on_frame)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (!silent) thread_ = std::thread([this] { Serve(); });
  }
  ~Peer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (conn_ >= 0) shutdown(conn_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (conn_ >= 0) close(conn_);
  }
  int port() const { return port_; }

 private:
  bool ReadN(std::string* out, size_t n) {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = read(conn_, out->data() + got, n - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  void Serve() {
    conn_ = accept(fd_, nullptr, nullptr);
    if (conn_ < 0) return;
    std::string magic, header, payload;
    if (!ReadN(&magic, 24)) return;
    std::string out = Frame(kSettings, 0, 0, "");
    if (write(conn_, out.data(), out.size()) < 0) return;
    for (;;) {
      if (!ReadN(&header, 9)) return;
      size_t n = (static_cast<uint8_t>(header[0]) << 16) | (static_cast<uint8_t>(header[1]) << 8) |
                 static_cast<uint8_t>(header[2]);
      auto type = static_cast<uint8_t>(header[3]);
      auto flags = static_cast<uint8_t>(header[4]);
      uint32_t stream = (static_cast<uint32_t>(static_cast<uint8_t>(header[5]) & 0x7f) << 24) |
                        (static_cast<uint8_t>(header[6]) << 16) |
                        (static_cast<uint8_t>(header[7]) << 8) | static_cast<uint8_t>(header[8]);
      if (!ReadN(&payload, n)) return;
      out = type == kSettings && !(flags & kAck) ? Frame(kSettings, kAck, 0, "") : "";
      out += on_frame_(type, flags, stream);
      if (!out.empty() && write(conn_, out.data(), out.size()) < 0) return;
    }
  }

  OnFrame on_frame_;
  int fd_ = -1;
  int conn_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Runs one call on a fresh loop and returns its result.
H2Result Call(int port, std::function<void(H2Client&, const H2Endpoint&,
                                           std::function<void(H2Result)>)> start) {
  EventLoop loop;
  H2Client client(loop);
  H2Result out;
  start(client, H2Endpoint{.host = "127.0.0.1", .port = port},
        [&](H2Result r) {
          out = std::move(r);
          loop.Stop();
        });
  loop.Run();
  return out;
}

H2Result Ping(int port, std::chrono::nanoseconds timeout = 5s) {
  return Call(port, [timeout](H2Client& c, const H2Endpoint& to, auto done) {
    c.Ping(to, timeout, std::move(done));
  });
}

H2Result Request(int port, size_t max_body, std::chrono::nanoseconds timeout = 5s) {
  return Call(port, [=](H2Client& c, const H2Endpoint& to, auto done) {
    H2Request req;
    req.path = "/grpc.health.v1.Health/Check";
    req.authority = "127.0.0.1";
    req.headers = {{"content-type", "application/grpc"}};
    req.body = "\0\0\0\0\0"s;
    c.Request(to, std::move(req), timeout, max_body, std::move(done));
  });
}

TEST(H2ClientTest, PingAckPasses) {
  Peer peer([](uint8_t type, uint8_t flags, uint32_t) {
    return type == kPing && !(flags & kAck) ? Frame(kPing, kAck, 0, "12345678") : "";
  });
  H2Result r = Ping(peer.port());
  EXPECT_EQ(r.stage, H2Stage::kOk) << r.error;
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.got_settings);
}

TEST(H2ClientTest, GoAwayInsteadOfAckFails) {
  Peer peer([](uint8_t type, uint8_t flags, uint32_t) {
    // Last stream 0, ENHANCE_YOUR_CALM.
    return type == kPing && !(flags & kAck) ? Frame(kGoAway, 0, 0, "\0\0\0\0\0\0\0\x0b"s) : "";
  });
  H2Result r = Ping(peer.port());
  EXPECT_EQ(r.stage, H2Stage::kConnection);
  EXPECT_EQ(r.error,
            "http2: server sent GOAWAY and closed the connection; ErrCode=ENHANCE_YOUR_CALM");
}

TEST(H2ClientTest, ResponseBodyIsCutAtTheLimitAndTrailersKept) {
  Peer peer([](uint8_t type, uint8_t flags, uint32_t stream) {
    if (!((type == kData || type == kHeaders) && (flags & kEndStream))) return std::string();
    // :status 200 (static index 8); content-type (index 31) application/grpc, not indexed.
    std::string headers = "\x88\x0f\x10\x10"s + "application/grpc";
    std::string trailers = "\x00\x0bgrpc-status\x01\x30"s;
    return Frame(kHeaders, kEndHeaders, stream, headers) +
           Frame(kData, 0, stream, std::string(100, 'x')) +
           Frame(kHeaders, kEndHeaders | kEndStream, stream, trailers);
  });
  H2Result r = Request(peer.port(), 10);
  ASSERT_EQ(r.stage, H2Stage::kOk) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers, (H2Headers{{"content-type", "application/grpc"}}));
  EXPECT_EQ(r.body, std::string(10, 'x'));
  EXPECT_TRUE(r.body_truncated);
  EXPECT_EQ(r.trailers, (H2Headers{{"grpc-status", "0"}}));
  EXPECT_EQ(r.reset_code, 0u);
}

TEST(H2ClientTest, ResetStreamIsReported) {
  Peer peer([](uint8_t type, uint8_t flags, uint32_t stream) {
    if (!((type == kData || type == kHeaders) && (flags & kEndStream))) return std::string();
    return Frame(kRstStream, 0, stream, "\0\0\0\x07"s);  // REFUSED_STREAM
  });
  H2Result r = Request(peer.port(), 1024);
  EXPECT_EQ(r.stage, H2Stage::kOk) << r.error;
  EXPECT_EQ(r.reset_code, 7u);
  EXPECT_EQ(H2ErrorCodeName(r.reset_code), "REFUSED_STREAM");
}

TEST(H2ClientTest, SilentPeerTimesOut) {
  Peer peer([](uint8_t, uint8_t, uint32_t) { return std::string(); }, /*silent=*/true);
  H2Result r = Request(peer.port(), 1024, 200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.stage, H2Stage::kConnection);
  EXPECT_FALSE(r.got_settings);
  r = Ping(peer.port(), 200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "context deadline exceeded");
}

TEST(H2ClientTest, RefusedConnectionIsADialError) {
  int port = 0;
  {
    Peer gone([](uint8_t, uint8_t, uint32_t) { return std::string(); }, /*silent=*/true);
    port = gone.port();
  }
  H2Result r = Ping(port);
  EXPECT_EQ(r.stage, H2Stage::kDial);
  EXPECT_EQ(r.error, "dial tcp 127.0.0.1:" + std::to_string(port) +
                         ": connect: connection refused");
  EXPECT_EQ(H2ErrorCodeName(0x42), "unknown error code 0x42");
}

}  // namespace
}  // namespace gangway::net
