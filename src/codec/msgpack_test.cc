#include "codec/msgpack.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace gangway::codec::msgpack {
namespace {

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

template <typename F>
std::string Written(F&& f) {
  std::string out;
  Writer w(&out);
  f(w);
  return Hex(out);
}

TEST(MsgpackWriter, UnsignedIntegersTakeTheSmallestUnsignedForm) {
  EXPECT_EQ(Written([](Writer& w) { w.Uint(0); }), "00");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(127); }), "7f");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(128); }), "cc80");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(255); }), "ccff");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(256); }), "cd0100");
  // memberlist: Port uint16 7946, Timeout 2 s in nanoseconds.
  EXPECT_EQ(Written([](Writer& w) { w.Uint(7946); }), "cd1f0a");
  EXPECT_EQ(Written([](Writer& w) { w.Int(2000000000); }), "ce77359400");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(65536); }), "ce00010000");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(0xffffffffu); }), "ceffffffff");
  EXPECT_EQ(Written([](Writer& w) { w.Uint(0x100000000u); }), "cf0000000100000000");
}

TEST(MsgpackWriter, SignedValuesAreUnsignedWhenNotNegative) {
  EXPECT_EQ(Written([](Writer& w) { w.Int(5); }), "05");
  EXPECT_EQ(Written([](Writer& w) { w.Int(200); }), "ccc8");
  EXPECT_EQ(Written([](Writer& w) { w.Int(-1); }), "ff");
  EXPECT_EQ(Written([](Writer& w) { w.Int(-32); }), "e0");
  EXPECT_EQ(Written([](Writer& w) { w.Int(-33); }), "d0df");
  EXPECT_EQ(Written([](Writer& w) { w.Int(-129); }), "d1ff7f");
  EXPECT_EQ(Written([](Writer& w) { w.Int(-40000); }), "d2ffff63c0");
  EXPECT_EQ(Written([](Writer& w) { w.Int(INT64_MIN); }), "d38000000000000000");
}

TEST(MsgpackWriter, StringsNeverUseStr8OrBin) {
  EXPECT_EQ(Written([](Writer& w) { w.Raw(""); }), "a0");
  EXPECT_EQ(Written([](Writer& w) { w.Raw("n1"); }), "a26e31");
  EXPECT_EQ(Written([](Writer& w) { w.Raw(std::string(31, 'x')); }).substr(0, 2), "bf");
  // 32..65535 bytes: str16 (da), not str8 (d9). The 130-byte serf coordinate is da 00 82.
  EXPECT_EQ(Written([](Writer& w) { w.Raw(std::string(32, 'x')); }).substr(0, 6), "da0020");
  EXPECT_EQ(Written([](Writer& w) { w.Raw(std::string(130, 'x')); }).substr(0, 6), "da0082");
  EXPECT_EQ(Written([](Writer& w) { w.Raw(std::string(65535, 'x')); }).substr(0, 6), "daffff");
  EXPECT_EQ(Written([](Writer& w) { w.Raw(std::string(65536, 'x')); }).substr(0, 10), "db00010000");
}

TEST(MsgpackWriter, ContainersNilBoolFloat) {
  EXPECT_EQ(Written([](Writer& w) { w.ArrayHeader(0); }), "90");
  EXPECT_EQ(Written([](Writer& w) { w.ArrayHeader(15); }), "9f");
  EXPECT_EQ(Written([](Writer& w) { w.ArrayHeader(16); }), "dc0010");
  EXPECT_EQ(Written([](Writer& w) { w.ArrayHeader(512); }), "dc0200");
  EXPECT_EQ(Written([](Writer& w) { w.ArrayHeader(65536); }), "dd00010000");
  EXPECT_EQ(Written([](Writer& w) { w.MapHeader(3); }), "83");
  EXPECT_EQ(Written([](Writer& w) { w.MapHeader(16); }), "de0010");
  EXPECT_EQ(Written([](Writer& w) { w.MapHeader(70000); }), "df00011170");
  EXPECT_EQ(Written([](Writer& w) { w.Nil(); }), "c0");
  EXPECT_EQ(Written([](Writer& w) { w.Bool(true); }), "c3");
  EXPECT_EQ(Written([](Writer& w) { w.Bool(false); }), "c2");
  EXPECT_EQ(Written([](Writer& w) { w.Float64(1e-05); }), "cb3ee4f8b588e368f1");
}

TEST(MsgpackValue, RoundTripsAndKeepsMapKeyOrder) {
  // serf StatusLTimes as captured: Go's random map order must survive decode + encode.
  const std::string bytes = Unhex("83aa3132372e302e302e313201a26e3302a26e3100");
  auto v = Decode(bytes);
  ASSERT_TRUE(v.ok()) << v.status().message();
  ASSERT_EQ(v->kind(), Value::Kind::kMap);
  ASSERT_EQ(v->as_map().size(), 3u);
  EXPECT_EQ(v->as_map()[0].first.as_raw(), "127.0.0.12");
  EXPECT_EQ(v->as_map()[2].first.as_raw(), "n1");
  ASSERT_NE(v->Find("n3"), nullptr);
  EXPECT_EQ(v->Find("n3")->as_uint(), 2u);
  EXPECT_EQ(v->Find("missing"), nullptr);
  EXPECT_EQ(Encode(*v), bytes);

  Value built = Value::MakeArray({Value::Nil(), Value::Bool(true), Value::Int(-7),
                                  Value::Uint(1u << 20), Value::Float(2.5), Value::Raw("x"),
                                  Value::MakeMap({{Value::Raw("k"), Value::Raw("v")}})});
  auto back = Decode(Encode(built));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, built);
}

TEST(MsgpackReader, AcceptsEveryIntegerWidthForAnyField) {
  for (const char* hex : {"07", "cc07", "cd0007", "ce00000007", "cf0000000000000007", "d007",
                          "d10007", "d200000007", "d30000000000000007"}) {
    const std::string bytes = Unhex(hex);
    Reader r(bytes);
    uint64_t u = 0;
    ASSERT_TRUE(r.ReadUint(&u, 0xffff).ok()) << hex;
    EXPECT_EQ(u, 7u) << hex;
    EXPECT_TRUE(r.at_end());
  }
}

TEST(MsgpackReader, RangeChecksLikeGoSizedFields) {
  uint64_t u = 0;
  int64_t i = 0;
  EXPECT_FALSE(Reader(Unhex("cd0100")).ReadUint(&u, 0xff).ok());       // 256 into a uint8
  EXPECT_FALSE(Reader(Unhex("ff")).ReadUint(&u).ok());                 // -1 into unsigned
  EXPECT_FALSE(Reader(Unhex("cfffffffffffffffff")).ReadInt(&i).ok());  // > INT64_MAX
  EXPECT_TRUE(Reader(Unhex("cf7fffffffffffffff")).ReadInt(&i).ok());
  EXPECT_EQ(i, INT64_MAX);
  EXPECT_FALSE(Reader(Unhex("a0")).ReadUint(&u).ok());  // a string is not a number
}

TEST(MsgpackReader, AcceptsStr8AndBinForRawFields) {
  for (const char* hex : {"a3616263", "d903616263", "da0003616263", "db00000003616263",
                          "c403616263", "c50003616263", "c600000003616263"}) {
    const std::string bytes = Unhex(hex);
    Reader r(bytes);
    std::string_view raw;
    ASSERT_TRUE(r.ReadRaw(&raw).ok()) << hex;
    EXPECT_EQ(raw, "abc") << hex;
  }
}

TEST(MsgpackReader, NilReadsAsZeroValueInOrNilHelpers) {
  const std::string bytes = Unhex("c0c0c0c0c0");
  Reader r(bytes);
  int64_t i = 9;
  uint64_t u = 9;
  bool b = true;
  std::string s = "x";
  double d = 1;
  EXPECT_TRUE(r.ReadIntOrNil(&i).ok());
  EXPECT_TRUE(r.ReadUintOrNil(&u).ok());
  EXPECT_TRUE(r.ReadBoolOrNil(&b).ok());
  EXPECT_TRUE(r.ReadRawOrNil(&s).ok());
  EXPECT_TRUE(r.ReadFloatOrNil(&d).ok());
  EXPECT_EQ(i, 0);
  EXPECT_EQ(u, 0u);
  EXPECT_FALSE(b);
  EXPECT_EQ(s, "");
  EXPECT_EQ(d, 0);
}

TEST(MsgpackReader, FloatsOfBothWidths) {
  double d = 0;
  ASSERT_TRUE(Reader(Unhex("ca3fc00000")).ReadFloat(&d).ok());
  EXPECT_EQ(d, 1.5);
  ASSERT_TRUE(Reader(Unhex("cb3ff8000000000000")).ReadFloat(&d).ok());
  EXPECT_EQ(d, 1.5);
}

TEST(MsgpackReader, ReadStructSkipsUnknownKeysOfAnyShape) {
  // {"B": [1, {"x": nil}], "A": 5, "C": "z"}
  const std::string bytes = Unhex(
      "83a1429201"
      "81a178c0"
      "a14105"
      "a143a17a");
  Reader r(bytes);
  int64_t a = 0;
  std::string c;
  Status s = r.ReadStruct([&](std::string_view k) -> Status {
    if (k == "A") return r.ReadInt(&a);
    if (k == "C") return r.ReadRawOrNil(&c);
    return r.Skip();
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(a, 5);
  EXPECT_EQ(c, "z");
  EXPECT_TRUE(r.at_end());
}

TEST(MsgpackReader, DepthIsLimited) {
  std::string deep(100, static_cast<char>(0x91));
  deep.push_back(static_cast<char>(0xc0));
  auto v = Decode(deep);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nesting"), std::string::npos);
  Reader skip(deep);
  EXPECT_FALSE(skip.Skip().ok());
  Limits generous;
  generous.max_depth = 200;
  EXPECT_TRUE(Decode(deep, generous).ok());
}

TEST(MsgpackReader, HugeDeclaredLengthsFailBeforeAllocating) {
  // Declared lengths far beyond the bytes present: must fail fast, flagged truncated (a stream
  // decoder would wait for more) as long as the length is within the limits.
  for (const char* hex :
       {"dd000fffff", "df0007ffff", "dbffffffff41", "c6ffffffff41", "dc8000c0", "de8000c0c0"}) {
    const std::string bytes = Unhex(hex);
    Reader r(bytes);
    auto v = r.ReadValue();
    EXPECT_FALSE(v.ok()) << hex;
    EXPECT_TRUE(r.truncated()) << hex;
  }
  // Beyond the container limit it is malformed, not merely short.
  for (const char* hex : {"ddffffffff", "dfffffffff"}) {
    const std::string bytes = Unhex(hex);
    Reader r(bytes);
    EXPECT_FALSE(r.ReadValue().ok()) << hex;
    EXPECT_FALSE(r.truncated()) << hex;
  }
  Limits small;
  small.max_container_len = 4;
  auto v = Decode(Unhex("95c0c0c0c0c0"), small);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("limit"), std::string::npos);
}

TEST(MsgpackReader, TotalValuesAndInputSizeAreLimited) {
  Limits limits;
  limits.max_values = 10;
  std::string many = Unhex("dc0014");
  many.append(20, static_cast<char>(0xc0));
  EXPECT_FALSE(Decode(many, limits).ok());
  limits.max_values = 100;
  EXPECT_TRUE(Decode(many, limits).ok());
  limits.max_input_bytes = 8;
  auto v = Decode(many, limits);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("limit"), std::string::npos);
}

TEST(MsgpackReader, EveryTruncationIsAnErrorFlaggedTruncated) {
  const std::string doc = Encode(Value::MakeMap({
      {Value::Raw("Name"), Value::Raw(std::string(40, 'n'))},
      {Value::Raw("Vec"), Value::MakeArray({Value::Float(1.5), Value::Int(-300)})},
      {Value::Raw("Big"), Value::Uint(1ull << 40)},
      {Value::Raw("Nil"), Value::Nil()},
  }));
  for (size_t n = 0; n < doc.size(); ++n) {
    Reader r(std::string_view(doc).substr(0, n));
    EXPECT_FALSE(r.ReadValue().ok()) << n;
    EXPECT_TRUE(r.truncated()) << n;
  }
  EXPECT_TRUE(Decode(doc).ok());
}

TEST(MsgpackReader, TrailingBytesAndReservedTypesAreErrors) {
  EXPECT_FALSE(Decode(Unhex("c0c0")).ok());
  EXPECT_FALSE(Decode(Unhex("c1")).ok());
  EXPECT_FALSE(Decode(Unhex("d40100")).ok());  // fixext: never used by memberlist or Serf
}

TEST(MsgpackReader, RandomGarbageNeverCrashes) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 20000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    // Bias toward container headers to reach deeper paths.
    if (!junk.empty() && rng() % 2) junk[0] = static_cast<char>(0x80 | (rng() % 0x20));
    auto v = Decode(junk);
    if (v.ok()) {
      EXPECT_TRUE(Decode(Encode(*v)).ok());
    }
    Reader r(junk);
    (void)r.Skip();
  }
}

}  // namespace
}  // namespace gangway::codec::msgpack
