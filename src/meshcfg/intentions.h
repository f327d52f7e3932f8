// Intention evaluation over service-intentions entries (Consul's agent/connect_auth.go and
// IntentionMatch): may a source service connect to a destination, which intentions apply to a
// name, and the ordered rules a destination's proxy enforces. Pure functions; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshcfg/config_entry.h"

namespace gangway::meshcfg {

// One intention, flattened from a source of a service-intentions entry (the shape of Consul's
// legacy intentions API). Namespaces and partitions are "" for the default ones.
struct Intention {
  std::string source_name;  // a service name or "*"
  std::string source_ns;
  std::string source_partition;
  std::string source_peer;
  std::string source_sameness_group;
  std::string destination_name;  // a service name or "*"
  std::string destination_ns;
  std::string destination_partition;
  std::string action;  // allow | deny; "" when `permissions` decide (L7)
  std::vector<IntentionPermission> permissions;
  int precedence = 0;
  std::string description;
  std::string legacy_id;

  // "web => db", as Consul's reasons name an intention.
  std::string Name() const;
  bool operator==(const Intention&) const = default;
};

// The intentions of one entry, in its order.
std::vector<Intention> IntentionsOf(const ServiceIntentions& entry);

// Who is asking, from its certificate's SPIFFE ID. The ID's datacenter is not part of it:
// intentions are keyed by names, so a web in dc2 matches "web => db" written anywhere.
struct IntentionSource {
  std::string name;
  std::string ns;         // "" is "default"
  std::string partition;  // "" is "default"
  std::string peer;       // "" for a service of this cluster (or a federated datacenter)
};

// What decides when no intention matches, with Consul's reason for it.
struct IntentionDefault {
  bool allow = true;
  std::string reason = "ACLs disabled, access is allowed by default";

  static IntentionDefault AclsDisabled() { return {}; }
  // acl.default_policy when ACLs are enabled.
  static IntentionDefault FromAcls(bool allow) {
    return {allow, "Default behavior configured by ACLs"};
  }
  // The agent's default_intention_policy, which wins over the ACL default when set.
  static IntentionDefault FromPolicy(bool allow) { return {allow, "Default intention policy"}; }
};

// The settings that decide the default. Everything that answers "may S connect to D" (the
// sidecars' compiled authz, intention check, /v1/agent/connect/authorize) takes the default from
// ResolveIntentionDefault over one of these, so they cannot disagree.
struct IntentionDefaultSettings {
  std::optional<bool> policy_allow;  // default_intention_policy: allow (true) | deny (false)
  std::optional<bool> acl_allow;     // acl.default_policy when ACLs are enabled
};

// default_intention_policy when set, else the ACL default policy when ACLs are on, else allow
// (Consul's "ACLs disabled, access is allowed by default").
IntentionDefault ResolveIntentionDefault(const IntentionDefaultSettings& settings);

struct Decision {
  bool allowed = false;
  // "Matched L4 intention: web => db (allow)", "Matched L7 intention: web => db (permissions)",
  // or the default's reason.
  std::string reason;
  std::optional<Intention> intention;  // the one that decided; none when the default did
};

// L4 authorization (`intention check`, /v1/agent/connect/authorize): the matching intention of
// highest precedence decides, deny winning ties; an intention with L7 permissions denies, since
// a connection has no request to check them against.
Decision Authorize(const IntentionSource& source, std::string_view destination,
                   const std::vector<ServiceIntentions>& entries, const IntentionDefault& def);

enum class MatchBy { kSource, kDestination };

// Consul's /v1/connect/intentions/match: for each name, the intentions whose source (or
// destination) is that name or "*", in evaluation order (precedence descending, then by
// source and destination names).
std::map<std::string, std::vector<Intention>> Match(MatchBy by,
                                                    const std::vector<std::string>& names,
                                                    const std::vector<ServiceIntentions>& entries);

// One rule of the destination proxy's L4 authorization. `source` is a SPIFFE ID pattern in which
// a whole path segment may be "*" ("spiffe://<td>/ns/default/dc/*/svc/web"), the form
// proxy::AuthzRule takes; proxycfg converts.
struct IntentionRule {
  std::string source;
  bool allow = false;
  int precedence = 0;
  std::string intention;  // Intention::Name(), for the proxy's deny reason
  // The intention's L7 permissions, in order (then `allow` is false: a connection alone cannot
  // satisfy them); a proxy that sees the requests decides each by them.
  std::vector<IntentionPermission> permissions;

  bool operator==(const IntentionRule&) const = default;
};

// The rules for connections to `destination`, in evaluation order: the first rule whose source
// matches decides, none matching leaves it to the default. Authorize gives the same answer for
// every source of `trust_domain`. Peer and sameness-group sources are left out: their
// identities are not services of this trust domain.
std::vector<IntentionRule> CompileAuthz(std::string_view destination,
                                        const std::vector<ServiceIntentions>& entries,
                                        std::string_view trust_domain);

}  // namespace gangway::meshcfg
