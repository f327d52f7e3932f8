// The two configs of testdata/proxy-config/ built in code: a sidecar with a same-DC upstream and a
// dc2 upstream through the local gateway, and a dc1 mesh gateway. Tests only; any thread.
#pragma once

#include <string>

#include "proxy/config/config.h"

namespace gangway::proxy::testing {

inline constexpr char kTrustDomain[] = "11111111-2222-3333-4444-555555555555.consul";

inline std::string Sni(const std::string& service, const std::string& dc) {
  return service + ".default." + dc + ".internal." + kTrustDomain;
}

inline std::string SpiffeId(const std::string& service, const std::string& dc) {
  return std::string("spiffe://") + kTrustDomain + "/ns/default/dc/" + dc + "/svc/" + service;
}

// web's sidecar in dc1: api in dc1 directly, db in dc2 with mesh gateway mode "local".
inline Config SidecarExample() {
  Config c;
  c.version = 42;
  c.kind = Config::Kind::kConnectProxy;
  c.proxy_id = "web-sidecar-proxy";
  c.service = "web";
  c.datacenter = "dc1";
  c.trust_domain = kTrustDomain;
  c.leaf = Leaf{"-----BEGIN CERTIFICATE-----\nMIIBweb\n-----END CERTIFICATE-----\n",
                "-----BEGIN EC PRIVATE KEY-----\nMHcweb\n-----END EC PRIVATE KEY-----\n",
                SpiffeId("web", "dc1"), "2030-01-02T03:04:05Z"};
  c.roots_pem = {"-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"};

  Listener pub{"public_listener", "0.0.0.0", 21000, Listener::Kind::kPublic, {}};
  pub.chains.push_back({{}, FilterChain::Action::kTerminateTls, "local_app"});
  Listener api{"upstream:api", "127.0.0.1", 9191, Listener::Kind::kUpstream, {}};
  api.chains.push_back({{}, FilterChain::Action::kOriginateTls, Sni("api", "dc1")});
  Listener db{"upstream:db?dc=dc2", "127.0.0.1", 9192, Listener::Kind::kUpstream, {}};
  db.chains.push_back({{}, FilterChain::Action::kOriginateTls, Sni("db", "dc2")});
  c.listeners = {pub, api, db};

  Cluster app;
  app.name = "local_app";
  app.endpoints = {{"127.0.0.1", 8080, Endpoint::Health::kPassing, "node-1"}};
  Cluster api_cluster;
  api_cluster.name = Sni("api", "dc1");
  api_cluster.tls = Cluster::Tls::kOriginate;
  api_cluster.sni = api_cluster.name;
  api_cluster.spiffe_ids = {SpiffeId("api", "dc1")};
  api_cluster.endpoints = {{"10.0.1.5", 21000, Endpoint::Health::kPassing, "node-2"},
                           {"10.0.1.6", 21000, Endpoint::Health::kWarning, "node-3"}};
  Cluster db_cluster;
  db_cluster.name = Sni("db", "dc2");
  db_cluster.tls = Cluster::Tls::kOriginate;
  db_cluster.sni = db_cluster.name;
  db_cluster.spiffe_ids = {SpiffeId("db", "dc2")};
  db_cluster.connect_timeout = std::chrono::milliseconds(10000);
  db_cluster.lb = Cluster::Lb::kLeastRequest;
  // Mode "local": the first hop is dc1's gateway at its LAN address.
  db_cluster.endpoints = {{"10.0.1.10", 8443, Endpoint::Health::kPassing, "gw-node-1"}};
  c.clusters = {app, api_cluster, db_cluster};

  c.authz.default_allow = false;
  c.authz.rules = {
      {std::string("spiffe://") + kTrustDomain + "/ns/default/dc/*/svc/admin", false, 9,
       "admin-web"},
      {std::string("spiffe://") + kTrustDomain + "/ns/default/dc/*/svc/*", true, 8, ""},
  };
  return c;
}

// dc1's gateway: a LAN and a WAN listener, each with a chain per remote DC and the SNI catch-all.
inline Config GatewayExample() {
  Config c;
  c.version = 7;
  c.kind = Config::Kind::kMeshGateway;
  c.proxy_id = "mesh-gateway";
  c.service = "mesh-gateway";
  c.datacenter = "dc1";
  c.trust_domain = kTrustDomain;
  const std::string dc2 = std::string("dc2.internal.") + kTrustDomain;
  const std::string dc3 = std::string("dc3.internal.") + kTrustDomain;
  std::vector<FilterChain> chains = {
      {{"*." + dc2}, FilterChain::Action::kTcpProxy, dc2},
      {{"*." + dc3}, FilterChain::Action::kTcpProxy, dc3},
      {{}, FilterChain::Action::kSniCluster, ""},
  };
  c.listeners = {{"lan", "10.0.1.10", 8443, Listener::Kind::kGateway, chains},
                 {"wan", "192.0.2.10", 8443, Listener::Kind::kGateway, chains}};

  Cluster to_dc2;
  to_dc2.name = dc2;
  to_dc2.endpoints = {{"198.51.100.20", 8443, Endpoint::Health::kPassing, "dc2-gw-1"},
                      {"198.51.100.21", 8443, Endpoint::Health::kCritical, "dc2-gw-2"}};
  Cluster to_dc3;
  to_dc3.name = dc3;
  to_dc3.endpoints = {{"gw.dc3.example.com", 443, Endpoint::Health::kPassing, "dc3-gw-1"}};
  Cluster api;
  api.name = Sni("api", "dc1");
  api.endpoints = {{"10.0.1.5", 21000, Endpoint::Health::kPassing, "node-2"},
                   {"10.0.1.6", 21000, Endpoint::Health::kWarning, "node-3"}};
  Cluster web;
  web.name = Sni("web", "dc1");
  web.endpoints = {{"10.0.1.4", 21000, Endpoint::Health::kPassing, "node-1"}};
  c.clusters = {to_dc2, to_dc3, api, web};
  return c;
}

// web's sidecar with an HTTP upstream: upstream:api routes requests (what a service-router and a
// service-splitter for api compile to) to api's default subset and its v2 subset.
inline Config RoutedSidecarExample() {
  Config c = SidecarExample();
  c.version = 43;
  const std::string api = Sni("api", "dc1");
  const std::string v2 = "v2." + api;
  Cluster v2_cluster = *c.FindCluster(api);
  v2_cluster.name = v2;
  v2_cluster.sni = v2;
  v2_cluster.endpoints = {{"10.0.1.7", 21000, Endpoint::Health::kPassing, "node-4"}};
  c.clusters.push_back(v2_cluster);

  RouteConfig rc;
  Route admin;
  admin.match.path_kind = RouteMatch::Path::kExact;
  admin.match.path = "/admin";
  admin.match.headers = {{"x-debug", HeaderMatch::Kind::kPresent, "", false},
                         {"user-agent", HeaderMatch::Kind::kRegex, "curl/.*", true}};
  admin.match.query_params = {{"verbose", QueryMatch::Kind::kExact, "1"},
                              {"id", QueryMatch::Kind::kRegex, "[0-9]+"}};
  admin.match.methods = {"GET", "HEAD"};
  admin.clusters = {{v2, 10000}};
  admin.prefix_rewrite = "/internal/admin";
  admin.request_timeout = std::chrono::milliseconds(2500);
  admin.num_retries = 2;
  admin.retry_on_connect_failure = true;
  admin.retry_on_status_codes = {503, 504};
  admin.request_headers.add = {{"x-route", "admin"}};
  admin.request_headers.set = {{"x-env", "prod"}};
  admin.request_headers.remove = {"cookie"};
  admin.response_headers.add = {{"x-served-by", "v2"}};
  admin.response_headers.remove = {"server"};
  Route split;
  split.match.path_kind = RouteMatch::Path::kPrefix;
  split.match.path = "/api/";
  split.clusters = {{api, 9000}, {v2, 1000}};
  split.prefix_rewrite = "/";
  Route fallback;  // the router's own service: Consul's implicit catch-all
  fallback.clusters = {{api, 10000}};
  rc.routes = {admin, split, fallback};

  c.listeners[1].chains[0] = {{}, FilterChain::Action::kHttpRoute, "", rc};
  return c;
}

// An http service's sidecar: the public chain parses requests, and web's intention carries L7
// permissions (Consul: Permissions [{deny, PathExact /admin}, {allow, PathPrefix /public, GET,
// Header x-tenant present}]).
inline Config L7AuthzSidecarExample() {
  Config c = SidecarExample();
  c.version = 44;
  c.listeners[0].chains[0].inbound_http = true;
  AuthzPermission admin;
  admin.allow = false;
  admin.http.path_kind = RouteMatch::Path::kExact;
  admin.http.path = "/admin";
  AuthzPermission reads;
  reads.allow = true;
  reads.http.path_kind = RouteMatch::Path::kPrefix;
  reads.http.path = "/public";
  reads.http.methods = {"GET", "HEAD"};
  reads.http.headers = {{"x-tenant", HeaderMatch::Kind::kPresent, "", false},
                        {"x-tenant", HeaderMatch::Kind::kRegex, "test-.*", true}};
  AuthzRule web{std::string("spiffe://") + kTrustDomain + "/ns/default/dc/*/svc/web", false, 9,
                "web => api"};
  web.permissions = {admin, reads};
  c.authz.rules.insert(c.authz.rules.begin() + 1, web);
  return c;
}

}  // namespace gangway::proxy::testing
