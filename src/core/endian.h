// Big-endian (network order) integers in byte strings, as the wire formats here use them: gossip
// packets, RPC frames, msgpack, snapshot archives, the Raft handshake. Pure; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gangway {

// The first `bytes` bytes of `in` (at most 8; the caller has checked the length) as an unsigned
// big-endian integer.
inline uint64_t LoadBigEndian(std::string_view in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

inline uint32_t LoadBigEndian32(std::string_view in) {
  return static_cast<uint32_t>(LoadBigEndian(in, 4));
}

// Appends the low `bytes` bytes of `v` (at most 8), most significant first.
inline void AppendBigEndian(std::string* out, uint64_t v, size_t bytes) {
  for (size_t i = bytes; i > 0; --i) out->push_back(static_cast<char>((v >> (8 * (i - 1))) & 0xff));
}

inline void AppendBigEndian32(std::string* out, uint32_t v) { AppendBigEndian(out, v, 4); }

}  // namespace gangway
