// Leveled logging to stderr in Consul's format: "<RFC3339 time> [INFO]  agent: message".
// Thread-safe (one write() per line).
#pragma once

#include <string>
#include <string_view>

namespace gangway {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
// Parses "trace|debug|info|warn|error" (case-insensitive); false when unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);
void Log(LogLevel level, std::string_view component, std::string_view message);

inline void LogInfo(std::string_view c, std::string_view m) { Log(LogLevel::kInfo, c, m); }
inline void LogWarn(std::string_view c, std::string_view m) { Log(LogLevel::kWarn, c, m); }
inline void LogError(std::string_view c, std::string_view m) { Log(LogLevel::kError, c, m); }
inline void LogDebug(std::string_view c, std::string_view m) { Log(LogLevel::kDebug, c, m); }

}  // namespace gangway
