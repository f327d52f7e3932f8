#include "proxy/authz.h"

#include <cctype>

namespace gangway::proxy {

AuthzDecision Authorize(const Authz& authz, std::string_view spiffe_id, bool sees_requests) {
  if (const AuthzRule* rule = MatchRule(authz, spiffe_id)) {
    std::string which = rule->id.empty() ? "rule for " + rule->source : "intention " + rule->id;
    if (!rule->permissions.empty()) {
      if (sees_requests) return {true, which + " has L7 permissions: checked per request"};
      return {false, which + " has L7 permissions, which a connection cannot satisfy"};
    }
    return {rule->allow, which + (rule->allow ? " allows" : " denies")};
  }
  return {authz.default_allow,
          authz.default_allow ? "no rule matched; default allow" : "no rule matched; default deny"};
}

std::string_view TrustDomainOf(std::string_view spiffe_id) {
  constexpr std::string_view kScheme = "spiffe://";
  if (spiffe_id.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(spiffe_id[i])) != kScheme[i]) return {};
  }
  std::string_view rest = spiffe_id.substr(kScheme.size());
  return rest.substr(0, rest.find('/'));
}

bool SameTrustDomain(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace gangway::proxy
