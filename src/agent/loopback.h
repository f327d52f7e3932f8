// Requests the agent makes of its own HTTP API handler, which answers them from local state or
// forwards them to a server (of this datacenter, or of another with ?dc=), exactly as it would a
// client's. Connect's CA and leaf hooks and proxycfg's watches go this way. Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http/message.h"

namespace gangway::agent {

// `*api` must be set when the request is made. `done` may run inside the call (an answer the
// handler has at once) or later on the loop. `cancel` (may be null) lets the caller abandon a
// blocking query: call its on_cancel, when set, and `done` is not called afterwards. `token`:
// the request's X-Consul-Token ("" leaves it to the agent's own token).
void LoopbackRequest(http::Handler* const* api, std::string method, std::string target,
                     std::string body, std::shared_ptr<http::Cancellation> cancel,
                     std::function<void(const http::Response&)> done,
                     const std::string& token = "");

}  // namespace gangway::agent
