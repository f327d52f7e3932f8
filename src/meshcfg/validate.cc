// Normalize and Validate: Consul's per-entry rules (agent/structs/config_entry*.go) with its
// error texts, so that clients and scripts matching those texts keep working.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "codec/schema.h"
#include "core/regexp.h"
#include "core/strings.h"
#include "meshcfg/config_entry.h"

namespace gangway::meshcfg {
namespace {

// Go's %q for the strings in Consul's messages.
std::string Q(std::string_view s) { return codec::QuoteValue(s); }

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

Status Fail(std::string msg) { return InvalidArgument(std::move(msg)); }

// Consul's validateConfigEntryMeta.
Status ValidateMeta(const StringMap& meta) {
  if (meta.size() > 64) return Fail("Meta exceeds maximum element count 64");
  for (const auto& [k, v] : meta) {
    if (k.size() > 128) return Fail("Meta key " + Q(k) + " exceeds maximum length 128");
    if (v.size() > 512) return Fail("Meta value for key " + Q(k) + " exceeds maximum length 512");
  }
  return Status::Ok();
}

Status ValidateMeshGatewayMode(const MeshGatewayConfig& mg) {
  const std::string& m = mg.mode;
  if (m.empty() || m == "none" || m == "local" || m == "remote") return Status::Ok();
  return Fail("Invalid Mesh Gateway Mode: " + Q(m));
}

Status ValidateProxyMode(const std::string& mode) {
  if (mode.empty() || mode == "direct" || mode == "transparent") return Status::Ok();
  return Fail("Invalid Proxy Mode: " + Q(mode));
}

Status ValidateMutualTlsMode(const std::string& mode) {
  if (mode.empty() || mode == "strict" || mode == "permissive") return Status::Ok();
  return Fail("Invalid MutualTLSMode " + Q(mode) +
              ". Must be one of \"\", \"strict\", or \"permissive\".");
}

Status ValidateTransparentProxy(const TransparentProxyConfig& tp) {
  if (tp.outbound_listener_port < 0 || tp.outbound_listener_port > 65535) {
    return Fail("TransparentProxy.OutboundListenerPort must be between 0 and 65535");
  }
  return Status::Ok();
}

Status ValidateExpose(const ExposeConfig& expose) {
  for (const ExposePath& p : expose.paths) {
    if (!p.path.empty() && !StartsWith(p.path, "/")) {
      return Fail("exposed paths must start with a '/': " + Q(p.path));
    }
    if (!p.protocol.empty() && p.protocol != "http" && p.protocol != "http2") {
      return Fail("protocol " + Q(p.protocol) + " is not supported for exposed paths");
    }
  }
  return Status::Ok();
}

Status ValidateAccessLogs(const AccessLogsConfig& a) {
  if (!a.type.empty() && a.type != "file" && a.type != "stderr" && a.type != "stdout") {
    return Fail("invalid access log type: " + a.type);
  }
  if (!a.path.empty() && a.type != "file") {
    return Fail("path is only valid for file type access logs");
  }
  if (a.type == "file" && a.path.empty())
    return Fail("path must be specified when using file type access logs");
  if (!a.json_format.empty() && !a.text_format.empty()) {
    return Fail("cannot specify both access log JSONFormat and TextFormat");
  }
  if (!a.enabled && a.disable_listener_logs) {
    return Fail("AccessLogs.DisableListenerLogs requires AccessLogs.Enabled");
  }
  return Status::Ok();
}

Status ValidateFailoverPolicy(const std::optional<FailoverPolicy>& p) {
  if (!p) return Status::Ok();
  if (p->mode.empty() || p->mode == "default" || p->mode == "order-by-locality") {
    return Status::Ok();
  }
  return Fail("Failover-policy mode must be one of '', 'default', or 'order-by-locality'");
}

Status ValidatePrioritizeByLocality(const std::optional<PrioritizeByLocality>& p) {
  if (!p || p->mode.empty() || p->mode == "none" || p->mode == "failover") return Status::Ok();
  return Fail("Invalid PrioritizeByLocality mode " + Q(p->mode) +
              ". Must be one of \"\", \"none\", or \"failover\".");
}

Status CompileRegex(const std::string& prefix, const std::string& pattern) {
  auto re = Regexp::Compile(pattern);
  if (!re.ok()) return Fail(prefix + ": " + re.status().message());
  return Status::Ok();
}

bool IsValidMethod(const std::string& m) {
  static const std::set<std::string, std::less<>> kMethods = {
      "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"};
  return kMethods.count(m) > 0;
}

Status ValidateMethods(const std::string& prefix, const std::vector<std::string>& methods) {
  std::set<std::string> seen;
  for (const std::string& m : methods) {
    if (!IsValidMethod(m)) return Fail(prefix + " contains an invalid method " + Q(m));
    if (!seen.insert(m).second) return Fail(prefix + " contains " + Q(m) + " more than once");
  }
  return Status::Ok();
}

// A header condition: Name and exactly one of Present/Exact/Prefix/Suffix/Regex.
Status ValidateHeader(const std::string& prefix, const HeaderMatch& h) {
  if (h.name.empty()) return Fail(prefix + " missing required Name field");
  int parts = (h.present ? 1 : 0) + (!h.exact.empty() ? 1 : 0) + (!h.prefix.empty() ? 1 : 0) +
              (!h.suffix.empty() ? 1 : 0) + (!h.regex.empty() ? 1 : 0);
  if (parts != 1) {
    return Fail(prefix + " should only contain one of Present, Exact, Prefix, Suffix, or Regex");
  }
  if (!h.regex.empty()) return CompileRegex(prefix + " Regex", h.regex);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

Status ValidateProxyDefaults(const ProxyDefaults& e) {
  if (e.name != "global") {
    return Fail("invalid name (" + Q(e.name) + "), only \"global\" is supported");
  }
  for (auto s : {ValidateMeta(e.meta), ValidateMeshGatewayMode(e.mesh_gateway),
                 ValidateProxyMode(e.mode), ValidateMutualTlsMode(e.mutual_tls_mode),
                 ValidateTransparentProxy(e.transparent_proxy), ValidateExpose(e.expose),
                 ValidateAccessLogs(e.access_logs), ValidateFailoverPolicy(e.failover_policy),
                 ValidatePrioritizeByLocality(e.prioritize_by_locality)}) {
    if (!s.ok()) return s;
  }
  if (!e.config.is_null() && !e.config.is_object()) return Fail("Config must be an object");
  if (!e.envoy_extensions.is_null() && !e.envoy_extensions.is_array()) {
    return Fail("EnvoyExtensions must be a list");
  }
  return Status::Ok();
}

Status ValidateUpstreamConfig(const std::string& prefix, const UpstreamConfig& u, bool is_default) {
  if (is_default && !u.name.empty()) {
    return Fail(prefix + ": Name must be empty for the upstream defaults");
  }
  if (!is_default && u.name.empty()) return Fail(prefix + ": Name is required");
  if (!is_default && u.name == "*") {
    return Fail(prefix + ": Name cannot be a wildcard \"*\"; use Defaults instead");
  }
  if (u.connect_timeout_ms < 0) {
    return Fail(prefix +
                ": invalid value for ConnectTimeoutMs: " + std::to_string(u.connect_timeout_ms));
  }
  if (u.limits) {
    for (const auto& [n, v] :
         {std::pair{"MaxConnections", u.limits->max_connections},
          std::pair{"MaxPendingRequests", u.limits->max_pending_requests},
          std::pair{"MaxConcurrentRequests", u.limits->max_concurrent_requests}}) {
      if (v && *v < 0) {
        return Fail(prefix + ": invalid value for Limits." + n + ": " + std::to_string(*v));
      }
    }
  }
  if (!u.balance_outbound_connections.empty() &&
      u.balance_outbound_connections != "exact_balance") {
    return Fail(prefix + ": invalid value for balance_outbound_connections: " +
                u.balance_outbound_connections);
  }
  if (Status s = ValidateMeshGatewayMode(u.mesh_gateway); !s.ok()) {
    return Fail(prefix + ": " + s.message());
  }
  return Status::Ok();
}

Status ValidateServiceDefaults(const ServiceDefaults& e) {
  if (e.name.empty()) return Fail("Name is required");
  if (e.name == "*") {
    return Fail("service-defaults name must be the name of a service, and not a wildcard");
  }
  for (auto s : {ValidateMeta(e.meta), ValidateMeshGatewayMode(e.mesh_gateway),
                 ValidateProxyMode(e.mode), ValidateMutualTlsMode(e.mutual_tls_mode),
                 ValidateTransparentProxy(e.transparent_proxy), ValidateExpose(e.expose)}) {
    if (!s.ok()) return s;
  }
  if (!e.balance_inbound_connections.empty() && e.balance_inbound_connections != "exact_balance") {
    return Fail("invalid value for balance_inbound_connections: " + e.balance_inbound_connections);
  }
  if (e.max_inbound_connections < 0) {
    return Fail("invalid value for MaxInboundConnections: " +
                std::to_string(e.max_inbound_connections));
  }
  if (e.local_connect_timeout_ms < 0) {
    return Fail("invalid value for LocalConnectTimeoutMs: " +
                std::to_string(e.local_connect_timeout_ms));
  }
  if (e.local_request_timeout_ms < 0) {
    return Fail("invalid value for LocalRequestTimeoutMs: " +
                std::to_string(e.local_request_timeout_ms));
  }
  if (e.destination) {
    if (e.upstream_config) {
      return Fail("UpstreamConfig cannot be set for a service-defaults entry with a Destination");
    }
    if (e.destination->addresses.empty()) return Fail("Destination.Addresses is required");
    if (e.destination->port < 1 || e.destination->port > 65535) {
      return Fail("Destination.Port must be between 1 and 65535");
    }
    std::set<std::string> seen;
    for (const std::string& a : e.destination->addresses) {
      if (a.empty()) return Fail("Destination.Addresses contains an empty address");
      if (!seen.insert(a).second) {
        return Fail("Destination.Addresses contains " + Q(a) + " more than once");
      }
    }
  }
  if (e.upstream_config) {
    if (e.upstream_config->defaults) {
      Status s =
          ValidateUpstreamConfig("error in upstream defaults", *e.upstream_config->defaults, true);
      if (!s.ok()) return s;
    }
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    for (size_t i = 0; i < e.upstream_config->overrides.size(); ++i) {
      const UpstreamConfig& o = e.upstream_config->overrides[i];
      Status s = ValidateUpstreamConfig("error in upstream override at index " + std::to_string(i),
                                        o, false);
      if (!s.ok()) return s;
      if (!seen.insert({o.name, o.namespace_, o.partition, o.peer}).second) {
        return Fail("duplicate upstream override for " + Q(o.name));
      }
    }
  }
  if (!e.envoy_extensions.is_null() && !e.envoy_extensions.is_array()) {
    return Fail("EnvoyExtensions must be a list");
  }
  return Status::Ok();
}

// Consul's validateServiceSubset: a subset name ends up in SNI and cluster names, so it is a DNS
// label.
bool IsValidSubsetName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool InDefaultPartition(const std::string& partition) {
  return partition.empty() || partition == "default";
}

Status ValidateLoadBalancer(const LoadBalancer& lb) {
  static const std::set<std::string, std::less<>> kPolicies = {
      "", "random", "round_robin", "least_request", "ring_hash", "maglev"};
  if (!kPolicies.count(lb.policy)) {
    return Fail("Bad LoadBalancer policy: " + Q(lb.policy) + " is not supported");
  }
  if (lb.policy != "ring_hash" && lb.ring_hash_config) {
    return Fail(
        "Bad LoadBalancer configuration. RingHashConfig specified for incompatible load "
        "balancing policy " +
        Q(lb.policy));
  }
  if (lb.policy != "least_request" && lb.least_request_config) {
    return Fail(
        "Bad LoadBalancer configuration. LeastRequestConfig specified for incompatible load "
        "balancing policy " +
        Q(lb.policy));
  }
  bool hash_based = lb.policy == "ring_hash" || lb.policy == "maglev";
  if (!hash_based && !lb.hash_policies.empty()) {
    return Fail(
        "Bad LoadBalancer configuration: HashPolicies specified for non-hash-based Policy: " +
        Q(lb.policy));
  }
  for (size_t i = 0; i < lb.hash_policies.size(); ++i) {
    const HashPolicy& hp = lb.hash_policies[i];
    std::string prefix = "Bad LoadBalancer HashPolicy[" + std::to_string(i) + "]: ";
    if (!hp.field.empty() && hp.field != "header" && hp.field != "cookie" &&
        hp.field != "query_parameter") {
      return Fail(prefix + Q(hp.field) + " is not a supported field");
    }
    if (hp.source_ip && !hp.field.empty()) {
      return Fail(prefix + "A single hash policy cannot hash both a source address and a " +
                  Q(hp.field));
    }
    if (hp.source_ip && !hp.field_value.empty()) {
      return Fail(prefix + "A FieldValue cannot be specified when hashing SourceIP");
    }
    if (!hp.field.empty() && hp.field_value.empty()) {
      return Fail(prefix + "Field " + Q(hp.field) + " was specified without a FieldValue");
    }
    if (!hp.field_value.empty() && hp.field.empty()) {
      return Fail(prefix + "FieldValue requires a Field to apply to");
    }
    if (hp.cookie_config) {
      if (hp.field != "cookie") return Fail(prefix + "cookie_config provided for " + Q(hp.field));
      if (hp.cookie_config->session && hp.cookie_config->ttl.count() != 0) {
        return Fail(prefix + "a session cookie cannot have an associated TTL");
      }
    }
  }
  return Status::Ok();
}

Status ValidateServiceResolver(const ServiceResolver& e) {
  if (e.name.empty()) return Fail("Name is required");
  if (Status s = ValidateMeta(e.meta); !s.ok()) return s;
  for (const auto& [name, subset] : e.subsets) {
    if (name.empty()) return Fail("Subset defined with empty name");
    if (!IsValidSubsetName(name)) {
      return Fail("Subset " + Q(name) +
                  " is invalid: must be a valid DNS label (lowercase letters, digits and '-', "
                  "starting and ending with a letter or digit)");
    }
  }
  auto is_subset = [&](const std::string& s) { return e.subsets.count(s) > 0; };
  if (!e.default_subset.empty() && !is_subset(e.default_subset)) {
    return Fail("DefaultSubset " + Q(e.default_subset) + " is not a valid subset");
  }
  if (e.redirect) {
    const ResolverRedirect& r = *e.redirect;
    if (!InDefaultPartition(e.partition) && !r.datacenter.empty()) {
      return Fail("Cross-datacenter redirect is only supported in the default partition");
    }
    if (!r.datacenter.empty() && (r.partition.empty() ? std::string("default") : r.partition) !=
                                     (e.partition.empty() ? std::string("default") : e.partition)) {
      return Fail("Cross-datacenter and cross-partition redirect is not supported");
    }
    if (!e.failover.empty()) return Fail("Redirect and Failover cannot both be set");
    if (r == ResolverRedirect{}) return Fail("Redirect is empty");
    if (!r.peer.empty() && !r.service_subset.empty()) {
      return Fail("Redirect.Peer cannot be set with Redirect.ServiceSubset");
    }
    if (!r.peer.empty() && !r.partition.empty()) {
      return Fail("Redirect.Partition cannot be set with Redirect.Peer");
    }
    if (!r.peer.empty() && !r.datacenter.empty()) {
      return Fail("Redirect.Peer cannot be set with Redirect.Datacenter");
    }
    if (r.service.empty()) {
      if (!r.service_subset.empty()) {
        return Fail("Redirect.ServiceSubset defined without Redirect.Service");
      }
      if (!r.namespace_.empty()) return Fail("Redirect.Namespace defined without Redirect.Service");
      if (!r.peer.empty()) return Fail("Redirect.Peer defined without Redirect.Service");
    } else if (r.service == e.name && !r.service_subset.empty() && !is_subset(r.service_subset)) {
      return Fail("Redirect.ServiceSubset " + Q(r.service_subset) + " is not a valid subset of " +
                  Q(r.service));
    }
  }
  for (const auto& [subset, f] : e.failover) {
    std::string prefix = "Bad Failover[" + Q(subset) + "]";
    if (!InDefaultPartition(e.partition) && !f.datacenters.empty()) {
      return Fail("Cross-datacenter failover is only supported in the default partition");
    }
    if (subset != "*" && !is_subset(subset)) return Fail(prefix + ": not a valid subset");
    if (f.service.empty() && f.service_subset.empty() && f.namespace_.empty() &&
        f.datacenters.empty() && f.targets.empty() && f.sameness_group.empty()) {
      return Fail(prefix +
                  " one of Service, ServiceSubset, Namespace, Targets, SamenessGroup, or "
                  "Datacenters is required");
    }
    if (!f.service_subset.empty() && (f.service.empty() || f.service == e.name) &&
        !is_subset(f.service_subset)) {
      return Fail(prefix + ": ServiceSubset " + Q(f.service_subset) + " is not a valid subset of " +
                  Q(f.service.empty() ? e.name : f.service));
    }
    if (!f.datacenters.empty() && !f.targets.empty()) {
      return Fail(prefix + ": Targets cannot be set with Datacenters");
    }
    if (!f.service_subset.empty() && !f.targets.empty()) {
      return Fail(prefix + ": Targets cannot be set with ServiceSubset");
    }
    if (!f.service.empty() && !f.targets.empty()) {
      return Fail(prefix + ": Targets cannot be set with Service");
    }
    for (size_t i = 0; i < f.targets.size(); ++i) {
      const FailoverTarget& t = f.targets[i];
      std::string tp = prefix + ".Targets[" + std::to_string(i) + "]: ";
      if (!t.peer.empty() && !t.service_subset.empty()) {
        return Fail(tp + "Peer cannot be set with ServiceSubset");
      }
      if (!t.peer.empty() && !t.partition.empty()) {
        return Fail(tp + "Partition cannot be set with Peer");
      }
      if (!t.peer.empty() && !t.datacenter.empty()) {
        return Fail(tp + "Peer cannot be set with Datacenter");
      }
      if (!t.partition.empty() && !t.datacenter.empty()) {
        return Fail(tp + "Partition cannot be set with Datacenter");
      }
      if (!t.service_subset.empty() && (t.service.empty() || t.service == e.name) &&
          !is_subset(t.service_subset)) {
        return Fail(tp + "ServiceSubset " + Q(t.service_subset) + " is not a valid subset of " +
                    Q(t.service.empty() ? e.name : t.service));
      }
    }
    for (const std::string& dc : f.datacenters) {
      if (dc.empty()) return Fail(prefix + ".Datacenters: found empty datacenter");
    }
    if (f.policy) {
      if (Status s = ValidateFailoverPolicy(f.policy); !s.ok())
        return Fail(prefix + ": " + s.message());
    }
  }
  if (e.connect_timeout.count() < 0) {
    return Fail("Bad ConnectTimeout '" + FormatDuration(e.connect_timeout) + "', must be >= 0");
  }
  if (e.request_timeout.count() < 0) {
    return Fail("Bad RequestTimeout '" + FormatDuration(e.request_timeout) + "', must be >= 0");
  }
  if (Status s = ValidatePrioritizeByLocality(e.prioritize_by_locality); !s.ok()) return s;
  if (e.load_balancer) return ValidateLoadBalancer(*e.load_balancer);
  return Status::Ok();
}

bool IsValidRetryCondition(const std::string& r) {
  static const std::set<std::string, std::less<>> kConditions = {"5xx",
                                                                 "gateway-error",
                                                                 "reset",
                                                                 "connect-failure",
                                                                 "envoy-ratelimited",
                                                                 "retriable-4xx",
                                                                 "refused-stream",
                                                                 "cancelled",
                                                                 "deadline-exceeded",
                                                                 "internal",
                                                                 "resource-exhausted",
                                                                 "unavailable"};
  return kConditions.count(r) > 0;
}

Status ValidateServiceRouter(const ServiceRouter& e) {
  if (e.name.empty()) return Fail("Name is required");
  if (Status s = ValidateMeta(e.meta); !s.ok()) return s;
  for (size_t i = 0; i < e.routes.size(); ++i) {
    const Route& route = e.routes[i];
    const std::string r = "Route[" + std::to_string(i) + "]";
    const RouteHttpMatch* http = route.match && route.match->http ? &*route.match->http : nullptr;
    if (http) {
      int path_parts = 0;
      if (!http->path_exact.empty()) {
        ++path_parts;
        if (!StartsWith(http->path_exact, "/")) {
          return Fail(r + " PathExact doesn't start with '/': " + Q(http->path_exact));
        }
      }
      if (!http->path_prefix.empty()) {
        ++path_parts;
        if (!StartsWith(http->path_prefix, "/")) {
          return Fail(r + " PathPrefix doesn't start with '/': " + Q(http->path_prefix));
        }
      }
      if (!http->path_regex.empty()) {
        ++path_parts;
        if (Status s = CompileRegex(r + " PathRegex", http->path_regex); !s.ok()) return s;
      }
      if (path_parts > 1) {
        return Fail(r + " should only contain at most one of PathExact, PathPrefix, or PathRegex");
      }
      for (size_t j = 0; j < http->header.size(); ++j) {
        Status s = ValidateHeader(r + " Header[" + std::to_string(j) + "]", http->header[j]);
        if (!s.ok()) return s;
      }
      for (size_t j = 0; j < http->query_param.size(); ++j) {
        const QueryParamMatch& q = http->query_param[j];
        std::string qp = r + " QueryParam[" + std::to_string(j) + "]";
        if (q.name.empty()) return Fail(qp + " missing required Name field");
        int parts = (q.present ? 1 : 0) + (!q.exact.empty() ? 1 : 0) + (!q.regex.empty() ? 1 : 0);
        if (parts != 1) return Fail(qp + " should only contain one of Present, Exact, or Regex");
        if (!q.regex.empty()) {
          if (Status s = CompileRegex(qp + " Regex", q.regex); !s.ok()) return s;
        }
      }
      if (Status s = ValidateMethods(r + " Methods", http->methods); !s.ok()) return s;
    }
    if (route.destination) {
      const RouteDestination& d = *route.destination;
      if (!d.prefix_rewrite.empty() &&
          (!http || (http->path_prefix.empty() && http->path_exact.empty()))) {
        return Fail(r +
                    " cannot make use of PrefixRewrite without configuring either PathExact or "
                    "PathPrefix");
      }
      if (!d.datacenter.empty() && !d.partition.empty() && d.partition != "default") {
        return Fail(r + " cross-datacenter destination is only supported in the default partition");
      }
      if (d.num_retries < 0) return Fail(r + " NumRetries must not be negative");
      for (const std::string& cond : d.retry_on) {
        if (!IsValidRetryCondition(cond)) {
          return Fail(r + " contains an invalid retry condition: " + Q(cond));
        }
      }
      for (int code : d.retry_on_status_codes) {
        if (code < 100 || code > 599) {
          return Fail(r + " contains an invalid retry status code: " + std::to_string(code));
        }
      }
    }
  }
  return Status::Ok();
}

Status ValidateServiceSplitter(const ServiceSplitter& e) {
  if (e.name.empty()) return Fail("Name is required");
  if (Status s = ValidateMeta(e.meta); !s.ok()) return s;
  if (e.splits.empty()) return Fail("no splits configured");
  // Weights have a resolution of 0.01: compare their sum scaled by 100, as Consul does.
  int64_t sum_scaled = 0;
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  for (const Split& s : e.splits) {
    if (s.weight < 0 || s.weight > 100) {
      return Fail("split weight must be between 0 and 100, not " + std::to_string(s.weight));
    }
    std::string service = s.service.empty() ? e.name : s.service;
    if (!seen.insert({service, s.service_subset, s.namespace_, s.partition}).second) {
      return Fail("split destination occurs more than once: service=" + Q(service) +
                  ", subset=" + Q(s.service_subset) + ", namespace=" + Q(s.namespace_) +
                  ", partition=" + Q(s.partition));
    }
    // float32 as Consul stores it, then scaled and rounded.
    sum_scaled += static_cast<int64_t>(
        std::lround(static_cast<double>(static_cast<float>(s.weight) * 100.0f)));
  }
  if (sum_scaled != 100 * 100) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%f", static_cast<double>(sum_scaled) / 100);
    return Fail(std::string("the sum of all split weights must be 100, not ") + buf);
  }
  return Status::Ok();
}

// "*" or a name without '*'.
Status ValidateIntentionName(const std::string& prefix, const std::string& name) {
  if (name != "*" && name.find('*') != std::string::npos) {
    return Fail(prefix + ": wildcard character '*' cannot be used with partial values");
  }
  return Status::Ok();
}

Status ValidateServiceIntentions(const ServiceIntentions& e) {
  if (e.name.empty()) return Fail("Name is required");
  if (Status s = ValidateIntentionName("Name", e.name); !s.ok()) return s;
  if (Status s = ValidateMeta(e.meta); !s.ok()) return s;
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  for (size_t i = 0; i < e.sources.size(); ++i) {
    const SourceIntention& src = e.sources[i];
    const std::string p = "Sources[" + std::to_string(i) + "]";
    if (src.name.empty()) return Fail(p + ".Name is required");
    if (Status s = ValidateIntentionName(p + ".Name", src.name); !s.ok()) return s;
    if (!src.peer.empty() && !src.partition.empty()) {
      return Fail(p + ".Peer: cannot set Peer and Partition at the same time.");
    }
    if (src.type != "consul") return Fail(p + ".Type must be set to 'consul'");
    if (src.description.size() > 512) {
      return Fail(p + ".Description exceeds maximum length 512");
    }
    if (!src.permissions.empty() && !src.action.empty()) {
      return Fail(p + ".Action must be omitted if Permissions are specified");
    }
    if (src.permissions.empty() && src.action != "allow" && src.action != "deny") {
      return Fail(p + ".Action must be set to 'allow' or 'deny'");
    }
    for (size_t j = 0; j < src.permissions.size(); ++j) {
      const IntentionPermission& perm = src.permissions[j];
      const std::string pp = p + ".Permissions[" + std::to_string(j) + "]";
      if (perm.action != "allow" && perm.action != "deny") {
        return Fail(pp + ".Action must be set to 'allow' or 'deny'");
      }
      if (!perm.http) {
        if (perm.jwt.is_null()) return Fail(pp + ".HTTP is required");
        continue;
      }
      const PermissionHttp& h = *perm.http;
      const std::string hp = pp + ".HTTP";
      int parts = 0;
      if (!h.path_exact.empty()) {
        ++parts;
        if (!StartsWith(h.path_exact, "/")) {
          return Fail(hp + ".PathExact doesn't start with '/': " + Q(h.path_exact));
        }
      }
      if (!h.path_prefix.empty()) {
        ++parts;
        if (!StartsWith(h.path_prefix, "/")) {
          return Fail(hp + ".PathPrefix doesn't start with '/': " + Q(h.path_prefix));
        }
      }
      if (!h.path_regex.empty()) {
        ++parts;
        if (Status s = CompileRegex(hp + ".PathRegex", h.path_regex); !s.ok()) return s;
      }
      if (parts > 1) {
        return Fail(hp + " should only contain at most one of PathExact, PathPrefix, or PathRegex");
      }
      for (size_t k = 0; k < h.header.size(); ++k) {
        Status s = ValidateHeader(hp + ".Header[" + std::to_string(k) + "]", h.header[k]);
        if (!s.ok()) return s;
        ++parts;
      }
      if (Status s = ValidateMethods(hp + ".Methods", h.methods); !s.ok()) return s;
      if (!h.methods.empty()) ++parts;
      if (parts == 0) return Fail(hp + " should not be empty");
    }
    if (!seen.insert({src.name, src.namespace_, src.partition, src.peer}).second) {
      return Fail(p + " defines " + Q(src.name) + " more than once");
    }
  }
  return Status::Ok();
}

Status ValidateTlsVersion(const std::string& field, const std::string& v) {
  static const std::set<std::string, std::less<>> kVersions = {"",        "TLS_AUTO", "TLSv1_0",
                                                               "TLSv1_1", "TLSv1_2",  "TLSv1_3"};
  if (!kVersions.count(v)) return Fail(field + ": TLS version " + Q(v) + " is not supported");
  return Status::Ok();
}

Status ValidateMeshTls(const std::string& field, const MeshTlsConfig& t) {
  if (Status s = ValidateTlsVersion(field + ".TLSMinVersion", t.tls_min_version); !s.ok()) return s;
  return ValidateTlsVersion(field + ".TLSMaxVersion", t.tls_max_version);
}

Status ValidateMesh(const MeshConfig& e) {
  if (e.name != "mesh") {
    return Fail("invalid name (" + Q(e.name) + "), only \"mesh\" is supported");
  }
  if (Status s = ValidateMeta(e.meta); !s.ok()) return s;
  if (e.tls && e.tls->incoming) {
    if (Status s = ValidateMeshTls("TLS.Incoming", *e.tls->incoming); !s.ok()) return s;
  }
  if (e.tls && e.tls->outgoing) {
    if (Status s = ValidateMeshTls("TLS.Outgoing", *e.tls->outgoing); !s.ok()) return s;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

Status FixedName(EntryCommon* e, std::string_view fixed) {
  if (e->name.empty()) e->name = std::string(fixed);
  if (e->name != fixed) {
    return Fail("invalid name (" + Q(e->name) + "), only " + Q(fixed) + " is supported");
  }
  return Status::Ok();
}

void UpperMethods(std::vector<std::string>* methods) {
  for (std::string& m : *methods) m = ToUpper(m);
}

}  // namespace

int IntentionPrecedence(std::string_view source, std::string_view destination) {
  bool src_exact = source != "*";
  bool dst_exact = destination != "*";
  if (dst_exact) return src_exact ? 9 : 8;
  return src_exact ? 6 : 5;
}

Status Normalize(ConfigEntry* entry) {
  if (auto* e = entry->As<ProxyDefaults>()) return FixedName(e, "global");
  if (auto* e = entry->As<MeshConfig>()) return FixedName(e, "mesh");
  if (auto* e = entry->As<ServiceDefaults>()) {
    e->protocol = ToLower(e->protocol);
    return Status::Ok();
  }
  if (auto* e = entry->As<ServiceRouter>()) {
    for (Route& r : e->routes) {
      if (r.match && r.match->http) UpperMethods(&r.match->http->methods);
    }
    return Status::Ok();
  }
  if (auto* e = entry->As<ServiceIntentions>()) {
    for (SourceIntention& src : e->sources) {
      src.action = ToLower(src.action);
      if (src.type.empty()) src.type = "consul";
      src.precedence = IntentionPrecedence(src.name, e->name);
      for (IntentionPermission& perm : src.permissions) {
        perm.action = ToLower(perm.action);
        if (perm.http) UpperMethods(&perm.http->methods);
      }
    }
    std::stable_sort(e->sources.begin(), e->sources.end(),
                     [](const SourceIntention& a, const SourceIntention& b) {
                       return a.precedence > b.precedence;
                     });
  }
  return Status::Ok();
}

Status Validate(const ConfigEntry& entry) {
  ConfigEntry e = entry;
  if (Status s = Normalize(&e); !s.ok()) return s;
  return std::visit(
      [](const auto& v) -> Status {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ProxyDefaults>) return ValidateProxyDefaults(v);
        if constexpr (std::is_same_v<T, ServiceDefaults>) return ValidateServiceDefaults(v);
        if constexpr (std::is_same_v<T, ServiceResolver>) return ValidateServiceResolver(v);
        if constexpr (std::is_same_v<T, ServiceRouter>) return ValidateServiceRouter(v);
        if constexpr (std::is_same_v<T, ServiceSplitter>) return ValidateServiceSplitter(v);
        if constexpr (std::is_same_v<T, ServiceIntentions>) return ValidateServiceIntentions(v);
        if constexpr (std::is_same_v<T, MeshConfig>) return ValidateMesh(v);
      },
      e.value());
}

}  // namespace gangway::meshcfg
