#include "api/filter.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/regexp.h"

namespace gangway::api {
namespace internal {

// The four positive match operators; each match carries a negate flag for its "not" form.
// "contains" is "in" with the operands written the other way round.
enum class MatchOp : uint8_t { kEqual, kIn, kIsEmpty, kMatches };

struct FilterNode {
  enum class Kind : uint8_t { kOr, kAnd, kNot, kMatch };
  Kind kind = Kind::kMatch;
  std::vector<std::unique_ptr<FilterNode>> children;  // kOr, kAnd: two or more; kNot: one

  // kMatch only.
  MatchOp op = MatchOp::kEqual;
  bool negate = false;
  std::vector<std::string> path;
  std::string value;
  std::optional<Regexp> re;  // kMatches
};

struct FilterProgram {
  std::unique_ptr<FilterNode> root;
};

}  // namespace internal

namespace {

using internal::FilterNode;
using internal::MatchOp;
using Json = nlohmann::json;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '_' || c == '/'; }

// Go's strconv.Quote for the ASCII tokens of the grammar.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  Result<std::unique_ptr<FilterNode>> Run() {
    OptWs();
    std::unique_ptr<FilterNode> root = ParseOr(0);
    if (root && !hard_) {
      OptWs();
      if (AtEnd()) return root;
    }
    if (hard_) return InvalidArgument(Where(hard_at_) + ": " + *hard_);
    return InvalidArgument(Where(fail_at_) + ": no match found, expected: " + ExpectedList());
  }

 private:
  // ---- Terminals. A failing terminal records what it wanted at the current offset; the error
  // names the farthest offset any alternative reached, like the PEG parser go-bexpr uses.

  void Want(std::string what) {
    if (pos_ < fail_at_) return;
    if (pos_ > fail_at_) {
      fail_at_ = pos_;
      expected_.clear();
    }
    expected_.insert(std::move(what));
  }

  // A definite error (the PEG's custom error actions): stops the parse.
  void Fail(size_t at, std::string msg) {
    if (hard_) return;
    hard_ = std::move(msg);
    hard_at_ = at;
  }

  bool Peek(char c) const { return pos_ < in_.size() && in_[pos_] == c; }

  bool Lit(std::string_view s) {
    if (in_.substr(pos_).starts_with(s)) {
      pos_ += s.size();
      return true;
    }
    Want(Quote(s));
    return false;
  }

  bool Ws() {
    size_t start = pos_;
    while (pos_ < in_.size() && IsSpace(in_[pos_])) ++pos_;
    Want("[ \\t\\r\\n]");  // recorded where the run stops, as an optional repeat would
    return pos_ > start;
  }

  void OptWs() { Ws(); }

  bool AtEnd() {
    if (pos_ == in_.size()) return true;
    Want("EOF");
    return false;
  }

  // Runs a sequence of terminals; on failure rewinds to where it started.
  template <typename F>
  bool Try(F&& f) {
    size_t save = pos_;
    if (f()) return true;
    pos_ = save;
    return false;
  }

  // ---- Expressions.

  std::unique_ptr<FilterNode> Join(FilterNode::Kind kind,
                                   std::vector<std::unique_ptr<FilterNode>> parts) {
    if (parts.size() == 1) return std::move(parts[0]);
    auto node = std::make_unique<FilterNode>();
    node->kind = kind;
    node->children = std::move(parts);
    return node;
  }

  // or := and (_ "or" _ and)*. The PEG writes it right-recursively with a fallback alternative;
  // the loop accepts the same strings without parsing the left operand twice.
  std::unique_ptr<FilterNode> ParseOr(int depth) {
    std::vector<std::unique_ptr<FilterNode>> parts;
    auto first = ParseAnd(depth);
    if (!first) return nullptr;
    parts.push_back(std::move(first));
    while (!hard_) {
      size_t save = pos_;
      if (!(Ws() && Lit("or") && Ws())) {
        pos_ = save;
        break;
      }
      auto next = ParseAnd(depth);
      if (!next) {
        pos_ = save;
        break;
      }
      parts.push_back(std::move(next));
    }
    if (hard_) return nullptr;
    return Join(FilterNode::Kind::kOr, std::move(parts));
  }

  std::unique_ptr<FilterNode> ParseAnd(int depth) {
    std::vector<std::unique_ptr<FilterNode>> parts;
    auto first = ParseNot(depth);
    if (!first) return nullptr;
    parts.push_back(std::move(first));
    while (!hard_) {
      size_t save = pos_;
      if (!(Ws() && Lit("and") && Ws())) {
        pos_ = save;
        break;
      }
      auto next = ParseNot(depth);
      if (!next) {
        pos_ = save;
        break;
      }
      parts.push_back(std::move(next));
    }
    if (hard_) return nullptr;
    return Join(FilterNode::Kind::kAnd, std::move(parts));
  }

  bool Deeper(int depth) {
    if (depth < Filter::kMaxDepth) return true;
    Fail(pos_, "expression nests deeper than " + std::to_string(Filter::kMaxDepth) + " levels");
    return false;
  }

  // not := "not" _ not / "(" _? or _? ")" / match. "not" is only a keyword when whitespace and an
  // operand follow it; otherwise it is read again as a selector or value ("not == 1").
  std::unique_ptr<FilterNode> ParseNot(int depth) {
    size_t save = pos_;
    if (Lit("not") && Ws()) {
      if (!Deeper(depth)) return nullptr;
      auto operand = ParseNot(depth + 1);
      if (operand) {
        auto node = std::make_unique<FilterNode>();
        node->kind = FilterNode::Kind::kNot;
        node->children.push_back(std::move(operand));
        return node;
      }
      if (hard_) return nullptr;
    }
    pos_ = save;
    return ParseGroup(depth);
  }

  std::unique_ptr<FilterNode> ParseGroup(int depth) {
    if (!Lit("(")) return ParseMatch();
    if (!Deeper(depth)) return nullptr;
    OptWs();
    auto inner = ParseOr(depth + 1);
    if (!inner) return nullptr;
    OptWs();
    if (!Lit(")")) {
      Fail(pos_, "Unmatched parentheses");
      return nullptr;
    }
    return inner;
  }

  std::unique_ptr<FilterNode> MakeMatch(MatchOp op, bool negate, std::vector<std::string> path,
                                        std::string value, size_t value_at) {
    auto node = std::make_unique<FilterNode>();
    node->kind = FilterNode::Kind::kMatch;
    node->op = op;
    node->negate = negate;
    node->path = std::move(path);
    node->value = std::move(value);
    if (op == MatchOp::kMatches) {
      auto re = Regexp::Compile(node->value);
      if (!re.ok()) {
        Fail(value_at, "Failed to compile regular expression " + Quote(node->value) + ": " +
                           re.status().message());
        return nullptr;
      }
      node->re.emplace(std::move(*re));
    }
    return node;
  }

  // match := Selector op Value / Selector is-empty-op / Value in-op Selector
  std::unique_ptr<FilterNode> ParseMatch() {
    size_t start = pos_;
    std::vector<std::string> path;
    if (ParseSelector(&path)) {
      size_t after_selector = pos_;
      MatchOp op;
      bool negate = false;
      if (ParseSelectorValueOp(&op, &negate)) {
        size_t value_at = pos_;
        std::string value;
        if (ParseValue(&value)) return MakeMatch(op, negate, std::move(path), value, value_at);
      }
      if (hard_) return nullptr;
      pos_ = after_selector;
      if (Try([&] { return Ws() && Lit("is") && Ws() && Lit("empty"); })) {
        return MakeMatch(MatchOp::kIsEmpty, false, std::move(path), "", pos_);
      }
      if (Try([&] { return Ws() && Lit("is") && Ws() && Lit("not") && Ws() && Lit("empty"); })) {
        return MakeMatch(MatchOp::kIsEmpty, true, std::move(path), "", pos_);
      }
    }
    if (hard_) return nullptr;

    pos_ = start;
    std::string value;
    if (!ParseValue(&value)) return nullptr;
    bool negate = false;
    if (Try([&] { return Ws() && Lit("in") && Ws(); })) {
      negate = false;
    } else if (Try([&] { return Ws() && Lit("not") && Ws() && Lit("in") && Ws(); })) {
      negate = true;
    } else {
      return nullptr;
    }
    size_t selector_at = pos_;
    path.clear();
    if (!ParseSelector(&path)) {
      Fail(selector_at, "Invalid selector");
      return nullptr;
    }
    return MakeMatch(MatchOp::kIn, negate, std::move(path), std::move(value), start);
  }

  // Operators followed by a value, in the PEG's order.
  bool ParseSelectorValueOp(MatchOp* op, bool* negate) {
    auto set = [&](MatchOp o, bool n) {
      *op = o;
      *negate = n;
      return true;
    };
    if (Try([&] {
          OptWs();
          return Lit("==");
        })) {
      OptWs();
      return set(MatchOp::kEqual, false);
    }
    if (Try([&] {
          OptWs();
          return Lit("!=");
        })) {
      OptWs();
      return set(MatchOp::kEqual, true);
    }
    if (Try([&] { return Ws() && Lit("contains") && Ws(); })) return set(MatchOp::kIn, false);
    if (Try([&] { return Ws() && Lit("not") && Ws() && Lit("contains") && Ws(); })) {
      return set(MatchOp::kIn, true);
    }
    if (Try([&] { return Ws() && Lit("matches") && Ws(); })) return set(MatchOp::kMatches, false);
    if (Try([&] { return Ws() && Lit("not") && Ws() && Lit("matches") && Ws(); })) {
      return set(MatchOp::kMatches, true);
    }
    return false;
  }

  bool ParseIdent(std::string* out) {
    if (pos_ >= in_.size() || !IsAlpha(in_[pos_])) {
      Want("[a-zA-Z]");
      return false;
    }
    size_t start = pos_++;
    while (pos_ < in_.size() && IsIdentChar(in_[pos_])) ++pos_;
    Want("[a-zA-Z0-9_/]");
    *out = std::string(in_.substr(start, pos_ - start));
    return true;
  }

  // Selector := Ident ("." Ident / "[" _? String _? "]" / "." [0-9]+)*
  bool ParseSelector(std::vector<std::string>* path) {
    std::string part;
    if (!ParseIdent(&part)) return false;
    path->push_back(std::move(part));
    while (!hard_) {
      size_t save = pos_;
      if (Lit(".")) {
        if (ParseIdent(&part)) {
          path->push_back(std::move(part));
          continue;
        }
        size_t digits = pos_;
        while (pos_ < in_.size() && IsDigit(in_[pos_])) ++pos_;
        Want("[0-9]");
        if (pos_ > digits) {
          path->emplace_back(in_.substr(digits, pos_ - digits));
          continue;
        }
        pos_ = save;
        break;
      }
      if (Lit("[")) {
        OptWs();
        size_t key_at = pos_;
        if (!ParseString(&part)) {
          if (!hard_) Fail(key_at, "Invalid index");
          return false;
        }
        OptWs();
        if (!Lit("]")) {
          Fail(pos_, "Unclosed index expression");
          return false;
        }
        path->push_back(std::move(part));
        continue;
      }
      break;
    }
    return !hard_;
  }

  // Value := Selector (as its dotted text) / Number / String
  bool ParseValue(std::string* out) {
    std::vector<std::string> path;
    if (ParseSelector(&path)) {
      out->clear();
      for (size_t i = 0; i < path.size(); ++i) {
        if (i > 0) *out += '.';
        *out += path[i];
      }
      return true;
    }
    if (hard_) return false;
    if (ParseNumber(out)) return true;
    if (hard_) return false;
    return ParseString(out);
  }

  // Number := "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)?, then whitespace, ")" or the end.
  bool ParseNumber(std::string* out) {
    size_t start = pos_;
    if (!Peek('-')) Want(Quote("-"));
    if (Peek('-')) ++pos_;
    if (Peek('0')) {
      ++pos_;
    } else if (pos_ < in_.size() && in_[pos_] >= '1' && in_[pos_] <= '9') {
      while (pos_ < in_.size() && IsDigit(in_[pos_])) ++pos_;
      Want("[0-9]");
    } else {
      Want(Quote("0"));
      Want("[1-9]");
      pos_ = start;
      return false;
    }
    size_t save = pos_;
    if (Lit(".")) {
      size_t digits = pos_;
      while (pos_ < in_.size() && IsDigit(in_[pos_])) ++pos_;
      Want("[0-9]");
      if (pos_ == digits) pos_ = save;
    }
    if (pos_ < in_.size() && !IsSpace(in_[pos_]) && in_[pos_] != ')') {
      Fail(pos_, "Invalid number literal");
      return false;
    }
    *out = std::string(in_.substr(start, pos_ - start));
    return true;
  }

  // String := '"' chars '"' (with backslash escapes) / '`' raw chars '`'
  bool ParseString(std::string* out) {
    if (Peek('`')) {
      size_t end = in_.find('`', pos_ + 1);
      if (end == std::string_view::npos) {
        Fail(in_.size(), "Unterminated string literal");
        return false;
      }
      *out = std::string(in_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return true;
    }
    if (!Peek('"')) {
      Want(Quote("\""));
      Want(Quote("`"));
      return false;
    }
    out->clear();
    for (size_t i = pos_ + 1; i < in_.size(); ++i) {
      char c = in_[i];
      if (c == '"') {
        pos_ = i + 1;
        return true;
      }
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i + 1 >= in_.size()) break;
      char e = in_[++i];
      switch (e) {
        case '"':
          *out += '"';
          break;
        case '\\':
          *out += '\\';
          break;
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        default:
          Fail(i - 1, std::string("invalid escape \\") + e +
                          " in string (use a `raw` string for regular expressions)");
          return false;
      }
    }
    Fail(in_.size(), "Unterminated string literal");
    return false;
  }

  // ---- Error text.

  std::string Where(size_t offset) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < in_.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(in_[i]);
      if (c == '\n') {
        ++line;
        col = 1;
      } else if ((c & 0xC0) != 0x80) {  // count code points, not UTF-8 continuation bytes
        ++col;
      }
    }
    return std::to_string(line) + ":" + std::to_string(col) + " (" + std::to_string(offset) + ")";
  }

  std::string ExpectedList() const {
    std::vector<std::string> items;
    bool eof = false;
    for (const auto& e : expected_) {
      if (e == "EOF") {
        eof = true;
      } else {
        items.push_back(e);
      }
    }
    if (eof) items.push_back("EOF");
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += (i + 1 == items.size()) ? " or " : ", ";
      out += items[i];
    }
    return out;
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t fail_at_ = 0;
  std::set<std::string> expected_;  // sorted bytewise, as go-bexpr's messages are
  std::optional<std::string> hard_;
  size_t hard_at_ = 0;
};

// ---- Evaluation.

enum class Truth : uint8_t { kFalse, kTrue, kNotApplicable };

Truth Of(bool b) { return b ? Truth::kTrue : Truth::kFalse; }

// Go's strconv.ParseBool, which go-bexpr uses to coerce a literal compared with a bool field.
std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") {
    return false;
  }
  return std::nullopt;
}

template <typename T>
std::optional<T> ParseNumber(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The literal is coerced to the field's type, as go-bexpr does.
Truth Equal(const Json& v, const std::string& lit) {
  switch (v.type()) {
    case Json::value_t::string:
      return Of(v.get_ref<const std::string&>() == lit);
    case Json::value_t::boolean: {
      auto b = ParseGoBool(lit);
      return b ? Of(*b == v.get<bool>()) : Truth::kNotApplicable;
    }
    case Json::value_t::number_integer:
      if (auto i = ParseNumber<int64_t>(lit)) return Of(*i == v.get<int64_t>());
      if (auto d = ParseNumber<double>(lit)) return Of(*d == v.get<double>());
      return Truth::kNotApplicable;
    case Json::value_t::number_unsigned:
      if (auto u = ParseNumber<uint64_t>(lit)) return Of(*u == v.get<uint64_t>());
      if (auto d = ParseNumber<double>(lit)) return Of(*d == v.get<double>());
      return Truth::kNotApplicable;
    case Json::value_t::number_float:
      if (auto d = ParseNumber<double>(lit)) return Of(*d == v.get<double>());
      return Truth::kNotApplicable;
    default:
      return Truth::kNotApplicable;
  }
}

// in / contains on one value: list membership, map key, substring.
Truth In(const Json& v, const std::string& lit) {
  switch (v.type()) {
    case Json::value_t::array:
      for (const auto& e : v) {
        if (Equal(e, lit) == Truth::kTrue) return Truth::kTrue;
      }
      return Truth::kFalse;
    case Json::value_t::object:
      return Of(v.contains(lit));
    case Json::value_t::string:
      return Of(v.get_ref<const std::string&>().find(lit) != std::string::npos);
    default:
      return Truth::kNotApplicable;
  }
}

Truth IsEmpty(const Json& v) {
  switch (v.type()) {
    case Json::value_t::array:
    case Json::value_t::object:
      return Of(v.empty());
    case Json::value_t::string:  // json::empty() is false for every string
      return Of(v.get_ref<const std::string&>().empty());
    default:
      return Truth::kNotApplicable;
  }
}

Truth RegexMatches(const Json& v, const Regexp& re) {
  if (!v.is_string()) return Truth::kNotApplicable;
  return Of(re.Search(v.get_ref<const std::string&>()));
}

bool IsIndex(const std::string& s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsDigit(c); });
}

// Collects the values a selector reaches. A digit segment indexes an array; a name segment that
// meets an array is applied to each element, and *fanned records that it happened.
void Resolve(const Json& v, const std::vector<std::string>& path, size_t i, bool* fanned,
             std::vector<const Json*>* out) {
  if (v.is_null()) return;
  if (i == path.size()) {
    out->push_back(&v);
    return;
  }
  const std::string& seg = path[i];
  if (v.is_object()) {
    auto it = v.find(seg);
    if (it != v.end()) Resolve(*it, path, i + 1, fanned, out);
  } else if (v.is_array()) {
    if (IsIndex(seg)) {
      size_t idx = std::stoul(seg);
      if (idx < v.size()) Resolve(v[idx], path, i + 1, fanned, out);
      return;
    }
    *fanned = true;
    for (const auto& e : v) Resolve(e, path, i, fanned, out);
  }
}

bool EvalMatch(const FilterNode& m, const Json& row) {
  std::vector<const Json*> values;
  bool fanned = false;
  Resolve(row, m.path, 0, &fanned, &values);
  if (values.empty()) {
    // Absent: empty, equal to nothing, containing nothing.
    bool positive = m.op == MatchOp::kIsEmpty;
    return m.negate ? !positive : positive;
  }
  bool any_true = false;
  bool any_applicable = false;
  for (const Json* v : values) {
    Truth t = Truth::kNotApplicable;
    switch (m.op) {
      case MatchOp::kEqual:
        t = Equal(*v, m.value);
        break;
      case MatchOp::kIn:
        // Values reached through a list form the list: scalars are its members.
        t = (fanned && !v->is_structured()) ? Equal(*v, m.value) : In(*v, m.value);
        break;
      case MatchOp::kIsEmpty:
        t = IsEmpty(*v);
        break;
      case MatchOp::kMatches:
        t = RegexMatches(*v, *m.re);
        break;
    }
    if (t == Truth::kNotApplicable) continue;
    any_applicable = true;
    if (t == Truth::kTrue) {
      any_true = true;
      break;
    }
  }
  if (!any_applicable) return false;
  return m.negate ? !any_true : any_true;
}

bool Eval(const FilterNode& n, const Json& row) {
  switch (n.kind) {
    case FilterNode::Kind::kOr:
      for (const auto& c : n.children) {
        if (Eval(*c, row)) return true;
      }
      return false;
    case FilterNode::Kind::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(*c, row)) return false;
      }
      return true;
    case FilterNode::Kind::kNot:
      return !Eval(*n.children[0], row);
    case FilterNode::Kind::kMatch:
      return EvalMatch(n, row);
  }
  return false;
}

}  // namespace

Filter::Filter(std::shared_ptr<const internal::FilterProgram> program)
    : program_(std::move(program)) {}

Result<Filter> Filter::Parse(std::string_view expr) {
  if (expr.size() > kMaxLength) {
    return InvalidArgument("filter expression is " + std::to_string(expr.size()) +
                           " bytes; the limit is " + std::to_string(kMaxLength));
  }
  Parser parser(expr);
  auto root = parser.Run();
  if (!root.ok()) return root.status();
  auto program = std::make_shared<internal::FilterProgram>();
  program->root = std::move(*root);
  return Filter(std::move(program));
}

bool Filter::Matches(const nlohmann::json& row) const { return Eval(*program_->root, row); }

}  // namespace gangway::api
