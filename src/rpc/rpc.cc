#include "rpc/rpc.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "core/log.h"
#include "net/tls.h"
#include "rpc/frame.h"

namespace gangway::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kModeByteTimeout = std::chrono::seconds(10);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// How long a refused connection stays open so its error frame reaches the dialer.
constexpr auto kRefusalLinger = std::chrono::seconds(2);
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kRelayChunk = 64 * 1024;
constexpr const char* kRequiresTls =
    "rpc: server requires TLS (verify_incoming); this agent must dial with TLS "
    "(tls.defaults.verify_outgoing and ca_file)";

using ErrorCode = boost::system::error_code;
using IoDone = std::function<void(ErrorCode, size_t)>;

// The bytes of one connection, plain TCP or TLS over it. ServerConn and ClientConn read and
// write frames through this alone, so both modes share one code path.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual void ReadSome(asio::mutable_buffer buf, IoDone done) = 0;
  virtual void WriteAll(asio::const_buffer buf, IoDone done) = 0;
  virtual tcp::socket& lowest() = 0;
  virtual SSL* ssl() { return nullptr; }
  void Close() {
    ErrorCode ec;
    lowest().close(ec);
  }
};

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(tcp::socket s) : socket_(std::move(s)) {}
  void ReadSome(asio::mutable_buffer buf, IoDone done) override {
    socket_.async_read_some(buf, std::move(done));
  }
  void WriteAll(asio::const_buffer buf, IoDone done) override {
    asio::async_write(socket_, buf, std::move(done));
  }
  tcp::socket& lowest() override { return socket_; }

 private:
  tcp::socket socket_;
};

// No close_notify on close: frames carry their own lengths, so truncation is always detected.
class TlsStream final : public ByteStream {
 public:
  TlsStream(tcp::socket s, asio::ssl::context& ctx) : stream_(std::move(s), ctx) {}
  void Handshake(asio::ssl::stream_base::handshake_type type, std::function<void(ErrorCode)> done) {
    stream_.async_handshake(type, std::move(done));
  }
  void ReadSome(asio::mutable_buffer buf, IoDone done) override {
    stream_.async_read_some(buf, std::move(done));
  }
  void WriteAll(asio::const_buffer buf, IoDone done) override {
    asio::async_write(stream_, buf, std::move(done));
  }
  tcp::socket& lowest() override { return stream_.next_layer(); }
  SSL* ssl() override { return stream_.native_handle(); }

 private:
  asio::ssl::stream<tcp::socket> stream_;
};

bool IsTlsError(const ErrorCode& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == asio::ssl::error::get_stream_category();
}

std::string EndpointText(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

Result<tcp::endpoint> ParseEndpoint(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgument("rpc: address \"" + address + "\" is not ip:port");
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("rpc: address \"" + address + "\": not an IP address");
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return InvalidArgument("rpc: bad port in \"" + address + "\"");
    port = port * 10 + (c - '0');
  }
  if (port <= 0 || port > 65535) return InvalidArgument("rpc: bad port in \"" + address + "\"");
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

// Writes queued byte strings one after another.
class Writer {
 public:
  template <typename OnError>
  void Send(ByteStream& stream, std::shared_ptr<void> keep, std::string bytes, OnError on_error) {
    queue_.push_back(std::move(bytes));
    if (!writing_) Pump(stream, std::move(keep), std::move(on_error));
  }
  template <typename OnError>
  void Pump(ByteStream& stream, std::shared_ptr<void> keep, OnError on_error) {
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    stream.WriteAll(asio::buffer(queue_.front()),
                      [this, &stream, keep, on_error](boost::system::error_code ec, size_t) {
                        if (ec) {
                          writing_ = false;
                          queue_.clear();
                          on_error(ec);
                          return;
                        }
                        queue_.pop_front();
                        Pump(stream, keep, on_error);
                      });
  }
  bool writing() const { return writing_; }

 private:
  std::deque<std::string> queue_;
  bool writing_ = false;
};

// Raft inside TLS (docs/rpc.md): copies bytes both ways between a TLS stream and one end of a
// socketpair whose other end belongs to the Raft transport, which so sees a plain stream. One
// read in flight per direction, and each chunk is written fully before the next read, so a slow
// reader holds its writer back (and the socket buffers bound what is in between). Either side
// closing, or any error, closes both. No close_notify (the Raft stream has its own framing).
class RaftRelay;
struct RelaySet {
  std::set<std::shared_ptr<RaftRelay>> live;
  void CloseAll();
};

class RaftRelay : public std::enable_shared_from_this<RaftRelay> {
 public:
  // `peer` names the other end in logs; `dialer`: we made the connection (the peer is a server).
  // `owner` (the Server's or Client's state) is kept while the relay lives: the TLS stream uses
  // its SSL context.
  RaftRelay(std::unique_ptr<ByteStream> net, asio::local::stream_protocol::socket local,
            std::string peer, bool dialer, std::weak_ptr<RelaySet> set, std::shared_ptr<void> owner)
      : net_(std::move(net)),
        local_(std::move(local)),
        peer_(std::move(peer)),
        dialer_(dialer),
        set_(std::move(set)),
        owner_(std::move(owner)),
        from_net_(kRelayChunk),
        from_local_(kRelayChunk) {}

  void Start() {
    if (auto s = set_.lock()) s->live.insert(shared_from_this());
    FromNet();
    FromLocal();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    net_->Close();
    ErrorCode ignored;
    local_.close(ignored);
    if (auto s = set_.lock()) s->live.erase(shared_from_this());
  }

 private:
  void FromNet() {
    auto self = shared_from_this();
    net_->ReadSome(asio::buffer(from_net_), [self](ErrorCode ec, size_t n) {
      if (self->closed_) return;
      if (ec) {
        self->NetError(ec);
        return self->Close();
      }
      self->got_net_bytes_ = true;
      asio::async_write(self->local_, asio::buffer(self->from_net_.data(), n),
                        [self](ErrorCode wec, size_t) {
                          if (self->closed_) return;
                          if (wec) return self->Close();
                          self->FromNet();
                        });
    });
  }

  void FromLocal() {
    auto self = shared_from_this();
    local_.async_read_some(asio::buffer(from_local_), [self](ErrorCode ec, size_t n) {
      if (self->closed_) return;
      if (ec) return self->Close();  // the Raft side closed its end
      self->net_->WriteAll(asio::buffer(self->from_local_.data(), n),
                           [self](ErrorCode wec, size_t) {
                             if (self->closed_) return;
                             if (wec) {
                               self->NetError(wec);
                               return self->Close();
                             }
                             self->FromLocal();
                           });
    });
  }

  // TLS failures are worth a line: with TLS 1.3 a server refusing the dialer's certificate is
  // only heard here, after the handshake. A plain close (eof, truncation) is not.
  void NetError(const ErrorCode& ec) {
    if (!IsTlsError(ec) || ec == asio::ssl::error::stream_truncated) return;
    std::string reason = x509::HandshakeFailureMessage(net_->ssl(), ec.message());
    if (dialer_ && !got_net_bytes_) {
      LogWarn("agent.rpc",
              "rpc: TLS handshake with " + peer_ + " failed: " + reason + " (Raft connection)");
    } else {
      LogWarn("agent.rpc", "rpc: TLS error on the Raft connection " +
                               std::string(dialer_ ? "to " : "from ") + peer_ + ": " + reason);
    }
  }

  std::unique_ptr<ByteStream> net_;
  asio::local::stream_protocol::socket local_;
  std::string peer_;
  bool dialer_;
  std::weak_ptr<RelaySet> set_;
  std::shared_ptr<void> owner_;
  std::vector<char> from_net_, from_local_;
  bool got_net_bytes_ = false;
  bool closed_ = false;
};

void RelaySet::CloseAll() {
  auto all = std::move(live);
  live.clear();
  for (auto& r : all) r->Close();
}

// Starts a relay for `net`: returns the Raft side's fd, or -1 with `error` set.
int StartRelay(net::EventLoop& loop, std::unique_ptr<ByteStream> net, const std::string& peer,
               bool dialer, const std::shared_ptr<RelaySet>& set, std::shared_ptr<void> owner,
               std::string* error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    *error = std::string("socketpair: ") + std::strerror(errno);
    net->Close();
    return -1;
  }
  asio::local::stream_protocol::socket local(loop.context());
  ErrorCode ec;
  local.assign(asio::local::stream_protocol(), fds[0], ec);
  if (ec) {
    ::close(fds[0]);
    ::close(fds[1]);
    *error = "relay: " + ec.message();
    net->Close();
    return -1;
  }
  std::make_shared<RaftRelay>(std::move(net), std::move(local), peer, dialer, set, std::move(owner))
      ->Start();
  return fds[1];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server

struct ServerConn;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::EventLoop& l, ServerTls t) : loop(l), acceptor(l.context()), tls(std::move(t)) {
    if (tls.context) asio_tls = net::MakeAsioContext(*tls.context);
  }
  net::EventLoop& loop;
  tcp::acceptor acceptor;
  ServerTls tls;
  std::unique_ptr<asio::ssl::context> asio_tls;
  bool verify_incoming() const { return tls.context && tls.context->settings().verify_incoming; }
  std::map<std::string, MethodHandler> methods;
  Server::RaftHandler raft_handler;
  std::set<std::shared_ptr<ServerConn>> conns;
  std::shared_ptr<RelaySet> relays = std::make_shared<RelaySet>();
  bool closed = false;
  Stats stats;

  void Accept();
};

struct ServerConn : std::enable_shared_from_this<ServerConn> {
  ServerConn(std::shared_ptr<Server::Impl> s, tcp::socket sock)
      : server(std::move(s)), remote(EndpointText(sock)),
        stream(std::make_unique<TcpStream>(std::move(sock))) {}

  std::shared_ptr<Server::Impl> server;
  std::string remote;
  std::unique_ptr<ByteStream> stream;
  bool tls = false;          // the stream is TLS (mode 0x03 and a completed handshake)
  bool handshaking = false;  // no reads until the handshake is over
  bool have_mode = false;    // the mode byte that selects frames (inside TLS: the inner one)
  bool refusing = false;     // an error frame was sent; draining until the dialer closes
  bool closed = false;
  std::unique_ptr<Timer> mode_timer;
  FrameDecoder decoder;
  std::string buf = std::string(kReadChunk, '\0');
  Writer writer;
  std::map<uint64_t, std::shared_ptr<CallContext>> inflight;

  void Start() {
    std::weak_ptr<ServerConn> weak = shared_from_this();
    mode_timer = server->loop.After(kModeByteTimeout, [weak] {
      if (auto c = weak.lock(); c && !c->have_mode) {
        LogWarn("agent.rpc", std::string(c->tls || c->handshaking
                                              ? "rpc: no TLS handshake and mode byte"
                                              : "rpc: no mode byte") +
                                 " within 10s from " + c->remote + "; closing");
        c->Close();
      }
    });
    Read();
  }

  void Read() {
    auto self = shared_from_this();
    // The outer mode byte is read alone: after 0x03 the TLS stream must see every byte of the
    // handshake, and after 0x01 the Raft handler gets the socket with nothing consumed.
    size_t want = !have_mode && !tls ? 1 : buf.size();
    stream->ReadSome(asio::buffer(buf.data(), want), [self](ErrorCode ec, size_t n) {
      if (self->closed) return;
      if (ec) {
        if (self->tls && IsTlsError(ec) && ec != asio::ssl::error::stream_truncated) {
          LogWarn("agent.rpc", "rpc: TLS error from " + self->remote + ": " +
                                   x509::HandshakeFailureMessage(self->stream->ssl(), ec.message()));
        }
        return self->Close();
      }
      self->OnData(std::string_view(self->buf.data(), n));
      if (!self->closed && !self->handshaking) self->Read();
    });
  }

  void ProtocolError(const std::string& what) {
    ++server->stats.protocol_errors;
    LogWarn("agent.rpc", what + " (from " + remote + "); closing the connection");
    Close();
  }

  void OnData(std::string_view data) {
    if (refusing) return;  // drained
    if (!have_mode) {
      if (data.empty()) return;
      uint8_t mode = static_cast<uint8_t>(data[0]);
      data.remove_prefix(1);
      if (mode == kModeTls && !tls) return StartTls();
      if (mode == kModeRaft && !tls && server->verify_incoming()) return RefusePlaintextRaft();
      if (mode == kModeRaft && server->raft_handler) {
        return tls ? RelayRaft(std::string(data)) : HandOff(std::string(data));
      }
      if (mode != kModeGangway) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", mode);
        return ProtocolError(std::string("rpc: unrecognized mode byte ") + hex);
      }
      if (!tls && server->verify_incoming()) return RefusePlaintext();
      have_mode = true;
      mode_timer.reset();
    }
    decoder.Feed(data);
    while (!closed) {
      auto next = decoder.Next();
      if (!next.ok()) return ProtocolError(next.status().message());
      if (!*next) return;
      Frame f = std::move(**next);
      switch (f.kind) {
        case FrameKind::kRequest:
          Dispatch(std::move(f));
          break;
        case FrameKind::kCancel:
          if (auto it = inflight.find(f.seq); it != inflight.end()) {
            auto ctx = it->second;
            inflight.erase(it);
            if (ctx->on_cancel) ctx->on_cancel();
          }
          break;
        default:
          return ProtocolError("rpc: a caller sent a response frame");
      }
    }
  }

  // Mode 0x03: the server side of the handshake on the same socket, then the inner mode byte.
  void StartTls() {
    if (!server->asio_tls) {
      return ProtocolError("rpc: TLS connection (mode 0x03) but TLS is not configured on this "
                           "server (tls.defaults.cert_file / key_file)");
    }
    auto plain = std::move(stream);
    auto secure = std::make_unique<TlsStream>(std::move(plain->lowest()), *server->asio_tls);
    TlsStream* raw = secure.get();
    stream = std::move(secure);
    tls = true;
    handshaking = true;
    auto self = shared_from_this();
    raw->Handshake(asio::ssl::stream_base::server, [self](ErrorCode ec) {
      if (self->closed) return;
      self->handshaking = false;
      if (ec) {
        // Go's net/rpc servers log the same words for a failed handshake.
        ++self->server->stats.tls_handshake_errors;
        LogWarn("agent.rpc", "rpc: TLS handshake error from " + self->remote + ": " +
                                 x509::HandshakeFailureMessage(self->stream->ssl(), ec.message()));
        return self->Close();
      }
      self->Read();
    });
  }

  // verify_incoming and a plaintext 'G': the dialer learns why from an error frame with seq 0
  // (a connection-level error, docs/rpc.md), then the server closes. Its write side is shut
  // first and what the dialer already sent is drained, so the frame is not lost to a reset.
  void RefusePlaintext() {
    ++server->stats.plaintext_refused;
    LogWarn("agent.rpc", "rpc: refusing a non-TLS connection from " + remote +
                             ": verify_incoming is set; the client must use TLS (verify_outgoing)");
    have_mode = true;
    refusing = true;
    auto self = shared_from_this();
    std::weak_ptr<ServerConn> weak = self;
    mode_timer = server->loop.After(kRefusalLinger, [weak] {
      if (auto c = weak.lock()) c->Close();
    });
    auto frame = std::make_shared<std::string>(
        EncodeFrame(Frame{FrameKind::kError, 0, "", Code::kPermissionDenied, kRequiresTls}));
    stream->WriteAll(asio::buffer(*frame), [self, frame](ErrorCode ec, size_t) {
      if (self->closed) return;
      if (ec) return self->Close();
      ErrorCode ignored;
      self->stream->lowest().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  // verify_incoming and a plaintext 0x01. No error frame: a Raft dialer reads a one-byte answer,
  // and a frame's first byte (0x00) would read as "accepted". It sees the connection close.
  void RefusePlaintextRaft() {
    ++server->stats.plaintext_refused;
    LogWarn("agent.rpc", "rpc: refusing a plaintext Raft connection (mode 0x01) from " + remote +
                             ": verify_incoming is set; the peer must use TLS for Raft "
                             "(verify_outgoing, mode 0x03 then 0x01)");
    Close();
  }

  // Raft inside TLS: the connection leaves the server's connections for a relay, and the Raft
  // handler gets the other end of its socketpair with the bytes read after the inner mode byte.
  // The relay takes the TLS stream itself, so whatever OpenSSL has buffered is not lost.
  void RelayRaft(std::string already_read) {
    closed = true;
    mode_timer.reset();
    auto self = shared_from_this();
    server->conns.erase(self);
    std::string error;
    int fd = StartRelay(server->loop, std::move(stream), remote, /*dialer=*/false, server->relays,
                        server, &error);
    stream = std::make_unique<TcpStream>(tcp::socket(server->loop.context()));
    if (fd < 0) {
      LogWarn("agent.rpc", "rpc: cannot relay a Raft connection from " + remote + ": " + error);
      return;
    }
    ++server->stats.raft_relayed;
    LogDebug("agent.rpc", "rpc: Raft connection over TLS from " + remote);
    server->raft_handler(fd, std::move(already_read));
  }

  // The connection leaves the server: its fd and the bytes read after the mode byte go to the
  // Raft handler. No read is pending (we are in its handler), so nothing else touches the fd.
  void HandOff(std::string already_read) {
    closed = true;
    auto self = shared_from_this();
    server->conns.erase(self);
    boost::system::error_code ec;
    int fd = stream->lowest().release(ec);
    if (ec) {
      LogWarn("agent.rpc", "rpc: cannot hand a raft connection from " + remote + " over: " +
                               ec.message());
      stream->Close();
      return;
    }
    server->raft_handler(fd, std::move(already_read));
  }

  void Dispatch(Frame f) {
    ++server->stats.calls;
    if (inflight.count(f.seq)) {
      return ProtocolError("rpc: sequence number " + std::to_string(f.seq) + " already in flight");
    }
    auto it = server->methods.find(f.method);
    if (it == server->methods.end()) {
      Frame e{FrameKind::kError, f.seq, "", Code::kNotFound, "rpc: unknown method \"" + f.method + "\""};
      return Send(EncodeFrame(e));
    }
    auto ctx = std::make_shared<CallContext>();
    ctx->remote = remote;
    inflight[f.seq] = ctx;
    std::weak_ptr<ServerConn> weak = shared_from_this();
    uint64_t seq = f.seq;
    ReplyFn reply = [weak, seq, ctx](Result<std::string> r) {
      auto c = weak.lock();
      if (!c || c->closed) return;
      auto found = c->inflight.find(seq);
      if (found == c->inflight.end() || found->second != ctx) return;  // cancelled or replied
      c->inflight.erase(found);
      Frame out;
      out.seq = seq;
      if (r.ok()) {
        out.kind = FrameKind::kResponse;
        out.body = std::move(*r);
      } else {
        out.kind = FrameKind::kError;
        out.code = r.status().code() == Code::kOk ? Code::kInternal : r.status().code();
        out.body = r.status().message();
      }
      c->Send(EncodeFrame(out));
    };
    // The handler may reply synchronously; that is fine (the reply is queued on the socket).
    it->second(std::move(f.body), ctx, std::move(reply));
  }

  void Send(std::string bytes) {
    if (closed) return;
    auto self = shared_from_this();
    writer.Send(*stream, self, std::move(bytes), [self](boost::system::error_code) { self->Close(); });
  }

  void Close() {
    if (closed) return;
    closed = true;
    stream->Close();
    mode_timer.reset();
    auto calls = std::move(inflight);
    inflight.clear();
    for (auto& [seq, ctx] : calls) {
      if (ctx->on_cancel) ctx->on_cancel();
    }
    auto self = shared_from_this();
    server->conns.erase(self);
  }
};

void Server::Impl::Accept() {
  auto self = shared_from_this();
  acceptor.async_accept([self](boost::system::error_code ec, tcp::socket socket) {
    if (self->closed) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      LogWarn("agent.rpc", "rpc: accept failed: " + ec.message());
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      ++self->stats.connections;
      auto conn = std::make_shared<ServerConn>(self, std::move(socket));
      self->conns.insert(conn);
      conn->Start();
    }
    self->Accept();
  });
}

Server::Server(net::EventLoop& loop, ServerTls tls)
    : impl_(std::make_shared<Impl>(loop, std::move(tls))) {}
Server::~Server() { Close(); }

void Server::Register(const std::string& method, MethodHandler handler) {
  impl_->methods[method] = std::move(handler);
}

void Server::SetRaftHandler(RaftHandler handler) { impl_->raft_handler = std::move(handler); }

Result<int> Server::Listen(const std::string& ip, int port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ip, ec);
  if (ec) return InvalidArgument("rpc: bind address \"" + ip + "\" is not an IP address");
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close();
    return Unavailable("Failed to start RPC listener on " + ip + ":" + std::to_string(port) + ": " +
                       ec.message());
  }
  int bound = a.local_endpoint(ec).port();
  impl_->Accept();
  return bound;
}

void Server::Close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  auto conns = impl_->conns;
  for (auto& c : conns) c->Close();
  impl_->relays->CloseAll();
}

Server::Stats Server::stats() const { return impl_->stats; }

// ---------------------------------------------------------------------------------------------
// Client

struct ClientConn;
struct RaftDial;

struct Client::Impl {
  Impl(net::EventLoop& l, ClientTls t) : loop(l), tls(std::move(t)) {
    if (tls.context) asio_tls = net::MakeAsioContext(*tls.context);
  }
  net::EventLoop& loop;
  ClientTls tls;
  std::unique_ptr<asio::ssl::context> asio_tls;
  std::map<std::string, std::shared_ptr<ClientConn>> conns;
  std::set<std::shared_ptr<RaftDial>> raft_dials;  // in progress
  std::shared_ptr<RelaySet> relays = std::make_shared<RelaySet>();
  bool closed = false;
};

// One Client::DialRaft: TCP, 0x03, the client handshake, the inner 0x01, then a relay.
struct RaftDial : std::enable_shared_from_this<RaftDial> {
  RaftDial(std::shared_ptr<Client::Impl> c, std::string addr, Client::RaftDialDone d)
      : client(std::move(c)),
        address(std::move(addr)),
        done(std::move(d)),
        stream(std::make_unique<TcpStream>(tcp::socket(client->loop.context()))) {}

  std::shared_ptr<Client::Impl> client;
  std::string address;
  Client::RaftDialDone done;
  std::unique_ptr<ByteStream> stream;
  std::unique_ptr<Timer> timer;
  bool finished = false;

  void Start(const tcp::endpoint& ep) {
    auto self = shared_from_this();
    client->raft_dials.insert(self);
    std::weak_ptr<RaftDial> weak = self;
    // One deadline for connect, handshake and the inner mode byte, as a call's connection has.
    timer = client->loop.After(kConnectTimeout, [weak] {
      if (auto d = weak.lock()) d->Fail("rpc: connecting to " + d->address + " timed out");
    });
    stream->lowest().async_connect(ep, [self](ErrorCode ec) {
      if (self->finished) return;
      if (ec) return self->Fail("rpc: dial " + self->address + ": " + ec.message());
      self->stream->lowest().set_option(tcp::no_delay(true), ec);
      static const char kTls = static_cast<char>(kModeTls);
      self->stream->WriteAll(asio::buffer(&kTls, 1), [self](ErrorCode wec, size_t) {
        if (self->finished) return;
        if (wec) return self->Fail("rpc: write to " + self->address + ": " + wec.message());
        self->Handshake();
      });
    });
  }

  void Handshake() {
    auto secure = std::make_unique<TlsStream>(std::move(stream->lowest()), *client->asio_tls);
    const ClientTls& t = client->tls;
    Status prepared =
        x509::PrepareClientSsl(secure->ssl(), x509::RpcServerName(t.datacenter, t.domain),
                               t.context->settings().verify_server_hostname);
    TlsStream* raw = secure.get();
    stream = std::move(secure);
    if (!prepared.ok()) return Fail("rpc: TLS to " + address + ": " + prepared.message());
    auto self = shared_from_this();
    raw->Handshake(asio::ssl::stream_base::client, [self](ErrorCode ec) {
      if (self->finished) return;
      if (ec) {
        return self->Fail("rpc: TLS handshake with " + self->address + " failed: " +
                          x509::HandshakeFailureMessage(self->stream->ssl(), ec.message()));
      }
      static const char kRaft = static_cast<char>(kModeRaft);
      self->stream->WriteAll(asio::buffer(&kRaft, 1), [self](ErrorCode wec, size_t) {
        if (self->finished) return;
        if (wec) return self->Fail("rpc: write to " + self->address + ": " + wec.message());
        self->Relay();
      });
    });
  }

  void Relay() {
    std::string error;
    int fd = StartRelay(client->loop, std::move(stream), address, /*dialer=*/true, client->relays,
                        client, &error);
    stream = std::make_unique<TcpStream>(tcp::socket(client->loop.context()));
    if (fd < 0) return Fail("rpc: Raft connection to " + address + ": " + error);
    Finish(fd, "");
  }

  void Fail(const std::string& why) {
    if (finished) return;
    stream->Close();
    Finish(-1, why);
  }

  void Finish(int fd, std::string error) {
    finished = true;
    timer.reset();
    auto self = shared_from_this();
    client->raft_dials.erase(self);
    auto d = std::move(done);
    d(fd, std::move(error));
  }
};

struct ClientConn : std::enable_shared_from_this<ClientConn> {
  ClientConn(Client::Impl* c, std::string addr, std::string dc)
      : client(c), address(std::move(addr)), datacenter(std::move(dc)),
        stream(std::make_unique<TcpStream>(tcp::socket(c->loop.context()))) {}

  struct Pending {
    std::function<void(Result<std::string>)> done;
    std::unique_ptr<Timer> timer;
  };

  Client::Impl* client;
  std::string address;
  std::string datacenter;  // the server's, for its TLS name
  std::unique_ptr<ByteStream> stream;
  bool connected = false;  // frames may be written (after the handshake, with TLS)
  bool got_bytes = false;  // the server has sent something (TLS: the handshake really succeeded)
  bool closed = false;
  uint64_t next_seq = 1;
  std::unique_ptr<Timer> connect_timer;
  std::map<uint64_t, Pending> pending;
  std::vector<std::string> before_connect;  // frames queued while connecting
  FrameDecoder decoder;
  std::string buf = std::string(kReadChunk, '\0');
  Writer writer;

  void Connect(const tcp::endpoint& ep) {
    auto self = shared_from_this();
    std::weak_ptr<ClientConn> weak = self;
    connect_timer = client->loop.After(kConnectTimeout, [weak] {
      if (auto c = weak.lock(); c && !c->connected) {
        c->Fail(PeerUnreachable("rpc: connecting to " + c->address + " timed out"));
      }
    });
    stream->lowest().async_connect(ep, [self](boost::system::error_code ec) {
      if (self->closed) return;
      if (ec) return self->Fail(PeerUnreachable("rpc: dial " + self->address + ": " + ec.message()));
      self->stream->lowest().set_option(tcp::no_delay(true), ec);
      if (self->client->asio_tls) return self->StartTls();
      self->Ready();
    });
  }

  // Mode 0x03 in the clear, then the client side of the handshake; 'G' goes inside.
  void StartTls() {
    auto self = shared_from_this();
    static const char kTls = static_cast<char>(kModeTls);
    stream->WriteAll(asio::buffer(&kTls, 1), [self](ErrorCode ec, size_t) {
      if (self->closed) return;
      if (ec) return self->Fail(PeerUnreachable("rpc: write to " + self->address + ": " + ec.message()));
      auto secure = std::make_unique<TlsStream>(std::move(self->stream->lowest()),
                                                *self->client->asio_tls);
      const ClientTls& t = self->client->tls;
      std::string name = x509::RpcServerName(
          self->datacenter.empty() ? t.datacenter : self->datacenter, t.domain);
      Status prepared = x509::PrepareClientSsl(secure->ssl(), name,
                                               t.context->settings().verify_server_hostname);
      TlsStream* raw = secure.get();
      self->stream = std::move(secure);
      if (!prepared.ok()) {
        return self->Fail(Unavailable("rpc: TLS to " + self->address + ": " + prepared.message()));
      }
      raw->Handshake(asio::ssl::stream_base::client, [self](ErrorCode hec) {
        if (self->closed) return;
        if (hec) return self->Fail(self->TlsFailure(hec));
        self->Ready();
      });
    });
  }

  Status TlsFailure(const ErrorCode& ec) {
    return Unavailable("rpc: TLS handshake with " + address + " failed: " +
                       x509::HandshakeFailureMessage(stream->ssl(), ec.message()));
  }

  void Ready() {
    connect_timer.reset();
    connected = true;
    std::string first(1, static_cast<char>(kModeGangway));
    for (auto& f : before_connect) first += f;
    before_connect.clear();
    Send(std::move(first));
    Read();
  }

  void Send(std::string bytes) {
    if (closed) return;
    if (!connected) {
      before_connect.push_back(std::move(bytes));
      return;
    }
    auto self = shared_from_this();
    writer.Send(*stream, self, std::move(bytes), [self](boost::system::error_code ec) {
      // TLS 1.3: a server's refusal of our certificate arrives after our side of the handshake.
      if (self->stream->ssl() && !self->got_bytes && IsTlsError(ec)) {
        return self->Fail(self->TlsFailure(ec));
      }
      self->Fail(PeerUnreachable("rpc: write to " + self->address + ": " + ec.message()));
    });
  }

  void Read() {
    auto self = shared_from_this();
    stream->ReadSome(asio::buffer(buf), [self](boost::system::error_code ec, size_t n) {
      if (self->closed) return;
      if (ec) {
        if (self->stream->ssl() && !self->got_bytes && IsTlsError(ec) &&
            ec != asio::ssl::error::stream_truncated) {
          return self->Fail(self->TlsFailure(ec));
        }
        return self->Fail(PeerUnreachable("rpc: connection to " + self->address + " closed: " +
                                      (ec == asio::error::eof ? "end of stream" : ec.message())));
      }
      self->got_bytes = true;
      self->decoder.Feed(std::string_view(self->buf.data(), n));
      while (!self->closed) {
        auto next = self->decoder.Next();
        if (!next.ok()) {
          LogWarn("agent.rpc", next.status().message() + " (from server " + self->address + ")");
          return self->Fail(Unavailable(next.status().message()));
        }
        if (!*next) break;
        self->OnFrame(std::move(**next));
      }
      if (!self->closed) self->Read();
    });
  }

  void OnFrame(Frame f) {
    if (f.kind != FrameKind::kResponse && f.kind != FrameKind::kError) {
      LogWarn("agent.rpc", "rpc: server " + address + " sent a request or cancel frame");
      return Fail(Unavailable("rpc: protocol error from " + address));
    }
    // seq 0 is never a call's: the server refuses the connection and says why.
    if (f.seq == 0 && f.kind == FrameKind::kError) {
      LogWarn("agent.rpc", "rpc: server " + address + " refused the connection: " + f.body);
      return Fail(Status(f.code == Code::kOk ? Code::kUnavailable : f.code, f.body));
    }
    auto it = pending.find(f.seq);
    if (it == pending.end()) return;  // cancelled or timed out meanwhile
    auto done = std::move(it->second.done);
    pending.erase(it);
    if (f.kind == FrameKind::kResponse) {
      done(std::move(f.body));
    } else {
      done(Status(f.code, std::move(f.body)));
    }
  }

  uint64_t Start(const std::string& method, std::string body, Duration timeout,
                 std::function<void(Result<std::string>)> done) {
    uint64_t seq = next_seq++;
    Pending p;
    p.done = std::move(done);
    std::weak_ptr<ClientConn> weak = shared_from_this();
    p.timer = client->loop.After(timeout, [weak, seq, timeout, method] {
      auto c = weak.lock();
      if (!c) return;
      auto it = c->pending.find(seq);
      if (it == c->pending.end()) return;
      auto d = std::move(it->second.done);
      c->pending.erase(it);
      c->Send(EncodeFrame(Frame{FrameKind::kCancel, seq, "", Code::kOk, ""}));
      d(Unavailable("rpc: " + method + " to " + c->address + " timed out after " +
                    FormatDuration(timeout)));
    });
    pending.emplace(seq, std::move(p));
    Send(EncodeFrame(Frame{FrameKind::kRequest, seq, method, Code::kOk, std::move(body)}));
    return seq;
  }

  void Cancel(uint64_t seq) {
    if (pending.erase(seq) && !closed) {
      Send(EncodeFrame(Frame{FrameKind::kCancel, seq, "", Code::kOk, ""}));
    }
  }

  void Fail(const Status& s) {
    if (closed) return;
    closed = true;
    stream->Close();
    connect_timer.reset();
    auto calls = std::move(pending);
    pending.clear();
    auto self = shared_from_this();
    if (auto it = client->conns.find(address); it != client->conns.end() && it->second == self) {
      client->conns.erase(it);
    }
    for (auto& [seq, p] : calls) p.done(s);
  }
};

Client::Client(net::EventLoop& loop, ClientTls tls)
    : impl_(std::make_shared<Impl>(loop, std::move(tls))) {}
Client::~Client() { Close(); }

std::function<void()> Client::Call(const std::string& address, const std::string& method,
                                   std::string body, Duration timeout,
                                   std::function<void(Result<std::string>)> done,
                                   const std::string& datacenter) {
  auto fail_later = [&](Status s) {
    impl_->loop.Post([done = std::move(done), s = std::move(s)] { done(s); });
    return [] {};
  };
  if (impl_->closed) return fail_later(Unavailable("rpc: client closed"));
  if (method.empty() || method.size() > 255) return fail_later(InvalidArgument("rpc: bad method name"));
  std::shared_ptr<ClientConn> conn;
  if (auto it = impl_->conns.find(address); it != impl_->conns.end()) {
    conn = it->second;
  } else {
    auto ep = ParseEndpoint(address);
    if (!ep.ok()) return fail_later(ep.status());
    conn = std::make_shared<ClientConn>(impl_.get(), address, datacenter);
    impl_->conns[address] = conn;
    conn->Connect(*ep);
  }
  // The completion always arrives from a later turn of the loop: posting keeps callers free of
  // re-entrancy even when a server answers from a buffer already read.
  auto* loop = &impl_->loop;
  auto cancelled = std::make_shared<bool>(false);
  uint64_t seq = conn->Start(method, std::move(body), timeout,
                             [loop, cancelled, done = std::move(done)](Result<std::string> r) mutable {
                               loop->Post([cancelled, done = std::move(done), r = std::move(r)]() mutable {
                                 if (!*cancelled) done(std::move(r));
                               });
                             });
  std::weak_ptr<ClientConn> weak = conn;
  return [weak, seq, cancelled] {
    *cancelled = true;
    if (auto c = weak.lock()) c->Cancel(seq);
  };
}

void Client::DialRaft(const std::string& address, RaftDialDone done) {
  auto fail_later = [&](std::string why) {
    impl_->loop.Post([done = std::move(done), why = std::move(why)] { done(-1, why); });
  };
  if (impl_->closed) return fail_later("rpc: client closed");
  if (!impl_->asio_tls)
    return fail_later("rpc: Raft dial without TLS (the Raft transport dials plaintext itself)");
  auto ep = ParseEndpoint(address);
  if (!ep.ok()) return fail_later(ep.status().message());
  std::make_shared<RaftDial>(impl_, address, std::move(done))->Start(*ep);
}

void Client::Close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  auto conns = impl_->conns;
  for (auto& [addr, c] : conns) c->Fail(Unavailable("rpc: client closed"));
  auto dials = impl_->raft_dials;
  for (auto& d : dials) d->Fail("rpc: client closed");
  impl_->relays->CloseAll();
}

}  // namespace gangway::rpc
