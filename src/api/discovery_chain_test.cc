// /v1/discovery-chain in process (TestAgent on a SimLoop with its Connect CA): the default chain,
// one shaped by config entries, POST overrides, compile errors and blocking on the entries.
#include <gtest/gtest.h>

#include <string>

#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using namespace std::chrono_literals;
using catalog::Json;
using testing::TestAgent;

// Starts the agent's CA as a dev server's leadership does, and waits for its roots.
std::string StartCA(TestAgent& agent) {
  server::ConnectCAOptions options;
  options.datacenter = "dc1";
  agent.server().EnableConnectCA(options, {});
  agent.server().connect_ca()->OnLeadership(true);
  std::string trust_domain;
  agent.loop().RunUntil(
      [&] {
        auto r = agent.Do("GET", "/v1/connect/ca/roots");
        if (r.status != 200) return false;
        trust_domain = Json::parse(r.body).value("TrustDomain", std::string());
        return !trust_domain.empty();
      },
      1min, 10ms);
  return trust_domain;
}

Json Chain(const http::Response& r) { return Json::parse(r.body)["Chain"]; }

TEST(DiscoveryChainApi, DefaultChain) {
  TestAgent agent;
  // Without a CA there is no trust domain to name the targets with.
  EXPECT_EQ(agent.Do("GET", "/v1/discovery-chain/web").status, 500);
  const std::string td = StartCA(agent);
  ASSERT_FALSE(td.empty());

  auto r = agent.Do("GET", "/v1/discovery-chain/web");
  ASSERT_EQ(r.status, 200) << r.body;
  Json chain = Chain(r);
  EXPECT_EQ(chain["ServiceName"], "web");
  EXPECT_EQ(chain["Datacenter"], "dc1");
  EXPECT_EQ(chain["Protocol"], "tcp");
  EXPECT_EQ(chain["StartNode"], "resolver:web.default.default.dc1");
  EXPECT_EQ(chain["Targets"]["web.default.default.dc1"]["SNI"], "web.default.dc1.internal." + td);
  EXPECT_EQ(agent.Do("GET", "/v1/discovery-chain/").status, 400);

  auto other = agent.Do("GET", "/v1/discovery-chain/web?compile-dc=dc2");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(Chain(other)["Datacenter"], "dc2");
  EXPECT_TRUE(Chain(other)["Targets"].contains("web.default.default.dc2")) << other.body;
}

TEST(DiscoveryChainApi, EntriesShapeTheChain) {
  TestAgent agent;
  ASSERT_FALSE(StartCA(agent).empty());
  ASSERT_EQ(agent
                .Do("PUT", "/v1/config",
                    R"({"Kind":"service-resolver","Name":"api","ConnectTimeout":"7s",
                         "Redirect":{"Datacenter":"dc2"}})")
                .status,
            200);
  auto r = agent.Do("GET", "/v1/discovery-chain/api");
  ASSERT_EQ(r.status, 200) << r.body;
  Json chain = Chain(r);
  EXPECT_EQ(chain["StartNode"], "resolver:api.default.default.dc2") << r.body;
  EXPECT_EQ(chain["Targets"]["api.default.default.dc2"]["ConnectTimeout"], "7s") << r.body;
  EXPECT_FALSE(chain.value("Default", false));

  // A router on a tcp service is a compile error.
  ASSERT_EQ(agent
                .Do("PUT", "/v1/config",
                    R"({"Kind":"service-router","Name":"db","Routes":[{"Match":{"HTTP":
                         {"PathPrefix":"/x"}}}]})")
                .status,
            200);
  auto bad = agent.Do("GET", "/v1/discovery-chain/db");
  EXPECT_EQ(bad.status, 500);
  EXPECT_NE(bad.body.find("tcp"), std::string::npos) << bad.body;
}

TEST(DiscoveryChainApi, PostOverrides) {
  TestAgent agent;
  ASSERT_FALSE(StartCA(agent).empty());
  auto r = agent.Do("POST", "/v1/discovery-chain/web",
                    R"({"OverrideMeshGateway":{"Mode":"local"},"OverrideProtocol":"http",
                        "OverrideConnectTimeout":"3s"})");
  ASSERT_EQ(r.status, 200) << r.body;
  Json chain = Chain(r);
  EXPECT_EQ(chain["Protocol"], "http");
  EXPECT_FALSE(chain.value("CustomizationHash", std::string()).empty()) << r.body;
  Json target = chain["Targets"]["web.default.default.dc1"];
  EXPECT_EQ(target["MeshGateway"]["Mode"], "local") << r.body;
  EXPECT_EQ(target["ConnectTimeout"], "3s") << r.body;

  EXPECT_EQ(agent.Do("POST", "/v1/discovery-chain/web", "{").status, 400);
  EXPECT_EQ(agent.Do("POST", "/v1/discovery-chain/web", R"({"OverrideConnectTimeout":"x"})").status,
            400);
}

TEST(DiscoveryChainApi, BlocksOnConfigEntries) {
  TestAgent agent;
  ASSERT_FALSE(StartCA(agent).empty());
  auto first = agent.Do("GET", "/v1/discovery-chain/api");
  ASSERT_EQ(first.status, 200);
  std::string index;
  for (const auto& [k, v] : first.headers) {
    if (k == "X-Consul-Index") index = v;
  }
  ASSERT_FALSE(index.empty());
  auto pending = agent.Send("GET", "/v1/discovery-chain/api?index=" + index + "&wait=1m");
  agent.loop().RunFor(1s);
  EXPECT_FALSE(pending->response.has_value());
  ASSERT_EQ(agent
                .Do("PUT", "/v1/config",
                    R"({"Kind":"service-resolver","Name":"api","ConnectTimeout":"9s"})")
                .status,
            200);
  ASSERT_TRUE(agent.loop().RunUntil([&] { return pending->response.has_value(); }, 30s, 10ms));
  Json chain = Chain(*pending->response);
  EXPECT_EQ(chain["Targets"]["api.default.default.dc1"]["ConnectTimeout"], "9s")
      << pending->response->body;
}

}  // namespace
}  // namespace gangway::api
