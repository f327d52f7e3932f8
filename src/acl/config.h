// The ACL settings of an agent: Consul's `acl { }` block (and its older spellings), with
// Consul's defaults. Plain values; any thread.
#pragma once

#include <chrono>
#include <string>

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
};

const char* DownPolicyName(DownPolicy p);  // "extend-cache", "async-cache", "allow", "deny"

}  // namespace gangway::acl
