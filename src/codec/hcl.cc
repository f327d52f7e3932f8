// HCL as Consul's configuration files use it, parsed into the same JSON tree Consul's HCL 1
// decoder produces: `k = v` attributes, `k { }` and `k "label" { }` blocks (labels nest as
// objects), repeated blocks as a list of objects, lists, inline objects (HCL or JSON style),
// strings, heredocs, numbers, booleans, null and comments.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "codec/document.h"
#include "codec/internal/text.h"

namespace gangway::codec {
namespace {

using internal::Cursor;
using Json = nlohmann::json;
using internal::EscapePointerToken;

bool IdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IdentChar(char c) { return IdentStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
bool Digit(char c) { return c >= '0' && c <= '9'; }

class HclParser {
 public:
  HclParser(std::string_view text, std::string file, Document* doc)
      : in_(text, std::move(file)), doc_(doc) {}

  Status Parse() {
    doc_->lines[""] = 1;
    Status s = in_.SkipSpace();
    if (!s.ok()) return s;
    if (in_.Peek() == '{') {
      // A JSON document is valid HCL, as with Consul's HCL decoder.
      doc_->lines[""] = in_.line();
      s = ParseValue(&doc_->value, "", 0);
      if (!s.ok()) return s;
      s = in_.SkipSpace();
      if (!s.ok()) return s;
      if (!in_.AtEnd()) {
        return in_.Error("expected end of input after the top-level object, found " + in_.Found());
      }
      return Status::Ok();
    }
    doc_->value = Json::object();
    return ParseBody(&doc_->value, "", 0, /*top=*/true, 0, 1, "");
  }

 private:
  Status DepthError() const {
    return in_.Error("nesting too deep (more than " + std::to_string(internal::kMaxDepth) +
                     " levels of blocks, objects and lists)");
  }

  // Items until the closing '}' (consumed) or, at the top level, the end of input. `what` names
  // the enclosing block for messages.
  Status ParseBody(Json* obj, const std::string& ptr, int depth, bool top, size_t open_pos,
                   int open_line, const std::string& what) {
    while (true) {
      Status s = in_.SkipSpace();
      if (!s.ok()) return s;
      if (in_.AtEnd()) {
        if (top) return Status::Ok();
        return in_.ErrorAt(
            open_pos, open_line,
            "unterminated " + what + ": '{' has no matching '}' before end of input");
      }
      if (in_.Peek() == '}') {
        if (top) return in_.Error("unexpected '}': no block is open");
        in_.Advance();
        return Status::Ok();
      }
      s = ParseItem(obj, ptr, depth);
      if (!s.ok()) return s;
      // Items may be separated by a newline, a ',' or (as HCL1, which Consul reads, allows:
      // `service "web" { policy = "write" intentions = "read" }`) nothing but spaces.
      s = in_.SkipSpace();
      if (!s.ok()) return s;
      if (in_.Peek() == ',') in_.Advance();
    }
  }

  Status ParseKey(std::string* key, const char* expected) {
    if (in_.Peek() == '"') return ParseString(key);
    if (!IdentStart(in_.Peek())) return in_.Error(std::string(expected) + ", found " + in_.Found());
    size_t start = in_.pos();
    while (IdentChar(in_.Peek())) in_.Advance();
    *key = std::string(in_.text().substr(start, in_.pos() - start));
    return Status::Ok();
  }

  // One attribute (k = v, k: v) or block (k "label"... { }). *item describes it for messages.
  Status ParseItem(Json* obj, const std::string& ptr, int depth) {
    const int key_line = in_.line();
    std::string key;
    Status s = ParseKey(&key, "expected an attribute name or a block");
    if (!s.ok()) return s;
    s = in_.SkipSpace();
    if (!s.ok()) return s;
    if (in_.Peek() == '=' || in_.Peek() == ':') {
      in_.Advance();
      s = in_.SkipSpace();
      if (!s.ok()) return s;
      const std::string child = ptr + "/" + EscapePointerToken(key);
      if (obj->contains(key)) internal::EraseSubtree(&doc_->lines, child);  // last one wins
      block_ptrs_.erase(child);
      doc_->lines[child] = key_line;
      Json value;
      s = ParseValue(&value, child, depth);
      if (!s.ok()) return s;
      (*obj)[key] = std::move(value);
      return Status::Ok();
    }
    // A block: labels, then '{'.
    std::vector<std::string> names = {key};
    std::vector<int> name_lines = {key_line};
    std::string title = key;
    while (in_.Peek() == '"' || IdentStart(in_.Peek())) {
      name_lines.push_back(in_.line());
      std::string label;
      s = ParseKey(&label, "expected a block label");
      if (!s.ok()) return s;
      names.push_back(label);
      title += " \"" + label + "\"";
      s = in_.SkipSpace();
      if (!s.ok()) return s;
    }
    if (in_.Peek() != '{') {
      if (names.size() == 1) {
        return in_.Error("expected '=' or '{' after \"" + key + "\", found " + in_.Found());
      }
      return in_.Error("expected '{' after the labels of block " + title + ", found " +
                       in_.Found());
    }
    if (depth + 1 > internal::kMaxDepth) return DepthError();
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance();  // '{'

    // Labels become nested objects: k "a" "b" { } -> {"k": {"a": {"b": {...}}}}.
    Json* container = obj;
    std::string cptr = ptr;
    for (size_t i = 0; i + 1 < names.size(); ++i) {
      const std::string nptr = cptr + "/" + EscapePointerToken(names[i]);
      if (!container->contains(names[i])) {
        (*container)[names[i]] = Json::object();
        doc_->lines[nptr] = name_lines[i];
      } else if (!(*container)[names[i]].is_object()) {
        return in_.ErrorAt(open_pos, open_line,
                           "block " + title + " conflicts with \"" + names[i] +
                               "\" defined at line " + std::to_string(doc_->LineOf(nptr)) +
                               ", which is not an object");
      }
      container = &(*container)[names[i]];
      cptr = nptr;
    }
    const std::string& last = names.back();
    const std::string lptr = cptr + "/" + EscapePointerToken(last);
    Json body = Json::object();
    if (container->contains(last) && block_ptrs_.count(lptr)) {
      // A repeated block: the value becomes (or grows) a list of objects.
      Json& existing = (*container)[last];
      if (existing.is_object()) {
        internal::MoveSubtree(&doc_->lines, lptr, lptr + "/0");
        doc_->lines[lptr + "/0"] = doc_->LineOf(lptr);
        existing = Json::array({std::move(existing)});
      }
      const std::string bptr = lptr + "/" + std::to_string(existing.size());
      doc_->lines[bptr] = name_lines.back();
      s = ParseBody(&body, bptr, depth + 1, false, open_pos, open_line, "block " + title);
      if (!s.ok()) return s;
      existing.push_back(std::move(body));
      return Status::Ok();
    }
    if (container->contains(last)) internal::EraseSubtree(&doc_->lines, lptr);
    doc_->lines[lptr] = name_lines.back();
    s = ParseBody(&body, lptr, depth + 1, false, open_pos, open_line, "block " + title);
    if (!s.ok()) return s;
    (*container)[last] = std::move(body);
    block_ptrs_.insert(lptr);
    return Status::Ok();
  }

  Status ParseValue(Json* out, const std::string& ptr, int depth) {
    char c = in_.Peek();
    if (c == '"') {
      std::string s;
      Status st = ParseString(&s);
      if (st.ok()) *out = std::move(s);
      return st;
    }
    if (c == '<' && in_.Peek(1) == '<') return ParseHeredoc(out);
    if (c == '[') return ParseList(out, ptr, depth + 1);
    if (c == '{') {
      if (depth + 1 > internal::kMaxDepth) return DepthError();
      const size_t open_pos = in_.pos();
      const int open_line = in_.line();
      in_.Advance();
      *out = Json::object();
      return ParseBody(out, ptr, depth + 1, false, open_pos, open_line, "object");
    }
    if (c == '-' || Digit(c)) return ParseNumber(out);
    if (IdentStart(c)) {
      size_t start = in_.pos();
      size_t end = start;
      while (end < in_.text().size() && IdentChar(in_.text()[end])) ++end;
      std::string_view word = in_.text().substr(start, end - start);
      if (word == "true" || word == "false" || word == "null") {
        in_.Advance(word.size());
        *out = word == "null" ? Json(nullptr) : Json(word == "true");
        return Status::Ok();
      }
      std::string shown(word.substr(0, 40));
      return in_.Error("expected a value, found " + in_.Found() + " (strings must be quoted: \"" +
                       shown + "\")");
    }
    if (in_.AtEnd()) return in_.Error("expected a value, found end of input");
    return in_.Error("expected a value, found " + in_.Found());
  }

  Status ParseList(Json* out, const std::string& ptr, int depth) {
    if (depth > internal::kMaxDepth) return DepthError();
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance();  // '['
    *out = Json::array();
    while (true) {
      Status s = in_.SkipSpace();
      if (!s.ok()) return s;
      if (in_.Peek() == ']') {
        in_.Advance();
        return Status::Ok();
      }
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated list: '[' has no matching ']' before end of input");
      }
      const std::string child = ptr + "/" + std::to_string(out->size());
      doc_->lines[child] = in_.line();
      Json value;
      s = ParseValue(&value, child, depth);
      if (!s.ok()) return s;
      out->push_back(std::move(value));
      s = in_.SkipSpace();
      if (!s.ok()) return s;
      if (in_.Peek() == ',') {
        in_.Advance();
        continue;
      }
      if (in_.Peek() == ']') {
        in_.Advance();
        return Status::Ok();
      }
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated list: '[' has no matching ']' before end of input");
      }
      return in_.Error("expected ',' or ']' after list element, found " + in_.Found());
    }
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
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
      if (c == '\n') {
        return in_.Error(
            "unterminated string: newline before the closing '\"' (use \\n or a "
            "heredoc)");
      }
      if (c == '\\') {
        in_.Advance();
        char e = in_.Peek();
        int digits = 0;
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
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'u':
            digits = 4;
            break;
          case 'U':
            digits = 8;
            break;
          default:
            if (in_.AtEnd()) {
              return in_.ErrorAt(open_pos, open_line, "unterminated string: no closing '\"'");
            }
            return in_.Error("invalid escape sequence '\\' followed by " + in_.Found() +
                             " in string");
        }
        in_.Advance();
        if (digits > 0) {
          uint32_t cp = 0;
          for (int i = 0; i < digits; ++i) {
            int h = Hex(in_.Peek());
            if (h < 0) {
              return in_.Error("expected " + std::to_string(digits) + " hex digits after \\" + e +
                               ", found " + in_.Found());
            }
            cp = cp * 16 + static_cast<uint32_t>(h);
            in_.Advance();
          }
          if (digits == 4 && cp >= 0xD800 && cp <= 0xDBFF && in_.Peek() == '\\' &&
              in_.Peek(1) == 'u') {
            uint32_t lo = 0;
            bool ok = true;
            for (int i = 0; i < 4; ++i) {
              int h = Hex(in_.Peek(2 + i));
              if (h < 0)
                ok = false;
              else
                lo = lo * 16 + static_cast<uint32_t>(h);
            }
            if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              in_.Advance(6);
            }
          }
          internal::AppendUtf8(cp, out);  // lone surrogates and > U+10FFFF become U+FFFD
        }
        continue;
      }
      if (c < 0x20 && c != '\t') {
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

  // <<EOF ... EOF and <<-EOF (the common leading whitespace of the lines is removed). The
  // closing marker stands alone on its line, optionally indented. Each line keeps its '\n'.
  Status ParseHeredoc(Json* out) {
    const size_t open_pos = in_.pos();
    const int open_line = in_.line();
    in_.Advance(2);
    bool indented = false;
    if (in_.Peek() == '-') {
      indented = true;
      in_.Advance();
    }
    size_t start = in_.pos();
    while (IdentStart(in_.Peek()) || Digit(in_.Peek())) in_.Advance();
    std::string marker(in_.text().substr(start, in_.pos() - start));
    if (marker.empty()) {
      return in_.Error("expected a heredoc marker (like EOF) after '<<', found " + in_.Found());
    }
    if (in_.Peek() == '\r') in_.Advance();
    if (in_.Peek() != '\n') {
      return in_.Error("expected a newline after the heredoc marker \"" + marker + "\", found " +
                       in_.Found());
    }
    in_.Advance();
    std::string_view text = in_.text();
    std::vector<std::string_view> lines;
    while (true) {
      if (in_.AtEnd()) {
        return in_.ErrorAt(open_pos, open_line,
                           "unterminated heredoc: no line \"" + marker + "\" closes it");
      }
      size_t eol = text.find('\n', in_.pos());
      if (eol == std::string_view::npos) eol = text.size();
      std::string_view line = text.substr(in_.pos(), eol - in_.pos());
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      size_t b = line.find_first_not_of(" \t");
      size_t e = line.find_last_not_of(" \t");
      std::string_view trimmed = b == std::string_view::npos ? "" : line.substr(b, e - b + 1);
      if (trimmed == marker) {
        in_.Advance(line.size());  // leave the '\n' to separate this item from the next
        if (in_.Peek() == '\r') in_.Advance();
        break;
      }
      lines.push_back(line);
      in_.Advance(eol - in_.pos() + 1);
    }
    size_t strip = 0;
    if (indented) {
      strip = std::string_view::npos;
      for (auto l : lines) {
        size_t b = l.find_first_not_of(" \t");
        if (b != std::string_view::npos) strip = std::min(strip, b);
      }
      if (strip == std::string_view::npos) strip = 0;
    }
    std::string value;
    for (auto l : lines) {
      value.append(l.substr(std::min(strip, l.size())));
      value.push_back('\n');
    }
    for (size_t i = 0; i < value.size();) {
      size_t n = internal::Utf8SequenceLength(value, i);
      if (n == 0) return in_.ErrorAt(open_pos, open_line, "invalid UTF-8 in heredoc");
      i += n;
    }
    *out = std::move(value);
    return Status::Ok();
  }

  Status ParseNumber(Json* out) {
    const size_t start = in_.pos();
    const int line = in_.line();
    std::string_view text = in_.text();
    size_t end = start;
    if (end < text.size() && text[end] == '-') ++end;
    while (end < text.size()) {
      char c = text[end];
      if (IdentChar(c) && c != '-') {
        ++end;
      } else if ((c == '+' || c == '-') && (text[end - 1] == 'e' || text[end - 1] == 'E')) {
        ++end;
      } else {
        break;
      }
    }
    std::string_view tok = text.substr(start, end - start);
    std::string shown(tok.substr(0, 40));
    auto invalid = [&] {
      return in_.ErrorAt(start, line,
                         "invalid number \"" + shown + "\" (quote text values: \"" + shown + "\")");
    };
    bool negative = !tok.empty() && tok[0] == '-';
    std::string_view body = negative ? tok.substr(1) : tok;
    if (body.empty()) return invalid();
    if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
      uint64_t u = 0;
      auto r = std::from_chars(body.data() + 2, body.data() + body.size(), u, 16);
      if (r.ec != std::errc() || r.ptr != body.data() + body.size()) return invalid();
      if (!negative) {
        if (u <= static_cast<uint64_t>(INT64_MAX))
          *out = static_cast<int64_t>(u);
        else
          *out = u;
      } else if (u <= static_cast<uint64_t>(INT64_MAX)) {
        *out = -static_cast<int64_t>(u);
      } else {
        return in_.ErrorAt(start, line, "number " + shown + " is out of range");
      }
      in_.Advance(tok.size());
      return Status::Ok();
    }
    // Decimal: digits [. digits] [e [+-] digits].
    size_t i = 0;
    bool integer = true;
    auto digits = [&] {
      size_t n = 0;
      while (i < body.size() && Digit(body[i])) ++i, ++n;
      return n;
    };
    if (digits() == 0) return invalid();
    if (i < body.size() && body[i] == '.') {
      integer = false;
      ++i;
      if (digits() == 0) return invalid();
    }
    if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
      integer = false;
      ++i;
      if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
      if (digits() == 0) return invalid();
    }
    if (i != body.size()) return invalid();
    const char* first = tok.data();
    const char* last = tok.data() + tok.size();
    in_.Advance(tok.size());
    if (integer) {
      int64_t v = 0;
      auto r = std::from_chars(first, last, v);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = v;
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
      return in_.ErrorAt(start, line, "number " + shown + " is out of range");
    }
    *out = d;
    return Status::Ok();
  }

  Cursor in_;
  Document* doc_;
  // Pointers whose value was made by a block, so a repeated block turns them into a list.
  std::set<std::string> block_ptrs_;
};

}  // namespace

Result<Document> ParseHcl(std::string_view text, std::string file) {
  Document doc;
  doc.file = file;
  HclParser parser(text, std::move(file), &doc);
  Status s = parser.Parse();
  if (!s.ok()) return s;
  return doc;
}

}  // namespace gangway::codec
