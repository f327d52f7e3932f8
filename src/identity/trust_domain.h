// Trust domains: the host part of every SPIFFE ID and the suffix of every mesh SNI name. Consul
// derives one from the cluster ID as "<cluster-id>.consul", whatever the DNS domain is.
// Pure functions over values; any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::identity {

// "<cluster-id>.consul": the trust domain does not follow the DNS domain.
std::string TrustDomainForCluster(std::string_view cluster_id);

// The cluster ID of a trust domain built by TrustDomainForCluster. Fails unless `trust_domain`
// is one DNS label followed by ".consul" (the suffix compared ignoring case).
Result<std::string> ClusterIdOf(std::string_view trust_domain);

// Trust domains are DNS names, so they compare ignoring ASCII case (Consul's CanSign).
bool SameTrustDomain(std::string_view a, std::string_view b);

}  // namespace gangway::identity
