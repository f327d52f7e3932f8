#include "core/regexp.h"

#include <gtest/gtest.h>

#include <string>

namespace gangway {
namespace {

bool Search(const std::string& pattern, const std::string& text) {
  auto re = Regexp::Compile(pattern);
  EXPECT_TRUE(re.ok()) << re.status().message();
  return re.ok() && re->Search(text);
}

std::string CompileError(const std::string& pattern) {
  auto re = Regexp::Compile(pattern);
  EXPECT_FALSE(re.ok()) << pattern;
  return re.ok() ? std::string() : re.status().message();
}

TEST(Regexp, SearchIsUnanchoredAsGoMatchString) {
  EXPECT_TRUE(Search("eb", "web-1"));
  EXPECT_TRUE(Search("^web-[0-9]+$", "web-12"));
  EXPECT_FALSE(Search("^eb", "web-1"));
  EXPECT_FALSE(Search("^a|^b", "xab"));
  EXPECT_TRUE(Search("", "anything"));
  // '$' is the end of the text and '.' stops at newlines unless the flags say otherwise.
  EXPECT_FALSE(Search("a$", "a\nb"));
  EXPECT_TRUE(Search("(?m)a$", "a\nb"));
  EXPECT_FALSE(Search("a.b", "a\nb"));
  EXPECT_TRUE(Search("(?s)a.b", "a\nb"));
  EXPECT_TRUE(Search(R"(\d+\.\d+)", "v1.22"));
  EXPECT_TRUE(Search("(?i)WEB", "web"));
  // Subjects may hold any byte.
  EXPECT_TRUE(Search("b", std::string("a\0b", 3)));
  Result<Regexp> re = Regexp::Compile("x+");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(re->pattern(), "x+");
}

TEST(Regexp, FindSubmatchAsGoFindStringSubmatch) {
  auto re = Regexp::Compile(R"(^geo-db-(.*?)-([^\-]+?)$)");
  ASSERT_TRUE(re.ok());
  std::vector<std::string> groups;
  ASSERT_TRUE(re->FindSubmatch("geo-db-customer-primary", &groups));
  EXPECT_EQ(groups, (std::vector<std::string>{"geo-db-customer-primary", "customer", "primary"}));
  EXPECT_FALSE(re->FindSubmatch("db-x", &groups));
  EXPECT_TRUE(groups.empty());
  auto optional = Regexp::Compile("a(x)?(b)");
  ASSERT_TRUE(optional.ok());
  ASSERT_TRUE(optional->FindSubmatch("zab", &groups));  // unanchored; group 1 took no part
  EXPECT_EQ(groups, (std::vector<std::string>{"ab", "", "b"}));
}

TEST(Regexp, ErrorsAreWordedAsGoRegexpCompile) {
  EXPECT_EQ(CompileError("web["), "error parsing regexp: missing closing ]: `[`");
  EXPECT_EQ(CompileError("(a"), "error parsing regexp: missing closing ): `(a`");
  EXPECT_EQ(CompileError("a)"), "error parsing regexp: unexpected ): `a)`");
  EXPECT_EQ(CompileError("a**"), "error parsing regexp: invalid nested repetition operator: `**`");
  EXPECT_EQ(CompileError("*"),
            "error parsing regexp: missing argument to repetition operator: `*`");
  EXPECT_EQ(CompileError("[z-a]"), "error parsing regexp: invalid character class range: `z-a`");
  EXPECT_EQ(CompileError("a{1001}"), "error parsing regexp: invalid repeat count: `{1001}`");
  // No back-references, as in Go.
  EXPECT_EQ(CompileError(R"((a)\1)"), "error parsing regexp: invalid escape sequence: `\\1`");
}

// Regression: a user event whose node filter was ".*+*'*]" made std::regex backtrack without
// end. RE2 refuses that pattern, as Go does, and matches every valid one in linear time.
TEST(Regexp, CatastrophicBacktrackingPatternsRunInLinearTime) {
  EXPECT_EQ(CompileError(".*+*'*]"),
            "error parsing regexp: invalid nested repetition operator: `*+`");
  const std::string subject(200000, 'a');
  for (const char* pattern : {"(a*)*b", "(a|a)*b", "(a|aa)*c", "^(a+)+$x", "(.*a){20}b"}) {
    EXPECT_FALSE(Search(pattern, subject)) << pattern;
  }
}

TEST(Regexp, ProgramSizeIsBounded) {
  EXPECT_EQ(CompileError("((a{100}){100}){100}"),
            "error parsing regexp: invalid repeat count: `{100}`");
  // A Unicode class is hundreds of instructions; three hundred of them exceed the budget.
  EXPECT_EQ(CompileError(R"(\pL{300})"), "error parsing regexp: expression too large: ``");
  EXPECT_TRUE(Regexp::Compile(R"(^\pL{1,10}$)").ok());
  EXPECT_TRUE(Regexp::Compile(".{250}").ok());
}

}  // namespace
}  // namespace gangway
