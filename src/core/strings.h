// Small string helpers shared by all modules. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gangway {

std::vector<std::string> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
std::string ToLower(std::string_view s);
// Levenshtein distance, used to suggest the nearest valid key for an unknown one.
size_t EditDistance(std::string_view a, std::string_view b);
// The candidate closest to `word` (case-insensitive), or "" when nothing is reasonably close.
std::string Nearest(std::string_view word, const std::vector<std::string>& candidates);
// Percent-decodes a URL component; '+' is left alone (Consul paths keep it).
std::string UrlDecode(std::string_view s);
// Splits "host:port" or "[v6]:port" (Go's net.SplitHostPort, brackets removed); false unless the
// host is non-empty and the port is a number in 1..65535.
bool SplitHostPort(std::string_view s, std::string* host, int* port);

}  // namespace gangway
