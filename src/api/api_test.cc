// The HTTP API in process (TestAgent on a SimLoop): registrations through the agent endpoints
// reach the catalog and health endpoints, and blocking queries wake on change or time out on
// simulated time.
#include <gtest/gtest.h>

#include <string>

#include "api/testing/test_agent.h"
#include "catalog/types.h"

namespace gangway::api {
namespace {

using namespace std::chrono_literals;
using testing::TestAgent;

std::string Header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

catalog::Json Body(const http::Response& r) { return catalog::Json::parse(r.body); }

TEST(ApiInProcess, RegisteredServiceShowsInCatalogAndHealth) {
  TestAgent agent;
  auto r = agent.Do("PUT", "/v1/agent/service/register",
                    R"({"Name":"web","Port":8080,"Check":{"TTL":"30s"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto nodes = agent.Do("GET", "/v1/catalog/service/web");
  ASSERT_EQ(nodes.status, 200) << nodes.body;
  ASSERT_EQ(Body(nodes).size(), 1u) << nodes.body;
  EXPECT_EQ(Body(nodes)[0]["ServicePort"], 8080);
  EXPECT_EQ(Body(agent.Do("GET", "/v1/health/service/web?passing")).size(), 0u);

  ASSERT_EQ(agent.Do("PUT", "/v1/agent/check/pass/service:web").status, 200);
  auto healthy = agent.Do("GET", "/v1/health/service/web?passing");
  ASSERT_EQ(Body(healthy).size(), 1u) << healthy.body;

  // The TTL runs out on simulated time.
  agent.loop().RunFor(31s);
  EXPECT_EQ(Body(agent.Do("GET", "/v1/health/service/web?passing")).size(), 0u);
}

TEST(ApiInProcess, BlockingQueryWakesOnChange) {
  TestAgent agent;
  auto first = agent.Do("GET", "/v1/catalog/services");
  ASSERT_EQ(first.status, 200);
  const std::string index = Header(first, "X-Consul-Index");
  ASSERT_FALSE(index.empty());

  auto blocked = agent.Send("GET", "/v1/catalog/services?index=" + index + "&wait=60s");
  agent.loop().RunFor(10s);
  EXPECT_FALSE(blocked->response.has_value());
  ASSERT_EQ(agent.Do("PUT", "/v1/agent/service/register", R"({"Name":"db"})").status, 200);
  agent.loop().RunPending();
  ASSERT_TRUE(blocked->response.has_value());
  EXPECT_TRUE(Body(*blocked->response).contains("db")) << blocked->response->body;
  EXPECT_GT(std::stoull(Header(*blocked->response, "X-Consul-Index")), std::stoull(index));
}

TEST(ApiInProcess, BlockingQueryReturnsAfterTheWaitWithTheSameIndex) {
  TestAgent agent;
  auto first = agent.Do("GET", "/v1/catalog/services");
  const std::string index = Header(first, "X-Consul-Index");
  const auto start = agent.loop().Now();
  auto blocked = agent.Send("GET", "/v1/catalog/services?index=" + index + "&wait=16s");
  agent.loop().RunFor(15s);
  EXPECT_FALSE(blocked->response.has_value());
  agent.loop().RunFor(2s);  // wait plus at most wait/16 of jitter
  ASSERT_TRUE(blocked->response.has_value());
  EXPECT_EQ(Header(*blocked->response, "X-Consul-Index"), index);
  EXPECT_LE(agent.loop().Now() - start, 17s);
}

}  // namespace
}  // namespace gangway::api
