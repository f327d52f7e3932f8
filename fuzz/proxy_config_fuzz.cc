// Fuzz target for the proxy config a sidecar or gateway receives from its agent: decode, and when
// the bytes are accepted, check what the proxy relies on: the config is valid, re-encodes to a
// document that decodes to the same config, and that encoding is canonical (a fixed point). The
// matching helpers run over every listener with the SNIs the config itself names.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/config/config.h"
#include "proxy/config/json.h"

using gangway::proxy::Config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = gangway::proxy::DecodeConfig(bytes);
  if (!decoded.ok()) return 0;
  const Config& config = *decoded;
  if (!gangway::proxy::Validate(config).ok()) std::abort();

  std::string encoded = gangway::proxy::EncodeConfig(config);
  auto again = gangway::proxy::DecodeConfig(encoded);
  if (!again.ok() || !(*again == config)) std::abort();
  if (gangway::proxy::EncodeConfig(*again) != encoded) std::abort();

  for (const auto& listener : config.listeners) {
    for (const auto& cluster : config.clusters) {
      const auto* chain = gangway::proxy::MatchChain(listener, cluster.name);
      if (chain != nullptr && chain->action != gangway::proxy::FilterChain::Action::kSniCluster &&
          chain->action != gangway::proxy::FilterChain::Action::kHttpRoute &&
          config.FindCluster(chain->cluster) == nullptr) {
        std::abort();  // Validate promised every chain's cluster exists
      }
    }
    for (const auto& chain : listener.chains) {
      // Validate promised an http_route chain routes, and every route's clusters exist and
      // split exactly 100 %.
      if ((chain.action == gangway::proxy::FilterChain::Action::kHttpRoute) !=
          chain.route.has_value()) {
        std::abort();
      }
      if (chain.route) {
        for (const auto& route : chain.route->routes) {
          int sum = 0;
          for (const auto& wc : route.clusters) {
            if (config.FindCluster(wc.cluster) == nullptr) std::abort();
            sum += wc.weight;
          }
          if (sum != 10000) std::abort();
        }
      }
      for (const auto& name : chain.server_names) {
        // An exact name always selects a chain that lists it (names are unique per listener).
        if (name.starts_with("*.")) continue;
        const auto* got = gangway::proxy::MatchChain(listener, name);
        if (got != &chain) std::abort();
      }
    }
  }
  if (config.leaf) (void)gangway::proxy::Allowed(config.authz, config.leaf->spiffe_id);
  return 0;
}
