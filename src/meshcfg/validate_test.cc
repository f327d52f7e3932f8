#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "meshcfg/config_entry.h"

namespace gangway::meshcfg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IntentionPrecedence, ConsulsTableForOneNamespace) {
  EXPECT_EQ(IntentionPrecedence("web", "api"), 9);
  EXPECT_EQ(IntentionPrecedence("*", "api"), 8);
  EXPECT_EQ(IntentionPrecedence("web", "*"), 6);
  EXPECT_EQ(IntentionPrecedence("*", "*"), 5);
}

TEST(Normalize, IntentionSourcesSortedByPrecedenceStableAmongEquals) {
  ServiceIntentions in;
  in.name = "api";
  in.sources = {SourceIntention{.name = "*", .action = "DENY"},
                SourceIntention{.name = "web", .action = "allow"},
                SourceIntention{.name = "admin", .action = "Allow"}};
  ConfigEntry e = in;
  ASSERT_TRUE(Normalize(&e).ok());
  const auto& s = e.As<ServiceIntentions>()->sources;
  std::vector<std::string> order;
  for (const auto& src : s)
    order.push_back(src.name + ":" + src.action + ":" + std::to_string(src.precedence) + ":" +
                    src.type);
  EXPECT_THAT(order, ElementsAre("web:allow:9:consul", "admin:allow:9:consul", "*:deny:8:consul"));
}

TEST(Normalize, LowercasesProtocolAndUppercasesMethods) {
  ServiceDefaults d;
  d.name = "web";
  d.protocol = "gRPC";
  ConfigEntry e = d;
  ASSERT_TRUE(Normalize(&e).ok());
  EXPECT_EQ(e.As<ServiceDefaults>()->protocol, "grpc");

  ServiceRouter r;
  r.name = "web";
  r.routes.push_back(
      Route{.match = RouteMatch{.http = RouteHttpMatch{.methods = {"get", "Post"}}}});
  ConfigEntry re = r;
  ASSERT_TRUE(Normalize(&re).ok());
  EXPECT_THAT(re.As<ServiceRouter>()->routes[0].match->http->methods, ElementsAre("GET", "POST"));
}

TEST(Normalize, FixedNamesForSingletons) {
  ConfigEntry p = ProxyDefaults{};
  ASSERT_TRUE(Normalize(&p).ok());
  EXPECT_EQ(p.name(), "global");
  ConfigEntry m = MeshConfig{};
  ASSERT_TRUE(Normalize(&m).ok());
  EXPECT_EQ(m.name(), "mesh");
  ProxyDefaults bad;
  bad.name = "x";
  ConfigEntry b = bad;
  Status s = Normalize(&b);
  EXPECT_EQ(s.message(), "invalid name (\"x\"), only \"global\" is supported");
}

TEST(Validate, DoesNotChangeItsInputAndAcceptsUnnormalizedEntries) {
  ServiceRouter r;
  r.name = "web";
  r.routes.push_back(Route{.match = RouteMatch{.http = RouteHttpMatch{.methods = {"get"}}}});
  ConfigEntry e = r;
  EXPECT_TRUE(Validate(e).ok());
  EXPECT_EQ(e.As<ServiceRouter>()->routes[0].match->http->methods[0], "get");
}

TEST(Validate, SplitWeightsAtAResolutionOfOneHundredth) {
  ServiceSplitter s;
  s.name = "web";
  s.splits = {Split{.weight = 99.994, .service = "a"}, Split{.weight = 0.005, .service = "b"}};
  EXPECT_TRUE(Validate(s).ok());  // 9999 + 1 hundredths
  s.splits[1].weight = 0.004;
  EXPECT_EQ(Validate(s).message(), "the sum of all split weights must be 100, not 99.990000");
}

TEST(Validate, SplitterDefaultServiceCountsForDuplicates) {
  ServiceSplitter s;
  s.name = "web";
  s.splits = {Split{.weight = 50, .service_subset = "v1"},
              Split{.weight = 50, .service = "web", .service_subset = "v1"}};
  EXPECT_THAT(Validate(s).message(), HasSubstr("split destination occurs more than once"));
}

TEST(Validate, ResolverFailoverSubsetMustExist) {
  ServiceResolver r;
  r.name = "api";
  r.subsets["v1"] = ResolverSubset{.filter = "Service.Meta.version == v1"};
  r.failover["v1"] = ResolverFailover{.service_subset = "v2"};
  EXPECT_EQ(Validate(r).message(),
            "Bad Failover[\"v1\"]: ServiceSubset \"v2\" is not a valid subset of \"api\"");
  r.failover["v1"] = ResolverFailover{.service = "other", .service_subset = "v2"};
  EXPECT_TRUE(Validate(r).ok()) << Validate(r).message();  // another service's subsets
}

TEST(Validate, CrossDatacenterFailoverOnlyInTheDefaultPartition) {
  ServiceResolver r;
  r.name = "api";
  r.partition = "team";
  r.failover["*"] = ResolverFailover{.datacenters = {"dc2"}};
  EXPECT_EQ(Validate(r).message(),
            "Cross-datacenter failover is only supported in the default partition");
}

TEST(Validate, QueryParamRegexIsCompiled) {
  ServiceRouter r;
  r.name = "web";
  r.routes.push_back(Route{
      .match = RouteMatch{.http = RouteHttpMatch{
                              .query_param = {QueryParamMatch{.name = "q", .regex = "(?<bad"}}}}});
  EXPECT_THAT(Validate(r).message(),
              HasSubstr("Route[0] QueryParam[0] Regex: error parsing regexp"));
}

TEST(Validate, PermissionMethodsAreCheckedAfterUppercasing) {
  ServiceIntentions in;
  in.name = "api";
  in.sources = {
      SourceIntention{.name = "web",
                      .permissions = {IntentionPermission{
                          .action = "allow", .http = PermissionHttp{.methods = {"get", "GET"}}}}}};
  EXPECT_EQ(Validate(in).message(),
            "Sources[0].Permissions[0].HTTP.Methods contains \"GET\" more than once");
}

TEST(Validate, UpstreamOverridesNeedANameAndNoDuplicates) {
  ServiceDefaults d;
  d.name = "web";
  d.upstream_config = UpstreamConfiguration{.overrides = {UpstreamConfig{}}};
  EXPECT_EQ(Validate(d).message(), "error in upstream override at index 0: Name is required");
  d.upstream_config->overrides = {UpstreamConfig{.name = "api"}, UpstreamConfig{.name = "api"}};
  EXPECT_EQ(Validate(d).message(), "duplicate upstream override for \"api\"");
}

}  // namespace
}  // namespace gangway::meshcfg
