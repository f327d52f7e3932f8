// The mesh TLS of one config: an SSL_CTX for public listeners (mTLS server with the leaf) and
// one for upstream clusters (mTLS client with the leaf), both trusting exactly roots_pem, built
// once per config and shared by every worker; plus the client session cache that lets sidecars
// resume instead of paying a full handshake (~1.2 ms CPU) per connection. No Asio here.
// Immutable after Build() except the session slots, which lock; any thread.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "proxy/config/config.h"

namespace gangway::proxy {

// The last session ticket an upstream cluster's server gave us.
class SessionSlot {
 public:
  SessionSlot() = default;
  SessionSlot(const SessionSlot&) = delete;
  SessionSlot& operator=(const SessionSlot&) = delete;
  ~SessionSlot();

  void Store(SSL_SESSION* session);  // takes ownership
  SSL_SESSION* Get() const;          // a new reference, or nullptr

 private:
  mutable std::mutex mu_;
  SSL_SESSION* session_ = nullptr;
};

class MeshTls {
 public:
  // Requires config.leaf. Errors name what failed to load ("leaf: ...", "roots_pem[1]: ...").
  static Result<std::shared_ptr<const MeshTls>> Build(const Config& config);

  SSL_CTX* server() const { return server_.get(); }
  SSL_CTX* client() const { return client_.get(); }

  // Before a client handshake to `cluster`: offers its cached session and arranges for tickets
  // the server sends to be stored for the next connection. `this` must outlive `ssl`.
  void PrepareClient(SSL* ssl, const std::string& cluster) const;

 private:
  std::shared_ptr<SSL_CTX> server_;
  std::shared_ptr<SSL_CTX> client_;
  std::map<std::string, std::unique_ptr<SessionSlot>, std::less<>> sessions_;
};

// The first spiffe:// URI SAN of the peer's certificate (also on a resumed session); "" when
// the peer sent no certificate or it has none.
std::string PeerSpiffeId(const SSL* ssl);

// OpenSSL's verification result of the peer's chain on `ssl`, as text; "" when it verified.
std::string PeerVerifyError(const SSL* ssl);

// Whether an OpenSSL error code (an asio ssl error's value) says the client sent no certificate.
bool IsNoPeerCertificateError(unsigned long openssl_error);

}  // namespace gangway::proxy
