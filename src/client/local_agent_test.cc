// LocalAgent in process on simulated time: registrations reach the catalog through anti-entropy,
// deregistrations and maintenance follow, sidecars are expanded, and failed writes are retried.
#include "client/local_agent.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "client/testing/fakes.h"
#include "core/testing/sim_loop.h"

namespace gangway::client {
namespace {

using namespace std::chrono_literals;
using gangway::testing::SimLoop;
using testing::FakeProber;
using testing::StoreApplier;

class LocalAgentTest : public ::testing::Test {
 protected:
  LocalAgentTest() {
    auto prober = std::make_unique<FakeProber>(loop_);
    prober_ = prober.get();
    LocalAgentOptions options;
    options.node_name = "node1";
    options.node_id = "11111111-2222-4333-8444-555555555555";
    options.datacenter = "dc1";
    options.address = "127.0.0.2";
    agent_ = std::make_unique<LocalAgent>(loop_, std::move(prober), servers_, &servers_.store(),
                                          options);
    agent_->Start();
  }

  // What the catalog holds for this node: services by ID, checks by ID.
  std::map<std::string, catalog::NodeService> CatalogServices() {
    std::optional<catalog::Node> node;
    std::vector<catalog::NodeService> list;
    servers_.store().NodeServices(nullptr, "node1", &node, &list);
    std::map<std::string, catalog::NodeService> out;
    for (auto& s : list) out[s.id] = std::move(s);
    return out;
  }
  std::map<std::string, catalog::HealthCheck> CatalogChecks() {
    std::vector<catalog::HealthCheck> list;
    servers_.store().NodeChecks(nullptr, "node1", &list);
    std::map<std::string, catalog::HealthCheck> out;
    for (auto& c : list) out[c.check_id] = std::move(c);
    return out;
  }
  static catalog::ServiceRegistration Web() {
    catalog::ServiceRegistration reg;
    reg.service.service = "web";
    reg.service.port = 8080;
    reg.service.tags = {"v1"};
    catalog::CheckRegistration ttl;
    ttl.definition.ttl_ns = std::chrono::nanoseconds(30s).count();
    reg.checks.push_back(ttl);
    return reg;
  }

  SimLoop loop_;
  StoreApplier servers_{loop_};
  FakeProber* prober_ = nullptr;
  std::unique_ptr<LocalAgent> agent_;
};

TEST_F(LocalAgentTest, StartRegistersTheNode) {
  loop_.RunPending();
  std::optional<catalog::Node> node;
  servers_.store().GetNode(nullptr, "node1", &node);
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->address, "127.0.0.2");
  EXPECT_EQ(node->datacenter, "dc1");
  EXPECT_EQ(node->tagged_addresses.at("wan"), "127.0.0.2");
  EXPECT_TRUE(agent_->InSync());
}

TEST_F(LocalAgentTest, ARegisteredServiceAndItsCheckReachTheCatalog) {
  loop_.RunPending();
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  EXPECT_FALSE(agent_->InSync());
  loop_.RunPending();
  EXPECT_TRUE(agent_->InSync());
  auto services = CatalogServices();
  ASSERT_EQ(services.count("web"), 1u);
  EXPECT_EQ(services["web"].port, 8080);
  EXPECT_EQ(services["web"].tags, std::vector<std::string>{"v1"});
  auto checks = CatalogChecks();
  ASSERT_EQ(checks.count("service:web"), 1u);
  EXPECT_EQ(checks["service:web"].status, catalog::kCritical);  // until the first TTL update
  EXPECT_EQ(checks["service:web"].service_id, "web");
  EXPECT_EQ(checks["service:web"].type, "ttl");

  // A TTL update is written through too; expiry turns it critical again.
  ASSERT_TRUE(agent_->UpdateTTL("service:web", catalog::kPassing, "all good").ok());
  loop_.RunPending();
  EXPECT_EQ(CatalogChecks()["service:web"].status, catalog::kPassing);
  EXPECT_EQ(CatalogChecks()["service:web"].output, "all good");
  loop_.RunFor(30s);
  EXPECT_EQ(CatalogChecks()["service:web"].status, catalog::kCritical);
  EXPECT_EQ(CatalogChecks()["service:web"].output, "TTL expired");
}

TEST_F(LocalAgentTest, UpdateTtlRejectsUnknownAndNonTtlChecks) {
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  catalog::CheckRegistration tcp;
  tcp.name = "db port";
  tcp.definition.tcp = "127.0.0.1:5432";
  tcp.definition.interval_ns = std::chrono::nanoseconds(10s).count();
  ASSERT_TRUE(agent_->AddCheck(tcp).ok());
  EXPECT_EQ(agent_->UpdateTTL("nope", catalog::kPassing, "").code(), Code::kNotFound);
  EXPECT_EQ(agent_->UpdateTTL("db port", catalog::kPassing, "").code(), Code::kInvalidArgument);
  EXPECT_EQ(agent_->UpdateTTL("service:web", "fine", "").code(), Code::kInvalidArgument);
}

TEST_F(LocalAgentTest, DeregisteringRemovesTheServiceAndItsChecksFromTheCatalog) {
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  loop_.RunPending();
  ASSERT_EQ(CatalogServices().count("web"), 1u);
  ASSERT_TRUE(agent_->RemoveService("web").ok());
  EXPECT_TRUE(agent_->checks().empty());
  loop_.RunPending();
  EXPECT_TRUE(agent_->InSync());
  EXPECT_EQ(CatalogServices().count("web"), 0u);
  EXPECT_EQ(CatalogChecks().count("service:web"), 0u);
  EXPECT_EQ(agent_->RemoveService("web").code(), Code::kNotFound);
}

// Consul's anti-entropy: the node with the agent's own token, a service and its checks with
// the token they were registered with, a check with its own token first.
TEST_F(LocalAgentTest, WritesCarryTheTokenEachThingWasRegisteredWith) {
  loop_.RunPending();
  auto written_with = [this](size_t from) {
    std::map<std::string, std::string> out;  // what -> token
    for (size_t i = from; i < servers_.commands().size(); ++i) {
      const auto& cmd = servers_.commands()[i];
      std::string what;
      if (const auto* r = std::get_if<catalog::RegisterRequest>(&cmd)) {
        what = r->service ? "service " + r->service->id : "node";
        for (const auto& c : r->checks) what = "check " + c.check_id;
      } else if (const auto* d = std::get_if<catalog::DeregisterRequest>(&cmd)) {
        what = d->service_id.empty() ? "-check " + d->check_id : "-service " + d->service_id;
      }
      out[what] = servers_.tokens()[i];
    }
    return out;
  };
  size_t first = servers_.commands().size();
  catalog::ServiceRegistration web = Web();
  web.token = "web-secret";
  web.sidecar = std::make_unique<catalog::ServiceRegistration>();
  ASSERT_TRUE(agent_->AddService(std::move(web), false).ok());
  catalog::CheckRegistration own;
  own.name = "own";
  own.service_id = "web";
  own.token = "check-secret";
  own.definition.ttl_ns = std::chrono::nanoseconds(30s).count();
  ASSERT_TRUE(agent_->AddCheck(own).ok());
  catalog::CheckRegistration node_check = own;
  node_check.name = "disk";
  node_check.service_id.clear();
  node_check.token.clear();
  ASSERT_TRUE(agent_->AddCheck(node_check).ok());
  loop_.RunPending();
  auto tokens = written_with(first);
  EXPECT_EQ(tokens["service web"], "web-secret");
  EXPECT_EQ(tokens["check service:web"], "web-secret");
  EXPECT_EQ(tokens["service web-sidecar-proxy"], "web-secret");  // the parent's
  EXPECT_EQ(tokens["check own"], "check-secret");
  EXPECT_EQ(tokens["check disk"], "");  // the writer's default

  first = servers_.commands().size();
  ASSERT_TRUE(agent_->RemoveService("web").ok());
  loop_.RunPending();
  tokens = written_with(first);
  EXPECT_EQ(tokens["-service web"], "web-secret");
  EXPECT_EQ(tokens["-check service:web"], "web-secret");
  EXPECT_EQ(tokens["-check own"], "check-secret");
  EXPECT_TRUE(agent_->InSync());
}

TEST_F(LocalAgentTest, ServiceMaintenanceAddsACriticalCheckUntilDisabled) {
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  ASSERT_TRUE(agent_->SetServiceMaintenance("web", true, "deploying").ok());
  loop_.RunPending();
  auto checks = CatalogChecks();
  ASSERT_EQ(checks.count("_service_maintenance:web"), 1u);
  EXPECT_EQ(checks["_service_maintenance:web"].status, catalog::kCritical);
  EXPECT_EQ(checks["_service_maintenance:web"].notes, "deploying");
  EXPECT_EQ(checks["_service_maintenance:web"].service_id, "web");

  // Re-registering the service with replace_existing_checks keeps maintenance on.
  ASSERT_TRUE(agent_->AddService(Web(), true).ok());
  EXPECT_EQ(agent_->checks().count("_service_maintenance:web"), 1u);

  ASSERT_TRUE(agent_->SetServiceMaintenance("web", false, "").ok());
  loop_.RunPending();
  EXPECT_EQ(CatalogChecks().count("_service_maintenance:web"), 0u);
  EXPECT_EQ(agent_->SetServiceMaintenance("db", true, "").code(), Code::kNotFound);
}

TEST_F(LocalAgentTest, NodeMaintenanceUsesTheDefaultReason) {
  agent_->SetNodeMaintenance(true, "");
  loop_.RunPending();
  auto checks = CatalogChecks();
  ASSERT_EQ(checks.count("_node_maintenance"), 1u);
  EXPECT_EQ(checks["_node_maintenance"].status, catalog::kCritical);
  EXPECT_EQ(checks["_node_maintenance"].service_id, "");
  EXPECT_NE(checks["_node_maintenance"].notes.find("Maintenance mode is enabled for this node"),
            std::string::npos);
  agent_->SetNodeMaintenance(false, "");
  loop_.RunPending();
  EXPECT_EQ(CatalogChecks().count("_node_maintenance"), 0u);
}

TEST_F(LocalAgentTest, SidecarServiceIsExpandedWithDefaultsAndChecks) {
  auto reg = Web();
  reg.sidecar = std::make_unique<catalog::ServiceRegistration>();
  ASSERT_TRUE(agent_->AddService(std::move(reg), false).ok());
  ASSERT_EQ(agent_->services().count("web-sidecar-proxy"), 1u);
  const auto& local = agent_->services().at("web-sidecar-proxy");
  EXPECT_EQ(local.sidecar_parent, "web");
  const auto& proxy = local.service;
  EXPECT_EQ(proxy.kind, "connect-proxy");
  EXPECT_EQ(proxy.service, "web-sidecar-proxy");
  EXPECT_EQ(proxy.port, 21000);  // first of the sidecar range
  EXPECT_EQ(proxy.tags, std::vector<std::string>{"v1"});
  ASSERT_TRUE(proxy.proxy.has_value());
  EXPECT_EQ(proxy.proxy->destination_service_name, "web");
  EXPECT_EQ(proxy.proxy->destination_service_id, "web");
  EXPECT_EQ(proxy.proxy->local_service_address, "127.0.0.1");
  EXPECT_EQ(proxy.proxy->local_service_port, 8080);
  EXPECT_TRUE(agent_->services().at("web").service.connect.is_object());

  // Its checks: the proxy's port must accept connections, and it mirrors web's health.
  const auto& listening = agent_->checks().at("service:web-sidecar-proxy:1");
  EXPECT_EQ(listening.check.name, "Connect Sidecar Listening");
  EXPECT_EQ(listening.check.definition.tcp, "127.0.0.1:21000");
  const auto& alias = agent_->checks().at("service:web-sidecar-proxy:2");
  EXPECT_EQ(alias.check.name, "Connect Sidecar Aliasing web");

  prober_->SetTcp("127.0.0.1:21000", Status::Ok());
  loop_.RunFor(1s);
  auto checks = CatalogChecks();
  EXPECT_EQ(checks["service:web-sidecar-proxy:1"].status, catalog::kPassing);
  EXPECT_EQ(checks["service:web-sidecar-proxy:2"].status, catalog::kCritical);  // web's TTL
  ASSERT_TRUE(agent_->UpdateTTL("service:web", catalog::kPassing, "").ok());
  loop_.RunPending();
  checks = CatalogChecks();
  EXPECT_EQ(checks["service:web-sidecar-proxy:2"].status, catalog::kPassing);
  EXPECT_EQ(checks["service:web-sidecar-proxy:2"].output, "All checks passing.");
  EXPECT_EQ(CatalogServices()["web-sidecar-proxy"].kind, "connect-proxy");

  // A static route's sidecar (the tutorial's mesh-gateway-upstream) runs no proxy: it gets no
  // listening check that would stay critical, only the alias of its route.
  catalog::ServiceRegistration route;
  route.service.service = "mesh-gateway-upstream-dc2";
  route.service.kind = "mesh-gateway-upstream";
  route.service.port = 8443;
  route.sidecar = std::make_unique<catalog::ServiceRegistration>();
  ASSERT_TRUE(agent_->AddService(std::move(route), false).ok());
  std::vector<std::string> route_checks;
  for (const auto& [id, c] : agent_->checks()) {
    if (c.check.service_id == "mesh-gateway-upstream-dc2-sidecar-proxy") {
      route_checks.push_back(c.check.name);
    }
  }
  EXPECT_EQ(route_checks,
            std::vector<std::string>{"Connect Sidecar Aliasing mesh-gateway-upstream-dc2"});
  ASSERT_TRUE(agent_->RemoveService("mesh-gateway-upstream-dc2").ok());

  // A second sidecar takes the next port; removing the parent removes its sidecar.
  catalog::ServiceRegistration api;
  api.service.service = "api";
  api.sidecar = std::make_unique<catalog::ServiceRegistration>();
  ASSERT_TRUE(agent_->AddService(std::move(api), false).ok());
  EXPECT_EQ(agent_->services().at("api-sidecar-proxy").service.port, 21001);
  ASSERT_TRUE(agent_->RemoveService("web").ok());
  EXPECT_EQ(agent_->services().count("web-sidecar-proxy"), 0u);
  loop_.RunPending();
  auto services = CatalogServices();
  EXPECT_EQ(services.count("web-sidecar-proxy"), 0u);
  EXPECT_EQ(services.count("api-sidecar-proxy"), 1u);
  EXPECT_EQ(CatalogChecks().count("service:web-sidecar-proxy:1"), 0u);
}

TEST_F(LocalAgentTest, FailedWritesAreRetriedByThePeriodicSync) {
  loop_.RunPending();
  servers_.Fail(Unavailable("No cluster leader"));
  auto reg = Web();
  reg.checks.clear();  // nothing local changes from here on
  ASSERT_TRUE(agent_->AddService(std::move(reg), false).ok());
  loop_.RunPending();
  EXPECT_FALSE(agent_->InSync());
  EXPECT_EQ(CatalogServices().count("web"), 0u);
  servers_.Heal();
  // The full sync (every 60 s from Start) brings the catalog in line.
  loop_.RunFor(59s);
  EXPECT_EQ(CatalogServices().count("web"), 0u);
  loop_.RunFor(1s);
  EXPECT_EQ(CatalogServices().count("web"), 1u);
  EXPECT_TRUE(agent_->InSync());
}

TEST_F(LocalAgentTest, FullSyncUndoesChangesMadeBehindTheAgentsBack) {
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  ASSERT_TRUE(agent_->UpdateTTL("service:web", catalog::kPassing, "ok").ok());
  loop_.RunPending();
  ASSERT_EQ(CatalogChecks()["service:web"].status, catalog::kPassing);

  // Another writer registers a service on this node and marks web's check critical.
  catalog::RegisterRequest stray;
  stray.node.node = "node1";
  stray.node.address = "127.0.0.2";
  stray.skip_node_update = true;
  stray.service = catalog::NodeService{};
  stray.service->id = "stray";
  stray.service->service = "stray";
  auto check = CatalogChecks()["service:web"];
  check.status = catalog::kCritical;
  stray.checks.push_back(check);
  catalog::HealthCheck node_check;
  node_check.node = "node1";
  node_check.check_id = "stray-check";
  node_check.name = "stray-check";
  stray.checks.push_back(node_check);
  ASSERT_TRUE(servers_.ApplyDirect(stray).status.ok());
  ASSERT_EQ(CatalogServices().count("stray"), 1u);
  ASSERT_EQ(CatalogChecks().count("stray-check"), 1u);

  agent_->FullSync();
  loop_.RunPending();
  EXPECT_EQ(CatalogServices().count("stray"), 0u);
  EXPECT_EQ(CatalogChecks().count("stray-check"), 0u);
  EXPECT_EQ(CatalogChecks()["service:web"].status, catalog::kPassing);
}

TEST_F(LocalAgentTest, LocalWatchesFireOnceOnTheNextChange) {
  int fired = 0;
  const uint64_t before = agent_->generation();
  agent_->WatchLocal([&] { ++fired; });
  ASSERT_TRUE(agent_->AddService(Web(), false).ok());
  EXPECT_EQ(fired, 1);
  EXPECT_NE(agent_->generation(), before);
  ASSERT_TRUE(agent_->RemoveService("web").ok());
  EXPECT_EQ(fired, 1);
}

}  // namespace
}  // namespace gangway::client
