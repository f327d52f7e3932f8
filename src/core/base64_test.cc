#include "core/base64.h"

#include <gtest/gtest.h>

namespace gangway {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Base64, RoundTripsEveryByteAndLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 7) {
    std::string s = all.substr(0, n);
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok()) << n << ": " << back.status().message();
    EXPECT_EQ(*back, s);
  }
}

TEST(Base64, RejectsMalformedText) {
  for (const char* bad : {"Zm9", "Zm9v!A==", "Zm9v YmFy", "=Zm9", "Zm=v", "Zm9=", "Zg=a", "Zh==",
                          "Zm9vYg=="
                          "x"}) {
    auto r = Base64Decode(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("illegal base64 data"), std::string::npos);
  }
  EXPECT_EQ(*Base64Decode("aGk="), "hi");
}

}  // namespace
}  // namespace gangway
