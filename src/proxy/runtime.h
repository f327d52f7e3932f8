// proxy::Runtime: the data plane of one sidecar proxy or mesh gateway (docs/proxy.md, "Runtime").
// N worker threads, each running its own Asio io_context; every listener accepts on every worker
// and a connection stays on the worker that accepted it. Configs arrive as immutable snapshots
// posted to each worker; a connection keeps the snapshot it started with.
// Start, Apply and Drain are called by one owner thread; Stats, ListenerPort, AdminPort and
// version from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "net/client_hello.h"
#include "proxy/balancer.h"
#include "proxy/config/config.h"
#include "proxy/stats.h"

namespace gangway::proxy {

// Which versions Apply accepts. kAllowOlder is for the one case docs/proxy-config.md (rule 3) lets
// a version go backwards: the agent restarted with its clock behind its previous run.
enum class ApplyOrder { kNewerOnly, kAllowOlder };

struct RuntimeOptions {
  int workers = 0;  // worker threads; 0: one per hardware thread
  // The admin endpoint (GET /stats, GET /ready). Port 0 picks a free port; -1 disables it.
  std::string admin_address = "127.0.0.1";
  int admin_port = 19000;
  // How long a gateway waits for a complete ClientHello, and a sidecar for a TLS handshake.
  std::chrono::milliseconds handshake_timeout{10000};
  net::HelloLimits hello_limits;
  // When connection failures eject an endpoint, and for how long (docs/proxy.md, "Failover").
  OutlierPolicy outliers;
  // Upstream connections to a cluster share mTLS connections as streams when the server agrees
  // (docs/mux.md); such a connection without streams for mux_idle_timeout closes.
  bool multiplex = true;
  std::chrono::milliseconds mux_idle_timeout{30000};
};

class Runtime {
 public:
  Runtime();
  ~Runtime();  // Drain(now) when still running
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts the workers and the admin endpoint. No listener is open until the first Apply.
  // Ignores SIGPIPE for the process (splice(2) cannot be told not to raise it).
  Status Start(const RuntimeOptions& options);

  // Applies a config: Validate()s it, builds its TLS contexts once, opens new listeners (and
  // rebinds those whose address or port changed), then posts the snapshot to every worker, which
  // closes the listeners that are gone. Established connections keep their own snapshot, except
  // that each worker closes those whose client the new config's authz denies (counted as
  // RefuseReason::kRevoked). A config whose version is not newer than the current one is ignored
  // (ok); with kAllowOlder only an equal version is. On an error nothing changes.
  Status Apply(std::shared_ptr<const Config> config, ApplyOrder order = ApplyOrder::kNewerOnly);

  RuntimeStats Stats() const;
  // The port a listener is bound to (the kernel's pick for port 0); 0 when it is not open.
  int ListenerPort(std::string_view name) const;
  int AdminPort() const;
  uint64_t version() const;

  // Closes every listener, lets open connections finish until `deadline`, closes the rest, and
  // stops the workers. The runtime serves nothing afterwards.
  void Drain(std::chrono::steady_clock::time_point deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gangway::proxy
