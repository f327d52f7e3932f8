#include "rpc/rpc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "rpc/frame.h"

namespace gangway::rpc {
namespace {

using namespace std::chrono_literals;

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Register("Echo", [](std::string body, std::shared_ptr<CallContext>, ReplyFn reply) {
      reply(std::move(body));
    });
    server_.Register("Fail", [](std::string body, std::shared_ptr<CallContext>, ReplyFn reply) {
      reply(Status(Code::kUnavailable, "No cluster leader: " + body));
    });
    // Answers after the number of milliseconds in the body.
    server_.Register("Later", [this](std::string body, std::shared_ptr<CallContext>, ReplyFn reply) {
      auto t = loop_.After(std::chrono::milliseconds(std::stoi(body)), [reply, body] { reply(body); });
      timers_.push_back(std::move(t));
    });
    // Never answers; records cancellations.
    server_.Register("Hang", [this](std::string, std::shared_ptr<CallContext> ctx, ReplyFn) {
      ctx->on_cancel = [this] { ++cancelled_; };
    });
    auto port = server_.Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().message();
    port_ = *port;
    addr_ = "127.0.0.1:" + std::to_string(port_);
  }

  template <typename F>
  bool RunUntil(F done, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (loop_.context().stopped()) loop_.context().restart();
      loop_.context().run_for(5ms);
    }
    return true;
  }

  Result<std::string> CallSync(const std::string& method, std::string body, Duration timeout = 5s) {
    std::optional<Result<std::string>> got;
    client_.Call(addr_, method, std::move(body), timeout, [&](Result<std::string> r) { got = std::move(r); });
    if (!RunUntil([&] { return got.has_value(); })) return Internal("test: no answer");
    return std::move(*got);
  }

  int RawConnect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
  }

  // True once the server closed the raw connection.
  bool ClosedByServer(int fd) {
    return RunUntil([&] {
      char b[64];
      ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
      return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    });
  }

  net::EventLoop loop_;
  Server server_{loop_};
  Client client_{loop_};
  int port_ = 0;
  std::string addr_;
  int cancelled_ = 0;
  std::vector<std::unique_ptr<Timer>> timers_;
};

TEST_F(RpcTest, CallAndErrorsWithTheirCodes) {
  auto r = CallSync("Echo", std::string("bytes\0and more", 14));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, std::string("bytes\0and more", 14));
  auto f = CallSync("Fail", "dc2");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kUnavailable);
  EXPECT_EQ(f.status().message(), "No cluster leader: dc2");
  auto u = CallSync("Nope", "");
  EXPECT_EQ(u.status().code(), Code::kNotFound);
  EXPECT_EQ(u.status().message(), "rpc: unknown method \"Nope\"");
  EXPECT_EQ(server_.stats().connections, 1u);  // one multiplexed connection
}

TEST_F(RpcTest, ManyCallsInFlightAnswerOutOfOrder) {
  std::vector<std::string> order;
  int done = 0;
  for (int ms : {120, 10, 60, 0, 90}) {
    client_.Call(addr_, "Later", std::to_string(ms), 5s, [&](Result<std::string> r) {
      ASSERT_TRUE(r.ok()) << r.status().message();
      order.push_back(*r);
      ++done;
    });
  }
  ASSERT_TRUE(RunUntil([&] { return done == 5; }));
  EXPECT_EQ(order, (std::vector<std::string>{"0", "10", "60", "90", "120"}));
  EXPECT_EQ(server_.stats().connections, 1u);
}

TEST_F(RpcTest, TimeoutAndCancelReleaseTheServerSide) {
  auto r = CallSync("Hang", "", 100ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "rpc: Hang to " + addr_ + " timed out after 100ms");
  ASSERT_TRUE(RunUntil([&] { return cancelled_ == 1; }));

  bool called = false;
  auto cancel = client_.Call(addr_, "Hang", "", 5s, [&](Result<std::string>) { called = true; });
  RunUntil([] { return false; }, 50ms);
  cancel();
  ASSERT_TRUE(RunUntil([&] { return cancelled_ == 2; }));
  RunUntil([] { return false; }, 50ms);
  EXPECT_FALSE(called);
}

TEST_F(RpcTest, GarbageClosesThatConnectionOnly) {
  int bad_mode = RawConnect();
  ASSERT_EQ(send(bad_mode, "\x16\x03\x01\x02\x00", 5, 0), 5);  // a TLS ClientHello
  EXPECT_TRUE(ClosedByServer(bad_mode));
  close(bad_mode);

  int bad_frame = RawConnect();
  std::string junk("G\x00\x00\x00\x09\x07\x00\x00\x00\x00\x00\x00\x00\x01", 14);
  ASSERT_EQ(send(bad_frame, junk.data(), 14, 0), 14);
  EXPECT_TRUE(ClosedByServer(bad_frame));
  close(bad_frame);

  int huge = RawConnect();
  ASSERT_EQ(send(huge, "G\xff\xff\xff\xff", 5, 0), 5);
  EXPECT_TRUE(ClosedByServer(huge));
  close(huge);

  EXPECT_EQ(server_.stats().protocol_errors, 3u);
  auto r = CallSync("Echo", "still serving");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "still serving");
}

TEST_F(RpcTest, BrokenConnectionFailsCallsAndTheNextCallRedials) {
  bool failed = false;
  client_.Call(addr_, "Hang", "", 5s, [&](Result<std::string> r) {
    failed = !r.ok() && r.status().code() == Code::kUnavailable;
  });
  RunUntil([] { return false; }, 50ms);
  server_.Close();
  ASSERT_TRUE(RunUntil([&] { return failed; }));
  // Nobody listens any more: a clear dial error.
  auto r = CallSync("Echo", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("rpc: dial " + addr_), std::string::npos) << r.status().message();
  // Bad addresses are refused without touching the network.
  std::optional<Result<std::string>> bad;
  client_.Call("not-an-ip:8300", "Echo", "", 1s, [&](Result<std::string> x) { bad = x; });
  ASSERT_TRUE(RunUntil([&] { return bad.has_value(); }));
  EXPECT_EQ(bad->status().message(), "rpc: address \"not-an-ip:8300\": not an IP address");
}

TEST_F(RpcTest, RaftModeHandsTheSocketToTheRaftHandler) {
  // Without a handler, mode 0x01 is closed like any unknown mode.
  int unhandled = RawConnect();
  ASSERT_EQ(send(unhandled, "\x01hello", 6, 0), 6);
  EXPECT_TRUE(ClosedByServer(unhandled));
  close(unhandled);
  EXPECT_EQ(server_.stats().protocol_errors, 1u);

  std::vector<std::pair<int, std::string>> handed;
  server_.SetRaftHandler([&](int fd, std::string already_read) {
    handed.emplace_back(fd, std::move(already_read));
  });
  int raft = RawConnect();
  ASSERT_EQ(send(raft, "\x01hello", 6, 0), 6);
  ASSERT_TRUE(RunUntil([&] { return !handed.empty(); }));
  int fd = handed[0].first;
  // asio left the fd non-blocking; block here, but never for long.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval five{5, 0};
  for (int s : {fd, raft}) setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
  // The server let go of the socket: the handler reads the rest and answers on the same fd.
  std::string got = handed[0].second;
  while (got.size() < 5) {
    char b[16];
    ssize_t n = recv(fd, b, sizeof b, 0);
    ASSERT_GT(n, 0);
    got.append(b, size_t(n));
  }
  EXPECT_EQ(got, "hello");
  ASSERT_EQ(send(raft, "more", 4, 0), 4);
  char b[16];
  ssize_t n = recv(fd, b, sizeof b, 0);
  EXPECT_EQ(std::string(b, n > 0 ? size_t(n) : 0), "more");
  ASSERT_EQ(send(fd, "ok", 2, MSG_NOSIGNAL), 2);
  n = recv(raft, b, sizeof b, 0);
  EXPECT_EQ(std::string(b, n > 0 ? size_t(n) : 0), "ok");
  // Closing the server leaves the handed-over connection alone.
  server_.Close();
  RunUntil([] { return false; }, 50ms);
  ASSERT_EQ(send(fd, "still", 5, MSG_NOSIGNAL), 5);
  n = recv(raft, b, sizeof b, 0);
  EXPECT_EQ(std::string(b, n > 0 ? size_t(n) : 0), "still");
  close(fd);
  close(raft);
  EXPECT_EQ(handed.size(), 1u);
  EXPECT_EQ(server_.stats().protocol_errors, 1u);
}

}  // namespace
}  // namespace gangway::rpc
