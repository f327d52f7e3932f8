#include "proxy/tls_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include <boost/asio/error.hpp>

#include "proxy/segment.h"

namespace gangway::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a connection the peer has
// reset. This one is that BIO with send(MSG_NOSIGNAL) for writes; reads, fd handling and the
// rest are the socket BIO's own.
int SendNoSignal(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  ssize_t n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (n <= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(b);
  }
  return static_cast<int>(n);
}

BIO_METHOD* SocketMethod() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "socket (send without SIGPIPE)");
    if (m == nullptr) throw std::runtime_error("BIO_meth_new failed");
    BIO_meth_set_write(m, SendNoSignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

int ExIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The records of one burst, sealed before they are sent: one buffer per thread, as every stream
// of an event loop seals and sends within a step and keeps only what the socket did not take.
constexpr size_t kSealedRecord = RecordSealer::kMaxPlaintext + RecordSealer::kOverhead;

// Sends what the socket takes now of `data` (stopping at EAGAIN); how much that was. A failed
// socket sets `ec`.
size_t SendNow(int fd, const uint8_t* data, size_t size, error_code& ec) {
  size_t sent = 0;
  while (sent < size) {
    ssize_t k = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = error_code(errno, asio::error::get_system_category());
      }
      break;
    }
    sent += static_cast<size_t>(k);
  }
  return sent;
}

uint8_t* SealScratch() {
  constexpr size_t kSize = TlsStream::kSealBurst * kSealedRecord;
  thread_local std::unique_ptr<uint8_t[]> buf;
  if (!buf) buf = std::make_unique_for_overwrite<uint8_t[]>(kSize);
  return buf.get();
}

}  // namespace

void TlsStream::PrepareContext(SSL_CTX* ctx) {
  SSL_CTX_set_keylog_callback(ctx, &TlsStream::OnKeyLog);
}

// OpenSSL hands every secret of the handshake to the key log as NSS's SSLKEYLOGFILE line:
// "<label> <client random in hex> <secret in hex>". The stream keeps its own direction's first
// application traffic secret, and only until it seals or is gone.
void TlsStream::OnKeyLog(const SSL* ssl, const char* line) {
  auto* s = static_cast<TlsStream*>(SSL_get_ex_data(ssl, ExIndex()));
  if (s == nullptr) return;
  std::string_view l(line);
  const std::string_view label =
      SSL_is_server(ssl) ? "SERVER_TRAFFIC_SECRET_0 " : "CLIENT_TRAFFIC_SECRET_0 ";
  if (!l.starts_with(label)) return;
  l.remove_prefix(label.size());
  size_t space = l.find(' ');
  if (space == std::string_view::npos) return;
  l.remove_prefix(space + 1);
  if (l.size() % 2 != 0 || l.size() / 2 > s->secret_.size()) return;
  for (size_t i = 0; i < l.size() / 2; ++i) {
    int hi = HexDigit(l[2 * i]);
    int lo = HexDigit(l[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(s->secret_.data(), s->secret_.size());
      return;
    }
    s->secret_[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  s->secret_len_ = l.size() / 2;
}

// Every message OpenSSL sends. Before the take-over it only counts KeyUpdates (each moves
// OpenSSL's key one generation on); after, OpenSSL writes into a null BIO and what it meant to
// send is sealed here: an alert, or its KeyUpdate in answer to the peer's request, after which
// the sealer moves to the next key as OpenSSL did.
//
// A KeyUpdate that asks for one in return is answered by OpenSSL at its next write, which never
// comes once the stream seals: the stream answers it before its next record instead (RFC 8446
// §4.6.3).
void TlsStream::OnMessage(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                          void* arg) {
  auto* s = static_cast<TlsStream*>(arg);
  const auto* p = static_cast<const uint8_t*>(buf);
  const bool key_update =
      content_type == SSL3_RT_HANDSHAKE && len >= 1 && p[0] == SSL3_MT_KEY_UPDATE;
  if (write_p != 1) {
    if (key_update && len >= 5 && p[4] == SSL_KEY_UPDATE_REQUESTED && s->state_ == Seal::kSealing) {
      s->answer_key_update_ = true;
    }
    return;
  }
  if (s->state_ != Seal::kSealing) {
    if (key_update) ++s->key_updates_sent_;
    return;
  }
  if (content_type != SSL3_RT_ALERT && content_type != SSL3_RT_HANDSHAKE) return;
  s->SealAside(static_cast<uint8_t>(content_type), p, len);
  if (key_update && !s->broken_ && !s->sealer_->Update()) s->broken_ = true;
  // Sent now unless a write waits for the socket (it sends them in order); what the socket does
  // not take goes with the next write.
  if (!s->writing_) {
    error_code ignored;
    s->Flush(ignored);
  }
}

TlsStream::TlsStream(next_layer_type& socket, asio::ssl::context& ctx)
    : socket_(socket), ssl_(SSL_new(ctx.native_handle())) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
  // As Asio's stream sets them: a write may finish after some whole records, and its retry may
  // pass the same bytes from another address. The record buffers go back while idle.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  // Read what the socket has (up to a record buffer) in one call, not a record's header and
  // then its body.
  SSL_set_read_ahead(ssl_, 1);
  if (SSL_CTX_get_keylog_callback(ctx.native_handle()) == &TlsStream::OnKeyLog) {
    SSL_set_ex_data(ssl_, ExIndex(), this);
    SSL_set_msg_callback(ssl_, &TlsStream::OnMessage);
    SSL_set_msg_callback_arg(ssl_, this);
  } else {
    state_ = Seal::kNever;
  }
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

TlsStream::Next TlsStream::WriteStep(Outgoing& w, error_code& ec, size_t& n) {
  if (!attached_) Attach();
  n = 0;
  if ((state_ == Seal::kNotYet && w.size > RecordSealer::kMaxPlaintext) ||
      state_ == Seal::kUpdating) {
    Next next = TakeOver(ec, n);
    if (next != Next::kDone || ec) return next;
  }
  if (state_ != Seal::kSealing) return WriteThroughOpenSsl(w, ec, n);
  for (;;) {
    if (broken_) {
      ec = error_code(EPROTO, asio::error::get_system_category());
      writing_ = false;
      return Next::kDone;
    }
    Next next = Flush(ec);
    if (next == Next::kWaitWrite) {
      writing_ = true;
      return next;
    }
    writing_ = false;
    if (ec) return Next::kDone;
    if (w.sealed > 0) {
      n = w.sealed;
      return Next::kDone;
    }
    if (!SealBurst(w, ec)) broken_ = true;
    if (ec) return Next::kDone;
    if (unsent_off_ < unsent_.size()) {
      writing_ = true;
      return Next::kWaitWrite;
    }
  }
}

TlsStream::Next TlsStream::WriteThroughOpenSsl(const Outgoing& w, error_code& ec, size_t& n) {
  return Step(
      [ssl = ssl_, &w](size_t* out) {
        size_t total = 0;
        for (;;) {
          size_t k = 0;
          int r = SSL_write_ex(ssl, w.data + total, w.size - total, &k);
          if (r != 1) {
            if (total == 0) return r;
            break;
          }
          total += k;
          if (total == w.size) break;
        }
        *out = total;
        return 1;
      },
      ec, n);
}

TlsStream::Next TlsStream::TakeOver(error_code& ec, size_t& n) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  if (state_ == Seal::kNotYet) {
    const SSL_SESSION* session = SSL_get_session(ssl_);
    if (secret_len_ == 0 || SSL_version(ssl_) != TLS1_3_VERSION || cipher == nullptr ||
        !RecordSealer::Seals(SSL_CIPHER_get_id(cipher)) || SSL_is_init_finished(ssl_) != 1 ||
        (session != nullptr &&
         SSL_SESSION_get_max_fragment_length(session) != TLSEXT_max_fragment_length_DISABLED)) {
      state_ = Seal::kNever;
      return Next::kDone;
    }
    ERR_clear_error();
    if (SSL_key_update(ssl_, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
      // A record OpenSSL has begun to send must go first: try again at the next write.
      bool retry = ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_BAD_WRITE_RETRY;
      ERR_clear_error();
      if (!retry) state_ = Seal::kNever;
      return Next::kDone;
    }
    state_ = Seal::kUpdating;
  }
  // OpenSSL sends the KeyUpdate under its key; everything after it goes under the next one,
  // with sequence numbers from 0, which the stream derives from the secret it logged.
  Next next = Step([ssl = ssl_](size_t*) { return SSL_do_handshake(ssl); }, ec, n);
  n = 0;
  if (next != Next::kDone || ec) return next;
  std::unique_ptr<RecordSealer> sealer =
      RecordSealer::Create(SSL_CIPHER_get_id(cipher), std::span(secret_.data(), secret_len_));
  for (int i = 0; sealer != nullptr && i < key_updates_sent_; ++i) {
    if (!sealer->Update()) sealer.reset();
  }
  OPENSSL_cleanse(secret_.data(), secret_.size());
  secret_len_ = 0;
  BIO* sink = sealer != nullptr ? BIO_new(BIO_s_null()) : nullptr;
  if (sink == nullptr) {
    // OpenSSL writes on, under the key it has just moved to.
    state_ = Seal::kNever;
    return Next::kDone;
  }
  SSL_set0_wbio(ssl_, sink);
  sealer_ = std::move(sealer);
  state_ = Seal::kSealing;
  return Next::kDone;
}

bool TlsStream::SealBurst(Outgoing& w, error_code& ec) {
  static constexpr uint8_t kKeyUpdate[] = {SSL3_MT_KEY_UPDATE, 0, 0, 1,
                                           SSL_KEY_UPDATE_NOT_REQUESTED};
  uint8_t* out = SealScratch();
  size_t len = 0;
  // Whole records, as many as one chunk of segments holds (at least one): three on the
  // loopback. A burst a little over a segment sends its tail as a segment of its own, paced
  // and waking each hop for it; filling the segment with a cut record gained nothing
  // (bench/RESULTS.md, M5).
  const int fd = static_cast<int>(socket_.native_handle());
  const size_t records = std::clamp<size_t>(SegmentChunk(fd) / kSealedRecord, 1, kSealBurst);
  // A KeyUpdate takes a record's place.
  for (size_t i = 0; w.sealed < w.size && i < records; ++i) {
    if (sealer_->KeyWornOut() || answer_key_update_) {
      answer_key_update_ = false;
      size_t m = sealer_->Seal(RecordSealer::kHandshake, kKeyUpdate, out + len);
      if (m == 0 || !sealer_->Update()) return false;
      len += m;
      continue;
    }
    size_t k = std::min(w.size - w.sealed, RecordSealer::kMaxPlaintext);
    size_t m = sealer_->Seal(RecordSealer::kApplicationData, {w.data + w.sealed, k}, out + len);
    if (m == 0) return false;
    len += m;
    w.sealed += k;
  }
  size_t sent = SendNow(fd, out, len, ec);
  // Sealed is committed: what the socket did not take goes before anything sealed later.
  if (!ec && sent < len) unsent_.insert(unsent_.end(), out + sent, out + len);
  return true;
}

TlsStream::Next TlsStream::Flush(error_code& ec) {
  const int fd = static_cast<int>(socket_.native_handle());
  unsent_off_ += SendNow(fd, unsent_.data() + unsent_off_, unsent_.size() - unsent_off_, ec);
  if (ec) return Next::kDone;
  if (unsent_off_ < unsent_.size()) return Next::kWaitWrite;
  // Records wait here only when the socket is full; a proxy with many connections that once
  // were would otherwise keep a burst's worth of memory in each.
  std::vector<uint8_t>().swap(unsent_);
  unsent_off_ = 0;
  return Next::kDone;
}

void TlsStream::SealAside(uint8_t type, const uint8_t* data, size_t size) {
  while (!broken_) {
    size_t k = std::min(size, RecordSealer::kMaxPlaintext);
    size_t at = unsent_.size();
    unsent_.resize(at + k + RecordSealer::kOverhead);
    size_t m = sealer_->Seal(type, {data, k}, unsent_.data() + at);
    unsent_.resize(at + m);
    if (m == 0) broken_ = true;
    data += k;
    size -= k;
    if (size == 0) break;
  }
}

void TlsStream::Attach() {
  attached_ = true;
  error_code ec;
  socket_.native_non_blocking(true, ec);
  // Without BIO_CLOSE: the descriptor stays the socket's.
  BIO* bio = BIO_new(SocketMethod());
  if (bio == nullptr) throw std::runtime_error("BIO_new failed");
  BIO_set_fd(bio, static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
}

TlsStream::Next TlsStream::Failed(int ssl_error, int sys, error_code& ec) {
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
      return Next::kWaitRead;
    case SSL_ERROR_WANT_WRITE:
      return Next::kWaitWrite;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      ec = asio::error::eof;
      return Next::kDone;
    case SSL_ERROR_SYSCALL:
      if (unsigned long e = ERR_get_error(); e != 0) {
        ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      } else if (sys != 0) {
        ec = error_code(sys, asio::error::get_system_category());
      } else {
        ec = asio::ssl::error::stream_truncated;
      }
      return Next::kDone;
    case SSL_ERROR_SSL:
    default: {
      unsigned long e = ERR_get_error();
      // OpenSSL 3 reports a peer that closed without close_notify as this error.
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = asio::ssl::error::stream_truncated;
      } else {
        ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      }
      ERR_clear_error();
      return Next::kDone;
    }
  }
}

}  // namespace gangway::proxy
