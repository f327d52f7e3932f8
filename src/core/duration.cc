#include "core/duration.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace gangway {

Result<Duration> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto fail = [&](const char* why) -> Result<Duration> {
    return InvalidArgument("invalid duration \"" + original + "\": " + why +
                           " (expected a number with a unit, e.g. \"10s\", \"1m30s\", \"500ms\")");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration(0);
  if (s.empty()) return fail("empty");
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value = value * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        value += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return fail("missing number");
    size_t j = i;
    while (j < s.size() && !(s[j] >= '0' && s[j] <= '9') && s[j] != '.') ++j;
    std::string_view unit = s.substr(i, j - i);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3L;
    else if (unit == "ms") mult = 1e6L;
    else if (unit == "s") mult = 1e9L;
    else if (unit == "m") mult = 60e9L;
    else if (unit == "h") mult = 3600e9L;
    else if (unit.empty()) return fail("missing unit");
    else return fail("unknown unit");
    total += value * mult;
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return fail("out of range");
    }
    s.remove_prefix(j);
  }
  auto ns = static_cast<int64_t>(std::llround(total));
  return Duration(negative ? -ns : ns);
}

namespace {
// Formats v / 10^prec with trailing zeros dropped, e.g. (1500, 3) -> "1.5".
std::string Fraction(uint64_t v, int prec) {
  uint64_t div = 1;
  for (int i = 0; i < prec; ++i) div *= 10;
  std::string out = std::to_string(v / div);
  uint64_t frac = v % div;
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, static_cast<size_t>(prec) - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}
}  // namespace

std::string FormatDuration(Duration d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string sign = n < 0 ? "-" : "";
  uint64_t u = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + Fraction(u, 3) + "\xC2\xB5s";
  if (u < 1000000000) return sign + Fraction(u, 6) + "ms";
  uint64_t secs_ns = u % 60000000000ULL;
  uint64_t mins = u / 60000000000ULL;
  std::string out = Fraction(secs_ns, 9) + "s";
  if (mins > 0) {
    out = std::to_string(mins % 60) + "m" + out;
    if (mins >= 60) out = std::to_string(mins / 60) + "h" + out;
  }
  return sign + out;
}

}  // namespace gangway
