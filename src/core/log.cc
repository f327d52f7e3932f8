#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/strings.h"

namespace gangway {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
}

void SetLogLevel(LogLevel level) { g_level = level; }

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  std::string t = ToLower(text);
  if (t == "trace") *out = LogLevel::kTrace;
  else if (t == "debug") *out = LogLevel::kDebug;
  else if (t == "info") *out = LogLevel::kInfo;
  else if (t == "warn") *out = LogLevel::kWarn;
  else if (t == "err" || t == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void Log(LogLevel level, std::string_view component, std::string_view message) {
  if (level < g_level.load()) return;
  static const char* kNames[] = {"[TRACE]", "[DEBUG]", "[INFO] ", "[WARN] ", "[ERROR]"};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(64 + message.size());
  line.append(ts).append(" ").append(kNames[static_cast<int>(level)]).append(" ");
  line.append(component).append(": ").append(message).append("\n");
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

}  // namespace gangway
