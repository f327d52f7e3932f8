// Fuzz target for what a sidecar's http_route listener does with the bytes its local app sends:
// Beast's request parser under the proxy's limits (ParseRequest), then the route decision of the
// example router, the cluster pick and the rewrite into the upstream request. Checks that a
// parsed request consumed no more than it was given, that pipelined requests parse on from where
// the previous one ended, and that the upstream request serializes.
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string_view>

#include "proxy/config/testing/examples.h"
#include "proxy/http_router.h"

namespace {

const gangway::proxy::HttpRouter& Router() {
  static const auto* router = [] {
    gangway::proxy::Config c = gangway::proxy::testing::RoutedSidecarExample();
    auto built = gangway::proxy::HttpRouter::Build(*c.listeners[1].chains[0].route);
    if (!built.ok()) std::abort();
    return new gangway::proxy::HttpRouter(std::move(*built));
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  gangway::proxy::HttpLimits limits;
  limits.header_bytes = 8 * 1024;
  limits.body_bytes = 64 * 1024;
  for (int pipelined = 0; pipelined < 4 && !bytes.empty(); ++pipelined) {
    gangway::proxy::ParsedRequest p = gangway::proxy::ParseRequest(bytes, limits);
    if (p.kind == gangway::proxy::ParsedRequest::Kind::kError) {
      if (p.status != 400 && p.status != 413 && p.status != 431) std::abort();
      return 0;
    }
    if (p.kind != gangway::proxy::ParsedRequest::Kind::kComplete) return 0;
    if (p.consumed == 0 || p.consumed > bytes.size()) std::abort();
    int index = Router().Match(p.request);
    if (index >= static_cast<int>(Router().size())) std::abort();
    if (index >= 0) {
      const gangway::proxy::Route& route = Router().route(static_cast<size_t>(index));
      const gangway::proxy::WeightedCluster* split = nullptr;
      for (uint32_t draw : {0u, 9000u, 9999u}) {
        split = &gangway::proxy::HttpRouter::PickCluster(route, draw);
      }
      gangway::proxy::HttpRouter::PrepareUpstream(route, *split, p.request);
      std::ostringstream out;
      out << p.request;
      if (out.str().find("\r\n\r\n") == std::string::npos) std::abort();
    }
    bytes.remove_prefix(p.consumed);
  }
  return 0;
}
