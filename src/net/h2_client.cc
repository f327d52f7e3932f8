#include "net/h2_client.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "net/tls.h"
#include "x509/tls_context.h"

namespace gangway::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

// Go words errno texts in lower case ("connection refused"); strerror capitalises them.
std::string GoErrno(std::string m) {
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

std::string Endpoint(const tcp::endpoint& ep) {
  std::string a = ep.address().to_string();
  if (ep.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

// One call's state: shared by the coroutine, the deadline and nghttp2's callbacks.
struct Call {
  Call(asio::io_context& io) : resolver(io), socket(io), timer(io) {}
  ~Call() {
    if (session) nghttp2_session_del(session);
  }

  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer timer;
  std::shared_ptr<asio::ssl::context> ssl_ctx;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  nghttp2_session* session = nullptr;

  bool ping = false;  // a PING rather than a request
  H2Request request;
  size_t body_sent = 0;
  size_t max_body = 0;
  int32_t stream_id = -1;
  size_t header_bytes = 0;
  bool got_response_headers = false;
  bool done = false;  // the request's stream closed, or the PING's ACK arrived
  bool timed_out = false;
  H2Result result;

  void Close() {
    boost::system::error_code ignored;
    resolver.cancel();
    socket.close(ignored);
  }
};

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<Call*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->stream_id) return 0;
  c->header_bytes += namelen + valuelen;
  if (c->header_bytes > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  std::string n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    if (n == ":status") {
      int status = 0;
      for (char ch : v)
        status = ch >= '0' && ch <= '9' && status < 1000 ? status * 10 + (ch - '0') : 0;
      c->result.status = status;
    } else if (!n.empty() && n[0] != ':') {
      c->result.headers.emplace_back(std::move(n), std::move(v));
    }
  } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
    c->result.trailers.emplace_back(std::move(n), std::move(v));
  }
  return 0;
}

int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                void* user) {
  auto* c = static_cast<Call*>(user);
  if (stream_id != c->stream_id) return 0;
  size_t room = c->max_body - std::min(c->max_body, c->result.body.size());
  if (len > room) c->result.body_truncated = true;
  c->result.body.append(reinterpret_cast<const char*>(data), std::min(len, room));
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
  auto* c = static_cast<Call*>(user);
  if (stream_id != c->stream_id) return 0;
  c->result.reset_code = error_code;
  c->done = true;
  return 0;
}

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Call*>(user);
  if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    c->result.got_settings = true;
  }
  if (c->ping && frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    c->done = true;
  }
  if (frame->hd.type == NGHTTP2_GOAWAY && c->ping && !c->done) {
    c->result.stage = H2Stage::kConnection;
    c->result.error = "http2: server sent GOAWAY and closed the connection; ErrCode=" +
                      H2ErrorCodeName(frame->goaway.error_code);
  }
  return 0;
}

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                 nghttp2_data_source*, void* user) {
  auto* c = static_cast<Call*>(user);
  size_t left = c->request.body.size() - c->body_sent;
  size_t n = std::min(left, length);
  std::memcpy(buf, c->request.body.data() + c->body_sent, n);
  c->body_sent += n;
  if (c->body_sent == c->request.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Writes whatever nghttp2 has queued.
asio::awaitable<boost::system::error_code> Flush(std::shared_ptr<Call> c) {
  for (;;) {
    std::string out;
    for (;;) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(c->session, &data);
      if (n < 0) co_return asio::error::make_error_code(asio::error::invalid_argument);
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (out.empty()) co_return boost::system::error_code{};
    boost::system::error_code ec;
    if (c->tls) {
      std::tie(ec, std::ignore) = co_await asio::async_write(*c->tls, asio::buffer(out),
                                                             asio::as_tuple(asio::use_awaitable));
    } else {
      std::tie(ec, std::ignore) = co_await asio::async_write(c->socket, asio::buffer(out),
                                                             asio::as_tuple(asio::use_awaitable));
    }
    if (ec) co_return ec;
  }
}

asio::awaitable<void> Run(std::shared_ptr<Call> c, H2Endpoint to) {
  constexpr auto tok = asio::as_tuple(asio::use_awaitable);
  const std::string target =
      (to.host.find(':') != std::string::npos ? "[" + to.host + "]" : to.host) + ":" +
      std::to_string(to.port);
  auto fail = [&](H2Stage stage, std::string msg) {
    c->result.stage = stage;
    c->result.error = std::move(msg);
  };
  // Dial.
  auto [rec, endpoints] = co_await c->resolver.async_resolve(to.host, std::to_string(to.port), tok);
  if (c->timed_out) co_return fail(H2Stage::kDial, "dial tcp " + target + ": i/o timeout");
  if (rec) co_return fail(H2Stage::kDial, "dial tcp: lookup " + to.host + ": " + rec.message());
  std::string last = target;
  boost::system::error_code cec = asio::error::host_not_found;
  for (const auto& entry : endpoints) {
    last = Endpoint(entry.endpoint());
    boost::system::error_code ignored;
    c->socket.close(ignored);
    std::tie(cec) = co_await c->socket.async_connect(entry.endpoint(), tok);
    if (c->timed_out) co_return fail(H2Stage::kDial, "dial tcp " + last + ": i/o timeout");
    if (!cec) break;
  }
  if (cec)
    co_return fail(H2Stage::kDial, "dial tcp " + last + ": connect: " + GoErrno(cec.message()));
  boost::system::error_code ignored;
  c->socket.set_option(tcp::no_delay(true), ignored);

  if (to.tls) {
    c->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(c->socket, *c->ssl_ctx);
    SSL* ssl = c->tls->native_handle();
    std::string name = to.tls_server_name.empty() ? to.host : to.tls_server_name;
    if (Status s = x509::PrepareClientSsl(ssl, name, !to.tls_skip_verify); !s.ok()) {
      co_return fail(H2Stage::kHandshake, s.message());
    }
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
    auto [hec] = co_await c->tls->async_handshake(asio::ssl::stream_base::client, tok);
    if (c->timed_out) co_return fail(H2Stage::kHandshake, "context deadline exceeded");
    if (hec) {
      co_return fail(H2Stage::kHandshake, x509::HandshakeFailureMessage(ssl, hec.message()));
    }
  }

  // The HTTP/2 session.
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrameRecv);
  int rv = nghttp2_session_client_new(&c->session, cbs, c.get());
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) co_return fail(H2Stage::kConnection, nghttp2_strerror(rv));
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                       {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderBytes}};
  nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
  if (c->ping) {
    uint8_t opaque[8] = {'g', 'a', 'n', 'g', 'w', 'a', 'y', '!'};
    nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, opaque);
  } else {
    const std::string method = ":method", post = "POST", scheme = ":scheme",
                      scheme_value = to.tls ? "https" : "http", path = ":path",
                      authority = ":authority";
    std::vector<nghttp2_nv> nva = {Nv(method, post), Nv(scheme, scheme_value),
                                   Nv(path, c->request.path), Nv(authority, c->request.authority)};
    for (const auto& [k, v] : c->request.headers) nva.push_back(Nv(k, v));
    nghttp2_data_provider body;
    body.source.ptr = nullptr;
    body.read_callback = ReadBody;
    c->stream_id =
        nghttp2_submit_request(c->session, nullptr, nva.data(), nva.size(), &body, c.get());
    if (c->stream_id < 0) co_return fail(H2Stage::kConnection, nghttp2_strerror(c->stream_id));
  }

  char buf[16 * 1024];
  for (;;) {
    boost::system::error_code wec = co_await Flush(c);
    if (c->timed_out) co_return fail(H2Stage::kConnection, "context deadline exceeded");
    if (wec)
      co_return fail(H2Stage::kConnection, "write tcp " + last + ": " + GoErrno(wec.message()));
    if (c->result.stage != H2Stage::kOk) co_return;
    if (c->done) {
      // Say goodbye as Go's ClientConn.Shutdown does; the answer is already complete.
      nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
      co_await Flush(c);
      co_return;
    }
    boost::system::error_code rec2;
    size_t n = 0;
    if (c->tls) {
      std::tie(rec2, n) = co_await c->tls->async_read_some(asio::buffer(buf), tok);
    } else {
      std::tie(rec2, n) = co_await c->socket.async_read_some(asio::buffer(buf), tok);
    }
    if (c->timed_out) co_return fail(H2Stage::kConnection, "context deadline exceeded");
    if (rec2) {
      bool eof = rec2 == asio::error::eof || rec2 == asio::ssl::error::stream_truncated;
      co_return fail(H2Stage::kConnection,
                     eof ? "EOF" : "read tcp " + last + ": " + GoErrno(rec2.message()));
    }
    ssize_t used = nghttp2_session_mem_recv(c->session, reinterpret_cast<const uint8_t*>(buf), n);
    if (used < 0) {
      co_return fail(H2Stage::kConnection,
                     std::string("http2: ") + nghttp2_strerror(static_cast<int>(used)));
    }
    if (c->result.stage != H2Stage::kOk) co_return;
    if (!c->done && !nghttp2_session_want_read(c->session) &&
        !nghttp2_session_want_write(c->session)) {
      co_return fail(H2Stage::kConnection, "http2: client connection lost");
    }
  }
}

}  // namespace

struct H2Client::Impl {
  EventLoop& loop;
  std::string ca_file;
  std::string ca_path;
  // Built on first use, one verifying and one not; shared with calls in flight.
  std::shared_ptr<asio::ssl::context> verify_ctx;
  std::shared_ptr<asio::ssl::context> skip_ctx;

  std::shared_ptr<asio::ssl::context> Context(bool skip_verify, std::string* error) {
    auto& slot = skip_verify ? skip_ctx : verify_ctx;
    if (slot) return slot;
    x509::TlsSettings s;
    s.ca_file = ca_file;
    s.ca_path = ca_path;
    s.verify_outgoing = !skip_verify;
    auto built = x509::BuildTlsContext(s, x509::TlsRole::kClient);
    if (!built.ok()) {
      *error = built.status().message();
      return nullptr;
    }
    slot = std::shared_ptr<asio::ssl::context>(MakeAsioContext(*built).release());
    return slot;
  }

  void Start(std::shared_ptr<Call> c, const H2Endpoint& to, std::chrono::nanoseconds timeout,
             std::function<void(H2Result)> done) {
    if (to.tls) {
      std::string error;
      c->ssl_ctx = Context(to.tls_skip_verify, &error);
      if (!c->ssl_ctx) {
        H2Result r;
        r.stage = H2Stage::kHandshake;
        r.error = error;
        loop.Post([done = std::move(done), r = std::move(r)] { done(r); });
        return;
      }
    }
    c->timer.expires_after(timeout);
    c->timer.async_wait([c](const boost::system::error_code& ec) {
      if (ec) return;
      c->timed_out = true;
      c->Close();
    });
    asio::co_spawn(loop.context(), Run(c, to), [c, done = std::move(done)](std::exception_ptr e) {
      c->timer.cancel();
      c->Close();
      H2Result r = std::move(c->result);
      // A complete answer stands even if the goodbye ran into the deadline.
      r.timed_out = c->timed_out && !c->done;
      if (e && r.stage == H2Stage::kOk) {
        r.stage = H2Stage::kConnection;
        r.error = "http2 client failed";
      }
      done(std::move(r));
    });
  }
};

H2Client::H2Client(EventLoop& loop, std::string ca_file, std::string ca_path)
    : impl_(new Impl{loop, std::move(ca_file), std::move(ca_path), nullptr, nullptr}) {}

H2Client::~H2Client() = default;

void H2Client::Request(const H2Endpoint& to, H2Request req, std::chrono::nanoseconds timeout,
                       size_t max_body, std::function<void(H2Result)> done) {
  auto c = std::make_shared<Call>(impl_->loop.context());
  c->request = std::move(req);
  c->max_body = max_body;
  impl_->Start(std::move(c), to, timeout, std::move(done));
}

void H2Client::Ping(const H2Endpoint& to, std::chrono::nanoseconds timeout,
                    std::function<void(H2Result)> done) {
  auto c = std::make_shared<Call>(impl_->loop.context());
  c->ping = true;
  impl_->Start(std::move(c), to, timeout, std::move(done));
}

std::string H2ErrorCodeName(uint32_t code) {
  static const char* const kNames[] = {"NO_ERROR",
                                       "PROTOCOL_ERROR",
                                       "INTERNAL_ERROR",
                                       "FLOW_CONTROL_ERROR",
                                       "SETTINGS_TIMEOUT",
                                       "STREAM_CLOSED",
                                       "FRAME_SIZE_ERROR",
                                       "REFUSED_STREAM",
                                       "CANCEL",
                                       "COMPRESSION_ERROR",
                                       "CONNECT_ERROR",
                                       "ENHANCE_YOUR_CALM",
                                       "INADEQUATE_SECURITY",
                                       "HTTP_1_1_REQUIRED"};
  if (code < sizeof kNames / sizeof kNames[0]) return kNames[code];
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", code);
  return std::string("unknown error code ") + hex;
}

}  // namespace gangway::net
