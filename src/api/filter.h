// Consul's ?filter= expression language (go-bexpr), evaluated over JSON API rows. A Filter is an
// immutable compiled expression: parse once per request, then call Matches from any thread.
// Pure: no I/O, no clocks.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "core/status.h"

namespace gangway::api {

namespace internal {
struct FilterProgram;
}  // namespace internal

// Grammar (as go-bexpr):
//   expr      := or
//   or        := and ("or" and)*          -- keywords need whitespace around them
//   and       := not ("and" not)*
//   not       := "not" not | "(" or ")" | match
//   match     := Selector ("==" | "!=") Value
//              | Selector ["not"] ("contains" | "matches") Value
//              | Selector "is" ["not"] "empty"
//              | Value ["not"] "in" Selector
//   Selector  := Ident ("." Ident | "." Digits | "[" String "]")*,  Ident := [a-zA-Z][a-zA-Z0-9_/]*
//   Value     := Selector (taken as its dotted text) | Number | "double quoted" | `raw`
//
// Semantics over a JSON row:
//   * A selector walks object keys; a digit segment indexes an array. When a name segment meets
//     an array, the rest of the path is applied to every element ("Checks.Status") and the match
//     holds when it holds for any element; for in/contains the reached values form the list.
//   * == / != coerce the literal to the field's JSON type (number, bool per Go's ParseBool,
//     string). in/contains: list membership, map key presence, or substring. is empty: empty
//     string, list or map. matches: unanchored search on a string with a Go regexp (RE2, linear
//     time, no back-references; core/regexp.h), compiled at Parse.
//   * Every negated form (!=, not in, not contains, not matches, is not empty) is exactly the
//     negation of its positive form, so "X != v" and "not X == v" always agree.
//   * A selector that reaches nothing (missing key, null, path through a scalar) is absent:
//     absent values are empty and equal nothing, so ==, in, contains, matches and is not empty
//     are false and their negations (and is empty) are true. go-bexpr does the same for missing
//     map keys; for unknown struct fields it errors, which a row filter cannot do.
//   * An operator that does not apply to the value's type (== on a list, contains on a number,
//     matches on a bool) makes that match false in both polarities, where go-bexpr would fail
//     the request.
class Filter {
 public:
  // Expressions longer than this, or nesting parentheses/not deeper than kMaxDepth, are refused:
  // the text comes from untrusted query strings.
  static constexpr size_t kMaxLength = 4096;
  static constexpr int kMaxDepth = 64;

  // Parses an expression. Errors are InvalidArgument and carry go-bexpr's shape:
  // "1:14 (13): no match found, expected: \"!=\", \"==\" ..." (line:column (byte offset)).
  // Callers add their own prefix (Consul: "Failed to create boolean expression evaluator: ").
  static Result<Filter> Parse(std::string_view expr);

  // True when the row matches. Never throws.
  bool Matches(const nlohmann::json& row) const;

 private:
  explicit Filter(std::shared_ptr<const internal::FilterProgram> program);
  std::shared_ptr<const internal::FilterProgram> program_;
};

}  // namespace gangway::api
