// The handshake a server sends when it opens a Raft connection to a peer's RPC port, after the
// mode byte 0x01 (docs/consensus.md, "Transport"). Pure codec: no sockets; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::consensus {

// The RPC port's mode byte for Raft (Consul's RaftRPC; rpc::kModeRaft is the same value).
inline constexpr uint8_t kRaftModeByte = 0x01;
inline constexpr uint64_t kHandshakeVersion = 1;
inline constexpr size_t kHandshakeHeaderSize = 8 + 8 + 2;  // version, server id, address length
inline constexpr size_t kMaxHandshakeAddress = 255;
inline constexpr size_t kMaxHandshakeSize = kHandshakeHeaderSize + kMaxHandshakeAddress;
// The one byte the accepting side answers once it took the handshake. Anything else, or the
// connection closing, is a refusal.
inline constexpr char kHandshakeAccepted = 0x00;

struct Handshake {
  uint64_t id = 0;       // the dialing server's id
  std::string address;   // the dialing server's advertised address
};

// The bytes after the mode byte. id must be > 0 and address 1..255 printable ASCII bytes.
std::string EncodeHandshake(uint64_t id, std::string_view address);

// Progress of decoding the bytes received so far.
struct HandshakeProgress {
  size_t missing = 0;  // > 0: at least this many more bytes are needed
  size_t size = 0;     // when complete: how many bytes the handshake took
  Handshake handshake;
  bool complete() const { return missing == 0; }
};

// Decodes a handshake at the start of `bytes` (which may hold only part of it). An error means
// the bytes can never become a valid handshake: wrong version, id 0, an empty or oversized
// address, or an address byte that is not printable ASCII.
Result<HandshakeProgress> DecodeHandshake(std::string_view bytes);

}  // namespace gangway::consensus
