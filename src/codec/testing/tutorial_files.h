// The three JSON files of shared/seed/tutorial-mesh-gateways.txt, verbatim (with their '#'
// comments, which real JSON does not allow and which we accept). Test data for codec and catalog
// tests; header only.
#pragma once

namespace gangway::codec::testing {

// dc1-mesh-gateway-service.json
inline constexpr const char* kTutorialMeshGatewayJson =
    R"json(# dc1-mesh-gateway-service.json
{
  "service": {
    "name": "mesh-gateway",
    "port": 8443, # The port the gateway listens on for incoming connections
    "kind": "mesh-gateway"
  }
}
)json";

// dc1-mesh-gateway-upstream-dc2.json
inline constexpr const char* kTutorialMeshGatewayUpstreamJson =
    R"json(# dc1-mesh-gateway-upstream-dc2.json
{
  "service": {
    "name": "mesh-gateway-upstream-dc2",
    "port": 8443, # The port of the actual remote gateway instance
    "kind": "mesh-gateway-upstream",
    "connect": {
      "sidecar_service": {
        "proxy": {
          "upstreams": [
            {
              "destination_name": "mesh-gateway", # The name of the gateway service in dc2
              "datacenter": "dc2",
              "package_name": "mesh-gateway" # The actual Consul service name in dc2
            }
          ]
        }
      }
    }
  }
}
)json";

// dc1-service-router-to-dc2.json
inline constexpr const char* kTutorialServiceRouterJson =
    R"json(# dc1-service-router-to-dc2.json
{
  "Kind": "service-router",
  "Name": "route-to-dc2",
  "Services": {
    "service": {
      "Datacenter": "dc2" # Matches services in dc2
    }
  },
  "Routes": [
    {
      "Services": {
        "service": {
          "Datacenter": "dc2"
        }
      },
      "MeshGateway": {
        "Name": "mesh-gateway", # The name of the gateway service in the *local* DC (dc1)
        "ConsumerNamespace": "default" # Or the namespace of the calling service
      },
      "Destination": {
        "Service": "mesh-gateway-upstream-dc2" # The name of the upstream service definition in dc1
      }
    }
  ]
}
)json";

}  // namespace gangway::codec::testing
