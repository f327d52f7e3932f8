// The config entries of the state store: one table keyed by (kind, name), each entry kept whole
// as ConfigEntryRequest carries it, with Consul's CAS and create/modify indexes (Consul's
// state/config_entry.go). The store does not know the kinds: the server validates entries before
// they reach the log. Store::Impl is in internal/store_impl.h.
#include <string>
#include <vector>

#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::ConfigEntryKey;
using internal::ConfigKindKey;
using internal::kConfigEntriesKey;

namespace {

// An index field of a stored entry; 0 when absent. The store writes these itself, but a restored
// snapshot is untrusted bytes, and Apply must never throw.
Index IndexField(const Json& entry, const char* field) {
  auto it = entry.find(field);
  return it != entry.end() && it->is_number_unsigned() ? it->get<Index>() : 0;
}
Index ModifyIndexOf(const Json& entry) { return IndexField(entry, "ModifyIndex"); }

}  // namespace

ApplyResult Store::Impl::ConfigEntry(Changes& ch, const ConfigEntryRequest& req) {
  ApplyResult r;
  auto kind = t.config_entries.find(req.kind);
  const Json* existing = nullptr;
  if (kind != t.config_entries.end()) {
    auto e = kind->second.find(req.name);
    if (e != kind->second.end()) existing = &e->second;
  }
  const bool remove = req.op == ConfigEntryOp::kDelete || req.op == ConfigEntryOp::kDeleteCAS;
  if (req.op == ConfigEntryOp::kUpsertCAS) {
    // As Consul's EnsureConfigEntryCAS: 0 means "only if absent".
    const bool match = existing == nullptr ? req.cas == 0 : ModifyIndexOf(*existing) == req.cas;
    if (!match) {
      r.success = false;
      return r;
    }
  }
  if (req.op == ConfigEntryOp::kDeleteCAS &&
      (existing == nullptr || ModifyIndexOf(*existing) != req.cas)) {
    r.success = false;
    return r;
  }
  if (remove) {
    if (existing == nullptr) return r;  // nothing to delete: no change, nothing fires
    kind->second.erase(req.name);
    if (kind->second.empty()) t.config_entries.erase(kind);
  } else {
    if (!req.entry.is_object()) {
      return internal::Rejected(
          InvalidArgument("config entry " + req.kind + "/" + req.name + " is not an object"));
    }
    Json stored = req.entry;
    Index created = existing != nullptr ? IndexField(*existing, "CreateIndex") : 0;
    stored["CreateIndex"] = created != 0 ? created : ch.index;
    stored["ModifyIndex"] = ch.index;
    t.config_entries[req.kind][req.name] = std::move(stored);
  }
  t.config_entries_index = ch.index;
  ch.keys.emplace_back(kConfigEntriesKey);
  ch.keys.push_back(ConfigKindKey(req.kind));
  ch.keys.push_back(ConfigEntryKey(req.kind, req.name));
  return r;
}

Index Store::ConfigEntry(WatchSet* ws, std::string_view kind, std::string_view name,
                         Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, ConfigEntryKey(kind, name));
  *out = nullptr;
  auto k = s.t.config_entries.find(kind);
  if (k != s.t.config_entries.end()) {
    auto e = k->second.find(name);
    if (e != k->second.end()) *out = e->second;
  }
  return s.Clamp(s.t.config_entries_index);
}

Index Store::ConfigEntries(WatchSet* ws, std::string_view kind, std::vector<Json>* out) const {
  const Impl& s = *impl_;
  out->clear();
  if (kind.empty()) {
    Impl::AddKey(ws, std::string(kConfigEntriesKey));
    for (const auto& [k, entries] : s.t.config_entries) {
      for (const auto& [name, e] : entries) out->push_back(e);
    }
  } else {
    Impl::AddKey(ws, ConfigKindKey(kind));
    auto k = s.t.config_entries.find(kind);
    if (k != s.t.config_entries.end()) {
      for (const auto& [name, e] : k->second) out->push_back(e);
    }
  }
  return s.Clamp(s.t.config_entries_index);
}

}  // namespace gangway::catalog
