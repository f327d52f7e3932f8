#include "core/duration.h"

#include <gtest/gtest.h>

namespace gangway {
namespace {

TEST(Duration, ParsesGoForms) {
  EXPECT_EQ(ParseDuration("10s")->count(), 10'000'000'000);
  EXPECT_EQ(ParseDuration("1m30s")->count(), 90'000'000'000);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500'000'000);
  EXPECT_EQ(ParseDuration("72h")->count(), 72LL * 3600 * 1'000'000'000);
  EXPECT_EQ(ParseDuration("1.5s")->count(), 1'500'000'000);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
  EXPECT_EQ(ParseDuration("-2s")->count(), -2'000'000'000);
}

TEST(Duration, RejectsBadForms) {
  for (const char* bad : {"", "10", "s", "10x", "1..5s", "abc"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("invalid duration"), std::string::npos);
  }
}

TEST(Duration, FormatsLikeGo) {
  using namespace std::chrono_literals;
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(10s), "10s");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(72h), "72h0m0s");
  EXPECT_EQ(FormatDuration(1500ms), "1.5s");
  EXPECT_EQ(FormatDuration(300ms), "300ms");
}

}  // namespace
}  // namespace gangway
