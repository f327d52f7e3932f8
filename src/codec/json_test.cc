#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "codec/document.h"
#include "codec/testing/tutorial_files.h"

namespace gangway::codec {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Document MustParse(std::string_view text, std::string file = "") {
  auto doc = ParseJson(text, std::move(file));
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? std::move(doc).value() : Document{};
}

std::string ErrorOf(std::string_view text, std::string file = "") {
  auto doc = ParseJson(text, std::move(file));
  EXPECT_FALSE(doc.ok()) << "parsed: " << text;
  return doc.ok() ? "" : doc.status().message();
}

TEST(JsonTest, TutorialGatewayFileWithHashComments) {
  Document doc = MustParse(testing::kTutorialMeshGatewayJson, "dc1-mesh-gateway-service.json");
  EXPECT_TRUE(doc.json_had_comments);
  EXPECT_EQ(doc.value, Json::parse(R"({"service": {"name": "mesh-gateway", "port": 8443,
                                        "kind": "mesh-gateway"}})"));
  EXPECT_EQ(doc.LineOf("/service"), 3);
  EXPECT_EQ(doc.LineOf("/service/port"), 5);
  EXPECT_EQ(doc.LineOf("/service/kind"), 6);
  EXPECT_EQ(doc.Where("/service/port"), "dc1-mesh-gateway-service.json:5");
}

TEST(JsonTest, TutorialUpstreamFileWithHashComments) {
  Document doc = MustParse(testing::kTutorialMeshGatewayUpstreamJson);
  EXPECT_TRUE(doc.json_had_comments);
  const Json& up = doc.value["service"]["connect"]["sidecar_service"]["proxy"]["upstreams"][0];
  EXPECT_EQ(up["destination_name"], "mesh-gateway");
  EXPECT_EQ(up["datacenter"], "dc2");
  EXPECT_EQ(up["package_name"], "mesh-gateway");
  EXPECT_EQ(up.size(), 3u);
  const std::string base = "/service/connect/sidecar_service/proxy/upstreams";
  EXPECT_EQ(doc.LineOf(base), 10);
  EXPECT_EQ(doc.LineOf(base + "/0"), 11);
  EXPECT_EQ(doc.LineOf(base + "/0/destination_name"), 12);
  EXPECT_EQ(doc.LineOf(base + "/0/package_name"), 14);
}

TEST(JsonTest, TutorialRouterFileWithHashComments) {
  Document doc = MustParse(testing::kTutorialServiceRouterJson);
  EXPECT_TRUE(doc.json_had_comments);
  EXPECT_EQ(doc.value["Kind"], "service-router");
  EXPECT_EQ(doc.value["Routes"][0]["MeshGateway"]["ConsumerNamespace"], "default");
  EXPECT_EQ(doc.value["Routes"][0]["Destination"]["Service"], "mesh-gateway-upstream-dc2");
  EXPECT_EQ(doc.LineOf("/Services/service/Datacenter"), 7);
  EXPECT_EQ(doc.LineOf("/Routes/0/MeshGateway/Name"), 18);
}

TEST(JsonTest, PlainJsonHasNoCommentsAndMatchesStandardParser) {
  const char* text = R"({"a": [1, -2, 3.5, 1e3, true, false, null, "x"], "b": {"c": {}},
                        "d": [], "e": "", "big": 18446744073709551615,
                        "neg": -9223372036854775808})";
  Document doc = MustParse(text);
  EXPECT_FALSE(doc.json_had_comments);
  EXPECT_EQ(doc.value, Json::parse(text));
  EXPECT_TRUE(doc.value["a"][0].is_number_integer());
  EXPECT_TRUE(doc.value["big"].is_number_unsigned());
  EXPECT_TRUE(doc.value["a"][2].is_number_float());
}

TEST(JsonTest, AllCommentFormsAreSkippedOutsideStrings) {
  Document doc = MustParse(R"(// leading
{ /* block
     comment */ "url": "http://x/#frag", # trailing
  "c": "/* not a comment */", // another
  "n": 1 /* inline */ }
# end)");
  EXPECT_TRUE(doc.json_had_comments);
  EXPECT_EQ(doc.value["url"], "http://x/#frag");
  EXPECT_EQ(doc.value["c"], "/* not a comment */");
  EXPECT_EQ(doc.value["n"], 1);
  EXPECT_EQ(doc.LineOf("/url"), 3);
  EXPECT_EQ(doc.LineOf("/n"), 5);
}

TEST(JsonTest, StringEscapes) {
  Document doc = MustParse(R"(["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20AC", "\ud83d\ude00", "\ud800x",
                             "\udc00", "caf)"
                           "\xC3\xA9"
                           R"("])");
  EXPECT_EQ(doc.value[0], "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(doc.value[1], "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(doc.value[2], "\xF0\x9F\x98\x80");
  EXPECT_EQ(doc.value[3], "\xEF\xBF\xBDx");  // lone surrogates become U+FFFD, as in Go
  EXPECT_EQ(doc.value[4], "\xEF\xBF\xBD");
  EXPECT_EQ(doc.value[5], "caf\xC3\xA9");
  EXPECT_NO_THROW(doc.value.dump());
}

TEST(JsonTest, DuplicateKeyLastWinsAndForgetsOldLines) {
  Document doc = MustParse("{\"a\": {\"x\": 1},\n\"a\": {\"y\": 2}}");
  EXPECT_EQ(doc.value, Json::parse(R"({"a": {"y": 2}})"));
  EXPECT_EQ(doc.LineOf("/a"), 2);
  EXPECT_EQ(doc.lines.count("/a/x"), 0u);
  EXPECT_EQ(doc.LineOf("/a/y"), 2);
}

TEST(JsonTest, ArrayElementsAndEscapedKeysHaveLines) {
  Document doc = MustParse(
      "{\"services\": [\n  {\"name\": \"a\"},\n  {\n\"name\": \"b\"}],\n"
      "\"a/b~c\": 1}");
  EXPECT_EQ(doc.LineOf("/services/0/name"), 2);
  EXPECT_EQ(doc.LineOf("/services/1"), 3);
  EXPECT_EQ(doc.LineOf("/services/1/name"), 4);
  EXPECT_EQ(doc.LineOf("/a~1b~0c"), 5);
  EXPECT_EQ(doc.LineOf(""), 1);
}

TEST(JsonTest, ErrorsNameLineColumnAndWhatWasExpected) {
  EXPECT_EQ(ErrorOf("{\"a\": 1 \"b\": 2}"),
            "line 1, column 9: expected '}' or ',' after object member, found '\"'");
  EXPECT_EQ(ErrorOf("{\n  \"service\": {\n    \"port\": 8443 x\n  }\n}", "web.json"),
            "web.json:3:18: expected '}' or ',' after object member, found 'x'");
  EXPECT_EQ(ErrorOf("[1 2]", "f.json"),
            "f.json:1:4: expected ']' or ',' after array element, "
            "found '2'");
  EXPECT_EQ(ErrorOf("{\"a\" 1}", "f.json"),
            "f.json:1:6: expected ':' after object key \"a\", found '1'");
  EXPECT_EQ(ErrorOf("{\"a\": 1,}", "f.json"),
            "f.json:1:9: expected a string (object key) after ',', found '}' (JSON does not "
            "allow a trailing comma)");
  EXPECT_EQ(ErrorOf("[1,]", "f.json"),
            "f.json:1:4: expected a value after ',', found ']' (JSON does not allow a trailing "
            "comma)");
  EXPECT_EQ(ErrorOf("{name: 1}", "f.json"),
            "f.json:1:2: expected a string (object key) or '}', found 'name' (keys must be "
            "quoted)");
  EXPECT_EQ(ErrorOf("{\"a\": True}", "f.json"), "f.json:1:7: expected a value, found 'True'");
  EXPECT_EQ(ErrorOf("{\"a\": 'x'}", "f.json"),
            "f.json:1:7: expected a value, found ''' (JSON strings use double quotes)");
  EXPECT_EQ(ErrorOf("", "f.json"),
            "f.json:1:1: expected a JSON value, found end of input (empty document)");
  EXPECT_EQ(ErrorOf("# only a comment\n", "f.json"),
            "f.json:2:1: expected a JSON value, found end of input (empty document)");
  EXPECT_EQ(ErrorOf("{} {}", "f.json"),
            "f.json:1:4: expected end of input after the top-level value, found '{'");
  EXPECT_EQ(ErrorOf("[01]", "f.json"),
            "f.json:1:2: invalid number: leading zeros are not allowed in JSON");
  EXPECT_EQ(ErrorOf("[-]", "f.json"), "f.json:1:3: expected a digit after '-', found ']'");
  EXPECT_EQ(ErrorOf("[1.]", "f.json"), "f.json:1:4: expected a digit after '.', found ']'");
  EXPECT_EQ(ErrorOf("[1e999]", "f.json"), "f.json:1:2: number 1e999 is out of range");
}

TEST(JsonTest, UnterminatedThingsPointAtWhereTheyOpened) {
  EXPECT_EQ(ErrorOf("{\n  \"a\": \"abc\n}", "f.json"),
            "f.json:2:12: unterminated string: newline before the closing '\"' (use \\n)");
  EXPECT_EQ(ErrorOf("{\n  \"a\": \"abc", "f.json"),
            "f.json:2:8: unterminated string: no closing '\"'");
  EXPECT_EQ(ErrorOf("{\n  \"a\": {\"b\": 1}\n", "f.json"),
            "f.json:1:1: unterminated object: '{' has no matching '}' before end of input");
  EXPECT_EQ(ErrorOf("[1,\n2", "f.json"),
            "f.json:1:1: unterminated array: '[' has no matching ']' before end of input");
  EXPECT_EQ(ErrorOf("{} /* open", "f.json"), "f.json:1:4: unterminated comment: '/*' without '*/'");
}

TEST(JsonTest, BadStringContents) {
  EXPECT_EQ(ErrorOf("[\"a\\qb\"]", "f.json"),
            "f.json:1:5: invalid escape sequence '\\' followed by 'qb' in string");
  EXPECT_EQ(ErrorOf("[\"\\u12g4\"]", "f.json"),
            "f.json:1:7: expected 4 hex digits after \\u, found 'g4'");
  EXPECT_EQ(ErrorOf("[\"a\x01\"]", "f.json"),
            "f.json:1:4: control character byte 0x01 in string (use an escape)");
  EXPECT_EQ(ErrorOf("[\"caf\xC3(\"]", "f.json"), "f.json:1:6: invalid UTF-8 (byte 0xC3) in string");
  EXPECT_EQ(ErrorOf("[\"\xED\xA0\x80\"]", "f.json"),  // an encoded surrogate
            "f.json:1:3: invalid UTF-8 (byte 0xED) in string");
  // Columns count characters: the 'x' is the 4th character of the line.
  EXPECT_EQ(ErrorOf("[\"\xC3\xA9\" x]", "f.json"),
            "f.json:1:6: expected ']' or ',' after array element, found 'x'");
}

TEST(JsonTest, ByteOrderMarkIsSkipped) {
  Document doc = MustParse("\xEF\xBB\xBF{\"a\": 1}");
  EXPECT_EQ(doc.value["a"], 1);
}

TEST(JsonTest, NestingDepthIsLimited) {
  std::string ok = std::string(200, '[') + std::string(200, ']');
  EXPECT_TRUE(ParseJson(ok).ok());
  std::string deep = std::string(100000, '[');
  EXPECT_THAT(ErrorOf(deep), HasSubstr("nesting too deep (more than 256 levels"));
  std::string objects;
  for (int i = 0; i < 300; ++i) objects += "{\"a\":";
  EXPECT_THAT(ErrorOf(objects), HasSubstr("nesting too deep"));
}

// Every prefix of a valid document either parses or fails with a positioned message.
TEST(JsonTest, EveryTruncationFailsCleanly) {
  std::string text = testing::kTutorialMeshGatewayUpstreamJson;
  for (size_t n = 0; n < text.size(); ++n) {
    auto doc = ParseJson(text.substr(0, n), "t.json");
    if (!doc.ok()) {
      EXPECT_THAT(doc.status().message(), HasSubstr("t.json:")) << n;
    }
  }
}

TEST(JsonTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  const std::string alphabet = "{}[]\":,#/*\\\n tfnu0123456789-.eE\"abc\xC3\xA9\xFF";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    size_t len = rng() % 64;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    auto doc = ParseJson(text);
    if (doc.ok()) {
      EXPECT_NO_THROW(doc->value.dump());
    }
  }
}

}  // namespace
}  // namespace gangway::codec
