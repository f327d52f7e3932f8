#include "net/client_hello.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace gangway::net {
namespace {

using Buf = std::vector<uint8_t>;
using Kind = PeekResult::Kind;

constexpr char kConsulSni[] =
    "api.default.dc2.internal.11111111-2222-3333-4444-555555555555.consul";

// --- Real hellos, as OpenSSL writes them --------------------------------------------------------

struct HelloOptions {
  const char* sni = kConsulSni;
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  int max_version = 0;  // 0: OpenSSL's default (TLS 1.3)
};

// The bytes OpenSSL's SSL_connect writes first: its ClientHello, in one or more records.
Buf OpenSslHello(const HelloOptions& o = {}) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) return {};
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!ssl) return {};
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // ssl owns both now
  if (o.sni != nullptr) SSL_set_tlsext_host_name(ssl.get(), o.sni);
  if (!o.alpn.empty()) {
    Buf wire;
    for (const std::string& p : o.alpn) {
      wire.push_back(static_cast<uint8_t>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    if (SSL_set_alpn_protos(ssl.get(), wire.data(), static_cast<unsigned>(wire.size())) != 0) {
      return {};
    }
  }
  // Nothing will answer: the handshake stops waiting for the ServerHello.
  const int rc = SSL_connect(ssl.get());
  if (rc > 0 || SSL_get_error(ssl.get(), rc) != SSL_ERROR_WANT_READ) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  return Buf(data, data + n);
}

// --- Hand-built hellos ---------------------------------------------------------------------------

void Put16(Buf& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void Append(Buf& b, const Buf& more) { b.insert(b.end(), more.begin(), more.end()); }

Buf Bytes(std::string_view s) { return Buf(s.begin(), s.end()); }

struct Ext {
  uint16_t type;
  Buf data;
};

Buf SniData(const std::vector<std::pair<uint8_t, std::string>>& names) {
  Buf list;
  for (const auto& [type, name] : names) {
    list.push_back(type);
    Put16(list, name.size());
    Append(list, Bytes(name));
  }
  Buf data;
  Put16(data, list.size());
  Append(data, list);
  return data;
}

Ext Sni(const std::string& name) { return {0, SniData({{0, name}})}; }

Ext Alpn(const std::vector<std::string>& names) {
  Buf list;
  for (const std::string& n : names) {
    list.push_back(static_cast<uint8_t>(n.size()));
    Append(list, Bytes(n));
  }
  Buf data;
  Put16(data, list.size());
  Append(data, list);
  return {16, data};
}

Ext Versions(const std::vector<uint16_t>& versions) {
  Buf data{static_cast<uint8_t>(versions.size() * 2)};
  for (uint16_t v : versions) Put16(data, v);
  return {43, data};
}

Ext Padding(size_t n) { return {21, Buf(n, 0)}; }

// A ClientHello body: TLS 1.2 legacy_version, a 32-byte session id, two suites, null compression
// and `exts` (no extensions block at all when `exts` is nullopt).
Buf HelloBody(const std::optional<std::vector<Ext>>& exts) {
  Buf b;
  Put16(b, 0x0303);
  Append(b, Buf(32, 0xab));  // random
  b.push_back(32);
  Append(b, Buf(32, 0xcd));  // legacy_session_id
  Put16(b, 4);
  Append(b, {0x13, 0x01, 0xc0, 0x2f});
  Append(b, {1, 0});  // null compression
  if (exts) {
    Buf all;
    for (const Ext& e : *exts) {
      Put16(all, e.type);
      Put16(all, e.data.size());
      Append(all, e.data);
    }
    Put16(b, all.size());
    Append(b, all);
  }
  return b;
}

Buf Handshake(const Buf& body, uint8_t type = 1) {
  Buf m{type, static_cast<uint8_t>(body.size() >> 16), static_cast<uint8_t>(body.size() >> 8),
        static_cast<uint8_t>(body.size())};
  Append(m, body);
  return m;
}

Buf Record(const Buf& payload, uint8_t type = 22, uint16_t version = 0x0301) {
  Buf r{type};
  Put16(r, version);
  Put16(r, payload.size());
  Append(r, payload);
  return r;
}

// The handshake message split across records at `cuts` (offsets into the message).
Buf Fragmented(const Buf& message, const std::vector<size_t>& cuts) {
  Buf out;
  size_t start = 0;
  for (size_t cut : cuts) {
    Append(out, Record(Buf(message.begin() + start, message.begin() + cut)));
    start = cut;
  }
  Append(out, Record(Buf(message.begin() + start, message.end())));
  return out;
}

Buf SyntheticHello(const std::vector<Ext>& exts) { return Record(Handshake(HelloBody(exts))); }

// The handshake message carried by a single-record hello.
Buf MessageOf(const Buf& record) { return Buf(record.begin() + 5, record.end()); }

PeekResult Parse(const Buf& b, const HelloLimits& limits = {}) {
  return ParseClientHello(b, limits);
}

Buf Prefix(const Buf& b, size_t n) { return Buf(b.begin(), b.begin() + n); }

// Expects an error of kind `e`; prints the message either way so a failure explains itself.
void ExpectError(const PeekResult& r, HelloError e) {
  ASSERT_EQ(r.kind, Kind::kError) << "need_at_least=" << r.need_at_least;
  EXPECT_EQ(HelloErrorName(r.error), HelloErrorName(e)) << r.message;
  EXPECT_FALSE(r.message.empty());
}

// Every strict prefix asks for more, and for no more than the whole; the whole parses.
void ExpectIncremental(const Buf& hello) {
  for (size_t n = 0; n < hello.size(); ++n) {
    const PeekResult r = Parse(Prefix(hello, n));
    ASSERT_EQ(r.kind, Kind::kNeedMore) << "prefix of " << n << ": " << r.message;
    EXPECT_GT(r.need_at_least, n);
    EXPECT_LE(r.need_at_least, hello.size());
  }
  EXPECT_TRUE(Parse(hello).ok());
}

// --- Real hellos ------------------------------------------------------------------------------

TEST(ClientHelloTest, ReadsOpenSslHello) {
  const Buf hello = OpenSslHello();
  ASSERT_FALSE(hello.empty());
  const PeekResult r = Parse(hello);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, kConsulSni);
  EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(r.hello.legacy_version, 0x0303);
  EXPECT_NE(std::find(r.hello.supported_versions.begin(), r.hello.supported_versions.end(), 0x0304),
            r.hello.supported_versions.end());
  EXPECT_EQ(r.hello.HighestVersion(), 0x0304);
  EXPECT_EQ(r.hello.consumed, hello.size());
  EXPECT_EQ(r.hello.records, 1u);
}

TEST(ClientHelloTest, ReadsTls12OnlyHelloWithoutSupportedVersions) {
  HelloOptions o;
  o.max_version = TLS1_2_VERSION;
  const PeekResult r = Parse(OpenSslHello(o));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, kConsulSni);
  EXPECT_TRUE(r.hello.supported_versions.empty());
  EXPECT_EQ(r.hello.HighestVersion(), 0x0303);
}

TEST(ClientHelloTest, NoServerNameIsOkWithEmptySni) {
  HelloOptions o;
  o.sni = nullptr;
  o.alpn = {};
  const PeekResult r = Parse(OpenSslHello(o));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, "");
  EXPECT_TRUE(r.hello.alpn.empty());
}

TEST(ClientHelloTest, ReassemblesHelloSplitAcrossTwoRecords) {
  const Buf one = OpenSslHello();
  const Buf message = MessageOf(one);
  // Inside the handshake header, inside the extensions, and one byte before the end.
  for (size_t cut : {size_t{2}, message.size() / 2, message.size() - 1}) {
    const Buf two = Fragmented(message, {cut});
    const PeekResult r = Parse(two);
    ASSERT_TRUE(r.ok()) << "cut at " << cut << ": " << r.message;
    EXPECT_EQ(r.hello.sni, kConsulSni);
    EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
    EXPECT_EQ(r.hello.records, 2u);
    EXPECT_EQ(r.hello.consumed, two.size());
  }
}

TEST(ClientHelloTest, ReassemblesManySmallRecordsUpToTheLimit) {
  const Buf message = MessageOf(OpenSslHello());
  std::vector<size_t> cuts;
  for (size_t c = 16; c < message.size(); c += 16) cuts.push_back(c);
  const Buf many = Fragmented(message, cuts);
  HelloLimits limits;
  limits.max_records = cuts.size() + 1;
  const PeekResult r = Parse(many, limits);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, kConsulSni);
  EXPECT_EQ(r.hello.records, cuts.size() + 1);

  limits.max_records = cuts.size();
  ExpectError(Parse(many, limits), HelloError::kTooLarge);
}

TEST(ClientHelloTest, ByteByByteFeedingNeedsMoreUntilComplete) {
  const Buf one = OpenSslHello();
  ExpectIncremental(one);
  const Buf message = MessageOf(one);
  ExpectIncremental(Fragmented(message, {3}));
  ExpectIncremental(Fragmented(message, {100, 101}));
}

TEST(ClientHelloTest, ReadingWhatIsAskedForFinishesInFewSteps) {
  // A caller that reads exactly need_at_least bytes each time: one step for the first byte,
  // then two per record (header, body).
  const Buf two = Fragmented(MessageOf(OpenSslHello()), {200});
  size_t have = 0;
  int steps = 0;
  PeekResult r = Parse(Prefix(two, have));
  while (r.need_more()) {
    ASSERT_LE(r.need_at_least, two.size());
    have = r.need_at_least;
    r = Parse(Prefix(two, have));
    ++steps;
  }
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(have, two.size());
  EXPECT_EQ(steps, 5);
}

TEST(ClientHelloTest, LeavesBytesAfterTheHelloAlone) {
  Buf stream = OpenSslHello();
  const size_t hello_size = stream.size();
  Append(stream, Record({1}, 20, 0x0303));         // change_cipher_spec
  Append(stream, Record(Buf(40, 7), 23, 0x0303));  // early data
  const PeekResult r = Parse(stream);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.consumed, hello_size);
}

// --- Truncation and lengths -------------------------------------------------------------------

TEST(ClientHelloTest, TruncatedBodyWithConsistentOuterLengthsIsRefused) {
  // Cut the ClientHello body at every offset and fix up the handshake and record lengths, so
  // the outer layers agree and only the body's own vectors overrun. The one cut that leaves a
  // well-formed hello is just before the extensions block (hellos may omit it).
  const Buf body = HelloBody(std::vector<Ext>{Sni("a.example"), Alpn({"h2"})});
  const size_t before_extensions = 2 + 32 + 1 + 32 + 2 + 4 + 2;
  for (size_t cut = 0; cut < body.size(); ++cut) {
    const PeekResult r = Parse(Record(Handshake(Buf(body.begin(), body.begin() + cut))));
    if (cut == before_extensions) {
      ASSERT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(r.hello.sni, "");
      continue;
    }
    ASSERT_EQ(r.kind, Kind::kError) << "cut at " << cut;
  }
}

TEST(ClientHelloTest, TruncatedRealHelloNeverParses) {
  const Buf message = MessageOf(OpenSslHello());
  // Where OpenSSL's extensions block starts: the one cut that is a well-formed (extension-less)
  // hello, without the SNI.
  size_t extensions = 4 + 2 + 32;
  extensions += 1 + message[extensions];                                   // session id
  extensions += 2 + (message[extensions] << 8 | message[extensions + 1]);  // suites
  extensions += 1 + message[extensions];                                   // compression
  for (size_t cut = 4; cut < message.size(); ++cut) {
    Buf m(message.begin(), message.begin() + cut);
    const size_t body = cut - 4;
    m[1] = static_cast<uint8_t>(body >> 16);
    m[2] = static_cast<uint8_t>(body >> 8);
    m[3] = static_cast<uint8_t>(body);
    const PeekResult r = Parse(Record(m));
    if (cut == extensions) {
      ASSERT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(r.hello.sni, "");
      continue;
    }
    ASSERT_EQ(r.kind, Kind::kError) << "cut at " << cut;
  }
}

TEST(ClientHelloTest, BytesAfterTheHelloInItsRecordAreRefused) {
  Buf message = MessageOf(OpenSslHello());
  message.push_back(0);
  ExpectError(Parse(Record(message)), HelloError::kBadLength);
}

TEST(ClientHelloTest, RecordLongerThanTheHelloIsRefusedBeforeItArrives) {
  Buf message = MessageOf(OpenSslHello());
  Buf rec = Record(message);
  rec[4] = static_cast<uint8_t>(rec[4] + 1);  // record length one past the message
  rec.resize(9);                              // only the headers have arrived
  ExpectError(Parse(rec), HelloError::kBadLength);
}

TEST(ClientHelloTest, TrailingBytesAfterExtensionsAreRefused) {
  Buf body = HelloBody(std::vector<Ext>{Sni("a.example")});
  body.push_back(0);
  ExpectError(Parse(Record(Handshake(body))), HelloError::kBadLength);
}

// --- Not a ClientHello at all -------------------------------------------------------------------

TEST(ClientHelloTest, HttpRequestIsRefusedOnItsFirstByte) {
  const Buf http = Bytes("GET / HTTP/1.1\r\nHost: api.example\r\n\r\n");
  ExpectError(Parse(http), HelloError::kNotHandshake);
  ExpectError(Parse(Prefix(http, 1)), HelloError::kNotHandshake);
}

TEST(ClientHelloTest, GarbageIsRefused) {
  ExpectError(Parse(Buf(64, 0)), HelloError::kNotHandshake);
  ExpectError(Parse(Bytes("\x16\x02")), HelloError::kBadRecord);  // not record version 3.x
  std::mt19937 rng(20240611);
  for (int i = 0; i < 2000; ++i) {
    Buf b(rng() % 300);
    for (uint8_t& c : b) c = static_cast<uint8_t>(rng());
    // Make most of them look like a handshake record so the deeper checks run.
    if (b.size() > 5 && i % 4 != 0) {
      b[0] = 22;
      b[1] = 3;
      b[3] = 0;
      b[4] = static_cast<uint8_t>(b.size() - 5);
      b[5] = 1;
    }
    const PeekResult r = Parse(b);
    EXPECT_FALSE(r.ok()) << "random input " << i;
    if (r.need_more()) {
      EXPECT_GT(r.need_at_least, b.size());
    }
  }
}

TEST(ClientHelloTest, Sslv2HelloIsRefused) {
  // SSLv2-compatible CLIENT-HELLO: 2-byte header with the high bit set, msg type 1, version 3.1,
  // cipher specs, session id and challenge lengths, then the data.
  Buf v2{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
  Append(v2, Buf(21 + 16, 0x42));
  ExpectError(Parse(v2), HelloError::kSslv2);
  EXPECT_EQ(Parse(Prefix(v2, 2)).need_at_least, 3u);
  ExpectError(Parse(Buf{0x80, 0x2e, 0x04}), HelloError::kNotHandshake);
}

TEST(ClientHelloTest, OtherHandshakeMessageIsRefused) {
  const Buf server_hello = Record(Handshake(HelloBody(std::nullopt), 2));
  ExpectError(Parse(server_hello), HelloError::kNotClientHello);
  ExpectError(Parse(Prefix(server_hello, 6)), HelloError::kNotClientHello);
}

TEST(ClientHelloTest, RecordLayerRulesAreEnforced) {
  const Buf message = MessageOf(OpenSslHello());
  // Another record type between two fragments.
  Buf interleaved = Record(Buf(message.begin(), message.begin() + 10));
  Append(interleaved, Record({1}, 20));
  ExpectError(Parse(interleaved), HelloError::kBadRecord);
  // An empty handshake record.
  Buf empty = Record({});
  Append(empty, Record(message));
  ExpectError(Parse(empty), HelloError::kBadRecord);
  // A record longer than TLS allows (2^14).
  ExpectError(Parse(Buf{22, 3, 1, 0x40, 0x01}), HelloError::kBadRecord);
}

// --- Limits -------------------------------------------------------------------------------------

TEST(ClientHelloTest, OversizeHelloIsRefusedFromItsHeaders) {
  // A 20 KiB hello must be fragmented; its handshake header alone is enough to refuse it.
  const Buf message = Handshake(HelloBody(std::vector<Ext>{Sni("a.example"), Padding(20000)}));
  const Buf two = Fragmented(message, {16000});
  ExpectError(Parse(two), HelloError::kTooLarge);
  ExpectError(Parse(Prefix(two, 9)), HelloError::kTooLarge);
}

TEST(ClientHelloTest, CapIsExactAndConfigurable) {
  const Buf small = Handshake(HelloBody(std::vector<Ext>{Sni("a.example")}));
  const size_t base = small.size();
  HelloLimits limits;
  limits.max_hello_bytes = 1000;
  // A padding extension of n bytes adds 4 + n.
  const Buf at_cap =
      Handshake(HelloBody(std::vector<Ext>{Sni("a.example"), Padding(1000 - base - 4)}));
  ASSERT_EQ(at_cap.size(), 1000u);
  const PeekResult ok = Parse(Record(at_cap), limits);
  ASSERT_TRUE(ok.ok()) << ok.message;
  EXPECT_EQ(ok.hello.sni, "a.example");
  const Buf over =
      Handshake(HelloBody(std::vector<Ext>{Sni("a.example"), Padding(1000 - base - 3)}));
  ExpectError(Parse(Record(over), limits), HelloError::kTooLarge);

  // The default admits the largest hello of one full record plus its header, not a byte more.
  const size_t no_padding = Handshake(HelloBody(std::vector<Ext>{})).size();
  const size_t fill = 16384 + 4 - no_padding - 4;
  const Buf full = Handshake(HelloBody(std::vector<Ext>{Padding(fill)}));
  ASSERT_EQ(full.size(), 16384u + 4);
  const PeekResult r = Parse(Fragmented(full, {16384}));
  EXPECT_TRUE(r.ok()) << r.message;
  const Buf one_more = Handshake(HelloBody(std::vector<Ext>{Padding(fill + 1)}));
  ExpectError(Parse(Fragmented(one_more, {16384})), HelloError::kTooLarge);
}

// --- Extensions ---------------------------------------------------------------------------------

TEST(ClientHelloTest, TwoHostNamesAreRefused) {
  const Ext two = {0, SniData({{0, "a.example"}, {0, "b.example"}})};
  ExpectError(Parse(SyntheticHello({two})), HelloError::kBadServerName);
}

TEST(ClientHelloTest, UnknownNameTypesAreSkipped) {
  const Ext mixed = {0, SniData({{7, "\x01\x02"}, {0, "a.example"}})};
  const PeekResult r = Parse(SyntheticHello({mixed}));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, "a.example");
}

TEST(ClientHelloTest, SniIsLowercased) {
  const PeekResult r = Parse(SyntheticHello({Sni("Web.Default.DC1.internal.Example.Consul")}));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.sni, "web.default.dc1.internal.example.consul");
}

TEST(ClientHelloTest, InvalidHostNamesAreRefused) {
  for (const std::string& bad :
       {std::string(""), std::string("a..b"), std::string(".a"), std::string("a.b."),
        std::string("-a.b"), std::string("a-.b"), std::string("a b.c"), std::string("a\tb"),
        std::string("a\0b", 3), std::string("caf\xc3\xa9.example"), std::string("10.0.0.1"),
        std::string("[::1]"), std::string("a/b"), std::string(64, 'a') + ".b",
        std::string(256, 'a')}) {
    EXPECT_FALSE(IsValidSniHostName(bad)) << bad;
    ExpectError(Parse(SyntheticHello({Sni(bad)})), HelloError::kBadServerName);
  }
  // An empty extension, as servers send back, is not a ClientHello's.
  ExpectError(Parse(SyntheticHello({{0, {}}})), HelloError::kBadLength);
  ExpectError(Parse(SyntheticHello({{0, {0, 0}}})), HelloError::kBadServerName);
}

TEST(ClientHelloTest, ValidHostNamesAreAccepted) {
  std::string longest;
  for (int i = 0; i < 4; ++i) longest += std::string(63, 'a' + i) + ".";
  longest.pop_back();  // 4 * 63 + 3 = 255
  ASSERT_EQ(longest.size(), 255u);
  for (const std::string& good :
       {std::string("a"), std::string(kConsulSni), std::string("xn--bcher-kva.example"),
        std::string("my_service.default.dc1.internal.example.consul"), std::string("1a.2b"),
        std::string("10.0.0.1.example"), longest}) {
    EXPECT_TRUE(IsValidSniHostName(good)) << good;
    const PeekResult r = Parse(SyntheticHello({Sni(good)}));
    ASSERT_TRUE(r.ok()) << good << ": " << r.message;
    EXPECT_EQ(r.hello.sni, good);
  }
}

TEST(ClientHelloTest, DuplicateExtensionIsRefused) {
  ExpectError(Parse(SyntheticHello({Alpn({"h2"}), Sni("a.example"), Alpn({"h2"})})),
              HelloError::kDuplicateExtension);
  // Even when the duplicate is one we do not read.
  ExpectError(Parse(SyntheticHello({Padding(1), Sni("a.example"), Padding(2)})),
              HelloError::kDuplicateExtension);
}

TEST(ClientHelloTest, AlpnAndVersionsAreChecked) {
  const PeekResult r =
      Parse(SyntheticHello({Alpn({"h2", "http/1.1"}), Versions({0x1a1a, 0x0304, 0x0303})}));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(r.hello.supported_versions, (std::vector<uint16_t>{0x1a1a, 0x0304, 0x0303}));
  EXPECT_EQ(r.hello.HighestVersion(), 0x0304);  // GREASE 0x1a1a ignored

  ExpectError(Parse(SyntheticHello({Alpn({"h2", ""})})), HelloError::kBadExtension);
  ExpectError(Parse(SyntheticHello({{16, {0, 0}}})), HelloError::kBadExtension);
  ExpectError(Parse(SyntheticHello({{16, {0, 3, 5, 'h', '2'}}})), HelloError::kBadLength);
  ExpectError(Parse(SyntheticHello({{43, {3, 3, 4, 3}}})), HelloError::kBadLength);
  ExpectError(Parse(SyntheticHello({{43, {0}}})), HelloError::kBadExtension);
}

TEST(ClientHelloTest, ErrorNamesAreDistinct) {
  std::vector<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(HelloError::kBadExtension); ++e) {
    names.push_back(HelloErrorName(static_cast<HelloError>(e)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "unknown"), names.end());
}

// With GANGWAY_CLIENT_HELLO_SEEDS=<dir>, writes the hellos above as the fuzz target's seeds
// (fuzz/corpus/client_hello_fuzz/).
TEST(ClientHelloTest, WriteSeedCorpus) {
  const char* dir = std::getenv("GANGWAY_CLIENT_HELLO_SEEDS");
  if (dir == nullptr) {
    GTEST_SKIP() << "a seed writer, not a check: set GANGWAY_CLIENT_HELLO_SEEDS=<dir> to "
                    "regenerate fuzz/corpus/client_hello_fuzz";
  }
  HelloOptions tls12;
  tls12.max_version = TLS1_2_VERSION;
  HelloOptions bare;
  bare.sni = nullptr;
  bare.alpn = {};
  const Buf openssl = OpenSslHello();
  const std::vector<std::pair<std::string, Buf>> seeds = {
      {"openssl_sni_alpn", openssl},
      {"openssl_two_records", Fragmented(MessageOf(openssl), {MessageOf(openssl).size() / 2})},
      {"openssl_tls12", OpenSslHello(tls12)},
      {"openssl_no_sni", OpenSslHello(bare)},
      {"two_host_names", SyntheticHello({{0, SniData({{0, "a.example"}, {0, "b.example"}})}})},
      {"no_extensions", Record(Handshake(HelloBody(std::nullopt)))},
      {"http_request", Bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")},
      {"sslv2", Buf{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10}},
  };
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : seeds) {
    ASSERT_FALSE(bytes.empty()) << name;
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << name;
  }
}

}  // namespace
}  // namespace gangway::net
