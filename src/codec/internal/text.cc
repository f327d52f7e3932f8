#include "codec/internal/text.h"

#include <cstdio>

namespace gangway::codec::internal {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  if (i >= s.size()) return 0;
  unsigned c = at(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return n;
}

std::string EscapePointerToken(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void EraseSubtree(std::map<std::string, int>* lines, const std::string& pointer) {
  const std::string prefix = pointer + "/";
  auto it = lines->lower_bound(prefix);
  while (it != lines->end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    it = lines->erase(it);
  }
}

void MoveSubtree(std::map<std::string, int>* lines, const std::string& from,
                 const std::string& to) {
  const std::string prefix = from + "/";
  std::map<std::string, int> moved;
  auto it = lines->lower_bound(prefix);
  while (it != lines->end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    moved.emplace(to + "/" + it->first.substr(prefix.size()), it->second);
    it = lines->erase(it);
  }
  lines->merge(moved);
}

Cursor::Cursor(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {
  // A UTF-8 byte order mark is not content.
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

void Cursor::Advance(size_t n) {
  for (size_t i = 0; i < n && pos_ < text_.size(); ++i) {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
}

Status Cursor::SkipSpace(bool* saw_newline, bool* saw_comment) {
  while (!AtEnd()) {
    char c = Peek();
    if (c == ' ' || c == '\t' || c == '\r') {
      Advance();
    } else if (c == '\n') {
      if (saw_newline) *saw_newline = true;
      Advance();
    } else if (c == '#' || (c == '/' && Peek(1) == '/')) {
      if (saw_comment) *saw_comment = true;
      while (!AtEnd() && Peek() != '\n') Advance();
    } else if (c == '/' && Peek(1) == '*') {
      if (saw_comment) *saw_comment = true;
      size_t start = pos_;
      int start_line = line_;
      Advance(2);
      while (!AtEnd() && !(Peek() == '*' && Peek(1) == '/')) {
        if (Peek() == '\n' && saw_newline) *saw_newline = true;
        Advance();
      }
      if (AtEnd()) return ErrorAt(start, start_line, "unterminated comment: '/*' without '*/'");
      Advance(2);
    } else {
      break;
    }
  }
  return Status::Ok();
}

std::string Cursor::DescribeAt(size_t pos) const {
  if (pos >= text_.size()) return "end of input";
  unsigned char c = static_cast<unsigned char>(text_[pos]);
  auto word_char = [](unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
  };
  if (word_char(c) && c != '-' && c != '.') {
    size_t end = pos;
    while (end < text_.size() && end - pos < 24 &&
           word_char(static_cast<unsigned char>(text_[end]))) {
      ++end;
    }
    std::string word(text_.substr(pos, end - pos));
    if (end < text_.size() && word_char(static_cast<unsigned char>(text_[end]))) word += "...";
    return "'" + word + "'";
  }
  if (c == '\n') return "newline";
  if (c == '\r') return "carriage return";
  if (c == '\t') return "tab";
  if (c == ' ') return "space";
  if (c > 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
  return buf;
}

Status Cursor::ErrorAt(size_t pos, int line, const std::string& message) const {
  if (pos > text_.size()) pos = text_.size();
  size_t line_start = text_.rfind('\n', pos == 0 ? 0 : pos - 1);
  line_start = (line_start == std::string_view::npos || pos == 0) ? 0 : line_start + 1;
  int col = 1;
  for (size_t i = line_start; i < pos; ++i) {
    // Count characters, not bytes: continuation bytes do not start a column.
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
  }
  std::string where = file_.empty()
                          ? "line " + std::to_string(line) + ", column " + std::to_string(col)
                          : file_ + ":" + std::to_string(line) + ":" + std::to_string(col);
  return InvalidArgument(where + ": " + message);
}

}  // namespace gangway::codec::internal
