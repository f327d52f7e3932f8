// The control-to-data contract (docs/proxy-config.md): one immutable snapshot of what a sidecar
// or mesh gateway does: listeners, filter chains, clusters, endpoints, leaf, roots, authz. Built
// by proxycfg, served by the agent, applied by the proxy; plain values, any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway::proxy {

// One address a cluster may send a connection to.
struct Endpoint {
  enum class Health { kPassing, kWarning, kCritical };

  std::string address;  // IP literal or DNS name (a gateway's WAN address may be a hostname)
  int port = 0;         // 1..65535
  Health health = Health::kPassing;  // the proxy never picks a kCritical endpoint
  std::string node;                  // catalog node name, for logs only

  bool operator==(const Endpoint&) const = default;
};

// Where a filter chain sends its connections, and how it talks to them.
struct Cluster {
  enum class Tls { kNone, kOriginate };
  // Consul's service-resolver LoadBalancer.Policy names (round_robin, least_request).
  enum class Lb { kRoundRobin, kLeastRequest };

  // Target SNI ("api.default.dc2.internal.<td>"), a gateway's whole-DC name
  // ("dc2.internal.<td>"), or "local_app".
  std::string name;
  // kOriginate: mTLS with our leaf, sending `sni`, accepting only a server whose URI SAN is one of
  // `spiffe_ids`. kNone: bytes pass as they come.
  Tls tls = Tls::kNone;
  std::string sni;
  std::vector<std::string> spiffe_ids;
  std::chrono::milliseconds connect_timeout{5000};
  Lb lb = Lb::kRoundRobin;
  // Clusters tried, in order, when this one has no usable endpoint or connecting to its
  // endpoints fails (a resolver's Failover). Each names a cluster with the same `tls` and no
  // failover of its own.
  std::vector<std::string> failover;
  std::vector<Endpoint> endpoints;

  bool operator==(const Cluster&) const = default;
};

// One condition on a request header (Consul's service-router Match.HTTP.Header). A header that
// appears several times is matched against its values joined with ",".
struct HeaderMatch {
  enum class Kind { kPresent, kExact, kPrefix, kSuffix, kRegex };

  std::string name;  // compared without case
  Kind kind = Kind::kPresent;
  std::string value;    // empty for kPresent; an RE2 pattern (Go syntax, whole value) for kRegex
  bool invert = false;  // the route matches when the condition does not hold

  bool operator==(const HeaderMatch&) const = default;
};

// One condition on a query parameter (Match.HTTP.QueryParam); the first occurrence is compared.
struct QueryMatch {
  enum class Kind { kPresent, kExact, kRegex };

  std::string name;  // compared exactly
  Kind kind = Kind::kPresent;
  std::string value;  // empty for kPresent; an RE2 pattern (whole value) for kRegex

  bool operator==(const QueryMatch&) const = default;
};

// Everything a request must satisfy for a route to take it; an empty match takes every request.
struct RouteMatch {
  enum class Path { kAny, kExact, kPrefix, kRegex };

  Path path_kind = Path::kAny;
  std::string path;  // empty for kAny; starts with "/" for kExact and kPrefix
  std::vector<HeaderMatch> headers;
  std::vector<QueryMatch> query_params;
  std::vector<std::string> methods;  // upper case; empty: any method

  bool operator==(const RouteMatch&) const = default;
};

struct HeaderValue {
  std::string name;
  std::string value;

  bool operator==(const HeaderValue&) const = default;
};

// Header edits, applied in the order Remove, Set, Add (Envoy's order).
struct HeaderChanges {
  std::vector<HeaderValue> add;     // appended, keeping any value already there
  std::vector<HeaderValue> set;     // replaces every value of the header
  std::vector<std::string> remove;  // names, without case

  bool empty() const { return add.empty() && set.empty() && remove.empty(); }
  bool operator==(const HeaderChanges&) const = default;
};

// A cluster a route sends to and its share: weights are in 1/10000 and sum to 10000 per route
// (a splitter's 100.00 with Consul's 0.01 resolution).
struct WeightedCluster {
  std::string cluster;
  int weight = 0;
  // A split's own header edits (Consul's Splits[].RequestHeaders/ResponseHeaders), applied before
  // the route's, as Envoy does by default for Consul: the route's Set wins over the split's.
  HeaderChanges request_headers;
  HeaderChanges response_headers;

  bool operator==(const WeightedCluster&) const = default;
};

struct Route {
  RouteMatch match;
  std::vector<WeightedCluster> clusters;  // picked per request by weight
  std::string prefix_rewrite;  // replaces the matched prefix (or exact path); "" keeps the path
  std::chrono::milliseconds request_timeout{0};  // until the whole response arrived; 0: none
  int num_retries = 0;                           // further attempts after the first
  bool retry_on_connect_failure = false;
  std::vector<int> retry_on_status_codes;
  // Consul's RetryOn conditions (Envoy's names, KnownRetryOn); retried within num_retries.
  std::vector<std::string> retry_on;
  // No byte from the upstream for this long while a request waits on it: 504; 0: none.
  std::chrono::milliseconds idle_timeout{0};
  HeaderChanges request_headers;
  HeaderChanges response_headers;

  bool operator==(const Route&) const = default;
};

// An http_route chain's routes: the first whose match holds takes the request; none: 404.
struct RouteConfig {
  std::vector<Route> routes;

  bool operator==(const RouteConfig&) const = default;
};

struct FilterChain {
  enum class Action {
    kTerminateTls,  // sidecar public listener: mTLS with the leaf, verify and authorize the
                    // client, then plaintext to `cluster` (the local app)
    kOriginateTls,  // sidecar upstream listener: plaintext in, mTLS out to `cluster`
    kTcpProxy,      // gateway: bytes untouched to `cluster`
    kSniCluster,    // gateway: bytes untouched to the cluster named by the SNI; closed if none
    kHttpRoute,     // sidecar upstream listener: HTTP/1.1 from the local app, each request
                    // routed by `route` to an mTLS cluster
  };

  // SNI match: exact names, or "*.<suffix>" (one or more leading labels). Empty: any SNI,
  // including none. Compared without case.
  std::vector<std::string> server_names;
  Action action = Action::kTcpProxy;
  std::string cluster;               // empty for kSniCluster and kHttpRoute
  std::optional<RouteConfig> route;  // present exactly for kHttpRoute
  // kTerminateTls only: the local app speaks HTTP (its protocol is http, http2 or grpc), so each
  // request is parsed as HTTP/1.1 and checked against Authz, L7 permissions included.
  bool inbound_http = false;

  bool operator==(const FilterChain&) const = default;
};

struct Listener {
  enum class Kind { kPublic, kUpstream, kGateway };

  std::string name;     // unique within the config; stable across versions (the proxy keeps a
                        // listener whose name, address and port did not change)
  std::string address;  // IP literal to bind
  int port = 0;         // 0..65535; 0 binds any free port (tests)
  Kind kind = Kind::kPublic;
  std::vector<FilterChain> chains;

  bool operator==(const Listener&) const = default;
};

// The sidecar's own certificate; a mesh gateway has none.
struct Leaf {
  std::string cert_pem;
  std::string private_key_pem;
  std::string spiffe_id;
  std::string valid_before;  // RFC 3339, as Consul's leaf API gives it

  bool operator==(const Leaf&) const = default;
};

// One L7 permission of an intention (Consul's Permissions[i]): a request that `http` matches is
// allowed or denied. `http` is a route match without query parameters.
struct AuthzPermission {
  bool allow = false;
  RouteMatch http;

  bool operator==(const AuthzPermission&) const = default;
};

// One compiled intention. `source` is a SPIFFE ID in which a whole path segment (or the trust
// domain) may be "*": "spiffe://<td>/ns/default/dc/*/svc/web".
//
// A rule with `permissions` is an L7 intention: on an `inbound_http` chain it lets the connection
// in and decides each request by its first matching permission (none matching: default_allow).
// Where no request is seen (any other chain) it denies, so `allow` must be false.
struct AuthzRule {
  std::string source;
  bool allow = false;
  int precedence = 0;  // Consul's intention precedence, 1..9
  std::string id;      // the intention it came from, for the deny reason; may be empty
  std::vector<AuthzPermission> permissions;  // in order; empty for an L4 intention

  bool operator==(const AuthzRule&) const = default;
};

// Rules in evaluation order (precedence descending, deny before allow at equal precedence): the
// first whose source matches decides; none matching means default_allow.
struct Authz {
  bool default_allow = true;
  std::vector<AuthzRule> rules;

  bool operator==(const Authz&) const = default;
};

struct Config {
  enum class Kind { kConnectProxy, kMeshGateway };

  uint64_t version = 0;  // >= 1, strictly increasing per proxy; the endpoint's X-Consul-Index
  Kind kind = Kind::kConnectProxy;
  std::string proxy_id;
  std::string service;  // the sidecar's destination service, or the gateway's service name
  std::string datacenter;
  std::string trust_domain;
  std::optional<Leaf> leaf;  // required for a connect-proxy; absent for a mesh gateway
  std::vector<std::string> roots_pem;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  Authz authz;

  // Linear; the proxy indexes clusters by name when it applies a snapshot.
  const Cluster* FindCluster(std::string_view name) const;

  bool operator==(const Config&) const = default;
};

// Checks every rule of docs/proxy-config.md. The message names the offending field by its JSON
// path, e.g. `Listeners[1].FilterChains[0].Cluster: no cluster named "x"`.
Status Validate(const Config& config);

// True when `pattern` (an exact name or "*.<suffix>") matches `sni`, ignoring case. A wildcard
// needs at least one label before the suffix: "*.b.c" matches "a.b.c" and "x.a.b.c", not "b.c".
bool ServerNameMatches(std::string_view pattern, std::string_view sni);

// The chain of `listener` for a connection with this SNI ("" when the client sent none): an exact
// name wins, then the longest matching wildcard, then the chain with no server_names; nullptr
// when none matches (the connection is closed).
const FilterChain* MatchChain(const Listener& listener, std::string_view sni);

// True when `id` matches an AuthzRule source pattern segment by segment ("*" matches exactly one
// non-empty segment). The scheme and segments other than "*" compare exactly, except the trust
// domain, which compares without case.
bool SourceMatches(std::string_view pattern, std::string_view id);

// The first rule matching `spiffe_id`, or nullptr (then authz.default_allow decides).
const AuthzRule* MatchRule(const Authz& authz, std::string_view spiffe_id);
bool Allowed(const Authz& authz, std::string_view spiffe_id);

// True for the RetryOn conditions of Consul's service-router: 5xx, gateway-error, reset,
// connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, cancelled,
// deadline-exceeded, internal, resource-exhausted, unavailable.
bool KnownRetryOn(std::string_view condition);

// Wire names of the enums, as docs/proxy-config.md lists them.
std::string_view KindName(Config::Kind kind);
std::string_view ListenerKindName(Listener::Kind kind);
std::string_view ActionName(FilterChain::Action action);
std::string_view TlsName(Cluster::Tls tls);
std::string_view LbName(Cluster::Lb lb);
std::string_view HealthName(Endpoint::Health health);
std::string_view PathMatchName(RouteMatch::Path path);
std::string_view HeaderMatchName(HeaderMatch::Kind kind);
std::string_view QueryMatchName(QueryMatch::Kind kind);

}  // namespace gangway::proxy
