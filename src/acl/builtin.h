// Reserved ACL objects and the texts every endpoint shares (Consul's IDs, names and messages).
#pragma once

#include <string>
#include <string_view>

#include "acl/rules.h"

namespace gangway::acl {

inline constexpr const char* kGlobalManagementPolicyID = "00000000-0000-0000-0000-000000000001";
inline constexpr const char* kGlobalManagementPolicyName = "global-management";
inline constexpr const char* kGlobalReadOnlyPolicyID = "00000000-0000-0000-0000-000000000002";
inline constexpr const char* kGlobalReadOnlyPolicyName = "builtin/global-read-only";
inline constexpr const char* kAnonymousAccessorID = "00000000-0000-0000-0000-000000000002";
inline constexpr const char* kAnonymousSecretID = "anonymous";
inline constexpr const char* kReservedIDPrefix = "00000000-0000-0000-0000-0000000000";

// The rules of the global-management and global-read-only policies (Consul's text).
const std::string& GlobalManagementRules();
const std::string& GlobalReadOnlyRules();

// The synthetic policies of a service identity (write on the service and its sidecar proxy,
// read on every service and node) and of a node identity (write on the node, read on every
// service).
Rules ServiceIdentityRules(std::string_view service);
Rules NodeIdentityRules(std::string_view node);

// 403 texts (clients match the "Permission denied" / "ACL not found" substrings):
// `Permission denied: token with AccessorID '<accessor>' lacks permission '<resource>:<level>'
// on "<name>"` (no ` on ...` for unnamed resources; `provided token` instead of the accessor
// part when the accessor is empty).
std::string PermissionDeniedText(std::string_view accessor, Resource r, Level level,
                                 std::string_view name);
inline constexpr const char* kAclNotFound = "ACL not found";
inline constexpr const char* kAclDisabled = "ACL support disabled";

// Name rules of Consul's objects: policy `^[A-Za-z0-9\-_]+/?[A-Za-z0-9\-_]*$` (≤ 128, not
// `builtin/`), role `^[A-Za-z0-9\-_]{1,256}$`, service identity
// `^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$` (≤ 256), node identity as a node name.
bool ValidPolicyName(std::string_view name);
bool ValidRoleName(std::string_view name);
bool ValidServiceIdentityName(std::string_view name);

// Constant-time comparison of two secrets (the length may leak, the content does not).
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace gangway::acl
