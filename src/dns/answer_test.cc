#include "dns/answer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <set>

namespace gangway::dns {
namespace {

catalog::CheckServiceNode Instance(const std::string& node, const std::string& node_addr,
                                   const std::string& svc_addr, int port,
                                   const std::string& status = catalog::kPassing,
                                   std::vector<std::string> tags = {}) {
  catalog::CheckServiceNode row;
  row.node.node = node;
  row.node.address = node_addr;
  row.node.meta = {{"rack", "r1"}};
  row.service.id = "web-" + node;
  row.service.service = "web";
  row.service.address = svc_addr;
  row.service.port = port;
  row.service.tags = std::move(tags);
  row.service.weights = {10, 2};
  catalog::HealthCheck serf;
  serf.check_id = "serfHealth";
  serf.status = catalog::kPassing;
  catalog::HealthCheck svc;
  svc.check_id = "service:web";
  svc.status = status;
  row.checks = {serf, svc};
  return row;
}

Message Query(const std::string& name, uint16_t type, std::optional<uint16_t> edns = {}) {
  Message q;
  q.header.id = 77;
  q.header.rd = true;
  q.questions.push_back({name, type, kClassIN});
  if (edns) {
    Edns e;
    e.udp_size = *edns;
    q.edns = e;
  }
  return q;
}

struct Answered {
  Message msg;
  Lookup lookup;
};

Answered ServiceAnswer(const std::string& name, uint16_t type,
                       std::vector<catalog::CheckServiceNode> rows, const Config& cfg = {},
                       std::optional<uint16_t> edns = {}, bool tcp = false) {
  std::mt19937 rng(1);
  Lookup l = ParseName(name, cfg, type == kSRV);
  Message m = ReplyTo(Query(name, type, edns), l, cfg);
  AnswerService(l, type, l.dc.empty() ? "dc1" : l.dc, std::move(rows), cfg, 1000, rng, &m);
  Truncate(tcp, cfg, &m);
  return {m, l};
}

std::string Ip(const Record& r) {
  char buf[64];
  inet_ntop(r.type == kA ? AF_INET : AF_INET6, r.ip.data(), buf, sizeof buf);
  return buf;
}

TEST(AnswerTest, HealthAndTags) {
  std::vector<catalog::CheckServiceNode> rows = {
      Instance("n1", "10.0.0.1", "", 80, catalog::kPassing, {"V1"}),
      Instance("n2", "10.0.0.2", "", 80, catalog::kWarning, {"v2"}),
      Instance("n3", "10.0.0.3", "", 80, catalog::kCritical, {"v1"}),
  };
  auto a = ServiceAnswer("WEB.service.consul", kA, rows);
  EXPECT_EQ(a.msg.header.rcode, kNoError);
  EXPECT_TRUE(a.msg.header.aa);
  EXPECT_EQ(a.msg.questions.at(0).name, "web.service.consul.");
  std::set<std::string> ips;
  for (const auto& r : a.msg.answer) ips.insert(Ip(r));
  EXPECT_EQ(ips, (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));

  Config only_passing;
  only_passing.only_passing = true;
  a = ServiceAnswer("web.service.consul", kA, rows, only_passing);
  ASSERT_EQ(a.msg.answer.size(), 1u);
  EXPECT_EQ(Ip(a.msg.answer[0]), "10.0.0.1");

  // Tags match case-insensitively.
  a = ServiceAnswer("v1.web.service.consul", kA, rows);
  ASSERT_EQ(a.msg.answer.size(), 1u);
  EXPECT_EQ(Ip(a.msg.answer[0]), "10.0.0.1");

  // No healthy instance: NXDOMAIN with the SOA.
  a = ServiceAnswer("web.service.consul", kA, {rows[2]});
  EXPECT_EQ(a.msg.header.rcode, kNXDomain);
  ASSERT_EQ(a.msg.authority.size(), 1u);
  EXPECT_EQ(a.msg.authority[0].type, kSOA);
  EXPECT_EQ(a.msg.authority[0].soa.mname, "ns.consul.");
  EXPECT_EQ(a.msg.authority[0].soa.rname, "hostmaster.consul.");
}

TEST(AnswerTest, PreparedQueryKeepsItsOrderFilterAndTtl) {
  Config cfg;
  cfg.service_ttl = {{"web", std::chrono::seconds(30)}};
  QueryAnswer q{{Instance("n2", "10.0.0.2", "", 80, catalog::kWarning),
                 Instance("n1", "10.0.0.1", "", 80)},
                "web", "dc2", ""};
  auto answer = [&](const QueryAnswer& query, uint16_t type) {
    Lookup l = ParseName("q1.query.consul", cfg, type == kSRV);
    Message m = ReplyTo(Query("q1.query.consul", type), l, cfg);
    AnswerQuery(l, type, query, cfg, 1000, &m);
    return m;
  };
  Message m = answer(q, kA);
  ASSERT_EQ(m.answer.size(), 2u);
  // The query's order, its warning instance kept, the service's TTL without DNS.TTL.
  EXPECT_EQ(Ip(m.answer[0]), "10.0.0.2");
  EXPECT_EQ(m.answer[0].ttl, 30u);
  m = answer(q, kSRV);
  ASSERT_EQ(m.answer.size(), 2u);
  EXPECT_EQ(m.answer[0].srv.target, "n2.node.dc2.consul.");
  q.ttl = "1m";
  EXPECT_EQ(answer(q, kA).answer[0].ttl, 60u);
  q.ttl = "soon";  // unreadable: the service's TTL
  EXPECT_EQ(answer(q, kA).answer[0].ttl, 30u);
  q.nodes.clear();
  m = answer(q, kA);
  EXPECT_EQ(m.header.rcode, kNXDomain);
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].type, kSOA);
}

TEST(AnswerTest, FamiliesAndNoData) {
  std::vector<catalog::CheckServiceNode> rows = {Instance("n1", "10.0.0.1", "", 80)};
  auto a = ServiceAnswer("web.service.consul", kAAAA, rows);
  EXPECT_EQ(a.msg.header.rcode, kNoError);
  EXPECT_TRUE(a.msg.answer.empty());
  ASSERT_EQ(a.msg.authority.size(), 1u);
  a = ServiceAnswer("web.service.consul", kMX, rows);
  EXPECT_EQ(a.msg.header.rcode, kNoError);
  EXPECT_TRUE(a.msg.answer.empty());
  rows.push_back(Instance("n2", "10.0.0.2", "2001:db8::5", 80));
  a = ServiceAnswer("web.service.consul", kAAAA, rows);
  ASSERT_EQ(a.msg.answer.size(), 1u);
  EXPECT_EQ(Ip(a.msg.answer[0]), "2001:db8::5");
  // A hostname address is a CNAME.
  a = ServiceAnswer("web.service.consul", kA, {Instance("n3", "10.0.0.3", "api.example.com", 80)});
  ASSERT_EQ(a.msg.answer.size(), 1u);
  EXPECT_EQ(a.msg.answer[0].type, kCNAME);
  EXPECT_EQ(a.msg.answer[0].target, "api.example.com.");
}

TEST(AnswerTest, SrvTargetsAndAdditional) {
  std::vector<catalog::CheckServiceNode> rows = {
      Instance("N1", "10.0.0.1", "", 8080),
      Instance("n2", "10.0.0.2", "10.0.0.2", 8081, catalog::kWarning),
      Instance("n3", "10.0.0.3", "10.1.0.9", 8082),
      Instance("n4", "10.0.0.4", "svc.example.com", 8083),
  };
  auto a = ServiceAnswer("web.service.dc2.consul", kSRV, rows, {}, 4096);
  ASSERT_EQ(a.msg.answer.size(), 4u);
  std::map<uint16_t, Record> by_port;
  for (const auto& r : a.msg.answer) by_port[r.srv.port] = r;
  EXPECT_EQ(by_port[8080].srv.target, "n1.node.dc2.consul.");
  EXPECT_EQ(by_port[8080].srv.priority, 1);
  EXPECT_EQ(by_port[8080].srv.weight, 10);
  EXPECT_EQ(by_port[8081].srv.target, "n2.node.dc2.consul.");
  EXPECT_EQ(by_port[8081].srv.weight, 2);  // warning weight
  EXPECT_EQ(by_port[8082].srv.target, "0a010009.addr.dc2.consul.");
  EXPECT_EQ(by_port[8083].srv.target, "svc.example.com.");
  std::set<std::string> additional;
  for (const auto& r : a.msg.additional) {
    additional.insert(r.name + " " + std::to_string(r.type) +
                      (r.type == kTXT ? " " + r.txt.at(0) : " " + Ip(r)));
  }
  EXPECT_EQ(additional, (std::set<std::string>{
                            "n1.node.dc2.consul. 1 10.0.0.1",
                            "n1.node.dc2.consul. 16 rack=r1",
                            "n2.node.dc2.consul. 1 10.0.0.2",
                            "n2.node.dc2.consul. 16 rack=r1",
                            "0a010009.addr.dc2.consul. 1 10.1.0.9",
                        }));
}

TEST(AnswerTest, UdpTruncation) {
  std::vector<catalog::CheckServiceNode> rows;
  for (int i = 1; i <= 20; ++i) rows.push_back(Instance("n" + std::to_string(i), "10.0.0." + std::to_string(i), "", 80));
  // No EDNS: udp_answer_limit (3), silently.
  auto a = ServiceAnswer("web.service.consul", kA, rows);
  EXPECT_EQ(a.msg.answer.size(), 3u);
  EXPECT_FALSE(a.msg.header.tc);
  Config trunc;
  trunc.enable_truncate = true;
  a = ServiceAnswer("web.service.consul", kA, rows, trunc);
  EXPECT_EQ(a.msg.answer.size(), 3u);
  EXPECT_TRUE(a.msg.header.tc);
  // EDNS: only the byte limit.
  a = ServiceAnswer("web.service.consul", kA, rows, trunc, 4096);
  EXPECT_EQ(a.msg.answer.size(), 20u);
  EXPECT_FALSE(a.msg.header.tc);
  // TCP: everything.
  a = ServiceAnswer("web.service.consul", kSRV, rows, trunc, std::nullopt, true);
  EXPECT_EQ(a.msg.answer.size(), 20u);
  EXPECT_EQ(a.msg.additional.size(), 40u);  // A + meta TXT per node
  // SRV over UDP: the byte limit trims, and Additional follows the kept targets.
  a = ServiceAnswer("web.service.consul", kSRV, rows, trunc);
  EXPECT_LE(a.msg.answer.size(), 3u);
  EXPECT_LE(UncompressedSize(a.msg), 512u);
  std::set<std::string> targets;
  for (const auto& r : a.msg.answer) targets.insert(r.srv.target);
  for (const auto& r : a.msg.additional) EXPECT_TRUE(targets.count(r.name)) << r.name;
  // a_record_limit everywhere.
  Config limited;
  limited.a_record_limit = 2;
  a = ServiceAnswer("web.service.consul", kA, rows, limited, std::nullopt, true);
  EXPECT_EQ(a.msg.answer.size(), 2u);
}

TEST(AnswerTest, NodeAddrPtrDomain) {
  Config cfg;
  catalog::Node n;
  n.node = "foo";
  n.address = "10.0.0.7";
  n.meta = {{"rack", "r1"}, {"rfc1035-raw", "v=spf1"}};
  Lookup l = ParseName("foo.node.consul.", cfg, false);
  Message m = ReplyTo(Query("foo.node.consul.", kANY), l, cfg);
  AnswerNode(l, kANY, "dc1", n, cfg, 1, &m);
  ASSERT_EQ(m.answer.size(), 3u);
  EXPECT_EQ(m.answer[0].type, kA);
  EXPECT_EQ(m.answer[1].txt.at(0), "rack=r1");
  EXPECT_EQ(m.answer[2].txt.at(0), "v=spf1");
  m = ReplyTo(Query("foo.node.consul.", kAAAA), l, cfg);
  AnswerNode(l, kAAAA, "dc1", n, cfg, 1, &m);
  EXPECT_EQ(m.header.rcode, kNoError);
  EXPECT_TRUE(m.answer.empty());
  m = ReplyTo(Query("bar.node.consul.", kA), l, cfg);
  AnswerNode(l, kA, "dc1", std::nullopt, cfg, 1, &m);
  EXPECT_EQ(m.header.rcode, kNXDomain);

  l = ParseName("0a000007.addr.consul.", cfg, false);
  m = ReplyTo(Query(l.name, kA), l, cfg);
  AnswerAddr(l, kA, cfg, 1, &m);
  ASSERT_EQ(m.answer.size(), 1u);
  EXPECT_EQ(Ip(m.answer[0]), "10.0.0.7");

  l = ParseName("7.0.0.10.in-addr.arpa.", cfg, false);
  m = ReplyTo(Query(l.name, kPTR), l, cfg);
  AnswerPtr(l, kPTR, "dc1", {n}, {}, cfg, 1, &m);
  ASSERT_EQ(m.answer.size(), 1u);
  EXPECT_EQ(m.answer[0].target, "foo.node.dc1.consul.");
  m = ReplyTo(Query(l.name, kPTR), l, cfg);
  AnswerPtr(l, kPTR, "dc1", {}, {}, cfg, 1, &m);
  EXPECT_EQ(m.header.rcode, kNXDomain);

  l = ParseName("consul.", cfg, false);
  std::vector<ServerNode> servers = {{"s1", "10.0.1.1"}, {"s2", "10.0.1.2"}};
  m = ReplyTo(Query("consul.", kSOA), l, cfg);
  AnswerDomain(l, kSOA, "dc1", servers, cfg, 99, &m);
  ASSERT_EQ(m.answer.size(), 1u);
  EXPECT_EQ(m.answer[0].soa.serial, 99u);
  EXPECT_EQ(m.answer[0].soa.refresh, 3600u);
  EXPECT_EQ(m.authority.size(), 2u);
  EXPECT_EQ(m.additional.size(), 2u);
  m = ReplyTo(Query("consul.", kNS), l, cfg);
  AnswerDomain(l, kNS, "dc1", servers, cfg, 99, &m);
  ASSERT_EQ(m.answer.size(), 2u);
  EXPECT_EQ(m.answer[0].target, "s1.node.dc1.consul.");
  m = ReplyTo(Query("consul.", kA), l, cfg);
  AnswerDomain(l, kA, "dc1", servers, cfg, 99, &m);
  EXPECT_EQ(m.header.rcode, kNXDomain);
}

TEST(AnswerTest, EdnsEcho) {
  Config cfg;
  Message q = Query("web.service.consul.", kA, 1232);
  ClientSubnet ecs;
  ecs.family = 1;
  ecs.source_prefix = 24;
  ecs.scope_prefix = 5;
  ecs.address = std::string("\x0a\x00\x00", 3);
  q.edns->subnet = ecs;
  Lookup l = ParseName("web.service.consul.", cfg, false);
  Message m = ReplyTo(q, l, cfg);
  ASSERT_TRUE(m.edns.has_value());
  EXPECT_EQ(m.edns->udp_size, 1232);
  ASSERT_TRUE(m.edns->subnet.has_value());
  EXPECT_EQ(m.edns->subnet->scope_prefix, 0);
  EXPECT_EQ(m.edns->subnet->source_prefix, 24);
  EXPECT_EQ(m.header.id, 77);
  EXPECT_TRUE(m.header.rd);
  EXPECT_FALSE(m.header.ra);
}

}  // namespace
}  // namespace gangway::dns
