// Consul's config entries as typed values: the seven kinds a mesh is configured with, decoded
// from HCL or JSON (strict: unknown keys are errors with the line and the nearest valid key),
// encoded to the JSON shape of Consul's /v1/config API, normalized and validated with Consul's
// rules and error texts. Pure functions over values; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/document.h"
#include "core/duration.h"
#include "core/status.h"

namespace gangway::meshcfg {

using Json = nlohmann::json;
using StringMap = std::map<std::string, std::string>;

// The kinds, as Consul spells them.
inline constexpr std::string_view kProxyDefaults = "proxy-defaults";
inline constexpr std::string_view kServiceDefaults = "service-defaults";
inline constexpr std::string_view kServiceResolver = "service-resolver";
inline constexpr std::string_view kServiceRouter = "service-router";
inline constexpr std::string_view kServiceSplitter = "service-splitter";
inline constexpr std::string_view kServiceIntentions = "service-intentions";
inline constexpr std::string_view kMesh = "mesh";

// ---------------------------------------------------------------------------------------------
// Pieces shared by several kinds.

// What every entry carries besides its kind. Namespace and Partition are Enterprise scoping,
// kept so that entries written for Enterprise read back unchanged.
struct EntryCommon {
  std::string name;
  std::string namespace_;
  std::string partition;
  StringMap meta;
  uint64_t create_index = 0;  // read only: set by the state store
  uint64_t modify_index = 0;  // read only
  bool operator==(const EntryCommon&) const = default;
};

struct MeshGatewayConfig {
  std::string mode;  // "" | none | local | remote
  bool operator==(const MeshGatewayConfig&) const = default;
};

struct TransparentProxyConfig {
  int outbound_listener_port = 0;
  bool dialed_directly = false;
  bool operator==(const TransparentProxyConfig&) const = default;
};

struct ExposePath {
  int listener_port = 0;
  std::string path;
  int local_path_port = 0;
  std::string protocol;  // http | http2
  bool operator==(const ExposePath&) const = default;
};

struct ExposeConfig {
  bool checks = false;
  std::vector<ExposePath> paths;
  bool operator==(const ExposeConfig&) const = default;
};

struct AccessLogsConfig {
  bool enabled = false;
  bool disable_listener_logs = false;
  std::string type;  // file | stderr | stdout ("" is stdout)
  std::string path;
  std::string json_format;
  std::string text_format;
  bool operator==(const AccessLogsConfig&) const = default;
};

struct FailoverPolicy {
  std::string mode;  // "" | default | order-by-locality
  std::vector<std::string> regions;
  bool operator==(const FailoverPolicy&) const = default;
};

struct PrioritizeByLocality {
  std::string mode;  // "" | none | failover
  bool operator==(const PrioritizeByLocality&) const = default;
};

// Request or response header changes of a route or split.
struct HeaderModifiers {
  StringMap add;
  StringMap set;
  std::vector<std::string> remove;
  bool operator==(const HeaderModifiers&) const = default;
};

// A header condition of a route match or an intention permission: exactly one of
// Present/Exact/Prefix/Suffix/Regex.
struct HeaderMatch {
  std::string name;
  bool present = false;
  std::string exact;
  std::string prefix;
  std::string suffix;
  std::string regex;
  bool invert = false;
  bool operator==(const HeaderMatch&) const = default;
};

// ---------------------------------------------------------------------------------------------
// proxy-defaults (Name "global")

struct ProxyDefaults : EntryCommon {
  Json config = Json::object();  // opaque: protocol, local_connect_timeout_ms, envoy_* ...
  std::string mode;              // "" | direct | transparent
  TransparentProxyConfig transparent_proxy;
  std::string mutual_tls_mode;  // "" | strict | permissive
  MeshGatewayConfig mesh_gateway;
  ExposeConfig expose;
  AccessLogsConfig access_logs;
  Json envoy_extensions = Json::array();  // opaque list
  std::optional<FailoverPolicy> failover_policy;
  std::optional<PrioritizeByLocality> prioritize_by_locality;
  bool operator==(const ProxyDefaults&) const = default;
};

// ---------------------------------------------------------------------------------------------
// service-defaults

struct UpstreamLimits {
  std::optional<int> max_connections;
  std::optional<int> max_pending_requests;
  std::optional<int> max_concurrent_requests;
  bool operator==(const UpstreamLimits&) const = default;
};

struct PassiveHealthCheck {
  Duration interval{0};
  int max_failures = 0;
  std::optional<int> enforcing_consecutive_5xx;
  bool operator==(const PassiveHealthCheck&) const = default;
};

struct UpstreamConfig {
  std::string name;  // overrides only
  std::string namespace_;
  std::string partition;
  std::string peer;
  Json envoy_listener_json;  // opaque escape hatches, kept verbatim
  Json envoy_cluster_json;
  std::string protocol;
  int connect_timeout_ms = 0;
  std::optional<UpstreamLimits> limits;
  std::optional<PassiveHealthCheck> passive_health_check;
  MeshGatewayConfig mesh_gateway;
  std::string balance_outbound_connections;  // "" | exact_balance
  bool operator==(const UpstreamConfig&) const = default;
};

struct UpstreamConfiguration {
  std::vector<UpstreamConfig> overrides;
  std::optional<UpstreamConfig> defaults;
  bool operator==(const UpstreamConfiguration&) const = default;
};

struct DestinationConfig {
  std::vector<std::string> addresses;
  int port = 0;
  bool operator==(const DestinationConfig&) const = default;
};

struct ServiceDefaults : EntryCommon {
  std::string protocol;  // lowercased by Normalize; "" means tcp
  std::string mode;
  TransparentProxyConfig transparent_proxy;
  std::string mutual_tls_mode;
  MeshGatewayConfig mesh_gateway;
  ExposeConfig expose;
  std::string external_sni;
  std::optional<UpstreamConfiguration> upstream_config;
  std::optional<DestinationConfig> destination;
  int max_inbound_connections = 0;
  int local_connect_timeout_ms = 0;
  int local_request_timeout_ms = 0;
  std::string balance_inbound_connections;  // "" | exact_balance
  Json rate_limits;                         // opaque
  Json envoy_extensions = Json::array();    // opaque list
  bool operator==(const ServiceDefaults&) const = default;
};

// ---------------------------------------------------------------------------------------------
// service-resolver

struct ResolverSubset {
  std::string filter;  // a bexpr over the service instance, e.g. "Service.Meta.version == v1"
  bool only_passing = false;
  bool operator==(const ResolverSubset&) const = default;
};

struct ResolverRedirect {
  std::string service;
  std::string service_subset;
  std::string namespace_;
  std::string partition;
  std::string sameness_group;
  std::string datacenter;
  std::string peer;
  bool operator==(const ResolverRedirect&) const = default;
};

struct FailoverTarget {
  std::string service;
  std::string service_subset;
  std::string partition;
  std::string namespace_;
  std::string datacenter;
  std::string peer;
  bool operator==(const FailoverTarget&) const = default;
};

struct ResolverFailover {
  std::string service;
  std::string service_subset;
  std::string namespace_;
  std::vector<std::string> datacenters;
  std::vector<FailoverTarget> targets;
  std::optional<FailoverPolicy> policy;
  std::string sameness_group;
  bool operator==(const ResolverFailover&) const = default;
};

struct RingHashConfig {
  uint64_t minimum_ring_size = 0;
  uint64_t maximum_ring_size = 0;
  bool operator==(const RingHashConfig&) const = default;
};

struct LeastRequestConfig {
  int choice_count = 0;
  bool operator==(const LeastRequestConfig&) const = default;
};

struct CookieConfig {
  bool session = false;
  Duration ttl{0};
  std::string path;
  bool operator==(const CookieConfig&) const = default;
};

struct HashPolicy {
  std::string field;  // header | cookie | query_parameter
  std::string field_value;
  std::optional<CookieConfig> cookie_config;
  bool source_ip = false;
  bool terminal = false;
  bool operator==(const HashPolicy&) const = default;
};

struct LoadBalancer {
  std::string policy;  // "" | random | round_robin | least_request | ring_hash | maglev
  std::optional<RingHashConfig> ring_hash_config;
  std::optional<LeastRequestConfig> least_request_config;
  std::vector<HashPolicy> hash_policies;
  bool operator==(const LoadBalancer&) const = default;
};

struct ServiceResolver : EntryCommon {
  std::string default_subset;
  std::map<std::string, ResolverSubset> subsets;
  std::optional<ResolverRedirect> redirect;
  std::map<std::string, ResolverFailover> failover;  // by subset name or "*"
  Duration connect_timeout{0};                       // 0: the chain's default (5s)
  Duration request_timeout{0};
  std::optional<PrioritizeByLocality> prioritize_by_locality;
  std::optional<LoadBalancer> load_balancer;
  bool operator==(const ServiceResolver&) const = default;
};

// ---------------------------------------------------------------------------------------------
// service-router

struct QueryParamMatch {
  std::string name;
  bool present = false;
  std::string exact;
  std::string regex;
  bool operator==(const QueryParamMatch&) const = default;
};

struct RouteHttpMatch {
  std::string path_exact;
  std::string path_prefix;
  std::string path_regex;
  std::vector<HeaderMatch> header;
  std::vector<QueryParamMatch> query_param;
  std::vector<std::string> methods;  // uppercased by Normalize
  bool operator==(const RouteHttpMatch&) const = default;
};

struct RouteMatch {
  std::optional<RouteHttpMatch> http;
  bool operator==(const RouteMatch&) const = default;
};

struct RouteDestination {
  std::string service;  // "": the router's own service
  std::string service_subset;
  std::string namespace_;
  std::string partition;
  // Beyond Consul (its issue 7688): the route's target in another datacenter, without a virtual
  // service and a redirecting resolver. "": the datacenter the chain is evaluated in.
  std::string datacenter;
  std::string prefix_rewrite;
  Duration request_timeout{0};
  Duration idle_timeout{0};
  int num_retries = 0;
  bool retry_on_connect_failure = false;
  std::vector<std::string> retry_on;
  std::vector<int> retry_on_status_codes;
  std::optional<HeaderModifiers> request_headers;
  std::optional<HeaderModifiers> response_headers;
  bool operator==(const RouteDestination&) const = default;
};

struct Route {
  std::optional<RouteMatch> match;
  std::optional<RouteDestination> destination;
  bool operator==(const Route&) const = default;
};

struct ServiceRouter : EntryCommon {
  std::vector<Route> routes;  // the first match wins
  bool operator==(const ServiceRouter&) const = default;
};

// ---------------------------------------------------------------------------------------------
// service-splitter

struct Split {
  double weight = 0;    // 0..100, resolution 0.01
  std::string service;  // "": the splitter's own service
  std::string service_subset;
  std::string namespace_;
  std::string partition;
  std::optional<HeaderModifiers> request_headers;
  std::optional<HeaderModifiers> response_headers;
  bool operator==(const Split&) const = default;
};

struct ServiceSplitter : EntryCommon {
  std::vector<Split> splits;
  bool operator==(const ServiceSplitter&) const = default;
};

// ---------------------------------------------------------------------------------------------
// service-intentions (Name is the destination service, or "*")

struct PermissionHttp {
  std::string path_exact;
  std::string path_prefix;
  std::string path_regex;
  std::vector<HeaderMatch> header;
  std::vector<std::string> methods;  // uppercased by Normalize
  bool operator==(const PermissionHttp&) const = default;
};

struct IntentionPermission {
  std::string action;  // allow | deny
  std::optional<PermissionHttp> http;
  Json jwt;  // opaque
  bool operator==(const IntentionPermission&) const = default;
};

struct SourceIntention {
  std::string name;  // a service name or "*"
  std::string peer;
  std::string namespace_;
  std::string partition;
  std::string sameness_group;
  std::string action;  // allow | deny; excludes permissions
  std::vector<IntentionPermission> permissions;
  int precedence = 0;  // read only: computed by Normalize
  std::string type;    // "consul"; set by Normalize when empty
  std::string description;
  std::string legacy_id;  // set by the legacy intentions API
  StringMap legacy_meta;
  std::string legacy_create_time;  // RFC 3339, as written
  std::string legacy_update_time;
  bool operator==(const SourceIntention&) const = default;
};

struct ServiceIntentions : EntryCommon {
  std::vector<SourceIntention> sources;  // highest precedence first after Normalize
  Json jwt;                              // opaque
  bool operator==(const ServiceIntentions&) const = default;
};

// ---------------------------------------------------------------------------------------------
// mesh (singleton, Name "mesh")

struct MeshTransparentProxy {
  bool mesh_destinations_only = false;
  bool operator==(const MeshTransparentProxy&) const = default;
};

struct MeshTlsConfig {
  std::string tls_min_version;
  std::string tls_max_version;
  std::vector<std::string> cipher_suites;
  bool operator==(const MeshTlsConfig&) const = default;
};

struct MeshTls {
  std::optional<MeshTlsConfig> incoming;
  std::optional<MeshTlsConfig> outgoing;
  bool operator==(const MeshTls&) const = default;
};

struct MeshHttp {
  bool sanitize_x_forwarded_client_cert = false;
  bool operator==(const MeshHttp&) const = default;
};

struct MeshPeering {
  bool peer_through_mesh_gateways = false;
  bool operator==(const MeshPeering&) const = default;
};

struct MeshConfig : EntryCommon {
  MeshTransparentProxy transparent_proxy;
  bool allow_enabling_permissive_mutual_tls = false;
  bool validate_clusters = false;
  std::optional<MeshTls> tls;
  std::optional<MeshHttp> http;
  std::optional<MeshPeering> peering;
  bool operator==(const MeshConfig&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Any entry.

class ConfigEntry {
 public:
  using Value = std::variant<ProxyDefaults, ServiceDefaults, ServiceResolver, ServiceRouter,
                             ServiceSplitter, ServiceIntentions, MeshConfig>;

  ConfigEntry() = default;
  template <typename T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, ConfigEntry> &&
             std::is_constructible_v<Value, T>)
  ConfigEntry(T&& v) : value_(std::forward<T>(v)) {}  // NOLINT: implicit from any kind

  std::string_view kind() const;
  const std::string& name() const { return common().name; }
  const EntryCommon& common() const;
  EntryCommon& common();

  template <typename T>
  const T* As() const {
    return std::get_if<T>(&value_);
  }
  template <typename T>
  T* As() {
    return std::get_if<T>(&value_);
  }
  const Value& value() const { return value_; }
  Value& value() { return value_; }

  bool operator==(const ConfigEntry&) const = default;

 private:
  Value value_;
};

// True for the seven kinds above.
bool IsKnownKind(std::string_view kind);

// Decodes one entry from a parsed HCL or JSON document (or an HTTP body wrapped in a Document).
// Keys match as Consul's decoder does: case-insensitively with '_' ignored, so "Kind", "kind",
// "ConnectTimeout" and "connect_timeout" are accepted. Unknown keys fail with Consul's
// `invalid config key "<path>"`, the line and the nearest valid key; values of the wrong type fail
// naming the key. Durations are Go duration strings (or integer nanoseconds, as the API encodes
// them). Nothing is normalized or validated here: see Normalize and Validate.
Result<ConfigEntry> DecodeConfigEntry(const codec::Document& doc);

// The JSON body of Consul's /v1/config API: CamelCase keys, empty fields omitted as Consul's
// encoder omits them (optional objects when absent; plain ones, like MeshGateway, always), and
// durations as strings ("5s"). Decoding the result gives the entry back.
Json EncodeConfigEntry(const ConfigEntry& entry);

// Consul's Normalize: proxy-defaults and mesh get their fixed names when none is given,
// service-defaults' Protocol is lowercased, route and permission methods uppercased, intention
// actions lowercased, source types default to "consul", and intention sources get their
// precedence and are sorted by it, highest first (stable for equal precedence). Fails only where
// Consul's Normalize does (a wrong fixed name).
Status Normalize(ConfigEntry* entry);

// Consul's per-entry validation with its error texts (a copy is normalized first, so an entry
// straight from the decoder may be given). Regexes (route PathRegex, header and query Regex,
// permission PathRegex) are compiled with RE2 here, so a bad pattern is an error naming the field.
// Checks that need other entries (protocols, subsets of other services, redirect cycles) belong
// to the discovery-chain compiler.
Status Validate(const ConfigEntry& entry);

// The precedence of an intention from `source` to `destination` (names, "*" for any), as
// Consul's table for one namespace: 9 exact→exact, 8 *→exact, 6 exact→*, 5 *→*.
int IntentionPrecedence(std::string_view source, std::string_view destination);

}  // namespace gangway::meshcfg
