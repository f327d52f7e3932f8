#include "gossip/serf_wire.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "coordinate/coordinate.h"
#include "gossip/wire.h"

namespace gangway::gossip::serf {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

void ExpectRoundTrip(const Message& m) {
  const std::string bytes = EncodeMessage(m);
  auto back = DecodeMessage(bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, m) << MessageTypeName(TypeOf(m));
  EXPECT_EQ(EncodeMessage(*back), bytes);
}

// Types 6-8 travel only inside query payloads, and none was captured; check them against
// hand-assembled Go encodings (sorted keys, minimal ints, raw strings).
TEST(SerfWire, KeyRequestAndResponseMatchGoEncoding) {
  KeyRequest req{std::string(16, 'k')};
  EXPECT_EQ(EncodeMessage(req), Unhex("0781a34b6579b0") + std::string(16, 'k'));
  KeyResponse resp{true, "", std::vector<std::string>{"AAEC"}, "AAEC"};
  EXPECT_EQ(EncodeMessage(resp),
            Unhex("0884a44b65797391a441414543a74d657373616765a0aa5072696d6172794b6579a441414543"
                  "a6526573756c74c3"));
  ExpectRoundTrip(req);
  ExpectRoundTrip(resp);
  ExpectRoundTrip(KeyResponse{false, "no key", std::nullopt, ""});
}

TEST(SerfWire, ConflictResponseRoundTrips) {
  Member m;
  m.name = "n1";
  m.addr = std::string("\x7f\x00\x00\x0b", 4);
  m.port = 7946;
  m.tags = {{"role", "consul"}, {"dc", "dc1"}};
  m.status = 1;
  m.protocol_min = 1;
  m.protocol_max = 5;
  m.protocol_cur = 2;
  m.delegate_min = 2;
  m.delegate_max = 5;
  m.delegate_cur = 4;
  const std::string bytes = EncodeMessage(ConflictResponse{m});
  EXPECT_EQ(bytes.substr(0, 2), Unhex("068b"));  // type 6, 11 fields
  ExpectRoundTrip(ConflictResponse{m});
}

TEST(SerfWire, EveryMessageTypeRoundTrips) {
  ExpectRoundTrip(Leave{7, "n3", true});
  ExpectRoundTrip(Join{1, "127.0.0.12"});
  ExpectRoundTrip(UserEvent{3, "deploy", std::string("v1"), true});
  ExpectRoundTrip(UserEvent{4, "nil-payload", std::nullopt, false});
  PushPull pp;
  pp.ltime = 3;
  pp.status_ltimes = {{"n3", 2}, {"n1", 0}, {"big", 1ull << 40}};
  pp.left_members = {"gone"};
  pp.event_ltime = 2;
  pp.events = {std::nullopt, UserEvents{1, {{"deploy", std::string("v1.2.3")}}}, std::nullopt};
  pp.query_ltime = 9;
  ExpectRoundTrip(pp);
  Query q;
  q.ltime = 2;
  q.id = 1482332335;
  q.addr = std::string("\x7f\x00\x00\x0b", 4);
  q.port = 7946;
  q.source_node = "n1";
  q.filters = std::vector<std::string>{EncodeFilter(NodeFilter{{"n3"}})};
  q.flags = kQueryFlagAck;
  q.relay_factor = 1;
  q.timeout_ns = 2'000'000'000;
  q.name = "whoami";
  ExpectRoundTrip(q);
  ExpectRoundTrip(QueryResponse{2, 7, "n3", kResponseFlagAck, std::nullopt});
  Relay relay{{std::string("\x7f\x00\x00\x0b", 4), 7946, ""},
              "n1",
              EncodeMessage(QueryResponse{2, 7, "n3", 1, std::string("ok")})};
  ExpectRoundTrip(relay);
}

TEST(SerfWire, FiltersMatchTheCapturedBytes) {
  // From vector 05: node filter ["n3"] and tag filter {Expr: "node", Tag: "role"}.
  EXPECT_EQ(EncodeFilter(NodeFilter{{"n3"}}), Unhex("0091a26e33"));
  EXPECT_EQ(EncodeFilter(TagFilter{"role", "node"}),
            Unhex("0182a445787072a46e6f6465a3546167a4726f6c65"));
  auto f = DecodeFilter(Unhex("0182a445787072a46e6f6465a3546167a4726f6c65"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(std::holds_alternative<TagFilter>(*f));
  EXPECT_EQ(std::get<TagFilter>(*f).tag, "role");
  EXPECT_EQ(std::get<TagFilter>(*f).expr, "node");
  EXPECT_FALSE(DecodeFilter(Unhex("0290")).ok());
  EXPECT_FALSE(DecodeFilter("").ok());
}

TEST(SerfWire, TagsInMeta) {
  const std::string meta = Unhex("ff82a4726f6c65a6636f6e73756ca26463a3646331");
  auto tags = DecodeTags(meta);
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(*tags, (StringMap{{"role", "consul"}, {"dc", "dc1"}}));
  auto again = EncodeTags(*tags);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, meta);
  // Protocol 2 meta is the bare role.
  auto legacy = DecodeTags("consul");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(*legacy, (StringMap{{"role", "consul"}}));
  EXPECT_FALSE(DecodeTags(Unhex("ff82a4726f6c65")).ok());
  // Meta is limited to 512 bytes including the magic byte.
  EXPECT_FALSE(EncodeTags({{"big", std::string(600, 'x')}}).ok());
  EXPECT_TRUE(EncodeTags({{"k", std::string(500, 'x')}}).ok());
}

TEST(SerfWire, CoordinatePayload) {
  Coordinate c{{1e-5, -2.5, 0, 3}, 1.5, -4e-5, 1e-5};
  const std::string payload = EncodePingPayload(c);
  EXPECT_EQ(static_cast<uint8_t>(payload[0]), kPingVersion);
  auto back = DecodePingPayload(payload);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);
  EXPECT_FALSE(DecodePingPayload(Unhex("0284")).ok());
  EXPECT_FALSE(DecodePingPayload("").ok());
}

// The ack serf 0.9.4 sent in capture 02: its Payload is PingVersion + the Vivaldi coordinate.
// We decode it to the values the capture's annotation lists, re-encode it to the same bytes
// (Go's field order and float64s), and a Vivaldi client takes it as a peer's coordinate.
TEST(SerfWire, CapturedAckCoordinate) {
  std::ifstream in(std::string(GANGWAY_GOSSIP_VECTORS_DIR) + "/vectors.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  ASSERT_TRUE(doc.is_array());
  std::string packet;
  for (const auto& v : doc) {
    if (v.value("file", "").rfind("02-", 0) == 0) packet = Unhex(v.value("hex", ""));
  }
  ASSERT_EQ(packet.size(), 150u);
  auto p = gossip::DecodePacket(packet, {});
  ASSERT_TRUE(p.ok()) << p.status().message();
  const auto* ack = p->body.As<gossip::Ack>();
  ASSERT_NE(ack, nullptr);
  ASSERT_TRUE(ack->payload.has_value());
  EXPECT_EQ(ack->payload->size(), 130u);
  auto c = DecodePingPayload(*ack->payload);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->adjustment, 2.0077815625e-05);
  EXPECT_DOUBLE_EQ(c->error, 1.4348343086209525);
  EXPECT_DOUBLE_EQ(c->height, 1e-05);
  ASSERT_EQ(c->vec.size(), 8u);
  EXPECT_DOUBLE_EQ(c->vec[0], -4.078963729832459e-06);
  EXPECT_DOUBLE_EQ(c->vec[7], 3.687776506027739e-05);
  EXPECT_EQ(EncodePingPayload(*c), *ack->payload);
  auto again = gossip::EncodePacket(*p, nullptr, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, packet);

  coordinate::Coordinate peer{c->vec, c->error, c->adjustment, c->height};
  EXPECT_TRUE(peer.IsValid());
  coordinate::Client client;
  EXPECT_TRUE(client.Update("serf", peer, 0.0002).ok());
}

// Payloads a peer might send that must be ignored, never applied: they either fail to decode
// or decode to a coordinate the Vivaldi client refuses.
TEST(SerfWire, GarbageCoordinatePayloadsAreRefused) {
  coordinate::Client client;
  const coordinate::Coordinate before = client.GetCoordinate();
  auto usable = [&](const std::string& payload) {
    auto c = DecodePingPayload(payload);
    if (!c.ok()) return false;
    return client.Update("x", {c->vec, c->error, c->adjustment, c->height}, 0.001).ok();
  };
  Coordinate nan{std::vector<double>(8, 0.0), 1.5, 0, 1e-5};
  nan.vec[2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(usable(EncodePingPayload(nan)));
  EXPECT_FALSE(usable(EncodePingPayload(Coordinate{{1, 2, 3}, 1.5, 0, 1e-5})));  // 3 dims
  EXPECT_FALSE(usable(Unhex("0281")));           // another ping version
  EXPECT_FALSE(usable(Unhex("01")));             // version only
  EXPECT_FALSE(usable(Unhex("0184aa41646a75")));  // truncated
  EXPECT_FALSE(usable(Unhex("0181a3566563a3616263")));  // Vec is a string
  EXPECT_EQ(client.GetCoordinate(), before);
}

TEST(SerfWire, RejectsUnknownTypesAndGarbage) {
  EXPECT_FALSE(DecodeMessage("").ok());
  EXPECT_FALSE(DecodeMessage(Unhex("0a80")).ok());
  EXPECT_FALSE(DecodeMessage(Unhex("01")).ok());
  EXPECT_FALSE(DecodeMessage(Unhex("0182a54c54696d65ff")).ok());  // LTime -1 into uint64
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(1 + rng() % 80, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    junk[0] = static_cast<char>(rng() % 11);
    if (junk.size() > 1 && rng() % 2) junk[1] = static_cast<char>(0x80 | (rng() % 16));
    auto m = DecodeMessage(junk);
    if (m.ok()) {
      auto again = DecodeMessage(EncodeMessage(*m));
      EXPECT_TRUE(again.ok());
    }
  }
}

}  // namespace
}  // namespace gangway::gossip::serf
