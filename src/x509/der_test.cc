#include "x509/der.h"

#include <gtest/gtest.h>

#include <string>

namespace gangway::x509::der {
namespace {

using namespace std::string_literals;

TEST(DerTest, ShortAndLongFormLengths) {
  std::string in = "\x02\x01\x05"s + "\x04\x81\x80"s + std::string(0x80, 'a') + "\x30\x00"s;
  Reader r(in);
  Element e;
  ASSERT_TRUE(r.Next(&e));
  EXPECT_EQ(e.tag, kInteger);
  EXPECT_EQ(e.contents, "\x05");
  EXPECT_EQ(e.encoding, "\x02\x01\x05");
  ASSERT_TRUE(r.Read(kOctetString, &e));
  EXPECT_EQ(e.contents.size(), 0x80u);
  EXPECT_EQ(e.encoding.size(), 0x83u);
  ASSERT_TRUE(r.Read(kSequence, &e));
  EXPECT_TRUE(e.contents.empty());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.PeekTag(), 0);
  EXPECT_FALSE(r.Next(&e));

  std::string big = "\x04\x82\x01\x00"s + std::string(256, 'b');
  Reader r2(big);
  ASSERT_TRUE(r2.Next(&e));
  EXPECT_EQ(e.contents.size(), 256u);
}

TEST(DerTest, RefusesWhatDerDoesNotAllow) {
  auto refused = [](const std::string& in) {
    Reader r(in);
    Element e;
    bool ok = r.Next(&e);
    // Nothing is consumed on failure.
    return !ok && r.PeekTag() == (in.empty() ? 0 : static_cast<uint8_t>(in[0]));
  };
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("\x30"));                          // no length
  EXPECT_TRUE(refused("\x30\x03\x02\x01"));              // shorter than its length
  EXPECT_TRUE(refused("\x30\x80\x02\x01\x05\x00\x00"s));  // indefinite length (BER)
  EXPECT_TRUE(refused("\x04\x81\x05hello"));             // long form where short fits
  EXPECT_TRUE(refused("\x04\x82\x00\x05hello"s));        // leading zero in the length
  EXPECT_TRUE(refused("\x04\x85\x01\x00\x00\x00\x00"s));  // five length bytes
  EXPECT_TRUE(refused("\x04\x84\xff\xff\xff\xff"));      // four bytes, far past the input
  EXPECT_TRUE(refused("\x04\x81"));                      // truncated long form
  EXPECT_TRUE(refused("\x1f\x22\x01\x00"s));             // high tag number
  EXPECT_TRUE(refused("\x00\x00"s));                     // end-of-contents
}

TEST(DerTest, ReadWantsTheTagAndOptionalMayBeAbsent) {
  std::string in = "\x01\x01\xff\x04\x02hi"s;
  Reader r(in);
  Element e;
  bool present = true;
  EXPECT_FALSE(r.Read(kInteger, &e));
  ASSERT_TRUE(r.ReadOptional(kBoolean, &e, &present));
  EXPECT_TRUE(present);
  ASSERT_TRUE(r.ReadOptional(kBoolean, &e, &present));
  EXPECT_FALSE(present);  // the next one is an OCTET STRING
  ASSERT_TRUE(r.Read(kOctetString, &e));
  EXPECT_EQ(e.contents, "hi");
  ASSERT_TRUE(r.ReadOptional(kBoolean, &e, &present));
  EXPECT_FALSE(present);  // at the end

  std::string bad = "\x01\x05\xff"s;  // the right tag, but truncated
  Reader r2(bad);
  EXPECT_FALSE(r2.ReadOptional(kBoolean, &e, &present));
}

TEST(DerTest, ObjectIdentifiers) {
  EXPECT_TRUE(ValidOid("\x55\x1d\x11"s));                  // 2.5.29.17
  EXPECT_TRUE(ValidOid("\x2a\x86\x48\xce\x3d\x02\x01"s));  // 1.2.840.10045.2.1
  EXPECT_TRUE(ValidOid("\x00"s));
  EXPECT_FALSE(ValidOid(""));
  EXPECT_FALSE(ValidOid("\x2a\x86"s));      // the last subidentifier is cut
  EXPECT_FALSE(ValidOid("\x2a\x80\x01"s));  // a leading 0x80: not the shortest form
  EXPECT_FALSE(ValidOid("\x80\x01"s));

  std::string in = "\x06\x03\x55\x1d\x11\x06\x02\x2a\x86\x02\x01\x00"s;
  Reader r(in);
  Element e;
  ASSERT_TRUE(r.ReadOid(&e));
  EXPECT_EQ(e.contents, "\x55\x1d\x11");
  EXPECT_FALSE(r.ReadOid(&e));  // malformed contents
  EXPECT_EQ(r.PeekTag(), kOid);  // and nothing consumed
  ASSERT_TRUE(r.Next(&e));
  EXPECT_FALSE(r.ReadOid(&e));  // an INTEGER
}

TEST(DerTest, BitStringsWithoutUnusedBits) {
  std::string_view bytes;
  const std::string key = "\x00\x04\x01\x02"s;
  EXPECT_TRUE(BitStringBytes(key, &bytes));
  EXPECT_EQ(bytes, "\x04\x01\x02");
  const std::string empty = "\x00"s;
  EXPECT_TRUE(BitStringBytes(empty, &bytes));
  EXPECT_TRUE(bytes.empty());
  EXPECT_FALSE(BitStringBytes("", &bytes));
  EXPECT_FALSE(BitStringBytes("\x03\xf8", &bytes));
}

}  // namespace
}  // namespace gangway::x509::der
