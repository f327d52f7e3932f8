#include "proxy/http_router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <vector>

#include "proxy/config/testing/examples.h"

namespace gangway::proxy {
namespace {

TEST(HttpRouterTest, ParsesOneRequestAndLeavesTheNext) {
  std::string two =
      "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  ParsedRequest p = ParseRequest(two, HttpLimits{});
  ASSERT_EQ(p.kind, ParsedRequest::Kind::kComplete) << p.message;
  EXPECT_EQ(p.request.target(), "/a?x=1");
  EXPECT_EQ(p.request.body(), "abc");
  ParsedRequest next = ParseRequest(std::string_view(two).substr(p.consumed), HttpLimits{});
  ASSERT_EQ(next.kind, ParsedRequest::Kind::kComplete);
  EXPECT_EQ(next.request.target(), "/b");

  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost:", HttpLimits{}).kind,
            ParsedRequest::Kind::kNeedMore);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", HttpLimits{}).status, 400);
  HttpLimits small;
  small.body_bytes = 2;
  EXPECT_EQ(ParseRequest("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", small).status, 413);
  small.header_bytes = 16;
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaa\r\n\r\n", small).status, 431);
}

TEST(HttpRouterTest, QueryParameters) {
  EXPECT_EQ(QueryParam("a=1&b=x%20y+z&a=2", "a"), "1");
  EXPECT_EQ(QueryParam("a=1&b=x%20y+z", "b"), "x y z");
  EXPECT_EQ(QueryParam("flag&b=1", "flag"), "");
  EXPECT_EQ(QueryParam("b=1", "a"), std::nullopt);
  EXPECT_EQ(QueryParam("", "a"), std::nullopt);
  EXPECT_EQ(QueryParam("a=%zz%4", "a"), "%zz%4");
  EXPECT_EQ(PathOf("/p?q"), "/p");
  EXPECT_EQ(QueryOf("/p?q=1"), "q=1");
}

TEST(HttpRouterTest, PicksByWeightAndRewrites) {
  Route r;
  r.clusters = {{"a", 9000}, {"b", 0}, {"c", 1000}};
  EXPECT_EQ(HttpRouter::PickCluster(r, 0).cluster, "a");
  EXPECT_EQ(HttpRouter::PickCluster(r, 8999).cluster, "a");
  EXPECT_EQ(HttpRouter::PickCluster(r, 9000).cluster, "c");
  EXPECT_EQ(HttpRouter::PickCluster(r, 9999).cluster, "c");

  r.match.path_kind = RouteMatch::Path::kPrefix;
  r.match.path = "/api/";
  r.prefix_rewrite = "/v2/";
  HttpRequest req{boost::beast::http::verb::get, "/api/users?id=1", 10};
  HttpRouter::PrepareUpstream(r, r.clusters[0], req);
  EXPECT_EQ(req.target(), "/v2/users?id=1");
  EXPECT_EQ(req.version(), 11);
  EXPECT_TRUE(req.keep_alive());
}

TEST(HttpRouterTest, SplitDrawsGiveEveryRunItsShare) {
  // Every draw once per 10000 requests.
  std::vector<int> seen(10000);
  for (uint64_t n = 0; n < 10000; ++n) ++seen[HttpRouter::SplitDraw(n + 123456789)];
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 10000);
  // Any run of consecutive requests gives a share [lo, hi) of the draws its part to within 5:
  // with d(n) = hits in the first n requests - n * share, a run from i to j deviates by
  // d(j) - d(i), so the spread of d over a whole period (twice, for runs that wrap) bounds all.
  int worst_lo = 0, worst_hi = 0;
  double worst = 0;
  for (int lo = 0; lo < 10000; lo += 250) {
    for (int hi = lo + 250; hi <= 10000; hi += 250) {
      double share = (hi - lo) / 10000.0, d = 0, min_d = 0, max_d = 0;
      for (uint64_t n = 0; n < 20000; ++n) {
        uint32_t draw = HttpRouter::SplitDraw(n);
        d += (draw >= static_cast<uint32_t>(lo) && draw < static_cast<uint32_t>(hi)) - share;
        min_d = std::min(min_d, d);
        max_d = std::max(max_d, d);
      }
      if (max_d - min_d > worst) worst = max_d - min_d, worst_lo = lo, worst_hi = hi;
    }
  }
  EXPECT_LT(worst, 5.0) << "[" << worst_lo << ", " << worst_hi << ")";

  // The 90/10 split of the integration test, as the proxy draws it: n-th request, n-th draw.
  Route r;
  r.clusters = {{"ninety", 9000}, {"ten", 1000}};
  for (uint64_t start : {0ull, 17ull, 9999ull}) {
    int ninety = 0;
    for (uint64_t n = start; n < start + 2000; ++n) {
      ninety += HttpRouter::PickCluster(r, HttpRouter::SplitDraw(n)).cluster == "ninety";
    }
    EXPECT_NEAR(ninety, 1800, 5) << start;
  }
}

TEST(HttpRouterTest, RetryConditions) {
  namespace http = boost::beast::http;
  http::fields none;
  Route r;
  EXPECT_FALSE(RetriesFailure(r, AttemptFailure::kConnect));
  EXPECT_FALSE(RetriesFailure(r, AttemptFailure::kReset));
  EXPECT_FALSE(RetriesResponse(r, 503, none));
  r.retry_on_connect_failure = true;
  EXPECT_TRUE(RetriesFailure(r, AttemptFailure::kConnect));
  EXPECT_FALSE(RetriesFailure(r, AttemptFailure::kReset));
  r = Route();
  r.retry_on = {"connect-failure"};
  EXPECT_TRUE(RetriesFailure(r, AttemptFailure::kConnect));
  EXPECT_FALSE(RetriesFailure(r, AttemptFailure::kReset));
  EXPECT_FALSE(RetriesResponse(r, 503, none));
  for (const char* both : {"reset", "5xx", "gateway-error"}) {
    r.retry_on = {both};
    EXPECT_TRUE(RetriesFailure(r, AttemptFailure::kConnect)) << both;
    EXPECT_TRUE(RetriesFailure(r, AttemptFailure::kReset)) << both;
  }
  r.retry_on = {"5xx"};
  EXPECT_TRUE(RetriesResponse(r, 500, none));
  EXPECT_TRUE(RetriesResponse(r, 599, none));
  EXPECT_FALSE(RetriesResponse(r, 499, none));
  r.retry_on = {"gateway-error"};
  EXPECT_FALSE(RetriesResponse(r, 500, none));
  EXPECT_TRUE(RetriesResponse(r, 502, none));
  EXPECT_TRUE(RetriesResponse(r, 503, none));
  EXPECT_TRUE(RetriesResponse(r, 504, none));
  r.retry_on = {"reset"};
  EXPECT_FALSE(RetriesResponse(r, 503, none));
  r.retry_on = {"retriable-4xx"};
  EXPECT_TRUE(RetriesResponse(r, 409, none));
  EXPECT_FALSE(RetriesResponse(r, 404, none));
  r.retry_on = {"envoy-ratelimited", "unavailable"};
  http::fields limited;
  limited.set("x-envoy-ratelimited", "true");
  EXPECT_TRUE(RetriesResponse(r, 429, limited));
  EXPECT_FALSE(RetriesResponse(r, 429, none));
  http::fields grpc;
  grpc.set("grpc-status", "14");
  EXPECT_TRUE(RetriesResponse(r, 200, grpc));
  grpc.set("grpc-status", "13");
  EXPECT_FALSE(RetriesResponse(r, 200, grpc));
  r.retry_on = {"internal"};
  EXPECT_TRUE(RetriesResponse(r, 200, grpc));
  r.retry_on.clear();
  r.retry_on_status_codes = {418};
  EXPECT_TRUE(RetriesResponse(r, 418, none));
  EXPECT_FALSE(RetriesResponse(r, 503, none));
}

TEST(HttpRouterTest, RouteHeaderChangesFollowTheSplits) {
  Route r;
  r.clusters = {{"a", 10000}};
  r.request_headers.set = {{"x-tier", "route"}};
  r.request_headers.add = {{"x-route", "1"}};
  r.clusters[0].request_headers.set = {{"x-tier", "split"}, {"x-split", "1"}};
  r.clusters[0].request_headers.add = {{"x-route", "2"}};
  r.clusters[0].request_headers.remove = {"cookie"};
  HttpRequest req{boost::beast::http::verb::get, "/", 11};
  req.set("Cookie", "a=b");
  req.set("X-Tier", "client");
  HttpRouter::PrepareUpstream(r, r.clusters[0], req);
  EXPECT_EQ(req["x-tier"], "route");  // the split's first, the route's last (Envoy's default)
  EXPECT_EQ(req["x-split"], "1");
  EXPECT_EQ(std::distance(req.equal_range("x-route").first, req.equal_range("x-route").second), 2);
  EXPECT_EQ(req.count("cookie"), 0u);
}

TEST(HttpRouterTest, ExampleRoutesMatchInOrder) {
  Config c = testing::RoutedSidecarExample();
  Result<HttpRouter> router = HttpRouter::Build(*c.listeners[1].chains[0].route);
  ASSERT_TRUE(router.ok());
  auto route_of = [&](const std::string& raw) {
    ParsedRequest p = ParseRequest(raw, HttpLimits{});
    EXPECT_EQ(p.kind, ParsedRequest::Kind::kComplete) << raw;
    return router->Match(p.request);
  };
  EXPECT_EQ(route_of("GET /admin?verbose=1&id=42 HTTP/1.1\r\nX-Debug: 1\r\n\r\n"), 0);
  // The inverted user-agent condition: curl is not admitted to route 0.
  EXPECT_EQ(route_of("GET /admin?verbose=1&id=42 HTTP/1.1\r\nX-Debug: 1\r\nUser-Agent: "
                     "curl/8.0\r\n\r\n"),
            2);
  EXPECT_EQ(route_of("POST /admin?verbose=1&id=42 HTTP/1.1\r\nX-Debug: 1\r\n\r\n"), 2);
  EXPECT_EQ(route_of("GET /admin?verbose=1&id=4x HTTP/1.1\r\nX-Debug: 1\r\n\r\n"), 2);
  EXPECT_EQ(route_of("GET /api/x HTTP/1.1\r\n\r\n"), 1);
  EXPECT_EQ(route_of("GET /apix HTTP/1.1\r\n\r\n"), 2);
}

}  // namespace
}  // namespace gangway::proxy
