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
#include <iterator>
#include <sstream>

#include "x509/der.h"

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

std::string IpText(std::string_view raw) {
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

// The GeneralName choices by tag number (GEN_* in OpenSSL).
Status UnsupportedSan(int type) {
  static const char* kNames[] = {"otherName", "email", "DNS", "x400Address", "dirName",
                                 "ediPartyName", "URI", "IP", "registeredID"};
  std::string kind = type >= 0 && type <= 8 ? kNames[type] : std::to_string(type);
  return InvalidArgument("unsupported Subject Alternative Name of type " + kind +
                         " (only DNS, IP and URI names are accepted)");
}

// Reads a certificate's SANs (names of other kinds are left out).
void ReadSans(const GENERAL_NAMES* names, Sans* out) {
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    void* v = GENERAL_NAME_get0_value(gn, &type);
    switch (type) {
      case GEN_DNS: out->dns.push_back(Asn1String(static_cast<ASN1_IA5STRING*>(v))); break;
      case GEN_URI: out->uris.push_back(Asn1String(static_cast<ASN1_IA5STRING*>(v))); break;
      case GEN_IPADD: out->ips.push_back(IpText(Asn1String(static_cast<ASN1_OCTET_STRING*>(v)))); break;
      default:
        break;
    }
  }
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

Certificate::Certificate(X509* cert) : cert_(cert, X509_free) {
  if (cert == nullptr) return;
  // OpenSSL derives a certificate's extension fields (key ids, constraints, its SHA-1) on first
  // use and publishes them behind a lock-free flag. Deriving them here, in the thread that made
  // the certificate, means the threads that later share it (the proxy's workers verifying chains
  // against the same roots) only read: none of them races to be first.
  ERR_set_mark();
  X509_check_purpose(cert, -1, 0);
  ERR_pop_to_mark();
}

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
  ReadSans(names, &info.sans);
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
//
// A request is walked with der::Reader rather than d2i_X509_REQ: OpenSSL 3.0 decodes the public
// key while parsing, through its provider decoder framework, which alone costs about twice the
// ECDSA verification (bench/RESULTS.md, M4). The signature is checked over the
// CertificationRequestInfo bytes exactly as received, so every field read from them is what
// the key's holder signed.

struct CsrData {
  std::string der;
  size_t spki_at = 0;  // SubjectPublicKeyInfo within `der`
  size_t spki_len = 0;
  std::string common_name;
  Sans sans;
  std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> subject{nullptr, X509_NAME_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, EVP_PKEY_free};
};

namespace {

using namespace std::string_view_literals;

// Object identifiers, as the contents of their DER encoding.
constexpr auto kOidEcPublicKey = "\x2a\x86\x48\xce\x3d\x02\x01"sv;              // 1.2.840.10045.2.1
constexpr auto kOidExtensionRequest = "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"sv;  // 1.2.840.113549.1.9.14
constexpr auto kOidMsExtensionRequest = "\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x0e"sv;  // 1.3.6.1.4.1.311.2.1.14
constexpr auto kOidSubjectAltName = "\x55\x1d\x11"sv;                            // 2.5.29.17
constexpr auto kDerNull = "\x05\x00"sv;

// The curves Go's crypto/x509 accepts.
struct NamedCurve {
  std::string_view oid;
  const char* group;   // OpenSSL's name
  size_t field_bytes;  // an uncompressed point is 0x04 || X || Y
};
constexpr NamedCurve kCurves[] = {
    {"\x2b\x81\x04\x00\x21"sv, "secp224r1", 28},              // 1.3.132.0.33, P-224
    {"\x2a\x86\x48\xce\x3d\x03\x01\x07"sv, "prime256v1", 32},  // 1.2.840.10045.3.1.7, P-256
    {"\x2b\x81\x04\x00\x22"sv, "secp384r1", 48},              // 1.3.132.0.34, P-384
    {"\x2b\x81\x04\x00\x23"sv, "secp521r1", 66},              // 1.3.132.0.35, P-521
};
constexpr size_t kNumCurves = std::size(kCurves);

// The signature algorithms verified here; any other goes to X509_REQ_verify.
constexpr const char* kDigestNames[] = {"SHA2-256", "SHA2-384", "SHA2-512"};
struct SignatureAlgorithm {
  std::string_view oid;
  KeyType key;
  size_t digest;  // index in kDigestNames
};
constexpr SignatureAlgorithm kSignatureAlgorithms[] = {
    {"\x2a\x86\x48\xce\x3d\x04\x03\x02"sv, KeyType::kEc, 0},       // ecdsa-with-SHA256
    {"\x2a\x86\x48\xce\x3d\x04\x03\x03"sv, KeyType::kEc, 1},       // ecdsa-with-SHA384
    {"\x2a\x86\x48\xce\x3d\x04\x03\x04"sv, KeyType::kEc, 2},       // ecdsa-with-SHA512
    {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"sv, KeyType::kRsa, 0},  // sha256WithRSAEncryption
    {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c"sv, KeyType::kRsa, 1},  // sha384WithRSAEncryption
    {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d"sv, KeyType::kRsa, 2},  // sha512WithRSAEncryption
};

// What every request check shares, made once per process: the digests, fetched (EVP_sha256()
// would be looked up by name on every use), and each curve's domain parameters as a key
// without a point. A request's EC key is a copy of one with the request's point set: ~4 us,
// where EVP_PKEY_fromdata builds the group from scratch (~14 us) and d2i_PUBKEY goes through
// the decoder framework (~150 us).
class CsrCache {
 public:
  CsrCache() {
    for (size_t i = 0; i < std::size(kDigestNames); ++i) {
      digests_[i] = EVP_MD_fetch(nullptr, kDigestNames[i], nullptr);
    }
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    for (size_t i = 0; i < kNumCurves; ++i) {
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                           const_cast<char*>(kCurves[i].group), 0),
          OSSL_PARAM_construct_end()};
      if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
          EVP_PKEY_fromdata(ctx, &curves_[i], EVP_PKEY_KEY_PARAMETERS, params) != 1) {
        curves_[i] = nullptr;  // a build without the curve: its keys are refused
      }
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
  }
  ~CsrCache() {
    for (EVP_MD* md : digests_) EVP_MD_free(md);
    for (EVP_PKEY* k : curves_) EVP_PKEY_free(k);
  }
  CsrCache(const CsrCache&) = delete;
  CsrCache& operator=(const CsrCache&) = delete;

  const EVP_MD* digest(size_t i) const { return digests_[i]; }
  EVP_PKEY* curve(size_t i) const { return curves_[i]; }

 private:
  EVP_MD* digests_[std::size(kDigestNames)] = {};
  EVP_PKEY* curves_[kNumCurves] = {};
};

const CsrCache& Cache() {
  static const CsrCache cache;  // destroyed before OpenSSL's own atexit cleanup
  return cache;
}

Status MalformedCsr(std::string_view what) {
  return InvalidArgument("x509: malformed certificate request: " + std::string(what));
}

// An INTEGER's contents in their shortest form.
bool ValidInteger(std::string_view c) {
  if (c.empty()) return false;
  if (c.size() == 1) return true;
  const auto b0 = static_cast<uint8_t>(c[0]);
  const auto b1 = static_cast<uint8_t>(c[1]);
  return !(b0 == 0x00 && b1 < 0x80) && !(b0 == 0xff && b1 >= 0x80);
}

// An EC public key from an id-ecPublicKey AlgorithmIdentifier's parameters (`params`: what
// follows the algorithm OID) and the key's bits. Go's texts for what Go also refuses.
Status EcPublicKey(std::string_view params, std::string_view point, EVP_PKEY** out) {
  der::Reader r(params);
  der::Element oid;
  if (!r.ReadOid(&oid) || !r.empty()) {
    return InvalidArgument("x509: unsupported elliptic curve");  // explicit or no parameters
  }
  size_t i = 0;
  while (i < kNumCurves && kCurves[i].oid != oid.contents) ++i;
  if (i == kNumCurves || Cache().curve(i) == nullptr) {
    return InvalidArgument("x509: unsupported elliptic curve");
  }
  // Uncompressed only, as Go: this also keeps out the point at infinity ("\0"), which
  // OpenSSL would take.
  if (point.size() != 1 + 2 * kCurves[i].field_bytes || point[0] != 0x04) {
    return InvalidArgument("x509: failed to unmarshal elliptic curve point");
  }
  EVP_PKEY* key = EVP_PKEY_dup(Cache().curve(i));
  if (key == nullptr) return Internal("copying EC parameters: " + DrainOpenSslErrors());
  // OpenSSL decodes the point and checks that it is on the curve.
  if (EVP_PKEY_set1_encoded_public_key(key, reinterpret_cast<const unsigned char*>(point.data()),
                                       point.size()) != 1) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return InvalidArgument("x509: failed to unmarshal elliptic curve point");
  }
  *out = key;
  return Status::Ok();
}

// Any other key goes through OpenSSL's decoder; only RSA of 2048 bits or more is kept.
Status OtherPublicKey(std::string_view spki, EVP_PKEY** out) {
  const auto* p = reinterpret_cast<const unsigned char*>(spki.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (key == nullptr || p != reinterpret_cast<const unsigned char*>(spki.data()) + spki.size()) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return InvalidArgument(
        "certificate request: unsupported or malformed public key (only EC and RSA keys are "
        "accepted)");
  }
  Status s = EVP_PKEY_is_a(key, "RSA")
                 ? CheckKeyKind(key, "certificate request")
                 : InvalidArgument(std::string("certificate request: unsupported key type ") +
                                   EVP_PKEY_get0_type_name(key) +
                                   " (only EC and RSA keys are accepted)");
  if (!s.ok()) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return s;
  }
  *out = key;
  return Status::Ok();
}

// GeneralNames (the value of a subjectAltName extension) into `out`.
Status ReadCsrSans(std::string_view value, Sans* out) {
  der::Reader r(value);
  der::Element names;
  if (!r.Read(der::kSequence, &names) || !r.empty()) {
    return InvalidArgument("malformed Subject Alternative Name extension");
  }
  der::Reader n(names.contents);
  while (!n.empty()) {
    der::Element name;
    if (!n.Next(&name)) return InvalidArgument("malformed Subject Alternative Name extension");
    switch (name.tag) {
      case der::ContextPrimitive(GEN_DNS): out->dns.emplace_back(name.contents); break;
      case der::ContextPrimitive(GEN_URI): out->uris.emplace_back(name.contents); break;
      case der::ContextPrimitive(GEN_IPADD): out->ips.push_back(IpText(name.contents)); break;
      case der::ContextConstructed(GEN_OTHERNAME): return UnsupportedSan(GEN_OTHERNAME);
      case der::ContextPrimitive(GEN_EMAIL): return UnsupportedSan(GEN_EMAIL);
      case der::ContextConstructed(GEN_X400): return UnsupportedSan(GEN_X400);
      case der::ContextConstructed(GEN_DIRNAME): return UnsupportedSan(GEN_DIRNAME);
      case der::ContextConstructed(GEN_EDIPARTY): return UnsupportedSan(GEN_EDIPARTY);
      case der::ContextPrimitive(GEN_RID): return UnsupportedSan(GEN_RID);
      default: return InvalidArgument("malformed Subject Alternative Name extension");
    }
  }
  return Status::Ok();
}

// The attributes of a request: the SANs of its extension request (PKCS#9, or Microsoft's
// older OID; one at most). Other attributes and extensions must be well formed and are
// ignored.
Status ReadCsrAttributes(std::string_view attributes, Sans* out) {
  der::Reader r(attributes);
  bool have_request = false;
  bool have_sans = false;
  while (!r.empty()) {
    der::Element attr, type, values;
    if (!r.Read(der::kSequence, &attr)) return MalformedCsr("bad attribute");
    der::Reader a(attr.contents);
    if (!a.ReadOid(&type) || !a.Read(der::kSet, &values) || !a.empty()) {
      return MalformedCsr("bad attribute");
    }
    if (type.contents != kOidExtensionRequest && type.contents != kOidMsExtensionRequest) {
      continue;
    }
    // Two would leave it to the reader which one counts (OpenSSL reads one, Go all).
    if (have_request) return MalformedCsr("more than one extension request");
    have_request = true;
    der::Reader v(values.contents);
    der::Element extensions;
    if (v.empty()) continue;  // no value: no extensions
    if (!v.Read(der::kSequence, &extensions) || !v.empty()) {
      return MalformedCsr("bad extension request");
    }
    der::Reader e(extensions.contents);
    while (!e.empty()) {
      der::Element ext, oid, critical, value;
      bool has_critical = false;
      if (!e.Read(der::kSequence, &ext)) return MalformedCsr("bad extension");
      der::Reader x(ext.contents);
      if (!x.ReadOid(&oid) || !x.ReadOptional(der::kBoolean, &critical, &has_critical) ||
          (has_critical && critical.contents.size() != 1) ||
          !x.Read(der::kOctetString, &value) || !x.empty()) {
        return MalformedCsr("bad extension");
      }
      if (oid.contents != kOidSubjectAltName) continue;
      if (have_sans) {
        return InvalidArgument(
            "certificate request: more than one Subject Alternative Name extension");
      }
      have_sans = true;
      if (Status s = ReadCsrSans(value.contents, out); !s.ok()) {
        return InvalidArgument("certificate request: " + s.message());
      }
    }
  }
  return Status::Ok();
}

bool VerifySignature(EVP_PKEY* key, const EVP_MD* md, std::string_view signed_bytes,
                     std::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                             signed_bytes.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) ERR_clear_error();
  return ok;
}

// What OpenSSL verifies itself: RSASSA-PSS, SHA-1, parameters where none are expected.
bool VerifyWithOpenSsl(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  bool ok = req != nullptr && p == reinterpret_cast<const unsigned char*>(der.data()) + der.size() &&
            X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
  X509_REQ_free(req);
  ERR_clear_error();
  return ok;
}

// The request in `der`; its self-signature is checked unless we just made it (CreateCsr).
Result<Csr> ParseCsr(std::string_view input, bool check_signature) {
  if (input.size() > kMaxInput) return InvalidArgument("input too large");
  auto data = std::make_shared<CsrData>();
  data->der.assign(input);
  const std::string_view der = data->der;

  // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
  der::Reader top(der);
  der::Element request, info, algorithm, signature;
  if (!top.Read(der::kSequence, &request)) return MalformedCsr("not a DER SEQUENCE");
  if (!top.empty()) return InvalidArgument("x509: trailing data after the certificate request");
  der::Reader r(request.contents);
  if (!r.Read(der::kSequence, &info) || !r.Read(der::kSequence, &algorithm) ||
      !r.Read(der::kBitString, &signature) || !r.empty()) {
    return MalformedCsr("expected the request info, a signature algorithm and a signature");
  }

  // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }
  der::Reader ri(info.contents);
  der::Element version, subject, spki, attributes;
  bool has_attributes = false;
  if (!ri.Read(der::kInteger, &version) || !ValidInteger(version.contents)) {
    return MalformedCsr("bad version");
  }
  if (!ri.Read(der::kSequence, &subject)) return MalformedCsr("bad subject");
  if (!ri.Read(der::kSequence, &spki)) return MalformedCsr("bad public key info");
  if (!ri.ReadOptional(der::ContextConstructed(0), &attributes, &has_attributes) || !ri.empty()) {
    return MalformedCsr("bad attributes");
  }

  // The subject through OpenSSL (cheap: no provider lookups), for its string conversions.
  const auto* p = reinterpret_cast<const unsigned char*>(subject.encoding.data());
  data->subject.reset(d2i_X509_NAME(nullptr, &p, static_cast<long>(subject.encoding.size())));
  if (data->subject == nullptr ||
      p != reinterpret_cast<const unsigned char*>(subject.encoding.data()) +
               subject.encoding.size()) {
    ERR_clear_error();
    return MalformedCsr("bad subject");
  }
  data->common_name = NameEntry(data->subject.get(), NID_commonName);

  // SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }
  der::Reader rs(spki.contents);
  der::Element key_algorithm, key_bits, key_oid;
  std::string_view key_bytes;
  if (!rs.Read(der::kSequence, &key_algorithm) || !rs.Read(der::kBitString, &key_bits) ||
      !rs.empty() || !der::BitStringBytes(key_bits.contents, &key_bytes)) {
    return MalformedCsr("bad public key info");
  }
  der::Reader ra(key_algorithm.contents);
  if (!ra.ReadOid(&key_oid)) return MalformedCsr("bad public key algorithm");
  EVP_PKEY* key = nullptr;
  Status key_status = key_oid.contents == kOidEcPublicKey
                          ? EcPublicKey(key_algorithm.contents.substr(key_oid.encoding.size()),
                                        key_bytes, &key)
                          : OtherPublicKey(spki.encoding, &key);
  if (!key_status.ok()) return key_status;
  data->key.reset(key);
  data->spki_at = static_cast<size_t>(spki.encoding.data() - der.data());
  data->spki_len = spki.encoding.size();

  // AlgorithmIdentifier ::= SEQUENCE { OID, parameters OPTIONAL }, then the signature.
  der::Reader rsa(algorithm.contents);
  der::Element sig_oid;
  std::string_view sig_bytes;
  if (!rsa.ReadOid(&sig_oid) || !der::BitStringBytes(signature.contents, &sig_bytes)) {
    return MalformedCsr("bad signature");
  }
  const std::string_view sig_params = algorithm.contents.substr(sig_oid.encoding.size());

  if (check_signature) {
    const SignatureAlgorithm* alg = nullptr;
    for (const auto& a : kSignatureAlgorithms) {
      if (a.oid == sig_oid.contents) alg = &a;
    }
    // RFC 5758: no parameters for ECDSA; RFC 4055: NULL (or, in practice, none) for RSA.
    if (alg != nullptr && Cache().digest(alg->digest) != nullptr &&
        (sig_params.empty() || (alg->key == KeyType::kRsa && sig_params == kDerNull))) {
      const KeyType key_type = key_oid.contents == kOidEcPublicKey ? KeyType::kEc : KeyType::kRsa;
      if (alg->key != key_type) {
        return InvalidArgument(
            "x509: certificate request signature algorithm does not match its public key");
      }
      if (!VerifySignature(key, Cache().digest(alg->digest), info.encoding, sig_bytes)) {
        return InvalidArgument("x509: certificate request signature is invalid");
      }
    } else if (!VerifyWithOpenSsl(der)) {
      return InvalidArgument("x509: certificate request signature is invalid");
    }
  }

  if (has_attributes) {
    if (Status s = ReadCsrAttributes(attributes.contents, &data->sans); !s.ok()) return s;
  }
  if (Status s = ValidateSans(data->sans); !s.ok()) {
    return InvalidArgument("certificate request: " + s.message());
  }
  return Csr(std::move(data));
}

const Sans kNoSans;
const std::string kNoName;

}  // namespace

Csr::Csr(std::shared_ptr<const CsrData> data) : data_(std::move(data)) {}

EVP_PKEY* Csr::public_key() const { return data_ ? data_->key.get() : nullptr; }

std::string_view Csr::public_key_der() const {
  if (!data_) return {};
  return std::string_view(data_->der).substr(data_->spki_at, data_->spki_len);
}

const std::string& Csr::common_name() const { return data_ ? data_->common_name : kNoName; }

const Sans& Csr::sans() const { return data_ ? data_->sans : kNoSans; }

std::string Csr::ToPem() const {
  if (!data_) return "";
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio(b.get(), "CERTIFICATE REQUEST", "",
                reinterpret_cast<const unsigned char*>(data_->der.data()),
                static_cast<long>(data_->der.size()));
  return BioString(b.get());
}

std::string Csr::ToDer() const { return data_ ? data_->der : ""; }

CsrInfo Csr::Info() const {
  CsrInfo info;
  if (!data_) return info;
  info.subject = NameOneLine(data_->subject.get());
  info.common_name = data_->common_name;
  info.sans = data_->sans;
  info.key = SpecOf(data_->key.get());
  return info;
}

Result<Csr> CreateCsr(const PrivateKey& key, const Subject& subject, const Sans& sans) {
  if (!key.valid()) return InvalidArgument("no key");
  if (Status s = ValidateSans(sans); !s.ok()) return s;
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  X509_REQ* raw = req.get();
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
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(raw, &der);
  if (n <= 0) return Internal("encoding the CSR: " + DrainOpenSslErrors());
  auto csr = ParseCsr(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(n)),
                      /*check_signature=*/false);
  OPENSSL_free(der);
  return csr;
}

Result<Csr> ParseCsrDer(std::string_view der) { return ParseCsr(der, /*check_signature=*/true); }

Result<Csr> ParseCsrPem(std::string_view pem) {
  auto blocks = PemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  const auto& b = (*blocks)[0];
  if (b.type != "CERTIFICATE REQUEST" && b.type != "NEW CERTIFICATE REQUEST") {
    return InvalidArgument("first PEM-block should be CERTIFICATE REQUEST type, got " + b.type);
  }
  return ParseCsrDer(b.der);
}

Status SetPublicKeyInfo(X509* cert, std::string_view spki_der) {
  der::Reader r(spki_der);
  der::Element spki, algorithm, bits;
  std::string_view key;
  bool ok = r.Read(der::kSequence, &spki) && r.empty();
  der::Reader s(spki.contents);
  ok = ok && s.Read(der::kSequence, &algorithm) && s.Read(der::kBitString, &bits) && s.empty() &&
       der::BitStringBytes(bits.contents, &key) && !key.empty();
  if (!ok) return InvalidArgument("malformed SubjectPublicKeyInfo");
  const auto* p = reinterpret_cast<const unsigned char*>(algorithm.encoding.data());
  std::unique_ptr<X509_ALGOR, decltype(&X509_ALGOR_free)> alg(
      d2i_X509_ALGOR(nullptr, &p, static_cast<long>(algorithm.encoding.size())), X509_ALGOR_free);
  if (alg == nullptr) {
    ERR_clear_error();
    return InvalidArgument("malformed SubjectPublicKeyInfo algorithm");
  }
  const ASN1_OBJECT* oid = nullptr;
  int ptype = V_ASN1_UNDEF;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg.get());
  void* param = nullptr;
  if (ptype == V_ASN1_OBJECT) {
    param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
  } else if (ptype == V_ASN1_SEQUENCE) {
    param = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
  } else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
    return InvalidArgument("unsupported SubjectPublicKeyInfo parameters");
  }
  auto* enc = static_cast<unsigned char*>(OPENSSL_memdup(key.data(), key.size()));
  ASN1_OBJECT* oid_copy = OBJ_dup(oid);
  if (enc == nullptr || oid_copy == nullptr ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), oid_copy, ptype, param, enc,
                             static_cast<int>(key.size())) != 1) {
    OPENSSL_free(enc);
    ASN1_OBJECT_free(oid_copy);
    if (ptype == V_ASN1_OBJECT) ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param));
    if (ptype == V_ASN1_SEQUENCE) ASN1_STRING_free(static_cast<ASN1_STRING*>(param));
    return Internal("setting the public key: " + DrainOpenSslErrors());
  }
  return Status::Ok();
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
  // Always our clock: OpenSSL's default is time(), which on Linux reads the coarse clock and
  // can lag system_clock by a few milliseconds, so a certificate made this very second (its
  // NotBefore from system_clock) would be "not yet valid" for a moment.
  X509_VERIFY_PARAM_set_time(
      param, std::chrono::system_clock::to_time_t(o.at.value_or(std::chrono::system_clock::now())));
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
