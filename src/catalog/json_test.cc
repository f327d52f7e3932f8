#include "catalog/json.h"

#include <gtest/gtest.h>

namespace gangway::catalog {
namespace {

std::set<std::string> Keys(const Json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

Node SampleNode() {
  Node n;
  n.id = "40e4a748-2192-161a-0510-9bf59fe950b5";
  n.node = "foobar";
  n.address = "192.168.10.10";
  n.datacenter = "dc1";
  n.tagged_addresses = {{"lan", "192.168.10.10"}, {"wan", "10.0.10.10"}};
  n.meta = {{"instance_type", "t2.medium"}};
  n.raft = {5, 7};
  return n;
}

NodeService SampleService() {
  NodeService s;
  s.id = "redis1";
  s.service = "redis";
  s.tags = {"primary"};
  s.address = "10.1.10.12";
  s.meta = {{"redis_version", "4.0"}};
  s.port = 8000;
  s.raft = {9, 10};
  return s;
}

TEST(CatalogJson, NodeShape) {
  Json j = NodeToJson(SampleNode());
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta",
                                   "CreateIndex", "ModifyIndex"}));
  EXPECT_EQ(j["TaggedAddresses"]["wan"], "10.0.10.10");
  EXPECT_EQ(j["CreateIndex"], 5);
  EXPECT_EQ(j["ModifyIndex"], 7);
  auto back = NodeFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, SampleNode());
}

TEST(CatalogJson, NodeServiceOmitsWhatConsulOmits) {
  Json j = NodeServiceToJson(SampleService());
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"ID", "Service", "Tags", "Address", "Meta", "Port", "Weights",
                                   "EnableTagOverride", "CreateIndex", "ModifyIndex"}));
  EXPECT_EQ(j["Weights"], (Json{{"Passing", 1}, {"Warning", 1}}));

  NodeService gw = SampleService();
  gw.kind = "mesh-gateway";
  gw.tagged_addresses = {{"wan", {"198.18.0.1", 443}}};
  gw.socket_path = "/tmp/s.sock";
  gw.proxy = ProxyConfig{.config = {{"envoy_gateway_no_default_bind", true}}};
  gw.connect = Json::object();
  j = NodeServiceToJson(gw);
  EXPECT_EQ(j["Kind"], "mesh-gateway");
  EXPECT_EQ(j["TaggedAddresses"], (Json{{"wan", {{"Address", "198.18.0.1"}, {"Port", 443}}}}));
  EXPECT_EQ(j["SocketPath"], "/tmp/s.sock");
  EXPECT_EQ(j["Proxy"]["Config"]["envoy_gateway_no_default_bind"], true);
  EXPECT_EQ(j["Connect"], Json::object());
  auto back = NodeServiceFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, gw);
}

TEST(CatalogJson, HealthCheckShapeWithGoDurations) {
  HealthCheck c;
  c.node = "foobar";
  c.check_id = "service:redis1";
  c.name = "Service 'redis' check";
  c.status = kPassing;
  c.service_id = "redis1";
  c.service_name = "redis";
  c.type = "http";
  c.definition.http = "http://localhost:8000/health";
  c.definition.interval_ns = 10'000'000'000;
  c.definition.timeout_ns = 1'500'000'000;
  c.definition.deregister_critical_service_after_ns = 90 * 60'000'000'000LL;
  Json j = HealthCheckToJson(c);
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"Node", "CheckID", "Name", "Status", "Notes", "Output",
                                   "ServiceID", "ServiceName", "ServiceTags", "Type", "ExposedPort",
                                   "Definition", "CreateIndex", "ModifyIndex"}));
  EXPECT_EQ(j["ServiceTags"], Json::array());
  EXPECT_EQ(j["Definition"], (Json{{"HTTP", "http://localhost:8000/health"},
                                   {"Interval", "10s"},
                                   {"Timeout", "1.5s"},
                                   {"DeregisterCriticalServiceAfter", "1h30m0s"}}));
  auto back = HealthCheckFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);

  HealthCheck ttl;
  ttl.definition.ttl_ns = 0;
  EXPECT_EQ(HealthCheckToJson(ttl)["Definition"], Json::object());
}

TEST(CatalogJson, CheckDefinitionAcceptsStringsOrNanoseconds) {
  auto d = CheckDefinitionFromJson({{"interval", "1m"},
                                    {"Timeout", 2000000000},
                                    {"TTL", nullptr},
                                    {"Header", {{"X-A", {"1", "2"}}}},
                                    {"tcp", "h:1"}});
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->interval_ns, 60'000'000'000);
  EXPECT_EQ(d->timeout_ns, 2'000'000'000);
  EXPECT_EQ(d->ttl_ns, 0);
  EXPECT_EQ(d->tcp, "h:1");
  EXPECT_EQ(d->header.at("X-A"), (std::vector<std::string>{"1", "2"}));
  auto bad = CheckDefinitionFromJson({{"Header", {{"X-A", "1"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "Header.X-A: expected an array of strings, got string");
  bad = CheckDefinitionFromJson({{"Interval", true}});
  EXPECT_EQ(bad.status().message(), "Interval: expected a duration string, got bool");
}

TEST(CatalogJson, KVEntryValueIsBase64OrNull) {
  KVEntry e;
  e.key = "foo/bar";
  e.value = "hello";
  e.flags = 3;
  e.raft = {4, 6};
  Json j = KVEntryToJson(e);
  EXPECT_EQ(j, (Json{{"LockIndex", 0},
                     {"Key", "foo/bar"},
                     {"Flags", 3},
                     {"Value", "aGVsbG8="},
                     {"CreateIndex", 4},
                     {"ModifyIndex", 6}}));
  auto back = KVEntryFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, e);
  e.value.clear();
  e.session = "sess";
  j = KVEntryToJson(e);
  EXPECT_TRUE(j["Value"].is_null());
  EXPECT_EQ(j["Session"], "sess");
  auto bad = KVEntryFromJson({{"Value", "not base64!"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Value: illegal base64 data"), std::string::npos);
}

TEST(CatalogJson, ServiceNodeRowShape) {
  ServiceNode sn{SampleNode(), SampleService()};
  Json j = ServiceNodeToJson(sn);
  EXPECT_EQ(Keys(j), (std::set<std::string>{
                         "ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta",
                         "ServiceKind", "ServiceID", "ServiceName", "ServiceTags", "ServiceAddress",
                         "ServiceWeights", "ServiceMeta", "ServicePort", "ServiceEnableTagOverride",
                         "CreateIndex", "ModifyIndex"}));
  EXPECT_EQ(j["ServiceKind"], "");
  EXPECT_EQ(j["NodeMeta"]["instance_type"], "t2.medium");
  EXPECT_EQ(j["ServiceName"], "redis");
  EXPECT_EQ(j["CreateIndex"], 9);  // the service's indexes, as in Consul
  sn.service.kind = "connect-proxy";
  sn.service.proxy = ProxyConfig{.destination_service_name = "redis"};
  sn.service.tagged_addresses = {{"lan", {"10.1.10.12", 8000}}};
  j = ServiceNodeToJson(sn);
  EXPECT_EQ(j["ServiceKind"], "connect-proxy");
  EXPECT_EQ(j["ServiceProxy"]["DestinationServiceName"], "redis");
  EXPECT_EQ(j["ServiceTaggedAddresses"]["lan"]["Port"], 8000);
  auto back = ServiceNodeFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->service, sn.service);
  Node want_node = sn.node;
  want_node.raft = {};  // the row carries the service's indexes only
  EXPECT_EQ(back->node, want_node);
}

TEST(CatalogJson, CheckServiceNodeShape) {
  HealthCheck serf;
  serf.node = "foobar";
  serf.check_id = kSerfCheckID;
  serf.status = kPassing;
  CheckServiceNode csn{SampleNode(), SampleService(), {serf}};
  Json j = CheckServiceNodeToJson(csn);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"Node", "Service", "Checks"}));
  EXPECT_EQ(j["Node"]["Node"], "foobar");
  EXPECT_EQ(j["Service"]["Service"], "redis");
  EXPECT_EQ(j["Checks"][0]["CheckID"], "serfHealth");
  auto back = CheckServiceNodeFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, csn);
}

TEST(CatalogJson, DecodersMatchKeysCaseInsensitivelyAndNameBadFields) {
  auto s = NodeServiceFromJson({{"service", "web"},
                                {"PORT", 80},
                                {"tags", {"a"}},
                                {"weights", {{"passing", 3}}},
                                {"Unknown", 1},
                                {"Address", nullptr}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->service, "web");
  EXPECT_EQ(s->port, 80);
  EXPECT_EQ(s->tags, std::vector<std::string>{"a"});
  EXPECT_EQ(s->weights.passing, 3);
  EXPECT_EQ(s->weights.warning, 1);

  struct Case {
    Json body;
    std::string want;
  };
  std::vector<Case> cases = {
      {Json::array(), "expected a JSON object, got array"},
      {{{"Port", "80"}}, "Port: expected an integer, got string"},
      {{{"Port", 80.5}}, "Port: expected an integer, got number"},
      {{{"Port", 4294967296LL}}, "Port: integer out of range"},
      {{{"Tags", "a"}}, "Tags: expected an array of strings, got string"},
      {{{"Meta", {{"k", 1}}}}, "Meta.k: expected a string, got number"},
      {{{"TaggedAddresses", {{"wan", {{"Port", "x"}}}}}},
       "TaggedAddresses.wan.Port: expected an integer, got string"},
      {{{"Weights", {{"Passing", true}}}}, "Weights.Passing: expected an integer, got bool"},
      {{{"EnableTagOverride", "yes"}}, "EnableTagOverride: expected a bool, got string"},
      {{{"Connect", {1}}}, "Connect: expected an object, got array"},
      {{{"CreateIndex", -1}}, "CreateIndex: expected a non-negative integer"},
  };
  for (const auto& c : cases) {
    auto r = NodeServiceFromJson(c.body);
    ASSERT_FALSE(r.ok()) << c.body.dump();
    EXPECT_EQ(r.status().message(), c.want);
  }
  auto check = HealthCheckFromJson({{"Definition", {{"Interval", "ten"}}}});
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().message().rfind("Definition.Interval: invalid duration", 0), 0u)
      << check.status().message();
}

TEST(CatalogJson, InvalidUtf8IsReplacedLikeGo) {
  NodeService s = SampleService();
  s.service = "bad\xff\xc3(";
  s.meta = {{"k\xe2\x82", "ok \xe2\x82\xac"}};
  s.proxy = ProxyConfig{.config = {{"x", std::string("\xed\xa0\x80")}}};  // a UTF-16 surrogate
  Json j = NodeServiceToJson(s);
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  EXPECT_EQ(j["Service"], "bad\xEF\xBF\xBD\xEF\xBF\xBD(");
  EXPECT_EQ(j["Meta"]["k\xEF\xBF\xBD\xEF\xBF\xBD"], "ok \xe2\x82\xac");
  EXPECT_EQ(j["Proxy"]["Config"]["x"], "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  KVEntry e;
  e.key = "\xc0\xaf";  // overlong '/'
  EXPECT_EQ(KVEntryToJson(e)["Key"], "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(CatalogJson, ProxyConfigRoundTrips) {
  Json api = {{"DestinationServiceName", "web"},
              {"LocalServicePort", 8080},
              {"Mode", "transparent"},
              {"Config", {{"protocol", "http"}}},
              {"Upstreams",
               {{{"DestinationType", "service"},
                 {"DestinationName", "db"},
                 {"Datacenter", "dc2"},
                 {"LocalBindPort", 9191},
                 {"MeshGateway", {{"Mode", "local"}}},
                 {"CentrallyConfigured", true}}}},
              {"MeshGateway", Json::object()},
              {"Expose", {{"Checks", true}, {"Paths", {{{"Path", "/m"}, {"LocalPathPort", 80}}}}}},
              {"TransparentProxy", {{"OutboundListenerPort", 15001}}},
              {"EnvoyExtensions", {{{"Name", "x"}}}}};
  auto p = ProxyConfigFromJson(api);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->upstreams.at(0).local_bind_port, 9191);
  EXPECT_EQ(p->mesh_gateway, MeshGatewayConfig{});  // given, empty: kept
  EXPECT_EQ(ProxyConfigToJson(*p), api);
  // Keys match case-insensitively, as Go's decoder does; a wrong type names the field.
  auto lower = ProxyConfigFromJson({{"upstreams", {{{"destinationname", "db"}}}}});
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower->upstreams.at(0).destination_name, "db");
  auto bad = ProxyConfigFromJson({{"Upstreams", {{{"LocalBindPort", "x"}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "Upstreams[0].LocalBindPort: expected an integer, got string");
}

}  // namespace
}  // namespace gangway::catalog
