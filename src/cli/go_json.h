// JSON as Go's encoding/json reads and writes it, for commands whose output or error text Consul
// takes straight from that package (connect ca get-config/set-config): the scanner's syntax-error
// texts, and Marshal/MarshalIndent output. Pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gangway::cli {

// Go's checkValid: ok for one well-formed JSON value (surrounding whitespace allowed), else the
// scanner's SyntaxError text, e.g. "invalid character '}' looking for beginning of object key
// string" or "unexpected end of JSON input".
Status GoJsonSyntax(std::string_view text);

// strconv.FormatFloat as encoding/json uses it for a float64: shortest round-trip digits, plain
// notation, exponent form below 1e-6 and from 1e21 ("1e-7", "1e+21").
std::string GoFloat(double value);

// A quoted JSON string with Go's escapes: HTML-safe (<, >, & as \u003c, \u003e, \u0026),
// U+2028/U+2029 escaped, invalid UTF-8 as \ufffd.
std::string GoQuote(std::string_view text);

// A Go struct's fields in declaration order; a field's value is written as Go writes the field's
// type: an integer JSON number as an integer, a float as GoFloat. Objects nested inside a value
// are Go maps and come out with sorted keys (nlohmann's object order).
using GoFields = std::vector<std::pair<std::string, nlohmann::json>>;

// json.Marshal (indent empty) or json.MarshalIndent(v, "", indent) of a struct. No final newline.
std::string GoMarshal(const GoFields& fields, std::string_view indent = {});

// The same for one value.
std::string GoMarshal(const nlohmann::json& value, std::string_view indent = {});

// The same for a value whose objects are Go structs: members in insertion order, at every depth.
std::string GoMarshal(const nlohmann::ordered_json& value, std::string_view indent = {});

}  // namespace gangway::cli
