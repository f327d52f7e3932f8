// The data plane's counters: per listener and per cluster, bumped by every worker without locks
// (relaxed atomics) and read by Runtime::Stats() from any thread. Counter objects are kept by
// name across config versions, so a listener's figures survive a reload.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/client_hello.h"

namespace gangway::proxy {

// Why a connection was closed before (or instead of) carrying bytes. Append-only: counters and
// the admin /stats JSON use RefuseReasonName().
enum class RefuseReason {
  kTlsHandshake,         // the downstream TLS handshake failed for another reason
  kNoClientCertificate,  // a public listener's client sent no certificate
  kUntrustedPeer,        // the client's chain does not verify against the roots
  kForeignTrustDomain,   // the client's SPIFFE ID names another trust domain
  kBadSpiffeId,          // the client's certificate has no usable SPIFFE URI SAN
  kUnauthorized,         // Authorize() said no
  kBadClientHello,       // a gateway got bytes that are not a ClientHello (see hello_errors)
  kHelloTimeout,         // a gateway got no complete ClientHello in time
  kNoChain,              // no filter chain matches the SNI
  kUnknownCluster,       // kSniCluster: no cluster is named by the SNI
  kNoHealthyEndpoint,    // the cluster has no passing or warning endpoint
  kConnectFailed,        // every endpoint tried failed to connect in time
  kUpstreamTls,          // the upstream TLS handshake failed (chain, alert, reset)
  kWrongServerIdentity,  // the upstream's SPIFFE ID is not one the cluster expects
  kInternal,             // an unexpected error inside the proxy (an exception, caught)
  kEmpty,                // the peer closed without sending a byte (a TCP health check); logged
                         // at debug level only
  kRevoked,              // an established connection whose client a newer config's authz denies
  kForbidden,            // a request (not a connection) on an inbound_http chain that authz
                         // denied: answered 403, the connection stays open when HTTP allows
};
inline constexpr size_t kRefuseReasonCount = static_cast<size_t>(RefuseReason::kForbidden) + 1;
inline constexpr size_t kHelloErrorCount = static_cast<size_t>(net::HelloError::kBadExtension) + 1;

// Stable lower_snake names: "no_healthy_endpoint", "wrong_server_identity", ...
std::string_view RefuseReasonName(RefuseReason reason);

struct ListenerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> bytes_in{0};   // from the downstream peer
  std::atomic<uint64_t> bytes_out{0};  // to the downstream peer
  std::array<std::atomic<uint64_t>, kRefuseReasonCount> refused{};
  std::array<std::atomic<uint64_t>, kHelloErrorCount> hello_errors{};

  void Refuse(RefuseReason r) { refused[static_cast<size_t>(r)].fetch_add(1, kRelaxed); }
  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
};

struct ClusterCounters {
  std::atomic<uint64_t> connections{0};  // upstream connections established
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> bytes_sent{0};      // to the upstream
  std::atomic<uint64_t> bytes_received{0};  // from the upstream
  std::atomic<uint64_t> tls_resumed{0};     // kOriginate handshakes that resumed a session
  std::atomic<uint64_t> mux_sessions{0};    // kOriginate TLS connections carrying streams
  std::atomic<int64_t> mux_active{0};       // of those, open now
  std::atomic<uint64_t> mux_window_only_writes{0};  // their writes that only gave credit back
};

// One route of an http_route chain (named "<listener>#<index>"), or the requests no route took
// ("<listener>#none").
struct RouteCounters {
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, 5> responses{};  // by class (1xx..5xx) of the status sent
  std::atomic<uint64_t> retries{0};                  // attempts after the first
  std::atomic<uint64_t> timeouts{0};                 // RequestTimeoutMs or IdleTimeoutMs passed

  void Respond(int status) {
    if (status >= 100 && status < 600) responses[status / 100 - 1].fetch_add(1, kRelaxed);
  }
  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
};

// Plain copies for callers.
struct ListenerStats {
  std::string name;
  int port = 0;  // the bound port; 0 once closed
  uint64_t accepted = 0;
  int64_t active = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::array<uint64_t, kRefuseReasonCount> refused{};
  std::array<uint64_t, kHelloErrorCount> hello_errors{};

  uint64_t Refused(RefuseReason r) const { return refused[static_cast<size_t>(r)]; }
  uint64_t RefusedTotal() const;  // connections refused or closed: `forbidden` requests aside
};

struct ClusterStats {
  std::string name;
  uint64_t connections = 0;
  int64_t active = 0;
  uint64_t connect_failures = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t tls_resumed = 0;
  uint64_t mux_sessions = 0;
  int64_t mux_active = 0;
  uint64_t mux_window_only_writes = 0;
};

struct RouteStats {
  std::string name;
  uint64_t requests = 0;
  std::array<uint64_t, 5> responses{};
  uint64_t retries = 0;
  uint64_t timeouts = 0;

  uint64_t Class(int hundreds) const { return responses[hundreds - 1]; }  // Class(2): 2xx
};

struct RuntimeStats {
  uint64_t version = 0;  // the config applied last; 0 before the first
  int64_t active_connections = 0;
  uint64_t connection_errors = 0;  // exceptions caught at the top of a connection
  std::vector<ListenerStats> listeners;  // sorted by name
  std::vector<ClusterStats> clusters;    // sorted by name
  std::vector<RouteStats> routes;        // sorted by name

  const RouteStats* Route(std::string_view name) const;

  const ListenerStats* Listener(std::string_view name) const;
  const ClusterStats* Cluster(std::string_view name) const;
};

ListenerStats Read(std::string name, const ListenerCounters& c);
ClusterStats Read(std::string name, const ClusterCounters& c);
RouteStats Read(std::string name, const RouteCounters& c);

// The admin endpoint's JSON: {"Version":N,"ActiveConnections":N,"Listeners":{name:{...}},
// "Clusters":{name:{...}},"Routes":{name:{...}}}; refusal counters appear only when non-zero.
std::string StatsJson(const RuntimeStats& stats);

}  // namespace gangway::proxy
