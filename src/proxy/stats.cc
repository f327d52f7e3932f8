#include "proxy/stats.h"

#include <nlohmann/json.hpp>

namespace gangway::proxy {

std::string_view RefuseReasonName(RefuseReason reason) {
  switch (reason) {
    case RefuseReason::kTlsHandshake: return "tls_handshake";
    case RefuseReason::kNoClientCertificate: return "no_client_certificate";
    case RefuseReason::kUntrustedPeer: return "untrusted_peer";
    case RefuseReason::kForeignTrustDomain: return "foreign_trust_domain";
    case RefuseReason::kBadSpiffeId: return "bad_spiffe_id";
    case RefuseReason::kUnauthorized: return "unauthorized";
    case RefuseReason::kBadClientHello: return "bad_client_hello";
    case RefuseReason::kHelloTimeout: return "hello_timeout";
    case RefuseReason::kNoChain: return "no_chain";
    case RefuseReason::kUnknownCluster: return "unknown_cluster";
    case RefuseReason::kNoHealthyEndpoint: return "no_healthy_endpoint";
    case RefuseReason::kConnectFailed: return "connect_failed";
    case RefuseReason::kUpstreamTls: return "upstream_tls";
    case RefuseReason::kWrongServerIdentity: return "wrong_server_identity";
    case RefuseReason::kInternal: return "internal";
    case RefuseReason::kEmpty: return "empty";
    case RefuseReason::kRevoked: return "revoked";
    case RefuseReason::kForbidden: return "forbidden";
  }
  return "unknown";
}

uint64_t ListenerStats::RefusedTotal() const {
  uint64_t total = 0;
  for (uint64_t n : refused) total += n;
  return total - Refused(RefuseReason::kForbidden);  // a request, not a connection
}

const ListenerStats* RuntimeStats::Listener(std::string_view name) const {
  for (const auto& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

const ClusterStats* RuntimeStats::Cluster(std::string_view name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const RouteStats* RuntimeStats::Route(std::string_view name) const {
  for (const auto& r : routes) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

RouteStats Read(std::string name, const RouteCounters& c) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  RouteStats s;
  s.name = std::move(name);
  s.requests = c.requests.load(kRelaxed);
  for (size_t i = 0; i < s.responses.size(); ++i) s.responses[i] = c.responses[i].load(kRelaxed);
  s.retries = c.retries.load(kRelaxed);
  s.timeouts = c.timeouts.load(kRelaxed);
  return s;
}

ListenerStats Read(std::string name, const ListenerCounters& c) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  ListenerStats s;
  s.name = std::move(name);
  s.accepted = c.accepted.load(kRelaxed);
  s.active = c.active.load(kRelaxed);
  s.bytes_in = c.bytes_in.load(kRelaxed);
  s.bytes_out = c.bytes_out.load(kRelaxed);
  for (size_t i = 0; i < kRefuseReasonCount; ++i) s.refused[i] = c.refused[i].load(kRelaxed);
  for (size_t i = 0; i < kHelloErrorCount; ++i) {
    s.hello_errors[i] = c.hello_errors[i].load(kRelaxed);
  }
  return s;
}

ClusterStats Read(std::string name, const ClusterCounters& c) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  ClusterStats s;
  s.name = std::move(name);
  s.connections = c.connections.load(kRelaxed);
  s.active = c.active.load(kRelaxed);
  s.connect_failures = c.connect_failures.load(kRelaxed);
  s.bytes_sent = c.bytes_sent.load(kRelaxed);
  s.bytes_received = c.bytes_received.load(kRelaxed);
  s.tls_resumed = c.tls_resumed.load(kRelaxed);
  s.mux_sessions = c.mux_sessions.load(kRelaxed);
  s.mux_active = c.mux_active.load(kRelaxed);
  s.mux_window_only_writes = c.mux_window_only_writes.load(kRelaxed);
  return s;
}

std::string StatsJson(const RuntimeStats& stats) {
  nlohmann::ordered_json listeners = nlohmann::ordered_json::object();
  for (const auto& l : stats.listeners) {
    nlohmann::ordered_json refused = nlohmann::ordered_json::object();
    for (size_t i = 0; i < kRefuseReasonCount; ++i) {
      if (l.refused[i] != 0) refused[RefuseReasonName(static_cast<RefuseReason>(i))] = l.refused[i];
    }
    nlohmann::ordered_json hello = nlohmann::ordered_json::object();
    for (size_t i = 0; i < kHelloErrorCount; ++i) {
      if (l.hello_errors[i] != 0) {
        hello[net::HelloErrorName(static_cast<net::HelloError>(i))] = l.hello_errors[i];
      }
    }
    listeners[l.name] = {{"Port", l.port},          {"Accepted", l.accepted},
                         {"Active", l.active},      {"BytesIn", l.bytes_in},
                         {"BytesOut", l.bytes_out}, {"Refused", std::move(refused)},
                         {"HelloErrors", std::move(hello)}};
  }
  nlohmann::ordered_json clusters = nlohmann::ordered_json::object();
  for (const auto& c : stats.clusters) {
    clusters[c.name] = {{"Connections", c.connections},
                        {"Active", c.active},
                        {"ConnectFailures", c.connect_failures},
                        {"BytesSent", c.bytes_sent},
                        {"BytesReceived", c.bytes_received},
                        {"TlsResumed", c.tls_resumed},
                        {"MuxSessions", c.mux_sessions},
                        {"MuxActive", c.mux_active},
                        {"MuxWindowOnlyWrites", c.mux_window_only_writes}};
  }
  nlohmann::ordered_json routes = nlohmann::ordered_json::object();
  for (const auto& r : stats.routes) {
    nlohmann::ordered_json responses = nlohmann::ordered_json::object();
    for (size_t i = 0; i < r.responses.size(); ++i) {
      responses[std::to_string(i + 1) + "xx"] = r.responses[i];
    }
    routes[r.name] = {{"Requests", r.requests},
                      {"Responses", std::move(responses)},
                      {"Retries", r.retries},
                      {"Timeouts", r.timeouts}};
  }
  nlohmann::ordered_json out = {{"Version", stats.version},
                                {"ActiveConnections", stats.active_connections},
                                {"ConnectionErrors", stats.connection_errors},
                                {"Listeners", std::move(listeners)},
                                {"Clusters", std::move(clusters)},
                                {"Routes", std::move(routes)}};
  return out.dump(2) + "\n";
}

}  // namespace gangway::proxy
