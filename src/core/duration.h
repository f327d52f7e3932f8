// Go-style durations ("10s", "1m30s", "500ms", "72h"), as Consul's config and API use them.
// Pure functions; any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway {

using Duration = std::chrono::nanoseconds;

// Parses Go's time.ParseDuration syntax. A bare "0" is accepted; other unitless numbers are not.
Result<Duration> ParseDuration(std::string_view text);

// Formats like Go's Duration.String(): "1h0m0s", "1.5s", "300ms", "0s".
std::string FormatDuration(Duration d);

}  // namespace gangway
