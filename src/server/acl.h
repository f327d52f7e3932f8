// The ACL system as the servers keep it (docs/acl.md): Consul's tokens, policies and roles,
// checked and completed here before they reach the log (catalog AclRequest), the reserved
// objects a primary's leader ensures, and resolution of a secret to what it may do from the
// replicated tables. Owned by Server; loop thread only.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "acl/authorizer.h"
#include "acl/config.h"
#include "core/loop.h"
#include "core/status.h"

namespace gangway::server {

class Server;

struct AclOptions {
  acl::Config config;
  std::string datacenter = "dc1";
  std::string primary_datacenter;  // "" or ours: this is the primary
};

// A resolved token: the stored token, and the authorizer built from everything attached to it.
struct AclIdentity {
  std::string accessor;
  nlohmann::json token;  // as stored (SecretID included; never log it)
  acl::AuthorizerPtr authz;
};

// A token with what its links name, as one object: every policy it reaches (directly and through
// its roles, each once: {ID, Name, Rules, Datacenters}) and every service and node identity (its
// own and its roles'). What a server hands an agent or another datacenter that resolves a token
// (GET /v1/internal/acl/resolve), and what BuildAuthorizer compiles.
using ExpandedToken = nlohmann::json;

// The authorizer of an expanded token in `datacenter`: policies whose Datacenters do not name
// it, service identities limited elsewhere and node identities of another datacenter are left
// out; a token with the global-management policy may do anything. Rules that fail to parse
// (they were checked when written) are skipped.
acl::AuthorizerPtr BuildAuthorizer(const ExpandedToken& token, const std::string& datacenter,
                                   bool default_allow);

// Whether a stored token has expired at `now` (unix nanoseconds).
bool TokenExpired(const nlohmann::json& token, int64_t now_unix_ns);

// How a secondary's leader reads the primary's ACL objects: `kind` is "policies", "roles" or
// "tokens" (global ones); the whole list, blocking past min_index (0: at once);
// done(list, X-Consul-Index) or an error.
struct AclReplicationHooks {
  std::function<void(const std::string& kind, uint64_t min_index,
                     std::function<void(Result<nlohmann::json>, uint64_t index)>)>
      fetch;
};

class Acls {
 public:
  Acls(Server& server, AclOptions options);
  ~Acls();

  bool enabled() const { return options_.config.enabled; }
  bool primary() const;
  const AclOptions& options() const { return options_; }
  std::string primary_datacenter() const;

  // The leader of the primary ensures the global-management and global-read-only policies, the
  // anonymous token and acl.tokens.initial_management (as Consul's initializeACLs). A
  // secondary's leader replicates the primary's policies and roles, and with
  // enable_token_replication its global tokens (docs/acl.md, "Replication").
  void OnLeadership(bool leader);
  void SetReplicationHooks(AclReplicationHooks hooks) { hooks_ = std::move(hooks); }
  // /v1/acl/replication's document.
  nlohmann::json ReplicationStatus() const;
  // Tokens are resolved from this datacenter's store: the primary, or a secondary replicating
  // tokens that has copied them at least once.
  bool ResolvesLocally() const;

  // ---- Resolution from this server's store. NotFound "ACL not found" for an unknown or
  // expired secret. Authorizers are cached until any ACL table changes.
  Result<AclIdentity> Resolve(std::string_view secret);
  // The expanded form of the token with this secret (see ExpandedToken).
  Result<ExpandedToken> Expand(std::string_view secret);
  ExpandedToken ExpandStored(const nlohmann::json& token) const;

  // ---- Writes from the API: the body as the client sent it, checked and completed (IDs, links
  // by name to IDs, Hash, CreateTime), then applied. done gets the stored object. Errors carry
  // Consul's texts: InvalidArgument (400), NotFound (404), PermissionDenied (403), others 500.
  using Done = std::function<void(Result<nlohmann::json>)>;
  void SetPolicy(const nlohmann::json& body, const std::string& url_id, bool create, Done done);
  void DeletePolicy(const std::string& id, Done done);
  void SetRole(const nlohmann::json& body, const std::string& url_id, bool create, Done done);
  void DeleteRole(const std::string& id, Done done);
  // `requester_accessor`: the token making the request (it may not delete itself).
  void SetToken(const nlohmann::json& body, const std::string& url_accessor, bool create,
                Done done);
  void CloneToken(const std::string& accessor, const nlohmann::json& body, Done done);
  void DeleteToken(const std::string& accessor, const std::string& requester_accessor, Done done);
  // PUT /v1/acl/bootstrap: `reset_index` from <data_dir>/acl-bootstrap-reset (0: none).
  void Bootstrap(const std::string& chosen_secret, uint64_t reset_index, Done done);

  // Links made readable: fills the Name of every {ID} link in Policies/Roles from the store and
  // drops links to objects that no longer exist (as Consul does on read).
  nlohmann::json WithLinkNames(nlohmann::json object) const;

 private:
  Result<nlohmann::json> CheckToken(nlohmann::json body, const std::string& url_accessor,
                                    bool create) const;
  Result<nlohmann::json> CheckLinks(nlohmann::json links, const char* what, bool policies) const;
  void Write(int op, nlohmann::json object, const std::string& id, uint64_t cas,
             const char* read_back, Done done);

  // The leader's reserved objects, one write at a time (each step runs its continuation once
  // its write is applied).
  void EnsureFrom(size_t i);
  std::vector<std::function<void(std::function<void()>)>> ensure_steps_;
  void Replicate(const std::string& kind, uint64_t min_index);
  void ReplicationFailed(const std::string& kind, const std::string& why);

  Server& server_;
  AclOptions options_;
  AclReplicationHooks hooks_;
  // Replication (secondary leader): per kind, the primary's index last copied.
  struct Replica {
    uint64_t index = 0;
    std::unique_ptr<Timer> retry;
    std::chrono::milliseconds backoff{500};
  };
  std::map<std::string, Replica> replicas_;
  bool replicating_ = false;
  uint64_t generation_ = 0;
  bool tokens_copied_ = false;
  std::string last_success_ = "0001-01-01T00:00:00Z";
  std::string last_error_ = "0001-01-01T00:00:00Z";
  std::string last_error_message_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // The three ACL tables' indexes when an authorizer was built: any change to any of them
  // (a policy narrowed, a role edited) invalidates it.
  using AclVersion = std::array<uint64_t, 3>;
  struct CacheEntry {
    AclIdentity identity;
    AclVersion version{};
  };
  std::map<std::string, CacheEntry, std::less<>> cache_;
  bool ensuring_ = false;
};

}  // namespace gangway::server
