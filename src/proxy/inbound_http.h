// Per-request authorization at a destination sidecar (L7 intentions): the Authz rules of one
// snapshot with their permissions' matches compiled once, deciding each request of a client.
// Built per snapshot by the runtime's owner thread; immutable after, any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "proxy/authz.h"
#include "proxy/config/config.h"
#include "proxy/http_router.h"

namespace gangway::proxy {

// What Envoy answers a request its RBAC filter denies, and so what Consul users see.
inline constexpr std::string_view kForbiddenBody = "RBAC: access denied";

class InboundAuthz {
 public:
  // Compiles the permissions' regexes (already checked by Validate; an error here means the
  // config was not validated).
  static Result<InboundAuthz> Build(const Authz& authz);

  // Decides one request of the client `spiffe_id` (verified at the handshake): the first rule
  // whose source matches decides; an L4 rule by its Allow, an L7 rule by its first permission
  // whose match holds, and by the default when none does (Consul: a request no permission
  // matches falls to the default intention behaviour). No rule matching: the default.
  AuthzDecision Check(std::string_view spiffe_id, const HttpRequest& request) const;

 private:
  Authz authz_;
  // One per rule: the permissions as a route table, whose Match gives the first permission that
  // holds; nullopt for an L4 rule.
  std::vector<std::optional<HttpRouter>> permissions_;
};

}  // namespace gangway::proxy
