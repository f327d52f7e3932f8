#include "catalog/prepared_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gangway::catalog {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

PreparedQuery MustDecode(std::string_view body) {
  auto q = DecodePreparedQuery(body);
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? *q : PreparedQuery{};
}

std::string ValidationError(std::string_view body) {
  Status s = ValidatePreparedQuery(MustDecode(body));
  EXPECT_FALSE(s.ok()) << body;
  return s.message();
}

std::string TemplateError(std::string_view body) {
  Status s = TemplateCheck(MustDecode(body));
  EXPECT_FALSE(s.ok()) << body;
  return s.message();
}

TEST(PreparedQuery, DecodesConsulsObjectAndRendersItBack) {
  PreparedQuery q = MustDecode(R"({"Name": "db", "Session": "", "Token": "t0ken",
      "Service": {"Service": "redis", "Failover": {"NearestN": 3, "Datacenters": ["dc2", "dc3"]},
                  "OnlyPassing": true, "IgnoreCheckIDs": ["c1"], "Near": "_agent",
                  "Tags": ["primary", "!experimental"], "NodeMeta": {"rack": "r1"},
                  "ServiceMeta": {"env": "prod"}, "Connect": true},
      "DNS": {"TTL": "10s"}, "Unknown": 1})");
  EXPECT_EQ(q.name, "db");
  EXPECT_EQ(q.service.failover.nearest_n, 3);
  EXPECT_EQ(q.service.failover.datacenters, (std::vector<std::string>{"dc2", "dc3"}));
  EXPECT_TRUE(q.service.only_passing);
  EXPECT_TRUE(q.service.connect);
  EXPECT_EQ(q.service.node_meta.at("rack"), "r1");
  EXPECT_EQ(q.dns_ttl, "10s");
  Json j = PreparedQueryToJson(q);
  EXPECT_EQ(j["Service"]["Failover"]["Targets"], nullptr);
  EXPECT_EQ(j["Service"]["Tags"], Json({"primary", "!experimental"}));
  EXPECT_EQ(j["Template"], Json({{"Type", ""}, {"Regexp", ""}, {"RemoveEmptyTags", false}}));
  EXPECT_EQ(j["Token"], "t0ken");
  EXPECT_EQ(PreparedQueryToJson(q, /*hide_token=*/true)["Token"], "<hidden>");
  EXPECT_TRUE(ValidatePreparedQuery(q).ok());
  auto back = PreparedQueryFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(PreparedQueryToJson(*back), j);
}

TEST(PreparedQuery, NamesMatchCaseInsensitivelyAsGo) {
  PreparedQuery q = MustDecode(R"({"name": "x", "service": {"service": "web",
      "failover": {"datacenters": ["dc2"]}}, "dns": {"ttl": "1s"}})");
  EXPECT_EQ(q.name, "x");
  EXPECT_EQ(q.service.service, "web");
  EXPECT_EQ(q.service.failover.datacenters, std::vector<std::string>{"dc2"});
  EXPECT_EQ(q.dns_ttl, "1s");
}

TEST(PreparedQuery, BadBodiesAreDecodeFailures) {
  for (std::string_view body : {"", "[1]", "{", R"({"Name": 5})",
                                R"({"Service": {"Failover": {"NearestN": "x"}}})",
                                R"({"Service": {"Failover": {"Targets": {}}}})"}) {
    auto q = DecodePreparedQuery(body);
    ASSERT_FALSE(q.ok()) << body;
    EXPECT_THAT(q.status().message(), StartsWith("Request decode failed: ")) << body;
  }
  auto q = DecodePreparedQuery(R"({"Service": {"Failover": {"NearestN": "x"}}})");
  EXPECT_THAT(q.status().message(), HasSubstr("NearestN"));
}

TEST(PreparedQuery, ValidationTextsInConsulsOrder) {
  EXPECT_EQ(ValidationError(R"({"Service": {"Service": "x"}})"),
            "Invalid prepared query: Must be bound to a session");
  EXPECT_EQ(ValidationError(R"({"Name": "q", "Token": "<hidden>", "Service": {}})"),
            "Invalid prepared query: Bad Token '<hidden>', it looks like a query definition "
            "with a redacted token was submitted");
  EXPECT_EQ(ValidationError(R"({"Name": "q"})"),
            "Invalid prepared query: Must provide a Service name to query");
  EXPECT_EQ(ValidationError(R"({"Name": "q", "Service": {"Service": "x",
      "Failover": {"NearestN": -1}}})"),
            "Invalid prepared query: Bad NearestN '-1', must be >= 0");
  EXPECT_EQ(ValidationError(R"({"Name": "q", "Service": {"Service": "x",
      "Failover": {"Datacenters": ["dc2"], "Targets": [{"Datacenter": "dc3"}]}}})"),
            "Invalid prepared query: Targets cannot be populated with NearestN or Datacenters");
  EXPECT_EQ(ValidationError(R"({"Name": "q", "Service": {"Service": "x"}, "DNS": {"TTL": "soon"}})"),
            "Invalid prepared query: Bad DNS TTL 'soon': time: invalid duration \"soon\"");
  EXPECT_EQ(ValidationError(R"({"Name": "q", "Service": {"Service": "x"}, "DNS": {"TTL": "-1s"}})"),
            "Invalid prepared query: DNS TTL '-1000000000', must be >=0");
  // A session-bound or template query needs no name.
  EXPECT_TRUE(ValidatePreparedQuery(MustDecode(
      R"({"Session": "s", "Service": {"Service": "x"}})")).ok());
  EXPECT_TRUE(ValidatePreparedQuery(MustDecode(
      R"({"Template": {"Type": "name_prefix_match"}, "Service": {"Service": "x"}})")).ok());
}

TEST(PreparedQuery, TemplateRendersConsulsGeoDbExample) {
  PreparedQuery q = MustDecode(R"({"Name": "geo-db",
      "Template": {"Type": "name_prefix_match", "Regexp": "^geo-db-(.*?)-([^\\-]+?)$"},
      "Service": {"Service": "mysql-${match(1)}", "Tags": ["${match(2)}"],
                  "NodeMeta": {"full": "${name.full}", "suffix": "${name.suffix}"},
                  "Near": "${ name.prefix }"}})");
  ASSERT_TRUE(TemplateCheck(q).ok()) << TemplateCheck(q).message();
  auto r = RenderTemplate(q, "geo-db-customer-primary");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->service.service, "mysql-customer");
  EXPECT_EQ(r->service.tags, std::vector<std::string>{"primary"});
  EXPECT_EQ(r->service.node_meta.at("full"), "geo-db-customer-primary");
  EXPECT_EQ(r->service.node_meta.at("suffix"), "-customer-primary");
  EXPECT_EQ(r->service.near, "geo-db");
  // No match: submatches are empty, not errors.
  r = RenderTemplate(q, "geo-db");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->service.service, "mysql-");
}

TEST(PreparedQuery, TemplateEscapesSegmentsAndEmptyTags) {
  PreparedQuery q = MustDecode(R"({"Name": "",
      "Template": {"Type": "name_prefix_match", "RemoveEmptyTags": true},
      "Service": {"Service": "${name.full}", "Tags": ["${agent.segment}", "$${literal}"]}})");
  auto r = RenderTemplate(q, "web", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->service.service, "web");
  EXPECT_EQ(r->service.tags, std::vector<std::string>{"${literal}"});
  r = RenderTemplate(q, "web", "seg-a");
  EXPECT_EQ(r->service.tags, (std::vector<std::string>{"seg-a", "${literal}"}));
}

TEST(PreparedQuery, TemplateErrorsNameTheFieldAndWhy) {
  EXPECT_EQ(TemplateError(R"({"Template": {"Type": "prefix"}, "Service": {"Service": "x"}})"),
            "Bad Template.Type 'prefix'");
  EXPECT_THAT(TemplateError(R"({"Template": {"Type": "name_prefix_match"},
      "Service": {"Service": "x", "Tags": ["ok", "${name.full"]}})"),
              StartsWith("Bad format '${name.full' in Service.Tags[1]: unterminated '${'"));
  EXPECT_THAT(TemplateError(R"({"Template": {"Type": "name_prefix_match", "Regexp": "(["},
      "Service": {"Service": "x"}})"),
              StartsWith("Bad Regexp: error parsing regexp: "));
  EXPECT_EQ(TemplateError(R"({"Template": {"Type": "name_prefix_match"},
      "Service": {"Service": "${nope.x}"}})"),
            "Bad evaluation for '${nope.x}' in Service.Service: unknown variable accessed: nope.x");
  EXPECT_EQ(TemplateError(R"({"Template": {"Type": "name_prefix_match"},
      "Service": {"Service": "x", "NodeMeta": {"k": "${upper(1)}"}}})"),
            "Bad evaluation for '${upper(1)}' in Service.NodeMeta[k]: unknown function called: "
            "upper");
  EXPECT_THAT(TemplateError(R"({"Template": {"Type": "name_prefix_match"},
      "Service": {"Service": "${match(x)}"}})"),
              HasSubstr("the argument of match() must be an integer"));
  // Not a template: nothing to check.
  EXPECT_TRUE(TemplateCheck(MustDecode(R"({"Name": "q", "Service": {"Service": "${x"}})")).ok());
}

TEST(PreparedQuery, ResolutionByIdThenNameThenLongestTemplatePrefix) {
  std::vector<PreparedQuery> qs(4);
  qs[0].id = "8f246b77-f3e1-ff88-5b48-8ec93abf3e05";
  qs[0].name = "db";
  qs[1].id = "11111111-2222-3333-4444-555555555555";
  qs[1].name = "";
  qs[1].tmpl.type = "name_prefix_match";  // the catch-all
  qs[2].id = "22222222-2222-3333-4444-555555555555";
  qs[2].name = "geo";
  qs[2].tmpl.type = "name_prefix_match";
  qs[3].id = "33333333-2222-3333-4444-555555555555";
  qs[3].name = "geo-db";
  qs[3].tmpl.type = "name_prefix_match";
  EXPECT_EQ(ResolvePreparedQuery(qs, "8f246b77-f3e1-ff88-5b48-8ec93abf3e05"), &qs[0]);
  EXPECT_EQ(ResolvePreparedQuery(qs, "db"), &qs[0]);
  EXPECT_EQ(ResolvePreparedQuery(qs, "geo-db-east"), &qs[3]);
  EXPECT_EQ(ResolvePreparedQuery(qs, "geo-web"), &qs[2]);
  EXPECT_EQ(ResolvePreparedQuery(qs, "web"), &qs[1]);
  EXPECT_EQ(ResolvePreparedQuery(qs, ""), nullptr);
  qs.erase(qs.begin() + 1);
  EXPECT_EQ(ResolvePreparedQuery(qs, "web"), nullptr);
}

TEST(PreparedQuery, TagsRequiredAndForbiddenIgnoringCase) {
  EXPECT_TRUE(TagsMatch({"Primary", "v1"}, {"primary", "!experimental"}));
  EXPECT_FALSE(TagsMatch({"primary", "EXPERIMENTAL"}, {"primary", "!experimental"}));
  EXPECT_FALSE(TagsMatch({"v1"}, {"primary"}));
  EXPECT_TRUE(TagsMatch({}, {}));
}

}  // namespace
}  // namespace gangway::catalog
