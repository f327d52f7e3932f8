// The proxy process against a stand-in for the agent's config endpoint (a real http::Server on
// 127.0.0.1) with a real proxy::Runtime, and the commands' flag handling with a canned transport.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "http/server.h"
#include "proxy/config/json.h"
#include "proxy/testing/harness.h"
#include "proxyd/command.h"
#include "proxyd/process.h"

namespace gangway::proxyd {
namespace {

using proxy::testing::ConnectTcp;
using proxy::testing::WaitFor;

constexpr char kPath[] = "/v1/agent/connect/proxy/gw%2F1";

// A mesh gateway config with one listener on 127.0.0.1, at the port `port` (0: any).
proxy::Config Gateway(uint64_t version, int port = 0) {
  proxy::Config c;
  c.version = version;
  c.kind = proxy::Config::Kind::kMeshGateway;
  c.proxy_id = "gw/1";
  c.service = "mesh-gateway";
  c.datacenter = "dc1";
  c.trust_domain = "11111111-2222-3333-4444-555555555555.consul";
  proxy::Listener lan{"lan", "127.0.0.1", port, proxy::Listener::Kind::kGateway, {}};
  lan.chains.push_back({{}, proxy::FilterChain::Action::kSniCluster, ""});
  c.listeners = {lan};
  return c;
}

// The agent's side of GET /v1/agent/connect/proxy/<id>: answers at once when ?index differs from
// the version it holds, otherwise when the version changes. Runs its own loop thread.
class FakeAgent : public http::Handler {
 public:
  explicit FakeAgent(int port = 0) {
    server_ = std::make_unique<http::Server>(loop_, *this);
    auto bound = server_->Listen("127.0.0.1", port);
    EXPECT_TRUE(bound.ok()) << bound.status().message();
    port_ = bound.ok() ? *bound : 0;
    thread_ = std::thread([this] { loop_.Run(); });
  }
  ~FakeAgent() override {
    // As an agent that dies: held queries are never answered, their connections just close.
    loop_.Post([this] {
      held_.clear();
      server_->Close();
      loop_.Stop();
    });
    thread_.join();
    server_.reset();
  }

  int port() const { return port_; }

  void Serve(uint64_t index, std::string body) {
    loop_.Post([this, index, body = std::move(body)] {
      index_ = index;
      body_ = body;
      auto held = std::move(held_);
      held_.clear();
      for (auto& reply : held) reply(Answer());
    });
  }

  void Handle(http::Request req, std::shared_ptr<http::Cancellation>, http::Reply reply) override {
    if (req.target.rfind(kPath, 0) != 0 || index_ == 0) {
      return reply(http::Response::Text(404, "unknown proxy \"gw/1\""));
    }
    auto index = req.Query("index");
    if (index && *index == std::to_string(index_)) {
      held_.push_back(std::move(reply));
      return;
    }
    reply(Answer());
  }

 private:
  http::Response Answer() const {
    http::Response r = http::Response::Json(200, body_);
    r.Set("X-Consul-Index", std::to_string(index_));
    return r;
  }

  net::EventLoop loop_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::thread thread_;
  // Loop thread only.
  uint64_t index_ = 0;
  std::string body_;
  std::vector<http::Reply> held_;
};

// A ProxyProcess for proxy "gw/1" running on its own thread.
class RunningProxy {
 public:
  explicit RunningProxy(int agent_port) {
    ProcessOptions o;
    o.agent = {"127.0.0.1", agent_port, false, "127.0.0.1:" + std::to_string(agent_port)};
    o.proxy_id = "gw/1";
    o.runtime.workers = 1;
    o.runtime.admin_port = 0;
    o.drain_timeout = std::chrono::milliseconds(500);
    o.watch.retry_base = std::chrono::milliseconds(20);
    o.watch.retry_max = std::chrono::milliseconds(100);
    o.handle_signals = false;
    process_ = std::make_unique<ProxyProcess>(o);
    thread_ = std::thread([this] { code_ = process_->Run(); });
  }
  ~RunningProxy() {
    process_->Stop();
    thread_.join();
  }
  ProxyProcess& operator*() { return *process_; }
  ProxyProcess* operator->() { return process_.get(); }
  bool Serves(int port) {
    int fd = ConnectTcp(port);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }

 private:
  std::unique_ptr<ProxyProcess> process_;
  std::thread thread_;
  int code_ = -1;
};

TEST(DecideConfig, AppliesNewerAndOlderSkipsEqualRejectsBad) {
  std::string v5 = proxy::EncodeConfig(Gateway(5));
  EXPECT_EQ(DecideConfig(0, v5).action, ConfigDecision::Action::kApply);
  EXPECT_EQ(DecideConfig(4, v5).action, ConfigDecision::Action::kApply);
  EXPECT_EQ(DecideConfig(5, v5).action, ConfigDecision::Action::kSkip);
  auto older = DecideConfig(9, v5);
  EXPECT_EQ(older.action, ConfigDecision::Action::kApplyOlder);
  ASSERT_NE(older.config, nullptr);
  EXPECT_EQ(older.config->version, 5u);

  auto bad = DecideConfig(5, "{\"Version\": 6}");
  EXPECT_EQ(bad.action, ConfigDecision::Action::kReject);
  EXPECT_FALSE(bad.message.empty());
  proxy::Config invalid = Gateway(6);
  invalid.listeners[0].port = 70000;
  bad = DecideConfig(5, proxy::EncodeConfig(invalid));
  EXPECT_EQ(bad.action, ConfigDecision::Action::kReject);
  EXPECT_NE(bad.message.find("Port"), std::string::npos) << bad.message;
}

TEST(ProxyProcess, FollowsVersionsKeepsServingThroughBadConfigsAndAnAgentRestart) {
  auto agent = std::make_unique<FakeAgent>();
  int agent_port = agent->port();
  RunningProxy proxy(agent_port);

  // Before any config: the admin endpoint is up, no listener.
  ASSERT_TRUE(WaitFor([&] { return proxy->runtime().AdminPort() > 0; }));
  EXPECT_EQ(proxy->runtime().version(), 0u);

  agent->Serve(10, proxy::EncodeConfig(Gateway(10)));
  ASSERT_TRUE(WaitFor([&] { return proxy->runtime().version() == 10; }));
  int port = proxy->runtime().ListenerPort("lan");
  ASSERT_GT(port, 0);
  EXPECT_TRUE(proxy.Serves(port));

  agent->Serve(11, proxy::EncodeConfig(Gateway(11)));
  ASSERT_TRUE(WaitFor([&] { return proxy->runtime().version() == 11; }));
  EXPECT_EQ(proxy->runtime().ListenerPort("lan"), port);  // same name and address: same socket

  // A body that does not decode, then one that does not validate: neither is applied.
  agent->Serve(12, "{\"Version\": ");
  ASSERT_TRUE(WaitFor([&] { return proxy->rejected() == 1; }));
  proxy::Config invalid = Gateway(13);
  invalid.listeners[0].port = 70000;
  agent->Serve(13, proxy::EncodeConfig(invalid));
  ASSERT_TRUE(WaitFor([&] { return proxy->rejected() == 2; }));
  EXPECT_EQ(proxy->runtime().version(), 11u);
  EXPECT_TRUE(proxy.Serves(port));

  // The agent restarted with its clock behind: the lower version is applied.
  agent->Serve(5, proxy::EncodeConfig(Gateway(5)));
  ASSERT_TRUE(WaitFor([&] { return proxy->runtime().version() == 5; }));
  EXPECT_TRUE(proxy.Serves(proxy->runtime().ListenerPort("lan")));

  // The agent goes away: queries fail, the proxy keeps serving its last config.
  agent.reset();
  ASSERT_TRUE(WaitFor([&] { return proxy->failed_queries() >= 2; }));
  port = proxy->runtime().ListenerPort("lan");
  EXPECT_TRUE(proxy.Serves(port));
  EXPECT_EQ(proxy->runtime().version(), 5u);

  // It comes back on the same address: the next version is applied.
  agent = std::make_unique<FakeAgent>(agent_port);
  agent->Serve(6, proxy::EncodeConfig(Gateway(6)));
  ASSERT_TRUE(WaitFor([&] { return proxy->runtime().version() == 6; }));
  EXPECT_TRUE(proxy.Serves(proxy->runtime().ListenerPort("lan")));
}

TEST(ProxyProcess, StartsWithoutAnAgentAndStopsCleanly) {
  int closed = proxy::testing::ClosedPort();
  RunningProxy proxy(closed);
  ASSERT_TRUE(WaitFor([&] { return proxy->failed_queries() >= 1; }));
  EXPECT_GT(proxy->runtime().AdminPort(), 0);
  EXPECT_EQ(proxy->runtime().version(), 0u);
}

// The commands, with a canned agent and the proxy replaced by a recorder.
struct CommandRun {
  std::ostringstream out, err;
  std::vector<http::ClientRequest> requests;
  std::string services = "{}";
  std::vector<std::string> local = {"10.0.1.10", "192.0.2.10"};
  std::optional<ProcessOptions> started;

  int Run(std::vector<std::string> args) {
    CommandEnvironment env;
    env.out = &out;
    env.err = &err;
    env.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    env.transport = [this](const http::ClientRequest& req) -> Result<http::Response> {
      requests.push_back(req);
      http::Response r;
      if (req.target.rfind("/v1/agent/services", 0) == 0) r.body = services;
      return r;
    };
    env.is_local = [this](const std::string& a) {
      return std::find(local.begin(), local.end(), a) != local.end();
    };
    env.run_proxy = [this](const ProcessOptions& o) {
      started = o;
      return 0;
    };
    return RunProxyCommand(args, env);
  }
};

TEST(ProxyCommand, ConnectProxyNeedsSidecarForOrProxyId) {
  CommandRun run;
  EXPECT_EQ(run.Run({"connect", "proxy"}), 1);
  EXPECT_NE(run.err.str().find("One of -sidecar-for or -proxy-id must be specified"),
            std::string::npos)
      << run.err.str();
  EXPECT_FALSE(run.started);

  CommandRun both;
  EXPECT_EQ(both.Run({"connect", "proxy", "-sidecar-for", "web", "-proxy-id", "x"}), 1);
  EXPECT_FALSE(both.started);
}

TEST(ProxyCommand, SidecarForFindsTheProxyId) {
  CommandRun run;
  run.services = R"({"web-sidecar-proxy": {"ID": "web-sidecar-proxy", "Kind": "connect-proxy",
                     "Proxy": {"DestinationServiceID": "web"}}})";
  ASSERT_EQ(run.Run({"connect", "proxy", "-sidecar-for", "web", "-http-addr", "127.0.0.1:8600",
                     "-admin-bind", "localhost:0", "-workers", "2"}),
            0)
      << run.err.str();
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->proxy_id, "web-sidecar-proxy");
  EXPECT_EQ(run.started->agent.port, 8600);
  EXPECT_EQ(run.started->runtime.admin_address, "127.0.0.1");
  EXPECT_EQ(run.started->runtime.admin_port, 0);
  EXPECT_EQ(run.started->runtime.workers, 2);

  CommandRun none;
  EXPECT_EQ(none.Run({"connect", "proxy", "-sidecar-for", "api"}), 1);
  EXPECT_EQ(none.err.str(), "No sidecar proxy registered for api\n");
}

TEST(ProxyCommand, DefaultsMatchEnvoysAdminAddress) {
  CommandRun run;
  ASSERT_EQ(run.Run({"connect", "proxy", "-proxy-id", "web-sidecar-proxy"}), 0);
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->runtime.admin_address, "127.0.0.1");
  EXPECT_EQ(run.started->runtime.admin_port, 19000);
  EXPECT_EQ(run.started->agent.hostport, "127.0.0.1:8500");
  EXPECT_GE(run.started->runtime.workers, 1);
  EXPECT_TRUE(run.requests.empty());  // -proxy-id needs no lookup
  EXPECT_TRUE(run.started->runtime.multiplex);

  CommandRun plain;
  ASSERT_EQ(plain.Run({"connect", "proxy", "-proxy-id", "web-sidecar-proxy", "-multiplex=false"}),
            0)
      << plain.err.str();
  ASSERT_TRUE(plain.started);
  EXPECT_FALSE(plain.started->runtime.multiplex);
}

TEST(ProxyCommand, ConnectEnvoyRegistersTheMeshGatewayThenRunsIt) {
  CommandRun run;
  ASSERT_EQ(run.Run({"connect", "envoy", "-gateway=mesh", "-register", "-service", "gw-east",
                     "-address", "10.0.1.10", "-wan-address", "192.0.2.10:443"}),
            0)
      << run.err.str();
  EXPECT_NE(run.err.str().find("note: Gangway runs its own proxy for \"connect envoy\""),
            std::string::npos);
  EXPECT_EQ(run.out.str(), "Registered service: gw-east\n");
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_EQ(run.requests[0].method, "PUT");
  EXPECT_EQ(run.requests[0].target, "/v1/agent/service/register");
  Json body = Json::parse(run.requests[0].body);
  EXPECT_EQ(body["Kind"], "mesh-gateway");
  EXPECT_EQ(body["ID"], "gw-east");
  EXPECT_EQ(body["Port"], 8443);
  EXPECT_EQ(body["TaggedAddresses"]["wan"]["Port"], 443);
  EXPECT_EQ(body["Proxy"]["Config"]["envoy_gateway_bind_tagged_addresses"], true);
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->proxy_id, "gw-east");
}

TEST(ProxyCommand, GatewayMeshWithoutRegisterFindsTheRegisteredGateway) {
  CommandRun run;
  run.services = R"({"gw-1": {"ID": "gw-1", "Service": "mesh-gateway", "Kind": "mesh-gateway"}})";
  ASSERT_EQ(run.Run({"gateway", "mesh"}), 0) << run.err.str();
  EXPECT_EQ(run.err.str(), "");  // the canonical form prints no note
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->proxy_id, "gw-1");

  CommandRun none;
  EXPECT_EQ(none.Run({"connect", "gateway", "mesh"}), 1);
  EXPECT_EQ(none.err.str(), "No mesh-gateway services registered with this agent\n");
}

TEST(ProxyCommand, RefusesWhatItCannotRun) {
  CommandRun terminating;
  EXPECT_EQ(terminating.Run({"connect", "envoy", "-gateway=terminating"}), 1);
  EXPECT_NE(terminating.err.str().find("Gangway supports only mesh gateways so far"),
            std::string::npos);

  CommandRun ingress;
  EXPECT_EQ(ingress.Run({"gateway", "ingress"}), 1);
  EXPECT_NE(ingress.err.str().find("only mesh gateways"), std::string::npos);

  CommandRun both;
  EXPECT_EQ(both.Run({"connect", "envoy", "-mesh-gateway", "-gateway", "mesh"}), 1);
  EXPECT_NE(both.err.str().find("The mesh-gateway flag is deprecated"), std::string::npos);

  CommandRun unknown;
  EXPECT_EQ(unknown.Run({"gateway", "mesh", "-bootstrap"}), 1);
  EXPECT_EQ(unknown.err.str().rfind("flag provided but not defined: -bootstrap", 0), 0u)
      << unknown.err.str();

  CommandRun unbindable;
  EXPECT_EQ(unbindable.Run({"gateway", "mesh", "-register", "-address", "198.51.100.7"}), 1);
  EXPECT_NE(unbindable.err.str().find("will not be bindable"), std::string::npos);
  EXPECT_TRUE(unbindable.requests.empty());

  for (auto* run : {&terminating, &ingress, &both, &unknown, &unbindable}) {
    EXPECT_FALSE(run->started);
  }
}

TEST(ProxyCommand, RegisterWithProxyIdKeepsTheServiceName) {
  CommandRun run;
  ASSERT_EQ(run.Run({"gateway", "mesh", "-register", "-service", "gw-east", "-proxy-id",
                     "gw-east-1", "-deregister-after-critical", "1h"}),
            0)
      << run.err.str();
  Json body = Json::parse(run.requests.at(0).body);
  EXPECT_EQ(body["Name"], "gw-east");
  EXPECT_EQ(body["ID"], "gw-east-1");
  EXPECT_EQ(body["Check"]["DeregisterCriticalServiceAfter"], "1h");
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->proxy_id, "gw-east-1");
}

TEST(ProxyCommand, MeshGatewayFlagMeansGatewayMesh) {
  CommandRun run;
  ASSERT_EQ(run.Run({"connect", "envoy", "-mesh-gateway", "-register"}), 0) << run.err.str();
  ASSERT_TRUE(run.started);
  EXPECT_EQ(run.started->proxy_id, "mesh-gateway");
  EXPECT_EQ(Json::parse(run.requests.at(0).body)["Check"]["TCP"], "127.0.0.1:8443");
}

}  // namespace
}  // namespace gangway::proxyd
