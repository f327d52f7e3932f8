#include "dns/message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gangway::dns {
namespace {

using ::testing::HasSubstr;

using Bytes = std::vector<uint8_t>;

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Appends a name in wire form from dotted text without escapes ("" is the root).
void AppendName(Bytes* b, std::string_view dotted) {
  size_t i = 0;
  while (i < dotted.size()) {
    size_t dot = dotted.find('.', i);
    if (dot == std::string_view::npos) dot = dotted.size();
    b->push_back(static_cast<uint8_t>(dot - i));
    b->insert(b->end(), dotted.begin() + i, dotted.begin() + dot);
    i = dot + 1;
  }
  b->push_back(0);
}

void Append16(Bytes* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}

void Append32(Bytes* b, uint32_t v) {
  Append16(b, static_cast<uint16_t>(v >> 16));
  Append16(b, static_cast<uint16_t>(v));
}

Bytes Header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  Bytes b;
  for (uint16_t v : {id, flags, qd, an, ns, ar}) Append16(&b, v);
  return b;
}

Record Rec(std::string name, uint16_t type, uint32_t ttl = 30) {
  Record r;
  r.name = std::move(name);
  r.type = type;
  r.ttl = ttl;
  return r;
}

Message EveryType() {
  Message m;
  m.header = {
      .id = 0xbeef, .qr = true, .opcode = 0, .aa = true, .rd = true, .ra = false, .rcode = 0};
  m.questions.push_back({"web.service.consul.", kANY, kClassIN});
  Record a = Rec("web.service.consul.", kA);
  a.ip = {10, 0, 0, 7};
  Record aaaa = Rec("web.service.consul.", kAAAA);
  aaaa.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  Record cname = Rec("alias.service.consul.", kCNAME);
  cname.target = "web.service.consul.";
  Record ptr = Rec("7.0.0.10.in-addr.arpa.", kPTR);
  ptr.target = "node1.node.dc1.consul.";
  Record ns = Rec("consul.", kNS);
  ns.target = "ns.consul.";
  Record mx = Rec("consul.", kMX);
  mx.preference = 10;
  mx.target = "mail.consul.";
  Record srv = Rec("_web._tcp.service.consul.", kSRV);
  srv.srv = {.priority = 1, .weight = 1, .port = 8080, .target = "0a000007.addr.dc1.consul."};
  Record txt = Rec("web.service.consul.", kTXT);
  txt.txt = {"consul-network-segment=", "", "a=b"};
  Record caa = Rec("consul.", 257);
  caa.raw = std::string(
      "\x00\x05issue\x00"
      "ca",
      10);
  Record soa = Rec("consul.", kSOA, 0);
  soa.soa = {.mname = "ns.consul.",
             .rname = "hostmaster.consul.",
             .serial = 1700000000,
             .refresh = 3600,
             .retry = 600,
             .expire = 86400,
             .minimum = 0};
  m.answer = {a, aaaa, cname, ptr, ns, mx, srv, txt, caa};
  m.authority = {soa};
  Record glue = Rec("0a000007.addr.dc1.consul.", kA);
  glue.ip = {10, 0, 0, 7};
  m.additional = {glue};
  m.edns = Edns{.udp_size = 1232, .version = 0, .dnssec_ok = true};
  return m;
}

Message RoundTrip(const Message& m, bool compress) {
  std::string wire;
  Encode(m, compress, &wire);
  auto parsed = Parse(Span(wire));
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? *parsed : Message{};
}

TEST(DnsMessageTest, RoundTripsEveryRecordType) {
  const Message m = EveryType();
  EXPECT_EQ(RoundTrip(m, true), m);
  EXPECT_EQ(RoundTrip(m, false), m);
}

TEST(DnsMessageTest, UncompressedSizeMatchesTheEncoding) {
  Message m = EveryType();
  m.edns->subnet = ClientSubnet{.family = 1, .source_prefix = 24, .address = {"\x0a\x00\x01", 3}};
  m.edns->options.push_back({10, "12345678"});
  m.answer.back().txt = {std::string(600, 'x')};
  std::string wire;
  Encode(m, false, &wire);
  EXPECT_EQ(UncompressedSize(m), wire.size());
  std::string compressed;
  Encode(m, true, &compressed);
  EXPECT_LT(compressed.size(), wire.size());
}

TEST(DnsMessageTest, SplitsTxtStringsLongerThan255Bytes) {
  Message m;
  Record txt = Rec("t.consul.", kTXT);
  txt.txt = {std::string(300, 'a'), "b"};
  m.answer = {txt};
  Message back = RoundTrip(m, true);
  ASSERT_EQ(back.answer.size(), 1u);
  EXPECT_EQ(back.answer[0].txt,
            (std::vector<std::string>{std::string(255, 'a'), std::string(45, 'a'), "b"}));
}

TEST(DnsMessageTest, CompressionShrinksRepeatedNames) {
  Message m;
  m.header.qr = true;
  m.questions.push_back({"web.service.consul.", kSRV});
  for (int i = 0; i < 5; ++i) {
    Record srv = Rec("web.service.consul.", kSRV);
    srv.srv = {1, 1, static_cast<uint16_t>(8000 + i),
               "node" + std::to_string(i) + ".node.dc1.consul."};
    m.answer.push_back(srv);
    Record a = Rec(srv.srv.target, kA);
    a.ip = {10, 0, 0, static_cast<uint8_t>(i)};
    m.additional.push_back(a);
  }
  std::string plain, packed;
  Encode(m, false, &plain);
  Encode(m, true, &packed);
  EXPECT_EQ(plain.size(), UncompressedSize(m));
  // Each answer's owner is a 2-byte pointer to the question (offset 12) instead of 20 bytes;
  // each additional owner points at the SRV target written in full.
  EXPECT_LE(packed.size() + 5 * 18 + 5 * 21, plain.size());
  const size_t first_answer = 12 + 20 + 4;
  EXPECT_EQ(static_cast<uint8_t>(packed[first_answer]), 0xC0);
  EXPECT_EQ(static_cast<uint8_t>(packed[first_answer + 1]), 12);
  EXPECT_EQ(RoundTrip(m, true), m);
}

TEST(DnsMessageTest, CompressionKeepsCaseExactly) {
  Message m;
  m.questions.push_back({"WeB.SerVice.Consul.", kA});
  Record a = Rec("web.service.consul.", kA);
  a.ip = {1, 2, 3, 4};
  Record b = Rec("WeB.SerVice.Consul.", kA);
  b.ip = {5, 6, 7, 8};
  m.answer = {a, b};
  std::string wire;
  Encode(m, true, &wire);
  auto back = Parse(Span(wire));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->questions[0].name, "WeB.SerVice.Consul.");
  EXPECT_EQ(back->answer[0].name, "web.service.consul.");
  EXPECT_EQ(back->answer[1].name, "WeB.SerVice.Consul.");
  // The second answer's owner is exactly the question's bytes, so it is a pointer to them.
  EXPECT_EQ(wire.size(), 12u + 20 + 4 + (20 + 14) + (2 + 14));
}

TEST(DnsMessageTest, ParsePreservesCase) {
  Bytes b = Header(1, 0x0100, 1, 0, 0, 0);
  AppendName(&b, "WWW.Example.COM");
  Append16(&b, kA);
  Append16(&b, kClassIN);
  auto m = Parse(b);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->questions[0].name, "WWW.Example.COM.");
}

TEST(DnsMessageTest, EscapesDotsBackslashesAndUnprintableBytes) {
  Bytes b = Header(1, 0, 1, 0, 0, 0);
  const uint8_t name[] = {3, 'a', '.', 'b', 4, 0, ' ', '\\', 0xff, 4, 't', 'e', 's', 't', 0};
  b.insert(b.end(), std::begin(name), std::end(name));
  Append16(&b, kTXT);
  Append16(&b, kClassIN);
  auto m = Parse(b);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->questions[0].name, "a\\.b.\\000\\032\\\\\\255.test.");
  EXPECT_TRUE(ValidateName(m->questions[0].name).ok());
  std::string wire;
  Encode(*m, true, &wire);
  EXPECT_EQ(Bytes(wire.begin(), wire.end()), b);
  // Needless escapes are accepted and come back in the one canonical spelling.
  Message q;
  q.questions.push_back({"\\065\\b.test", kA});
  EXPECT_EQ(RoundTrip(q, true).questions[0].name, "Ab.test.");
  q.questions[0].name = ".";
  EXPECT_EQ(RoundTrip(q, true).questions[0].name, ".");
}

TEST(DnsMessageTest, ValidateNameNamesWhatIsWrong) {
  EXPECT_TRUE(ValidateName("web.service.consul.").ok());
  EXPECT_TRUE(ValidateName("web.service.consul").ok());
  EXPECT_TRUE(ValidateName(".").ok());
  EXPECT_TRUE(ValidateName(std::string(63, 'a') + ".consul.").ok());
  EXPECT_THAT(ValidateName(std::string(64, 'a') + ".consul.").message(),
              HasSubstr("label longer than 63 bytes"));
  // 4 labels of 63 bytes: 4 * 64 + 1 = 257 bytes on the wire.
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  EXPECT_THAT(ValidateName(long_name).message(), HasSubstr("name longer than 255 bytes"));
  // 3 labels of 63 and one of 61: exactly 255.
  EXPECT_TRUE(ValidateName(long_name.substr(0, 3 * 64) + std::string(61, 'b') + ".").ok());
  EXPECT_THAT(ValidateName("a..b.").message(), HasSubstr("empty label"));
  EXPECT_THAT(ValidateName(".a.").message(), HasSubstr("empty label"));
  EXPECT_THAT(ValidateName("").message(), HasSubstr("empty name"));
  EXPECT_THAT(ValidateName("a\\").message(), HasSubstr("lone backslash"));
  EXPECT_THAT(ValidateName("a\\25.").message(), HasSubstr("\\DDD"));
  EXPECT_THAT(ValidateName("a\\256.").message(), HasSubstr("more than 255"));
}

TEST(DnsMessageDeathTest, EncodeStopsOnAnInvalidName) {
  Message m;
  m.questions.push_back({std::string(64, 'a') + ".", kA});
  std::string wire;
  EXPECT_DEATH(Encode(m, true, &wire), "label longer than 63 bytes");
}

TEST(DnsMessageTest, EdnsWithoutClientSubnet) {
  Message m;
  m.questions.push_back({"web.service.consul.", kA});
  m.edns = Edns{.udp_size = 4096, .version = 0, .dnssec_ok = false};
  const Message back = RoundTrip(m, true);
  ASSERT_TRUE(back.edns.has_value());
  EXPECT_EQ(back.edns->udp_size, 4096);
  EXPECT_FALSE(back.edns->subnet.has_value());
  EXPECT_TRUE(back.additional.empty());
  EXPECT_EQ(back, m);
}

TEST(DnsMessageTest, EdnsWithClientSubnet) {
  Message m;
  m.questions.push_back({"web.service.consul.", kAAAA});
  m.edns = Edns{.udp_size = 1232, .version = 0, .dnssec_ok = true};
  m.edns->subnet = ClientSubnet{.family = 2,
                                .source_prefix = 56,
                                .scope_prefix = 0,
                                .address = std::string("\x20\x01\x0d\xb8\x00\x01\x02", 7)};
  EXPECT_EQ(RoundTrip(m, true), m);
  m.edns->subnet = ClientSubnet{.family = 1, .source_prefix = 0, .scope_prefix = 0};
  EXPECT_EQ(RoundTrip(m, true), m);
}

TEST(DnsMessageTest, ExtendedRcodeGoesIntoTheOptRecord) {
  Message m;
  m.header.qr = true;
  m.header.rcode = 16;  // BADVERS
  m.edns = Edns{};
  const Message back = RoundTrip(m, true);
  EXPECT_EQ(back.header.rcode, 0);
  EXPECT_EQ(back.edns->extended_rcode, 1);
}

// A query as `dig @127.0.0.1 -p 8600 web.service.consul SRV` sends it (dig 9.18: RD and AD set,
// EDNS0 with a 1232-byte UDP size and a client cookie), written out from RFC 1035 and RFC 6891.
TEST(DnsMessageTest, ParsesADigQuery) {
  const Bytes query = {
      0x1a, 0x2b,                                      // id
      0x01, 0x20,                                      // RD, AD
      0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // 1 question, 1 additional
      3,    'w',  'e',  'b',  7,    's',  'e',  'r',  'v',  'i',  'c',  'e',
      6,    'c',  'o',  'n',  's',  'u',  'l',  0,    0x00, 0x21, 0x00, 0x01,  // SRV IN
      0x00,                                                                    // root
      0x00, 0x29,                                                              // OPT
      0x04, 0xd0,                                                              // udp 1232
      0x00, 0x00, 0x00, 0x00,  // ext rcode, version, flags
      0x00, 0x0c,              // rdlength
      0x00, 0x0a, 0x00, 0x08,  // COOKIE, 8 bytes
      0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
  };
  auto m = Parse(query);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->header.id, 0x1a2b);
  EXPECT_FALSE(m->header.qr);
  EXPECT_TRUE(m->header.rd);
  EXPECT_EQ(m->header.opcode, 0);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0], (Question{"web.service.consul.", kSRV, kClassIN}));
  EXPECT_TRUE(m->additional.empty());
  ASSERT_TRUE(m->edns.has_value());
  EXPECT_EQ(m->edns->udp_size, 1232);
  EXPECT_EQ(m->edns->version, 0);
  EXPECT_FALSE(m->edns->dnssec_ok);
  EXPECT_FALSE(m->edns->subnet.has_value());
  ASSERT_EQ(m->edns->options.size(), 1u);
  EXPECT_EQ(m->edns->options[0].code, 10);
  EXPECT_EQ(m->edns->options[0].data, std::string("\xde\xad\xbe\xef\x01\x02\x03\x04", 8));
  EXPECT_EQ(PeekId(query), 0x1a2b);
}

TEST(DnsMessageTest, PeekIdNeedsTwoBytes) {
  EXPECT_EQ(PeekId(Bytes{0x12}), std::nullopt);
  EXPECT_EQ(PeekId(Bytes{0x12, 0x34}), 0x1234);
}

// Every error below must be an error, and say what it is.
std::string ParseError(const Bytes& b) {
  auto m = Parse(b);
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.status().message();
}

Bytes OneQuestion(std::string_view name) {
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  AppendName(&b, name);
  Append16(&b, kA);
  Append16(&b, kClassIN);
  return b;
}

TEST(DnsMessageTest, RejectsTruncatedHeader) {
  EXPECT_THAT(ParseError(Bytes{0x12, 0x34, 0x01}), HasSubstr("truncated header: 3 bytes"));
  EXPECT_THAT(ParseError(Bytes{}), HasSubstr("truncated header"));
}

TEST(DnsMessageTest, RejectsTruncatedQuestion) {
  Bytes b = OneQuestion("web.consul");
  b.resize(b.size() - 1);
  EXPECT_THAT(ParseError(b), HasSubstr("truncated question 1"));
  // A 10-byte label with 4 bytes left: enough for the count check, not for the label.
  b = Header(7, 0, 1, 0, 0, 0);
  b.insert(b.end(), {10, 'w', 'e', 'b', 0});
  EXPECT_THAT(ParseError(b), HasSubstr("question 1: truncated label at offset 12"));
}

TEST(DnsMessageTest, RejectsTruncatedRdata) {
  Bytes b = Header(7, 0x8000, 0, 1, 0, 0);
  AppendName(&b, "web.consul");
  Append16(&b, kA);
  Append16(&b, kClassIN);
  Append32(&b, 30);
  Append16(&b, 4);
  b.push_back(10);
  b.push_back(0);  // 2 of 4 rdata bytes
  EXPECT_THAT(ParseError(b), HasSubstr("answer record 1: rdata of 4 bytes runs past the end"));
}

TEST(DnsMessageTest, RejectsRdlengthThatDoesNotMatchTheType) {
  Bytes b = Header(7, 0x8000, 0, 1, 0, 0);
  AppendName(&b, "web.consul");
  Append16(&b, kA);
  Append16(&b, kClassIN);
  Append32(&b, 30);
  Append16(&b, 5);
  for (int i = 0; i < 5; ++i) b.push_back(1);
  EXPECT_THAT(ParseError(b), HasSubstr("rdata of 5 bytes for type 1, expected 4"));

  b = Header(7, 0x8000, 0, 1, 0, 0);
  AppendName(&b, "web.consul");
  Append16(&b, kCNAME);
  Append16(&b, kClassIN);
  Append32(&b, 30);
  Append16(&b, 7);  // a 5-byte name and 2 spare bytes
  AppendName(&b, "x.y");
  b.push_back(0);
  b.push_back(0);
  EXPECT_THAT(ParseError(b), HasSubstr("rdata length 7 for type 5 but 5 bytes used"));

  // A name in rdata may not run past the rdata, even though the message goes on.
  b = Header(7, 0x8000, 0, 1, 0, 0);
  AppendName(&b, "a");
  Append16(&b, kCNAME);
  Append16(&b, kClassIN);
  Append32(&b, 30);
  Append16(&b, 2);
  AppendName(&b, "x.y");
  EXPECT_THAT(ParseError(b), HasSubstr("answer record 1: truncated"));
}

TEST(DnsMessageTest, RejectsRdlengthOverflow) {
  Bytes b = Header(7, 0x8000, 0, 1, 0, 0);
  AppendName(&b, "web.consul");
  Append16(&b, 99);
  Append16(&b, kClassIN);
  Append32(&b, 30);
  Append16(&b, 0xFFFF);
  b.push_back(1);
  EXPECT_THAT(ParseError(b), HasSubstr("rdata of 65535 bytes runs past the end of the message"));
}

TEST(DnsMessageTest, RejectsACompressionPointerToItself) {
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  b.push_back(0xC0);
  b.push_back(12);
  Append16(&b, kA);
  Append16(&b, kClassIN);
  EXPECT_THAT(ParseError(b), HasSubstr("name compression loop at offset 12"));
}

TEST(DnsMessageTest, RejectsALoopThroughAnEarlierLabel) {
  // "a" at 12, then a pointer back to 12: backwards, but into its own label sequence.
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  b.insert(b.end(), {1, 'a', 0xC0, 12});
  Append16(&b, kA);
  Append16(&b, kClassIN);
  EXPECT_THAT(ParseError(b), HasSubstr("name compression loop at offset 14"));

  // A pointer to a later name is refused even where that name is well formed.
  b = Header(7, 0, 2, 0, 0, 0);
  b.insert(b.end(), {1, 'a', 0xC0, 22, 0, 1, 0, 1});  // question 1: a + pointer forward to 22
  b.insert(b.end(), {0, 0, 1, 'b', 0xC0, 12, 0, 1, 0, 1});
  EXPECT_THAT(ParseError(b), HasSubstr("compression pointer forward at offset 14"));
}

TEST(DnsMessageTest, RejectsACompressionPointerForward) {
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  b.push_back(0xC0);
  b.push_back(18);
  Append16(&b, kA);
  Append16(&b, kClassIN);
  b.insert(b.end(), {1, 'a', 0});
  EXPECT_THAT(ParseError(b), HasSubstr("compression pointer forward at offset 12"));
}

TEST(DnsMessageTest, RejectsACompressionPointerIntoTheHeader) {
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  b.insert(b.end(), {0xC0, 2});
  Append16(&b, kA);
  Append16(&b, kClassIN);
  EXPECT_THAT(ParseError(b), HasSubstr("compression pointer into the header at offset 12"));
}

// Chains of pointers to pointers are legal but bounded: question k is a pointer to question
// k-1's name, so its name takes k-1 jumps.
Bytes PointerChain(int questions) {
  Bytes b = Header(7, 0, static_cast<uint16_t>(questions), 0, 0, 0);
  size_t previous = b.size();
  AppendName(&b, "a");
  Append16(&b, kA);
  Append16(&b, kClassIN);
  for (int k = 2; k <= questions; ++k) {
    const size_t here = b.size();
    Append16(&b, static_cast<uint16_t>(0xC000 | previous));
    Append16(&b, kA);
    Append16(&b, kClassIN);
    previous = here;
  }
  return b;
}

TEST(DnsMessageTest, BoundsPointerChains) {
  auto ok = Parse(PointerChain(128));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->questions.back().name, "a.");
  EXPECT_THAT(ParseError(PointerChain(129)),
              HasSubstr("question 129: more than 127 compression pointers"));
}

TEST(DnsMessageTest, RejectsALabelLongerThan63Bytes) {
  Bytes b = Header(7, 0, 1, 0, 0, 0);
  b.push_back(64);
  b.insert(b.end(), 64, 'a');
  b.push_back(0);
  Append16(&b, kA);
  Append16(&b, kClassIN);
  EXPECT_THAT(ParseError(b), HasSubstr("label longer than 63 bytes"));
  EXPECT_THAT(ParseError(b), HasSubstr("at offset 12"));
}

TEST(DnsMessageTest, RejectsANameLongerThan255Bytes) {
  std::string name;
  for (int i = 0; i < 4; ++i) name += std::string(63, 'a') + ".";
  EXPECT_THAT(ParseError(OneQuestion(name)), HasSubstr("name longer than 255 bytes at offset 12"));
  // Through pointers too: 3 x 63 written once, then a name of 66 bytes pointing at it.
  std::string three;
  for (int i = 0; i < 3; ++i) three += std::string(63, 'a') + ".";
  Bytes b = Header(7, 0, 2, 0, 0, 0);
  AppendName(&b, three);
  Append16(&b, kA);
  Append16(&b, kClassIN);
  const size_t second = b.size();
  AppendName(&b, std::string(63, 'b'));
  b.pop_back();
  b.insert(b.end(), {0xC0, 12});
  Append16(&b, kA);
  Append16(&b, kClassIN);
  EXPECT_THAT(ParseError(b),
              HasSubstr("name longer than 255 bytes at offset " + std::to_string(second)));
  b = OneQuestion(three.substr(0, 3 * 64 - 1) + "." + std::string(61, 'c'));
  EXPECT_TRUE(Parse(b).ok());
}

TEST(DnsMessageTest, RejectsTwoOptRecords) {
  Bytes b = Header(7, 0, 0, 0, 0, 2);
  for (int i = 0; i < 2; ++i) {
    b.push_back(0);
    Append16(&b, kOPT);
    Append16(&b, 1232);
    Append32(&b, 0);
    Append16(&b, 0);
  }
  EXPECT_THAT(ParseError(b), HasSubstr("second OPT record"));
}

TEST(DnsMessageTest, RejectsBadClientSubnets) {
  auto with_option = [](Bytes option) {
    Bytes b = Header(7, 0, 0, 0, 0, 1);
    b.push_back(0);
    Append16(&b, kOPT);
    Append16(&b, 1232);
    Append32(&b, 0);
    Append16(&b, static_cast<uint16_t>(option.size() + 4));
    Append16(&b, kOptionClientSubnet);
    Append16(&b, static_cast<uint16_t>(option.size()));
    b.insert(b.end(), option.begin(), option.end());
    return b;
  };
  EXPECT_TRUE(Parse(with_option({0, 1, 24, 0, 10, 0, 1})).ok());
  EXPECT_THAT(ParseError(with_option({0, 1, 24, 0, 10, 0})), HasSubstr("address of 2 bytes"));
  EXPECT_THAT(ParseError(with_option({0, 3, 0, 0})), HasSubstr("family 3"));
  EXPECT_THAT(ParseError(with_option({0, 1, 33, 0, 1, 2, 3, 4, 5})), HasSubstr("prefix longer"));
  EXPECT_THAT(ParseError(with_option({0, 1})), HasSubstr("truncated client subnet"));
}

TEST(DnsMessageTest, RejectsOptOutsideTheAdditionalSection) {
  Bytes b = Header(7, 0, 0, 1, 0, 0);
  b.push_back(0);
  Append16(&b, kOPT);
  Append16(&b, 1232);
  Append32(&b, 0);
  Append16(&b, 0);
  EXPECT_THAT(ParseError(b), HasSubstr("OPT record outside the additional section"));
}

TEST(DnsMessageTest, RejectsCountsTheBytesCannotHold) {
  EXPECT_THAT(ParseError(Header(7, 0, 65535, 0, 0, 0)),
              HasSubstr("header claims 65535 questions and 0 records"));
  EXPECT_THAT(ParseError(Header(7, 0, 0, 65535, 65535, 65535)),
              HasSubstr("196605 records, more than the 0 bytes"));
}

}  // namespace
}  // namespace gangway::dns
