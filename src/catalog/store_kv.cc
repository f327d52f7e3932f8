// The KV table of the state store: entries, tombstones of deleted keys, the set/CAS/delete
// operations, transactions that roll back as a whole, and the KV reads with their blocking
// indexes (Consul's state/kvs.go and txn.go). Store::Impl is in internal/store_impl.h.
#include <algorithm>
#include <memory>
#include <optional>

#include "catalog/internal/json_forms.h"
#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kKVPrefix;
using internal::kKVTreePrefix;
using internal::Quote;
using internal::Rejected;

// ---- Mutations

void Store::Impl::SaveUndo(std::vector<KVUndo>* undo, const std::string& key) {
  if (undo == nullptr) return;
  KVUndo u{key, nullptr, std::nullopt};
  if (auto it = t.kvs.find(key); it != t.kvs.end()) u.entry = it->second;
  if (auto it = t.tombstones.find(key); it != t.tombstones.end()) u.tombstone = it->second;
  undo->push_back(std::move(u));
}

void Store::Impl::Rollback(std::vector<KVUndo>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    if (it->entry) {
      t.kvs[it->key] = it->entry;
    } else {
      t.kvs.erase(it->key);
    }
    if (it->tombstone) {
      t.tombstones[it->key] = *it->tombstone;
    } else {
      t.tombstones.erase(it->key);
    }
  }
}

const KVEntry& Store::Impl::KVSet(Changes& ch, std::vector<KVUndo>* undo, const KVEntry& in) {
  SaveUndo(undo, in.key);
  KVEntry e;
  e.key = in.key;
  e.flags = in.flags;
  e.value = in.value;
  auto it = t.kvs.find(in.key);
  if (it != t.kvs.end()) {
    // Sessions and lock indexes belong to lock operations, which a plain set keeps.
    e.session = it->second->session;
    e.lock_index = it->second->lock_index;
    e.raft.create_index = it->second->raft.create_index;
  } else {
    e.raft.create_index = ch.index;
  }
  e.raft.modify_index = ch.index;
  t.tombstones.erase(in.key);
  t.kvs_index = ch.index;
  ch.kv_keys.push_back(in.key);
  auto& slot = t.kvs[in.key];
  slot = std::make_shared<const KVEntry>(std::move(e));
  return *slot;
}

void Store::Impl::KVDeleteOne(Changes& ch, std::vector<KVUndo>* undo, const std::string& key) {
  auto it = t.kvs.find(key);
  if (it == t.kvs.end()) return;
  SaveUndo(undo, key);
  t.kvs.erase(it);
  t.tombstones[key] = ch.index;
  t.kvs_index = ch.index;
  ch.kv_keys.push_back(key);
}

void Store::Impl::KVDeleteTree(Changes& ch, std::vector<KVUndo>* undo, std::string_view prefix) {
  std::vector<std::string> doomed;
  for (auto it = t.kvs.lower_bound(prefix); it != t.kvs.end() && it->first.starts_with(prefix);
       ++it) {
    doomed.push_back(it->first);
  }
  for (const auto& k : doomed) KVDeleteOne(ch, undo, k);
}

bool Store::Impl::CASMatches(const KVEntry* existing, Index want) {
  if (want == 0) return existing == nullptr;
  return existing != nullptr && existing->raft.modify_index == want;
}

ApplyResult Store::Impl::KV(Changes& ch, const KVRequest& req) {
  const KVEntry& e = req.entry;
  if (TxnOnly(req.op)) {
    return Rejected(InvalidArgument("KV operation " + std::to_string(static_cast<int>(req.op)) +
                                    " is only valid inside a transaction"));
  }
  if (req.op != KVOp::kDeleteTree && e.key.empty()) {
    return Rejected(InvalidArgument("Missing key name"));
  }
  ApplyResult r;
  switch (req.op) {
    case KVOp::kSet:
      KVSet(ch, nullptr, e);
      break;
    case KVOp::kCAS:
      r.success = CASMatches(t.FindKV(e.key), e.raft.modify_index);
      if (r.success) KVSet(ch, nullptr, e);
      break;
    case KVOp::kDelete:
      KVDeleteOne(ch, nullptr, e.key);
      break;
    case KVOp::kDeleteCAS: {
      // As in Consul, deleting an absent key "succeeds" whatever the index.
      const KVEntry* existing = t.FindKV(e.key);
      r.success = existing == nullptr || existing->raft.modify_index == e.raft.modify_index;
      if (existing != nullptr && r.success) KVDeleteOne(ch, nullptr, e.key);
      break;
    }
    case KVOp::kDeleteTree:
      KVDeleteTree(ch, nullptr, e.key);
      break;
    case KVOp::kLock:
    case KVOp::kUnlock: {
      auto ok = req.op == KVOp::kLock ? KVLock(ch, nullptr, e, nullptr)
                                      : KVUnlock(ch, nullptr, e, nullptr);
      if (!ok.ok()) return Rejected(ok.status());
      r.success = *ok;
      break;
    }
    default:
      break;
  }
  return r;
}

ApplyResult Store::Impl::Txn(Changes& ch, const TxnRequest& req) {
  ApplyResult r;
  std::vector<KVUndo> undo;
  const Index kvs_index_before = t.kvs_index;
  auto fail = [&](size_t i, std::string what) {
    r.txn_errors.push_back({static_cast<int>(i), std::move(what)});
  };
  // Consul's txn results carry values only for reads.
  auto result_without_value = [&](const KVEntry& e) {
    KVEntry copy = e;
    copy.value.clear();
    r.txn_results.push_back(std::move(copy));
  };
  for (size_t i = 0; i < req.ops.size(); ++i) {
    const KVRequest& op = req.ops[i];
    const KVEntry& e = op.entry;
    const bool writes = op.op == KVOp::kSet || op.op == KVOp::kCAS || op.op == KVOp::kDelete ||
                        op.op == KVOp::kDeleteCAS || op.op == KVOp::kLock ||
                        op.op == KVOp::kUnlock;
    if (writes && e.key.empty()) {
      fail(i, "Missing key name");
      continue;
    }
    const KVEntry* existing = t.FindKV(e.key);
    switch (op.op) {
      case KVOp::kSet:
        result_without_value(KVSet(ch, &undo, e));
        break;
      case KVOp::kCAS:
        if (!CASMatches(existing, e.raft.modify_index)) {
          fail(i, "failed to set key " + Quote(e.key) + ", index is stale");
        } else {
          result_without_value(KVSet(ch, &undo, e));
        }
        break;
      case KVOp::kDelete:
        KVDeleteOne(ch, &undo, e.key);
        break;
      case KVOp::kDeleteCAS:
        if (existing != nullptr && existing->raft.modify_index != e.raft.modify_index) {
          fail(i, "failed to delete key " + Quote(e.key) + ", index is stale");
        } else {
          KVDeleteOne(ch, &undo, e.key);
        }
        break;
      case KVOp::kDeleteTree:
        KVDeleteTree(ch, &undo, e.key);
        break;
      case KVOp::kGet:
        if (existing == nullptr) {
          fail(i, "key " + Quote(e.key) + " doesn't exist");
        } else {
          r.txn_results.push_back(*existing);
        }
        break;
      case KVOp::kGetTree:
        for (auto it = t.kvs.lower_bound(e.key); it != t.kvs.end() && it->first.starts_with(e.key);
             ++it) {
          r.txn_results.push_back(*it->second);
        }
        break;
      case KVOp::kCheckIndex:
        if (existing == nullptr) {
          fail(i, "key " + Quote(e.key) + " doesn't exist");
        } else if (existing->raft.modify_index != e.raft.modify_index) {
          fail(i, "current modify index " + std::to_string(existing->raft.modify_index) +
                      " != " + std::to_string(e.raft.modify_index));
        } else {
          result_without_value(*existing);
        }
        break;
      case KVOp::kCheckNotExists:
        if (existing != nullptr) fail(i, "key " + Quote(e.key) + " exists");
        break;
      case KVOp::kLock:
      case KVOp::kUnlock: {
        const KVEntry* stored = nullptr;
        const bool lock = op.op == KVOp::kLock;
        auto ok = lock ? KVLock(ch, &undo, e, &stored) : KVUnlock(ch, &undo, e, &stored);
        if (!ok.ok()) {
          fail(i, ok.status().message());
        } else if (!*ok) {
          fail(i, lock ? "failed to lock key " + Quote(e.key) + ", lock is already held"
                       : "failed to unlock key " + Quote(e.key) +
                             ", lock isn't held, or is held by another session");
        } else {
          result_without_value(*stored);
        }
        break;
      }
      case KVOp::kCheckSession:
        if (existing == nullptr) {
          fail(i, "key " + Quote(e.key) + " doesn't exist");
        } else if (existing->session != e.session) {
          fail(i, "failed session check for key " + Quote(e.key) + ", current session " +
                      Quote(existing->session) + " != " + Quote(e.session));
        } else {
          result_without_value(*existing);
        }
        break;
    }
  }
  if (!r.txn_errors.empty()) {
    Rollback(undo);
    t.kvs_index = kvs_index_before;
    ch.kv_keys.clear();
    r.txn_results.clear();
    r.success = false;
    r.status =
        Status(Code::kConflict, "transaction rolled back: " + std::to_string(r.txn_errors.size()) +
                                    " operation(s) failed");
  }
  return r;
}

// ---- Reads

Index Store::Impl::KVTreeIndex(std::string_view prefix, Index entries_max) const {
  if (prefix.empty()) return Clamp(t.kvs_index);
  Index idx = entries_max;
  for (auto it = t.tombstones.lower_bound(prefix);
       it != t.tombstones.end() && it->first.starts_with(prefix); ++it) {
    idx = std::max(idx, it->second);
  }
  return Clamp(idx != 0 ? idx : t.kvs_index);
}

Index Store::KVGet(WatchSet* ws, std::string_view key, std::optional<KVEntry>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVPrefix).append(key));
  if (const KVEntry* e = s.t.FindKV(key)) {
    *out = *e;
    return s.Clamp(e->raft.modify_index);
  }
  out->reset();
  auto tomb = s.t.tombstones.find(key);
  return s.Clamp(tomb != s.t.tombstones.end() ? tomb->second : s.t.kvs_index);
}

Index Store::KVList(WatchSet* ws, std::string_view prefix, std::vector<KVEntry>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVTreePrefix).append(prefix));
  out->clear();
  Index max = 0;
  for (auto it = s.t.kvs.lower_bound(prefix); it != s.t.kvs.end() && it->first.starts_with(prefix);
       ++it) {
    out->push_back(*it->second);
    max = std::max(max, it->second->raft.modify_index);
  }
  return s.KVTreeIndex(prefix, max);
}

Index Store::KVKeys(WatchSet* ws, std::string_view prefix, std::string_view separator,
                    std::vector<std::string>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kKVTreePrefix).append(prefix));
  out->clear();
  Index max = 0;
  for (auto it = s.t.kvs.lower_bound(prefix); it != s.t.kvs.end() && it->first.starts_with(prefix);
       ++it) {
    const std::string& key = it->first;
    max = std::max(max, it->second->raft.modify_index);
    size_t sep = separator.empty() ? std::string::npos : key.find(separator, prefix.size());
    if (sep == std::string::npos) {
      out->push_back(key);
      continue;
    }
    std::string rolled = key.substr(0, sep + separator.size());
    if (out->empty() || out->back() != rolled) out->push_back(std::move(rolled));
  }
  return s.KVTreeIndex(prefix, max);
}

}  // namespace gangway::catalog
