// Consul's ACL rules language (HCL, or its JSON form): what one policy grants. Parsing is pure
// and bounded; errors name the line and column, the rule and what was expected. Any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway::acl {

// What a rule grants. kDefault: no rule says anything (the next authorizer in the chain, in the
// end the agent's default_policy, decides).
enum class Access : uint8_t { kDefault = 0, kRead = 1, kList = 2, kWrite = 3, kDeny = 4 };

// What a request needs.
enum class Level : uint8_t { kRead = 0, kList = 1, kWrite = 2 };

// The resources rules name. kIntention is derived from service rules (their `intentions`
// attribute) and named by the destination service.
enum class Resource : uint8_t {
  kAcl = 0,
  kAgent,
  kEvent,
  kIntention,
  kKey,
  kKeyring,
  kMesh,
  kNode,
  kOperator,
  kPeering,
  kQuery,
  kService,
  kSession,
};

// Consul's names: "acl", "agent", "event", "intention", "key", "keyring", "mesh", "node",
// "operator", "peering", "query", "service", "session".
const char* ResourceName(Resource r);
const char* LevelName(Level l);    // "read", "list", "write"
const char* AccessName(Access a);  // "", "read", "list", "write", "deny"
// True for the resources whose rules are named (agent, event, key, node, query, service,
// session, and intention through service); false for acl, keyring, mesh, operator, peering.
bool IsNamed(Resource r);

struct Rule {
  Resource resource = Resource::kKey;
  std::string name;     // named resources only: the exact name, or the prefix ("" = all)
  bool prefix = false;  // key_prefix, service_prefix, ...
  Access access = Access::kDefault;
  // Service rules only: the `intentions` attribute (kDefault when not written).
  Access intentions = Access::kDefault;

  friend bool operator==(const Rule&, const Rule&) = default;
};

// One policy's rules, in the order written.
struct Rules {
  std::vector<Rule> rules;

  friend bool operator==(const Rules&, const Rules&) = default;
};

// Parses rules text. The form is chosen by the first non-blank character: '{' is JSON, anything
// else HCL. Empty text (or only comments) is an empty rule set. Refuses, with line and column
// where known: syntax errors, unknown rule kinds (with the nearest known one), unknown keys in a
// rule block, values other than read/write/deny (and list, for key rules only), a block rule
// without a name label, a bare rule (acl, keyring, mesh, operator, peering) given as a block.
// Consul's texts where it has them, e.g. `Invalid key_prefix policy: "x"`.
Result<Rules> ParseRules(std::string_view text);

// The canonical HCL for rules (stable order as given), e.g. for the synthetic policies below.
// ParseRules reads it back to equal Rules. Rules that grant nothing (kDefault) and kIntention
// rules, which the language spells only as a service rule's attribute, are left out.
std::string FormatRules(const Rules& rules);

}  // namespace gangway::acl
