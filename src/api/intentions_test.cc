// /v1/connect/intentions/... and /v1/agent/connect/authorize in process (TestAgent on a
// SimLoop, with meshcfg's entry checks as the agent wires them): exact upserts land in the
// destination's service-intentions entry, list, check, match, delete and authorize.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "api/testing/test_agent.h"
#include "server/config_entry_checks.h"

namespace gangway::api {
namespace {

using catalog::Json;
using testing::TestAgent;

Json Body(const http::Response& r) { return Json::parse(r.body); }

class IntentionsApi : public ::testing::Test {
 protected:
  IntentionsApi() {
    server::ConfigEntriesOptions co;
    co.datacenter = "dc1";
    agent_.server().ConfigureConfigEntries(co, server::MeshcfgConfigEntryChecks(), {});
  }

  http::Response Put(const std::string& src, const std::string& dst, const std::string& body) {
    return agent_.Do("PUT", "/v1/connect/intentions/exact?source=" + src + "&destination=" + dst,
                     body);
  }

  TestAgent agent_;
};

TEST_F(IntentionsApi, ExactUpsertsIntoTheDestinationsEntry) {
  auto put = Put("web", "api", R"({"SourceType":"consul","Action":"deny"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body, "true");
  ASSERT_EQ(Put("*", "api", R"({"Action":"allow","Description":"all"})").status, 200);

  // One entry for api holds both, exact source first.
  auto entry = agent_.Do("GET", "/v1/config/service-intentions/api");
  ASSERT_EQ(entry.status, 200) << entry.body;
  Json sources = Body(entry)["Sources"];
  ASSERT_EQ(sources.size(), 2u) << entry.body;
  EXPECT_EQ(sources[0]["Name"], "web");
  EXPECT_EQ(sources[0]["Action"], "deny");
  EXPECT_EQ(sources[1]["Name"], "*");

  auto get = agent_.Do("GET", "/v1/connect/intentions/exact?source=web&destination=api");
  ASSERT_EQ(get.status, 200) << get.body;
  Json ixn = Body(get);
  EXPECT_EQ(ixn["SourceName"], "web");
  EXPECT_EQ(ixn["DestinationName"], "api");
  EXPECT_EQ(ixn["SourceNS"], "default");
  EXPECT_EQ(ixn["Action"], "deny");
  EXPECT_EQ(ixn["Precedence"], 9);
  EXPECT_EQ(ixn["SourceType"], "consul");
  EXPECT_GT(ixn["ModifyIndex"].get<uint64_t>(), 0u);

  // Replacing keeps one intention per source.
  ASSERT_EQ(Put("web", "api", R"({"Action":"allow"})").status, 200);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/connect/intentions/exact?source=web&destination=api"))
                ["Action"],
            "allow");
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/config/service-intentions/api"))["Sources"].size(), 2u);

  auto missing = agent_.Do("GET", "/v1/connect/intentions/exact?source=db&destination=api");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "Intention not found");
  auto no_src = agent_.Do("GET", "/v1/connect/intentions/exact?destination=api");
  EXPECT_EQ(no_src.status, 400);
  EXPECT_EQ(no_src.body, "required query parameter 'source' not set");
  // A write the entry's validation refuses stores nothing.
  auto bad = Put("db", "api", R"({"Action":"maybe"})");
  EXPECT_EQ(bad.status, 500) << bad.body;
  EXPECT_EQ(agent_.Do("GET", "/v1/connect/intentions/exact?source=db&destination=api").status,
            404);
}

TEST_F(IntentionsApi, ListCheckAndMatch) {
  ASSERT_EQ(Put("web", "api", R"({"Action":"deny"})").status, 200);
  ASSERT_EQ(Put("*", "api", R"({"Action":"allow"})").status, 200);
  ASSERT_EQ(Put("web", "db", R"({"Action":"allow"})").status, 200);

  Json list = Body(agent_.Do("GET", "/v1/connect/intentions"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["Precedence"], 9);
  EXPECT_EQ(list[2]["SourceName"], "*");
  Json filtered = Body(agent_.Do("GET", "/v1/connect/intentions?filter=DestinationName%20%3D%3D%20db"));
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0]["SourceName"], "web");

  EXPECT_EQ(Body(agent_.Do("GET", "/v1/connect/intentions/check?source=web&destination=api")),
            Json({{"Allowed", false}}));
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/connect/intentions/check?source=db&destination=api")),
            Json({{"Allowed", true}}));
  // Nothing matches: allowed (no ACLs).
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/connect/intentions/check?source=api&destination=web")),
            Json({{"Allowed", true}}));

  Json match = Body(agent_.Do("GET", "/v1/connect/intentions/match?by=destination&name=api"));
  ASSERT_EQ(match["api"].size(), 2u) << match.dump();
  EXPECT_EQ(match["api"][0]["SourceName"], "web");
  EXPECT_EQ(match["api"][1]["SourceName"], "*");
  Json by_source =
      Body(agent_.Do("GET", "/v1/connect/intentions/match?by=source&name=web&name=nobody"));
  EXPECT_EQ(by_source["web"].size(), 3u) << by_source.dump();  // "*" sources match any name
  EXPECT_EQ(by_source["nobody"].size(), 1u);
  auto bad_by = agent_.Do("GET", "/v1/connect/intentions/match?by=both&name=web");
  EXPECT_EQ(bad_by.status, 400);
  EXPECT_EQ(bad_by.body, "'by' parameter must be one of 'source' or 'destination'");
}

TEST_F(IntentionsApi, DeleteRemovesOneSourceAndTheEntryWithItsLast) {
  ASSERT_EQ(Put("web", "api", R"({"Action":"deny"})").status, 200);
  ASSERT_EQ(Put("db", "api", R"({"Action":"allow"})").status, 200);
  auto del = agent_.Do("DELETE", "/v1/connect/intentions/exact?source=web&destination=api");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(agent_.Do("GET", "/v1/connect/intentions/exact?source=web&destination=api").status,
            404);
  EXPECT_EQ(agent_.Do("GET", "/v1/connect/intentions/exact?source=db&destination=api").status,
            200);
  ASSERT_EQ(
      agent_.Do("DELETE", "/v1/connect/intentions/exact?source=db&destination=api").status, 200);
  EXPECT_EQ(agent_.Do("GET", "/v1/config/service-intentions/api").status, 404);
  // Deleting what is not there is not an error.
  EXPECT_EQ(
      agent_.Do("DELETE", "/v1/connect/intentions/exact?source=db&destination=api").status, 200);
}

TEST_F(IntentionsApi, AuthorizeAnswersForACertificatesService) {
  ASSERT_EQ(Put("web", "api", R"({"Action":"deny"})").status, 200);
  const std::string web = "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc2/svc/web";
  auto r = agent_.Do("POST", "/v1/agent/connect/authorize",
                     Json({{"Target", "api"}, {"ClientCertURI", web},
                           {"ClientCertSerial", "04:00"}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["Authorized"], false);
  EXPECT_EQ(Body(r)["Reason"], "Matched L4 intention: web => api (deny)");
  auto other = agent_.Do(
      "POST", "/v1/agent/connect/authorize",
      Json({{"Target", "db"}, {"ClientCertURI", web}}).dump());
  EXPECT_EQ(Body(other)["Authorized"], true);
  EXPECT_EQ(Body(other)["Reason"], "ACLs disabled, access is allowed by default");
  auto agent_uri = agent_.Do(
      "POST", "/v1/agent/connect/authorize",
      Json({{"Target", "api"},
            {"ClientCertURI", "spiffe://1111.consul/agent/client/dc/dc1/id/n1"}})
          .dump());
  EXPECT_EQ(agent_uri.status, 400);
  EXPECT_EQ(agent_.Do("POST", "/v1/agent/connect/authorize",
                      Json({{"Target", "api"}, {"ClientCertURI", "http://x"}}).dump())
                .status,
            400);
}

TEST_F(IntentionsApi, CheckAndAuthorizeAnswerWithTheAgentsDefault) {
  agent_.api().backend().intention_default =
      meshcfg::ResolveIntentionDefault({.policy_allow = false});
  const std::string web =
      "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc2/svc/web";
  auto authorize = [&] {
    return Body(agent_.Do("POST", "/v1/agent/connect/authorize",
                          Json({{"Target", "api"}, {"ClientCertURI", web}}).dump()));
  };
  auto check = [&] {
    return Body(agent_.Do("GET", "/v1/connect/intentions/check?source=web&destination=api"));
  };
  EXPECT_EQ(check(), Json({{"Allowed", false}}));
  EXPECT_EQ(authorize(), Json({{"Authorized", false}, {"Reason", "Default intention policy"}}));

  ASSERT_EQ(Put("web", "api", R"({"Action":"allow"})").status, 200);
  EXPECT_EQ(check(), Json({{"Allowed", true}}));
  EXPECT_EQ(authorize(),
            Json({{"Authorized", true}, {"Reason", "Matched L4 intention: web => api (allow)"}}));

  ASSERT_EQ(agent_.Do("DELETE", "/v1/connect/intentions/exact?source=web&destination=api").status,
            200);
  EXPECT_EQ(check(), Json({{"Allowed", false}}));
}

// A client agent holds no entries: it reads them from a server and answers with its own
// default, which its sidecars enforce, not the server's.
TEST_F(IntentionsApi, AClientAgentAuthorizesWithItsOwnDefault) {
  ASSERT_EQ(Put("db", "api", R"({"Action":"allow"})").status, 200);
  Backend client = agent_.api().backend();
  client.server = nullptr;
  client.intention_default = meshcfg::ResolveIntentionDefault({.policy_allow = false});
  int forwarded = 0;
  client.forward = [this, &forwarded](http::Request req, const std::string& dc,
                                      std::shared_ptr<http::Cancellation> cancel,
                                      http::Reply reply) {
    EXPECT_EQ(dc, "dc1");
    ++forwarded;
    agent_.api().Handle(std::move(req), std::move(cancel), std::move(reply));
  };
  HttpApi api(client);
  auto authorize = [&](const std::string& service) {
    http::Request req;
    req.method = "POST";
    req.target = req.path = "/v1/agent/connect/authorize";
    req.remote_address = "127.0.0.1";
    req.body = Json({{"Target", "api"},
                     {"ClientCertURI", "spiffe://1111.consul/ns/default/dc/dc1/svc/" + service}})
                   .dump();
    std::optional<http::Response> out;
    api.Handle(std::move(req), std::make_shared<http::Cancellation>(),
               [&out](http::Response r) { out = std::move(r); });
    agent_.loop().RunUntil([&] { return out.has_value(); }, std::chrono::seconds(10),
                           std::chrono::milliseconds(10));
    EXPECT_TRUE(out.has_value());
    return out ? Body(*out) : Json();
  };
  EXPECT_EQ(authorize("web"),
            Json({{"Authorized", false}, {"Reason", "Default intention policy"}}));
  EXPECT_EQ(authorize("db"),
            Json({{"Authorized", true}, {"Reason", "Matched L4 intention: db => api (allow)"}}));
  EXPECT_EQ(forwarded, 2);
  // The server itself answers with its own default (allow, no policy set).
  auto r = agent_.Do(
      "POST", "/v1/agent/connect/authorize",
      Json({{"Target", "api"}, {"ClientCertURI", "spiffe://1111.consul/ns/default/dc/dc1/svc/web"}})
          .dump());
  EXPECT_EQ(Body(r)["Authorized"], true);
}

}  // namespace
}  // namespace gangway::api
