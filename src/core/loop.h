// The event-loop interface the control plane is written against. One loop owns a piece of state;
// work crosses threads only by Post(). Tests may substitute a simulated loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace gangway {

// A one-shot timer. Destroying it cancels it; the callback never runs after destruction.
class Timer {
 public:
  virtual ~Timer() = default;
};

class Loop {
 public:
  virtual ~Loop() = default;
  // Runs fn on the loop thread. Safe from any thread.
  virtual void Post(std::function<void()> fn) = 0;
  // Runs fn once after d on the loop thread, unless the returned Timer is destroyed first.
  // Loop thread only.
  virtual std::unique_ptr<Timer> After(std::chrono::nanoseconds d, std::function<void()> fn) = 0;
  // Monotonic time.
  virtual std::chrono::steady_clock::time_point Now() const = 0;
};

}  // namespace gangway
