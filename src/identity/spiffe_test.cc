#include "identity/spiffe.h"

#include <gtest/gtest.h>

namespace gangway::identity {
namespace {

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

TEST(SpiffeTest, DocumentedUris) {
  EXPECT_EQ(SigningId(kTd).Uri(), std::string("spiffe://") + kTd);
  EXPECT_EQ(ServiceId(kTd, "default", "dc1", "web").Uri(),
            std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/web");
  EXPECT_EQ(ServiceId(kTd, "default", "dc1", "web", "team").Uri(),
            std::string("spiffe://") + kTd + "/ap/team/ns/default/dc/dc1/svc/web");
  EXPECT_EQ(AgentId(kTd, "dc1", "node-1").Uri(),
            std::string("spiffe://") + kTd + "/agent/client/dc/dc1/id/node-1");
  EXPECT_EQ(ServerId(kTd, "dc2").Uri(), std::string("spiffe://") + kTd + "/agent/server/dc/dc2");
  EXPECT_EQ(MeshGatewayId(kTd, "dc2").Uri(),
            std::string("spiffe://") + kTd + "/gateway/mesh/dc/dc2");
  EXPECT_EQ(TrustDomainForCluster("abc"), "abc.consul");
}

TEST(SpiffeTest, ParseRoundTrips) {
  for (const SpiffeId& id :
       {SigningId(kTd), ServiceId(kTd, "default", "dc1", "web"),
        ServiceId(kTd, "ns1", "dc1", "we b", "team"), AgentId(kTd, "dc1", "n1"),
        ServerId(kTd, "dc1"), MeshGatewayId(kTd, "dc3")}) {
    auto parsed = ParseSpiffeId(id.Uri());
    ASSERT_TRUE(parsed.ok()) << id.Uri() << ": " << parsed.status().message();
    EXPECT_EQ(*parsed, id) << id.Uri();
  }
}

TEST(SpiffeTest, ParseErrors) {
  EXPECT_EQ(ParseSpiffeId("https://x.consul/ns/a/dc/b/svc/c").status().message(),
            "SPIFFE ID must have 'spiffe' scheme");
  for (const char* bad : {"spiffe://", "spiffe://td/ns/a/dc/b", "spiffe://td/ns/a/dc/b/svc/",
                          "spiffe://td/ns//dc/b/svc/c", "spiffe://td/agent/server/dc",
                          "spiffe://td/gateway/ingress/dc/dc1", "spiffe://td/x?y=1"}) {
    auto r = ParseSpiffeId(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(),
              std::string("SPIFFE ID is not in the expected format: ") + bad);
  }
}

TEST(SpiffeTest, CanSignOnlyOwnTrustDomainIgnoringCase) {
  SpiffeId signing = SigningId("abc.consul");
  EXPECT_TRUE(CanSign(signing, ServiceId("ABC.consul", "default", "dc1", "web")));
  EXPECT_TRUE(CanSign(signing, MeshGatewayId("abc.consul", "dc1")));
  EXPECT_TRUE(CanSign(signing, ServerId("abc.consul", "dc1")));
  EXPECT_FALSE(CanSign(signing, ServiceId("other.consul", "default", "dc1", "web")));
  EXPECT_FALSE(CanSign(ServiceId("abc.consul", "default", "dc1", "web"),
                       ServiceId("abc.consul", "default", "dc1", "web")));
}

TEST(SpiffeTest, CommonNames) {
  EXPECT_EQ(CommonNameFor(ServiceId(kTd, "default", "dc1", "Web_1")),
            "web1.svc.default.11111111.consul");
  EXPECT_EQ(CommonNameFor(AgentId(kTd, "dc1", "node1")), "node1.agnt.11111111.consul");
  EXPECT_LE(CommonNameFor(ServiceId(kTd, std::string(60, 'n'), "dc1", std::string(60, 's')))
                .size(),
            64u);
}

}  // namespace
}  // namespace gangway::identity
