#include "api/acl_resolver.h"

#include <utility>

#include "acl/builtin.h"
#include "api/backend.h"
#include "core/log.h"
#include "server/acl.h"

namespace gangway::api {

using Json = nlohmann::json;

AclResolver::AclResolver(Backend& backend) : backend_(backend) {}
AclResolver::~AclResolver() = default;

std::string AclResolver::DefaultSecret() const {
  return backend_.acl.tokens.default_token.empty() ? std::string(acl::kAnonymousSecretID)
                                              : backend_.acl.tokens.default_token;
}

bool AclResolver::Local() const {
  server::Acls* acls = backend_.server != nullptr ? backend_.server->acls() : nullptr;
  return acls != nullptr && acls->ResolvesLocally();
}

std::optional<Result<Resolved>> AclResolver::ResolveNow(const std::string& secret) {
  if (Local()) {
    auto id = backend_.server->acls()->Resolve(secret);
    if (!id.ok()) return Result<Resolved>(id.status());
    return Result<Resolved>(Resolved{id->authz, id->accessor});
  }
  auto it = cache_.find(secret);
  if (it == cache_.end() ||
      std::chrono::steady_clock::now() - it->second.fetched > backend_.acl.token_ttl) {
    return std::nullopt;
  }
  if (it->second.not_found) return Result<Resolved>(NotFound(acl::kAclNotFound));
  return Result<Resolved>(it->second.resolved);
}

void AclResolver::Resolve(const std::string& secret, std::function<void(Result<Resolved>)> done) {
  if (auto now = ResolveNow(secret)) return done(std::move(*now));
  auto it = cache_.find(secret);
  if (it != cache_.end() && backend_.acl.down_policy == acl::DownPolicy::kAsyncCache &&
      !it->second.not_found) {
    // async-cache: answer from the stale entry and refresh behind it.
    done(it->second.resolved);
    if (pending_.count(secret) == 0) {
      pending_[secret];
      Fetch(secret);
    }
    return;
  }
  auto& waiters = pending_[secret];
  waiters.push_back(std::move(done));
  if (waiters.size() == 1) Fetch(secret);
}

void AclResolver::Fetch(const std::string& secret) {
  if (!backend_.forward) {
    return Finish(secret, Unavailable("No known Consul servers"));
  }
  ++remote_lookups_;
  http::Request req;
  req.method = "GET";
  req.target = req.path = "/v1/internal/acl/resolve";
  req.headers["X-Consul-Token"] = secret;
  // A client agent asks its servers; a secondary's server (not replicating tokens) the primary.
  std::string dc = backend_.server != nullptr ? backend_.info.primary_datacenter
                                              : backend_.info.datacenter;
  if (dc.empty()) dc = backend_.info.datacenter;
  if (dc != backend_.info.datacenter) {
    req.target += "?dc=" + dc;
    req.query.emplace_back("dc", dc);
  }
  std::weak_ptr<AclResolver> weak = weak_from_this();
  backend_.forward(std::move(req), dc, std::make_shared<http::Cancellation>(),
                   [this, weak, secret](http::Response r) {
                     if (weak.expired()) return;
                     if (r.status == 200) {
                       Json expanded = Json::parse(r.Body(), nullptr, false);
                       if (expanded.is_discarded() || !expanded.is_object()) {
                         return Finish(secret, Internal("a server answered the token "
                                                        "resolution with a malformed body"));
                       }
                       Resolved res;
                       res.accessor = expanded.value("AccessorID", "");
                       res.authz = server::BuildAuthorizer(expanded, backend_.info.datacenter,
                                                           backend_.acl.default_allow);
                       return Finish(secret, res);
                     }
                     if ((r.status == 403 || r.status == 404) &&
                         r.Body().find(acl::kAclNotFound) != std::string::npos) {
                       return Finish(secret, NotFound(acl::kAclNotFound));
                     }
                     Finish(secret, Unavailable("token resolution failed: " +
                                                std::to_string(r.status) + " " + r.Body()));
                   });
}

void AclResolver::Finish(const std::string& secret, Result<Resolved> r) {
  auto now = std::chrono::steady_clock::now();
  Result<Resolved> answer = r;
  if (r.ok()) {
    cache_[secret] = Entry{*r, false, now};
  } else if (r.status().code() == Code::kNotFound) {
    cache_[secret] = Entry{{}, true, now};
  } else {
    // Nobody could answer: down_policy decides.
    auto it = cache_.find(secret);
    switch (backend_.acl.down_policy) {
      case acl::DownPolicy::kAllow:
        answer = Resolved{acl::Authorizer::AllowAll(), ""};
        break;
      case acl::DownPolicy::kDeny:
        answer = Resolved{acl::Authorizer::DenyAll(), ""};
        break;
      case acl::DownPolicy::kExtendCache:
      case acl::DownPolicy::kAsyncCache:
        if (it != cache_.end() && !it->second.not_found) {
          answer = it->second.resolved;
        } else if (it != cache_.end()) {
          answer = NotFound(acl::kAclNotFound);
        } else {
          answer = Resolved{acl::Authorizer::DenyAll(), ""};
        }
        break;
    }
    LogWarn("agent.acl", "token resolution failed, applying down_policy " +
                             std::string(acl::DownPolicyName(backend_.acl.down_policy)) + ": " +
                             r.status().message());
  }
  if (cache_.size() > 10'000) cache_.clear();
  auto waiters = std::move(pending_[secret]);
  pending_.erase(secret);
  for (auto& w : waiters) w(answer);
}

}  // namespace gangway::api
