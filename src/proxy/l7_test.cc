// HTTP routing end to end over real sockets on 127.0.0.1 and real mTLS: web's sidecar routes
// requests from its app to api's sidecars (v1 and v2 subsets), each in front of a test HTTP app
// that reports what it received.
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
using testing::ClosedPort;
using testing::ConnectTcp;
using testing::Exchange;
using testing::Get;
using testing::HttpApp;
using testing::HttpReply;
using testing::Identity;
using testing::TestCa;

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";
const std::string kApi = std::string("api.default.dc1.internal.") + kTd;
const std::string kV2 = "v2." + kApi;

struct Pki {
  TestCa ca{kTd};
  Identity web = ca.Leaf("web");
  Identity api = ca.Leaf("api");
};
const Pki& Certs() {
  static const Pki* pki = new Pki();
  return *pki;
}

Endpoint Local(int port) {
  Endpoint e;
  e.address = "127.0.0.1";
  e.port = port;
  return e;
}

Config Base(const std::string& service, const Identity& leaf) {
  Config c;
  c.version = 1;
  c.proxy_id = service + "-sidecar-proxy";
  c.service = service;
  c.datacenter = "dc1";
  c.trust_domain = kTd;
  c.leaf = Leaf{leaf.cert_pem, leaf.key_pem, leaf.spiffe_id, "2099-01-01T00:00:00Z"};
  c.roots_pem = {Certs().ca.root_pem()};
  return c;
}

void AddPublic(Config& c, int app_port) {
  Listener l{"public", "127.0.0.1", 0, Listener::Kind::kPublic, {}};
  l.chains.push_back({{}, FilterChain::Action::kTerminateTls, "local_app"});
  c.listeners.push_back(l);
  Cluster app;
  app.name = "local_app";
  app.endpoints = {Local(app_port)};
  c.clusters.push_back(app);
}

Cluster ApiCluster(const std::string& name, std::vector<Endpoint> endpoints) {
  Cluster cl;
  cl.name = name;
  cl.tls = Cluster::Tls::kOriginate;
  cl.sni = name;
  cl.spiffe_ids = {Certs().api.spiffe_id};
  cl.connect_timeout = std::chrono::milliseconds(2000);
  cl.endpoints = std::move(endpoints);
  return cl;
}

Route To(const std::string& cluster) {
  Route r;
  r.clusters = {{cluster, 10000}};
  return r;
}

Route Prefix(const std::string& prefix, const std::string& cluster) {
  Route r = To(cluster);
  r.match.path_kind = RouteMatch::Path::kPrefix;
  r.match.path = prefix;
  return r;
}

// A runtime with two workers; stops at destruction.
class Proxy : public testing::RunningProxy {
 public:
  using RunningProxy::RunningProxy;
  RouteStats Route(const std::string& name) const {
    RuntimeStats s = runtime.Stats();
    const RouteStats* r = s.Route(name);
    return r ? *r : RouteStats{};
  }
};

// An api sidecar in front of an app that answers "<name> <method> <target>" and lists the
// request headers it got as response headers "x-got-<name>".
struct ApiInstance {
  explicit ApiInstance(std::string name, HttpApp::Handler handler = nullptr)
      : app(handler ? std::move(handler) : [name](const AppRequest& req) {
          AppResponse res;
          res.body = name + " " + req.method + " " + req.target;
          for (const auto& [h, v] : req.headers) res.headers.emplace_back("x-got-" + h, v);
          res.headers.emplace_back("server", "test-app");
          res.headers.emplace_back("x-app", name);
          if (!req.body.empty()) res.body += " body=" + req.body;
          return res;
        }),
        proxy([this] {
          Config c = Base("api", Certs().api);
          AddPublic(c, app.port());
          return c;
        }()) {}
  HttpApp app;
  Proxy proxy;
  int port() const { return proxy.Port("public"); }
};

// web's sidecar with one http_route upstream listener "api" over `routes`, and clusters kApi
// and kV2 at the given api sidecars (plus any `extra` clusters).
Config WebSidecar(std::vector<Route> routes, std::vector<Endpoint> api, std::vector<Endpoint> v2,
                  std::vector<Cluster> extra = {}) {
  Config c = Base("web", Certs().web);
  AddPublic(c, ClosedPort());
  Listener l{"api", "127.0.0.1", 0, Listener::Kind::kUpstream, {}};
  l.chains.push_back({{}, FilterChain::Action::kHttpRoute, "", RouteConfig{std::move(routes)}});
  c.listeners.push_back(l);
  c.clusters.push_back(ApiCluster(kApi, std::move(api)));
  c.clusters.push_back(ApiCluster(kV2, std::move(v2)));
  for (auto& cl : extra) c.clusters.push_back(std::move(cl));
  return c;
}

// One downstream connection that closes itself.
struct Client {
  explicit Client(int port) : fd(ConnectTcp(port)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  HttpReply Send(const std::string& raw) { return Exchange(fd, raw); }
  int fd;
};

TEST(L7Routing, MatchesPathHeadersQueryAndMethodsInOrder) {
  ApiInstance v1("v1"), v2("v2");
  Route exact = To(kV2);
  exact.match.path_kind = RouteMatch::Path::kExact;
  exact.match.path = "/exact";
  Route rewrite = Prefix("/v2/", kV2);
  rewrite.prefix_rewrite = "/";
  Route regex = To(kV2);
  regex.match.path_kind = RouteMatch::Path::kRegex;
  regex.match.path = "/re/[0-9]+";
  Route header = Prefix("/api", kV2);
  header.match.headers = {{"x-canary", HeaderMatch::Kind::kExact, "1", false}};
  Route inverted = Prefix("/api", kV2);
  inverted.match.headers = {{"user-agent", HeaderMatch::Kind::kPrefix, "curl/", true},
                            {"x-inv", HeaderMatch::Kind::kPresent, "", false}};
  Route query = Prefix("/api", kV2);
  query.match.query_params = {{"version", QueryMatch::Kind::kRegex, "2|two"}};
  Route method = Prefix("/api", kV2);
  method.match.methods = {"DELETE", "PUT"};
  Route rest = Prefix("/api", kApi);
  Proxy web(WebSidecar({exact, rewrite, regex, header, inverted, query, method, rest},
                       {Local(v1.port())}, {Local(v2.port())}));

  Client c(web.Port("api"));  // every request on one keep-alive connection
  auto expect = [&](const std::string& raw, int status, const std::string& body) {
    HttpReply r = c.Send(raw);
    EXPECT_EQ(r.status, status) << raw;
    EXPECT_EQ(r.body, body) << raw;
  };
  expect(Get("/exact"), 200, "v2 GET /exact");
  expect(Get("/exact/more"), 404, "no route matched this request\n");
  expect(Get("/v2/users?id=7"), 200, "v2 GET /users?id=7");
  expect(Get("/re/123"), 200, "v2 GET /re/123");
  expect(Get("/re/123x"), 404, "no route matched this request\n");  // a regex is anchored
  expect(Get("/api/a", "x-canary: 1\r\n"), 200, "v2 GET /api/a");
  expect(Get("/api/a", "x-canary: 10\r\n"), 200, "v1 GET /api/a");
  expect(Get("/api/a", "x-inv: y\r\nuser-agent: firefox\r\n"), 200, "v2 GET /api/a");
  expect(Get("/api/a", "x-inv: y\r\nuser-agent: curl/8\r\n"), 200, "v1 GET /api/a");
  expect(Get("/api/a?x=1&version=two"), 200, "v2 GET /api/a?x=1&version=two");
  expect(Get("/api/a?version=3"), 200, "v1 GET /api/a?version=3");
  expect("DELETE /api/a HTTP/1.1\r\nHost: api\r\n\r\n", 200, "v2 DELETE /api/a");
  expect("POST /api/a HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\nhi", 200,
         "v1 POST /api/a body=hi");
  expect(Get("/elsewhere"), 404, "no route matched this request\n");

  EXPECT_EQ(web.Route("api#0").requests, 1u);
  EXPECT_EQ(web.Route("api#7").requests, 4u);
  EXPECT_EQ(web.Route("api#7").Class(2), 4u);
  EXPECT_EQ(web.Route("api#none").requests, 3u);
  EXPECT_EQ(web.Route("api#none").Class(4), 3u);
  // Keep-alive both ways: one downstream connection, one upstream connection per cluster.
  RuntimeStats s = web.runtime.Stats();
  EXPECT_EQ(s.Listener("api")->accepted, 1u);
  EXPECT_EQ(s.Cluster(kApi)->connections, 1u);
  EXPECT_EQ(s.Cluster(kV2)->connections, 1u);
}

TEST(L7Routing, SplitsNinetyTenPerRequest) {
  ApiInstance v1("v1"), v2("v2");
  Route split = Prefix("/", kApi);
  split.clusters = {{kApi, 9000}, {kV2, 1000}};
  Proxy web(WebSidecar({split}, {Local(v1.port())}, {Local(v2.port())}));
  constexpr int kRequests = 2000;
  int to_v2 = 0;
  int ok = 0;
  for (int conn = 0; conn < 4; ++conn) {
    Client c(web.Port("api"));
    for (int i = 0; i < kRequests / 4; ++i) {
      HttpReply r = c.Send(Get("/split"));
      ok += r.status == 200;
      to_v2 += r.Header("x-app") == "v2";
    }
  }
  EXPECT_EQ(ok, kRequests);
  std::printf("90/10 split: %d of %d requests to v2\n", to_v2, kRequests);
  // The split is a deterministic sequence across connections and workers (SplitDraw), not a
  // coin: any run of requests is within 5 of its share.
  EXPECT_NEAR(to_v2, kRequests / 10, 5);
}

TEST(L7Routing, SplitsCarryTheirOwnHeaderChanges) {
  ApiInstance v1("v1"), v2("v2");
  Route split = Prefix("/", kApi);
  split.request_headers.set = {{"x-env", "route"}};
  split.response_headers.add = {{"x-route", "yes"}};
  split.clusters = {{kApi, 5000}, {kV2, 5000}};
  split.clusters[0].request_headers.set = {{"x-env", "split"}, {"x-tier", "one"}};
  split.clusters[0].response_headers.set = {{"x-app", "first"}};
  split.clusters[1].request_headers.remove = {"x-tier"};
  split.clusters[1].response_headers.remove = {"x-app"};
  Proxy web(WebSidecar({split}, {Local(v1.port())}, {Local(v2.port())}));
  Client c(web.Port("api"));
  int seen_v1 = 0, seen_v2 = 0;
  for (int i = 0; i < 6; ++i) {
    HttpReply r = c.Send(Get("/h", "X-Tier: client\r\nX-Env: client\r\n"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("x-route"), "yes");
    EXPECT_EQ(r.Header("x-got-x-env"), "route");  // the route's Set comes after the split's
    if (r.body.starts_with("v1 ")) {
      ++seen_v1;
      EXPECT_EQ(r.Header("x-got-x-tier"), "one");
      EXPECT_EQ(r.Header("x-app"), "first");
    } else {
      ++seen_v2;
      EXPECT_EQ(r.headers.count("x-got-x-tier"), 0u);
      EXPECT_EQ(r.headers.count("x-app"), 0u);
    }
  }
  // Draws 0, 6181, 2362, 8543, 4724, 905 of a new route: four below 5000, two above.
  EXPECT_EQ(seen_v1, 4);
  EXPECT_EQ(seen_v2, 2);
}

TEST(L7Routing, ChangesHeadersBothWays) {
  ApiInstance v1("v1");
  Route r = Prefix("/", kApi);
  r.request_headers.remove = {"cookie"};
  r.request_headers.set = {{"x-env", "prod"}};
  r.request_headers.add = {{"x-route", "one"}, {"x-route", "two"}};
  r.response_headers.remove = {"server"};
  r.response_headers.set = {{"x-app", "hidden"}};
  r.response_headers.add = {{"x-served-by", "web-sidecar"}};
  Proxy web(WebSidecar({r}, {Local(v1.port())}, {}));
  Client c(web.Port("api"));
  HttpReply reply = c.Send(Get("/h", "Cookie: secret\r\nX-Env: dev\r\nX-Env: qa\r\n"));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers.count("x-got-cookie"), 0u);
  EXPECT_EQ(reply.headers.count("x-got-x-env"), 1u);
  EXPECT_EQ(reply.Header("x-got-x-env"), "prod");
  EXPECT_EQ(reply.headers.count("x-got-x-route"), 2u);
  EXPECT_EQ(reply.headers.count("server"), 0u);
  EXPECT_EQ(reply.Header("x-app"), "hidden");
  EXPECT_EQ(reply.Header("x-served-by"), "web-sidecar");
}

TEST(L7Routing, RequestTimeoutAnswers504) {
  std::atomic<bool> release{false};
  ApiInstance slow("slow", [&release](const AppRequest& req) {
    if (req.target == "/slow") {
      for (int i = 0; i < 300 && !release.load(); ++i) ::usleep(10 * 1000);
    }
    return AppResponse{200, {}, "done"};
  });
  Route r = Prefix("/", kApi);
  r.request_timeout = std::chrono::milliseconds(200);
  Proxy web(WebSidecar({r}, {Local(slow.port())}, {}));
  Client c(web.Port("api"));
  auto start = std::chrono::steady_clock::now();
  HttpReply reply = c.Send(Get("/slow"));
  release = true;
  EXPECT_EQ(reply.status, 504);
  EXPECT_EQ(reply.body, "upstream request timeout\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // The downstream connection stays usable.
  EXPECT_EQ(c.Send(Get("/fast")).body, "done");
  EXPECT_EQ(web.Route("api#0").timeouts, 1u);
  EXPECT_EQ(web.Route("api#0").Class(5), 1u);
}

TEST(L7Routing, RetriesOnAListedStatusThenSucceeds) {
  std::atomic<int> calls{0};
  ApiInstance flaky("flaky", [&calls](const AppRequest& req) {
    int n = calls.fetch_add(1);
    if (n % 2 == 0) return AppResponse{503, {}, "try again"};
    return AppResponse{200, {}, "ok " + req.body};
  });
  Route retried = Prefix("/retried", kApi);
  retried.num_retries = 2;
  retried.retry_on_status_codes = {503};
  Route plain = Prefix("/plain", kApi);
  Proxy web(WebSidecar({retried, plain}, {Local(flaky.port())}, {}));
  Client c(web.Port("api"));
  HttpReply r = c.Send("POST /retried HTTP/1.1\r\nHost: api\r\nContent-Length: 4\r\n\r\nbody");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok body");  // the buffered body is sent again
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(web.Route("api#0").retries, 1u);
  // Without a retry policy the 503 goes to the client as it came.
  r = c.Send(Get("/plain"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "try again");
}

// An app on a raw socket that, on every other request (the first included), reads the request
// and closes the connection without a word; otherwise it answers and closes.
struct DroppingApp {
  std::atomic<int> calls{0};
  testing::TcpServer server{[this](int fd) {
                              std::string head;
                              char buf[4096];
                              while (head.find("\r\n\r\n") == std::string::npos) {
                                ssize_t n = ::read(fd, buf, sizeof(buf));
                                if (n <= 0) return;
                                head.append(buf, static_cast<size_t>(n));
                              }
                              if (calls.fetch_add(1) % 2 == 1) {
                                testing::WriteAll(fd,
                                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                                  "Connection: close\r\n\r\nok");
                              }
                              ::shutdown(fd, SHUT_RDWR);
                            },
                            "dropping app"};
};

TEST(L7Routing, RetriesOnResetWhenRetryOnSaysSo) {
  DroppingApp app;
  Proxy api([&] {
    Config c = Base("api", Certs().api);
    AddPublic(c, app.server.port());
    return c;
  }());
  Route retried = Prefix("/retried", kApi);
  retried.num_retries = 1;
  retried.retry_on = {"reset"};
  Route plain = Prefix("/plain", kApi);
  plain.retry_on = {"reset"};  // but no retries left to spend
  Route connect_only = Prefix("/connect-only", kApi);
  connect_only.num_retries = 3;
  connect_only.retry_on = {"connect-failure"};
  Proxy web(WebSidecar({retried, plain, connect_only}, {Local(api.Port("public"))}, {}));
  Client c(web.Port("api"));
  HttpReply r = c.Send(Get("/retried"));  // dropped, then answered
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(app.calls.load(), 2);
  EXPECT_EQ(web.Route("api#0").retries, 1u);
  const std::string kTermination =
      "upstream connect error or disconnect/reset before headers. reset reason: connection "
      "termination\n";
  r = c.Send(Get("/plain"));  // dropped
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, kTermination);
  EXPECT_EQ(app.calls.load(), 3);
  c.Send(Get("/plain"));  // answered: the next is dropped again
  EXPECT_EQ(app.calls.load(), 4);
  r = c.Send(Get("/connect-only"));  // dropped; a reset is not a connect failure
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, kTermination);
  EXPECT_EQ(app.calls.load(), 5);
  EXPECT_EQ(web.Route("api#2").retries, 0u);
}

TEST(L7Routing, RetriesOn5xxAndGatewayErrors) {
  std::atomic<int> calls{0};
  ApiInstance flaky("flaky", [&calls](const AppRequest& req) {
    int n = calls.fetch_add(1);
    if (req.target == "/gw/500") return AppResponse{500, {}, "broken"};
    if (n % 2 == 0) return AppResponse{req.target.starts_with("/gw") ? 502 : 500, {}, "again"};
    return AppResponse{200, {}, "ok"};
  });
  Route five = Prefix("/5xx", kApi);
  five.num_retries = 1;
  five.retry_on = {"5xx"};
  Route gateway = Prefix("/gw", kApi);
  gateway.num_retries = 1;
  gateway.retry_on = {"gateway-error"};
  Proxy web(WebSidecar({five, gateway}, {Local(flaky.port())}, {}));
  Client c(web.Port("api"));
  HttpReply r = c.Send(Get("/5xx"));  // 500, then 200
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls.load(), 2);
  r = c.Send(Get("/gw/x"));  // 502, then 200
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls.load(), 4);
  r = c.Send(Get("/gw/500"));  // 500 is no gateway error: answered as it came
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "broken");
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(web.Route("api#0").retries, 1u);
  EXPECT_EQ(web.Route("api#1").retries, 1u);
}

TEST(L7Routing, IdleTimeoutAnswers504) {
  std::atomic<bool> release{false};
  ApiInstance slow("slow", [&release](const AppRequest& req) {
    if (req.target == "/slow") {
      for (int i = 0; i < 300 && !release.load(); ++i) ::usleep(10 * 1000);
    }
    return AppResponse{200, {}, "done"};
  });
  Route r = Prefix("/", kApi);
  r.idle_timeout = std::chrono::milliseconds(200);
  r.request_timeout = std::chrono::milliseconds(60000);  // the idle timeout comes first
  Proxy web(WebSidecar({r}, {Local(slow.port())}, {}));
  Client c(web.Port("api"));
  auto start = std::chrono::steady_clock::now();
  HttpReply reply = c.Send(Get("/slow"));
  release = true;
  EXPECT_EQ(reply.status, 504);
  EXPECT_EQ(reply.body, "stream timeout\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(c.Send(Get("/fast")).body, "done");
  EXPECT_EQ(web.Route("api#0").timeouts, 1u);
}

TEST(L7Routing, IdleTimeoutInTheBodyClosesTheDownstream) {
  // The head and part of the body, then nothing until the test ends.
  std::atomic<bool> done{false};
  testing::TcpServer stalling(
      [&done](int fd) {
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::read(fd, buf, sizeof(buf));
          if (n <= 0) return;
          head.append(buf, static_cast<size_t>(n));
        }
        testing::WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        while (!done.load()) ::usleep(10 * 1000);
      },
      "stalling app");
  Proxy api([&] {
    Config c = Base("api", Certs().api);
    AddPublic(c, stalling.port());
    return c;
  }());
  Route r = Prefix("/", kApi);
  r.idle_timeout = std::chrono::milliseconds(200);
  Proxy web(WebSidecar({r}, {Local(api.Port("public"))}, {}));
  Client c(web.Port("api"));
  auto start = std::chrono::steady_clock::now();
  HttpReply reply = c.Send(Get("/stall"));
  EXPECT_EQ(reply.status, 0);  // the head went downstream; the connection closes mid-body
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(web.Route("api#0").timeouts, 1u);
  done = true;
}

TEST(L7Routing, RetriesOnConnectFailureToADeadEndpoint) {
  ApiInstance v1("v1");
  int dead = ClosedPort();
  const std::string kFlaky = "flaky." + kApi;
  Route retried = Prefix("/retried", kApi);
  retried.num_retries = 1;
  retried.retry_on_connect_failure = true;
  Route plain = Prefix("/plain", kFlaky);
  Route listed = Prefix("/listed", kApi);  // RetryOn's name for the same
  listed.num_retries = 1;
  listed.retry_on = {"connect-failure"};
  Proxy web(WebSidecar({retried, plain, listed}, {Local(dead), Local(v1.port())}, {},
                       {ApiCluster(kFlaky, {Local(dead), Local(v1.port())})}));
  // New connections each time, so no request rides on an upstream connection already open;
  // round robin puts the dead endpoint first for every other request.
  for (int i = 0; i < 4; ++i) {
    Client c(web.Port("api"));
    EXPECT_EQ(c.Send(Get("/retried")).status, 200) << i;
  }
  int failed = 0;
  for (int i = 0; i < 4; ++i) {
    Client c(web.Port("api"));
    HttpReply r = c.Send(Get("/plain"));
    if (r.status == 503) {
      ++failed;
      EXPECT_EQ(r.body,
                "upstream connect error or disconnect/reset before headers. reset reason: "
                "connection failure\n");
    }
  }
  EXPECT_EQ(failed, 2);
  EXPECT_GE(web.Route("api#0").retries, 2u);
  for (int i = 0; i < 4; ++i) {
    Client c(web.Port("api"));
    EXPECT_EQ(c.Send(Get("/listed")).status, 200) << i;
  }
  EXPECT_GE(web.Route("api#2").retries, 2u);
}

TEST(L7Routing, NoHealthyUpstreamAnswers503) {
  Proxy web(WebSidecar({Prefix("/", kApi)}, {}, {}));
  Client c(web.Port("api"));
  HttpReply r = c.Send(Get("/"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "no healthy upstream\n");
}

TEST(L7Routing, ChunkedRequestBodyArrivesWhole) {
  ApiInstance v1("v1");
  Proxy web(WebSidecar({Prefix("/", kApi)}, {Local(v1.port())}, {}));
  Client c(web.Port("api"));
  HttpReply r = c.Send(
      "POST /upload HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "v1 POST /upload body=hello world");
  EXPECT_EQ(r.Header("x-got-content-length"), "11");
  EXPECT_EQ(r.headers.count("x-got-transfer-encoding"), 0u);
  // A malformed request gets a 400 and the connection closes.
  HttpReply bad = c.Send("GET /x HTTP/1.1\r\nHost: api\r\nContent-Length: nope\r\n\r\n");
  EXPECT_EQ(bad.status, 400);
}

}  // namespace
}  // namespace gangway::proxy
