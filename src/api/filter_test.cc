#include "api/filter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace gangway::api {
namespace {

using Json = nlohmann::json;

// A /v1/health/service row.
Json HealthRow() {
  return Json::parse(R"({
    "Node": {"Node": "node-1", "Address": "10.0.0.1", "Datacenter": "dc1", "Meta": {"rack": "r1"}},
    "Service": {
      "ID": "web-1", "Service": "web", "Tags": ["v1", "primary"], "Address": "",
      "Meta": {"version": "2", "my-key": "x", "empty": ""},
      "Port": 80, "EnableTagOverride": false, "Weights": {"Passing": 1, "Warning": 1}
    },
    "Checks": [
      {"CheckID": "serfHealth", "Status": "passing", "ServiceName": "", "Notes": ""},
      {"CheckID": "service:web-1", "Status": "warning", "ServiceName": "web", "Notes": "slow"}
    ]
  })");
}

// A /v1/catalog/service row.
Json CatalogRow() {
  return Json::parse(R"({
    "Node": "node-2", "ServiceName": "api", "ServiceTags": ["canary"],
    "ServiceMeta": {"team": "payments"}, "ServicePort": 8443, "ServiceWeight": 1.5
  })");
}

bool Match(std::string_view expr, const Json& row) {
  auto f = Filter::Parse(expr);
  EXPECT_TRUE(f.ok()) << expr << ": " << f.status().message();
  return f.ok() && f->Matches(row);
}

std::string ParseError(std::string_view expr) {
  auto f = Filter::Parse(expr);
  EXPECT_FALSE(f.ok()) << expr << " parsed";
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), Code::kInvalidArgument);
  return f.status().message();
}

TEST(Filter, EqualAndNotEqualOnStrings) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("Service.Service == web", row));
  EXPECT_TRUE(Match(R"(Service.Service == "web")", row));
  EXPECT_TRUE(Match("Service.Service == `web`", row));
  EXPECT_TRUE(Match("Service.Service==web", row));
  EXPECT_FALSE(Match("Service.Service == api", row));
  EXPECT_TRUE(Match("Service.Service != api", row));
  EXPECT_FALSE(Match("Service.Service != web", row));
  EXPECT_TRUE(Match(R"(Node.Address == "10.0.0.1")", row));
  EXPECT_TRUE(Match(R"(Service.ID == "web-1")", row));
  // A bare value is a selector-shaped word; its dotted text is the value.
  EXPECT_TRUE(Match("Node.Datacenter == dc1", row));
}

TEST(Filter, LiteralIsCoercedToTheFieldType) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("Service.Port == 80", row));
  EXPECT_TRUE(Match(R"(Service.Port == "80")", row));
  EXPECT_TRUE(Match("Service.Port == 80.0", row));
  EXPECT_TRUE(Match("Service.Port != 81", row));
  EXPECT_FALSE(Match("Service.Port == 8", row));
  EXPECT_TRUE(Match("Service.Meta.version == 2", row));  // string field, numeric literal
  EXPECT_TRUE(Match("Service.EnableTagOverride == false", row));
  EXPECT_TRUE(Match("Service.EnableTagOverride == f", row));
  EXPECT_TRUE(Match("Service.EnableTagOverride != true", row));
  EXPECT_TRUE(Match("ServiceWeight == 1.5", CatalogRow()));
  EXPECT_TRUE(Match("Value == -1", Json{{"Value", -1}}));
  EXPECT_TRUE(Match("Big == 18446744073709551615", Json{{"Big", UINT64_MAX}}));
  // A literal that cannot be the field's type matches in neither polarity.
  EXPECT_FALSE(Match("Service.Port == abc", row));
  EXPECT_FALSE(Match("Service.Port != abc", row));
  EXPECT_FALSE(Match("Service.EnableTagOverride != maybe", row));
}

TEST(Filter, InAndContainsOnListsMapsAndStrings) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("v1 in Service.Tags", row));
  EXPECT_TRUE(Match(R"("primary" in Service.Tags)", row));
  EXPECT_FALSE(Match("v2 in Service.Tags", row));
  EXPECT_TRUE(Match("v2 not in Service.Tags", row));
  EXPECT_FALSE(Match("v1 not in Service.Tags", row));
  EXPECT_TRUE(Match("Service.Tags contains v1", row));
  EXPECT_TRUE(Match("Service.Tags not contains v2", row));
  EXPECT_FALSE(Match("Service.Tags not contains v1", row));
  // Maps: key presence.
  EXPECT_TRUE(Match("version in Service.Meta", row));
  EXPECT_TRUE(Match(R"(Service.Meta contains "my-key")", row));
  EXPECT_FALSE(Match("owner in Service.Meta", row));
  EXPECT_TRUE(Match("owner not in Service.Meta", row));
  // Strings: substring.
  EXPECT_TRUE(Match("Service.ID contains eb", row));
  EXPECT_TRUE(Match(R"("-1" in Service.ID)", row));
  EXPECT_TRUE(Match("Service.ID not contains api", row));
  // Numbers have no members.
  EXPECT_FALSE(Match("Service.Port contains 8", row));
  EXPECT_FALSE(Match("Service.Port not contains 8", row));
}

TEST(Filter, IsEmptyAndIsNotEmpty) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("Service.Address is empty", row));
  EXPECT_FALSE(Match("Service.Address is not empty", row));
  EXPECT_TRUE(Match("Service.Tags is not empty", row));
  EXPECT_TRUE(Match("Service.Meta is not empty", row));
  EXPECT_TRUE(Match("Service.Meta.empty is empty", row));
  EXPECT_TRUE(Match("Tags is empty", Json{{"Tags", Json::array()}}));
  EXPECT_TRUE(Match("Meta is empty", Json{{"Meta", Json::object()}}));
  EXPECT_TRUE(Match("Meta is empty", Json{{"Meta", nullptr}}));
  EXPECT_FALSE(Match("Service.Port is empty", row));
  EXPECT_FALSE(Match("Service.Port is not empty", row));
}

TEST(Filter, MatchesIsAnUnanchoredRegexSearch) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("Service.Service matches `^web$`", row));
  EXPECT_TRUE(Match(R"(Service.ID matches "eb-[0-9]")", row));
  EXPECT_TRUE(Match("Service.ID matches `-\\d+$`", row));
  EXPECT_FALSE(Match("Service.ID matches `^eb`", row));
  EXPECT_TRUE(Match("Service.ID not matches `^eb`", row));
  EXPECT_FALSE(Match("Service.ID not matches web", row));
  EXPECT_TRUE(Match("Name matches `a|x`", Json{{"Name", "xyz"}}));
  EXPECT_FALSE(Match("Name matches `^a|^b`", Json{{"Name", "xab"}}));
  EXPECT_TRUE(Match("Name matches `b$`", Json{{"Name", "line\nab"}}));
  EXPECT_FALSE(Match("Service.Port matches 80", row));  // strings only, as in go-bexpr
  EXPECT_FALSE(Match("Service.Port not matches 80", row));
  // Long subjects are one linear pass.
  EXPECT_FALSE(Match("Name matches `(a|b)*c`", Json{{"Name", std::string(50000, 'a')}}));
}

TEST(Filter, BadRegexesAreRefusedAtParse) {
  EXPECT_EQ(ParseError("Name matches `(`"),
            "1:14 (13): Failed to compile regular expression \"(\": error parsing regexp: "
            "missing closing ): `(`");
  EXPECT_NE(ParseError("Name matches `a)(b`").find("Failed to compile"), std::string::npos);
  // RE2 has no back-references; neither does Go.
  EXPECT_NE(ParseError("Name matches `(a)\\1`").find("invalid escape sequence: `\\1`"),
            std::string::npos);
  EXPECT_NE(ParseError("Name matches `a**`").find("invalid nested repetition operator"),
            std::string::npos);
  // Counted repetitions are bounded as in Go: at most 1000, nested ones included.
  EXPECT_NE(ParseError("Name matches `a{1001}`").find("invalid repeat count: `{1001}`"),
            std::string::npos);
  EXPECT_NE(ParseError("Name matches `((a{100}){100}){100}`").find("invalid repeat count"),
            std::string::npos);
  EXPECT_NE(ParseError("Name matches `" + std::string(4000, '(') + "`").find("missing closing )"),
            std::string::npos);
  EXPECT_TRUE(Filter::Parse("Name matches `(a?){1000}`").ok());
  EXPECT_TRUE(Filter::Parse("Name matches `^[a-z0-9-]{1,63}$`").ok());
  EXPECT_TRUE(Filter::Parse("Name matches `^10\\.0\\.12345678901234567890$`").ok());
}

// Patterns that take exponential time in a backtracking engine are one linear pass here.
TEST(Filter, MatchesRunsInLinearTime) {
  const Json row{{"Name", std::string(100000, 'a')}};
  EXPECT_FALSE(Match("Name matches `(a*)*b`", row));
  EXPECT_FALSE(Match("Name matches `(a|aa)*c`", row));
  EXPECT_FALSE(Match("Name matches `^(a?){1000}a{1000}$`", Json{{"Name", std::string(999, 'a')}}));
  EXPECT_TRUE(Match("Name matches `(a|aa)*$`", row));
}

TEST(Filter, PrecedenceIsNotThenAndThenOr) {
  Json row = HealthRow();
  // not binds tighter than and: (not false) and true.
  EXPECT_TRUE(Match("not Service.Service == api and Service.Port == 80", row));
  // and binds tighter than or: true or (false and false).
  EXPECT_TRUE(Match("Service.Service == web or Service.Port == 1 and Node.Node == x", row));
  // (false and false) or true.
  EXPECT_TRUE(Match("Service.Port == 1 and Node.Node == x or Service.Service == web", row));
  // Parentheses override: (true or false) and false.
  EXPECT_FALSE(Match("(Service.Service == web or Service.Port == 1) and Node.Node == x", row));
  // not applies to the group, not just the first match.
  EXPECT_FALSE(Match("not (Service.Service == api or Service.Port == 80)", row));
  EXPECT_TRUE(Match("not (Service.Service == api) and not (Service.Port == 1)", row));
  EXPECT_TRUE(Match("not not Service.Service == web", row));
  EXPECT_TRUE(Match("( ( Service.Service == web ) )", row));
  EXPECT_TRUE(Match("\n Service.Service == web\tand\nService.Port == 80 \n", row));
}

TEST(Filter, SelectorsThroughListsOfObjectsMatchAnyElement) {
  Json row = HealthRow();
  EXPECT_TRUE(Match("Checks.Status == passing", row));
  EXPECT_TRUE(Match("Checks.Status == warning", row));
  EXPECT_FALSE(Match("Checks.Status == critical", row));
  EXPECT_TRUE(Match("Checks.Status != critical", row));
  EXPECT_FALSE(Match("Checks.Status != passing", row));  // the exact negation of ==
  // The reached values form the list for in/contains: members, not substrings.
  EXPECT_TRUE(Match("passing in Checks.Status", row));
  EXPECT_FALSE(Match("pass in Checks.Status", row));
  EXPECT_TRUE(Match("critical not in Checks.Status", row));
  EXPECT_TRUE(Match("Checks.CheckID contains serfHealth", row));
  EXPECT_TRUE(Match("Checks.Notes is empty", row));
  EXPECT_TRUE(Match("Checks.Status matches `^warn`", row));
  // A digit segment indexes.
  EXPECT_TRUE(Match("Checks.0.Status == passing", row));
  EXPECT_FALSE(Match("Checks.1.Status == passing", row));
  EXPECT_FALSE(Match("Checks.7.Status == passing", row));
  // Lists reached through lists keep list semantics.
  Json nested = Json::parse(R"({"Items": [{"Tags": ["a"]}, {"Tags": ["b"]}]})");
  EXPECT_TRUE(Match("b in Items.Tags", nested));
  EXPECT_FALSE(Match("c in Items.Tags", nested));
  EXPECT_TRUE(Match("Checks is not empty", row));
}

TEST(Filter, MapKeysInBrackets) {
  Json row = HealthRow();
  EXPECT_TRUE(Match(R"(Service.Meta["my-key"] == x)", row));
  EXPECT_TRUE(Match("Service.Meta[`my-key`] == x", row));
  EXPECT_TRUE(Match(R"(Service.Meta[ "version" ] == "2")", row));
  EXPECT_TRUE(Match(R"(Service["Meta"]["version"] == 2)", row));
  EXPECT_TRUE(Match(R"(Node.Meta["rack"] == r1 and Service.Meta.version == 2)", row));
  EXPECT_TRUE(Match(R"(Meta["a.b"] == 1)", Json{{"Meta", {{"a.b", "1"}}}}));
}

TEST(Filter, MissingSelectorsAreAbsentValues) {
  Json row = HealthRow();
  EXPECT_FALSE(Match("Service.Meta.owner == alice", row));
  EXPECT_TRUE(Match("Service.Meta.owner != alice", row));
  EXPECT_TRUE(Match("Service.Meta.owner is empty", row));
  EXPECT_FALSE(Match("Service.Meta.owner is not empty", row));
  EXPECT_FALSE(Match("Nope.Deeper contains x", row));
  EXPECT_TRUE(Match("x not in Nope.Deeper", row));
  EXPECT_FALSE(Match("Nope matches `.*`", row));
  EXPECT_TRUE(Match("Nope not matches `.*`", row));
  EXPECT_FALSE(Match("Service.Port.Inner == 1", row));  // a path through a scalar
  EXPECT_FALSE(Match("Service.Service == web", Json::array()));
  EXPECT_FALSE(Match("Service.Service == web", Json()));
  EXPECT_TRUE(Match("Service.Meta.owner != alice and Service.Service == web", row));
}

TEST(Filter, CatalogServiceRows) {
  Json row = CatalogRow();
  EXPECT_TRUE(Match("ServiceName == api and canary in ServiceTags", row));
  EXPECT_TRUE(Match("ServiceMeta.team == payments", row));
  EXPECT_TRUE(Match("ServicePort == 8443 and Node matches `^node-`", row));
  EXPECT_FALSE(Match("ServiceName == web or ServiceTags is empty", row));
}

TEST(Filter, KeywordsAreOnlyKeywordsWhereTheGrammarSaysSo) {
  EXPECT_TRUE(Match("not == 1", Json{{"not", 1}}));
  EXPECT_TRUE(Match("notes == x", Json{{"notes", "x"}}));
  EXPECT_TRUE(Match("not in Tags", Json{{"Tags", {"not"}}}));
  EXPECT_TRUE(Match("android == 1 and order == 2", Json{{"android", 1}, {"order", 2}}));
  EXPECT_TRUE(Match("Path/With/Slashes == a_b", Json{{"Path/With/Slashes", "a_b"}}));
}

TEST(Filter, StringEscapes) {
  EXPECT_TRUE(Match(R"(Name == "a\"b\\c")", Json{{"Name", "a\"b\\c"}}));
  EXPECT_TRUE(Match(R"(Name == "tab\there")", Json{{"Name", "tab\there"}}));
  EXPECT_TRUE(Match("Name == `raw\\d`", Json{{"Name", "raw\\d"}}));
  EXPECT_EQ(ParseError(R"(Name matches "\d+")"),
            "1:15 (14): invalid escape \\d in string (use a `raw` string for regular expressions)");
}

TEST(Filter, ParseErrorsSayWhatWasExpectedAndWhere) {
  // The same text Consul returns for this selector (go-bexpr's PEG parser).
  EXPECT_EQ(
      ParseError("group-name in list.groups"),
      R"(1:6 (5): no match found, expected: "!=", ".", "==", "[", [ \t\r\n] or [a-zA-Z0-9_/])");
  EXPECT_EQ(ParseError("Service.Service == web extra"),
            R"(1:24 (23): no match found, expected: "and", "or", [ \t\r\n] or EOF)");
  EXPECT_EQ(
      ParseError("Service.Service =="),
      R"(1:19 (18): no match found, expected: "-", "0", "\"", "`", [ \t\r\n], [1-9] or [a-zA-Z])");
  EXPECT_EQ(ParseError("Service. == web"),
            R"(1:9 (8): no match found, expected: [0-9] or [a-zA-Z])");
  EXPECT_EQ(
      ParseError("a == b and\n  c =="),
      R"(2:7 (17): no match found, expected: "-", "0", "\"", "`", [ \t\r\n], [1-9] or [a-zA-Z])");
  EXPECT_EQ(
      ParseError(""),
      R"(1:1 (0): no match found, expected: "(", "-", "0", "\"", "`", "not", [ \t\r\n], [1-9] or [a-zA-Z])");
  EXPECT_EQ(ParseError("(Service.Service == web"), "1:24 (23): Unmatched parentheses");
  EXPECT_EQ(ParseError("Service.Meta[foo] == x"), "1:14 (13): Invalid index");
  EXPECT_EQ(ParseError(R"(Service.Meta["foo" == x)"), "1:20 (19): Unclosed index expression");
  EXPECT_EQ(ParseError("Service.Port == 80x"), "1:19 (18): Invalid number literal");
  EXPECT_EQ(ParseError(R"(Service.Service == "web)"), "1:24 (23): Unterminated string literal");
  EXPECT_EQ(ParseError("web in 5"), "1:8 (7): Invalid selector");
  // Columns count characters, offsets count bytes.
  EXPECT_EQ(ParseError("Name == \"é\" )"),
            R"(1:13 (13): no match found, expected: "and", "or", [ \t\r\n] or EOF)");
}

TEST(Filter, UntrustedInputIsBounded) {
  std::string expr = "Service.Service == web";
  while (expr.size() <= Filter::kMaxLength) expr += " or Service.Service == web";
  EXPECT_NE(ParseError(expr).find("limit is 4096"), std::string::npos);

  auto nested = [](int n, std::string_view open, std::string_view close) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += "A == 1";
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  Json row = {{"A", 1}};
  EXPECT_TRUE(Match(nested(Filter::kMaxDepth, "(", ")"), row));
  EXPECT_NE(ParseError(nested(Filter::kMaxDepth + 1, "(", ")")).find("deeper than 64"),
            std::string::npos);
  EXPECT_TRUE(Match(nested(Filter::kMaxDepth, "not ", ""), row));
  EXPECT_NE(ParseError(nested(Filter::kMaxDepth + 1, "not ", "")).find("deeper than 64"),
            std::string::npos);
  // Unclosed groups fail in linear time, not by re-parsing every prefix.
  EXPECT_FALSE(Filter::Parse(std::string(60, '(') + "A == 1 and (B == 2").ok());
}

TEST(Filter, CopiesShareTheCompiledExpression) {
  auto parsed = Filter::Parse("Service.Service matches `^w`");
  ASSERT_TRUE(parsed.ok());
  Filter copy = *parsed;
  EXPECT_TRUE(copy.Matches(HealthRow()));
  EXPECT_FALSE(copy.Matches(CatalogRow()));
}

}  // namespace
}  // namespace gangway::api
