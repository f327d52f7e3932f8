#include "proxycfg/compile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "proxy/config/json.h"

namespace gangway::proxycfg {
namespace {

using catalog::CheckServiceNode;
using proxy::Cluster;
using proxy::Endpoint;
using proxy::FilterChain;
using proxy::Listener;

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

std::string GoldenPath(const std::string& name) {
  return std::string(GANGWAY_TESTDATA_DIR) + "/proxycfg/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Byte-for-byte against the codec's output; GANGWAY_UPDATE_GOLDEN=1 rewrites the file (then
// review the diff). The golden file must also decode, i.e. the proxy would accept it.
void ExpectGolden(const proxy::Config& config, const std::string& name) {
  std::string encoded = proxy::EncodeConfig(config);
  if (std::getenv("GANGWAY_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(GoldenPath(name), std::ios::binary) << encoded;
  }
  std::string golden = ReadFile(GoldenPath(name));
  ASSERT_FALSE(golden.empty()) << "missing " << GoldenPath(name);
  EXPECT_EQ(encoded, golden) << name << " differs from the compiled config";
  Result<proxy::Config> decoded = proxy::DecodeConfig(golden);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == config);
}

catalog::HealthCheck Check(const std::string& node, const std::string& status,
                           const std::string& service_id = "") {
  catalog::HealthCheck c;
  c.node = node;
  c.check_id = service_id.empty() ? "serfHealth" : "service:" + service_id;
  c.status = status;
  c.service_id = service_id;
  return c;
}

// One instance with a passing node check and a service check of `status`.
CheckServiceNode Instance(const std::string& node, const std::string& node_addr,
                          const std::string& kind, const std::string& service,
                          const std::string& addr, int port,
                          const std::string& status = catalog::kPassing) {
  CheckServiceNode n;
  n.node.node = node;
  n.node.address = node_addr;
  n.service.kind = kind;
  n.service.id = service;
  n.service.service = service;
  n.service.address = addr;
  n.service.port = port;
  n.checks.push_back(Check(node, catalog::kPassing));
  n.checks.push_back(Check(node, status, service));
  return n;
}

CheckServiceNode Sidecar(const std::string& node, const std::string& node_addr,
                         const std::string& service, const std::string& addr, int port,
                         const std::string& status = catalog::kPassing) {
  return Instance(node, node_addr, "connect-proxy", service + "-sidecar-proxy", addr, port, status);
}

CheckServiceNode Gateway(const std::string& node, const std::string& lan, const std::string& wan,
                         const std::string& status = catalog::kPassing) {
  CheckServiceNode n = Instance(node, lan, "mesh-gateway", "mesh-gateway", lan, 8443, status);
  n.service.tagged_addresses["lan"] = {lan, 8443};
  n.service.tagged_addresses["wan"] = {wan, 443};
  return n;
}

catalog::Upstream Up(const std::string& name, const std::string& dc, int port,
                     const std::string& mode = "") {
  catalog::Upstream u;
  u.destination_name = name;
  u.datacenter = dc;
  u.local_bind_port = port;
  if (!mode.empty()) u.mesh_gateway = catalog::MeshGatewayConfig{mode};
  return u;
}

// The gateways of three DCs: dc1 (local), dc2, and dc3, whose only gateway is critical.
std::map<std::string, std::vector<CheckServiceNode>> ThreeDcGateways() {
  return {
      {"dc1", {Gateway("gw-dc1", "10.1.0.5", "198.51.100.1")}},
      {"dc2",
       {Gateway("gw-dc2-b", "10.2.0.6", "198.51.100.22"),
        Gateway("gw-dc2-a", "10.2.0.5", "198.51.100.21")}},
      {"dc3", {Gateway("gw-dc3", "10.3.0.5", "gw.dc3.example.com", catalog::kCritical)}},
  };
}

// web's sidecar on node-1 in dc1, with upstreams api (same DC) and db in dc2.
Inputs SidecarInputs(const std::string& proxy_mode = "", const std::string& db_mode = "") {
  Inputs in;
  in.proxy.kind = "connect-proxy";
  in.proxy.id = "web-sidecar-proxy";
  in.proxy.service = "web-sidecar-proxy";
  in.proxy.port = 21000;
  in.proxy.proxy.emplace();
  in.proxy.proxy->destination_service_name = "web";
  in.proxy.proxy->destination_service_id = "web";
  if (!proxy_mode.empty()) in.proxy.proxy->mesh_gateway = catalog::MeshGatewayConfig{proxy_mode};
  in.proxy.proxy->upstreams = {Up("api", "", 9191), Up("db", "dc2", 9192, db_mode)};
  in.node = "node-1";
  in.destination_port = 8080;
  in.datacenter = "dc1";
  in.trust_domain = kTd;
  in.leaf = proxy::Leaf{"-----BEGIN CERTIFICATE-----\nweb\n-----END CERTIFICATE-----\n",
                        "-----BEGIN EC PRIVATE KEY-----\nweb\n-----END EC PRIVATE KEY-----\n",
                        std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/web",
                        "2030-01-02T03:04:05Z"};
  in.roots_pem = {"-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"};
  in.upstream_endpoints[{"api", "dc1"}] = {
      Sidecar("node-3", "10.1.0.13", "api", "", 21000),
      Sidecar("node-2", "10.1.0.12", "api", "10.1.1.12", 21001, catalog::kWarning),
  };
  CheckServiceNode db = Sidecar("db-node", "10.2.0.30", "db", "", 21000);
  db.node.tagged_addresses["wan"] = "203.0.113.30";
  in.upstream_endpoints[{"db", "dc2"}] = {db};
  in.gateways = ThreeDcGateways();
  return in;
}

const Cluster& ClusterNamed(const proxy::Config& config, const std::string& name) {
  const Cluster* c = config.FindCluster(name);
  EXPECT_NE(c, nullptr) << "no cluster " << name;
  static const Cluster kMissing;
  return c != nullptr ? *c : kMissing;
}

std::string DbCluster() { return std::string("db.default.dc2.internal.") + kTd; }

std::vector<std::string> Addresses(const Cluster& c) {
  std::vector<std::string> out;
  for (const Endpoint& e : c.endpoints) out.push_back(e.address + ":" + std::to_string(e.port));
  return out;
}

using Strings = std::vector<std::string>;

TEST(CompileSidecarTest, ModeLocalGolden) {
  Result<proxy::Config> c = Compile(SidecarInputs("local"), 7);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectGolden(*c, "sidecar-local.json");
}

TEST(CompileSidecarTest, ModeRemoteGolden) {
  Result<proxy::Config> c = Compile(SidecarInputs("remote"), 7);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectGolden(*c, "sidecar-remote.json");
}

TEST(CompileSidecarTest, ModeNoneGolden) {
  Result<proxy::Config> c = Compile(SidecarInputs(""), 7);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectGolden(*c, "sidecar-none.json");
}

TEST(CompileSidecarTest, ListenersAndLocalApp) {
  Result<proxy::Config> c = Compile(SidecarInputs(), 3);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->version, 3u);
  EXPECT_EQ(c->service, "web");
  ASSERT_EQ(c->listeners.size(), 3u);
  EXPECT_EQ(c->listeners[0].name, "public_listener");
  EXPECT_EQ(c->listeners[0].address, "0.0.0.0");
  EXPECT_EQ(c->listeners[0].port, 21000);
  EXPECT_EQ(c->listeners[0].chains[0].action, FilterChain::Action::kTerminateTls);
  // Consul's upstream IDs: "?dc=" only when the upstream names a datacenter.
  EXPECT_EQ(c->listeners[1].name, "upstream:api");
  EXPECT_EQ(c->listeners[1].address, "127.0.0.1");
  EXPECT_EQ(c->listeners[1].port, 9191);
  EXPECT_EQ(c->listeners[2].name, "upstream:db?dc=dc2");
  EXPECT_EQ(c->listeners[2].chains[0].cluster, DbCluster());
  EXPECT_EQ(Addresses(ClusterNamed(*c, "local_app")), Strings{"127.0.0.1:8080"});

  // Same DC: the target's sidecars at LAN addresses; the SNI and SPIFFE ID are the target's.
  const Cluster& api = ClusterNamed(*c, std::string("api.default.dc1.internal.") + kTd);
  EXPECT_EQ(api.tls, Cluster::Tls::kOriginate);
  EXPECT_EQ(api.sni, api.name);
  EXPECT_EQ(api.spiffe_ids, Strings{std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/api"});
  EXPECT_EQ(Addresses(api), (Strings{"10.1.1.12:21001", "10.1.0.13:21000"}));
}

TEST(CompileSidecarTest, ExplicitLocalServiceAndBindAddresses) {
  Inputs in = SidecarInputs();
  in.proxy.address = "10.1.0.11";
  in.proxy.proxy->local_service_address = "127.0.0.2";
  in.proxy.proxy->local_service_port = 9090;
  in.proxy.proxy->upstreams[0].local_bind_address = "127.0.0.3";
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listeners[0].address, "10.1.0.11");
  EXPECT_EQ(c->listeners[1].address, "127.0.0.3");
  EXPECT_EQ(Addresses(ClusterNamed(*c, "local_app")), Strings{"127.0.0.2:9090"});
}

// Upstream > proxy > proxy-defaults > none (consul-behaviour.md §1.3).
TEST(CompileSidecarTest, GatewayModePrecedence) {
  const Strings local_gw{"10.1.0.5:8443"};
  const Strings remote_gw{"198.51.100.21:443", "198.51.100.22:443"};
  const Strings db_wan{"203.0.113.30:21000"};
  struct Case {
    std::string upstream, proxy, defaults;
    Strings want;
  };
  const Case cases[] = {
      {"", "", "", db_wan},
      {"", "", "local", local_gw},
      {"", "", "remote", remote_gw},
      {"", "local", "remote", local_gw},
      {"", "none", "remote", db_wan},
      {"remote", "local", "none", remote_gw},
      {"none", "local", "remote", db_wan},
      {"local", "", "remote", local_gw},
  };
  for (const Case& k : cases) {
    Inputs in = SidecarInputs(k.proxy, k.upstream);
    in.default_mesh_gateway_mode = k.defaults;
    Result<proxy::Config> c = Compile(in, 1);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const Cluster& db = ClusterNamed(*c, DbCluster());
    EXPECT_EQ(Addresses(db), k.want)
        << "upstream=" << k.upstream << " proxy=" << k.proxy << " defaults=" << k.defaults;
    // Whatever the first hop, the TLS session is with db's sidecar.
    EXPECT_EQ(db.sni, DbCluster());
    EXPECT_EQ(db.spiffe_ids, Strings{std::string("spiffe://") + kTd + "/ns/default/dc/dc2/svc/db"});
  }
}

TEST(CompileSidecarTest, ModeIgnoredInLocalDatacenter) {
  Inputs in = SidecarInputs("remote");
  in.proxy.proxy->upstreams[0].mesh_gateway = catalog::MeshGatewayConfig{"local"};
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(Addresses(ClusterNamed(*c, std::string("api.default.dc1.internal.") + kTd)),
            (Strings{"10.1.1.12:21001", "10.1.0.13:21000"}));
}

TEST(CompileSidecarTest, CriticalRemoteGatewayIsMarkedCritical) {
  Inputs in = SidecarInputs("remote");
  in.proxy.proxy->upstreams.push_back(Up("cache", "dc3", 9193));
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Cluster& cache = ClusterNamed(*c, std::string("cache.default.dc3.internal.") + kTd);
  ASSERT_EQ(cache.endpoints.size(), 1u);
  EXPECT_EQ(cache.endpoints[0].address, "gw.dc3.example.com");
  EXPECT_EQ(cache.endpoints[0].health, Endpoint::Health::kCritical);
}

std::vector<Endpoint::Health> Healths(const Cluster& c) {
  std::vector<Endpoint::Health> out;
  for (const Endpoint& e : c.endpoints) out.push_back(e.health);
  return out;
}

// Through gateways, a target's endpoints are gateways whose own health says nothing about the
// target: with no usable instance behind them they are critical, so that the cluster fails over.
TEST(CompileSidecarTest, GatewaysToATargetWithoutHealthyInstancesAreCritical) {
  using H = Endpoint::Health;
  for (const char* mode : {"local", "remote"}) {
    Inputs in = SidecarInputs(mode);
    Result<proxy::Config> c = Compile(in, 1);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const size_t n = std::string(mode) == "local" ? 1 : 2;  // dc1's gateway, or dc2's two
    EXPECT_EQ(Healths(ClusterNamed(*c, DbCluster())), std::vector<H>(n, H::kPassing)) << mode;

    in.upstream_endpoints[{"db", "dc2"}][0].checks[1].status = catalog::kCritical;
    c = Compile(in, 1);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(Healths(ClusterNamed(*c, DbCluster())), std::vector<H>(n, H::kCritical)) << mode;

    in.upstream_endpoints[{"db", "dc2"}].clear();  // no instance at all
    c = Compile(in, 1);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(Healths(ClusterNamed(*c, DbCluster())), std::vector<H>(n, H::kCritical)) << mode;
  }
  // Sidecar to sidecar, the instances are the endpoints and keep their own health.
  Inputs none = SidecarInputs("none");
  none.upstream_endpoints[{"db", "dc2"}].push_back(
      Sidecar("db-node-2", "10.2.0.31", "db", "", 21000, catalog::kCritical));
  Result<proxy::Config> c = Compile(none, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(Healths(ClusterNamed(*c, DbCluster())), (std::vector<H>{H::kPassing, H::kCritical}));
}

// Mode local: the first hop is a healthy local gateway, but it could take the connection no
// further than the target datacenter's gateways, which are all critical.
TEST(CompileSidecarTest, LocalGatewayToADatacenterWithoutHealthyGatewaysIsCritical) {
  Inputs in = SidecarInputs("local");
  in.proxy.proxy->upstreams.push_back(Up("cache", "dc3", 9193));
  in.upstream_endpoints[{"cache", "dc3"}] = {
      Sidecar("cache-node", "10.3.0.30", "cache", "", 21000)};
  // dc4 lists no gateway: perhaps the local gateway has a static route there; it decides.
  in.proxy.proxy->upstreams.push_back(Up("cache", "dc4", 9194));
  in.upstream_endpoints[{"cache", "dc4"}] = {
      Sidecar("cache-node", "10.4.0.30", "cache", "", 21000)};
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Cluster& dc3 = ClusterNamed(*c, std::string("cache.default.dc3.internal.") + kTd);
  EXPECT_EQ(Addresses(dc3), Strings{"10.1.0.5:8443"});
  EXPECT_EQ(Healths(dc3), std::vector<Endpoint::Health>{Endpoint::Health::kCritical});
  const Cluster& dc4 = ClusterNamed(*c, std::string("cache.default.dc4.internal.") + kTd);
  EXPECT_EQ(Healths(dc4), std::vector<Endpoint::Health>{Endpoint::Health::kPassing});
}

TEST(CompileSidecarTest, NoInstancesGivesEmptyCluster) {
  Inputs in = SidecarInputs("remote");
  in.proxy.proxy->upstreams.push_back(Up("cache", "dc9", 9193));
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(ClusterNamed(*c, std::string("cache.default.dc9.internal.") + kTd).endpoints.empty());
}

TEST(CompileSidecarTest, UpstreamsToOneTargetShareItsCluster) {
  Inputs in = SidecarInputs();
  in.proxy.proxy->upstreams.push_back(Up("api", "dc1", 9200));
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listeners.size(), 4u);
  EXPECT_EQ(c->listeners[3].name, "upstream:api?dc=dc1");
  EXPECT_EQ(c->listeners[3].chains[0].cluster, c->listeners[1].chains[0].cluster);
  EXPECT_EQ(c->clusters.size(), 3u);  // local_app, api, db

  // The same target through different first hops cannot be one cluster.
  in.proxy.proxy->upstreams.push_back(Up("db", "dc2", 9201, "remote"));
  Result<proxy::Config> bad = Compile(in, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("upstream \"db?dc=dc2\" reaches db.default.dc2"),
            std::string::npos)
      << bad.status().message();
}

TEST(CompileSidecarTest, EndpointOrderDoesNotDependOnInputOrder) {
  Inputs a = SidecarInputs("remote");
  Inputs b = a;
  std::reverse(b.upstream_endpoints[{"api", "dc1"}].begin(),
               b.upstream_endpoints[{"api", "dc1"}].end());
  std::reverse(b.gateways["dc2"].begin(), b.gateways["dc2"].end());
  Result<proxy::Config> ca = Compile(a, 1);
  Result<proxy::Config> cb = Compile(b, 1);
  ASSERT_TRUE(ca.ok() && cb.ok());
  EXPECT_TRUE(*ca == *cb);
}

// web's entry: api may GET /public and HEAD it (but not /public/admin*) and, carrying a JWT
// requirement the proxy cannot check, POST; db is denied.
meshcfg::ServiceIntentions WebIntentions() {
  meshcfg::ServiceIntentions e;
  e.name = "web";
  meshcfg::SourceIntention api;
  api.name = "api";
  meshcfg::IntentionPermission admin;
  admin.action = "deny";
  admin.http.emplace();
  admin.http->path_regex = "/public/admin.*";
  meshcfg::IntentionPermission reads;
  reads.action = "allow";
  reads.http.emplace();
  reads.http->path_prefix = "/public";
  reads.http->methods = {"GET", "HEAD"};
  reads.http->header = {{"x-tenant", false, "", "blue-", "", "", false},
                        {"x-debug", true, "", "", "", "", true}};
  meshcfg::IntentionPermission writes;
  writes.action = "allow";
  writes.jwt = meshcfg::Json::object();
  api.permissions = {admin, reads, writes};
  meshcfg::SourceIntention db;
  db.name = "db";
  db.action = "deny";
  e.sources = {api, db};
  return e;
}

TEST(CompileSidecarTest, L7IntentionsOfAnHttpServiceAreCheckedPerRequest) {
  Inputs in = SidecarInputs();
  in.intentions = {WebIntentions()};
  in.destination_protocol = "http";
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->listeners[0].kind, Listener::Kind::kPublic);
  EXPECT_TRUE(c->listeners[0].chains[0].inbound_http);
  for (size_t i = 1; i < c->listeners.size(); ++i) {
    for (const FilterChain& ch : c->listeners[i].chains) EXPECT_FALSE(ch.inbound_http);
  }
  ASSERT_EQ(c->authz.rules.size(), 2u);
  // Both count as deny at equal precedence, so by name.
  const proxy::AuthzRule& api = c->authz.rules[0];
  EXPECT_EQ(c->authz.rules[1].id, "db => web");
  EXPECT_TRUE(c->authz.rules[1].permissions.empty());
  EXPECT_EQ(api.id, "api => web");
  EXPECT_FALSE(api.allow);
  ASSERT_EQ(api.permissions.size(), 2u);  // the JWT-only allow cannot be checked: left out
  EXPECT_FALSE(api.permissions[0].allow);
  EXPECT_EQ(api.permissions[0].http.path_kind, proxy::RouteMatch::Path::kRegex);
  EXPECT_EQ(api.permissions[0].http.path, "/public/admin.*");
  EXPECT_TRUE(api.permissions[1].allow);
  EXPECT_EQ(api.permissions[1].http.path_kind, proxy::RouteMatch::Path::kPrefix);
  EXPECT_EQ(api.permissions[1].http.path, "/public");
  EXPECT_EQ(api.permissions[1].http.methods, (std::vector<std::string>{"GET", "HEAD"}));
  std::vector<proxy::HeaderMatch> headers = {
      {"x-tenant", proxy::HeaderMatch::Kind::kPrefix, "blue-", false},
      {"x-debug", proxy::HeaderMatch::Kind::kPresent, "", true}};
  EXPECT_EQ(api.permissions[1].http.headers, headers);
}

TEST(CompileSidecarTest, L7IntentionsOfATcpServiceDenyTheConnection) {
  for (const char* protocol : {"", "tcp", "http2", "grpc"}) {
    Inputs in = SidecarInputs();
    in.intentions = {WebIntentions()};
    in.destination_protocol = protocol;
    Result<proxy::Config> c = Compile(in, 1);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_FALSE(c->listeners[0].chains[0].inbound_http) << protocol;
    ASSERT_EQ(c->authz.rules.size(), 2u);
    EXPECT_EQ(c->authz.rules[0].id, "api => web");
    EXPECT_FALSE(c->authz.rules[0].allow);
    EXPECT_TRUE(c->authz.rules[0].permissions.empty()) << protocol;
    EXPECT_FALSE(
        proxy::Allowed(c->authz, std::string("spiffe://") + kTd + "/ns/default/dc/dc1/svc/api"));
  }
}

TEST(CompileSidecarTest, AnHttpServiceWithoutL7IntentionsStillParsesRequests) {
  // So that a later deny answers the next request of a kept-alive connection with a 403.
  Inputs in = SidecarInputs();
  in.destination_protocol = "http";
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->listeners[0].chains[0].inbound_http);
}

TEST(CompileErrorTest, InvalidModeAtEachLayer) {
  for (int layer = 0; layer < 3; ++layer) {
    Inputs in = SidecarInputs(layer == 1 ? "Local" : "", layer == 0 ? "Local" : "");
    if (layer == 2) in.default_mesh_gateway_mode = "Local";
    Result<proxy::Config> c = Compile(in, 1);
    ASSERT_FALSE(c.ok()) << "layer " << layer;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(c.status().message(), "Invalid Mesh Gateway Mode: \"Local\"") << "layer " << layer;
  }
  // An invalid lower layer is an error even when a higher one overrides it.
  Inputs in = SidecarInputs("bogus", "remote");
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "Invalid Mesh Gateway Mode: \"bogus\"");
}

TEST(CompileErrorTest, Refusals) {
  auto message = [](const Inputs& in) {
    Result<proxy::Config> c = Compile(in, 1);
    return c.ok() ? std::string("ok") : c.status().message();
  };
  Inputs typical = SidecarInputs();
  typical.proxy.kind = "";
  EXPECT_NE(message(typical).find("has kind \"\""), std::string::npos);

  Inputs no_leaf = SidecarInputs();
  no_leaf.leaf.reset();
  EXPECT_EQ(message(no_leaf),
            "connect-proxy \"web-sidecar-proxy\": no leaf certificate for "
            "\"web\" yet");

  Inputs no_dest = SidecarInputs();
  no_dest.proxy.proxy->destination_service_name.clear();
  EXPECT_NE(message(no_dest).find("Proxy.DestinationServiceName is required"), std::string::npos);

  Inputs query = SidecarInputs();
  query.proxy.proxy->upstreams[0].destination_type = "prepared_query";
  EXPECT_EQ(message(query),
            "upstream \"api\": DestinationType \"prepared_query\" is not supported");

  Inputs peer = SidecarInputs();
  peer.proxy.proxy->upstreams[1].destination_peer = "other";
  EXPECT_EQ(message(peer), "upstream \"db?dc=dc2\": DestinationPeer is not supported");

  // What Validate refuses comes back with the proxy's ID and the JSON path.
  Inputs no_roots = SidecarInputs();
  no_roots.roots_pem.clear();
  std::string m = message(no_roots);
  EXPECT_EQ(m.rfind("proxy \"web-sidecar-proxy\": ", 0), 0u) << m;
  EXPECT_NE(m.find("RootsPEM"), std::string::npos) << m;

  Inputs no_port = SidecarInputs();
  no_port.destination_port = 0;
  EXPECT_EQ(message(no_port),
            "connect-proxy \"web-sidecar-proxy\": no local service port "
            "(neither Proxy.LocalServicePort nor the port of \"web\")");

  Inputs clash = SidecarInputs();
  clash.proxy.proxy->upstreams[1].local_bind_port = 9191;
  EXPECT_NE(message(clash), "ok");
}

TEST(HealthTest, WorstCheckWins) {
  auto health = [](std::vector<std::string> statuses) {
    CheckServiceNode n;
    for (const std::string& s : statuses) n.checks.push_back(Check("n", s, "svc"));
    return HealthOf(n);
  };
  EXPECT_EQ(health({}), Endpoint::Health::kPassing);
  EXPECT_EQ(health({"passing", "passing"}), Endpoint::Health::kPassing);
  EXPECT_EQ(health({"passing", "warning"}), Endpoint::Health::kWarning);
  EXPECT_EQ(health({"warning", "critical", "passing"}), Endpoint::Health::kCritical);
  EXPECT_EQ(health({"passing", "maintenance"}), Endpoint::Health::kCritical);
  EXPECT_EQ(health({"unknown-status"}), Endpoint::Health::kCritical);

  // A node check counts as much as a service check.
  CheckServiceNode n = Sidecar("node-9", "10.0.0.9", "api", "", 21000);
  n.checks[0].status = catalog::kCritical;
  EXPECT_EQ(HealthOf(n), Endpoint::Health::kCritical);
}

TEST(BestAddressTest, LanAndWan) {
  CheckServiceNode n = Sidecar("node-9", "10.0.0.9", "api", "", 21000);
  auto addr = [&](bool wan) {
    catalog::ServiceAddress a = BestAddress(n, wan);
    return a.address + ":" + std::to_string(a.port);
  };
  EXPECT_EQ(addr(false), "10.0.0.9:21000");
  EXPECT_EQ(addr(true), "10.0.0.9:21000");
  n.node.tagged_addresses["wan"] = "203.0.113.9";
  EXPECT_EQ(addr(false), "10.0.0.9:21000");
  EXPECT_EQ(addr(true), "203.0.113.9:21000");
  n.service.address = "10.0.1.9";
  EXPECT_EQ(addr(false), "10.0.1.9:21000");
  EXPECT_EQ(addr(true), "10.0.1.9:21000");
  n.service.tagged_addresses["wan"] = {"lb.example.com", 443};
  EXPECT_EQ(addr(false), "10.0.1.9:21000");
  EXPECT_EQ(addr(true), "lb.example.com:443");
}

// The dc1 gateway: remote dc2 and dc3, local services api and web (and db, with no instance).
Inputs GatewayInputs() {
  Inputs in;
  in.proxy.kind = "mesh-gateway";
  in.proxy.id = "mesh-gateway";
  in.proxy.service = "mesh-gateway";
  in.proxy.address = "10.1.0.5";
  in.proxy.port = 8443;
  in.proxy.tagged_addresses["lan"] = {"10.1.0.5", 8443};
  in.proxy.tagged_addresses["wan"] = {"198.51.100.1", 443};
  in.node = "gw-dc1";
  in.datacenter = "dc1";
  in.trust_domain = kTd;
  in.roots_pem = {"-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"};
  in.gateways = ThreeDcGateways();
  in.local_services["web"] = {Sidecar("node-1", "10.1.0.11", "web", "", 21000)};
  in.local_services["api"] = {
      Sidecar("node-3", "10.1.0.13", "api", "", 21000, catalog::kCritical),
      Sidecar("node-2", "10.1.0.12", "api", "", 21000),
  };
  in.local_services["db"] = {};
  return in;
}

TEST(CompileGatewayTest, TwoRemoteDatacentersGolden) {
  Result<proxy::Config> c = Compile(GatewayInputs(), 11);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectGolden(*c, "mesh-gateway.json");
}

TEST(CompileGatewayTest, Shape) {
  Result<proxy::Config> c = Compile(GatewayInputs(), 11);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->kind, proxy::Config::Kind::kMeshGateway);
  EXPECT_FALSE(c->leaf.has_value());
  EXPECT_TRUE(c->roots_pem.empty());
  ASSERT_EQ(c->listeners.size(), 1u);
  const Listener& l = c->listeners[0];
  EXPECT_EQ(l.name, "default");
  EXPECT_EQ(l.address, "10.1.0.5");
  EXPECT_EQ(l.kind, Listener::Kind::kGateway);
  ASSERT_EQ(l.chains.size(), 3u);
  const std::string dc2 = std::string("dc2.internal.") + kTd;
  EXPECT_EQ(l.chains[0].server_names, Strings{"*." + dc2});
  EXPECT_EQ(l.chains[0].cluster, dc2);
  EXPECT_EQ(l.chains[2].action, FilterChain::Action::kSniCluster);
  EXPECT_TRUE(l.chains[2].server_names.empty());

  // dc2's gateways at their WAN addresses, no TLS on the gateway.
  const Cluster& remote = ClusterNamed(*c, dc2);
  EXPECT_EQ(remote.tls, Cluster::Tls::kNone);
  EXPECT_EQ(Addresses(remote), (Strings{"198.51.100.21:443", "198.51.100.22:443"}));
  EXPECT_EQ(ClusterNamed(*c, std::string("dc3.internal.") + kTd).endpoints[0].health,
            Endpoint::Health::kCritical);

  // Local services by SNI, their sidecars at LAN addresses; none for a service with no instance.
  const Cluster& api = ClusterNamed(*c, std::string("api.default.dc1.internal.") + kTd);
  ASSERT_EQ(api.endpoints.size(), 2u);
  EXPECT_EQ(api.endpoints[0].node, "node-2");
  EXPECT_EQ(api.endpoints[1].health, Endpoint::Health::kCritical);
  EXPECT_EQ(c->FindCluster(std::string("db.default.dc1.internal.") + kTd), nullptr);
}

TEST(CompileGatewayTest, RemoteDatacenterWithoutGatewaysStillGetsItsChain) {
  Inputs in = GatewayInputs();
  in.gateways["dc4"] = {};
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listeners[0].chains.size(), 4u);
  EXPECT_TRUE(ClusterNamed(*c, std::string("dc4.internal.") + kTd).endpoints.empty());
}

// A subset of a local service, defined by its resolver, gets a cluster under the subset's SNI:
// what a sidecar in another datacenter sends for a subset target through the gateways.
TEST(CompileGatewayTest, LocalResolverSubsetsGetTheirOwnClusters) {
  Inputs in = GatewayInputs();
  in.local_services["api"][0].service.meta["version"] = "v2";
  in.local_services["api"][1].service.meta["version"] = "v1";
  in.local_subsets["api"]["v1"] = meshcfg::ResolverSubset{"Service.Meta.version == v1", false};
  in.local_subsets["api"]["v2"] = meshcfg::ResolverSubset{"Service.Meta.version == v2", true};
  in.local_subsets["api"]["odd"] = meshcfg::ResolverSubset{"Service.Port > 1", false};
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Cluster& v1 = ClusterNamed(*c, std::string("v1.api.default.dc1.internal.") + kTd);
  ASSERT_EQ(v1.endpoints.size(), 1u);
  EXPECT_EQ(v1.endpoints[0].node, "node-2");
  // Only passing instances: the v2 one is critical.
  EXPECT_TRUE(ClusterNamed(*c, std::string("v2.api.default.dc1.internal.") + kTd)
                  .endpoints.empty());
  // A filter form the data plane cannot apply: no cluster, so its SNI is closed.
  EXPECT_EQ(c->FindCluster(std::string("odd.api.default.dc1.internal.") + kTd), nullptr);
  // The service itself keeps all its instances.
  EXPECT_EQ(ClusterNamed(*c, std::string("api.default.dc1.internal.") + kTd).endpoints.size(),
            2u);
}

TEST(CompileGatewayTest, BindAddresses) {
  Inputs in = GatewayInputs();
  in.proxy.address = "";
  Result<proxy::Config> c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listeners[0].address, "0.0.0.0");

  in.proxy.proxy.emplace();
  in.proxy.proxy->config = {{"envoy_gateway_bind_tagged_addresses", true}};
  c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->listeners.size(), 2u);
  EXPECT_EQ(c->listeners[0].name, "lan");
  EXPECT_EQ(c->listeners[1].name, "wan");
  EXPECT_EQ(c->listeners[1].address, "198.51.100.1");
  EXPECT_EQ(c->listeners[1].port, 443);
  EXPECT_EQ(c->listeners[0].chains, c->listeners[1].chains);

  // One host on one network: the WAN address is the LAN one, bound once.
  Inputs same = in;
  same.proxy.tagged_addresses["wan"] = same.proxy.tagged_addresses["lan"];
  c = Compile(same, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->listeners.size(), 1u);
  EXPECT_EQ(c->listeners[0].name, "lan");

  in.proxy.proxy->config["envoy_gateway_bind_addresses"] = {
      {"public", {{"Address", "0.0.0.0"}, {"Port", 8444}}},
      {"inside", {{"address", "127.0.0.1"}, {"port", 8445}}}};
  c = Compile(in, 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->listeners.size(), 2u);
  EXPECT_EQ(c->listeners[0].name, "inside");
  EXPECT_EQ(c->listeners[0].port, 8445);
  EXPECT_EQ(c->listeners[1].name, "public");
  EXPECT_EQ(c->listeners[1].address, "0.0.0.0");

  in.proxy.proxy->config["envoy_gateway_bind_addresses"]["public"]["Port"] = "8444";
  c = Compile(in, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("envoy_gateway_bind_addresses.public.Port"),
            std::string::npos)
      << c.status().message();
}

// ---- Upstreams through their discovery chains.

meshcfg::ServiceResolver Resolver(const std::string& name) {
  meshcfg::ServiceResolver r;
  r.name = name;
  return r;
}

// `in` with the chain of each upstream compiled from `entries`.
Inputs WithChains(Inputs in, const meshcfg::EntrySet& entries) {
  for (const catalog::Upstream& u : in.proxy.proxy->upstreams) {
    Result<meshcfg::CompiledChain> chain =
        UpstreamChain(u, *in.proxy.proxy, in.datacenter, in.trust_domain, entries);
    EXPECT_TRUE(chain.ok()) << chain.status().message();
    if (chain.ok()) in.chains[UpstreamId(u)] = *chain;
  }
  return in;
}

std::string ApiCluster(const std::string& dc, const std::string& subset = "") {
  return (subset.empty() ? "" : subset + ".") + "api.default." + dc + ".internal." + kTd;
}

TEST(CompileChainTest, DefaultChainsGiveTheSameConfigAsNoChains) {
  for (const char* mode : {"", "local", "remote", "none"}) {
    Inputs plain = SidecarInputs(mode);
    Result<proxy::Config> a = Compile(plain, 1);
    Result<proxy::Config> b = Compile(WithChains(plain, {}), 1);
    ASSERT_TRUE(a.ok() && b.ok()) << mode;
    EXPECT_TRUE(*a == *b) << mode;
  }
}

TEST(CompileChainTest, RedirectToAnotherDatacenterGoesThroughTheGateways) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceResolver api = Resolver("api");
  api.redirect = meshcfg::ResolverRedirect{};
  api.redirect->datacenter = "dc2";
  api.connect_timeout = std::chrono::seconds(7);
  entries.Add(api);
  Inputs in = WithChains(SidecarInputs("local"), entries);
  in.upstream_endpoints[{"api", "dc2"}] = {Sidecar("api-dc2", "10.2.0.40", "api", "", 21000)};
  Result<proxy::Config> config = Compile(in, 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->FindCluster(ApiCluster("dc1")), nullptr);
  const Cluster& c = ClusterNamed(*config, ApiCluster("dc2"));
  EXPECT_EQ(c.sni, ApiCluster("dc2"));
  EXPECT_EQ(c.connect_timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(c.spiffe_ids, Strings{std::string("spiffe://") + kTd + "/ns/default/dc/dc2/svc/api"});
  EXPECT_EQ(Addresses(c), Strings{"10.1.0.5:8443"});  // dc1's gateway, mode local
  auto l = std::find_if(config->listeners.begin(), config->listeners.end(),
                        [](const Listener& x) { return x.name == "upstream:api"; });
  ASSERT_NE(l, config->listeners.end());
  EXPECT_EQ(l->chains[0].cluster, ApiCluster("dc2"));
}

TEST(CompileChainTest, FailoverTargetsBecomeFailoverClusters) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceResolver api = Resolver("api");
  api.failover["*"].datacenters = {"dc2"};
  entries.Add(api);
  Inputs in = WithChains(SidecarInputs("remote"), entries);
  Result<proxy::Config> config = Compile(in, 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  const Cluster& primary = ClusterNamed(*config, ApiCluster("dc1"));
  EXPECT_EQ(primary.failover, Strings{ApiCluster("dc2")});
  EXPECT_EQ(Addresses(primary), (Strings{"10.1.1.12:21001", "10.1.0.13:21000"}));  // by node
  const Cluster& failover = ClusterNamed(*config, ApiCluster("dc2"));
  EXPECT_TRUE(failover.failover.empty());
  EXPECT_EQ(failover.sni, ApiCluster("dc2"));
  // Mode remote: dc2's gateways on their WAN addresses.
  EXPECT_EQ(Addresses(failover), (Strings{"198.51.100.21:443", "198.51.100.22:443"}));
}

// The resolver's failover, as a user writes it for a service with no local instances: the
// primary (dc1) is empty, dc2's instances are down behind healthy gateways, dc3 is up.
TEST(CompileChainTest, FailoverSkipsADatacenterWhoseInstancesAreDown) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceResolver api = Resolver("api");
  api.failover["*"].datacenters = {"dc2", "dc3"};
  entries.Add(api);
  Inputs in = SidecarInputs("remote");
  in.gateways["dc3"][0].checks[1].status = catalog::kPassing;
  in.upstream_endpoints.erase({"api", "dc1"});
  in.upstream_endpoints[{"api", "dc2"}] = {
      Sidecar("api-dc2", "10.2.0.40", "api", "", 21000, catalog::kCritical)};
  in.upstream_endpoints[{"api", "dc3"}] = {Sidecar("api-dc3", "10.3.0.40", "api", "", 21000)};
  in = WithChains(in, entries);
  Result<proxy::Config> config = Compile(in, 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  const Cluster& primary = ClusterNamed(*config, ApiCluster("dc1"));
  EXPECT_TRUE(primary.endpoints.empty());
  EXPECT_EQ(primary.failover, (Strings{ApiCluster("dc2"), ApiCluster("dc3")}));
  using H = Endpoint::Health;
  EXPECT_EQ(Healths(ClusterNamed(*config, ApiCluster("dc2"))),
            (std::vector<H>{H::kCritical, H::kCritical}));
  EXPECT_EQ(Healths(ClusterNamed(*config, ApiCluster("dc3"))), std::vector<H>{H::kPassing});
}

TEST(CompileChainTest, SubsetsNarrowTheEndpoints) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceResolver api = Resolver("api");
  api.default_subset = "v1";
  api.subsets["v1"] =
      meshcfg::ResolverSubset{"Service.Meta.version == v1 and Service.Tags contains blue", true};
  entries.Add(api);
  Inputs in = WithChains(SidecarInputs(), entries);
  CheckServiceNode v1 = Sidecar("node-4", "10.1.0.14", "api", "", 21000);
  v1.service.meta["version"] = "v1";
  v1.service.tags = {"blue"};
  CheckServiceNode v1_warning = v1;
  v1_warning.node.node = "node-5";
  v1_warning.node.address = "10.1.0.15";
  v1_warning.checks[1].status = catalog::kWarning;
  CheckServiceNode v1_green = v1;
  v1_green.node.node = "node-6";
  v1_green.service.tags = {"green"};
  CheckServiceNode v2 = v1;
  v2.node.node = "node-7";
  v2.service.meta["version"] = "v2";
  in.upstream_endpoints[{"api", "dc1"}] = {v1, v1_warning, v1_green, v2};
  Result<proxy::Config> config = Compile(in, 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  const Cluster& c = ClusterNamed(*config, ApiCluster("dc1", "v1"));
  EXPECT_EQ(c.sni, ApiCluster("dc1", "v1"));
  EXPECT_EQ(Addresses(c), Strings{"10.1.0.14:21000"});
}

TEST(CompileChainTest, RefusesWhatItCannotCompile) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceResolver api = Resolver("api");
  api.default_subset = "v1";
  api.subsets["v1"] = meshcfg::ResolverSubset{"Service.Meta.version matches \"v.*\"", false};
  entries.Add(api);
  Result<proxy::Config> bad_filter = Compile(WithChains(SidecarInputs(), entries), 1);
  ASSERT_FALSE(bad_filter.ok());
  EXPECT_NE(bad_filter.status().message().find("subset filter"), std::string::npos)
      << bad_filter.status().message();
}

TEST(CompileChainTest, RoutersAndSplittersBecomeHttpRoutes) {
  meshcfg::EntrySet l7;
  for (const char* name : {"api", "admin"}) {
    meshcfg::ServiceDefaults defaults;
    defaults.name = name;
    defaults.protocol = "http";
    l7.Add(defaults);
  }
  meshcfg::ServiceRouter router;
  router.name = "api";
  router.routes.emplace_back();
  router.routes.back().match.emplace();
  router.routes.back().match->http.emplace();
  router.routes.back().match->http->path_prefix = "/admin";
  router.routes.back().destination.emplace();
  router.routes.back().destination->service = "admin";
  router.routes.back().destination->prefix_rewrite = "/";
  l7.Add(router);
  meshcfg::ServiceSplitter splitter;
  splitter.name = "admin";
  splitter.splits.resize(2);
  splitter.splits[0].weight = 90;
  splitter.splits[1].weight = 10;
  splitter.splits[1].service = "api";
  l7.Add(splitter);
  Inputs in = WithChains(SidecarInputs(), l7);
  Result<proxy::Config> routed = Compile(in, 1);
  ASSERT_TRUE(routed.ok()) << routed.status().message();
  auto l = std::find_if(routed->listeners.begin(), routed->listeners.end(),
                        [](const Listener& x) { return x.name == "upstream:api"; });
  ASSERT_NE(l, routed->listeners.end());
  ASSERT_EQ(l->chains.size(), 1u);
  EXPECT_EQ(l->chains[0].action, FilterChain::Action::kHttpRoute);
  ASSERT_TRUE(l->chains[0].route.has_value());
  const auto& routes = l->chains[0].route->routes;
  ASSERT_EQ(routes.size(), 2u);  // /admin, then the catch-all to api
  EXPECT_EQ(routes[0].match.path_kind, proxy::RouteMatch::Path::kPrefix);
  EXPECT_EQ(routes[0].match.path, "/admin");
  EXPECT_EQ(routes[0].prefix_rewrite, "/");
  const std::string admin = std::string("admin.default.dc1.internal.") + kTd;
  EXPECT_EQ(routes[0].clusters,
            (std::vector<proxy::WeightedCluster>{{admin, 9000}, {ApiCluster("dc1"), 1000}}));
  EXPECT_EQ(routes[1].clusters, (std::vector<proxy::WeightedCluster>{{ApiCluster("dc1"), 10000}}));
  EXPECT_NE(routed->FindCluster(admin), nullptr);
}

TEST(CompileChainTest, AnHttpResolverWithARequestTimeoutIsRouted) {
  meshcfg::EntrySet entries;
  meshcfg::ServiceDefaults defaults;
  defaults.name = "api";
  defaults.protocol = "http";
  entries.Add(defaults);
  meshcfg::ServiceResolver api = Resolver("api");
  api.request_timeout = std::chrono::milliseconds(2500);
  entries.Add(api);
  auto upstream_chain = [](const proxy::Config& c) {
    auto l = std::find_if(c.listeners.begin(), c.listeners.end(),
                          [](const Listener& x) { return x.name == "upstream:api"; });
    return l == c.listeners.end() ? FilterChain{} : l->chains.at(0);
  };
  Result<proxy::Config> config = Compile(WithChains(SidecarInputs(), entries), 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  FilterChain chain = upstream_chain(*config);
  EXPECT_EQ(chain.action, FilterChain::Action::kHttpRoute);
  ASSERT_TRUE(chain.route.has_value());
  ASSERT_EQ(chain.route->routes.size(), 1u);
  EXPECT_EQ(chain.route->routes[0].request_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(chain.route->routes[0].clusters,
            (std::vector<proxy::WeightedCluster>{{ApiCluster("dc1"), 10000}}));
  EXPECT_EQ(chain.route->routes[0].match, proxy::RouteMatch{});

  // Without the timeout, or over TCP, the bytes are copied as before.
  entries.resolvers["api"].request_timeout = std::chrono::milliseconds(0);
  config = Compile(WithChains(SidecarInputs(), entries), 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(upstream_chain(*config).action, FilterChain::Action::kOriginateTls);
  entries.resolvers["api"].request_timeout = std::chrono::milliseconds(2500);
  entries.service_defaults["api"].protocol = "tcp";
  config = Compile(WithChains(SidecarInputs(), entries), 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(upstream_chain(*config).action, FilterChain::Action::kOriginateTls);
}

TEST(CompileChainTest, RetriesTimeoutsAndHeaderChangesReachTheRoutes) {
  meshcfg::EntrySet l7;
  for (const char* name : {"api", "admin"}) {
    meshcfg::ServiceDefaults defaults;
    defaults.name = name;
    defaults.protocol = "http";
    l7.Add(defaults);
  }
  meshcfg::ServiceResolver admin_resolver = Resolver("admin");
  admin_resolver.request_timeout = std::chrono::seconds(9);
  l7.Add(admin_resolver);
  meshcfg::ServiceRouter router;
  router.name = "api";
  router.routes.resize(2);
  for (auto& r : router.routes) r.match.emplace().http.emplace();
  router.routes[0].match->http->path_prefix = "/admin";
  meshcfg::RouteDestination& d = router.routes[0].destination.emplace();
  d.service = "admin";
  d.request_timeout = std::chrono::seconds(3);
  d.idle_timeout = std::chrono::milliseconds(1500);
  d.num_retries = 2;
  d.retry_on_connect_failure = true;
  d.retry_on = {"5xx", "reset"};
  d.retry_on_status_codes = {429};
  d.request_headers =
      meshcfg::HeaderModifiers{{{"x-b", "2"}, {"x-a", "1"}}, {{"x-env", "prod"}}, {"cookie"}};
  d.response_headers = meshcfg::HeaderModifiers{{}, {}, {"server"}};
  router.routes[1].match->http->path_prefix = "/slow";
  router.routes[1].destination.emplace().service = "admin";  // the resolver's timeout
  l7.Add(router);
  meshcfg::ServiceSplitter splitter;
  splitter.name = "api";
  splitter.splits.resize(2);
  splitter.splits[0].weight = 75;
  splitter.splits[0].response_headers = meshcfg::HeaderModifiers{{}, {{"x-split", "a"}}, {}};
  splitter.splits[1].weight = 25;
  splitter.splits[1].service_subset = "v2";
  splitter.splits[1].request_headers = meshcfg::HeaderModifiers{{{"x-canary", "1"}}, {}, {}};
  l7.Add(splitter);
  meshcfg::ServiceResolver api = Resolver("api");
  api.subsets["v2"] = meshcfg::ResolverSubset{"Service.Meta.version == v2", false};
  l7.Add(api);

  Result<proxy::Config> config = Compile(WithChains(SidecarInputs(), l7), 1);
  ASSERT_TRUE(config.ok()) << config.status().message();
  auto l = std::find_if(config->listeners.begin(), config->listeners.end(),
                        [](const Listener& x) { return x.name == "upstream:api"; });
  ASSERT_NE(l, config->listeners.end());
  const auto& routes = l->chains[0].route->routes;
  ASSERT_EQ(routes.size(), 3u);  // /admin, /slow, the catch-all to api's splitter
  const proxy::Route& r0 = routes[0];
  EXPECT_EQ(r0.request_timeout, std::chrono::milliseconds(3000));  // the route's wins
  EXPECT_EQ(r0.idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(r0.num_retries, 2);
  EXPECT_TRUE(r0.retry_on_connect_failure);
  EXPECT_EQ(r0.retry_on, (Strings{"5xx", "reset"}));
  EXPECT_EQ(r0.retry_on_status_codes, std::vector<int>{429});
  EXPECT_EQ(r0.request_headers.add,
            (std::vector<proxy::HeaderValue>{{"x-a", "1"}, {"x-b", "2"}}));  // by name
  EXPECT_EQ(r0.request_headers.set, (std::vector<proxy::HeaderValue>{{"x-env", "prod"}}));
  EXPECT_EQ(r0.request_headers.remove, Strings{"cookie"});
  EXPECT_EQ(r0.response_headers.remove, Strings{"server"});
  EXPECT_EQ(routes[1].request_timeout, std::chrono::milliseconds(9000));
  EXPECT_EQ(routes[1].idle_timeout, std::chrono::milliseconds(0));
  const auto& split = routes[2].clusters;
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0].cluster, ApiCluster("dc1"));
  EXPECT_EQ(split[0].weight, 7500);
  EXPECT_EQ(split[0].response_headers.set, (std::vector<proxy::HeaderValue>{{"x-split", "a"}}));
  EXPECT_TRUE(split[0].request_headers.empty());
  EXPECT_EQ(split[1].cluster, ApiCluster("dc1", "v2"));
  EXPECT_EQ(split[1].weight, 2500);
  EXPECT_EQ(split[1].request_headers.add, (std::vector<proxy::HeaderValue>{{"x-canary", "1"}}));
  EXPECT_TRUE(routes[2].request_headers.empty());

  // Two splits that end at one cluster may share it only with the same header changes.
  l7.splitters["api"].splits[1].service_subset.clear();
  l7.splitters["api"].splits[1].service = "api-old";
  meshcfg::ServiceResolver old = Resolver("api-old");
  old.redirect.emplace().service = "api";
  l7.Add(old);
  meshcfg::ServiceDefaults old_defaults;
  old_defaults.name = "api-old";
  old_defaults.protocol = "http";
  l7.Add(old_defaults);
  Result<proxy::Config> clash = Compile(WithChains(SidecarInputs(), l7), 1);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find("with different header changes"), std::string::npos)
      << clash.status().message();
}

}  // namespace
}  // namespace gangway::proxycfg
