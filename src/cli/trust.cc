#include "cli/trust.h"

#include <algorithm>

#include "core/strings.h"

namespace gangway::cli {
namespace {

// Trust domains are DNS names: compared without case, as the proxies compare them.
bool SameTrustDomain(const std::string& a, const std::string& b) {
  return !a.empty() && ToLower(a) == ToLower(b);
}

std::string SharedRoot(const DatacenterCA& a, const DatacenterCA& b) {
  for (const auto& id : a.root_ids) {
    if (std::find(b.root_ids.begin(), b.root_ids.end(), id) != b.root_ids.end()) return id;
  }
  return {};
}

// The sentence for two datacenters whose CAs do not trust each other. The fix goes to the one
// that is not the primary: restarted with primary_datacenter set, its leader replaces its own
// root with an intermediate signed by the primary's.
std::string Untrusted(const DatacenterCA& local, const DatacenterCA& other,
                      const std::string& primary) {
  const DatacenterCA* wrong = nullptr;
  if (local.datacenter == primary) wrong = &other;
  if (other.datacenter == primary) wrong = &local;
  const DatacenterCA& right = wrong == &local ? other : local;
  std::string text = "Connect trust: ";
  text += wrong ? wrong->datacenter + " does not trust " + right.datacenter
                : local.datacenter + " and " + other.datacenter + " do not trust each other";
  text += ": x509: certificate signed by unknown authority (" + local.datacenter +
          " trust domain " + local.trust_domain + ", " + other.datacenter + " trust domain " +
          other.trust_domain + "); cross-datacenter connections between them fail. ";
  if (wrong) {
    text += "Fix: set primary_datacenter = \"" + primary + "\" on " + wrong->datacenter +
            "'s servers and restart them, so " + wrong->datacenter +
            " takes an intermediate from " + primary + "'s root";
  } else {
    text += "Fix: set primary_datacenter = \"" + primary +
            "\" on the servers of every datacenter, so they all take intermediates from " +
            primary + "'s root";
  }
  return text;
}

}  // namespace

DatacenterCA ReadDatacenterCA(const std::string& datacenter, const Result<Json>& roots) {
  DatacenterCA ca;
  ca.datacenter = datacenter;
  if (!roots.ok()) {
    ca.error = roots.status().message();
    ca.connect_disabled = ca.error.find("Connect must be enabled") != std::string::npos;
    return ca;
  }
  if (!roots->is_object()) {
    ca.error = "the roots answer is not a JSON object";
    return ca;
  }
  ca.trust_domain = JsonString(*roots, "TrustDomain");
  if (ca.trust_domain.empty()) ca.error = "no trust domain yet (its CA is not initialised)";
  auto list = roots->find("Roots");
  if (list != roots->end() && list->is_array()) {
    for (const auto& root : *list) {
      if (root.is_object() && !JsonString(root, "ID").empty()) {
        ca.root_ids.push_back(JsonString(root, "ID"));
      }
    }
  }
  return ca;
}

std::vector<std::string> ConnectTrustLines(const DatacenterCA& local,
                                           const std::vector<DatacenterCA>& others,
                                           const std::string& primary) {
  std::vector<std::string> lines;
  if (local.trust_domain.empty()) {
    if (!local.error.empty() && !local.connect_disabled) {
      lines.push_back("Connect trust: cannot read " + local.datacenter +
                      "'s CA roots: " + local.error);
    }
    return lines;
  }
  if (others.empty()) return lines;
  std::string sharing = local.datacenter;
  int shared = 0;
  std::vector<std::string> problems;
  for (const auto& other : others) {
    if (!other.error.empty()) {
      problems.push_back("Connect trust: cannot read " + other.datacenter +
                         "'s CA roots: " + other.error);
    } else if (SameTrustDomain(other.trust_domain, local.trust_domain)) {
      sharing += ", " + other.datacenter;
      ++shared;
    } else if (std::string root = SharedRoot(local, other); !root.empty()) {
      // Chains verify, but every SPIFFE ID names the other trust domain.
      problems.push_back("Connect trust: " + other.datacenter + " has trust domain " +
                         other.trust_domain + " but shares root " + root + " with " +
                         local.datacenter + " (trust domain " + local.trust_domain +
                         "); proxies refuse each other's SPIFFE IDs as from a foreign trust "
                         "domain");
    } else {
      problems.push_back(Untrusted(local, other, primary));
    }
  }
  if (shared > 0) {
    lines.push_back("Connect trust: " + sharing + " share trust domain " + local.trust_domain);
  }
  lines.insert(lines.end(), problems.begin(), problems.end());
  return lines;
}

}  // namespace gangway::cli
