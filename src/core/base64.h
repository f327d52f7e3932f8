// Standard base64 (RFC 4648 §4, with padding), as Go's encoding/base64.StdEncoding reads and
// writes it: KV values in the HTTP API and transactions. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway {

std::string Base64Encode(std::string_view bytes);

// Strict: padding required, no whitespace, and the unused low bits of the last symbol must be zero
// (so every encoding decodes from exactly one text). Errors name the offending position.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace gangway
