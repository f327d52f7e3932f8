// Serf's messages (serf 0.9.x, §11 of the reference): the bytes memberlist carries as user
// messages (`08 | serf type | msgpack`), as the push/pull user state, and inside query payloads;
// plus the helpers for node tags (alive Meta) and Vivaldi coordinates (ack payload). Pure value
// types and functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "codec/msgpack.h"
#include "core/status.h"

namespace gangway::gossip::serf {

// First byte of a Serf message. Append-only, fixed by the Go implementation.
enum class MessageType : uint8_t {
  kLeave = 0,
  kJoin = 1,
  kPushPull = 2,
  kUserEvent = 3,
  kQuery = 4,
  kQueryResponse = 5,
  kConflictResponse = 6,
  kKeyRequest = 7,
  kKeyResponse = 8,
  kRelay = 9,
};
const char* MessageTypeName(uint8_t type);

// Go's map order is random; ordered pairs keep decoded maps byte-identical on re-encode.
using StringMap = std::vector<std::pair<std::string, std::string>>;

// messageLeave: a leave intent. prune erases the member at once (force-leave -prune).
struct Leave {
  uint64_t ltime = 0;
  std::string node;
  bool prune = false;
  bool operator==(const Leave&) const = default;
};

// messageJoin: a join intent.
struct Join {
  uint64_t ltime = 0;
  std::string node;
  bool operator==(const Join&) const = default;
};

// messageUserEvent.
struct UserEvent {
  uint64_t ltime = 0;
  std::string name;
  std::optional<std::string> payload;  // nullopt = nil
  bool cc = false;                     // coalescable
  bool operator==(const UserEvent&) const = default;
};

// userEvent / userEvents: one slot of the event ring buffer carried in push/pull.
struct EventEntry {
  std::string name;
  std::optional<std::string> payload;
  bool operator==(const EventEntry&) const = default;
};
struct UserEvents {
  uint64_t ltime = 0;
  std::vector<EventEntry> events;
  bool operator==(const UserEvents&) const = default;
};

// messagePushPull: Serf's anti-entropy state (the memberlist push/pull user state).
struct PushPull {
  uint64_t ltime = 0;
  std::vector<std::pair<std::string, uint64_t>> status_ltimes;
  std::vector<std::string> left_members;
  uint64_t event_ltime = 0;
  std::vector<std::optional<UserEvents>> events;  // the whole ring; nullopt = unused slot
  uint64_t query_ltime = 0;
  bool operator==(const PushPull&) const = default;
};

inline constexpr uint32_t kQueryFlagAck = 1;          // responders ack receipt
inline constexpr uint32_t kQueryFlagNoBroadcast = 2;  // do not re-gossip
inline constexpr uint32_t kResponseFlagAck = 1;       // this response is an ack

// messageQuery.
struct Query {
  uint64_t ltime = 0;
  uint32_t id = 0;
  std::string addr;  // IP bytes to respond to
  uint16_t port = 0;
  std::string source_node;
  std::optional<std::vector<std::string>> filters;  // each: filter type byte + msgpack
  uint32_t flags = 0;
  uint8_t relay_factor = 0;
  int64_t timeout_ns = 0;  // time.Duration
  std::string name;
  std::optional<std::string> payload;
  bool operator==(const Query&) const = default;
};

// messageQueryResponse.
struct QueryResponse {
  uint64_t ltime = 0;
  uint32_t id = 0;
  std::string from;
  uint32_t flags = 0;
  std::optional<std::string> payload;
  bool operator==(const QueryResponse&) const = default;
};

// serf.Member as sent in a conflict response.
struct Member {
  std::string name;
  std::string addr;
  uint16_t port = 0;
  StringMap tags;
  int64_t status = 0;  // 0 none, 1 alive, 2 leaving, 3 left, 4 failed
  uint8_t protocol_min = 0, protocol_max = 0, protocol_cur = 0;
  uint8_t delegate_min = 0, delegate_max = 0, delegate_cur = 0;
  bool operator==(const Member&) const = default;
};

// conflictResponse: payload of a response to a _serf_conflict query.
struct ConflictResponse {
  Member member;
  bool operator==(const ConflictResponse&) const = default;
};

// nodeKeyRequest: payload of _serf_install-key/use-key/remove-key queries.
struct KeyRequest {
  std::optional<std::string> key;  // raw key bytes
  bool operator==(const KeyRequest&) const = default;
};

// nodeKeyResponse.
struct KeyResponse {
  bool result = false;
  std::string message;
  std::optional<std::vector<std::string>> keys;  // base64
  std::string primary_key;                       // base64
  bool operator==(const KeyResponse&) const = default;
};

// net.UDPAddr as Go's encoder writes it: {IP, Port, Zone}.
struct UdpAddr {
  std::string ip;
  int64_t port = 0;
  std::string zone;
  bool operator==(const UdpAddr&) const = default;
};

// relay: relayHeader{DestAddr, DestName} followed by the Serf message to forward unchanged.
struct Relay {
  UdpAddr dest_addr;
  std::string dest_name;
  std::string inner;  // serf type byte + msgpack; decode with DecodeMessage
  bool operator==(const Relay&) const = default;
};

using Message = std::variant<Leave, Join, PushPull, UserEvent, Query, QueryResponse,
                             ConflictResponse, KeyRequest, KeyResponse, Relay>;

// Decodes a Serf message (type byte + msgpack), e.g. a memberlist UserMsg payload or the push/pull
// user state. Unknown types and malformed bodies are errors.
Result<Message> DecodeMessage(std::string_view bytes, const codec::msgpack::Limits& limits = {});
std::string EncodeMessage(const Message& m);
uint8_t TypeOf(const Message& m);

// Query filters: `type byte + msgpack`.
struct NodeFilter {  // type 0: the local node name must be listed
  std::vector<std::string> nodes;
  bool operator==(const NodeFilter&) const = default;
};
struct TagFilter {  // type 1: the tag's value must match the RE2 expression
  std::string tag;
  std::string expr;
  bool operator==(const TagFilter&) const = default;
};
using Filter = std::variant<NodeFilter, TagFilter>;
Result<Filter> DecodeFilter(std::string_view bytes, const codec::msgpack::Limits& limits = {});
std::string EncodeFilter(const Filter& f);

// Node tags in memberlist Meta (protocol >= 3): 0xff + msgpack map[string]string. Meta without
// the magic byte is the bare role (protocol 2) and decodes as {"role": meta}.
inline constexpr size_t kMetaMaxSize = 512;
Result<StringMap> DecodeTags(std::string_view meta, const codec::msgpack::Limits& limits = {});
// Writes the tags in the given order (pass them sorted for deterministic output). Fails when
// the result exceeds kMetaMaxSize.
Result<std::string> EncodeTags(const StringMap& tags);

// Vivaldi coordinate in an ack payload: PingVersion (1) + msgpack Coordinate.
inline constexpr uint8_t kPingVersion = 1;
struct Coordinate {
  std::vector<double> vec;
  double error = 0;
  double adjustment = 0;
  double height = 0;
  bool operator==(const Coordinate&) const = default;
};
Result<Coordinate> DecodePingPayload(std::string_view payload,
                                     const codec::msgpack::Limits& limits = {});
std::string EncodePingPayload(const Coordinate& c);

}  // namespace gangway::gossip::serf
