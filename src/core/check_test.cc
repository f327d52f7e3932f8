#include "core/check.h"

#include <gtest/gtest.h>

namespace gangway {
namespace {

TEST(CheckDeathTest, FailureNamesConditionAndContext) {
  int peers = 0;
  EXPECT_DEATH(GANGWAY_CHECK(peers > 0) << "peers=" << peers, "check failed: peers > 0 at .*check_test.cc:[0-9]+ peers=0");
}

TEST(Check, PassingCheckEvaluatesNoContext) {
  int evaluated = 0;
  auto context = [&] {
    ++evaluated;
    return "x";
  };
  GANGWAY_CHECK(1 + 1 == 2) << context();
  EXPECT_EQ(evaluated, 0);
}

TEST(Check, AssertCompilesInEveryBuild) {
  int n = 3;
  GANGWAY_ASSERT(n == 3) << "n=" << n;
  if (n == 3)
    GANGWAY_ASSERT(n > 0);
  else
    FAIL();
}

}  // namespace
}  // namespace gangway
