// The field list of every config-entry type, written once and walked by three visitors: the
// schema builder (which keys exist), the decoder and the encoder. A field's name is Consul's API
// spelling; `v(name, member)` is a field Consul omits when empty, `v.Always(name, member)` one it
// always writes. Internal to meshcfg; pure.
#pragma once

#include <concepts>
#include <type_traits>

#include "meshcfg/config_entry.h"

namespace gangway::meshcfg::internal {

// S is T or const T, so that one list serves the decoder (T) and the encoder (const T).
template <typename S, typename T>
concept Of = std::same_as<std::remove_const_t<S>, T>;

template <typename V, typename S>
  requires std::derived_from<std::remove_const_t<S>, EntryCommon>
void CommonFields(V& v, S& x) {
  v("Name", x.name);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("Meta", x.meta);
  v.Always("CreateIndex", x.create_index);
  v.Always("ModifyIndex", x.modify_index);
}

template <typename V, Of<MeshGatewayConfig> S>
void Fields(V& v, S& x) {
  v("Mode", x.mode);
}

template <typename V, Of<TransparentProxyConfig> S>
void Fields(V& v, S& x) {
  v("OutboundListenerPort", x.outbound_listener_port);
  v("DialedDirectly", x.dialed_directly);
}

template <typename V, Of<ExposePath> S>
void Fields(V& v, S& x) {
  v("ListenerPort", x.listener_port);
  v("Path", x.path);
  v("LocalPathPort", x.local_path_port);
  v("Protocol", x.protocol);
}

template <typename V, Of<ExposeConfig> S>
void Fields(V& v, S& x) {
  v("Checks", x.checks);
  v("Paths", x.paths);
}

template <typename V, Of<AccessLogsConfig> S>
void Fields(V& v, S& x) {
  v("Enabled", x.enabled);
  v("DisableListenerLogs", x.disable_listener_logs);
  v("Type", x.type);
  v("Path", x.path);
  v("JSONFormat", x.json_format);
  v("TextFormat", x.text_format);
}

template <typename V, Of<FailoverPolicy> S>
void Fields(V& v, S& x) {
  v("Mode", x.mode);
  v("Regions", x.regions);
}

template <typename V, Of<PrioritizeByLocality> S>
void Fields(V& v, S& x) {
  v("Mode", x.mode);
}

template <typename V, Of<HeaderModifiers> S>
void Fields(V& v, S& x) {
  v("Add", x.add);
  v("Set", x.set);
  v("Remove", x.remove);
}

template <typename V, Of<HeaderMatch> S>
void Fields(V& v, S& x) {
  v("Name", x.name);
  v("Present", x.present);
  v("Exact", x.exact);
  v("Prefix", x.prefix);
  v("Suffix", x.suffix);
  v("Regex", x.regex);
  v("Invert", x.invert);
}

template <typename V, Of<ProxyDefaults> S>
void Fields(V& v, S& x) {
  v.Kind(kProxyDefaults);
  CommonFields(v, x);
  v("Config", x.config);
  v("Mode", x.mode);
  v.Always("TransparentProxy", x.transparent_proxy);
  v("MutualTLSMode", x.mutual_tls_mode);
  v.Always("MeshGateway", x.mesh_gateway);
  v.Always("Expose", x.expose);
  v.Always("AccessLogs", x.access_logs);
  v("EnvoyExtensions", x.envoy_extensions);
  v("FailoverPolicy", x.failover_policy);
  v("PrioritizeByLocality", x.prioritize_by_locality);
}

template <typename V, Of<UpstreamLimits> S>
void Fields(V& v, S& x) {
  v("MaxConnections", x.max_connections);
  v("MaxPendingRequests", x.max_pending_requests);
  v("MaxConcurrentRequests", x.max_concurrent_requests);
}

template <typename V, Of<PassiveHealthCheck> S>
void Fields(V& v, S& x) {
  v("Interval", x.interval);
  v("MaxFailures", x.max_failures);
  v("EnforcingConsecutive5xx", x.enforcing_consecutive_5xx);
}

template <typename V, Of<UpstreamConfig> S>
void Fields(V& v, S& x) {
  v("Name", x.name);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("Peer", x.peer);
  v("EnvoyListenerJSON", x.envoy_listener_json);
  v("EnvoyClusterJSON", x.envoy_cluster_json);
  v("Protocol", x.protocol);
  v("ConnectTimeoutMs", x.connect_timeout_ms);
  v("Limits", x.limits);
  v("PassiveHealthCheck", x.passive_health_check);
  v.Always("MeshGateway", x.mesh_gateway);
  v("BalanceOutboundConnections", x.balance_outbound_connections);
}

template <typename V, Of<UpstreamConfiguration> S>
void Fields(V& v, S& x) {
  v("Overrides", x.overrides);
  v("Defaults", x.defaults);
}

template <typename V, Of<DestinationConfig> S>
void Fields(V& v, S& x) {
  v("Addresses", x.addresses);
  v("Port", x.port);
}

template <typename V, Of<ServiceDefaults> S>
void Fields(V& v, S& x) {
  v.Kind(kServiceDefaults);
  CommonFields(v, x);
  v("Protocol", x.protocol);
  v("Mode", x.mode);
  v.Always("TransparentProxy", x.transparent_proxy);
  v("MutualTLSMode", x.mutual_tls_mode);
  v.Always("MeshGateway", x.mesh_gateway);
  v.Always("Expose", x.expose);
  v("ExternalSNI", x.external_sni);
  v("UpstreamConfig", x.upstream_config);
  v("Destination", x.destination);
  v("MaxInboundConnections", x.max_inbound_connections);
  v("LocalConnectTimeoutMs", x.local_connect_timeout_ms);
  v("LocalRequestTimeoutMs", x.local_request_timeout_ms);
  v("BalanceInboundConnections", x.balance_inbound_connections);
  v("RateLimits", x.rate_limits);
  v("EnvoyExtensions", x.envoy_extensions);
}

template <typename V, Of<ResolverSubset> S>
void Fields(V& v, S& x) {
  v("Filter", x.filter);
  v("OnlyPassing", x.only_passing);
}

template <typename V, Of<ResolverRedirect> S>
void Fields(V& v, S& x) {
  v("Service", x.service);
  v("ServiceSubset", x.service_subset);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("SamenessGroup", x.sameness_group);
  v("Datacenter", x.datacenter);
  v("Peer", x.peer);
}

template <typename V, Of<FailoverTarget> S>
void Fields(V& v, S& x) {
  v("Service", x.service);
  v("ServiceSubset", x.service_subset);
  v("Partition", x.partition);
  v("Namespace", x.namespace_);
  v("Datacenter", x.datacenter);
  v("Peer", x.peer);
}

template <typename V, Of<ResolverFailover> S>
void Fields(V& v, S& x) {
  v("Service", x.service);
  v("ServiceSubset", x.service_subset);
  v("Namespace", x.namespace_);
  v("Datacenters", x.datacenters);
  v("Targets", x.targets);
  v("Policy", x.policy);
  v("SamenessGroup", x.sameness_group);
}

template <typename V, Of<RingHashConfig> S>
void Fields(V& v, S& x) {
  v("MinimumRingSize", x.minimum_ring_size);
  v("MaximumRingSize", x.maximum_ring_size);
}

template <typename V, Of<LeastRequestConfig> S>
void Fields(V& v, S& x) {
  v("ChoiceCount", x.choice_count);
}

template <typename V, Of<CookieConfig> S>
void Fields(V& v, S& x) {
  v("Session", x.session);
  v("TTL", x.ttl);
  v("Path", x.path);
}

template <typename V, Of<HashPolicy> S>
void Fields(V& v, S& x) {
  v("Field", x.field);
  v("FieldValue", x.field_value);
  v("CookieConfig", x.cookie_config);
  v("SourceIP", x.source_ip);
  v("Terminal", x.terminal);
}

template <typename V, Of<LoadBalancer> S>
void Fields(V& v, S& x) {
  v("Policy", x.policy);
  v("RingHashConfig", x.ring_hash_config);
  v("LeastRequestConfig", x.least_request_config);
  v("HashPolicies", x.hash_policies);
}

template <typename V, Of<ServiceResolver> S>
void Fields(V& v, S& x) {
  v.Kind(kServiceResolver);
  CommonFields(v, x);
  v("DefaultSubset", x.default_subset);
  v("Subsets", x.subsets);
  v("Redirect", x.redirect);
  v("Failover", x.failover);
  v("ConnectTimeout", x.connect_timeout);
  v("RequestTimeout", x.request_timeout);
  v("PrioritizeByLocality", x.prioritize_by_locality);
  v("LoadBalancer", x.load_balancer);
}

template <typename V, Of<QueryParamMatch> S>
void Fields(V& v, S& x) {
  v("Name", x.name);
  v("Present", x.present);
  v("Exact", x.exact);
  v("Regex", x.regex);
}

template <typename V, Of<RouteHttpMatch> S>
void Fields(V& v, S& x) {
  v("PathExact", x.path_exact);
  v("PathPrefix", x.path_prefix);
  v("PathRegex", x.path_regex);
  v("Header", x.header);
  v("QueryParam", x.query_param);
  v("Methods", x.methods);
}

template <typename V, Of<RouteMatch> S>
void Fields(V& v, S& x) {
  v("HTTP", x.http);
}

template <typename V, Of<RouteDestination> S>
void Fields(V& v, S& x) {
  v("Service", x.service);
  v("ServiceSubset", x.service_subset);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("Datacenter", x.datacenter);
  v("PrefixRewrite", x.prefix_rewrite);
  v("RequestTimeout", x.request_timeout);
  v("IdleTimeout", x.idle_timeout);
  v("NumRetries", x.num_retries);
  v("RetryOnConnectFailure", x.retry_on_connect_failure);
  v("RetryOn", x.retry_on);
  v("RetryOnStatusCodes", x.retry_on_status_codes);
  v("RequestHeaders", x.request_headers);
  v("ResponseHeaders", x.response_headers);
}

template <typename V, Of<Route> S>
void Fields(V& v, S& x) {
  v("Match", x.match);
  v("Destination", x.destination);
}

template <typename V, Of<ServiceRouter> S>
void Fields(V& v, S& x) {
  v.Kind(kServiceRouter);
  CommonFields(v, x);
  v("Routes", x.routes);
}

template <typename V, Of<Split> S>
void Fields(V& v, S& x) {
  v.Always("Weight", x.weight);
  v("Service", x.service);
  v("ServiceSubset", x.service_subset);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("RequestHeaders", x.request_headers);
  v("ResponseHeaders", x.response_headers);
}

template <typename V, Of<ServiceSplitter> S>
void Fields(V& v, S& x) {
  v.Kind(kServiceSplitter);
  CommonFields(v, x);
  v("Splits", x.splits);
}

template <typename V, Of<PermissionHttp> S>
void Fields(V& v, S& x) {
  v("PathExact", x.path_exact);
  v("PathPrefix", x.path_prefix);
  v("PathRegex", x.path_regex);
  v("Header", x.header);
  v("Methods", x.methods);
}

template <typename V, Of<IntentionPermission> S>
void Fields(V& v, S& x) {
  v("Action", x.action);
  v("HTTP", x.http);
  v("JWT", x.jwt);
}

template <typename V, Of<SourceIntention> S>
void Fields(V& v, S& x) {
  v.Always("Name", x.name);
  v("Peer", x.peer);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("SamenessGroup", x.sameness_group);
  v("Action", x.action);
  v("Permissions", x.permissions);
  v.Always("Precedence", x.precedence);
  v.Always("Type", x.type);
  v("Description", x.description);
  v("LegacyID", x.legacy_id);
  v("LegacyMeta", x.legacy_meta);
  v("LegacyCreateTime", x.legacy_create_time);
  v("LegacyUpdateTime", x.legacy_update_time);
}

template <typename V, Of<ServiceIntentions> S>
void Fields(V& v, S& x) {
  v.Kind(kServiceIntentions);
  CommonFields(v, x);
  v("Sources", x.sources);
  v("JWT", x.jwt);
}

template <typename V, Of<MeshTransparentProxy> S>
void Fields(V& v, S& x) {
  v("MeshDestinationsOnly", x.mesh_destinations_only);
}

template <typename V, Of<MeshTlsConfig> S>
void Fields(V& v, S& x) {
  v("TLSMinVersion", x.tls_min_version);
  v("TLSMaxVersion", x.tls_max_version);
  v("CipherSuites", x.cipher_suites);
}

template <typename V, Of<MeshTls> S>
void Fields(V& v, S& x) {
  v("Incoming", x.incoming);
  v("Outgoing", x.outgoing);
}

template <typename V, Of<MeshHttp> S>
void Fields(V& v, S& x) {
  v("SanitizeXForwardedClientCert", x.sanitize_x_forwarded_client_cert);
}

template <typename V, Of<MeshPeering> S>
void Fields(V& v, S& x) {
  v("PeerThroughMeshGateways", x.peer_through_mesh_gateways);
}

// Consul's mesh entry has no Name in its JSON; a Name in a file is accepted (it must be "mesh").
template <typename V, Of<MeshConfig> S>
void Fields(V& v, S& x) {
  v.Kind(kMesh);
  v.NameOnlyWhenRead("Name", x.name);
  v("Namespace", x.namespace_);
  v("Partition", x.partition);
  v("Meta", x.meta);
  v.Always("CreateIndex", x.create_index);
  v.Always("ModifyIndex", x.modify_index);
  v.Always("TransparentProxy", x.transparent_proxy);
  v("AllowEnablingPermissiveMutualTLS", x.allow_enabling_permissive_mutual_tls);
  v("ValidateClusters", x.validate_clusters);
  v("TLS", x.tls);
  v("HTTP", x.http);
  v("Peering", x.peering);
}

}  // namespace gangway::meshcfg::internal
