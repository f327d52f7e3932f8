// Catalog data types: nodes, services, checks and KV entries, named and shaped as Consul's
// structs so the HTTP layer can render them directly. Plain values; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinate/coordinate.h"

namespace gangway::catalog {

using Index = uint64_t;
using Json = nlohmann::json;
using StringMap = std::map<std::string, std::string>;

inline constexpr const char* kPassing = "passing";
inline constexpr const char* kWarning = "warning";
inline constexpr const char* kCritical = "critical";
inline constexpr const char* kMaintenance = "maintenance";
inline constexpr const char* kSerfCheckID = "serfHealth";

struct RaftIndex {
  Index create_index = 0;
  Index modify_index = 0;
  bool operator==(const RaftIndex&) const = default;
};

struct Node {
  std::string id;  // UUID
  std::string node;
  std::string address;
  std::string datacenter;
  StringMap tagged_addresses;
  StringMap meta;
  RaftIndex raft;
  bool operator==(const Node&) const = default;
};

struct ServiceAddress {
  std::string address;
  int port = 0;
  bool operator==(const ServiceAddress&) const = default;
};

struct Weights {
  int passing = 1;
  int warning = 1;
  bool operator==(const Weights&) const = default;
};

// MeshGateway{Mode}: how traffic to another datacenter travels: "" (inherit), "none", "local" or
// "remote" (consul-behaviour.md §1.3).
struct MeshGatewayConfig {
  std::string mode;
  bool operator==(const MeshGatewayConfig&) const = default;
};

// Expose.Paths[]: an HTTP path of the local service made reachable without mTLS.
struct ExposePath {
  int listener_port = 0;
  std::string path;
  int local_path_port = 0;
  std::string protocol;  // "", "http" or "http2"
  bool operator==(const ExposePath&) const = default;
};

struct ExposeConfig {
  bool checks = false;
  std::vector<ExposePath> paths;
  bool operator==(const ExposeConfig&) const = default;
};

struct TransparentProxyConfig {
  int outbound_listener_port = 0;
  bool dialed_directly = false;
  bool operator==(const TransparentProxyConfig&) const = default;
};

// One upstream of a sidecar (Consul's structs.Upstream). Absent optionals and empty strings are
// not rendered, so a stored upstream reads back as it was written.
struct Upstream {
  std::string destination_type;  // "service" (default) or "prepared_query"
  std::string destination_namespace;
  std::string destination_partition;
  std::string destination_peer;
  std::string destination_name;
  std::string datacenter;
  std::string local_bind_address;
  int local_bind_port = 0;
  std::string local_bind_socket_path;
  std::string local_bind_socket_mode;
  Json config;  // opaque object (protocol, connect_timeout_ms, ...), or null
  std::optional<MeshGatewayConfig> mesh_gateway;
  bool centrally_configured = false;
  bool operator==(const Upstream&) const = default;
};

// A proxy's registration (Consul's AgentServiceConnectProxyConfig), on connect-proxy instances
// and gateways.
struct ProxyConfig {
  std::string destination_service_name;
  std::string destination_service_id;
  std::string local_service_address;
  int local_service_port = 0;
  std::string local_service_socket_path;
  std::string mode;  // "", "direct" or "transparent"
  Json config;       // opaque object, or null
  std::vector<Upstream> upstreams;
  std::optional<MeshGatewayConfig> mesh_gateway;
  std::optional<ExposeConfig> expose;
  std::optional<TransparentProxyConfig> transparent_proxy;
  Json access_logs;       // opaque object, or null
  Json envoy_extensions;  // opaque list, or null
  bool operator==(const ProxyConfig&) const = default;
};

// One service instance on one node (Consul's structs.NodeService).
struct NodeService {
  std::string kind;  // "", "connect-proxy", "mesh-gateway", ...
  std::string id;
  std::string service;
  std::vector<std::string> tags;
  std::string address;
  std::map<std::string, ServiceAddress> tagged_addresses;
  StringMap meta;
  int port = 0;
  std::string socket_path;
  Weights weights;
  bool enable_tag_override = false;
  std::optional<ProxyConfig> proxy;  // absent on typical services
  // ServiceConnect in Consul's API JSON shape (CamelCase keys), or null.
  Json connect;
  RaftIndex raft;
  bool operator==(const NodeService&) const = default;
};

// What an HTTP/TCP/UDP/gRPC/H2PING/TTL/script check was registered with (Consul's HealthCheckDefinition).
struct CheckDefinition {
  std::string http;
  std::map<std::string, std::vector<std::string>> header;
  std::string method;
  std::string body;
  std::string tcp;
  std::vector<std::string> script_args;  // a script check: the command and its arguments
  std::string udp;                       // a UDP check: host:port
  std::string grpc;                      // a gRPC check: host:port or host:port/service
  bool grpc_use_tls = false;
  std::string h2ping;                    // an H2PING check: host:port
  bool h2ping_use_tls = false;           // decoders default it to true when H2PING is set
  bool tls_skip_verify = false;
  std::string tls_server_name;
  int64_t interval_ns = 0;
  int64_t timeout_ns = 0;
  int64_t ttl_ns = 0;
  int64_t deregister_critical_service_after_ns = 0;
  bool operator==(const CheckDefinition&) const = default;
};

struct HealthCheck {
  std::string node;
  std::string check_id;
  std::string name;
  std::string status = kCritical;
  std::string notes;
  std::string output;
  std::string service_id;
  std::string service_name;
  std::vector<std::string> service_tags;
  std::string type;  // "ttl", "http", "tcp", "udp", "grpc", "h2ping", "script", "alias",
                     // "serf" or ""
  int exposed_port = 0;
  CheckDefinition definition;
  RaftIndex raft;
  bool operator==(const HealthCheck&) const = default;
};

// A service instance joined with its node and all checks that apply to it (node checks first).
struct CheckServiceNode {
  Node node;
  NodeService service;
  std::vector<HealthCheck> checks;
  bool operator==(const CheckServiceNode&) const = default;
};

// A service instance joined with its node (the catalog/service endpoint's row).
struct ServiceNode {
  Node node;
  NodeService service;
  bool operator==(const ServiceNode&) const = default;
};

struct KVEntry {
  std::string key;
  uint64_t flags = 0;
  std::string value;  // raw bytes
  std::string session;
  uint64_t lock_index = 0;
  RaftIndex raft;
  bool operator==(const KVEntry&) const = default;
};

// A session (Consul's structs.Session): a node's claim on KV locks, invalidated when the node or
// one of its checks fails, when its TTL lapses, or when destroyed (docs/sessions.md).
inline constexpr const char* kSessionBehaviorRelease = "release";
inline constexpr const char* kSessionBehaviorDelete = "delete";

struct ServiceCheckRef {
  std::string id;
  std::string ns;  // "Namespace"; empty in CE
  bool operator==(const ServiceCheckRef&) const = default;
};

struct Session {
  std::string id;  // UUID, chosen by the leader
  std::string name;
  std::string node;
  int64_t lock_delay_ns = 15'000'000'000;
  std::string behavior = kSessionBehaviorRelease;
  std::string ttl;  // as given ("" = none)
  std::vector<std::string> checks;  // legacy combined list
  std::vector<std::string> node_checks;
  std::vector<ServiceCheckRef> service_checks;
  RaftIndex raft;
  bool operator==(const Session&) const = default;

  // Checks ∪ NodeChecks ∪ ServiceChecks: the checks whose failure invalidates the session.
  std::vector<std::string> AllChecks() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& id) {
      for (const auto& have : out) {
        if (have == id) return;
      }
      out.push_back(id);
    };
    for (const auto& c : checks) add(c);
    for (const auto& c : node_checks) add(c);
    for (const auto& c : service_checks) add(c.id);
    return out;
  }
};

// A node's network coordinate in one network segment ("" = the default), as the servers keep
// it (Consul's structs.Coordinate). docs/coordinates.md.
struct CoordinateEntry {
  std::string node;
  std::string segment;
  coordinate::Coordinate coord;
  bool operator==(const CoordinateEntry&) const = default;
};

}  // namespace gangway::catalog
