// CheckRunner on simulated time with a fake prober: TTL expiry, HTTP/TCP outcomes, Consul's
// consecutive-result thresholds, and deregister_critical_service_after through the LocalAgent.
#include "client/checks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "client/grpc_health.h"
#include "client/local_agent.h"
#include "client/testing/fakes.h"
#include "core/testing/sim_loop.h"

namespace gangway::client {
namespace {

using namespace std::chrono_literals;
using gangway::testing::SimLoop;
using testing::FakeProber;
using testing::StoreApplier;

struct Reported {
  std::string status;
  std::string output;
  std::chrono::steady_clock::duration at;  // since the runner started
};

class CheckRunnerTest : public ::testing::Test {
 protected:
  // Starts a runner for `def`; every report is recorded with its simulated time.
  void Start(catalog::CheckRegistration def) {
    start_ = loop_.Now();
    runner_ = std::make_unique<CheckRunner>(loop_, prober_, std::move(def),
                                            [this](const std::string& s, const std::string& out) {
                                              reports_.push_back({s, out, loop_.Now() - start_});
                                            });
    runner_->Start();
  }
  std::vector<std::string> Statuses() const {
    std::vector<std::string> out;
    for (const auto& r : reports_) out.push_back(r.status);
    return out;
  }

  static catalog::CheckRegistration Http(const std::string& url,
                                         std::chrono::nanoseconds interval = 10s) {
    catalog::CheckRegistration def;
    def.check_id = "web";
    def.name = "web";
    def.definition.http = url;
    def.definition.interval_ns = interval.count();
    return def;
  }

  SimLoop loop_;
  FakeProber prober_{loop_};
  std::chrono::steady_clock::time_point start_;
  std::unique_ptr<CheckRunner> runner_;
  std::vector<Reported> reports_;
};

TEST_F(CheckRunnerTest, TtlCheckGoesCriticalWhenNotUpdatedInTime) {
  catalog::CheckRegistration def;
  def.check_id = "ttl";
  def.name = "ttl";
  def.definition.ttl_ns = std::chrono::nanoseconds(30s).count();
  Start(def);
  loop_.RunFor(29s);
  EXPECT_TRUE(reports_.empty());
  loop_.RunFor(1s);
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].status, catalog::kCritical);
  EXPECT_EQ(reports_[0].output, "TTL expired");
  EXPECT_EQ(reports_[0].at, 30s);
}

TEST_F(CheckRunnerTest, TtlUpdateReportsAndRestartsTheTimer) {
  catalog::CheckRegistration def;
  def.check_id = "ttl";
  def.name = "ttl";
  def.definition.ttl_ns = std::chrono::nanoseconds(30s).count();
  Start(def);
  loop_.RunFor(20s);
  runner_->SetTTL(catalog::kPassing, std::string(kCheckOutputMax + 100, 'x'));
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].status, catalog::kPassing);
  EXPECT_EQ(reports_[0].output.size(), kCheckOutputMax);  // output is capped
  loop_.RunFor(29s);  // 49 s after start: the first deadline (30 s) has passed unnoticed
  EXPECT_EQ(reports_.size(), 1u);
  loop_.RunFor(1s);
  ASSERT_EQ(reports_.size(), 2u);
  EXPECT_EQ(reports_[1].status, catalog::kCritical);
  EXPECT_EQ(reports_[1].at, 50s);
}

TEST_F(CheckRunnerTest, HttpStatusCodesMapToPassingWarningCritical) {
  const std::string key = "127.0.0.1:8080/health";
  prober_.SetHttp(key, 200, "ok");
  Start(Http("http://127.0.0.1:8080/health"));
  loop_.RunFor(1s);  // the first probe runs promptly
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].status, catalog::kPassing);
  EXPECT_EQ(reports_[0].output, "HTTP GET http://127.0.0.1:8080/health: 200 Output: ok");

  prober_.SetHttp(key, 429, "slow down");
  loop_.RunFor(10s);
  ASSERT_EQ(reports_.size(), 2u);
  EXPECT_EQ(reports_[1].status, catalog::kWarning);

  prober_.SetHttp(key, 503, "down");
  loop_.RunFor(10s);
  ASSERT_EQ(reports_.size(), 3u);
  EXPECT_EQ(reports_[2].status, catalog::kCritical);
  EXPECT_EQ(reports_[2].output, "HTTP GET http://127.0.0.1:8080/health: 503 Output: down");

  prober_.SetHttpError(key, Unavailable("connection refused"));
  loop_.RunFor(10s);
  ASSERT_EQ(reports_.size(), 4u);
  EXPECT_EQ(reports_[3].status, catalog::kCritical);
  EXPECT_EQ(reports_[3].output, "GET \"http://127.0.0.1:8080/health\": connection refused");
  // One probe per interval after the first.
  EXPECT_EQ(prober_.requests().size(), 4u);
}

TEST_F(CheckRunnerTest, HttpRequestCarriesMethodHeadersBodyAndTimeout) {
  auto def = Http("http://127.0.0.1:9000/ready");
  def.definition.method = "POST";
  def.definition.body = "{}";
  def.definition.header["X-Token"] = {"a", "b"};
  def.definition.timeout_ns = std::chrono::nanoseconds(2s).count();
  prober_.SetHttp("127.0.0.1:9000/ready", 204);
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.requests().size(), 1u);
  const auto& req = prober_.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.body, "{}");
  EXPECT_EQ(req.timeout, 2s);
  std::vector<std::pair<std::string, std::string>> want = {{"X-Token", "a"}, {"X-Token", "b"}};
  EXPECT_EQ(req.headers, want);
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "HTTP POST http://127.0.0.1:9000/ready: 204 Output: ");
}

TEST_F(CheckRunnerTest, SuccessBeforePassingHoldsBackPassing) {
  auto def = Http("http://127.0.0.1:8080/health");
  def.success_before_passing = 3;
  prober_.SetHttp("127.0.0.1:8080/health", 200);
  Start(def);
  loop_.RunFor(1s + 10s);  // two successes
  EXPECT_TRUE(reports_.empty());
  loop_.RunFor(10s);  // the third
  EXPECT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].at, 20s + 10ms);
}

TEST_F(CheckRunnerTest, FailuresBeforeCriticalWithAWarningOnTheWay) {
  auto def = Http("http://127.0.0.1:8080/health");
  def.failures_before_warning = 1;
  def.failures_before_critical = 3;
  prober_.SetHttp("127.0.0.1:8080/health", 200);
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  prober_.SetHttp("127.0.0.1:8080/health", 500);
  loop_.RunFor(10s);
  EXPECT_EQ(Statuses(), (std::vector<std::string>{catalog::kPassing, catalog::kWarning}));
  loop_.RunFor(10s);  // second failure: still a warning
  EXPECT_EQ(Statuses().back(), catalog::kWarning);
  loop_.RunFor(10s);  // third: critical
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  // A success resets the failure run: one more failure is a warning again, not critical.
  prober_.SetHttp("127.0.0.1:8080/health", 200);
  loop_.RunFor(10s);
  EXPECT_EQ(Statuses().back(), catalog::kPassing);
  prober_.SetHttp("127.0.0.1:8080/health", 500);
  loop_.RunFor(10s);
  EXPECT_EQ(Statuses().back(), catalog::kWarning);
}

TEST_F(CheckRunnerTest, FailuresBeforeCriticalWithoutWarningStaysSilent) {
  auto def = Http("http://127.0.0.1:8080/health");
  def.failures_before_critical = 2;
  prober_.SetHttp("127.0.0.1:8080/health", 500);
  Start(def);
  loop_.RunFor(1s);
  EXPECT_TRUE(reports_.empty());
  loop_.RunFor(10s);
  EXPECT_EQ(Statuses(), std::vector<std::string>{catalog::kCritical});
}

TEST_F(CheckRunnerTest, TcpCheckConnectsToTheTarget) {
  catalog::CheckRegistration def;
  def.check_id = "tcp";
  def.name = "tcp";
  def.definition.tcp = "[::1]:5432";
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  prober_.SetTcp("::1:5432", Status::Ok());
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.tcp_probes(), std::vector<std::string>{"::1:5432"});
  EXPECT_EQ(prober_.last_timeout(), 10s);  // the default
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "TCP connect [::1]:5432: Success");
  prober_.SetTcp("::1:5432", Unavailable("dial tcp [::1]:5432: connection refused"));
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  EXPECT_EQ(reports_.back().output, "dial tcp [::1]:5432: connection refused");
}

TEST_F(CheckRunnerTest, ScriptExitCodesMapToPassingWarningCritical) {
  catalog::CheckRegistration def;
  def.check_id = "script";
  def.name = "script";
  def.definition.script_args = {"/usr/local/bin/check", "--fast"};
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  prober_.SetScript({.exit_code = 0, .output = "all good\n", .output_total = 9});
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.scripts().size(), 1u);
  EXPECT_EQ(prober_.scripts()[0], def.definition.script_args);
  EXPECT_EQ(prober_.last_timeout(), 30s);  // Consul's default for scripts
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "all good\n");
  prober_.SetScript({.exit_code = 1, .output = "slow"});
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kWarning);
  prober_.SetScript({.exit_code = 2, .output = "down"});
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  EXPECT_EQ(reports_.back().output, "down");
}

TEST_F(CheckRunnerTest, UdpCheckPassesOnSilenceAndFailsOnRefusal) {
  catalog::CheckRegistration def;
  def.check_id = "udp";
  def.name = "udp";
  def.definition.udp = "127.0.0.1:5353";
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.udp_probes(), std::vector<std::string>{"127.0.0.1:5353"});
  EXPECT_EQ(prober_.last_timeout(), 10s);
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "UDP connect 127.0.0.1:5353: Success");
  prober_.SetUdp("127.0.0.1:5353",
                 Unavailable("read udp 127.0.0.1:40000->127.0.0.1:5353: Connection refused"));
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  EXPECT_EQ(reports_.back().output, "read udp 127.0.0.1:40000->127.0.0.1:5353: Connection refused");
}

TEST_F(CheckRunnerTest, GrpcCheckCallsHealthCheckAndFollowsTheStatus) {
  catalog::CheckRegistration def;
  def.check_id = "g";
  def.name = "g";
  def.definition.grpc = "127.0.0.1:9000/web";
  def.definition.grpc_use_tls = true;
  def.definition.tls_skip_verify = true;
  def.definition.tls_server_name = "web.local";
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  def.definition.timeout_ns = std::chrono::nanoseconds(2s).count();
  net::H2Result serving;
  serving.status = 200;
  serving.headers = {{"content-type", "application/grpc"}};
  serving.trailers = {{"grpc-status", "0"}};
  serving.body = GrpcFrame(std::string("\x08\x01"));
  prober_.SetH2("127.0.0.1:9000", serving);
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.h2_requests().size(), 1u);
  const auto& [to, req] = prober_.h2_requests()[0];
  EXPECT_TRUE(to.tls);
  EXPECT_TRUE(to.tls_skip_verify);
  EXPECT_EQ(to.tls_server_name, "web.local");
  EXPECT_EQ(req.path, "/grpc.health.v1.Health/Check");
  EXPECT_EQ(req.authority, "127.0.0.1:9000");
  EXPECT_EQ(req.body, GrpcFrame(EncodeHealthCheckRequest("web")));
  EXPECT_NE(std::find(req.headers.begin(), req.headers.end(),
                      std::make_pair(std::string("te"), std::string("trailers"))),
            req.headers.end());
  EXPECT_NE(std::find(req.headers.begin(), req.headers.end(),
                      std::make_pair(std::string("grpc-timeout"), std::string("2000m"))),
            req.headers.end());
  EXPECT_EQ(prober_.last_timeout(), 2s);
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "gRPC check 127.0.0.1:9000/web: success");

  serving.body = GrpcFrame(std::string("\x08\x02"));
  prober_.SetH2("127.0.0.1:9000", serving);
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  EXPECT_EQ(reports_.back().output, "gRPC 127.0.0.1:9000/web serving status: NOT_SERVING");
}

TEST_F(CheckRunnerTest, GrpcCheckAgainstNothingIsCriticalWithTheDialError) {
  catalog::CheckRegistration def;
  def.check_id = "g";
  def.definition.grpc = "127.0.0.1:9001";
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  Start(def);
  loop_.RunFor(1s);
  EXPECT_EQ(prober_.last_timeout(), 10s);  // Consul's default
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kCritical});
  EXPECT_EQ(reports_[0].output,
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error "
            "while dialing: dial tcp 127.0.0.1:9001: connect: connection refused\"");
  EXPECT_FALSE(prober_.h2_requests()[0].first.tls);
}

TEST_F(CheckRunnerTest, H2PingCheckPassesOnAckAndFailsToDial) {
  catalog::CheckRegistration def;
  def.check_id = "h";
  def.definition.h2ping = "127.0.0.1:8443";
  def.definition.h2ping_use_tls = true;
  def.definition.interval_ns = std::chrono::nanoseconds(5s).count();
  prober_.SetH2("127.0.0.1:8443", net::H2Result{});
  Start(def);
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.h2_pings().size(), 1u);
  EXPECT_TRUE(prober_.h2_pings()[0].tls);
  EXPECT_EQ(prober_.h2_pings()[0].host, "127.0.0.1");
  EXPECT_EQ(prober_.h2_pings()[0].port, 8443);
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kPassing});
  EXPECT_EQ(reports_[0].output, "HTTP2 ping was successful");
  net::H2Result refused;
  refused.stage = net::H2Stage::kDial;
  refused.error = "dial tcp 127.0.0.1:8443: connect: connection refused";
  prober_.SetH2("127.0.0.1:8443", refused);
  loop_.RunFor(5s);
  EXPECT_EQ(Statuses().back(), catalog::kCritical);
  EXPECT_EQ(reports_.back().output,
            "Failed to dial to 127.0.0.1:8443: dial tcp 127.0.0.1:8443: connect: connection "
            "refused");
}

TEST(GrpcTimeoutTest, Units) {
  EXPECT_EQ(GrpcTimeout(10s), "10000m");
  EXPECT_EQ(GrpcTimeout(1ns), "1m");
  EXPECT_EQ(GrpcTimeout(std::chrono::hours(100000)), "99999999S");
}

TEST(ScriptOutcomeTest, OutputAndTimeouts) {
  EXPECT_EQ(ScriptOutcome({.start_error = "fork/exec /nope: No such file or directory"}, 30s),
            std::make_pair(std::string(catalog::kCritical),
                           std::string("fork/exec /nope: No such file or directory")));
  EXPECT_EQ(ScriptOutcome({.exit_code = 0, .output = "tail", .output_total = 10000}, 30s).second,
            "Captured 4 of 10000 bytes\n...\ntail");
  EXPECT_EQ(ScriptOutcome({.timed_out = true}, 30s),
            std::make_pair(std::string(catalog::kCritical), std::string("Timed out (30s) running check")));
  EXPECT_EQ(ScriptOutcome({.timed_out = true, .output = "partial"}, 2s).second,
            "Timed out (2s) running check\n\npartial");
  EXPECT_EQ(ScriptOutcome({.exit_code = -1}, 2s).first, catalog::kCritical);  // killed
}

TEST_F(CheckRunnerTest, MalformedTargetsAreCriticalWithoutProbing) {
  catalog::CheckRegistration def;
  def.check_id = "tcp";
  def.name = "tcp";
  def.definition.tcp = "localhost:http";
  Start(def);
  loop_.RunFor(1s);
  EXPECT_TRUE(prober_.tcp_probes().empty());
  ASSERT_EQ(Statuses(), std::vector<std::string>{catalog::kCritical});
  EXPECT_EQ(reports_[0].output, "invalid TCP check address \"localhost:http\"");
}

TEST_F(CheckRunnerTest, AnAnswerArrivingAfterTheRunnerIsGoneIsDropped) {
  prober_.SetHttp("127.0.0.1:8080/health", 200);
  prober_.Hold();
  Start(Http("http://127.0.0.1:8080/health"));
  loop_.RunFor(1s);
  ASSERT_EQ(prober_.held(), 1u);
  runner_.reset();
  prober_.Release();
  loop_.RunFor(1s);
  EXPECT_TRUE(reports_.empty());
}

// DeregisterCriticalServiceAfter is applied by the agent's reaper to the check's service.
TEST(DeregisterCriticalServiceAfter, RemovesTheServiceOnceCriticalForLongEnough) {
  SimLoop loop;
  auto prober = std::make_unique<FakeProber>(loop);
  FakeProber& probe = *prober;
  StoreApplier servers(loop);
  LocalAgentOptions options;
  options.node_name = "node1";
  options.node_id = "11111111-2222-4333-8444-555555555555";
  options.datacenter = "dc1";
  options.address = "127.0.0.1";
  LocalAgent agent(loop, std::move(prober), servers, &servers.store(), options);
  agent.Start();

  catalog::ServiceRegistration reg;
  reg.service.service = "web";
  reg.service.port = 8080;
  catalog::CheckRegistration check;
  check.definition.http = "http://127.0.0.1:8080/health";
  check.definition.interval_ns = std::chrono::nanoseconds(1s).count();
  check.definition.deregister_critical_service_after_ns = std::chrono::nanoseconds(30s).count();
  reg.checks.push_back(check);
  probe.SetHttp("127.0.0.1:8080/health", 200);
  ASSERT_TRUE(agent.AddService(std::move(reg), false).ok());
  loop.RunFor(5s);
  ASSERT_EQ(agent.checks().at("service:web").check.status, catalog::kPassing);

  // Passing for a long time is fine.
  loop.RunFor(2min);
  ASSERT_TRUE(agent.services().count("web"));

  const auto failed_at = loop.Now();
  probe.SetHttp("127.0.0.1:8080/health", 500);
  ASSERT_TRUE(loop.RunUntil([&] { return agent.services().count("web") == 0; }, 5min, 1s));
  const auto gone_after = loop.Now() - failed_at;
  EXPECT_GE(gone_after, 30s);
  EXPECT_LE(gone_after, 33s);  // within an interval and a reap pass of the deadline
  EXPECT_TRUE(agent.checks().empty());
  // And anti-entropy removed it from the catalog.
  loop.RunPending();
  std::optional<catalog::Node> node;
  std::vector<catalog::NodeService> services;
  servers.store().NodeServices(nullptr, "node1", &node, &services);
  ASSERT_TRUE(node.has_value());
  EXPECT_TRUE(services.empty());
}

TEST(DeregisterCriticalServiceAfter, RecoveringInTimeKeepsTheService) {
  SimLoop loop;
  auto prober = std::make_unique<FakeProber>(loop);
  FakeProber& probe = *prober;
  StoreApplier servers(loop);
  LocalAgentOptions options;
  options.node_name = "node1";
  options.address = "127.0.0.1";
  LocalAgent agent(loop, std::move(prober), servers, &servers.store(), options);
  agent.Start();

  catalog::ServiceRegistration reg;
  reg.service.service = "web";
  catalog::CheckRegistration check;
  check.definition.tcp = "127.0.0.1:8080";
  check.definition.interval_ns = std::chrono::nanoseconds(1s).count();
  check.definition.deregister_critical_service_after_ns = std::chrono::nanoseconds(30s).count();
  reg.checks.push_back(check);
  ASSERT_TRUE(agent.AddService(std::move(reg), false).ok());  // refused: critical from the start
  loop.RunFor(20s);
  probe.SetTcp("127.0.0.1:8080", Status::Ok());
  loop.RunFor(5s);
  probe.SetTcp("127.0.0.1:8080", Unavailable("refused"));  // the clock starts again
  loop.RunFor(25s);
  EXPECT_TRUE(agent.services().count("web"));
  loop.RunFor(10s);
  EXPECT_FALSE(agent.services().count("web"));
}

}  // namespace
}  // namespace gangway::client
