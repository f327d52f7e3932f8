// An mTLS connection with OpenSSL working the socket itself: SSL reads and writes the
// non-blocking descriptor, and the stream only waits for readiness through Asio when OpenSSL
// asks to (WANT_READ / WANT_WRITE).
//
// In place of boost::asio::ssl::stream, which runs OpenSSL over a BIO pair and copies every byte
// through two buffers of its own: a connection then holds four 17 KiB buffers (two in the stream,
// two in the BIO pair) for its whole life, and each byte is copied twice more per direction.
// Here OpenSSL's own record buffers are the only ones, and SSL_MODE_RELEASE_BUFFERS frees them
// while the connection is idle.
//
// The same interface as the Asio stream where the proxy uses it (async_handshake,
// async_read_some, async_write_some, native_handle, next_layer, get_executor), the same error
// codes (asio::error::eof on close_notify, ssl::error::stream_truncated on an EOF without it,
// the ssl category for OpenSSL's errors), and a read and a write may be in flight at once (the
// two directions of a relay). Writes take the first non-empty buffer of a sequence, as Asio's
// stream does. One thread: the socket's executor.
//
// Once a TLS 1.3 connection writes more than a record at once, the stream seals its records
// itself (docs/proxy.md, "Sealing records"): it moves the connection to a fresh key with a
// KeyUpdate, takes over the write side, and hands the kernel a segment's worth of records in
// one send(2), each encrypted straight from the caller's buffer. OpenSSL keeps the handshake and
// the reading side; what it still wants to send (an alert, its answer to the peer's KeyUpdate)
// is sealed by the stream in its place.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>

#include "proxy/tls_record.h"

namespace gangway::proxy {

class TlsStream {
 public:
  using next_layer_type = boost::asio::ip::tcp::socket;
  using lowest_layer_type = next_layer_type;
  using executor_type = next_layer_type::executor_type;
  // OpenSSL's read-ahead buffer: four records of 16 KiB with their headers and tags.
  static constexpr size_t kReadBuffer = 4 * (16 * 1024 + 5 + 256);

  // Records sealed into one send(2) at most: as many as a 64 KiB chunk of segments holds.
  static constexpr size_t kSealBurst = 3;

  // Lets streams on `ctx` seal their own records (it learns each connection's traffic
  // secrets); a stream on a context without it leaves every write to OpenSSL.
  static void PrepareContext(SSL_CTX* ctx);

  // The socket must outlive the stream; it is used from the first operation on.
  TlsStream(next_layer_type& socket, boost::asio::ssl::context& ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  SSL* native_handle() { return ssl_; }
  next_layer_type& next_layer() { return socket_; }
  lowest_layer_type& lowest_layer() { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }

  template <typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    if (!attached_) Attach();
    if (type == boost::asio::ssl::stream_base::client) {
      SSL_set_connect_state(ssl_);
    } else {
      SSL_set_accept_state(ssl_);
    }
    auto step = [this](boost::system::error_code& ec, size_t& n) {
      return Step([ssl = ssl_](size_t*) { return SSL_do_handshake(ssl); }, ec, n);
    };
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        Op<decltype(step), false>{this, step}, token, socket_);
  }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer b = First(buffers);
    auto step = [this, b](boost::system::error_code& ec, size_t& n) {
      return Step([ssl = ssl_, b](size_t* k) { return SSL_read_ex(ssl, b.data(), b.size(), k); },
                  ec, n);
    };
    return Transfer(step, b.size() == 0, std::forward<Token>(token));
  }

  // One non-blocking read, for a reader whose own read has just completed (no read in flight):
  // what OpenSSL or the socket has now, or 0 with `ec` clear when nothing has arrived yet. For
  // taking the rest of a burst before acting on its first record.
  size_t ReadNow(void* data, size_t size, boost::system::error_code& ec) {
    auto call = [ssl = ssl_, data, size](size_t* n) { return SSL_read_ex(ssl, data, size, n); };
    size_t n = 0;
    ec = {};
    if (Step(call, ec, n) != Next::kDone) return 0;
    return n;
  }

  // Whether OpenSSL holds bytes read from the socket that no read has returned yet.
  bool HasBuffered() const { return SSL_has_pending(ssl_) == 1; }

  // Reads up to four records per read(2) from now on, for a reader that takes a burst whole
  // (ReadNow). OpenSSL allocates the buffer while a read is under way and frees it once it is
  // empty (SSL_MODE_RELEASE_BUFFERS), so an idle connection holds none.
  void ReadInBursts() { SSL_set_default_read_buffer_len(ssl_, kReadBuffer); }

  // Writes from the first buffer as much as the socket takes now. A sealing stream encrypts the
  // whole records one chunk of TCP segments holds (SegmentChunk, at most kSealBurst) and sends
  // them at once; it completes when the socket has taken every record it sealed, and the result
  // is the plaintext they hold. Otherwise OpenSSL writes one record per send(2): with partial
  // writes on, SSL_write_ex moves one record per call, and looping here makes a burst one
  // completion, not one completion (and one trip through the event loop) per record. When a
  // record does not go, what went is the result, and the next write resumes with the same
  // bytes, as OpenSSL requires.
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    boost::asio::const_buffer b = First(buffers);
    auto step = [this, w = Outgoing{static_cast<const uint8_t*>(b.data()), b.size()}](
                    boost::system::error_code& ec, size_t& n) mutable {
      return WriteStep(w, ec, n);
    };
    return Transfer(step, b.size() == 0, std::forward<Token>(token));
  }

  // Whether the stream seals its own records (it has taken over the write side).
  bool Sealing() const { return state_ == Seal::kSealing; }
  // The sealer, for tests that move the key on early; null until Sealing().
  RecordSealer* sealer() { return sealer_.get(); }

 private:
  // A read or a write: `step` moves the bytes; `empty` when there are none to move.
  template <typename Stepper, typename Token>
  auto Transfer(Stepper step, bool empty, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        Op<Stepper, true>{this, step, empty}, token, socket_);
  }

  enum class Next { kDone, kWaitRead, kWaitWrite };

  // The plaintext of one async_write_some, and how much of it has been sealed.
  struct Outgoing {
    const uint8_t* data;
    size_t size;
    size_t sealed = 0;
  };
  enum class Seal { kNotYet, kUpdating, kSealing, kNever };

  Next WriteStep(Outgoing& w, boost::system::error_code& ec, size_t& n);
  Next WriteThroughOpenSsl(const Outgoing& w, boost::system::error_code& ec, size_t& n);
  // Moves the connection to the next key and the write side to the stream; kDone when that is
  // over or will not happen (state_ says which).
  Next TakeOver(boost::system::error_code& ec, size_t& n);
  // Seals the records of `w` one chunk of segments holds and sends them; what the socket did
  // not take waits in unsent_. False when the cipher failed.
  bool SealBurst(Outgoing& w, boost::system::error_code& ec);
  // Sends unsent_; kDone when it is empty or the socket failed (ec), kWaitWrite when full.
  Next Flush(boost::system::error_code& ec);
  // Seals onto unsent_ the records of a message OpenSSL sent into the void.
  void SealAside(uint8_t type, const uint8_t* data, size_t size);
  static void OnKeyLog(const SSL* ssl, const char* line);
  static void OnMessage(int write_p, int version, int content_type, const void* buf, size_t len,
                        SSL* ssl, void* arg);

  // Runs one SSL call; kDone with ec and n set, or the readiness to wait for before trying again.
  template <typename Call>
  Next Step(Call&& call, boost::system::error_code& ec, size_t& n) {
    if (!attached_) Attach();
    ERR_clear_error();
    size_t done = 0;
    int r = call(&done);
    int sys = errno;
    if (r == 1) {
      ec = {};
      n = done;
      return Next::kDone;
    }
    n = 0;
    return Failed(SSL_get_error(ssl_, r), sys, ec);
  }
  Next Failed(int ssl_error, int sys, boost::system::error_code& ec);
  void Attach();

  template <typename Buffers>
  static auto First(const Buffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      if (boost::asio::buffer_size(*it) > 0) return *it;
    }
    using B = std::decay_t<decltype(*it)>;
    return B{};
  }

  // One operation, re-entered after each readiness wait. A result found in the initiating call
  // is handed over through a post, so that no handler runs inside the initiation.
  template <typename Stepper, bool kSized>
  struct Op {
    TlsStream* s;
    Stepper step;
    bool empty = false;  // a zero-length read or write: done at once
    bool started = false;
    bool finished = false;
    boost::system::error_code ec;
    size_t n = 0;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code wait_ec = {}) {
      if (finished) return Complete(self);
      bool initiating = !started;
      started = true;
      if (wait_ec) {
        ec = wait_ec;
        n = 0;
      } else if (!empty) {
        switch (step(ec, n)) {
          case Next::kWaitRead:
            return s->socket_.async_wait(next_layer_type::wait_read, std::move(self));
          case Next::kWaitWrite:
            return s->socket_.async_wait(next_layer_type::wait_write, std::move(self));
          case Next::kDone:
            break;
        }
      }
      if (!initiating) return Complete(self);
      finished = true;
      auto ex = s->socket_.get_executor();
      boost::asio::post(ex, std::move(self));
    }

    template <typename Self>
    void Complete(Self& self) {
      if constexpr (kSized) {
        self.complete(ec, n);
      } else {
        self.complete(ec);
      }
    }
  };

  next_layer_type& socket_;
  SSL* ssl_;
  bool attached_ = false;

  // Sealing: the state of the take-over, this side's first application traffic secret (from
  // the key log) and how many KeyUpdates OpenSSL has sent since, then the sealer and the
  // sealed bytes the socket has not taken yet.
  Seal state_ = Seal::kNotYet;
  std::array<uint8_t, EVP_MAX_MD_SIZE> secret_{};
  size_t secret_len_ = 0;
  int key_updates_sent_ = 0;
  std::unique_ptr<RecordSealer> sealer_;
  std::vector<uint8_t> unsent_;
  size_t unsent_off_ = 0;
  bool writing_ = false;            // a write waits for the socket
  bool answer_key_update_ = false;  // the peer asked for a KeyUpdate
  bool broken_ = false;             // sealing failed; every write fails
};

}  // namespace gangway::proxy
