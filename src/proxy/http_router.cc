#include "proxy/http_router.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>

namespace gangway::proxy {
namespace {

namespace http = boost::beast::http;

std::optional<Regexp> Anchored(RouteMatch::Path kind, const std::string& pattern, Status* error) {
  if (kind != RouteMatch::Path::kRegex) return std::nullopt;
  Result<Regexp> re = Regexp::Compile("^(?:" + pattern + ")$");
  if (!re.ok()) {
    *error = re.status();
    return std::nullopt;
  }
  return std::move(*re);
}

std::optional<Regexp> AnchoredIf(bool regex, const std::string& pattern, Status* error) {
  return Anchored(regex ? RouteMatch::Path::kRegex : RouteMatch::Path::kAny, pattern, error);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; a malformed escape is kept as it is.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

ParsedRequest ParseRequest(std::string_view bytes, const HttpLimits& limits) {
  ParsedRequest out;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.body_bytes);
  parser.eager(true);
  size_t used = 0;
  while (!parser.is_done()) {
    boost::system::error_code ec;
    size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more || (!ec && n == 0)) {
      out.kind = ParsedRequest::Kind::kNeedMore;
      return out;
    }
    if (ec) {
      out.kind = ParsedRequest::Kind::kError;
      out.status = StatusForParseError(ec);
      out.message = ec.message();
      return out;
    }
  }
  out.kind = ParsedRequest::Kind::kComplete;
  out.request = parser.release();
  out.consumed = used;
  return out;
}

int StatusForParseError(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit) return 431;
  return 400;
}

Result<HttpRouter> HttpRouter::Build(const RouteConfig& config) {
  HttpRouter router;
  router.config_ = std::make_shared<const RouteConfig>(config);
  Status error;
  for (const Route& r : router.config_->routes) {
    CompiledMatch m;
    m.path = Anchored(r.match.path_kind, r.match.path, &error);
    for (const HeaderMatch& h : r.match.headers) {
      m.headers.push_back(AnchoredIf(h.kind == HeaderMatch::Kind::kRegex, h.value, &error));
    }
    for (const QueryMatch& q : r.match.query_params) {
      m.query.push_back(AnchoredIf(q.kind == QueryMatch::Kind::kRegex, q.value, &error));
    }
    if (!error.ok()) return error;
    router.compiled_.push_back(std::move(m));
  }
  return router;
}

int HttpRouter::Match(const HttpRequest& request) const {
  for (size_t i = 0; i < compiled_.size(); ++i) {
    if (Matches(config_->routes[i], compiled_[i], request)) return static_cast<int>(i);
  }
  return -1;
}

bool HttpRouter::Matches(const Route& route, const CompiledMatch& compiled,
                         const HttpRequest& request) const {
  const RouteMatch& m = route.match;
  if (!m.methods.empty()) {
    std::string_view method(request.method_string().data(), request.method_string().size());
    if (std::find(m.methods.begin(), m.methods.end(), method) == m.methods.end()) return false;
  }
  std::string_view target(request.target().data(), request.target().size());
  std::string_view path = PathOf(target);
  switch (m.path_kind) {
    case RouteMatch::Path::kAny:
      break;
    case RouteMatch::Path::kExact:
      if (path != m.path) return false;
      break;
    case RouteMatch::Path::kPrefix:
      if (!path.starts_with(m.path)) return false;
      break;
    case RouteMatch::Path::kRegex:
      if (!compiled.path->Search(path)) return false;
      break;
  }
  for (size_t i = 0; i < m.headers.size(); ++i) {
    const HeaderMatch& h = m.headers[i];
    bool present = false;
    std::string joined;
    for (auto [it, end] = request.equal_range(h.name); it != end; ++it) {
      if (present) joined += ',';
      joined.append(it->value().data(), it->value().size());
      present = true;
    }
    bool holds = present;
    if (present) {
      switch (h.kind) {
        case HeaderMatch::Kind::kPresent:
          break;
        case HeaderMatch::Kind::kExact:
          holds = joined == h.value;
          break;
        case HeaderMatch::Kind::kPrefix:
          holds = std::string_view(joined).starts_with(h.value);
          break;
        case HeaderMatch::Kind::kSuffix:
          holds = std::string_view(joined).ends_with(h.value);
          break;
        case HeaderMatch::Kind::kRegex:
          holds = compiled.headers[i]->Search(joined);
          break;
      }
    }
    if (holds == h.invert) return false;
  }
  std::string_view query = QueryOf(target);
  for (size_t i = 0; i < m.query_params.size(); ++i) {
    const QueryMatch& q = m.query_params[i];
    std::optional<std::string> value = QueryParam(query, q.name);
    if (!value) return false;
    if (q.kind == QueryMatch::Kind::kExact && *value != q.value) return false;
    if (q.kind == QueryMatch::Kind::kRegex && !compiled.query[i]->Search(*value)) return false;
  }
  return true;
}

const WeightedCluster& HttpRouter::PickCluster(const Route& route, uint32_t draw) {
  uint32_t sum = 0;
  for (const WeightedCluster& wc : route.clusters) {
    sum += static_cast<uint32_t>(wc.weight);
    if (draw < sum) return wc;
  }
  return route.clusters.back();  // weights sum to 10000 > draw; unreachable when valid
}

uint32_t HttpRouter::SplitDraw(uint64_t n) {
  // 6181 / 10000 is the best of the strides near 1 / golden ratio: its worst run deviates by
  // 4.5 requests from any share (6179's by 7.3, 3 by hundreds).
  constexpr uint64_t kStride = 6181;
  return static_cast<uint32_t>((n % 10000) * kStride % 10000);
}

void HttpRouter::PrepareUpstream(const Route& route, const WeightedCluster& split,
                                 HttpRequest& request) {
  const RouteMatch& m = route.match;
  if (!route.prefix_rewrite.empty() &&
      (m.path_kind == RouteMatch::Path::kExact || m.path_kind == RouteMatch::Path::kPrefix)) {
    std::string_view target(request.target().data(), request.target().size());
    std::string_view path = PathOf(target);
    if (path.starts_with(m.path)) {
      std::string rewritten = route.prefix_rewrite;
      rewritten += path.substr(m.path.size());
      rewritten += target.substr(path.size());  // the query string, with its '?'
      request.target(rewritten);
    }
  }
  ApplyHeaderChanges(split.request_headers, request.base());
  ApplyHeaderChanges(route.request_headers, request.base());
  request.version(11);
  request.keep_alive(true);
  request.prepare_payload();
}

namespace {

bool Has(const Route& route, std::string_view condition) {
  return std::find(route.retry_on.begin(), route.retry_on.end(), condition) != route.retry_on.end();
}

}  // namespace

bool RetriesFailure(const Route& route, AttemptFailure failure) {
  // Envoy counts a connect failure as a reset, and 5xx and gateway-error as covering both.
  if (Has(route, "5xx") || Has(route, "gateway-error") || Has(route, "reset")) return true;
  return failure == AttemptFailure::kConnect &&
         (route.retry_on_connect_failure || Has(route, "connect-failure"));
}

bool RetriesResponse(const Route& route, int status, const http::fields& head) {
  const auto& codes = route.retry_on_status_codes;
  if (std::find(codes.begin(), codes.end(), status) != codes.end()) return true;
  if (status >= 500 && status <= 599 && Has(route, "5xx")) return true;
  if ((status == 502 || status == 503 || status == 504) && Has(route, "gateway-error")) return true;
  if (status == 409 && Has(route, "retriable-4xx")) return true;
  if (Has(route, "envoy-ratelimited") && head.find("x-envoy-ratelimited") != head.end()) {
    return true;
  }
  // gRPC over HTTP/1.1 can only say it in the head (a trailers-only answer).
  auto grpc = head.find("grpc-status");
  if (grpc != head.end()) {
    static constexpr std::pair<std::string_view, std::string_view> kGrpc[] = {
        {"cancelled", "1"}, {"deadline-exceeded", "4"}, {"resource-exhausted", "8"},
        {"internal", "13"}, {"unavailable", "14"},
    };
    std::string_view value(grpc->value().data(), grpc->value().size());
    for (const auto& [condition, code] : kGrpc) {
      if (value == code && Has(route, condition)) return true;
    }
  }
  return false;
}

void ApplyHeaderChanges(const HeaderChanges& changes, http::fields& fields) {
  for (const std::string& name : changes.remove) fields.erase(name);
  for (const HeaderValue& h : changes.set) fields.set(h.name, h.value);
  for (const HeaderValue& h : changes.add) fields.insert(h.name, h.value);
}

std::string_view PathOf(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view QueryOf(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    size_t eq = pair.find('=');
    std::string key = Unescape(pair.substr(0, eq));
    if (!pair.empty() && key == name) {
      return eq == std::string_view::npos ? std::string() : Unescape(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace gangway::proxy
