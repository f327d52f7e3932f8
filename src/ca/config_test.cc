#include "ca/config.h"

#include <gtest/gtest.h>

namespace gangway::ca {
namespace {

using std::chrono::hours;

std::string ErrorOf(std::string_view body) {
  auto c = ParseCAConfiguration(body);
  if (!c.ok()) return c.status().message();
  return Validate(*c).message();
}

TEST(CAConfigTest, DefaultsAreConsuls) {
  auto c = ParseCAConfiguration(R"({"Provider":"consul","Config":{}})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(Validate(*c).ok());
  auto j = EncodeCAConfiguration(*c);
  EXPECT_EQ(j["Provider"], "consul");
  EXPECT_EQ(j["Config"]["LeafCertTTL"], "72h");
  EXPECT_EQ(j["Config"]["IntermediateCertTTL"], "8760h");
  EXPECT_EQ(j["Config"]["RootCertTTL"], "87600h");
  EXPECT_EQ(j["Config"]["PrivateKeyType"], "ec");
  EXPECT_EQ(j["Config"]["PrivateKeyBits"], 256);
  EXPECT_EQ(j["Config"]["CSRMaxPerSecond"].dump(), "50");
  EXPECT_FALSE(j["Config"].contains("PrivateKey"));
  EXPECT_EQ(j["ForceWithoutCrossSigning"], false);
  EXPECT_TRUE(j.contains("CreateIndex"));
  EXPECT_TRUE(j.contains("State"));
}

TEST(CAConfigTest, DecodesWeaklyTypedSnakeCaseAndKeepsUnknownKeys) {
  auto c = ParseCAConfiguration(
      R"({"Provider":"consul","force_without_cross_signing":true,
          "Config":{"leaf_cert_ttl":"24h","PrivateKeyType":"rsa","privatekeybits":"2048",
                    "IntermediateCertTTL":"100h","RotationPeriod":"2160h","CSRMaxPerSecond":0}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->leaf_cert_ttl, hours(24));
  EXPECT_EQ(c->intermediate_cert_ttl, hours(100));
  EXPECT_EQ(c->private_key_type, "rsa");
  EXPECT_EQ(c->private_key_bits, 2048);
  EXPECT_EQ(c->csr_max_per_second, 0);
  EXPECT_TRUE(c->force_without_cross_signing);
  EXPECT_TRUE(Validate(*c).ok()) << Validate(*c).message();
  EXPECT_EQ(EncodeCAConfiguration(*c)["Config"]["RotationPeriod"], "2160h");
  // Round trip through the GET shape.
  auto again = DecodeCAConfiguration(EncodeCAConfiguration(*c));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(EncodeCAConfiguration(*again), EncodeCAConfiguration(*c));
}

TEST(CAConfigTest, ConsulErrorTexts) {
  EXPECT_EQ(ErrorOf(R"({"Config":{"RootCert":"-----BEGIN CERTIFICATE-----"}})"),
            "must provide a private key when providing a root cert");
  EXPECT_EQ(ErrorOf(R"({"Config":{"LeafCertTTL":"30m"}})"),
            "leaf cert TTL must be greater or equal than 1h0m0s");
  EXPECT_EQ(ErrorOf(R"({"Config":{"LeafCertTTL":"8761h","IntermediateCertTTL":"30000h",
                                  "RootCertTTL":"87600h"}})"),
            "leaf cert TTL must be less than 8760h0m0s");
  EXPECT_EQ(ErrorOf(R"({"Config":{"LeafCertTTL":"1h","IntermediateCertTTL":"2h"}})"),
            "Intermediate Cert TTL must be greater or equal than 3h");
  EXPECT_EQ(ErrorOf(R"({"Config":{"LeafCertTTL":"2h","IntermediateCertTTL":"4h"}})"),
            "Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=6h0m0s).");
  EXPECT_EQ(ErrorOf(R"({"Config":{"IntermediateCertTTL":"9000h","RootCertTTL":"8000h"}})"),
            "root cert TTL is set and is not greater than intermediate cert ttl. root cert "
            "ttl: 8000h0m0s, intermediate cert ttl: 9000h0m0s");
  EXPECT_EQ(ErrorOf(R"({"Config":{"PrivateKeyType":"ed25519"}})"),
            "private key type must be either 'ec' or 'rsa'");
  EXPECT_EQ(ErrorOf(R"({"Config":{"PrivateKeyBits":512}})"),
            "EC key length must be one of (224, 256, 384, 521) bits");
  EXPECT_EQ(ErrorOf(R"({"Config":{"PrivateKeyType":"rsa","PrivateKeyBits":256}})"),
            "RSA key length must be 2048 or 4096 bits");
  EXPECT_EQ(ErrorOf(R"({"Provider":"nope","Config":{}})"), "unknown CA provider \"nope\"");
  EXPECT_EQ(ErrorOf(R"({"Config":{"LeafCertTTL":"soon"}})").rfind("error decoding config: ", 0),
            0u);
  EXPECT_EQ(ErrorOf(R"({"Config":{"PrivateKeyBits":{}}})").rfind("error decoding config: ", 0),
            0u);
}

TEST(CAConfigTest, RequiresNewRoot) {
  CAConfig a;
  CAConfig b = a;
  b.leaf_cert_ttl = hours(10);
  EXPECT_FALSE(RequiresNewRoot(a, b));
  b.private_key_bits = 384;
  EXPECT_TRUE(RequiresNewRoot(a, b));
  CAConfig byo = a;
  byo.private_key = "k";
  EXPECT_TRUE(RequiresNewRoot(a, byo));
  EXPECT_FALSE(RequiresNewRoot(byo, byo));
  EXPECT_TRUE(RequiresNewRoot(byo, a));
}

}  // namespace
}  // namespace gangway::ca
