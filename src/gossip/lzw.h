// LZW exactly as Go's compress/lzw with LSB bit order and 8-bit literals, the settings memberlist
// uses for its compress messages (type 9). The encoder reproduces Go's output byte for byte; the
// decoder accepts what Go's reader accepts and bounds its output. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::gossip {

// memberlist HEAD refuses to inflate past 40 MiB; so do we by default.
inline constexpr size_t kMaxDecompressedBytes = 40u << 20;

// Go's lzw.NewWriter(w, lzw.LSB, 8) + Write(in) + Close(): an initial CLEAR, 9..12-bit codes,
// CLEAR when the code space fills (4095), EOF, padding to a byte.
std::string LzwCompress(std::string_view in);

// Inverse of LzwCompress. Fails on an invalid code, a missing EOF code or output above
// max_output bytes. Bytes after the EOF code are ignored, as Go does.
Result<std::string> LzwDecompress(std::string_view in, size_t max_output = kMaxDecompressedBytes);

}  // namespace gangway::gossip
