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
  // A list entry as /v1/acl/policies serves it: no Rules (and here no Datacenters either).
  Json entry = Parse(kPolicyJson);
  entry.erase("Rules");
  entry.erase("Datacenters");
  Json list =
      Json::array({entry, Json{{"ID", "00000000-0000-0000-0000-000000000001"},
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

// ---------------------------------------------------------------------------------------------
// Commands against a canned agent

TEST(AclCommandTest, BootstrapPrintsTheTokenAndFailsTheSecondTime) {
  Harness h;
  h.agent.On("PUT /v1/acl/bootstrap", 200, kBootstrapJson);
  ASSERT_EQ(h.Run({"acl", "bootstrap"}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(),
            "AccessorID:       6a1253d2-1785-24fd-91c2-f8e78c745511\n"
            "SecretID:         45a3bd52-07c7-47a4-52fd-0745e0cfe967\n"
            "Description:      Bootstrap Token (Global Management)\n"
            "Local:            false\n"
            "Create Time:      2021-10-29 09:46:41.667765951 +0000 UTC\n"
            "Policies:\n"
            "   00000000-0000-0000-0000-000000000001 - global-management\n"
            "\n");
  EXPECT_EQ(h.agent.requests.at(0).body, "");

  Harness again;
  again.agent.On("PUT /v1/acl/bootstrap", 403,
                 "Permission denied: ACL bootstrap no longer allowed (reset index: 13)");
  EXPECT_EQ(again.Run({"acl", "bootstrap"}), 1);
  EXPECT_EQ(again.err.str(),
            "Failed ACL bootstrapping: Unexpected response code: 403 (Permission denied: ACL "
            "bootstrap no longer allowed (reset index: 13))\n");
  EXPECT_EQ(again.out.str(), "");
}

TEST(AclCommandTest, BootstrapWithAChosenSecretFromStdin) {
  Harness h;
  h.agent.On("PUT /v1/acl/bootstrap", 200, kBootstrapJson);
  h.in.str(std::string(kSecret) + "\n");
  ASSERT_EQ(h.Run({"acl", "bootstrap", "-format=json", "-"}), 0) << h.err.str();
  EXPECT_EQ(Json::parse(h.agent.requests.at(0).body), (Json{{"BootstrapSecret", kSecret}}));
  EXPECT_EQ(Json::parse(h.out.str()).at("AccessorID"), kAccessor);
}

TEST(AclCommandTest, PolicyCreateFromARulesFile) {
  TempFile rules("acl_test_web.hcl", "service \"web\" { policy = \"write\" }\n");
  Harness h;
  h.agent.On("PUT /v1/acl/policy", 200, kPolicyJson);
  ASSERT_EQ(
      h.Run({"acl", "policy", "create", "-name", "web-pol", "-description", "for web",
             "-valid-datacenter", "dc1", "-valid-datacenter", "dc2", "-rules", "@" + rules.path}),
      0)
      << h.err.str();
  // The body is the Go client's api.ACLPolicy, zero values and all.
  EXPECT_EQ(h.agent.requests.at(0).body,
            R"({"ID":"","Name":"web-pol","Description":"for web","Rules":"service \"web\" { )"
            R"(policy = \"write\" }\n","Datacenters":["dc1","dc2"],"Hash":null,"CreateIndex":0,)"
            R"("ModifyIndex":0})");
  EXPECT_EQ(h.out.str(), FormatPolicy(Parse(kPolicyJson), AclFormat::kPretty, false) + "\n");
}

TEST(AclCommandTest, PolicyCreateErrors) {
  Harness no_name;
  EXPECT_EQ(no_name.Run({"acl", "policy", "create", "-rules", "x"}), 1);
  EXPECT_EQ(no_name.err.str().rfind("Missing require '-name' flag\nUsage: gangway acl policy "
                                    "create",
                                    0),
            0u)
      << no_name.err.str();
  EXPECT_TRUE(no_name.agent.requests.empty());

  Harness no_file;
  EXPECT_EQ(no_file.Run({"acl", "policy", "create", "-name", "p", "-rules", "@/nonexistent/r"}), 1);
  EXPECT_EQ(no_file.err.str(),
            "Error loading rules: Failed to read file: open /nonexistent/r: no such file or "
            "directory\n");

  Harness denied;
  denied.vars["CONSUL_HTTP_TOKEN"] = "weak";
  denied.agent.On("PUT /v1/acl/policy", 403,
                  "Permission denied: token with AccessorID 'x' lacks permission 'acl:write'");
  EXPECT_EQ(denied.Run({"acl", "policy", "create", "-name", "p", "-rules", "-"}), 1);
  EXPECT_EQ(denied.err.str(),
            "Failed to create new policy: Unexpected response code: 403 (Permission denied: "
            "token with AccessorID 'x' lacks permission 'acl:write')\n");
  EXPECT_EQ(denied.Header(0, "X-Consul-Token"), "weak");

  Harness garbled;
  garbled.agent.On("PUT /v1/acl/policy", 200, "true");
  EXPECT_EQ(garbled.Run({"acl", "policy", "create", "-name", "p"}), 1);
  EXPECT_EQ(garbled.err.str(),
            "Error decoding the agent's answer, which is not a JSON object: true\n");
  EXPECT_EQ(garbled.out.str(), "");
}

TEST(AclCommandTest, PolicyReadListDelete) {
  Harness by_name;
  by_name.agent.On("GET /v1/acl/policy/name/web-pol", 200, kPolicyJson);
  ASSERT_EQ(by_name.Run({"acl", "policy", "read", "-name", "web-pol", "-format", "json"}), 0);
  EXPECT_EQ(Json::parse(by_name.out.str()), Parse(kPolicyJson));
  EXPECT_EQ(by_name.agent.requests.size(), 1u);

  // A prefix is completed from the list; an ambiguous one is refused.
  const std::string list = R"([{"ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":"web-pol"},
                               {"ID":"16aa0000-0000-0000-0000-000000000000","Name":"other"}])";
  Harness by_prefix;
  by_prefix.agent.On("GET /v1/acl/policies", 200, list);
  by_prefix.agent.On(std::string("GET /v1/acl/policy/") + kPolicyID, 200, kPolicyJson);
  ASSERT_EQ(by_prefix.Run({"acl", "policy", "read", "-id", "165d"}), 0) << by_prefix.err.str();
  EXPECT_EQ(by_prefix.out.str().rfind("ID:           165d4317", 0), 0u);
  Harness ambiguous;
  ambiguous.agent.On("GET /v1/acl/policies", 200, list);
  EXPECT_EQ(ambiguous.Run({"acl", "policy", "read", "-id", "16"}), 1);
  EXPECT_EQ(ambiguous.err.str(), "Error determining policy ID: Partial policy ID is not unique\n");
  Harness neither;
  EXPECT_EQ(neither.Run({"acl", "policy", "read"}), 1);
  EXPECT_EQ(neither.err.str(), "Must specify either the -id or -name parameters\n");

  Harness ls;
  ls.agent.On("GET /v1/acl/policies", 200, list);
  ASSERT_EQ(ls.Run({"acl", "policy", "list"}), 0);
  EXPECT_EQ(ls.out.str(), FormatPolicyList(Json::parse(list), AclFormat::kPretty, false) + "\n");

  Harness del;
  del.agent.On("GET /v1/acl/policy/name/web-pol", 200, kPolicyJson);
  del.agent.On(std::string("DELETE /v1/acl/policy/") + kPolicyID, 200, "true");
  ASSERT_EQ(del.Run({"acl", "policy", "delete", "-name", "web-pol"}), 0) << del.err.str();
  EXPECT_EQ(del.out.str(),
            "Policy \"165d4317-e379-f732-ce70-86278c4558f7\" deleted successfully\n");
  Harness builtin;
  builtin.agent.On("DELETE /v1/acl/policy/00000000-0000-0000-0000-000000000001", 403,
                   "Permission denied: Delete operation not permitted on the builtin "
                   "global-management policy");
  EXPECT_EQ(builtin.Run({"acl", "policy", "delete", "-id", "global-management"}), 1);
  EXPECT_EQ(builtin.err.str(),
            "Error deleting policy \"00000000-0000-0000-0000-000000000001\": Unexpected "
            "response code: 403 (Permission denied: Delete operation not permitted on the "
            "builtin global-management policy)\n");
}

TEST(AclCommandTest, PolicyUpdateMergesUnlessToldNotTo) {
  const std::string path = std::string("/v1/acl/policy/") + kPolicyID;
  Harness merge;
  merge.agent.On("GET " + path, 200, kPolicyJson);
  merge.agent.On("PUT " + path, 200, kPolicyJson);
  ASSERT_EQ(merge.Run({"acl", "policy", "update", "-id", kPolicyID, "-description", "new"}), 0)
      << merge.err.str();
  Json sent = Json::parse(merge.agent.requests.at(1).body);
  EXPECT_EQ(sent["Description"], "new");
  EXPECT_EQ(sent["Rules"], Parse(kPolicyJson)["Rules"]);
  EXPECT_EQ(sent["Datacenters"], Json::array({"dc1", "dc2"}));

  Harness replace;
  replace.agent.On("PUT " + path, 200, kPolicyJson);
  ASSERT_EQ(replace.Run({"acl", "policy", "update", "-no-merge", "-id", kPolicyID, "-name", "n",
                         "-rules", "acl = \"read\""}),
            0)
      << replace.err.str();
  ASSERT_EQ(replace.agent.requests.size(), 1u);
  sent = Json::parse(replace.agent.requests.at(0).body);
  EXPECT_EQ(sent["Description"], "");
  EXPECT_EQ(sent["Rules"], "acl = \"read\"");
  EXPECT_TRUE(sent["Datacenters"].is_null());
}

TEST(AclCommandTest, TokenCreateSendsEveryFlag) {
  Harness h;
  h.agent.On("PUT /v1/acl/token", 200, kTokenJson);
  ASSERT_EQ(h.Run({"acl",          "token",
                   "create",       "-description",
                   "web token",    "-policy-name",
                   "web-pol",      "-policy-id",
                   kPolicyID,      "-role-name",
                   "db-updater",   "-service-identity",
                   "web:dc1,dc2",  "-service-identity",
                   "api",          "-node-identity",
                   "node-1:dc1",   "-local",
                   "-expires-ttl", "1h",
                   "-accessor",    kAccessor,
                   "-secret",      kSecret}),
            0)
      << h.err.str();
  ASSERT_EQ(h.agent.requests.size(), 1u);  // full-length IDs are not looked up
  Json sent = Json::parse(h.agent.requests[0].body);
  EXPECT_EQ(sent["AccessorID"], kAccessor);
  EXPECT_EQ(sent["SecretID"], kSecret);
  EXPECT_EQ(sent["Local"], true);
  EXPECT_EQ(sent["ExpirationTTL"], 3600000000000LL);
  EXPECT_EQ(sent["Policies"], Json::parse(R"([{"ID":"","Name":"web-pol"},
      {"ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":""}])"));
  EXPECT_EQ(sent["Roles"], Json::parse(R"([{"ID":"","Name":"db-updater"}])"));
  EXPECT_EQ(sent["ServiceIdentities"], Json::parse(R"([{"ServiceName":"web",
      "Datacenters":["dc1","dc2"]},{"ServiceName":"api"}])"));
  EXPECT_EQ(sent["NodeIdentities"], Json::parse(R"([{"NodeName":"node-1","Datacenter":"dc1"}])"));
  EXPECT_EQ(h.out.str(), FormatToken(Parse(kTokenJson), AclFormat::kPretty, false) + "\n");
}

TEST(AclCommandTest, TokenCreateRefusesBadInputBeforeCallingTheAgent) {
  const std::pair<Args, std::string> cases[] = {
      {{"acl", "token", "create", "-description", "x"},
       "Cannot create a token without specifying -policy-name, -policy-id, -role-name, "
       "-role-id, -service-identity, or -node-identity at least once\n"},
      {{"acl", "token", "create", "-node-identity", "n1"},
       "Malformed -node-identity argument: \"n1\"\n"},
      {{"acl", "token", "create", "-service-identity", "a:b:c"},
       "Malformed -service-identity argument: \"a:b:c\"\n"},
      {{"acl", "token", "create", "-policy-name", "p", "-format", "yaml"},
       "Unknown format: yaml\n"},
  };
  for (const auto& [args, message] : cases) {
    Harness h;
    EXPECT_EQ(h.Run(args), 1);
    EXPECT_EQ(h.err.str(), message);
    EXPECT_TRUE(h.agent.requests.empty());
  }
  Harness ttl;
  EXPECT_EQ(ttl.Run({"acl", "token", "create", "-policy-name", "p", "-expires-ttl", "soon"}), 1);
  EXPECT_NE(ttl.err.str().find("invalid value \"soon\" for flag -expires-ttl"), std::string::npos)
      << ttl.err.str();
}

TEST(AclCommandTest, TokenReadSelfExpandedAndByPrefix) {
  Harness self;
  self.vars["CONSUL_HTTP_TOKEN"] = kSecret;
  self.agent.On("GET /v1/acl/token/self", 200, kTokenJson);
  ASSERT_EQ(self.Run({"acl", "token", "read", "-self"}), 0) << self.err.str();
  EXPECT_EQ(self.Header(0, "X-Consul-Token"), kSecret);

  Harness expanded;
  expanded.agent.On(std::string("GET /v1/acl/token/") + kAccessor + "?expanded", 200, kTokenJson);
  ASSERT_EQ(expanded.Run({"acl", "token", "read", "-accessor-id", kAccessor, "-expanded"}), 0)
      << expanded.err.str();
  EXPECT_NE(expanded.out.str().find("=== End of Authorizer Layer 0: Token ===\n"),
            std::string::npos);

  Harness prefix;
  prefix.agent.On("GET /v1/acl/tokens", 200,
                  std::string(R"([{"AccessorID":")") + kAccessor + R"("}])");
  prefix.agent.On(std::string("GET /v1/acl/token/") + kAccessor, 200, kTokenJson);
  ASSERT_EQ(prefix.Run({"acl", "token", "read", "-id", "6a12"}), 0) << prefix.err.str();
  EXPECT_EQ(prefix.err.str(), "Use the -accessor-id parameter to specify token by Accessor ID\n");

  Harness none;
  none.agent.On("GET /v1/acl/tokens", 200, "[]");
  EXPECT_EQ(none.Run({"acl", "token", "read", "-accessor-id", "ffff"}), 1);
  EXPECT_EQ(none.err.str(), "Error determining token ID: No such token ID with prefix: ffff\n");

  Harness both;
  EXPECT_EQ(both.Run({"acl", "token", "read", "-self", "-expanded"}), 1);
  Harness missing;
  EXPECT_EQ(missing.Run({"acl", "token", "read"}), 1);
  EXPECT_EQ(missing.err.str(), "Must specify the -accessor-id parameter\n");

  Harness gone;
  gone.agent.On(std::string("GET /v1/acl/token/") + kAccessor, 404,
                "Requested token does not exist: ACL not found");
  EXPECT_EQ(gone.Run({"acl", "token", "read", "-accessor-id", kAccessor}), 1);
  EXPECT_EQ(gone.err.str(), std::string("Error reading token \"") + kAccessor +
                                "\": Unexpected response code: 404 (Requested token does not "
                                "exist: ACL not found)\n");
}

TEST(AclCommandTest, TokenUpdateReplacesOrAppends) {
  const std::string path = std::string("/v1/acl/token/") + kAccessor;
  auto run = [&](const Args& extra) {
    Harness h;
    h.agent.On("GET " + path, 200, kTokenJson);
    h.agent.On("PUT " + path, 200, kTokenJson);
    Args args = {"acl", "token", "update", "-accessor-id", kAccessor};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(h.Run(args), 0) << h.err.str();
    return Json::parse(h.agent.requests.at(1).body);
  };
  // -policy-name replaces the policies; what no flag names is kept.
  Json sent = run({"-policy-name", "other"});
  EXPECT_EQ(sent["Policies"], Json::parse(R"([{"ID":"","Name":"other"}])"));
  EXPECT_EQ(sent["Roles"], Parse(kTokenJson)["Roles"]);
  EXPECT_EQ(sent["ServiceIdentities"], Parse(kTokenJson)["ServiceIdentities"]);
  EXPECT_EQ(sent["Description"], "web token");
  EXPECT_EQ(sent["SecretID"], kSecret);
  // -append-policy-name adds.
  sent = run({"-append-policy-name", "other", "-description", "new"});
  EXPECT_EQ(sent["Policies"].size(), 2u);
  EXPECT_EQ(sent["Policies"][1], Json::parse(R"({"ID":"","Name":"other"})"));
  EXPECT_EQ(sent["Description"], "new");
  // -append-service-identity replaces a service's datacenters, adds a new service.
  sent = run({"-append-service-identity", "web:dc3", "-append-service-identity", "db"});
  EXPECT_EQ(sent["ServiceIdentities"], Json::parse(R"([{"ServiceName":"web",
      "Datacenters":["dc3"]},{"ServiceName":"api"},{"ServiceName":"db"}])"));
  // -node-identity replaces.
  sent = run({"-node-identity", "n9:dc2"});
  EXPECT_EQ(sent["NodeIdentities"], Json::parse(R"([{"NodeName":"n9","Datacenter":"dc2"}])"));

  Harness mixed;
  EXPECT_EQ(mixed.Run({"acl", "token", "update", "-accessor-id", kAccessor, "-policy-name", "a",
                       "-append-policy-name", "b"}),
            1);
  EXPECT_EQ(mixed.err.str().rfind("Cannot combine the use of policy-id/policy-name flags", 0), 0u);
  EXPECT_TRUE(mixed.agent.requests.empty());
  Harness no_id;
  EXPECT_EQ(no_id.Run({"acl", "token", "update", "-description", "x"}), 1);
  EXPECT_EQ(no_id.err.str(),
            "Cannot update a token without specifying the -accessor-id parameter\n");
}

TEST(AclCommandTest, TokenCloneAndDelete) {
  Harness clone;
  clone.agent.On(std::string("PUT /v1/acl/token/") + kAccessor + "/clone", 200, kTokenJson);
  ASSERT_EQ(clone.Run({"acl", "token", "clone", "-accessor-id", kAccessor, "-description", "c"}), 0)
      << clone.err.str();
  EXPECT_EQ(clone.agent.requests.at(0).body, R"({"Description":"c"})");

  Harness del;
  del.agent.On(std::string("DELETE /v1/acl/token/") + kAccessor, 200, "true");
  ASSERT_EQ(del.Run({"acl", "token", "delete", "-accessor-id", kAccessor}), 0);
  EXPECT_EQ(del.out.str(), std::string("Token \"") + kAccessor + "\" deleted successfully\n");

  Harness anon;
  anon.agent.On("DELETE /v1/acl/token/00000000-0000-0000-0000-000000000002", 500,
                "Delete operation not permitted on the anonymous token");
  EXPECT_EQ(anon.Run({"acl", "token", "delete", "-accessor-id", "anonymous"}), 1);
  EXPECT_EQ(anon.err.str(),
            "Error deleting token \"00000000-0000-0000-0000-000000000002\": Unexpected response "
            "code: 500 (Delete operation not permitted on the anonymous token)\n");
}

TEST(AclCommandTest, TokenListPrettyAndJson) {
  const std::string list = std::string("[") + kTokenJson + "]";
  Harness pretty;
  pretty.agent.On("GET /v1/acl/tokens", 200, list);
  ASSERT_EQ(pretty.Run({"acl", "token", "list"}), 0);
  EXPECT_EQ(pretty.out.str(), FormatToken(Parse(kTokenJson), AclFormat::kPretty, false) + "\n");
  Harness json;
  json.agent.On("GET /v1/acl/tokens", 200, list);
  ASSERT_EQ(json.Run({"acl", "token", "list", "-format=json"}), 0);
  Json out = Json::parse(json.out.str());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["Hash"], "3q2+7w==");
  Harness failed;
  failed.agent.refuse = true;
  EXPECT_EQ(failed.Run({"acl", "token", "list"}), 1);
  EXPECT_EQ(failed.err.str().rfind("Failed to retrieve the token list: Get \"http://127.0.0.1:"
                                   "8500/v1/acl/tokens\": dial tcp",
                                   0),
            0u)
      << failed.err.str();
}

TEST(AclCommandTest, RoleCreateReadUpdateDelete) {
  Harness create;
  create.agent.On("PUT /v1/acl/role", 200, kRoleJson);
  ASSERT_EQ(create.Run({"acl", "role", "create", "-name", "db-updater", "-policy-name", "web-pol",
                        "-service-identity", "db", "-node-identity", "n1:dc1"}),
            0)
      << create.err.str();
  EXPECT_EQ(create.agent.requests.at(0).body,
            R"({"ID":"","Name":"db-updater","Description":"","Policies":[{"ID":"","Name":)"
            R"("web-pol"}],"ServiceIdentities":[{"ServiceName":"db"}],"NodeIdentities":)"
            R"([{"NodeName":"n1","Datacenter":"dc1"}],"Hash":null,"CreateIndex":0,)"
            R"("ModifyIndex":0})");
  EXPECT_EQ(create.out.str(), FormatRole(Parse(kRoleJson), AclFormat::kPretty, false) + "\n");

  Harness no_links;
  EXPECT_EQ(no_links.Run({"acl", "role", "create", "-name", "r"}), 1);
  EXPECT_EQ(no_links.err.str(),
            "Cannot create a role without specifying -policy-name, -policy-id, "
            "-service-identity, or -node-identity at least once\n");
  Harness no_name;
  EXPECT_EQ(no_name.Run({"acl", "role", "create", "-policy-name", "p"}), 1);
  EXPECT_EQ(no_name.err.str(), "Missing required '-name' flag\n");

  Harness read;
  read.agent.On("GET /v1/acl/role/name/db-updater", 200, kRoleJson);
  ASSERT_EQ(read.Run({"acl", "role", "read", "-name", "db-updater", "-meta"}), 0);
  EXPECT_NE(read.out.str().find("Hash:         deadbeef\n"), std::string::npos);

  // Update merges by default: a new policy is added, an existing service identity replaced.
  const std::string path = std::string("/v1/acl/role/") + kRoleID;
  Harness update;
  update.agent.On("GET " + path, 200, kRoleJson);
  update.agent.On("PUT " + path, 200, kRoleJson);
  ASSERT_EQ(update.Run({"acl", "role", "update", "-id", kRoleID, "-policy-name", "extra",
                        "-service-identity", "db:dc2"}),
            0)
      << update.err.str();
  Json sent = Json::parse(update.agent.requests.at(1).body);
  EXPECT_EQ(sent["Policies"].size(), 2u);
  EXPECT_EQ(sent["ServiceIdentities"],
            Json::parse(R"([{"ServiceName":"db","Datacenters":["dc2"]}])"));
  EXPECT_EQ(sent["Name"], "db-updater");

  Harness del;
  del.agent.On("GET /v1/acl/roles", 200, std::string("[") + kRoleJson + "]");
  del.agent.On("DELETE " + path, 200, "true");
  ASSERT_EQ(del.Run({"acl", "role", "delete", "-name", "db-updater"}), 0) << del.err.str();
  EXPECT_EQ(del.out.str(), std::string("Role \"") + kRoleID + "\" deleted successfully\n");
  Harness unknown;
  unknown.agent.On("GET /v1/acl/roles", 200, "[]");
  EXPECT_EQ(unknown.Run({"acl", "role", "delete", "-name", "nope"}), 1);
  EXPECT_EQ(unknown.err.str(), "Error determining role ID: No such role with name nope\n");
}

TEST(AclCommandTest, SetAgentToken) {
  Harness h;
  h.agent.On("PUT /v1/agent/token/agent_recovery", 200, "");
  ASSERT_EQ(h.Run({"acl", "set-agent-token", "recovery", "s3cret"}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(), "ACL token \"recovery\" set successfully\n");
  EXPECT_EQ(Json::parse(h.agent.requests.at(0).body), (Json{{"Token", "s3cret"}}));

  Harness stdin_token;
  stdin_token.in.str("from-stdin");
  stdin_token.agent.On("PUT /v1/agent/token/default", 200, "");
  ASSERT_EQ(stdin_token.Run({"acl", "set-agent-token", "default", "-"}), 0);
  EXPECT_EQ(Json::parse(stdin_token.agent.requests.at(0).body), (Json{{"Token", "from-stdin"}}));

  const std::pair<Args, std::string> cases[] = {
      {{"acl", "set-agent-token"}, "Error! Missing TYPE and TOKEN arguments\n"},
      {{"acl", "set-agent-token", "agent"}, "Error! Missing TOKEN argument\n"},
      {{"acl", "set-agent-token", "x"}, "Error! MISSING TYPE argument\n"},
      {{"acl", "set-agent-token", "x", "t"}, "Unknown token type\n"},
      {{"acl", "set-agent-token", "a", "b", "c"}, "Error! Too many arguments: expected 2 got 3\n"},
  };
  for (const auto& [args, message] : cases) {
    Harness bad;
    EXPECT_EQ(bad.Run(args), 1);
    EXPECT_EQ(bad.err.str(), message);
    EXPECT_TRUE(bad.agent.requests.empty());
  }

  Harness denied;
  denied.agent.On("PUT /v1/agent/token/agent", 403, "Permission denied");
  EXPECT_EQ(denied.Run({"acl", "set-agent-token", "agent", "t"}), 1);
  EXPECT_EQ(denied.err.str(),
            "Failed to set ACL token \"agent\": Unexpected response code: 403 (Permission "
            "denied)\n");
}

TEST(AclCommandTest, HelpListsSubcommands) {
  Harness top;
  EXPECT_EQ(top.Run({"acl"}), 1);
  EXPECT_NE(top.err.str().find("Usage: gangway acl <subcommand>"), std::string::npos);
  for (const char* sub : {"bootstrap", "policy", "role", "set-agent-token", "token"}) {
    EXPECT_NE(top.err.str().find(std::string("    ") + sub), std::string::npos) << sub;
  }
  Harness token;
  EXPECT_EQ(token.Run({"acl", "token", "-h"}), 0);
  for (const char* sub : {"clone", "create", "delete", "list", "read", "update"}) {
    EXPECT_NE(token.out.str().find(std::string("    ") + sub), std::string::npos) << sub;
  }
  Harness create;
  EXPECT_EQ(create.Run({"acl", "token", "create", "-h"}), 0);
  EXPECT_NE(create.out.str().find("  -service-identity=<string>\n"), std::string::npos);
  EXPECT_NE(create.out.str().find("  -token=<value>\n"), std::string::npos);
  Harness top_help;
  EXPECT_EQ(top_help.Run({"-h"}), 0);
  EXPECT_NE(top_help.out.str().find("    acl "), std::string::npos);
}

}  // namespace
}  // namespace gangway::cli
