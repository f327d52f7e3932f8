// Fuzzes the gossip wire decoders with bytes as they arrive from the network: a UDP datagram
// (without and with a keyring, the latter also in the lax "verify incoming off" mode that reads
// undecryptable packets as plaintext), and the start of a TCP stream from both ends. Anything
// that decodes is re-encoded and its Serf payloads decoded too, so the encoders see fuzzed
// structures as well.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coordinate/coordinate.h"
#include "gossip/serf_wire.h"
#include "gossip/testing/fixed_nonce.h"
#include "gossip/wire.h"

namespace {

using namespace gangway::gossip;

// The key of the captured encrypted vectors (000102..1f), so the seed corpus reaches the
// layers under the encryption; plus a second key so the "try every key" loop runs.
const Keyring& FuzzKeyring() {
  static const Keyring ring = [] {
    std::string key(32, '\0');
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i);
    auto r = Keyring::Create({key}, std::string(16, 'b'));
    return r.ok() ? *r : Keyring();
  }();
  return ring;
}

void DecodeSerf(std::string_view bytes, int depth) {
  auto m = serf::DecodeMessage(bytes);
  if (!m.ok()) return;
  (void)serf::EncodeMessage(*m);
  if (const auto* relay = std::get_if<serf::Relay>(&*m); relay && depth < 2) {
    DecodeSerf(relay->inner, depth + 1);
  }
  if (const auto* q = std::get_if<serf::Query>(&*m); q && q->filters) {
    for (const std::string& f : *q->filters) (void)serf::DecodeFilter(f);
  }
}

void Exercise(const Message& body) {
  for (const Message* leaf : Leaves(body)) {
    if (const auto* u = leaf->As<UserMsg>()) DecodeSerf(u->payload, 0);
    if (const auto* a = leaf->As<Alive>()) (void)serf::DecodeTags(a->meta);
    if (const auto* ack = leaf->As<Ack>(); ack && ack->payload) {
      // As Serf does with a probe's ack: a coordinate that decodes is offered to the Vivaldi
      // client, which must refuse what it cannot use and never end up invalid.
      auto c = serf::DecodePingPayload(*ack->payload);
      if (c.ok()) {
        gangway::coordinate::Client client;
        (void)client.Update("peer", {c->vec, c->error, c->adjustment, c->height}, 0.001);
        if (!client.GetCoordinate().IsValid()) __builtin_trap();
        (void)serf::EncodePingPayload(*c);
      }
    }
    if (const auto* p = leaf->As<PushPull>()) DecodeSerf(p->user_state, 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Keyring& ring = FuzzKeyring();
  testing::FixedNonceSource nonce(Nonce{});

  PacketOptions plain;
  PacketOptions keyed;
  keyed.keyring = &ring;
  PacketOptions lax = keyed;
  lax.verify_incoming = false;
  PacketOptions labeled;
  labeled.label = "dc1-lan";
  labeled.keyring = &ring;
  labeled.verify_incoming = false;
  for (const PacketOptions* o : {&plain, &keyed, &lax, &labeled}) {
    auto p = DecodePacket(in, *o);
    if (!p.ok()) continue;
    Exercise(p->body);
    (void)FirstProblem(p->body);
    (void)EncodePacket(*p, &ring, &nonce);
  }

  StreamOptions listener;
  StreamOptions dialer;
  dialer.accept_label_header = false;
  StreamOptions keyed_stream;
  keyed_stream.keyring = &ring;
  keyed_stream.verify_incoming = false;
  StreamOptions labeled_stream = keyed_stream;
  labeled_stream.label = "dc1-lan";
  for (const StreamOptions* o : {&listener, &dialer, &keyed_stream, &labeled_stream}) {
    auto f = DecodeStream(in, *o);
    if (!f.ok() || !f->has_value()) continue;
    Exercise((*f)->message);
    (void)EncodeStream(**f, &ring, &nonce);
  }
  return 0;
}
