// URL escaping for request targets built from user input (KV keys, service and node names), as
// Go's net/url leaves them. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace gangway::apiclient {

// Percent-encodes a URL path, keeping '/' (a KV key "a b/c?d" becomes "a%20b/c%3Fd"). Keeps
// RFC 3986 unreserved characters and the sub-delimiters Go's url.URL leaves alone in paths.
std::string EscapePath(std::string_view path);
// As EscapePath, but '/' is encoded too: for a single segment such as a service ID.
std::string EscapePathSegment(std::string_view segment);
// Percent-encodes a query value (only unreserved characters stay; space becomes %20).
std::string EscapeQueryValue(std::string_view value);

}  // namespace gangway::apiclient
