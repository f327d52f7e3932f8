#include "identity/trust_domain.h"

#include <gtest/gtest.h>

namespace gangway::identity {
namespace {

TEST(TrustDomainTest, ClusterIdRoundTrips) {
  const std::string id = "11111111-2222-3333-4444-555555555555";
  EXPECT_EQ(TrustDomainForCluster(id), id + ".consul");
  auto back = ClusterIdOf(TrustDomainForCluster(id));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, id);
  auto upper = ClusterIdOf("abc.CONSUL");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, "abc");
}

TEST(TrustDomainTest, ClusterIdErrors) {
  EXPECT_EQ(ClusterIdOf("abc.mesh").status().message(),
            "trust domain \"abc.mesh\" is not of the form <cluster-id>.consul");
  EXPECT_EQ(ClusterIdOf(".consul").status().message(),
            "trust domain \".consul\" is not of the form <cluster-id>.consul");
  EXPECT_EQ(ClusterIdOf("a.b.consul").status().message(),
            "trust domain \"a.b.consul\": the cluster ID may not contain '.'");
}

TEST(TrustDomainTest, CompareIgnoringCase) {
  EXPECT_TRUE(SameTrustDomain("ABC.consul", "abc.Consul"));
  EXPECT_FALSE(SameTrustDomain("abc.consul", "abd.consul"));
}

}  // namespace
}  // namespace gangway::identity
