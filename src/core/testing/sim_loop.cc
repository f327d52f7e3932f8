#include "core/testing/sim_loop.h"

#include <algorithm>

namespace gangway::testing {

class SimLoop::SimTimer final : public Timer {
 public:
  explicit SimTimer(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}
  ~SimTimer() override {
    slot_->cancelled = true;
    slot_->fn = nullptr;  // release captures now, not when the entry surfaces
  }

 private:
  std::shared_ptr<Slot> slot_;
};

// Simulated time starts an hour in, so "now minus a while" never predates the clock's epoch.
SimLoop::SimLoop() : now_(TimePoint(std::chrono::hours(1))) {}

SimLoop::~SimLoop() = default;

SimLoop::TimePoint SimLoop::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

std::shared_ptr<SimLoop::Slot> SimLoop::Schedule(Duration d, std::function<void()> fn) {
  auto slot = std::make_shared<Slot>();
  slot->fn = std::move(fn);
  std::lock_guard<std::mutex> lock(mu_);
  heap_.push(Entry{now_ + std::max(d, Duration::zero()), next_seq_++, slot});
  return slot;
}

void SimLoop::Post(std::function<void()> fn) { Schedule(Duration::zero(), std::move(fn)); }

void SimLoop::Defer(Duration d, std::function<void()> fn) { Schedule(d, std::move(fn)); }

std::unique_ptr<Timer> SimLoop::After(Duration d, std::function<void()> fn) {
  return std::make_unique<SimTimer>(Schedule(d, std::move(fn)));
}

size_t SimLoop::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heap_.size();
}

void SimLoop::RunUntil(TimePoint deadline) {
  for (;;) {
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (heap_.empty() || heap_.top().at > deadline) {
        if (deadline > now_) now_ = deadline;
        return;
      }
      Entry e = heap_.top();
      heap_.pop();
      if (e.slot->cancelled) continue;
      if (e.at > now_) now_ = e.at;
      slot = std::move(e.slot);
    }
    // Moved out first: the callback may destroy its own Timer.
    auto fn = std::move(slot->fn);
    slot->fn = nullptr;
    slot->cancelled = true;
    ++events_run_;
    if (fn) fn();
  }
}

bool SimLoop::RunUntil(const std::function<bool()>& pred, Duration limit, Duration step) {
  const TimePoint end = Now() + limit;
  while (!pred()) {
    const TimePoint now = Now();
    if (now >= end) return false;
    RunUntil(std::min(end, now + step));
  }
  return true;
}

}  // namespace gangway::testing
