#include "core/testing/ports.h"

#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include <gtest/gtest.h>

namespace gangway::testing {
namespace {

TEST(ReservePortTest, NeverTheSamePortTwiceNorOneAnotherProcessHolds) {
  std::set<int> seen;
  for (int i = 0; i < 50; ++i) {
    int p = ReservePort();
    EXPECT_GE(p, 23000);
    EXPECT_TRUE(seen.insert(p).second) << p;
  }
  // A child process (its own open files) cannot take the ports this one holds.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::set<int> mine;
    for (int i = 0; i < 200; ++i) mine.insert(ReservePort());
    for (int p : seen) {
      if (mine.count(p)) _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace gangway::testing
