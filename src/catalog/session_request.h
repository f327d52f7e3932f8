// The /v1/session/create request as Consul reads it: the body decoded over the agent's defaults,
// with Consul's check-list fix-ups and LockDelay rules, and the checks its Session.Apply makes
// before a session reaches the log. Pure functions over untrusted input (fuzzed:
// session_request_fuzz); any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "catalog/types.h"
#include "core/status.h"

namespace gangway::catalog {

inline constexpr std::chrono::seconds kDefaultSessionTTLMin{10};
inline constexpr std::chrono::hours kSessionTTLMax{24};
inline constexpr int kSessionTTLMultiplier = 2;  // the leader's grace: a timer of TTL × 2
inline constexpr std::chrono::seconds kMaxLockDelay{60};

// Decodes a create body (empty: no body) over Consul's defaults: Node = `agent_node`,
// NodeChecks = Checks = ["serfHealth"], LockDelay 15s, Behavior release, no TTL. Unknown keys
// are ignored and names match case-insensitively, as Consul's lenient session decoder does.
// A failure is InvalidArgument with "Request decode failed: ..." (HTTP 400).
Result<Session> DecodeSessionCreate(std::string_view body, const std::string& agent_node);

// Session.Apply's checks of a create, in Consul's order, with its texts (HTTP 500):
// "Must provide Node", "Invalid Behavior setting '<x>'", "Session TTL '<x>' invalid: ...",
// "Invalid Session TTL '<ns>', must be between [10s=24h0m0s]". Normalises Behavior "" to release.
Status ValidateSession(Session* s, std::chrono::nanoseconds ttl_min = kDefaultSessionTTLMin);

// The session's TTL (0 when none); the TTL must have passed ValidateSession.
std::chrono::nanoseconds SessionTTL(const Session& s);

}  // namespace gangway::catalog
