// The CLI's client for the local agent's HTTP API: apiclient's ApiClient, address/token/TLS
// resolution and answer readers, named here for the commands, with the commands' Environment
// supplying the process environment and transport. Internal to src/cli; single-threaded.
#pragma once

#include "apiclient/client.h"
#include "apiclient/config.h"
#include "apiclient/response.h"
#include "cli/command.h"
#include "core/flags.h"

namespace gangway::cli {

using apiclient::AgentAddress;
using apiclient::ApiClient;
using apiclient::BuildTarget;
using apiclient::ClientTls;
using apiclient::HttpFlags;
using apiclient::JoinMap;
using apiclient::Json;
using apiclient::JsonBool;
using apiclient::JsonInt;
using apiclient::JsonObject;
using apiclient::JsonString;
using apiclient::Params;
using apiclient::ParseAgentAddress;
using apiclient::ResolveAgentAddress;
using apiclient::ResolveToken;
using apiclient::UnexpectedResponse;

// ApiClient::Create with the environment's variables and transport.
Result<ApiClient> NewApiClient(const HttpFlags& flags, const Environment& env);

}  // namespace gangway::cli
