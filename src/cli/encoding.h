// URL escaping for request targets built from user input (KV keys, service and node names), and
// base64 for KV values. Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gangway::cli {

// Percent-encodes a URL path, keeping '/' (a KV key "a b/c?d" becomes "a%20b/c%3Fd"). Keeps
// RFC 3986 unreserved characters and the sub-delimiters Go's url.URL leaves alone in paths.
std::string EscapePath(std::string_view path);
// As EscapePath, but '/' is encoded too: for a single segment such as a service ID.
std::string EscapePathSegment(std::string_view segment);
// Percent-encodes a query value (only unreserved characters stay; space becomes %20).
std::string EscapeQueryValue(std::string_view value);

std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; whitespace is not accepted. nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace gangway::cli
