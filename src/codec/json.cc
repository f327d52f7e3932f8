// JSON with comments: a strict RFC 8259 parser, except that '#', '//' and '/* */' comments are
// skipped between tokens (the tutorial's service files carry '#' comments). Records the line of
// every member and element as a JSON pointer.
#include <charconv>
#include <cmath>

#include "codec/document.h"
#include "codec/internal/text.h"

namespace gangway::codec {
namespace {

using internal::Cursor;
using Json = nlohmann::json;

class JsonParser {
 public:
  JsonParser(std::string_view text, std::string file, Document* doc)
      : in_(text, std::move(file)), doc_(doc) {}

  Status Parse() {
    Status s = Skip();
    if (!s.ok()) return s;
    if (in_.AtEnd()) return in_.Error("expected a JSON value, found end of input (empty document)");
    doc_->lines[""] = in_.line();
    s = ParseValue(&doc_->value, "", 0);
    if (!s.ok()) return s;
    s = Skip();
    if (!s.ok()) return s;
    if (!in_.AtEnd()) {
      return in_.Error("expected end of input after the top-level value, found " + in_.Found());
    }
    return Status::Ok();
  }

 private:
  Status Skip() {
    bool comment = false;
    Status s = in_.SkipSpace(nullptr, &comment);
    if (comment) doc_->json_had_comments = true;
    return s;
  }

  Status ParseValue(Json* out, const std::string& ptr, int depth) {
    switch (in_.Peek()) {
      case '{':
        return ParseObject(out, ptr, depth + 1);
      case '[':
        return ParseArray(out, ptr, depth + 1);
      case '"': {
        std::string s;
        Status st = ParseString(&s);
        if (st.ok()) *out = std::move(s);
        return st;
      }
      case 't':
        return ParseLiteral("true", Json(true), out);
      case 'f':
        return ParseLiteral("false", Json(false), out);
      case 'n':
        return ParseLiteral("null", Json(nullptr), out);
      default:
        break;
    }
    char c = in_.Peek();
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    if (in_.AtEnd()) return in_.Error("expected a value, found end of input");
    if (c == '\'') return in_.Error("expected a value, found ''' (JSON strings use double quotes)");
    return in_.Error("expected a value, found " + in_.Found());
  }

  Status ParseLiteral(std::string_view word, Json value, Json* out) {
    if (in_.text().substr(in_.pos(), word.size()) != word) {
      return in_.Error("expected a value, found " + in_.Found());
    }
    char after = in_.Peek(word.size());
    if ((after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
        (after >= '0' && after <= '9') || after == '_') {
      return in_.Error("expected a value, found " + in_.Found());
    }
    in_.Advance(word.size());
    *out = std::move(value);
    return Status::Ok();
  }

  Status ParseObject(Json* out, const std::string& ptr, int depth) {
    if (depth > internal::kMaxDepth) {
      return in_.Error("nesting too deep (more than " + std::to_string(internal::kMaxDepth) +
                       " levels of objects and arrays)");
    }
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance();  // '{'
    *out = Json::object();
    Status s = Skip();
    if (!s.ok()) return s;
    if (in_.Peek() == '}') {
      in_.Advance();
      return Status::Ok();
    }
    bool after_comma = false;
    while (true) {
      if (in_.Peek() != '"') {
        if (in_.AtEnd()) {
          return in_.ErrorAt(open_pos, open_line,
                             "unterminated object: '{' has no matching '}' before end of input");
        }
        std::string msg = "expected a string (object key)";
        if (after_comma) {
          msg += " after ','";
          if (in_.Peek() == '}')
            msg += ", found '}' (JSON does not allow a trailing comma)";
          else
            msg += ", found " + in_.Found();
        } else {
          msg += " or '}', found " + in_.Found();
        }
        if (in_.Peek() != '}' && in_.Peek() != '\'' && !in_.AtEnd()) {
          char c = in_.Peek();
          if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            msg += " (keys must be quoted)";
          }
        }
        return in_.Error(msg);
      }
      const int key_line = in_.line();
      std::string key;
      s = ParseString(&key);
      if (!s.ok()) return s;
      s = Skip();
      if (!s.ok()) return s;
      if (in_.Peek() != ':') {
        return in_.Error("expected ':' after object key \"" + key + "\", found " + in_.Found());
      }
      in_.Advance();
      s = Skip();
      if (!s.ok()) return s;
      const std::string child = ptr + "/" + internal::EscapePointerToken(key);
      if (out->contains(key)) internal::EraseSubtree(&doc_->lines, child);  // last one wins
      doc_->lines[child] = key_line;
      Json value;
      s = ParseValue(&value, child, depth);
      if (!s.ok()) return s;
      (*out)[key] = std::move(value);
      s = Skip();
      if (!s.ok()) return s;
      if (in_.Peek() == ',') {
        in_.Advance();
        s = Skip();
        if (!s.ok()) return s;
        after_comma = true;
        continue;
      }
      if (in_.Peek() == '}') {
        in_.Advance();
        return Status::Ok();
      }
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated object: '{' has no matching '}' before end of input");
      }
      return in_.Error("expected '}' or ',' after object member, found " + in_.Found());
    }
  }

  Status ParseArray(Json* out, const std::string& ptr, int depth) {
    if (depth > internal::kMaxDepth) {
      return in_.Error("nesting too deep (more than " + std::to_string(internal::kMaxDepth) +
                       " levels of objects and arrays)");
    }
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance();  // '['
    *out = Json::array();
    Status s = Skip();
    if (!s.ok()) return s;
    if (in_.Peek() == ']') {
      in_.Advance();
      return Status::Ok();
    }
    while (true) {
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated array: '[' has no matching ']' before end of input");
      }
      if (in_.Peek() == ']') {
        return in_.Error(
            "expected a value after ',', found ']' (JSON does not allow a trailing "
            "comma)");
      }
      const std::string child = ptr + "/" + std::to_string(out->size());
      doc_->lines[child] = in_.line();
      Json value;
      s = ParseValue(&value, child, depth);
      if (!s.ok()) return s;
      out->push_back(std::move(value));
      s = Skip();
      if (!s.ok()) return s;
      if (in_.Peek() == ',') {
        in_.Advance();
        s = Skip();
        if (!s.ok()) return s;
        continue;
      }
      if (in_.Peek() == ']') {
        in_.Advance();
        return Status::Ok();
      }
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated array: '[' has no matching ']' before end of input");
      }
      return in_.Error("expected ']' or ',' after array element, found " + in_.Found());
    }
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads the four hex digits after "\u" (the cursor is on the first digit).
  Status ReadHex4(uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = Hex(in_.Peek());
      if (h < 0) {
        return in_.Error("expected 4 hex digits after \\u, found " + in_.Found());
      }
      v = v * 16 + static_cast<uint32_t>(h);
      in_.Advance();
    }
    *out = v;
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance();  // '"'
    std::string_view text = in_.text();
    while (true) {
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line, "unterminated string: no closing '\"'");
      }
      unsigned char c = static_cast<unsigned char>(in_.Peek());
      if (c == '"') {
        in_.Advance();
        return Status::Ok();
      }
      if (c == '\\') {
        in_.Advance();
        char e = in_.Peek();
        switch (e) {
          case '"':
            out->push_back('"');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '/':
            out->push_back('/');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'u': {
            in_.Advance();
            uint32_t cp = 0;
            Status s = ReadHex4(&cp);
            if (!s.ok()) return s;
            if (cp >= 0xD800 && cp <= 0xDBFF && in_.Peek() == '\\' && in_.Peek(1) == 'u') {
              in_.Advance(2);
              uint32_t lo = 0;
              s = ReadHex4(&lo);
              if (!s.ok()) return s;
              if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              } else {
                // Unpaired high surrogate: U+FFFD as Go does; the next escape stands alone.
                internal::AppendUtf8(0xFFFD, out);
                cp = lo;
              }
            }
            internal::AppendUtf8(cp, out);  // lone surrogates become U+FFFD
            continue;
          }
          default:
            if (in_.AtEnd()) {
              return in_.ErrorAt(open_pos, open_line, "unterminated string: no closing '\"'");
            }
            return in_.Error("invalid escape sequence '\\' followed by " + in_.Found() +
                             " in string");
        }
        in_.Advance();
        continue;
      }
      if (c == '\n') {
        return in_.Error("unterminated string: newline before the closing '\"' (use \\n)");
      }
      if (c < 0x20) {
        return in_.Error("control character " + in_.Found() + " in string (use an escape)");
      }
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        in_.Advance();
        continue;
      }
      size_t n = internal::Utf8SequenceLength(text, in_.pos());
      if (n == 0) return in_.Error("invalid UTF-8 (" + in_.Found() + ") in string");
      out->append(text.substr(in_.pos(), n));
      in_.Advance(n);
    }
  }

  Status ParseNumber(Json* out) {
    const size_t start = in_.pos();
    auto digit = [&](size_t ahead = 0) {
      char c = in_.Peek(ahead);
      return c >= '0' && c <= '9';
    };
    bool integer = true;
    if (in_.Peek() == '-') in_.Advance();
    if (!digit()) return in_.Error("expected a digit after '-', found " + in_.Found());
    if (in_.Peek() == '0' && digit(1)) {
      return in_.Error("invalid number: leading zeros are not allowed in JSON");
    }
    while (digit()) in_.Advance();
    if (in_.Peek() == '.') {
      integer = false;
      in_.Advance();
      if (!digit()) return in_.Error("expected a digit after '.', found " + in_.Found());
      while (digit()) in_.Advance();
    }
    if (in_.Peek() == 'e' || in_.Peek() == 'E') {
      integer = false;
      in_.Advance();
      if (in_.Peek() == '+' || in_.Peek() == '-') in_.Advance();
      if (!digit()) return in_.Error("expected a digit in the exponent, found " + in_.Found());
      while (digit()) in_.Advance();
    }
    std::string_view num = in_.text().substr(start, in_.pos() - start);
    const char* first = num.data();
    const char* last = num.data() + num.size();
    if (integer) {
      int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = i;
        return Status::Ok();
      }
      uint64_t u = 0;
      r = std::from_chars(first, last, u);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = u;
        return Status::Ok();
      }
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) {
      return in_.ErrorAt(start, in_.line(),
                         "number " + std::string(num.substr(0, 40)) + " is out of range");
    }
    *out = d;
    return Status::Ok();
  }

  Cursor in_;
  Document* doc_;
};

}  // namespace

Result<Document> ParseJson(std::string_view text, std::string file) {
  Document doc;
  doc.file = file;
  JsonParser parser(text, std::move(file), &doc);
  Status s = parser.Parse();
  if (!s.ok()) return s;
  return doc;
}

}  // namespace gangway::codec
