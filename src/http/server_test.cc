// http::Server with I/O threads, against blocking sockets in the test thread: requests reach the
// handler on the owner loop's thread, replies go back to their connections, a hang-up releases a
// parked request on the owner thread, and Close() with requests in flight (and replies arriving
// after it) is safe. Also the bytes of a response as the write path renders them.
#include "http/server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/reply_group.h"
#include "http/server_detail.h"
#include "net/event_loop.h"

namespace gangway::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// Answers GET /echo/<x> with <x>; parks GET /park until the test releases it. Every call is
// checked to run on the owner loop's thread.
class TestHandler : public Handler {
 public:
  void Handle(Request req, std::shared_ptr<Cancellation> cancel, Reply reply) override {
    if (std::this_thread::get_id() != owner) off_owner_thread = true;
    ++handled;
    if (req.path.rfind("/echo/", 0) == 0) {
      auto r = Response::Text(200, req.path.substr(6));
      if (req.path == "/echo/shared") r.ShareBody();
      return reply(std::move(r));
    }
    if (req.path == "/park") {
      cancel->on_cancel = [this] {
        if (std::this_thread::get_id() != owner) off_owner_thread = true;
        ++cancelled;
      };
      parked.push_back(std::move(reply));
      ++parked_count;
      return;
    }
    reply(Response::Text(404, "no\n"));
  }

  std::thread::id owner;
  std::atomic<bool> off_owner_thread{false};
  std::atomic<int> handled{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> parked_count{0};
  std::vector<Reply> parked;  // owner thread
};

// A blocking client connection.
class Conn {
 public:
  explicit Conn(int port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void Send(const std::string& target, const std::string& extra_headers = "") {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "\r\n";
    asio::write(socket_, asio::buffer(req));
  }
  // The whole response, head and body; "" on EOF or error.
  std::string Read() {
    boost::system::error_code ec;
    size_t n = asio::read_until(socket_, buf_, "\r\n\r\n", ec);
    if (ec) return "";
    std::string head(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + n);
    buf_.consume(n);
    size_t length = 0;
    if (auto at = head.find("Content-Length: "); at != std::string::npos) {
      length = std::stoul(head.substr(at + 16));
    }
    if (buf_.size() < length) {
      asio::read(socket_, buf_, asio::transfer_exactly(length - buf_.size()), ec);
    }
    if (ec) return "";
    std::string body(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + length);
    buf_.consume(length);
    return head + body;
  }
  // True when the server closed the connection (EOF) within the socket's default behaviour.
  bool ClosedByPeer() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  void Close() { socket_.close(); }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  asio::streambuf buf_;
};

std::string BodyOf(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class ServerTest : public ::testing::Test {
 protected:
  void Start(int io_threads) {
    owner_ = std::thread([this] {
      handler_.owner = std::this_thread::get_id();
      loop_.Run();
    });
    OnLoop([&] {
      ServerOptions options;
      options.io_threads = io_threads;
      server_ = std::make_unique<Server>(loop_, handler_, options);
      auto port = server_->Listen("127.0.0.1", 0);
      ASSERT_TRUE(port.ok()) << port.status().message();
      port_ = *port;
    });
  }
  void TearDown() override {
    if (owner_.joinable()) {
      OnLoop([&] {
        server_.reset();
        handler_.parked.clear();
      });
      loop_.Stop();
      owner_.join();
    }
  }
  // Runs fn on the owner loop and waits for it.
  void OnLoop(const std::function<void()>& fn) {
    std::promise<void> done;
    loop_.Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  net::EventLoop loop_;
  TestHandler handler_;
  std::unique_ptr<Server> server_;
  std::thread owner_;
  int port_ = 0;
};

TEST_F(ServerTest, ManyKeepAliveClientsAreServedFromTheIoThreads) {
  Start(2);
  EXPECT_EQ(server_->io_threads(), 2u);
  constexpr int kClients = 64;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(std::make_unique<Conn>(port_));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kClients; ++i) conns[i]->Send("/echo/c" + std::to_string(i));
    for (int i = 0; i < kClients; ++i) {
      std::string r = conns[i]->Read();
      ASSERT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
      EXPECT_EQ(BodyOf(r), "c" + std::to_string(i));
    }
  }
  EXPECT_EQ(handler_.handled.load(), 3 * kClients);
  EXPECT_FALSE(handler_.off_owner_thread.load());
  EXPECT_EQ(server_->open_connections(), static_cast<size_t>(kClients));
  for (auto& c : conns) c->Close();
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, HangUpDuringAParkedRequestCancelsItOnTheOwnerThread) {
  Start(2);
  Conn c(port_);
  c.Send("/park");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 1; }));
  c.Close();
  ASSERT_TRUE(WaitFor([&] { return handler_.cancelled.load() == 1; }));
  EXPECT_FALSE(handler_.off_owner_thread.load());
  // The reply that comes after the hang-up goes nowhere, harmlessly.
  OnLoop([&] { handler_.parked[0](Response::Text(200, "late")); });
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, ReplyAfterTheAnswerDoesNotCancel) {
  Start(1);
  Conn c(port_);
  c.Send("/park");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 1; }));
  OnLoop([&] { handler_.parked[0](Response::Text(200, "done")); });
  EXPECT_EQ(BodyOf(c.Read()), "done");
  c.Close();
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(handler_.cancelled.load(), 0);
}

// A parked request's answer goes out from the I/O thread while the connection's coroutine
// stays parked (PendingReply::TrySend); the connection must then serve its next request, close
// when the request asked for it, and finish an answer too large for one send.
TEST_F(ServerTest, ParkedAnswersKeepTheConnectionUsable) {
  Start(2);
  Conn c(port_);
  for (int round = 0; round < 3; ++round) {
    c.Send("/park");
    ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == round + 1; }));
    OnLoop([&] {
      auto r = Response::Text(200, "woken " + std::to_string(round));
      r.ShareBody();
      handler_.parked[static_cast<size_t>(round)](r);
    });
    EXPECT_EQ(c.Read(),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 7\r\n\r\nwoken " + std::to_string(round));
    c.Send("/echo/next");
    EXPECT_EQ(BodyOf(c.Read()), "next");
  }
  // More than a socket buffer holds: the rest is written by the connection's coroutine.
  std::string big(16u << 20, 'x');
  c.Send("/park");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 4; }));
  OnLoop([&] { handler_.parked[3](Response::Text(200, big)); });
  EXPECT_EQ(BodyOf(c.Read()), big);
  c.Send("/echo/after-big");
  EXPECT_EQ(BodyOf(c.Read()), "after-big");
  // Connection: close is honoured after an answer written while parked.
  c.Send("/park", "Connection: close\r\n");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 5; }));
  OnLoop([&] { handler_.parked[4](Response::Text(200, "last")); });
  EXPECT_EQ(BodyOf(c.Read()), "last");
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(handler_.cancelled.load(), 0);
}

// A client that reads its parked answer and hangs up leaves nothing behind.
TEST_F(ServerTest, HangUpAfterAParkedAnswerClosesTheConnection) {
  Start(1);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 16; ++i) {
    conns.push_back(std::make_unique<Conn>(port_));
    conns.back()->Send("/park");
  }
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 16; }));
  OnLoop([&] {
    auto r = Response::Text(200, "all");
    r.ShareBody();
    for (auto& reply : handler_.parked) reply(r);
  });
  for (auto& c : conns) {
    EXPECT_EQ(BodyOf(c->Read()), "all");
    c->Close();
  }
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(handler_.cancelled.load(), 0);
}

// Answers that share a body but differ in a header, or in keep-alive, each get their own head
// even within one batch of replies.
TEST_F(ServerTest, SharedBodiesWithDifferentHeadsAreWrittenEachAsRendered) {
  Start(1);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(std::make_unique<Conn>(port_));
    conns.back()->Send("/park", i == 3 ? "Connection: close\r\n" : "");
    ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == i + 1; }));
  }
  OnLoop([&] {
    auto r = Response::Text(200, "same");
    r.ShareBody();
    auto other = r;
    other.Set("X-Consul-Index", "7");
    handler_.parked[0](r);
    handler_.parked[1](other);
    handler_.parked[2](r);
    handler_.parked[3](r);
  });
  const std::string plain =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\nsame";
  EXPECT_EQ(conns[0]->Read(), plain);
  EXPECT_EQ(conns[1]->Read(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Consul-Index: 7\r\n"
            "Content-Length: 4\r\n\r\nsame");
  EXPECT_EQ(conns[2]->Read(), plain);
  EXPECT_EQ(conns[3]->Read(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            "Content-Length: 4\r\n\r\nsame");
  EXPECT_TRUE(conns[3]->ClosedByPeer());
}

// One answer for many parked requests: the server's own Replies, also behind header wrappers,
// are handed to their I/O threads in one batch each; a Reply of another kind, or with other
// headers, is called; a member that hung up is not counted and its connection is not written.
TEST_F(ServerTest, ReplyGroupAnswersEveryMemberWithOneResponse) {
  Start(2);
  constexpr int kConns = 8;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<Conn>(port_));
    conns.back()->Send("/park", i == 3 ? "Connection: close\r\n" : "");
    ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == i + 1; }));
  }
  conns[7]->Close();
  ASSERT_TRUE(WaitFor([&] { return handler_.cancelled.load() == 1; }));
  ReplyGroup group;
  int called = 0;
  OnLoop([&] {
    for (int i = 0; i < kConns; ++i) {
      Reply r = std::move(handler_.parked[static_cast<size_t>(i)]);
      if (i == 5) {
        r = [inner = std::move(r), &called](Response resp) {
          ++called;
          inner(std::move(resp));
        };
      }
      r = WithHeader(std::move(r), "X-Test", i == 6 ? "other" : "one");
      if (i != 2) r = WithHeader(std::move(r), "X-Outer", "o");
      auto id = group.Add(std::move(r));
      if (i == 7) group.Remove(id);
    }
    EXPECT_EQ(group.size(), 7u);
    group.Send(Response::Text(200, "all"));
    EXPECT_TRUE(group.empty());
  });
  auto expect = [](const std::string& headers, bool close = false) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n" + headers +
           (close ? "Connection: close\r\n" : "") + "Content-Length: 3\r\n\r\nall";
  };
  EXPECT_EQ(conns[0]->Read(), expect("X-Outer: o\r\nX-Test: one\r\n"));
  EXPECT_EQ(conns[1]->Read(), expect("X-Outer: o\r\nX-Test: one\r\n"));
  EXPECT_EQ(conns[2]->Read(), expect("X-Test: one\r\n"));
  EXPECT_EQ(conns[3]->Read(), expect("X-Outer: o\r\nX-Test: one\r\n", true));
  EXPECT_TRUE(conns[3]->ClosedByPeer());
  EXPECT_EQ(conns[4]->Read(), expect("X-Outer: o\r\nX-Test: one\r\n"));
  EXPECT_EQ(conns[5]->Read(), expect("X-Outer: o\r\nX-Test: one\r\n"));
  EXPECT_EQ(conns[6]->Read(), expect("X-Outer: o\r\nX-Test: other\r\n"));
  EXPECT_EQ(called, 1);
  // The batched connections stay usable.
  conns[0]->Send("/echo/again");
  EXPECT_EQ(BodyOf(conns[0]->Read()), "again");
  EXPECT_EQ(handler_.cancelled.load(), 1);
}

// A plain blocking socket with a receive timeout: for tests with hundreds of connections, where a
// Conn (with its own io_context) would cost several descriptors each.
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConn() { ::close(fd_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ok() const { return ok_; }
  bool Send(const std::string& target, const std::string& extra_headers = "") {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "\r\n";
    return ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  }
  // One whole response (head and Content-Length body); "" on EOF, error or timeout.
  std::string Read() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return "";
    }
    size_t length = 0;
    if (auto at = buf_.find("Content-Length: "); at != std::string::npos && at < end) {
      length = std::stoul(buf_.substr(at + 16));
    }
    while (buf_.size() < end + 4 + length) {
      if (!Fill()) return "";
    }
    std::string r = buf_.substr(0, end + 4 + length);
    buf_.erase(0, end + 4 + length);
    return r;
  }
  bool ClosedByPeer() { return buf_.empty() && !Fill(); }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

// A group answer for the connections of two I/O threads: a thread through with its own members
// helps the other (Fanout), and every member still gets exactly its answer, round after round.
// Members whose answer needs more than the one write (Connection: close, a body larger than the
// socket takes at once) are finished by their own thread; kept-alive connections stay usable.
TEST_F(ServerTest, ReplyGroupSpreadOverThreadsAnswersEveryMemberOnce) {
  Start(2);
  constexpr int kConns = 400;
  constexpr int kRounds = 5;
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(port_));
    ASSERT_TRUE(conns.back()->ok());
  }
  auto closing = [](int round, int i) { return round == 0 && i % 50 == 1; };
  const std::string small =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\n"
      "fanned out";
  const std::string small_close =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
      "Content-Length: 10\r\n\r\nfanned out";
  std::vector<bool> open(kConns, true);
  size_t parked = 0;
  for (int round = 0; round < kRounds; ++round) {
    size_t live = 0;
    for (int i = 0; i < kConns; ++i) {
      if (!open[i]) continue;
      ASSERT_TRUE(conns[i]->Send("/park", closing(round, i) ? "Connection: close\r\n" : ""));
      ++live;
    }
    ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == static_cast<int>(parked + live); }));
    OnLoop([&] {
      ReplyGroup group;
      for (size_t k = parked; k < parked + live; ++k) group.Add(std::move(handler_.parked[k]));
      EXPECT_EQ(group.size(), live);
      group.Send(Response::Text(200, "fanned out"));
    });
    parked += live;
    for (int i = 0; i < kConns; ++i) {
      if (!open[i]) continue;
      ASSERT_EQ(conns[i]->Read(), closing(round, i) ? small_close : small) << round << " " << i;
      if (closing(round, i)) {
        EXPECT_TRUE(conns[i]->ClosedByPeer()) << i;
        open[i] = false;
      }
    }
  }
  std::cout << "answers written for the other thread: " << server_->answers_for_other_threads()
            << "\n";
  // Eight members, and an answer larger than one write takes.
  std::string big(8u << 20, 'b');
  std::vector<int> eight;
  for (int i = 0; i < kConns && eight.size() < 8; ++i) {
    if (!open[i]) continue;
    ASSERT_TRUE(conns[i]->Send("/park"));
    eight.push_back(i);
  }
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == static_cast<int>(parked + 8); }));
  OnLoop([&] {
    ReplyGroup group;
    for (size_t k = parked; k < parked + 8; ++k) group.Add(std::move(handler_.parked[k]));
    group.Send(Response::Text(200, big));
  });
  for (int i : eight) EXPECT_EQ(BodyOf(conns[i]->Read()), big) << i;
  // Every kept-alive connection serves its next request.
  for (int i = 0; i < kConns; ++i) {
    if (!open[i]) continue;
    ASSERT_TRUE(conns[i]->Send("/echo/n" + std::to_string(i)));
    EXPECT_EQ(BodyOf(conns[i]->Read()), "n" + std::to_string(i));
  }
  EXPECT_EQ(handler_.cancelled.load(), 0);
  EXPECT_FALSE(handler_.off_owner_thread.load());
}

// Fanout::test_on_run for the test below: holds the first part's thread in its Run until the
// other thread has answered that part's members for it; the other thread starts only once the
// first part is answering.
struct HeldFanout {
  static inline std::atomic<bool> first_answering{false};
  static inline std::atomic<bool> gave_up{false};
  static inline const Server* server = nullptr;
  static inline uint64_t expect = 0;

  static void OnRun(size_t part) {
    auto until = std::chrono::steady_clock::now() + 10s;
    auto waiting = [&](auto done) {
      while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
          gave_up = true;
          return;
        }
        std::this_thread::sleep_for(1ms);
      }
    };
    if (part == 0) {
      first_answering = true;
      waiting([] { return server->answers_for_other_threads() >= expect; });
    } else {
      waiting([] { return first_answering.load(); });
    }
  }
};

// A thread through with its own part of a group answer writes the members of another thread
// that is still answering; a member that needs more than the one write (Connection: close) is
// handed back to its own thread. The first part's thread is held until that has happened, so
// without the helping this test times out.
TEST_F(ServerTest, AThreadThroughWithItsPartAnswersAnotherThreadsMembers) {
  Start(2);
  constexpr int kConns = 50;
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(port_));
    ASSERT_TRUE(conns.back()->ok());
    ASSERT_TRUE(conns.back()->Send("/park", i == 1 ? "Connection: close\r\n" : ""));
    ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == i + 1; }));
  }
  // Connections alternate between the two threads; the odd ones' members are added first, so
  // they are part 0.
  HeldFanout::first_answering = false;
  HeldFanout::gave_up = false;
  HeldFanout::server = server_.get();
  HeldFanout::expect = kConns / 2 - 1;  // all odd ones but the Connection: close one
  server_detail::Fanout::test_on_run = &HeldFanout::OnRun;
  OnLoop([&] {
    ReplyGroup group;
    for (int odd = 1; odd >= 0; --odd) {
      for (int i = odd; i < kConns; i += 2) group.Add(std::move(handler_.parked[i]));
    }
    group.Send(Response::Text(200, "helped"));
  });
  const std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\n"
      "helped";
  for (int i = 0; i < kConns; ++i) {
    if (i == 1) {
      EXPECT_EQ(conns[i]->Read(),
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Connection: close\r\nContent-Length: 6\r\n\r\nhelped");
      EXPECT_TRUE(conns[i]->ClosedByPeer());
    } else {
      EXPECT_EQ(conns[i]->Read(), answer) << i;
    }
  }
  server_detail::Fanout::test_on_run = nullptr;
  EXPECT_FALSE(HeldFanout::gave_up.load());
  EXPECT_EQ(server_->answers_for_other_threads(), HeldFanout::expect);
  for (int i = 0; i < kConns; ++i) {
    if (i == 1) continue;
    ASSERT_TRUE(conns[i]->Send("/echo/n" + std::to_string(i)));
    EXPECT_EQ(BodyOf(conns[i]->Read()), "n" + std::to_string(i));
  }
}

TEST_F(ServerTest, CloseWithRequestsInFlightDropsThemAndLaterReplies) {
  Start(2);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 8; ++i) {
    conns.push_back(std::make_unique<Conn>(port_));
    conns.back()->Send("/park");
  }
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 8; }));
  OnLoop([&] { server_->Close(); });
  EXPECT_EQ(server_->open_connections(), 0u);
  for (auto& c : conns) EXPECT_TRUE(c->ClosedByPeer());
  // Replies after Close() are dropped; so is a second Close().
  OnLoop([&] {
    for (auto& r : handler_.parked) r(Response::Text(200, "too late"));
    server_->Close();
  });
  // New connections are refused.
  EXPECT_THROW(Conn{port_}, boost::system::system_error);
}

TEST_F(ServerTest, DestroyedWithRepliesStillPending) {
  Start(2);
  Conn c(port_);
  c.Send("/park");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 1; }));
  OnLoop([&] {
    server_.reset();
    handler_.parked[0](Response::Text(200, "after the server"));
  });
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, WithoutIoThreadsConnectionsLiveOnTheOwnerLoop) {
  Start(0);
  EXPECT_EQ(server_->io_threads(), 0u);
  Conn c(port_);
  c.Send("/echo/one");
  EXPECT_EQ(BodyOf(c.Read()), "one");
  c.Send("/park");
  ASSERT_TRUE(WaitFor([&] { return handler_.parked_count.load() == 1; }));
  c.Close();
  ASSERT_TRUE(WaitFor([&] { return handler_.cancelled.load() == 1; }));
  EXPECT_FALSE(handler_.off_owner_thread.load());
}

TEST_F(ServerTest, WritesTheResponseAsBeastDid) {
  Start(1);
  Conn c(port_);
  c.Send("/echo/hello");
  EXPECT_EQ(c.Read(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 5\r\n\r\nhello");
  // A shared body is written the same way.
  c.Send("/echo/shared");
  EXPECT_EQ(c.Read(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 6\r\n\r\nshared");
  c.Send("/nowhere", "Connection: close\r\n");
  EXPECT_EQ(c.Read(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Connection: close\r\nContent-Length: 3\r\n\r\nno\n");
  EXPECT_TRUE(c.ClosedByPeer());
}

}  // namespace
}  // namespace gangway::http
