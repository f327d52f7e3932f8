// The URL escaping of request targets built from user input (KV keys, service and node names),
// which lives in apiclient, under the names the commands use. Pure; any thread.
#pragma once

#include "apiclient/escape.h"

namespace gangway::cli {

using apiclient::EscapePath;
using apiclient::EscapePathSegment;
using apiclient::EscapeQueryValue;

}  // namespace gangway::cli
