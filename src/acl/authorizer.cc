#include "acl/authorizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <utility>

namespace gangway::acl {

namespace {

constexpr size_t kResources = static_cast<size_t>(Resource::kSession) + 1;

size_t Index(Resource r) { return static_cast<size_t>(r); }

// The precedence of merged rules, deny > write > list > read > nothing, is the order of the
// enum's values.
Access Combine(Access a, Access b) { return std::max(a, b); }

bool Grants(Access a, Level level) {
  switch (a) {
    case Access::kWrite:
      return true;
    case Access::kList:
      return level != Level::kWrite;
    case Access::kRead:
      return level == Level::kRead;
    default:
      return false;
  }
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

// Per named resource, one entry per name with its exact and prefix rules, sorted by name (bytes,
// as memcmp orders them). A lookup is one binary search plus a walk up `anc`/`parent` links:
//
// The longest prefix rule P matching N is a prefix of every name between P and N in this order,
// in particular of the greatest name <= N. So from that entry, walking through the prefix rules
// that are prefixes of it, longest first, the first one that is a prefix of N is P.
struct Authorizer::Tree {
  struct Entry {
    std::string name;
    Access exact = Access::kDefault;
    Access prefix = Access::kDefault;
    // The longest entry with a prefix rule whose name is a prefix of this name (itself
    // included), or -1.
    int32_t anc = -1;
    // For an entry with a prefix rule: the next shorter such entry that is a prefix of it, or -1.
    int32_t parent = -1;
  };

  std::array<Access, kResources> unnamed{};
  std::array<std::vector<Entry>, kResources> named;

  // Index of the greatest name <= `name`, or -1.
  static int32_t Floor(const std::vector<Entry>& entries, std::string_view name) {
    auto it = std::upper_bound(entries.begin(), entries.end(), name,
                               [](std::string_view n, const Entry& e) { return n < e.name; });
    return static_cast<int32_t>(it - entries.begin()) - 1;
  }

  // The longest prefix rule whose name is a prefix of `name`; kDefault when none.
  static Access LongestPrefix(const std::vector<Entry>& entries, int32_t floor,
                              std::string_view name) {
    if (floor < 0) return Access::kDefault;
    for (int32_t j = entries[floor].anc; j >= 0; j = entries[j].parent) {
      if (StartsWith(name, entries[j].name)) return entries[j].prefix;
    }
    return Access::kDefault;
  }

  static Access Lookup(const std::vector<Entry>& entries, std::string_view name) {
    if (entries.empty()) return Access::kDefault;
    int32_t floor = Floor(entries, name);
    if (floor >= 0 && entries[floor].exact != Access::kDefault && entries[floor].name == name) {
      return entries[floor].exact;
    }
    return LongestPrefix(entries, floor, name);
  }

  static std::vector<Entry> Make(const std::map<std::string, std::pair<Access, Access>>& rules) {
    std::vector<Entry> entries;
    entries.reserve(rules.size());
    std::vector<int32_t> stack;  // entries with a prefix rule, each a prefix of the next
    for (const auto& [name, access] : rules) {
      Entry e;
      e.name = name;
      e.exact = access.first;
      e.prefix = access.second;
      // In sorted order, a name that is not a prefix of this one is not a prefix of any later
      // one that this one is a prefix of, so the stack holds exactly this name's prefixes.
      while (!stack.empty() && !StartsWith(name, entries[stack.back()].name)) stack.pop_back();
      const int32_t self = static_cast<int32_t>(entries.size());
      if (e.prefix != Access::kDefault) {
        e.parent = stack.empty() ? -1 : stack.back();
        e.anc = self;
        stack.push_back(self);
      } else {
        e.anc = stack.empty() ? -1 : stack.back();
      }
      entries.push_back(std::move(e));
    }
    return entries;
  }
};

Authorizer::Authorizer() = default;

AuthorizerPtr Authorizer::Build(const std::vector<Rules>& policies, bool default_allow) {
  // (exact, prefix) per name and resource.
  using Slots = std::map<std::string, std::pair<Access, Access>>;
  std::array<Slots, kResources> merged;
  std::array<Access, kResources> unnamed{};
  // Service rules' own intentions attribute, merged apart from their policy as Consul does:
  // the derived value is worked out only once both are merged.
  Slots explicit_intentions;

  for (const Rules& policy : policies) {
    for (const Rule& rule : policy.rules) {
      const size_t r = Index(rule.resource);
      if (!IsNamed(rule.resource)) {
        unnamed[r] = Combine(unnamed[r], rule.access);
        continue;
      }
      if (rule.resource == Resource::kService && rule.intentions != Access::kDefault) {
        auto& slot = explicit_intentions[rule.name];
        Access& a = rule.prefix ? slot.second : slot.first;
        a = Combine(a, rule.intentions);
      }
      if (rule.access == Access::kDefault) continue;
      auto& slot =
          (rule.resource == Resource::kIntention ? explicit_intentions : merged[r])[rule.name];
      Access& a = rule.prefix ? slot.second : slot.first;
      a = Combine(a, rule.access);
    }
  }

  // Intentions: the explicit attribute, else read for a read or write service rule and deny
  // for any other.
  Slots& intentions = merged[Index(Resource::kIntention)];
  auto derive = [](Access service) {
    if (service == Access::kDefault) return Access::kDefault;
    return service == Access::kRead || service == Access::kWrite ? Access::kRead : Access::kDeny;
  };
  for (const auto& [name, access] : merged[Index(Resource::kService)]) {
    intentions[name] = {derive(access.first), derive(access.second)};
  }
  for (const auto& [name, access] : explicit_intentions) {
    auto& slot = intentions[name];
    if (access.first != Access::kDefault) slot.first = access.first;
    if (access.second != Access::kDefault) slot.second = access.second;
  }

  auto tree = std::make_shared<Tree>();
  tree->unnamed = unnamed;
  for (size_t r = 0; r < kResources; ++r) {
    if (!merged[r].empty()) tree->named[r] = Tree::Make(merged[r]);
  }
  // The constructor is private; make_shared cannot reach it.
  std::shared_ptr<Authorizer> a(new Authorizer());
  a->default_allow_ = default_allow;
  a->tree_ = std::move(tree);
  return a;
}

AuthorizerPtr Authorizer::AllowAll() {
  static const AuthorizerPtr kAllowAll = [] {
    std::shared_ptr<Authorizer> a(new Authorizer());
    a->all_allowed_ = true;
    a->default_allow_ = true;
    a->tree_ = std::make_shared<Tree>();
    return a;
  }();
  return kAllowAll;
}

AuthorizerPtr Authorizer::DenyAll() {
  static const AuthorizerPtr kDenyAll = [] {
    std::shared_ptr<Authorizer> a(new Authorizer());
    a->tree_ = std::make_shared<Tree>();
    return a;
  }();
  return kDenyAll;
}

AuthorizerPtr Authorizer::Management() {
  // Kept apart from AllowAll so that callers may tell them apart by identity.
  static const AuthorizerPtr kManagement = [] {
    std::shared_ptr<Authorizer> a(new Authorizer());
    a->all_allowed_ = true;
    a->default_allow_ = true;
    a->tree_ = std::make_shared<Tree>();
    return a;
  }();
  return kManagement;
}

bool Authorizer::Allowed(Resource r, std::string_view name, Level level) const {
  if (all_allowed_) return true;
  Access access;
  if (IsNamed(r)) {
    access = Tree::Lookup(tree_->named[Index(r)], name);
  } else {
    access = tree_->unnamed[Index(r)];
    if (access == Access::kDefault && (r == Resource::kMesh || r == Resource::kPeering)) {
      access = tree_->unnamed[Index(Resource::kOperator)];
    }
  }
  if (access == Access::kDefault) return default_allow_;
  return Grants(access, level);
}

bool Authorizer::KeyWritePrefix(std::string_view prefix) const {
  if (all_allowed_) return true;
  const auto& entries = tree_->named[Index(Resource::kKey)];
  const Access base = Tree::LongestPrefix(entries, Tree::Floor(entries, prefix), prefix);
  if (base != Access::kDefault && base != Access::kWrite) return false;
  // Every rule on a name under `prefix` must grant write too, or some key could not be deleted.
  auto it = std::lower_bound(entries.begin(), entries.end(), prefix,
                             [](const Tree::Entry& e, std::string_view p) { return e.name < p; });
  for (; it != entries.end() && StartsWith(it->name, prefix); ++it) {
    for (Access a : {it->exact, it->prefix}) {
      if (a != Access::kDefault && a != Access::kWrite) return false;
    }
  }
  if (base == Access::kWrite) return true;
  return default_allow_;
}

}  // namespace gangway::acl
