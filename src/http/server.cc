#include "http/server.h"

#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
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
#include "http/server_detail.h"
#include "net/tls.h"

namespace gangway::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;


namespace {
using server_detail::ConnectionReply;
using server_detail::IoThread;
using server_detail::PendingReply;
using server_detail::ResponsePtr;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool NoBodyStatus(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// The status line and headers of `r` as Beast would have written them (same reason phrases, a
// header set twice keeps its last value, Content-Length from the body, Connection for
// keep-alive), built in one string so that head and body go out in one gather write.
std::string RenderHead(const Response& r, unsigned version, bool keep_alive, size_t body_size) {
  std::string head;
  head.reserve(256);
  head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  head.append(std::to_string(r.status)).push_back(' ');
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
  head.append(reason.data(), reason.size()).append("\r\n");
  const auto& hs = r.headers;
  for (size_t i = 0; i < hs.size(); ++i) {
    const auto& [k, v] = hs[i];
    if ((k.size() == 14 && ::strcasecmp(k.c_str(), "Content-Length") == 0) ||
        (k.size() == 10 && ::strcasecmp(k.c_str(), "Connection") == 0)) {
      continue;
    }
    bool later = false;
    for (size_t j = i + 1; j < hs.size() && !later; ++j) {
      later = k.size() == hs[j].first.size() && ::strcasecmp(k.c_str(), hs[j].first.c_str()) == 0;
    }
    if (later) continue;
    head.append(k).append(": ").append(v).append("\r\n");
  }
  if (version == 10 && keep_alive) head.append("Connection: keep-alive\r\n");
  if (version != 10 && !keep_alive) head.append("Connection: close\r\n");
  if (!NoBodyStatus(r.status)) {
    head.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

// A status that may carry no body, given one, is a handler's bug: the connection ends with it.
void RequireValidBody(const Response& r) {
  if (NoBodyStatus(r.status) && !r.Body().empty()) {
    throw std::invalid_argument("invalid response body for status " + std::to_string(r.status));
  }
}

template <typename Stream>
asio::awaitable<boost::system::error_code> WriteResponse(Stream& stream, const Response& r,
                                                         unsigned version, bool keep_alive) {
  const std::string& body = r.Body();
  RequireValidBody(r);
  std::string head = RenderHead(r, version, keep_alive, body.size());
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
  auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
  (void)n;
  co_return ec;
}

// A parked request's answer, or the rest of it when PendingReply::TrySend began it.
template <typename Stream>
asio::awaitable<boost::system::error_code> WritePending(Stream& stream, PendingReply& p) {
  const std::string& body = p.response->Body();
  if (!p.head) {
    RequireValidBody(*p.response);
    p.head = std::make_shared<const std::string>(
        RenderHead(*p.response, p.version, p.keep_alive, body.size()));
  }
  const std::string& head = *p.head;
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
  if (p.sent < head.size()) {
    buffers[0] += p.sent;
  } else {
    buffers[0] = asio::const_buffer();
    buffers[1] += p.sent - head.size();
  }
  auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
  (void)n;
  co_return ec;
}
}  // namespace

namespace server_detail {
std::shared_ptr<const std::string> HeadCache::Get(const ResponsePtr& r, unsigned v, bool ka) {
  if (head && r == response && v == version && ka == keep_alive) return head;
  head = std::make_shared<const std::string>(RenderHead(*r, v, ka, r->Body().size()));
  response = r;
  version = v;
  keep_alive = ka;
  return head;
}

bool PendingReply::TrySend(const ResponsePtr& response, HeadCache* cache) {
  if (fd < 0) return false;
  const Response& r = *response;
  const std::string& body = r.Body();
  // An answer WritePending would refuse is left to it, for the same error.
  if (NoBodyStatus(r.status) && !body.empty()) return false;
  std::shared_ptr<const std::string> h =
      cache != nullptr
          ? cache->Get(response, version, keep_alive)
          : std::make_shared<const std::string>(RenderHead(r, version, keep_alive, body.size()));
  iovec iov[2] = {{const_cast<char*>(h->data()), h->size()},
                  {const_cast<char*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = body.empty() ? 1 : 2;
  ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  // A full socket buffer or an error: the coroutine writes, and sees the error itself.
  if (n <= 0) return false;
  sent = static_cast<size_t>(n);
  sent_all = sent == h->size() + body.size();
  // Not keep-alive: the coroutine still has to close the connection.
  if (sent_all && keep_alive) return true;
  if (!sent_all) head = std::move(h);
  return false;
}

void IoThread::Queue(std::weak_ptr<PendingReply> pending, ResponsePtr r, asio::io_context& owner,
                     const std::shared_ptr<IoThread>& self) {
  if (stopped) return;
  if (outbox.empty()) outbox.reserve(kReplyBatch);
  outbox.emplace_back(std::move(pending), std::move(r));
  if (outbox.size() >= kReplyBatch) return Flush();
  if (outbox.size() == 1) asio::post(owner, [self] { self->Flush(); });
}

void IoThread::Flush() {
  if (stopped || outbox.empty()) return;
  asio::post(*context, [batch = std::move(outbox)]() mutable {
    for (auto& [pending, r] : batch) {
      if (auto p = pending.lock()) p->Deliver(r);
    }
  });
  outbox.clear();
}

namespace {
enum : int { kWaiting = 0, kAnswering = 1, kThrough = 2 };
}

void Fanout::Start(ResponsePtr r, std::vector<Part> parts) {
  std::erase_if(parts, [](const Part& p) { return p.io->stopped || p.to.empty(); });
  if (parts.empty()) return;
  std::shared_ptr<Fanout> f(new Fanout(std::move(r), parts.size()));
  for (size_t i = 0; i < parts.size(); ++i) {
    f->shares_[i].io = std::move(parts[i].io);
    f->shares_[i].to = std::move(parts[i].to);
    if (parts.size() > 1) f->shares_[i].handed_back.assign(f->shares_[i].to.size(), 0);
  }
  for (size_t i = 0; i < f->shares_.size(); ++i) {
    asio::post(*f->shares_[i].io->context, [f, i] { f->Run(i); });
  }
}

void Fanout::Run(size_t i) {
  Share& s = shares_[i];
  const size_t n = s.to.size();
  HeadCache cache;
  s.state.store(kAnswering, std::memory_order_release);
  if (test_on_run != nullptr) test_on_run(i);
  for (;;) {
    size_t k = s.next.fetch_add(kChunk, std::memory_order_relaxed);
    if (k >= n) break;
    size_t end = std::min(n, k + kChunk);
    for (size_t e = k; e < end; ++e) {
      if (auto p = s.to[e].lock()) p->Deliver(response_, &cache);
    }
    s.done.fetch_add(end - k, std::memory_order_relaxed);
  }
  if (shares_.size() == 1) return;
  // Chunks a helper claimed: wait until they are through, then finish what it handed back.
  for (size_t d = s.done.load(std::memory_order_acquire); d < n;
       d = s.done.load(std::memory_order_acquire)) {
    s.done.wait(d, std::memory_order_acquire);
  }
  s.state.store(kThrough, std::memory_order_relaxed);
  for (size_t e = 0; e < n; ++e) {
    if (!s.handed_back[e]) continue;
    auto p = s.to[e].lock();
    if (!p) continue;
    if (p->answered) {
      p->Finish(response_);
    } else {
      p->Deliver(response_, &cache);
    }
  }
  for (size_t j = 0; j < shares_.size(); ++j) {
    if (j != i) Help(j, cache, *s.io);
  }
}

void Fanout::Help(size_t j, HeadCache& cache, IoThread& self) {
  Share& s = shares_[j];
  // Only while the home thread is inside Run: before, it may be running the members'
  // coroutines; after, every member is claimed anyway.
  if (s.state.load(std::memory_order_acquire) != kAnswering) return;
  const size_t n = s.to.size();
  uint64_t answered = 0;
  for (;;) {
    size_t k = s.next.fetch_add(kChunk, std::memory_order_relaxed);
    if (k >= n) break;
    size_t end = std::min(n, k + kChunk);
    for (size_t e = k; e < end; ++e) {
      auto p = s.to[e].lock();
      if (!p) continue;
      if (p->SendFromAnotherThread(response_, &cache)) {
        ++answered;
      } else {
        s.handed_back[e] = 1;
      }
    }
    s.done.fetch_add(end - k, std::memory_order_release);
    s.done.notify_one();
  }
  if (answered) self.answered_for_others.fetch_add(answered, std::memory_order_relaxed);
}

void ConnectionReply::operator()(Response r) {
  // Answered: a hang-up noticed after this has nothing to release.
  cancel->answered = true;
  auto shared = std::make_shared<const Response>(std::move(r));
  if (!io) {
    if (auto p = pending.lock()) p->Deliver(shared);
    return;
  }
  io->Queue(std::move(pending), std::move(shared), *owner, io);
}
}  // namespace server_detail

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::EventLoop& l, Handler& h, ServerOptions o)
      : loop(l), handler(h), options(std::move(o)), acceptor(l.context()) {
    if (options.tls) ssl_context = net::MakeAsioContext(*options.tls);
    size_t n = options.io_threads >= 0 ? static_cast<size_t>(options.io_threads)
                                       : std::max(1u, std::thread::hardware_concurrency());
    for (size_t i = 0; i < n; ++i) {
      auto io = std::make_shared<IoThread>();
      io->thread = std::thread([ctx = io->context.get(), i] {
        std::string name = "http-io-" + std::to_string(i);
        pthread_setname_np(pthread_self(), name.c_str());
        ctx->run();
      });
      io_threads.push_back(std::move(io));
    }
  }

  net::EventLoop& loop;
  Handler& handler;  // owner loop only
  const ServerOptions options;
  tcp::acceptor acceptor;  // owner loop
  std::unique_ptr<asio::ssl::context> ssl_context;
  std::vector<std::shared_ptr<IoThread>> io_threads;  // empty: connections on the owner loop
  size_t next_thread = 0;  // owner loop
  std::atomic<size_t> connections{0};
  bool closed = false;  // owner loop

  // Stops the I/O threads and destroys their contexts, and with them every connection (their
  // coroutine frames). Owner loop; the Impl is kept alive by the caller meanwhile.
  void StopThreads() {
    for (auto& io : io_threads) {
      io->stopped = true;
      io->context->stop();
    }
    for (auto& io : io_threads) {
      if (io->thread.joinable()) io->thread.join();
    }
    for (auto& io : io_threads) {
      io->work.reset();
      io->context.reset();
    }
  }

  // Runs fn on the owner loop: at once when connections live there, else posted (and dropped if
  // the server is closed by then, when the handler may be gone).
  template <typename Fn>
  void OnOwner(const std::shared_ptr<IoThread>& io, Fn fn) {
    if (!io) return fn();
    asio::post(loop.context(), [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      auto self = weak.lock();
      if (!self || self->closed) return;
      fn();
    });
  }

  // Hands a parsed request to the handler on the owner loop; its Reply, called there, sends the
  // Response back to the connection's thread. A Reply after Close() is dropped.
  void Dispatch(const std::shared_ptr<IoThread>& io, Request req,
                std::shared_ptr<Cancellation> cancel, std::weak_ptr<PendingReply> pending) {
    OnOwner(io, [this, io, req = std::move(req), cancel = std::move(cancel),
                 pending = std::move(pending)]() mutable {
      // Called once. Many of these in a row (the answers of a query that many waited on)
      // each touch their connection's objects for the first time in a while, so it does as
      // little as it can; a ReplyGroup skips even that.
      ConnectionReply reply{&loop.context(), io, cancel, std::move(pending)};
      handler.Handle(std::move(req), cancel, std::move(reply));
    });
  }

  asio::awaitable<void> Accept() {
    auto self = shared_from_this();
    while (!closed) {
      // Accepted on the owner loop, then handed to an I/O thread's context: a pending accept
      // must never refer to an I/O context, which Close() destroys while the aborted accept is
      // still queued on the owner loop.
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || closed) co_return;
        LogWarn("agent.http", "accept failed: " + ec.message());
        continue;
      }
      if (closed) co_return;
      if (io_threads.empty()) {
        asio::co_spawn(acceptor.get_executor(), Session(self, nullptr, std::move(socket)),
                       asio::detached);
        continue;
      }
      std::shared_ptr<IoThread> io = io_threads[next_thread++ % io_threads.size()];
      boost::system::error_code hec;
      auto protocol = socket.local_endpoint(hec).protocol();
      if (hec) continue;  // the peer is already gone
      auto fd = socket.release(hec);
      if (hec) continue;
      tcp::socket moved(*io->context, protocol, fd);
      asio::co_spawn(io->context->get_executor(), Session(self, io, std::move(moved)),
                     asio::detached);
    }
  }

  static asio::awaitable<void> Session(std::shared_ptr<Impl> self, std::shared_ptr<IoThread> io,
                                       tcp::socket socket) {
    // Counted down when the frame goes, whether the coroutine finishes or its context is
    // destroyed under it (Close).
    struct Count {
      std::atomic<size_t>& n;
      explicit Count(std::atomic<size_t>& c) : n(c) { ++n; }
      ~Count() { --n; }
    } count(self->connections);
    try {
      co_await self->Serve(io, std::move(socket));
    } catch (const std::exception& e) {
      LogWarn("agent.http", std::string("connection error: ") + e.what());
    }
  }

  asio::awaitable<void> Serve(std::shared_ptr<IoThread> io, tcp::socket socket) {
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    if (!ssl_context) {
      beast::tcp_stream stream(std::move(socket));
      co_await ServeStream(io, stream, remote);
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
    co_await ServeStream(io, stream, remote);
    stream.next_layer().expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kTuple);
  }

  template <typename Stream>
  asio::awaitable<void> ServeStream(std::shared_ptr<IoThread> io, Stream& stream,
                                    const std::string& remote) {
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
        co_await WriteResponse(stream, r, 11, false);
        // The client may still be sending the body it announced. Closing with unread input
        // would reset the connection before it reads our answer, so stop sending, then discard
        // what arrives for a short while.
        boost::system::error_code sec;
        lowest.socket().shutdown(tcp::socket::shutdown_send, sec);
        lowest.expires_after(std::chrono::seconds(2));
        size_t drained = 0;
        // On the heap: in the coroutine frame it would cost every connection 16 KiB.
        auto sink = std::make_unique<char[]>(16384);
        while (drained < (8u << 20)) {
          auto [dec, dn] =
              co_await stream.async_read_some(asio::buffer(sink.get(), 16384), kTuple);
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
        co_await WriteResponse(stream,
                               Response::Text(400, "Bad request: malformed request target\n"),
                               version, false);
        break;
      }

      auto pending = std::make_shared<PendingReply>(stream.get_executor());
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        pending->fd = lowest.socket().native_handle();
      }
      pending->version = version;
      pending->keep_alive = keep_alive;
      auto cancel = std::make_shared<Cancellation>();
      Dispatch(io, std::move(req), cancel, pending);
      if (!pending->answered) {
        // Wait for the reply; meanwhile notice a client that hangs up (long polls). An answer
        // that PendingReply::TrySend wrote while parked leaves this wait running until the
        // client's next bytes (or the idle timer), which then go to the next read; such a
        // connection, left idle, is closed after 15 to 30 minutes instead of 15.
        bool hung_up = false;
        while (!pending->answered && !hung_up) {
          pending->timer.expires_after(std::chrono::minutes(15));
          pending->parked = true;
          auto result = co_await (pending->timer.async_wait(kTuple) ||
                                  lowest.socket().async_wait(tcp::socket::wait_read, kTuple));
          pending->parked = false;
          if (result.index() == 1 && !pending->answered) {
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
          // on_cancel belongs to the handler's side: it runs on the owner loop.
          OnOwner(io, [cancel = std::move(cancel)] {
            if (cancel->on_cancel && !cancel->answered) {
              auto fn = std::move(cancel->on_cancel);
              fn();
            }
          });
          break;
        }
      }
      boost::system::error_code wec;
      if (!pending->sent_all) wec = co_await WritePending(stream, *pending);
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
    : impl_(std::make_shared<Impl>(loop, handler, std::move(options))) {}

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
  impl_->StopThreads();
}

size_t Server::open_connections() const { return impl_->connections.load(); }

size_t Server::io_threads() const { return impl_->io_threads.size(); }

uint64_t Server::answers_for_other_threads() const {
  uint64_t n = 0;
  for (const auto& io : impl_->io_threads) n += io->answered_for_others.load(std::memory_order_relaxed);
  return n;
}

}  // namespace gangway::http
