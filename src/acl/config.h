// The ACL settings of an agent: Consul's `acl { }` block (and its older spellings), with
// Consul's defaults. Plain values; any thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"

namespace gangway::acl {

enum class DownPolicy { kExtendCache, kAsyncCache, kAllow, kDeny };

struct Tokens {
  std::string initial_management;  // `master` before 1.11
  std::string agent_recovery;      // `agent_master` before 1.11
  std::string agent;
  std::string default_token;       // `default`
  std::string replication;
  std::string config_file_service_registration;
  std::string dns;
};

struct Config {
  bool enabled = false;
  bool default_allow = true;  // default_policy = "allow"
  DownPolicy down_policy = DownPolicy::kExtendCache;
  std::chrono::nanoseconds token_ttl = std::chrono::seconds(30);
  std::chrono::nanoseconds policy_ttl = std::chrono::seconds(30);
  std::chrono::nanoseconds role_ttl = std::chrono::seconds(30);
  bool enable_key_list_policy = false;
  bool enable_token_replication = false;
  bool enable_token_persistence = false;
  Tokens tokens;
  Tokens from_api;  // those of `tokens` set through the API (persisted when enabled)
};

const char* DownPolicyName(DownPolicy p);  // "extend-cache", "async-cache", "allow", "deny"

// With enable_token_persistence, tokens set through PUT /v1/agent/token/<type> are kept in
// <data_dir>/acl-tokens.json (Consul's file and keys: agent, default, agent_recovery (or the
// older agent_master), replication, config_file_service_registration, dns) and outlive a restart.
inline constexpr const char* kPersistedTokensFile = "acl-tokens.json";

// Reads `path` into `persisted`; a missing file is none. Each persisted token replaces the
// configured one in `tokens`, with Consul's warning when the configuration also set it. A file
// that cannot be read or decoded is an error naming it (the configured tokens stay).
Status LoadPersistedTokens(const std::string& path, Tokens* tokens, Tokens* persisted,
                                 std::vector<std::string>* warnings);
// Writes the tokens set through the API (empty ones left out), atomically, owner-only.
Status SavePersistedTokens(const std::string& path, const Tokens& persisted);

}  // namespace gangway::acl
