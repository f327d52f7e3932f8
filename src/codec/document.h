// Configuration documents: HCL and JSON (with '#', '//' and '/* */' comments tolerated) parsed
// into one JSON tree, remembering the source line of every value so that later checks (unknown
// key, wrong type) can say "file:line". Pure; any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace gangway::codec {

struct Document {
  nlohmann::json value;
  std::string file;  // for messages; may be empty
  // JSON pointer ("/service/port") -> 1-based line where that key (or value) appears.
  std::map<std::string, int> lines;
  // True when a JSON document contained comments (not valid JSON; accepted with a note).
  bool json_had_comments = false;

  // Line of a JSON pointer, or of its nearest known ancestor below the root (so a missing member
  // is placed at its parent object), or 0 when unknown. Pointer tokens are RFC 6901-escaped.
  int LineOf(const std::string& pointer) const;
  // "file:line" (or "file", or "line N" without a file, or "") for messages.
  std::string Where(const std::string& pointer) const;
};

// HCL 1/2 subset used by Consul configs: attributes (k = v), blocks (k { }, k "label" { }),
// repeated blocks (become an array), lists, objects, strings with escapes, heredocs (<<EOF,
// <<-EOF), numbers, booleans, comments (#, //, /* */). Errors name the line and column.
Result<Document> ParseHcl(std::string_view text, std::string file = "");

// JSON with comments outside strings. Errors name the line and column and what was expected.
// Duplicate keys: the last wins (as Go's decoder).
Result<Document> ParseJson(std::string_view text, std::string file = "");

// Chooses by extension (.hcl or .json); anything else is an error naming the file.
Result<Document> ParseConfigText(std::string_view text, const std::string& file);
Result<Document> ParseConfigFile(const std::string& path);

}  // namespace gangway::codec
