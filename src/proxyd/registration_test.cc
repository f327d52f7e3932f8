#include "proxyd/registration.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace gangway::proxyd {
namespace {

IsLocalAddress LocalAre(std::vector<std::string> ips) {
  return [ips](const std::string& a) { return std::find(ips.begin(), ips.end(), a) != ips.end(); };
}

TEST(ServiceAddress, PortDefaultsTo8443) {
  auto a = ParseServiceAddress("10.0.1.10");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address, "10.0.1.10");
  EXPECT_EQ(a->port, 8443);
  a = ParseServiceAddress("10.0.1.10:443");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 443);
  a = ParseServiceAddress("[2001:db8::1]:9000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address, "2001:db8::1");
  EXPECT_EQ(a->port, 9000);
  a = ParseServiceAddress("2001:db8::1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address, "2001:db8::1");
  EXPECT_EQ(a->port, 8443);
  a = ParseServiceAddress(":9443");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address, "");
  EXPECT_EQ(a->port, 9443);
  EXPECT_EQ(ParseServiceAddress("10.0.1.10:http").status().message(),
            "invalid port \"http\" in \"10.0.1.10:http\"");
  EXPECT_FALSE(ParseServiceAddress("10.0.1.10:70000").ok());
}

TEST(ServiceAddress, BindAddressNeedsNameAndPort) {
  auto b = ParseBindAddress("lan=10.0.1.10:8443");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "lan");
  EXPECT_EQ(b->second.address, "10.0.1.10");
  EXPECT_EQ(b->second.port, 8443);
  EXPECT_FALSE(ParseBindAddress("10.0.1.10:8443").ok());
  EXPECT_FALSE(ParseBindAddress("lan=10.0.1.10").ok());
  EXPECT_FALSE(ParseBindAddress("=10.0.1.10:1").ok());
  EXPECT_TRUE(ParseBindAddress("v6=[::1]:8443").ok());
}

TEST(MeshGatewayRegistration, LanAndWanBothLocalBindTheTaggedAddresses) {
  GatewayRegistration r;
  r.lan = ServiceAddress{"10.0.1.10", 8443};
  r.wan = ServiceAddress{"192.0.2.10", 443};
  auto body = MeshGatewayRegistrationBody(r, LocalAre({"10.0.1.10", "192.0.2.10"}));
  ASSERT_TRUE(body.ok()) << body.status().message();
  Json want = Json::parse(R"({
    "Kind": "mesh-gateway", "Name": "mesh-gateway", "ID": "mesh-gateway",
    "Address": "10.0.1.10", "Port": 8443,
    "TaggedAddresses": {"lan": {"Address": "10.0.1.10", "Port": 8443},
                        "wan": {"Address": "192.0.2.10", "Port": 443}},
    "Proxy": {"Config": {"envoy_gateway_no_default_bind": true,
                         "envoy_gateway_bind_tagged_addresses": true}},
    "Check": {"Name": "mesh-gateway listening", "TCP": "10.0.1.10:8443", "Interval": "10s",
              "DeregisterCriticalServiceAfter": "6h"}
  })");
  EXPECT_EQ(*body, want) << body->dump(2);
}

TEST(MeshGatewayRegistration, NoAddressIsPort8443AndACheckOnLoopback) {
  GatewayRegistration r;
  r.service = "gw-east";
  r.deregister_after_critical = "30m";
  auto body = MeshGatewayRegistrationBody(r, LocalAre({}));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["Name"], "gw-east");
  EXPECT_EQ((*body)["ID"], "gw-east");
  EXPECT_EQ((*body)["Address"], "");
  EXPECT_EQ((*body)["Port"], 8443);
  EXPECT_FALSE(body->contains("TaggedAddresses"));
  EXPECT_FALSE(body->contains("Proxy"));
  EXPECT_FALSE(body->contains("Meta"));
  EXPECT_EQ((*body)["Check"]["TCP"], "127.0.0.1:8443");
  EXPECT_EQ((*body)["Check"]["DeregisterCriticalServiceAfter"], "30m");
}

TEST(MeshGatewayRegistration, BindAddressesOverrideTheDefaultRules) {
  GatewayRegistration r;
  r.lan = ServiceAddress{"198.51.100.7", 8443};  // not local: -bind-address wins over the error
  r.wan = ServiceAddress{"203.0.113.9", 8443};
  r.bind_addresses["lan"] = {"0.0.0.0", 8443};
  r.bind_addresses["wan"] = {"0.0.0.0", 9443};
  r.expose_servers = true;
  auto body = MeshGatewayRegistrationBody(r, LocalAre({}));
  ASSERT_TRUE(body.ok()) << body.status().message();
  EXPECT_EQ((*body)["Proxy"], Json::parse(R"({"Config": {
      "envoy_gateway_no_default_bind": true,
      "envoy_gateway_bind_addresses": {"lan": {"Address": "0.0.0.0", "Port": 8443},
                                       "wan": {"Address": "0.0.0.0", "Port": 9443}}}})"));
  EXPECT_EQ((*body)["Meta"], Json::parse(R"({"consul-wan-federation": "1"})"));
}

TEST(MeshGatewayRegistration, LanAddressThatCannotBeBoundFails) {
  GatewayRegistration r;
  r.lan = ServiceAddress{"198.51.100.7", 8443};
  auto body = MeshGatewayRegistrationBody(r, LocalAre({"10.0.1.10"}));
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().message(),
            "The LAN address \"198.51.100.7\" will not be bindable. Either set a bindable address "
            "or override the bind addresses with -bind-address");
}

TEST(MeshGatewayRegistration, LocalLanWithoutWanHasNoProxyConfig) {
  GatewayRegistration r;
  r.lan = ServiceAddress{"::1", 8443};
  auto body = MeshGatewayRegistrationBody(r, LocalAre({"::1"}));
  ASSERT_TRUE(body.ok());
  EXPECT_FALSE(body->contains("Proxy"));
  EXPECT_EQ((*body)["TaggedAddresses"]["lan"]["Address"], "::1");
  EXPECT_FALSE((*body)["TaggedAddresses"].contains("wan"));
  EXPECT_EQ((*body)["Check"]["TCP"], "[::1]:8443");
}

Json Services() {
  return Json::parse(R"({
    "web": {"ID": "web", "Service": "web", "Kind": ""},
    "web-sidecar-proxy": {"ID": "web-sidecar-proxy", "Service": "web-sidecar-proxy",
                          "Kind": "connect-proxy",
                          "Proxy": {"DestinationServiceName": "web", "DestinationServiceID": "web"}},
    "db-a": {"ID": "db-a", "Kind": "connect-proxy", "Proxy": {"DestinationServiceID": "db"}},
    "db-b": {"ID": "db-b", "Kind": "connect-proxy", "Proxy": {"DestinationServiceID": "db"}},
    "gw-1": {"ID": "gw-1", "Service": "mesh-gateway", "Kind": "mesh-gateway"}
  })");
}

TEST(FindProxy, SidecarByDestinationServiceId) {
  auto id = FindSidecarProxy(Services(), "WEB");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "web-sidecar-proxy");
  EXPECT_EQ(FindSidecarProxy(Services(), "api").status().message(),
            "No sidecar proxy registered for api");
  EXPECT_EQ(FindSidecarProxy(Services(), "db").status().message(),
            "More than one sidecar proxy registered for db.\n"
            "    Start proxy with -proxy-id and one of the following IDs: db-a, db-b");
}

TEST(FindProxy, MeshGatewayByKindAndName) {
  auto id = FindMeshGateway(Services(), "");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "gw-1");
  EXPECT_TRUE(FindMeshGateway(Services(), "mesh-gateway").ok());
  EXPECT_EQ(FindMeshGateway(Services(), "gw-west").status().message(),
            "No mesh-gateway service named \"gw-west\" registered with this agent");
  EXPECT_EQ(FindMeshGateway(Json::object(), "").status().message(),
            "No mesh-gateway services registered with this agent");
}

}  // namespace
}  // namespace gangway::proxyd
