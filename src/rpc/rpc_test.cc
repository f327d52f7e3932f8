#include "rpc/rpc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <boost/asio/io_context.hpp>

#include "rpc/frame.h"
#include "x509/tls_context.h"
#include "x509/x509.h"

namespace gangway::rpc {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

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
    // A broken connection is the peer's failure, which callers retry elsewhere.
    failed = !r.ok() && r.status().code() == Code::kPeerUnreachable && Retryable(r.status());
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


// ---------------------------------------------------------------------------------------------
// TLS (mode 0x03): certificates made here with the x509 API, contexts built from files as the
// agent builds them.

class RpcTlsTest : public ::testing::Test {
 protected:
  struct Pki {
    std::string ca;  // file
    std::string ca_name;
    x509::Certificate ca_cert;
    x509::PrivateKey ca_key;
  };
  struct Leaf {
    std::string cert, key;  // files
  };

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rpc_tls_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    good_ = MakeCa("1111");
    other_ = MakeCa("2222");
  }
  void TearDown() override {
    if (client_) client_->Close();
    if (server_) server_->Close();
    std::filesystem::remove_all(dir_);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  Pki MakeCa(const std::string& tag) {
    Pki p;
    auto key = x509::GenerateKey();
    x509::CAOptions o;
    o.subject.common_name = "Consul Agent CA " + tag;
    auto ca = x509::CreateCA(*key, o);
    EXPECT_TRUE(ca.ok());
    p.ca_cert = *ca;
    p.ca_key = *key;
    p.ca_name = o.subject.common_name;
    p.ca = Write(tag + "-ca.pem", ca->ToPem());
    return p;
  }

  Leaf MakeLeaf(const Pki& pki, const std::string& name) {
    auto key = x509::GenerateKey();
    x509::CertOptions co;
    co.subject.common_name = name;
    co.sans.dns = {name, "localhost"};
    co.sans.ips = {"127.0.0.1"};
    co.server_auth = co.client_auth = true;
    auto cert = x509::SignCertificate(key->native(), co, pki.ca_cert, pki.ca_key);
    EXPECT_TRUE(cert.ok());
    std::string base = name + "-" + std::to_string(++leaves_);
    return {Write(base + ".pem", cert->ToPem()), Write(base + "-key.pem", key->ToPem())};
  }

  std::shared_ptr<const x509::TlsContext> Context(const x509::TlsSettings& s, x509::TlsRole role) {
    auto ctx = x509::BuildTlsContext(s, role);
    EXPECT_TRUE(ctx.ok()) << ctx.status().message();
    if (!ctx.ok()) return nullptr;
    return std::make_shared<const x509::TlsContext>(std::move(*ctx));
  }

  // A server for dc1 with a server.dc1.consul certificate from the good CA.
  void StartServer(bool verify_incoming, const std::string& cert_name = "server.dc1.consul") {
    Leaf leaf = MakeLeaf(good_, cert_name);
    x509::TlsSettings s;
    s.ca_file = good_.ca;
    s.cert_file = leaf.cert;
    s.key_file = leaf.key;
    s.verify_incoming = verify_incoming;
    StartServerWith(ServerTls{Context(s, x509::TlsRole::kServer)});
  }
  void StartServerWith(ServerTls tls) {
    server_ = std::make_unique<Server>(loop_, std::move(tls));
    server_->Register("Echo", [](std::string body, std::shared_ptr<CallContext>, ReplyFn reply) {
      reply(std::move(body));
    });
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().message();
    addr_ = "127.0.0.1:" + std::to_string(*port);
  }

  // A dc1 client trusting `ca`, with a client certificate from `cert_from` (none when null).
  void StartClient(const Pki& ca, const Pki* cert_from, bool verify_server_hostname = true) {
    x509::TlsSettings s;
    s.ca_file = ca.ca;
    if (cert_from) {
      Leaf leaf = MakeLeaf(*cert_from, "client.dc1.consul");
      s.cert_file = leaf.cert;
      s.key_file = leaf.key;
    }
    s.verify_outgoing = true;
    s.verify_server_hostname = verify_server_hostname;
    client_ = std::make_unique<Client>(loop_, ClientTls{Context(s, x509::TlsRole::kClient), "dc1"});
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

  Result<std::string> CallSync(std::string body, const std::string& dc = "") {
    std::optional<Result<std::string>> got;
    client_->Call(addr_, "Echo", std::move(body), 5s,
                  [&](Result<std::string> r) { got = std::move(r); }, dc);
    if (!RunUntil([&] { return got.has_value(); })) return Internal("test: no answer");
    return std::move(*got);
  }

  // Runs the loop a little so the server's side of a failure is logged, and returns stderr.
  std::string Settle() {
    RunUntil([] { return false; }, 100ms);
    return ::testing::internal::GetCapturedStderr();
  }

  std::filesystem::path dir_;
  Pki good_, other_;
  int leaves_ = 0;
  net::EventLoop loop_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
  std::string addr_;
};

TEST_F(RpcTlsTest, RightCaSucceedsWithClientCertAndHostnameCheck) {
  StartServer(/*verify_incoming=*/true);
  StartClient(good_, &good_);
  auto r = CallSync(std::string("over\0tls", 8));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, std::string("over\0tls", 8));
  // Several calls share the one TLS connection.
  for (int i = 0; i < 3; ++i) {
    auto again = CallSync(std::to_string(i));
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_EQ(*again, std::to_string(i));
  }
  EXPECT_EQ(server_->stats().connections, 1u);
  EXPECT_EQ(server_->stats().tls_handshake_errors, 0u);
}

TEST_F(RpcTlsTest, WrongCaFailsWithUnknownAuthorityNamingTheExpectedCa) {
  StartServer(/*verify_incoming=*/false);
  StartClient(other_, nullptr);
  ::testing::internal::CaptureStderr();
  auto r = CallSync("x");
  std::string log = Settle();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_THAT(r.status().message(),
              HasSubstr("rpc: TLS handshake with " + addr_ +
                        " failed: tls: failed to verify certificate: x509: certificate signed by "
                        "unknown authority"));
  EXPECT_THAT(r.status().message(), HasSubstr("expected CA \"" + other_.ca_name + "\""));
  EXPECT_THAT(r.status().message(), HasSubstr("issued by \"" + good_.ca_name + "\""));
  EXPECT_THAT(r.status().message(), HasSubstr(other_.ca));  // where the trusted CA came from
  // The server saw our alert.
  EXPECT_THAT(log, HasSubstr("rpc: TLS handshake error from 127.0.0.1:"));
  EXPECT_EQ(server_->stats().tls_handshake_errors, 1u);
}

TEST_F(RpcTlsTest, VerifyIncomingRefusesForeignMissingCertsAndPlaintext) {
  StartServer(/*verify_incoming=*/true);

  // A client certificate from another CA: the server says why in its log.
  StartClient(good_, &other_);
  ::testing::internal::CaptureStderr();
  auto foreign = CallSync("x");
  std::string log = Settle();
  ASSERT_FALSE(foreign.ok());
  EXPECT_THAT(foreign.status().message(), HasSubstr("rpc: TLS handshake with " + addr_ + " failed: "));
  EXPECT_THAT(log, HasSubstr("rpc: TLS handshake error from 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("tls: failed to verify certificate: x509: certificate signed by "
                             "unknown authority"));
  EXPECT_THAT(log, HasSubstr("expected CA \"" + good_.ca_name + "\""));

  // No client certificate.
  client_->Close();
  StartClient(good_, nullptr);
  ::testing::internal::CaptureStderr();
  auto none = CallSync("x");
  log = Settle();
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              HasSubstr("rpc: TLS handshake with " + addr_ + " failed: remote error: tls: "
                        "certificate required"));
  EXPECT_THAT(log, HasSubstr("tls: client didn't provide a certificate"));
  EXPECT_EQ(server_->stats().tls_handshake_errors, 2u);

  // Plaintext: the server answers with a connection-level error frame, then closes.
  client_->Close();
  client_ = std::make_unique<Client>(loop_);
  ::testing::internal::CaptureStderr();
  auto plain = CallSync("x");
  log = Settle();
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), Code::kPermissionDenied);
  EXPECT_THAT(plain.status().message(), HasSubstr("rpc: server requires TLS (verify_incoming)"));
  EXPECT_THAT(log, HasSubstr("rpc: refusing a non-TLS connection from 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("verify_incoming is set"));
  EXPECT_EQ(server_->stats().plaintext_refused, 1u);
  EXPECT_EQ(server_->stats().calls, 0u);
}

TEST_F(RpcTlsTest, WithoutVerifyIncomingPlaintextAndTlsBothWork) {
  StartServer(/*verify_incoming=*/false);
  StartClient(good_, nullptr);
  auto r = CallSync("tls");
  ASSERT_TRUE(r.ok()) << r.status().message();
  client_->Close();
  client_ = std::make_unique<Client>(loop_);
  auto p = CallSync("plain");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p, "plain");
}

TEST_F(RpcTlsTest, VerifyServerHostnameRefusesACertificateForAnotherName) {
  // A server whose certificate is for dc2: a dc1 client checking names refuses it, naming both.
  StartServer(/*verify_incoming=*/false, "server.dc2.consul");
  StartClient(good_, &good_);
  auto r = CallSync("x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("rpc: TLS handshake with " + addr_ +
                        " failed: tls: failed to verify certificate: x509: certificate is valid "
                        "for server.dc2.consul, localhost, 127.0.0.1, not server.dc1.consul"));
  // Asked as a server of dc2 (a cross-datacenter forward), the same certificate is right.
  client_->Close();
  StartClient(good_, &good_);
  auto dc2 = CallSync("y", "dc2");
  ASSERT_TRUE(dc2.ok()) << dc2.status().message();
  // Without verify_server_hostname only the CA is checked (Consul's verify_outgoing alone).
  client_->Close();
  StartClient(good_, &good_, /*verify_server_hostname=*/false);
  auto loose = CallSync("z");
  ASSERT_TRUE(loose.ok()) << loose.status().message();
}

TEST_F(RpcTlsTest, TlsToAServerWithoutTlsIsRefusedClearly) {
  StartServerWith(ServerTls{});
  StartClient(good_, &good_);
  ::testing::internal::CaptureStderr();
  auto r = CallSync("x");
  std::string log = Settle();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("rpc: TLS handshake with " + addr_ + " failed"));
  EXPECT_THAT(log, HasSubstr("TLS is not configured on this server"));
}

// Raft inside TLS: 0x03, handshake, inner 0x01. The server relays the TLS stream to one end of a
// socketpair given to the Raft handler; DialRaft gives the dialer the other end of its own relay.
class RaftTlsTest : public RpcTlsTest {
 protected:
  // Reads exactly n bytes while the loop runs (the relays live on it).
  std::string ReadN(int fd, size_t n) {
    std::string got;
    RunUntil([&] {
      char b[256];
      ssize_t r = recv(fd, b, std::min(sizeof b, n - got.size()), MSG_DONTWAIT);
      if (r > 0) got.append(b, size_t(r));
      return got.size() == n || r == 0;
    });
    return got;
  }

  bool ClosedByPeer(int fd) {
    return RunUntil([&] {
      char b[64];
      ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
      return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    });
  }

  std::pair<int, std::string> Dial() {
    std::optional<std::pair<int, std::string>> got;
    client_->DialRaft(addr_, [&](int fd, std::string error) { got.emplace(fd, std::move(error)); });
    if (!RunUntil([&] { return got.has_value(); })) return {-1, "test: no answer"};
    return *got;
  }

  std::vector<std::pair<int, std::string>> handed_;
};

TEST_F(RaftTlsTest, RaftInsideTlsIsRelayedBothWays) {
  StartServer(/*verify_incoming=*/true);
  server_->SetRaftHandler(
      [&](int fd, std::string rest) { handed_.emplace_back(fd, std::move(rest)); });
  StartClient(good_, &good_);
  auto [fd, error] = Dial();
  ASSERT_GE(fd, 0) << error;
  // The first bytes may arrive with the inner mode byte (already_read) or after it.
  ASSERT_EQ(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
  ASSERT_TRUE(RunUntil([&] { return !handed_.empty(); }));
  int raft = handed_[0].first;
  std::string got = handed_[0].second;
  got += ReadN(raft, 5 - got.size());
  EXPECT_EQ(got, "hello");
  ASSERT_EQ(send(raft, "\x00", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(ReadN(fd, 1), std::string(1, '\0'));
  // More than a relay chunk in one go, checked byte for byte.
  std::string big(300 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7 + i / 1000);
  size_t sent = 0;
  std::string received;
  ASSERT_TRUE(RunUntil(
      [&] {
        if (sent < big.size()) {
          ssize_t n = send(fd, big.data() + sent, big.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n > 0) sent += size_t(n);
        }
        char b[65536];
        ssize_t n = recv(raft, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) received.append(b, size_t(n));
        return received.size() == big.size();
      },
      10000ms));
  EXPECT_TRUE(received == big);
  EXPECT_EQ(server_->stats().raft_relayed, 1u);
  EXPECT_EQ(server_->stats().tls_handshake_errors, 0u);
  // The dialer's side closing closes the Raft handler's end.
  close(fd);
  EXPECT_TRUE(ClosedByPeer(raft));
  close(raft);

  // And the other way: the handler closing closes the dialer's end; the port still serves RPC.
  auto [fd2, error2] = Dial();
  ASSERT_GE(fd2, 0) << error2;
  ASSERT_EQ(send(fd2, "x", 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(RunUntil([&] { return handed_.size() == 2; }));
  close(handed_[1].first);
  EXPECT_TRUE(ClosedByPeer(fd2));
  close(fd2);
  auto r = CallSync("rpc");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(server_->stats().raft_relayed, 2u);
}

TEST_F(RaftTlsTest, VerifyIncomingRefusesPlaintextRaftSayingWhy) {
  StartServer(/*verify_incoming=*/true);
  server_->SetRaftHandler(
      [&](int fd, std::string rest) { handed_.emplace_back(fd, std::move(rest)); });
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr_.substr(addr_.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::testing::internal::CaptureStderr();
  ASSERT_EQ(send(fd, "\x01hello", 6, 0), 6);
  EXPECT_TRUE(ClosedByPeer(fd));
  std::string log = Settle();
  close(fd);
  EXPECT_TRUE(handed_.empty());
  EXPECT_EQ(server_->stats().plaintext_refused, 1u);
  EXPECT_THAT(log,
              HasSubstr("rpc: refusing a plaintext Raft connection (mode 0x01) from 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("the peer must use TLS"));
}

TEST_F(RaftTlsTest, WithoutVerifyIncomingBothRaftModesReachTheHandler) {
  StartServer(/*verify_incoming=*/false);
  server_->SetRaftHandler(
      [&](int fd, std::string rest) { handed_.emplace_back(fd, std::move(rest)); });
  StartClient(good_, nullptr);
  auto [fd, error] = Dial();
  ASSERT_GE(fd, 0) << error;
  ASSERT_EQ(send(fd, "t", 1, MSG_NOSIGNAL), 1);
  int plain = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr_.substr(addr_.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ASSERT_EQ(connect(plain, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(send(plain, "\x01p", 2, 0), 2);
  ASSERT_TRUE(RunUntil([&] { return handed_.size() == 2; }));
  EXPECT_EQ(server_->stats().raft_relayed, 1u);
  for (auto& [h, rest] : handed_) close(h);
  close(fd);
  close(plain);
}

TEST_F(RaftTlsTest, DialFailuresCarryTheTlsReason) {
  StartServer(/*verify_incoming=*/true);
  server_->SetRaftHandler(
      [&](int fd, std::string rest) { handed_.emplace_back(fd, std::move(rest)); });
  // Trusting another CA: the handshake fails on our side, with Go's words and the expected CA.
  StartClient(other_, &other_);
  auto [fd, error] = Dial();
  EXPECT_EQ(fd, -1);
  EXPECT_THAT(error, HasSubstr("rpc: TLS handshake with " + addr_ +
                               " failed: tls: failed to verify certificate: x509: certificate "
                               "signed by unknown authority"));
  EXPECT_THAT(error, HasSubstr("expected CA \"" + other_.ca_name + "\""));
  // Our certificate from another CA: with TLS 1.3 our side of the handshake completes and the
  // server's refusal arrives at the relay, which closes the fd and logs the reason.
  client_->Close();
  StartClient(good_, &other_);
  ::testing::internal::CaptureStderr();
  auto [late, late_error] = Dial();
  if (late >= 0) {
    send(late, "x", 1, MSG_NOSIGNAL);  // may fail already
    EXPECT_TRUE(ClosedByPeer(late));
    close(late);
  }
  std::string log = Settle();
  EXPECT_THAT(late >= 0 ? log : late_error,
              HasSubstr("rpc: TLS handshake with " + addr_ + " failed: "));
  EXPECT_THAT(log, HasSubstr("unknown authority"));  // the server's side
  // Nothing listening.
  client_->Close();
  StartClient(good_, &good_);
  std::string live = addr_;
  server_->Close();
  auto [fd2, error2] = Dial();
  EXPECT_EQ(fd2, -1);
  EXPECT_THAT(error2, HasSubstr("rpc: dial " + live + ": "));
  // Without TLS there is nothing to dial with; a closed client refuses.
  client_ = std::make_unique<Client>(loop_);
  auto [fd3, error3] = Dial();
  EXPECT_EQ(fd3, -1);
  EXPECT_THAT(error3, HasSubstr("without TLS"));
  client_->Close();
  auto [fd4, error4] = Dial();
  EXPECT_EQ(fd4, -1);
  EXPECT_EQ(error4, "rpc: client closed");
  EXPECT_TRUE(handed_.empty());
}

TEST_F(RaftTlsTest, ClosingTheClientClosesItsRelays) {
  StartServer(/*verify_incoming=*/true);
  server_->SetRaftHandler(
      [&](int fd, std::string rest) { handed_.emplace_back(fd, std::move(rest)); });
  StartClient(good_, &good_);
  auto [fd, error] = Dial();
  ASSERT_GE(fd, 0) << error;
  ASSERT_EQ(send(fd, "x", 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(RunUntil([&] { return handed_.size() == 1; }));
  client_->Close();
  EXPECT_TRUE(ClosedByPeer(fd));
  EXPECT_TRUE(ClosedByPeer(handed_[0].first));  // through the server's relay
  close(fd);
  close(handed_[0].first);
}

}  // namespace
}  // namespace gangway::rpc
