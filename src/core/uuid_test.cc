#include "core/uuid.h"

#include <set>

#include <gtest/gtest.h>

#include "core/endian.h"

namespace gangway {
namespace {

TEST(Uuid, NewIsVersion4AndParsesBack) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = NewUuid();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    auto bytes = ParseUuid(id);
    ASSERT_TRUE(bytes) << id;
    EXPECT_EQ(FormatUuid(*bytes), id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Uuid, ParseAcceptsUpperCase) {
  auto b = ParseUuid("0123ABCD-ef01-4567-89AB-CDEF01234567");
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0], 0x01);
  EXPECT_EQ((*b)[3], 0xcd);
  EXPECT_EQ((*b)[15], 0x67);
  EXPECT_EQ(FormatUuid(*b), "0123abcd-ef01-4567-89ab-cdef01234567");
}

TEST(Uuid, ParseRefusesMalformed) {
  for (const char* bad : {"", "0123abcd-ef01-4567-89ab-cdef0123456",
                          "0123abcd-ef01-4567-89ab-cdef012345678", "0123abcdxef01-4567-89ab-cdef01234567",
                          "0123abcd-ef01-4567-89ab-cdef0123456g", "0123abcd-ef01-4567-89ab_cdef01234567",
                          "0123abcd-ef0-14567-89ab-cdef01234567"}) {
    EXPECT_FALSE(ParseUuid(bad)) << bad;
    EXPECT_FALSE(IsUuid(bad)) << bad;
  }
}

TEST(Endian, RoundTrip) {
  std::string out;
  AppendBigEndian32(&out, 0x01020304);
  AppendBigEndian(&out, 0xa1b2, 2);
  AppendBigEndian(&out, 0x1122334455667788ULL, 8);
  ASSERT_EQ(out.size(), 14u);
  EXPECT_EQ(out.substr(0, 4), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(LoadBigEndian32(out), 0x01020304u);
  EXPECT_EQ(LoadBigEndian(std::string_view(out).substr(4), 2), 0xa1b2u);
  EXPECT_EQ(LoadBigEndian(std::string_view(out).substr(6), 8), 0x1122334455667788ULL);
  EXPECT_EQ(LoadBigEndian(std::string_view("\xff", 1), 1), 0xffu);
}

}  // namespace
}  // namespace gangway
