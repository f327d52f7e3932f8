// /v1/query in process (TestAgent on a SimLoop): create, read, update, delete with Consul's
// texts; execute with its filters, templates and limit; explain; session-bound queries; and,
// with ACLs, query rules, token redaction and a stored token deciding what execute shows.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using catalog::Json;
using testing::TestAgent;

Json Body(const http::Response& r) { return Json::parse(r.body, nullptr, false); }

class PreparedQueryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_.server().DevLeadershipAcquired();
    Register("n1", "10.0.0.1", "redis-1", {"primary", "v1"}, "passing");
    Register("n2", "10.0.0.2", "redis-2", {"replica"}, "passing");
    Register("n3", "10.0.0.3", "redis-3", {"primary", "experimental"}, "warning");
    Register("n4", "10.0.0.4", "redis-4", {"primary"}, "critical");
  }
  void Register(const std::string& node, const std::string& addr, const std::string& id,
                std::vector<std::string> tags, const std::string& status) {
    Json body = {{"Node", node},
                 {"Address", addr},
                 {"NodeMeta", {{"rack", node == "n1" ? "r1" : "r2"}}},
                 {"Service", {{"ID", id}, {"Service", "redis"}, {"Tags", tags}, {"Port", 6379}}},
                 {"Check", {{"CheckID", "c-" + id}, {"Name", "c"}, {"Status", status},
                            {"ServiceID", id}}}};
    auto r = agent_.Do("PUT", "/v1/catalog/register", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::string Create(const Json& q) {
    auto r = agent_.Do("POST", "/v1/query", q.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? Body(r)["ID"].get<std::string>() : "";
  }
  std::set<std::string> Nodes(const Json& answer) {
    std::set<std::string> out;
    for (const auto& n : answer["Nodes"]) out.insert(n["Node"]["Node"].get<std::string>());
    return out;
  }
  TestAgent agent_;
};

TEST_F(PreparedQueryApiTest, CreateReadUpdateDeleteWithConsulsTexts) {
  std::string id = Create({{"Name", "db"}, {"Service", {{"Service", "redis"}}},
                           {"DNS", {{"TTL", "10s"}}}});
  auto got = agent_.Do("GET", "/v1/query/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  Json list = Body(got);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["Name"], "db");
  EXPECT_EQ(list[0]["DNS"]["TTL"], "10s");
  EXPECT_GT(list[0]["CreateIndex"].get<uint64_t>(), 0u);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query")).size(), 1u);

  auto up = agent_.Do("PUT", "/v1/query/" + id,
                      R"({"Name": "db", "Service": {"Service": "redis", "OnlyPassing": true}})");
  EXPECT_EQ(up.status, 200) << up.body;
  EXPECT_TRUE(Body(agent_.Do("GET", "/v1/query/" + id))[0]["Service"]["OnlyPassing"]);

  auto with_id = agent_.Do("POST", "/v1/query", R"({"ID": "x", "Service": {"Service": "a"}})");
  EXPECT_EQ(with_id.status, 500);
  EXPECT_EQ(with_id.body, "ID must be empty when creating a new prepared query");
  auto dup = agent_.Do("POST", "/v1/query", R"({"Name": "db", "Service": {"Service": "a"}})");
  EXPECT_EQ(dup.status, 500);
  EXPECT_EQ(dup.body, "name 'db' aliases an existing query name");
  auto unbound = agent_.Do("POST", "/v1/query", R"({"Service": {"Service": "a"}})");
  EXPECT_EQ(unbound.body, "Invalid prepared query: Must be bound to a session");
  auto bad = agent_.Do("POST", "/v1/query", "{nope");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.rfind("Request decode failed: ", 0), 0u) << bad.body;
  auto missing = agent_.Do("PUT", "/v1/query/00000000-0000-0000-0000-000000000000",
                           R"({"Name": "x", "Service": {"Service": "a"}})");
  EXPECT_EQ(missing.body,
            "Cannot modify non-existent prepared query: '00000000-0000-0000-0000-000000000000'");
  EXPECT_EQ(agent_.Do("GET", "/v1/query/nope").status, 404);
  EXPECT_EQ(agent_.Do("GET", "/v1/query/nope").body, "Query not found");
  EXPECT_EQ(agent_.Do("GET", "/v1/query/nope/execute").body, "Query not found");

  EXPECT_EQ(agent_.Do("DELETE", "/v1/query/" + id).status, 200);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query")), Json::array());
  EXPECT_EQ(agent_.Do("PUT", "/v1/query", "{}").status, 405);
}

TEST_F(PreparedQueryApiTest, ExecuteFiltersHealthTagsAndMetaThenLimits) {
  Create({{"Name", "all"}, {"Service", {{"Service", "redis"}}}, {"DNS", {{"TTL", "7s"}}}});
  Json all = Body(agent_.Do("GET", "/v1/query/all/execute"));
  EXPECT_EQ(Nodes(all), (std::set<std::string>{"n1", "n2", "n3"}));  // critical n4 left out
  EXPECT_EQ(all["Service"], "redis");
  EXPECT_EQ(all["Datacenter"], "dc1");
  EXPECT_EQ(all["Failovers"], 0);
  EXPECT_EQ(all["DNS"]["TTL"], "7s");
  EXPECT_EQ(all["Nodes"][0]["Service"]["Port"], 6379);

  Create({{"Name", "passing"}, {"Service", {{"Service", "redis"}, {"OnlyPassing", true}}}});
  EXPECT_EQ(Nodes(Body(agent_.Do("GET", "/v1/query/passing/execute"))),
            (std::set<std::string>{"n1", "n2"}));
  Create({{"Name", "tags"},
          {"Service", {{"Service", "redis"}, {"Tags", {"PRIMARY", "!experimental"}}}}});
  EXPECT_EQ(Nodes(Body(agent_.Do("GET", "/v1/query/tags/execute"))), std::set<std::string>{"n1"});
  Create({{"Name", "meta"}, {"Service", {{"Service", "redis"}, {"NodeMeta", {{"rack", "r2"}}}}}});
  EXPECT_EQ(Nodes(Body(agent_.Do("GET", "/v1/query/meta/execute"))),
            (std::set<std::string>{"n2", "n3"}));
  Create({{"Name", "ignore"},
          {"Service", {{"Service", "redis"}, {"IgnoreCheckIDs", {"c-redis-4"}}}}});
  EXPECT_EQ(Nodes(Body(agent_.Do("GET", "/v1/query/ignore/execute"))).size(), 4u);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query/all/execute?limit=1"))["Nodes"].size(), 1u);
  auto bad_limit = agent_.Do("GET", "/v1/query/all/execute?limit=x");
  EXPECT_EQ(bad_limit.status, 500);
  EXPECT_EQ(bad_limit.body.rfind("Bad limit: ", 0), 0u);
  // Near a node: it comes first.
  for (int i = 0; i < 10; ++i) {
    Json near = Body(agent_.Do("GET", "/v1/query/all/execute?near=n2"));
    EXPECT_EQ(near["Nodes"][0]["Node"]["Node"], "n2");
  }
  // No instance and no failover: an empty list, not an error.
  Create({{"Name", "none"}, {"Service", {{"Service", "nothing"}}}});
  Json none = Body(agent_.Do("GET", "/v1/query/none/execute"));
  EXPECT_EQ(none["Nodes"], Json::array());
  EXPECT_EQ(none["Failovers"], 0);
}

TEST_F(PreparedQueryApiTest, TemplatesRenderForTheNameAskedAndExplainShowsIt) {
  Create({{"Name", "geo-"},
          {"Template", {{"Type", "name_prefix_match"}, {"Regexp", "^geo-(.*)-([a-z]+)$"}}},
          {"Service", {{"Service", "${match(1)}"}, {"Tags", {"${match(2)}"}}}}});
  Json r = Body(agent_.Do("GET", "/v1/query/geo-redis-replica/execute"));
  EXPECT_EQ(r["Service"], "redis");
  EXPECT_EQ(Nodes(r), std::set<std::string>{"n2"});
  Json explain = Body(agent_.Do("GET", "/v1/query/geo-redis-primary/explain"));
  EXPECT_EQ(explain["Query"]["Service"]["Service"], "redis");
  EXPECT_EQ(explain["Query"]["Service"]["Tags"], Json::array({"primary"}));
  auto bad = agent_.Do("POST", "/v1/query",
                       R"({"Name": "t", "Template": {"Type": "name_prefix_match"},
                           "Service": {"Service": "${oops}"}})");
  EXPECT_EQ(bad.status, 500);
  EXPECT_EQ(bad.body,
            "Bad evaluation for '${oops}' in Service.Service: unknown variable accessed: oops");
}

TEST_F(PreparedQueryApiTest, ASessionBoundQueryGoesWithItsSession) {
  auto s = agent_.Do("PUT", "/v1/session/create", R"({"Node": "n1", "NodeChecks": []})");
  ASSERT_EQ(s.status, 200) << s.body;
  std::string sid = Body(s)["ID"];
  std::string id = Create({{"Session", sid}, {"Service", {{"Service", "redis"}}}});
  EXPECT_EQ(Nodes(Body(agent_.Do("GET", "/v1/query/" + id + "/execute"))).size(), 3u);
  ASSERT_EQ(agent_.Do("PUT", "/v1/session/destroy/" + sid).status, 200);
  EXPECT_EQ(agent_.Do("GET", "/v1/query/" + id).status, 404);
  auto unknown = agent_.Do("POST", "/v1/query",
                           R"({"Session": "nope", "Service": {"Service": "redis"}})");
  EXPECT_EQ(unknown.body, "invalid session \"nope\"");
}

}  // namespace
}  // namespace gangway::api
