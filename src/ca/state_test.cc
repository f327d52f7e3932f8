#include "ca/state.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace gangway::ca {
namespace {

using std::chrono::seconds;

std::string ParseError(const std::string& text) {
  auto t = ParseTime(text);
  EXPECT_FALSE(t.ok()) << text;
  return t.ok() ? std::string() : t.status().message();
}

TEST(ParseTime, ReadsWhatFormatTimeWrites) {
  auto t = ParseTime("2024-05-01T12:00:00Z");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->time_since_epoch(), seconds(1714564800));
  EXPECT_EQ(FormatTime(*t), "2024-05-01T12:00:00Z");
  auto epoch = ParseTime("1970-01-01T00:00:00Z");
  ASSERT_TRUE(epoch.ok());
  EXPECT_EQ(epoch->time_since_epoch(), seconds(0));
  auto before = ParseTime("1969-12-31T23:59:59Z");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->time_since_epoch(), seconds(-1));
  EXPECT_EQ(ParseError("2024-05-01 12:00:00"), "CA state: bad time \"2024-05-01 12:00:00\"");
  EXPECT_EQ(ParseError("2024-05-01T12:00:00Zjunk"),
            "CA state: bad time \"2024-05-01T12:00:00Zjunk\"");
}

// Regression: the fuzzer's stored roots with NotAfter "4072-11-24T07:01:25Z" (and NotBefore
// "8709-11-27T07:01:25Z") overflowed the nanosecond count in system_clock::from_time_t, which
// is undefined behaviour. Times outside what Time can hold are refused with the range.
TEST(ParseTime, TimeOverflowPast2262IsRefused) {
  const std::string range =
      " is out of range: times must lie between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z";
  EXPECT_EQ(ParseError("4072-11-24T07:01:25Z"), "CA state: time \"4072-11-24T07:01:25Z\"" + range);
  EXPECT_EQ(ParseError("8709-11-27T07:01:25Z"), "CA state: time \"8709-11-27T07:01:25Z\"" + range);
  EXPECT_EQ(ParseError("2262-04-11T23:47:17Z"), "CA state: time \"2262-04-11T23:47:17Z\"" + range);
  EXPECT_EQ(ParseError("1677-09-21T00:12:43Z"), "CA state: time \"1677-09-21T00:12:43Z\"" + range);
  EXPECT_EQ(ParseError("0000-01-01T00:00:00Z"), "CA state: time \"0000-01-01T00:00:00Z\"" + range);
  EXPECT_FALSE(ParseTime("99999999999-01-01T00:00:00Z").ok());
  // The edges themselves are kept, and round-trip.
  for (const char* edge : {"2262-04-11T23:47:16Z", "1677-09-21T00:12:44Z"}) {
    auto t = ParseTime(edge);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(FormatTime(*t), edge);
  }
}

TEST(ParseTime, DatesThatDoNotExistAreRefusedAsGoDoes) {
  EXPECT_EQ(ParseError("2023-02-29T00:00:00Z"),
            "CA state: bad time \"2023-02-29T00:00:00Z\": no such date");
  EXPECT_NE(ParseError("2024-04-31T00:00:00Z").find("no such date"), std::string::npos);
  EXPECT_NE(ParseError("2024-01-01T23:59:60Z").find("no such date"), std::string::npos);
  EXPECT_TRUE(ParseTime("2024-02-29T00:00:00Z").ok());
}

TEST(ParseTime, StoredRootsWithAnOutOfRangeTimeAreRefused) {
  nlohmann::json root = {{"ID", "aa:bb"},
                         {"Name", "root"},
                         {"SerialNumber", 1},
                         {"SigningKeyID", "cc"},
                         {"ExternalTrustDomain", "d"},
                         {"NotBefore", "2024-01-01T00:00:00Z"},
                         {"NotAfter", "4072-11-24T07:01:25Z"},
                         {"RootCert", "pem"},
                         {"Active", true},
                         {"PrivateKeyType", "ec"},
                         {"PrivateKeyBits", 256}};
  nlohmann::json doc = {{"ActiveRootID", "aa:bb"}, {"TrustDomain", "t"}, {"Roots", {root}}};
  auto roots = RootsFromJson(doc, 1);
  ASSERT_FALSE(roots.ok());
  EXPECT_NE(roots.status().message().find("4072-11-24T07:01:25Z\" is out of range"),
            std::string::npos)
      << roots.status().message();
}

}  // namespace
}  // namespace gangway::ca
