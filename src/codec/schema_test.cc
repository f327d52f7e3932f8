#include "codec/schema.h"

#include <gtest/gtest.h>

namespace gangway::codec {
namespace {

using Json = nlohmann::json;

constexpr Field kMeshGatewayFields[] = {{"Mode", "mode", FieldType::kString}};
constexpr Schema kMeshGateway{kMeshGatewayFields};

constexpr Field kUpstreamFields[] = {
    {.name = "DestinationName", .snake = "destination_name", .required = true},
    {"LocalBindPort", "local_bind_port", FieldType::kInt},
    {"MeshGateway", "mesh_gateway", FieldType::kObject, &kMeshGateway},
    {.name = "CentralConfig", .snake = "central_config", .alias_of = "CentrallyConfigured"},
    {"CentrallyConfigured", "centrally_configured", FieldType::kBool},
};
constexpr Schema kUpstream{kUpstreamFields};

constexpr Field kPortsFields[] = {{"http", {}, FieldType::kInt}, {"dns", {}, FieldType::kInt}};
constexpr Schema kPorts{kPortsFields, KeyMatch::kExact, true};
constexpr Field kAgentFields[] = {
    {"datacenter", {}, FieldType::kString},
    {"ports", {}, FieldType::kObject, &kPorts},
    {"retry_join", {}, FieldType::kStringList},
    {"server", {}, FieldType::kBool},
    {"node_meta", {}, FieldType::kStringMap},
    {"retry_interval", {}, FieldType::kDuration},
};
constexpr Schema kAgent{kAgentFields, KeyMatch::kExact, true};

constexpr MessageStyle kAgentStyle{.file_colon_line = true, .suggest_path = true};

Document Doc(const std::string& hcl, const std::string& file = "a.hcl") {
  auto d = ParseHcl(hcl, file);
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() ? *d : Document{};
}

std::string ReadError(const Document& doc, const Schema& schema, MessageStyle style = {}) {
  SchemaReader r(&doc, style);
  Members m;
  Status s = r.ReadObject(doc.value, Loc{}, schema, &m);
  return s.ok() ? "ok" : s.message();
}

std::string CheckError(Document doc, const Schema& schema, MessageStyle style = kAgentStyle) {
  SchemaReader r(&doc, style);
  Status s = r.CheckObject(schema, &doc.value, Loc{});
  return s.ok() ? "ok" : s.message();
}

TEST(SchemaTest, FoldedKeysMatchAnySpelling) {
  for (const char* key : {"destination_name", "DestinationName", "destinationname",
                          "Destination_Name", "DESTINATIONNAME"}) {
    Json obj = {{key, "api"}, {"LocalBindPort", 1}};
    SchemaReader r(nullptr);
    Members m;
    ASSERT_TRUE(r.ReadObject(obj, Loc{}, kUpstream, &m).ok()) << key;
    ASSERT_EQ(m.count("DestinationName"), 1u) << key;
    EXPECT_EQ(m.at("DestinationName").key, key);
    EXPECT_EQ(*m.at("DestinationName").value, "api");
  }
}

TEST(SchemaTest, UnknownKeySuggestsNearestInTheUsersStyle) {
  Document doc = Doc("destination_name = \"api\"\nlocal_bind_prot = 1\n");
  EXPECT_EQ(ReadError(doc, kUpstream),
            "invalid config key \"local_bind_prot\" (line 2 of a.hcl); did you mean "
            "\"local_bind_port\"?");
  SchemaReader r(nullptr);
  Members m;
  Status s = r.ReadObject(Json{{"DestinationName", "a"}, {"LocalBindProt", 1}},
                          Loc{"Upstreams[0]", "/Upstreams/0"}, kUpstream, &m);
  EXPECT_EQ(s.message(),
            "invalid config key \"Upstreams[0].LocalBindProt\"; did you mean \"LocalBindPort\"?");
}

TEST(SchemaTest, NothingCloseMeansNoSuggestion) {
  Document doc = Doc("destination_name = \"api\"\nzzzzzzzzzzzz = 1\n");
  EXPECT_EQ(ReadError(doc, kUpstream), "invalid config key \"zzzzzzzzzzzz\" (line 2 of a.hcl)");
}

TEST(SchemaTest, TwoSpellingsOfOneFieldAreAnError) {
  Document doc = Doc("destination_name = \"a\"\nDestinationName = \"b\"\n");
  std::string err = ReadError(doc, kUpstream);
  EXPECT_NE(err.find("both set DestinationName; keep one"), std::string::npos) << err;
  Document alias = Doc("destination_name = \"a\"\ncentral_config = true\ncentrally_configured = 1\n");
  err = ReadError(alias, kUpstream);
  EXPECT_NE(err.find("both set CentrallyConfigured; keep one"), std::string::npos) << err;
}

TEST(SchemaTest, RequiredFieldIsNamedInTheUsersStyle) {
  EXPECT_EQ(ReadError(Doc("local_bind_port = 1\n"), kUpstream),
            "missing required key \"destination_name\" (line 1 of a.hcl)");
  SchemaReader r(nullptr);
  Members m;
  EXPECT_EQ(r.ReadObject(Json{{"LocalBindPort", 1}}, Loc{"Upstreams[0]", ""}, kUpstream, &m)
                .message(),
            "Upstreams[0]: missing required key \"DestinationName\"");
}

TEST(SchemaTest, NullIsAbsent) {
  SchemaReader r(nullptr);
  Members m;
  ASSERT_TRUE(r.ReadObject(Json{{"DestinationName", "a"}, {"LocalBindPort", nullptr}}, Loc{},
                           kUpstream, &m)
                  .ok());
  EXPECT_EQ(m.count("LocalBindPort"), 0u);
}

TEST(SchemaTest, ExactKeysAreCaseSensitiveAndSuggestTheWholePath) {
  EXPECT_EQ(CheckError(Doc("server = true\ndatacentre = \"dc1\"\n", "bad.hcl"), kAgent),
            "invalid config key \"datacentre\" (bad.hcl:2); did you mean \"datacenter\"?");
  EXPECT_EQ(CheckError(Doc("ports {\n  htpp = 1\n}\n"), kAgent),
            "invalid config key \"ports.htpp\" (a.hcl:2); did you mean \"ports.http\"?");
  EXPECT_EQ(CheckError(Doc("Datacenter = \"dc1\"\n"), kAgent),
            "invalid config key \"Datacenter\" (a.hcl:1); did you mean \"datacenter\"?");
}

TEST(SchemaTest, CheckConvertsWeaklyTypedValuesInPlace) {
  Document doc = Doc(
      "server = \"true\"\nports { http = \"8500\" }\nports { dns = 53 }\nretry_join = \"a\"\n"
      "node_meta { rack = 7 }\nretry_interval = \"5s\"\n");
  SchemaReader r(&doc, kAgentStyle);
  ASSERT_TRUE(r.CheckObject(kAgent, &doc.value, Loc{}).ok());
  EXPECT_EQ(doc.value["server"], true);
  EXPECT_EQ(doc.value["ports"], (Json{{"http", 8500}, {"dns", 53}}));  // blocks merged
  EXPECT_EQ(doc.value["retry_join"], Json::array({"a"}));
  EXPECT_EQ(doc.value["node_meta"]["rack"], "7");
  EXPECT_EQ(doc.value["retry_interval"], "5s");
}

TEST(SchemaTest, TypeErrorsSayWhatWasExpectedAndWhere) {
  EXPECT_EQ(CheckError(Doc("datacenter = \"dc1\"\nserver = \"maybe\"\n"), kAgent),
            "server: expected true or false, got string \"maybe\" (a.hcl:2)");
  EXPECT_EQ(CheckError(Doc("ports {\n  http = \"x\"\n}\n"), kAgent),
            "ports.http: expected a number, got string \"x\" (a.hcl:2)");
  EXPECT_EQ(CheckError(Doc("ports {\n  http = 99999999999\n}\n"), kAgent),
            "ports.http: 99999999999 is out of range (-2147483648 to 2147483647) (a.hcl:2)");
  EXPECT_EQ(CheckError(Doc("retry_interval = \"soon\"\n"), kAgent).rfind("retry_interval: ", 0),
            0u);
  EXPECT_EQ(CheckError(Doc("retry_join = [{ a = 1 }]\n"), kAgent),
            "retry_join[0]: expected a string, got an object (a.hcl:1)");
  EXPECT_EQ(CheckError(Doc("ports = 5\n"), kAgent),
            "ports: expected an object, got number 5 (a.hcl:1)");
  // Nested folded objects report in the reader's own style.
  Document doc = Doc("destination_name = \"a\"\nmesh_gateway {\n  mode = [1]\n}\n");
  EXPECT_EQ(CheckError(doc, kUpstream, MessageStyle{}),
            "mesh_gateway.mode: expected a string, got a list (line 3 of a.hcl)");
}

TEST(SchemaTest, LocFromPointerTellsIndexesFromKeys) {
  Document doc = Doc("services = [{ name = \"a\" }]\nmeta { \"0\" = \"x\" }\n");
  EXPECT_EQ(Loc::FromPointer(&doc, "/services/0").path, "services[0]");
  EXPECT_EQ(Loc::FromPointer(&doc, "/meta/0").path, "meta.0");
  EXPECT_EQ(Loc::FromPointer(nullptr, "/a~1b/3").path, "a/b[3]");
}

TEST(SchemaTest, QuoteValueKeepsMessagesValidUtf8) {
  EXPECT_EQ(QuoteValue("a\"b"), "\"a\\\"b\"");
  std::string long_value = std::string(59, 'x') + "\xc3\xa9" + "tail";
  EXPECT_EQ(QuoteValue(long_value), "\"" + std::string(59, 'x') + "...\"");
}

}  // namespace
}  // namespace gangway::codec
