// The frame every RaftNode entry carries in the Raft log (docs/consensus.md, "Log entries").
// libraft 0.15 stores entry payloads padded to 8 bytes but reads them back as if they were not,
// so an entry whose length is not a multiple of 8 makes its segment unreadable. The frame records
// the payload's length and pads it. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::consensus {

inline constexpr uint8_t kEntryFormat = 1;
inline constexpr size_t kEntryHeaderSize = 8;

// Header (8 bytes): payload length (u32 little endian), format (u8, 1), 3 zero bytes; then the
// payload; then zero bytes up to a multiple of 8.
std::string EncodeEntry(std::string_view payload);
// The payload of a framed entry; an error for anything EncodeEntry would not produce.
Result<std::string_view> DecodeEntry(std::string_view framed);

}  // namespace gangway::consensus
