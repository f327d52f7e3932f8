#include "consensus/entry.h"

#include <gtest/gtest.h>

namespace gangway::consensus {
namespace {

TEST(EntryTest, RoundTripsEveryLengthAndPadsToEightBytes) {
  for (size_t n = 0; n < 40; ++n) {
    std::string payload(n, 'a');
    for (size_t i = 0; i < n; ++i) payload[i] = char(i * 37);
    std::string framed = EncodeEntry(payload);
    EXPECT_EQ(framed.size() % 8, 0u) << n;
    EXPECT_EQ(framed.size(), 8 + (n + 7) / 8 * 8) << n;
    auto back = DecodeEntry(framed);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, payload);
  }
}

TEST(EntryTest, HeaderLayoutIsLittleEndianLengthThenFormat) {
  std::string framed = EncodeEntry("hello");
  EXPECT_EQ(framed, std::string("\x05\x00\x00\x00\x01\x00\x00\x00hello\x00\x00\x00", 16));
}

TEST(EntryTest, RejectsWhatEncodeWouldNotProduce) {
  std::string good = EncodeEntry("hello");
  EXPECT_FALSE(DecodeEntry("").ok());
  EXPECT_FALSE(DecodeEntry(good.substr(0, 12)).ok());  // not a multiple of 8
  std::string bad = good;
  bad[4] = 2;  // unknown format
  EXPECT_NE(DecodeEntry(bad).status().message().find("format"), std::string::npos);
  bad = good;
  bad[6] = 1;
  EXPECT_FALSE(DecodeEntry(bad).ok());
  bad = good;
  bad[0] = 9;  // longer than the frame
  EXPECT_FALSE(DecodeEntry(bad).ok());
  bad = good;
  bad[0] = 1;  // would need fewer padding blocks
  EXPECT_FALSE(DecodeEntry(bad).ok());
  bad = good;
  bad[15] = 'x';  // padding
  EXPECT_FALSE(DecodeEntry(bad).ok());
  bad = good;
  bad[3] = char(0xff);  // 4 GiB length
  EXPECT_FALSE(DecodeEntry(bad).ok());
}

}  // namespace
}  // namespace gangway::consensus
