// Token resolution for one agent (docs/acl.md, "Resolution"): the secret a request carries to
// what it may do. A server that holds the token (the primary, or a secondary replicating tokens)
// answers from its store; everyone else asks a server (a client agent its own datacenter's, a
// secondary's server the primary) and caches the answer for acl.token_ttl, falling back on
// acl.down_policy when nobody answers. Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "acl/authorizer.h"
#include "acl/config.h"
#include "core/status.h"

namespace gangway::api {

struct Backend;

struct Resolved {
  acl::AuthorizerPtr authz;
  std::string accessor;
};

// Made with std::make_shared (HttpApi does): an answer that arrives after the resolver is gone
// is dropped.
class AclResolver : public std::enable_shared_from_this<AclResolver> {
 public:
  // Reads the settings from backend.acl (where PUT /v1/agent/token changes the tokens).
  explicit AclResolver(Backend& backend);
  ~AclResolver();

  // The secret for a request that carries none: acl.tokens.default, else the anonymous token.
  std::string DefaultSecret() const;

  // done(NotFound "ACL not found") for an unknown or expired secret.
  void Resolve(const std::string& secret, std::function<void(Result<Resolved>)> done);
  // Synchronous where the answer is at hand (a local store, or a fresh cache entry); nullopt
  // otherwise. For re-checks inside a blocking query.
  std::optional<Result<Resolved>> ResolveNow(const std::string& secret);

  // What a server's resolve endpoint answered, for tests and the replication status.
  size_t cache_size() const { return cache_.size(); }
  uint64_t remote_lookups() const { return remote_lookups_; }

 private:
  struct Entry {
    Resolved resolved;
    bool not_found = false;
    std::chrono::steady_clock::time_point fetched{};
  };
  bool Local() const;
  void Fetch(const std::string& secret);
  void Finish(const std::string& secret, Result<Resolved> r);

  Backend& backend_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, std::vector<std::function<void(Result<Resolved>)>>> pending_;
  uint64_t remote_lookups_ = 0;
};

}  // namespace gangway::api
