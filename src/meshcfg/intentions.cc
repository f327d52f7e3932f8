#include "meshcfg/intentions.h"

#include <algorithm>
#include <tuple>

#include "identity/spiffe.h"

namespace gangway::meshcfg {
namespace {

bool IsDefault(const std::string& scope) { return scope.empty() || scope == "default"; }

// A namespace of an intention against the asker's: "*" matches any, "" is "default".
bool NamespaceMatches(const std::string& pattern, const std::string& ns) {
  if (pattern == "*") return true;
  return IsDefault(pattern) ? IsDefault(ns) : pattern == ns;
}

bool PartitionMatches(const std::string& pattern, const std::string& partition) {
  return IsDefault(pattern) ? IsDefault(partition) : pattern == partition;
}

bool SourceMatches(const Intention& ixn, const IntentionSource& src) {
  if (!ixn.source_sameness_group.empty()) return false;  // not supported: never matches
  if (ixn.source_peer != src.peer) return false;
  if (ixn.source_name != "*" && ixn.source_name != src.name) return false;
  return NamespaceMatches(ixn.source_ns, src.ns) &&
         PartitionMatches(ixn.source_partition, src.partition);
}

bool DestinationMatches(const Intention& ixn, std::string_view destination) {
  return (ixn.destination_name == "*" || ixn.destination_name == destination) &&
         NamespaceMatches(ixn.destination_ns, "") &&
         PartitionMatches(ixn.destination_partition, "");
}

bool Denies(const Intention& ixn) { return ixn.action != "allow" || !ixn.permissions.empty(); }

// Evaluation order: precedence descending; at equal precedence deny first, then by names so the
// order does not depend on the order entries were given in.
bool EvaluatedBefore(const Intention& a, const Intention& b) {
  if (a.precedence != b.precedence) return a.precedence > b.precedence;
  if (Denies(a) != Denies(b)) return Denies(a);
  return std::tie(a.source_ns, a.source_name, a.destination_ns, a.destination_name) <
         std::tie(b.source_ns, b.source_name, b.destination_ns, b.destination_name);
}

std::vector<Intention> ForDestination(std::string_view destination,
                                      const std::vector<ServiceIntentions>& entries) {
  std::vector<Intention> out;
  for (const ServiceIntentions& e : entries) {
    for (Intention& ixn : IntentionsOf(e)) {
      if (DestinationMatches(ixn, destination)) out.push_back(std::move(ixn));
    }
  }
  std::stable_sort(out.begin(), out.end(), EvaluatedBefore);
  return out;
}

// The SPIFFE pattern of an intention's source: its segments escaped as identity writes them,
// "*" kept as a wildcard segment, any datacenter.
std::string SourcePattern(const Intention& ixn, std::string_view trust_domain) {
  const std::string ns = IsDefault(ixn.source_ns) ? "default" : ixn.source_ns;
  identity::SpiffeId id =
      identity::ServiceId(trust_domain, ns == "*" ? "x" : ns, "x",
                          ixn.source_name == "*" ? "x" : ixn.source_name, ixn.source_partition);
  std::string uri = id.Uri();
  // Uri() ends in "/ns/<ns>/dc/x/svc/<name>": rebuild that tail with the wildcards.
  std::string head = uri.substr(0, uri.rfind("/ns/"));
  std::string tail = uri.substr(uri.rfind("/svc/") + 5);
  std::string ns_seg = uri.substr(head.size() + 4, uri.find("/dc/", head.size()) - head.size() - 4);
  return head + "/ns/" + (ns == "*" ? "*" : ns_seg) + "/dc/*/svc/" +
         (ixn.source_name == "*" ? "*" : tail);
}

}  // namespace

std::string Intention::Name() const { return source_name + " => " + destination_name; }

std::vector<Intention> IntentionsOf(const ServiceIntentions& entry) {
  std::vector<Intention> out;
  for (const SourceIntention& s : entry.sources) {
    Intention i;
    i.source_name = s.name;
    i.source_ns = s.namespace_;
    i.source_partition = s.partition;
    i.source_peer = s.peer;
    i.source_sameness_group = s.sameness_group;
    i.destination_name = entry.name;
    i.destination_ns = entry.namespace_;
    i.destination_partition = entry.partition;
    i.action = s.action;
    i.permissions = s.permissions;
    // Computed, not trusted from the entry: an entry that skipped Normalize still orders right.
    i.precedence = IntentionPrecedence(s.name, entry.name);
    i.description = s.description;
    i.legacy_id = s.legacy_id;
    out.push_back(std::move(i));
  }
  return out;
}

IntentionDefault ResolveIntentionDefault(const IntentionDefaultSettings& settings) {
  if (settings.policy_allow) return IntentionDefault::FromPolicy(*settings.policy_allow);
  if (settings.acl_allow) return IntentionDefault::FromAcls(*settings.acl_allow);
  return IntentionDefault::AclsDisabled();
}

Decision Authorize(const IntentionSource& source, std::string_view destination,
                   const std::vector<ServiceIntentions>& entries, const IntentionDefault& def) {
  for (const Intention& ixn : ForDestination(destination, entries)) {
    if (!SourceMatches(ixn, source)) continue;
    if (!ixn.permissions.empty()) {
      return {false, "Matched L7 intention: " + ixn.Name() + " (permissions)", ixn};
    }
    bool allow = ixn.action == "allow";
    return {allow, "Matched L4 intention: " + ixn.Name() + (allow ? " (allow)" : " (deny)"), ixn};
  }
  return {def.allow, def.reason, std::nullopt};
}

std::map<std::string, std::vector<Intention>> Match(MatchBy by,
                                                    const std::vector<std::string>& names,
                                                    const std::vector<ServiceIntentions>& entries) {
  std::vector<Intention> all;
  for (const ServiceIntentions& e : entries) {
    for (Intention& ixn : IntentionsOf(e)) all.push_back(std::move(ixn));
  }
  std::map<std::string, std::vector<Intention>> out;
  for (const std::string& name : names) {
    std::vector<Intention>& list = out[name];
    for (const Intention& ixn : all) {
      const std::string& key = by == MatchBy::kSource ? ixn.source_name : ixn.destination_name;
      if (key == "*" || key == name) list.push_back(ixn);
    }
    std::stable_sort(list.begin(), list.end(), EvaluatedBefore);
  }
  return out;
}

std::vector<IntentionRule> CompileAuthz(std::string_view destination,
                                        const std::vector<ServiceIntentions>& entries,
                                        std::string_view trust_domain) {
  std::vector<IntentionRule> rules;
  for (const Intention& ixn : ForDestination(destination, entries)) {
    if (!ixn.source_peer.empty() || !ixn.source_sameness_group.empty()) continue;
    rules.push_back({SourcePattern(ixn, trust_domain), !Denies(ixn), ixn.precedence, ixn.Name(),
                     ixn.permissions});
  }
  return rules;
}

}  // namespace gangway::meshcfg
