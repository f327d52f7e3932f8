#include "gossip/wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "gossip/serf_wire.h"
#include "gossip/testing/fixed_nonce.h"

namespace gangway::gossip {
namespace {

using testing::FixedNonceSource;

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One captured packet or stream direction from vectors.json, with the receiver settings it
// needs: key and label as the capture's agents were configured.
struct Vector {
  std::string name;  // "file / part" for messages
  std::string file;
  std::string part;
  bool udp = true;
  std::string bytes;
  std::string key;
  std::string label;
  bool encrypted = false;
  bool listener_side = true;  // streams: request read by the listener (may carry a label header)
};

std::vector<Vector> LoadVectors() {
  const std::string path = std::string(GANGWAY_GOSSIP_VECTORS_DIR) + "/vectors.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream text;
  text << in.rdbuf();
  const auto doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  std::vector<Vector> out;
  if (!doc.is_array()) return out;
  for (const auto& j : doc) {
    Vector v;
    v.file = j.value("file", "");
    v.part = j.value("part", "");
    v.name = v.file + " / " + v.part;
    v.udp = j.value("transport", "") == "UDP";
    v.bytes = Unhex(j.value("hex", ""));
    if (j.contains("key_hex") && j["key_hex"].is_string()) {
      v.key = Unhex(j["key_hex"].get<std::string>());
    }
    if (v.file.rfind("24-", 0) == 0) v.label = "dc1-lan";
    const std::string words = Lower(j.value("title", "") + " " + v.part);
    v.encrypted = !v.key.empty() && words.find("encrypted") != std::string::npos &&
                  v.part.find("plaintext") == std::string::npos;
    v.listener_side = v.part.rfind("response", 0) != 0;
    out.push_back(std::move(v));
  }
  return out;
}

Keyring RingFor(const Vector& v) {
  if (v.key.empty()) return Keyring();
  auto ring = Keyring::Create({}, v.key);
  EXPECT_TRUE(ring.ok());
  return ring.ok() ? *ring : Keyring();
}

PacketOptions PacketOptionsFor(const Vector& v, const Keyring* ring) {
  PacketOptions o;
  o.label = v.label;
  if (v.encrypted) o.keyring = ring;
  return o;
}

StreamOptions StreamOptionsFor(const Vector& v, const Keyring* ring) {
  StreamOptions o;
  o.label = v.label;
  o.accept_label_header = v.listener_side;
  if (v.encrypted) o.keyring = ring;
  return o;
}

// ---- a one-line description of everything decoded, and full decoding of the Serf layers.

std::string SerfSummary(std::string_view bytes) {
  auto m = serf::DecodeMessage(bytes);
  if (!m.ok()) return "serf-error(" + m.status().message() + ")";
  std::string s = serf::MessageTypeName(serf::TypeOf(*m));
  if (const auto* relay = std::get_if<serf::Relay>(&*m)) s += "(" + SerfSummary(relay->inner) + ")";
  return s;
}

std::string Summary(const Message& m) {
  if (const auto* c = m.As<Compound>()) {
    std::string s = "compound(";
    for (size_t i = 0; i < c->parts.size(); ++i) s += (i ? "," : "") + Summary(c->parts[i]);
    return s + ")";
  }
  if (const auto* z = m.As<Compressed>()) return "compress(" + Summary(z->inner.at(0)) + ")";
  if (const auto* u = m.As<UserMsg>()) return "user:" + SerfSummary(u->payload);
  if (const auto* p = m.As<PushPull>()) {
    return "pushPull(" + std::to_string(p->nodes.size()) + " nodes," + SerfSummary(p->user_state) +
           ")";
  }
  if (const auto* u = m.As<Unparsed>()) return "unparsed(" + u->reason + ")";
  return MessageTypeName(m.type());
}

std::string Summary(const Packet& p) {
  std::string s;
  if (p.label_header) s += "label:" + p.label + " ";
  if (p.encryption) s += "enc" + std::to_string(p.encryption->version) + " ";
  if (p.crc) s += "crc ";
  return s + Summary(p.body);
}

std::string Summary(const StreamFrame& f) {
  std::string s;
  if (f.label_header) s += "label:" + f.label + " ";
  if (f.encryption) s += "enc" + std::to_string(f.encryption->version) + " ";
  if (f.compressed) s += "compress ";
  return s + Summary(f.message);
}

// Decodes every Serf layer under a memberlist message and checks each re-encodes to the same
// bytes: user payloads (incl. relay inner messages and query filters), tags in Meta, ack
// coordinates, push/pull user state. Returns the first failure, "" when all is well.
std::string CheckSerfLayers(const Message& m) {
  auto check_meta = [](const std::string& meta) -> std::string {
    auto tags = serf::DecodeTags(meta);
    if (!tags.ok()) return tags.status().message();
    auto again = serf::EncodeTags(*tags);
    if (!again.ok() || *again != meta) return "tags do not re-encode: " + Hex(meta);
    return "";
  };
  std::function<std::string(std::string_view)> check_serf =
      [&](std::string_view bytes) -> std::string {
    auto sm = serf::DecodeMessage(bytes);
    if (!sm.ok()) return sm.status().message();
    if (serf::EncodeMessage(*sm) != bytes) return "serf message does not re-encode";
    if (const auto* relay = std::get_if<serf::Relay>(&*sm)) return check_serf(relay->inner);
    if (const auto* q = std::get_if<serf::Query>(&*sm); q && q->filters) {
      for (const std::string& f : *q->filters) {
        auto filter = serf::DecodeFilter(f);
        if (!filter.ok()) return filter.status().message();
        if (serf::EncodeFilter(*filter) != f) return "filter does not re-encode";
      }
    }
    return "";
  };
  for (const Message* leaf : Leaves(m)) {
    std::string err;
    if (const auto* u = leaf->As<UserMsg>()) err = check_serf(u->payload);
    if (const auto* a = leaf->As<Alive>()) err = check_meta(a->meta);
    if (const auto* ack = leaf->As<Ack>(); ack && ack->payload) {
      auto c = serf::DecodePingPayload(*ack->payload);
      if (!c.ok()) return c.status().message();
      if (c->vec.size() != 8) return "coordinate is not 8-dimensional";
      if (serf::EncodePingPayload(*c) != *ack->payload) return "coordinate does not re-encode";
    }
    if (const auto* p = leaf->As<PushPull>()) {
      for (const PushNodeState& n : p->nodes) {
        if (err.empty()) err = check_meta(n.meta);
        if (n.vsn.size() != 6) err = "short Vsn";
      }
      if (err.empty()) err = check_serf(p->user_state);
    }
    if (!err.empty()) return err;
  }
  return "";
}

// What each captured vector must decode to (checked against the decode listings in the .txt
// files). Keyed by vectors.json position.
const char* const kExpected[] = {
    /* 01 */ "ping",
    /* 02 */ "ack",
    /* 03 */ "crc alive",
    /* 04 */ "crc compound(ping,suspect)",
    /* 05 */ "crc compound(ack,user:query)",
    /* 06 */ "crc compress(compound(alive,alive,user:join))",
    /* 07 */ "indirectPing",
    /* 08 */ "nack",
    /* 09 */ "crc dead",
    /* 10 */ "crc dead",
    /* 11 */ "crc user:join",
    /* 12 */ "crc user:userEvent",
    /* 13 */ "user:queryResponse",
    /* 14 */ "crc user:relay(queryResponse)",
    /* 15 */ "crc user:leave",
    /* 16 */ "pushPull(1 nodes,pushPull)",
    /* 16 */ "pushPull(1 nodes,pushPull)",
    /* 17 */ "compress pushPull(3 nodes,pushPull)",
    /* 17 */ "compress pushPull(3 nodes,pushPull)",
    /* 18 */ "compress pushPull(1 nodes,pushPull)",
    /* 18 */ "compress pushPull(3 nodes,pushPull)",
    /* 19 */ "ping",
    /* 19 */ "compress ack",
    /* 20 */ "compress ping",
    /* 20 */ "ack",
    /* 21 */ "enc1 ping",
    /* 22 */ "enc1 crc compound(alive,alive)",
    /* 23 */ "enc1 compress pushPull(1 nodes,pushPull)",
    /* 23 */ "enc1 compress pushPull(1 nodes,pushPull)",
    /* 24 */ "label:dc1-lan ping",
    /* 24 */ "label:dc1-lan enc1 ping",
    /* 24 */ "label:dc1-lan ping",
    /* 24 */ "label:dc1-lan enc1 ping",
};

class GossipVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    vectors_ = LoadVectors();
    ASSERT_EQ(vectors_.size(), std::size(kExpected)) << "vectors.json changed";
  }
  std::vector<Vector> vectors_;
};

TEST_F(GossipVectors, EveryVectorDecodesFullyAndReencodesByteForByte) {
  for (size_t i = 0; i < vectors_.size(); ++i) {
    const Vector& v = vectors_[i];
    SCOPED_TRACE(v.name);
    const Keyring ring = RingFor(v);
    if (v.udp) {
      auto p = DecodePacket(v.bytes, PacketOptionsFor(v, &ring));
      ASSERT_TRUE(p.ok()) << p.status().message();
      EXPECT_EQ(Summary(*p), kExpected[i]);
      EXPECT_EQ(FirstProblem(p->body), std::nullopt);
      EXPECT_EQ(CheckSerfLayers(p->body), "");
      FixedNonceSource nonce(p->encryption ? p->encryption->nonce : Nonce{});
      auto again = EncodePacket(*p, &ring, &nonce);
      ASSERT_TRUE(again.ok()) << again.status().message();
      EXPECT_EQ(Hex(*again), Hex(v.bytes));
    } else {
      auto f = DecodeStream(v.bytes, StreamOptionsFor(v, &ring));
      ASSERT_TRUE(f.ok()) << f.status().message();
      ASSERT_TRUE(f->has_value()) << "decoder wants more bytes of a complete capture";
      const StreamFrame& frame = **f;
      EXPECT_EQ(Summary(frame), kExpected[i]);
      EXPECT_EQ(frame.consumed, v.bytes.size());
      EXPECT_EQ(CheckSerfLayers(frame.message), "");
      FixedNonceSource nonce(frame.encryption ? frame.encryption->nonce : Nonce{});
      auto again = EncodeStream(frame, &ring, &nonce);
      ASSERT_TRUE(again.ok()) << again.status().message();
      EXPECT_EQ(Hex(*again), Hex(v.bytes));
    }
  }
}

// Spot checks of field values against the decode listings.
TEST_F(GossipVectors, FieldValuesMatchTheListings) {
  {  // 01: ping from 127.0.0.12 to n1
    auto p = DecodePacket(vectors_[0].bytes, {});
    ASSERT_TRUE(p.ok());
    const Ping* ping = p->body.As<Ping>();
    ASSERT_NE(ping, nullptr);
    EXPECT_EQ(ping->node, "n1");
    EXPECT_EQ(ping->seq_no, 1u);
    EXPECT_EQ(ping->source_addr, std::string("\x7f\x00\x00\x0c", 4));
    EXPECT_EQ(ping->source_node, "127.0.0.12");
    EXPECT_EQ(ping->source_port, 7946);
  }
  {  // 02: serf coordinate in the ack payload
    auto p = DecodePacket(vectors_[1].bytes, {});
    ASSERT_TRUE(p.ok());
    const Ack* ack = p->body.As<Ack>();
    ASSERT_TRUE(ack && ack->payload);
    EXPECT_EQ(ack->payload->size(), 130u);
    auto c = serf::DecodePingPayload(*ack->payload);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->height, 1e-05);
    EXPECT_DOUBLE_EQ(c->error, 1.4348343086209525);
  }
  {  // 05: the query with its filters, relay factor and 2 s timeout
    auto p = DecodePacket(vectors_[4].bytes, {});
    ASSERT_TRUE(p.ok());
    const auto leaves = Leaves(p->body);
    ASSERT_EQ(leaves.size(), 2u);
    auto q = serf::DecodeMessage(leaves[1]->As<UserMsg>()->payload);
    ASSERT_TRUE(q.ok());
    const auto& query = std::get<serf::Query>(*q);
    EXPECT_EQ(query.name, "whoami");
    EXPECT_EQ(query.id, 1482332335u);
    EXPECT_EQ(query.timeout_ns, 2'000'000'000);
    EXPECT_EQ(query.relay_factor, 1);
    EXPECT_EQ(query.payload, std::nullopt);
    ASSERT_TRUE(query.filters && query.filters->size() == 2);
    auto node_filter = serf::DecodeFilter((*query.filters)[0]);
    ASSERT_TRUE(node_filter.ok());
    EXPECT_EQ(std::get<serf::NodeFilter>(*node_filter).nodes, std::vector<std::string>{"n3"});
  }
  {  // 07: indirect ping asking for a nack
    auto p = DecodePacket(vectors_[6].bytes, {});
    ASSERT_TRUE(p.ok());
    const IndirectPing* ip = p->body.As<IndirectPing>();
    ASSERT_NE(ip, nullptr);
    EXPECT_TRUE(ip->nack);
    EXPECT_EQ(ip->node, "n3");
    EXPECT_EQ(ip->seq_no, 62u);
    EXPECT_EQ(ip->target, std::string("\x7f\x00\x00\x0d", 4));
  }
  {  // 10: graceful leave is dead with From == Node
    auto p = DecodePacket(vectors_[9].bytes, {});
    ASSERT_TRUE(p.ok());
    const Dead* d = p->body.As<Dead>();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->from, d->node);
  }
  {  // 18 response: the listener reports the restarted joiner (n3) as dead
    const Vector& v = vectors_[20];
    auto f = DecodeStream(v.bytes, StreamOptionsFor(v, nullptr));
    ASSERT_TRUE(f.ok() && f->has_value());
    const PushPull* pp = (*f)->message.As<PushPull>();
    ASSERT_NE(pp, nullptr);
    EXPECT_TRUE(pp->join);
    ASSERT_EQ(pp->nodes.size(), 3u);
    EXPECT_EQ(pp->nodes[0].name, "n3");
    EXPECT_EQ(pp->nodes[0].state, NodeState::kDead);
    auto user = serf::DecodeMessage(pp->user_state);
    ASSERT_TRUE(user.ok());
    EXPECT_EQ(std::get<serf::PushPull>(*user).events.size(), 512u);
  }
}

TEST_F(GossipVectors, EveryProperPrefixOfAStreamAsksForMoreBytes) {
  for (const Vector& v : vectors_) {
    if (v.udp) continue;
    SCOPED_TRACE(v.name);
    const Keyring ring = RingFor(v);
    const StreamOptions o = StreamOptionsFor(v, &ring);
    for (size_t n = 0; n < v.bytes.size(); ++n) {
      auto f = DecodeStream(std::string_view(v.bytes).substr(0, n), o);
      ASSERT_TRUE(f.ok()) << "prefix " << n << ": " << f.status().message();
      ASSERT_FALSE(f->has_value()) << "prefix " << n << " decoded as complete";
    }
    // Bytes after the message are not part of it.
    auto f = DecodeStream(v.bytes + "trailing", o);
    ASSERT_TRUE(f.ok() && f->has_value());
    EXPECT_EQ((*f)->consumed, v.bytes.size());
  }
}

bool AnyTruncatedCompound(const Message& m) {
  if (const auto* c = m.As<Compound>()) {
    if (c->truncated > 0) return true;
    for (const Message& part : c->parts) {
      if (AnyTruncatedCompound(part)) return true;
    }
  }
  if (const auto* z = m.As<Compressed>()) {
    for (const Message& inner : z->inner) {
      if (AnyTruncatedCompound(inner)) return true;
    }
  }
  return false;
}

// A packet counts as fully usable when it decodes with no unparsed part and all Serf payloads
// decode too.
bool FullyUsable(const Result<Packet>& p) {
  return p.ok() && !FirstProblem(p->body) && CheckSerfLayers(p->body).empty();
}

TEST_F(GossipVectors, TruncatedPacketsAreNeverFullyUsable) {
  for (const Vector& v : vectors_) {
    if (!v.udp) continue;
    SCOPED_TRACE(v.name);
    const Keyring ring = RingFor(v);
    const PacketOptions o = PacketOptionsFor(v, &ring);
    for (size_t n = 0; n < v.bytes.size(); ++n) {
      EXPECT_FALSE(FullyUsable(DecodePacket(std::string_view(v.bytes).substr(0, n), o)))
          << "prefix " << n;
    }
  }
}

TEST_F(GossipVectors, SingleByteCorruptionNeverCrashesAndCrcCatchesIt) {
  for (const Vector& v : vectors_) {
    SCOPED_TRACE(v.name);
    const Keyring ring = RingFor(v);
    for (size_t i = 0; i < v.bytes.size(); ++i) {
      std::string bad = v.bytes;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      if (v.udp) {
        auto p = DecodePacket(bad, PacketOptionsFor(v, &ring));
        const bool crc_covered = !v.encrypted && v.bytes[0] == '\x0c' && i >= 5;
        if (crc_covered) {
          ASSERT_FALSE(p.ok()) << i;
          EXPECT_NE(p.status().message().find("checksum"), std::string::npos);
        }
        if (v.encrypted) {
          EXPECT_FALSE(p.ok()) << "GCM let a flipped byte through at " << i;
        }
        if (p.ok()) {
          FixedNonceSource nonce(Nonce{});
          (void)EncodePacket(*p, &ring, &nonce);
        }
      } else {
        auto f = DecodeStream(bad, StreamOptionsFor(v, &ring));
        if (f.ok() && f->has_value()) {
          FixedNonceSource nonce(Nonce{});
          (void)EncodeStream(**f, &ring, &nonce);
        }
      }
    }
  }
}

TEST_F(GossipVectors, WrongKeyIsRejectedAndKeyRotationWorks) {
  const std::string wrong(32, 'w');
  for (const Vector& v : vectors_) {
    if (!v.encrypted) continue;
    SCOPED_TRACE(v.name);
    auto wrong_ring = Keyring::Create({}, wrong);
    ASSERT_TRUE(wrong_ring.ok());
    // Old key first, the right one second: decrypt still works and says which key did it.
    auto rotating = Keyring::Create({v.key}, wrong);
    ASSERT_TRUE(rotating.ok());
    if (v.udp) {
      PacketOptions o = PacketOptionsFor(v, &*wrong_ring);
      auto p = DecodePacket(v.bytes, o);
      ASSERT_FALSE(p.ok());
      EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
      o.keyring = &*rotating;
      p = DecodePacket(v.bytes, o);
      ASSERT_TRUE(p.ok()) << p.status().message();
      EXPECT_EQ(p->encryption->key_index, 1u);
    } else {
      StreamOptions o = StreamOptionsFor(v, &*wrong_ring);
      auto f = DecodeStream(v.bytes, o);
      ASSERT_FALSE(f.ok());
      o.keyring = &*rotating;
      f = DecodeStream(v.bytes, o);
      ASSERT_TRUE(f.ok() && f->has_value()) << f.status().message();
      EXPECT_EQ((*f)->encryption->key_index, 1u);
    }
  }
}

TEST_F(GossipVectors, EncryptedTrafficNeedsAKeyringAndPlaintextIsRefusedWhenVerifying) {
  for (const Vector& v : vectors_) {
    SCOPED_TRACE(v.name);
    const Keyring ring = RingFor(v);
    if (!v.encrypted && !ring.empty() && !v.udp) {
      // A plaintext stream while we hold keys and verify incoming: refused.
      StreamOptions o = StreamOptionsFor(v, &ring);
      o.keyring = &ring;
      auto f = DecodeStream(v.bytes, o);
      ASSERT_FALSE(f.ok());
      EXPECT_NE(f.status().message().find("not encrypted"), std::string::npos);
      o.verify_incoming = false;  // rolling encryption out: accepted
      f = DecodeStream(v.bytes, o);
      EXPECT_TRUE(f.ok() && f->has_value());
    }
    if (v.encrypted && !v.udp) {
      StreamOptions o = StreamOptionsFor(v, nullptr);
      auto f = DecodeStream(v.bytes, o);
      ASSERT_FALSE(f.ok());
      EXPECT_NE(f.status().message().find("encryption is not configured"), std::string::npos);
    }
  }
  // UDP with verify_incoming off: a plaintext packet is read as plaintext.
  auto ring = Keyring::Create({}, std::string(32, 'k'));
  PacketOptions o;
  o.keyring = &*ring;
  EXPECT_FALSE(DecodePacket(vectors_[0].bytes, o).ok());
  o.verify_incoming = false;
  auto p = DecodePacket(vectors_[0].bytes, o);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->encryption.has_value());
  EXPECT_NE(p->body.As<Ping>(), nullptr);
}

TEST_F(GossipVectors, LabelsMustMatch) {
  const Vector& labeled = vectors_[29];  // 24: plaintext labeled UDP ping
  ASSERT_EQ(labeled.label, "dc1-lan");
  PacketOptions o;
  auto p = DecodePacket(labeled.bytes, o);  // we have no label: drop
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("unacceptable label"), std::string::npos);
  o.label = "dc2-lan";
  EXPECT_FALSE(DecodePacket(labeled.bytes, o).ok());
  o.label = "dc1-lan";
  o.skip_inbound_label_check = true;  // a header while skipping the check: refused
  EXPECT_FALSE(DecodePacket(labeled.bytes, o).ok());
  // Skipping the check accepts unlabeled traffic as ours; the label still binds encryption.
  auto unlabeled = DecodePacket(vectors_[0].bytes, o);
  ASSERT_TRUE(unlabeled.ok());
  EXPECT_EQ(unlabeled->label, "dc1-lan");
  EXPECT_FALSE(unlabeled->label_header);
  // Unlabeled traffic while we have a label and check it: dropped.
  o.skip_inbound_label_check = false;
  EXPECT_FALSE(DecodePacket(vectors_[0].bytes, o).ok());

  // Encrypted label vector: the label is additional data, so re-labeling breaks the tag.
  const Vector& sealed = vectors_[30];
  const Keyring ring = RingFor(sealed);
  std::string relabeled = sealed.bytes;
  relabeled[2] = 'D';
  PacketOptions so = PacketOptionsFor(sealed, &ring);
  so.label = "Dc1-lan";
  EXPECT_FALSE(DecodePacket(relabeled, so).ok());

  // Streams: a reply carries no header but is bound to the label; a listener checks it.
  const Vector& stream = vectors_[31];
  StreamOptions lo = StreamOptionsFor(stream, nullptr);
  lo.label = "other";
  EXPECT_FALSE(DecodeStream(stream.bytes, lo).ok());
  lo.accept_label_header = false;  // a dialer reading a reply does not expect 244
  EXPECT_FALSE(DecodeStream(stream.bytes, lo).ok());
}

// ---- hostile inputs built by hand

PacketOptions Plain() { return PacketOptions{}; }

TEST(GossipWire, EmptyAndTinyPacketsAreRejected) {
  EXPECT_FALSE(DecodePacket("", Plain()).ok());
  EXPECT_FALSE(DecodePacket("\xf4", Plain()).ok());
  EXPECT_FALSE(DecodePacket(std::string("\xf4\x00\x00", 3), Plain()).ok());  // empty label
  EXPECT_FALSE(DecodePacket("\xf4\x05"
                            "ab",
                            Plain())
                   .ok());  // truncated label
  // A lone type byte of an unknown or stream-only message is read but unusable.
  for (const char* bytes : {"\x06", "\x0a", "\x0d", "\x63", "\x0c\x01"}) {
    auto p = DecodePacket(bytes, Plain());
    ASSERT_TRUE(p.ok()) << Hex(bytes);
    EXPECT_NE(p->body.As<Unparsed>(), nullptr) << Hex(bytes);
  }
}

TEST(GossipWire, BadCrcDropsThePacket) {
  std::string ping;
  EncodeBody(Ping{1, "n1"}, &ping);
  ping.insert(ping.begin(), '\x00');
  const uint32_t crc = Crc32Ieee(ping);
  std::string pkt = "\x0c";
  for (int i = 3; i >= 0; --i) pkt.push_back(static_cast<char>(crc >> (8 * i)));
  pkt += ping;
  ASSERT_TRUE(DecodePacket(pkt, Plain()).ok());
  pkt[4] ^= 1;
  auto p = DecodePacket(pkt, Plain());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("checksum"), std::string::npos);
}

TEST(GossipWire, CompoundLengthsBeyondThePacketCountAsTruncated) {
  // 3 parts declared, lengths 3, 0xffff, 4; only the first is present.
  const std::string pkt = std::string("\x07\x03\x00\x03\xff\xff\x00\x04", 8) + "\x0b\x81\xa5";
  auto p = DecodePacket(pkt, Plain());
  ASSERT_TRUE(p.ok());
  const Compound* c = p->body.As<Compound>();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->parts.size(), 1u);
  EXPECT_EQ(c->truncated, 2u);
  EXPECT_TRUE(FirstProblem(p->body).has_value());
  // A length slice shorter than the count says: the whole compound is unusable.
  auto q = DecodePacket(std::string("\x07\x05\x00", 3), Plain());
  ASSERT_TRUE(q.ok());
  EXPECT_NE(q->body.As<Unparsed>(), nullptr);
}

TEST(GossipWire, OversizedMsgpackLengthsDoNotAllocate) {
  // ping whose Node claims 4 GiB; alive whose map claims 2^32-1 entries.
  for (const std::string& pkt :
       {Unhex("0081a44e6f6465dbffffffff"), Unhex("04dfffffffff"), Unhex("02dd7fffffff")}) {
    auto p = DecodePacket(pkt, Plain());
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->body.As<Unparsed>(), nullptr) << Hex(pkt);
  }
}

TEST(GossipWire, CompressionBombsAndDeepNestingAreBounded) {
  // 8 MiB of zeros compress to ~60 KiB; a 1 MiB limit refuses to inflate it.
  Message big = UserMsg{std::string(8u << 20, '\0')};
  auto bomb = BuildPacket({big}, SendOptions{.compress = true}, nullptr);
  ASSERT_TRUE(bomb.ok());
  EXPECT_LT(bomb->size(), 100000u);
  PacketOptions o;
  o.limits.max_decompressed_bytes = 1u << 20;
  auto p = DecodePacket(*bomb, o);
  ASSERT_TRUE(p.ok());
  ASSERT_NE(p->body.As<Unparsed>(), nullptr);
  EXPECT_NE(p->body.As<Unparsed>()->reason.find("larger"), std::string::npos);

  Message nested = Ping{1, "n"};
  for (int i = 0; i < 12; ++i) nested = i % 2 ? Message(Compressed{{nested}}) : Compound{{nested}};
  auto bytes = EncodeMessage(nested);
  ASSERT_TRUE(bytes.ok());
  auto deep = DecodePacket(*bytes, Plain());
  ASSERT_TRUE(deep.ok());
  auto problem = FirstProblem(deep->body);
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("nested deeper"), std::string::npos);
}

TEST(GossipWire, StreamHeadersOutOfRangeAreErrors) {
  auto stream = [](std::string_view header_hex) { return "\x06" + Unhex(header_hex); };
  // {Join: false, Nodes: -1, UserStateLen: 0}
  EXPECT_FALSE(
      DecodeStream(stream("83a44a6f696ec2a54e6f646573ffac5573657253746174654c656e00"), {}).ok());
  // Nodes: 2^40
  EXPECT_FALSE(
      DecodeStream(stream("83a44a6f696ec2a54e6f646573cf0000010000000000ac5573657253746174654c65"
                          "6e00"),
                   {})
          .ok());
  // UserStateLen: 2^31
  EXPECT_FALSE(
      DecodeStream(stream("83a44a6f696ec2a54e6f64657300ac5573657253746174654c656ece80000000"), {})
          .ok());
  // Within limits but missing: a stream decoder waits for more.
  auto wait = DecodeStream(stream("83a44a6f696ec2a54e6f64657305ac5573657253746174654c656e10"), {});
  ASSERT_TRUE(wait.ok());
  EXPECT_FALSE(wait->has_value());
  // Encrypted length above 20 MiB.
  auto ring = Keyring::Create({}, std::string(16, 'k'));
  StreamOptions so;
  so.keyring = &*ring;
  auto huge = DecodeStream(std::string("\x0a\x02\x00\x00\x00", 5), so);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Code::kTooLarge);
  // Unknown stream types and a compress wrapping nothing.
  EXPECT_FALSE(DecodeStream("\x05\x80", {}).ok());
  EXPECT_FALSE(DecodeStream(Unhex("0982a4416c676f00a3427566a3000302"), {}).ok());
  // Unknown compression algorithm.
  EXPECT_FALSE(DecodeStream(Unhex("0982a4416c676f01a3427566a3000302"), {}).ok());
  // A plaintext stream that never ends is cut off at the limit.
  StreamOptions small;
  small.limits.max_stream_bytes = 64;
  std::string endless = stream("83a44a6f696ec2a54e6f64657300ac5573657253746174654c656ecd1000");
  endless.append(100, 'x');
  EXPECT_FALSE(DecodeStream(endless, small).ok());
}

TEST(GossipWire, RandomGarbageNeverCrashes) {
  std::mt19937 rng(424242);
  auto ring = Keyring::Create({}, std::string(32, 'k'));
  PacketOptions lax;
  lax.keyring = &*ring;
  lax.verify_incoming = false;
  StreamOptions stream_lax;
  stream_lax.keyring = &*ring;
  stream_lax.verify_incoming = false;
  const uint8_t interesting[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 244};
  for (int round = 0; round < 30000; ++round) {
    std::string junk(rng() % 120, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (!junk.empty()) junk[0] = static_cast<char>(interesting[rng() % std::size(interesting)]);
    if (junk.size() > 1 && rng() % 2) junk[1] = static_cast<char>(0x80 | (rng() % 16));
    for (const PacketOptions& o : {Plain(), lax}) {
      auto p = DecodePacket(junk, o);
      if (p.ok()) {
        (void)CheckSerfLayers(p->body);
        auto again = EncodePacket(*p, nullptr, nullptr);
        if (again.ok() && !p->crc && !p->label_header && !AnyTruncatedCompound(p->body)) {
          // Whatever decoded re-encodes to something that decodes to the same structure
          // (truncated compound parts are the one thing that cannot be re-encoded).
          auto twice = DecodePacket(*again, Plain());
          ASSERT_TRUE(twice.ok());
          EXPECT_EQ(twice->body, p->body) << Hex(junk);
        }
      }
    }
    for (const StreamOptions& o : {StreamOptions{}, stream_lax}) {
      auto f = DecodeStream(junk, o);
      if (f.ok() && f->has_value()) (void)EncodeStream(**f, nullptr, nullptr);
    }
  }
}

// ---- building new traffic

TEST(GossipWire, BuildPacketFollowsTheSendOrder) {
  Alive alive{1,
              "n1",
              std::string("\x7f\x00\x00\x0b", 4),
              7946,
              *serf::EncodeTags({{"role", "consul"}}),
              std::string("\x01\x05\x02\x02\x05\x04", 6)};
  std::vector<Message> msgs = {alive, Suspect{3, "n2", "n1"},
                               UserMsg{serf::EncodeMessage(serf::Join{4, "n1"})}};
  auto ring = Keyring::Create({}, std::string(32, 'k'));
  FixedNonceSource nonce(Nonce{9, 9, 9});
  SendOptions o;
  o.label = "lan";
  o.crc = true;
  o.compress = true;
  o.keyring = &*ring;
  auto bytes = BuildPacket(msgs, o, &nonce);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  EXPECT_EQ(bytes->substr(0, 5), std::string("\xf4\x03lan", 5));
  PacketOptions in;
  in.label = "lan";
  in.keyring = &*ring;
  auto p = DecodePacket(*bytes, in);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->crc);
  ASSERT_TRUE(p->encryption.has_value());
  EXPECT_EQ(p->encryption->nonce, (Nonce{9, 9, 9}));
  const auto leaves = Leaves(p->body);
  ASSERT_EQ(leaves.size(), 3u);
  EXPECT_EQ(*leaves[0], Message(alive));
  // Compression is used on UDP only when it shrinks the packet: a small ping stays plain.
  auto small = BuildPacket({Ping{1, "n"}}, SendOptions{.compress = true}, nullptr);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)[0], '\x00');
  // 255 parts at most.
  std::vector<Message> many(256, Nack{1});
  EXPECT_FALSE(BuildPacket(many, {}, nullptr).ok());
  many.pop_back();
  EXPECT_TRUE(BuildPacket(many, {}, nullptr).ok());
  EXPECT_FALSE(BuildPacket({}, {}, nullptr).ok());
  // Encryption without nonces, a label that is too long: refused rather than sent wrong.
  SendOptions sealed;
  sealed.keyring = &*ring;
  EXPECT_FALSE(BuildPacket({Ping{}}, sealed, nullptr).ok());
  EXPECT_FALSE(BuildPacket({Ping{}}, SendOptions{.label = std::string(256, 'l')}, nullptr).ok());
}

TEST(GossipWire, StreamMessagesRoundTrip) {
  PushPull pp;
  pp.join = true;
  pp.nodes.push_back(PushNodeState{"n1", std::string("\x7f\x00\x00\x0b", 4), 7946, "", 3,
                                   NodeState::kLeft, std::string("\x01\x05\x02\x02\x05\x04", 6)});
  pp.user_state = "\x02\x80";
  auto ring = Keyring::Create({}, std::string(24, 'k'));
  for (const Message& m : {Message(pp), Message(Ping{7, "n2"}), Message(Ack{7, std::nullopt}),
                           Message(UserMsg{"reliable"}), Message(ErrorResp{"boom"})}) {
    for (bool compress : {false, true}) {
      for (bool encrypt : {false, true}) {
        FixedNonceSource nonce(Nonce{1});
        StreamSendOptions so;
        so.label = "seg";
        so.label_header = true;
        so.compress = compress;
        so.keyring = encrypt ? &*ring : nullptr;
        auto bytes = BuildStream(m, so, &nonce);
        ASSERT_TRUE(bytes.ok()) << bytes.status().message();
        StreamOptions si;
        si.label = "seg";
        si.keyring = encrypt ? &*ring : nullptr;
        auto f = DecodeStream(*bytes, si);
        ASSERT_TRUE(f.ok()) << f.status().message();
        ASSERT_TRUE(f->has_value());
        EXPECT_EQ((*f)->message, m);
        EXPECT_EQ((*f)->compressed, compress);
        EXPECT_EQ((*f)->consumed, bytes->size());
      }
    }
  }
  EXPECT_FALSE(BuildStream(Suspect{}, {}, nullptr).ok());
  EXPECT_FALSE(EncodeMessage(pp).ok());  // push/pull never goes over UDP
}

TEST(GossipWire, EncryptionVersionZeroIsReadable) {
  auto ring = Keyring::Create({}, std::string(16, 'k'));
  FixedNonceSource nonce(Nonce{5});
  SendOptions o;
  o.keyring = &*ring;
  o.encryption_version = kEncryptionVersion0;
  auto bytes = BuildPacket({Ping{3, "n"}}, o, &nonce);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ((*bytes)[0], '\x00');
  PacketOptions in;
  in.keyring = &*ring;
  auto p = DecodePacket(*bytes, in);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->encryption->version, 0);
  EXPECT_EQ(*p->body.As<Ping>(), (Ping{3, "n"}));
}

}  // namespace
}  // namespace gangway::gossip
