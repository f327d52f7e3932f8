#include "catalog/service_definition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catalog/json.h"
#include "codec/testing/tutorial_files.h"

namespace gangway::catalog {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The proxy in its API shape (null when the service has none), for whole-value comparisons.
Json ProxyJson(const NodeService& s) { return s.proxy ? ProxyConfigToJson(*s.proxy) : Json(); }

codec::Document Json5(std::string_view text, std::string file = "web.json") {
  auto doc = codec::ParseJson(text, std::move(file));
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? std::move(doc).value() : codec::Document{};
}

codec::Document Hcl(std::string_view text, std::string file = "web.hcl") {
  auto doc = codec::ParseHcl(text, std::move(file));
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? std::move(doc).value() : codec::Document{};
}

std::vector<ServiceRegistration> MustDecodeFile(const codec::Document& doc) {
  auto regs = DecodeServicesFile(doc);
  EXPECT_TRUE(regs.ok()) << regs.status().message();
  return regs.ok() ? std::move(regs).value() : std::vector<ServiceRegistration>{};
}

std::string FileError(std::string_view json_text, std::string file = "web.json") {
  codec::Document doc = Json5(json_text, std::move(file));
  auto regs = DecodeServicesFile(doc);
  EXPECT_FALSE(regs.ok()) << "decoded: " << json_text;
  return regs.ok() ? "" : regs.status().message();
}

ServiceRegistration MustDecodeBody(std::string_view json_text) {
  auto reg = DecodeServiceRegistration(Json::parse(json_text));
  EXPECT_TRUE(reg.ok()) << reg.status().message();
  return reg.ok() ? std::move(reg).value() : ServiceRegistration{};
}

std::string BodyError(std::string_view json_text) {
  auto reg = DecodeServiceRegistration(Json::parse(json_text));
  EXPECT_FALSE(reg.ok()) << "decoded: " << json_text;
  return reg.ok() ? "" : reg.status().message();
}

std::string CheckError(std::string_view json_text) {
  auto c = DecodeCheckRegistration(Json::parse(json_text));
  EXPECT_FALSE(c.ok()) << "decoded: " << json_text;
  return c.ok() ? "" : c.status().message();
}

// --- The tutorial's files ---------------------------------------------------------------------

TEST(ServiceDefinitionTest, TutorialMeshGatewayFile) {
  codec::Document doc =
      Json5(codec::testing::kTutorialMeshGatewayJson, "dc1-mesh-gateway-service.json");
  auto regs = MustDecodeFile(doc);
  ASSERT_EQ(regs.size(), 1u);
  const NodeService& s = regs[0].service;
  EXPECT_EQ(s.kind, "mesh-gateway");
  EXPECT_EQ(s.service, "mesh-gateway");
  EXPECT_EQ(s.port, 8443);
  EXPECT_FALSE(s.proxy.has_value());
  EXPECT_EQ(regs[0].sidecar, nullptr);
  // The only note is about the comments.
  ASSERT_EQ(regs[0].notes.size(), 1u);
  EXPECT_THAT(regs[0].notes[0], HasSubstr("dc1-mesh-gateway-service.json: comments are not "
                                          "valid JSON; accepted and ignored"));
}

TEST(ServiceDefinitionTest, TutorialMeshGatewayUpstreamFile) {
  codec::Document doc =
      Json5(codec::testing::kTutorialMeshGatewayUpstreamJson, "dc1-mesh-gateway-upstream-dc2.json");
  auto regs = MustDecodeFile(doc);
  ASSERT_EQ(regs.size(), 1u);
  const ServiceRegistration& r = regs[0];
  EXPECT_EQ(r.service.kind, "mesh-gateway-upstream");
  EXPECT_EQ(r.service.service, "mesh-gateway-upstream-dc2");
  EXPECT_EQ(r.service.port, 8443);
  ASSERT_NE(r.sidecar, nullptr);
  EXPECT_EQ(ProxyJson(r.sidecar->service), Json::parse(R"({"Upstreams": [{
      "DestinationType": "service", "DestinationName": "mesh-gateway", "Datacenter": "dc2"}]})"));
  ASSERT_EQ(r.notes.size(), 3u);
  EXPECT_THAT(r.notes[0], HasSubstr("comments are not valid JSON"));
  EXPECT_EQ(r.notes[1],
            "dc1-mesh-gateway-upstream-dc2.json:14: upstream field \"package_name\" is not a "
            "Consul field; it repeats \"destination_name\" and is ignored");
  EXPECT_EQ(r.notes[2],
            "dc1-mesh-gateway-upstream-dc2.json:6: kind \"mesh-gateway-upstream\" is a Gangway "
            "extension, not a Consul kind: \"mesh-gateway-upstream-dc2\" is read as a static "
            "route to the mesh gateway of datacenter \"dc2\" (port 8443). Consul's form is a mesh "
            "gateway (kind \"mesh-gateway\") in each datacenter plus an upstream with "
            "\"datacenter\" on the calling sidecar");
  // The registration survives the trip through the API body the CLI sends.
  auto again = DecodeServiceRegistration(ServiceRegistrationToApiJson(r));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->service.kind, "mesh-gateway-upstream");
  ASSERT_NE(again->sidecar, nullptr);
  EXPECT_EQ(again->sidecar->service.proxy, r.sidecar->service.proxy);
}

TEST(ServiceDefinitionTest, PackageNameAloneBecomesDestinationName) {
  auto regs = MustDecodeFile(Json5(R"({"service": {"name": "web", "connect": {"sidecar_service": {
      "proxy": {"upstreams": [{"package_name": "api", "local_bind_port": 9191}]}}}}})"));
  ASSERT_EQ(regs.size(), 1u);
  ASSERT_NE(regs[0].sidecar, nullptr);
  EXPECT_EQ(ProxyJson(regs[0].sidecar->service)["Upstreams"][0]["DestinationName"], "api");
  EXPECT_THAT(regs[0].notes, ElementsAre("web.json:2: upstream field \"package_name\" is not a "
                                         "Consul field; read as \"destination_name\": \"api\""));
}

TEST(ServiceDefinitionTest, PackageNameDisagreeingWithDestinationName) {
  EXPECT_EQ(FileError(R"({"service": {"name": "web", "connect": {"sidecar_service": {"proxy": {
      "upstreams": [{"destination_name": "a", "package_name": "b", "local_bind_port": 1}]}}}}})"),
            "service.connect.sidecar_service.proxy.upstreams[0].package_name: \"package_name\" "
            "\"b\" and \"destination_name\" \"a\" disagree; \"package_name\" is a tutorial alias "
            "of \"destination_name\": keep only \"destination_name\" (line 2 of web.json)");
}

// --- API bodies and config files --------------------------------------------------------------

constexpr const char* kApiBody = R"({
  "ID": "web-1",
  "Name": "web",
  "Tags": ["v1", "primary"],
  "Address": "10.0.0.5",
  "Port": 8080,
  "Meta": {"version": "1.2", "Team_Name": "x"},
  "TaggedAddresses": {"lan": {"Address": "10.0.0.5", "Port": 8080},
                      "wan_ipv4": {"Address": "198.51.100.5", "Port": 18080}},
  "EnableTagOverride": true,
  "Weights": {"Passing": 10, "Warning": 1},
  "Check": {"Name": "web-http", "HTTP": "http://127.0.0.1:8080/health", "Interval": "10s",
            "Timeout": "1s", "Header": {"X-Probe": ["a", "b"]}, "Method": "HEAD",
            "DeregisterCriticalServiceAfter": "90m"},
  "Checks": [{"CheckID": "web-ttl", "TTL": "30s", "Status": "passing"},
             {"ID": "web-tcp", "TCP": "127.0.0.1:8080", "Interval": 5000000000,
              "SuccessBeforePassing": 2, "FailuresBeforeCritical": 3, "TLSSkipVerify": true}],
  "Connect": {
    "SidecarService": {
      "Port": 21000,
      "Proxy": {
        "Config": {"protocol": "http", "envoy_stats_bind_addr": "0.0.0.0:9102"},
        "Upstreams": [
          {"DestinationName": "api", "Datacenter": "dc2", "LocalBindPort": 9191,
           "MeshGateway": {"Mode": "local"}, "Config": {"connect_timeout_ms": 5000}},
          {"DestinationType": "prepared_query", "DestinationName": "db-query",
           "LocalBindSocketPath": "/tmp/db.sock", "LocalBindSocketMode": "0700"}
        ],
        "MeshGateway": {"Mode": "remote"},
        "Expose": {"Checks": true, "Paths": [{"Path": "/metrics", "LocalPathPort": 8080,
                                               "ListenerPort": 21500, "Protocol": "http"}]}
      }
    }
  },
  "Namespace": "default",
  "Locality": {"Region": "us-east-1", "Zone": "a"}
})";

TEST(ServiceDefinitionTest, ApiBodyWithSidecarAndUpstreams) {
  ServiceRegistration r = MustDecodeBody(kApiBody);
  const NodeService& s = r.service;
  EXPECT_EQ(s.kind, "");
  EXPECT_EQ(s.id, "web-1");
  EXPECT_EQ(s.service, "web");
  EXPECT_THAT(s.tags, ElementsAre("v1", "primary"));
  EXPECT_EQ(s.address, "10.0.0.5");
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.meta, (StringMap{{"version", "1.2"}, {"Team_Name", "x"}}));  // keys verbatim
  EXPECT_EQ(s.tagged_addresses.at("wan_ipv4"), (ServiceAddress{"198.51.100.5", 18080}));
  EXPECT_TRUE(s.enable_tag_override);
  EXPECT_EQ(s.weights.passing, 10);
  EXPECT_EQ(s.connect, Json::object());
  EXPECT_TRUE(r.notes.empty());

  ASSERT_EQ(r.checks.size(), 3u);
  const CheckRegistration& http = r.checks[0];
  EXPECT_EQ(http.name, "web-http");
  EXPECT_EQ(http.definition.http, "http://127.0.0.1:8080/health");
  EXPECT_EQ(http.definition.interval_ns, 10'000'000'000);
  EXPECT_EQ(http.definition.timeout_ns, 1'000'000'000);
  EXPECT_EQ(http.definition.deregister_critical_service_after_ns, 5'400'000'000'000);
  EXPECT_THAT(http.definition.header.at("X-Probe"), ElementsAre("a", "b"));
  EXPECT_EQ(http.definition.method, "HEAD");
  EXPECT_EQ(r.checks[1].check_id, "web-ttl");
  EXPECT_EQ(r.checks[1].definition.ttl_ns, 30'000'000'000);
  EXPECT_EQ(r.checks[1].status, "passing");
  EXPECT_EQ(r.checks[2].check_id, "web-tcp");                    // "ID" is an alias of CheckID
  EXPECT_EQ(r.checks[2].definition.interval_ns, 5'000'000'000);  // integer nanoseconds
  EXPECT_EQ(r.checks[2].success_before_passing, 2);
  EXPECT_EQ(r.checks[2].failures_before_critical, 3);
  EXPECT_TRUE(r.checks[2].definition.tls_skip_verify);

  ASSERT_NE(r.sidecar, nullptr);
  EXPECT_EQ(r.sidecar->service.port, 21000);
  EXPECT_EQ(r.sidecar->service.service, "");  // defaults are the agent's job
  EXPECT_EQ(ProxyJson(r.sidecar->service), Json::parse(R"({
    "Config": {"protocol": "http", "envoy_stats_bind_addr": "0.0.0.0:9102"},
    "Upstreams": [
      {"DestinationType": "service", "DestinationName": "api", "Datacenter": "dc2",
       "LocalBindPort": 9191, "MeshGateway": {"Mode": "local"},
       "Config": {"connect_timeout_ms": 5000}},
      {"DestinationType": "prepared_query", "DestinationName": "db-query",
       "LocalBindSocketPath": "/tmp/db.sock", "LocalBindSocketMode": "0700"}],
    "MeshGateway": {"Mode": "remote"},
    "Expose": {"Checks": true, "Paths": [{"Path": "/metrics", "LocalPathPort": 8080,
                                          "ListenerPort": 21500, "Protocol": "http"}]}})"));
}

TEST(ServiceDefinitionTest, ApiJsonRoundTrips) {
  ServiceRegistration r = MustDecodeBody(kApiBody);
  Json api = ServiceRegistrationToApiJson(r);
  EXPECT_EQ(api["Name"], "web");
  EXPECT_EQ(api["Checks"][0]["Interval"], "10s");
  EXPECT_EQ(api["Checks"][0]["DeregisterCriticalServiceAfter"], "1h30m0s");
  EXPECT_EQ(api["Connect"]["SidecarService"]["Port"], 21000);
  EXPECT_EQ(api["TaggedAddresses"]["lan"]["Port"], 8080);
  ServiceRegistration again = MustDecodeBody(api.dump());
  EXPECT_EQ(ServiceRegistrationToApiJson(again), api);
  EXPECT_EQ(again.checks.size(), 3u);
  EXPECT_EQ(again.checks[2].definition.interval_ns, 5'000'000'000);
}

constexpr const char* kSnakeHcl = R"hcl(
service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["v1"]
  meta { version = "2" }
  tagged_addresses {
    lan { address = "10.0.0.5", port = 8080 }
  }
  enable_tag_override = true
  check {
    name     = "web-http"
    http     = "http://localhost:8080/health"
    interval = "10s"
  }
  check {
    tcp      = "localhost:8080"
    interval = "5s"
  }
  connect {
    sidecar_service {
      proxy {
        local_service_port = 8080
        upstreams {
          destination_name = "api"
          datacenter       = "dc2"
          local_bind_port  = 9191
          mesh_gateway { mode = "local" }
        }
      }
    }
  }
}
service {
  name = "api"
  port = "9090"
  checks = [{ ttl = "30s" }]
}
)hcl";

TEST(ServiceDefinitionTest, SnakeCaseHclFile) {
  auto regs = MustDecodeFile(Hcl(kSnakeHcl));
  ASSERT_EQ(regs.size(), 2u);
  const ServiceRegistration& web = regs[0];
  EXPECT_EQ(web.service.id, "web-1");
  EXPECT_EQ(web.service.meta.at("version"), "2");
  EXPECT_EQ(web.service.tagged_addresses.at("lan"), (ServiceAddress{"10.0.0.5", 8080}));
  EXPECT_TRUE(web.service.enable_tag_override);
  ASSERT_EQ(web.checks.size(), 2u);  // repeated `check` blocks
  EXPECT_EQ(web.checks[1].definition.tcp, "localhost:8080");
  ASSERT_NE(web.sidecar, nullptr);
  // One `upstreams` block is a list of one; keys are stored in Consul's API spelling.
  EXPECT_EQ(ProxyJson(web.sidecar->service), Json::parse(R"({"LocalServicePort": 8080, "Upstreams": [
      {"DestinationType": "service", "DestinationName": "api", "Datacenter": "dc2",
       "LocalBindPort": 9191, "MeshGateway": {"Mode": "local"}}]})"));
  EXPECT_EQ(regs[1].service.port, 9090);  // "9090" decoded weakly, as Consul's config does
  ASSERT_EQ(regs[1].checks.size(), 1u);
  EXPECT_EQ(regs[1].checks[0].definition.ttl_ns, 30'000'000'000);
  EXPECT_TRUE(web.notes.empty());
}

TEST(ServiceDefinitionTest, KeysMatchIgnoringCaseAndUnderscores) {
  for (const char* key : {"destination_name", "DestinationName", "destinationname",
                          "Destination_Name", "DESTINATIONNAME"}) {
    std::string body = std::string(R"({"Name": "web", "Connect": {"SidecarService": {"Proxy": {
        "Upstreams": [{")") +
                       key + R"(": "api", "local_bind_port": 1}]}}}})";
    ServiceRegistration r = MustDecodeBody(body);
    ASSERT_NE(r.sidecar, nullptr) << key;
    EXPECT_EQ(ProxyJson(r.sidecar->service)["Upstreams"][0]["DestinationName"], "api") << key;
  }
}

TEST(ServiceDefinitionTest, ServicesListAndServiceList) {
  auto regs = MustDecodeFile(Json5(R"({"services": [{"name": "a"}, {"name": "b"}],
                                      "service": [{"name": "c"}]})"));
  ASSERT_EQ(regs.size(), 3u);
  std::set<std::string> names;
  for (const auto& r : regs) names.insert(r.service.service);
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "c"}));
}

TEST(ServiceDefinitionTest, GatewaysAndProxies) {
  ServiceRegistration gw = MustDecodeBody(R"({"Kind": "mesh-gateway", "Name": "mesh-gateway",
      "Port": 8443, "Meta": {"consul-wan-federation": "1"},
      "TaggedAddresses": {"wan": {"Address": "203.0.113.1", "Port": 443}},
      "Proxy": {"Config": {"envoy_gateway_no_default_bind": true},
                "MeshGateway": {"Mode": "local"}}})");
  EXPECT_EQ(gw.service.kind, "mesh-gateway");
  EXPECT_EQ(ProxyJson(gw.service)["Config"]["envoy_gateway_no_default_bind"], true);
  ServiceRegistration proxy = MustDecodeBody(R"({"Kind": "connect-proxy", "Name": "web-proxy",
      "Port": 21000, "Proxy": {"DestinationServiceName": "web", "LocalServicePort": 8080,
      "Mode": "transparent", "TransparentProxy": {"OutboundListenerPort": 15001,
      "DialedDirectly": true}}})");
  EXPECT_EQ(ProxyJson(proxy.service)["TransparentProxy"]["OutboundListenerPort"], 15001);
  ServiceRegistration ingress = MustDecodeBody(R"({"Kind": "ingress-gateway", "Name": "in"})");
  EXPECT_EQ(ingress.service.port, 0);  // ingress gateways may omit the port
}

TEST(ServiceDefinitionTest, CheckWithSourceNamesLines) {
  codec::Document doc = Hcl("check {\n  name = \"mem\"\n  http = \"http://x\"\n}\n", "a.hcl");
  auto c = DecodeCheckRegistration(doc.value["check"], Source{&doc, "/check"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "check: Check \"mem\": Interval is required for HTTP checks (line 1 of a.hcl)");
  codec::Document list =
      Hcl("checks = [\n{ name = \"a\", ttl = \"1s\" },\n"
          "{ name = \"b\", tll = \"1s\" }]\n",
          "a.hcl");
  auto bad = DecodeCheckRegistration(list.value["checks"][1], Source{&list, "/checks/1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "invalid config key \"checks[1].tll\" (line 3 of a.hcl); did you mean \"ttl\"?");
  auto good = DecodeCheckRegistration(list.value["checks"][0], Source{&list, "/checks/0"});
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good->definition.ttl_ns, 1'000'000'000);
}

TEST(ServiceDefinitionTest, AliasCheck) {
  auto c = DecodeCheckRegistration(Json::parse(R"({"Name": "alias", "AliasService": "web"})"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->alias_service, "web");
}

// --- Errors -------------------------------------------------------------------------------------

TEST(ServiceDefinitionErrorTest, UnknownKeyNamesPathLineAndSuggestion) {
  EXPECT_EQ(FileError(R"({
  "service": {
    "name": "web",
    "connect": {
      "sidecar_service": {
        "prox": {}
      }
    }
  }
})"),
            "invalid config key \"service.connect.sidecar_service.prox\" (line 6 of web.json); "
            "did you mean \"proxy\"?");
  // API bodies get CamelCase suggestions and no line.
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {"Prox": {}}}})"),
            "invalid config key \"Connect.SidecarService.Prox\"; did you mean \"Proxy\"?");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {"Proxy": {
      "Upstreams": [{"DestinationNam": "x"}]}}}})"),
            "invalid config key \"Connect.SidecarService.Proxy.Upstreams[0].DestinationNam\"; "
            "did you mean \"DestinationName\"?");
  EXPECT_EQ(FileError(R"({"service": {"name": "web", "local_bind_port": 1}})"),
            "invalid config key \"service.local_bind_port\" (line 1 of web.json)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "check": {"intreval": "10s", "ttl": "1s"}})"),
            "invalid config key \"check.intreval\"; did you mean \"interval\"?");
}

TEST(ServiceDefinitionErrorTest, TutorialKeyMistakesInHcl) {
  codec::Document doc = Hcl("service {\n  name = \"web\"\n  prot = 80\n}\n");
  auto regs = DecodeServicesFile(doc);
  ASSERT_FALSE(regs.ok());
  EXPECT_EQ(regs.status().message(),
            "invalid config key \"service.prot\" (line 3 of web.hcl); did you mean \"port\"?");
}

TEST(ServiceDefinitionErrorTest, WrongTypes) {
  EXPECT_EQ(FileError("{\"service\": {\"name\": \"web\",\n \"port\": \"abc\"}}"),
            "service.port: expected a number, got string \"abc\" (line 2 of web.json)");
  EXPECT_EQ(FileError(R"({"service": {"name": "web", "port": 80.5}})"),
            "service.port: expected a whole number, got number 80.5 (line 1 of web.json)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Tags": "v1", "Port": [1]})"),
            "Port: expected a number, got a list");
  EXPECT_EQ(BodyError(R"({"Name": ["web"]})"), "Name: expected a string, got a list");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Tags": [{"a": 1}]})"),
            "Tags[0]: expected a string, got an object");
  EXPECT_EQ(BodyError(R"({"Name": "web", "EnableTagOverride": "yes"})"),
            "EnableTagOverride: expected true or false, got string \"yes\"");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Meta": {"a": {"b": 1}}})"),
            "Meta.a: expected a string, got an object");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Proxy": []})"), "Proxy: expected an object, got a list");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {"Proxy": {
      "Upstreams": "api"}}}})"),
            "Connect.SidecarService.Proxy.Upstreams: expected a list of upstreams, got string "
            "\"api\"");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Check": {"TTL": "ten seconds"}})"),
            "Check.TTL: invalid duration \"ten seconds\": missing number (expected a number with "
            "a unit, e.g. \"10s\", \"1m30s\", \"500ms\")");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Check": {"TTL": "-5s"}})"),
            "Check.TTL: duration \"-5s\" must not be negative");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Port": 8080, "port": 8081})"),
            "\"Port\" and \"port\" both set Port; keep one");
}

TEST(ServiceDefinitionErrorTest, NameAndPort) {
  EXPECT_EQ(BodyError(R"({"Port": 80})"), "Missing service name");
  EXPECT_EQ(FileError("{\"service\": {\n\"port\": 80}}"),
            "service: Missing service name (line 1 of web.json)");
  EXPECT_EQ(FileError("{\"services\": [{\"name\": \"a\"},\n {\"port\": 80}]}"),
            "services[1]: Missing service name (line 2 of web.json)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Port": 70000})"),
            "Port: 70000 is out of range (0 to 65535)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Port": -1})"), "Port: -1 is out of range (0 to 65535)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "TaggedAddresses": {"wan": {"Address": "a",
      "Port": 65536}}})"),
            "TaggedAddresses.wan.Port: 65536 is out of range (0 to 65535)");
}

TEST(ServiceDefinitionErrorTest, Kind) {
  EXPECT_EQ(BodyError(R"({"Name": "x", "Kind": "gateway"})"),
            "Kind: invalid service kind \"gateway\"; must be one of \"\" (a typical service), "
            "\"connect-proxy\", \"mesh-gateway\", \"terminating-gateway\", \"ingress-gateway\", "
            "\"api-gateway\"");
  EXPECT_EQ(BodyError(R"({"Name": "x", "Connect": {"SidecarService": {"Kind": "mesh-gateway"}}})"),
            "Connect.SidecarService.Kind: a sidecar service is always a connect-proxy; remove "
            "kind \"mesh-gateway\"");
}

TEST(ServiceDefinitionErrorTest, GatewayRules) {
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway"})"),
            "Port must be non-zero for a mesh-gateway");
  EXPECT_EQ(FileError("{\"service\": {\"name\": \"gw\", \"kind\": \"terminating-gateway\",\n"
                      "\"port\": 0}}"),
            "service.port: Port must be non-zero for a terminating-gateway (line 2 of web.json)");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway", "Port": 8443,
      "Connect": {"SidecarService": {}}})"),
            "Connect.SidecarService: A mesh-gateway cannot have a sidecar service defined");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway", "Port": 8443,
      "Proxy": {"Upstreams": [{"DestinationName": "api", "LocalBindPort": 1}]}})"),
            "Proxy.Upstreams: The Proxy.Upstreams configuration is invalid for a mesh-gateway");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway", "Port": 8443,
      "Proxy": {"DestinationServiceName": "web"}})"),
            "Proxy.DestinationServiceName: The Proxy.DestinationServiceName configuration is "
            "invalid for a mesh-gateway");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "ingress-gateway",
      "Proxy": {"local_service_port": 80}})"),
            "Proxy.local_service_port: The Proxy.LocalServicePort configuration is invalid for a "
            "ingress-gateway");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway", "Port": 8443,
      "Meta": {"consul-other": "1"}})"),
            "Meta.consul-other: Key prefix 'consul-' is reserved for internal use");
  EXPECT_EQ(BodyError(R"({"Name": "gw", "Kind": "mesh-gateway-upstream"})"),
            "Port must be non-zero for a mesh-gateway-upstream");
}

TEST(ServiceDefinitionErrorTest, ConnectProxyRules) {
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1})"),
            "Proxy.DestinationServiceName must be non-empty for Connect proxy services");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1, "Proxy": {
      "DestinationServiceName": " "}})"),
            "Proxy: Proxy.DestinationServiceName must be non-empty for Connect proxy services");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1, "Proxy": {
      "DestinationServiceName": "*"}})"),
            "Proxy: Proxy.DestinationServiceName must not be a wildcard for Connect proxy "
            "services");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Proxy": {
      "DestinationServiceName": "web"}})"),
            "Port or SocketPath must be set for a Connect proxy");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1, "Proxy": {
      "DestinationServiceName": "web"}, "Connect": {"Native": true}})"),
            "Connect: A Proxy cannot also be Connect Native, only typical services");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1, "Proxy": {
      "DestinationServiceName": "web", "Mode": "sidecar"}})"),
            "Proxy.Mode: invalid value \"sidecar\"; must be one of \"\", \"direct\", "
            "\"transparent\"");
  EXPECT_EQ(BodyError(R"({"Name": "p", "Kind": "connect-proxy", "Port": 1, "Proxy": {
      "DestinationServiceName": "web", "MeshGateway": {"Mode": "both"}}})"),
            "Proxy.MeshGateway.Mode: invalid value \"both\"; must be one of \"\", \"none\", "
            "\"local\", \"remote\"");
}

TEST(ServiceDefinitionErrorTest, SidecarRules) {
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {"ID": "mine"}}})"),
            "Connect.SidecarService.ID: A SidecarService cannot specify an ID as this is managed "
            "by the agent");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {
      "Connect": {"SidecarService": {}}}}})"),
            "Connect.SidecarService.Connect.SidecarService: A SidecarService cannot have a nested "
            "SidecarService");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Connect": {"SidecarService": {
      "Connect": {"Native": true}}}})"),
            "Connect.SidecarService.Connect: A Proxy cannot also be Connect Native, only typical "
            "services");
}

TEST(ServiceDefinitionErrorTest, UpstreamRules) {
  auto upstream = [](const std::string& u) {
    return BodyError(R"({"Name": "web", "Connect": {"SidecarService": {"Proxy": {"Upstreams": [)" +
                     u + "]}}}}");
  };
  const std::string at = "Connect.SidecarService.Proxy.Upstreams[0]: ";
  EXPECT_EQ(upstream(R"({"DestinationName": "api"})"),
            at + "upstream local bind port or local socket path must be defined and nonzero");
  EXPECT_EQ(upstream(R"({"LocalBindPort": 1})"), at + "upstream destination name cannot be empty");
  EXPECT_EQ(upstream(R"({"DestinationName": "*", "LocalBindPort": 1})"),
            at + "upstream destination name cannot be a wildcard");
  EXPECT_EQ(
      upstream(R"({"DestinationName": "a", "LocalBindPort": 1, "LocalBindSocketPath": "/s"})"),
      at + "only one of upstream local bind port or local socket path can be defined and "
           "nonzero");
  EXPECT_EQ(upstream(R"({"DestinationName": "a", "LocalBindPort": 1, "Datacenter": "dc2",
                         "DestinationPeer": "p"})"),
            at + "upstream cannot specify both destination peer and datacenter");
  EXPECT_EQ(upstream(R"({"DestinationName": "a", "DestinationType": "query", "LocalBindPort": 1})"),
            "Connect.SidecarService.Proxy.Upstreams[0].DestinationType: invalid value \"query\"; "
            "must be one of \"\", \"service\", \"prepared_query\"");
  EXPECT_EQ(upstream(R"({"DestinationName": "a", "LocalBindPort": 1},
                        {"DestinationName": "a", "LocalBindPort": 2})"),
            "Connect.SidecarService.Proxy.Upstreams[1]: upstreams cannot contain duplicates of "
            "\"a\" (also at Connect.SidecarService.Proxy.Upstreams[0])");
  EXPECT_EQ(upstream(R"({"DestinationName": "a", "LocalBindPort": 1},
                        {"DestinationName": "b", "LocalBindPort": 1,
                         "LocalBindAddress": "127.0.0.1"})"),
            "Connect.SidecarService.Proxy.Upstreams[1]: upstreams cannot contain duplicates by "
            "local bind address and port or unix path; 127.0.0.1:1 is specified twice");
  // A centrally configured upstream needs no port; a static route's (mesh-gateway-upstream)
  // neither, but still a destination.
  ServiceRegistration central =
      MustDecodeBody(R"({"Name": "web", "Connect": {"SidecarService": {"Proxy": {"Upstreams": [
      {"DestinationName": "a", "CentrallyConfigured": true}]}}}})");
  EXPECT_TRUE(DecodeServiceRegistration(ServiceRegistrationToApiJson(central)).ok());
  EXPECT_EQ(BodyError(R"({"Name": "r", "Kind": "mesh-gateway-upstream", "Port": 8443,
      "Connect": {"SidecarService": {"Proxy": {"Upstreams": [{"Datacenter": "dc2"}]}}}})"),
            at + "upstream destination name cannot be empty");
}

TEST(ServiceDefinitionErrorTest, MetaAndWeights) {
  EXPECT_EQ(BodyError(R"({"Name": "web", "Meta": {"a.b": "1"}})"),
            "Meta.a.b: Key \"a.b\" contains invalid characters");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Meta": {"consul-x": "1"}})"),
            "Meta.consul-x: Key prefix 'consul-' is reserved for internal use");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Meta": {"k": ")" + std::string(513, 'v') + R"("}})"),
            "Meta.k: Value is too long (limit: 512 characters)");
  Json many = Json::object();
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  Json body = {{"Name", "web"}, {"Meta", many}};
  auto r = DecodeServiceRegistration(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "Meta: Service metadata cannot contain more than 64 key/value pairs");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Weights": {"Passing": 0}})"),
            "Weights: Passing must be greater than 0");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Weights": {"Passing": 1, "Warning": -1}})"),
            "Weights: Warning must be greater or equal than 0");
}

TEST(ServiceDefinitionErrorTest, Checks) {
  EXPECT_EQ(CheckError(R"({"Name": "c"})"),
            "Check \"c\": needs one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args (a script) or "
            "AliasService/AliasNode to say how it is checked");
  EXPECT_EQ(CheckError(R"({"Name": "web-http", "HTTP": "http://x", "TCP": "x:1",
                           "Interval": "1s"})"),
            "Check \"web-http\": set only one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args or "
            "AliasService/AliasNode; found HTTP and TCP");
  EXPECT_EQ(CheckError(R"({"Name": "web-http", "HTTP": "http://x"})"),
            "Check \"web-http\": Interval is required for HTTP checks");
  EXPECT_EQ(CheckError(R"({"CheckID": "t", "TCP": "x:1"})"),
            "Check \"t\": Interval is required for TCP checks");
  EXPECT_EQ(CheckError(R"({"TTL": "10s", "Interval": "10s"})"),
            "Check: Interval and TTL cannot both be specified");
  EXPECT_EQ(CheckError(R"({"TTL": "0s"})"), "Check: TTL must be > 0 for TTL checks");
  EXPECT_EQ(CheckError(R"({"AliasNode": "n", "Interval": "10s"})"),
            "Check: Interval cannot be set for Alias checks");
  EXPECT_EQ(CheckError(R"({"Name": "s", "ScriptArgs": ["/bin/true"]})"),
            "Check \"s\": Interval is required for script checks");
  EXPECT_EQ(CheckError(R"({"Name": "s", "args": ["/bin/true"], "TCP": "x:1", "interval": "10s"})"),
            "Check \"s\": set only one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args or "
            "AliasService/AliasNode; found TCP and Args");
  EXPECT_EQ(CheckError(R"({"Name": "d", "DockerContainerID": "x", "Args": ["a"], "Interval": "1s"})"),
            "Check \"d\": Docker checks (DockerContainerID) are not supported by Gangway; use a "
            "script, HTTP, TCP or TTL check");
  EXPECT_EQ(CheckError(R"({"Name": "g", "GRPC": "x:1"})"),
            "Check \"g\": Interval is required for GRPC checks");
  EXPECT_EQ(CheckError(R"({"Name": "g", "GRPC": "x/svc", "Interval": "10s"})"),
            "Check \"g\": GRPC must be \"host:port\" or \"host:port/service\"; got \"x/svc\"");
  EXPECT_EQ(CheckError(R"({"Name": "g", "GRPC": "x:99999", "Interval": "10s"})"),
            "Check \"g\": GRPC must be \"host:port\" or \"host:port/service\"; got \"x:99999\"");
  EXPECT_EQ(CheckError(R"({"Name": "h", "H2PING": "x:1/y", "Interval": "10s"})"),
            "Check \"h\": H2PING must be \"host:port\"; got \"x:1/y\"");
  EXPECT_EQ(CheckError(R"({"Name": "h", "H2PING": "x:1", "GRPC": "x:1", "Interval": "1s"})"),
            "Check \"h\": set only one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args or "
            "AliasService/AliasNode; found GRPC and H2PING");
  EXPECT_EQ(CheckError(R"({"Name": "h", "H2PING": "x:1", "H2PingUseTLS": "no", "Interval": "1s"})"),
            "H2PingUseTLS: expected true or false, got string \"no\"");
  EXPECT_EQ(CheckError(R"({"Name": "o", "OSService": "x", "Interval": "10s"})"),
            "Check \"o\": OSService checks are not supported by Gangway; use an HTTP, TCP or TTL "
            "check");
  EXPECT_EQ(CheckError(R"({"Name": "c", "TTL": "1s", "Status": "ok"})"),
            "Check \"c\": invalid Status \"ok\"; must be \"passing\", \"warning\" or "
            "\"critical\"");
  EXPECT_EQ(CheckError(R"({"ID": "a", "CheckID": "b", "TTL": "1s"})"),
            "\"CheckID\" and \"ID\" both set CheckID; keep one");
  EXPECT_EQ(CheckError(R"({"TTL": "1s", "Header": {"X": [1]}})"),
            "Header.X[0]: expected a string, got number 1");
  EXPECT_EQ(CheckError(R"({"TTL": "1s", "FailuresBeforeCritical": -1})"),
            "FailuresBeforeCritical: -1 is out of range (0 to 2147483647)");
  EXPECT_EQ(BodyError(R"({"Name": "web", "Checks": [{"TTL": "1s"}, {"Name": "two"}]})"),
            "Checks[1]: Check \"two\": needs one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args (a "
            "script) or AliasService/AliasNode to say how it is checked");
}

TEST(ServiceDefinitionTest, GrpcAndH2PingChecks) {
  ServiceRegistration r = MustDecodeBody(R"({"Name": "web", "Checks": [
      {"CheckID": "g", "GRPC": "127.0.0.1:9000/web", "GRPCUseTLS": true, "TLSSkipVerify": true,
       "TLSServerName": "web.local", "Interval": "5s", "Timeout": "1s"},
      {"CheckID": "h", "H2PING": "127.0.0.1:9001", "Interval": "5s"},
      {"CheckID": "c", "h2ping": "127.0.0.1:9002", "h2ping_use_tls": false, "interval": "5s"}]})");
  ASSERT_EQ(r.checks.size(), 3u);
  const CheckDefinition& g = r.checks[0].definition;
  EXPECT_EQ(g.grpc, "127.0.0.1:9000/web");
  EXPECT_TRUE(g.grpc_use_tls);
  EXPECT_TRUE(g.tls_skip_verify);
  EXPECT_EQ(g.tls_server_name, "web.local");
  EXPECT_FALSE(g.h2ping_use_tls);
  EXPECT_EQ(r.checks[1].definition.h2ping, "127.0.0.1:9001");
  EXPECT_TRUE(r.checks[1].definition.h2ping_use_tls);  // Consul's default whenever H2PING is set
  EXPECT_EQ(r.checks[2].definition.h2ping, "127.0.0.1:9002");
  EXPECT_FALSE(r.checks[2].definition.h2ping_use_tls);
  // Persisted registrations go through the API JSON: an explicit false must survive it.
  Json api = ServiceRegistrationToApiJson(r);
  EXPECT_EQ(api["Checks"][0]["GRPC"], "127.0.0.1:9000/web");
  EXPECT_EQ(api["Checks"][0]["GRPCUseTLS"], true);
  EXPECT_EQ(api["Checks"][2]["H2PingUseTLS"], false);
  ServiceRegistration again = MustDecodeBody(api.dump());
  ASSERT_EQ(again.checks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again.checks[i].definition, r.checks[i].definition);
}

TEST(ServiceDefinitionErrorTest, ServicesFileShape) {
  EXPECT_EQ(FileError("{\"service\": {\"name\": \"a\"},\n\"servcie\": {}}"),
            "invalid config key \"servcie\" (line 2 of web.json); a service definition file "
            "holds only \"service\" or \"services\"; did you mean \"service\"?");
  EXPECT_EQ(FileError(R"({"datacenter": "dc1"})"),
            "invalid config key \"datacenter\" (line 1 of web.json); a service definition file "
            "holds only \"service\" or \"services\"");
  EXPECT_EQ(FileError(R"({"service": "web"})"),
            "service: expected an object, got string \"web\" (line 1 of web.json)");
  EXPECT_EQ(FileError(R"([{"name": "web"}])"),
            "web.json: expected an object with \"service\" or \"services\" at the top level, got "
            "a list");
  EXPECT_EQ(FileError(R"({})"), "web.json: no \"service\" or \"services\" defined");
  EXPECT_EQ(FileError(R"({"services": [{"name": "a"}, 5]})"),
            "services[1]: expected an object, got number 5 (line 1 of web.json)");
}

TEST(ServiceDefinitionErrorTest, MessagesStayValidUtf8) {
  // A long value with multi-byte characters is cut on a character boundary.
  std::string name;
  for (int i = 0; i < 40; ++i) name += "\xC3\xA9";
  std::string msg = BodyError(R"({"Name": "web", "Port": ")" + name + R"("})");
  EXPECT_NO_THROW(Json(msg).dump()) << msg;
  EXPECT_THAT(msg, HasSubstr("...\""));
}

TEST(ServiceDefinitionTest, TypedUpstreamErrorsNameKeyAndLine) {
  constexpr const char* kUpstreamHcl = R"hcl(service {
  name = "web"
  connect {
    sidecar_service {
      proxy {
        upstreams {
          destination_name = "api"
          local_bind_port  = "x"
        }
      }
    }
  }
}
)hcl";
  auto bad = DecodeServicesFile(Hcl(kUpstreamHcl));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "service.connect.sidecar_service.proxy.upstreams.local_bind_port: expected a number, "
            "got string \"x\" (line 8 of web.hcl)");
  std::string typo = kUpstreamHcl;
  typo.replace(typo.find("local_bind_port  = \"x\""), 22, "local_bind_prot = 9191");
  auto unknown = DecodeServicesFile(Hcl(typo));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            // Long paths are cut at 60 bytes, as every quoted value in a message is.
            "invalid config key \"service.connect.sidecar_service.proxy.upstreams.local_bind_p...\" "
            "(line 8 of web.hcl); did you mean \"local_bind_port\"?");
}

TEST(ServiceDefinitionTest, TypedProxyFields) {
  auto regs = MustDecodeFile(Hcl(R"hcl(service {
  name = "web"
  port = 8080
  connect {
    sidecar_service {
      proxy {
        mode = "transparent"
        mesh_gateway { mode = "local" }
        upstreams = [
          { destination_name = "api", datacenter = "dc2", local_bind_port = 9191,
            mesh_gateway { mode = "remote" }, config { protocol = "http" } },
          { destination_type = "prepared_query", destination_name = "q",
            local_bind_socket_path = "/tmp/q.sock" },
        ]
      }
    }
  }
}
)hcl"));
  ASSERT_EQ(regs.size(), 1u);
  ASSERT_NE(regs[0].sidecar, nullptr);
  ASSERT_TRUE(regs[0].sidecar->service.proxy.has_value());
  const ProxyConfig& p = *regs[0].sidecar->service.proxy;
  EXPECT_EQ(p.mode, "transparent");
  EXPECT_EQ(p.mesh_gateway, MeshGatewayConfig{"local"});
  ASSERT_EQ(p.upstreams.size(), 2u);
  EXPECT_EQ(p.upstreams[0].destination_type, "service");  // Consul's default
  EXPECT_EQ(p.upstreams[0].destination_name, "api");
  EXPECT_EQ(p.upstreams[0].datacenter, "dc2");
  EXPECT_EQ(p.upstreams[0].local_bind_port, 9191);
  EXPECT_EQ(p.upstreams[0].mesh_gateway, MeshGatewayConfig{"remote"});
  EXPECT_EQ(p.upstreams[0].config, (Json{{"protocol", "http"}}));
  EXPECT_EQ(p.upstreams[1].destination_type, "prepared_query");
  EXPECT_EQ(p.upstreams[1].local_bind_socket_path, "/tmp/q.sock");
  // The API body the CLI sends decodes to the same value.
  auto again = DecodeServiceRegistration(ServiceRegistrationToApiJson(regs[0]));
  ASSERT_TRUE(again.ok()) << again.status().message();
  ASSERT_NE(again->sidecar, nullptr);
  EXPECT_EQ(again->sidecar->service.proxy, regs[0].sidecar->service.proxy);
}

}  // namespace
}  // namespace gangway::catalog
