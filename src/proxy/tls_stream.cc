#include "proxy/tls_stream.h"

#include <sys/socket.h>

#include <stdexcept>

#include <boost/asio/error.hpp>

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

}  // namespace

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
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

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
