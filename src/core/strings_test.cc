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

}  // namespace
}  // namespace gangway
