// The sessions of the state store and the KV lock verbs that depend on them: create and destroy
// (SessionRequest), invalidation when a node or a check a session depends on fails or goes, the
// session's behaviour applied to its keys, and the lock-delays that follow (Consul's
// state/session.go and the lock half of kvs.go; docs/sessions.md). Store::Impl is in
// internal/store_impl.h.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "catalog/internal/json_forms.h"
#include "catalog/internal/store_impl.h"
#include "catalog/session_request.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kSessionsKey;
using internal::Quote;
using internal::Rejected;

ApplyResult Store::Impl::SessionApply(Changes& ch, const SessionRequest& req) {
  if (req.session.id.empty()) return Rejected(InvalidArgument("Missing session ID"));
  if (req.op == SessionOp::kDestroy) {
    // Destroying an unknown (or already invalidated) session succeeds and changes nothing.
    InvalidateSession(ch, req.session.id);
    return {};
  }
  Session s = req.session;
  if (s.behavior.empty()) s.behavior = kSessionBehaviorRelease;
  if (s.behavior != kSessionBehaviorRelease && s.behavior != kSessionBehaviorDelete) {
    return Rejected(InvalidArgument("Invalid session behavior: " + s.behavior));
  }
  if (t.sessions.count(s.id) > 0) return Rejected(InvalidArgument("Session ID already in use"));
  if (t.nodes.count(s.node) == 0) return Rejected(InvalidArgument("Missing node registration"));
  auto node_checks = t.checks.find(s.node);
  for (const auto& id : s.AllChecks()) {
    const HealthCheck* c = nullptr;
    if (node_checks != t.checks.end()) {
      auto it = node_checks->second.find(id);
      if (it != node_checks->second.end()) c = &it->second;
    }
    if (c == nullptr) return Rejected(InvalidArgument("Missing check '" + id + "' registration"));
    if (c->status == kCritical) {
      return Rejected(InvalidArgument("Check '" + id + "' is in critical state"));
    }
  }
  s.raft = {ch.index, ch.index};
  t.IndexSession(s);
  t.sessions.emplace(s.id, std::move(s));
  t.sessions_index = ch.index;
  ch.keys.emplace_back(kSessionsKey);
  return {};
}

void Store::Impl::InvalidateSession(Changes& ch, const std::string& id) {
  auto it = t.sessions.find(id);
  if (it == t.sessions.end()) return;
  const Session s = it->second;
  t.UnindexSession(s);
  t.sessions.erase(it);
  t.sessions_index = ch.index;
  ch.keys.emplace_back(kSessionsKey);
  DeleteSessionQueries(ch, id);
  // The keys it holds. A scan of the KV table: invalidations are rare next to KV writes, and a
  // per-session index would have to follow every write and transaction rollback.
  std::vector<std::string> held;
  for (const auto& [key, e] : t.kvs) {
    if (e->session == id) held.push_back(key);
  }
  const int64_t delay = std::min<int64_t>(
      s.lock_delay_ns, std::chrono::nanoseconds(kMaxLockDelay).count());
  for (const auto& key : held) {
    if (s.behavior == kSessionBehaviorDelete) {
      KVDeleteOne(ch, nullptr, key);
    } else {
      KVEntry e = *t.FindKV(key);
      e.session.clear();
      e.raft.modify_index = ch.index;
      KVPutRaw(ch, nullptr, std::move(e));
    }
    if (delay > 0) ch.lock_delays.emplace_back(key, delay);
  }
}

void Store::Impl::InvalidateCheckSessions(Changes& ch, const std::string& node,
                                          const std::string& check_id) {
  auto it = t.session_checks.find({node, check_id});
  if (it == t.session_checks.end()) return;
  const std::set<std::string> ids = it->second;
  for (const auto& id : ids) InvalidateSession(ch, id);
}

void Store::Impl::InvalidateNodeSessions(Changes& ch, const std::string& node) {
  auto it = t.sessions_by_node.find(node);
  if (it == t.sessions_by_node.end()) return;
  const std::set<std::string> ids = it->second;
  for (const auto& id : ids) InvalidateSession(ch, id);
}

const KVEntry& Store::Impl::KVPutRaw(Changes& ch, std::vector<KVUndo>* undo, KVEntry e) {
  SaveUndo(undo, e.key);
  t.tombstones.erase(e.key);
  t.kvs_index = ch.index;
  ch.kv_keys.push_back(e.key);
  auto& slot = t.kvs[e.key];
  slot = std::make_shared<const KVEntry>(std::move(e));
  return *slot;
}

Result<bool> Store::Impl::KVLock(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in,
                                 const KVEntry** stored) {
  if (in.session.empty()) return InvalidArgument("missing session");
  if (t.sessions.count(in.session) == 0) {
    return InvalidArgument("invalid session " + Quote(in.session));
  }
  KVEntry e;
  e.key = in.key;
  e.flags = in.flags;
  e.value = in.value;
  e.session = in.session;
  if (const KVEntry* existing = t.FindKV(in.key)) {
    if (existing->session == in.session) {
      e.lock_index = existing->lock_index;  // re-acquire by the holder: same generation
    } else if (!existing->session.empty()) {
      return false;
    } else {
      e.lock_index = existing->lock_index + 1;
    }
    e.raft.create_index = existing->raft.create_index;
  } else {
    e.lock_index = 1;
    e.raft.create_index = ch.index;
  }
  e.raft.modify_index = ch.index;
  const KVEntry& out = KVPutRaw(ch, undo, std::move(e));
  if (stored != nullptr) *stored = &out;
  return true;
}

Result<bool> Store::Impl::KVUnlock(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in,
                                   const KVEntry** stored) {
  if (in.session.empty()) return InvalidArgument("missing session");
  const KVEntry* existing = t.FindKV(in.key);
  if (existing == nullptr || existing->session != in.session) return false;
  KVEntry e;
  e.key = in.key;
  e.flags = in.flags;
  e.value = in.value;
  e.lock_index = existing->lock_index;
  e.raft.create_index = existing->raft.create_index;
  e.raft.modify_index = ch.index;
  const KVEntry& out = KVPutRaw(ch, undo, std::move(e));
  if (stored != nullptr) *stored = &out;
  return true;
}

// ---- Reads

Index Store::SessionGet(WatchSet* ws, std::string_view id, std::optional<Session>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kSessionsKey));
  out->reset();
  if (auto it = s.t.sessions.find(id); it != s.t.sessions.end()) *out = it->second;
  return s.Clamp(s.t.sessions_index);
}

Index Store::SessionList(WatchSet* ws, std::vector<Session>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kSessionsKey));
  out->clear();
  for (const auto& [id, sess] : s.t.sessions) out->push_back(sess);
  return s.Clamp(s.t.sessions_index);
}

Index Store::NodeSessions(WatchSet* ws, std::string_view node, std::vector<Session>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kSessionsKey));
  out->clear();
  if (auto it = s.t.sessions_by_node.find(node); it != s.t.sessions_by_node.end()) {
    for (const auto& id : it->second) out->push_back(s.t.sessions.at(id));
  }
  return s.Clamp(s.t.sessions_index);
}

}  // namespace gangway::catalog
