#include "cli/go_json.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace gangway::cli {

namespace {

using nlohmann::json;

constexpr char kLowerHex[] = "0123456789abcdef";
// encoding/json's maxNestingDepth.
constexpr size_t kMaxDepth = 10000;

bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Go's quoteChar: the byte as a rune, in strconv.Quote's form, between single quotes.
std::string QuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  std::string s;
  switch (c) {
    case '\a': s = "\\a"; break;
    case '\b': s = "\\b"; break;
    case '\f': s = "\\f"; break;
    case '\n': s = "\\n"; break;
    case '\r': s = "\\r"; break;
    case '\t': s = "\\t"; break;
    case '\v': s = "\\v"; break;
    case '\\': s = "\\\\"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        s = {'\\', 'x', kLowerHex[c >> 4], kLowerHex[c & 0xf]};
      } else if (c < 0x80) {
        s = std::string(1, static_cast<char>(c));
      } else if (c <= 0xa0 || c == 0xad) {  // C1 controls, NBSP, soft hyphen: not printable
        s = {'\\', 'u', '0', '0', kLowerHex[c >> 4], kLowerHex[c & 0xf]};
      } else {  // Latin-1 U+00A1..U+00FF, written as UTF-8
        s = {static_cast<char>(0xc0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3f))};
      }
  }
  return "'" + s + "'";
}

// encoding/json's scanner (scanner.go), state for state, so that every syntax error reads as
// Consul prints it.
class Scanner {
 public:
  bool Step(unsigned char c) {
    switch (state_) {
      case State::kBeginValue: return BeginValue(c);
      case State::kBeginValueOrEmpty:
        if (IsSpace(c)) return true;
        if (c == ']') return EndValue(c);
        return BeginValue(c);
      case State::kBeginStringOrEmpty:
        if (IsSpace(c)) return true;
        if (c == '}') {
          stack_.back() = Parse::kObjectValue;
          return EndValue(c);
        }
        return BeginString(c);
      case State::kBeginString: return BeginString(c);
      case State::kEndValue: return EndValue(c);
      case State::kEndTop: return EndTop(c);
      case State::kInString:
        if (c == '"') {
          state_ = State::kEndValue;
        } else if (c == '\\') {
          state_ = State::kInStringEsc;
        } else if (c < 0x20) {
          return Error(c, "in string literal");
        }
        return true;
      case State::kInStringEsc:
        if (c != 0 && std::strchr("bfnrt\\/\"", c) != nullptr) {
          state_ = State::kInString;
        } else if (c == 'u') {
          state_ = State::kInStringEscU;
          hex_left_ = 4;
        } else {
          return Error(c, "in string escape code");
        }
        return true;
      case State::kInStringEscU:
        if (!IsHex(c)) return Error(c, "in \\u hexadecimal character escape");
        if (--hex_left_ == 0) state_ = State::kInString;
        return true;
      case State::kNeg:
        if (c == '0') {
          state_ = State::k0;
        } else if (c >= '1' && c <= '9') {
          state_ = State::k1;
        } else {
          return Error(c, "in numeric literal");
        }
        return true;
      case State::k1:
        if (IsDigit(c)) return true;
        return Zero(c);
      case State::k0: return Zero(c);
      case State::kDot:
        if (!IsDigit(c)) return Error(c, "after decimal point in numeric literal");
        state_ = State::kDot0;
        return true;
      case State::kDot0:
        if (IsDigit(c)) return true;
        if (c == 'e' || c == 'E') {
          state_ = State::kE;
          return true;
        }
        return EndValue(c);
      case State::kE:
        if (c == '+' || c == '-') {
          state_ = State::kESign;
          return true;
        }
        return ESign(c);
      case State::kESign: return ESign(c);
      case State::kE0:
        if (IsDigit(c)) return true;
        return EndValue(c);
      case State::kLiteral:
        if (c != literal_[literal_pos_]) {
          return Error(c, std::string("in literal ") + literal_ + " (expecting " +
                              QuoteChar(literal_[literal_pos_]) + ")");
        }
        if (literal_[++literal_pos_] == '\0') state_ = State::kEndValue;
        return true;
      case State::kError: return false;
    }
    return false;
  }

  // Go's scanner.eof: a value that ends at the end of input is complete only if a space could
  // follow it, so "tru" and "1." fail on that imagined space.
  Status Eof() {
    if (state_ == State::kError) return InvalidArgument(error_);
    if (end_top_) return Status::Ok();
    Step(' ');
    if (end_top_) return Status::Ok();
    if (state_ != State::kError) error_ = "unexpected end of JSON input";
    return InvalidArgument(error_);
  }

  const std::string& error() const { return error_; }

 private:
  enum class State {
    kBeginValue, kBeginValueOrEmpty, kBeginStringOrEmpty, kBeginString, kEndValue, kEndTop,
    kInString, kInStringEsc, kInStringEscU, kNeg, k1, k0, kDot, kDot0, kE, kESign, kE0,
    kLiteral, kError
  };
  enum class Parse { kObjectKey, kObjectValue, kArrayValue };

  bool BeginValue(unsigned char c) {
    if (IsSpace(c)) return true;
    switch (c) {
      case '{': state_ = State::kBeginStringOrEmpty; return Push(c, Parse::kObjectKey);
      case '[': state_ = State::kBeginValueOrEmpty; return Push(c, Parse::kArrayValue);
      case '"': state_ = State::kInString; return true;
      case '-': state_ = State::kNeg; return true;
      case '0': state_ = State::k0; return true;
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
    }
    if (c >= '1' && c <= '9') {
      state_ = State::k1;
      return true;
    }
    return Error(c, "looking for beginning of value");
  }

  bool BeginString(unsigned char c) {
    if (IsSpace(c)) return true;
    if (c == '"') {
      state_ = State::kInString;
      return true;
    }
    return Error(c, "looking for beginning of object key string");
  }

  bool EndValue(unsigned char c) {
    if (stack_.empty()) {
      state_ = State::kEndTop;
      end_top_ = true;
      return EndTop(c);
    }
    if (IsSpace(c)) {
      state_ = State::kEndValue;
      return true;
    }
    switch (stack_.back()) {
      case Parse::kObjectKey:
        if (c != ':') return Error(c, "after object key");
        stack_.back() = Parse::kObjectValue;
        state_ = State::kBeginValue;
        return true;
      case Parse::kObjectValue:
        if (c == ',') {
          stack_.back() = Parse::kObjectKey;
          state_ = State::kBeginString;
          return true;
        }
        if (c == '}') return Pop();
        return Error(c, "after object key:value pair");
      case Parse::kArrayValue:
        if (c == ',') {
          state_ = State::kBeginValue;
          return true;
        }
        if (c == ']') return Pop();
        return Error(c, "after array element");
    }
    return false;
  }

  bool EndTop(unsigned char c) {
    if (!IsSpace(c)) return Error(c, "after top-level value");
    return true;
  }

  bool Zero(unsigned char c) {
    if (c == '.') {
      state_ = State::kDot;
      return true;
    }
    if (c == 'e' || c == 'E') {
      state_ = State::kE;
      return true;
    }
    return EndValue(c);
  }

  bool ESign(unsigned char c) {
    if (!IsDigit(c)) return Error(c, "in exponent of numeric literal");
    state_ = State::kE0;
    return true;
  }

  bool Literal(const char* word) {
    state_ = State::kLiteral;
    literal_ = word;
    literal_pos_ = 1;
    return true;
  }

  bool Push(unsigned char c, Parse p) {
    stack_.push_back(p);
    if (stack_.size() <= kMaxDepth) return true;
    return Error(c, "exceeded max depth");
  }

  bool Pop() {
    stack_.pop_back();
    if (stack_.empty()) {
      state_ = State::kEndTop;
      end_top_ = true;
    } else {
      state_ = State::kEndValue;
    }
    return true;
  }

  bool Error(unsigned char c, const std::string& context) {
    state_ = State::kError;
    error_ = "invalid character " + QuoteChar(c) + " " + context;
    return false;
  }

  State state_ = State::kBeginValue;
  std::vector<Parse> stack_;
  bool end_top_ = false;
  int hex_left_ = 0;
  const char* literal_ = "";
  size_t literal_pos_ = 0;
  std::string error_;
};

// Length of the valid UTF-8 sequence at s[i] (as Go's utf8.DecodeRuneInString accepts it), or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  const unsigned char b = at(i);
  if (b >= 0xc2 && b <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    unsigned char lo = b == 0xe0 ? 0xa0 : 0x80;
    unsigned char hi = b == 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    unsigned char lo = b == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = b == 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

void Newline(std::string* out, std::string_view indent, int depth) {
  if (indent.empty()) return;
  *out += '\n';
  for (int i = 0; i < depth; ++i) *out += indent;
}

template <typename J>
void Append(std::string* out, const J& v, std::string_view indent, int depth);

// One "key": value member at `depth` + 1, preceded by a comma unless it is the first.
template <typename J>
void AppendMember(std::string* out, bool first, const std::string& key, const J& v,
                  std::string_view indent, int depth) {
  if (!first) *out += ',';
  Newline(out, indent, depth + 1);
  *out += GoQuote(key);
  *out += indent.empty() ? ":" : ": ";
  Append(out, v, indent, depth + 1);
}

// Written for both json (a Go map: sorted keys) and ordered_json (a Go struct: keys as inserted).
template <typename J>
void Append(std::string* out, const J& v, std::string_view indent, int depth) {
  switch (v.type()) {
    case json::value_t::boolean: *out += v.template get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: *out += std::to_string(v.template get<int64_t>()); return;
    case json::value_t::number_unsigned: *out += std::to_string(v.template get<uint64_t>()); return;
    case json::value_t::number_float: *out += GoFloat(v.template get<double>()); return;
    case json::value_t::string: *out += GoQuote(v.template get_ref<const std::string&>()); return;
    case json::value_t::array:
      if (v.empty()) {
        *out += "[]";
        return;
      }
      *out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) *out += ',';
        Newline(out, indent, depth + 1);
        Append(out, v[i], indent, depth + 1);
      }
      Newline(out, indent, depth);
      *out += ']';
      return;
    case json::value_t::object: {
      if (v.empty()) {
        *out += "{}";
        return;
      }
      *out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        AppendMember(out, first, it.key(), it.value(), indent, depth);
        first = false;
      }
      Newline(out, indent, depth);
      *out += '}';
      return;
    }
    default: *out += "null"; return;
  }
}

}  // namespace

Status GoJsonSyntax(std::string_view text) {
  Scanner scanner;
  for (char c : text) {
    if (!scanner.Step(static_cast<unsigned char>(c))) return InvalidArgument(scanner.error());
  }
  return scanner.Eof();
}

std::string GoFloat(double value) {
  const double a = std::fabs(value);
  const bool exponent = a != 0 && (a < 1e-6 || a >= 1e21);
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, value,
                         exponent ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  // Go writes "1e-7" where C writes "1e-07".
  const size_t n = s.size();
  if (exponent && n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') {
    s.erase(n - 2, 1);
  }
  return s;
}

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
        out += static_cast<char>(b);
        continue;
      }
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: out += {'\\', 'u', '0', '0', kLowerHex[b >> 4], kLowerHex[b & 0xf]};
      }
      continue;
    }
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // U+2028 and U+2029 end lines in JavaScript; Go escapes them.
    if (n == 3 && b == 0xe2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out + "\"";
}

std::string GoMarshal(const GoFields& fields, std::string_view indent) {
  if (fields.empty()) return "{}";
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    AppendMember(&out, i == 0, fields[i].first, fields[i].second, indent, 0);
  }
  Newline(&out, indent, 0);
  return out + "}";
}

std::string GoMarshal(const json& value, std::string_view indent) {
  std::string out;
  Append(&out, value, indent, 0);
  return out;
}

std::string GoMarshal(const nlohmann::ordered_json& value, std::string_view indent) {
  std::string out;
  Append(&out, value, indent, 0);
  return out;
}

}  // namespace gangway::cli
