// What `gangway acl ...` prints and sends, as Consul's acl commands do: the pretty and JSON
// layouts of tokens, policies and roles (command/acl/*/formatter.go), the objects marshalled as the
// Go API client's structs marshal them, and the parsing of the identity flags and of "@file"/"-"
// flag values. Pure apart from LoadDataSource's file and stream; any thread.
#pragma once

#include <istream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace gangway::cli {

enum class AclFormat { kPretty, kJson };

// "pretty" or "json"; anything else fails with Consul's "Unknown format: <x>".
Result<AclFormat> ParseAclFormat(const std::string& text);

// The Go API client's structs (api.ACLToken, api.ACLPolicy, ...) as encoding/json writes them:
// their fields in declaration order, missing ones as Go's zero values, omitempty honoured, keys
// that the struct does not have dropped. What the JSON output shows, and what a request sends.
enum class AclStruct {
  kToken,
  kTokenListEntry,
  kTokenExpanded,
  kPolicy,
  kPolicyListEntry,
  kRole,
};
nlohmann::ordered_json AsGoStruct(const nlohmann::json& object, AclStruct kind);

// Each command's output, without the final newline the command adds (Consul's Ui.Info). The
// pretty token and role forms end in a newline of their own, so they print with a blank line
// after, as Consul's do. `show_meta` adds Hash, Create Index and Modify Index (-meta).
std::string FormatToken(const nlohmann::json& token, AclFormat format, bool show_meta);
std::string FormatTokenExpanded(const nlohmann::json& token, AclFormat format, bool show_meta);
std::string FormatTokenList(const nlohmann::json& tokens, AclFormat format, bool show_meta);
std::string FormatPolicy(const nlohmann::json& policy, AclFormat format, bool show_meta);
std::string FormatPolicyList(const nlohmann::json& policies, AclFormat format, bool show_meta);
std::string FormatRole(const nlohmann::json& role, AclFormat format, bool show_meta);
std::string FormatRoleList(const nlohmann::json& roles, AclFormat format, bool show_meta);

// An RFC 3339 time from the API as Go's time.Time prints with %v:
// "2024-06-01T10:00:00.1Z" -> "2024-06-01 10:00:00.1 +0000 UTC"; "...+08:00" -> "... +0800 +0800".
// Text that is not such a time is returned unchanged.
std::string GoTimeString(const std::string& rfc3339);

// -service-identity values: "web" or "web:dc1,dc2" -> [{"ServiceName","Datacenters"}]. A value
// with more than one ':' fails with Consul's `Malformed -service-identity argument: "<v>"`.
Result<nlohmann::json> ParseServiceIdentities(const std::vector<std::string>& values);
// -node-identity values: exactly "node:dc" -> [{"NodeName","Datacenter"}].
Result<nlohmann::json> ParseNodeIdentities(const std::vector<std::string>& values);

// A flag value as Consul's helpers.LoadDataSource reads it: "@path" is the file's content, "-"
// is all of `in`, anything else (including "" and "-x") is the value itself.
Result<std::string> LoadDataSource(const std::string& value, std::istream& in);

}  // namespace gangway::cli
