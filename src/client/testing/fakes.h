// Fakes for in-process tests of the client role on a simulated loop: a Prober whose answers the
// test sets per target, and an Applier that writes into a real catalog::Store. Both answer
// through Post, as the network and the servers do. Loop thread only; test code only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "catalog/applier.h"
#include "catalog/store.h"
#include "client/prober.h"
#include "core/loop.h"

namespace gangway::client::testing {

class FakeProber final : public Prober {
 public:
  explicit FakeProber(Loop& loop) : loop_(loop) {}

  // Answers for TCP probes of "host:port" (unset: connection refused).
  void SetTcp(const std::string& addr, Status answer) { tcp_[addr] = std::move(answer); }
  // Answers for HTTP requests to "host:port/target" (unset: connection refused).
  void SetHttp(const std::string& key, int code, std::string body = "") {
    http::Response r;
    r.status = code;
    r.body = std::move(body);
    http_.insert_or_assign(key, Result<http::Response>(std::move(r)));
  }
  void SetHttpError(const std::string& key, Status error) {
    http_.insert_or_assign(key, Result<http::Response>(std::move(error)));
  }
  // While held, probes wait until Release() (a slow endpoint).
  void Hold() { hold_ = true; }
  void Release() {
    hold_ = false;
    auto held = std::move(held_);
    held_.clear();
    for (auto& fn : held) loop_.Post(std::move(fn));
  }
  size_t held() const { return held_.size(); }

  void ProbeTcp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                std::function<void(Status)> done) override {
    std::string addr = host + ":" + std::to_string(port);
    tcp_probes_.push_back(addr);
    last_timeout_ = timeout;
    auto it = tcp_.find(addr);
    Status answer =
        it != tcp_.end() ? it->second : Unavailable("dial tcp " + addr + ": connection refused");
    Answer([done = std::move(done), answer] { done(answer); });
  }

  // Answers for UDP probes of "host:port" (unset: success, as silence is).
  void SetUdp(const std::string& addr, Status answer) { udp_[addr] = std::move(answer); }
  void ProbeUdp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                std::function<void(Status)> done) override {
    std::string addr = host + ":" + std::to_string(port);
    udp_probes_.push_back(addr);
    last_timeout_ = timeout;
    auto it = udp_.find(addr);
    Status answer = it != udp_.end() ? it->second : Status::Ok();
    Answer([done = std::move(done), answer] { done(answer); });
  }
  const std::vector<std::string>& udp_probes() const { return udp_probes_; }

  void FetchHttp(http::ClientRequest req,
                 std::function<void(Result<http::Response>)> done) override {
    std::string key = req.host + ":" + std::to_string(req.port) + req.target;
    auto it = http_.find(key);
    Result<http::Response> answer =
        it != http_.end() ? it->second
                          : Result<http::Response>(Unavailable("dial tcp: connection refused"));
    requests_.push_back(std::move(req));
    Answer([done = std::move(done), answer = std::move(answer)] { done(answer); });
  }

  // Answers for HTTP/2 calls and PINGs to "host:port" (unset: connection refused).
  void SetH2(const std::string& addr, net::H2Result answer) { h2_[addr] = std::move(answer); }
  void CallH2(const net::H2Endpoint& to, net::H2Request req, std::chrono::nanoseconds timeout,
              size_t max_body, std::function<void(net::H2Result)> done) override {
    (void)max_body;
    h2_requests_.emplace_back(to, std::move(req));
    last_timeout_ = timeout;
    Answer([done = std::move(done), answer = H2Answer(to)] { done(answer); });
  }
  void PingH2(const net::H2Endpoint& to, std::chrono::nanoseconds timeout,
              std::function<void(net::H2Result)> done) override {
    h2_pings_.push_back(to);
    last_timeout_ = timeout;
    Answer([done = std::move(done), answer = H2Answer(to)] { done(answer); });
  }
  const std::vector<std::pair<net::H2Endpoint, net::H2Request>>& h2_requests() const {
    return h2_requests_;
  }
  const std::vector<net::H2Endpoint>& h2_pings() const { return h2_pings_; }

  // The result of every script run (unset: exit 0, no output).
  void SetScript(ScriptResult r) { script_ = std::move(r); }
  void RunScript(std::vector<std::string> args, std::chrono::nanoseconds timeout, size_t max_output,
                 std::function<void(ScriptResult)> done) override {
    (void)max_output;
    scripts_.push_back(std::move(args));
    last_timeout_ = timeout;
    Answer([done = std::move(done), r = script_] { done(r); });
  }
  const std::vector<std::vector<std::string>>& scripts() const { return scripts_; }

  const std::vector<std::string>& tcp_probes() const { return tcp_probes_; }
  const std::vector<http::ClientRequest>& requests() const { return requests_; }
  std::chrono::nanoseconds last_timeout() const { return last_timeout_; }

 private:
  net::H2Result H2Answer(const net::H2Endpoint& to) const {
    std::string addr = to.host + ":" + std::to_string(to.port);
    if (auto it = h2_.find(addr); it != h2_.end()) return it->second;
    net::H2Result refused;
    refused.stage = net::H2Stage::kDial;
    refused.error = "dial tcp " + addr + ": connect: connection refused";
    return refused;
  }

  void Answer(std::function<void()> fn) {
    if (hold_) {
      held_.push_back(std::move(fn));
    } else {
      loop_.Post(std::move(fn));
    }
  }

  Loop& loop_;
  std::map<std::string, Status> tcp_;
  std::map<std::string, Result<http::Response>> http_;
  bool hold_ = false;
  std::vector<std::function<void()>> held_;
  std::vector<std::string> tcp_probes_;
  std::vector<http::ClientRequest> requests_;
  ScriptResult script_{.exit_code = 0};
  std::map<std::string, Status> udp_;
  std::vector<std::string> udp_probes_;
  std::vector<std::vector<std::string>> scripts_;
  std::map<std::string, net::H2Result> h2_;
  std::vector<std::pair<net::H2Endpoint, net::H2Request>> h2_requests_;
  std::vector<net::H2Endpoint> h2_pings_;
  std::chrono::nanoseconds last_timeout_{0};
};

// The servers as the agent sees them: writes applied in order to a real Store, answered later on
// the loop. While failing, every write is rejected with `failure` and changes nothing.
class StoreApplier final : public catalog::Applier {
 public:
  explicit StoreApplier(Loop& loop) : loop_(loop) {}

  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override {
    ApplyWithToken(std::move(cmd), "", std::move(done));
  }
  void ApplyWithToken(catalog::Command cmd, const std::string& token,
                      std::function<void(catalog::ApplyResult)> done) override {
    tokens_.push_back(token);
    commands_.push_back(cmd);
    catalog::ApplyResult r;
    if (!failure_.ok()) {
      r.status = failure_;
    } else {
      r = store_.Apply(++index_, cmd);
    }
    loop_.Post([done = std::move(done), r = std::move(r)] { done(r); });
  }

  void Fail(Status failure) { failure_ = std::move(failure); }
  void Heal() { failure_ = Status::Ok(); }

  catalog::Store& store() { return store_; }
  // Every write the agent sent, applied or not.
  const std::vector<catalog::Command>& commands() const { return commands_; }
  // The ACL token each of them was sent with ("": the writer's own).
  const std::vector<std::string>& tokens() const { return tokens_; }
  // Writes one command directly, as another writer would (the agent does not see it).
  catalog::ApplyResult ApplyDirect(const catalog::Command& cmd) {
    return store_.Apply(++index_, cmd);
  }

 private:
  Loop& loop_;
  catalog::Store store_;
  catalog::Index index_ = 0;
  std::vector<std::string> tokens_;
  Status failure_ = Status::Ok();
  std::vector<catalog::Command> commands_;
};

}  // namespace gangway::client::testing
