#include "server/acl.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>
#include <utility>
#include <vector>

#include "acl/builtin.h"
#include "acl/rules.h"
#include "catalog/commands.h"
#include "core/base64.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/uuid.h"
#include "server/server.h"

namespace gangway::server {

using Json = nlohmann::json;

namespace {

std::string Str(const Json& o, const char* field) {
  auto it = o.is_object() ? o.find(field) : o.end();
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 3339 with nanoseconds as Go prints time.Time in JSON ("2024-06-01T10:00:00.1Z").
std::string FormatTime(int64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  int64_t frac = unix_ns % 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac != 0) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + "Z";
}

// Parses what FormatTime writes (and any RFC 3339 UTC or offset time Go writes); false if not.
bool ParseTime(const std::string& s, int64_t* unix_ns) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return false;
  int64_t frac = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 9) frac = frac * 10 + (*rest - '0');
      ++digits;
      ++rest;
    }
    for (; digits < 9; ++digits) frac *= 10;
  }
  int64_t offset = 0;
  if (*rest == 'Z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = (hh * 3600 + mm * 60) * (*rest == '+' ? 1 : -1);
    rest += 6;
  } else {
    return false;
  }
  if (*rest != '\0') return false;
  *unix_ns = (static_cast<int64_t>(timegm(&tm)) - offset) * 1'000'000'000 + frac;
  return true;
}

// base64 of SHA-256 over the object's mutable content: what replication compares (Consul uses
// BLAKE2b; the value is opaque to clients).
std::string HashOf(Json o) {
  for (const char* f : {"Hash", "CreateIndex", "ModifyIndex", "CreateTime"}) o.erase(f);
  std::string text = o.dump();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// Go's encoding/json key matching on the top level: keys renamed to the known spelling they
// equal case-insensitively; others dropped.
Json Fold(const Json& body, std::initializer_list<const char*> known) {
  Json out = Json::object();
  if (!body.is_object()) return out;
  for (const auto& [k, v] : body.items()) {
    for (const char* name : known) {
      if (ToLower(k) == ToLower(name)) {
        out[name] = v;
        break;
      }
    }
  }
  return out;
}

Status Invalid(const std::string& what) { return InvalidArgument(what); }

bool IsReserved(const std::string& id) { return StartsWith(id, acl::kReservedIDPrefix); }

}  // namespace

bool TokenExpired(const Json& token, int64_t now_unix_ns) {
  std::string exp = Str(token, "ExpirationTime");
  if (exp.empty()) return false;
  int64_t t = 0;
  return ParseTime(exp, &t) && t <= now_unix_ns;
}

acl::AuthorizerPtr BuildAuthorizer(const ExpandedToken& token, const std::string& datacenter,
                                   bool default_allow) {
  std::vector<acl::Rules> rules;
  auto in = [&](const Json& dcs) {
    if (!dcs.is_array() || dcs.empty()) return true;
    for (const auto& d : dcs) {
      if (d.is_string() && d.get<std::string>() == datacenter) return true;
    }
    return false;
  };
  if (auto p = token.find("Policies"); p != token.end() && p->is_array()) {
    for (const auto& policy : *p) {
      if (!in(policy.value("Datacenters", Json::array()))) continue;
      if (Str(policy, "ID") == acl::kGlobalManagementPolicyID) return acl::Authorizer::Management();
      auto parsed = acl::ParseRules(Str(policy, "Rules"));
      if (parsed.ok()) rules.push_back(std::move(*parsed));
    }
  }
  if (auto s = token.find("ServiceIdentities"); s != token.end() && s->is_array()) {
    for (const auto& id : *s) {
      if (!in(id.value("Datacenters", Json::array()))) continue;
      rules.push_back(acl::ServiceIdentityRules(Str(id, "ServiceName")));
    }
  }
  if (auto n = token.find("NodeIdentities"); n != token.end() && n->is_array()) {
    for (const auto& id : *n) {
      if (Str(id, "Datacenter") != datacenter) continue;
      rules.push_back(acl::NodeIdentityRules(Str(id, "NodeName")));
    }
  }
  return acl::Authorizer::Build(rules, default_allow);
}

Acls::Acls(Server& server, AclOptions options) : server_(server), options_(std::move(options)) {}
Acls::~Acls() { *alive_ = false; }

bool Acls::primary() const {
  return options_.primary_datacenter.empty() || options_.primary_datacenter == options_.datacenter;
}

std::string Acls::primary_datacenter() const {
  return options_.primary_datacenter.empty() ? options_.datacenter : options_.primary_datacenter;
}

bool Acls::ResolvesLocally() const {
  if (primary()) return true;
  if (!options_.config.enable_token_replication) return false;
  // The anonymous token is global: once it is here, a round of token replication happened.
  Json anonymous;
  server_.store().AclToken(nullptr, acl::kAnonymousAccessorID, &anonymous);
  return tokens_copied_ || !anonymous.is_null();
}

Json Acls::ReplicationStatus() const {
  auto index = [&](const char* kind) -> uint64_t {
    auto it = replicas_.find(kind);
    return it == replicas_.end() ? 0 : it->second.index;
  };
  return {{"Enabled", enabled() && !primary()},
          {"Running", replicating_},
          {"SourceDatacenter", primary_datacenter()},
          {"ReplicationType", options_.config.enable_token_replication ? "tokens" : "policies"},
          {"ReplicatedIndex", index("policies")},
          {"ReplicatedRoleIndex", index("roles")},
          {"ReplicatedTokenIndex", index("tokens")},
          {"LastSuccess", last_success_},
          {"LastError", last_error_},
          {"LastErrorMessage", last_error_message_}};
}

void Acls::Replicate(const std::string& kind, uint64_t min_index) {
  if (!hooks_.fetch) return ReplicationFailed(kind, "no way to reach the primary datacenter");
  hooks_.fetch(kind, min_index,
               [this, kind, gen = generation_, alive = alive_](Result<Json> list, uint64_t index) {
                 if (!*alive || gen != generation_ || !replicating_) return;
                 if (!list.ok()) return ReplicationFailed(kind, list.status().message());
                 if (!list->is_array() || index == 0) {
                   return ReplicationFailed(kind, "the primary's answer is not an indexed list");
                 }
                 catalog::AclRequest req;
                 req.op = catalog::AclOp::kReplicate;
                 req.kind = kind;
                 req.object = std::move(*list);
                 server_.Apply(std::move(req), [this, kind, index, gen,
                                                alive](catalog::ApplyResult r) {
                   if (!*alive || gen != generation_ || !replicating_) return;
                   if (!r.status.ok()) return ReplicationFailed(kind, r.status.message());
                   Replica& rep = replicas_[kind];
                   rep.index = index;
                   rep.backoff = std::chrono::milliseconds(500);
                   if (kind == "tokens") tokens_copied_ = true;
                   last_success_ = FormatTime(NowUnixNs());
                   // Next round: a blocking read past what was copied.
                   Replicate(kind, index);
                 });
               });
}

void Acls::ReplicationFailed(const std::string& kind, const std::string& why) {
  std::string message = "ACL " + kind + " replication from '" + primary_datacenter() +
                        "' failed: " + why;
  if (message != last_error_message_) LogWarn("agent.server.acl", message + "; retrying");
  last_error_message_ = message;
  last_error_ = FormatTime(NowUnixNs());
  Replica& rep = replicas_[kind];
  auto delay = rep.backoff;
  rep.backoff = std::min(rep.backoff * 2, std::chrono::milliseconds(30'000));
  rep.retry = server_.loop().After(delay, [this, kind, gen = generation_, alive = alive_] {
    if (*alive && gen == generation_ && replicating_) Replicate(kind, 0);
  });
}

void Acls::OnLeadership(bool leader) {
  if (enabled() && !primary()) {
    ++generation_;
    replicas_.clear();
    replicating_ = leader;
    if (!leader) return;
    LogInfo("agent.server.acl", "starting ACL replication from the primary datacenter '" +
                                    primary_datacenter() + "'");
    Replicate("policies", 0);
    Replicate("roles", 0);
    if (options_.config.enable_token_replication) Replicate("tokens", 0);
    return;
  }
  if (!leader || !enabled() || !primary() || ensuring_) return;
  // Each step writes at most one object and runs the next when it is applied.
  auto steps = std::make_shared<std::vector<std::function<void(std::function<void()>)>>>();
  auto ensure_policy = [this](const char* id, const char* name, const std::string& rules,
                              const char* description) {
    return [this, id, name, rules, description](std::function<void()> next) {
      Json existing;
      server_.store().AclPolicy(nullptr, id, &existing);
      if (!existing.is_null()) return next();
      Json p = {{"ID", id},           {"Name", name},          {"Description", description},
                {"Rules", rules},     {"Datacenters", Json::array()}};
      p["Hash"] = HashOf(p);
      Write(static_cast<int>(catalog::AclOp::kPolicySet), p, "", 0, nullptr,
            [next](Result<Json>) { next(); });
    };
  };
  steps->push_back(ensure_policy(acl::kGlobalManagementPolicyID, acl::kGlobalManagementPolicyName,
                                 acl::GlobalManagementRules(), "Builtin Policy that grants unlimited access"));
  steps->push_back(ensure_policy(acl::kGlobalReadOnlyPolicyID, acl::kGlobalReadOnlyPolicyName,
                                 acl::GlobalReadOnlyRules(),
                                 "Builtin Policy that grants unlimited read-only access to all components"));
  auto ensure_token = [this](std::string accessor, std::string secret, std::string description,
                             bool management) {
    return [this, accessor, secret, description, management](std::function<void()> next) {
      Json existing;
      server_.store().AclTokenBySecret(nullptr, secret, &existing);
      if (!existing.is_null()) return next();
      std::string acc = accessor.empty() ? NewUuid() : accessor;
      Json t = {{"AccessorID", acc},     {"SecretID", secret}, {"Description", description},
                {"Local", false},        {"CreateTime", FormatTime(NowUnixNs())}};
      if (management) {
        t["Policies"] = Json::array(
            {{{"ID", acl::kGlobalManagementPolicyID}, {"Name", acl::kGlobalManagementPolicyName}}});
      }
      t["Hash"] = HashOf(t);
      // The initial management token uses up the bootstrap when nobody bootstrapped yet, as
      // Consul's initializeACLs does; later it is written as any token.
      const bool bootstrap = management && server_.store().AclBootstrapIndex() == 0;
      Write(static_cast<int>(bootstrap ? catalog::AclOp::kBootstrap : catalog::AclOp::kTokenSet),
            t, "", 0, nullptr, [next](Result<Json>) { next(); });
    };
  };
  steps->push_back(
      ensure_token(acl::kAnonymousAccessorID, acl::kAnonymousSecretID, "Anonymous Token", false));
  if (!options_.config.tokens.initial_management.empty()) {
    steps->push_back(ensure_token("", options_.config.tokens.initial_management,
                                  "Initial Management Token", true));
  }
  ensuring_ = true;
  ensure_steps_ = std::move(*steps);
  EnsureFrom(0);
}

void Acls::EnsureFrom(size_t i) {
  if (i >= ensure_steps_.size() || !server_.IsLeader()) {
    ensuring_ = false;
    // The steps stay until the next leadership: one of them may still be on the stack here.
    if (i >= ensure_steps_.size()) LogInfo("agent.server.acl", "ACL system initialized");
    return;
  }
  ensure_steps_[i]([this, i, alive = alive_] {
    if (*alive) EnsureFrom(i + 1);
  });
}

ExpandedToken Acls::ExpandStored(const Json& token) const {
  const catalog::Store& store = server_.store();
  Json out = {{"AccessorID", Str(token, "AccessorID")},
              {"Description", Str(token, "Description")},
              {"Local", token.value("Local", false)}};
  if (token.contains("ExpirationTime")) out["ExpirationTime"] = token["ExpirationTime"];
  Json policies = Json::array(), services = Json::array(), nodes = Json::array(),
       roles = Json::array();
  std::set<std::string> seen;
  auto add_policies = [&](const Json& links) {
    if (!links.is_array()) return;
    for (const auto& l : links) {
      std::string id = Str(l, "ID");
      if (id.empty() || !seen.insert(id).second) continue;
      Json p;
      store.AclPolicy(nullptr, id, &p);
      if (p.is_null()) continue;
      policies.push_back({{"ID", id},
                          {"Name", Str(p, "Name")},
                          {"Rules", Str(p, "Rules")},
                          {"Datacenters", p.value("Datacenters", Json::array())}});
    }
  };
  auto add = [](Json* to, const Json& from) {
    if (!from.is_array()) return;
    for (const auto& x : from) to->push_back(x);
  };
  add_policies(token.value("Policies", Json::array()));
  add(&services, token.value("ServiceIdentities", Json::array()));
  add(&nodes, token.value("NodeIdentities", Json::array()));
  for (const auto& l : token.value("Roles", Json::array())) {
    Json r;
    store.AclRole(nullptr, Str(l, "ID"), &r);
    if (r.is_null()) continue;
    roles.push_back({{"ID", Str(r, "ID")}, {"Name", Str(r, "Name")}});
    add_policies(r.value("Policies", Json::array()));
    add(&services, r.value("ServiceIdentities", Json::array()));
    add(&nodes, r.value("NodeIdentities", Json::array()));
  }
  out["Policies"] = std::move(policies);
  out["Roles"] = std::move(roles);
  out["ServiceIdentities"] = std::move(services);
  out["NodeIdentities"] = std::move(nodes);
  return out;
}

Result<ExpandedToken> Acls::Expand(std::string_view secret) {
  Json token;
  server_.store().AclTokenBySecret(nullptr, secret, &token);
  if (token.is_null() || TokenExpired(token, NowUnixNs())) return NotFound(acl::kAclNotFound);
  return ExpandStored(token);
}

Result<AclIdentity> Acls::Resolve(std::string_view secret) {
  const catalog::Store& store = server_.store();
  Json ignored;
  // Any change to any ACL table invalidates every cached authorizer: writes are rare, reads
  // are every request.
  const AclVersion version{store.AclToken(nullptr, "", &ignored),
                           store.AclPolicy(nullptr, "", &ignored),
                           store.AclRole(nullptr, "", &ignored)};
  auto it = cache_.find(secret);
  if (it != cache_.end() && it->second.version == version &&
      !TokenExpired(it->second.identity.token, NowUnixNs())) {
    return it->second.identity;
  }
  Json token;
  store.AclTokenBySecret(nullptr, secret, &token);
  if (token.is_null() || TokenExpired(token, NowUnixNs())) {
    if (it != cache_.end()) cache_.erase(it);
    return NotFound(acl::kAclNotFound);
  }
  AclIdentity id;
  id.accessor = Str(token, "AccessorID");
  id.authz = BuildAuthorizer(ExpandStored(token), options_.datacenter, options_.config.default_allow);
  id.token = std::move(token);
  if (cache_.size() > 10'000) cache_.clear();  // bounded; rebuilt on demand
  cache_[std::string(secret)] = CacheEntry{id, version};
  return id;
}

Json Acls::WithLinkNames(Json object) const {
  const catalog::Store& store = server_.store();
  for (const char* field : {"Policies", "Roles"}) {
    auto it = object.find(field);
    if (it == object.end() || !it->is_array()) continue;
    Json kept = Json::array();
    for (const auto& l : *it) {
      Json o;
      if (std::string(field) == "Policies") {
        store.AclPolicy(nullptr, Str(l, "ID"), &o);
      } else {
        store.AclRole(nullptr, Str(l, "ID"), &o);
      }
      if (o.is_null()) continue;
      kept.push_back({{"ID", Str(o, "ID")}, {"Name", Str(o, "Name")}});
    }
    if (kept.empty()) {
      object.erase(field);
    } else {
      *it = std::move(kept);
    }
  }
  return object;
}

void Acls::Write(int op, Json object, const std::string& id, uint64_t cas, const char* read_back,
                 Done done) {
  catalog::AclRequest req;
  req.op = static_cast<catalog::AclOp>(op);
  req.object = std::move(object);
  req.id = id;
  req.cas = cas;
  std::string key = req.object.is_object()
                        ? Str(req.object, req.op == catalog::AclOp::kTokenSet ||
                                                  req.op == catalog::AclOp::kBootstrap
                                              ? "AccessorID"
                                              : "ID")
                        : id;
  std::string kind = read_back == nullptr ? "" : read_back;
  server_.Apply(std::move(req), [this, done = std::move(done), key, kind](catalog::ApplyResult r) {
    if (!r.status.ok()) return done(r.status);
    Json stored = true;
    if (kind == "token") {
      server_.store().AclToken(nullptr, key, &stored);
    } else if (kind == "policy") {
      server_.store().AclPolicy(nullptr, key, &stored);
    } else if (kind == "role") {
      server_.store().AclRole(nullptr, key, &stored);
    }
    if (stored.is_null()) return done(Internal("the written ACL object is gone"));
    if (stored.is_object()) stored = WithLinkNames(std::move(stored));
    done(std::move(stored));
  });
}

void Acls::SetPolicy(const Json& raw, const std::string& url_id, bool create, Done done) {
  Json p = Fold(raw, {"ID", "Name", "Description", "Rules", "Datacenters"});
  std::string id = Str(p, "ID");
  if (create && !id.empty()) return done(Invalid("Cannot specify the ID when creating a new policy"));
  if (!create) {
    if (id.empty()) id = url_id;
    if (id != url_id) return done(Invalid("Policy ID in URL and payload do not match"));
  }
  std::string name = Str(p, "Name");
  if (name.empty()) return done(Invalid("Invalid Policy: no Name is set"));
  if (!acl::ValidPolicyName(name)) {
    return done(Invalid("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' "
                        "are allowed, with an optional single '/' in between"));
  }
  if (p.contains("Rules") && !p["Rules"].is_string()) {
    return done(Invalid("Policy decoding failed: Rules: expected a string"));
  }
  std::string rules = Str(p, "Rules");
  if (auto parsed = acl::ParseRules(rules); !parsed.ok()) {
    return done(Invalid("Invalid Policy: failed to parse rules: " + parsed.status().message()));
  }
  Json dcs = p.value("Datacenters", Json::array());
  if (dcs.is_null()) dcs = Json::array();  // what Go sends for an empty list
  if (!dcs.is_array()) return done(Invalid("Policy decoding failed: Datacenters: expected a list"));
  for (const auto& d : dcs) {
    if (!d.is_string() || d.get<std::string>().empty()) {
      return done(Invalid("Invalid Policy: Datacenters must be non-empty strings"));
    }
  }
  const catalog::Store& store = server_.store();
  Json existing;
  if (!create) {
    store.AclPolicy(nullptr, id, &existing);
    if (existing.is_null()) {
      return done(NotFound("Cannot find policy " + id));
    }
    if (id == acl::kGlobalManagementPolicyID && rules != Str(existing, "Rules")) {
      return done(Invalid("Changing the Rules for the builtin global-management policy is not permitted"));
    }
    if (id == acl::kGlobalManagementPolicyID && !dcs.empty()) {
      return done(Invalid("Changing the Datacenters of the builtin global-management policy is not permitted"));
    }
  } else {
    id = NewUuid();
  }
  Json same;
  store.AclPolicyByName(nullptr, name, &same);
  if (!same.is_null() && Str(same, "ID") != id) {
    return done(Invalid("Invalid Policy: A Policy with Name \"" + name + "\" already exists"));
  }
  Json stored = {{"ID", id},
                 {"Name", name},
                 {"Description", Str(p, "Description")},
                 {"Rules", rules},
                 {"Datacenters", dcs}};
  stored["Hash"] = HashOf(stored);
  Write(static_cast<int>(catalog::AclOp::kPolicySet), stored, "", 0, "policy", std::move(done));
}

void Acls::DeletePolicy(const std::string& id, Done done) {
  if (id == acl::kGlobalManagementPolicyID) {
    return done(PermissionDenied("Delete operation not permitted on the builtin global-management policy"));
  }
  Json existing;
  server_.store().AclPolicy(nullptr, id, &existing);
  if (existing.is_null()) return done(NotFound("Cannot find policy to delete"));
  Write(static_cast<int>(catalog::AclOp::kPolicyDelete), nullptr, id, 0, nullptr, std::move(done));
}

Result<Json> Acls::CheckLinks(Json links, const char* what, bool policies) const {
  if (links.is_null()) return Json::array();
  if (!links.is_array()) return Invalid(std::string(what) + ": expected a list");
  const catalog::Store& store = server_.store();
  Json out = Json::array();
  std::set<std::string> seen;
  for (const auto& raw : links) {
    Json l = Fold(raw, {"ID", "Name"});
    std::string id = Str(l, "ID"), name = Str(l, "Name");
    Json o;
    const char* kind = policies ? "policy" : "role";
    if (!id.empty()) {
      if (policies) store.AclPolicy(nullptr, id, &o); else store.AclRole(nullptr, id, &o);
      if (o.is_null()) {
        return Invalid(std::string("No such ACL ") + kind + " with ID \"" + id + "\"");
      }
    } else if (!name.empty()) {
      if (policies) store.AclPolicyByName(nullptr, name, &o); else store.AclRoleByName(nullptr, name, &o);
      if (o.is_null()) {
        return Invalid(std::string("No such ACL ") + kind + " with name \"" + name + "\"");
      }
    } else {
      return Invalid(std::string(what) + ": a link needs an ID or a Name");
    }
    if (!seen.insert(Str(o, "ID")).second) continue;
    out.push_back({{"ID", Str(o, "ID")}, {"Name", Str(o, "Name")}});
  }
  return out;
}

namespace {

Result<Json> CheckIdentities(const Json& services, const Json& nodes, bool local, Json* out) {
  Json s = Json::array(), n = Json::array();
  if (!services.is_null()) {
    if (!services.is_array()) return Invalid("ServiceIdentities: expected a list");
    for (const auto& raw : services) {
      Json id = Fold(raw, {"ServiceName", "Datacenters"});
      std::string name = Str(id, "ServiceName");
      if (!acl::ValidServiceIdentityName(name)) {
        return Invalid("Invalid ServiceIdentity provided. ServiceName \"" + name +
                       "\" must match ^[a-z0-9]([a-z0-9\\-_]*[a-z0-9])?$");
      }
      Json dcs = id.value("Datacenters", Json::array());
      if (dcs.is_null()) dcs = Json::array();
      if (!dcs.is_array()) return Invalid("ServiceIdentities.Datacenters: expected a list");
      if (local && !dcs.empty()) {
        return Invalid("Service identity \"" + name + "\" cannot specify a list of datacenters on a local token");
      }
      Json e = {{"ServiceName", name}};
      if (!dcs.empty()) e["Datacenters"] = dcs;
      s.push_back(std::move(e));
    }
  }
  if (!nodes.is_null()) {
    if (!nodes.is_array()) return Invalid("NodeIdentities: expected a list");
    for (const auto& raw : nodes) {
      Json id = Fold(raw, {"NodeName", "Datacenter"});
      std::string name = Str(id, "NodeName"), dc = Str(id, "Datacenter");
      if (name.empty()) return Invalid("Invalid NodeIdentity provided. NodeName is required");
      if (dc.empty()) {
        return Invalid("Node identity \"" + name + "\" must have a datacenter");
      }
      n.push_back({{"NodeName", name}, {"Datacenter", dc}});
    }
  }
  (*out)["ServiceIdentities"] = std::move(s);
  (*out)["NodeIdentities"] = std::move(n);
  return Json();
}

void DropEmpty(Json* o) {
  for (const char* f : {"Policies", "Roles", "ServiceIdentities", "NodeIdentities"}) {
    auto it = o->find(f);
    if (it != o->end() && (it->is_null() || (it->is_array() && it->empty()))) o->erase(it);
  }
}

}  // namespace

void Acls::SetRole(const Json& raw, const std::string& url_id, bool create, Done done) {
  Json r = Fold(raw, {"ID", "Name", "Description", "Policies", "ServiceIdentities",
                      "NodeIdentities"});
  std::string id = Str(r, "ID");
  if (create && !id.empty()) return done(Invalid("Cannot specify the ID when creating a new role"));
  if (!create) {
    if (id.empty()) id = url_id;
    if (id != url_id) return done(Invalid("Role ID in URL and payload do not match"));
    Json existing;
    server_.store().AclRole(nullptr, id, &existing);
    if (existing.is_null()) return done(NotFound("Cannot find role " + id));
  } else {
    id = NewUuid();
  }
  std::string name = Str(r, "Name");
  if (name.empty()) return done(Invalid("Invalid Role: no Name is set"));
  if (!acl::ValidRoleName(name)) {
    return done(Invalid("Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"));
  }
  Json same;
  server_.store().AclRoleByName(nullptr, name, &same);
  if (!same.is_null() && Str(same, "ID") != id) {
    return done(Invalid("Invalid Role: A Role with Name \"" + name + "\" already exists"));
  }
  auto policies = CheckLinks(r.value("Policies", Json()), "Policies", true);
  if (!policies.ok()) return done(policies.status());
  Json stored = {{"ID", id}, {"Name", name}, {"Description", Str(r, "Description")},
                 {"Policies", *policies}};
  if (auto s = CheckIdentities(r.value("ServiceIdentities", Json()),
                               r.value("NodeIdentities", Json()), false, &stored);
      !s.ok()) {
    return done(s.status());
  }
  DropEmpty(&stored);
  stored["Hash"] = HashOf(stored);
  Write(static_cast<int>(catalog::AclOp::kRoleSet), stored, "", 0, "role", std::move(done));
}

void Acls::DeleteRole(const std::string& id, Done done) {
  Json existing;
  server_.store().AclRole(nullptr, id, &existing);
  if (existing.is_null()) return done(NotFound("Cannot find role to delete"));
  Write(static_cast<int>(catalog::AclOp::kRoleDelete), nullptr, id, 0, nullptr, std::move(done));
}

Result<Json> Acls::CheckToken(Json raw, const std::string& url_accessor, bool create) const {
  Json t = Fold(raw, {"AccessorID", "SecretID", "Description", "Policies", "Roles",
                      "ServiceIdentities", "NodeIdentities", "Local", "ExpirationTime",
                      "ExpirationTTL"});
  const catalog::Store& store = server_.store();
  std::string accessor = Str(t, "AccessorID"), secret = Str(t, "SecretID");
  Json existing;
  if (!create) {
    if (accessor.empty()) accessor = url_accessor;
    if (accessor != url_accessor) {
      return Invalid("Token Accessor ID in URL and payload do not match");
    }
    store.AclToken(nullptr, accessor, &existing);
    if (existing.is_null()) return NotFound("Cannot find token " + accessor);
    if (!secret.empty() && secret != Str(existing, "SecretID")) {
      return Invalid("Changing a token's SecretID is not permitted");
    }
    secret = Str(existing, "SecretID");
  } else {
    if (accessor.empty()) {
      accessor = NewUuid();
    } else {
      if (!IsUuid(accessor)) return Invalid("Invalid Token: AccessorID is not a valid UUID");
      if (IsReserved(accessor)) return Invalid("Invalid Token: UUIDs with the prefix \"" + std::string(acl::kReservedIDPrefix) + "\" are reserved");
      store.AclToken(nullptr, accessor, &existing);
      if (!existing.is_null()) return Invalid("Invalid Token: AccessorID is already in use");
    }
    if (secret.empty()) {
      secret = NewUuid();
    } else {
      if (!IsUuid(secret)) return Invalid("Invalid Token: SecretID is not a valid UUID");
      if (IsReserved(secret)) return Invalid("Invalid Token: UUIDs with the prefix \"" + std::string(acl::kReservedIDPrefix) + "\" are reserved");
    }
    Json other;
    store.AclTokenBySecret(nullptr, secret, &other);
    if (!other.is_null()) return Invalid("Invalid Token: SecretID is already in use");
  }
  const bool was_local = existing.is_object() && existing.value("Local", false);
  bool local = t.contains("Local") && t["Local"].is_boolean() ? t["Local"].get<bool>() : was_local;
  if (!create && local != was_local) {
    return Invalid("Cannot toggle local mode of " + accessor);
  }
  auto policies = CheckLinks(t.value("Policies", Json()), "Policies", true);
  if (!policies.ok()) return policies.status();
  auto roles = CheckLinks(t.value("Roles", Json()), "Roles", false);
  if (!roles.ok()) return roles.status();
  Json stored = {{"AccessorID", accessor},
                 {"SecretID", secret},
                 {"Description", Str(t, "Description")},
                 {"Policies", *policies},
                 {"Roles", *roles},
                 {"Local", local}};
  if (auto s = CheckIdentities(t.value("ServiceIdentities", Json()),
                               t.value("NodeIdentities", Json()), local, &stored);
      !s.ok()) {
    return s.status();
  }
  int64_t now = NowUnixNs();
  stored["CreateTime"] = create ? FormatTime(now) : Str(existing, "CreateTime");
  if (!create) {
    if (existing.contains("ExpirationTime")) stored["ExpirationTime"] = existing["ExpirationTime"];
  } else if (t.contains("ExpirationTTL") && !t["ExpirationTTL"].is_null()) {
    std::chrono::nanoseconds ttl{0};
    const Json& v = t["ExpirationTTL"];
    if (v.is_string()) {
      auto d = ParseDuration(v.get<std::string>());
      if (!d.ok()) return Invalid("Token decoding failed: ExpirationTTL: " + d.status().message());
      ttl = *d;
    } else if (v.is_number_integer()) {
      ttl = std::chrono::nanoseconds(v.get<int64_t>());
    } else {
      return Invalid("Token decoding failed: ExpirationTTL: expected a duration");
    }
    if (ttl < std::chrono::minutes(1)) {
      return Invalid("Token Expiration TTL '" + FormatDuration(ttl) +
                     "' should be > 1m0s (the minimum)");
    }
    if (t.contains("ExpirationTime")) {
      return Invalid("Token Expiration TTL and Expiration Time cannot both be set");
    }
    stored["ExpirationTime"] = FormatTime(now + ttl.count());
  } else if (t.contains("ExpirationTime") && !t["ExpirationTime"].is_null()) {
    int64_t exp = 0;
    if (!t["ExpirationTime"].is_string() || !ParseTime(t["ExpirationTime"], &exp)) {
      return Invalid("Token decoding failed: ExpirationTime: expected an RFC 3339 time");
    }
    if (exp <= now) return Invalid("ExpirationTime cannot be in the past");
    stored["ExpirationTime"] = t["ExpirationTime"];
  }
  DropEmpty(&stored);
  stored["Hash"] = HashOf(stored);
  return stored;
}

void Acls::SetToken(const Json& body, const std::string& url_accessor, bool create, Done done) {
  auto t = CheckToken(body, url_accessor, create);
  if (!t.ok()) return done(t.status());
  Write(static_cast<int>(catalog::AclOp::kTokenSet), std::move(*t), "", 0, "token",
        std::move(done));
}

void Acls::CloneToken(const std::string& accessor, const Json& body, Done done) {
  Json existing;
  server_.store().AclToken(nullptr, accessor, &existing);
  if (existing.is_null()) return done(NotFound("Cannot find token to clone"));
  Json t = existing;
  for (const char* f : {"AccessorID", "SecretID", "CreateIndex", "ModifyIndex", "Hash",
                        "CreateTime"}) {
    t.erase(f);
  }
  // An empty Description (what Consul's CLI always sends) keeps the original's.
  Json b = Fold(body, {"Description"});
  if (b.contains("Description") && b["Description"].is_string() &&
      !b["Description"].get<std::string>().empty()) {
    t["Description"] = b["Description"];
  }
  if (b.contains("Description") && b["Description"].is_string()) t["Description"] = b["Description"];
  // The clone keeps the original's expiration as a time, not a new TTL.
  Json exp = t.contains("ExpirationTime") ? t["ExpirationTime"] : Json();
  t.erase("ExpirationTime");
  auto checked = CheckToken(t, "", true);
  if (!checked.ok()) return done(checked.status());
  if (!exp.is_null()) {
    (*checked)["ExpirationTime"] = exp;
    (*checked)["Hash"] = HashOf(*checked);
  }
  Write(static_cast<int>(catalog::AclOp::kTokenSet), std::move(*checked), "", 0, "token",
        std::move(done));
}

void Acls::DeleteToken(const std::string& accessor, const std::string& requester_accessor,
                       Done done) {
  if (!IsUuid(accessor)) return done(Invalid("Accessor ID is missing or an invalid UUID"));
  if (accessor == acl::kAnonymousAccessorID) {
    return done(PermissionDenied("Delete operation not permitted on the anonymous token"));
  }
  if (accessor == requester_accessor) {
    return done(PermissionDenied("Deletion of the request's authorization token is not permitted"));
  }
  Json existing;
  server_.store().AclToken(nullptr, accessor, &existing);
  if (existing.is_null()) return done(NotFound("Cannot find token to delete"));
  Write(static_cast<int>(catalog::AclOp::kTokenDelete), nullptr, accessor, 0, nullptr,
        std::move(done));
}

void Acls::Bootstrap(const std::string& chosen_secret, uint64_t reset_index, Done done) {
  const catalog::Store& store = server_.store();
  uint64_t done_at = store.AclBootstrapIndex();
  if (done_at != 0 && reset_index == 0) {
    return done(PermissionDenied("ACL bootstrap no longer allowed (reset index: " +
                                 std::to_string(done_at) + ")"));
  }
  if (done_at != 0 && reset_index != done_at) {
    return done(InvalidArgument("Invalid bootstrap reset index (specified " +
                                std::to_string(reset_index) + ", reset index: " +
                                std::to_string(done_at) + ")"));
  }
  std::string secret = chosen_secret.empty() ? NewUuid() : chosen_secret;
  if (!IsUuid(secret)) return done(Invalid("BootstrapSecret: expected a UUID"));
  Json t = {{"AccessorID", NewUuid()},
            {"SecretID", secret},
            {"Description", "Bootstrap Token (Global Management)"},
            {"Policies", Json::array({{{"ID", acl::kGlobalManagementPolicyID},
                                       {"Name", acl::kGlobalManagementPolicyName}}})},
            {"Local", false},
            {"CreateTime", FormatTime(NowUnixNs())}};
  t["Hash"] = HashOf(t);
  Write(static_cast<int>(catalog::AclOp::kBootstrap), std::move(t), "", reset_index, "token",
        std::move(done));
}

}  // namespace gangway::server
