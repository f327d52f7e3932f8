#include "consensus/handshake.h"

#include <gtest/gtest.h>

namespace gangway::consensus {
namespace {

TEST(HandshakeTest, LayoutIsVersionIdLengthAddressBigEndian) {
  std::string hs = EncodeHandshake(0x0102030405060708, "10.0.0.1:8300");
  EXPECT_EQ(hs, std::string("\0\0\0\0\0\0\0\x01"
                            "\x01\x02\x03\x04\x05\x06\x07\x08"
                            "\x00\x0d"
                            "10.0.0.1:8300",
                            18 + 13));
}

TEST(HandshakeTest, DecodesWhatEncodeWroteAtEveryPrefix) {
  std::string hs = EncodeHandshake(42, "127.0.0.1:8300");
  for (size_t n = 0; n < hs.size(); ++n) {
    auto p = DecodeHandshake(hs.substr(0, n));
    ASSERT_TRUE(p.ok()) << n << ": " << p.status().message();
    ASSERT_FALSE(p->complete()) << n;
    // Never asks for more than the handshake still lacks: reading exactly `missing` bytes
    // cannot swallow what follows it.
    EXPECT_LE(n + p->missing, hs.size()) << n;
  }
  auto p = DecodeHandshake(hs + "trailing");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->complete());
  EXPECT_EQ(p->size, hs.size());
  EXPECT_EQ(p->handshake.id, 42u);
  EXPECT_EQ(p->handshake.address, "127.0.0.1:8300");
}

TEST(HandshakeTest, RefusesGarbageAsSoonAsItArrives) {
  std::string good = EncodeHandshake(7, "127.0.0.1:8300");
  // Version 2, even before the rest arrives.
  std::string v2 = good;
  v2[7] = 2;
  EXPECT_FALSE(DecodeHandshake(v2.substr(0, 8)).ok());
  // An HTTP request sent to the raft mode.
  EXPECT_FALSE(DecodeHandshake("GET / HTTP/1.1\r\n\r\n").ok());
  // Server id 0.
  std::string id0 = good;
  for (int i = 8; i < 16; ++i) id0[i] = 0;
  EXPECT_FALSE(DecodeHandshake(id0.substr(0, 16)).ok());
  // Address length 0 and beyond the limit.
  std::string empty = EncodeHandshake(7, "");
  EXPECT_FALSE(DecodeHandshake(empty).ok());
  std::string huge = good.substr(0, 16) + std::string("\xff\xff", 2);
  auto h = DecodeHandshake(huge);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("65535"), std::string::npos);
  EXPECT_FALSE(DecodeHandshake(good.substr(0, 16) + std::string("\x01\x00", 2)).ok());  // 256
  // Control bytes, NUL and spaces in the address, even in a partial one.
  EXPECT_FALSE(DecodeHandshake(EncodeHandshake(7, std::string("a\0b", 3))).ok());
  EXPECT_FALSE(DecodeHandshake(EncodeHandshake(7, "a b")).ok());
  EXPECT_FALSE(DecodeHandshake(EncodeHandshake(7, "a\nb").substr(0, 20)).ok());
  // The longest valid address.
  std::string longest(kMaxHandshakeAddress, 'x');
  auto l = DecodeHandshake(EncodeHandshake(7, longest));
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->complete());
  EXPECT_EQ(l->size, kMaxHandshakeSize);
}

}  // namespace
}  // namespace gangway::consensus
