// The Connect CA documents of the state store: the CA configuration and the roots, stored whole
// as ConnectCARequest carries them, with Consul's CAS and create/modify indexes (Consul's
// state/connect_ca.go). Store::Impl is in internal/store_impl.h.
#include <map>
#include <string>

#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kCAConfigKey;
using internal::kCARootsKey;

ApplyResult Store::Impl::ConnectCA(Changes& ch, const ConnectCARequest& req) {
  ApplyResult r;
  const bool config = req.op != CAOp::kSetRoots;
  const bool roots = req.op != CAOp::kSetConfig;
  if (req.cas != 0) {
    Index current = req.op == CAOp::kSetConfig ? t.ca_config_index : t.ca_roots_index;
    if (current != req.cas) {
      r.success = false;
      return r;
    }
  }
  if (config) {
    Json c = req.config;
    Index created = t.ca_config.is_object() ? t.ca_config.value("CreateIndex", Index{0}) : 0;
    c["CreateIndex"] = created != 0 ? created : ch.index;
    c["ModifyIndex"] = ch.index;
    t.ca_config = std::move(c);
    t.ca_config_index = ch.index;
    ch.keys.emplace_back(kCAConfigKey);
  }
  if (roots) {
    // A root keeps the CreateIndex it was first stored with; every root of the new list is
    // modified at this index (Consul's CARootSetCAS).
    std::map<std::string, Index> created;
    if (t.ca_roots.is_object() && t.ca_roots.contains("Roots")) {
      for (const auto& old : t.ca_roots["Roots"]) {
        if (old.contains("ID") && old["ID"].is_string()) {
          created[old["ID"].get<std::string>()] = old.value("CreateIndex", Index{0});
        }
      }
    }
    Json rs = req.roots;
    for (auto& root : rs["Roots"]) {
      Index c = 0;
      if (root.contains("ID") && root["ID"].is_string()) {
        auto it = created.find(root["ID"].get<std::string>());
        if (it != created.end()) c = it->second;
      }
      root["CreateIndex"] = c != 0 ? c : ch.index;
      root["ModifyIndex"] = ch.index;
    }
    t.ca_roots = std::move(rs);
    t.ca_roots_index = ch.index;
    ch.keys.emplace_back(kCARootsKey);
  }
  return r;
}

Index Store::CAConfig(WatchSet* ws, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kCAConfigKey));
  *out = s.t.ca_config;
  return s.Clamp(s.t.ca_config_index);
}

Index Store::CARoots(WatchSet* ws, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kCARootsKey));
  *out = s.t.ca_roots;
  return s.Clamp(s.t.ca_roots_index);
}

}  // namespace gangway::catalog
