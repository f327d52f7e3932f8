// Decides what a resolved token may do: the rules of all its policies (direct, through roles and
// identities) merged as Consul merges them, over the agent's default policy. Immutable once
// built; shared between requests and threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "acl/rules.h"

namespace gangway::acl {

class Authorizer;
using AuthorizerPtr = std::shared_ptr<const Authorizer>;

class Authorizer {
 public:
  // Merges every rule of `policies` (rules with the same resource, name and exact/prefix flag
  // combine as deny > write > list > read; rules on different names never combine) over the
  // default: allow (true) or deny (false) for whatever no rule decides.
  static AuthorizerPtr Build(const std::vector<Rules>& policies, bool default_allow);
  // ACLs disabled: everything allowed.
  static AuthorizerPtr AllowAll();
  // Everything denied (down_policy "deny", an unknown token where one must be refused).
  static AuthorizerPtr DenyAll();
  // The global-management policy: everything allowed.
  static AuthorizerPtr Management();

  // Whether `level` on resource `r` named `name` is allowed. For a named resource the exact rule
  // for `name` wins, else the longest prefix rule that is a prefix of `name`; an unnamed one
  // (acl, keyring, mesh, operator, peering) ignores `name`. mesh and peering fall back to
  // operator when no rule names them. kIntention looks at service rules: their `intentions`
  // attribute, or when absent read for a read/write service rule and deny for a deny one.
  // `write` grants read and list; `list` grants read (key rules); `deny` refuses all, and
  // nothing left at kDefault falls to the default policy.
  bool Allowed(Resource r, std::string_view name, Level level) const;

  // Recursive KV delete of `prefix`: write on `prefix` and no rule on a key or prefix under
  // `prefix` that denies write (Consul's KeyWritePrefix).
  bool KeyWritePrefix(std::string_view prefix) const;

  // True for a token that may do anything (management, or ACLs disabled).
  bool all_allowed() const { return all_allowed_; }

 private:
  struct Tree;  // authorizer.cc
  Authorizer();
  bool all_allowed_ = false;
  bool default_allow_ = false;
  std::shared_ptr<const Tree> tree_;
};

}  // namespace gangway::acl
