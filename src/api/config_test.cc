// /v1/config in process (TestAgent on a SimLoop): writes with and without cas, reads and their
// errors, blocking reads, bad bodies that store nothing, and a secondary that forwards writes to
// the primary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using namespace std::chrono_literals;
using catalog::Json;
using testing::TestAgent;

std::string Header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

Json Body(const http::Response& r) { return Json::parse(r.body); }

TEST(ConfigApi, WriteReadListDelete) {
  TestAgent agent;
  auto put = agent.Do("PUT", "/v1/config",
                      R"({"Kind":"service-defaults","Name":"web","Protocol":"http"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body, "true");
  ASSERT_EQ(agent.Do("PUT", "/v1/config", R"({"kind":"service-defaults","name":"api"})").status,
            200);

  auto get = agent.Do("GET", "/v1/config/service-defaults/web");
  ASSERT_EQ(get.status, 200) << get.body;
  Json web = Body(get);
  EXPECT_EQ(web["Kind"], "service-defaults");
  EXPECT_EQ(web["Name"], "web");
  EXPECT_EQ(web["Protocol"], "http");
  EXPECT_GT(web["ModifyIndex"].get<uint64_t>(), 0u);
  EXPECT_FALSE(Header(get, "X-Consul-Index").empty());

  auto list = agent.Do("GET", "/v1/config/service-defaults");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(Body(list).size(), 2u) << list.body;
  EXPECT_EQ(Body(list)[0]["Name"], "api");
  EXPECT_EQ(Body(agent.Do("GET", "/v1/config/service-router")), Json::array());
  EXPECT_EQ(Body(agent.Do("GET", "/v1/config/service-defaults?filter=Name%20%3D%3D%20web")).size(),
            1u);

  auto missing = agent.Do("GET", "/v1/config/service-router/web");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, R"(Config entry not found for "service-router" / "web")");
  auto bad_kind = agent.Do("GET", "/v1/config/service-route/web");
  EXPECT_EQ(bad_kind.status, 500);
  EXPECT_EQ(bad_kind.body, "invalid config entry kind: service-route");

  auto del = agent.Do("DELETE", "/v1/config/service-defaults/web");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.body, "{}");
  EXPECT_EQ(agent.Do("GET", "/v1/config/service-defaults/web").status, 404);
  EXPECT_EQ(agent.Do("DELETE", "/v1/config/service-defaults").status, 404);
}

TEST(ConfigApi, CheckAndSet) {
  TestAgent agent;
  const std::string body =
      R"({"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"http"}})";
  EXPECT_EQ(agent.Do("PUT", "/v1/config?cas=0", body).body, "true");  // absent: created
  EXPECT_EQ(agent.Do("PUT", "/v1/config?cas=0", body).body, "false");
  uint64_t index = Body(agent.Do("GET", "/v1/config/proxy-defaults/global"))["ModifyIndex"];
  EXPECT_EQ(agent.Do("PUT", "/v1/config?cas=" + std::to_string(index + 7), body).body, "false");
  EXPECT_EQ(agent.Do("PUT", "/v1/config?cas=" + std::to_string(index), body).body, "true");
  EXPECT_EQ(agent.Do("PUT", "/v1/config?cas=x", body).status, 400);

  index = Body(agent.Do("GET", "/v1/config/proxy-defaults/global"))["ModifyIndex"];
  EXPECT_EQ(agent.Do("DELETE", "/v1/config/proxy-defaults/global?cas=1").body, "false");
  EXPECT_EQ(agent.Do("GET", "/v1/config/proxy-defaults/global").status, 200);
  EXPECT_EQ(
      agent.Do("DELETE", "/v1/config/proxy-defaults/global?cas=" + std::to_string(index)).body,
      "true");
  EXPECT_EQ(agent.Do("GET", "/v1/config/proxy-defaults/global").status, 404);
}

TEST(ConfigApi, BadBodiesAreRefusedAndStoreNothing) {
  TestAgent agent;
  uint64_t before = agent.server().store().LastIndex();
  struct Case {
    std::string body;
    int status;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"", 400, "Request decoding failed: EOF"},
      {R"({"Name":"web"})", 400,
       "Request decoding failed: Payload does not contain a kind/Kind key at the top level"},
      {R"({"Kind":"service-route","Name":"web"})", 400,
       "Request decoding failed: invalid config entry kind: service-route"},
      {R"({"Kind":"proxy-defaults","Name":"x"})", 500,
       "invalid name (\"x\"), only \"global\" is supported"},
      {R"({"Kind":"service-defaults"})", 500, "Name is required"},
  };
  for (const Case& c : cases) {
    auto r = agent.Do("PUT", "/v1/config", c.body);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_EQ(r.body, c.text) << c.body;
  }
  auto not_json = agent.Do("PUT", "/v1/config", "{\"Kind\":");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_TRUE(not_json.body.starts_with("Request decoding failed: ")) << not_json.body;
  EXPECT_EQ(agent.server().store().LastIndex(), before);
  EXPECT_EQ(Body(agent.Do("GET", "/v1/internal/config-entries")), Json::array());
  EXPECT_EQ(agent.Do("DELETE", "/v1/config/bogus/x").body, "invalid config entry kind: bogus");
}

TEST(ConfigApi, BlockingReadsWakeOnAWrite) {
  TestAgent agent;
  ASSERT_EQ(agent.Do("PUT", "/v1/config", R"({"Kind":"service-resolver","Name":"web"})").status,
            200);
  auto first = agent.Do("GET", "/v1/config/service-resolver/web");
  const std::string index = Header(first, "X-Consul-Index");
  ASSERT_FALSE(index.empty());
  auto one = agent.Send("GET", "/v1/config/service-resolver/web?index=" + index + "&wait=60s");
  auto kind = agent.Send("GET", "/v1/config/service-resolver?index=" + index + "&wait=60s");
  auto all = agent.Send("GET", "/v1/internal/config-entries?index=" + index + "&wait=60s");
  auto other = agent.Send("GET", "/v1/config/service-router?index=" + index + "&wait=60s");
  agent.loop().RunFor(5s);
  EXPECT_FALSE(one->response.has_value());
  EXPECT_FALSE(all->response.has_value());
  ASSERT_EQ(agent
                .Do("PUT", "/v1/config",
                    R"({"Kind":"service-resolver","Name":"web","ConnectTimeout":"5s"})")
                .status,
            200);
  agent.loop().RunPending();
  ASSERT_TRUE(one->response.has_value());
  EXPECT_EQ(one->response->status, 200);
  EXPECT_EQ(Body(*one->response)["ConnectTimeout"], "5s");
  EXPECT_GT(std::stoull(Header(*one->response, "X-Consul-Index")), std::stoull(index));
  ASSERT_TRUE(kind->response.has_value());
  ASSERT_TRUE(all->response.has_value());
  EXPECT_EQ(Body(*all->response).size(), 1u);
  // Another kind's list does not wake for it.
  EXPECT_FALSE(other->response.has_value());
}

TEST(ConfigApi, ASecondaryForwardsWritesToThePrimary) {
  TestAgent agent;  // dc1, made a secondary of dc0 here
  server::ConfigEntriesOptions co;
  co.datacenter = "dc1";
  co.primary_datacenter = "dc0";
  agent.server().ConfigureConfigEntries(co, server::BuiltinConfigEntryChecks(), {});
  std::vector<std::pair<std::string, http::Request>> forwarded;
  agent.api().backend().forward = [&](http::Request req, const std::string& dc,
                                      std::shared_ptr<http::Cancellation>, http::Reply reply) {
    forwarded.emplace_back(dc, req);
    reply(http::Response::Json(200, "true"));
  };
  auto r =
      agent.Do("PUT", "/v1/config?cas=5&dc=dc1", R"({"Kind":"service-defaults","Name":"web"})");
  EXPECT_EQ(r.body, "true");
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].first, "dc0");
  EXPECT_EQ(forwarded[0].second.target, "/v1/config?cas=5&dc=dc0");
  EXPECT_EQ(forwarded[0].second.body, R"({"Kind":"service-defaults","Name":"web"})");
  // Nothing is written here; a bad body is refused here and not forwarded.
  EXPECT_EQ(agent.Do("GET", "/v1/config/service-defaults/web").status, 404);
  EXPECT_EQ(agent.Do("PUT", "/v1/config", R"({"Name":"web"})").status, 400);
  EXPECT_EQ(forwarded.size(), 1u);
  agent.Do("DELETE", "/v1/config/service-defaults/web");
  ASSERT_EQ(forwarded.size(), 2u);
  EXPECT_EQ(forwarded[1].second.target, "/v1/config/service-defaults/web?dc=dc0");
}

}  // namespace
}  // namespace gangway::api
