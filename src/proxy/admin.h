// The proxy's admin endpoint as a pure function: a request head in, an HTTP/1.0 response out.
// GET /stats (JSON counters) and GET /ready only; the socket side lives in runtime.cc. Any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "proxy/stats.h"

namespace gangway::proxy {

// The most a request head may take before the admin endpoint answers 431 and closes.
inline constexpr size_t kMaxAdminRequest = 8 * 1024;

// `head` is the request line and headers (through the blank line, or what arrived before the
// limit). Returns the complete response bytes; the connection is closed after them.
std::string HandleAdminRequest(std::string_view head, const std::function<RuntimeStats()>& stats,
                               bool ready);

}  // namespace gangway::proxy
