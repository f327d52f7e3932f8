#include "identity/trust_domain.h"

#include "core/strings.h"

namespace gangway::identity {
namespace {

constexpr std::string_view kSuffix = ".consul";

}  // namespace

std::string TrustDomainForCluster(std::string_view cluster_id) {
  return std::string(cluster_id) + std::string(kSuffix);
}

Result<std::string> ClusterIdOf(std::string_view trust_domain) {
  const bool has_suffix =
      trust_domain.size() > kSuffix.size() &&
      ToLower(trust_domain.substr(trust_domain.size() - kSuffix.size())) == kSuffix;
  if (!has_suffix) {
    return InvalidArgument("trust domain \"" + std::string(trust_domain) +
                           "\" is not of the form <cluster-id>.consul");
  }
  std::string_view id = trust_domain.substr(0, trust_domain.size() - kSuffix.size());
  if (id.find('.') != std::string_view::npos) {
    return InvalidArgument("trust domain \"" + std::string(trust_domain) +
                           "\": the cluster ID may not contain '.'");
  }
  return std::string(id);
}

bool SameTrustDomain(std::string_view a, std::string_view b) { return ToLower(a) == ToLower(b); }

}  // namespace gangway::identity
