// memberlist's wire format (0.2.x, plus the label header of >= 0.3): typed messages, UDP packets
// (label, AES-GCM, CRC, LZW compress, compound framing) and TCP stream messages (push/pull, ping,
// user, error). Pure value types and functions: no sockets, no clocks; randomness only through a
// NonceSource. Any thread. Format notes: docs/gossip-wire-notes.md and the shared reference
// shared/reference/gossip-wire.md (section numbers below refer to it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "codec/msgpack.h"
#include "core/status.h"
#include "gossip/lzw.h"
#include "gossip/security.h"

namespace gangway::gossip {

// First byte of a memberlist message (§4). Append-only, fixed by the Go implementation.
enum class MessageType : uint8_t {
  kPing = 0,
  kIndirectPing = 1,
  kAck = 2,
  kSuspect = 3,
  kAlive = 4,
  kDead = 5,
  kPushPull = 6,
  kCompound = 7,
  kUser = 8,
  kCompress = 9,
  kEncrypt = 10,
  kNack = 11,
  kHasCrc = 12,
  kErr = 13,
  kHasLabel = 244,
};
const char* MessageTypeName(uint8_t type);

// Byte fields (Addr, Meta, Vsn, ...) are Go []byte: raw bytes held in std::string. Go's nil and
// empty slices differ on the wire (c0 vs a0); fields where senders really emit nil are
// std::optional so a decoded message re-encodes byte for byte. For the others a nil decodes as
// empty, which every Go peer treats the same.

// ping (0): UDP probe and TCP fallback probe. Wire keys: Node, SeqNo, SourceAddr, SourceNode,
// SourcePort; the Source* fields are omitempty.
struct Ping {
  uint32_t seq_no = 0;
  std::string node;          // intended target's name; "" = any
  std::string source_addr;   // 4 or 16 IP bytes to reply to; "" = use the UDP source
  uint16_t source_port = 0;  // 0 = use the UDP source
  std::string source_node;
  bool operator==(const Ping&) const = default;
};

// indirectPing (1): ask a helper to probe Target:Port on our behalf.
struct IndirectPing {
  uint32_t seq_no = 0;
  std::string target;  // IP bytes
  uint16_t port = 0;
  std::string node;
  bool nack = false;  // ask for a nack when the target does not answer (peer PMax >= 4)
  std::string source_addr;
  uint16_t source_port = 0;
  std::string source_node;
  bool operator==(const IndirectPing&) const = default;
};

// ackResp (2). Serf puts its Vivaldi coordinate in payload (serf_wire.h).
struct Ack {
  uint32_t seq_no = 0;
  std::optional<std::string> payload;  // nullopt = nil (c0)
  bool operator==(const Ack&) const = default;
};

// nackResp (11).
struct Nack {
  uint32_t seq_no = 0;
  bool operator==(const Nack&) const = default;
};

// suspect (3).
struct Suspect {
  uint32_t incarnation = 0;
  std::string node;
  std::string from;
  bool operator==(const Suspect&) const = default;
};

// alive (4).
struct Alive {
  uint32_t incarnation = 0;
  std::string node;
  std::string addr;  // IP bytes (4 for IPv4)
  uint16_t port = 0;
  std::string meta;  // <= 512 bytes; Serf: 0xff + msgpack tags
  std::string vsn;   // 6 bytes: pmin pmax pcur dmin dmax dcur
  bool operator==(const Alive&) const = default;
};

// dead (5). from == node means the node left on purpose.
struct Dead {
  uint32_t incarnation = 0;
  std::string node;
  std::string from;
  bool operator==(const Dead&) const = default;
};

enum class NodeState : int32_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

// pushNodeState: one entry of a push/pull exchange.
struct PushNodeState {
  std::string name;
  std::string addr;
  uint16_t port = 0;
  std::string meta;
  uint32_t incarnation = 0;
  NodeState state = NodeState::kAlive;  // other values are kept as received
  std::string vsn;
  bool operator==(const PushNodeState&) const = default;
};

// pushPull (6), TCP only: pushPullHeader{Join, Nodes, UserStateLen}, the node states, then
// UserStateLen raw bytes (Serf's push/pull message). Nodes and UserStateLen are implied.
struct PushPull {
  bool join = false;
  std::vector<PushNodeState> nodes;
  std::string user_state;
  bool operator==(const PushPull&) const = default;
};

// user (8): opaque delegate bytes (Serf messages). On UDP the bytes follow the type byte; on a
// stream a userMsgHeader{UserMsgLen} comes first.
struct UserMsg {
  std::string payload;
  bool operator==(const UserMsg&) const = default;
};

// err (13), TCP only: the listener's reply when it could not read our stream.
struct ErrorResp {
  std::string error;
  bool operator==(const ErrorResp&) const = default;
};

// A message memberlist would log and drop: unknown or out-of-place type byte, or a body that
// does not decode. raw holds the bytes (type byte included) so the packet still re-encodes;
// reason says what was wrong. Sibling messages of a compound are unaffected, as in Go.
struct Unparsed {
  std::string raw;
  std::string reason;
  bool operator==(const Unparsed&) const = default;
};

struct Message;

// compound (7): up to 255 messages with u16 lengths. truncated counts trailing parts whose
// bytes were missing (Go processes the complete ones and logs the rest); they cannot be
// re-encoded.
struct Compound {
  std::vector<Message> parts;
  size_t truncated = 0;
  bool operator==(const Compound&) const;
};

// compress (9): msgpack{Algo: 0, Buf: LZW(message)}. `inner` holds exactly one message (the
// decompressed one, often a compound); a vector only because Message is recursive.
struct Compressed {
  std::vector<Message> inner;
  bool operator==(const Compressed&) const;
};

struct Message {
  using Body = std::variant<Ping, IndirectPing, Ack, Nack, Suspect, Alive, Dead, PushPull, UserMsg,
                            ErrorResp, Compound, Compressed, Unparsed>;
  Body body;

  Message() = default;
  template <typename T, typename = std::enable_if_t<!std::is_same_v<std::decay_t<T>, Message>>>
  Message(T&& v) : body(std::forward<T>(v)) {}  // NOLINT: implicit from any message struct

  // The type byte this message is written with (Unparsed: its first byte, or 0 when empty).
  uint8_t type() const;
  template <typename T>
  const T* As() const {
    return std::get_if<T>(&body);
  }
  template <typename T>
  T* As() {
    return std::get_if<T>(&body);
  }
  bool operator==(const Message&) const = default;
};

inline bool Compound::operator==(const Compound& o) const {
  return parts == o.parts && truncated == o.truncated;
}
inline bool Compressed::operator==(const Compressed& o) const { return inner == o.inner; }

// The messages a receiver acts on, in order: compound parts and compressed contents are opened.
std::vector<const Message*> Leaves(const Message& m);
// Why some part of m could not be used (first Unparsed reason or truncated compound), if any.
std::optional<std::string> FirstProblem(const Message& m);

// Bounds on untrusted input, defaulting to memberlist HEAD's hardening (§1.1).
struct WireLimits {
  size_t max_decompressed_bytes = kMaxDecompressedBytes;  // per LZW payload
  size_t max_nesting = 8;                   // compound/compress frames inside one another
  size_t max_push_nodes = 1u << 20;         // pushPullHeader.Nodes
  size_t max_push_state_bytes = 20u << 20;  // UserStateLen, UserMsgLen, encrypted stream length
  size_t max_stream_bytes = 40u << 20;      // a plaintext stream message
  codec::msgpack::Limits msgpack;
};

// Encodes one message in its UDP form: type byte + msgpack body (user: + raw bytes; compound:
// framing; compress: LZW). Fails for a compound of more than 255 parts or a part longer than
// 65535 bytes, and for types that only exist on streams (PushPull, ErrorResp).
Result<std::string> EncodeMessage(const Message& m);
// Decodes one message in its UDP form. Never fails: problems become Unparsed (see above).
Message DecodeMessage(std::string_view bytes, const WireLimits& limits = {});

// The msgpack bodies on their own (no type byte), for callers that frame differently.
void EncodeBody(const Ping& m, std::string* out);
void EncodeBody(const IndirectPing& m, std::string* out);
void EncodeBody(const Ack& m, std::string* out);
void EncodeBody(const Nack& m, std::string* out);
void EncodeBody(const Suspect& m, std::string* out);
void EncodeBody(const Alive& m, std::string* out);
void EncodeBody(const Dead& m, std::string* out);
void EncodeBody(const PushNodeState& m, std::string* out);
void EncodeBody(const ErrorResp& m, std::string* out);

// ---------------------------------------------------------------------------------------------
// UDP packets (§2, §5): [label] ( seal(inner) | inner ),  inner = [hasCrc] body.

struct Encryption {
  uint8_t version = kEncryptionVersion1;
  Nonce nonce{};         // as received; on encode the NonceSource supplies a fresh one
  size_t key_index = 0;  // which keyring key opened it (decode only)
};

struct Packet {
  std::string label;          // label bound to the packet (GCM additional data); "" = none
  bool label_header = false;  // the 244 header is on the wire
  std::optional<Encryption> encryption;
  bool crc = false;  // hasCrc (12) header, checked on decode
  Message body;
};

// Receiver configuration (memberlist Config fields of the same names).
struct PacketOptions {
  std::string label;
  bool skip_inbound_label_check = false;
  const Keyring* keyring = nullptr;  // encryption is on when set and not empty
  bool verify_incoming = true;       // false: undecryptable packets are read as plaintext
  WireLimits limits;
};

// Undoes label, encryption and CRC. Errors are the cases where memberlist drops the whole
// packet (empty, label mismatch, undecryptable, CRC mismatch); per-message problems are
// Unparsed entries in the body.
Result<Packet> DecodePacket(std::string_view datagram, const PacketOptions& options);

// Re-encodes a packet as described (layers in the order of §2). With packet.encryption set the
// keyring's primary key seals it with a nonce from `nonces`.
Result<std::string> EncodePacket(const Packet& packet, const Keyring* keyring, NonceSource* nonces);

// Sender configuration for new packets.
struct SendOptions {
  std::string label;                 // "" = no label header (required for Debian serf 0.9.x pools)
  bool crc = false;                  // add hasCrc; only for peers with PMax >= 5
  bool compress = false;             // LZW, used only when it makes the packet smaller (UDP rule)
  const Keyring* keyring = nullptr;  // seal with the primary key when set and not empty
  uint8_t encryption_version = kEncryptionVersion1;
};

// One message goes bare, several as a compound (at most 255); then compress, CRC, seal, label.
Result<std::string> BuildPacket(std::vector<Message> messages, const SendOptions& options,
                                NonceSource* nonces);

// ---------------------------------------------------------------------------------------------
// TCP streams (§6): [label header] ( 0x0a len:u32 seal(plain) | plain ),
// plain = compress{LZW(msg)} | msg, msg = ping | ack | pushPull | user | err.

struct StreamFrame {
  std::string label;          // label bound to the stream (GCM additional data); "" = none
  bool label_header = false;  // the dialer's 244 header starts the stream
  std::optional<Encryption> encryption;
  bool compressed = false;
  Message message;      // Ping, Ack, PushPull, UserMsg or ErrorResp
  size_t consumed = 0;  // bytes of the input this frame used (decode only)
};

struct StreamOptions {
  std::string label;
  bool skip_inbound_label_check = false;
  // Listener side: the dialer may start with a label header. The dialer reading the reply sets
  // this false: replies never carry one, but the label still authenticates them.
  bool accept_label_header = true;
  const Keyring* keyring = nullptr;
  bool verify_incoming = true;  // false: plaintext streams are accepted alongside encrypted
  WireLimits limits;
};

// Decodes the stream message at the start of `received`. Returns nullopt while `received` is a
// proper prefix of a valid message (read more and call again); an error when it can never
// become one. A stream carries one message; bytes after it are not looked at.
Result<std::optional<StreamFrame>> DecodeStream(std::string_view received,
                                                const StreamOptions& options);

// Encodes a stream message as described by the frame (consumed is ignored).
Result<std::string> EncodeStream(const StreamFrame& frame, const Keyring* keyring,
                                 NonceSource* nonces);

struct StreamSendOptions {
  std::string label;
  bool label_header = false;  // dialers write it; listeners replying do not
  bool compress = true;       // streams are compressed whenever compression is on, even if larger
  const Keyring* keyring = nullptr;
  uint8_t encryption_version = kEncryptionVersion1;
};
Result<std::string> BuildStream(Message message, const StreamSendOptions& options,
                                NonceSource* nonces);

}  // namespace gangway::gossip
