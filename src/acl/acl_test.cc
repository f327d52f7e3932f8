#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "acl/authorizer.h"
#include "acl/builtin.h"
#include "acl/config.h"
#include "acl/rules.h"

namespace gangway::acl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Rule R(Resource r, std::string name, bool prefix, Access a, Access intentions = Access::kDefault) {
  Rule rule;
  rule.resource = r;
  rule.name = std::move(name);
  rule.prefix = prefix;
  rule.access = a;
  rule.intentions = intentions;
  return rule;
}

Rule Bare(Resource r, Access a) { return R(r, "", false, a); }

Rules MustParse(std::string_view text) {
  auto r = ParseRules(text);
  EXPECT_TRUE(r.ok()) << r.status().message() << "\nin:\n" << text;
  return r.ok() ? *r : Rules{};
}

std::string ParseError(std::string_view text) {
  auto r = ParseRules(text);
  EXPECT_FALSE(r.ok()) << "parsed:\n" << text;
  return r.ok() ? std::string() : r.status().message();
}

AuthorizerPtr BuildFrom(const std::vector<std::string>& texts, bool default_allow) {
  std::vector<Rules> policies;
  for (const auto& t : texts) policies.push_back(MustParse(t));
  return Authorizer::Build(policies, default_allow);
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(AclNames, ResourceLevelAccessNames) {
  EXPECT_STREQ(ResourceName(Resource::kAcl), "acl");
  EXPECT_STREQ(ResourceName(Resource::kIntention), "intention");
  EXPECT_STREQ(ResourceName(Resource::kKeyring), "keyring");
  EXPECT_STREQ(ResourceName(Resource::kSession), "session");
  EXPECT_STREQ(LevelName(Level::kList), "list");
  EXPECT_STREQ(AccessName(Access::kDefault), "");
  EXPECT_STREQ(AccessName(Access::kDeny), "deny");
  EXPECT_TRUE(IsNamed(Resource::kIntention));
  EXPECT_TRUE(IsNamed(Resource::kKey));
  EXPECT_FALSE(IsNamed(Resource::kMesh));
  EXPECT_FALSE(IsNamed(Resource::kPeering));
  EXPECT_STREQ(DownPolicyName(DownPolicy::kExtendCache), "extend-cache");
  EXPECT_STREQ(DownPolicyName(DownPolicy::kAsyncCache), "async-cache");
  EXPECT_STREQ(DownPolicyName(DownPolicy::kAllow), "allow");
  EXPECT_STREQ(DownPolicyName(DownPolicy::kDeny), "deny");
}

// ---------------------------------------------------------------------------------------------
// Parsing

constexpr const char* kEveryKindHcl = R"(# every kind of rule
acl = "read"
agent "n1" { policy = "read" }
agent_prefix "" { policy = "deny" }
event "deploy" { policy = "write" }
event_prefix "" { policy = "read" }
key "app/secret" { policy = "deny" }
key_prefix "app/" { policy = "list" }
keyring = "write"
mesh = "read"
node "n1" { policy = "write" }
node_prefix "" { policy = "read" }
operator = "deny"
peering = "write"
query "q" { policy = "write" }
query_prefix "" { policy = "read" }
service "web" {
  policy = "write"
  intentions = "write"
}
service_prefix "" { policy = "read" }
session "n1" { policy = "write" }
session_prefix "" { policy = "deny" }
)";

std::vector<Rule> EveryKindRules() {
  return {
      Bare(Resource::kAcl, Access::kRead),
      R(Resource::kAgent, "n1", false, Access::kRead),
      R(Resource::kAgent, "", true, Access::kDeny),
      R(Resource::kEvent, "deploy", false, Access::kWrite),
      R(Resource::kEvent, "", true, Access::kRead),
      R(Resource::kKey, "app/secret", false, Access::kDeny),
      R(Resource::kKey, "app/", true, Access::kList),
      Bare(Resource::kKeyring, Access::kWrite),
      Bare(Resource::kMesh, Access::kRead),
      R(Resource::kNode, "n1", false, Access::kWrite),
      R(Resource::kNode, "", true, Access::kRead),
      Bare(Resource::kOperator, Access::kDeny),
      Bare(Resource::kPeering, Access::kWrite),
      R(Resource::kQuery, "q", false, Access::kWrite),
      R(Resource::kQuery, "", true, Access::kRead),
      R(Resource::kService, "web", false, Access::kWrite, Access::kWrite),
      R(Resource::kService, "", true, Access::kRead),
      R(Resource::kSession, "n1", false, Access::kWrite),
      R(Resource::kSession, "", true, Access::kDeny),
  };
}

TEST(AclParse, EveryKindHclInWrittenOrder) {
  Rules rules = MustParse(kEveryKindHcl);
  EXPECT_EQ(rules.rules, EveryKindRules());
}

TEST(AclParse, EveryKindJson) {
  Rules rules = MustParse(R"({
    "acl": "read",
    "agent": {"n1": {"policy": "read"}},
    "agent_prefix": {"": {"policy": "deny"}},
    "event": {"deploy": {"policy": "write"}},
    "event_prefix": {"": {"policy": "read"}},
    "key": {"app/secret": {"policy": "deny"}},
    "key_prefix": {"app/": {"policy": "list"}},
    "keyring": "write",
    "mesh": "read",
    "node": {"n1": {"policy": "write"}},
    "node_prefix": {"": {"policy": "read"}},
    "operator": "deny",
    "peering": "write",
    "query": {"q": {"policy": "write"}},
    "query_prefix": {"": {"policy": "read"}},
    "service": {"web": {"policy": "write", "intentions": "write"}},
    "service_prefix": {"": {"policy": "read"}},
    "session": {"n1": {"policy": "write"}},
    "session_prefix": {"": {"policy": "deny"}}
  })");
  EXPECT_EQ(rules.rules, EveryKindRules());
}

TEST(AclParse, JsonKeepsWrittenOrderNotKeyOrder) {
  Rules rules = MustParse(R"({
    "service_prefix": {"": {"policy": "read"}},
    "acl": "write"
  })");
  ASSERT_EQ(rules.rules.size(), 2u);
  EXPECT_EQ(rules.rules[0].resource, Resource::kService);
  EXPECT_EQ(rules.rules[1].resource, Resource::kAcl);
}

TEST(AclParse, JsonListForms) {
  Rules rules = MustParse(R"({
    "key_prefix": [{"a/": {"policy": "read"}}, {"b/": {"policy": "write"}}],
    "key": {"k": [{"policy": "read"}, {"policy": "deny"}]}
  })");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{R(Resource::kKey, "a/", true, Access::kRead),
                                            R(Resource::kKey, "b/", true, Access::kWrite),
                                            R(Resource::kKey, "k", false, Access::kRead),
                                            R(Resource::kKey, "k", false, Access::kDeny)}));
}

TEST(AclParse, SeveralBlocksPerKindSameAndDifferentLabels) {
  Rules rules = MustParse(R"(
key_prefix "a/" { policy = "read" }
key_prefix "b/" { policy = "write" }
key_prefix "a/" { policy = "deny" }
key_prefix "a/" {
  policy = "list"
}
)");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{R(Resource::kKey, "a/", true, Access::kRead),
                                            R(Resource::kKey, "b/", true, Access::kWrite),
                                            R(Resource::kKey, "a/", true, Access::kDeny),
                                            R(Resource::kKey, "a/", true, Access::kList)}));
}

TEST(AclParse, CommentsAndEmptyText) {
  EXPECT_TRUE(MustParse("").rules.empty());
  EXPECT_TRUE(MustParse("  \n\t\n").rules.empty());
  EXPECT_TRUE(MustParse("# only a comment\n// another\n/* and\n a block */\n").rules.empty());
  EXPECT_TRUE(MustParse("{}").rules.empty());
  Rules rules = MustParse(R"(
# operators may read
operator = "read" // trailing comment
/* keys */ key_prefix "" { policy = "read" } # after
)");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{Bare(Resource::kOperator, Access::kRead),
                                            R(Resource::kKey, "", true, Access::kRead)}));
}

TEST(AclParse, NamesIgnoreCaseAsConsulsDecoder) {
  Rules rules = MustParse("Key_Prefix \"a/\" { Policy = \"read\" }\nOPERATOR = \"write\"\n");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{R(Resource::kKey, "a/", true, Access::kRead),
                                            Bare(Resource::kOperator, Access::kWrite)}));
  rules = MustParse(R"({"Service": {"Web": {"Policy": "write", "Intentions": "deny"}}})");
  EXPECT_EQ(
      rules.rules,
      (std::vector<Rule>{R(Resource::kService, "Web", false, Access::kWrite, Access::kDeny)}));
  // Values and names keep their case.
  EXPECT_THAT(ParseError("key \"k\" { policy = \"Read\" }"), HasSubstr("Invalid key policy"));
}

// Found by acl_rules_fuzz: `operator` and `opErator` made two operator rules, which formatted to
// two `operator =` lines that read back as one.
TEST(AclParse, BareRuleGivenTwiceLastWins) {
  EXPECT_EQ(MustParse("operator = \"read\"\nacl = \"read\"\noperator = \"write\"\n").rules,
            (std::vector<Rule>{Bare(Resource::kAcl, Access::kRead),
                               Bare(Resource::kOperator, Access::kWrite)}));
  Rules rules = MustParse("opErator = \"write\"\nacl = \"read\"\noperator = \"deny\"\n");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{Bare(Resource::kAcl, Access::kRead),
                                            Bare(Resource::kOperator, Access::kDeny)}));
  EXPECT_EQ(MustParse(FormatRules(rules)), rules);
}

TEST(AclParse, EmptyBareValueIsUnset) { EXPECT_TRUE(MustParse(R"(operator = "")").rules.empty()); }

TEST(AclParse, EmptyIntentionsIsUnset) {
  Rules rules = MustParse(R"(service "web" { policy = "read", intentions = "" })");
  ASSERT_EQ(rules.rules.size(), 1u);
  EXPECT_EQ(rules.rules[0].intentions, Access::kDefault);
}

TEST(AclParse, UnquotedLabelAndJsonInsideHcl) {
  Rules rules = MustParse("node web { policy = \"read\" }\n");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{R(Resource::kNode, "web", false, Access::kRead)}));
}

TEST(AclParse, TwoAttributesOnOneLine) {
  Rules rules = MustParse("service \"web\" { policy = \"write\" intentions = \"read\" }\n");
  EXPECT_EQ(rules.rules, (std::vector<Rule>{R(Resource::kService, "web", false, Access::kWrite,
                                                Access::kRead)}));
}

// Errors: Consul's wording first, where and what was expected after.

TEST(AclParseErrors, InvalidPolicyValueNamesKindLineColumnAndExpected) {
  std::string e = ParseError("acl = \"read\"\nkey_prefix \"app/\" {\n  policy = \"x\"\n}\n");
  EXPECT_THAT(e, HasSubstr("Invalid key_prefix policy: \"x\""));
  EXPECT_THAT(e, StartsWith("line 3, column 12: "));
  EXPECT_THAT(e, HasSubstr("key_prefix \"app/\""));
  EXPECT_THAT(e, HasSubstr("expected \"read\", \"list\", \"write\" or \"deny\""));
}

TEST(AclParseErrors, ListOnlyForKeys) {
  std::string e = ParseError("\nservice \"web\" { policy = \"list\" }\n");
  EXPECT_THAT(e, StartsWith("line 2, column 26: Invalid service policy: \"list\""));
  EXPECT_THAT(e, HasSubstr("expected \"read\", \"write\" or \"deny\""));
  // And key rules accept it.
  MustParse("key \"k\" { policy = \"list\" }");
}

TEST(AclParseErrors, InvalidBareValue) {
  std::string e = ParseError("\n\noperator = \"admin\"\n");
  EXPECT_EQ(e,
            "line 3, column 12: Invalid operator policy: \"admin\": expected \"read\", "
            "\"write\" or \"deny\"");
  e = ParseError("acl = \"list\"");
  EXPECT_THAT(e, HasSubstr("Invalid acl policy: \"list\""));
  e = ParseError("keyring = 3");
  EXPECT_THAT(e, StartsWith("line 1, column 1: Invalid keyring policy: 3:"));
}

TEST(AclParseErrors, InvalidIntentions) {
  std::string e =
      ParseError("service_prefix \"\" {\n  policy = \"read\"\n  intentions = \"list\"\n}");
  EXPECT_THAT(e,
              StartsWith("line 3, column 16: Invalid service_prefix intentions policy: \"list\""));
  EXPECT_THAT(e, HasSubstr("expected \"read\", \"write\" or \"deny\""));
}

TEST(AclParseErrors, MissingPolicy) {
  std::string e = ParseError("\nnode \"n1\" {\n}\n");
  EXPECT_THAT(e, StartsWith("line 2, column 1: Invalid node policy: node \"n1\" has no policy"));
  e = ParseError("service \"web\" { intentions = \"write\" }");
  EXPECT_THAT(e, HasSubstr("Invalid service policy"));
}

TEST(AclParseErrors, PolicyNotAString) {
  std::string e = ParseError("\nkey \"k\" { policy = true }\n");
  EXPECT_THAT(e, StartsWith("line 2, column 11: Invalid key policy: true in"));
}

TEST(AclParseErrors, UnknownKindNamesNearest) {
  std::string e = ParseError("acl = \"read\"\n\n  key_prefx \"a\" { policy = \"read\" }\n");
  EXPECT_EQ(e,
            "line 3, column 3: unknown rule kind \"key_prefx\" (the nearest known kind is "
            "\"key_prefix\")");
  e = ParseError(R"({"services": {"web": {"policy": "read"}}})");
  EXPECT_THAT(e, StartsWith("line 1, column 2: unknown rule kind \"services\""));
  EXPECT_THAT(e, HasSubstr("\"service\""));
}

TEST(AclParseErrors, EnterpriseKinds) {
  std::string e = ParseError("namespace \"team\" {\n  policy = \"read\"\n}\n");
  EXPECT_THAT(e, StartsWith("line 1, column 1: \"namespace\" rules are Consul Enterprise only"));
}

TEST(AclParseErrors, UnknownKeyInBlock) {
  std::string e = ParseError("key_prefix \"a/\" {\n  policy = \"read\"\n  polcy = \"write\"\n}");
  EXPECT_EQ(e,
            "line 3, column 3: unknown key \"polcy\" in key_prefix \"a/\": expected "
            "\"policy\"");
  e = ParseError("node \"n\" {\n policy = \"read\"\n intentions = \"read\"\n}");
  EXPECT_THAT(e, HasSubstr("unknown key \"intentions\" in node \"n\""));
  e = ParseError("service \"s\" { policy = \"read\", sentinel = \"x\" }");
  EXPECT_THAT(e, HasSubstr("expected \"policy\" or \"intentions\""));
}

TEST(AclParseErrors, BlockWithoutLabel) {
  std::string e = ParseError("\nkey_prefix {\n  policy = \"write\"\n}\n");
  EXPECT_THAT(e, StartsWith("line 3, column 3: key_prefix rules need a name: write key_prefix "
                            "\"<name>\" { policy = \"read\" }"));
  e = ParseError("service {}\n");
  EXPECT_THAT(e, StartsWith("line 1, column 1: service rules need a name"));
  e = ParseError("node = \"read\"\n");
  EXPECT_THAT(e, StartsWith("line 1, column 1: node rules need a name"));
  e = ParseError(R"({"key": ["read"]})");
  EXPECT_THAT(e, HasSubstr("key rules need a name"));
}

TEST(AclParseErrors, TwoLabels) {
  std::string e = ParseError("key_prefix \"a\" \"b\" { policy = \"read\" }\n");
  EXPECT_THAT(e, HasSubstr("key_prefix \"a\" has a second label \"b\""));
  EXPECT_THAT(e, StartsWith("line 1"));
}

TEST(AclParseErrors, BareRuleAsBlock) {
  std::string e = ParseError("\noperator {\n  policy = \"read\"\n}\n");
  EXPECT_EQ(e,
            "line 2, column 1: operator is a single rule, not a block: write operator = "
            "\"read\" (or \"write\", \"deny\")");
  e = ParseError(R"({"mesh": {"policy": "read"}})");
  EXPECT_THAT(e, HasSubstr("mesh is a single rule, not a block"));
}

TEST(AclParseErrors, SyntaxErrorsCarryLineAndColumn) {
  std::string e = ParseError("acl = \"read\"\nkey_prefix \"a\" { policy = read }\n");
  EXPECT_THAT(e, StartsWith("Failed to parse ACL rules: line 2, column 27: "));
  e = ParseError("{\"acl\": \"read\",\n  \"operator\" \"write\"}");
  EXPECT_THAT(e, StartsWith("Failed to parse ACL rules: line 2, column 14: "));
  e = ParseError("key_prefix \"a\" {\n  policy = \"read\"\n");
  EXPECT_THAT(e, StartsWith("Failed to parse ACL rules: line 1"));
  EXPECT_THAT(e, HasSubstr("unterminated"));
}

TEST(AclParseErrors, NotAnObject) {
  std::string e = ParseError("[1, 2]");
  EXPECT_THAT(e, StartsWith("Failed to parse ACL rules: line 1, column 1: "));
  e = ParseError("\"read\"");
  EXPECT_THAT(e, StartsWith("Failed to parse ACL rules: line 1, column 7: "));
}

TEST(AclParseErrors, HostileNamesAreEscapedInMessages) {
  std::string e = ParseError("key \"a\\nb\\u00e9\" { policy = \"bad\" }");
  EXPECT_THAT(e, HasSubstr("key \"a\\x0ab\\xc3\\xa9\""));
  for (unsigned char c : e) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << e;
}

// ---------------------------------------------------------------------------------------------
// FormatRules

TEST(AclFormat, CanonicalText) {
  Rules rules;
  rules.rules = {Bare(Resource::kOperator, Access::kRead),
                 R(Resource::kService, "web", false, Access::kWrite, Access::kWrite),
                 R(Resource::kKey, "a\"b\\", true, Access::kList)};
  EXPECT_EQ(FormatRules(rules),
            "operator = \"read\"\n"
            "service \"web\" {\n  policy = \"write\"\n  intentions = \"write\"\n}\n"
            "key_prefix \"a\\\"b\\\\\" {\n  policy = \"list\"\n}\n");
}

TEST(AclFormat, RoundTrip) {
  std::vector<std::string> texts = {
      kEveryKindHcl,
      GlobalManagementRules(),
      GlobalReadOnlyRules(),
      "key_prefix \"a/\" { policy = \"read\" }\nkey_prefix \"a/\" { policy = \"deny\" }\n",
      "service \"we\\\"ird\\\\ \\t\\u0001 name ☃\" { policy = \"deny\" }",
      R"({"key": {"": {"policy": "list"}}, "node": [{"x": {"policy": "read"}}]})",
      "",
  };
  for (const auto& text : texts) {
    Rules first = MustParse(text);
    std::string formatted = FormatRules(first);
    Rules second = MustParse(formatted);
    EXPECT_EQ(first, second) << text << "\n--- formatted:\n" << formatted;
    EXPECT_EQ(FormatRules(second), formatted);
  }
  EXPECT_EQ(FormatRules(ServiceIdentityRules("web")),
            "service \"web\" {\n  policy = \"write\"\n}\n"
            "service \"web-sidecar-proxy\" {\n  policy = \"write\"\n}\n"
            "service_prefix \"\" {\n  policy = \"read\"\n}\n"
            "node_prefix \"\" {\n  policy = \"read\"\n}\n");
}

TEST(AclFormat, RulesThatGrantNothingAreLeftOut) {
  Rules rules;
  rules.rules = {Bare(Resource::kOperator, Access::kDefault),
                 R(Resource::kIntention, "web", false, Access::kWrite)};
  EXPECT_EQ(FormatRules(rules), "");
}

// ---------------------------------------------------------------------------------------------
// Evaluation

TEST(AclAuthorizer, ExactBeatsPrefix) {
  auto a = BuildFrom({R"(
service_prefix "" { policy = "deny" }
service_prefix "web" { policy = "read" }
service "web" { policy = "write" }
)"},
                     false);
  EXPECT_TRUE(a->Allowed(Resource::kService, "web", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kService, "web2", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kService, "web2", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kService, "db", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kService, "we", Level::kRead));
}

TEST(AclAuthorizer, LongestPrefixWins) {
  auto a = BuildFrom({R"(
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key_prefix "app/private/" { policy = "deny" }
key_prefix "app/private/open/" { policy = "list" }
key_prefix "apple" { policy = "deny" }
key_prefix "b" { policy = "deny" }
)"},
                     false);
  EXPECT_TRUE(a->Allowed(Resource::kKey, "other", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "other", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/x", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/privatex", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "app/private/x", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/private/open/x", Level::kList));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "app/private/open/x", Level::kWrite));
  // Greatest name below "app/q" is "app/private/open/", which is not its prefix: the walk up
  // must still find "app/".
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/q", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "apple/pie", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "appl", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "appl", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "bz", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "a", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "", Level::kRead));
}

TEST(AclAuthorizer, LevelsWriteListRead) {
  auto a = BuildFrom({R"(
key "w" { policy = "write" }
key "l" { policy = "list" }
key "r" { policy = "read" }
key "d" { policy = "deny" }
)"},
                     true);
  EXPECT_TRUE(a->Allowed(Resource::kKey, "w", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "w", Level::kList));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "w", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "l", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "l", Level::kList));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "l", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "r", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "r", Level::kList));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "r", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "d", Level::kRead));
  // An exact rule covers only its name.
  EXPECT_TRUE(a->Allowed(Resource::kKey, "rx", Level::kWrite));
}

TEST(AclAuthorizer, DenyIsNotOverriddenByDefaultAllow) {
  auto a = BuildFrom({R"(
service "db" { policy = "deny" }
operator = "deny"
)"},
                     true);
  EXPECT_FALSE(a->Allowed(Resource::kService, "db", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kOperator, "", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kService, "web", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kKeyring, "", Level::kWrite));
}

TEST(AclAuthorizer, DefaultPolicyDecidesWhatNoRuleSays) {
  auto allow = BuildFrom({"node \"n1\" { policy = \"read\" }"}, true);
  auto deny = BuildFrom({"node \"n1\" { policy = \"read\" }"}, false);
  EXPECT_TRUE(allow->Allowed(Resource::kNode, "n2", Level::kWrite));
  EXPECT_FALSE(deny->Allowed(Resource::kNode, "n2", Level::kRead));
  EXPECT_FALSE(allow->Allowed(Resource::kNode, "n1", Level::kWrite));
  EXPECT_TRUE(deny->Allowed(Resource::kNode, "n1", Level::kRead));
  EXPECT_FALSE(deny->Allowed(Resource::kAcl, "", Level::kRead));
  EXPECT_TRUE(allow->Allowed(Resource::kAcl, "", Level::kWrite));
  auto empty = Authorizer::Build({}, false);
  EXPECT_FALSE(empty->Allowed(Resource::kKey, "x", Level::kRead));
  EXPECT_FALSE(empty->KeyWritePrefix(""));
}

TEST(AclAuthorizer, MergeSameNameDenyWins) {
  auto a =
      BuildFrom({"service \"web\" { policy = \"write\" }", "service \"web\" { policy = \"deny\" }",
                 "service \"web\" { policy = \"read\" }"},
                true);
  EXPECT_FALSE(a->Allowed(Resource::kService, "web", Level::kRead));
  auto b = BuildFrom({"key \"k\" { policy = \"read\" }", "key \"k\" { policy = \"list\" }",
                      "operator = \"read\"", "operator = \"write\""},
                     false);
  EXPECT_TRUE(b->Allowed(Resource::kKey, "k", Level::kList));
  EXPECT_FALSE(b->Allowed(Resource::kKey, "k", Level::kWrite));
  EXPECT_TRUE(b->Allowed(Resource::kOperator, "", Level::kWrite));
  // The same within one policy.
  auto c = BuildFrom({"key \"k\" { policy = \"write\" }\nkey \"k\" { policy = \"read\" }"}, false);
  EXPECT_TRUE(c->Allowed(Resource::kKey, "k", Level::kWrite));
}

TEST(AclAuthorizer, MergeDifferentNamesAndFlagsIndependent) {
  auto a = BuildFrom(
      {"service_prefix \"\" { policy = \"deny\" }", "service \"web\" { policy = \"write\" }"},
      false);
  EXPECT_TRUE(a->Allowed(Resource::kService, "web", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kService, "web-2", Level::kRead));
  // service "web" (exact) and service_prefix "web" are different rules.
  auto b = BuildFrom(
      {"service_prefix \"web\" { policy = \"deny\" }", "service \"web\" { policy = \"write\" }"},
      true);
  EXPECT_TRUE(b->Allowed(Resource::kService, "web", Level::kWrite));
  EXPECT_FALSE(b->Allowed(Resource::kService, "webx", Level::kRead));
}

TEST(AclAuthorizer, IntentionsDerivedFromServiceRules) {
  auto a = BuildFrom({R"(
service "w" { policy = "write" }
service "r" { policy = "read" }
service "d" { policy = "deny" }
service "x" {
  policy = "read"
  intentions = "write"
}
service "y" {
  policy = "write"
  intentions = "deny"
}
service_prefix "p-" { policy = "write" }
)"},
                     true);
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "w", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "w", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "r", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "r", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "d", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "x", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "y", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kService, "y", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "p-1", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "p-1", Level::kWrite));
  // No service rule: the default.
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "other", Level::kWrite));
}

TEST(AclAuthorizer, IntentionsMergedApartFromPolicy) {
  // One policy grants intention write, another denies the service: merged, the explicit
  // attribute still decides intentions, as Consul merges the two fields separately.
  auto a = BuildFrom({"service \"web\" {\n policy = \"read\"\n intentions = \"write\"\n}",
                      "service \"web\" { policy = \"deny\" }"},
                     false);
  EXPECT_FALSE(a->Allowed(Resource::kService, "web", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "web", Level::kWrite));
  auto b = BuildFrom(
      {"service \"web\" { policy = \"write\" }", "service \"web\" { policy = \"deny\" }"}, true);
  EXPECT_FALSE(b->Allowed(Resource::kIntention, "web", Level::kRead));
}

TEST(AclAuthorizer, MeshAndPeeringFallBackToOperator) {
  auto a = BuildFrom({"operator = \"write\""}, false);
  EXPECT_TRUE(a->Allowed(Resource::kMesh, "", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kPeering, "", Level::kWrite));
  auto b = BuildFrom({"operator = \"write\"\nmesh = \"read\"\npeering = \"deny\""}, true);
  EXPECT_TRUE(b->Allowed(Resource::kMesh, "", Level::kRead));
  EXPECT_FALSE(b->Allowed(Resource::kMesh, "", Level::kWrite));
  EXPECT_FALSE(b->Allowed(Resource::kPeering, "", Level::kRead));
  auto c = BuildFrom({"operator = \"deny\""}, true);
  EXPECT_FALSE(c->Allowed(Resource::kMesh, "", Level::kRead));
  auto d = BuildFrom({"keyring = \"write\""}, false);
  EXPECT_FALSE(d->Allowed(Resource::kMesh, "", Level::kRead));
  // Keyring and acl do not fall back.
  EXPECT_FALSE(a->Allowed(Resource::kKeyring, "", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kAcl, "", Level::kRead));
}

TEST(AclAuthorizer, KeyWritePrefix) {
  auto a = BuildFrom({"key_prefix \"\" { policy = \"write\" }\nkey \"app/secret\" { policy = "
                      "\"deny\" }"},
                     false);
  EXPECT_FALSE(a->KeyWritePrefix("app/"));
  EXPECT_FALSE(a->KeyWritePrefix(""));
  EXPECT_TRUE(a->KeyWritePrefix("other/"));
  EXPECT_TRUE(a->KeyWritePrefix("app/secret/"));
  EXPECT_TRUE(a->Allowed(Resource::kKey, "app/x", Level::kWrite));

  // A read or list rule under the prefix also stops it, a write one does not.
  auto b = BuildFrom({R"(
key_prefix "data/" { policy = "write" }
key_prefix "data/ro/" { policy = "read" }
key "data/w" { policy = "write" }
key_prefix "logs/" { policy = "write" }
key "logs/list" { policy = "list" }
)"},
                     true);
  EXPECT_FALSE(b->KeyWritePrefix("data/"));
  EXPECT_TRUE(b->KeyWritePrefix("data/w"));
  EXPECT_FALSE(b->KeyWritePrefix("data/ro/"));
  EXPECT_FALSE(b->KeyWritePrefix("logs/"));
  // No covering rule and none under it: the default policy.
  EXPECT_TRUE(b->KeyWritePrefix("other/"));

  // The covering prefix rule must grant write; default allow does not help.
  auto c = BuildFrom({"key_prefix \"\" { policy = \"read\" }\nkey_prefix \"tmp/\" { policy = "
                      "\"write\" }"},
                     true);
  EXPECT_FALSE(c->KeyWritePrefix("x/"));
  EXPECT_TRUE(c->KeyWritePrefix("tmp/"));
  EXPECT_TRUE(c->KeyWritePrefix("tmp/a/"));
  EXPECT_FALSE(c->KeyWritePrefix("tm"));

  // Default deny, nothing covering, a write rule below: still the default.
  auto d = BuildFrom({"key_prefix \"a/b/\" { policy = \"write\" }"}, false);
  EXPECT_FALSE(d->KeyWritePrefix("a/"));
  EXPECT_TRUE(d->KeyWritePrefix("a/b/c"));
  // An exact rule equal to the prefix does not cover what is under it.
  auto e = BuildFrom({"key \"a/\" { policy = \"write\" }"}, false);
  EXPECT_FALSE(e->KeyWritePrefix("a/"));
}

TEST(AclAuthorizer, ManagementAllowAllDenyAll) {
  for (const auto& a : {Authorizer::Management(), Authorizer::AllowAll()}) {
    EXPECT_TRUE(a->all_allowed());
    EXPECT_TRUE(a->Allowed(Resource::kAcl, "", Level::kWrite));
    EXPECT_TRUE(a->Allowed(Resource::kIntention, "x", Level::kWrite));
    EXPECT_TRUE(a->KeyWritePrefix(""));
  }
  auto d = Authorizer::DenyAll();
  EXPECT_FALSE(d->all_allowed());
  for (Resource r :
       {Resource::kAcl, Resource::kAgent, Resource::kEvent, Resource::kIntention, Resource::kKey,
        Resource::kKeyring, Resource::kMesh, Resource::kNode, Resource::kOperator,
        Resource::kPeering, Resource::kQuery, Resource::kService, Resource::kSession}) {
    EXPECT_FALSE(d->Allowed(r, "x", Level::kRead)) << ResourceName(r);
  }
  EXPECT_FALSE(d->KeyWritePrefix(""));
}

TEST(AclAuthorizer, GlobalManagementPolicyAllowsEverything) {
  auto a = Authorizer::Build({MustParse(GlobalManagementRules())}, false);
  for (Resource r :
       {Resource::kAcl, Resource::kAgent, Resource::kEvent, Resource::kIntention, Resource::kKey,
        Resource::kKeyring, Resource::kMesh, Resource::kNode, Resource::kOperator,
        Resource::kPeering, Resource::kQuery, Resource::kService, Resource::kSession}) {
    EXPECT_TRUE(a->Allowed(r, "anything", Level::kWrite)) << ResourceName(r);
  }
  EXPECT_TRUE(a->KeyWritePrefix(""));
  auto ro = Authorizer::Build({MustParse(GlobalReadOnlyRules())}, false);
  for (Resource r :
       {Resource::kAcl, Resource::kAgent, Resource::kEvent, Resource::kIntention, Resource::kKey,
        Resource::kKeyring, Resource::kMesh, Resource::kNode, Resource::kOperator,
        Resource::kPeering, Resource::kQuery, Resource::kService, Resource::kSession}) {
    EXPECT_TRUE(ro->Allowed(r, "anything", Level::kRead)) << ResourceName(r);
    EXPECT_FALSE(ro->Allowed(r, "anything", Level::kWrite)) << ResourceName(r);
  }
}

TEST(AclAuthorizer, ManyRulesAgainstLinearScan) {
  // The binary search and parent walk against the definition, over names that share prefixes.
  const std::vector<std::string> names = {"",   "a",    "ab",    "abc", "abd",  "b",    "ba",
                                          "a/", "a/b/", "a/b/c", "zz",  "\xff", "a\xff"};
  Rules rules;
  int i = 0;
  for (const auto& n : names) {
    const Access acc[] = {Access::kRead, Access::kWrite, Access::kDeny, Access::kList};
    if (i % 3 != 1) rules.rules.push_back(R(Resource::kKey, n, true, acc[i % 4]));
    if (i % 2 == 0) rules.rules.push_back(R(Resource::kKey, n, false, acc[(i + 1) % 4]));
    ++i;
  }
  auto a = Authorizer::Build({rules}, false);
  auto expect = [&](const std::string& name) {
    const Rule* exact = nullptr;
    const Rule* best = nullptr;
    for (const Rule& r : rules.rules) {
      if (!r.prefix && r.name == name) exact = &r;
      if (r.prefix && name.compare(0, r.name.size(), r.name) == 0 &&
          (best == nullptr || r.name.size() > best->name.size())) {
        best = &r;
      }
    }
    const Rule* rule = exact ? exact : best;
    return rule ? rule->access : Access::kDefault;
  };
  const std::vector<std::string> probes = {
      "",   "a",   "aa",   "ab",    "abc",      "abcd",  "abd",  "abe", "ac",
      "a/", "a/b", "a/b/", "a/b/c", "a/b/cd",   "a/x",   "b",    "ba",  "bb",
      "c",  "zz",  "zzz",  "\xff",  "\xff\xff", "a\xff", "a\xfe"};
  for (const auto& p : probes) {
    Access want = expect(p);
    for (Level l : {Level::kRead, Level::kList, Level::kWrite}) {
      bool allowed = want == Access::kWrite || (want == Access::kList && l != Level::kWrite) ||
                     (want == Access::kRead && l == Level::kRead);
      EXPECT_EQ(a->Allowed(Resource::kKey, p, l), allowed)
          << "name " << p << " level " << LevelName(l);
    }
  }
}

TEST(AclAuthorizer, Microbenchmark) {
  auto a = BuildFrom({R"(
service_prefix "" { policy = "read" }
service "web" { policy = "write" }
service "web-sidecar-proxy" { policy = "write" }
node_prefix "" { policy = "read" }
node "node-1" { policy = "write" }
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key_prefix "app/secret/" { policy = "deny" }
key "config/web" { policy = "write" }
session_prefix "node-" { policy = "write" }
operator = "read"
)"},
                     false);
  const std::string names[] = {"web", "db", "app/x/y", "app/secret/k", "config/web", "other"};
  constexpr int kIterations = 1'000'000;
  int allowed = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    const std::string& n = names[i % 6];
    allowed += a->Allowed(i % 2 ? Resource::kKey : Resource::kService, n, Level::kWrite);
  }
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  std::printf("Allowed over 11 rules: %.1f ns per check (%d allowed)\n", ns.count() / kIterations,
              allowed);
  EXPECT_GT(allowed, 0);
}

// ---------------------------------------------------------------------------------------------
// Reserved objects and texts

TEST(AclBuiltin, GlobalManagementRulesText) {
  const std::string& t = GlobalManagementRules();
  EXPECT_EQ(t.substr(0, 15), "\nacl = \"write\"\n");
  EXPECT_THAT(t, HasSubstr("service_prefix \"\" {\n\tpolicy = \"write\"\n\tintentions = "
                           "\"write\"\n}"));
  EXPECT_THAT(t, HasSubstr("keyring = \"write\"\nnode_prefix"));
  EXPECT_THAT(t, HasSubstr("operator = \"write\"\nmesh = \"write\"\npeering = \"write\"\n"));
  Rules rules = MustParse(t);
  EXPECT_EQ(rules.rules.size(), 12u);
  for (const Rule& r : rules.rules) {
    EXPECT_EQ(r.access, Access::kWrite);
    if (IsNamed(r.resource)) {
      EXPECT_TRUE(r.prefix);
      EXPECT_EQ(r.name, "");
    }
  }
  Rules ro = MustParse(GlobalReadOnlyRules());
  EXPECT_EQ(ro.rules.size(), 12u);
  for (const Rule& r : ro.rules) EXPECT_EQ(r.access, Access::kRead);
  EXPECT_THAT(GlobalReadOnlyRules(), HasSubstr("intentions = \"read\""));
}

TEST(AclBuiltin, Identities) {
  EXPECT_EQ(ServiceIdentityRules("web").rules,
            (std::vector<Rule>{R(Resource::kService, "web", false, Access::kWrite),
                               R(Resource::kService, "web-sidecar-proxy", false, Access::kWrite),
                               R(Resource::kService, "", true, Access::kRead),
                               R(Resource::kNode, "", true, Access::kRead)}));
  EXPECT_EQ(NodeIdentityRules("n1").rules,
            (std::vector<Rule>{R(Resource::kNode, "n1", false, Access::kWrite),
                               R(Resource::kService, "", true, Access::kRead)}));
  auto a = Authorizer::Build({ServiceIdentityRules("web")}, false);
  EXPECT_TRUE(a->Allowed(Resource::kService, "web-sidecar-proxy", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kService, "web2", Level::kWrite));
  EXPECT_TRUE(a->Allowed(Resource::kNode, "any", Level::kRead));
  EXPECT_TRUE(a->Allowed(Resource::kIntention, "web", Level::kRead));
  EXPECT_FALSE(a->Allowed(Resource::kIntention, "web", Level::kWrite));
  EXPECT_FALSE(a->Allowed(Resource::kKey, "k", Level::kRead));
}

TEST(AclBuiltin, PermissionDeniedText) {
  EXPECT_EQ(PermissionDeniedText("6a1253d2-1785-24fd-91c2-f8e78c745511", Resource::kService,
                                 Level::kWrite, "web"),
            "Permission denied: token with AccessorID '6a1253d2-1785-24fd-91c2-f8e78c745511' "
            "lacks permission 'service:write' on \"web\"");
  EXPECT_EQ(PermissionDeniedText(kAnonymousAccessorID, Resource::kKey, Level::kRead, "foo"),
            "Permission denied: anonymous token lacks permission 'key:read' on \"foo\". The "
            "anonymous token is used implicitly when a request does not specify a token.");
  EXPECT_EQ(PermissionDeniedText("", Resource::kKey, Level::kRead, "x"),
            "Permission denied: provided token lacks permission 'key:read' on \"x\"");
  EXPECT_EQ(PermissionDeniedText("acc", Resource::kOperator, Level::kWrite, "ignored"),
            "Permission denied: token with AccessorID 'acc' lacks permission 'operator:write'");
  EXPECT_EQ(PermissionDeniedText("acc", Resource::kIntention, Level::kWrite, "db"),
            "Permission denied: token with AccessorID 'acc' lacks permission 'intention:write' "
            "on \"db\"");
  EXPECT_EQ(PermissionDeniedText("acc", Resource::kKey, Level::kList, ""),
            "Permission denied: token with AccessorID 'acc' lacks permission 'key:list'");
  // Go's %q for the name.
  EXPECT_EQ(PermissionDeniedText("a", Resource::kKey, Level::kRead, "q\"\\\n\x01\xff☃"),
            "Permission denied: token with AccessorID 'a' lacks permission 'key:read' on "
            "\"q\\\"\\\\\\n\\x01\\xff☃\"");
}

TEST(AclBuiltin, ReservedConstants) {
  EXPECT_STREQ(kGlobalManagementPolicyID, "00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(std::string(kGlobalManagementPolicyID).rfind(kReservedIDPrefix, 0), 0u);
  EXPECT_STREQ(kAnonymousSecretID, "anonymous");
}

TEST(AclBuiltin, PolicyNames) {
  EXPECT_TRUE(ValidPolicyName("web-policy_1"));
  EXPECT_TRUE(ValidPolicyName("team/web"));
  EXPECT_TRUE(ValidPolicyName("team/"));
  EXPECT_TRUE(ValidPolicyName(std::string(128, 'a')));
  EXPECT_FALSE(ValidPolicyName(std::string(129, 'a')));
  EXPECT_FALSE(ValidPolicyName(""));
  EXPECT_FALSE(ValidPolicyName("/web"));
  EXPECT_FALSE(ValidPolicyName("a/b/c"));
  EXPECT_FALSE(ValidPolicyName("a b"));
  EXPECT_FALSE(ValidPolicyName("a.b"));
  EXPECT_FALSE(ValidPolicyName("builtin/x"));
  EXPECT_FALSE(ValidPolicyName("builtin/"));
  EXPECT_TRUE(ValidPolicyName("builtin"));
  EXPECT_FALSE(ValidPolicyName(std::string("a\0b", 3)));
}

TEST(AclBuiltin, RoleNames) {
  EXPECT_TRUE(ValidRoleName("ops-Role_2"));
  EXPECT_TRUE(ValidRoleName(std::string(256, 'r')));
  EXPECT_FALSE(ValidRoleName(std::string(257, 'r')));
  EXPECT_FALSE(ValidRoleName(""));
  EXPECT_FALSE(ValidRoleName("a/b"));
  EXPECT_FALSE(ValidRoleName("a b"));
}

TEST(AclBuiltin, ServiceIdentityNames) {
  EXPECT_TRUE(ValidServiceIdentityName("web"));
  EXPECT_TRUE(ValidServiceIdentityName("a"));
  EXPECT_TRUE(ValidServiceIdentityName("web-1_x9"));
  EXPECT_TRUE(ValidServiceIdentityName(std::string(256, 'a')));
  EXPECT_FALSE(ValidServiceIdentityName(std::string(257, 'a')));
  EXPECT_FALSE(ValidServiceIdentityName(""));
  EXPECT_FALSE(ValidServiceIdentityName("Web"));
  EXPECT_FALSE(ValidServiceIdentityName("-web"));
  EXPECT_FALSE(ValidServiceIdentityName("web-"));
  EXPECT_FALSE(ValidServiceIdentityName("web_"));
  EXPECT_FALSE(ValidServiceIdentityName("we.b"));
}

TEST(AclBuiltin, SecretsEqual) {
  EXPECT_TRUE(SecretsEqual("", ""));
  EXPECT_TRUE(SecretsEqual("45a3bd52-07c7", "45a3bd52-07c7"));
  EXPECT_FALSE(SecretsEqual("45a3bd52-07c7", "45a3bd52-07c8"));
  EXPECT_FALSE(SecretsEqual("x5a3bd52-07c7", "45a3bd52-07c7"));
  EXPECT_FALSE(SecretsEqual("abc", "abcd"));
  EXPECT_FALSE(SecretsEqual("abcd", "abc"));
  EXPECT_FALSE(SecretsEqual("", "a"));
  EXPECT_FALSE(SecretsEqual(std::string("a\0", 2), std::string("a\1", 2)));
}

}  // namespace
}  // namespace gangway::acl
