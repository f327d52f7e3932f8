#include "dns/lookup.h"

#include <gtest/gtest.h>

namespace gangway::dns {
namespace {

using Kind = Lookup::Kind;

Config WithAlt() {
  Config c;
  c.alt_domain = "mesh.example.";
  return c;
}

TEST(LookupTest, ServiceForms) {
  Config c;
  auto l = ParseName("Web.Service.Consul", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.name, "web.service.consul.");
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "");
  EXPECT_EQ(l.dc, "");
  EXPECT_EQ(l.domain, "consul.");

  l = ParseName("v1.web.service.dc2.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.tag, "v1");
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.dc, "dc2");

  l = ParseName("web.service.dc2.dc.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.dc, "dc2");

  l = ParseName("web.service.default.ns.dc2.dc.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.dc, "dc2");

  // A service may be named like a type label: the rightmost one decides.
  l = ParseName("node.service.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.service, "node");
}

TEST(LookupTest, Rfc2782) {
  Config c;
  auto l = ParseName("_web._tcp.service.consul.", c, true);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "");
  l = ParseName("_web._v1.service.dc2.consul.", c, true);
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "v1");
  EXPECT_EQ(l.dc, "dc2");
  // Without the "service" label: SRV questions only.
  l = ParseName("_web._tcp.consul.", c, true);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.service, "web");
  l = ParseName("_web._tcp.dc2.consul.", c, true);
  EXPECT_EQ(l.dc, "dc2");
  EXPECT_EQ(ParseName("_web._tcp.consul.", c, false).kind, Kind::kInvalid);
}

TEST(LookupTest, OtherTypes) {
  Config c;
  auto l = ParseName("foo.node.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kNode);
  EXPECT_EQ(l.service, "foo");
  l = ParseName("web.connect.dc2.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kConnect);
  EXPECT_EQ(l.dc, "dc2");
  l = ParseName("7f000001.addr.dc1.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kAddr);
  EXPECT_EQ(l.address, "127.0.0.1");
  l = ParseName("20010db8000000000000000000000001.addr.consul.", c, false);
  EXPECT_EQ(l.address, "2001:db8::1");
  EXPECT_EQ(ParseName("7f0001.addr.consul.", c, false).kind, Kind::kInvalid);
  l = ParseName("my.query.name.query.consul.", c, false);
  EXPECT_EQ(l.kind, Kind::kQuery);
  EXPECT_EQ(l.service, "my.query.name");
}

TEST(LookupTest, DomainsAndInvalid) {
  Config c = WithAlt();
  EXPECT_EQ(ParseName("consul.", c, false).kind, Kind::kDomain);
  EXPECT_EQ(ParseName("example.com.", c, false).kind, Kind::kOutside);
  EXPECT_EQ(ParseName("notconsul.", c, false).kind, Kind::kOutside);
  auto l = ParseName("web.service.mesh.example.", c, false);
  EXPECT_EQ(l.kind, Kind::kService);
  EXPECT_EQ(l.domain, "mesh.example.");
  EXPECT_EQ(ParseName("web.consul.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("a.b.web.service.consul.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("web.service.dc2.dc.dc3.dc.consul.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("web.service.p.peer.consul.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("web.service.team.ns.consul.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("service.consul.", c, false).kind, Kind::kInvalid);
}

TEST(LookupTest, Ptr) {
  Config c;
  auto l = ParseName("1.0.0.127.in-addr.arpa.", c, false);
  EXPECT_EQ(l.kind, Kind::kPtr);
  EXPECT_EQ(l.address, "127.0.0.1");
  EXPECT_EQ(l.domain, "consul.");
  l = ParseName("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", c, false);
  EXPECT_EQ(l.kind, Kind::kPtr);
  EXPECT_EQ(l.address, "2001:db8::1");
  EXPECT_EQ(ParseName("300.0.0.127.in-addr.arpa.", c, false).kind, Kind::kInvalid);
  EXPECT_EQ(ParseName("0.127.in-addr.arpa.", c, false).kind, Kind::kInvalid);
}

TEST(LookupTest, AddrLabels) {
  EXPECT_EQ(AddrLabel("10.0.0.1"), "0a000001");
  EXPECT_EQ(AddrLabel("2001:db8::1"), "20010db8000000000000000000000001");
  EXPECT_EQ(AddrLabel("host.example"), "");
  EXPECT_EQ(DecodeAddrLabel("0a000001"), "10.0.0.1");
  EXPECT_EQ(DecodeAddrLabel("zz000001"), "");
}

TEST(LookupTest, ServiceTtl) {
  Config c;
  c.service_ttl = {{"*", std::chrono::seconds(5)}, {"db*", std::chrono::seconds(10)},
                   {"db-main", std::chrono::seconds(30)}, {"d*", std::chrono::seconds(7)}};
  EXPECT_EQ(ServiceTtl(c, "db-main"), 30u);
  EXPECT_EQ(ServiceTtl(c, "db-replica"), 10u);
  EXPECT_EQ(ServiceTtl(c, "dx"), 7u);
  EXPECT_EQ(ServiceTtl(c, "web"), 5u);
  EXPECT_EQ(ServiceTtl(Config{}, "web"), 0u);
  EXPECT_EQ(CanonicalDomain("Consul"), "consul.");
  EXPECT_EQ(CanonicalDomain("mesh.example."), "mesh.example.");
}

}  // namespace
}  // namespace gangway::dns
