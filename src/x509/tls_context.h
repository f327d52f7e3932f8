// Agent TLS (RPC, HTTPS) as OpenSSL SSL_CTXs: loads and checks the configured CA, certificate and
// key files, applies verify_incoming / verify_outgoing / verify_server_hostname and the minimum
// version, and turns verification failures into the messages Go (and so Consul) users know.
// Free of Asio so it can be tested over memory BIOs; net/tls.h wraps a context for Asio streams.
// A built TlsContext is immutable and may be shared by any number of threads.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "x509/x509.h"

namespace gangway::x509 {

// One of the agent's tls blocks, already merged (tls.<listener> over tls.defaults over the
// legacy top-level keys).
struct TlsSettings {
  std::string ca_file;
  std::string ca_path;
  std::string cert_file;
  std::string key_file;
  bool verify_incoming = false;        // servers: require a client certificate signed by the CA
  bool verify_outgoing = false;        // clients: verify the server's certificate
  bool verify_server_hostname = false; // clients: and require the expected server name in it
  std::string tls_min_version;         // TLSv1_0 .. TLSv1_3 (also tls10 .. tls13); "" = TLSv1_2
};

// The files of a TlsSettings, read and checked.
struct TlsMaterial {
  std::vector<Certificate> cas;  // trusted CAs
  std::string ca_source;         // where they came from, for messages ("/etc/consul/ca.pem")
  Certificate cert;              // our certificate ...
  std::vector<Certificate> chain;  // ... the rest of cert_file (intermediates)
  PrivateKey key;
};

// Reads the files. Errors name the setting and file: "Failed to read ca_file: open /x: No such
// file or directory", "Failed to load cert/key pair: tls: private key does not match public key
// (cert_file /a, key_file /b)".
Result<std::shared_ptr<const TlsMaterial>> LoadTlsMaterial(const TlsSettings& settings);

enum class TlsRole { kServer, kClient };

class TlsContext {
 public:
  TlsContext() = default;
  bool valid() const { return ctx_ != nullptr; }
  SSL_CTX* native() const { return ctx_.get(); }
  const TlsSettings& settings() const { return settings_; }
  const TlsMaterial& material() const { return *material_; }
  std::shared_ptr<const TlsMaterial> shared_material() const { return material_; }

 private:
  friend Result<TlsContext> BuildTlsContext(const TlsSettings&, TlsRole);
  std::shared_ptr<SSL_CTX> ctx_;
  TlsSettings settings_;
  std::shared_ptr<const TlsMaterial> material_;
};

// Server: presents cert/key (required); with verify_incoming, requires and verifies a client
// certificate (a CA is then required). Client: presents cert/key when configured; with
// verify_outgoing, verifies the server against the CA (the system's roots when none is set).
Result<TlsContext> BuildTlsContext(const TlsSettings& settings, TlsRole role);

// Per connection, on the client: SNI and, when `check_name`, the name (DNS or IP) the server's
// certificate must carry. SNI is not sent for IP literals.
Status PrepareClientSsl(SSL* ssl, const std::string& server_name, bool check_name);

// The name a server's certificate must carry for internal RPC: server.<dc>.<domain>.
std::string RpcServerName(const std::string& datacenter, const std::string& domain = "consul");

// After a failed handshake on `ssl`: the reason as Go's crypto/tls words it, e.g.
// "tls: failed to verify certificate: x509: certificate signed by unknown authority (...)",
// "tls: client didn't provide a certificate", "remote error: tls: bad certificate".
// `openssl_reason` is the handshake's error text (an asio error_code's message()).
std::string HandshakeFailureMessage(const SSL* ssl, const std::string& openssl_reason);

// The verification failure recorded on `ssl` during its handshake ("" when none): the x509 text
// alone, without the "tls: failed to verify certificate: " prefix.
std::string VerifyFailure(const SSL* ssl);

}  // namespace gangway::x509
