#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "core/log.h"
#include "net/tls.h"

namespace gangway::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace server_detail {
struct PendingReply {
  explicit PendingReply(asio::any_io_executor ex) : timer(ex) {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer timer;
  std::optional<Response> response;
};
}  // namespace server_detail

namespace {
using server_detail::PendingReply;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bhttp::response<bhttp::string_body> ToBeast(Response r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}
}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::EventLoop& l, Handler& h, ServerOptions o)
      : loop(l), handler(h), options(o), acceptor(l.context()) {
    if (options.tls) ssl_context = net::MakeAsioContext(*options.tls);
  }

  net::EventLoop& loop;
  Handler& handler;
  ServerOptions options;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> ssl_context;
  size_t connections = 0;
  bool closed = false;

  asio::awaitable<void> Accept() {
    auto self = shared_from_this();
    while (!closed) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || closed) co_return;
        LogWarn("agent.http", "accept failed: " + ec.message());
        continue;
      }
      asio::co_spawn(acceptor.get_executor(), Session(self, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> Session(std::shared_ptr<Impl> self, tcp::socket socket) {
    ++self->connections;
    try {
      co_await self->Serve(std::move(socket));
    } catch (const std::exception& e) {
      LogWarn("agent.http", std::string("connection error: ") + e.what());
    }
    --self->connections;
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    if (!ssl_context) {
      beast::tcp_stream stream(std::move(socket));
      co_await ServeStream(stream, remote);
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)),
                                                *ssl_context);
    stream.next_layer().expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (hec) {
      // Go's net/http logs the same line for a failed handshake.
      LogWarn("agent.http", "http: TLS handshake error from " + remote + ": " +
                                x509::HandshakeFailureMessage(stream.native_handle(),
                                                              hec.message()));
      co_return;
    }
    co_await ServeStream(stream, remote);
    stream.next_layer().expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kTuple);
  }

  template <typename Stream>
  asio::awaitable<void> ServeStream(Stream& stream, const std::string& remote) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      lowest.expires_after(std::chrono::minutes(15));
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      (void)n;
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == beast::error::timeout ||
          ec == asio::ssl::error::stream_truncated) {
        break;
      }
      if (ec) {
        Response r = ec == bhttp::error::body_limit
                         ? Response::Text(413, "Request body too large, max size: " +
                                                   std::to_string(options.max_body_bytes) +
                                                   " bytes\n")
                         : Response::Text(400, "Bad request: " + ec.message() + "\n");
        auto res = ToBeast(std::move(r), 11, false);
        co_await bhttp::async_write(stream, res, kTuple);
        // The client may still be sending the body it announced. Closing with unread input
        // would reset the connection before it reads our answer, so stop sending, then discard
        // what arrives for a short while.
        boost::system::error_code sec;
        lowest.socket().shutdown(tcp::socket::shutdown_send, sec);
        lowest.expires_after(std::chrono::seconds(2));
        size_t drained = 0;
        char sink[16384];
        while (drained < (8u << 20)) {
          auto [dec, dn] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
          if (dec) break;
          drained += dn;
        }
        break;
      }
      lowest.expires_never();
      auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      req.remote_address = remote;
      for (const auto& f : msg) req.headers[std::string(f.name_string())] = std::string(f.value());
      req.body = std::move(msg.body());
      bool keep_alive = msg.keep_alive();
      unsigned version = msg.version();
      if (!Request::ParseTarget(req.target, &req.path, &req.query)) {
        auto res = ToBeast(Response::Text(400, "Bad request: malformed request target\n"), version,
                           false);
        co_await bhttp::async_write(stream, res, kTuple);
        break;
      }

      auto pending = std::make_shared<PendingReply>(stream.get_executor());
      auto cancel = std::make_shared<Cancellation>();
      handler.Handle(std::move(req), cancel, [pending](Response r) {
        if (pending->response) return;
        pending->response = std::move(r);
        pending->timer.cancel();
      });
      if (!pending->response) {
        // Wait for the reply; meanwhile notice a client that hangs up (long polls).
        bool hung_up = false;
        while (!pending->response && !hung_up) {
          auto result = co_await (pending->timer.async_wait(kTuple) ||
                                  lowest.socket().async_wait(tcp::socket::wait_read, kTuple));
          if (result.index() == 1 && !pending->response) {
            char byte;
            boost::system::error_code pec;
            size_t got = lowest.socket().receive(asio::buffer(&byte, 1),
                                                 tcp::socket::message_peek, pec);
            if (pec == asio::error::would_block) continue;
            if (pec || got == 0) {
              hung_up = true;
            } else {
              // Pipelined bytes: keep waiting for the reply only.
              co_await pending->timer.async_wait(kTuple);
            }
          }
        }
        if (hung_up) {
          if (cancel->on_cancel) {
            auto fn = std::move(cancel->on_cancel);
            fn();
          }
          break;
        }
      }
      auto res = ToBeast(std::move(*pending->response), version, keep_alive);
      auto [wec, wn] = co_await bhttp::async_write(stream, res, kTuple);
      (void)wn;
      if (wec || !keep_alive) break;
    }
  }
};

Result<Request> ParseRequest(std::string_view bytes, const ServerOptions& options) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(options.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.eager(true);
  boost::system::error_code ec;
  size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
  (void)used;
  if (ec == bhttp::error::need_more) return InvalidArgument("incomplete request");
  if (ec) return InvalidArgument("Bad request: " + ec.message());
  if (!parser.is_done()) return InvalidArgument("incomplete request");
  auto& msg = parser.get();
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& f : msg) req.headers[std::string(f.name_string())] = std::string(f.value());
  req.body = std::move(msg.body());
  if (!Request::ParseTarget(req.target, &req.path, &req.query)) {
    return InvalidArgument("Bad request: malformed request target");
  }
  return req;
}

Server::Server(net::EventLoop& loop, Handler& handler, ServerOptions options)
    : impl_(std::make_shared<Impl>(loop, handler, options)) {}

Server::~Server() { Close(); }

Result<int> Server::Listen(const std::string& address, int port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return InvalidArgument("invalid bind address \"" + address + "\": " + ec.message());
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    a.close(ignored);
    return Unavailable("error starting HTTP listener on " + address + ":" + std::to_string(port) +
                       ": " + ec.message());
  }
  int bound = a.local_endpoint().port();
  asio::co_spawn(a.get_executor(), impl_->Accept(), asio::detached);
  return bound;
}

void Server::Close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

size_t Server::open_connections() const { return impl_->connections; }

}  // namespace gangway::http
