// Shared machinery of the HCL and JSON parsers: a cursor over the input that tracks lines,
// comment skipping, UTF-8 checks and error formatting. Internal to codec; pure; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::codec::internal {

// Deepest nesting of objects/lists/blocks either parser accepts; deeper input is an error, so
// hostile files cannot exhaust the stack.
inline constexpr int kMaxDepth = 256;

// Appends code point `cp` as UTF-8 (invalid code points become U+FFFD).
void AppendUtf8(uint32_t cp, std::string* out);

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), or 0 when it is malformed
// (overlong, surrogate, out of range, truncated).
size_t Utf8SequenceLength(std::string_view s, size_t i);

// RFC 6901 escaping of one reference token ("~" -> "~0", "/" -> "~1").
std::string EscapePointerToken(std::string_view key);

// Removes every line entry under `pointer` (its descendants, not the pointer itself).
void EraseSubtree(std::map<std::string, int>* lines, const std::string& pointer);

// Moves every line entry under `from` + "/" to `to` + "/" (used when a repeated HCL block turns
// an object into a list of objects).
void MoveSubtree(std::map<std::string, int>* lines, const std::string& from, const std::string& to);

// Reads through a text, keeping the current line. Errors are formatted "file:line:col: msg"
// ("line L, column C: msg" when there is no file name). Columns count UTF-8 characters.
class Cursor {
 public:
  Cursor(std::string_view text, std::string file);

  bool AtEnd() const { return pos_ >= text_.size(); }
  // The byte `ahead` positions on, or '\0' past the end.
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void Advance(size_t n = 1);
  size_t pos() const { return pos_; }
  int line() const { return line_; }
  std::string_view text() const { return text_; }

  // Skips whitespace and '#', '//' and '/* */' comments. Sets *saw_newline when a line break was
  // crossed and *saw_comment when a comment was skipped (either may be null). Fails only on an
  // unterminated block comment.
  Status SkipSpace(bool* saw_newline = nullptr, bool* saw_comment = nullptr);

  // "'x'", "'word'", "newline", "end of input", "byte 0xC3": what was found at `pos`, for
  // "expected ..., found ..." messages. Always ASCII, so messages stay valid UTF-8.
  std::string DescribeAt(size_t pos) const;
  std::string Found() const { return DescribeAt(pos_); }

  Status ErrorAt(size_t pos, int line, const std::string& message) const;
  Status Error(const std::string& message) const { return ErrorAt(pos_, line_, message); }

 private:
  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace gangway::codec::internal
