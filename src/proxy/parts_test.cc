// The proxy's pure pieces: endpoint choice, the authorization seam, the admin responder, the
// words of a failed certificate verification.
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <algorithm>

#include "proxy/admin.h"
#include "proxy/authz.h"
#include "proxy/balancer.h"
#include "proxy/listen_socket.h"
#include "proxy/tls.h"

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

TEST(Balancer, ConsecutiveFailuresEjectAnEndpointForAGrowingWhile) {
  using std::chrono::milliseconds;
  Cluster c = ThreeEndpoints(Cluster::Lb::kRoundRobin);
  OutlierPolicy policy;
  policy.eject_after = 2;
  policy.base_ejection = milliseconds(1000);
  policy.max_ejection = milliseconds(3000);
  ClusterState state(c, std::make_shared<ClusterCounters>(), {}, policy);
  auto has = [&](EndpointOutlier::Clock::time_point now, size_t i, bool include_ejected = false) {
    std::vector<size_t> order = state.PickOrder(now, include_ejected);
    return std::find(order.begin(), order.end(), i) != order.end();
  };
  const EndpointOutlier::Clock::time_point t0{std::chrono::hours(1)};

  EXPECT_FALSE(state.ReportFailure(1, t0));  // one failure is not enough
  EXPECT_TRUE(has(t0, 1));
  EXPECT_TRUE(state.ReportFailure(1, t0));
  EXPECT_FALSE(has(t0, 1));
  EXPECT_TRUE(has(t0, 0));
  EXPECT_TRUE(has(t0, 1, /*include_ejected=*/true));
  EXPECT_FALSE(state.ReportFailure(1, t0 + milliseconds(10)));  // already out: not extended
  EXPECT_FALSE(has(t0 + milliseconds(999), 1));

  // Back after the ejection; failing again doubles it, up to the maximum.
  auto t = t0 + milliseconds(1000);
  EXPECT_TRUE(has(t, 1));
  EXPECT_TRUE(state.ReportFailure(1, t));
  EXPECT_FALSE(has(t + milliseconds(1999), 1));
  t += milliseconds(2000);
  EXPECT_TRUE(has(t, 1));
  EXPECT_TRUE(state.ReportFailure(1, t));
  EXPECT_FALSE(has(t + milliseconds(2999), 1));
  t += milliseconds(3000);
  EXPECT_TRUE(has(t, 1));
  EXPECT_TRUE(state.ReportFailure(1, t));
  EXPECT_FALSE(has(t + milliseconds(2999), 1));
  EXPECT_TRUE(has(t + milliseconds(3000), 1));

  // A success forgives everything: the next single failure ejects nothing.
  state.ReportSuccess(1);
  EXPECT_TRUE(has(t, 1));
  EXPECT_FALSE(state.ReportFailure(1, t));
  EXPECT_TRUE(has(t, 1));
}

TEST(Balancer, PassiveHealthIsSharedThroughItsOutlierState) {
  Cluster c = ThreeEndpoints(Cluster::Lb::kRoundRobin);
  auto shared = std::make_shared<EndpointOutlier>();
  const EndpointOutlier::Clock::time_point t0{std::chrono::hours(1)};
  {
    ClusterState first(c, std::make_shared<ClusterCounters>(), {nullptr, shared, nullptr});
    first.ReportFailure(1, t0);
    first.ReportFailure(1, t0);
  }
  // The next config's state for the same endpoint still has it ejected.
  ClusterState second(c, std::make_shared<ClusterCounters>(), {nullptr, shared, nullptr});
  EXPECT_EQ(second.PickOrder(t0, false).size(), 2u);
  EXPECT_EQ(second.outlier(1).consecutive_failures(), 2);
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

TEST(VerifyFailure, NamesGosCauseAndBothTrustDomains) {
  EXPECT_EQ(DescribeVerifyFailure(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                                  "spiffe://b.consul/ns/default/dc/dc2/svc/api", "a.consul"),
            "x509: certificate signed by unknown authority: the peer's certificate "
            "spiffe://b.consul/ns/default/dc/dc2/svc/api is from trust domain b.consul, this "
            "proxy trusts trust domain a.consul (unable to get local issuer certificate)");
  // Same trust domain, unknown signer: roots out of date, not a second CA bootstrap.
  EXPECT_EQ(DescribeVerifyFailure(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
                                  "spiffe://A.consul/ns/default/dc/dc1/svc/web", "a.consul"),
            "x509: certificate signed by unknown authority: the peer's certificate "
            "spiffe://A.consul/ns/default/dc/dc1/svc/web names trust domain A.consul, as this "
            "proxy does, but no root it trusts signed it (self-signed certificate)");
  EXPECT_EQ(DescribeVerifyFailure(X509_V_ERR_CERT_HAS_EXPIRED, "CN=Some CA", "a.consul"),
            "x509: certificate has expired or is not yet valid: the peer's certificate has no "
            "SPIFFE ID (issuer \"CN=Some CA\") (certificate has expired)");
  EXPECT_EQ(DescribeVerifyFailure(X509_V_ERR_CERT_REVOKED, "", "a.consul"),
            "certificate revoked: the peer's certificate could not be read");
}

TEST(ListenSockets, APortAnotherSocketListensOnIsRefusedEvenWithReusePort) {
  // Another proxy of the same user, listening with SO_REUSEPORT as ours do.
  auto other = OpenListenSockets("127.0.0.1", 0, 1);
  ASSERT_TRUE(other.ok()) << other.status().message();
  auto ours = OpenListenSockets("127.0.0.1", other->port, 2);
  ASSERT_FALSE(ours.ok());
  EXPECT_NE(ours.status().message().find("address already in use"), std::string::npos)
      << ours.status().message();
  CloseFds(other->fds);
  auto again = OpenListenSockets("127.0.0.1", other->port, 2);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->fds.size(), 2u);
  CloseFds(again->fds);
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
