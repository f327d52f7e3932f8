#include "server/sessions.h"

#include <vector>

#include "catalog/session_request.h"
#include "core/log.h"

namespace gangway::server {
namespace {

constexpr const char* kLog = "agent.server.session";
// Consul's invalidation retries: up to 6 attempts, 10s·2^n apart.
constexpr int kMaxInvalidateAttempts = 6;
constexpr std::chrono::seconds kInvalidateRetryBase{10};

}  // namespace

Sessions::Sessions(Loop& loop, catalog::Applier& applier, const catalog::Store& store,
                   std::function<void(std::function<void(Status)>)> verify_leader)
    : loop_(loop), applier_(applier), store_(store), verify_leader_(std::move(verify_leader)) {}

Sessions::~Sessions() { *alive_ = false; }

void Sessions::OnLeadership(bool leader) {
  leader_ = leader;
  ++generation_;
  timers_.clear();
  if (!leader) return;
  // The store may still be behind the log this leader inherited: arm after a barrier, so every
  // committed session gets its timer.
  verify_leader_([this, alive = alive_, gen = generation_](Status s) {
    if (!*alive || gen != generation_ || !leader_) return;
    if (!s.ok()) {
      LogWarn(kLog, "not arming session TTL timers: " + s.message());
      return;
    }
    std::vector<catalog::Session> all;
    store_.SessionList(nullptr, &all);
    for (const auto& sess : all) ResetTimer(sess);
    if (!timers_.empty()) {
      LogInfo(kLog, "armed TTL timers for " + std::to_string(timers_.size()) + " session(s)");
    }
  });
}

void Sessions::ResetTimer(const catalog::Session& s) {
  if (!leader_) return;
  auto ttl = catalog::SessionTTL(s);
  if (ttl.count() <= 0) return;
  std::string id = s.id;
  timers_[id] = loop_.After(ttl * catalog::kSessionTTLMultiplier,
                            [this, id] { Expire(id, 0); });
}

void Sessions::Expire(std::string id, int attempt) {
  auto keep = std::move(timers_[id]);  // this timer has fired; drop it after the callback
  timers_.erase(id);
  if (!leader_) return;
  std::optional<catalog::Session> s;
  store_.SessionGet(nullptr, id, &s);
  if (!s) return;  // destroyed or invalidated meanwhile
  LogInfo(kLog, "session " + id + " TTL expired, invalidating");
  catalog::SessionRequest req;
  req.op = catalog::SessionOp::kDestroy;
  req.session.id = id;
  applier_.Apply(req, [this, alive = alive_, gen = generation_, id,
                       attempt](catalog::ApplyResult r) {
    if (!*alive || gen != generation_ || r.status.ok()) return;
    if (attempt + 1 >= kMaxInvalidateAttempts) {
      LogError(kLog, "giving up invalidating session " + id + ": " + r.status.message());
      return;
    }
    LogWarn(kLog, "invalidating session " + id + " failed, retrying: " + r.status.message());
    timers_[id] = loop_.After(kInvalidateRetryBase * (1 << attempt),
                              [this, id, attempt] { Expire(id, attempt + 1); });
  });
}

void Sessions::NoteApplied(const catalog::ApplyResult& r) {
  if (r.lock_delays.empty()) return;
  auto now = loop_.Now();
  for (const auto& [key, ns] : r.lock_delays) {
    lock_delays_[key] = now + std::chrono::nanoseconds(ns);
  }
}

bool Sessions::LockDelayed(const std::string& key) {
  auto it = lock_delays_.find(key);
  if (it == lock_delays_.end()) return false;
  if (loop_.Now() < it->second) return true;
  lock_delays_.erase(it);
  return false;
}

}  // namespace gangway::server
