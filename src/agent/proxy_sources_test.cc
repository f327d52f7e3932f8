#include "agent/proxy_sources.h"

#include <gtest/gtest.h>

#include "ca/state.h"
#include "core/testing/sim_loop.h"
#include "identity/trust_domain.h"

namespace gangway::agent {
namespace {

using Json = nlohmann::json;
using proxycfg::HealthQuery;

TEST(ProxySourcesTest, HealthTargetsNameTheDatacenterAndEscape) {
  EXPECT_EQ(HealthTarget({HealthQuery::Kind::kConnect, "api", "dc2"}),
            "/v1/health/connect/api?dc=dc2");
  EXPECT_EQ(HealthTarget({HealthQuery::Kind::kService, "a b", "dc1"}),
            "/v1/health/service/a%20b?dc=dc1");
  EXPECT_EQ(HealthTarget({HealthQuery::Kind::kDump, "mesh-gateway", "dc3"}),
            "/v1/internal/service-dump?kind=mesh-gateway&dc=dc3");
}

TEST(ProxySourcesTest, RootsPutTheActiveOneFirstAndNeedOne) {
  Json doc = {{"TrustDomain", "td.consul"},
              {"Roots", {{{"RootCert", "old"}, {"Active", false}},
                         {{"RootCert", "new"}, {"Active", true}}}}};
  auto roots = ReadRoots(doc);
  ASSERT_TRUE(roots.ok()) << roots.status().message();
  EXPECT_EQ(roots->trust_domain, "td.consul");
  EXPECT_EQ(roots->pems, (std::vector<std::string>{"new", "old"}));
  EXPECT_FALSE(ReadRoots({{"TrustDomain", ""}, {"Roots", Json::array()}}).ok());
  EXPECT_FALSE(ReadRoots(Json::array()).ok());
}

TEST(ProxySourcesTest, LeafNeedsCertKeyAndIdentity) {
  Json cert = {{"CertPEM", "c"}, {"PrivateKeyPEM", "k"},
               {"ServiceURI", "spiffe://td/ns/default/dc/dc1/svc/web"},
               {"ValidBefore", "2030-01-01T00:00:00Z"}};
  auto leaf = ReadLeaf(cert);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->spiffe_id, "spiffe://td/ns/default/dc/dc1/svc/web");
  cert.erase("PrivateKeyPEM");
  EXPECT_FALSE(ReadLeaf(cert).ok());
}

TEST(ProxySourcesTest, NodesAreReadFromTheHealthForm) {
  Json rows = Json::parse(R"([{"Node": {"Node": "n1", "Address": "10.0.0.1"},
      "Service": {"ID": "gw", "Service": "mesh-gateway", "Kind": "mesh-gateway", "Port": 8443},
      "Checks": [{"Node": "n1", "CheckID": "c", "Status": "critical", "ServiceID": "gw"}]}])");
  auto nodes = ReadNodes(rows);
  ASSERT_TRUE(nodes.ok()) << nodes.status().message();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].service.kind, "mesh-gateway");
  EXPECT_EQ((*nodes)[0].checks.at(0).status, "critical");
  EXPECT_FALSE(ReadNodes(Json::object()).ok());
}

TEST(ProxySourcesTest, ConfigEntriesAreDecodedAndNormalized) {
  Json rows = Json::parse(R"([{"Kind": "service-intentions", "Name": "api",
      "Sources": [{"Name": "*", "Action": "ALLOW"}, {"Name": "web", "Action": "deny"}],
      "CreateIndex": 7, "ModifyIndex": 9}])");
  auto entries = ReadConfigEntries(rows);
  ASSERT_TRUE(entries.ok()) << entries.status().message();
  ASSERT_EQ(entries->size(), 1u);
  const auto* si = (*entries)[0].As<meshcfg::ServiceIntentions>();
  ASSERT_NE(si, nullptr);
  EXPECT_EQ(si->name, "api");
  // Normalized: the exact source first, with its precedence; actions lowercased.
  ASSERT_EQ(si->sources.size(), 2u);
  EXPECT_EQ(si->sources[0].name, "web");
  EXPECT_EQ(si->sources[0].precedence, 9);
  EXPECT_EQ(si->sources[1].action, "allow");
  EXPECT_FALSE(ReadConfigEntries(Json::object()).ok());
  EXPECT_FALSE(ReadConfigEntries(Json::parse(R"([{"Kind": "service-intentions", "Bogus": 1}])")).ok());
}

TEST(ProxySourcesTest, ChainEntriesKeepTheChainKindsDecoded) {
  auto entries = ReadChainEntries(nlohmann::json::parse(R"([
    {"Kind": "service-intentions", "Name": "api", "Sources": []},
    {"Kind": "service-resolver", "Name": "api", "Redirect": {"Datacenter": "dc2"},
     "CreateIndex": 5, "ModifyIndex": 7},
    {"Kind": "service-defaults", "Name": "api", "Protocol": "http"}
  ])"));
  ASSERT_TRUE(entries.ok()) << entries.status().message();
  ASSERT_EQ(entries->size(), 2u);
  const auto* resolver = (*entries)[0].As<meshcfg::ServiceResolver>();
  ASSERT_NE(resolver, nullptr);
  ASSERT_TRUE(resolver->redirect.has_value());
  EXPECT_EQ(resolver->redirect->datacenter, "dc2");
  EXPECT_FALSE(ReadChainEntries(nlohmann::json::parse(
                                    R"([{"Kind": "service-resolver", "Name": "x", "Bogus": 1}])"))
                   .ok());
  EXPECT_FALSE(ReadChainEntries(nlohmann::json::object()).ok());
}

// With ACLs a local proxy's leaf is signed with the token its service was registered with.
TEST(ProxySourcesTest, ALeafIsSignedWithTheTokenTheOptionsGive) {
  ca::CAConfig config;
  config.cluster_id = "11111111-2222-4333-8444-555555555555";
  ca::RootOptions ro;
  ro.cluster_id = config.cluster_id;
  ro.serial = 1;
  ro.now = std::chrono::system_clock::now();
  auto made = ca::CreateRoot(config, ro);
  ASSERT_TRUE(made.ok()) << made.status().message();
  ca::IndexedCARoots roots;
  roots.active_root_id = made->root.id;
  roots.trust_domain = identity::TrustDomainForCluster(config.cluster_id);
  roots.roots = {made->root};

  testing::SimLoop loop;
  std::vector<std::string> tokens;
  client::LeafCacheHooks hooks;
  hooks.roots = [&](uint64_t min_index, auto done) {
    if (min_index == 0) done(ca::ToJson(roots), 1);
  };
  hooks.sign = [&](std::string, const std::string& token, auto done) {
    tokens.push_back(token);
    done(Unavailable("not signing in this test"));
  };
  client::LeafCacheOptions leaf_options;
  leaf_options.datacenter = "dc1";
  client::LeafCache leaves(loop, leaf_options, hooks);
  http::Handler* api = nullptr;
  ProxySourcesOptions options;
  options.leaf_token = [](const std::string& service) {
    return service == "web" ? std::string("web-registration-token") : std::string();
  };
  ProxySources sources(loop, &api, &leaves, options);
  auto sub = sources.Leaf("web", [](Result<proxy::Leaf>) {});
  loop.RunFor(std::chrono::seconds(1));
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens.front(), "web-registration-token");
}

}  // namespace
}  // namespace gangway::agent
