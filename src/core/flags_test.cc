#include "core/flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gangway {
namespace {

using Args = std::vector<std::string>;

struct KvPutFlags {
  FlagSet set;
  uint64_t flags = 0;
  bool cas = false;
  std::string name;
  std::vector<std::string> tags;
  KvPutFlags() {
    set.Uint("flags", &flags, "uint", "");
    set.Bool("cas", &cas, "");
    set.String("name", &name, "name", "");
    set.StringList("tag", &tags, "value", "");
  }
};

TEST(FlagsTest, EqualsAndSpaceForms) {
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-name=web", "--flags", "42"}).ok());
  EXPECT_EQ(f.name, "web");
  EXPECT_EQ(f.flags, 42u);
  EXPECT_TRUE(f.set.Args().empty());
  EXPECT_TRUE(f.set.IsSet("flags"));
  EXPECT_FALSE(f.set.IsSet("cas"));
}

TEST(FlagsTest, FlagsStopAtFirstPositional) {
  // "kv put -flags=42 key value": everything after "key" is an argument, even "-cas".
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-flags=42", "key", "value", "-cas"}).ok());
  EXPECT_EQ(f.flags, 42u);
  EXPECT_FALSE(f.cas);
  EXPECT_EQ(f.set.Args(), (Args{"key", "value", "-cas"}));
}

TEST(FlagsTest, DoubleDashEndsFlagsAndSingleDashIsPositional) {
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-cas", "--", "-name=x"}).ok());
  EXPECT_TRUE(f.cas);
  EXPECT_EQ(f.name, "");
  EXPECT_EQ(f.set.Args(), (Args{"-name=x"}));

  KvPutFlags g;
  ASSERT_TRUE(g.set.Parse({"key", "-"}).ok());
  EXPECT_EQ(g.set.Args(), (Args{"key", "-"}));
  KvPutFlags h;
  ASSERT_TRUE(h.set.Parse({"-"}).ok());
  EXPECT_EQ(h.set.Args(), (Args{"-"}));
}

TEST(FlagsTest, BoolForms) {
  for (const char* on : {"-cas", "--cas", "-cas=true", "-cas=1", "-cas=T", "-cas=TRUE"}) {
    KvPutFlags f;
    ASSERT_TRUE(f.set.Parse({on}).ok()) << on;
    EXPECT_TRUE(f.cas) << on;
  }
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-cas", "-cas=false"}).ok());
  EXPECT_FALSE(f.cas);
  // A bool never takes the next argument: "false" is the first positional.
  KvPutFlags g;
  ASSERT_TRUE(g.set.Parse({"-cas", "false"}).ok());
  EXPECT_TRUE(g.cas);
  EXPECT_EQ(g.set.Args(), (Args{"false"}));
}

TEST(FlagsTest, ValueMayStartWithDash) {
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-name", "-cas"}).ok());
  EXPECT_EQ(f.name, "-cas");
  EXPECT_FALSE(f.cas);
}

TEST(FlagsTest, RepeatedListFlag) {
  KvPutFlags f;
  ASSERT_TRUE(f.set.Parse({"-tag=a", "-tag", "b", "--tag=c"}).ok());
  EXPECT_EQ(f.tags, (Args{"a", "b", "c"}));
}

TEST(FlagsTest, Errors) {
  struct Case {
    Args args;
    std::string message;
  };
  const Case cases[] = {
      {{"-x"}, "flag provided but not defined: -x"},
      {{"--nope=1"}, "flag provided but not defined: -nope"},
      {{"-name"}, "flag needs an argument: -name"},
      {{"-flags=abc"}, "invalid value \"abc\" for flag -flags: parse error"},
      {{"-flags", "-1"}, "invalid value \"-1\" for flag -flags: parse error"},
      {{"-cas=yes"}, "invalid boolean value \"yes\" for -cas: parse error"},
      {{"---cas"}, "bad flag syntax: ---cas"},
      {{"-=x"}, "bad flag syntax: -=x"},
  };
  for (const auto& c : cases) {
    KvPutFlags f;
    Status st = f.set.Parse(c.args);
    EXPECT_FALSE(st.ok()) << c.args[0];
    EXPECT_EQ(st.message(), c.message);
  }
}

TEST(FlagsTest, GoIntegerSyntax) {
  int64_t i = 0;
  uint64_t u = 0;
  EXPECT_TRUE(ParseGoInt("-42", &i));
  EXPECT_EQ(i, -42);
  EXPECT_TRUE(ParseGoInt("0x1F", &i));
  EXPECT_EQ(i, 31);
  EXPECT_TRUE(ParseGoInt("010", &i));
  EXPECT_EQ(i, 8);
  EXPECT_TRUE(ParseGoUint("0b101", &u));
  EXPECT_EQ(u, 5u);
  EXPECT_TRUE(ParseGoUint("18446744073709551615", &u));
  EXPECT_FALSE(ParseGoUint("18446744073709551616", &u));
  EXPECT_FALSE(ParseGoInt("9223372036854775808", &i));
  EXPECT_TRUE(ParseGoInt("-9223372036854775808", &i));
  EXPECT_FALSE(ParseGoInt("", &i));
  EXPECT_FALSE(ParseGoInt("12a", &i));
  EXPECT_FALSE(ParseGoInt("09", &i));
}

}  // namespace
}  // namespace gangway
