#include "dns/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "dns/message.h"

namespace gangway::dns {
namespace {

class FakeCatalog : public Catalog {
 public:
  explicit FakeCatalog(net::EventLoop& loop) : loop_(loop) {}
  std::string Datacenter() const override { return "dc1"; }
  void ServiceNodes(const std::string& dc, const std::string& service, bool connect,
                    Done<std::vector<catalog::CheckServiceNode>> done) override {
    (void)connect;
    if (dc != "dc1" && dc != "dc2") return done(NotFound("no path to datacenter"));
    if (service == "broken") return done(Unavailable("No cluster leader"));
    std::vector<catalog::CheckServiceNode> rows;
    int count = service == "many" ? 20 : service == "web" ? 2 : 0;
    if (service == "consul") count = 1;
    for (int i = 1; i <= count; ++i) {
      catalog::CheckServiceNode row;
      row.node.node = "n" + std::to_string(i);
      row.node.address = (dc == "dc2" ? "10.2.0." : "10.1.0.") + std::to_string(i);
      row.service.service = service;
      row.service.port = 8000 + i;
      rows.push_back(row);
    }
    // Another datacenter answers later, as a forwarded request would.
    if (dc == "dc2") {
      return loop_.Post([done = std::move(done), rows = std::move(rows)]() mutable { done(std::move(rows)); });
    }
    done(std::move(rows));
  }
  void MeshGateways(const std::string&, Done<std::vector<catalog::CheckServiceNode>> done) override {
    done(std::vector<catalog::CheckServiceNode>{});
  }
  void Node(const std::string&, const std::string& node, Done<std::optional<catalog::Node>> done) override {
    if (node != "n1") return done(std::optional<catalog::Node>());
    catalog::Node n;
    n.node = "n1";
    n.address = "10.1.0.1";
    done(std::optional<catalog::Node>(n));
  }
  void Nodes(const std::string&, Done<std::vector<catalog::Node>> done) override {
    done(std::vector<catalog::Node>{});
  }
  void AllServiceNodes(const std::string&, Done<std::vector<catalog::ServiceNode>> done) override {
    done(std::vector<catalog::ServiceNode>{});
  }
  // "db-primary" fails over to dc2 and answers three instances in the query's own order;
  // "nobody" matches no instance; any other name is unknown.
  void PreparedQuery(const std::string& dc, const std::string& query, const std::string& source_ip,
                     Done<QueryAnswer> done) override {
    last_query_dc = dc;
    last_source = source_ip;
    if (query == "nobody") return done(QueryAnswer{{}, "db", "dc1", ""});
    if (query != "db-primary") return done(NotFound("Query not found"));
    QueryAnswer q{{}, "db", "dc2", "15s"};
    for (int i : {3, 1, 2}) {
      catalog::CheckServiceNode row;
      row.node.node = "db" + std::to_string(i);
      row.node.address = "10.2.0." + std::to_string(i);
      row.service.service = "db";
      row.service.port = 5432;
      q.nodes.push_back(row);
    }
    done(std::move(q));
  }
  std::string last_query_dc;
  std::string last_source;

 private:
  net::EventLoop& loop_;
};

// A UDP resolver that answers every query with one A record (or never, when silent).
class Upstream {
 public:
  explicit Upstream(bool silent) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 100000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this, silent] {
      while (!stop_) {
        uint8_t buf[2048];
        sockaddr_in from{};
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0 || silent) continue;
        auto q = Parse(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
        if (!q.ok()) continue;
        Message r;
        r.header = q->header;
        r.header.qr = true;
        r.header.ra = true;
        r.questions = q->questions;
        Record a;
        a.name = q->questions.at(0).name;
        a.type = kA;
        a.ttl = 60;
        a.ip = {93, 184, 216, 34};
        r.answer.push_back(a);
        std::string out;
        Encode(r, true, &out);
        sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    });
  }
  ~Upstream() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class DnsServerTest : public ::testing::Test {
 protected:
  void Start(Config cfg = {}) {
    catalog_ = std::make_unique<FakeCatalog>(loop_);
    server_ = std::make_unique<Server>(loop_, *catalog_, cfg);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().message();
    port_ = *port;
    thread_ = std::thread([this] { loop_.Run(); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      loop_.Post([this] { server_->Close(); });
      loop_.Stop();
      thread_.join();
    }
  }

  static std::string QueryBytes(const std::string& name, uint16_t type, uint16_t id = 1,
                                std::optional<uint16_t> edns = {}) {
    Message q;
    q.header.id = id;
    q.header.rd = true;
    q.questions.push_back({name, type, kClassIN});
    if (edns) {
      Edns e;
      e.udp_size = *edns;
      q.edns = e;
    }
    std::string out;
    Encode(q, true, &out);
    return out;
  }

  int UdpSocket() {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  sockaddr_in Addr() const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  void SendRaw(int fd, const std::string& bytes) {
    sockaddr_in a = Addr();
    sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  // Receives one datagram within `timeout_ms` ("" when none).
  std::string Receive(int fd, int timeout_ms = 5000) {
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  Message Udp(const std::string& name, uint16_t type, std::optional<uint16_t> edns = {}) {
    int fd = UdpSocket();
    SendRaw(fd, QueryBytes(name, type, 42, edns));
    std::string got = Receive(fd);
    close(fd);
    auto m = Parse(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(got.data()), got.size()));
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.status().message());
    return m.ok() ? *m : Message{};
  }
  Message Tcp(const std::string& name, uint16_t type) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Addr();
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string q = QueryBytes(name, type, 43);
    std::string framed = {static_cast<char>(q.size() >> 8), static_cast<char>(q.size() & 0xff)};
    framed += q;
    EXPECT_EQ(send(fd, framed.data(), framed.size(), 0), static_cast<ssize_t>(framed.size()));
    uint8_t len[2];
    EXPECT_EQ(recv(fd, len, 2, MSG_WAITALL), 2);
    std::string body(static_cast<size_t>(len[0] << 8 | len[1]), '\0');
    EXPECT_EQ(recv(fd, body.data(), body.size(), MSG_WAITALL), static_cast<ssize_t>(body.size()));
    close(fd);
    auto m = Parse(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
    EXPECT_TRUE(m.ok());
    return m.ok() ? *m : Message{};
  }

  net::EventLoop loop_;
  std::unique_ptr<FakeCatalog> catalog_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(DnsServerTest, AnswersOverUdpAndTcp) {
  Start();
  Message m = Udp("web.service.consul.", kA);
  EXPECT_EQ(m.header.id, 42);
  EXPECT_TRUE(m.header.qr);
  EXPECT_TRUE(m.header.aa);
  EXPECT_EQ(m.answer.size(), 2u);
  // Another datacenter answers later (the lookup completes after the batch).
  m = Udp("web.service.dc2.consul.", kSRV);
  EXPECT_EQ(m.header.rcode, kNoError);
  ASSERT_EQ(m.answer.size(), 2u);
  EXPECT_NE(m.answer[0].srv.target.find(".node.dc2.consul."), std::string::npos);
  // UDP without EDNS carries 3 answers; TCP all of them.
  EXPECT_EQ(Udp("many.service.consul.", kA).answer.size(), 3u);
  EXPECT_EQ(Udp("many.service.consul.", kA, 4096).answer.size(), 20u);
  EXPECT_EQ(Tcp("many.service.consul.", kA).answer.size(), 20u);
  EXPECT_EQ(Udp("nothing.service.consul.", kA).header.rcode, kNXDomain);
  EXPECT_EQ(Udp("web.service.dc9.consul.", kA).header.rcode, kNXDomain);
  EXPECT_EQ(Udp("broken.service.consul.", kA).header.rcode, kServFail);
  EXPECT_EQ(Udp("n1.node.consul.", kA).answer.size(), 1u);
  EXPECT_EQ(Udp("example.com.", kA).header.rcode, kRefused);
  Message soa = Udp("consul.", kSOA);
  ASSERT_EQ(soa.answer.size(), 1u);
  EXPECT_EQ(soa.answer[0].type, kSOA);
  EXPECT_EQ(soa.authority.size(), 1u);
  EXPECT_EQ(Udp("consul.", kAXFR).header.rcode, kNotImp);
}

TEST_F(DnsServerTest, BurstIsAnsweredInBatches) {
  Start();
  int fd = UdpSocket();
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  constexpr int kQueries = 500;
  for (int i = 0; i < kQueries; ++i) {
    SendRaw(fd, QueryBytes(i % 2 ? "web.service.consul." : "web.service.dc2.consul.", kA,
                           static_cast<uint16_t>(i)));
  }
  std::set<uint16_t> ids;
  for (int i = 0; i < kQueries; ++i) {
    std::string got = Receive(fd);
    if (got.empty()) break;
    ids.insert(static_cast<uint16_t>(static_cast<uint8_t>(got[0]) << 8 | static_cast<uint8_t>(got[1])));
  }
  close(fd);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kQueries));
}

TEST_F(DnsServerTest, GarbageGetsFormErrOrNothingAndServingGoesOn) {
  Start();
  int fd = UdpSocket();
  // A header and a question whose name points at itself.
  std::string loop("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", 18);
  SendRaw(fd, loop);
  std::string got = Receive(fd);
  ASSERT_GE(got.size(), 12u);
  EXPECT_EQ(static_cast<uint8_t>(got[0]), 0x12);
  EXPECT_EQ(static_cast<uint8_t>(got[3]) & 0x0f, kFormErr);
  // Too short for an id: no answer. A response: no answer.
  SendRaw(fd, std::string("\x01", 1));
  std::string response = QueryBytes("web.service.consul.", kA, 9);
  response[2] = static_cast<char>(response[2] | 0x80);
  SendRaw(fd, response);
  EXPECT_EQ(Receive(fd, 300), "");
  // Truncated question, zero questions, random bytes.
  std::string truncated = QueryBytes("web.service.consul.", kA, 10);
  truncated.resize(truncated.size() - 3);
  SendRaw(fd, truncated);
  got = Receive(fd);
  ASSERT_GE(got.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(got[3]) & 0x0f, kFormErr);
  SendRaw(fd, std::string("\x00\x0b\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12));
  got = Receive(fd);
  ASSERT_GE(got.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(got[3]) & 0x0f, kRefused);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string junk(static_cast<size_t>(rng() % 600), '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    SendRaw(fd, junk);
  }
  close(fd);
  // An oversized datagram is cut by the kernel to our buffer; it is still refused cleanly.
  EXPECT_EQ(Udp("web.service.consul.", kA).answer.size(), 2u);
  EXPECT_GE(server_->stats().malformed, 3u);
}

TEST_F(DnsServerTest, Recursors) {
  Upstream good(false), silent(true);
  Config cfg;
  cfg.recursors = {"127.0.0.1:" + std::to_string(silent.port()), "127.0.0.1:" + std::to_string(good.port())};
  cfg.recursor_timeout = std::chrono::milliseconds(300);
  Start(cfg);
  // The silent one times out, the next answers.
  Message m = Udp("example.com.", kA);
  EXPECT_EQ(m.header.rcode, kNoError);
  EXPECT_TRUE(m.header.ra);
  ASSERT_EQ(m.answer.size(), 1u);
  EXPECT_EQ(m.answer[0].ip[0], 93);
  EXPECT_EQ(m.header.id, 42);
}

TEST_F(DnsServerTest, AllRecursorsFailingIsServFail) {
  Upstream silent(true);
  Config cfg;
  cfg.recursors = {"127.0.0.1:" + std::to_string(silent.port())};
  cfg.recursor_timeout = std::chrono::milliseconds(200);
  Start(cfg);
  Message m = Udp("example.com.", kA);
  EXPECT_EQ(m.header.rcode, kServFail);
  ASSERT_EQ(m.questions.size(), 1u);
  // Names in the domain are still answered.
  EXPECT_EQ(Udp("web.service.consul.", kA).answer.size(), 2u);
}

TEST_F(DnsServerTest, PreparedQueriesAnswerInTheQuerysOrderAndTtl) {
  Start();
  for (int round = 0; round < 5; ++round) {
    Message m = Udp("db-primary.query.consul.", kA, 4096);
    EXPECT_EQ(m.header.rcode, kNoError);
    ASSERT_EQ(m.answer.size(), 3u);
    // No shuffle of its own: the query sorted (near, failover) and its order stands.
    EXPECT_EQ(m.answer[0].ip[3], 3);
    EXPECT_EQ(m.answer[1].ip[3], 1);
    EXPECT_EQ(m.answer[2].ip[3], 2);
    EXPECT_EQ(m.answer[0].ttl, 15u);
  }
  EXPECT_EQ(catalog_->last_query_dc, "dc1");
  EXPECT_EQ(catalog_->last_source, "127.0.0.1");
  // SRV targets name the datacenter that answered, and the RFC 2782 form reaches the query.
  Message srv = Udp("_db-primary._tcp.query.consul.", kSRV, 4096);
  ASSERT_EQ(srv.answer.size(), 3u);
  EXPECT_EQ(srv.answer[0].srv.target, "db3.node.dc2.consul.");
  EXPECT_EQ(srv.additional.size(), 3u);
  EXPECT_EQ(Tcp("db-primary.query.dc2.consul.", kA).answer.size(), 3u);
  EXPECT_EQ(catalog_->last_query_dc, "dc2");
  // Unknown queries and queries with no instance are name errors.
  EXPECT_EQ(Udp("nope.query.consul.", kA).header.rcode, kNXDomain);
  EXPECT_EQ(Udp("nobody.query.consul.", kA).header.rcode, kNXDomain);
}

TEST_F(DnsServerTest, PreparedQueriesSortForTheClientSubnet) {
  Start();
  Message q;
  q.header.id = 7;
  q.questions.push_back({"db-primary.query.consul.", kA, kClassIN});
  Edns e;
  e.udp_size = 4096;
  ClientSubnet subnet;
  subnet.family = 1;
  subnet.source_prefix = 24;
  subnet.address = std::string("\xc6\x33\x64", 3);  // 198.51.100.0/24
  e.subnet = subnet;
  q.edns = e;
  std::string bytes;
  Encode(q, true, &bytes);
  int fd = UdpSocket();
  SendRaw(fd, bytes);
  std::string got = Receive(fd);
  close(fd);
  auto m = Parse(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(got.data()), got.size()));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(catalog_->last_source, "198.51.100.0");
  ASSERT_TRUE(m->edns && m->edns->subnet);
  // The answer depends on the subnet: its scope says for how much of it.
  EXPECT_EQ(m->edns->subnet->scope_prefix, 24);
  // A service lookup's answer does not: scope 0.
  SendRaw(fd = UdpSocket(), [&] {
    Message sq = q;
    sq.questions[0].name = "web.service.consul.";
    std::string b;
    Encode(sq, true, &b);
    return b;
  }());
  got = Receive(fd);
  close(fd);
  m = Parse(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(got.data()), got.size()));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->edns && m->edns->subnet);
  EXPECT_EQ(m->edns->subnet->scope_prefix, 0);
}

}  // namespace
}  // namespace gangway::dns
