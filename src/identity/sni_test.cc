#include "identity/sni.h"

#include <gtest/gtest.h>

namespace gangway::identity {
namespace {

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

std::string Td(std::string_view prefix) { return std::string(prefix) + kTd; }

TEST(SniTest, BuildsConsulForms) {
  EXPECT_EQ(ServiceSni("web", "", "default", "dc1", kTd), Td("web.default.dc1.internal."));
  EXPECT_EQ(ServiceSni("web", "", "", "dc1", kTd), Td("web.default.dc1.internal."));
  EXPECT_EQ(ServiceSni("web", "v2", "default", "dc1", kTd), Td("v2.web.default.dc1.internal."));
  EXPECT_EQ(ServiceSni("web", "", "default", "dc1", kTd, "default"),
            Td("web.default.dc1.internal."));
  EXPECT_EQ(ServiceSni("web", "v2", "ns1", "dc1", kTd, "team"),
            Td("v2.web.ns1.team.dc1.internal-v1."));
  EXPECT_EQ(DatacenterSni("dc2", kTd), Td("dc2.internal."));
  EXPECT_EQ(DatacenterSni("dc2", kTd, "team"), Td("team.dc2.internal-v1."));
  EXPECT_EQ(PreparedQuerySni("geo-db", "dc1", kTd), Td("geo-db.default.dc1.query."));
  EXPECT_EQ(PeeredServiceSni("web", "", "", "east", kTd), Td("web.default.default.east.external."));
  EXPECT_EQ(ServerSni("dc2", "consul"), "server.dc2.consul");
  EXPECT_EQ(ServerSni("dc2", "consul", "s1"), "s1.server.dc2.consul");
}

TEST(SniTest, ParsesIntoParts) {
  auto svc = ParseSni(Td("v2.web.ns1.dc1.internal."));
  ASSERT_TRUE(svc.ok()) << svc.status().message();
  EXPECT_EQ(*svc, (SniName{.kind = SniKind::kService,
                           .service = "web",
                           .subset = "v2",
                           .ns = "ns1",
                           .datacenter = "dc1",
                           .domain = kTd}));

  auto part = ParseSni(Td("web.default.team.dc3.internal-v1."));
  ASSERT_TRUE(part.ok()) << part.status().message();
  EXPECT_EQ(part->kind, SniKind::kService);
  EXPECT_EQ(part->subset, "");
  EXPECT_EQ(part->partition, "team");
  EXPECT_EQ(part->datacenter, "dc3");

  auto dc = ParseSni(Td("dc2.internal."));
  ASSERT_TRUE(dc.ok()) << dc.status().message();
  EXPECT_EQ(*dc, (SniName{.kind = SniKind::kDatacenter, .datacenter = "dc2", .domain = kTd}));

  auto server = ParseSni("s1.server.dc2.consul");
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_EQ(
      *server,
      (SniName{.kind = SniKind::kServer, .datacenter = "dc2", .node = "s1", .domain = "consul"}));
  auto servers = ParseSni("server.dc2.corp.internal");
  ASSERT_TRUE(servers.ok()) << servers.status().message();
  EXPECT_EQ(servers->node, "");
  EXPECT_EQ(servers->datacenter, "dc2");
  EXPECT_EQ(servers->domain, "corp.internal");
}

// Names whose service or subset is itself a marker word still split at the marker that precedes
// the trust domain.
TEST(SniTest, ServiceNamedLikeAMarker) {
  auto r = ParseSni(Td("internal.query.default.dc1.internal."));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->subset, "internal");
  EXPECT_EQ(r->service, "query");
  EXPECT_EQ(r->datacenter, "dc1");
  EXPECT_EQ(r->domain, kTd);
}

TEST(SniTest, RoundTripsEveryKind) {
  for (const std::string& name :
       {ServiceSni("web", "", "default", "dc1", kTd), ServiceSni("web", "v1", "ns", "dc1", kTd),
        ServiceSni("web", "v1", "ns", "dc1", kTd, "team"), DatacenterSni("dc9", kTd),
        DatacenterSni("dc9", kTd, "team"), PreparedQuerySni("q", "dc1", kTd),
        PeeredServiceSni("web", "ns", "team", "east", kTd), ServerSni("dc1", "consul"),
        ServerSni("dc1", "example.com", "node-1")}) {
    auto parsed = ParseSni(name);
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.status().message();
    EXPECT_EQ(parsed->Name(), name);
  }
}

// Consul never writes the default partition into an "internal-v1" name; one read off the
// network is accepted and comes back in the "internal" form.
TEST(SniTest, DefaultPartitionNormalises) {
  auto r = ParseSni(Td("web.default.default.dc1.internal-v1."));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->partition, "");
  EXPECT_EQ(r->Name(), Td("web.default.dc1.internal."));
}

TEST(SniTest, MalformedNamesSayWhy) {
  struct Case {
    std::string sni;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "SNI \"\": empty name"},
      {"web..dc1.internal.td", "SNI \"web..dc1.internal.td\": empty label"},
      {"web.default.dc1.internal.", "SNI \"web.default.dc1.internal.\": empty label"},
      {"web.default.internal.td",
       "SNI \"web.default.internal.td\": expected 1, 3 or 4 labels before \"internal\", found 2"},
      {"internal.td",
       "SNI \"internal.td\": expected 1, 3 or 4 labels before \"internal\", found 0"},
      {"dc1.internal-v1.td",
       "SNI \"dc1.internal-v1.td\": expected 2, 4 or 5 labels before \"internal-v1\", found 1"},
      {"q.ns.dc1.query.td",
       "SNI \"q.ns.dc1.query.td\": a query name has \"default\" as its 2nd label"},
      {"web.default.external.td",
       "SNI \"web.default.external.td\": expected 4 labels before \"external\", found 2"},
      {"web.default.dc1.internal",
       "SNI \"web.default.dc1.internal\": no trust domain after \"internal\""},
      {"www.example.com",
       "SNI \"www.example.com\": not a mesh name (no \"internal\", \"internal-v1\", \"query\" or "
       "\"external\" label before a trust domain) nor a server name"},
      {"server.consul",
       "SNI \"server.consul\": not a mesh name (no \"internal\", \"internal-v1\", "
       "\"query\" or \"external\" label before a trust domain) nor a server name"},
      {std::string("we\0b.default.dc1.internal.td", 28),
       "SNI \"we\\x00b.default.dc1.internal.td\": labels may hold only letters, digits, '-' and "
       "'_'"},
      {"web\".default.dc1.internal.td",
       "SNI \"web\\x22.default.dc1.internal.td\": labels may hold only letters, digits, '-' and "
       "'_'"},
      {std::string(64, 'a') + ".default.dc1.internal.td",
       "SNI \"" + std::string(64, 'a') + ".default.dc1.int...\": label longer than 63 bytes"},
  };
  for (const Case& c : cases) {
    auto r = ParseSni(c.sni);
    ASSERT_FALSE(r.ok()) << c.sni;
    EXPECT_EQ(r.status().message(), c.error);
  }
}

TEST(SniTest, LongNamesAreRejectedAndQuotedShort) {
  std::string name;
  while (name.size() < 250) name += "abcdefghij.";
  name += "internal.td";
  auto r = ParseSni(name);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "SNI \"" + name.substr(0, 80) + "...\": longer than 253 bytes");
}

}  // namespace
}  // namespace gangway::identity
