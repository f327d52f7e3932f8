// Fuzz target for the parts of a CSR its self-signature protects: ParseCsrDer reads the
// subject and the attributes (extension request, SANs) only once the signature verifies, which
// mutated requests never do. Here the input is put in a request and signed with a key made at
// start-up: if the first byte is even, the rest is the attributes' contents; if odd, the subject
// Name. Beyond "no crash": what parses has only valid SANs, parses again from its own DER, and
// OpenSSL reads the same SANs from it.
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "x509/der.h"
#include "x509/x509.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

using x509::der::Tlv;

struct Signer {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string spki = [this] {
    unsigned char* der = nullptr;
    int n = i2d_PUBKEY(key, &der);
    Check(n > 0);
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
  }();

  std::string Sign(const std::string& info) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char sig[80];
    size_t len = sizeof sig;
    Check(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
          EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(info.data()),
                         info.size()) == 1);
    EVP_MD_CTX_free(ctx);
    const std::string ecdsa_sha256 = Tlv(0x30, Tlv(0x06, "\x2a\x86\x48\xce\x3d\x04\x03\x02"));
    return Tlv(0x30, info + ecdsa_sha256 +
                         Tlv(0x03, std::string(1, '\0') + std::string(reinterpret_cast<char*>(sig), len)));
  }
};

// The SANs as OpenSSL reads them from the same request; false when it cannot.
bool OpenSslSans(const std::string& der, x509::Sans* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (req == nullptr) return false;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  bool ok = exts != nullptr;
  for (int i = 0; ok && i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    ok = names != nullptr;
    for (int k = 0; ok && k < sk_GENERAL_NAME_num(names); ++k) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, k);
      if (g->type != GEN_DNS && g->type != GEN_URI && g->type != GEN_IPADD) {
        ok = false;  // a kind we refuse: we did not read it as OpenSSL does
        break;
      }
      const ASN1_STRING* s = g->d.ia5;  // DNS and URI: IA5String; IP: OCTET STRING
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<size_t>(ASN1_STRING_length(s)));
      char ip[INET6_ADDRSTRLEN] = {};
      if (g->type == GEN_DNS) out->dns.push_back(v);
      else if (g->type == GEN_URI) out->uris.push_back(v);
      else if (g->type == GEN_IPADD && v.size() == 4) out->ips.push_back(inet_ntop(AF_INET, v.data(), ip, sizeof ip));
      else if (g->type == GEN_IPADD && v.size() == 16) out->ips.push_back(inet_ntop(AF_INET6, v.data(), ip, sizeof ip));
      else ok = false;
    }
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Signer signer;
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string cn_web =
      Tlv(0x30, Tlv(0x31, Tlv(0x30, Tlv(0x06, "\x55\x04\x03") + Tlv(0x0c, "web"))));
  const bool subject = (data[0] & 1) != 0;
  const std::string info = Tlv(0x30, std::string("\x02\x01\x00", 3) + (subject ? rest : cn_web) +
                                         signer.spki + Tlv(0xa0, subject ? "" : rest));
  const std::string der = signer.Sign(info);

  auto csr = x509::ParseCsrDer(der);
  if (!csr.ok()) return 0;
  const x509::Sans& sans = csr->sans();
  Check(csr->Info().sans.dns == sans.dns && csr->Info().sans.uris == sans.uris);
  auto again = x509::ParseCsrDer(csr->ToDer());
  Check(again.ok() && again->sans().dns == sans.dns && again->sans().uris == sans.uris &&
        again->sans().ips == sans.ips && again->common_name() == csr->common_name());
  auto pem = x509::ParseCsrPem(csr->ToPem());
  Check(pem.ok() && pem->ToDer() == der);
  x509::Sans theirs;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  // OpenSSL parses attribute values we leave alone and may refuse those; when it reads the
  // request, it must read the same SANs.
  if (req != nullptr) {
    X509_REQ_free(req);
    Check(OpenSslSans(der, &theirs));
    Check(theirs.dns == sans.dns && theirs.uris == sans.uris && theirs.ips == sans.ips);
  }
  return 0;
}
