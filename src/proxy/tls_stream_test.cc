// proxy::TlsStream against itself over loopback: both directions in flight at once with more
// bytes than the socket buffers hold (so writes wait for writability), close_notify and an
// abrupt close as Asio's stream reports them, and a handshake cut short by a timer. Records a
// stream seals itself are read by OpenSSL on the other side, so a wrong key, nonce or
// KeyUpdate shows as a failed read: every suite, a KeyUpdate the peer asks for, a key that
// wears out, and the connections that leave their writes to OpenSSL.
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
#include <functional>
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
    TlsStream::PrepareContext(server_ctx_.native_handle());
    TlsStream::PrepareContext(client_ctx_.native_handle());
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

  // The client writes `sent` in one async_write (`midway` runs once half of it has gone), the
  // server echoes each read of up to `read_size` bytes with one write; what came back.
  std::string Echo(TlsStream& server, TlsStream& client, const std::string& sent, size_t read_size,
                   const std::function<void()>& midway = {}) {
    std::string echoed;
    auto echo = [&]() -> asio::awaitable<void> {
      auto [hec] = co_await server.async_handshake(ssl::stream_base::server, kTuple);
      EXPECT_FALSE(hec) << hec.message();
      std::string buf(read_size, '\0');
      for (;;) {
        auto [ec, n] = co_await server.async_read_some(asio::buffer(buf), kTuple);
        if (ec) co_return;
        // The rest of a burst, as the multiplexed reader takes it.
        while (n < buf.size()) {
          size_t more = server.ReadNow(buf.data() + n, buf.size() - n, ec);
          if (more == 0) break;
          n += more;
        }
        auto [wec, wn] = co_await asio::async_write(server, asio::buffer(buf.data(), n), kTuple);
        EXPECT_FALSE(wec) << wec.message();
        if (wec) co_return;
      }
    };
    auto talk = [&]() -> asio::awaitable<void> {
      auto [hec] = co_await client.async_handshake(ssl::stream_base::client, kTuple);
      EXPECT_FALSE(hec) << hec.message();
      auto writer = [&]() -> asio::awaitable<void> {
        const size_t half = midway ? sent.size() / 2 : sent.size();
        auto [ec, n] = co_await asio::async_write(client, asio::buffer(sent.data(), half), kTuple);
        EXPECT_FALSE(ec) << ec.message();
        if (!midway) co_return;
        midway();
        auto [ec2, n2] = co_await asio::async_write(
            client, asio::buffer(sent.data() + half, sent.size() - half), kTuple);
        EXPECT_FALSE(ec2) << ec2.message();
      };
      auto reader = [&]() -> asio::awaitable<void> {
        echoed.resize(sent.size());
        auto [ec, n] = co_await asio::async_read(client, asio::buffer(echoed), kTuple);
        EXPECT_FALSE(ec) << ec.message();
        echoed.resize(n);
      };
      co_await (writer() && reader());
      client_socket_.shutdown(tcp::socket::shutdown_send);
    };
    Run(echo(), talk());
    return echoed;
  }

  static std::string Pattern(size_t bytes) {
    std::string s(bytes, '\0');
    for (size_t i = 0; i < bytes; ++i) s[i] = static_cast<char>(i * 131 + (i >> 12));
    return s;
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
    // The client seals its records (one write of 24 MiB), so its OpenSSL sends the close_notify
    // below into the void and the stream seals the alert in its place: the server's next read
    // ends with eof, as Asio's stream reports it.
    EXPECT_TRUE(client.Sealing());
    SSL_shutdown(client.native_handle());
    client_done = true;
  };
  Run(echo(), talk());
  EXPECT_TRUE(client_done);
  EXPECT_FALSE(client_write) << client_write.message();
  EXPECT_TRUE(echoed == sent) << "echoed " << echoed.size() << " of " << kBytes << " bytes";
  EXPECT_EQ(server_end, asio::error::eof) << server_end.message();
}

class SealingSuiteTest : public TlsStreamTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(SealingSuiteTest, BulkWritesSealTheirOwnRecords) {
  for (auto* ctx : {&server_ctx_, &client_ctx_}) {
    ASSERT_EQ(SSL_CTX_set_ciphersuites(ctx->native_handle(), GetParam()), 1);
  }
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  const std::string sent = Pattern(8u << 20);
  std::string echoed = Echo(server, client, sent, 256 * 1024);
  EXPECT_TRUE(echoed == sent) << "echoed " << echoed.size() << " of " << sent.size() << " bytes";
  EXPECT_TRUE(client.Sealing());
  EXPECT_TRUE(server.Sealing());
  EXPECT_STREQ(SSL_get_cipher_name(client.native_handle()), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Tls13, SealingSuiteTest,
                         ::testing::Values("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                           "TLS_CHACHA20_POLY1305_SHA256"));

TEST_F(TlsStreamTest, ASealingStreamAnswersTheKeyUpdateItsPeerAsksFor) {
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  const std::string sent = Pattern(1u << 20);  // 64 records
  std::string got(2 * sent.size(), '\0');
  uint64_t sequence_after_answer = 0;
  // The client seals a megabyte; the server asks for a KeyUpdate with a short message, which
  // OpenSSL sends; the client reads it and seals another megabyte, which must begin with its
  // own KeyUpdate: the server reads the second megabyte under the client's next key.
  auto serve = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await server.async_handshake(ssl::stream_base::server, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    auto [ec, n] = co_await asio::async_read(server, asio::buffer(got.data(), sent.size()), kTuple);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(SSL_key_update(server.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
    auto [wec, wn] = co_await asio::async_write(server, asio::buffer("ping", 4), kTuple);
    EXPECT_FALSE(wec) << wec.message();
    auto [ec2, n2] = co_await asio::async_read(
        server, asio::buffer(got.data() + sent.size(), sent.size()), kTuple);
    EXPECT_FALSE(ec2) << ec2.message();
  };
  auto talk = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await client.async_handshake(ssl::stream_base::client, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    auto [ec, n] = co_await asio::async_write(client, asio::buffer(sent), kTuple);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(client.Sealing());
    char ping[4];
    auto [rec, rn] = co_await asio::async_read(client, asio::buffer(ping), kTuple);
    EXPECT_FALSE(rec) << rec.message();
    auto [ec2, n2] = co_await asio::async_write(client, asio::buffer(sent), kTuple);
    EXPECT_FALSE(ec2) << ec2.message();
    if (client.sealer() != nullptr) sequence_after_answer = client.sealer()->sequence();
  };
  Run(serve(), talk());
  EXPECT_TRUE(got == sent + sent);
  EXPECT_EQ(SSL_get_key_update_type(server.native_handle()), SSL_KEY_UPDATE_NONE);
  // The second megabyte's 64 records, all under the new key; without the answer, 128.
  EXPECT_EQ(sequence_after_answer, 64u);
}

TEST_F(TlsStreamTest, ASealerMovesToTheNextKeyBeforeTheKeyWearsOut) {
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  const std::string sent = Pattern(4u << 20);
  std::string echoed = Echo(server, client, sent, 256 * 1024, [&] {
    ASSERT_NE(client.sealer(), nullptr);
    client.sealer()->set_records_per_key(3);
  });
  EXPECT_TRUE(echoed == sent) << "echoed " << echoed.size() << " of " << sent.size() << " bytes";
  ASSERT_NE(client.sealer(), nullptr);
  EXPECT_LE(client.sealer()->sequence(), 3u);
}

TEST_F(TlsStreamTest, SmallWritesAndTls12LeaveTheRecordsToOpenSsl) {
  {
    TlsStream server(server_socket_, server_ctx_);
    TlsStream client(client_socket_, client_ctx_);
    const std::string sent = Pattern(1u << 20);
    // One record per write each way: nothing to gain from sealing.
    std::string echoed = Echo(server, client, sent, 16384, [] {});
    EXPECT_TRUE(echoed == sent);
    EXPECT_FALSE(server.Sealing());
  }
  tcp::socket server_socket(io_), client_socket(io_);
  tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  client_socket.connect(acceptor.local_endpoint());
  acceptor.accept(server_socket);
  SSL_CTX_set_max_proto_version(client_ctx_.native_handle(), TLS1_2_VERSION);
  server_socket_ = std::move(server_socket);
  client_socket_ = std::move(client_socket);
  io_.restart();
  TlsStream server(server_socket_, server_ctx_);
  TlsStream client(client_socket_, client_ctx_);
  const std::string sent = Pattern(4u << 20);
  std::string echoed = Echo(server, client, sent, 256 * 1024);
  EXPECT_TRUE(echoed == sent) << "echoed " << echoed.size() << " of " << sent.size() << " bytes";
  EXPECT_STREQ(SSL_get_version(client.native_handle()), "TLSv1.2");
  EXPECT_FALSE(client.Sealing());
  EXPECT_FALSE(server.Sealing());
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
