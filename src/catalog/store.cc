// The state store's core: Apply, which dispatches each log command to its table's file, and the
// watches that reads register and writes fire. The tables live in store_catalog.cc,
// store_kv.cc, store_session.cc, store_ca.cc, store_config.cc and store_snapshot.cc; their shared pieces in
// internal/store_impl.h.
#include "catalog/store.h"

#include <algorithm>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "catalog/internal/store_impl.h"

namespace gangway::catalog {

using internal::kKVPrefix;
using internal::kKVTreePrefix;
using internal::Rejected;

// ---- Store

Store::Store() : impl_(std::make_unique<Impl>()) {}
Store::~Store() = default;

Index Store::LastIndex() const { return impl_->t.last_index; }

ApplyResult Store::Apply(Index index, const Command& cmd) {
  Impl& s = *impl_;
  if (index <= s.t.last_index) {
    // The log drives the store strictly forward; a replayed or reordered entry is a caller bug
    // that must not corrupt the tables.
    return Rejected(Internal("apply at index " + std::to_string(index) +
                             " is not after the last applied index " +
                             std::to_string(s.t.last_index)));
  }
  Changes ch(index);
  ApplyResult r = std::visit(
      [&](const auto& c) -> ApplyResult {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, RegisterRequest>) return s.Register(ch, c);
        if constexpr (std::is_same_v<T, DeregisterRequest>) return s.Deregister(ch, c);
        if constexpr (std::is_same_v<T, KVRequest>) return s.KV(ch, c);
        if constexpr (std::is_same_v<T, TxnRequest>) return s.Txn(ch, c);
        if constexpr (std::is_same_v<T, RestoreRequest>) return s.RestoreFrom(c);
        if constexpr (std::is_same_v<T, ConnectCARequest>) return s.ConnectCA(ch, c);
        if constexpr (std::is_same_v<T, ConfigEntryRequest>) return s.ConfigEntry(ch, c);
        if constexpr (std::is_same_v<T, SessionRequest>) return s.SessionApply(ch, c);
        if constexpr (std::is_same_v<T, AclRequest>) return s.Acl(ch, c);
        if constexpr (std::is_same_v<T, PreparedQueryRequest>) return s.PreparedQuery(ch, c);
        if constexpr (std::is_same_v<T, CoordinateBatchRequest>) return s.CoordinateBatch(ch, c);
      },
      cmd);
  s.t.last_index = index;
  if (!r.status.ok()) return r;
  if (std::holds_alternative<RestoreRequest>(cmd)) {
    s.FireAll();
    return r;
  }
  r.lock_delays = std::move(ch.lock_delays);
  s.MoveServiceIndexes(ch);
  s.Fire(ch);
  return r;
}

WatchId Store::Watch(const WatchSet& ws, std::function<void()> fire) {
  Impl& s = *impl_;
  WatchId id = s.next_watch++;
  Impl::WatchEntry w;
  w.fire = std::move(fire);
  w.keys = ws.keys();
  std::sort(w.keys.begin(), w.keys.end());
  w.keys.erase(std::unique(w.keys.begin(), w.keys.end()), w.keys.end());
  for (const auto& k : w.keys) {
    s.watch_index[k].insert(id);
    if (k.starts_with(kKVTreePrefix)) ++s.kv_tree_lengths[k.size()];
  }
  s.watches.emplace(id, std::move(w));
  return id;
}

void Store::Unwatch(WatchId id) {
  Impl& s = *impl_;
  auto it = s.watches.find(id);
  if (it == s.watches.end()) return;
  s.Detach(id, &it->second);
  s.watches.erase(it);
}

size_t Store::WatchCount() const { return impl_->watches.size(); }

// ---- Watches

void Store::Impl::CollectWatches(std::string_view key, std::vector<WatchId>* ids) const {
  auto it = watch_index.find(key);
  if (it != watch_index.end()) ids->insert(ids->end(), it->second.begin(), it->second.end());
}

void Store::Impl::Fire(const Changes& ch) {
  if (watches.empty()) return;
  std::vector<WatchId> ids;
  for (const auto& k : ch.keys) CollectWatches(k, &ids);
  std::string scratch;
  for (const auto& k : ch.kv_keys) {
    scratch.assign(kKVPrefix).append(k);
    CollectWatches(scratch, &ids);
    if (kv_tree_lengths.empty()) continue;
    scratch.assign(kKVTreePrefix).append(k);
    // Each prefix of k that someone watches: a hash lookup per watched length, no scan.
    for (const auto& [len, count] : kv_tree_lengths) {
      if (len > scratch.size()) break;
      CollectWatches(std::string_view(scratch).substr(0, len), &ids);
    }
  }
  FireIds(std::move(ids));
}

void Store::Impl::FireAll() {
  std::vector<WatchId> ids;
  ids.reserve(watches.size());
  for (const auto& [id, w] : watches) ids.push_back(id);
  FireIds(std::move(ids));
}

// Detaches every watch first, so callbacks may add or remove watches (or even apply) freely;
// a watch removed by an earlier callback in the same round does not fire. Order: registration.
void Store::Impl::FireIds(std::vector<WatchId> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (WatchId id : ids) {
    auto it = watches.find(id);
    if (it != watches.end()) Detach(id, &it->second);
  }
  for (WatchId id : ids) {
    auto it = watches.find(id);
    if (it == watches.end()) continue;
    std::function<void()> fire = std::move(it->second.fire);
    watches.erase(it);
    if (fire) fire();
  }
}

void Store::Impl::Detach(WatchId id, WatchEntry* w) {
  for (const auto& k : w->keys) {
    auto it = watch_index.find(k);
    if (it != watch_index.end()) {
      it->second.erase(id);
      if (it->second.empty()) watch_index.erase(it);
    }
    if (k.starts_with(kKVTreePrefix)) {
      auto len = kv_tree_lengths.find(k.size());
      if (len != kv_tree_lengths.end() && --len->second == 0) kv_tree_lengths.erase(len);
    }
  }
  w->keys.clear();
}

}  // namespace gangway::catalog
