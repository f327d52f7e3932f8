// Certificate request parsing (ParseCsrDer walks the DER itself): hostile and unusual requests.
// Requests are forged from their parts and, where the test needs it, correctly signed, so each
// case reaches the check it is about.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "x509/der.h"
#include "x509/x509.h"

namespace gangway::x509 {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;

// --- Forging requests --------------------------------------------------------------------------

using der::Tlv;

std::string Seq(std::string_view c) { return Tlv(der::kSequence, c); }
std::string Oid(std::string_view c) { return Tlv(der::kOid, c); }

const std::string kEcdsaSha256 = "\x2a\x86\x48\xce\x3d\x04\x03\x02"s;
const std::string kSha256Rsa = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"s;
const std::string kEcPublicKey = "\x2a\x86\x48\xce\x3d\x02\x01"s;
const std::string kP256 = "\x2a\x86\x48\xce\x3d\x03\x01\x07"s;
const std::string kP384 = "\x2b\x81\x04\x00\x22"s;
const std::string kExtReq = "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"s;
const std::string kMsExtReq = "\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x0e"s;

std::string Spki(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// An EC SubjectPublicKeyInfo with any curve parameters and point.
std::string EcSpki(const std::string& params, const std::string& point) {
  return Seq(Seq(Oid(kEcPublicKey) + params) + Tlv(der::kBitString, "\0"s + point));
}

std::string EcPoint(EVP_PKEY* key) {
  unsigned char* pt = nullptr;
  size_t n = EVP_PKEY_get1_encoded_public_key(key, &pt);
  std::string out(reinterpret_cast<char*>(pt), n);
  OPENSSL_free(pt);
  return out;
}

std::string Subject(const std::string& cn) {
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.data()),
                             static_cast<int>(cn.size()), -1, 0);
  unsigned char* der = nullptr;
  int n = i2d_X509_NAME(name, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  X509_NAME_free(name);
  return out;
}

// GeneralName entries: [2] DNS, [6] URI, [7] IP, [1] email.
std::string Dns(const std::string& s) { return Tlv(0x82, s); }
std::string Uri(const std::string& s) { return Tlv(0x86, s); }
std::string Ip(const std::string& raw) { return Tlv(0x87, raw); }
std::string Email(const std::string& s) { return Tlv(0x81, s); }

std::string SanExtension(const std::string& names) {
  return Seq(Oid("\x55\x1d\x11"s) + Tlv(der::kOctetString, Seq(names)));
}
std::string ExtensionRequest(const std::string& extensions, const std::string& oid = kExtReq) {
  return Seq(Oid(oid) + Tlv(der::kSet, Seq(extensions)));
}

std::string RequestInfo(const std::string& spki, const std::string& attributes = "",
                        const std::string& cn = "web") {
  return Seq("\x02\x01\x00"s + Subject(cn) + spki + Tlv(0xa0, attributes));
}

std::string Signature(const std::string& info, EVP_PKEY* key, const EVP_MD* md) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, md, nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(info.data()),
                           info.size()),
            1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(info.data()), info.size()),
            1);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

// A request over `info` signed by `key` (ECDSA or RSA with SHA-256), labelled `alg`.
std::string Request(const std::string& info, EVP_PKEY* key, const std::string& alg = kEcdsaSha256,
                    const std::string& alg_params = "") {
  return Seq(info + Seq(Oid(alg) + alg_params) +
             Tlv(der::kBitString, "\0"s + Signature(info, key, EVP_sha256())));
}

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

KeyPtr EcKey(const char* curve) { return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)); }

// A request built by OpenSSL itself, signed with `md` (and `sigopts`, e.g. PSS).
std::string OpenSslRequest(EVP_PKEY* key, const EVP_MD* md, bool pss = false) {
  X509_REQ* req = X509_REQ_new();
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("web"), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key), 1);
  if (pss) {
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  }
  EXPECT_GT(X509_REQ_sign_ctx(req, ctx), 0);
  EVP_MD_CTX_free(ctx);
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  X509_REQ_free(req);
  return out;
}

std::string Message(std::string_view der) { return ParseCsrDer(der).status().message(); }

// --- Tests -------------------------------------------------------------------------------------

TEST(CsrParseTest, ForgedRequestsParseLikeOpenSslOnes) {
  KeyPtr key = EcKey("P-256");
  std::string info = RequestInfo(
      Spki(key.get()),
      ExtensionRequest(SanExtension(Dns("web.consul") + Uri("spiffe://td.consul/ns/default/dc/"
                                                             "dc1/svc/web") +
                                    Ip("\x0a\x00\x00\x01"s) + Dns("other.consul"))));
  std::string der = Request(info, key.get());
  auto csr = ParseCsrDer(der);
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  EXPECT_EQ(csr->common_name(), "web");
  EXPECT_EQ(csr->sans().dns, (std::vector<std::string>{"web.consul", "other.consul"}));
  EXPECT_EQ(csr->sans().ips, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(csr->sans().uris, std::vector<std::string>{"spiffe://td.consul/ns/default/dc/dc1/svc/web"});
  EXPECT_EQ(csr->public_key_der(), Spki(key.get()));
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key(), key.get()), 1);
  EXPECT_EQ(csr->ToDer(), der);
  CsrInfo info_out = csr->Info();
  EXPECT_EQ(info_out.subject, "CN=web");
  EXPECT_EQ(info_out.key.type, KeyType::kEc);
  EXPECT_EQ(info_out.key.bits, 256);
  // PEM as OpenSSL writes it, and back.
  auto again = ParseCsrPem(csr->ToPem());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->ToDer(), der);

  // The public key is the public half only.
  BIGNUM* priv = nullptr;
  EXPECT_NE(EVP_PKEY_get_bn_param(csr->public_key(), OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
  BN_free(priv);

  // No attributes at all, and Microsoft's extension request OID.
  EXPECT_TRUE(ParseCsrDer(Request(Seq("\x02\x01\x00"s + Subject("x") + Spki(key.get())), key.get()))
                  .ok());
  auto ms = ParseCsrDer(Request(
      RequestInfo(Spki(key.get()), ExtensionRequest(SanExtension(Dns("ms.consul")), kMsExtReq)),
      key.get()));
  ASSERT_TRUE(ms.ok()) << ms.status().message();
  EXPECT_EQ(ms->sans().dns, std::vector<std::string>{"ms.consul"});
}

TEST(CsrParseTest, EveryTruncationAndBitFlipIsRefused) {
  KeyPtr key = EcKey("P-256");
  std::string der = Request(
      RequestInfo(Spki(key.get()), ExtensionRequest(SanExtension(Uri("spiffe://td.consul")))),
      key.get());
  ASSERT_TRUE(ParseCsrDer(der).ok());
  for (size_t n = 0; n < der.size(); ++n) {
    EXPECT_FALSE(ParseCsrDer(der.substr(0, n)).ok()) << "prefix of " << n << " bytes";
  }
  for (size_t i = 0; i < der.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = der;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(ParseCsrDer(bad).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(CsrParseTest, OnlyDerIsAccepted) {
  KeyPtr key = EcKey("P-256");
  std::string info = RequestInfo(Spki(key.get()));
  std::string good = Request(info, key.get());
  ASSERT_TRUE(ParseCsrDer(good).ok());
  // The same request with its outer length in a longer form than needed (BER).
  der::Reader r(good);
  der::Element outer;
  ASSERT_TRUE(r.Next(&outer));
  ASSERT_GE(outer.contents.size(), 0x80u);
  std::string ber = "\x30\x82"s + static_cast<char>(outer.contents.size() >> 8) +
                    static_cast<char>(outer.contents.size() & 0xff) + std::string(outer.contents);
  EXPECT_THAT(Message(ber), HasSubstr("x509: malformed certificate request"));
  // Indefinite length.
  std::string indefinite = "\x30\x80"s + std::string(outer.contents) + "\0\0"s;
  EXPECT_THAT(Message(indefinite), HasSubstr("x509: malformed certificate request"));
  EXPECT_THAT(Message(""), HasSubstr("x509: malformed certificate request"));
  EXPECT_THAT(Message(Seq("")), HasSubstr("x509: malformed certificate request"));
  EXPECT_EQ(Message(good + "\0"s), "x509: trailing data after the certificate request");
}

TEST(CsrParseTest, EcKeysOnGosCurvesWithUncompressedPointsOnTheCurve) {
  for (const char* curve : {"P-224", "P-256", "P-384", "P-521"}) {
    KeyPtr key = EcKey(curve);
    auto csr = ParseCsrDer(OpenSslRequest(key.get(), EVP_sha256()));
    ASSERT_TRUE(csr.ok()) << curve << ": " << csr.status().message();
    EXPECT_EQ(csr->Info().key.bits, EVP_PKEY_get_bits(key.get()));
    EXPECT_EQ(EVP_PKEY_eq(csr->public_key(), key.get()), 1) << curve;
  }

  // Another curve, correctly signed.
  KeyPtr k1 = EcKey("secp256k1");
  EXPECT_EQ(Message(OpenSslRequest(k1.get(), EVP_sha256())), "x509: unsupported elliptic curve");

  KeyPtr key = EcKey("P-256");
  const std::string point = EcPoint(key.get());
  ASSERT_EQ(point.size(), 65u);
  auto signed_with = [&](const std::string& spki) {
    return Message(Request(RequestInfo(spki), key.get()));
  };
  ASSERT_TRUE(ParseCsrDer(Request(RequestInfo(EcSpki(Oid(kP256), point)), key.get())).ok());
  // A P-256 point labelled P-384, and the other way round.
  EXPECT_EQ(signed_with(EcSpki(Oid(kP384), point)), "x509: failed to unmarshal elliptic curve point");
  KeyPtr k384 = EcKey("P-384");
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), EcPoint(k384.get()))),
            "x509: failed to unmarshal elliptic curve point");
  // Off the curve.
  std::string off = point;
  off[64] = static_cast<char>(off[64] ^ 1);
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), off)), "x509: failed to unmarshal elliptic curve point");
  // The point at infinity, which OpenSSL itself would take; (0, 0).
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), "\0"s)), "x509: failed to unmarshal elliptic curve point");
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), "\x04"s + std::string(64, '\0'))),
            "x509: failed to unmarshal elliptic curve point");
  // Compressed, and hybrid forms; a truncated point.
  std::string compressed = std::string(1, (point[64] & 1) ? '\x03' : '\x02') + point.substr(1, 32);
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), compressed)),
            "x509: failed to unmarshal elliptic curve point");
  std::string hybrid = point;
  hybrid[0] = (point[64] & 1) ? '\x07' : '\x06';
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), hybrid)), "x509: failed to unmarshal elliptic curve point");
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256), point.substr(0, 64))),
            "x509: failed to unmarshal elliptic curve point");
  // Explicit parameters, none, or an OID and then more.
  EXPECT_EQ(signed_with(EcSpki(Seq("\x02\x01\x01"s), point)), "x509: unsupported elliptic curve");
  EXPECT_EQ(signed_with(EcSpki("", point)), "x509: unsupported elliptic curve");
  EXPECT_EQ(signed_with(EcSpki(Oid(kP256) + "\x05\x00"s, point)), "x509: unsupported elliptic curve");
  // Unused bits in the key's BIT STRING.
  EXPECT_THAT(signed_with(Seq(Seq(Oid(kEcPublicKey) + Oid(kP256)) +
                              Tlv(der::kBitString, "\x01"s + point))),
              HasSubstr("x509: malformed certificate request"));
}

TEST(CsrParseTest, OtherKeyTypes) {
  KeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  auto csr = ParseCsrDer(OpenSslRequest(rsa.get(), EVP_sha256()));
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  EXPECT_EQ(csr->Info().key.type, KeyType::kRsa);
  EXPECT_EQ(csr->Info().key.bits, 2048);
  EXPECT_EQ(csr->public_key_der(), Spki(rsa.get()));

  KeyPtr weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  EXPECT_EQ(Message(OpenSslRequest(weak.get(), EVP_sha256())),
            "certificate request: RSA key of 1024 bits is too weak (minimum 2048)");
  KeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_EQ(Message(OpenSslRequest(ed.get(), nullptr)),
            "certificate request: unsupported key type ED25519 (only EC and RSA keys are accepted)");
  // An algorithm nobody knows.
  KeyPtr key = EcKey("P-256");
  std::string odd = Seq(Seq(Oid("\x2a\x03\x04"s)) + Tlv(der::kBitString, "\0\x01\x02"s));
  EXPECT_THAT(Message(Request(RequestInfo(odd), key.get())),
              HasSubstr("unsupported or malformed public key"));
}

TEST(CsrParseTest, SignatureChecks) {
  KeyPtr key = EcKey("P-256");
  std::string info = RequestInfo(Spki(key.get()));
  // Signed by another key.
  KeyPtr other = EcKey("P-256");
  EXPECT_EQ(Message(Request(info, other.get())), "x509: certificate request signature is invalid");
  // An ECDSA key with an RSA signature algorithm.
  EXPECT_EQ(Message(Request(info, key.get(), kSha256Rsa)),
            "x509: certificate request signature algorithm does not match its public key");
  KeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  EXPECT_EQ(Message(Request(RequestInfo(Spki(rsa.get())), rsa.get(), kEcdsaSha256)),
            "x509: certificate request signature algorithm does not match its public key");
  EXPECT_TRUE(ParseCsrDer(Request(RequestInfo(Spki(rsa.get())), rsa.get(), kSha256Rsa)).ok());
  EXPECT_TRUE(ParseCsrDer(Request(RequestInfo(Spki(rsa.get())), rsa.get(), kSha256Rsa,
                                  "\x05\x00"s))
                  .ok());
  // Unused bits in the signature; no signature.
  std::string sig = Signature(info, key.get(), EVP_sha256());
  EXPECT_THAT(Message(Seq(info + Seq(Oid(kEcdsaSha256)) + Tlv(der::kBitString, "\x01"s + sig))),
              HasSubstr("x509: malformed certificate request"));
  EXPECT_THAT(Message(Seq(info + Seq(Oid(kEcdsaSha256)) + Tlv(der::kBitString, "\0"s))),
              HasSubstr("x509: certificate request signature is invalid"));

  // What OpenSSL verifies for us still verifies: SHA-1, RSASSA-PSS, SHA-384.
  EXPECT_TRUE(ParseCsrDer(OpenSslRequest(key.get(), EVP_sha1())).ok());
  EXPECT_TRUE(ParseCsrDer(OpenSslRequest(key.get(), EVP_sha384())).ok());
  std::string pss = OpenSslRequest(rsa.get(), EVP_sha256(), /*pss=*/true);
  EXPECT_TRUE(ParseCsrDer(pss).ok()) << Message(pss);
  // ... and refuses when the content changed.
  std::string sha1 = OpenSslRequest(key.get(), EVP_sha1());
  size_t at = sha1.find("web");
  ASSERT_NE(at, std::string::npos);
  sha1[at] = 'x';
  EXPECT_EQ(Message(sha1), "x509: certificate request signature is invalid");
  at = pss.find("web");
  pss[at] = 'x';
  EXPECT_EQ(Message(pss), "x509: certificate request signature is invalid");
}

TEST(CsrParseTest, ExtensionsAndSans) {
  KeyPtr key = EcKey("P-256");
  auto with = [&](const std::string& attributes) {
    return Message(Request(RequestInfo(Spki(key.get()), attributes), key.get()));
  };
  const std::string uri = Uri("spiffe://td.consul/ns/default/dc/dc1/svc/web");
  // Two SAN extensions; two extension requests, even of both kinds.
  EXPECT_EQ(with(ExtensionRequest(SanExtension(uri) + SanExtension(Dns("a.consul")))),
            "certificate request: more than one Subject Alternative Name extension");
  EXPECT_EQ(with(ExtensionRequest(SanExtension(uri)) + ExtensionRequest(SanExtension(uri))),
            "x509: malformed certificate request: more than one extension request");
  EXPECT_EQ(with(ExtensionRequest(SanExtension(uri)) + ExtensionRequest("", kMsExtReq)),
            "x509: malformed certificate request: more than one extension request");
  // Names we do not issue.
  EXPECT_EQ(with(ExtensionRequest(SanExtension(uri + Email("a@b.c")))),
            "certificate request: unsupported Subject Alternative Name of type email (only DNS, "
            "IP and URI names are accepted)");
  EXPECT_EQ(with(ExtensionRequest(SanExtension(Tlv(0xa4, Seq(""))))),
            "certificate request: unsupported Subject Alternative Name of type dirName (only "
            "DNS, IP and URI names are accepted)");
  // Values that do not validate.
  EXPECT_EQ(with(ExtensionRequest(SanExtension(Dns("a.consul,URI:spiffe://evil")))),
            "certificate request: invalid DNS name in SAN: \"a.consul,URI:spiffe://evil\"");
  EXPECT_EQ(with(ExtensionRequest(SanExtension(Ip("\x01\x02\x03"s)))),
            "certificate request: invalid IP address in SAN: \"<invalid IP of 3 bytes>\"");
  EXPECT_EQ(with(ExtensionRequest(SanExtension(Uri("spiffe://a b")))),
            "certificate request: invalid URI in SAN: \"spiffe://a b\"");
  // Malformed SANs and extensions.
  EXPECT_EQ(with(ExtensionRequest(SanExtension(Tlv(0x02, "\x01")))),
            "certificate request: malformed Subject Alternative Name extension");
  EXPECT_EQ(with(ExtensionRequest(Seq(Oid("\x55\x1d\x11"s) + Tlv(der::kOctetString, "\x30\x05")))),
            "certificate request: malformed Subject Alternative Name extension");
  EXPECT_THAT(with(ExtensionRequest(Seq(Oid("\x55\x1d\x11"s)))), HasSubstr("bad extension"));
  EXPECT_THAT(with(ExtensionRequest(Seq(Oid("\x55\x1d\x11"s) + Tlv(der::kBoolean, "\x01\x01") +
                                        Tlv(der::kOctetString, Seq(uri))))),
              HasSubstr("bad extension"));
  EXPECT_THAT(with(Seq(Oid(kExtReq) + Tlv(der::kSet, Seq("") + Seq("")))),
              HasSubstr("bad extension request"));
  EXPECT_THAT(with(Seq(Oid(kExtReq) + Tlv(der::kSet, Tlv(der::kOctetString, "")))),
              HasSubstr("bad extension request"));
  EXPECT_THAT(with(Seq(Oid(kExtReq))), HasSubstr("bad attribute"));
  // Malformed OIDs, even where nothing reads them.
  EXPECT_THAT(with(Seq(Oid("\x2a\x80\x01"s) + Tlv(der::kSet, ""))), HasSubstr("bad attribute"));
  EXPECT_THAT(with(ExtensionRequest(Seq(Oid("\x55\x1d\x8f"s) + Tlv(der::kOctetString, "")))),
              HasSubstr("bad extension"));
  // A critical SAN and other extensions and attributes are fine.
  std::string critical_san = Seq(Oid("\x55\x1d\x11"s) + Tlv(der::kBoolean, "\xff") +
                                 Tlv(der::kOctetString, Seq(uri)));
  std::string key_usage = Seq(Oid("\x55\x1d\x0f"s) + Tlv(der::kOctetString, "\x03\x02\x05\xa0"));
  std::string challenge = Seq(Oid("\x2a\x86\x48\x86\xf7\x0d\x01\x09\x07"s) +
                              Tlv(der::kSet, Tlv(0x0c, "secret")));
  auto csr = ParseCsrDer(Request(
      RequestInfo(Spki(key.get()), challenge + ExtensionRequest(key_usage + critical_san)),
      key.get()));
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  EXPECT_EQ(csr->sans().uris, std::vector<std::string>{"spiffe://td.consul/ns/default/dc/dc1/svc/web"});
}

TEST(CsrParseTest, SubjectNames) {
  KeyPtr key = EcKey("P-256");
  // No CN; a CN in a BMPString (UTF-16) reads as UTF-8.
  auto none = ParseCsrDer(
      Request(Seq("\x02\x01\x00"s + Seq("") + Spki(key.get()) + Tlv(0xa0, "")), key.get()));
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(none->common_name(), "");
  std::string bmp_cn = Seq(Tlv(der::kSet, Seq(Oid("\x55\x04\x03"s) + Tlv(0x1e, "\0w\0\xe9\0b"s))));
  auto bmp = ParseCsrDer(
      Request(Seq("\x02\x01\x00"s + bmp_cn + Spki(key.get()) + Tlv(0xa0, "")), key.get()));
  ASSERT_TRUE(bmp.ok()) << bmp.status().message();
  EXPECT_EQ(bmp->common_name(), "w\xc3\xa9" "b");
  // A subject that is not a Name; a version that is not an INTEGER in DER.
  EXPECT_THAT(Message(Request(Seq("\x02\x01\x00"s + Seq("\x02\x01\x00"s) + Spki(key.get())),
                              key.get())),
              HasSubstr("bad subject"));
  EXPECT_THAT(Message(Request(Seq("\x02\x02\x00\x00"s + Subject("x") + Spki(key.get())), key.get())),
              HasSubstr("bad version"));
}

TEST(CsrParseTest, DefaultCsrIsEmpty) {
  Csr csr;
  EXPECT_FALSE(csr.valid());
  EXPECT_EQ(csr.public_key(), nullptr);
  EXPECT_TRUE(csr.public_key_der().empty());
  EXPECT_TRUE(csr.sans().empty());
  EXPECT_EQ(csr.common_name(), "");
  EXPECT_EQ(csr.ToDer(), "");
}

}  // namespace
}  // namespace gangway::x509
