#include "proxy/mux_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "core/log.h"

namespace gangway::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kLog = "proxy";
constexpr auto kRelaxed = std::memory_order_relaxed;

bool IsEnd(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

asio::awaitable<void> SleepUntilWoken(asio::steady_timer& timer) {
  timer.expires_at(asio::steady_timer::time_point::max());
  co_await timer.async_wait(kTuple);
}

bool NegotiatedMux(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data != nullptr && std::string_view(reinterpret_cast<const char*>(data), len) == mux::kAlpn;
}

// ---- MuxStream ----

MuxStream::MuxStream(MuxSession* session, uint32_t id)
    : session_(session),
      id_(id),
      wake_to_socket_(session->tls_.get_executor()),
      wake_from_socket_(session->tls_.get_executor()) {
  ++session_->live_;
}

MuxStream::~MuxStream() {
  if (--session_->live_ == 0) session_->streams_gone_.cancel();
}

asio::awaitable<MuxStream::Ended> MuxStream::Relay(tcp::socket& socket, RelayCounters counters) {
  if (!reset_) {
    socket_ = &socket;
    counters_ = &counters;
    co_await (FromSocket(counters) && ToSocket(counters));
    socket_ = nullptr;
    counters_ = nullptr;
  }
  if (reset_) {
    error_code ignored;
    socket.close(ignored);
  }
  session_->Forget(id_);
  co_return Ended{!reset_, reset_reason_};
}

// Reads the socket straight into the connection's queue (MuxSession::ReadData): no buffer of
// its own, no copy, and a burst of up to eight frames in one recvmsg. When the socket has nothing,
// waits for it to become readable. A read that returned less than it asked for has most likely
// emptied the socket, but the next read is still made before waiting: an application that
// answers and closes has its EOF behind the answer, and the FIN then leaves with the DATA in one
// record instead of a record and a packet of its own through every hop. A read asks for room for
// twice what the last one brought (all eight frames after a full read), so that small messages
// do not reserve 128 KiB of the queue each.
asio::awaitable<void> MuxStream::FromSocket(RelayCounters& k) {
  const int fd = socket_->native_handle();
  size_t frames = 1;
  for (;;) {
    while (!reset_ && (send_window_ == 0 || session_->Congested())) {
      if (session_->Congested()) session_->blocked_ = true;
      co_await SleepUntilWoken(wake_from_socket_);
    }
    if (reset_) co_return;
    const size_t want = std::min<size_t>(frames * mux::kMaxPayload, send_window_);
    ssize_t n = session_->ReadData(fd, id_, want);
    if (n > 0) {
      const size_t got = static_cast<size_t>(n);
      k.socket_read->fetch_add(got, kRelaxed);
      k.stream_sent->fetch_add(got, kRelaxed);
      send_window_ -= static_cast<uint32_t>(got);
      frames = got < want ? std::clamp<size_t>((2 * got + mux::kMaxPayload - 1) / mux::kMaxPayload,
                                               1, MuxSession::kReadFrames)
                          : MuxSession::kReadFrames;
      continue;
    }
    if (n == 0) {
      session_->Send(mux::FrameType::kFin, id_);
      co_return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Reset("read from the local connection: " + std::string(std::strerror(errno)));
      co_return;
    }
    auto [ec] = co_await socket_->async_wait(tcp::socket::wait_read, kTuple);
    if (reset_) co_return;
    if (ec) {
      Reset("read from the local connection: " + ec.message());
      co_return;
    }
  }
}

asio::awaitable<void> MuxStream::ToSocket(RelayCounters& k) {
  std::string sending;
  for (;;) {
    while (!reset_ && inbox_.empty() && !peer_fin_) co_await SleepUntilWoken(wake_to_socket_);
    if (reset_) co_return;
    if (inbox_.empty()) {  // the peer's FIN, and everything before it written
      error_code ignored;
      socket_->shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    sending.clear();
    sending.swap(inbox_);
    k.stream_received->fetch_add(sending.size(), kRelaxed);
    writing_ = true;
    auto [ec, n] = co_await asio::async_write(*socket_, asio::buffer(sending), kTuple);
    writing_ = false;
    if (reset_) co_return;
    if (ec) {
      Reset("write to the local connection: " + ec.message());
      co_return;
    }
    k.socket_written->fetch_add(n, kRelaxed);
    // A keep-alive stream that once carried a big response should not hold its buffer while idle.
    if (sending.capacity() > 16 * 1024) std::string().swap(sending);
    Consumed(n);
  }
}

void MuxStream::Consumed(size_t n) {
  consumed_ += static_cast<uint32_t>(n);
  if (session_->closed_) return;
  // Half a window consumed: the peer may be about to wait for credit, so it goes now. A quarter:
  // it rides with the next frames the connection sends anyway (in request/response traffic, the
  // next request), so that crediting an answer costs no write and no wake-up at any hop.
  if (consumed_ >= mux::kWindow / 2) {
    Credit();
  } else if (consumed_ >= mux::kWindow / 4 && !credit_due_) {
    credit_due_ = true;
    session_->credit_due_.push_back(id_);
  }
}

void MuxStream::Credit() {
  credit_due_ = false;
  if (consumed_ == 0) return;
  session_->SendWindow(id_, consumed_);
  received_unacked_ -= consumed_;
  consumed_ = 0;
}

void MuxStream::FlushBatch() {
  size_t n = std::exchange(batch_n_, 0);
  if (n == 0 || !CanWriteDirectly()) return;
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += batch_[i].iov_len;
  msghdr msg{};
  msg.msg_iov = batch_.data();
  msg.msg_iovlen = n;
  ssize_t w = ::sendmsg(socket_->native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  size_t written = w > 0 ? static_cast<size_t>(w) : 0;
  if (written > 0) {
    counters_->stream_received->fetch_add(written, kRelaxed);
    counters_->socket_written->fetch_add(written, kRelaxed);
    Consumed(written);
  }
  if (written == total) return;
  // The socket is full (or failed): ToSocket writes the rest, waiting for the socket as any
  // write does, and a failure ends the stream there.
  size_t skip = written;
  for (size_t i = 0; i < n; ++i) {
    const iovec& v = batch_[i];
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    inbox_.append(static_cast<const char*>(v.iov_base) + skip, v.iov_len - skip);
    skip = 0;
  }
  wake_to_socket_.cancel();
}

bool MuxStream::OnData(std::string_view payload, std::string& error) {
  if (peer_fin_) {
    error = "DATA after FIN on stream " + std::to_string(id_);
    return false;
  }
  if (payload.size() > mux::kWindow - received_unacked_) {
    error = "stream " + std::to_string(id_) + " sent past its window of " +
            std::to_string(mux::kWindow) + " bytes";
    return false;
  }
  received_unacked_ += static_cast<uint32_t>(payload.size());
  if (reset_) return true;  // in flight when we reset it
  // While nothing is queued for the socket, the payload stays in the read buffer and goes out
  // with the rest of the batch (FlushBatch): one write per stream and batch, and no copy.
  if (CanWriteDirectly() && batch_n_ == kMaxBatch) FlushBatch();
  if (CanWriteDirectly()) {
    batch_[batch_n_++] = iovec{const_cast<char*>(payload.data()), payload.size()};
    return true;
  }
  inbox_.append(payload);
  wake_to_socket_.cancel();
  return true;
}

bool MuxStream::OnFin(std::string& error) {
  if (peer_fin_) {
    error = "a second FIN on stream " + std::to_string(id_);
    return false;
  }
  peer_fin_ = true;
  wake_to_socket_.cancel();
  return true;
}

bool MuxStream::OnWindow(uint32_t increment, std::string& error) {
  if (uint64_t{send_window_} + increment > mux::kWindow) {
    error = "WINDOW on stream " + std::to_string(id_) + " grows it past " +
            std::to_string(mux::kWindow) + " bytes";
    return false;
  }
  send_window_ += increment;
  wake_from_socket_.cancel();
  return true;
}

void MuxStream::OnReset(std::string reason, bool by_peer) {
  if (reset_) return;
  reset_ = true;
  batch_n_ = 0;
  reset_reason_ = (by_peer ? "reset by the peer: " : "") + std::move(reason);
  if (socket_ != nullptr) {
    error_code ignored;
    socket_->close(ignored);
  }
  wake_to_socket_.cancel();
  wake_from_socket_.cancel();
}

void MuxStream::Reset(std::string_view reason) {
  if (reset_) return;
  if (!session_->closed_) {
    session_->Send(mux::FrameType::kReset, id_,
                   reason.substr(0, std::min<size_t>(reason.size(), 512)));
  }
  OnReset(std::string(reason), false);
  session_->Forget(id_);
}

// ---- MuxSession ----

MuxSession::MuxSession(Tls& tls, Role role, std::string name,
                       std::chrono::steady_clock::duration idle_timeout)
    : tls_(tls),
      role_(role),
      name_(std::move(name)),
      idle_timeout_(idle_timeout),
      idle_since_(std::chrono::steady_clock::now()),
      wake_writer_(tls.get_executor()),
      streams_gone_(tls.get_executor()),
      idle_timer_(tls.get_executor()) {
  tls_.ReadInBursts();
}

MuxSession::~MuxSession() = default;

asio::awaitable<void> MuxSession::Run(OnOpen on_open) {
  co_await (ReadLoop(on_open) && WriteLoop() && IdleLoop());
  Close();
  while (live_ > 0) co_await SleepUntilWoken(streams_gone_);
}

std::shared_ptr<MuxStream> MuxSession::Open() {
  if (!accepting()) return nullptr;
  auto stream = std::make_shared<MuxStream>(this, next_id_);
  streams_[next_id_] = stream;
  Send(mux::FrameType::kOpen, next_id_);
  next_id_ += 2;
  return stream;
}

bool MuxSession::accepting() const {
  return role_ == Role::kClient && !closed_ && !finishing_ && !goaway_sent_ && !goaway_received_ &&
         streams_.size() < kMaxStreams && next_id_ < 0x7fffffffu;
}

void MuxSession::GoAway(std::string_view reason) {
  if (closed_ || goaway_sent_) return;
  goaway_sent_ = true;
  Send(mux::FrameType::kGoAway, 0, reason);
  MaybeFinish();
}

void MuxSession::Close() {
  if (closed_) return;
  closed_ = true;
  if (error_.empty()) error_ = "closed";
  error_code ignored;
  tls_.next_layer().close(ignored);
  // Reset what is left without a frame: there is no connection to send it on.
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->OnReset("connection closed: " + error_, false);
  batched_.clear();
  wake_writer_.cancel();
  idle_timer_.cancel();
}

void MuxSession::Fail(std::string error) {
  if (closed_) return;
  LogWarn(kLog, name_ + ": multiplexed connection closed: protocol error: " + error);
  error_ = "protocol error: " + std::move(error);
  Close();
}

void MuxSession::Send(mux::FrameType type, uint32_t stream, std::string_view payload) {
  if (closed_) return;
  mux::AppendFrame(out_, type, stream, payload);
  wake_writer_.cancel();
}

ssize_t MuxSession::ReadData(int fd, uint32_t stream, size_t most) {
  iovec iov[kReadFrames];
  const size_t frames = std::min(kReadFrames, (most + mux::kMaxPayload - 1) / mux::kMaxPayload);
  const size_t base = out_.size();
  char* p = out_.Grow(frames * mux::kHeaderSize + most);
  size_t left = most;
  for (size_t i = 0; i < frames; ++i) {
    const size_t len = std::min(left, mux::kMaxPayload);
    iov[i] = iovec{p + mux::kHeaderSize, len};
    p += mux::kHeaderSize + len;
    left -= len;
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = frames;
  ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n <= 0 || closed_) {
    out_.Truncate(base);
    return n;
  }
  // A header in front of each chunk the bytes reached; the queue ends behind the last one.
  p = out_.data() + base;
  for (size_t got = static_cast<size_t>(n); got > 0;) {
    const size_t len = std::min(got, mux::kMaxPayload);
    mux::PutHeader(p, mux::FrameType::kData, stream, len);
    p += mux::kHeaderSize + len;
    got -= len;
  }
  out_.Truncate(static_cast<size_t>(p - out_.data()));
  wake_writer_.cancel();
  return n;
}

void MuxSession::SendWindow(uint32_t stream, uint32_t increment) {
  if (closed_) return;
  const size_t before = out_.size();
  mux::AppendWindow(out_, stream, increment);
  out_credit_bytes_ += out_.size() - before;
  wake_writer_.cancel();
}

void MuxSession::AppendDueCredit() {
  for (uint32_t id : credit_due_) {
    auto it = streams_.find(id);
    if (it != streams_.end() && it->second->credit_due_) it->second->Credit();
  }
  credit_due_.clear();
}

void MuxSession::Forget(uint32_t id) {
  if (streams_.erase(id) == 0) return;
  if (streams_.empty()) idle_since_ = std::chrono::steady_clock::now();
  MaybeFinish();
}

void MuxSession::MaybeFinish() {
  if ((goaway_sent_ || goaway_received_) && streams_.empty() && !finishing_) {
    finishing_ = true;
    wake_writer_.cancel();
  }
}

bool MuxSession::Known(uint32_t id) const {
  return role_ == Role::kClient ? id < next_id_ : id <= last_peer_id_;
}

asio::awaitable<void> MuxSession::ReadLoop(OnOpen& on_open) {
  auto buf_ptr = std::make_unique_for_overwrite<uint8_t[]>(kReadBatch);
  std::span<uint8_t> buf(buf_ptr.get(), kReadBatch);
  size_t have = 0;
  while (!closed_) {
    auto [read_ec, n] =
        co_await tls_.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), kTuple);
    error_code ec = read_ec;
    have += n;
    // The rest of a burst is taken before any of it is dispatched: what OpenSSL already holds
    // and, once a read brought a whole record (bulk data), what the socket has too, up to
    // kReadBatch. Each stream's frames of it then reach its socket in one write, and the app
    // behind it wakes once for several answers, not once per TLS record. A small message costs
    // no extra read.
    while (!ec && n > 0 && have < buf.size() &&
           (tls_.HasBuffered() || have >= mux::kMaxPayload)) {
      size_t more = tls_.ReadNow(buf.data() + have, buf.size() - have, ec);
      if (more == 0) break;
      have += more;
    }
    size_t off = 0;
    bool failed = false;
    while (!closed_) {
      mux::DecodeResult r = mux::Decode(std::span<const uint8_t>(buf.data() + off, have - off));
      if (r.kind == mux::DecodeResult::Kind::kNeedMore) break;
      if (r.kind == mux::DecodeResult::Kind::kError) {
        Fail(r.error);
        failed = true;
        break;
      }
      if (!Dispatch(r.frame, on_open)) {
        failed = true;
        break;
      }
      off += r.consumed;
    }
    FlushBatches();  // before the buffer moves: the batches point into it
    if (failed || closed_) co_return;
    std::memmove(buf.data(), buf.data() + off, have - off);
    have -= off;
    if (ec) {
      if (!closed_) {
        error_ = IsEnd(ec) ? "closed by the peer" : ec.message();
        if (have > 0) error_ += " in the middle of a frame";
        Close();
      }
      co_return;
    }
  }
}

bool MuxSession::Dispatch(const mux::Frame& f, OnOpen& on_open) {
  using mux::FrameType;
  std::string error;
  if (f.type == FrameType::kGoAway) {
    goaway_received_ = true;
    MaybeFinish();
    return true;
  }
  if (f.type == FrameType::kOpen) {
    if (role_ != Role::kServer) {
      Fail("OPEN from the server (stream " + std::to_string(f.stream) + ")");
      return false;
    }
    if (f.stream % 2 == 0 || f.stream <= last_peer_id_) {
      Fail("OPEN of stream " + std::to_string(f.stream) + " after stream " +
           std::to_string(last_peer_id_) + " (IDs are odd and increasing)");
      return false;
    }
    last_peer_id_ = f.stream;
    if (goaway_sent_ || streams_.size() >= 4 * kMaxStreams) {
      Send(FrameType::kReset, f.stream,
           goaway_sent_ ? "the connection is going away" : "too many streams");
      return true;
    }
    auto stream = std::make_shared<MuxStream>(this, f.stream);
    streams_[f.stream] = stream;
    if (on_open) on_open(std::move(stream));
    return true;
  }
  auto it = streams_.find(f.stream);
  if (it == streams_.end()) {
    if (Known(f.stream)) return true;  // ended here while the frame was in flight
    Fail(std::string(mux::FrameTypeName(f.type)) + " for stream " + std::to_string(f.stream) +
         ", which was never opened");
    return false;
  }
  std::shared_ptr<MuxStream> s = it->second;  // a reset may Forget it
  bool ok = true;
  switch (f.type) {
    case FrameType::kData:
      ok = s->OnData(f.payload, error);
      if (s->batch_n_ > 0 && !s->batched_) {
        s->batched_ = true;
        batched_.push_back(s);
      }
      break;
    case FrameType::kFin:
      s->FlushBatch();  // the data before the FIN goes out before the socket is shut down
      ok = s->OnFin(error);
      break;
    case FrameType::kWindow: ok = s->OnWindow(f.window_increment, error); break;
    case FrameType::kReset:
      s->OnReset(f.payload.empty() ? "no reason given" : std::string(f.payload), true);
      Forget(f.stream);
      break;
    default: break;
  }
  if (!ok) {
    Fail(error);
    return false;
  }
  return true;
}

void MuxSession::FlushBatches() {
  for (auto& s : batched_) {
    s->batched_ = false;
    s->FlushBatch();
  }
  batched_.clear();
}

asio::awaitable<void> MuxSession::WriteLoop() {
  mux::Bytes sending;
  for (;;) {
    while (!closed_ && out_.empty() && !finishing_) co_await SleepUntilWoken(wake_writer_);
    if (closed_) co_return;
    if (out_.empty()) {  // finishing, and everything sent
      error_ = goaway_sent_ ? "went away" : "the peer went away";
      Close();
      co_return;
    }
    AppendDueCredit();
    if (out_credit_bytes_ == out_.size() && window_only_writes_ != nullptr) {
      window_only_writes_->fetch_add(1, std::memory_order_relaxed);
    }
    out_credit_bytes_ = 0;
    sending.clear();
    sending.swap(out_);
    auto [ec, n] =
        co_await asio::async_write(tls_, asio::buffer(sending.data(), sending.size()), kTuple);
    if (ec) {
      if (!closed_) {
        error_ = "write: " + ec.message();
        Close();
      }
      co_return;
    }
    // A burst can leave `sending` (and, after the next swap, the queue) holding a buffer of a
    // megabyte or more for the session's whole life; most of the time the queue is small.
    if (sending.capacity() > kOutKeep) mux::Bytes().swap(sending);
    if (blocked_ && !Congested()) {
      blocked_ = false;
      for (auto& [id, s] : streams_) s->wake_from_socket_.cancel();
    }
  }
}

asio::awaitable<void> MuxSession::IdleLoop() {
  if (idle_timeout_.count() <= 0) co_return;
  while (!closed_) {
    idle_timer_.expires_after(idle_timeout_ / 2);
    co_await idle_timer_.async_wait(kTuple);
    if (closed_) co_return;
    if (streams_.empty() && std::chrono::steady_clock::now() - idle_since_ >= idle_timeout_) {
      GoAway("idle");
      co_return;
    }
  }
}

}  // namespace gangway::proxy
