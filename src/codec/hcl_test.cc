#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "codec/document.h"

namespace gangway::codec {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Document MustParse(std::string_view text, std::string file = "") {
  auto doc = ParseHcl(text, std::move(file));
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? std::move(doc).value() : Document{};
}

std::string ErrorOf(std::string_view text, std::string file = "c.hcl") {
  auto doc = ParseHcl(text, std::move(file));
  EXPECT_FALSE(doc.ok()) << "parsed: " << text;
  return doc.ok() ? "" : doc.status().message();
}

constexpr const char* kAgentConfig = R"hcl(# dc1 server
datacenter = "dc1"
server = true
bootstrap_expect = 1
retry_join = ["a", "b"]
ports {
  http = 8500
  grpc = 8502
}
connect {
  enabled = true
}
tls {
  defaults {
    ca_file = "x"
    verify_incoming = false
  }
}
service {
  name = "web"
  port = 8080
  tags = ["v1",]
  check {
    http     = "http://localhost:8080/health"
    interval = "10s"
  }
}
service {
  name = "api"
  port = 9090 // second block
}
)hcl";

TEST(HclTest, ConsulAgentConfig) {
  Document doc = MustParse(kAgentConfig, "server.hcl");
  EXPECT_FALSE(doc.json_had_comments);
  EXPECT_EQ(doc.value, Json::parse(R"({
    "datacenter": "dc1", "server": true, "bootstrap_expect": 1, "retry_join": ["a", "b"],
    "ports": {"http": 8500, "grpc": 8502},
    "connect": {"enabled": true},
    "tls": {"defaults": {"ca_file": "x", "verify_incoming": false}},
    "service": [
      {"name": "web", "port": 8080, "tags": ["v1"],
       "check": {"http": "http://localhost:8080/health", "interval": "10s"}},
      {"name": "api", "port": 9090}
    ]})"));
  EXPECT_EQ(doc.LineOf("/server"), 3);
  EXPECT_EQ(doc.LineOf("/retry_join/1"), 5);
  EXPECT_EQ(doc.LineOf("/ports/http"), 7);
  EXPECT_EQ(doc.LineOf("/tls/defaults/ca_file"), 15);
  // The first block's lines moved under /service/0 when the second block turned it into a list.
  EXPECT_EQ(doc.LineOf("/service/0"), 19);
  EXPECT_EQ(doc.LineOf("/service/0/port"), 21);
  EXPECT_EQ(doc.LineOf("/service/0/check/interval"), 25);
  EXPECT_EQ(doc.LineOf("/service/1"), 28);
  EXPECT_EQ(doc.LineOf("/service/1/port"), 30);
  EXPECT_EQ(doc.lines.count("/service/name"), 0u);
  EXPECT_EQ(doc.Where("/service/1/port"), "server.hcl:30");
}

TEST(HclTest, LabelledBlocksNest) {
  Document doc = MustParse(R"(
service "web" { port = 1 }
service "api" {
  port = 2
}
config_entries bootstrap "proxy-defaults" { name = "global" }
)");
  EXPECT_EQ(doc.value, Json::parse(R"({
    "service": {"web": {"port": 1}, "api": {"port": 2}},
    "config_entries": {"bootstrap": {"proxy-defaults": {"name": "global"}}}})"));
  EXPECT_EQ(doc.LineOf("/service/api/port"), 4);
  EXPECT_EQ(doc.LineOf("/config_entries/bootstrap/proxy-defaults/name"), 6);
}

TEST(HclTest, RepeatedBlocksBecomeAList) {
  Document doc = MustParse(
      "upstreams { destination_name = \"a\" }\n"
      "upstreams { destination_name = \"b\" }\n"
      "upstreams { destination_name = \"c\" }\n"
      "x \"l\" { a = 1 }\n"
      "x \"l\" { a = 2 }\n");
  ASSERT_TRUE(doc.value["upstreams"].is_array());
  EXPECT_EQ(doc.value["upstreams"].size(), 3u);
  EXPECT_EQ(doc.value["upstreams"][2]["destination_name"], "c");
  EXPECT_EQ(doc.LineOf("/upstreams/0/destination_name"), 1);
  EXPECT_EQ(doc.LineOf("/upstreams/2/destination_name"), 3);
  EXPECT_EQ(doc.value["x"]["l"], Json::parse(R"([{"a": 1}, {"a": 2}])"));
  EXPECT_EQ(doc.LineOf("/x/l/1/a"), 5);
}

TEST(HclTest, AttributesRepeatedLastWins) {
  Document doc = MustParse("a = {x = 1}\na = {y = 2}\nb = 1\nb = \"two\"\n");
  EXPECT_EQ(doc.value, Json::parse(R"({"a": {"y": 2}, "b": "two"})"));
  EXPECT_EQ(doc.lines.count("/a/x"), 0u);
  EXPECT_EQ(doc.LineOf("/b"), 4);
}

TEST(HclTest, ItemsOnOneLineNeedNoSeparator) {
  // HCL1 (what Consul reads) ends an item at its value: ACL rules are often written this way.
  Document doc = MustParse("service \"web\" { policy = \"write\" intentions = \"read\" }\n"
                           "a = 1 b = [2] c { d = 3 } e = 4, f = 5\n");
  EXPECT_EQ(doc.value, Json::parse(R"({"service": {"web": {"policy": "write", "intentions": "read"}},
      "a": 1, "b": [2], "c": {"d": 3}, "e": 4, "f": 5})"));
}

TEST(HclTest, ListsAndInlineObjects) {
  Document doc = MustParse(R"(
l = [
  1, 2.5, -3,
  "s", true, null,
  [], ["nested", [1]],
  { a = 1, b = "x" },
  { "c": 1, "d": [true] },
]
o = { a = 1, b = "x" }
j = { "k": "v", "n": { "m": 0 } }
multi = {
  a = 1
  b = 2,
  c = 3
}
e = []
)");
  EXPECT_EQ(doc.value, Json::parse(R"({
    "l": [1, 2.5, -3, "s", true, null, [], ["nested", [1]], {"a": 1, "b": "x"},
          {"c": 1, "d": [true]}],
    "o": {"a": 1, "b": "x"}, "j": {"k": "v", "n": {"m": 0}}, "multi": {"a": 1, "b": 2, "c": 3},
    "e": []})"));
  EXPECT_EQ(doc.LineOf("/l/3"), 4);
  EXPECT_EQ(doc.LineOf("/l/9/d/0"), 7);
  EXPECT_EQ(doc.LineOf("/multi/c"), 14);
}

TEST(HclTest, StringsAndEscapes) {
  Document doc = MustParse(R"(a = "tab\tnl\nq\"bs\\"
b = "\u00e9\U0001F600"
c = "${not_interpolated}"
"quoted key" = "x # not a comment"
d = "tab	inside"
)");
  EXPECT_EQ(doc.value["a"], "tab\tnl\nq\"bs\\");
  EXPECT_EQ(doc.value["b"], "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(doc.value["c"], "${not_interpolated}");
  EXPECT_EQ(doc.value["quoted key"], "x # not a comment");
  EXPECT_EQ(doc.value["d"], "tab\tinside");
  EXPECT_EQ(doc.LineOf("/quoted key"), 4);
}

TEST(HclTest, Heredocs) {
  Document doc = MustParse(
      "a = <<EOF\nline one\n  line two\nEOF\n"
      "b = <<-EOT\n    indented\n      more\n    EOT\n"
      "c = <<EOF\r\ncrlf\r\nEOF\r\n"
      "d = <<EOF\nEOF\n"
      "e = 1\n");
  EXPECT_EQ(doc.value["a"], "line one\n  line two\n");
  EXPECT_EQ(doc.value["b"], "indented\n  more\n");
  EXPECT_EQ(doc.value["c"], "crlf\n");
  EXPECT_EQ(doc.value["d"], "");
  EXPECT_EQ(doc.value["e"], 1);
  EXPECT_EQ(doc.LineOf("/e"), 14);
}

TEST(HclTest, Numbers) {
  Document doc = MustParse(
      "a = 1\nb = -42\nc = 3.25\nd = 1e3\ne = -2.5E-1\nf = 0x1F\n"
      "g = 18446744073709551615\nh = 0\n");
  EXPECT_EQ(doc.value["a"], 1);
  EXPECT_TRUE(doc.value["a"].is_number_integer());
  EXPECT_EQ(doc.value["b"], -42);
  EXPECT_EQ(doc.value["c"], 3.25);
  EXPECT_EQ(doc.value["d"], 1000.0);
  EXPECT_EQ(doc.value["e"], -0.25);
  EXPECT_EQ(doc.value["f"], 31);
  EXPECT_TRUE(doc.value["g"].is_number_unsigned());
  EXPECT_EQ(doc.value["h"], 0);
}

TEST(HclTest, CommentsEverywhere) {
  Document doc = MustParse(R"(# hash
// slashes
/* block
   over lines */ a = 1 # after
b /* between */ = /* more */ 2
c {
  # inside
  d = [1, # in a list
       2]
}
)");
  EXPECT_EQ(doc.value, Json::parse(R"({"a": 1, "b": 2, "c": {"d": [1, 2]}})"));
  EXPECT_FALSE(doc.json_had_comments);
}

TEST(HclTest, JsonDocumentIsValidHcl) {
  Document doc = MustParse("{\n  \"service\": {\"name\": \"web\", \"port\": 80}\n}\n");
  EXPECT_EQ(doc.value, Json::parse(R"({"service": {"name": "web", "port": 80}})"));
  EXPECT_EQ(doc.LineOf("/service/port"), 2);
}

TEST(HclTest, EmptyDocumentIsAnEmptyObject) {
  EXPECT_EQ(MustParse("").value, Json::object());
  EXPECT_EQ(MustParse("# nothing\n\n").value, Json::object());
}

TEST(HclTest, ErrorsNameLineAndColumn) {
  EXPECT_EQ(ErrorOf("server = true\nports {\n  http 8500\n}\n"),
            "c.hcl:3:8: expected '=' or '{' after \"http\", found '8500'");
  EXPECT_EQ(ErrorOf("a = 1\nb 2\n"), "c.hcl:2:3: expected '=' or '{' after \"b\", found '2'");
  EXPECT_EQ(ErrorOf("mode = local\n"),
            "c.hcl:1:8: expected a value, found 'local' (strings must be quoted: \"local\")");
  EXPECT_EQ(ErrorOf("a = 1 b\n"), "c.hcl:2:1: expected '=' or '{' after \"b\", found end of input");
  EXPECT_EQ(ErrorOf("timeout = 10s\n"),
            "c.hcl:1:11: invalid number \"10s\" (quote text values: \"10s\")");
  EXPECT_EQ(ErrorOf("a = [1 2]\n"), "c.hcl:1:8: expected ',' or ']' after list element, found '2'");
  EXPECT_EQ(ErrorOf("a = 1\n}\n"), "c.hcl:2:1: unexpected '}': no block is open");
  EXPECT_EQ(ErrorOf("= 1\n"), "c.hcl:1:1: expected an attribute name or a block, found '='");
  EXPECT_EQ(ErrorOf("a =\n"), "c.hcl:2:1: expected a value, found end of input");
  EXPECT_EQ(ErrorOf("a = \"x\\q\"\n"),
            "c.hcl:1:8: invalid escape sequence '\\' followed by 'q' in string");
  EXPECT_EQ(ErrorOf("a = \"\\u12\"\n"), "c.hcl:1:10: expected 4 hex digits after \\u, found '\"'");
  EXPECT_EQ(ErrorOf("a = \"x\xFF\"\n"), "c.hcl:1:7: invalid UTF-8 (byte 0xFF) in string");
  EXPECT_EQ(ErrorOf("a = 1\nb = \"x\n", "-hcl"),
            "-hcl:2:7: unterminated string: newline before the closing '\"' (use \\n or a "
            "heredoc)");
  EXPECT_EQ(ErrorOf("a = ", ""), "line 1, column 5: expected a value, found end of input")
      << "no file name";
}

TEST(HclTest, UnterminatedThingsPointAtWhereTheyOpened) {
  EXPECT_EQ(ErrorOf("service {\n  name = \"web\"\n  check {\n    ttl = \"10s\"\n}\n"),
            "c.hcl:1:9: unterminated block service: '{' has no matching '}' before end of input");
  EXPECT_EQ(ErrorOf("x = {\n a = 1\n"),
            "c.hcl:1:5: unterminated object: '{' has no matching '}' before end of input");
  EXPECT_EQ(ErrorOf("x = [\n 1,\n"),
            "c.hcl:1:5: unterminated list: '[' has no matching ']' before end of input");
  EXPECT_EQ(ErrorOf("a = 1\nb = <<EOF\ntext\nEO\n"),
            "c.hcl:2:5: unterminated heredoc: no line \"EOF\" closes it");
  EXPECT_EQ(ErrorOf("b = <<EOF text\nEOF\n"),
            "c.hcl:1:10: expected a newline after the heredoc marker \"EOF\", found space");
  EXPECT_EQ(ErrorOf("b = << EOF\n"),
            "c.hcl:1:7: expected a heredoc marker (like EOF) after '<<', found space");
  EXPECT_EQ(ErrorOf("a = 1 /* open\n"), "c.hcl:1:7: unterminated comment: '/*' without '*/'");
}

TEST(HclTest, ConflictingLabelledBlock) {
  EXPECT_EQ(ErrorOf("service = 1\nservice \"web\" {}\n"),
            "c.hcl:2:15: block service \"web\" conflicts with \"service\" defined at line 1, "
            "which is not an object");
}

TEST(HclTest, NestingDepthIsLimited) {
  std::string ok;
  for (int i = 0; i < 200; ++i) ok += "a {\n";
  for (int i = 0; i < 200; ++i) ok += "}\n";
  EXPECT_TRUE(ParseHcl(ok).ok());
  EXPECT_THAT(ErrorOf("a = " + std::string(100000, '[')), HasSubstr("nesting too deep"));
  std::string blocks;
  for (int i = 0; i < 300; ++i) blocks += "a {";
  EXPECT_THAT(ErrorOf(blocks), HasSubstr("nesting too deep"));
  std::string objects = "a = ";
  for (int i = 0; i < 300; ++i) objects += "{ b = ";
  EXPECT_THAT(ErrorOf(objects), HasSubstr("nesting too deep"));
}

TEST(HclTest, EveryTruncationFailsCleanly) {
  std::string text = kAgentConfig;
  for (size_t n = 0; n < text.size(); ++n) {
    auto doc = ParseHcl(text.substr(0, n), "t.hcl");
    if (!doc.ok()) {
      EXPECT_THAT(doc.status().message(), HasSubstr("t.hcl:")) << n;
    } else {
      EXPECT_NO_THROW(doc->value.dump());
    }
  }
}

TEST(HclTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab_ = {}[]\",:#/*\\\n<<-EOF 0123456789.xe-\"tru\xC3\xA9\xFF";
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    size_t len = rng() % 64;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    auto doc = ParseHcl(text);
    if (doc.ok()) {
      EXPECT_NO_THROW(doc->value.dump());
    }
  }
}

}  // namespace
}  // namespace gangway::codec
