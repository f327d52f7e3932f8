// Agent TLS on Asio streams: wraps an x509::TlsContext (an SSL_CTX built from the agent's tls
// settings) as a boost::asio::ssl::context for asio::ssl::stream / beast::ssl_stream. Any thread;
// the returned context shares the immutable SSL_CTX.
//
// After a failed handshake on a stream `s` with error `ec`, the user-facing reason is
// x509::HandshakeFailureMessage(s.native_handle(), ec.message()).
#pragma once

#include <memory>

#include "x509/tls_context.h"

namespace boost::asio::ssl {
class context;
}

namespace gangway::net {

std::unique_ptr<boost::asio::ssl::context> MakeAsioContext(const x509::TlsContext& tls);

}  // namespace gangway::net
