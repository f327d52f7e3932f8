// The API JSON of pieces of config entries, for outputs that embed them (the compiled discovery
// chain's route and split definitions, subsets, load balancers). Same rules as
// EncodeConfigEntry. Internal to meshcfg; pure.
#pragma once

#include "meshcfg/config_entry.h"

namespace gangway::meshcfg::internal {

Json EncodePart(const Route& v);
Json EncodePart(const Split& v);
Json EncodePart(const ResolverSubset& v);
Json EncodePart(const LoadBalancer& v);
Json EncodePart(const FailoverPolicy& v);
Json EncodePart(const MeshGatewayConfig& v);

}  // namespace gangway::meshcfg::internal
