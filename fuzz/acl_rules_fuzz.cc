// Fuzz target for ACL rules as policy create/update receives them: any bytes go through
// acl::ParseRules. Beyond "no crash" and bounded work: errors are non-empty and, past the
// codec's syntax errors, printable ASCII; rules that parse format to HCL that parses back to the
// same rules; and the authorizer built from them answers every check as a plain scan of the
// merged rules does (exact name first, else the longest prefix), KeyWritePrefix included.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "acl/authorizer.h"
#include "acl/rules.h"

namespace {

using namespace gangway::acl;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

bool HasPrefix(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(0, p.size()) == p;
}

// The definition, written the slow way: merged slots, then a scan of every rule per check.
class Reference {
 public:
  explicit Reference(const Rules& rules) {
    for (const Rule& r : rules.rules) {
      if (!IsNamed(r.resource)) {
        unnamed_[r.resource] = std::max(unnamed_[r.resource], r.access);
        continue;
      }
      Access& a = slots_[{r.resource, r.name, r.prefix}];
      a = std::max(a, r.access);
      if (r.resource == Resource::kService && r.intentions != Access::kDefault) {
        Access& i = explicit_[{r.name, r.prefix}];
        i = std::max(i, r.intentions);
      }
    }
    for (const auto& [key, access] : slots_) {
      const auto& [res, name, prefix] = key;
      if (res != Resource::kService) continue;
      auto it = explicit_.find({name, prefix});
      Access i = it != explicit_.end()                                 ? it->second
                 : access == Access::kRead || access == Access::kWrite ? Access::kRead
                                                                       : Access::kDeny;
      intentions_[{Resource::kIntention, name, prefix}] = i;
    }
  }

  Access Lookup(Resource r, const std::string& name) const {
    if (!IsNamed(r)) {
      Access a = Get(unnamed_, r);
      if (a == Access::kDefault && (r == Resource::kMesh || r == Resource::kPeering)) {
        a = Get(unnamed_, Resource::kOperator);
      }
      return a;
    }
    const auto& slots = r == Resource::kIntention ? intentions_ : slots_;
    auto exact = slots.find({r, name, false});
    if (exact != slots.end()) return exact->second;
    Access best = Access::kDefault;
    size_t best_len = 0;
    bool found = false;
    for (const auto& [key, access] : slots) {
      const auto& [res, n, prefix] = key;
      if (res != r || !prefix || !HasPrefix(name, n)) continue;
      if (!found || n.size() > best_len) {
        best = access;
        best_len = n.size();
        found = true;
      }
    }
    return best;
  }

  bool Allowed(Resource r, const std::string& name, Level level, bool default_allow) const {
    switch (Lookup(r, name)) {
      case Access::kDefault:
        return default_allow;
      case Access::kDeny:
        return false;
      case Access::kWrite:
        return true;
      case Access::kList:
        return level != Level::kWrite;
      case Access::kRead:
        return level == Level::kRead;
    }
    return false;
  }

  bool KeyWritePrefix(const std::string& prefix, bool default_allow) const {
    Access base = Access::kDefault;
    size_t best_len = 0;
    bool found = false;
    for (const auto& [key, access] : slots_) {
      const auto& [res, n, is_prefix] = key;
      if (res != Resource::kKey) continue;
      if (HasPrefix(n, prefix) && access != Access::kWrite) return false;
      if (is_prefix && HasPrefix(prefix, n) && (!found || n.size() > best_len)) {
        base = access;
        best_len = n.size();
        found = true;
      }
    }
    if (base == Access::kDefault) return default_allow;
    return base == Access::kWrite;
  }

 private:
  using Key = std::tuple<Resource, std::string, bool>;
  static Access Get(const std::map<Resource, Access>& m, Resource r) {
    auto it = m.find(r);
    return it == m.end() ? Access::kDefault : it->second;
  }
  std::map<Resource, Access> unnamed_;
  std::map<Key, Access> slots_;
  std::map<Key, Access> intentions_;
  std::map<std::pair<std::string, bool>, Access> explicit_;
};

constexpr Resource kAll[] = {Resource::kAcl,       Resource::kAgent, Resource::kEvent,
                             Resource::kIntention, Resource::kKey,   Resource::kKeyring,
                             Resource::kMesh,      Resource::kNode,  Resource::kOperator,
                             Resource::kPeering,   Resource::kQuery, Resource::kService,
                             Resource::kSession};

void CheckAuthorizer(const Rules& rules) {
  // Names to probe: every rule's name, with a byte more and a byte less, and a few others.
  std::vector<std::string> names = {"", "a", "web", "\xff"};
  for (const Rule& r : rules.rules) {
    if (names.size() > 64) break;
    names.push_back(r.name);
    names.push_back(r.name + "x");
    names.push_back(r.name + "\xff");
    if (!r.name.empty()) names.push_back(r.name.substr(0, r.name.size() - 1));
  }
  const Reference ref(rules);
  for (bool default_allow : {false, true}) {
    auto a = Authorizer::Build({rules}, default_allow);
    Check(!a->all_allowed());
    for (const std::string& name : names) {
      for (Resource r : kAll) {
        for (Level l : {Level::kRead, Level::kList, Level::kWrite}) {
          Check(a->Allowed(r, name, l) == ref.Allowed(r, name, l, default_allow));
        }
      }
      Check(a->KeyWritePrefix(name) == ref.KeyWritePrefix(name, default_allow));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseRules(text);
  if (!parsed.ok()) {
    const std::string& m = parsed.status().message();
    Check(!m.empty());
    // The codec's own messages may quote labels as written; everything this module writes is
    // escaped to printable ASCII.
    if (!HasPrefix(m, "Failed to parse ACL rules: ")) {
      for (unsigned char c : m) Check(c >= 0x20 && c < 0x7f);
    }
    return 0;
  }
  for (const Rule& r : parsed->rules) {
    Check(r.access != Access::kDefault);
    Check(r.resource != Resource::kIntention);
    Check(IsNamed(r.resource) || (r.name.empty() && !r.prefix));
  }
  const std::string formatted = FormatRules(*parsed);
  auto again = ParseRules(formatted);
  Check(again.ok());
  Check(*again == *parsed);
  Check(FormatRules(*again) == formatted);
  CheckAuthorizer(*parsed);
  return 0;
}
