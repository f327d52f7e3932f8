// The proxy's one authorization seam: may the client with this SPIFFE ID use the service behind
// this public listener? Evaluates the compiled rules of proxy::Authz (intentions, in order).
// Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "proxy/config/config.h"

namespace gangway::proxy {

struct AuthzDecision {
  bool allowed = false;
  std::string reason;  // for the log line: which rule (intention) or default decided
};

// The connection-level (L4) decision. A rule with L7 permissions denies, unless
// `sees_requests` (an inbound_http chain): then it lets the connection in and its permissions
// decide each request (InboundAuthz).
AuthzDecision Authorize(const Authz& authz, std::string_view spiffe_id, bool sees_requests = false);

// The trust domain of a SPIFFE ID ("spiffe://<td>/..."), "" when `id` is not one.
std::string_view TrustDomainOf(std::string_view spiffe_id);

// Trust domains compare without case (they are DNS names).
bool SameTrustDomain(std::string_view a, std::string_view b);

}  // namespace gangway::proxy
