// TestLoop: a Loop run by the test's own thread in slices (RunUntil/RunFor), with real time.
// Post is thread safe and FIFO, as RaftNode requires; After is loop-thread only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "core/loop.h"

namespace gangway::consensus::testing {

class TestLoop : public Loop {
 public:
  using Clock = std::chrono::steady_clock;

  void Post(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  std::unique_ptr<Timer> After(std::chrono::nanoseconds d, std::function<void()> fn) override {
    auto alive = std::make_shared<bool>(true);
    timers_.emplace(Now() + d, [alive, fn = std::move(fn)] {
      if (*alive) fn();
    });
    return std::make_unique<TestTimer>(alive);
  }

  Clock::time_point Now() const override { return Clock::now(); }

  // Runs posted work and due timers until pred() holds (checked after each item) or timeout
  // passes. Returns pred().
  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = Now() + timeout;
    while (!pred()) {
      if (Now() >= deadline) return pred();
      RunOnce(std::min<Clock::time_point>(deadline, Now() + std::chrono::milliseconds(5)));
    }
    return true;
  }

  void RunFor(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }

 private:
  class TestTimer : public Timer {
   public:
    explicit TestTimer(std::shared_ptr<bool> alive) : alive_(std::move(alive)) {}
    ~TestTimer() override { *alive_ = false; }

   private:
    std::shared_ptr<bool> alive_;
  };

  // Runs one posted item or due timer, or waits for one until `until`.
  void RunOnce(Clock::time_point until) {
    if (!timers_.empty() && timers_.begin()->first <= Now()) {
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      fn();
      return;
    }
    if (!timers_.empty()) until = std::min(until, timers_.begin()->first);
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_until(l, until, [&] { return !queue_.empty(); });
      if (queue_.empty()) return;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::multimap<Clock::time_point, std::function<void()>> timers_;
};

}  // namespace gangway::consensus::testing
