// The proxy's pure pieces: endpoint choice, the authorization seam, the admin responder.
#include <gtest/gtest.h>

#include "proxy/admin.h"
#include "proxy/authz.h"
#include "proxy/balancer.h"

namespace gangway::proxy {
namespace {

Cluster ThreeEndpoints(Cluster::Lb lb) {
  Cluster c;
  c.name = "api";
  c.lb = lb;
  for (int port : {1001, 1002, 1003}) c.endpoints.push_back({"127.0.0.1", port});
  return c;
}

TEST(Balancer, RoundRobinRotatesOverHealthyEndpointsOnly) {
  Cluster c = ThreeEndpoints(Cluster::Lb::kRoundRobin);
  c.endpoints[1].health = Endpoint::Health::kCritical;
  c.endpoints[2].health = Endpoint::Health::kWarning;
  ClusterState state(c, std::make_shared<ClusterCounters>());
  EXPECT_EQ(state.PickOrder(), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(state.PickOrder(), (std::vector<size_t>{2, 0}));
  EXPECT_EQ(state.PickOrder(), (std::vector<size_t>{0, 2}));
}

TEST(Balancer, LeastRequestPrefersTheIdlest) {
  Cluster c = ThreeEndpoints(Cluster::Lb::kLeastRequest);
  ClusterState state(c, std::make_shared<ClusterCounters>());
  state.Acquire(0);
  state.Acquire(0);
  state.Acquire(1);
  EXPECT_EQ(state.PickOrder(), (std::vector<size_t>{2, 1, 0}));
  state.Release(0);
  state.Release(0);
  EXPECT_EQ(state.PickOrder().back(), 1u);
}

TEST(Balancer, NoHealthyEndpointGivesAnEmptyOrder) {
  Cluster c = ThreeEndpoints(Cluster::Lb::kRoundRobin);
  for (auto& e : c.endpoints) e.health = Endpoint::Health::kCritical;
  ClusterState state(c, std::make_shared<ClusterCounters>());
  EXPECT_TRUE(state.PickOrder().empty());
}

TEST(Authorize, FirstMatchingRuleDecidesElseTheDefault) {
  Authz authz;
  authz.default_allow = false;
  authz.rules.push_back({"spiffe://td/ns/default/dc/*/svc/web", true, 9, "i-1"});
  AuthzDecision d = Authorize(authz, "spiffe://TD/ns/default/dc/dc2/svc/web");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "intention i-1 allows");
  d = Authorize(authz, "spiffe://td/ns/default/dc/dc2/svc/db");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "no rule matched; default deny");
  EXPECT_TRUE(Authorize(Authz{}, "spiffe://td/ns/default/dc/dc1/svc/db").allowed);
}

TEST(Authorize, TrustDomainOfASpiffeId) {
  EXPECT_EQ(TrustDomainOf("spiffe://abc.consul/ns/default/dc/dc1/svc/web"), "abc.consul");
  EXPECT_EQ(TrustDomainOf("spiffe://abc.consul"), "abc.consul");
  EXPECT_EQ(TrustDomainOf("https://abc.consul/x"), "");
  EXPECT_TRUE(SameTrustDomain("ABC.consul", "abc.CONSUL"));
  EXPECT_FALSE(SameTrustDomain("", ""));
  EXPECT_FALSE(SameTrustDomain("abc.consul", "abd.consul"));
}

TEST(Admin, FixedRoutesOnly) {
  RuntimeStats stats;
  stats.version = 3;
  auto get = [&](std::string_view head, bool ready = true) {
    return HandleAdminRequest(head, [&] { return stats; }, ready);
  };
  EXPECT_EQ(get("GET /ready HTTP/1.1\r\n\r\n").rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
  EXPECT_EQ(get("GET /ready HTTP/1.1\r\n\r\n", false).rfind("HTTP/1.0 503", 0), 0u);
  std::string s = get("GET /stats?format=json HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(s.rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
  EXPECT_NE(s.find("\"Version\": 3"), std::string::npos);
  EXPECT_EQ(get("POST /stats HTTP/1.1\r\n\r\n").rfind("HTTP/1.0 405", 0), 0u);
  EXPECT_EQ(get("GET /quit HTTP/1.1\r\n\r\n").rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(get("garbage\r\n\r\n").rfind("HTTP/1.0 400", 0), 0u);
  EXPECT_EQ(get("no line end").rfind("HTTP/1.0 431", 0), 0u);
}

TEST(Stats, JsonNamesRefusalsByReason) {
  RuntimeStats stats;
  ListenerStats l;
  l.name = "public";
  l.refused[static_cast<size_t>(RefuseReason::kNoHealthyEndpoint)] = 2;
  stats.listeners.push_back(l);
  std::string json = StatsJson(stats);
  EXPECT_NE(json.find("\"no_healthy_endpoint\": 2"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"unauthorized\""), std::string::npos) << json;
}

}  // namespace
}  // namespace gangway::proxy
