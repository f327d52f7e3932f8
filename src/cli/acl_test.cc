#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/acl_format.h"
#include "cli/api_client.h"
#include "cli/testing/fake_agent.h"

namespace gangway::cli {
namespace {

using Args = std::vector<std::string>;

constexpr char kAccessor[] = "6a1253d2-1785-24fd-91c2-f8e78c745511";
constexpr char kSecret[] = "45a3bd52-07c7-47a4-52fd-0745e0cfe967";
constexpr char kPolicyID[] = "165d4317-e379-f732-ce70-86278c4558f7";
constexpr char kRoleID[] = "57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5";

// A token as the servers answer a read: every link filled, an expiry, a hash.
const char kTokenJson[] = R"({
  "AccessorID":"6a1253d2-1785-24fd-91c2-f8e78c745511",
  "SecretID":"45a3bd52-07c7-47a4-52fd-0745e0cfe967",
  "Description":"web token",
  "Policies":[{"ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":"web-pol"}],
  "Roles":[{"ID":"57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5","Name":"db-updater"}],
  "ServiceIdentities":[{"ServiceName":"web","Datacenters":["dc1","dc2"]},{"ServiceName":"api"}],
  "NodeIdentities":[{"NodeName":"node-1","Datacenter":"dc1"}],
  "Local":true,
  "ExpirationTime":"2025-01-01T00:00:00Z",
  "CreateTime":"2024-06-01T10:00:00.100Z",
  "Hash":"3q2+7w==",
  "CreateIndex":59,"ModifyIndex":61})";

const char kBootstrapJson[] = R"json({
  "ID":"45a3bd52-07c7-47a4-52fd-0745e0cfe967",
  "AccessorID":"6a1253d2-1785-24fd-91c2-f8e78c745511",
  "SecretID":"45a3bd52-07c7-47a4-52fd-0745e0cfe967",
  "Description":"Bootstrap Token (Global Management)",
  "Policies":[{"ID":"00000000-0000-0000-0000-000000000001","Name":"global-management"}],
  "Local":false,
  "CreateTime":"2021-10-29T09:46:41.667765951Z",
  "Hash":"oyrov6+GFLjo/KZAfqgxF/X4J/3LX0435DOBy9V22I0=",
  "CreateIndex":13,"ModifyIndex":13})json";

const char kPolicyJson[] = R"({
  "ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":"web-pol","Description":"for web",
  "Rules":"service \"web\" { policy = \"write\" }","Datacenters":["dc1","dc2"],
  "Hash":"3q2+7w==","CreateIndex":5,"ModifyIndex":7})";

const char kRoleJson[] = R"({
  "ID":"57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5","Name":"db-updater","Description":"updates db",
  "Policies":[{"ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":"web-pol"}],
  "ServiceIdentities":[{"ServiceName":"db"}],
  "NodeIdentities":[{"NodeName":"n1","Datacenter":"dc1"}],
  "Hash":"3q2+7w==","CreateIndex":8,"ModifyIndex":9})";

Json Parse(const char* text) { return Json::parse(text); }

// ---------------------------------------------------------------------------------------------
// Formatting

TEST(AclFormatTest, GoTimeStringAsGoPrintsATime) {
  EXPECT_EQ(GoTimeString("2024-06-01T10:00:00.100Z"), "2024-06-01 10:00:00.1 +0000 UTC");
  EXPECT_EQ(GoTimeString("2021-10-29T17:46:41.667765951+08:00"),
            "2021-10-29 17:46:41.667765951 +0800 +0800");
  EXPECT_EQ(GoTimeString("2024-06-01T10:00:00Z"), "2024-06-01 10:00:00 +0000 UTC");
  EXPECT_EQ(GoTimeString("2024-06-01T10:00:00.000-05:30"), "2024-06-01 10:00:00 -0530 -0530");
  EXPECT_EQ(GoTimeString("yesterday"), "yesterday");
}

TEST(AclFormatTest, TokenPretty) {
  EXPECT_EQ(FormatToken(Parse(kTokenJson), AclFormat::kPretty, false),
            "AccessorID:       6a1253d2-1785-24fd-91c2-f8e78c745511\n"
            "SecretID:         45a3bd52-07c7-47a4-52fd-0745e0cfe967\n"
            "Description:      web token\n"
            "Local:            true\n"
            "Create Time:      2024-06-01 10:00:00.1 +0000 UTC\n"
            "Expiration Time:  2025-01-01 00:00:00 +0000 UTC\n"
            "Policies:\n"
            "   165d4317-e379-f732-ce70-86278c4558f7 - web-pol\n"
            "Roles:\n"
            "   57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5 - db-updater\n"
            "Service Identities:\n"
            "   web (Datacenters: dc1, dc2)\n"
            "   api (Datacenters: all)\n"
            "Node Identities:\n"
            "   node-1 (Datacenter: dc1)\n");
  // -meta: the hash in hex (base64 "3q2+7w==" is de ad be ef) and the indexes.
  std::string meta = FormatToken(Parse(kTokenJson), AclFormat::kPretty, true);
  EXPECT_NE(meta.find("Expiration Time:  2025-01-01 00:00:00 +0000 UTC\n"
                      "Hash:             deadbeef\n"
                      "Create Index:     59\n"
                      "Modify Index:     61\n"
                      "Policies:\n"),
            std::string::npos)
      << meta;
}

TEST(AclFormatTest, TokenJsonIsTheGoStruct) {
  EXPECT_EQ(FormatToken(Parse(kTokenJson), AclFormat::kJson, false),
            R"({
    "CreateIndex": 59,
    "ModifyIndex": 61,
    "AccessorID": "6a1253d2-1785-24fd-91c2-f8e78c745511",
    "SecretID": "45a3bd52-07c7-47a4-52fd-0745e0cfe967",
    "Description": "web token",
    "Policies": [
        {
            "ID": "165d4317-e379-f732-ce70-86278c4558f7",
            "Name": "web-pol"
        }
    ],
    "Roles": [
        {
            "ID": "57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5",
            "Name": "db-updater"
        }
    ],
    "ServiceIdentities": [
        {
            "ServiceName": "web",
            "Datacenters": [
                "dc1",
                "dc2"
            ]
        },
        {
            "ServiceName": "api"
        }
    ],
    "NodeIdentities": [
        {
            "NodeName": "node-1",
            "Datacenter": "dc1"
        }
    ],
    "Local": true,
    "ExpirationTime": "2025-01-01T00:00:00Z",
    "CreateTime": "2024-06-01T10:00:00.1Z",
    "Hash": "3q2+7w=="
})");
  // The bootstrap answer's legacy "ID" is not a field of the struct; empty lists are omitted.
  std::string boot = FormatToken(Parse(kBootstrapJson), AclFormat::kJson, false);
  EXPECT_EQ(boot.find("\"ID\": \"45a3"), std::string::npos) << boot;
  EXPECT_EQ(boot.find("Roles"), std::string::npos) << boot;
}

TEST(AclFormatTest, TokenListSeparatesEntriesWithABlankLine) {
  Json list = Json::array({Parse(kBootstrapJson), Parse(kTokenJson)});
  list[0]["SecretID"] = "<hidden>";
  std::string out = FormatTokenList(list, AclFormat::kPretty, false);
  EXPECT_NE(out.find("   00000000-0000-0000-0000-000000000001 - global-management\n\n"
                     "AccessorID:       6a1253d2"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("SecretID:         <hidden>\n"), std::string::npos);
  EXPECT_EQ(FormatTokenList(Json::array(), AclFormat::kJson, false), "[]");
}

TEST(AclFormatTest, PolicyPrettyAndList) {
  EXPECT_EQ(FormatPolicy(Parse(kPolicyJson), AclFormat::kPretty, false),
            "ID:           165d4317-e379-f732-ce70-86278c4558f7\n"
            "Name:         web-pol\n"
            "Description:  for web\n"
            "Datacenters:  dc1, dc2\n"
            "Rules:\n"
            "service \"web\" { policy = \"write\" }");
  EXPECT_EQ(FormatPolicy(Parse(kPolicyJson), AclFormat::kPretty, true),
            "ID:           165d4317-e379-f732-ce70-86278c4558f7\n"
            "Name:         web-pol\n"
            "Description:  for web\n"
            "Datacenters:  dc1, dc2\n"
            "Hash:         deadbeef\n"
            "Create Index: 5\n"
            "Modify Index: 7\n"
            "Rules:\n"
            "service \"web\" { policy = \"write\" }");
  Json stub = Parse(kPolicyJson);
  stub.erase("Rules");
  stub.erase("Datacenters");
  Json list =
      Json::array({stub, Json{{"ID", "00000000-0000-0000-0000-000000000001"},
                              {"Name", "global-management"},
                              {"Description", "Builtin Policy that grants unlimited access"}}});
  EXPECT_EQ(FormatPolicyList(list, AclFormat::kPretty, false),
            "web-pol:\n"
            "   ID:           165d4317-e379-f732-ce70-86278c4558f7\n"
            "   Description:  for web\n"
            "   Datacenters:  \n"
            "global-management:\n"
            "   ID:           00000000-0000-0000-0000-000000000001\n"
            "   Description:  Builtin Policy that grants unlimited access\n"
            "   Datacenters:  \n");
}

TEST(AclFormatTest, PolicyJsonKeepsNullsAsGoDoes) {
  Json p = {{"ID", kPolicyID}, {"Name", "p"}, {"Rules", ""}};
  EXPECT_EQ(FormatPolicy(p, AclFormat::kJson, false),
            "{\n"
            "    \"ID\": \"165d4317-e379-f732-ce70-86278c4558f7\",\n"
            "    \"Name\": \"p\",\n"
            "    \"Description\": \"\",\n"
            "    \"Rules\": \"\",\n"
            "    \"Datacenters\": null,\n"
            "    \"Hash\": null,\n"
            "    \"CreateIndex\": 0,\n"
            "    \"ModifyIndex\": 0\n"
            "}");
}

TEST(AclFormatTest, RolePrettyAndList) {
  EXPECT_EQ(FormatRole(Parse(kRoleJson), AclFormat::kPretty, false),
            "ID:           57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5\n"
            "Name:         db-updater\n"
            "Description:  updates db\n"
            "Policies:\n"
            "   165d4317-e379-f732-ce70-86278c4558f7 - web-pol\n"
            "Service Identities:\n"
            "   db (Datacenters: all)\n"
            "Node Identities:\n"
            "   n1 (Datacenter: dc1)\n");
  EXPECT_EQ(FormatRoleList(Json::array({Parse(kRoleJson)}), AclFormat::kPretty, true),
            "db-updater:\n"
            "   ID:           57147d87-6bf7-f2de-0e50-9f8a6bb5a7a5\n"
            "   Description:  updates db\n"
            "   Hash:         deadbeef\n"
            "   Create Index: 8\n"
            "   Modify Index: 9\n"
            "   Policies:\n"
            "      165d4317-e379-f732-ce70-86278c4558f7 - web-pol\n"
            "   Service Identities:\n"
            "      db (Datacenters: all)\n"
            "   Node Identities:\n"
            "      n1 (Datacenter: dc1)\n");
  std::string json = FormatRole(Parse(kRoleJson), AclFormat::kJson, false);
  EXPECT_LT(json.find("\"Description\""), json.find("\"Policies\""));
  EXPECT_LT(json.find("\"NodeIdentities\""), json.find("\"Hash\""));
  EXPECT_NE(json.find("\"NodeName\": \"n1\",\n            \"Datacenter\": \"dc1\""),
            std::string::npos)
      << json;
}

TEST(AclFormatTest, ExpandedTokenShowsEachPolicysRules) {
  Json t = Parse(kTokenJson);
  t["Roles"] = Json::array();
  t["ServiceIdentities"] = Json::array();
  t["NodeIdentities"] = Json::array();
  t.erase("ExpirationTime");
  t["ExpandedPolicies"] = Json::array({Parse(kPolicyJson)});
  t["AgentACLDefaultPolicy"] = "deny";
  t["AgentACLDownPolicy"] = "extend-cache";
  t["ResolvedByAgent"] = "server-1";
  std::string out = FormatTokenExpanded(t, AclFormat::kPretty, false);
  EXPECT_NE(out.find("Policies:\n"
                     "\tPolicy Name: web-pol\n"
                     "\t\tID: 165d4317-e379-f732-ce70-86278c4558f7\n"
                     "\t\tDescription: for web\n"
                     "\t\tRules:\n"
                     "\t\t\tservice \"web\" { policy = \"write\" }\n\n"
                     "=== End of Authorizer Layer 0: Token ===\n"
                     "=== Start of Authorizer Layer 2: Agent Configuration Defaults (Inherited) "
                     "===\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Resolved By Agent: \"server-1\"\n\nDefault Policy: deny\n"),
            std::string::npos);
  EXPECT_NE(out.find("Down Policy: extend-cache\n"), std::string::npos);
}

TEST(AclFormatTest, UnknownFormat) {
  EXPECT_TRUE(ParseAclFormat("json").ok());
  auto bad = ParseAclFormat("yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "Unknown format: yaml");
}

// ---------------------------------------------------------------------------------------------
// Flag values

TEST(AclFlagsTest, ServiceIdentities) {
  auto ids = ParseServiceIdentities({"web:dc1,dc2", "api"});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, Json::parse(R"([{"ServiceName":"web","Datacenters":["dc1","dc2"]},
                                  {"ServiceName":"api"}])"));
  auto bad = ParseServiceIdentities({"web:dc1:dc2"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "Malformed -service-identity argument: \"web:dc1:dc2\"");
}

TEST(AclFlagsTest, NodeIdentities) {
  auto ids = ParseNodeIdentities({"n1:dc1"});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, Json::parse(R"([{"NodeName":"n1","Datacenter":"dc1"}])"));
  for (const char* v : {"n1", "n1:dc1:x"}) {
    auto bad = ParseNodeIdentities({v});
    ASSERT_FALSE(bad.ok()) << v;
    EXPECT_EQ(bad.status().message(),
              std::string("Malformed -node-identity argument: \"") + v + "\"");
  }
}

TEST(AclFlagsTest, LoadDataSource) {
  TempFile rules("acl_test_rules.hcl", "key_prefix \"\" { policy = \"read\" }\n");
  std::istringstream in("from stdin");
  EXPECT_EQ(*LoadDataSource("@" + rules.path, in), "key_prefix \"\" { policy = \"read\" }\n");
  EXPECT_EQ(*LoadDataSource("-", in), "from stdin");
  EXPECT_EQ(*LoadDataSource("raw value", in), "raw value");
  EXPECT_EQ(*LoadDataSource("-x", in), "-x");
  EXPECT_EQ(*LoadDataSource("", in), "");
  auto missing = LoadDataSource("@/nonexistent/rules.hcl", in);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "Failed to read file: open /nonexistent/rules.hcl: no such file or directory");
}

}  // namespace
}  // namespace gangway::cli
