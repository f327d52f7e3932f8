#include "cli/table.h"

#include <algorithm>

namespace gangway::cli {

namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

void TrimRight(std::string* s) {
  while (!s->empty() && (s->back() == ' ' || s->back() == '\t')) s->pop_back();
}

}  // namespace

size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // count every byte that is not a continuation byte
  }
  return n;
}

std::string Columnize(const std::vector<Row>& rows) {
  std::vector<Row> cells;
  cells.reserve(rows.size());
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    Row t;
    for (size_t i = 0; i < r.size(); ++i) {
      t.push_back(Trim(r[i]));
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], DisplayWidth(t.back()));
    }
    cells.push_back(std::move(t));
  }
  std::string out;
  for (size_t r = 0; r < cells.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < cells[r].size(); ++i) {
      const std::string& c = cells[r][i];
      line += c;
      if (i + 1 < cells[r].size()) line += std::string(widths[i] - DisplayWidth(c) + 2, ' ');
    }
    TrimRight(&line);
    if (r > 0) out += "\n";
    out += line;
  }
  // columnize trims the whole output, so blank rows at either end disappear.
  size_t b = out.find_first_not_of('\n');
  if (b == std::string::npos) return "";
  out.erase(0, b);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string AlignPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                       size_t padding) {
  size_t width = 0;
  for (const auto& [k, v] : pairs) width = std::max(width, DisplayWidth(k) + padding);
  std::string out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& [k, v] = pairs[i];
    if (i > 0) out += "\n";
    out += k + std::string(width - DisplayWidth(k), ' ') + v;
  }
  return out;
}

}  // namespace gangway::cli
