// Reading the agent's HTTP answers as Consul's Go API client does: its error texts, the
// X-Consul-Index of blocking queries, and lenient JSON readers. Pure; any thread.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/message.h"

namespace gangway::apiclient {

using Json = nlohmann::json;

// Consul's API client text for a non-2xx answer: "Unexpected response code: 404 (body)", the
// body trimmed of surrounding whitespace.
Status UnexpectedResponse(const http::Response& response);

// The JSON body of a 200; otherwise Unavailable with "Unexpected response code: <code> (<body>)"
// (trailing newlines dropped), or Internal when the body is not JSON.
Result<Json> JsonBody(const http::Response& response);

// The X-Consul-Index header of a blocking query's answer; 0 when absent or malformed.
uint64_t IndexOf(const http::Response& response);

// Lenient readers for API answers: a missing or mistyped field reads as empty/zero, so a
// slightly different server never crashes the caller. Non-string scalars are rendered as text.
std::string JsonString(const Json& object, const char* key);
int64_t JsonInt(const Json& object, const char* key);
bool JsonBool(const Json& object, const char* key);
// The member `key` when it is an object, else an empty object.
const Json& JsonObject(const Json& object, const char* key);
// Sorted "k=v" pairs of a string map joined by `sep` (Consul's mapToKV).
std::string JoinMap(const Json& map, const std::string& sep);

}  // namespace gangway::apiclient
