#include "codec/document.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/strings.h"

namespace gangway::codec {

namespace {
// Config files are small; this bound only keeps a mistaken path (a log, a device) from being
// read whole into memory.
constexpr size_t kMaxConfigFileBytes = 64 << 20;
}  // namespace

int Document::LineOf(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    auto it = lines.find(p);
    if (it != lines.end()) return it->second;
    // Fall back to the nearest known ancestor (a missing member is reported at its parent),
    // but not to the document root, whose line says nothing.
    size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) return 0;
    p.resize(slash);
  }
}

std::string Document::Where(const std::string& pointer) const {
  int line = LineOf(pointer);
  if (line <= 0) return file;
  if (file.empty()) return "line " + std::to_string(line);
  return file + ":" + std::to_string(line);
}

Result<Document> ParseConfigText(std::string_view text, const std::string& file) {
  std::string lower = ToLower(file);
  auto ends_with = [&](std::string_view suffix) {
    return lower.size() >= suffix.size() &&
           lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".hcl")) return ParseHcl(text, file);
  if (ends_with(".json")) return ParseJson(text, file);
  return InvalidArgument(file +
                         ": unknown configuration format: the file name must end in "
                         "\".hcl\" or \".json\"");
}

Result<Document> ParseConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgument(path + ": is a directory, not a configuration file");
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return InvalidArgument(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxConfigFileBytes) {
      std::fclose(f);
      return InvalidArgument(path + ": larger than " + std::to_string(kMaxConfigFileBytes >> 20) +
                             " MiB; not a configuration file?");
    }
  }
  bool failed = std::ferror(f) != 0;
  int err = errno;
  std::fclose(f);
  if (failed) return InvalidArgument(path + ": read failed: " + std::strerror(err));
  return ParseConfigText(text, path);
}

}  // namespace gangway::codec
