// X.509 building blocks over the OpenSSL 3 C API: private keys, certificates and CSRs as RAII
// values, PEM/DER encoding, certificate creation and chain verification with Go-compatible error
// texts. Objects are immutable once built and cheap to copy (reference counted), so they may be
// shared across threads; every function is pure apart from randomness (keys, serials).
#pragma once

#include <openssl/types.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway::x509 {

using Time = std::chrono::system_clock::time_point;

// --- Keys --------------------------------------------------------------------------------------

enum class KeyType { kEc, kRsa };

struct KeySpec {
  KeyType type = KeyType::kEc;
  int bits = 256;  // ec: 224/256/384/521; rsa: 2048/3072/4096 (Consul's PrivateKeyType/Bits)
};

class PrivateKey {
 public:
  PrivateKey() = default;
  // Takes ownership of one reference.
  explicit PrivateKey(EVP_PKEY* key);

  bool valid() const { return key_ != nullptr; }
  EVP_PKEY* native() const { return key_.get(); }
  KeySpec spec() const;
  // "EC PRIVATE KEY" (SEC1) for EC keys and "RSA PRIVATE KEY" (PKCS#1) for RSA, as Go writes them.
  std::string ToPem() const;
  // The SubjectPublicKeyInfo as PEM ("PUBLIC KEY").
  std::string PublicKeyPem() const;

 private:
  std::shared_ptr<EVP_PKEY> key_;
};

Result<PrivateKey> GenerateKey(const KeySpec& spec = {});
// Reads the first private key of a PEM text: SEC1 "EC PRIVATE KEY", "RSA PRIVATE KEY" or PKCS#8
// "PRIVATE KEY". Encrypted keys are refused.
Result<PrivateKey> ParsePrivateKeyPem(std::string_view pem);

// SHA-256 of the DER SubjectPublicKeyInfo: the key ID Consul's `tls` command puts in SKID/AKID.
std::string KeyId(EVP_PKEY* key);
// "0a:1b:..." (lower-case, colon separated), Consul's format for key IDs and serials.
std::string ColonHex(std::string_view bytes);

// 128 random bits as a positive big-endian serial (Go's rand.Int(2^128)); "" if the RNG fails.
std::string RandomSerialNumber();
// A raw big-endian serial in decimal, as Go prints a big.Int ("Consul Agent CA <decimal>").
std::string SerialDecimal(std::string_view raw);

// --- Names -------------------------------------------------------------------------------------

struct Subject {
  std::string common_name;
  std::string organization;
  std::string organizational_unit;
  std::string country;
  std::string province;
  std::string locality;
  std::string street_address;
  std::string postal_code;
};

// Subject Alternative Names. Every value is validated before it is encoded.
struct Sans {
  std::vector<std::string> dns;
  std::vector<std::string> ips;   // textual IPv4/IPv6
  std::vector<std::string> uris;  // e.g. spiffe://<td>/ns/default/dc/dc1/svc/web
  bool empty() const { return dns.empty() && ips.empty() && uris.empty(); }
};

// --- Certificates ------------------------------------------------------------------------------

struct CertInfo {
  std::string subject;      // one line, RFC 2253 ("CN=...,O=...")
  std::string common_name;  // subject CN ("" when none)
  std::string issuer;
  std::string issuer_common_name;
  std::string serial;          // colon hex
  std::string serial_decimal;  // as Go prints a big.Int
  Time not_before;
  Time not_after;
  Sans sans;
  bool is_ca = false;
  int path_len = -1;  // -1: no limit
  std::string subject_key_id;    // colon hex, "" when absent
  std::string authority_key_id;  // colon hex, "" when absent
  bool server_auth = false;      // extended key usages
  bool client_auth = false;
  std::vector<std::string> permitted_dns_domains;  // name constraints
  KeySpec key;
  std::string fingerprint_sha1;  // colon hex of the DER's SHA-1 (Consul's CA root ID)
};

class Certificate {
 public:
  Certificate() = default;
  // Takes ownership of one reference.
  explicit Certificate(X509* cert);

  bool valid() const { return cert_ != nullptr; }
  X509* native() const { return cert_.get(); }
  std::string ToPem() const;
  std::string ToDer() const;
  CertInfo Info() const;

 private:
  std::shared_ptr<X509> cert_;
};

// The first "CERTIFICATE" block of a PEM text. Errors read like Go's: "no PEM-encoded data
// found", "first PEM-block should be CERTIFICATE type, got ...", "x509: malformed certificate".
Result<Certificate> ParseCertificatePem(std::string_view pem);
// Every certificate of a PEM bundle (a CA file); at least one.
Result<std::vector<Certificate>> ParseCertificatesPem(std::string_view pem);
Result<Certificate> ParseCertificateDer(std::string_view der);

// A self-signed CA (Consul's `tls ca create`: basicConstraints CA critical, keyUsage
// certSign|cRLSign|digitalSignature critical, SKID = AKID = KeyId, optional URI SAN and critical
// permitted-DNS name constraints).
struct CAOptions {
  Subject subject;
  std::chrono::hours validity = std::chrono::hours(24 * 1825);
  std::optional<Time> not_before;  // default: now
  std::string serial;              // raw big-endian bytes; default: 128 random bits
  std::vector<std::string> uris;
  std::vector<std::string> permitted_dns_domains;
  int path_len = -1;
};
Result<Certificate> CreateCA(const PrivateKey& key, const CAOptions& options);

// A certificate for `public_key` signed by `issuer`/`issuer_key`.
struct CertOptions {
  Subject subject;
  Sans sans;
  std::chrono::hours validity = std::chrono::hours(24 * 365);
  std::optional<Time> not_before;  // default: now
  std::string serial;              // raw bytes; default: 128 random bits
  bool server_auth = false;
  bool client_auth = false;
  bool is_ca = false;  // an intermediate: keyUsage certSign|cRLSign|digitalSignature
  int path_len = -1;
  std::vector<std::string> permitted_dns_domains;
};
Result<Certificate> SignCertificate(EVP_PKEY* public_key, const CertOptions& options,
                                    const Certificate& issuer, const PrivateKey& issuer_key);

// Whether `key` is the private half of `cert`'s public key.
bool KeyMatchesCertificate(const PrivateKey& key, const Certificate& cert);

// --- CSRs --------------------------------------------------------------------------------------

struct CsrInfo {
  std::string subject;
  std::string common_name;
  Sans sans;  // exactly the SANs the request carries
  KeySpec key;
};

struct CsrData;  // a parsed request (x509.cc)

// A certificate request, read once when parsed: the fields a signer copies are plain values
// here, so signing from it needs no further decoding.
class Csr {
 public:
  Csr() = default;
  explicit Csr(std::shared_ptr<const CsrData> data);

  bool valid() const { return data_ != nullptr; }
  // The requested public key (owned by the CSR; public half only).
  EVP_PKEY* public_key() const;
  // The request's SubjectPublicKeyInfo, DER, as it was received.
  std::string_view public_key_der() const;
  // The subject's first common name as UTF-8 ("" when none).
  const std::string& common_name() const;
  // Its SANs, validated as ParseCsrDer describes.
  const Sans& sans() const;
  std::string ToPem() const;
  std::string ToDer() const;
  CsrInfo Info() const;

 private:
  std::shared_ptr<const CsrData> data_;
};

Result<Csr> CreateCsr(const PrivateKey& key, const Subject& subject, const Sans& sans);
// Parses and checks a CSR: DER only (no BER), its self-signature must verify, its key must be
// RSA (2048 bits or more) or EC on P-224, P-256, P-384 or P-521 (as Go's crypto/x509 accepts)
// with an uncompressed point on the curve, and its SANs (one extension request with one SAN
// extension at most) must be DNS, IP or URI names that pass validation. Anything else is an
// error saying why.
Result<Csr> ParseCsrPem(std::string_view pem);
Result<Csr> ParseCsrDer(std::string_view der);

// Sets `cert`'s SubjectPublicKeyInfo to `spki_der` (a Csr's public_key_der()) field by field.
// X509_set_pubkey(EVP_PKEY) would run OpenSSL 3's provider encoder, which costs more than
// signing the certificate.
Status SetPublicKeyInfo(X509* cert, std::string_view spki_der);

// --- Verification ------------------------------------------------------------------------------

struct VerifyOptions {
  std::string dns_name;  // when set, the leaf must be valid for it
  std::optional<Time> at;  // default: now
  bool server_auth = false;  // require the serverAuth (or clientAuth) extended key usage
  bool client_auth = false;
};

// Verifies `leaf` up to one of `roots` through `intermediates`. A failure's message is the one
// Go's crypto/x509 would give (so users can search for it), extended with what was expected;
// see RenderVerifyError.
Status VerifyCertificate(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                         const std::vector<Certificate>& roots, const VerifyOptions& options = {});

// What a verification failure looks like to a user. `error` is OpenSSL's X509_V_ERR_* code;
// `chain` is what the peer presented (leaf first); `roots` what we trust, from `roots_source`
// (a file name, for the message). For an unknown authority:
//   x509: certificate signed by unknown authority (possibly because of "x509: ECDSA verification
//   failure" while trying to verify candidate authority certificate "Consul Agent CA 1234")
// when a trusted CA has the issuer's name but did not sign it (Go's own text), otherwise
//   x509: certificate signed by unknown authority (certificate "server.dc1.consul" was issued by
//   "Consul Agent CA 5678" (key ID ab:..); expected CA "Consul Agent CA 1234" (key ID cd:..)
//   from /etc/consul/ca.pem)
std::string RenderVerifyError(int error, const std::vector<Certificate>& chain,
                              const std::vector<Certificate>& roots,
                              const std::string& roots_source, const std::string& dns_name = "",
                              std::optional<Time> at = std::nullopt);

// The OpenSSL error queue as one line of reason texts (and clears it); `fallback` when empty.
std::string DrainOpenSslErrors(const std::string& fallback = "unknown error");

// Reads a whole file; the error names the file as Go's os.ReadFile does ("open <f>: <reason>").
Result<std::string> ReadFile(const std::string& path);

}  // namespace gangway::x509
