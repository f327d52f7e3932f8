#include "proxycfg/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/testing/sim_loop.h"
#include "proxycfg/testing/fake_sources.h"
#include "meshcfg/config_entry.h"
#include "proxy/config/json.h"

namespace gangway::proxycfg {
namespace {

using catalog::CheckServiceNode;
using Nodes = std::vector<CheckServiceNode>;
using K = HealthQuery::Kind;
using testing::FakeSources;

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

CheckServiceNode Instance(const std::string& node, const std::string& addr,
                          const std::string& kind, const std::string& service, int port) {
  CheckServiceNode n;
  n.node.node = node;
  n.node.address = addr;
  n.service.kind = kind;
  n.service.id = service;
  n.service.service = service;
  n.service.port = port;
  return n;
}

CheckServiceNode Sidecar(const std::string& node, const std::string& addr,
                         const std::string& dest, int port) {
  CheckServiceNode n = Instance(node, addr, "connect-proxy", dest + "-sidecar-proxy", port);
  n.service.proxy.emplace();
  n.service.proxy->destination_service_name = dest;
  return n;
}

CheckServiceNode Gateway(const std::string& node, const std::string& lan, const std::string& wan,
                         const std::string& name = "mesh-gateway") {
  CheckServiceNode n = Instance(node, lan, "mesh-gateway", name, 8443);
  n.service.tagged_addresses["wan"] = {wan, 8443};
  return n;
}

LocalProxy WebSidecar() {
  LocalProxy p;
  p.service.kind = "connect-proxy";
  p.service.id = "web-sidecar-proxy";
  p.service.service = "web-sidecar-proxy";
  p.service.port = 21000;
  p.service.proxy.emplace();
  p.service.proxy->destination_service_name = "web";
  p.service.proxy->destination_service_id = "web";
  catalog::Upstream api;
  api.destination_name = "api";
  api.datacenter = "dc2";
  api.local_bind_port = 9191;
  api.mesh_gateway = catalog::MeshGatewayConfig{"local"};
  p.service.proxy->upstreams.push_back(api);
  p.destination_port = 8080;
  return p;
}

LocalProxy MeshGateway() {
  LocalProxy p;
  p.service.kind = "mesh-gateway";
  p.service.id = "mesh-gateway";
  p.service.service = "mesh-gateway";
  p.service.port = 8443;
  return p;
}

Roots TestRoots() { return Roots{kTd, {"-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"}}; }

proxy::Leaf WebLeaf(const std::string& serial = "1") {
  return proxy::Leaf{"-----BEGIN CERTIFICATE-----\nweb" + serial + "\n-----END CERTIFICATE-----\n",
                     "-----BEGIN EC PRIVATE KEY-----\nweb\n-----END EC PRIVATE KEY-----\n",
                     std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/web",
                     "2030-01-01T00:00:00Z"};
}

class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest() : sources_(loop_) {
    ManagerOptions o;
    o.node = "node-1";
    o.datacenter = "dc1";
    o.first_version = 1000;
    manager_ = std::make_unique<Manager>(loop_, sources_, o);
  }

  const proxy::Cluster* ClusterOf(const std::string& id, const std::string& name) {
    const Published* p = manager_->Find(id);
    if (p == nullptr || !p->config) return nullptr;
    return p->config->FindCluster(name);
  }

  gangway::testing::SimLoop loop_;
  FakeSources sources_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(ManagerTest, SidecarWaitsForLeafAndRootsThenPublishesAndRecompilesOnChange) {
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  EXPECT_THAT(sources_.LiveKeys(),
              ::testing::UnorderedElementsAre("roots", "leaf:web", "config:service-intentions",
                                              "connect:api@dc2",
                                              "dump:mesh-gateway@dc2", "dump:mesh-gateway@dc1"));
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->version, 0u);
  EXPECT_EQ(p->waiting_for, "the CA roots, the leaf certificate, the intentions");
  EXPECT_EQ(manager_->Find("web"), nullptr);

  int woken = 0;
  manager_->Watch("web-sidecar-proxy", [&] { ++woken; });
  sources_.Answer("roots", TestRoots());
  EXPECT_EQ(woken, 0);
  sources_.Answer("leaf:web", WebLeaf());
  EXPECT_EQ(woken, 0);
  EXPECT_EQ(p->waiting_for, "the intentions");
  sources_.Answer("config:service-intentions", std::vector<meshcfg::ConfigEntry>{});
  EXPECT_EQ(woken, 1);
  ASSERT_EQ(p->version, 1000u);
  ASSERT_TRUE(p->config);
  EXPECT_EQ(p->config->leaf->cert_pem, WebLeaf().cert_pem);
  // The JSON served is the codec's form of the same config.
  auto decoded = proxy::DecodeConfig(p->json);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == *p->config);
  // local mode: api's cluster goes to dc1's gateways, none known yet.
  const std::string api_sni = std::string("api.default.dc2.internal.") + kTd;
  ASSERT_NE(ClusterOf("web-sidecar-proxy", api_sni), nullptr);
  EXPECT_TRUE(ClusterOf("web-sidecar-proxy", api_sni)->endpoints.empty());

  manager_->Watch("web-sidecar-proxy", [&] { ++woken; });
  sources_.Answer("dump:mesh-gateway@dc1", Nodes{Gateway("gw1", "10.1.0.5", "198.51.100.1")});
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(p->version, 1001u);
  ASSERT_EQ(ClusterOf("web-sidecar-proxy", api_sni)->endpoints.size(), 1u);
  EXPECT_EQ(ClusterOf("web-sidecar-proxy", api_sni)->endpoints[0].address, "10.1.0.5");

  // An answer that changes nothing this proxy uses publishes nothing (rule 2).
  sources_.Answer("dump:mesh-gateway@dc2", Nodes{Gateway("gw2", "10.2.0.5", "198.51.100.2")});
  EXPECT_EQ(p->version, 1001u);
  // A renewed leaf does.
  sources_.Answer("leaf:web", WebLeaf("2"));
  EXPECT_EQ(p->version, 1002u);
}

meshcfg::ConfigEntry IntentionsFor(const std::string& destination, const std::string& source,
                                   const std::string& action) {
  meshcfg::ServiceIntentions e;
  e.name = destination;
  meshcfg::SourceIntention src;
  src.name = source;
  src.action = action;
  src.precedence = meshcfg::IntentionPrecedence(source, destination);
  e.sources.push_back(src);
  return e;
}

TEST_F(ManagerTest, TheSidecarEnforcesItsDestinationsIntentions) {
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("leaf:web", WebLeaf());
  // Another destination's entry does not apply; web's does, and so does a "*" destination's.
  sources_.Answer("config:service-intentions",
                  std::vector<meshcfg::ConfigEntry>{IntentionsFor("db", "web", "deny"),
                                                    IntentionsFor("web", "api", "deny"),
                                                    IntentionsFor("*", "*", "allow")});
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_TRUE(p->config);
  EXPECT_EQ(p->version, 1000u);
  const std::string api_id = std::string("spiffe://") + kTd + "/ns/default/dc/dc2/svc/api";
  const std::string db_id = std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/db";
  ASSERT_EQ(p->config->authz.rules.size(), 2u);
  EXPECT_TRUE(p->config->authz.default_allow);
  EXPECT_FALSE(proxy::Allowed(p->config->authz, api_id));
  EXPECT_TRUE(proxy::Allowed(p->config->authz, db_id));
  // The reason a refusal gives names the intention.
  ASSERT_NE(proxy::MatchRule(p->config->authz, api_id), nullptr);
  EXPECT_EQ(proxy::MatchRule(p->config->authz, api_id)->id, "api => web");

  // Replacing the deny with an allow publishes a new version that admits api.
  int woken = 0;
  manager_->Watch("web-sidecar-proxy", [&] { ++woken; });
  sources_.Answer("config:service-intentions",
                  std::vector<meshcfg::ConfigEntry>{IntentionsFor("web", "api", "allow")});
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(p->version, 1001u);
  EXPECT_TRUE(proxy::Allowed(p->config->authz, api_id));
  // A failed watch keeps what is enforced.
  sources_.Fail("config:service-intentions", Unavailable("no leader"));
  EXPECT_EQ(p->version, 1001u);
  EXPECT_EQ(p->config->authz.rules.size(), 1u);
}

TEST_F(ManagerTest, ADenyByDefaultManagerDeniesWhatNoIntentionAllows) {
  ManagerOptions o;
  o.node = "node-1";
  o.datacenter = "dc1";
  o.default_intention_allow = false;
  manager_ = std::make_unique<Manager>(loop_, sources_, o);
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("leaf:web", WebLeaf());
  sources_.Answer("config:service-intentions",
                  std::vector<meshcfg::ConfigEntry>{IntentionsFor("web", "api", "allow")});
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_TRUE(p->config);
  EXPECT_FALSE(p->config->authz.default_allow);
  EXPECT_TRUE(proxy::Allowed(p->config->authz,
                             std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/api"));
  EXPECT_FALSE(proxy::Allowed(p->config->authz,
                              std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/db"));
}

TEST_F(ManagerTest, AFailedWatchKeepsTheLastConfig) {
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("config:service-intentions", std::vector<meshcfg::ConfigEntry>{});
  sources_.Answer("leaf:web", WebLeaf());
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_EQ(p->version, 1000u);
  sources_.Fail("dump:mesh-gateway@dc1", Unavailable("No path to datacenter"));
  sources_.Fail("leaf:web", Unavailable("no leader"));
  EXPECT_EQ(p->version, 1000u);
  EXPECT_TRUE(p->config->leaf.has_value());
}

TEST_F(ManagerTest, ACompileErrorIsReportedAndTheLastGoodConfigKept) {
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("config:service-intentions", std::vector<meshcfg::ConfigEntry>{});
  sources_.Answer("leaf:web", WebLeaf());
  LocalProxy bad = WebSidecar();
  bad.service.proxy->mesh_gateway = catalog::MeshGatewayConfig{"sideways"};
  int woken = 0;
  manager_->Watch("web-sidecar-proxy", [&] { ++woken; });
  manager_->Sync({bad});
  loop_.RunPending();
  const Published* p = manager_->Find("web-sidecar-proxy");
  EXPECT_EQ(p->version, 1000u);
  EXPECT_THAT(p->error, ::testing::HasSubstr("Invalid Mesh Gateway Mode: \"sideways\""));
  EXPECT_EQ(woken, 1);
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  EXPECT_EQ(p->error, "");
  EXPECT_EQ(p->version, 1000u);  // back to the config it has
}

TEST_F(ManagerTest, RemovingAProxyStopsItsWatchesAndWakesItsWaiters) {
  manager_->Sync({WebSidecar(), MeshGateway()});
  loop_.RunPending();
  EXPECT_EQ(manager_->size(), 2u);
  bool woken = false;
  manager_->Watch("web-sidecar-proxy", [&] { woken = true; });
  manager_->Sync({MeshGateway()});
  EXPECT_TRUE(woken);
  EXPECT_EQ(manager_->Find("web-sidecar-proxy"), nullptr);
  EXPECT_FALSE(sources_.Live("leaf:web"));
  EXPECT_FALSE(sources_.Live("config:service-intentions"));
  EXPECT_FALSE(sources_.Live("connect:api@dc2"));
  // A typical service is not a proxy.
  LocalProxy typical;
  typical.service.id = "web";
  typical.service.service = "web";
  manager_->Sync({typical});
  EXPECT_EQ(manager_->size(), 0u);
}

TEST_F(ManagerTest, GatewayFollowsTheDatacenterListAndRoutesLocalSidecars) {
  manager_->Sync({MeshGateway()});
  loop_.RunPending();
  EXPECT_THAT(sources_.LiveKeys(),
              ::testing::UnorderedElementsAre("roots", "dcs", "dump:connect-proxy@dc1",
                                              "dump:mesh-gateway@dc1",
                                              "dump:mesh-gateway-upstream@dc1"));
  sources_.Answer("roots", TestRoots());
  sources_.Answer("dump:connect-proxy@dc1", Nodes{Sidecar("n1", "10.1.0.7", "api", 21000)});
  sources_.Answer("dump:mesh-gateway@dc1", Nodes{Gateway("gw1", "10.1.0.5", "198.51.100.1")});
  sources_.Answer("dump:mesh-gateway-upstream@dc1", Nodes{});
  const Published* p = manager_->Find("mesh-gateway");
  EXPECT_EQ(p->waiting_for, "the datacenter list");
  sources_.Answer("dcs", std::vector<std::string>{"dc1", "dc2"});
  EXPECT_TRUE(sources_.Live("dump:mesh-gateway@dc2"));
  ASSERT_TRUE(p->config);
  const std::string dc2 = std::string("dc2.internal.") + kTd;
  const std::string api = std::string("api.default.dc1.internal.") + kTd;
  ASSERT_NE(ClusterOf("mesh-gateway", dc2), nullptr);
  EXPECT_TRUE(ClusterOf("mesh-gateway", dc2)->endpoints.empty());
  ASSERT_NE(ClusterOf("mesh-gateway", api), nullptr);
  EXPECT_EQ(ClusterOf("mesh-gateway", api)->endpoints.at(0).address, "10.1.0.7");

  sources_.Answer("dump:mesh-gateway@dc2", Nodes{Gateway("gw2", "10.2.0.5", "198.51.100.2")});
  ASSERT_EQ(ClusterOf("mesh-gateway", dc2)->endpoints.size(), 1u);
  EXPECT_EQ(ClusterOf("mesh-gateway", dc2)->endpoints[0].address, "198.51.100.2");

  // dc2 leaves the list: its watch stops and its chain goes.
  sources_.Answer("dcs", std::vector<std::string>{"dc1"});
  EXPECT_FALSE(sources_.Live("dump:mesh-gateway@dc2"));
  EXPECT_EQ(ClusterOf("mesh-gateway", dc2), nullptr);
}

TEST_F(ManagerTest, GatewayReadsTheTutorialsStaticRoute) {
  manager_->Sync({MeshGateway()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("dcs", std::vector<std::string>{"dc1"});
  sources_.Answer("dump:mesh-gateway@dc1", Nodes{});
  // dc1-mesh-gateway-upstream-dc2.json: the route and its sidecar with the upstream.
  CheckServiceNode route = Instance("n1", "10.1.0.9", "mesh-gateway-upstream",
                                    "mesh-gateway-upstream-dc2", 8443);
  CheckServiceNode route_sidecar = Sidecar("n1", "10.1.0.9", "mesh-gateway-upstream-dc2", 21001);
  catalog::Upstream up;
  up.destination_name = "mesh-gateway";
  up.datacenter = "dc2";
  route_sidecar.service.proxy->upstreams.push_back(up);
  sources_.Answer("dump:connect-proxy@dc1", Nodes{route_sidecar});
  sources_.Answer("dump:mesh-gateway-upstream@dc1", Nodes{route});
  // dc2 is known through the route alone, and only its "mesh-gateway" instances count.
  ASSERT_TRUE(sources_.Live("dump:mesh-gateway@dc2"));
  sources_.Answer("dump:mesh-gateway@dc2",
                  Nodes{Gateway("gw2", "10.2.0.5", "198.51.100.2"),
                        Gateway("gw3", "10.2.0.6", "198.51.100.3", "other-gateway")});
  const std::string dc2 = std::string("dc2.internal.") + kTd;
  const proxy::Cluster* c = ClusterOf("mesh-gateway", dc2);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->endpoints.size(), 1u);
  EXPECT_EQ(c->endpoints[0].address, "198.51.100.2");
  // The route's own sidecar fronts nothing: no cluster for it.
  const std::string route_sni =
      std::string("mesh-gateway-upstream-dc2.default.dc1.internal.") + kTd;
  EXPECT_EQ(ClusterOf("mesh-gateway", route_sni), nullptr);

  // A route with an address is a static endpoint of its own.
  route.service.address = "203.0.113.9";
  sources_.Answer("dump:mesh-gateway-upstream@dc1", Nodes{route});
  c = ClusterOf("mesh-gateway", dc2);
  ASSERT_EQ(c->endpoints.size(), 2u);
  EXPECT_EQ(c->endpoints[1].address, "203.0.113.9");
  EXPECT_EQ(c->endpoints[1].port, 8443);
}

TEST_F(ManagerTest, SidecarUpstreamsFollowTheirDiscoveryChains) {
  sources_.chain_entries = true;
  LocalProxy web = WebSidecar();
  web.service.proxy->upstreams[0].datacenter = "";  // api, in whatever DC its chain says
  manager_->Sync({web});
  loop_.RunPending();
  EXPECT_THAT(sources_.LiveKeys(), ::testing::UnorderedElementsAre(
                                       "roots", "leaf:web", "config:service-intentions",
                                       "chain-entries", "connect:api@dc1"));
  sources_.Answer("roots", TestRoots());
  sources_.Answer("leaf:web", WebLeaf());
  sources_.Answer("config:service-intentions", std::vector<meshcfg::ConfigEntry>{});
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->waiting_for, "the config entries");

  // A redirect to dc2: the manager now watches api there and dc1's gateways (mode local).
  meshcfg::ServiceResolver api;
  api.name = "api";
  api.redirect.emplace();
  api.redirect->datacenter = "dc2";
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{api});
  EXPECT_THAT(sources_.LiveKeys(),
              ::testing::UnorderedElementsAre("roots", "leaf:web", "config:service-intentions",
                                              "chain-entries", "connect:api@dc2",
                                              "dump:mesh-gateway@dc2", "dump:mesh-gateway@dc1"));
  ASSERT_TRUE(p->config) << p->error << p->waiting_for;
  const std::string dc2_sni = std::string("api.default.dc2.internal.") + kTd;
  sources_.Answer("dump:mesh-gateway@dc1", Nodes{Gateway("gw1", "10.1.0.5", "198.51.100.1")});
  ASSERT_NE(ClusterOf("web-sidecar-proxy", dc2_sni), nullptr);
  EXPECT_EQ(ClusterOf("web-sidecar-proxy", dc2_sni)->endpoints.size(), 1u);

  // Entries the chain cannot compile keep the last config and say why.
  const uint64_t version = p->version;
  meshcfg::ServiceResolver loop_a, loop_b;
  loop_a.name = "api";
  loop_a.redirect.emplace();
  loop_a.redirect->service = "db";
  loop_b.name = "db";
  loop_b.redirect.emplace();
  loop_b.redirect->service = "api";
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{loop_a, loop_b});
  EXPECT_EQ(p->version, version);
  EXPECT_NE(p->error.find("discovery chain"), std::string::npos) << p->error;

  // Without entries: back to the default chain in the local datacenter.
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{});
  EXPECT_TRUE(p->error.empty()) << p->error;
  EXPECT_TRUE(sources_.Live("connect:api@dc1"));
  EXPECT_FALSE(sources_.Live("connect:api@dc2"));
  EXPECT_NE(ClusterOf("web-sidecar-proxy", std::string("api.default.dc1.internal.") + kTd),
            nullptr);
}

// The destination's protocol comes from the same entries as the chains: service-defaults, else
// proxy-defaults. http makes the public listener check each request.
TEST_F(ManagerTest, AnHttpDestinationGetsAPublicListenerThatParsesRequests) {
  sources_.chain_entries = true;
  manager_->Sync({WebSidecar()});
  loop_.RunPending();
  sources_.Answer("roots", TestRoots());
  sources_.Answer("leaf:web", WebLeaf());
  sources_.Answer("config:service-intentions", std::vector<meshcfg::ConfigEntry>{});
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{});
  const Published* p = manager_->Find("web-sidecar-proxy");
  ASSERT_TRUE(p->config) << p->error << p->waiting_for;
  auto inbound_http = [&] { return p->config->listeners.at(0).chains.at(0).inbound_http; };
  EXPECT_FALSE(inbound_http());

  meshcfg::ProxyDefaults global;
  global.name = "global";
  global.config = meshcfg::Json{{"protocol", "HTTP"}};
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{global});
  EXPECT_TRUE(inbound_http());
  meshcfg::ServiceDefaults web;
  web.name = "web";
  web.protocol = "tcp";  // the service's own setting wins
  sources_.Answer("chain-entries", std::vector<meshcfg::ConfigEntry>{global, web});
  EXPECT_FALSE(inbound_http());
}

}  // namespace
}  // namespace gangway::proxycfg
