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
#include <string_view>

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
  // With `previous` (the running config's) built from the same leaf, roots and ALPN choice, the
  // new one shares its SSL_CTXs, so its session tickets and ticket keys, and the session slots
  // of the clusters both have: a config that changes endpoints, routes or intentions costs no
  // full handshake to a peer already met.
  static Result<std::shared_ptr<const MeshTls>> Build(const Config& config,
                                                      const MeshTls* previous = nullptr);

  SSL_CTX* server() const { return server_.get(); }
  SSL_CTX* client() const { return client_.get(); }

  // Before a client handshake to `cluster`: offers its cached session and arranges for tickets
  // the server sends to be stored for the next connection. `this` must outlive `ssl`.
  void PrepareClient(SSL* ssl, const std::string& cluster) const;

 private:
  std::shared_ptr<SSL_CTX> server_;
  std::shared_ptr<SSL_CTX> client_;
  std::map<std::string, std::shared_ptr<SessionSlot>, std::less<>> sessions_;
  // A SHA-256 of what the contexts were built from (leaf, key, roots, ALPN selection), to know
  // when a next config can share them.
  std::string inputs_;
};

// The first spiffe:// URI SAN of the peer's certificate (also on a resumed session); "" when
// the peer sent no certificate or it has none.
std::string PeerSpiffeId(const SSL* ssl);

// Why the peer's chain on `ssl` did not verify, "" when it did: DescribeVerifyFailure of
// OpenSSL's result and the peer's certificate (kept by the contexts MeshTls builds even when
// verification failed, when OpenSSL itself does not keep it).
std::string PeerVerifyError(const SSL* ssl, std::string_view trust_domain);

// The text of a failed verification, for the refusal's log line. An operator searches for Go's
// words, so a chain that reaches no trusted root reads "x509: certificate signed by unknown
// authority" (an expired one "x509: certificate has expired or is not yet valid"; other results
// keep OpenSSL's text), followed by the trust domain the peer's certificate names (`peer` is its
// SPIFFE ID, or without one its issuer) and `trust_domain`, the one this proxy trusts, and then
// OpenSSL's own words for the result.
std::string DescribeVerifyFailure(long verify_result, std::string_view peer,
                                  std::string_view trust_domain);

// Whether an OpenSSL error code (an asio ssl error's value) says the client sent no certificate.
bool IsNoPeerCertificateError(unsigned long openssl_error);

// Whether an OpenSSL error code says the peer refused our certificate as from an unknown CA (the
// "unknown_ca" alert): the peer trusts other roots than ours.
bool IsUnknownCaAlert(unsigned long openssl_error);

}  // namespace gangway::proxy
