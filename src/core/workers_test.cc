#include "core/workers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

namespace gangway {
namespace {

// A loop whose posted work the test runs by hand.
class QueueLoop : public Loop {
 public:
  void Post(std::function<void()> fn) override {
    std::lock_guard<std::mutex> l(mu_);
    posted_.push_back(std::move(fn));
  }
  std::unique_ptr<Timer> After(std::chrono::nanoseconds, std::function<void()>) override {
    return nullptr;
  }
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::now();
  }
  // Runs what was posted; waits up to 5 s for at least `n` items.
  size_t RunPosted(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    size_t ran = 0;
    while (ran < n && std::chrono::steady_clock::now() < deadline) {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard<std::mutex> l(mu_);
        batch.swap(posted_);
      }
      for (auto& fn : batch) {
        fn();
        ++ran;
      }
      if (batch.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ran;
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> posted_;
};

TEST(Workers, WorkRunsOffTheCallerAndTheResultComesBackOnTheLoop) {
  QueueLoop loop;
  Workers workers(2);
  const auto caller = std::this_thread::get_id();
  std::vector<int> results;
  std::atomic<int> off_thread{0};
  for (int i = 0; i < 10; ++i) {
    workers.Run(
        loop,
        [i, caller, &off_thread] {
          if (std::this_thread::get_id() != caller) ++off_thread;
          return i * i;
        },
        [&results, caller](int v) {
          EXPECT_EQ(std::this_thread::get_id(), caller);  // delivered where the loop runs
          results.push_back(v);
        });
  }
  EXPECT_EQ(loop.RunPosted(10), 10u);
  EXPECT_EQ(off_thread.load(), 10);
  std::sort(results.begin(), results.end());
  EXPECT_EQ(results, (std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81}));
}

TEST(Workers, DestructionFinishesQueuedWork) {
  QueueLoop loop;
  std::atomic<int> ran{0};
  {
    Workers workers(1);
    for (int i = 0; i < 50; ++i) workers.Submit([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace gangway
