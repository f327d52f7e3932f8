// TestAgent: a dev-mode server, its local agent and the HTTP API in one process on a SimLoop, so
// endpoint tests send requests without sockets and blocking queries wait on simulated time.
// Owned by the test; test thread only. Test code only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "api/http_api.h"
#include "client/local_agent.h"
#include "client/testing/fakes.h"
#include "core/testing/sim_loop.h"
#include "server/server.h"

namespace gangway::api::testing {

class TestAgent {
 public:
  // With `acl`, ACLs are on as that configuration says (and the dev server, leading at once,
  // has created the anonymous token and the builtin policies).
  explicit TestAgent(std::optional<acl::Config> acl = std::nullopt) {
    server::ServerOptions so;
    so.node_name = "test";
    so.node_id = "00000000-0000-4000-8000-000000000001";
    so.rpc_address = "127.0.0.1:8300";
    server_ = std::make_unique<server::Server>(loop_, so);
    if (acl) {
      server::AclOptions ao;
      ao.config = *acl;
      ao.datacenter = so.datacenter;
      server_->EnableAcls(std::move(ao));
    }
    client::LocalAgentOptions lo;
    lo.node_name = so.node_name;
    lo.node_id = so.node_id;
    lo.datacenter = so.datacenter;
    lo.address = "127.0.0.1";
    auto prober = std::make_unique<client::testing::FakeProber>(loop_);
    prober_ = prober.get();
    agent_ = std::make_unique<client::LocalAgent>(loop_, std::move(prober), *server_,
                                                  &server_->store(), lo);
    agent_->Start();
    Backend b;
    b.loop = &loop_;
    b.server = server_.get();
    b.agent = agent_.get();
    b.info.node_name = so.node_name;
    b.info.node_id = so.node_id;
    b.info.datacenter = so.datacenter;
    b.info.primary_datacenter = so.datacenter;
    b.info.server = true;
    b.info.dev = true;
    if (acl) b.acl = *acl;
    api_ = std::make_unique<HttpApi>(b);
    if (acl) server_->DevLeadershipAcquired();
    loop_.RunPending();
  }

  // A request in flight: `response` is set when the API answers.
  struct Pending {
    std::optional<http::Response> response;
    std::shared_ptr<http::Cancellation> cancel = std::make_shared<http::Cancellation>();
  };

  // Hands a request to the API without running the loop (for blocking queries).
  std::shared_ptr<Pending> Send(const std::string& method, const std::string& target,
                                std::string body = "") {
    auto pending = std::make_shared<Pending>();
    http::Request req;
    req.method = method;
    req.target = target;
    req.body = std::move(body);
    req.remote_address = "127.0.0.1";
    if (!token_.empty()) req.headers["X-Consul-Token"] = token_;
    if (!http::Request::ParseTarget(target, &req.path, &req.query)) {
      http::Response bad;
      bad.status = 400;
      pending->response = bad;
      return pending;
    }
    api_->Handle(std::move(req), pending->cancel,
                 [pending](http::Response r) {
      r.UnshareBody();  // tests read `body`
      pending->response = std::move(r);
    });
    return pending;
  }

  // Sends a request and runs the loop until it is answered, for at most `limit` of simulated
  // time; a 599 response says it was not answered in time.
  http::Response Do(const std::string& method, const std::string& target, std::string body = "",
                    std::chrono::nanoseconds limit = std::chrono::minutes(10)) {
    auto pending = Send(method, target, std::move(body));
    loop_.RunPending();
    if (!loop_.RunUntil([&] { return pending->response.has_value(); }, limit,
                        std::chrono::milliseconds(10))) {
      http::Response timeout;
      timeout.status = 599;
      return timeout;
    }
    return *pending->response;
  }

  gangway::testing::SimLoop& loop() { return loop_; }
  server::Server& server() { return *server_; }
  client::LocalAgent& agent() { return *agent_; }
  client::testing::FakeProber& prober() { return *prober_; }
  HttpApi& api() { return *api_; }
  // The token every later request carries ("" for none).
  void set_token(std::string token) { token_ = std::move(token); }

 private:
  gangway::testing::SimLoop loop_;
  std::unique_ptr<server::Server> server_;
  client::testing::FakeProber* prober_ = nullptr;
  std::unique_ptr<client::LocalAgent> agent_;
  std::unique_ptr<HttpApi> api_;
  std::string token_;
};

}  // namespace gangway::api::testing
