#include "gossip/security.h"

#include <gtest/gtest.h>

#include <random>

namespace gangway::gossip {
namespace {

std::string Key(size_t n, char seed) {
  std::string k(n, '\0');
  for (size_t i = 0; i < n; ++i) k[i] = static_cast<char>(seed + i);
  return k;
}

Keyring Ring(std::vector<std::string> keys) {
  auto ring = Keyring::Create(keys, keys.empty() ? "" : keys[0]);
  EXPECT_TRUE(ring.ok()) << ring.status().message();
  return ring.ok() ? *ring : Keyring();
}

TEST(Crc32, MatchesTheIeeeCheckValue) {
  EXPECT_EQ(Crc32Ieee("123456789"), 0xcbf43926u);  // the standard CRC-32 check value
  EXPECT_EQ(Crc32Ieee(""), 0u);
}

TEST(Seal, RoundTripsForEveryKeySizeAndVersion) {
  const Nonce nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (size_t key_len : {16, 24, 32}) {
    for (uint8_t version : {kEncryptionVersion0, kEncryptionVersion1}) {
      for (size_t len : {0, 1, 15, 16, 17, 100}) {
        const std::string plain(len, 'p');
        Keyring ring = Ring({Key(key_len, 'a')});
        auto sealed = Seal(version, ring.primary(), nonce, plain, "aad");
        ASSERT_TRUE(sealed.ok()) << sealed.status().message();
        EXPECT_EQ(sealed->size(), SealedLength(version, len));
        EXPECT_EQ(static_cast<uint8_t>((*sealed)[0]), version);
        auto opened = Open(ring, *sealed, "aad");
        ASSERT_TRUE(opened.ok()) << opened.status().message();
        EXPECT_EQ(opened->plain, plain);
        EXPECT_EQ(opened->version, version);
        EXPECT_EQ(opened->nonce, nonce);
        EXPECT_FALSE(Open(ring, *sealed, "other aad").ok());
      }
    }
  }
}

TEST(Seal, VersionOnePacketOverheadIs29Bytes) {
  EXPECT_EQ(SealedLength(kEncryptionVersion1, 61), 90u);  // vector 21: ping 61 -> 90 bytes
  EXPECT_EQ(SealedLength(kEncryptionVersion0, 0), 45u);
  EXPECT_EQ(SealedLength(kEncryptionVersion0, 16), 61u);
}

TEST(Open, TriesEveryKeyInOrder) {
  const Nonce nonce{};
  const std::string old_key = Key(32, 'o');
  const std::string new_key = Key(32, 'n');
  auto sealed = Seal(kEncryptionVersion1, old_key, nonce, "state", "");
  ASSERT_TRUE(sealed.ok());
  Keyring ring = Ring({new_key, Key(16, 'x'), old_key});
  auto opened = Open(ring, *sealed, "");
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(opened->key_index, 2u);
  EXPECT_EQ(opened->plain, "state");
  EXPECT_FALSE(Open(Ring({new_key}), *sealed, "").ok());
}

TEST(Open, RejectsMalformedPayloads) {
  Keyring ring = Ring({Key(32, 'k')});
  EXPECT_FALSE(Open(ring, "", "").ok());
  EXPECT_FALSE(Open(ring, std::string(1, '\x02') + std::string(40, 'x'), "").ok());  // version 2
  EXPECT_FALSE(Open(ring, std::string(1, '\x01') + std::string(27, 'x'), "").ok());  // < 29
  EXPECT_FALSE(Open(ring, std::string(1, '\x00') + std::string(43, 'x'), "").ok());  // < 45
  EXPECT_FALSE(Open(Keyring(), std::string(1, '\x01') + std::string(40, 'x'), "").ok());
  auto sealed = Seal(kEncryptionVersion1, ring.primary(), Nonce{}, "hello", "");
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string flipped = *sealed;
    flipped[i] ^= 0x40;
    EXPECT_FALSE(Open(ring, flipped, "").ok()) << i;
  }
}

TEST(Open, RejectsForgedVersionZeroPadding) {
  // A version-1-style body sealed under version 0 framing: authentic, but the pad byte lies.
  // Go would slice with a negative length and panic; we report it.
  Keyring ring = Ring({Key(16, 'k')});
  std::string body(16, '\0');
  body[15] = 17;  // pad byte larger than a block
  auto sealed = Seal(kEncryptionVersion1, ring.primary(), Nonce{}, body, "");
  ASSERT_TRUE(sealed.ok());
  (*sealed)[0] = static_cast<char>(kEncryptionVersion0);
  auto opened = Open(ring, *sealed, "");
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("padding"), std::string::npos);
}

TEST(Keyring, ManagesPrimaryLikeMemberlist) {
  const std::string a = Key(32, 'a'), b = Key(32, 'b'), c = Key(24, 'c');
  auto ring = Keyring::Create({a, b}, b);
  ASSERT_TRUE(ring.ok());
  ASSERT_EQ(ring->keys().size(), 2u);
  EXPECT_EQ(ring->primary(), b);
  EXPECT_TRUE(ring->AddKey(c).ok());
  EXPECT_TRUE(ring->AddKey(c).ok());  // already present: no-op
  EXPECT_EQ(ring->keys().size(), 3u);
  EXPECT_FALSE(ring->RemoveKey(b).ok());  // the primary stays
  EXPECT_TRUE(ring->UseKey(c).ok());
  EXPECT_EQ(ring->primary(), c);
  EXPECT_TRUE(ring->RemoveKey(b).ok());
  EXPECT_EQ(ring->keys().size(), 2u);
  EXPECT_FALSE(ring->UseKey(b).ok());
  EXPECT_FALSE(ring->AddKey("short").ok());
  EXPECT_FALSE(Keyring::Create({a}, "").ok());
  auto empty = Keyring::Create({}, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(RandomNonceSource, ProducesDistinctNonces) {
  RandomNonceSource source;
  Nonce a{}, b{};
  ASSERT_TRUE(source.Next(&a).ok());
  ASSERT_TRUE(source.Next(&b).ok());
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gangway::gossip
