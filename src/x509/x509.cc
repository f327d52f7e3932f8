#include "x509/x509.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace gangway::x509 {

namespace {

constexpr size_t kMaxInput = 1 << 20;  // no certificate, key or CSR is anywhere near 1 MiB

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct GenNamesFree {
  void operator()(GENERAL_NAMES* g) const { GENERAL_NAMES_free(g); }
};
using GenNamesPtr = std::unique_ptr<GENERAL_NAMES, GenNamesFree>;

BioPtr MemBio(std::string_view s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string BioString(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::shared_ptr<EVP_PKEY> WrapKey(EVP_PKEY* k) { return {k, EVP_PKEY_free}; }

std::string Asn1String(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string NameOneLine(const X509_NAME* name) {
  BioPtr b(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(b.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return BioString(b.get());
}

std::string NameEntry(const X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

Time FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return Time{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string GoTime(Time t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ValidDnsName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '*' || c == '_')) return false;
  }
  return true;
}

bool ValidUri(const std::string& s) {
  if (s.empty() || s.size() > 2048) return false;
  size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!(std::isalnum(c) || c == '+' || c == '-' || c == '.') || (i == 0 && !std::isalpha(c))) {
      return false;
    }
  }
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Textual IP -> 4 or 16 raw bytes; "" when not an IP.
std::string IpBytes(const std::string& s) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return "";
}

std::string IpText(const ASN1_OCTET_STRING* o) {
  std::string raw = Asn1String(o);
  char buf[INET6_ADDRSTRLEN] = {};
  if (raw.size() == 4) inet_ntop(AF_INET, raw.data(), buf, sizeof buf);
  else if (raw.size() == 16) inet_ntop(AF_INET6, raw.data(), buf, sizeof buf);
  else return "<invalid IP of " + std::to_string(raw.size()) + " bytes>";
  return buf;
}

Status ValidateSans(const Sans& sans) {
  for (const auto& d : sans.dns) {
    if (!ValidDnsName(d)) return InvalidArgument("invalid DNS name in SAN: \"" + d + "\"");
  }
  for (const auto& ip : sans.ips) {
    if (IpBytes(ip).empty()) return InvalidArgument("invalid IP address in SAN: \"" + ip + "\"");
  }
  for (const auto& u : sans.uris) {
    if (!ValidUri(u)) return InvalidArgument("invalid URI in SAN: \"" + u + "\"");
  }
  return Status::Ok();
}

GENERAL_NAME* MakeName(int type, std::string_view value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_STRING* s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
  GENERAL_NAME_set0_value(gn, type, s);
  return gn;
}

GenNamesPtr BuildSans(const Sans& sans) {
  GenNamesPtr names(GENERAL_NAMES_new());
  for (const auto& d : sans.dns) sk_GENERAL_NAME_push(names.get(), MakeName(GEN_DNS, d));
  for (const auto& ip : sans.ips) sk_GENERAL_NAME_push(names.get(), MakeName(GEN_IPADD, IpBytes(ip)));
  for (const auto& u : sans.uris) sk_GENERAL_NAME_push(names.get(), MakeName(GEN_URI, u));
  return names;
}

// Reads SANs; an unsupported kind of name is an error when `strict`.
Status ReadSans(const GENERAL_NAMES* names, Sans* out, bool strict) {
  if (names == nullptr) return Status::Ok();
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    void* v = GENERAL_NAME_get0_value(gn, &type);
    switch (type) {
      case GEN_DNS: out->dns.push_back(Asn1String(static_cast<ASN1_IA5STRING*>(v))); break;
      case GEN_URI: out->uris.push_back(Asn1String(static_cast<ASN1_IA5STRING*>(v))); break;
      case GEN_IPADD: out->ips.push_back(IpText(static_cast<ASN1_OCTET_STRING*>(v))); break;
      default:
        if (strict) {
          static const char* kNames[] = {"otherName", "email", "DNS", "x400Address", "dirName",
                                         "ediPartyName", "URI", "IP", "registeredID"};
          std::string kind = type >= 0 && type <= 8 ? kNames[type] : std::to_string(type);
          return InvalidArgument("unsupported Subject Alternative Name of type " + kind +
                                 " (only DNS, IP and URI names are accepted)");
        }
    }
  }
  return Status::Ok();
}

Status SetSubject(X509_NAME* name, const Subject& s) {
  std::pair<const char*, const std::string*> fields[] = {
      {"C", &s.country},        {"postalCode", &s.postal_code}, {"ST", &s.province},
      {"L", &s.locality},       {"street", &s.street_address},  {"O", &s.organization},
      {"OU", &s.organizational_unit}, {"CN", &s.common_name}};
  for (auto [field, value] : fields) {
    if (value->empty()) continue;
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value->data()),
                                   static_cast<int>(value->size()), -1, 0) != 1) {
      return InvalidArgument(std::string("invalid subject ") + field + " \"" + *value +
                             "\": " + DrainOpenSslErrors());
    }
  }
  return Status::Ok();
}

KeySpec SpecOf(EVP_PKEY* k) {
  KeySpec spec;
  if (k == nullptr) return spec;
  spec.type = EVP_PKEY_is_a(k, "RSA") ? KeyType::kRsa : KeyType::kEc;
  spec.bits = EVP_PKEY_get_bits(k);
  return spec;
}

Status CheckKeyKind(EVP_PKEY* k, const char* what) {
  if (k == nullptr) return InvalidArgument(std::string(what) + ": no public key");
  if (!EVP_PKEY_is_a(k, "EC") && !EVP_PKEY_is_a(k, "RSA")) {
    return InvalidArgument(std::string(what) + ": unsupported key type " +
                           EVP_PKEY_get0_type_name(k) + " (only EC and RSA keys are accepted)");
  }
  if (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) < 2048) {
    return InvalidArgument(std::string(what) + ": RSA key of " +
                           std::to_string(EVP_PKEY_get_bits(k)) + " bits is too weak (minimum 2048)");
  }
  return Status::Ok();
}

std::string RandomSerial() {
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof buf) != 1) return "";
  buf[0] &= 0x7f;  // positive, as Go's rand.Int(2^128) is
  if (buf[0] == 0) buf[0] = 1;
  return std::string(reinterpret_cast<char*>(buf), sizeof buf);
}

Status AddExt(X509* cert, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return Internal(std::string("adding ") + OBJ_nid2sn(nid) + ": " + DrainOpenSslErrors());
  }
  return Status::Ok();
}

Status AddConfExt(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return InvalidArgument(std::string("invalid ") + OBJ_nid2sn(nid) + " \"" + value +
                           "\": " + DrainOpenSslErrors());
  }
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : Internal(DrainOpenSslErrors());
}

Status AddKeyId(X509* cert, int nid, const std::string& id) {
  if (nid == NID_subject_key_identifier) {
    ASN1_OCTET_STRING* o = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(o, reinterpret_cast<const unsigned char*>(id.data()),
                          static_cast<int>(id.size()));
    Status s = AddExt(cert, nid, o, false);
    ASN1_OCTET_STRING_free(o);
    return s;
  }
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  akid->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(akid->keyid, reinterpret_cast<const unsigned char*>(id.data()),
                        static_cast<int>(id.size()));
  Status s = AddExt(cert, nid, akid, false);
  AUTHORITY_KEYID_free(akid);
  return s;
}

std::string RawKeyId(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return "";
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(der, static_cast<size_t>(n), md, &len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return std::string(reinterpret_cast<char*>(md), len);
}

// Everything common to CA and leaf certificates, up to (not including) the signature.
Result<std::shared_ptr<X509>> BuildCert(EVP_PKEY* public_key, const Subject& subject,
                                        const X509_NAME* issuer_name, Time not_before,
                                        std::chrono::hours validity, std::string serial) {
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  if (serial.empty()) serial = RandomSerial();
  if (serial.empty()) return Internal("reading random serial: " + DrainOpenSslErrors());
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (validity.count() <= 0) return InvalidArgument("validity must be positive");
  std::time_t nb = std::chrono::system_clock::to_time_t(not_before);
  std::time_t na = std::chrono::system_clock::to_time_t(not_before + validity);
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), nb) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), na) == nullptr) {
    return InvalidArgument("validity out of range");
  }
  if (Status s = CheckKeyKind(public_key, "public key"); !s.ok()) return s;
  X509_set_pubkey(cert.get(), public_key);
  if (Status s = SetSubject(X509_get_subject_name(cert.get()), subject); !s.ok()) return s;
  X509_set_issuer_name(cert.get(), issuer_name != nullptr ? issuer_name
                                                          : X509_get_subject_name(cert.get()));
  return cert;
}

Status AddCaExtensions(X509* cert, int path_len, const std::vector<std::string>& permitted) {
  std::string bc = "critical,CA:TRUE";
  if (path_len >= 0) bc += ",pathlen:" + std::to_string(path_len);
  if (Status s = AddConfExt(cert, NID_basic_constraints, bc); !s.ok()) return s;
  if (Status s = AddConfExt(cert, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
      !s.ok()) {
    return s;
  }
  if (!permitted.empty()) {
    std::string nc = "critical";
    for (const auto& d : permitted) {
      if (!ValidDnsName(d)) return InvalidArgument("invalid name constraint \"" + d + "\"");
      nc += ",permitted;DNS:" + d;
    }
    if (Status s = AddConfExt(cert, NID_name_constraints, nc); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) {
    return Internal("signing the certificate: " + DrainOpenSslErrors());
  }
  return Status::Ok();
}

// Splits PEM text into (type, DER) blocks.
struct PemBlock {
  std::string type;
  std::string der;
};
Result<std::vector<PemBlock>> PemBlocks(std::string_view pem) {
  if (pem.size() > kMaxInput) return InvalidArgument("input too large");
  std::vector<PemBlock> out;
  BioPtr bio = MemBio(pem);
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
    out.push_back({name, std::string(reinterpret_cast<char*>(data), static_cast<size_t>(len))});
    bool encrypted = header != nullptr && std::strstr(header, "ENCRYPTED") != nullptr;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (encrypted) return InvalidArgument("encrypted PEM blocks are not supported");
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) return InvalidArgument("no PEM-encoded data found");
  return out;
}

}  // namespace

namespace {
// strerror as Go's syscall.Errno prints it: lower-case first letter.
std::string GoErrno(int e) {
  std::string s = std::strerror(e);
  if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) &&
      std::islower(static_cast<unsigned char>(s[1]))) {
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  }
  return s;
}
}  // namespace

std::string DrainOpenSslErrors(const std::string& fallback) {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(e);
    std::string r = reason != nullptr ? reason : ("error " + std::to_string(ERR_GET_REASON(e)));
    if (out.find(r) != std::string::npos) continue;
    if (!out.empty()) out += ": ";
    out += r;
  }
  return out.empty() ? fallback : out;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("open " + path + ": " + GoErrno(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return InvalidArgument("read " + path + ": " + GoErrno(errno));
  return ss.str();
}

std::string ColonHex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ':';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string KeyId(EVP_PKEY* key) { return ColonHex(RawKeyId(key)); }

std::string RandomSerialNumber() { return RandomSerial(); }

std::string SerialDecimal(std::string_view raw) {
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()),
                         static_cast<int>(raw.size()), nullptr);
  if (bn == nullptr) return "";
  char* dec = BN_bn2dec(bn);
  std::string out = dec != nullptr ? dec : "";
  OPENSSL_free(dec);
  BN_free(bn);
  return out;
}

// --- PrivateKey --------------------------------------------------------------------------------

PrivateKey::PrivateKey(EVP_PKEY* key) : key_(WrapKey(key)) {}

KeySpec PrivateKey::spec() const { return SpecOf(key_.get()); }

std::string PrivateKey::ToPem() const {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey_traditional(b.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(b.get());
}

std::string PrivateKey::PublicKeyPem() const {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(b.get(), key_.get());
  return BioString(b.get());
}

Result<PrivateKey> GenerateKey(const KeySpec& spec) {
  EVP_PKEY* k = nullptr;
  if (spec.type == KeyType::kEc) {
    const char* curve = spec.bits == 224   ? "P-224"
                        : spec.bits == 256 ? "P-256"
                        : spec.bits == 384 ? "P-384"
                        : spec.bits == 521 ? "P-521"
                                           : nullptr;
    if (curve == nullptr) {
      return InvalidArgument("unsupported EC key size " + std::to_string(spec.bits) +
                             " (224, 256, 384 or 521)");
    }
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  } else {
    if (spec.bits != 2048 && spec.bits != 3072 && spec.bits != 4096) {
      return InvalidArgument("unsupported RSA key size " + std::to_string(spec.bits) +
                             " (2048, 3072 or 4096)");
    }
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(spec.bits));
  }
  if (k == nullptr) return Internal("error generating private key: " + DrainOpenSslErrors());
  return PrivateKey(k);
}

Result<PrivateKey> ParsePrivateKeyPem(std::string_view pem) {
  auto blocks = PemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  const PemBlock* found = nullptr;
  for (const auto& b : *blocks) {
    if (b.type == "EC PRIVATE KEY" || b.type == "RSA PRIVATE KEY" || b.type == "PRIVATE KEY") {
      found = &b;
      break;
    }
    if (b.type == "ENCRYPTED PRIVATE KEY") {
      return InvalidArgument("encrypted private keys are not supported");
    }
  }
  if (found == nullptr) {
    return InvalidArgument("unknown PEM block type for signing key: " + (*blocks)[0].type);
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(found->der.data());
  EVP_PKEY* k = nullptr;
  if (found->type == "EC PRIVATE KEY") {
    k = d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, static_cast<long>(found->der.size()));
  } else if (found->type == "RSA PRIVATE KEY") {
    k = d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(found->der.size()));
  } else {
    k = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(found->der.size()));
  }
  if (k == nullptr) {
    return InvalidArgument("malformed " + found->type + ": " + DrainOpenSslErrors());
  }
  PrivateKey key(k);
  if (Status s = CheckKeyKind(k, "private key"); !s.ok()) return s;
  return key;
}

// --- Certificate -------------------------------------------------------------------------------

Certificate::Certificate(X509* cert) : cert_(cert, X509_free) {}

std::string Certificate::ToPem() const {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert_.get());
  return BioString(b.get());
}

std::string Certificate::ToDer() const {
  unsigned char* der = nullptr;
  int n = i2d_X509(cert_.get(), &der);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

CertInfo Certificate::Info() const {
  CertInfo info;
  X509* c = cert_.get();
  if (c == nullptr) return info;
  info.subject = NameOneLine(X509_get_subject_name(c));
  info.common_name = NameEntry(X509_get_subject_name(c), NID_commonName);
  info.issuer = NameOneLine(X509_get_issuer_name(c));
  info.issuer_common_name = NameEntry(X509_get_issuer_name(c), NID_commonName);
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), nullptr)) {
    std::string raw(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(raw.data()));
    info.serial = ColonHex(raw);
    char* dec = BN_bn2dec(bn);
    if (dec != nullptr) info.serial_decimal = dec;
    OPENSSL_free(dec);
    BN_free(bn);
  }
  info.not_before = FromAsn1Time(X509_get0_notBefore(c));
  info.not_after = FromAsn1Time(X509_get0_notAfter(c));
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr));
  (void)ReadSans(names, &info.sans, false);
  GENERAL_NAMES_free(names);
  if (auto* bc = static_cast<BASIC_CONSTRAINTS*>(
          X509_get_ext_d2i(c, NID_basic_constraints, nullptr, nullptr))) {
    info.is_ca = bc->ca != 0;
    if (bc->pathlen != nullptr) info.path_len = static_cast<int>(ASN1_INTEGER_get(bc->pathlen));
    BASIC_CONSTRAINTS_free(bc);
  }
  if (const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(c)) {
    info.subject_key_id = ColonHex(Asn1String(skid));
  }
  if (const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(c)) {
    info.authority_key_id = ColonHex(Asn1String(akid));
  }
  uint32_t xku = X509_get_extended_key_usage(c);
  if (X509_get_extension_flags(c) & EXFLAG_XKUSAGE) {
    info.server_auth = (xku & XKU_SSL_SERVER) != 0;
    info.client_auth = (xku & XKU_SSL_CLIENT) != 0;
  }
  if (auto* nc = static_cast<NAME_CONSTRAINTS*>(
          X509_get_ext_d2i(c, NID_name_constraints, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); ++i) {
      GENERAL_SUBTREE* st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
      if (st->base->type == GEN_DNS) {
        info.permitted_dns_domains.push_back(Asn1String(st->base->d.dNSName));
      }
    }
    NAME_CONSTRAINTS_free(nc);
  }
  info.key = SpecOf(X509_get0_pubkey(c));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(c, EVP_sha1(), md, &len) == 1) {
    info.fingerprint_sha1 = ColonHex(std::string_view(reinterpret_cast<char*>(md), len));
  }
  ERR_clear_error();
  return info;
}

Result<Certificate> ParseCertificateDer(std::string_view der) {
  if (der.size() > kMaxInput) return InvalidArgument("input too large");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* c = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (c == nullptr) return InvalidArgument("x509: malformed certificate: " + DrainOpenSslErrors());
  Certificate cert(c);
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return InvalidArgument("x509: trailing data after the certificate");
  }
  return cert;
}

Result<std::vector<Certificate>> ParseCertificatesPem(std::string_view pem) {
  auto blocks = PemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  std::vector<Certificate> out;
  for (const auto& b : *blocks) {
    if (b.type != "CERTIFICATE") continue;
    auto c = ParseCertificateDer(b.der);
    if (!c.ok()) return c.status();
    out.push_back(std::move(*c));
  }
  if (out.empty()) {
    return InvalidArgument("first PEM-block should be CERTIFICATE type, got " +
                           (*blocks)[0].type);
  }
  return out;
}

Result<Certificate> ParseCertificatePem(std::string_view pem) {
  auto blocks = PemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  if ((*blocks)[0].type != "CERTIFICATE") {
    return InvalidArgument("first PEM-block should be CERTIFICATE type, got " +
                           (*blocks)[0].type);
  }
  return ParseCertificateDer((*blocks)[0].der);
}

Result<Certificate> CreateCA(const PrivateKey& key, const CAOptions& o) {
  if (!key.valid()) return InvalidArgument("no CA key");
  if (o.subject.common_name.empty()) return InvalidArgument("a CA needs a common name");
  Sans sans{.uris = o.uris};
  if (Status s = ValidateSans(sans); !s.ok()) return s;
  auto built = BuildCert(key.native(), o.subject, nullptr,
                         o.not_before.value_or(std::chrono::system_clock::now()), o.validity,
                         o.serial);
  if (!built.ok()) return built.status();
  X509* c = built->get();
  if (Status s = AddCaExtensions(c, o.path_len, o.permitted_dns_domains); !s.ok()) return s;
  std::string id = RawKeyId(key.native());
  if (Status s = AddKeyId(c, NID_subject_key_identifier, id); !s.ok()) return s;
  if (Status s = AddKeyId(c, NID_authority_key_identifier, id); !s.ok()) return s;
  if (!o.uris.empty()) {
    GenNamesPtr names = BuildSans(sans);
    if (Status s = AddExt(c, NID_subject_alt_name, names.get(), false); !s.ok()) return s;
  }
  if (Status s = Sign(c, key.native()); !s.ok()) return s;
  X509_up_ref(c);
  return Certificate(c);
}

Result<Certificate> SignCertificate(EVP_PKEY* public_key, const CertOptions& o,
                                    const Certificate& issuer, const PrivateKey& issuer_key) {
  if (!issuer.valid() || !issuer_key.valid()) return InvalidArgument("no issuer");
  if (!KeyMatchesCertificate(issuer_key, issuer)) {
    return InvalidArgument("the CA key does not match the CA certificate");
  }
  CertInfo ca = issuer.Info();
  if (!ca.is_ca) return InvalidArgument("the issuer \"" + ca.common_name + "\" is not a CA");
  if (Status s = ValidateSans(o.sans); !s.ok()) return s;
  auto built = BuildCert(public_key, o.subject, X509_get_subject_name(issuer.native()),
                         o.not_before.value_or(std::chrono::system_clock::now()), o.validity,
                         o.serial);
  if (!built.ok()) return built.status();
  X509* c = built->get();
  if (o.is_ca) {
    if (Status s = AddCaExtensions(c, o.path_len, o.permitted_dns_domains); !s.ok()) return s;
  } else {
    if (Status s = AddConfExt(c, NID_basic_constraints, "critical,CA:FALSE"); !s.ok()) return s;
    if (Status s = AddConfExt(c, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        !s.ok()) {
      return s;
    }
  }
  if (o.server_auth || o.client_auth) {
    std::string eku;
    if (o.server_auth) eku = "serverAuth";
    if (o.client_auth) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
    if (Status s = AddConfExt(c, NID_ext_key_usage, eku); !s.ok()) return s;
  }
  if (Status s = AddKeyId(c, NID_subject_key_identifier, RawKeyId(public_key)); !s.ok()) return s;
  if (const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(issuer.native())) {
    if (Status s = AddKeyId(c, NID_authority_key_identifier, Asn1String(skid)); !s.ok()) return s;
  }
  if (!o.sans.empty()) {
    GenNamesPtr names = BuildSans(o.sans);
    // Critical when the subject is empty (RFC 5280 4.2.1.6).
    bool critical = o.subject.common_name.empty() && o.subject.organization.empty();
    if (Status s = AddExt(c, NID_subject_alt_name, names.get(), critical); !s.ok()) return s;
  }
  if (Status s = Sign(c, issuer_key.native()); !s.ok()) return s;
  X509_up_ref(c);
  return Certificate(c);
}

bool KeyMatchesCertificate(const PrivateKey& key, const Certificate& cert) {
  if (!key.valid() || !cert.valid()) return false;
  EVP_PKEY* pub = X509_get0_pubkey(cert.native());
  bool ok = pub != nullptr && EVP_PKEY_eq(pub, key.native()) == 1;
  ERR_clear_error();
  return ok;
}

// --- CSRs --------------------------------------------------------------------------------------

Csr::Csr(X509_REQ* req) : req_(req, X509_REQ_free) {}

EVP_PKEY* Csr::public_key() const { return X509_REQ_get0_pubkey(req_.get()); }

std::string Csr::ToPem() const {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(b.get(), req_.get());
  return BioString(b.get());
}

std::string Csr::ToDer() const {
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req_.get(), &der);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

namespace {
Status CsrSans(X509_REQ* req, Sans* out) {
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  Status st = Status::Ok();
  for (int i = 0; exts != nullptr && i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    if (names == nullptr) {
      st = InvalidArgument("malformed Subject Alternative Name extension");
      break;
    }
    st = ReadSans(names, out, true);
    GENERAL_NAMES_free(names);
    if (!st.ok()) break;
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  ERR_clear_error();
  return st;
}
}  // namespace

CsrInfo Csr::Info() const {
  CsrInfo info;
  X509_REQ* r = req_.get();
  if (r == nullptr) return info;
  info.subject = NameOneLine(X509_REQ_get_subject_name(r));
  info.common_name = NameEntry(X509_REQ_get_subject_name(r), NID_commonName);
  (void)CsrSans(r, &info.sans);
  info.key = SpecOf(X509_REQ_get0_pubkey(r));
  return info;
}

Result<Csr> CreateCsr(const PrivateKey& key, const Subject& subject, const Sans& sans) {
  if (!key.valid()) return InvalidArgument("no key");
  if (Status s = ValidateSans(sans); !s.ok()) return s;
  X509_REQ* raw = X509_REQ_new();
  Csr csr(raw);
  X509_REQ_set_version(raw, 0);
  if (Status s = SetSubject(X509_REQ_get_subject_name(raw), subject); !s.ok()) return s;
  X509_REQ_set_pubkey(raw, key.native());
  if (!sans.empty()) {
    GenNamesPtr names = BuildSans(sans);
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
    int ok = X509_REQ_add_extensions(raw, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1) return Internal("adding SANs to the CSR: " + DrainOpenSslErrors());
  }
  if (X509_REQ_sign(raw, key.native(), EVP_sha256()) <= 0) {
    return Internal("signing the CSR: " + DrainOpenSslErrors());
  }
  return csr;
}

Result<Csr> ParseCsrDer(std::string_view der) {
  if (der.size() > kMaxInput) return InvalidArgument("input too large");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* r = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (r == nullptr) {
    return InvalidArgument("x509: malformed certificate request: " + DrainOpenSslErrors());
  }
  Csr csr(r);
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return InvalidArgument("x509: trailing data after the certificate request");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(r);
  if (Status s = CheckKeyKind(pub, "certificate request"); !s.ok()) {
    ERR_clear_error();
    return s;
  }
  if (X509_REQ_verify(r, pub) != 1) {
    ERR_clear_error();
    return InvalidArgument("x509: certificate request signature is invalid");
  }
  Sans sans;
  if (Status s = CsrSans(r, &sans); !s.ok()) return InvalidArgument("certificate request: " + s.message());
  if (Status s = ValidateSans(sans); !s.ok()) return InvalidArgument("certificate request: " + s.message());
  return csr;
}

Result<Csr> ParseCsrPem(std::string_view pem) {
  auto blocks = PemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  const auto& b = (*blocks)[0];
  if (b.type != "CERTIFICATE REQUEST" && b.type != "NEW CERTIFICATE REQUEST") {
    return InvalidArgument("first PEM-block should be CERTIFICATE REQUEST type, got " + b.type);
  }
  return ParseCsrDer(b.der);
}

// --- Verification ------------------------------------------------------------------------------

namespace {

bool IsUnknownAuthority(int error) {
  return error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
         error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
         error == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
         error == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// Go names a certificate by CN, else first O, else "serial:<n>".
std::string GoName(const CertInfo& c) {
  if (!c.common_name.empty()) return c.common_name;
  if (!c.subject.empty()) return c.subject;
  return "serial:" + c.serial_decimal;
}

}  // namespace

std::string RenderVerifyError(int error, const std::vector<Certificate>& chain,
                              const std::vector<Certificate>& roots,
                              const std::string& roots_source, const std::string& dns_name,
                              std::optional<Time> at) {
  CertInfo leaf = chain.empty() ? CertInfo{} : chain.front().Info();
  if (IsUnknownAuthority(error)) {
    std::string msg = "x509: certificate signed by unknown authority";
    // The certificate whose issuer we could not find: the last of the presented chain.
    CertInfo top = chain.empty() ? CertInfo{} : chain.back().Info();
    std::vector<CertInfo> trusted;
    for (const auto& r : roots) trusted.push_back(r.Info());
    for (const auto& t : trusted) {
      if (!chain.empty() && t.subject == top.issuer) {
        // Go's hint: a trusted CA has the right name but its key did not sign this.
        std::string hint = top.key.type == KeyType::kRsa ? "crypto/rsa: verification error"
                                                         : "x509: ECDSA verification failure";
        return msg + " (possibly because of " + Quote(hint) +
               " while trying to verify candidate authority certificate " + Quote(GoName(t)) +
               ")";
      }
    }
    std::string detail;
    if (!chain.empty()) {
      detail = "certificate " + Quote(GoName(top)) + " was issued by " +
               Quote(top.issuer_common_name.empty() ? top.issuer : top.issuer_common_name);
      if (!top.authority_key_id.empty()) detail += " (key ID " + top.authority_key_id + ")";
      detail += "; ";
    }
    if (trusted.empty()) {
      detail += "no CA is configured";
    } else {
      detail += "expected CA ";
      for (size_t i = 0; i < trusted.size(); ++i) {
        if (i > 0) detail += i + 1 == trusted.size() ? " or " : ", ";
        detail += Quote(GoName(trusted[i]));
        if (!trusted[i].subject_key_id.empty()) detail += " (key ID " + trusted[i].subject_key_id + ")";
      }
    }
    if (!roots_source.empty()) detail += " from " + roots_source;
    return msg + " (" + detail + ")";
  }
  Time now = at.value_or(std::chrono::system_clock::now());
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "x509: certificate has expired or is not yet valid: current time " + GoTime(now) +
             " is after " + GoTime(leaf.not_after);
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "x509: certificate has expired or is not yet valid: current time " + GoTime(now) +
             " is before " + GoTime(leaf.not_before);
    case X509_V_ERR_HOSTNAME_MISMATCH: {
      std::string names;
      for (const auto& d : leaf.sans.dns) names += (names.empty() ? "" : ", ") + d;
      for (const auto& ip : leaf.sans.ips) names += (names.empty() ? "" : ", ") + ip;
      if (names.empty()) {
        return "x509: certificate is not valid for any names, but wanted to match " + dns_name;
      }
      return "x509: certificate is valid for " + names + ", not " + dns_name;
    }
    case X509_V_ERR_INVALID_PURPOSE:
      return "x509: certificate specifies an incompatible key usage";
    case X509_V_ERR_INVALID_CA:
      return "x509: certificate signed by a non-CA certificate (" + Quote(GoName(leaf)) + ")";
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
      return "x509: a root or intermediate certificate's name constraints do not permit " +
             Quote(GoName(leaf));
    default:
      return std::string("x509: ") + X509_verify_cert_error_string(error);
  }
}

Status VerifyCertificate(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                         const std::vector<Certificate>& roots, const VerifyOptions& o) {
  if (!leaf.valid()) return InvalidArgument("no certificate to verify");
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                  X509_STORE_free);
  for (const auto& r : roots) X509_STORE_add_cert(store.get(), r.native());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (const auto& i : intermediates) sk_X509_push(untrusted, i.native());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                       X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), untrusted);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (o.at) {
    X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(*o.at));
  }
  if (!o.dns_name.empty()) X509_VERIFY_PARAM_set1_host(param, o.dns_name.c_str(), 0);
  if (o.server_auth) X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (o.client_auth) X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(untrusted);
  ERR_clear_error();
  if (ok == 1) return Status::Ok();
  std::vector<Certificate> chain = {leaf};
  for (const auto& i : intermediates) chain.push_back(i);
  return Status(Code::kPermissionDenied,
                RenderVerifyError(err, chain, roots, "", o.dns_name, o.at));
}

}  // namespace gangway::x509
