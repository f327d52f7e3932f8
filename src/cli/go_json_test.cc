#include "cli/go_json.h"

#include <gtest/gtest.h>

#include <string>

namespace gangway::cli {
namespace {

using nlohmann::json;

TEST(GoJsonTest, AcceptsWhatGoAccepts) {
  for (const char* ok : {"{}", " [] ", "0", "-0.5e+3", "\"s\"", "null", "true\n",
                         R"({"a":[1,-2.5E-3,true,false,null,"x\u00e9\"\\\/\b\f\n\r\t"],"b":{}})"}) {
    EXPECT_TRUE(GoJsonSyntax(ok).ok()) << ok << ": " << GoJsonSyntax(ok).message();
  }
}

TEST(GoJsonTest, SyntaxErrorsReadAsGosScanner) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "unexpected end of JSON input"},
      {"  \n", "unexpected end of JSON input"},
      {R"({"Provider": "consul")", "unexpected end of JSON input"},
      {R"("abc)", "unexpected end of JSON input"},
      {R"({"a":1,})", "invalid character '}' looking for beginning of object key string"},
      {R"({"a" 1})", "invalid character '1' after object key"},
      {R"({"a":1 "b":2})", "invalid character '\"' after object key:value pair"},
      {"[1 2]", "invalid character '2' after array element"},
      {"{} x", "invalid character 'x' after top-level value"},
      {"01", "invalid character '1' after top-level value"},
      {"tru", "invalid character ' ' in literal true (expecting 'e')"},
      {"nax", "invalid character 'a' in literal null (expecting 'u')"},
      {"1.", "invalid character ' ' after decimal point in numeric literal"},
      {"-x", "invalid character 'x' in numeric literal"},
      {"1e", "invalid character ' ' in exponent of numeric literal"},
      {R"("a\qb")", "invalid character 'q' in string escape code"},
      {R"("\u12g4")", "invalid character 'g' in \\u hexadecimal character escape"},
      {"\"a\nb\"", "invalid character '\\n' in string literal"},
      {"\"a\x01\"", "invalid character '\\x01' in string literal"},
      {"# ca.json\n{}", "invalid character '#' looking for beginning of value"},
      {"{'a':1}", "invalid character '\\'' looking for beginning of object key string"},
      {"\xef\xbb\xbf{}", "invalid character '\xc3\xaf' looking for beginning of value"},  // BOM
      {"\x85", "invalid character '\\u0085' looking for beginning of value"},
  };
  for (const auto& c : cases) {
    Status st = GoJsonSyntax(c.text);
    EXPECT_FALSE(st.ok()) << c.text;
    EXPECT_EQ(st.message(), c.message) << c.text;
  }
  EXPECT_TRUE(GoJsonSyntax(std::string(10000, '[') + std::string(10000, ']')).ok());
  EXPECT_EQ(GoJsonSyntax(std::string(10001, '[')).message(),
            "invalid character '[' exceeded max depth");
}

TEST(GoJsonTest, FloatsAsGoPrintsAFloat64) {
  EXPECT_EQ(GoFloat(50), "50");
  EXPECT_EQ(GoFloat(0.5), "0.5");
  EXPECT_EQ(GoFloat(256), "256");
  EXPECT_EQ(GoFloat(123456789.125), "123456789.125");
  EXPECT_EQ(GoFloat(1e20), "100000000000000000000");
  EXPECT_EQ(GoFloat(1e21), "1e+21");
  EXPECT_EQ(GoFloat(0.000001), "0.000001");
  EXPECT_EQ(GoFloat(1e-7), "1e-7");
  EXPECT_EQ(GoFloat(2.5e-10), "2.5e-10");
  EXPECT_EQ(GoFloat(-0.0), "-0");
  EXPECT_EQ(GoFloat(0.1 + 0.2), "0.30000000000000004");
}

TEST(GoJsonTest, StringsEscapedAsGoDoes) {
  EXPECT_EQ(GoQuote("plain"), "\"plain\"");
  EXPECT_EQ(GoQuote("<a&b>"), R"("\u003ca\u0026b\u003e")");
  EXPECT_EQ(GoQuote("q\"b\\"), R"("q\"b\\")");
  EXPECT_EQ(GoQuote("\b\f\n\r\t\x01\x1f\x7f"), "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
  EXPECT_EQ(GoQuote("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  EXPECT_EQ(GoQuote("\xe2\x80\xa8\xe2\x80\xa9"), R"("\u2028\u2029")");
  EXPECT_EQ(GoQuote("a\xffz\xed\xa0\x80"), R"("a\ufffdz\ufffd\ufffd\ufffd")");
  EXPECT_EQ(GoQuote("-----BEGIN CERTIFICATE-----\nMIIB\n"),
            R"("-----BEGIN CERTIFICATE-----\nMIIB\n")");
}

TEST(GoJsonTest, MarshalIndentKeepsFieldOrderAndSortsMaps) {
  const GoFields fields = {
      {"Provider", "consul"},
      {"Config", json{{"b", 1.0}, {"a", json::object()}, {"c", json::array({1.5, "x"})}}},
      {"State", nullptr},
      {"Empty", json::array()},
      {"Force", false},
      {"CreateIndex", uint64_t{18446744073709551615u}},
  };
  EXPECT_EQ(GoMarshal(fields, "\t"),
            "{\n"
            "\t\"Provider\": \"consul\",\n"
            "\t\"Config\": {\n"
            "\t\t\"a\": {},\n"
            "\t\t\"b\": 1,\n"
            "\t\t\"c\": [\n"
            "\t\t\t1.5,\n"
            "\t\t\t\"x\"\n"
            "\t\t]\n"
            "\t},\n"
            "\t\"State\": null,\n"
            "\t\"Empty\": [],\n"
            "\t\"Force\": false,\n"
            "\t\"CreateIndex\": 18446744073709551615\n"
            "}");
  EXPECT_EQ(GoMarshal(fields),
            R"({"Provider":"consul","Config":{"a":{},"b":1,"c":[1.5,"x"]},"State":null,)"
            R"("Empty":[],"Force":false,"CreateIndex":18446744073709551615})");
  EXPECT_EQ(GoMarshal(GoFields{}, "\t"), "{}");
  EXPECT_EQ(GoMarshal(json::array({1, json::array({2})}), "  "), "[\n  1,\n  [\n    2\n  ]\n]");
}

}  // namespace
}  // namespace gangway::cli
