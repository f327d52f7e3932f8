// Health checks the agent runs itself: TTL, HTTP, TCP, UDP, gRPC, H2PING and script, with
// Consul's thresholds (SuccessBeforePassing, FailuresBeforeWarning, FailuresBeforeCritical). A
// CheckRunner reports status transitions through a callback; it owns its timers and probes
// through a Prober it does not own. Loop thread only.
#pragma once

#include <functional>
#include <utility>
#include <memory>
#include <string>

#include "catalog/service_definition.h"
#include "client/prober.h"
#include "core/loop.h"

namespace gangway::client {

inline constexpr size_t kCheckOutputMax = 4096;

// Applies Consul's consecutive-result thresholds to raw check outcomes.
class StatusHandler {
 public:
  StatusHandler(int success_before_passing, int failures_before_warning,
                int failures_before_critical);
  // Returns the status to report, or "" when the result does not change the reported status yet.
  std::string OnResult(const std::string& raw_status);

 private:
  int success_before_passing_;
  int failures_before_warning_;
  int failures_before_critical_;
  int successes_ = 0;
  int failures_ = 0;
};

// A script's result as Consul reports it: exit 0 passing, 1 warning, anything else critical;
// Output the captured tail ("Captured <kept> of <total> bytes\n...\n<tail>" when cut), or
// "Timed out (<timeout>) running check" with the output after a blank line.
std::pair<std::string, std::string> ScriptOutcome(const ScriptResult& r,
                                                  std::chrono::nanoseconds timeout);

// The grpc-timeout header for a call's deadline ("10000m").
std::string GrpcTimeout(std::chrono::nanoseconds timeout);

class CheckRunner {
 public:
  using Report = std::function<void(const std::string& status, const std::string& output)>;

  // `loop` and `prober` must outlive the runner.
  CheckRunner(Loop& loop, Prober& prober, catalog::CheckRegistration def, Report report);
  ~CheckRunner();

  void Start();
  // TTL checks: a pass/warn/fail/update call. Resets the TTL timer.
  void SetTTL(const std::string& status, const std::string& output);
  bool is_ttl() const { return def_.definition.ttl_ns > 0; }
  const catalog::CheckRegistration& definition() const { return def_; }

 private:
  void Schedule(std::chrono::nanoseconds delay);
  void RunOnce();
  void RunGrpc(std::chrono::nanoseconds timeout);
  void RunH2Ping(std::chrono::nanoseconds timeout);
  void Outcome(const std::string& status, const std::string& output);

  Loop& loop_;
  Prober& prober_;
  catalog::CheckRegistration def_;
  Report report_;
  StatusHandler handler_;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<bool> alive_;
};

}  // namespace gangway::client
