#include "proxyd/process.h"

#include <malloc.h>

#include <csignal>
#include <utility>

#include "apiclient/escape.h"
#include "core/log.h"
#include "core/memory.h"
#include "proxy/config/json.h"

namespace gangway::proxyd {

namespace {

constexpr char kLog[] = "proxy";

std::string Summary(const proxy::Config& c) {
  return std::to_string(c.listeners.size()) + " listeners, " + std::to_string(c.clusters.size()) +
         " clusters";
}

}  // namespace

ProcessOptions::ProcessOptions() {
  watch.wait = std::chrono::minutes(5);
  watch.retry_base = std::chrono::seconds(1);
  watch.retry_max = std::chrono::seconds(5);
}

ConfigDecision DecideConfig(uint64_t applied, std::string_view body) {
  ConfigDecision d;
  auto decoded = proxy::DecodeConfig(body);
  if (!decoded.ok()) {
    d.action = ConfigDecision::Action::kReject;
    d.message = decoded.status().message();
    return d;
  }
  uint64_t version = decoded->version;
  if (version == applied) {
    d.action = ConfigDecision::Action::kSkip;
    return d;
  }
  d.action = applied == 0 || version > applied ? ConfigDecision::Action::kApply
                                               : ConfigDecision::Action::kApplyOlder;
  d.config = std::make_shared<const proxy::Config>(std::move(*decoded));
  return d;
}

ProxyProcess::ProxyProcess(ProcessOptions options)
    : options_(std::move(options)),
      path_("/v1/agent/connect/proxy/" + apiclient::EscapePathSegment(options_.proxy_id)) {}

ProxyProcess::~ProxyProcess() = default;

int ProxyProcess::Run() {
  if (Status s = runtime_.Start(options_.runtime); !s.ok()) {
    LogError(kLog, "cannot start the proxy: " + s.message());
    return 1;
  }
  if (options_.runtime.admin_port >= 0) {
    LogInfo(kLog, "admin endpoint listening on " + options_.runtime.admin_address + ":" +
                      std::to_string(runtime_.AdminPort()));
  }
  LogInfo(kLog, "following the config of proxy \"" + options_.proxy_id + "\" from " +
                    (options_.agent.https ? "https://" : "http://") + options_.agent.hostport +
                    path_);
  if (options_.handle_signals) {
    signals_ = net::OnSignals(loop_, [this](int sig) {
      LogInfo(kLog, std::string("Caught signal: ") + (sig == SIGINT ? "interrupt" : "terminated"));
      loop_.Stop();
    });
  }
  ScheduleTrim();
  loop_.Post([this] {
    apiclient::WatchOptions watch = options_.watch;
    if (watch.token.empty()) watch.token = options_.token;
    watch_ = std::make_unique<apiclient::Watch>(
        loop_, options_.agent, path_, 0,
        [this](uint64_t index, const http::Response& response) { OnAnswer(index, response); },
        watch, [this](const Status& error, Duration retry_in) { OnError(error, retry_in); });
  });
  loop_.Run();

  watch_.reset();
  signals_.reset();
  trim_.reset();
  LogInfo(kLog, "draining: listeners closed, open connections have " +
                    std::to_string(options_.drain_timeout.count()) + "ms to finish");
  runtime_.Drain(std::chrono::steady_clock::now() + options_.drain_timeout);
  LogInfo(kLog, "stopped");
  return 0;
}

void ProxyProcess::Stop() { loop_.Stop(); }

// glibc's free() keeps the pages it frees inside its heaps, so after a burst (thousands of
// handshakes, a deep multiplexed queue) a proxy would stay at its peak for the rest of its
// life. Every few seconds the free pages go back to the kernel: a fraction of a millisecond on
// the control thread for a heap of a few megabytes.
void ProxyProcess::ScheduleTrim() {
  trim_ = loop_.After(std::chrono::seconds(5), [this] {
    malloc_trim(0);
    core::ReleaseUnmodifiedFilePages();
    ScheduleTrim();
  });
}

void ProxyProcess::OnAnswer(uint64_t /*index*/, const http::Response& response) {
  if (failing_) {
    LogInfo(kLog, "config endpoint answering again");
    failing_ = false;
  }
  uint64_t applied = runtime_.version();
  ConfigDecision d = DecideConfig(applied, response.body);
  switch (d.action) {
    case ConfigDecision::Action::kSkip:
      return;
    case ConfigDecision::Action::kReject:
      // The watch now blocks on the bad answer's index, so the same bad body is not fetched in
      // a loop; the next version the agent publishes arrives as usual.
      ++rejected_;
      LogError(kLog,
               "config not applied, keeping version " + std::to_string(applied) + ": " + d.message);
      return;
    case ConfigDecision::Action::kApplyOlder:
      LogWarn(kLog, "proxy config version went backwards (" + std::to_string(d.config->version) +
                        " < " + std::to_string(applied) + ")");
      break;
    case ConfigDecision::Action::kApply:
      break;
  }
  auto order = d.action == ConfigDecision::Action::kApplyOlder ? proxy::ApplyOrder::kAllowOlder
                                                               : proxy::ApplyOrder::kNewerOnly;
  if (Status s = runtime_.Apply(d.config, order); !s.ok()) {
    ++rejected_;
    LogError(kLog, "config version " + std::to_string(d.config->version) +
                       " not applied, keeping version " + std::to_string(applied) + ": " +
                       s.message());
    return;
  }
  LogInfo(kLog, "applied config version " + std::to_string(d.config->version) + ": " +
                    Summary(*d.config));
}

void ProxyProcess::OnError(const Status& error, Duration retry_in) {
  ++failed_queries_;
  // One line per streak of failures, not one per retry. The watch's pause is retry_base after
  // the first failure of a streak (it resets its count on any good answer, including unchanged
  // ones this process never sees), so that marks a new streak too.
  // A different error within a streak (the agent is back but no longer knows this proxy) is
  // news as well.
  bool first = !failing_ || retry_in <= options_.watch.retry_base ||
               error.message() != last_error_;
  failing_ = true;
  last_error_ = error.message();
  std::string text = "config query failed: " + error.message() + " (serving version " +
                     std::to_string(runtime_.version()) + "; retrying)";
  if (first) {
    LogWarn(kLog, text);
  } else {
    LogDebug(kLog, text);
  }
}

}  // namespace gangway::proxyd
