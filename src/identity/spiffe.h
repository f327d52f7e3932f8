// SPIFFE IDs as Consul Connect writes them in URI SANs (agent/connect/uri_*.go): the CA's
// signing ID, services, client agents, servers and mesh gateways. Pure value types; any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "identity/trust_domain.h"

namespace gangway::identity {

enum class SpiffeKind { kSigning, kService, kAgent, kServer, kMeshGateway };

struct SpiffeId {
  SpiffeKind kind = SpiffeKind::kSigning;
  std::string host;        // the trust domain, "<cluster-id>.consul"
  std::string partition;   // services and gateways; "" or "default" means the default partition
  std::string ns;          // services
  std::string datacenter;  // services, servers and mesh gateways
  std::string service;     // services
  std::string agent;       // client agents: the node name

  // The URI, e.g. "spiffe://<td>/ns/default/dc/dc1/svc/web". Path segments are escaped.
  std::string Uri() const;
  bool operator==(const SpiffeId&) const = default;
};

SpiffeId SigningId(std::string_view trust_domain);
SpiffeId ServiceId(std::string_view trust_domain, std::string_view ns, std::string_view dc,
                   std::string_view service, std::string_view partition = "");
SpiffeId AgentId(std::string_view trust_domain, std::string_view dc, std::string_view node);
SpiffeId ServerId(std::string_view trust_domain, std::string_view dc);
SpiffeId MeshGatewayId(std::string_view trust_domain, std::string_view dc,
                       std::string_view partition = "");

// Parses a URI SAN. Errors read like Consul's ParseCertURI: "SPIFFE ID must have 'spiffe'
// scheme", "SPIFFE ID is not in the expected format: <uri>".
Result<SpiffeId> ParseSpiffeId(std::string_view uri);

// Whether a CA with `signing` may issue a certificate for `id` (Consul's CanSign): services,
// mesh gateways, servers and other signing IDs of the same trust domain, compared ignoring case.
bool CanSign(const SpiffeId& signing, const SpiffeId& id);

// Certificate common names as Consul derives them (informational only; identity is the URI):
// "<svc>.svc.<ns>.<td8>.consul", "<node>.agnt.<td8>.consul", "server.<dc>.<td8>.consul",
// "mesh-gateway.<dc>.<td8>.consul" (td8: the first 8 characters of the trust domain).
std::string CommonNameFor(const SpiffeId& id);

}  // namespace gangway::identity
