// The ACL tables of the state store: tokens, policies and roles kept whole as the server wrote
// them (Consul's state/acl.go), with unique lookups by SecretID and Name, the bootstrap index a
// reset must name, and replication's replace-by-kind. The server validates objects before they
// reach the log; this file only keeps the tables consistent. Store::Impl is in
// internal/store_impl.h.
#include <set>
#include <string>
#include <vector>

#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kAclPoliciesKey;
using internal::kAclRolesKey;
using internal::kAclTokensKey;

namespace {

std::string StringField(const Json& o, const char* field) {
  auto it = o.find(field);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Index IndexField(const Json& o, const char* field) {
  auto it = o.find(field);
  return it != o.end() && it->is_number_unsigned() ? it->get<Index>() : 0;
}

bool IsLocal(const Json& token) {
  auto it = token.find("Local");
  return it != token.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

void Tables::IndexAcl() {
  acl_secrets.clear();
  acl_policy_names.clear();
  acl_role_names.clear();
  for (const auto& [id, t] : acl_tokens) acl_secrets[StringField(t, "SecretID")] = id;
  for (const auto& [id, p] : acl_policies) acl_policy_names[StringField(p, "Name")] = id;
  for (const auto& [id, r] : acl_roles) acl_role_names[StringField(r, "Name")] = id;
}

Status Store::Impl::AclUpsert(Changes& ch, SortedMap<Json>& table, SortedMap<std::string>& lookup,
                              const char* id_field, const char* key_field, const char* what,
                              const Json& object) {
  if (!object.is_object()) return InvalidArgument(std::string(what) + " is not an object");
  std::string id = StringField(object, id_field);
  std::string key = StringField(object, key_field);
  if (id.empty()) return InvalidArgument(std::string(what) + " without " + id_field);
  if (key.empty()) return InvalidArgument(std::string(what) + " without " + key_field);
  if (auto it = lookup.find(key); it != lookup.end() && it->second != id) {
    // Consul's texts: the server checks first; this guards the log against a race of two writes.
    return InvalidArgument(std::string("Invalid ") + what + ": A " + what + " with " + key_field +
                           " already exists");
  }
  Json stored = object;
  auto existing = table.find(id);
  Index created = existing != table.end() ? IndexField(existing->second, "CreateIndex") : 0;
  if (existing != table.end()) {
    std::string old_key = StringField(existing->second, key_field);
    if (old_key != key) lookup.erase(old_key);
  }
  stored["CreateIndex"] = created != 0 ? created : ch.index;
  stored["ModifyIndex"] = ch.index;
  table[id] = std::move(stored);
  lookup[key] = id;
  return Status::Ok();
}

void Store::Impl::AclErase(SortedMap<Json>& table, SortedMap<std::string>& lookup,
                           const char* key_field, const std::string& id) {
  auto it = table.find(id);
  if (it == table.end()) return;
  lookup.erase(StringField(it->second, key_field));
  table.erase(it);
}

ApplyResult Store::Impl::Acl(Changes& ch, const AclRequest& req) {
  ApplyResult r;
  auto touch_tokens = [&] {
    t.acl_tokens_index = ch.index;
    ch.keys.emplace_back(kAclTokensKey);
  };
  auto touch_policies = [&] {
    t.acl_policies_index = ch.index;
    ch.keys.emplace_back(kAclPoliciesKey);
  };
  auto touch_roles = [&] {
    t.acl_roles_index = ch.index;
    ch.keys.emplace_back(kAclRolesKey);
  };
  switch (req.op) {
    case AclOp::kBootstrap:
      if (t.acl_bootstrap_index != 0 && req.cas != t.acl_bootstrap_index) {
        if (req.cas != 0) {
          return internal::Rejected(InvalidArgument(
              "Invalid bootstrap reset index (specified " + std::to_string(req.cas) +
              ", reset index: " + std::to_string(t.acl_bootstrap_index) + ")"));
        }
        return internal::Rejected(
            PermissionDenied("ACL bootstrap no longer allowed (reset index: " +
                             std::to_string(t.acl_bootstrap_index) + ")"));
      }
      [[fallthrough]];
    case AclOp::kTokenSet:
      if (Status s = AclUpsert(ch, t.acl_tokens, t.acl_secrets, "AccessorID", "SecretID", "Token",
                               req.object);
          !s.ok()) {
        return internal::Rejected(std::move(s));
      }
      if (req.op == AclOp::kBootstrap) t.acl_bootstrap_index = ch.index;
      touch_tokens();
      return r;
    case AclOp::kTokenDelete:
      if (t.acl_tokens.count(req.id) == 0) return r;
      AclErase(t.acl_tokens, t.acl_secrets, "SecretID", req.id);
      touch_tokens();
      return r;
    case AclOp::kPolicySet:
      if (Status s = AclUpsert(ch, t.acl_policies, t.acl_policy_names, "ID", "Name", "Policy",
                               req.object);
          !s.ok()) {
        return internal::Rejected(std::move(s));
      }
      touch_policies();
      return r;
    case AclOp::kPolicyDelete:
      if (t.acl_policies.count(req.id) == 0) return r;
      AclErase(t.acl_policies, t.acl_policy_names, "Name", req.id);
      touch_policies();
      return r;
    case AclOp::kRoleSet:
      if (Status s =
              AclUpsert(ch, t.acl_roles, t.acl_role_names, "ID", "Name", "Role", req.object);
          !s.ok()) {
        return internal::Rejected(std::move(s));
      }
      touch_roles();
      return r;
    case AclOp::kRoleDelete:
      if (t.acl_roles.count(req.id) == 0) return r;
      AclErase(t.acl_roles, t.acl_role_names, "Name", req.id);
      touch_roles();
      return r;
    case AclOp::kReplicate: {
      if (!req.object.is_array()) {
        return internal::Rejected(InvalidArgument("replicated objects are not a list"));
      }
      const bool tokens = req.kind == "tokens";
      const bool roles = req.kind == "roles";
      if (!tokens && !roles && req.kind != "policies") {
        return internal::Rejected(InvalidArgument("unknown ACL kind \"" + req.kind + "\""));
      }
      SortedMap<Json>& table = tokens ? t.acl_tokens : roles ? t.acl_roles : t.acl_policies;
      SortedMap<std::string>& lookup =
          tokens ? t.acl_secrets : roles ? t.acl_role_names : t.acl_policy_names;
      const char* id_field = tokens ? "AccessorID" : "ID";
      const char* key_field = tokens ? "SecretID" : "Name";
      const char* what = tokens ? "Token" : roles ? "Role" : "Policy";
      // All or nothing: check first, then change.
      std::set<std::string> incoming;
      std::map<std::string, std::string> keys;  // key -> id within the list
      for (const auto& o : req.object) {
        std::string id = o.is_object() ? StringField(o, id_field) : "";
        std::string key = o.is_object() ? StringField(o, key_field) : "";
        if (id.empty() || key.empty() || !incoming.insert(id).second ||
            !keys.emplace(key, id).second) {
          return internal::Rejected(
              InvalidArgument(std::string("replicated ") + what + " list is malformed"));
        }
      }
      std::vector<std::string> gone;
      for (const auto& [id, o] : table) {
        if (incoming.count(id) == 0 && !(tokens && IsLocal(o))) gone.push_back(id);
      }
      bool changed = !gone.empty();
      for (const auto& id : gone) AclErase(table, lookup, key_field, id);
      for (const auto& o : req.object) {
        std::string id = StringField(o, id_field);
        auto it = table.find(id);
        if (it != table.end()) {
          // Unchanged objects keep their indexes, so a replication round that changed nothing
          // wakes nobody.
          Json a = it->second, b = o;
          for (const char* f : {"CreateIndex", "ModifyIndex"}) {
            a.erase(f);
            b.erase(f);
          }
          if (a == b) continue;
        }
        // A local object under the same key would make the list unusable: the primary's wins.
        std::string key = StringField(o, key_field);
        if (auto l = lookup.find(key); l != lookup.end() && l->second != id) {
          AclErase(table, lookup, key_field, l->second);
        }
        Json stored = o;
        stored.erase("CreateIndex");
        stored.erase("ModifyIndex");
        if (Status s = AclUpsert(ch, table, lookup, id_field, key_field, what, stored); !s.ok()) {
          return internal::Rejected(std::move(s));
        }
        changed = true;
      }
      if (changed) {
        if (tokens) touch_tokens();
        else if (roles) touch_roles();
        else touch_policies();
      }
      return r;
    }
  }
  return internal::Rejected(InvalidArgument("unknown ACL operation"));
}

namespace {

Index Find(const SortedMap<Json>& table, std::string_view id, Json* out) {
  *out = nullptr;
  if (auto it = table.find(id); it != table.end()) *out = it->second;
  return 0;
}

}  // namespace

Index Store::AclToken(WatchSet* ws, std::string_view accessor, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclTokensKey));
  Find(s.t.acl_tokens, accessor, out);
  return s.Clamp(s.t.acl_tokens_index);
}

Index Store::AclTokenBySecret(WatchSet* ws, std::string_view secret, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclTokensKey));
  *out = nullptr;
  if (auto it = s.t.acl_secrets.find(secret); it != s.t.acl_secrets.end()) {
    Find(s.t.acl_tokens, it->second, out);
  }
  return s.Clamp(s.t.acl_tokens_index);
}

Index Store::AclTokens(WatchSet* ws, std::vector<Json>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclTokensKey));
  out->clear();
  for (const auto& [id, t] : s.t.acl_tokens) out->push_back(t);
  return s.Clamp(s.t.acl_tokens_index);
}

Index Store::AclPolicy(WatchSet* ws, std::string_view id, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclPoliciesKey));
  Find(s.t.acl_policies, id, out);
  return s.Clamp(s.t.acl_policies_index);
}

Index Store::AclPolicyByName(WatchSet* ws, std::string_view name, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclPoliciesKey));
  *out = nullptr;
  if (auto it = s.t.acl_policy_names.find(name); it != s.t.acl_policy_names.end()) {
    Find(s.t.acl_policies, it->second, out);
  }
  return s.Clamp(s.t.acl_policies_index);
}

Index Store::AclPolicies(WatchSet* ws, std::vector<Json>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclPoliciesKey));
  out->clear();
  for (const auto& [id, p] : s.t.acl_policies) out->push_back(p);
  return s.Clamp(s.t.acl_policies_index);
}

Index Store::AclRole(WatchSet* ws, std::string_view id, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclRolesKey));
  Find(s.t.acl_roles, id, out);
  return s.Clamp(s.t.acl_roles_index);
}

Index Store::AclRoleByName(WatchSet* ws, std::string_view name, Json* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclRolesKey));
  *out = nullptr;
  if (auto it = s.t.acl_role_names.find(name); it != s.t.acl_role_names.end()) {
    Find(s.t.acl_roles, it->second, out);
  }
  return s.Clamp(s.t.acl_roles_index);
}

Index Store::AclRoles(WatchSet* ws, std::vector<Json>* out) const {
  const Impl& s = *impl_;
  Impl::AddKey(ws, std::string(kAclRolesKey));
  out->clear();
  for (const auto& [id, r] : s.t.acl_roles) out->push_back(r);
  return s.Clamp(s.t.acl_roles_index);
}

Index Store::AclBootstrapIndex() const { return impl_->t.acl_bootstrap_index; }

}  // namespace gangway::catalog
