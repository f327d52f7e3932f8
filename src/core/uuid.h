// UUIDs in their 36-character text form (8-4-4-4-12 hex digits), as Go's hashicorp/go-uuid
// writes them: node IDs, cluster IDs, event IDs. Pure apart from NewUuid's randomness; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gangway {

using UuidBytes = std::array<uint8_t, 16>;

// A random (version 4, RFC 4122 variant) UUID in lower case, from the kernel's random source.
std::string NewUuid();

// The 16 bytes of a UUID in text form; upper- or lower-case hex. nullopt when the text is not
// 36 characters with dashes at 8, 13, 18 and 23 and hex digits elsewhere.
std::optional<UuidBytes> ParseUuid(std::string_view text);

inline bool IsUuid(std::string_view text) { return ParseUuid(text).has_value(); }

// Lower-case text form of 16 bytes.
std::string FormatUuid(const UuidBytes& bytes);

}  // namespace gangway
