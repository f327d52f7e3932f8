// The HTTP/1.1 side of an http_route chain without sockets: parsing a request from bytes with
// Beast, choosing the route and cluster, and the rewrites a route asks for (docs/proxy.md, "HTTP
// routing"). An HttpRouter is built once per snapshot and is immutable; any thread.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/regexp.h"
#include "core/status.h"
#include "proxy/config/config.h"

namespace gangway::proxy {

// A request as the router holds it: the head and the whole body (decoded from chunked, if it
// came so). Buffering the body is what makes every request safe to retry.
using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpLimits {
  size_t header_bytes = 64 * 1024;      // request line and headers (431 beyond)
  size_t body_bytes = 8 * 1024 * 1024;  // a buffered request body (413 beyond)
};

// The outcome of reading one request from the start of `bytes`.
struct ParsedRequest {
  enum class Kind { kComplete, kNeedMore, kError };
  Kind kind = Kind::kNeedMore;
  HttpRequest request;  // kComplete
  size_t consumed = 0;  // kComplete: bytes of this request (the rest is the next one)
  int status = 0;       // kError: the status to answer with (400, 413, 431)
  std::string message;  // kError: Beast's reason
};

// Parses one HTTP/1.x request with Beast's parser under `limits`. The proxy's socket loop uses
// the same parser settings (HttpRouter::NewParser), so fuzzing this covers what it accepts.
ParsedRequest ParseRequest(std::string_view bytes, const HttpLimits& limits);

// The status for a Beast parser error: 413 body limit, 431 header limit, 400 otherwise.
int StatusForParseError(const boost::system::error_code& ec);

class HttpRouter {
 public:
  // Compiles the route config's regexes (already checked by Validate; an error here means the
  // config was not validated).
  static Result<HttpRouter> Build(const RouteConfig& config);

  // The index of the first route whose match holds for `request`, or -1.
  int Match(const HttpRequest& request) const;

  const Route& route(size_t i) const { return config_->routes[i]; }
  size_t size() const { return config_->routes.size(); }

  // The weighted cluster (a split) whose share of [0, 10000) holds `draw`.
  static const WeightedCluster& PickCluster(const Route& route, uint32_t draw);

  // The draw for the n-th request of a route: n times a stride coprime with 10000 (close to
  // 10000 / golden ratio), mod 10000. Every 10000 consecutive requests take each draw exactly
  // once, and any run of consecutive requests, however short, gives each share of the weights
  // its part to within 5 requests (http_router_test checks all runs), which a random draw cannot
  // promise: 90/10 over 2,000 requests is 1,800 +- 13 at one sigma.
  static uint32_t SplitDraw(uint64_t n);

  // Turns a downstream request into the one sent upstream: prefix rewrite, the split's then the
  // route's request header changes (Envoy's default order, which Consul's proxies use: the less
  // specific last, so the route's Set wins), HTTP/1.1 with keep-alive, and a Content-Length for
  // the buffered body.
  static void PrepareUpstream(const Route& route, const WeightedCluster& split,
                              HttpRequest& request);

 private:
  struct CompiledMatch {
    std::optional<Regexp> path;
    std::vector<std::optional<Regexp>> headers;
    std::vector<std::optional<Regexp>> query;
  };
  bool Matches(const Route& route, const CompiledMatch& compiled, const HttpRequest& request) const;

  std::shared_ptr<const RouteConfig> config_;
  std::vector<CompiledMatch> compiled_;
};

// Why an attempt ended without a response head.
enum class AttemptFailure {
  kConnect,  // no connection or no TLS session to the endpoint
  kReset,    // the upstream closed or reset the connection before the response head
};

// Whether a route's retry policy (RetryOnConnectFailure, RetryOn) retries such an attempt.
bool RetriesFailure(const Route& route, AttemptFailure failure);

// Whether a route's retry policy (RetryOnStatusCodes, RetryOn) retries a response with this
// status and head.
bool RetriesResponse(const Route& route, int status, const boost::beast::http::fields& head);

// Remove, then Set, then Add (Envoy's order), names without case.
void ApplyHeaderChanges(const HeaderChanges& changes, boost::beast::http::fields& fields);

// The path of a request target without its query string, and the query string ("" if none).
std::string_view PathOf(std::string_view target);
std::string_view QueryOf(std::string_view target);
// The first value of query parameter `name` (percent-decoded, '+' as space); nullopt if absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

}  // namespace gangway::proxy
