#include "x509/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "core/strings.h"

namespace gangway::x509 {

namespace {

// ex_data slots: the material on each SSL_CTX (for messages), the first verification failure on
// each SSL.
void FreeMaterial(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::shared_ptr<const TlsMaterial>*>(ptr);
}
void FreeString(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}
int CtxMaterialIndex() {
  static int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeMaterial);
  return idx;
}
int SslFailureIndex() {
  static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeString);
  return idx;
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<int> MinVersion(const std::string& v) {
  std::string l = ToLower(v);
  if (l.empty() || l == "tlsv1_2" || l == "tls12") return TLS1_2_VERSION;
  if (l == "tlsv1_3" || l == "tls13") return TLS1_3_VERSION;
  if (l == "tlsv1_1" || l == "tls11") return TLS1_1_VERSION;
  if (l == "tlsv1_0" || l == "tls10") return TLS1_VERSION;
  return InvalidArgument("tls_min_version: unsupported value \"" + v +
                         "\" (use TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3)");
}

int VerifyCallback(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok == 1) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr || SSL_get_ex_data(ssl, SslFailureIndex()) != nullptr) return 0;
  int err = X509_STORE_CTX_get_error(store);
  std::vector<Certificate> chain;
  if (STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(store)) {
    for (int i = 0; i < sk_X509_num(built); ++i) {
      X509* c = sk_X509_value(built, i);
      X509_up_ref(c);
      chain.emplace_back(c);
    }
  }
  if (chain.empty()) {
    if (X509* c = X509_STORE_CTX_get0_cert(store)) {
      X509_up_ref(c);
      chain.emplace_back(c);
    }
  }
  std::vector<Certificate> roots;
  std::string source;
  auto* material = static_cast<std::shared_ptr<const TlsMaterial>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CtxMaterialIndex()));
  if (material != nullptr && *material) {
    roots = (*material)->cas;
    source = (*material)->ca_source;
  }
  std::string wanted;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store);
  if (const char* host = X509_VERIFY_PARAM_get0_host(param, 0)) wanted = host;
  if (wanted.empty()) {
    if (char* ip = X509_VERIFY_PARAM_get1_ip_asc(param)) {
      wanted = ip;
      OPENSSL_free(ip);
    }
  }
  if (err == X509_V_ERR_IP_ADDRESS_MISMATCH) err = X509_V_ERR_HOSTNAME_MISMATCH;
  SSL_set_ex_data(ssl, SslFailureIndex(),
                  new std::string(RenderVerifyError(err, chain, roots, source, wanted)));
  return 0;
}

Status ReadCaDir(const std::string& dir, std::vector<Certificate>* out) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  if (ec) return InvalidArgument("Failed to read ca_path: open " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto text = ReadFile(f.string());
    if (!text.ok()) return InvalidArgument("Failed to read ca_path: " + text.status().message());
    auto certs = ParseCertificatesPem(*text);
    if (!certs.ok()) continue;  // like Go's AppendCertsFromPEM: non-certificates are skipped
    for (auto& c : *certs) out->push_back(std::move(c));
  }
  if (out->empty()) {
    return InvalidArgument("Failed to read ca_path: no CA certificates found in " + dir);
  }
  return Status::Ok();
}

}  // namespace

std::string RpcServerName(const std::string& datacenter, const std::string& domain) {
  std::string d = domain;
  while (!d.empty() && d.back() == '.') d.pop_back();
  return "server." + datacenter + "." + d;
}

Result<std::shared_ptr<const TlsMaterial>> LoadTlsMaterial(const TlsSettings& s) {
  auto m = std::make_shared<TlsMaterial>();
  if (!s.ca_file.empty()) {
    auto text = ReadFile(s.ca_file);
    if (!text.ok()) return InvalidArgument("Failed to read ca_file: " + text.status().message());
    auto certs = ParseCertificatesPem(*text);
    if (!certs.ok()) {
      return InvalidArgument("Failed to parse ca_file " + s.ca_file + ": " +
                             certs.status().message());
    }
    m->cas = std::move(*certs);
    m->ca_source = s.ca_file;
  }
  if (!s.ca_path.empty()) {
    if (Status st = ReadCaDir(s.ca_path, &m->cas); !st.ok()) return st;
    m->ca_source = m->ca_source.empty() ? s.ca_path : m->ca_source + " and " + s.ca_path;
  }
  if (s.cert_file.empty() != s.key_file.empty()) {
    return InvalidArgument(s.cert_file.empty()
                               ? "key_file " + s.key_file + " is set but cert_file is not"
                               : "cert_file " + s.cert_file + " is set but key_file is not");
  }
  if (!s.cert_file.empty()) {
    auto cert_text = ReadFile(s.cert_file);
    if (!cert_text.ok()) {
      return InvalidArgument("Failed to load cert/key pair: " + cert_text.status().message());
    }
    auto certs = ParseCertificatesPem(*cert_text);
    if (!certs.ok()) {
      return InvalidArgument("Failed to load cert/key pair: cert_file " + s.cert_file + ": " +
                             certs.status().message());
    }
    auto key_text = ReadFile(s.key_file);
    if (!key_text.ok()) {
      return InvalidArgument("Failed to load cert/key pair: " + key_text.status().message());
    }
    auto key = ParsePrivateKeyPem(*key_text);
    if (!key.ok()) {
      return InvalidArgument("Failed to load cert/key pair: key_file " + s.key_file + ": " +
                             key.status().message());
    }
    m->cert = (*certs)[0];
    m->chain.assign(certs->begin() + 1, certs->end());
    m->key = std::move(*key);
    if (!KeyMatchesCertificate(m->key, m->cert)) {
      return InvalidArgument(
          "Failed to load cert/key pair: tls: private key does not match public key (cert_file " +
          s.cert_file + ", key_file " + s.key_file + ")");
    }
  }
  return std::shared_ptr<const TlsMaterial>(std::move(m));
}

Result<TlsContext> BuildTlsContext(const TlsSettings& s, TlsRole role) {
  auto version = MinVersion(s.tls_min_version);
  if (!version.ok()) return version.status();
  auto material = LoadTlsMaterial(s);
  if (!material.ok()) return material.status();
  const TlsMaterial& m = **material;
  bool server = role == TlsRole::kServer;
  if (server && !m.cert.valid()) {
    return InvalidArgument("TLS on this listener needs cert_file and key_file");
  }
  if (server && s.verify_incoming && m.cas.empty()) {
    return InvalidArgument("verify_incoming is set but no ca_file or ca_path is configured");
  }
  if (!server && s.verify_server_hostname && m.cas.empty()) {
    return InvalidArgument("verify_server_hostname is set but no ca_file or ca_path is configured");
  }

  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()),
                               SSL_CTX_free);
  if (!ctx) return Internal("SSL_CTX_new: " + DrainOpenSslErrors());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, *version);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (m.cert.valid()) {
    if (SSL_CTX_use_certificate(c, m.cert.native()) != 1 ||
        SSL_CTX_use_PrivateKey(c, m.key.native()) != 1) {
      return InvalidArgument("Failed to load cert/key pair (cert_file " + s.cert_file +
                             "): " + DrainOpenSslErrors());
    }
    for (const auto& inter : m.chain) SSL_CTX_add1_chain_cert(c, inter.native());
  }
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  for (const auto& ca : m.cas) X509_STORE_add_cert(store, ca.native());
  if (server) {
    // Client certificates are named after the CAs we trust in the CertificateRequest.
    if (s.verify_incoming) {
      STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
      for (const auto& ca : m.cas) {
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.native())));
      }
      SSL_CTX_set_client_CA_list(c, names);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
      SSL_CTX_set_session_id_context(c, reinterpret_cast<const unsigned char*>("gangway"), 7);
    } else {
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    }
  } else {
    if (m.cas.empty()) SSL_CTX_set_default_verify_paths(c);
    SSL_CTX_set_verify(c, s.verify_outgoing || s.verify_server_hostname ? SSL_VERIFY_PEER
                                                                        : SSL_VERIFY_NONE,
                       VerifyCallback);
  }
  ERR_clear_error();
  SSL_CTX_set_ex_data(c, CtxMaterialIndex(),
                      new std::shared_ptr<const TlsMaterial>(*material));
  TlsContext out;
  out.ctx_ = std::move(ctx);
  out.settings_ = s;
  out.material_ = *material;
  return out;
}

Status PrepareClientSsl(SSL* ssl, const std::string& server_name, bool check_name) {
  if (!server_name.empty() && !IsIp(server_name)) {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
  }
  if (check_name && !server_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    int ok = IsIp(server_name) ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
    if (ok != 1) {
      return InvalidArgument("invalid TLS server name \"" + server_name + "\": " +
                             DrainOpenSslErrors());
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  return Status::Ok();
}

std::string VerifyFailure(const SSL* ssl) {
  if (ssl == nullptr) return "";
  auto* msg = static_cast<std::string*>(SSL_get_ex_data(ssl, SslFailureIndex()));
  return msg != nullptr ? *msg : "";
}

std::string HandshakeFailureMessage(const SSL* ssl, const std::string& openssl_reason) {
  std::string failure = VerifyFailure(ssl);
  if (!failure.empty()) return "tls: failed to verify certificate: " + failure;
  std::string r = ToLower(openssl_reason);
  auto has = [&](const char* s) { return r.find(s) != std::string::npos; };
  if (has("peer did not return a certificate")) return "tls: client didn't provide a certificate";
  if (has("alert certificate required")) return "remote error: tls: certificate required";
  if (has("alert bad certificate")) return "remote error: tls: bad certificate";
  if (has("alert unknown ca")) return "remote error: tls: unknown certificate authority";
  if (has("alert handshake failure")) return "remote error: tls: handshake failure";
  if (has("alert protocol version") || has("unsupported protocol")) {
    return "tls: protocol version not supported";
  }
  if (has("wrong version number") || has("packet length too long") || has("http request")) {
    return "tls: first record does not look like a TLS handshake";
  }
  if (ssl != nullptr) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
      return std::string("tls: failed to verify certificate: x509: ") +
             X509_verify_cert_error_string(v);
    }
  }
  return "tls: " + (openssl_reason.empty() ? std::string("handshake failed") : openssl_reason);
}

}  // namespace gangway::x509
