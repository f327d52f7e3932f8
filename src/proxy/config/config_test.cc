#include "proxy/config/config.h"

#include <gtest/gtest.h>

#include <functional>

#include "proxy/config/testing/examples.h"

namespace gangway::proxy {
namespace {

using testing::GatewayExample;
using testing::RoutedSidecarExample;
using testing::SidecarExample;

TEST(ValidateTest, ExamplesAreValid) {
  EXPECT_EQ(Validate(SidecarExample()).message(), "");
  EXPECT_EQ(Validate(RoutedSidecarExample()).message(), "");
  EXPECT_EQ(Validate(GatewayExample()).message(), "");
}

struct BadCase {
  const char* what;
  std::function<Config()> make;
  const char* message;
};

Config Sidecar(const std::function<void(Config&)>& edit) {
  Config c = SidecarExample();
  edit(c);
  return c;
}

Config Gateway(const std::function<void(Config&)>& edit) {
  Config c = GatewayExample();
  edit(c);
  return c;
}

TEST(ValidateTest, NamesTheOffendingField) {
  const BadCase cases[] = {
      {"version 0", [] { return Sidecar([](Config& c) { c.version = 0; }); },
       "Version: must be at least 1"},
      {"no proxy id", [] { return Sidecar([](Config& c) { c.proxy_id.clear(); }); },
       "ProxyID: must not be empty"},
      {"unknown cluster",
       [] { return Sidecar([](Config& c) { c.listeners[1].chains[0].cluster = "x"; }); },
       "Listeners[1].FilterChains[0].Cluster: no cluster named \"x\""},
      {"duplicate listener",
       [] { return Sidecar([](Config& c) { c.listeners[2].name = "upstream:api"; }); },
       "Listeners[2].Name: duplicate listener name \"upstream:api\""},
      {"duplicate cluster",
       [] { return Sidecar([](Config& c) { c.clusters[2].name = c.clusters[1].name; }); },
       "Clusters[2].Name: duplicate cluster name "
       "\"api.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul\""},
      {"duplicate cluster without case",
       [] {
         return Sidecar([](Config& c) {
           c.clusters.emplace_back();
           c.clusters.back().name = "LOCAL_APP";
         });
       },
       "Clusters[3].Name: duplicate cluster name \"LOCAL_APP\""},
      {"listener port", [] { return Sidecar([](Config& c) { c.listeners[0].port = 65536; }); },
       "Listeners[0].Port: 65536 is not in 0..65535"},
      {"negative port", [] { return Sidecar([](Config& c) { c.listeners[0].port = -1; }); },
       "Listeners[0].Port: -1 is not in 0..65535"},
      {"same address twice", [] { return Sidecar([](Config& c) { c.listeners[2].port = 9191; }); },
       "Listeners[2].Port: 127.0.0.1:9191 is already bound by another listener"},
      {"endpoint port 0",
       [] { return Sidecar([](Config& c) { c.clusters[1].endpoints[1].port = 0; }); },
       "Clusters[1].Endpoints[1].Port: 0 is not in 1..65535"},
      {"endpoint address",
       [] { return Sidecar([](Config& c) { c.clusters[0].endpoints[0].address = "a b"; }); },
       "Clusters[0].Endpoints[0].Address: \"a b\" is neither an IP address nor a DNS name"},
      {"listener hostname",
       [] { return Sidecar([](Config& c) { c.listeners[0].address = "localhost"; }); },
       "Listeners[0].Address: \"localhost\" is not an IP address"},
      {"terminate without leaf", [] { return Sidecar([](Config& c) { c.leaf.reset(); }); },
       "Listeners[0].FilterChains[0].Action: terminate_tls needs a Leaf"},
      {"terminate without roots", [] { return Sidecar([](Config& c) { c.roots_pem.clear(); }); },
       "Listeners[0].FilterChains[0].Action: terminate_tls needs RootsPEM"},
      {"half a leaf", [] { return Sidecar([](Config& c) { c.leaf->private_key_pem.clear(); }); },
       "Leaf.PrivateKeyPEM: must not be empty"},
      {"gateway with a leaf",
       [] { return Gateway([](Config& c) {
              c.leaf = Leaf{"a", "b", "spiffe://t/x", "c"};
            }); },
       "Leaf: a mesh-gateway holds no service key; Leaf must be null"},
      {"bad server name",
       [] {
         return Gateway([](Config& c) { c.listeners[0].chains[0].server_names = {"*.dc2..x"}; });
       },
       "Listeners[0].FilterChains[0].ServerNames[0]: \"*.dc2..x\" is neither a DNS name nor "
       "\"*.\" followed by one"},
      {"bare star",
       [] { return Gateway([](Config& c) { c.listeners[1].chains[1].server_names = {"*"}; }); },
       "Listeners[1].FilterChains[1].ServerNames[0]: \"*\" is neither a DNS name nor \"*.\" "
       "followed by one"},
      {"inner star",
       [] { return Gateway([](Config& c) { c.listeners[0].chains[0].server_names = {"a.*.b"}; }); },
       "Listeners[0].FilterChains[0].ServerNames[0]: \"a.*.b\" is neither a DNS name nor \"*.\" "
       "followed by one"},
      {"same name in two chains",
       [] {
         return Gateway([](Config& c) {
           c.listeners[0].chains[1].server_names = {"*.DC2.internal." +
                                                    std::string(testing::kTrustDomain)};
         });
       },
       "Listeners[0].FilterChains[1].ServerNames[0]: \"*.DC2.internal."
       "11111111-2222-3333-4444-555555555555.consul\" is already matched by FilterChains[0]"},
      {"two catch-alls",
       [] { return Gateway([](Config& c) { c.listeners[0].chains[0].server_names.clear(); }); },
       "Listeners[0].FilterChains[2].ServerNames: a second chain with no server names"},
      {"sni_cluster with a cluster",
       [] { return Gateway([](Config& c) { c.listeners[0].chains[2].cluster = "x"; }); },
       "Listeners[0].FilterChains[2].Cluster: must be empty: the SNI names the cluster"},
      {"tcp_proxy on a sidecar",
       [] {
         return Sidecar(
             [](Config& c) { c.listeners[0].chains[0].action = FilterChain::Action::kTcpProxy; });
       },
       "Listeners[0].FilterChains[0].Action: \"tcp_proxy\" is not allowed on a public listener"},
      {"upstream to a plaintext cluster",
       [] { return Sidecar([](Config& c) { c.listeners[1].chains[0].cluster = "local_app"; }); },
       "Listeners[1].FilterChains[0].Cluster: originate_tls needs a cluster with TLS "
       "\"originate\"; \"local_app\" has \"none\""},
      {"upstream with an SNI match",
       [] { return Sidecar([](Config& c) { c.listeners[1].chains[0].server_names = {"a.b"}; }); },
       "Listeners[1].FilterChains[0].ServerNames: an upstream listener takes plaintext, which "
       "has no SNI"},
      {"no public listener",
       [] { return Sidecar([](Config& c) { c.listeners.erase(c.listeners.begin()); }); },
       "Listeners: a connect-proxy needs exactly one public listener, found 0"},
      {"gateway listener on a sidecar",
       [] { return Sidecar([](Config& c) { c.listeners[1].kind = Listener::Kind::kGateway; }); },
       "Listeners[1].Kind: a connect-proxy cannot have a gateway listener"},
      {"listener without chains",
       [] { return Gateway([](Config& c) { c.listeners[1].chains.clear(); }); },
       "Listeners[1].FilterChains: a listener needs at least one filter chain"},
      {"gateway originating",
       [] {
         return Gateway([](Config& c) {
           c.clusters[2].tls = Cluster::Tls::kOriginate;
           c.clusters[2].sni = c.clusters[2].name;
           c.clusters[2].spiffe_ids = {testing::SpiffeId("api", "dc1")};
         });
       },
       "Clusters[2].TLS: a mesh-gateway never originates TLS"},
      {"originate without identities",
       [] { return Sidecar([](Config& c) { c.clusters[2].spiffe_ids.clear(); }); },
       "Clusters[2].SpiffeIDs: originating TLS needs at least one"},
      {"originate without sni",
       [] { return Sidecar([](Config& c) { c.clusters[2].sni.clear(); }); },
       "Clusters[2].SNI: \"\" is not a valid server name"},
      {"plaintext with sni", [] { return Sidecar([](Config& c) { c.clusters[0].sni = "a.b"; }); },
       "Clusters[0].SNI: must be empty unless TLS is \"originate\""},
      {"zero timeout",
       [] { return Sidecar([](Config& c) { c.clusters[1].connect_timeout = {}; }); },
       "Clusters[1].ConnectTimeoutMs: must be positive"},
      {"failover to unknown",
       [] { return Sidecar([](Config& c) { c.clusters[2].failover = {"nope"}; }); },
       "Clusters[2].Failover[0]: no cluster named \"nope\""},
      {"failover to self",
       [] { return Sidecar([](Config& c) { c.clusters[2].failover = {c.clusters[2].name}; }); },
       "Clusters[2].Failover[0]: a cluster cannot fail over to itself"},
      {"failover across tls",
       [] { return Sidecar([](Config& c) { c.clusters[2].failover = {"local_app"}; }); },
       "Clusters[2].Failover[0]: cluster \"local_app\" has TLS \"none\", this one \"originate\""},
      {"chained failover",
       [] {
         return Sidecar([](Config& c) {
           c.clusters[1].failover = {c.clusters[2].name};
           c.clusters[2].failover = {c.clusters[1].name};
         });
       },
       "Clusters[1].Failover[0]: cluster "
       "\"db.default.dc2.internal.11111111-2222-3333-4444-555555555555.consul\" has a Failover of "
       "its own"},
      {"rules out of order",
       [] { return Sidecar([](Config& c) { std::swap(c.authz.rules[0], c.authz.rules[1]); }); },
       "Authz.Rules[1].Precedence: rules must be ordered by precedence, highest first, deny "
       "before allow"},
      {"allow before deny",
       [] {
         return Sidecar([](Config& c) {
           c.authz.rules[0].precedence = 8;
           std::swap(c.authz.rules[0], c.authz.rules[1]);
         });
       },
       "Authz.Rules[1].Precedence: rules must be ordered by precedence, highest first, deny "
       "before allow"},
      {"bad source",
       [] { return Sidecar([](Config& c) { c.authz.rules[0].source = "spiffe://td/ns/we*"; }); },
       "Authz.Rules[0].Source: \"spiffe://td/ns/we*\" is not a SPIFFE ID pattern"},
      {"gateway authz", [] { return Gateway([](Config& c) { c.authz.default_allow = false; }); },
       "Authz: a mesh-gateway does not enforce intentions; Authz must be the default"},
      {"leaf identity", [] { return Sidecar([](Config& c) { c.leaf->spiffe_id = "web"; }); },
       "Leaf.SpiffeID: \"web\" is not a SPIFFE ID"},
  };
  for (const BadCase& c : cases) {
    Status s = Validate(c.make());
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.what;
    EXPECT_EQ(s.message(), c.message) << c.what;
  }
}

Config Routed(const std::function<void(Route&)>& edit, size_t route = 0) {
  Config c = RoutedSidecarExample();
  edit(c.listeners[1].chains[0].route->routes[route]);
  return c;
}

TEST(ValidateTest, NamesTheOffendingRouteField) {
  const std::string at = "Listeners[1].FilterChains[0].RouteConfig.Routes[0].";
  const std::string at1 = "Listeners[1].FilterChains[0].RouteConfig.Routes[1].";
  struct Case {
    const char* what;
    Config config;
    std::string message;
  };
  const Case cases[] = {
      {"unknown cluster", Routed([](Route& r) { r.clusters[0].cluster = "x"; }),
       at + "Clusters[0].Cluster: no cluster named \"x\""},
      {"plaintext cluster", Routed([](Route& r) { r.clusters[0].cluster = "local_app"; }),
       at + "Clusters[0].Cluster: http_route needs a cluster with TLS \"originate\"; "
            "\"local_app\" has \"none\""},
      {"weights", Routed([](Route& r) { r.clusters[1].weight = 999; }, 1),
       at1 + "Clusters: the weights must sum to 10000 (100.00%), not 9999"},
      {"negative weight",
       Routed(
           [](Route& r) {
             r.clusters = {{r.clusters[0].cluster, -1}};
           },
           1),
       at1 + "Clusters[0].Weight: -1 is not in 0..10000"},
      {"no clusters", Routed([](Route& r) { r.clusters.clear(); }),
       at + "Clusters: a route needs at least one cluster"},
      {"twice", Routed([](Route& r) { r.clusters[1].cluster = r.clusters[0].cluster; }, 1),
       at1 + "Clusters[1].Cluster: cluster "
             "\"api.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul\" is "
             "listed twice"},
      {"path regex", Routed([](Route& r) {
         r.match.path_kind = RouteMatch::Path::kRegex;
         r.match.path = "/a(";
         r.prefix_rewrite.clear();
       }),
       at + "Match.Path: error parsing regexp: missing closing ): `/a(`"},
      {"header regex", Routed([](Route& r) { r.match.headers[1].value = "[a"; }),
       at + "Match.Headers[1].Value: error parsing regexp: missing closing ]: `[a`"},
      {"query regex", Routed([](Route& r) { r.match.query_params[1].value = "*"; }),
       at + "Match.QueryParams[1].Value: error parsing regexp: missing argument to repetition "
            "operator: `*`"},
      {"prefix without slash", Routed([](Route& r) { r.match.path = "api"; }, 1),
       at1 + "Match.Path: \"api\" does not start with \"/\""},
      {"rewrite needs a path", Routed([](Route& r) {
         r.match.path_kind = RouteMatch::Path::kAny;
         r.match.path.clear();
       }),
       at + "PrefixRewrite: needs a PathMatch of \"exact\" or \"prefix\""},
      {"method", Routed([](Route& r) { r.match.methods = {"get"}; }),
       at + "Match.Methods[0]: \"get\" is not one of GET HEAD POST PUT PATCH DELETE CONNECT "
            "OPTIONS TRACE"},
      {"method twice", Routed([](Route& r) {
         r.match.methods = {"GET", "GET"};
       }),
       at + "Match.Methods[1]: \"GET\" is listed twice"},
      {"header name", Routed([](Route& r) { r.match.headers[0].name = "bad name"; }),
       at + "Match.Headers[0].Name: \"bad name\" is not a header name"},
      {"present with value", Routed([](Route& r) { r.match.headers[0].value = "1"; }),
       at + "Match.Headers[0].Value: must be empty when Match is \"present\""},
      {"header injection",
       Routed([](Route& r) { r.request_headers.add[0].value = "a\r\nx-admin: 1"; }),
       at + "RequestHeaders.Add[0].Value: a header value may not hold CR, LF or NUL"},
      {"response remove", Routed([](Route& r) { r.response_headers.remove = {""}; }),
       at + "ResponseHeaders.Remove[0]: \"\" is not a header name"},
      {"status code", Routed([](Route& r) { r.retry_on_status_codes = {99}; }),
       at + "RetryOnStatusCodes[0]: 99 is not an HTTP status code"},
      {"retries", Routed([](Route& r) { r.num_retries = -1; }),
       at + "NumRetries: must not be negative"},
      {"timeout", Routed([](Route& r) { r.request_timeout = std::chrono::milliseconds(-1); }),
       at + "RequestTimeoutMs: must not be negative"},
      {"retry condition", Routed([](Route& r) {
         r.retry_on = {"5xx", "503"};
       }),
       at + "RetryOn[1]: \"503\" is not a retry condition"},
      {"idle timeout", Routed([](Route& r) { r.idle_timeout = std::chrono::milliseconds(-5); }),
       at + "IdleTimeoutMs: must not be negative"},
      {"split header",
       Routed(
           [](Route& r) {
             r.clusters[1].response_headers.set = {{"x y", ""}};
           },
           1),
       at1 + "Clusters[1].ResponseHeaders.Set[0].Name: \"x y\" is not a header name"},
  };
  for (const Case& c : cases) {
    Status s = Validate(c.config);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.what;
    EXPECT_EQ(s.message(), c.message) << c.what;
  }

  Config c = RoutedSidecarExample();
  c.listeners[1].chains[0].cluster = "local_app";
  EXPECT_EQ(Validate(c).message(),
            "Listeners[1].FilterChains[0].Cluster: must be empty: the routes name the clusters");
  c = RoutedSidecarExample();
  c.listeners[1].chains[0].route.reset();
  EXPECT_EQ(Validate(c).message(),
            "Listeners[1].FilterChains[0].RouteConfig: an http_route chain needs a RouteConfig");
  c = RoutedSidecarExample();
  c.listeners[1].chains[0].route->routes.clear();
  EXPECT_EQ(Validate(c).message(),
            "Listeners[1].FilterChains[0].RouteConfig.Routes: an "
            "http_route chain needs at least one route");
  c = RoutedSidecarExample();
  c.listeners[2].chains[0].route = RouteConfig{};
  EXPECT_EQ(Validate(c).message(),
            "Listeners[2].FilterChains[0].RouteConfig: only an http_route chain has routes");
  c = RoutedSidecarExample();
  c.listeners[0].chains[0] = c.listeners[1].chains[0];
  EXPECT_EQ(Validate(c).message(),
            "Listeners[0].FilterChains[0].Action: \"http_route\" is not "
            "allowed on a public listener");
}

TEST(ValidateTest, AcceptsEdgeValues) {
  Config c = SidecarExample();
  c.listeners[0].port = 0;  // tests bind port 0
  c.listeners[1].port = 0;
  c.listeners[2].port = 0;  // several listeners on port 0 do not collide
  c.clusters[1].endpoints[0].port = 65535;
  c.clusters[1].endpoints[0].address = "::1";
  c.clusters[1].failover = {c.clusters[2].name};
  c.authz.rules.clear();
  EXPECT_EQ(Validate(c).message(), "");
}

TEST(ServerNameTest, ExactAndSuffix) {
  EXPECT_TRUE(ServerNameMatches("a.b.c", "a.b.c"));
  EXPECT_TRUE(ServerNameMatches("A.b.C", "a.B.c"));
  EXPECT_FALSE(ServerNameMatches("a.b.c", "x.a.b.c"));
  EXPECT_TRUE(ServerNameMatches("*.dc2.internal.td", "api.default.dc2.internal.td"));
  EXPECT_TRUE(ServerNameMatches("*.dc2.internal.td", "x.dc2.internal.td"));
  EXPECT_TRUE(ServerNameMatches("*.DC2.internal.td", "x.dc2.INTERNAL.td"));
  EXPECT_FALSE(ServerNameMatches("*.dc2.internal.td", "dc2.internal.td"));
  EXPECT_FALSE(ServerNameMatches("*.dc2.internal.td", "api.default.xdc2.internal.td"));
  EXPECT_FALSE(ServerNameMatches("*.dc2.internal.td", "api.default.dc3.internal.td"));
  EXPECT_FALSE(ServerNameMatches("*.dc2.internal.td", ""));
  EXPECT_FALSE(ServerNameMatches("a.b", ""));
}

TEST(MatchChainTest, ExactThenLongestSuffixThenCatchAll) {
  Listener l{"l", "127.0.0.1", 0, Listener::Kind::kGateway, {}};
  l.chains = {
      {{"*.internal.td"}, FilterChain::Action::kTcpProxy, "short"},
      {{}, FilterChain::Action::kSniCluster, ""},
      {{"*.dc2.internal.td"}, FilterChain::Action::kTcpProxy, "long"},
      {{"x", "api.default.dc2.internal.td"}, FilterChain::Action::kTcpProxy, "exact"},
  };
  auto cluster_of = [&](std::string_view sni) {
    const FilterChain* ch = MatchChain(l, sni);
    if (ch == nullptr) return std::string("<none>");
    return ch->action == FilterChain::Action::kSniCluster ? std::string("<sni>") : ch->cluster;
  };
  EXPECT_EQ(cluster_of("api.default.dc2.internal.td"), "exact");
  EXPECT_EQ(cluster_of("API.default.dc2.internal.td"), "exact");
  EXPECT_EQ(cluster_of("web.default.dc2.internal.td"), "long");
  EXPECT_EQ(cluster_of("web.default.dc3.internal.td"), "short");
  EXPECT_EQ(cluster_of("dc2.internal.td"), "short");
  EXPECT_EQ(cluster_of("elsewhere.example"), "<sni>");
  EXPECT_EQ(cluster_of(""), "<sni>");

  l.chains.erase(l.chains.begin() + 1);  // no catch-all: unmatched SNIs are closed
  EXPECT_EQ(cluster_of("elsewhere.example"), "<none>");
  EXPECT_EQ(cluster_of(""), "<none>");
}

TEST(MatchChainTest, GatewayExampleRoutesByDatacenter) {
  Config c = GatewayExample();
  const Listener& wan = c.listeners[1];
  const FilterChain* to_dc2 = MatchChain(wan, testing::Sni("db", "dc2"));
  ASSERT_NE(to_dc2, nullptr);
  EXPECT_EQ(to_dc2->cluster, std::string("dc2.internal.") + testing::kTrustDomain);
  const FilterChain* local = MatchChain(wan, testing::Sni("api", "dc1"));
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->action, FilterChain::Action::kSniCluster);
  ASSERT_NE(c.FindCluster(testing::Sni("api", "dc1")), nullptr);
  EXPECT_EQ(c.FindCluster(testing::Sni("api", "dc1"))->endpoints.size(), 2u);
  EXPECT_EQ(c.FindCluster(testing::Sni("db", "dc1")), nullptr);  // closed: no such service here
}

TEST(AuthzTest, FirstMatchingRuleDecides) {
  Config c = SidecarExample();
  EXPECT_FALSE(Allowed(c.authz, testing::SpiffeId("admin", "dc1")));
  EXPECT_FALSE(Allowed(c.authz, testing::SpiffeId("admin", "dc2")));  // DC-agnostic
  EXPECT_TRUE(Allowed(c.authz, testing::SpiffeId("api", "dc2")));
  const AuthzRule* r = MatchRule(c.authz, testing::SpiffeId("admin", "dc1"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id, "admin-web");
  EXPECT_FALSE(Allowed(c.authz, "spiffe://other.consul/ns/default/dc/dc1/svc/api"));
  EXPECT_FALSE(Allowed(c.authz, "spiffe://" + std::string(testing::kTrustDomain) + "/ns/default"));
  c.authz.rules.clear();
  EXPECT_FALSE(Allowed(c.authz, testing::SpiffeId("api", "dc1")));
  c.authz.default_allow = true;
  EXPECT_TRUE(Allowed(c.authz, testing::SpiffeId("api", "dc1")));
}

TEST(AuthzTest, SourcePatterns) {
  EXPECT_TRUE(SourceMatches("spiffe://td/ns/default/dc/*/svc/web",
                            "spiffe://td/ns/default/dc/dc9/svc/web"));
  EXPECT_TRUE(SourceMatches("spiffe://TD/ns/default/dc/*/svc/web",
                            "spiffe://td/ns/default/dc/dc1/svc/web"));
  EXPECT_FALSE(SourceMatches("spiffe://td/ns/default/dc/*/svc/web",
                             "spiffe://td/ns/default/dc/dc1/svc/Web"));
  EXPECT_FALSE(
      SourceMatches("spiffe://td/ns/default/dc/*/svc/web", "spiffe://td/ns/default/dc//svc/web"));
  EXPECT_FALSE(SourceMatches("spiffe://td/ns/default/dc/*/svc/web",
                             "spiffe://td/ns/default/dc/dc1/svc/web/x"));
  EXPECT_TRUE(SourceMatches("spiffe://*/ns/*/dc/*/svc/*", "spiffe://a/ns/b/dc/c/svc/d"));
  EXPECT_FALSE(SourceMatches("spiffe://*/ns/*/dc/*/svc/*", "http://a/ns/b/dc/c/svc/d"));
}

}  // namespace
}  // namespace gangway::proxy
