#include "rpc/rpc.h"

#include <deque>
#include <map>
#include <set>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "core/log.h"
#include "rpc/frame.h"

namespace gangway::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kModeByteTimeout = std::chrono::seconds(10);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr size_t kReadChunk = 64 * 1024;

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
  void Send(tcp::socket& socket, std::shared_ptr<void> keep, std::string bytes, OnError on_error) {
    queue_.push_back(std::move(bytes));
    if (!writing_) Pump(socket, std::move(keep), std::move(on_error));
  }
  template <typename OnError>
  void Pump(tcp::socket& socket, std::shared_ptr<void> keep, OnError on_error) {
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    asio::async_write(socket, asio::buffer(queue_.front()),
                      [this, &socket, keep, on_error](boost::system::error_code ec, size_t) {
                        if (ec) {
                          writing_ = false;
                          queue_.clear();
                          on_error(ec);
                          return;
                        }
                        queue_.pop_front();
                        Pump(socket, keep, on_error);
                      });
  }
  bool writing() const { return writing_; }

 private:
  std::deque<std::string> queue_;
  bool writing_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server

struct ServerConn;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  explicit Impl(net::EventLoop& l) : loop(l), acceptor(l.context()) {}
  net::EventLoop& loop;
  tcp::acceptor acceptor;
  std::map<std::string, MethodHandler> methods;
  Server::RaftHandler raft_handler;
  std::set<std::shared_ptr<ServerConn>> conns;
  bool closed = false;
  Stats stats;

  void Accept();
};

struct ServerConn : std::enable_shared_from_this<ServerConn> {
  ServerConn(std::shared_ptr<Server::Impl> s, tcp::socket sock)
      : server(std::move(s)), socket(std::move(sock)), remote(EndpointText(socket)) {}

  std::shared_ptr<Server::Impl> server;
  tcp::socket socket;
  std::string remote;
  bool have_mode = false;
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
        LogWarn("agent.rpc", "rpc: no mode byte within 10s from " + c->remote + "; closing");
        c->Close();
      }
    });
    Read();
  }

  void Read() {
    auto self = shared_from_this();
    socket.async_read_some(asio::buffer(buf), [self](boost::system::error_code ec, size_t n) {
      if (self->closed) return;
      if (ec) return self->Close();
      self->OnData(std::string_view(self->buf.data(), n));
      if (!self->closed) self->Read();
    });
  }

  void ProtocolError(const std::string& what) {
    ++server->stats.protocol_errors;
    LogWarn("agent.rpc", what + " (from " + remote + "); closing the connection");
    Close();
  }

  void OnData(std::string_view data) {
    if (!have_mode) {
      if (data.empty()) return;
      uint8_t mode = static_cast<uint8_t>(data[0]);
      data.remove_prefix(1);
      have_mode = true;
      mode_timer.reset();
      if (mode == kModeRaft && server->raft_handler) return HandOff(std::string(data));
      if (mode != kModeGangway) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", mode);
        return ProtocolError(std::string("rpc: unrecognized mode byte ") + hex);
      }
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

  // The connection leaves the server: its fd and the bytes read after the mode byte go to the
  // Raft handler. No read is pending (we are in its handler), so nothing else touches the fd.
  void HandOff(std::string already_read) {
    closed = true;
    auto self = shared_from_this();
    server->conns.erase(self);
    boost::system::error_code ec;
    int fd = socket.release(ec);
    if (ec) {
      LogWarn("agent.rpc", "rpc: cannot hand a raft connection from " + remote + " over: " +
                               ec.message());
      socket.close(ec);
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
    writer.Send(socket, self, std::move(bytes), [self](boost::system::error_code) { self->Close(); });
  }

  void Close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    socket.close(ec);
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

Server::Server(net::EventLoop& loop) : impl_(std::make_shared<Impl>(loop)) {}
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
}

Server::Stats Server::stats() const { return impl_->stats; }

// ---------------------------------------------------------------------------------------------
// Client

struct ClientConn;

struct Client::Impl {
  explicit Impl(net::EventLoop& l) : loop(l) {}
  net::EventLoop& loop;
  std::map<std::string, std::shared_ptr<ClientConn>> conns;
  bool closed = false;
};

struct ClientConn : std::enable_shared_from_this<ClientConn> {
  ClientConn(Client::Impl* c, std::string addr)
      : client(c), address(std::move(addr)), socket(c->loop.context()) {}

  struct Pending {
    std::function<void(Result<std::string>)> done;
    std::unique_ptr<Timer> timer;
  };

  Client::Impl* client;
  std::string address;
  tcp::socket socket;
  bool connected = false;
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
        c->Fail(Unavailable("rpc: connecting to " + c->address + " timed out"));
      }
    });
    socket.async_connect(ep, [self](boost::system::error_code ec) {
      if (self->closed) return;
      self->connect_timer.reset();
      if (ec) return self->Fail(Unavailable("rpc: dial " + self->address + ": " + ec.message()));
      self->connected = true;
      self->socket.set_option(tcp::no_delay(true), ec);
      std::string first(1, static_cast<char>(kModeGangway));
      for (auto& f : self->before_connect) first += f;
      self->before_connect.clear();
      self->Send(std::move(first));
      self->Read();
    });
  }

  void Send(std::string bytes) {
    if (closed) return;
    if (!connected) {
      before_connect.push_back(std::move(bytes));
      return;
    }
    auto self = shared_from_this();
    writer.Send(socket, self, std::move(bytes), [self](boost::system::error_code ec) {
      self->Fail(Unavailable("rpc: write to " + self->address + ": " + ec.message()));
    });
  }

  void Read() {
    auto self = shared_from_this();
    socket.async_read_some(asio::buffer(buf), [self](boost::system::error_code ec, size_t n) {
      if (self->closed) return;
      if (ec) {
        return self->Fail(Unavailable("rpc: connection to " + self->address + " closed: " +
                                      (ec == asio::error::eof ? "end of stream" : ec.message())));
      }
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
    boost::system::error_code ec;
    socket.close(ec);
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

Client::Client(net::EventLoop& loop) : impl_(std::make_shared<Impl>(loop)) {}
Client::~Client() { Close(); }

std::function<void()> Client::Call(const std::string& address, const std::string& method,
                                   std::string body, Duration timeout,
                                   std::function<void(Result<std::string>)> done) {
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
    conn = std::make_shared<ClientConn>(impl_.get(), address);
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

void Client::Close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  auto conns = impl_->conns;
  for (auto& [addr, c] : conns) c->Fail(Unavailable("rpc: client closed"));
}

}  // namespace gangway::rpc
