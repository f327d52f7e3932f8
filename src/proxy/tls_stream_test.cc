// proxy::TlsStream against itself over loopback: both directions in flight at once with more
// bytes than the socket buffers hold (so OpenSSL's writes wait for writability), close_notify
// and an abrupt close as Asio's stream reports them, and a handshake cut short by a timer.
#include "proxy/tls_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>

#include "proxy/testing/harness.h"
#include "x509/x509.h"

namespace gangway::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

class TlsStreamTest : public ::testing::Test {
 protected:
  TlsStreamTest() : server_ctx_(ssl::context::tls_server), client_ctx_(ssl::context::tls_client) {
    testing::TestCa ca("tls-stream.test");
    testing::Identity leaf = ca.Leaf("api");
    auto cert = x509::ParseCertificatePem(leaf.cert_pem);
    auto key = x509::ParsePrivateKeyPem(leaf.key_pem);
    EXPECT_TRUE(cert.ok() && key.ok());
    SSL_CTX_use_certificate(server_ctx_.native_handle(), cert->native());
    SSL_CTX_use_PrivateKey(server_ctx_.native_handle(), key->native());
    client_ctx_.set_verify_mode(ssl::verify_none);
    // A connected pair of sockets on loopback.
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_socket_.connect(acceptor.local_endpoint());
    acceptor.accept(server_socket_);
  }

  // Runs both sides to completion (or 20 s).
  void Run(asio::awaitable<void> server, asio::awaitable<void> client) {
    asio::co_spawn(io_, std::move(server), asio::detached);
    asio::co_spawn(io_, std::move(client), asio::detached);
    io_.run_for(20s);
  }

  asio::io_context io_;
  ssl::context server_ctx_;
  ssl::context client_ctx_;
  tcp::socket server_socket_{io_};
  tcp::socket client_socket_{io_};
};

TEST_F(TlsStreamTest, BothDirectionsAtOnceWithFullSocketBuffers) {
  // Larger than loopback's socket buffers: writes wait for the peer to read.
  constexpr size_t kBytes = 24u << 20;
  std::string sent(kBytes, '\0');
  for (size_t i = 0; i < kBytes; ++i) sent[i] = static_cast<char>(i * 131 + (i >> 12));
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  std::string echoed;
  error_code server_end, client_write;
  bool client_done = false;
  auto echo = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await server.async_handshake(ssl::stream_base::server, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    std::string buf(16384, '\0');
    for (;;) {
      auto [ec, n] = co_await server.async_read_some(asio::buffer(buf), kTuple);
      if (ec) {
        server_end = ec;
        co_return;
      }
      auto [wec, wn] = co_await asio::async_write(server, asio::buffer(buf.data(), n), kTuple);
      EXPECT_FALSE(wec) << wec.message();
      EXPECT_EQ(wn, n);
    }
  };
  auto talk = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await client.async_handshake(ssl::stream_base::client, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    auto writer = [&]() -> asio::awaitable<void> {
      auto [ec, n] = co_await asio::async_write(client, asio::buffer(sent), kTuple);
      client_write = ec;
      EXPECT_EQ(n, kBytes);
    };
    auto reader = [&]() -> asio::awaitable<void> {
      echoed.resize(kBytes);
      auto [ec, n] = co_await asio::async_read(client, asio::buffer(echoed), kTuple);
      EXPECT_FALSE(ec) << ec.message();
      echoed.resize(n);
    };
    co_await (writer() && reader());
    // close_notify: the server's next read ends with eof, as Asio's stream reports it.
    SSL_shutdown(client.native_handle());
    client_done = true;
  };
  Run(echo(), talk());
  EXPECT_TRUE(client_done);
  EXPECT_FALSE(client_write) << client_write.message();
  EXPECT_TRUE(echoed == sent) << "echoed " << echoed.size() << " of " << kBytes << " bytes";
  EXPECT_EQ(server_end, asio::error::eof) << server_end.message();
}

TEST_F(TlsStreamTest, APeerThatClosesWithoutCloseNotifyIsATruncatedStream) {
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  error_code server_end;
  auto serve = [&]() -> asio::awaitable<void> {
    co_await server.async_handshake(ssl::stream_base::server, kTuple);
    char c;
    auto [ec, n] = co_await server.async_read_some(asio::buffer(&c, 1), kTuple);
    server_end = ec;
  };
  auto hang_up = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await client.async_handshake(ssl::stream_base::client, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    client_socket_.close();
  };
  Run(serve(), hang_up());
  EXPECT_EQ(server_end, ssl::error::stream_truncated) << server_end.message();
}

TEST_F(TlsStreamTest, AHandshakeCutShortByATimerEndsCleanly) {
  TlsStream server(server_socket_, server_ctx_);
  bool timed_out = false;
  auto serve = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io_, 100ms);
    auto r = co_await (server.async_handshake(ssl::stream_base::server, kTuple) ||
                       timer.async_wait(kTuple));
    timed_out = r.index() == 1;
  };
  // The client connects and says nothing.
  auto silent = []() -> asio::awaitable<void> { co_return; };
  Run(serve(), silent());
  EXPECT_TRUE(timed_out);
}

}  // namespace
}  // namespace gangway::proxy
