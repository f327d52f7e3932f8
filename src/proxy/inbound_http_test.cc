// L7 intentions at the destination over real sockets on 127.0.0.1 and real mTLS: web's sidecar
// (an L4 upstream listener) sends HTTP to api's sidecar, whose public listener parses each
// request and checks it against the intentions' permissions before the app sees it. The pure
// InboundAuthz decisions are tested first.
#include "proxy/inbound_http.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "proxy/runtime.h"
#include "proxy/testing/harness.h"
#include "proxy/testing/running_proxy.h"
#include "proxy/testing/http_app.h"

namespace gangway::proxy {
namespace {

using testing::AppRequest;
using testing::AppResponse;
using testing::ConnectTcp;
using testing::Exchange;
using testing::Get;
using testing::HttpApp;
using testing::HttpReply;
using testing::Identity;
using testing::TestCa;

namespace http = boost::beast::http;

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";
const std::string kApi = std::string("api.default.dc1.internal.") + kTd;
const std::string kWebSource = std::string("spiffe://") + kTd + "/ns/default/dc/*/svc/web";
const std::string kAnySource = std::string("spiffe://") + kTd + "/ns/default/dc/*/svc/*";

struct Pki {
  TestCa ca{kTd};
  Identity web = ca.Leaf("web");
  Identity api = ca.Leaf("api");
  Identity db = ca.Leaf("db");
};
const Pki& Certs() {
  static const Pki* pki = new Pki();
  return *pki;
}

AuthzPermission Permission(bool allow, RouteMatch::Path kind, const std::string& path,
                           std::vector<std::string> methods = {}) {
  AuthzPermission p;
  p.allow = allow;
  p.http.path_kind = kind;
  p.http.path = path;
  p.http.methods = std::move(methods);
  return p;
}

// Consul: Sources [{Name web, Permissions [{deny, PathExact /public/secret},
// {allow, PathPrefix /public, Methods GET HEAD}]}], default deny.
Authz WebMayReadPublic() {
  AuthzRule web{kWebSource, false, 9, "web => api"};
  web.permissions = {Permission(false, RouteMatch::Path::kExact, "/public/secret"),
                     Permission(true, RouteMatch::Path::kPrefix, "/public", {"GET", "HEAD"})};
  Authz authz;
  authz.default_allow = false;
  authz.rules = {web};
  return authz;
}

HttpRequest Request(http::verb method, const std::string& target,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest req{method, target, 11};
  for (const auto& [name, value] : headers) req.insert(name, value);
  return req;
}

TEST(InboundAuthzTest, FirstMatchingPermissionDecidesNoneFallsToTheDefault) {
  const std::string web = Certs().web.spiffe_id;
  for (bool default_allow : {false, true}) {
    Authz authz = WebMayReadPublic();
    authz.default_allow = default_allow;
    Result<InboundAuthz> built = InboundAuthz::Build(authz);
    ASSERT_TRUE(built.ok()) << built.status().message();
    const InboundAuthz& a = *built;
    AuthzDecision d = a.Check(web, Request(http::verb::get, "/public/x?q=1"));
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.reason, "intention web => api permission 1 allows");
    d = a.Check(web, Request(http::verb::get, "/public/secret"));
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.reason, "intention web => api permission 0 denies");
    d = a.Check(web, Request(http::verb::post, "/public/x"));
    EXPECT_EQ(d.allowed, default_allow);
    EXPECT_EQ(d.reason, std::string("intention web => api: no permission matched; default ") +
                            (default_allow ? "allow" : "deny"));
    // Another source: no rule, the default.
    d = a.Check(Certs().db.spiffe_id, Request(http::verb::get, "/public/x"));
    EXPECT_EQ(d.allowed, default_allow);
  }
}

TEST(InboundAuthzTest, HeaderConditionsAndL4RulesInPrecedenceOrder) {
  AuthzRule web{kWebSource, false, 9, "web => api"};
  AuthzPermission tenant;
  tenant.allow = true;
  tenant.http.headers = {{"x-tenant", HeaderMatch::Kind::kPrefix, "blue-", false},
                         {"x-debug", HeaderMatch::Kind::kPresent, "", true}};
  web.permissions = {tenant};
  AuthzRule any{kAnySource, true, 8, "* => api"};
  Authz authz;
  authz.default_allow = false;
  authz.rules = {web, any};
  Result<InboundAuthz> a = InboundAuthz::Build(authz);
  ASSERT_TRUE(a.ok());
  const std::string web_id = Certs().web.spiffe_id;
  EXPECT_TRUE(a->Check(web_id, Request(http::verb::put, "/", {{"X-Tenant", "blue-1"}})).allowed);
  EXPECT_FALSE(a->Check(web_id, Request(http::verb::put, "/", {{"X-Tenant", "red-1"}})).allowed);
  EXPECT_FALSE(
      a->Check(web_id, Request(http::verb::put, "/", {{"X-Tenant", "blue-1"}, {"X-Debug", "1"}}))
          .allowed);
  // web's L7 intention decides for web, even where `*`'s would allow: it is not consulted.
  EXPECT_FALSE(a->Check(web_id, Request(http::verb::get, "/")).allowed);
  AuthzDecision db = a->Check(Certs().db.spiffe_id, Request(http::verb::get, "/"));
  EXPECT_TRUE(db.allowed);
  EXPECT_EQ(db.reason, "intention * => api allows");
}

TEST(InboundAuthzTest, ConnectionLevelCheckAdmitsL7RulesOnlyWhereRequestsAreSeen) {
  Authz authz = WebMayReadPublic();
  const std::string web = Certs().web.spiffe_id;
  AuthzDecision tcp = Authorize(authz, web);
  EXPECT_FALSE(tcp.allowed);
  EXPECT_EQ(tcp.reason,
            "intention web => api has L7 permissions, which a connection cannot "
            "satisfy");
  AuthzDecision http = Authorize(authz, web, /*sees_requests=*/true);
  EXPECT_TRUE(http.allowed);
  EXPECT_FALSE(Authorize(authz, Certs().db.spiffe_id, true).allowed);  // the default
}

// ---- end to end ----

Endpoint Local(int port) {
  Endpoint e;
  e.address = "127.0.0.1";
  e.port = port;
  return e;
}

Config Base(const std::string& service, const Identity& leaf, uint64_t version) {
  Config c;
  c.version = version;
  c.proxy_id = service + "-sidecar-proxy";
  c.service = service;
  c.datacenter = "dc1";
  c.trust_domain = kTd;
  c.leaf = Leaf{leaf.cert_pem, leaf.key_pem, leaf.spiffe_id, "2099-01-01T00:00:00Z"};
  c.roots_pem = {Certs().ca.root_pem()};
  return c;
}

// api's sidecar in front of `app_port`, its public chain parsing requests when `http`.
Config ApiSidecar(int app_port, Authz authz, bool http = true, uint64_t version = 1) {
  Config c = Base("api", Certs().api, version);
  Listener l{"public", "127.0.0.1", 0, Listener::Kind::kPublic, {}};
  l.chains.push_back({{}, FilterChain::Action::kTerminateTls, "local_app"});
  l.chains.back().inbound_http = http;
  c.listeners.push_back(l);
  Cluster app;
  app.name = "local_app";
  app.endpoints = {Local(app_port)};
  c.clusters.push_back(app);
  c.authz = std::move(authz);
  return c;
}

// `who`'s sidecar with one L4 upstream listener "api" to api's public listener.
Config ClientSidecar(const Identity& who, const std::string& name, int api_port) {
  Config c = Base(name, who, 1);
  Listener pub{"public", "127.0.0.1", 0, Listener::Kind::kPublic, {}};
  pub.chains.push_back({{}, FilterChain::Action::kTerminateTls, "local_app"});
  c.listeners.push_back(pub);
  Cluster app;
  app.name = "local_app";
  app.endpoints = {Local(testing::ClosedPort())};
  c.clusters.push_back(app);
  Listener l{"api", "127.0.0.1", 0, Listener::Kind::kUpstream, {}};
  l.chains.push_back({{}, FilterChain::Action::kOriginateTls, kApi});
  c.listeners.push_back(l);
  Cluster cl;
  cl.name = kApi;
  cl.tls = Cluster::Tls::kOriginate;
  cl.sni = kApi;
  cl.spiffe_ids = {Certs().api.spiffe_id};
  cl.endpoints = {Local(api_port)};
  c.clusters.push_back(cl);
  return c;
}

class Proxy : public testing::RunningProxy {
 public:
  using RunningProxy::RunningProxy;
  ListenerStats Listener(const std::string& name) const {
    RuntimeStats s = runtime.Stats();
    const ListenerStats* l = s.Listener(name);
    return l ? *l : ListenerStats{};
  }
};

// An app answering "<method> <target> body=<body>" and counting what reached it.
struct App {
  App()
      : app([this](const AppRequest& req) {
          seen.fetch_add(1);
          return AppResponse{
              200,
              {{"x-app", "api"}},
              req.method + " " + req.target + (req.body.empty() ? "" : " body=" + req.body)};
        }) {}
  std::atomic<int> seen{0};
  HttpApp app;
};

struct Client {
  explicit Client(int port) : fd(ConnectTcp(port)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  HttpReply Send(const std::string& raw) { return Exchange(fd, raw); }
  int fd;
};

std::string LogOf(const std::function<void()>& body) {
  ::testing::internal::CaptureStderr();
  body();
  return ::testing::internal::GetCapturedStderr();
}

TEST(InboundHttp, EachRequestOnAKeptAliveConnectionIsChecked) {
  App app;
  Proxy api(ApiSidecar(app.app.port(), WebMayReadPublic()));
  Proxy web(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(web.Port("api"));
  std::string log = LogOf([&] {
    HttpReply r = c.Send(Get("/public/x?q=1"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /public/x?q=1");
    r = c.Send(Get("/public/secret"));
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.body, "RBAC: access denied");
    EXPECT_EQ(r.Header("content-type"), "text/plain");
    r = c.Send(Get("/private"));
    EXPECT_EQ(r.status, 403);
    r = c.Send("DELETE /public/x HTTP/1.1\r\nHost: api\r\n\r\n");
    EXPECT_EQ(r.status, 403);
    // Still the same connection, still served.
    r = c.Send(Get("/public/y"));
    EXPECT_EQ(r.status, 200);
    r = c.Send(Get("/public/z"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /public/z");
  });
  EXPECT_EQ(app.seen.load(), 3);
  ListenerStats s = api.Listener("public");
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.Refused(RefuseReason::kForbidden), 3u);
  EXPECT_EQ(s.RefusedTotal(), 0u);  // no connection was refused
  EXPECT_NE(log.find("forbidden: " + Certs().web.spiffe_id +
                     " GET /public/secret: intention web => api permission 0 denies"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("forbidden: " + Certs().web.spiffe_id +
                     " DELETE /public/x: intention web => api: no permission matched; default "
                     "deny"),
            std::string::npos)
      << log;
}

TEST(InboundHttp, BodiesPassAndADeniedBodyClosesTheConnection) {
  App app;
  AuthzRule web{kWebSource, false, 9, "web => api"};
  web.permissions = {Permission(true, RouteMatch::Path::kPrefix, "/upload")};
  Authz authz;
  authz.default_allow = false;
  authz.rules = {web};
  Proxy api(ApiSidecar(app.app.port(), authz));
  Proxy client(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(client.Port("api"));
  HttpReply r = c.Send("POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /upload body=hello");
  std::string big(200 * 1024, 'x');  // relayed in pieces, never buffered whole
  r = c.Send("PUT /upload/2 HTTP/1.1\r\nHost: api\r\nContent-Length: " +
             std::to_string(big.size()) + "\r\n\r\n" + big);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "PUT /upload/2 body=" + big);
  // A denied request whose body was not read: 403, and the connection ends.
  r = c.Send("POST /other HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(testing::ReadsEof(c.fd));
  EXPECT_EQ(app.seen.load(), 2);
}

TEST(InboundHttp, ANewConfigDecidesTheNextRequestWithoutClosing) {
  App app;
  Authz allow;
  allow.default_allow = false;
  allow.rules = {{kWebSource, true, 9, "web => api"}};
  Proxy api(ApiSidecar(app.app.port(), allow));
  Proxy web(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(web.Port("api"));
  EXPECT_EQ(c.Send(Get("/a")).status, 200);

  Authz deny = allow;
  deny.rules[0].allow = false;
  api.Apply(ApiSidecar(app.app.port(), deny, true, 2));
  HttpReply r = c.Send(Get("/b"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "RBAC: access denied");

  api.Apply(ApiSidecar(app.app.port(), WebMayReadPublic(), true, 3));
  EXPECT_EQ(c.Send(Get("/public/c")).status, 200);
  EXPECT_EQ(c.Send(Get("/c")).status, 403);

  ListenerStats s = api.Listener("public");
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.Refused(RefuseReason::kRevoked), 0u);
  EXPECT_EQ(s.Refused(RefuseReason::kForbidden), 2u);
  EXPECT_EQ(app.seen.load(), 2);
}

// An HTTP/1.0 app (Python's http.server by default) answers without a length and closes: the
// client's connection stays open, gets the body chunked, and the app is dialed again.
TEST(InboundHttp, AnAppThatClosesAfterEachResponseDoesNotEndTheClientsConnection) {
  std::atomic<int> sessions{0};
  testing::TcpServer old_app(
      [&sessions](int fd) {
        sessions.fetch_add(1);
        std::string head;
        char ch;
        while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &ch, 1) == 1) head += ch;
        std::string target = head.substr(head.find(' ') + 1);
        target = target.substr(0, target.find(' '));
        testing::WriteAll(fd,
                          "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold app " + target);
        ::shutdown(fd, SHUT_RDWR);
      },
      "http/1.0 app");
  Proxy api(ApiSidecar(old_app.port(), WebMayReadPublic()));
  Proxy web(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(web.Port("api"));
  for (const char* path : {"/public/1", "/public/2"}) {
    HttpReply r = c.Send(Get(path));
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, std::string("old app ") + path);
    EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  }
  EXPECT_EQ(c.Send(Get("/private")).status, 403);
  EXPECT_EQ(c.Send(Get("/public/3")).body, "old app /public/3");
  EXPECT_EQ(sessions.load(), 3);
  EXPECT_EQ(api.Listener("public").accepted, 1u);
}

std::string ReadHead(int fd) {
  std::string head;
  char ch;
  while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &ch, 1) == 1) head += ch;
  return head;
}

// After a 101 the connection carries bytes both ways, and a deny closes it as an L4 one: no
// request will be seen to answer 403.
TEST(InboundHttp, AnUpgradeBecomesAByteStreamThatADenyCloses) {
  testing::TcpServer ws_app(
      [](int fd) {
        ReadHead(fd);
        testing::WriteAll(fd,
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\n"
                          "Connection: Upgrade\r\n\r\n");
        char buf[256];
        for (;;) {
          ssize_t n = ::read(fd, buf, sizeof(buf));
          if (n <= 0 || !testing::WriteAll(fd, std::string_view(buf, n))) break;
        }
      },
      "upgrading app");
  Proxy api(ApiSidecar(ws_app.port(), WebMayReadPublic()));
  Proxy web(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(web.Port("api"));
  ASSERT_TRUE(testing::WriteAll(
      c.fd,
      "GET /public/ws HTTP/1.1\r\nHost: api\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n"));
  std::string head = ReadHead(c.fd);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
  ASSERT_TRUE(testing::WriteAll(c.fd, "GET /private not a request"));
  EXPECT_EQ(testing::ReadN(c.fd, 26), "GET /private not a request");

  Authz deny = WebMayReadPublic();
  deny.rules[0].permissions.clear();
  api.Apply(ApiSidecar(ws_app.port(), deny, true, 2));
  EXPECT_TRUE(testing::ReadsEof(c.fd));
  EXPECT_EQ(api.Listener("public").Refused(RefuseReason::kRevoked), 1u);
}

TEST(InboundHttp, WithoutRequestParsingAnL7IntentionDeniesTheConnection) {
  App app;
  Proxy api(ApiSidecar(app.app.port(), WebMayReadPublic(), /*http=*/false));
  Proxy web(ClientSidecar(Certs().web, "web", api.Port("public")));
  Client c(web.Port("api"));
  EXPECT_EQ(c.Send(Get("/public/x")).status, 0);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return api.Listener("public").Refused(RefuseReason::kUnauthorized) == 1; }));
  EXPECT_EQ(app.seen.load(), 0);
}

TEST(InboundHttp, ASourceNoRuleAllowsIsRefusedAtTheHandshake) {
  App app;
  Proxy api(ApiSidecar(app.app.port(), WebMayReadPublic()));
  Proxy db(ClientSidecar(Certs().db, "db", api.Port("public")));
  Client c(db.Port("api"));
  EXPECT_EQ(c.Send(Get("/public/x")).status, 0);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return api.Listener("public").Refused(RefuseReason::kUnauthorized) == 1; }));
  EXPECT_EQ(api.Listener("public").Refused(RefuseReason::kForbidden), 0u);
}

}  // namespace
}  // namespace gangway::proxy
