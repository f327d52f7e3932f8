#include "consensus/internal/handoff_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "consensus/handshake.h"
#include "core/log.h"

namespace gangway::consensus::internal {

namespace {

constexpr std::string_view kLog = "raft";

HandoffTransport* Self(raft_uv_transport* t) { return static_cast<HandoffTransport*>(t->impl); }

bool ParseAddress(const char* address, sockaddr_in* out) {
  std::string_view a(address);
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == a.size() || a.size() - colon > 6) {
    return false;
  }
  int port = 0;
  for (char c : a.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
  }
  if (port <= 0 || port > 65535) return false;
  return uv_ip4_addr(std::string(a.substr(0, colon)).c_str(), port, out) == 0;
}

std::string PeerText(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return "fd " + std::to_string(fd);
  }
  if (sa.sin_family == AF_UNIX) {
    // One end of a socketpair: the RPC server relays a Raft connection inside TLS to it.
    return "a TLS relay (fd " + std::to_string(fd) + ")";
  }
  if (sa.sin_family != AF_INET) return "fd " + std::to_string(fd);
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(sa.sin_port));
}

// libraft releases the streams it is given with raft_free, so they come from raft_malloc.
uv_tcp_t* NewTcp(uv_loop_t* loop) {
  auto* tcp = static_cast<uv_tcp_t*>(raft_malloc(sizeof(uv_tcp_t)));
  if (tcp != nullptr) uv_tcp_init(loop, tcp);
  return tcp;
}

uv_handle_t* AsHandle(void* h) { return static_cast<uv_handle_t*>(h); }
uv_stream_t* AsStream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }

}  // namespace

// ---------------------------------------------------------------------------------------------

void HandoffInbox::Push(int fd, std::string already_read) {
  std::unique_lock<std::mutex> l(mu_);
  if (wake_ == nullptr) {
    l.unlock();
    LogDebug(kLog, "not accepting raft connections (not started or shut down); closing one from " +
                       PeerText(fd));
    close(fd);
    return;
  }
  queue_.push_back(Conn{fd, std::move(already_read)});
  // Under the lock: the transport clears wake_ under it before closing the handle.
  uv_async_send(wake_);
}

void DialResults::Push(uint64_t dial, int fd, std::string error) {
  std::unique_lock<std::mutex> l(mu_);
  if (wake_ == nullptr) {
    l.unlock();
    if (fd >= 0) close(fd);
    return;
  }
  queue_.push_back(Result{dial, fd, std::move(error)});
  uv_async_send(wake_);  // under the lock, as in HandoffInbox::Push
}

// An outgoing connection until libraft gets its stream. Both handles point back here.
struct HandoffTransport::Dial {
  HandoffTransport* t = nullptr;
  raft_uv_connect* req = nullptr;
  uv_tcp_t* tcp = nullptr;  // null while a Dialer is at work
  uv_connect_t connect{};
  uv_write_t write{};
  uv_timer_t timer{};
  uint64_t id = 0;  // matches a Dialer's result to this dial
  std::string address;
  char answer = 1;
  bool aborting = false;
  bool handed_over = false;
  int status = 0;
  int open_handles = 0;
};

// An accepted connection until its handshake is answered and libraft gets its stream.
struct HandoffTransport::Incoming {
  HandoffTransport* t = nullptr;
  uv_tcp_t* tcp = nullptr;
  uv_timer_t timer{};
  uv_write_t write{};
  std::string peer;
  char buf[kMaxHandshakeSize];
  size_t have = 0;
  size_t missing = 0;
  bool reading = false;
  Handshake handshake;
  char answer = kHandshakeAccepted;
  bool aborting = false;
  bool handed_over = false;
  int open_handles = 0;
};

HandoffTransport::HandoffTransport(uv_loop_t* loop, std::shared_ptr<HandoffInbox> inbox,
                                   std::chrono::milliseconds timeout, Dialer dialer)
    : loop_(loop),
      inbox_(std::move(inbox)),
      timeout_ms_(uint64_t(timeout.count())),
      dialer_(std::move(dialer)) {
  transport_.impl = this;
  transport_.init = &HandoffTransport::Init;
  transport_.listen = &HandoffTransport::Listen;
  transport_.connect = &HandoffTransport::Connect;
  transport_.close = &HandoffTransport::Close;
}

HandoffTransport::~HandoffTransport() {
  std::deque<HandoffInbox::Conn> left;
  {
    std::lock_guard<std::mutex> l(inbox_->mu_);
    if (inbox_->wake_ == &wake_) inbox_->wake_ = nullptr;
    left.swap(inbox_->queue_);
  }
  for (auto& c : left) close(c.fd);
  std::deque<DialResults::Result> results;
  {
    std::lock_guard<std::mutex> l(dialed_->mu_);
    if (dialed_->wake_ == &wake_) dialed_->wake_ = nullptr;
    results.swap(dialed_->queue_);
  }
  for (auto& r : results) {
    if (r.fd >= 0) close(r.fd);
  }
}

int HandoffTransport::Init(raft_uv_transport* rt, raft_id id, const char* address) {
  auto* t = Self(rt);
  if (std::strlen(address) == 0 || std::strlen(address) > kMaxHandshakeAddress) {
    std::snprintf(rt->errmsg, sizeof rt->errmsg, "address \"%s\" does not fit a handshake",
                  address);
    return RAFT_INVALID;
  }
  t->id_ = id;
  t->address_ = address;
  t->handshake_ = EncodeHandshake(id, address);
  t->hello_ = std::string(1, char(kRaftModeByte)) + t->handshake_;
  int rv = uv_async_init(t->loop_, &t->wake_, [](uv_async_t* h) {
    static_cast<HandoffTransport*>(h->data)->Drain();
  });
  if (rv != 0) {
    std::snprintf(rt->errmsg, sizeof rt->errmsg, "uv_async_init: %s", uv_strerror(rv));
    return RAFT_IOERR;
  }
  t->wake_.data = t;
  t->wake_open_ = true;
  std::lock_guard<std::mutex> l(t->dialed_->mu_);
  t->dialed_->wake_ = &t->wake_;
  return 0;
}

int HandoffTransport::Listen(raft_uv_transport* rt, raft_uv_accept_cb cb) {
  auto* t = Self(rt);
  t->accept_cb_ = cb;
  std::lock_guard<std::mutex> l(t->inbox_->mu_);
  t->inbox_->wake_ = &t->wake_;
  return 0;
}

// ---- outgoing ----

int HandoffTransport::Connect(raft_uv_transport* rt, raft_uv_connect* req, raft_id /*id*/,
                              const char* address, raft_uv_connect_cb cb) {
  auto* t = Self(rt);
  if (t->closing_) return RAFT_CANCELED;
  if (t->dialer_) return t->ConnectThroughDialer(req, address, cb);
  sockaddr_in sa{};
  if (!ParseAddress(address, &sa)) {
    std::snprintf(rt->errmsg, sizeof rt->errmsg, "peer address \"%s\" is not a.b.c.d:port",
                  address);
    return RAFT_NOCONNECTION;
  }
  uv_tcp_t* tcp = NewTcp(t->loop_);
  if (tcp == nullptr) return RAFT_NOMEM;
  auto d = std::make_unique<Dial>();
  d->t = t;
  d->req = req;
  d->tcp = tcp;
  d->address = address;
  tcp->data = d.get();
  d->connect.data = d.get();
  d->write.data = d.get();
  d->timer.data = d.get();
  req->cb = cb;

  int rv = uv_tcp_connect(
      &d->connect, tcp, reinterpret_cast<const sockaddr*>(&sa), [](uv_connect_t* c, int status) {
        auto* d = static_cast<Dial*>(c->data);
        if (d->aborting) return;  // cancelled by our uv_close
        if (status != 0) return d->t->DialFailed(d, std::string("connect: ") + uv_strerror(status));
        uv_tcp_nodelay(d->tcp, 1);
        d->t->SendHandshake(d, &d->t->hello_);
      });
  if (rv != 0) {
    std::snprintf(rt->errmsg, sizeof rt->errmsg, "connect: %s", uv_strerror(rv));
    uv_close(AsHandle(tcp), [](uv_handle_t* h) { raft_free(h); });
    return RAFT_NOCONNECTION;
  }
  uv_timer_init(t->loop_, &d->timer);
  uv_timer_start(&d->timer, DialTimedOut, t->timeout_ms_, 0);
  d->open_handles = 2;
  Dial* key = d.get();
  t->dials_[key] = std::move(d);
  return 0;
}

// The Dialer connects (Raft inside TLS, through the RPC module) and its result comes back through
// dialed_ and wake_; until then the dial has its timer only.
int HandoffTransport::ConnectThroughDialer(raft_uv_connect* req, const char* address,
                                           raft_uv_connect_cb cb) {
  auto d = std::make_unique<Dial>();
  d->t = this;
  d->req = req;
  d->id = ++next_dial_;
  d->address = address;
  d->write.data = d.get();
  d->timer.data = d.get();
  req->cb = cb;
  uv_timer_init(loop_, &d->timer);
  uv_timer_start(&d->timer, DialTimedOut, timeout_ms_, 0);
  d->open_handles = 1;
  uint64_t id = d->id;
  Dial* key = d.get();
  dials_[key] = std::move(d);
  dialer_(address, [results = dialed_, id](int fd, std::string error) {
    results->Push(id, fd, std::move(error));
  });
  return 0;
}

void HandoffTransport::Dialed(uint64_t id, int fd, std::string error) {
  Dial* d = nullptr;
  for (auto& [key, owned] : dials_) {
    if (key->id == id) d = key;
  }
  if (d == nullptr || d->aborting || d->tcp != nullptr) {
    // Timed out or cancelled meanwhile: nobody wants the connection.
    if (fd >= 0) close(fd);
    return;
  }
  if (fd < 0) return DialFailed(d, error.empty() ? std::string("dial failed") : error);
  uv_tcp_t* tcp = NewTcp(loop_);
  if (tcp == nullptr) {
    close(fd);
    return DialFailed(d, "out of memory");
  }
  int rv = uv_tcp_open(tcp, fd);
  if (rv != 0) {
    uv_close(AsHandle(tcp), [](uv_handle_t* h) { raft_free(h); });
    close(fd);
    return DialFailed(d, std::string("adopting the dialed connection: ") + uv_strerror(rv));
  }
  d->tcp = tcp;
  tcp->data = d;
  d->open_handles = 2;
  SendHandshake(d, &handshake_);
}

// On a connected stream: our handshake (after the mode byte, ours or the Dialer's), then the
// one-byte answer, then the stream is libraft's.
void HandoffTransport::SendHandshake(Dial* d, std::string* bytes) {
  uv_buf_t hello = uv_buf_init(bytes->data(), unsigned(bytes->size()));
  int rv = uv_write(&d->write, AsStream(d->tcp), &hello, 1, [](uv_write_t* w, int status) {
    auto* d = static_cast<Dial*>(w->data);
    if (d->aborting) return;
    if (status != 0) {
      return d->t->DialFailed(d, std::string("sending the raft handshake: ") + uv_strerror(status));
    }
    // The peer answers one byte and sends nothing else on this connection, and we send
    // nothing before the answer: reading exactly one byte leaves the stream clean for
    // libraft.
    int rv = uv_read_start(
        AsStream(d->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* d = static_cast<Dial*>(h->data);
          *buf = uv_buf_init(&d->answer, 1);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
          auto* d = static_cast<Dial*>(s->data);
          if (d->aborting || n == 0) return;
          if (n < 0) {
            return d->t->DialFailed(
                d, "the peer closed the connection without answering the raft handshake" +
                       (n == UV_EOF ? std::string() : std::string(": ") + uv_strerror(int(n))));
          }
          if (d->answer != kHandshakeAccepted) {
            return d->t->DialFailed(d, "the peer refused the raft handshake");
          }
          uv_read_stop(s);
          uv_timer_stop(&d->timer);
          d->handed_over = true;
          d->open_handles = 1;  // the timer; the stream is libraft's now
          HandoffTransport* t = d->t;
          if (t->dial_errors_.erase(d->address) > 0) {
            LogInfo(kLog, "connected to peer " + d->address + " again");
          }
          uv_close(AsHandle(&d->timer), [](uv_handle_t* h) {
            auto* d = static_cast<Dial*>(h->data);
            HandoffTransport* t = d->t;
            t->dials_.erase(d);
            t->MaybeFireClose();
          });
          s->data = nullptr;
          d->req->cb(d->req, s, 0);
        });
    if (rv != 0) d->t->DialFailed(d, std::string("reading the answer: ") + uv_strerror(rv));
  });
  if (rv != 0) DialFailed(d, std::string("sending the raft handshake: ") + uv_strerror(rv));
}

void HandoffTransport::DialTimedOut(uv_timer_t* timer) {
  auto* d = static_cast<Dial*>(timer->data);
  std::string ms = std::to_string(d->t->timeout_ms_) + " ms";
  d->t->DialFailed(
      d, d->tcp == nullptr ? "no connection within " + ms : "raft handshake timed out after " + ms);
}

// libraft hears of the failure (and retries after connect_retry_delay); the log hears of it once
// per peer until a dial to that peer succeeds again.
void HandoffTransport::DialFailed(Dial* d, const std::string& why) {
  if (d->aborting || d->handed_over) return;
  std::snprintf(transport_.errmsg, sizeof transport_.errmsg, "%s", why.c_str());
  std::string& last = dial_errors_[d->address];
  if (last != why) {
    last = why;
    LogWarn(kLog, "cannot connect to peer " + d->address + ": " + why + " (retrying)");
  }
  AbortDial(d, RAFT_NOCONNECTION);
}

// As libraft's own TCP transport does: close the handle, and call back (stream NULL) only once
// it is closed, so that nothing of the attempt is left when libraft hears of the failure.
void HandoffTransport::AbortDial(Dial* d, int status) {
  if (d->aborting || d->handed_over) return;
  d->aborting = true;
  d->status = status;
  uv_timer_stop(&d->timer);
  auto closed = [](uv_handle_t* h) {
    auto* d = static_cast<Dial*>(h->data);
    if (--d->open_handles > 0) return;
    HandoffTransport* t = d->t;
    raft_uv_connect* req = d->req;
    int status = d->status;
    if (d->tcp != nullptr) raft_free(d->tcp);
    t->dials_.erase(d);
    req->cb(req, nullptr, status);
    t->MaybeFireClose();
  };
  if (d->tcp != nullptr) uv_close(AsHandle(d->tcp), closed);
  uv_close(AsHandle(&d->timer), closed);
}

// ---- incoming ----

void HandoffTransport::Drain() {
  std::deque<DialResults::Result> results;
  {
    std::lock_guard<std::mutex> l(dialed_->mu_);
    results.swap(dialed_->queue_);
  }
  for (auto& r : results) Dialed(r.dial, r.fd, std::move(r.error));
  std::deque<HandoffInbox::Conn> q;
  {
    std::lock_guard<std::mutex> l(inbox_->mu_);
    q.swap(inbox_->queue_);
  }
  for (auto& c : q) Adopt(c.fd, std::move(c.already_read));
}

void HandoffTransport::Adopt(int fd, std::string already_read) {
  if (closing_ || accept_cb_ == nullptr) {
    close(fd);
    return;
  }
  uv_tcp_t* tcp = NewTcp(loop_);
  if (tcp == nullptr) {
    close(fd);
    return;
  }
  int rv = uv_tcp_open(tcp, fd);
  if (rv != 0) {
    // Not adopted: the fd is still ours to close.
    LogWarn(kLog, "cannot adopt a raft connection from " + PeerText(fd) + ": " + uv_strerror(rv));
    uv_close(AsHandle(tcp), [](uv_handle_t* h) { raft_free(h); });
    close(fd);
    return;
  }
  auto owned = std::make_unique<Incoming>();
  Incoming* in = owned.get();
  incoming_[in] = std::move(owned);
  in->t = this;
  in->tcp = tcp;
  in->peer = PeerText(fd);
  tcp->data = in;
  in->timer.data = in;
  in->write.data = in;
  uv_tcp_nodelay(tcp, 1);
  uv_timer_init(loop_, &in->timer);
  in->open_handles = 2;
  uv_timer_start(
      &in->timer,
      [](uv_timer_t* timer) {
        auto* in = static_cast<Incoming*>(timer->data);
        in->t->Refuse(in, "no complete handshake within " + std::to_string(in->t->timeout_ms_) +
                              " ms");
      },
      timeout_ms_, 0);
  if (already_read.size() > kMaxHandshakeSize) {
    return Refuse(in, std::to_string(already_read.size()) +
                          " bytes sent before the handshake was answered");
  }
  std::memcpy(in->buf, already_read.data(), already_read.size());
  in->have = already_read.size();
  ContinueHandshake(in);
}

void HandoffTransport::ContinueHandshake(Incoming* in) {
  auto p = DecodeHandshake(std::string_view(in->buf, in->have));
  if (!p.ok()) return Refuse(in, p.status().message());
  if (!p->complete()) {
    // Read exactly what is missing: whatever follows the handshake belongs to libraft.
    in->missing = p->missing;
    if (in->have + in->missing > kMaxHandshakeSize) return Refuse(in, "handshake too long");
    if (!in->reading) {
      in->reading = true;
      int rv = uv_read_start(
          AsStream(in->tcp),
          [](uv_handle_t* h, size_t, uv_buf_t* buf) {
            auto* in = static_cast<Incoming*>(h->data);
            *buf = uv_buf_init(in->buf + in->have, unsigned(in->missing));
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
            auto* in = static_cast<Incoming*>(s->data);
            if (in->aborting || n == 0) return;
            if (n < 0) {
              return in->t->Refuse(in, n == UV_EOF ? "closed before completing the handshake"
                                                    : std::string(uv_strerror(int(n))));
            }
            in->have += size_t(n);
            in->t->ContinueHandshake(in);
          });
      if (rv != 0) return Refuse(in, std::string("reading: ") + uv_strerror(rv));
    }
    return;
  }
  if (p->size != in->have) return Refuse(in, "bytes sent before the handshake was answered");
  in->handshake = std::move(p->handshake);
  AcceptHandshake(in);
}

void HandoffTransport::AcceptHandshake(Incoming* in) {
  if (in->reading) {
    uv_read_stop(AsStream(in->tcp));
    in->reading = false;
  }
  uv_buf_t answer = uv_buf_init(&in->answer, 1);
  int rv = uv_write(&in->write, AsStream(in->tcp), &answer, 1, [](uv_write_t* w, int status) {
    auto* in = static_cast<Incoming*>(w->data);
    HandoffTransport* t = in->t;
    if (in->aborting) return;
    if (status != 0) return t->Refuse(in, std::string("answering: ") + uv_strerror(status));
    uv_timer_stop(&in->timer);
    in->handed_over = true;
    in->open_handles = 1;  // the timer; the stream is libraft's now
    uv_close(AsHandle(&in->timer), [](uv_handle_t* h) {
      auto* in = static_cast<Incoming*>(h->data);
      HandoffTransport* t = in->t;
      t->incoming_.erase(in);
      t->MaybeFireClose();
    });
    auto* stream = AsStream(in->tcp);
    stream->data = nullptr;
    t->accept_cb_(&t->transport_, in->handshake.id, in->handshake.address.c_str(), stream);
  });
  if (rv != 0) Refuse(in, std::string("answering: ") + uv_strerror(rv));
}

void HandoffTransport::Refuse(Incoming* in, const std::string& why) {
  if (in->aborting || in->handed_over) return;
  LogWarn(kLog, "refused a raft connection from " + in->peer + ": " + why);
  CloseIncoming(in);
}

void HandoffTransport::CloseIncoming(Incoming* in) {
  if (in->aborting || in->handed_over) return;
  in->aborting = true;
  uv_timer_stop(&in->timer);
  auto closed = [](uv_handle_t* h) {
    auto* in = static_cast<Incoming*>(h->data);
    if (--in->open_handles > 0) return;
    HandoffTransport* t = in->t;
    raft_free(in->tcp);
    t->incoming_.erase(in);
    t->MaybeFireClose();
  };
  uv_close(AsHandle(in->tcp), closed);
  uv_close(AsHandle(&in->timer), closed);
}

// ---- close ----

// libraft's contract: stop accepting (the accept callback is never called again), cancel
// pending connects (their callbacks fire with RAFT_CANCELED), and call cb once nothing of ours
// is left on the loop.
void HandoffTransport::Close(raft_uv_transport* rt, raft_uv_transport_close_cb cb) {
  auto* t = Self(rt);
  t->closing_ = true;
  t->close_cb_ = cb;
  std::deque<HandoffInbox::Conn> left;
  {
    std::lock_guard<std::mutex> l(t->inbox_->mu_);
    t->inbox_->wake_ = nullptr;
    left.swap(t->inbox_->queue_);
  }
  for (auto& c : left) close(c.fd);
  std::deque<DialResults::Result> results;
  {
    std::lock_guard<std::mutex> l(t->dialed_->mu_);
    t->dialed_->wake_ = nullptr;
    results.swap(t->dialed_->queue_);
  }
  for (auto& r : results) {
    if (r.fd >= 0) close(r.fd);
  }
  if (t->wake_open_) {
    uv_close(AsHandle(&t->wake_), [](uv_handle_t* h) {
      auto* t = static_cast<HandoffTransport*>(h->data);
      t->wake_open_ = false;
      t->MaybeFireClose();
    });
  }
  std::vector<Dial*> dials;
  for (auto& [d, owned] : t->dials_) dials.push_back(d);
  for (Dial* d : dials) t->AbortDial(d, RAFT_CANCELED);
  std::vector<Incoming*> incoming;
  for (auto& [in, owned] : t->incoming_) incoming.push_back(in);
  for (Incoming* in : incoming) t->CloseIncoming(in);
  t->MaybeFireClose();
}

void HandoffTransport::MaybeFireClose() {
  if (!closing_ || wake_open_ || !dials_.empty() || !incoming_.empty() || close_cb_ == nullptr) {
    return;
  }
  auto cb = close_cb_;
  close_cb_ = nullptr;
  cb(&transport_);
}

}  // namespace gangway::consensus::internal
