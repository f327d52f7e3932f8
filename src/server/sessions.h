// The servers' part of sessions beyond the store (docs/sessions.md): the leader's TTL timers and
// every server's lock-delays. Owned by server::Server; loop thread only.
//
// TTL: only the leader runs timers, each armed for TTL × 2 at create and at every renew; a new
// leader re-arms every TTL session for a fresh TTL × 2 once its log is caught up (a barrier), as
// Consul does, so sessions survive a failover even if their clients paused renewing. Expiry
// destroys the session through the log, retried with backoff if the write fails.
//
// Lock-delay: when an invalidation releases or deletes a held key, every server notes
// "no acquire of this key until now + delay" on its own clock as it applies the entry; the
// leader refuses ?acquire= during it. Memory only, as Consul's: not in the log or snapshots.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "catalog/applier.h"
#include "catalog/store.h"
#include "core/loop.h"

namespace gangway::server {

class Sessions {
 public:
  // verify_leader: done(ok) once the log is caught up and this server still leads.
  Sessions(Loop& loop, catalog::Applier& applier, const catalog::Store& store,
           std::function<void(std::function<void(Status)>)> verify_leader);
  ~Sessions();

  // Leadership gained: after a barrier, every TTL session gets a fresh TTL × 2. Lost: all timers
  // stop.
  void OnLeadership(bool leader);
  // (Re)arms the session's timer for TTL × 2; no-op without a TTL or when not leading.
  void ResetTimer(const catalog::Session& s);
  // Stops the session's timer (it was destroyed).
  void ClearTimer(const std::string& id) { timers_.erase(id); }
  size_t TimerCount() const { return timers_.size(); }

  // Called with each applied entry's result on every server.
  void NoteApplied(const catalog::ApplyResult& r);
  // Whether an acquire of `key` must be refused now.
  bool LockDelayed(const std::string& key);

 private:
  void Expire(std::string id, int attempt);

  Loop& loop_;
  catalog::Applier& applier_;
  const catalog::Store& store_;
  std::function<void(std::function<void(Status)>)> verify_leader_;
  bool leader_ = false;
  uint64_t generation_ = 0;  // bumped on every leadership change; stale callbacks check it
  std::map<std::string, std::unique_ptr<Timer>> timers_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> lock_delays_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace gangway::server
