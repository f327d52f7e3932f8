#include "agent/joiner.h"

#include <gtest/gtest.h>

namespace gangway::agent {
namespace {

TEST(JoinerTest, WrongDatacenterIsReadFromConsulsMessage) {
  EXPECT_EQ(WrongDatacenterIn("Failed to join 10.0.0.1:8301: Member 'b1' part of wrong datacenter 'dc2'"),
            "dc2");
  EXPECT_EQ(WrongDatacenterIn("dial tcp 10.0.0.1:8301: connection refused"), "");
  EXPECT_EQ(WrongDatacenterIn("part of wrong datacenter 'unterminated"), "");
}

}  // namespace
}  // namespace gangway::agent
