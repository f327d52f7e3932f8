// Decoding of service and check definitions as users write them: the HTTP API body of
// /v1/agent/service/register (CamelCase), and "service"/"services"/"check"/"checks" blocks of
// config and service files (snake_case). Keys match case-insensitively with '_' ignored, as
// Consul's decoder does; opaque maps (Meta, Proxy.Config, Upstreams[].Config, Header) keep their
// keys verbatim. Unknown keys are errors naming the key path, the line when known, and the
// nearest valid key. Pure; any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "codec/document.h"
#include "core/status.h"

namespace gangway::catalog {

// A check as registered with the agent (Consul's CheckType/CheckDefinition).
struct CheckRegistration {
  std::string check_id;  // defaults filled by the agent: "service:<id>[:n]" or Name
  std::string name;
  std::string notes;
  std::string service_id;
  std::string status;  // initial status; "" means critical
  CheckDefinition definition;  // http/tcp/ttl/interval/timeout/deregister-after
  int success_before_passing = 0;
  int failures_before_warning = 0;
  int failures_before_critical = 0;
  // Alias checks (AliasService/AliasNode): status mirrors the aliased service's checks.
  std::string alias_service;
  std::string alias_node;
  // The ACL token the agent syncs this check with ("": its service's, else the default token).
  std::string token;
};

struct ServiceRegistration {
  NodeService service;  // Proxy/Connect kept as normalized CamelCase JSON
  std::vector<CheckRegistration> checks;
  // Connect.SidecarService, decoded as a nested registration (not yet expanded with defaults).
  std::unique_ptr<ServiceRegistration> sidecar;
  // Notes for the user about accepted non-Consul forms, e.g. kind "mesh-gateway-upstream".
  std::vector<std::string> notes;
  // The ACL token the agent syncs this service and its checks with: `token` in a definition,
  // or the token of the API request that registered it ("": the agent's default token).
  std::string token;
};

// Whether a registration (or its sidecar) carries a script check (Args).
bool HasScriptCheck(const ServiceRegistration& reg);

// Where a JSON object came from: doc may be null (HTTP bodies); base is the JSON pointer of
// `value` inside doc (for line numbers in messages).
struct Source {
  const codec::Document* doc = nullptr;
  std::string base;
};

// Decodes one service definition object. Validates as Consul's agent does: Name required, Port
// range, Kind known (the tutorial's "mesh-gateway-upstream" is accepted with a note), gateway
// rules (§1.1 of consul-behaviour.md), upstream rules, check definitions (exactly one of
// TTL/HTTP/TCP/..., Interval required for HTTP/TCP). Messages name the offending key.
Result<ServiceRegistration> DecodeServiceRegistration(const Json& value, const Source& src = {});

Result<CheckRegistration> DecodeCheckRegistration(const Json& value, const Source& src = {});

// A services file or config: "service": {...} | [...], "services": [...]. Returns each.
Result<std::vector<ServiceRegistration>> DecodeServicesFile(const codec::Document& doc);

// Renders a registration back to the API body shape (CamelCase) for PUT /v1/agent/service/register.
Json ServiceRegistrationToApiJson(const ServiceRegistration& reg);

}  // namespace gangway::catalog
