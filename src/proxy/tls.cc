#include "proxy/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "x509/x509.h"

namespace gangway::proxy {
namespace {

int SlotIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Called by OpenSSL for every session (TLS 1.3: every ticket) a server gives a client. The slot
// keeps a copy: `session` stays the connection's live session, and SSL_free marks that one not
// resumable when the connection never sent close_notify, which is how proxied connections
// usually end. Sharing it made every stored ticket unusable by the next connection. The ticket
// itself stays valid: a TLS 1.3 ticket does not depend on how its connection closed.
int OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_ex_data(ssl, SlotIndex()));
  if (slot == nullptr) return 0;
  if (SSL_SESSION* copy = SSL_SESSION_dup(session)) slot->Store(copy);
  return 0;  // OpenSSL keeps (and releases) its reference to `session`
}

std::shared_ptr<SSL_CTX> NewContext(const SSL_METHOD* method) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return nullptr;
  return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
}

Status Configure(SSL_CTX* ctx, const std::vector<x509::Certificate>& chain,
                 const x509::PrivateKey& key, const std::vector<x509::Certificate>& roots) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(ctx, chain[0].native()) != 1) {
    return Internal("leaf: " + x509::DrainOpenSslErrors());
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].native()) != 1) {
      return Internal("leaf chain: " + x509::DrainOpenSslErrors());
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.native()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument("leaf: private key does not match the certificate (" +
                           x509::DrainOpenSslErrors() + ")");
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& root : roots) {
    if (X509_STORE_add_cert(store, root.native()) != 1) {
      // A root listed twice is not an error worth refusing the config for.
      ERR_clear_error();
    }
  }
  return Status::Ok();
}

}  // namespace

SessionSlot::~SessionSlot() {
  if (session_ != nullptr) SSL_SESSION_free(session_);
}

void SessionSlot::Store(SSL_SESSION* session) {
  std::lock_guard lock(mu_);
  if (session_ != nullptr) SSL_SESSION_free(session_);
  session_ = session;
}

SSL_SESSION* SessionSlot::Get() const {
  std::lock_guard lock(mu_);
  if (session_ == nullptr) return nullptr;
  SSL_SESSION_up_ref(session_);
  return session_;
}

Result<std::shared_ptr<const MeshTls>> MeshTls::Build(const Config& config) {
  if (!config.leaf) return InvalidArgument("leaf: required for mTLS listeners and clusters");
  auto chain = x509::ParseCertificatesPem(config.leaf->cert_pem);
  if (!chain.ok()) return InvalidArgument("leaf.cert_pem: " + chain.status().message());
  auto key = x509::ParsePrivateKeyPem(config.leaf->private_key_pem);
  if (!key.ok()) return InvalidArgument("leaf.private_key_pem: " + key.status().message());
  std::vector<x509::Certificate> roots;
  for (size_t i = 0; i < config.roots_pem.size(); ++i) {
    auto certs = x509::ParseCertificatesPem(config.roots_pem[i]);
    if (!certs.ok()) {
      return InvalidArgument("roots_pem[" + std::to_string(i) + "]: " + certs.status().message());
    }
    roots.insert(roots.end(), certs->begin(), certs->end());
  }
  if (roots.empty()) return InvalidArgument("roots_pem: no trusted root");

  auto tls = std::make_shared<MeshTls>();
  tls->server_ = NewContext(TLS_server_method());
  tls->client_ = NewContext(TLS_client_method());
  if (!tls->server_ || !tls->client_) return Internal(x509::DrainOpenSslErrors());
  for (SSL_CTX* ctx : {tls->server_.get(), tls->client_.get()}) {
    Status s = Configure(ctx, *chain, *key, roots);
    if (!s.ok()) return s;
  }

  // Server: a client certificate is required and must chain to a root; the peer may send
  // intermediates (a secondary DC's leaves come with theirs). Resumption needs a session id
  // context once peers are verified, or OpenSSL refuses resumed sessions.
  SSL_CTX_set_verify(tls->server_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  static const unsigned char kContext[] = "gangway-mesh";
  SSL_CTX_set_session_id_context(tls->server_.get(), kContext, sizeof(kContext) - 1);

  // Client: the server's chain must verify; its SPIFFE ID is checked after the handshake.
  SSL_CTX_set_verify(tls->client_.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(tls->client_.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tls->client_.get(), OnNewSession);
  for (const auto& cluster : config.clusters) {
    if (cluster.tls == Cluster::Tls::kOriginate) {
      tls->sessions_.emplace(cluster.name, std::make_unique<SessionSlot>());
    }
  }
  return std::shared_ptr<const MeshTls>(std::move(tls));
}

void MeshTls::PrepareClient(SSL* ssl, const std::string& cluster) const {
  auto it = sessions_.find(cluster);
  if (it == sessions_.end()) return;
  SSL_set_ex_data(ssl, SlotIndex(), it->second.get());
  if (SSL_SESSION* session = it->second->Get()) {
    SSL_set_session(ssl, session);
    SSL_SESSION_free(session);
  }
}

std::string PeerSpiffeId(const SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return {};
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return {};
  std::string id;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && id.empty(); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     static_cast<size_t>(ASN1_STRING_length(uri)));
    if (text.rfind("spiffe://", 0) == 0) id = std::move(text);
  }
  GENERAL_NAMES_free(names);
  return id;
}

std::string PeerVerifyError(const SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

bool IsNoPeerCertificateError(unsigned long openssl_error) {
  return ERR_GET_REASON(openssl_error) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;
}

}  // namespace gangway::proxy
