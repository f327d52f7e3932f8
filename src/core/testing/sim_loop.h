// SimLoop: a Loop on simulated time for in-process tests of anything written against core/loop.h
// (gossip, the client role's local agent and checks, caches). Owned by the test; Post is safe
// from any thread, everything else runs on the test's thread. Test code only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <vector>

#include "core/loop.h"

namespace gangway::testing {

// Nothing happens until Run* is called; then events run in time order (ties in the order they
// were scheduled, so a run is deterministic) and Now() jumps from one event to the next. Posted
// work runs at the current time, after what was already due then.
class SimLoop final : public Loop {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  SimLoop();
  ~SimLoop() override;
  SimLoop(const SimLoop&) = delete;
  SimLoop& operator=(const SimLoop&) = delete;

  void Post(std::function<void()> fn) override;  // any thread
  std::unique_ptr<Timer> After(Duration d, std::function<void()> fn) override;
  TimePoint Now() const override;
  // Like After, without a handle: the event cannot be cancelled.
  void Defer(Duration d, std::function<void()> fn);

  // Runs every event due up to and including `deadline`, including those the events schedule;
  // Now() is `deadline` afterwards (or stays put when the deadline is in the past).
  void RunUntil(TimePoint deadline);
  void RunFor(Duration d) { RunUntil(Now() + d); }
  // Runs what is due now (posted work and zero-delay timers) without moving the clock.
  void RunPending() { RunUntil(Now()); }
  // Runs until pred() holds, checking it before the first event and then every `step` of
  // simulated time, for at most `limit`. Returns whether it held.
  bool RunUntil(const std::function<bool()>& pred, Duration limit,
                Duration step = std::chrono::milliseconds(100));

  uint64_t events_run() const { return events_run_; }
  // Scheduled events, cancelled timers not yet reached included.
  size_t pending() const;

 private:
  struct Slot {
    std::function<void()> fn;
    bool cancelled = false;
  };
  struct Entry {
    TimePoint at;
    uint64_t seq;
    std::shared_ptr<Slot> slot;
    bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  class SimTimer;

  // Schedules fn at Now() + d (d clamped to zero).
  std::shared_ptr<Slot> Schedule(Duration d, std::function<void()> fn);

  mutable std::mutex mu_;
  TimePoint now_;  // written under mu_ by the running thread; read by Post under mu_
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
};

}  // namespace gangway::testing
