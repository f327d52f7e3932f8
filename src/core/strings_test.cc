#include "core/strings.h"

#include <gtest/gtest.h>

namespace gangway {
namespace {

TEST(Strings, NearestSuggestsCloseKeys) {
  std::vector<std::string> keys = {"datacenter", "data_dir", "retry_join", "retry_join_wan"};
  EXPECT_EQ(Nearest("datacentre", keys), "datacenter");
  EXPECT_EQ(Nearest("retry_jion", keys), "retry_join");
  EXPECT_EQ(Nearest("zzzzzzzzzzzzzz", keys), "");
}

TEST(Strings, UrlDecode) {
  EXPECT_EQ(UrlDecode("dc%2D1"), "dc-1");
  EXPECT_EQ(UrlDecode("a%2"), "a%2");
  EXPECT_EQ(UrlDecode("a+b"), "a+b");
}

TEST(Strings, Split) {
  EXPECT_EQ(Split("a/b//c", '/'), (std::vector<std::string>{"a", "b", "", "c"}));
}

TEST(Strings, SplitHostPort) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:8502", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8502);
  ASSERT_TRUE(SplitHostPort("[::1]:1", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 1);
  for (const char* bad : {"", "host", ":80", "host:", "host:0", "host:65536", "host:8x", "::1:80",
                          "host:-1", "host:999999"}) {
    EXPECT_FALSE(SplitHostPort(bad, &host, &port)) << bad;
  }
}

}  // namespace
}  // namespace gangway
