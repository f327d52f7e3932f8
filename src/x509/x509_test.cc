#include "x509/x509.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace gangway::x509 {
namespace {

using ::testing::HasSubstr;

struct Ca {
  PrivateKey key;
  Certificate cert;
};

Ca MakeCa(const std::string& cn, KeySpec spec = {}) {
  auto key = GenerateKey(spec);
  EXPECT_TRUE(key.ok()) << key.status().message();
  CAOptions o;
  o.subject.common_name = cn;
  o.subject.organization = "HashiCorp Inc.";
  auto cert = CreateCA(*key, o);
  EXPECT_TRUE(cert.ok()) << cert.status().message();
  return {*key, *cert};
}

Certificate Leaf(const Ca& ca, const PrivateKey& key, const Sans& sans, bool server = true) {
  CertOptions o;
  o.subject.common_name = sans.dns.empty() ? "leaf" : sans.dns[0];
  o.sans = sans;
  o.server_auth = server;
  o.client_auth = true;
  auto c = SignCertificate(key.native(), o, ca.cert, ca.key);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

TEST(X509Test, CaFieldsMatchConsulsAgentCa) {
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  CAOptions o;
  o.subject = {.common_name = "Consul Agent CA 42", .organization = "HashiCorp Inc.",
               .country = "US", .postal_code = "94105"};
  o.permitted_dns_domains = {"consul", "localhost"};
  o.uris = {"spiffe://1111.consul"};
  o.validity = std::chrono::hours(24 * 10);
  auto ca = CreateCA(*key, o);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  CertInfo info = ca->Info();
  EXPECT_EQ(info.common_name, "Consul Agent CA 42");
  EXPECT_EQ(info.issuer, info.subject);
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject_key_id, info.authority_key_id);
  EXPECT_EQ(info.subject_key_id, KeyId(key->native()));
  EXPECT_EQ(info.subject_key_id.size(), 32u * 3 - 1);  // SHA-256, colon hex
  EXPECT_EQ(info.sans.uris, std::vector<std::string>{"spiffe://1111.consul"});
  EXPECT_EQ(info.permitted_dns_domains, (std::vector<std::string>{"consul", "localhost"}));
  EXPECT_EQ(info.serial.size(), 16u * 3 - 1);
  EXPECT_FALSE(info.serial_decimal.empty());
  EXPECT_EQ(info.key.type, KeyType::kEc);
  EXPECT_EQ(info.key.bits, 256);
  auto days = std::chrono::duration_cast<std::chrono::hours>(info.not_after - info.not_before);
  EXPECT_EQ(days.count(), 240);
  // PEM round trip.
  auto again = ParseCertificatePem(ca->ToPem());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToDer(), ca->ToDer());
  auto der = ParseCertificateDer(ca->ToDer());
  ASSERT_TRUE(der.ok());
}

TEST(X509Test, SignedLeafVerifiesAndCarriesExactlyItsSans) {
  Ca ca = MakeCa("Consul Agent CA 1");
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  Sans sans{.dns = {"server.dc1.consul", "localhost"}, .ips = {"127.0.0.1", "::1"},
            .uris = {"spiffe://td.consul/agent/server/dc/dc1"}};
  Certificate leaf = Leaf(ca, *key, sans);
  CertInfo info = leaf.Info();
  EXPECT_EQ(info.sans.dns, sans.dns);
  EXPECT_EQ(info.sans.ips, sans.ips);
  EXPECT_EQ(info.sans.uris, sans.uris);
  EXPECT_FALSE(info.is_ca);
  EXPECT_TRUE(info.server_auth);
  EXPECT_TRUE(info.client_auth);
  EXPECT_EQ(info.authority_key_id, ca.cert.Info().subject_key_id);
  EXPECT_EQ(info.issuer_common_name, "Consul Agent CA 1");
  EXPECT_TRUE(KeyMatchesCertificate(*key, leaf));
  EXPECT_FALSE(KeyMatchesCertificate(ca.key, leaf));

  EXPECT_TRUE(VerifyCertificate(leaf, {}, {ca.cert}).ok());
  EXPECT_TRUE(VerifyCertificate(leaf, {}, {ca.cert}, {.dns_name = "server.dc1.consul",
                                                      .server_auth = true})
                  .ok());
  Status wrong_name = VerifyCertificate(leaf, {}, {ca.cert}, {.dns_name = "server.dc2.consul"});
  EXPECT_EQ(wrong_name.message(),
            "x509: certificate is valid for server.dc1.consul, localhost, 127.0.0.1, ::1, not "
            "server.dc2.consul");
}

TEST(X509Test, UnknownAuthorityNamesTheExpectedCa) {
  Ca ours = MakeCa("Consul Agent CA 1111");
  Ca theirs = MakeCa("Consul Agent CA 2222");
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  Certificate leaf = Leaf(theirs, *key, {.dns = {"server.dc2.consul"}});
  Status s = VerifyCertificate(leaf, {}, {ours.cert});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("x509: certificate signed by unknown authority"));
  EXPECT_THAT(s.message(), HasSubstr("\"Consul Agent CA 1111\""));
  EXPECT_THAT(s.message(), HasSubstr(ours.cert.Info().subject_key_id));
  EXPECT_THAT(s.message(), HasSubstr("issued by \"Consul Agent CA 2222\""));

  // Same CA name, different key: Go's own hint wording.
  Ca impostor = MakeCa("Consul Agent CA 1111");
  Certificate leaf2 = Leaf(impostor, *key, {.dns = {"server.dc1.consul"}});
  Status s2 = VerifyCertificate(leaf2, {}, {ours.cert});
  EXPECT_EQ(s2.message(),
            "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA "
            "verification failure\" while trying to verify candidate authority certificate "
            "\"Consul Agent CA 1111\")");
}

TEST(X509Test, ChainThroughIntermediateAndExpiry) {
  Ca root = MakeCa("root");
  auto inter_key = GenerateKey();
  ASSERT_TRUE(inter_key.ok());
  CertOptions io;
  io.subject.common_name = "intermediate";
  io.is_ca = true;
  io.path_len = 0;
  io.sans.uris = {"spiffe://td.consul"};
  auto inter = SignCertificate(inter_key->native(), io, root.cert, root.key);
  ASSERT_TRUE(inter.ok()) << inter.status().message();
  EXPECT_TRUE(inter->Info().is_ca);
  EXPECT_EQ(inter->Info().path_len, 0);
  Ca mid{*inter_key, *inter};
  auto key = GenerateKey();
  Certificate leaf = Leaf(mid, *key, {.uris = {"spiffe://td.consul/ns/default/dc/dc1/svc/web"}});
  EXPECT_TRUE(VerifyCertificate(leaf, {*inter}, {root.cert}).ok());
  Status missing = VerifyCertificate(leaf, {}, {root.cert});
  EXPECT_THAT(missing.message(), HasSubstr("x509: certificate signed by unknown authority"));

  auto later = std::chrono::system_clock::now() + std::chrono::hours(24 * 400);
  Status expired = VerifyCertificate(leaf, {*inter}, {root.cert}, {.at = later});
  EXPECT_THAT(expired.message(),
              HasSubstr("x509: certificate has expired or is not yet valid: current time"));
}

// A CA made in the first millisecond of a second (its NotBefore that second) verifies at once:
// OpenSSL's own clock (time(), the kernel's coarse clock) can still read the second before.
TEST(X509Test, ACertificateMadeThisSecondIsValidAtOnce) {
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  for (int round = 0; round < 3; ++round) {
    // Spin until a new second has just begun.
    auto since_second = [] {
      auto now = std::chrono::system_clock::now().time_since_epoch();
      return now - std::chrono::duration_cast<std::chrono::seconds>(now);
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (since_second() > std::chrono::microseconds(200) &&
           std::chrono::steady_clock::now() < deadline) {
    }
    CAOptions o;
    o.subject.common_name = "fresh";
    auto ca = CreateCA(*key, o);
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    Status s = VerifyCertificate(*ca, {}, {*ca});
    EXPECT_TRUE(s.ok()) << s.message();
  }
}

TEST(X509Test, RsaKeys) {
  for (int bits : {2048, 4096}) {
    if (bits == 4096 && std::getenv("GANGWAY_SLOW_TESTS") == nullptr) continue;
    Ca ca = MakeCa("rsa", {KeyType::kRsa, bits});
    EXPECT_EQ(ca.cert.Info().key.type, KeyType::kRsa);
    EXPECT_EQ(ca.cert.Info().key.bits, bits);
    auto pem = ca.key.ToPem();
    EXPECT_THAT(pem, HasSubstr("BEGIN RSA PRIVATE KEY"));
    auto back = ParsePrivateKeyPem(pem);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_TRUE(KeyMatchesCertificate(*back, ca.cert));
  }
  EXPECT_FALSE(GenerateKey({KeyType::kRsa, 1024}).ok());
  EXPECT_FALSE(GenerateKey({KeyType::kEc, 255}).ok());
}

TEST(X509Test, KeyPemRoundTrip) {
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  std::string pem = key->ToPem();
  EXPECT_THAT(pem, HasSubstr("-----BEGIN EC PRIVATE KEY-----"));
  auto back = ParsePrivateKeyPem(pem);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToPem(), pem);
  EXPECT_THAT(key->PublicKeyPem(), HasSubstr("BEGIN PUBLIC KEY"));
}

TEST(X509Test, BadInputsGiveClearErrors) {
  EXPECT_EQ(ParseCertificatePem("hello").status().message(), "no PEM-encoded data found");
  EXPECT_EQ(ParsePrivateKeyPem("").status().message(), "no PEM-encoded data found");
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ParseCertificatePem(key->ToPem()).status().message(),
            "first PEM-block should be CERTIFICATE type, got EC PRIVATE KEY");
  Ca ca = MakeCa("x");
  EXPECT_EQ(ParsePrivateKeyPem(ca.cert.ToPem()).status().message(),
            "unknown PEM block type for signing key: CERTIFICATE");
  std::string garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(ParseCertificatePem(garbage).status().message(),
              HasSubstr("x509: malformed certificate"));
  EXPECT_THAT(ParseCertificateDer("\x30\x03\x02\x01").status().message(),
              HasSubstr("x509: malformed certificate"));
  std::string bad_key = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
  EXPECT_THAT(ParsePrivateKeyPem(bad_key).status().message(), HasSubstr("malformed EC PRIVATE KEY"));
  EXPECT_FALSE(CreateCA(*key, {}).ok());  // no common name

  // SAN validation: no injection through the values.
  CertOptions o;
  o.sans.dns = {"a.consul,URI:spiffe://evil"};
  EXPECT_THAT(SignCertificate(key->native(), o, ca.cert, ca.key).status().message(),
              HasSubstr("invalid DNS name"));
  o.sans = {.ips = {"300.1.1.1"}};
  EXPECT_THAT(SignCertificate(key->native(), o, ca.cert, ca.key).status().message(),
              HasSubstr("invalid IP address"));
  o.sans = {.uris = {"no scheme"}};
  EXPECT_THAT(SignCertificate(key->native(), o, ca.cert, ca.key).status().message(),
              HasSubstr("invalid URI"));
  // A non-CA cannot sign; a key that does not match its CA cannot either.
  Certificate leaf = Leaf(ca, *key, {.dns = {"a"}});
  EXPECT_THAT(SignCertificate(key->native(), {}, leaf, *key).status().message(),
              HasSubstr("is not a CA"));
  EXPECT_THAT(SignCertificate(key->native(), {}, ca.cert, *key).status().message(),
              HasSubstr("does not match"));
}

TEST(X509Test, CsrRoundTripAndSigning) {
  auto key = GenerateKey();
  ASSERT_TRUE(key.ok());
  Sans sans{.dns = {"web.service.consul"}, .ips = {"10.0.0.1"},
            .uris = {"spiffe://td.consul/ns/default/dc/dc1/svc/web"}};
  auto csr = CreateCsr(*key, {.common_name = "web"}, sans);
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  auto parsed = ParseCsrPem(csr->ToPem());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  CsrInfo info = parsed->Info();
  EXPECT_EQ(info.common_name, "web");
  EXPECT_EQ(info.sans.dns, sans.dns);
  EXPECT_EQ(info.sans.ips, sans.ips);
  EXPECT_EQ(info.sans.uris, sans.uris);
  auto der = ParseCsrDer(csr->ToDer());
  ASSERT_TRUE(der.ok());

  // A CSR without SANs has none.
  auto bare = CreateCsr(*key, {.common_name = "bare"}, {});
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(ParseCsrPem(bare->ToPem())->Info().sans.empty());

  Ca ca = MakeCa("ca");
  CertOptions o;
  o.sans = info.sans;
  o.client_auth = o.server_auth = true;
  auto cert = SignCertificate(parsed->public_key(), o, ca.cert, ca.key);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->Info().sans.uris, sans.uris);
  EXPECT_TRUE(KeyMatchesCertificate(*key, *cert));
}

TEST(X509Test, GarbageCsrsAreRejectedWithAReason) {
  EXPECT_EQ(ParseCsrPem("garbage").status().message(), "no PEM-encoded data found");
  Ca ca = MakeCa("ca");
  EXPECT_EQ(ParseCsrPem(ca.cert.ToPem()).status().message(),
            "first PEM-block should be CERTIFICATE REQUEST type, got CERTIFICATE");
  EXPECT_THAT(
      ParseCsrPem("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n")
          .status()
          .message(),
      HasSubstr("x509: malformed certificate request"));
  // A CSR whose signature no longer matches its content.
  auto key = GenerateKey();
  auto csr = CreateCsr(*key, {.common_name = "web"}, {.dns = {"aaaa.consul"}});
  ASSERT_TRUE(csr.ok());
  std::string der = csr->ToDer();
  size_t at = der.find("aaaa");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'b';
  EXPECT_EQ(ParseCsrDer(der).status().message(), "x509: certificate request signature is invalid");
  EXPECT_THAT(ParseCsrDer(csr->ToDer() + "x").status().message(), HasSubstr("trailing data"));
}

// `openssl verify` agrees with us, when the binary is installed.
TEST(X509Test, OpenSslBinaryAgrees) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl binary";
  auto dir = std::filesystem::temp_directory_path() /
             ("x509_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Ca ca = MakeCa("Consul Agent CA 7");
  Ca other = MakeCa("Consul Agent CA 8");
  auto key = GenerateKey();
  Certificate leaf = Leaf(ca, *key, {.dns = {"server.dc1.consul", "localhost"}, .ips = {"127.0.0.1"}});
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  std::string ca_pem = write("ca.pem", ca.cert.ToPem());
  std::string other_pem = write("other.pem", other.cert.ToPem());
  std::string leaf_pem = write("leaf.pem", leaf.ToPem());
  std::string quiet = " >/dev/null 2>&1";
  EXPECT_EQ(std::system(("openssl verify -CAfile " + ca_pem + " -purpose sslserver " + leaf_pem +
                         quiet).c_str()),
            0);
  EXPECT_EQ(std::system(("openssl verify -CAfile " + ca_pem + " -verify_hostname server.dc1.consul " +
                         leaf_pem + quiet).c_str()),
            0);
  EXPECT_NE(std::system(("openssl verify -CAfile " + other_pem + " " + leaf_pem + quiet).c_str()), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gangway::x509
