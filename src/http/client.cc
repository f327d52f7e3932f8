#include "http/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "net/tls.h"

namespace gangway::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {
constexpr size_t kMaxResponseBody = 64 * 1024 * 1024;

bhttp::request<bhttp::string_body> ToBeast(const ClientRequest& req) {
  bhttp::request<bhttp::string_body> r;
  r.method_string(req.method);
  r.target(req.target);
  r.version(11);
  r.set(bhttp::field::host, req.host + ":" + std::to_string(req.port));
  r.set(bhttp::field::user_agent, "gangway");
  for (const auto& [k, v] : req.headers) r.set(k, v);
  r.body() = req.body;
  r.prepare_payload();
  return r;
}

Response FromBeast(bhttp::response<bhttp::string_body>&& res) {
  Response out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

std::string Where(const ClientRequest& req) {
  return req.method + (req.tls ? " https://" : " http://") + req.host + ":" + std::to_string(req.port) + req.target;
}
}  // namespace

bool ParseUrl(const std::string& url, std::string* host, int* port, std::string* target) {
  std::string rest = url;
  *port = 80;
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.rfind("https://", 0) == 0) {
    return false;  // TLS clients arrive with agent TLS
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  *target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (hostport.empty()) return false;
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    *host = hostport.substr(0, colon);
    std::string p = hostport.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    *port = std::stoi(p);
    if (*port <= 0 || *port > 65535) return false;
  } else {
    *host = hostport;
  }
  return !host->empty();
}

namespace {
// Writes the request and reads the answer on a connected (and, for TLS, handshaken) stream.
template <typename Stream>
Result<Response> Exchange(Stream& stream, const ClientRequest& req) {
  beast::error_code ec;
  auto r = ToBeast(req);
  bhttp::write(stream, r, ec);
  if (ec) return Unavailable("Error writing to " + Where(req) + ": " + ec.message());
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  bhttp::read(stream, buffer, parser, ec);
  if (ec && ec != asio::ssl::error::stream_truncated) {
    // TLS 1.3: a server that rejects our certificate says so after our handshake finished.
    std::string why = ec.category() == asio::error::get_ssl_category()
                          ? x509::HandshakeFailureMessage(nullptr, ec.message())
                          : ec.message();
    return Unavailable("Error reading from " + Where(req) + ": " + why);
  }
  return FromBeast(parser.release());
}

// An HTTPS request's checks on the server: its chain must verify against the request's CA and
// carry tls_server_name (the host when empty).
Status PrepareTls(SSL* ssl, const ClientRequest& req) {
  std::string name = req.tls_server_name.empty() ? req.host : req.tls_server_name;
  return x509::PrepareClientSsl(ssl, name, req.tls->settings().verify_outgoing);
}
}  // namespace

Result<Response> Fetch(const ClientRequest& req) {
  asio::io_context io;
  beast::tcp_stream tcp_stream(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(req.host, std::to_string(req.port), ec);
  if (ec) return Unavailable("Error connecting to " + Where(req) + ": " + ec.message());
  tcp_stream.expires_after(req.timeout);
  tcp_stream.connect(results, ec);
  if (ec) return Unavailable("Error connecting to " + Where(req) + ": " + ec.message());
  if (!req.tls) return Exchange(tcp_stream, req);

  auto ctx = net::MakeAsioContext(*req.tls);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *ctx);
  if (Status s = PrepareTls(stream.native_handle(), req); !s.ok()) return s;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    return Unavailable("TLS handshake with " + Where(req) + ": " +
                       x509::HandshakeFailureMessage(stream.native_handle(), ec.message()));
  }
  auto res = Exchange(stream, req);
  stream.shutdown(ec);  // best effort: the answer is complete
  return res;
}

namespace {

// The request and its answer on a connected stream (TCP or TLS), with the stream's deadline.
template <typename Stream>
asio::awaitable<Result<Response>> ExchangeAsync(Stream& stream, const ClientRequest& req) {
  constexpr auto tok = asio::as_tuple(asio::use_awaitable);
  auto r = ToBeast(req);
  auto [wec, wn] = co_await bhttp::async_write(stream, r, tok);
  (void)wn;
  if (wec) co_return Status(Unavailable(Where(req) + ": " + wec.message()));
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [rdec, rn] = co_await bhttp::async_read(stream, buffer, parser, tok);
  (void)rn;
  if (rdec) {
    co_return Status(Unavailable(
        Where(req) + ": " + (rdec == beast::error::timeout ? "timeout" : rdec.message())));
  }
  co_return FromBeast(parser.release());
}

}  // namespace

void FetchAsync(net::EventLoop& loop, ClientRequest req, std::function<void(Result<Response>)> done) {
  auto ex = loop.context().get_executor();
  asio::co_spawn(
      ex,
      [req = std::move(req), ex]() -> asio::awaitable<Result<Response>> {
        constexpr auto tok = asio::as_tuple(asio::use_awaitable);
        beast::tcp_stream stream(ex);
        tcp::resolver resolver(ex);
        auto [rec, results] = co_await resolver.async_resolve(req.host, std::to_string(req.port), tok);
        if (rec) co_return Status(Unavailable(Where(req) + ": " + rec.message()));
        stream.expires_after(req.timeout);
        auto [cec, ep] = co_await stream.async_connect(results, tok);
        (void)ep;
        if (cec) {
          co_return Status(Unavailable(
              Where(req) + ": " + (cec == beast::error::timeout ? "timeout" : cec.message())));
        }
        if (!req.tls) co_return co_await ExchangeAsync(stream, req);

        auto ctx = net::MakeAsioContext(*req.tls);
        beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), *ctx);
        if (Status s = PrepareTls(tls_stream.native_handle(), req); !s.ok()) co_return s;
        auto [hec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client, tok);
        if (hec) {
          co_return Status(Unavailable(
              "TLS handshake with " + Where(req) + ": " +
              (hec == beast::error::timeout
                   ? std::string("timeout")
                   : x509::HandshakeFailureMessage(tls_stream.native_handle(), hec.message()))));
        }
        co_return co_await ExchangeAsync(tls_stream, req);
      },
      [done = std::move(done)](std::exception_ptr e, Result<Response> r) {
        if (e) {
          done(Status(Internal("http client failed")));
        } else {
          done(std::move(r));
        }
      });
}

}  // namespace gangway::http
