// proxyd::ProxyProcess: the proxy process's composition root, as agent::Agent is the agent's. It
// starts a proxy::Runtime, follows one proxy's config at GET /v1/agent/connect/proxy/<id> (a
// blocking query; docs/proxy-config.md, "Transport and versioning") applying each good version,
// keeps serving its last config while the agent is away, and drains on SIGINT/SIGTERM or Stop().
// Run() owns the thread that calls it (the runtime's owner and the event loop); Stop() and the
// accessors may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "apiclient/config.h"
#include "apiclient/watch.h"
#include "net/event_loop.h"
#include "proxy/config/config.h"
#include "proxy/runtime.h"

namespace gangway::proxyd {

struct ProcessOptions {
  ProcessOptions();

  apiclient::AgentAddress agent;  // plain HTTP: the watch does not speak HTTPS
  std::string token;              // X-Consul-Token for the config endpoint
  std::string proxy_id;
  proxy::RuntimeOptions runtime;
  // How long open connections may finish after a signal or Stop().
  std::chrono::milliseconds drain_timeout{5000};
  // The blocking query: wait 5 min; after failures retry 1 s, 4 s, then every 5 s, so a proxy
  // finds its restarted agent within seconds (Consul's watch waits up to 20 s).
  apiclient::WatchOptions watch;
  bool handle_signals = true;  // false in tests, which call Stop()
};

// What to do with one answer of the config endpoint, given the version applied (0: none).
struct ConfigDecision {
  enum class Action {
    kApply,       // newer than the applied one (or the first)
    kApplyOlder,  // lower: the agent restarted with its clock behind; applied all the same
    kSkip,        // the same version again
    kReject,      // not decodable or not valid; `message` says why
  };
  Action action = Action::kSkip;
  std::shared_ptr<const proxy::Config> config;
  std::string message;
};
ConfigDecision DecideConfig(uint64_t applied, std::string_view body);

class ProxyProcess {
 public:
  explicit ProxyProcess(ProcessOptions options);
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Starts the runtime (logging the admin address it bound), follows the config until Stop() or a
  // signal, then drains. 0 after a clean stop; 1 when the runtime could not start.
  int Run();
  // Ends Run() (through a drain). Any thread, before or during Run().
  void Stop();

  // For Stats(), ListenerPort(), AdminPort() and version(); any thread.
  const proxy::Runtime& runtime() const { return runtime_; }
  // Answers that were not applied because they did not decode or validate.
  uint64_t rejected() const { return rejected_.load(); }
  // Failed queries of the config endpoint (the agent unreachable or answering an error).
  uint64_t failed_queries() const { return failed_queries_.load(); }

 private:
  void OnAnswer(uint64_t index, const http::Response& response);
  void OnError(const Status& error, Duration retry_in);
  void ScheduleTrim();

  ProcessOptions options_;
  std::string path_;
  net::EventLoop loop_;
  proxy::Runtime runtime_;
  std::unique_ptr<apiclient::Watch> watch_;  // loop thread only
  std::shared_ptr<void> signals_;
  std::unique_ptr<Timer> trim_;  // loop thread only
  bool failing_ = false;  // loop thread: inside a streak of failed queries
  std::string last_error_;  // loop thread: the last failed query's message
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> failed_queries_{0};
};

}  // namespace gangway::proxyd
