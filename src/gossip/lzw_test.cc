#include "gossip/lzw.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace gangway::gossip {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

struct LzwCase {
  std::string input;
  std::string output;
};

// Go 1.19 compress/lzw outputs from shared/testdata/gossip-vectors/25-lzw-go-reference.txt.
std::vector<LzwCase> GoReferenceCases() {
  std::ifstream in(std::string(GANGWAY_GOSSIP_VECTORS_DIR) + "/25-lzw-go-reference.txt");
  std::vector<LzwCase> cases;
  std::string line;
  LzwCase current;
  while (std::getline(in, line)) {
    auto value = [&](std::string_view prefix) {
      std::string v = line.substr(prefix.size());
      v.erase(0, v.find_first_not_of(' '));
      return v == "(empty)" ? std::string() : Unhex(v);
    };
    if (line.rfind("INPUT:", 0) == 0) current.input = value("INPUT:");
    if (line.rfind("OUTPUT:", 0) == 0) {
      current.output = value("OUTPUT:");
      cases.push_back(current);
    }
  }
  return cases;
}

TEST(Lzw, ReproducesGoReferenceOutputs) {
  const auto cases = GoReferenceCases();
  ASSERT_EQ(cases.size(), 3u) << "vector 25 not found or changed";
  for (const LzwCase& c : cases) {
    EXPECT_EQ(LzwCompress(c.input), c.output);
    auto back = LzwDecompress(c.output);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, c.input);
  }
  // The two spelled out in the reference (§5.5).
  EXPECT_EQ(LzwCompress(""), Unhex("000302"));
  EXPECT_EQ(LzwCompress("a"), Unhex("00c30404"));
}

// Inputs long enough to fill the 4095-code table several times, so the CLEAR-and-restart path
// and every code width are exercised in both directions.
TEST(Lzw, RoundTripsAcrossTableResets) {
  std::mt19937 rng(7946);
  std::vector<std::string> inputs;
  std::string random(50000, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  inputs.push_back(random);
  std::string text;
  while (text.size() < 120000) text += "alive n1 127.0.0.11:7946 role=consul dc=dc1 ";
  inputs.push_back(text);
  inputs.push_back(std::string(100000, '\xc0'));  // serf's nil Events ring, the common case
  std::string mixed;
  for (int i = 0; i < 40000; ++i) mixed.push_back(static_cast<char>(rng() % 4));
  inputs.push_back(mixed);
  for (size_t n = 0; n < 600; ++n) inputs.push_back(random.substr(n * 37 % 1000, n));
  for (const std::string& in : inputs) {
    const std::string z = LzwCompress(in);
    auto back = LzwDecompress(z);
    ASSERT_TRUE(back.ok()) << back.status().message() << " size " << in.size();
    ASSERT_EQ(*back, in) << "size " << in.size();
  }
}

TEST(Lzw, TruncatedStreamsFailWithoutEof) {
  std::string text;
  while (text.size() < 5000) text += "push pull state ";
  const std::string z = LzwCompress(text);
  for (size_t n = 0; n + 1 < z.size(); ++n) {
    EXPECT_FALSE(LzwDecompress(std::string_view(z).substr(0, n)).ok()) << n;
  }
}

TEST(Lzw, RejectsInvalidCodes) {
  // CLEAR, then code 300 before any dictionary entry exists.
  std::string bad;
  const uint32_t codes[] = {256, 300};
  uint32_t bits = 0;
  int nbits = 0;
  for (uint32_t c : codes) {
    bits |= c << nbits;
    nbits += 9;
  }
  while (nbits > 0) {
    bad.push_back(static_cast<char>(bits & 0xff));
    bits >>= 8;
    nbits -= 8;
  }
  auto r = LzwDecompress(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid code"), std::string::npos);
}

TEST(Lzw, OutputIsBounded) {
  const std::string big(1 << 20, 'x');
  const std::string z = LzwCompress(big);
  EXPECT_LT(z.size(), 20000u);
  auto r = LzwDecompress(z, 1 << 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
  EXPECT_TRUE(LzwDecompress(z, 1 << 20).ok());
}

TEST(Lzw, IgnoresBytesAfterEof) {
  std::string z = LzwCompress("hello");
  z += "trailing junk";
  auto r = LzwDecompress(z);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
}

TEST(Lzw, RandomInputNeverCrashes) {
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    (void)LzwDecompress(junk, 1 << 20);
  }
}

}  // namespace
}  // namespace gangway::gossip
