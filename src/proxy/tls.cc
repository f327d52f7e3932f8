#include "proxy/tls.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/authz.h"
#include "proxy/mux.h"
#include "proxy/tls_stream.h"
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

// The peer's leaf certificate when its chain failed to verify. On a server OpenSSL drops the
// client's certificate with the failed handshake, yet the refusal should say whose it was.
void FreeLeaf(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
              void* /*argp*/) {
  X509_free(static_cast<X509*>(ptr));
}

int FailedLeafIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeLeaf);
  return index;
}

// Keeps the leaf of the first chain that fails; the verdict stays OpenSSL's.
// Selects gangway-mux/1 when the client offers it; otherwise no protocol at all.
int SelectMux(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
              unsigned int inlen, void*) {
  std::string_view offered(reinterpret_cast<const char*>(in), inlen);
  for (size_t i = 0; i < offered.size();) {
    size_t n = static_cast<unsigned char>(offered[i]);
    if (i + 1 + n > offered.size()) break;
    if (offered.substr(i + 1, n) == mux::kAlpn) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int OnVerify(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok == 1) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (ssl != nullptr && leaf != nullptr && SSL_get_ex_data(ssl, FailedLeafIndex()) == nullptr &&
      X509_up_ref(leaf) == 1) {
    if (SSL_set_ex_data(ssl, FailedLeafIndex(), leaf) != 1) X509_free(leaf);
  }
  return preverify_ok;
}

std::string SpiffeIdOf(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
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

std::string IssuerOf(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string out;
  if (X509_NAME_print_ex(bio, X509_get_issuer_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

constexpr const char* kMeshSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

std::shared_ptr<SSL_CTX> NewContext(const SSL_METHOD* method) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return nullptr;
  return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
}

Status Configure(SSL_CTX* ctx, const std::vector<x509::Certificate>& chain,
                 const x509::PrivateKey& key, const std::vector<x509::Certificate>& roots) {
  // TLS 1.3 suites in the order Envoy (BoringSSL) and Go offer them on hardware with AES
  // instructions: AES-128-GCM first. OpenSSL's default puts AES-256-GCM first, which costs about
  // 13 % more per byte here and buys a mesh of short-lived leaves nothing.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kMeshSuites) != 1 ||
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

Result<std::shared_ptr<const MeshTls>> MeshTls::Build(const Config& config,
                                                      const MeshTls* previous) {
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
  // A public listener whose chains are all plain L4 carries multiplexed streams for clients that
  // ask (docs/mux.md); an HTTP one reads HTTP from each connection, so it selects nothing.
  bool l4 = false;
  bool http = false;
  for (const auto& listener : config.listeners) {
    for (const auto& fc : listener.chains) {
      if (fc.action != FilterChain::Action::kTerminateTls) continue;
      (fc.inbound_http ? http : l4) = true;
    }
  }
  const bool select_mux = l4 && !http;

  auto tls = std::make_shared<MeshTls>();
  // A digest, not a second copy of the key.
  std::string inputs = config.leaf->cert_pem;
  inputs.append(1, '\0').append(config.leaf->private_key_pem);
  for (const auto& pem : config.roots_pem) inputs.append(1, '\0').append(pem);
  inputs.append(1, '\0').push_back(select_mux ? 'm' : '-');
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t digest_len = 0;
  if (EVP_Q_digest(nullptr, "SHA256", nullptr, inputs.data(), inputs.size(), digest,
                   &digest_len) != 1) {
    return Internal(x509::DrainOpenSslErrors());
  }
  OPENSSL_cleanse(inputs.data(), inputs.size());
  tls->inputs_.assign(reinterpret_cast<const char*>(digest), digest_len);
  if (previous != nullptr && previous->inputs_ == tls->inputs_) {
    tls->server_ = previous->server_;
    tls->client_ = previous->client_;
    for (const auto& cluster : config.clusters) {
      if (cluster.tls != Cluster::Tls::kOriginate) continue;
      auto it = previous->sessions_.find(cluster.name);
      tls->sessions_.emplace(cluster.name, it != previous->sessions_.end()
                                               ? it->second
                                               : std::make_shared<SessionSlot>());
    }
    return std::shared_ptr<const MeshTls>(std::move(tls));
  }

  tls->server_ = NewContext(TLS_server_method());
  tls->client_ = NewContext(TLS_client_method());
  if (!tls->server_ || !tls->client_) return Internal(x509::DrainOpenSslErrors());
  for (SSL_CTX* ctx : {tls->server_.get(), tls->client_.get()}) {
    Status s = Configure(ctx, *chain, *key, roots);
    if (!s.ok()) return s;
    // An idle connection holds no record buffers (about 34 KiB each otherwise): most of a
    // proxy's connections are idle between requests.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // A bulk stream seals its own records (docs/proxy.md, "Sealing records").
    TlsStream::PrepareContext(ctx);
  }

  // Server: a client certificate is required and must chain to a root; the peer may send
  // intermediates (a secondary DC's leaves come with theirs). Resumption needs a session id
  // context once peers are verified, or OpenSSL refuses resumed sessions.
  SSL_CTX_set_verify(tls->server_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     OnVerify);
  static const unsigned char kContext[] = "gangway-mesh";
  SSL_CTX_set_session_id_context(tls->server_.get(), kContext, sizeof(kContext) - 1);
  if (select_mux) SSL_CTX_set_alpn_select_cb(tls->server_.get(), SelectMux, nullptr);

  // Client: the server's chain must verify; its SPIFFE ID is checked after the handshake.
  SSL_CTX_set_verify(tls->client_.get(), SSL_VERIFY_PEER, OnVerify);
  SSL_CTX_set_session_cache_mode(tls->client_.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tls->client_.get(), OnNewSession);
  for (const auto& cluster : config.clusters) {
    if (cluster.tls == Cluster::Tls::kOriginate) {
      tls->sessions_.emplace(cluster.name, std::make_shared<SessionSlot>());
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
  return SpiffeIdOf(peer);
}

std::string PeerVerifyError(const SSL* ssl, std::string_view trust_domain) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  auto* leaf = static_cast<X509*>(SSL_get_ex_data(ssl, FailedLeafIndex()));
  if (leaf == nullptr) leaf = SSL_get0_peer_certificate(ssl);
  std::string peer;
  if (leaf != nullptr) {
    peer = SpiffeIdOf(leaf);
    if (peer.empty()) peer = IssuerOf(leaf);
  }
  return DescribeVerifyFailure(result, peer, trust_domain);
}

std::string DescribeVerifyFailure(long verify_result, std::string_view peer,
                                  std::string_view trust_domain) {
  std::string openssl = X509_verify_cert_error_string(verify_result);
  std::string out;
  switch (verify_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      out = "x509: certificate signed by unknown authority";
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      out = "x509: certificate has expired or is not yet valid";
      break;
    default:
      out = openssl;
      openssl.clear();
  }
  std::string_view peer_td = TrustDomainOf(peer);
  if (peer.empty()) {
    out += ": the peer's certificate could not be read";
  } else if (peer_td.empty()) {
    out += ": the peer's certificate has no SPIFFE ID (issuer \"" + std::string(peer) + "\")";
  } else if (SameTrustDomain(peer_td, trust_domain)) {
    out += ": the peer's certificate " + std::string(peer) + " names trust domain " +
           std::string(peer_td) + ", as this proxy does, but no root it trusts signed it";
  } else {
    out += ": the peer's certificate " + std::string(peer) + " is from trust domain " +
           std::string(peer_td) + ", this proxy trusts trust domain " + std::string(trust_domain);
  }
  if (!openssl.empty()) out += " (" + openssl + ")";
  return out;
}

bool IsNoPeerCertificateError(unsigned long openssl_error) {
  return ERR_GET_REASON(openssl_error) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;
}

bool IsUnknownCaAlert(unsigned long openssl_error) {
  return ERR_GET_REASON(openssl_error) == SSL_R_TLSV1_ALERT_UNKNOWN_CA;
}

}  // namespace gangway::proxy
