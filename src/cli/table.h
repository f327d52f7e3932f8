// Text layout for command output, matching what Consul's commands print: columnize (members,
// catalog) and tabwriter-style "Field  value" blocks (kv get -detailed). Pure; any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace gangway::cli {

using Row = std::vector<std::string>;

// Aligns rows into columns separated by two spaces, as github.com/ryanuber/columnize does for
// Consul: cells are trimmed, every cell but the last of its row is padded to its column's width
// (counted in UTF-8 code points), trailing spaces are dropped. No final newline.
std::string Columnize(const std::vector<Row>& rows);

// "Field<pad>value" lines as Go's tabwriter (minwidth 0, padding `padding`) lays out
// "Field\tvalue" lines. No final newline.
std::string AlignPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                       size_t padding);

// Number of UTF-8 code points in `s` (invalid bytes count one each).
size_t DisplayWidth(const std::string& s);

}  // namespace gangway::cli
