#include "core/testing/sim_loop.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace gangway::testing {
namespace {

using namespace std::chrono_literals;

TEST(SimLoop, NothingRunsUntilTheTestRunsTheLoop) {
  SimLoop loop;
  bool ran = false;
  loop.Post([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop.pending(), 1u);
  loop.RunPending();
  EXPECT_TRUE(ran);
  EXPECT_EQ(loop.events_run(), 1u);
}

TEST(SimLoop, TimersFireInTimeOrderAndTiesInScheduleOrder) {
  SimLoop loop;
  const auto start = loop.Now();
  std::vector<std::string> order;
  std::vector<std::chrono::nanoseconds> at;
  auto record = [&](std::string name) {
    return [&, name] {
      order.push_back(name);
      at.push_back(loop.Now() - start);
    };
  };
  auto t3 = loop.After(3s, record("c"));
  auto t1 = loop.After(1s, record("a"));
  auto t1b = loop.After(1s, record("b"));
  loop.Post(record("posted"));
  loop.RunFor(2s);
  EXPECT_EQ(order, (std::vector<std::string>{"posted", "a", "b"}));
  EXPECT_EQ(loop.Now() - start, 2s);
  loop.RunFor(5s);
  EXPECT_EQ(order, (std::vector<std::string>{"posted", "a", "b", "c"}));
  EXPECT_EQ(at, (std::vector<std::chrono::nanoseconds>{0s, 1s, 1s, 3s}));
  EXPECT_EQ(loop.Now() - start, 7s);
}

TEST(SimLoop, DestroyingATimerCancelsIt) {
  SimLoop loop;
  int fired = 0;
  auto keep = loop.After(1s, [&] { ++fired; });
  auto drop = loop.After(1s, [&] { fired += 10; });
  drop.reset();
  loop.RunFor(1s);
  EXPECT_EQ(fired, 1);
}

TEST(SimLoop, ACallbackMayDestroyItsOwnTimerAndRearm) {
  SimLoop loop;
  std::unique_ptr<Timer> timer;
  int ticks = 0;
  std::function<void()> arm = [&] {
    timer = loop.After(100ms, [&] {
      ++ticks;
      arm();  // replaces (destroys) the timer that is running
    });
  };
  arm();
  loop.RunFor(1s);
  EXPECT_EQ(ticks, 10);
}

TEST(SimLoop, EventsScheduledWhileRunningRunInTheSameCallWhenDue) {
  SimLoop loop;
  std::vector<int> seen;
  loop.Defer(1s, [&] {
    seen.push_back(1);
    loop.Post([&] { seen.push_back(2); });
    loop.Defer(500ms, [&] { seen.push_back(3); });
    loop.Defer(5s, [&] { seen.push_back(4); });
  });
  loop.RunFor(2s);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
}

TEST(SimLoop, RunUntilPredicateStopsWhenItHoldsOrAtTheLimit) {
  SimLoop loop;
  const auto start = loop.Now();
  bool done = false;
  loop.Defer(750ms, [&] { done = true; });
  EXPECT_TRUE(loop.RunUntil([&] { return done; }, 10s, 100ms));
  EXPECT_EQ(loop.Now() - start, 800ms);  // checked on the step after the event
  EXPECT_FALSE(loop.RunUntil([] { return false; }, 1s));
  EXPECT_EQ(loop.Now() - start, 1800ms);
}

TEST(SimLoop, PostFromAnotherThreadRunsOnTheRunningThread) {
  SimLoop loop;
  std::thread::id ran_on;
  std::thread other([&] { loop.Post([&] { ran_on = std::this_thread::get_id(); }); });
  other.join();
  loop.RunPending();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace gangway::testing
