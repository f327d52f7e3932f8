#include "proxy/http_router.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(HttpRouter::PickCluster(r, 0), "a");
  EXPECT_EQ(HttpRouter::PickCluster(r, 8999), "a");
  EXPECT_EQ(HttpRouter::PickCluster(r, 9000), "c");
  EXPECT_EQ(HttpRouter::PickCluster(r, 9999), "c");

  r.match.path_kind = RouteMatch::Path::kPrefix;
  r.match.path = "/api/";
  r.prefix_rewrite = "/v2/";
  HttpRequest req{boost::beast::http::verb::get, "/api/users?id=1", 10};
  HttpRouter::PrepareUpstream(r, req);
  EXPECT_EQ(req.target(), "/v2/users?id=1");
  EXPECT_EQ(req.version(), 11);
  EXPECT_TRUE(req.keep_alive());
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
