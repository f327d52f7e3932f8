// JSON form of proxy::Config, the body of GET /v1/agent/connect/proxy/<id>: the agent encodes, the
// proxy decodes. Canonical output (fixed key order, 2-space indent), so golden files compare byte
// for byte. Pure functions; any thread. docs/proxy-config.md.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "proxy/config/config.h"

namespace gangway::proxy {

// Never fails: every Config encodes, valid or not (strings that are not UTF-8 have their bad
// bytes replaced by U+FFFD). Ends with a newline.
std::string EncodeConfig(const Config& config);

// Keys match without case, as Go's decoder matches them; an unknown key, a key given twice (in any
// case), a missing required key or a value of the wrong type is an error naming its path
// ("Listeners[0].FilterChains[1].Action: ..."). A decoded config is then checked by Validate.
Result<Config> DecodeConfig(std::string_view json);

}  // namespace gangway::proxy
