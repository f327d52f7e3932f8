// The pure parts of the proxy commands: reading -address and -bind-address values, the mesh
// gateway's registration body (`connect envoy -gateway=mesh -register`, reference §1.2), and
// finding a proxy's ID in the answer of GET /v1/agent/services. No I/O; any thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "apiclient/response.h"
#include "core/status.h"

namespace gangway::proxyd {

using apiclient::Json;

// The port a gateway address without one gets (Consul's defaultGatewayPort).
inline constexpr int kDefaultGatewayPort = 8443;

struct ServiceAddress {
  std::string address;  // IP or host name; IPv6 without brackets
  int port = kDefaultGatewayPort;
};

// "ip", "ip:port", "[v6]:port", a bare IPv6 address, or ":port" (no address); a missing port is
// kDefaultGatewayPort. Errors name the value: `invalid port "x" in "1.2.3.4:x"`.
Result<ServiceAddress> ParseServiceAddress(std::string_view text);
// "name=ip:port" (the port is required), as -bind-address takes it.
Result<std::pair<std::string, ServiceAddress>> ParseBindAddress(std::string_view text);

// "ip:port", with brackets around an IPv6 address (Go's net.JoinHostPort).
std::string JoinHostPort(const std::string& host, int port);

// What `connect envoy -gateway=mesh -register` was given.
struct GatewayRegistration {
  std::string service = "mesh-gateway";                  // the registration's Name
  std::string id;                                        // its ID; the service name when empty
  std::optional<ServiceAddress> lan;                     // -address
  std::optional<ServiceAddress> wan;                     // -wan-address
  std::map<std::string, ServiceAddress> bind_addresses;  // -bind-address name=ip:port
  std::string deregister_after_critical = "6h";
  bool expose_servers = false;  // Meta consul-wan-federation=1
};

// Whether an address belongs to one of this host's interfaces (Consul's canBind): the listener
// can be bound to it.
using IsLocalAddress = std::function<bool(const std::string& address)>;

// The body of PUT /v1/agent/service/register, as Consul's command builds it: Kind mesh-gateway;
// Address/Port from -address (Port 8443 without it); TaggedAddresses lan and wan for the flags
// given; Proxy.Config with the -bind-addresses, else binding the tagged addresses when both are
// local; a TCP check on the LAN address (127.0.0.1 without one). Fails with Consul's text when the
// LAN address is given but not local and no -bind-address overrides it.
Result<Json> MeshGatewayRegistrationBody(const GatewayRegistration& registration,
                                         const IsLocalAddress& is_local);

// The ID of the one connect-proxy whose Proxy.DestinationServiceID is `sidecar_for` (compared
// without case, as Consul does) in the answer of GET /v1/agent/services; Consul's error texts
// when there is none or more than one.
Result<std::string> FindSidecarProxy(const Json& services, std::string_view sidecar_for);

// The ID of the one mesh-gateway service in the answer of GET /v1/agent/services, restricted to
// the service name `service` when it is not empty.
Result<std::string> FindMeshGateway(const Json& services, std::string_view service);

}  // namespace gangway::proxyd
