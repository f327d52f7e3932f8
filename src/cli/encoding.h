// Base64 for KV values, and the URL escaping of request targets built from user input (KV keys,
// service and node names), which lives in apiclient. Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "apiclient/escape.h"

namespace gangway::cli {

using apiclient::EscapePath;
using apiclient::EscapePathSegment;
using apiclient::EscapeQueryValue;

std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; whitespace is not accepted. nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace gangway::cli
