// The HTTP API in process (TestAgent on a SimLoop): registrations through the agent endpoints
// reach the catalog and health endpoints, and blocking queries wake on change or time out on
// simulated time.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "api/testing/test_agent.h"
#include "catalog/types.h"
#include "proxy/config/json.h"
#include "proxycfg/manager.h"
#include "proxycfg/testing/fake_sources.h"

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

// Waiters of one blocking query share one parked read and get one answer between them.
TEST(ApiInProcess, IdenticalBlockingQueriesShareOneParkedRead) {
  TestAgent agent;
  ASSERT_EQ(agent.Do("PUT", "/v1/kv/shared", "a").status, 200);
  auto first = agent.Do("GET", "/v1/kv/shared");
  const std::string index = Header(first, "X-Consul-Index");
  const size_t watches = agent.server().store().WatchCount();
  const std::string target = "/v1/kv/shared?index=" + index + "&wait=60s";

  std::vector<std::shared_ptr<TestAgent::Pending>> waiters;
  for (int i = 0; i < 5; ++i) waiters.push_back(agent.Send("GET", target));
  agent.loop().RunFor(1s);
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 1u);
  EXPECT_EQ(SharedWaitMembers(agent.api().backend()), 5u);
  EXPECT_EQ(agent.server().store().WatchCount(), watches + 1);  // one read parked, not five

  // A request with another index is not merged: it is answered at once, from the store.
  ASSERT_NE(index, "1");
  auto older = agent.Send("GET", "/v1/kv/shared?index=1&wait=60s");
  agent.loop().RunPending();
  ASSERT_TRUE(older->response.has_value());
  EXPECT_EQ(Header(*older->response, "X-Consul-Index"), index);
  // Nor is one with another token.
  auto with_token = std::make_shared<TestAgent::Pending>();
  {
    http::Request req;
    req.method = "GET";
    req.target = target;
    http::Request::ParseTarget(req.target, &req.path, &req.query);
    req.headers["X-Consul-Token"] = "t";
    agent.api().Handle(std::move(req), with_token->cancel,
                       [with_token](http::Response r) { with_token->response = std::move(r); });
  }
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 2u);
  // A member that hangs up leaves the group; the others stay.
  waiters[4]->cancel->on_cancel();
  EXPECT_EQ(SharedWaitMembers(agent.api().backend()), 5u);  // four + the token's one

  ASSERT_EQ(agent.Do("PUT", "/v1/kv/shared", "b").status, 200);
  agent.loop().RunPending();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(waiters[i]->response.has_value()) << i;
    const auto& r = *waiters[i]->response;
    EXPECT_EQ(r.status, 200);
    EXPECT_GT(std::stoull(Header(r, "X-Consul-Index")), std::stoull(index));
    EXPECT_EQ(Header(r, "X-Consul-Index"), Header(*waiters[0]->response, "X-Consul-Index"));
    EXPECT_EQ(r.body, waiters[0]->response->body);
    EXPECT_EQ(Body(r)[0]["Value"], "Yg==");  // base64 of "b"
  }
  EXPECT_FALSE(waiters[4]->response.has_value());
  ASSERT_TRUE(with_token->response.has_value());
  EXPECT_EQ(with_token->response->Body(), waiters[0]->response->body);
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 0u);
  EXPECT_EQ(agent.server().store().WatchCount(), watches);

  // Arriving after the answer with the old index: a fresh read, not the spent group.
  auto late = agent.Send("GET", target);
  agent.loop().RunPending();
  ASSERT_TRUE(late->response.has_value());
  EXPECT_EQ(Header(*late->response, "X-Consul-Index"),
            Header(*waiters[0]->response, "X-Consul-Index"));
}

TEST(ApiInProcess, LastSharedWaiterToLeaveReleasesTheParkedRead) {
  TestAgent agent;
  ASSERT_EQ(agent.Do("PUT", "/v1/kv/k", "a").status, 200);
  const std::string index = Header(agent.Do("GET", "/v1/kv/k"), "X-Consul-Index");
  const size_t watches = agent.server().store().WatchCount();
  auto a = agent.Send("GET", "/v1/kv/k?index=" + index);
  auto b = agent.Send("GET", "/v1/kv/k?index=" + index);
  agent.loop().RunPending();
  EXPECT_EQ(agent.server().store().WatchCount(), watches + 1);
  a->cancel->on_cancel();
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 1u);
  b->cancel->on_cancel();
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 0u);
  EXPECT_EQ(agent.server().store().WatchCount(), watches);
  ASSERT_EQ(agent.Do("PUT", "/v1/kv/k", "b").status, 200);
  agent.loop().RunPending();
  EXPECT_FALSE(a->response.has_value());
  EXPECT_FALSE(b->response.has_value());
  // ?consistent reads each park their own.
  const std::string index2 = Header(agent.Do("GET", "/v1/kv/k"), "X-Consul-Index");
  auto c1 = agent.Send("GET", "/v1/kv/k?consistent&index=" + index2);
  auto c2 = agent.Send("GET", "/v1/kv/k?consistent&index=" + index2);
  agent.loop().RunPending();
  EXPECT_FALSE(c1->response.has_value());
  EXPECT_EQ(agent.server().store().WatchCount(), watches + 2);
  EXPECT_EQ(SharedWaitCount(agent.api().backend()), 0u);
}

TEST(ApiInProcess, ServiceDumpListsOneKindAndBlocks) {
  TestAgent agent;
  ASSERT_EQ(agent.Do("PUT", "/v1/agent/service/register",
                     R"({"Name":"mesh-gateway","Kind":"mesh-gateway","Port":8443})")
                .status,
            200);
  ASSERT_EQ(agent.Do("PUT", "/v1/agent/service/register", R"({"Name":"web","Port":80})").status,
            200);
  auto r = agent.Do("GET", "/v1/internal/service-dump?kind=mesh-gateway");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Body(r).size(), 1u) << r.body;
  EXPECT_EQ(Body(r)[0]["Service"]["Service"], "mesh-gateway");
  EXPECT_TRUE(Body(r)[0]["Checks"].is_array());
  EXPECT_EQ(agent.Do("GET", "/v1/internal/service-dump").status, 400);

  auto blocked = agent.Send("GET", "/v1/internal/service-dump?kind=mesh-gateway&index=" +
                                       Header(r, "X-Consul-Index") + "&wait=60s");
  agent.loop().RunFor(5s);
  EXPECT_FALSE(blocked->response.has_value());
  ASSERT_EQ(agent.Do("PUT", "/v1/agent/service/register",
                     R"({"Name":"gw2","Kind":"mesh-gateway","Port":8444})")
                .status,
            200);
  agent.loop().RunPending();
  ASSERT_TRUE(blocked->response.has_value());
  EXPECT_EQ(Body(*blocked->response).size(), 2u);
}

// The proxy config endpoint over a Manager fed by a test's answers.
class ProxyEndpointTest : public ::testing::Test {
 protected:
  ProxyEndpointTest() : sources_(agent_.loop()) {
    proxycfg::ManagerOptions o;
    o.node = "test";
    o.datacenter = "dc1";
    o.first_version = 500;
    manager_ = std::make_unique<proxycfg::Manager>(agent_.loop(), sources_, o);
    agent_.api().backend().proxies = manager_.get();
    proxycfg::LocalProxy gw;
    gw.service.kind = "mesh-gateway";
    gw.service.id = "gw";
    gw.service.service = "mesh-gateway";
    gw.service.port = 8443;
    manager_->Sync({gw});
    agent_.loop().RunPending();
  }

  // Everything the gateway needs for its first config.
  void AnswerAll() {
    sources_.Answer("roots", proxycfg::Roots{"td.consul", {"-----BEGIN CERTIFICATE-----\nx\n"
                                                           "-----END CERTIFICATE-----\n"}});
    sources_.Answer("dcs", std::vector<std::string>{"dc1"});
    for (const char* kind : {"connect-proxy", "mesh-gateway", "mesh-gateway-upstream"}) {
      sources_.Answer(std::string("dump:") + kind + "@dc1", std::vector<catalog::CheckServiceNode>{});
    }
  }

  TestAgent agent_;
  proxycfg::testing::FakeSources sources_;
  std::unique_ptr<proxycfg::Manager> manager_;
};

TEST_F(ProxyEndpointTest, WaitsForTheFirstConfigThenBlocksOnItsVersion) {
  EXPECT_EQ(agent_.Do("GET", "/v1/agent/connect/proxy/nope").body,
            "unknown proxy service ID: nope");
  auto first = agent_.Send("GET", "/v1/agent/connect/proxy/gw");
  agent_.loop().RunFor(30s);
  EXPECT_FALSE(first->response.has_value());  // no config yet: it waits
  AnswerAll();
  ASSERT_TRUE(first->response.has_value());
  ASSERT_EQ(first->response->status, 200) << first->response->body;
  EXPECT_EQ(Header(*first->response, "X-Consul-Index"), "500");
  auto config = proxy::DecodeConfig(first->response->body);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->version, 500u);

  auto next = agent_.Send("GET", "/v1/agent/connect/proxy/gw?index=500&wait=60s");
  agent_.loop().RunFor(10s);
  EXPECT_FALSE(next->response.has_value());
  sources_.Answer("dcs", std::vector<std::string>{"dc1", "dc2"});
  ASSERT_TRUE(next->response.has_value());
  EXPECT_EQ(Header(*next->response, "X-Consul-Index"), "501");

  // Without a change the wait ends with the same version.
  auto same = agent_.Send("GET", "/v1/agent/connect/proxy/gw?index=501&wait=10s");
  agent_.loop().RunFor(11s);
  ASSERT_TRUE(same->response.has_value());
  EXPECT_EQ(same->response->status, 200);
  EXPECT_EQ(Header(*same->response, "X-Consul-Index"), "501");
}

TEST_F(ProxyEndpointTest, NoConfigWhenTheWaitEndsOrTheCompileFails) {
  auto r = agent_.Do("GET", "/v1/agent/connect/proxy/gw?wait=5s");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("waiting for the CA roots"), std::string::npos) << r.body;

  proxycfg::LocalProxy bad;
  bad.service.kind = "mesh-gateway";
  bad.service.id = "gw";
  bad.service.service = "mesh-gateway";
  bad.service.port = 8443;
  bad.service.proxy.emplace();
  bad.service.proxy->config = {{"envoy_gateway_bind_addresses", {{"x", {{"Port", "no"}}}}}};
  manager_->Sync({bad});
  AnswerAll();
  r = agent_.Do("GET", "/v1/agent/connect/proxy/gw");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("envoy_gateway_bind_addresses.x"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace gangway::api
