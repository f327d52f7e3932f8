#include "core/regexp.h"

#include <re2/re2.h>

#include <cstdint>
#include <utility>

namespace gangway {

namespace {

// Go's regexp/syntax ErrorCode texts for RE2's error codes (the two parsers are siblings).
const char* GoErrorText(re2::RE2::ErrorCode code) {
  switch (code) {
    case re2::RE2::ErrorBadEscape:
      return "invalid escape sequence";
    case re2::RE2::ErrorBadCharClass:
      return "invalid character class";
    case re2::RE2::ErrorBadCharRange:
      return "invalid character class range";
    case re2::RE2::ErrorMissingBracket:
      return "missing closing ]";
    case re2::RE2::ErrorMissingParen:
      return "missing closing )";
    case re2::RE2::ErrorUnexpectedParen:
      return "unexpected )";
    case re2::RE2::ErrorTrailingBackslash:
      return "trailing backslash at end of expression";
    case re2::RE2::ErrorRepeatArgument:
      return "missing argument to repetition operator";
    case re2::RE2::ErrorRepeatSize:
      return "invalid repeat count";
    case re2::RE2::ErrorRepeatOp:
      return "invalid nested repetition operator";
    case re2::RE2::ErrorBadPerlOp:
      return "invalid or unsupported Perl syntax";
    case re2::RE2::ErrorBadUTF8:
      return "invalid UTF-8";
    case re2::RE2::ErrorBadNamedCapture:
      return "invalid named capture";
    case re2::RE2::ErrorPatternTooLarge:
      return "expression too large";
    default:
      return "regexp/syntax: internal error";
  }
}

// RE2's budget for one pattern's program and DFA cache (its default is 8 MiB). It bounds what
// one outside pattern may cost to compile: "\pL{300}" (360,000 instructions) is refused in
// tens of milliseconds instead of compiling for seconds; real filters need a few kilobytes.
constexpr int64_t kMaxMemory = int64_t{1} << 20;

}  // namespace

Result<Regexp> Regexp::Compile(std::string_view pattern) {
  // RE2's defaults are Go's syntax (Perl classes, leftmost-first, '^'/'$' at the text's ends,
  // UTF-8). Errors are returned, not written to stderr.
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxMemory);
  auto re = std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    return InvalidArgument(std::string("error parsing regexp: ") + GoErrorText(re->error_code()) +
                           ": `" + re->error_arg() + "`");
  }
  return Regexp(std::move(re));
}

Regexp::Regexp(std::unique_ptr<re2::RE2> re) : re_(std::move(re)) {}
Regexp::Regexp(Regexp&&) noexcept = default;
Regexp& Regexp::operator=(Regexp&&) noexcept = default;
Regexp::~Regexp() = default;

bool Regexp::Search(std::string_view text) const {
  return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

bool Regexp::FindSubmatch(std::string_view text, std::vector<std::string>* groups) const {
  groups->clear();
  const int n = re_->NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> found(static_cast<size_t>(n));
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(),
                  re2::RE2::UNANCHORED, found.data(), n)) {
    return false;
  }
  for (const auto& g : found) groups->emplace_back(g.data() == nullptr ? "" : std::string(g));
  return true;
}

const std::string& Regexp::pattern() const { return re_->pattern(); }

}  // namespace gangway
