#include "net/tls.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace gangway::net {

std::unique_ptr<boost::asio::ssl::context> MakeAsioContext(const x509::TlsContext& tls) {
  // asio's context takes ownership of one reference; the TlsContext keeps its own.
  SSL_CTX_up_ref(tls.native());
  return std::make_unique<boost::asio::ssl::context>(tls.native());
}

}  // namespace gangway::net
