// /v1/acl: Consul's ACL API (docs/acl.md) — bootstrap, policies, roles, tokens, token/self,
// replication status — and the agent's token endpoint. Policies, roles and global tokens are
// written in the primary datacenter (a secondary forwards those writes there, as ?dc= would);
// reads of policies and roles are served from this datacenter's replica. Tokens live in the
// primary unless a secondary replicates them (acl.enable_token_replication), or are local.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "acl/builtin.h"
#include "api/acl_resolver.h"
#include "api/http_api.h"
#include "core/log.h"
#include "core/strings.h"
#include "server/acl.h"

namespace gangway::api {
namespace {

using catalog::Json;
using acl::Level;
using acl::Resource;

// Consul's answer while ACLs are off.
bool Enabled(Call& call) {
  if (call.backend.acl.enabled && call.backend.server != nullptr &&
      call.backend.server->acls() != nullptr) {
    return true;
  }
  if (!call.backend.acl.enabled) {
    call.Error(401, acl::kAclDisabled);
  } else {
    call.Error(500, "No known Consul servers");
  }
  return false;
}

server::Acls& Acls(Call& call) { return *call.backend.server->acls(); }

// The primary answers for every ACL object; a secondary forwards reads and writes there, except
// its own local tokens and, when it replicates tokens, the resolution of a token (token/self
// and the internal resolve), which its replica answers.
bool TokensHere(Call& call) { return Acls(call).primary(); }
bool ResolvesHere(Call& call) { return Acls(call).ResolvesLocally(); }
bool LocalTokensHere(Call& call) {
  return Acls(call).primary() || call.backend.acl.enable_token_replication;
}

http::Response WriteFailed(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
      return ErrorResponse(400, s.message());
    case Code::kNotFound:
      return ErrorResponse(404, s.message());
    case Code::kPermissionDenied:
      return ErrorResponse(403, "Permission denied: " + s.message());
    default:
      return StatusResponse(s);
  }
}

// What a token that may not write ACLs sees of another token: everything but its secret.
Json Redacted(Json token) {
  if (token.contains("SecretID")) token["SecretID"] = "<hidden>";
  return token;
}

void Answer(Call& call, server::Acls::Done* out) {
  auto reply = std::move(call.reply);
  *out = [reply](Result<Json> r) {
    if (!r.ok()) return reply(WriteFailed(r.status()));
    reply(JsonResponse(*r));
  };
}

bool ReadBody(Call& call, Json* body, const char* what) {
  if (call.req.body.empty()) {
    *body = Json::object();
    return true;
  }
  try {
    *body = Json::parse(call.req.body);
  } catch (const Json::parse_error& e) {
    std::string m = e.what();
    auto pos = m.find("] ");
    call.Error(400, std::string(what) + " decoding failed: " +
                        (pos == std::string::npos ? m : m.substr(pos + 2)));
    return false;
  }
  if (!body->is_object()) {
    call.Error(400, std::string(what) + " decoding failed: expected a JSON object");
    return false;
  }
  return true;
}

// A blocking read of one ACL table.
void Read(Call& call, std::function<catalog::Index(catalog::WatchSet*, Json*)> read,
          const char* kind) {
  std::string kind_name = kind;
  Blocking(call.backend, call.opts,
           [read, kind_name](catalog::WatchSet* ws, http::Response* out) {
             Json body;
             catalog::Index index = read(ws, &body);
             if (body.is_null()) {
               *out = ErrorResponse(404, "Requested " + kind_name + " does not exist: ACL not found");
             } else {
               *out = JsonResponse(body);
             }
             return index;
           },
           call.cancel, std::move(call.reply));
}

// ---- bootstrap

void Bootstrap(Call& call) {
  if (!Enabled(call)) return;
  if (!Acls(call).primary()) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  Json body;
  if (!ReadBody(call, &body, "Request")) return;
  std::string chosen;
  for (const auto& [k, v] : body.items()) {
    if (ToLower(k) == "bootstrapsecret" && v.is_string()) chosen = v.get<std::string>();
  }
  // Consul's reset procedure: the index written into <data_dir>/acl-bootstrap-reset.
  uint64_t reset = 0;
  std::filesystem::path file;
  if (!call.backend.info.data_dir.empty()) {
    file = std::filesystem::path(call.backend.info.data_dir) / "acl-bootstrap-reset";
    std::ifstream in(file);
    std::string text;
    if (in && std::getline(in, text)) {
      while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
      try {
        reset = std::stoull(text);
      } catch (const std::exception&) {
        return call.Error(400, "Invalid bootstrap reset index in " + file.string() + ": \"" +
                                   text + "\" (expected the reset index Consul reported)");
      }
    }
  }
  auto reply = std::move(call.reply);
  Acls(call).Bootstrap(chosen, reset, [reply, file, reset](Result<Json> r) {
    if (!r.ok()) return reply(WriteFailed(r.status()));
    if (reset != 0) {
      std::error_code ec;
      std::filesystem::remove(file, ec);
    }
    Json t = *r;
    t["ID"] = t["SecretID"];  // the legacy key Consul still sends
    reply(JsonResponse(t));
  });
}

// ---- policies

void Policies(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  Blocking(call.backend, call.opts,
           [store](catalog::WatchSet* ws, http::Response* out) {
             std::vector<Json> list;
             catalog::Index index = store->AclPolicies(ws, &list);
             Json rows = Json::array();
             for (auto& p : list) {
               p.erase("Rules");  // list stubs
               rows.push_back(std::move(p));
             }
             *out = JsonResponse(rows);
             return index;
           },
           call.cancel, std::move(call.reply));
}

void PolicyCreate(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kWrite)) return;
  if (!Acls(call).primary()) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  Json body;
  if (!ReadBody(call, &body, "Policy")) return;
  server::Acls::Done done;
  server::Acls& acls = Acls(call);
  Answer(call, &done);
  acls.SetPolicy(body, "", true, std::move(done));
}

void Policy(Call& call) {
  if (!Enabled(call)) return;
  const bool write = call.req.method != "GET";
  if (!Authorize(call, Resource::kAcl, "", write ? Level::kWrite : Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  if (StartsWith(call.rest, "name/")) {
    if (write) return call.Error(405, "method " + call.req.method + " not allowed");
    std::string name = call.rest.substr(5);
    if (name.empty()) return call.Error(400, "Missing policy Name");
    return Read(call, [store, name](catalog::WatchSet* ws, Json* out) {
      return store->AclPolicyByName(ws, name, out);
    }, "policy");
  }
  std::string id = call.rest;
  if (id.empty()) return call.Error(400, "Missing policy ID");
  if (!write) {
    return Read(call, [store, id](catalog::WatchSet* ws, Json* out) {
      return store->AclPolicy(ws, id, out);
    }, "policy");
  }
  if (!Acls(call).primary()) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  server::Acls& acls = Acls(call);
  if (call.req.method == "DELETE") {
    server::Acls::Done done;
    Answer(call, &done);
    return acls.DeletePolicy(id, std::move(done));
  }
  Json body;
  if (!ReadBody(call, &body, "Policy")) return;
  server::Acls::Done done;
  Answer(call, &done);
  acls.SetPolicy(body, id, false, std::move(done));
}

// ---- roles

void Roles(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  server::Acls* acls = &Acls(call);
  std::string policy = call.req.Query("policy").value_or("");
  Blocking(call.backend, call.opts,
           [store, acls, policy](catalog::WatchSet* ws, http::Response* out) {
             std::vector<Json> list;
             catalog::Index index = store->AclRoles(ws, &list);
             Json rows = Json::array();
             for (auto& r : list) {
               if (!policy.empty()) {
                 bool has = false;
                 for (const auto& l : r.value("Policies", Json::array())) {
                   has = has || l.value("ID", "") == policy;
                 }
                 if (!has) continue;
               }
               rows.push_back(acls->WithLinkNames(std::move(r)));
             }
             *out = JsonResponse(rows);
             return index;
           },
           call.cancel, std::move(call.reply));
}

void RoleCreate(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kWrite)) return;
  if (!Acls(call).primary()) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  Json body;
  if (!ReadBody(call, &body, "Role")) return;
  server::Acls& acls = Acls(call);
  server::Acls::Done done;
  Answer(call, &done);
  acls.SetRole(body, "", true, std::move(done));
}

void Role(Call& call) {
  if (!Enabled(call)) return;
  const bool write = call.req.method != "GET";
  if (!Authorize(call, Resource::kAcl, "", write ? Level::kWrite : Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  server::Acls* acls = &Acls(call);
  if (StartsWith(call.rest, "name/")) {
    if (write) return call.Error(405, "method " + call.req.method + " not allowed");
    std::string name = call.rest.substr(5);
    if (name.empty()) return call.Error(400, "Missing role Name");
    return Read(call, [store, acls, name](catalog::WatchSet* ws, Json* out) {
      auto i = store->AclRoleByName(ws, name, out);
      if (!out->is_null()) *out = acls->WithLinkNames(*out);
      return i;
    }, "role");
  }
  std::string id = call.rest;
  if (id.empty()) return call.Error(400, "Missing role ID");
  if (!write) {
    return Read(call, [store, acls, id](catalog::WatchSet* ws, Json* out) {
      auto i = store->AclRole(ws, id, out);
      if (!out->is_null()) *out = acls->WithLinkNames(*out);
      return i;
    }, "role");
  }
  if (!acls->primary()) return ForwardToPrimary(call, acls->primary_datacenter());
  server::Acls::Done done;
  if (call.req.method == "DELETE") {
    Answer(call, &done);
    return acls->DeleteRole(id, std::move(done));
  }
  Json body;
  if (!ReadBody(call, &body, "Role")) return;
  Answer(call, &done);
  acls->SetRole(body, id, false, std::move(done));
}

// ---- tokens

bool BodyIsLocal(const Json& body) {
  for (const auto& [k, v] : body.items()) {
    if (ToLower(k) == "local" && v.is_boolean()) return v.get<bool>();
  }
  return false;
}

void Tokens(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  server::Acls* acls = &Acls(call);
  const bool secrets = Allowed(call, Resource::kAcl, "", Level::kWrite);
  std::string policy = call.req.Query("policy").value_or("");
  std::string role = call.req.Query("role").value_or("");
  std::string service = call.req.Query("servicename").value_or("");
  Blocking(call.backend, call.opts,
           [store, acls, secrets, policy, role, service](catalog::WatchSet* ws,
                                                         http::Response* out) {
             std::vector<Json> list;
             catalog::Index index = store->AclTokens(ws, &list);
             Json rows = Json::array();
             auto links = [](const Json& t, const char* field, const std::string& id) {
               for (const auto& l : t.value(field, Json::array())) {
                 if (l.value("ID", "") == id) return true;
               }
               return false;
             };
             for (auto& t : list) {
               if (!policy.empty() && !links(t, "Policies", policy)) continue;
               if (!role.empty() && !links(t, "Roles", role)) continue;
               if (!service.empty()) {
                 bool has = false;
                 for (const auto& s : t.value("ServiceIdentities", Json::array())) {
                   has = has || s.value("ServiceName", "") == service;
                 }
                 if (!has) continue;
               }
               if (!secrets) t = Redacted(std::move(t));
               rows.push_back(acls->WithLinkNames(std::move(t)));
             }
             *out = JsonResponse(rows);
             return index;
           },
           call.cancel, std::move(call.reply));
}

void TokenCreate(Call& call) {
  if (!Enabled(call) || !Authorize(call, Resource::kAcl, "", Level::kWrite)) return;
  Json body;
  if (!ReadBody(call, &body, "Token")) return;
  if (!BodyIsLocal(body) && !Acls(call).primary()) {
    return ForwardToPrimary(call, Acls(call).primary_datacenter());
  }
  if (BodyIsLocal(body) && !LocalTokensHere(call)) {
    // Consul's text for a secondary that does not replicate tokens.
    return call.Error(500, "Local tokens are disabled");
  }
  server::Acls& acls = Acls(call);
  server::Acls::Done done;
  Answer(call, &done);
  acls.SetToken(body, "", true, std::move(done));
}

void TokenSelf(Call& call) {
  if (!Enabled(call)) return;
  if (!ResolvesHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  std::string secret = RequestToken(call.req);
  if (secret.empty()) secret = call.backend.acl_resolver->DefaultSecret();
  Json token;
  call.backend.server->store().AclTokenBySecret(nullptr, secret, &token);
  if (token.is_null() || server::TokenExpired(token, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                         std::chrono::system_clock::now().time_since_epoch())
                                                         .count())) {
    return call.Error(403, acl::kAclNotFound);
  }
  call.Json(Acls(call).WithLinkNames(token));
}

void Token(Call& call) {
  if (!Enabled(call)) return;
  const bool write = call.req.method != "GET";
  if (!Authorize(call, Resource::kAcl, "", write ? Level::kWrite : Level::kRead)) return;
  std::string accessor = call.rest;
  bool clone = false;
  if (accessor.size() > 6 && accessor.compare(accessor.size() - 6, 6, "/clone") == 0) {
    accessor = accessor.substr(0, accessor.size() - 6);
    clone = true;
    if (call.req.method != "PUT" && call.req.method != "POST") {
      return call.Error(405, "method " + call.req.method + " not allowed");
    }
  }
  if (accessor.empty()) return call.Error(400, "Missing token AccessorID");
  auto* store = &call.backend.server->store();
  server::Acls* acls = &Acls(call);
  Json existing;
  store->AclToken(nullptr, accessor, &existing);
  // A secondary answers for its own local tokens only.
  const bool local_here = existing.is_object() && existing.value("Local", false);
  if (!TokensHere(call) && !local_here) return ForwardToPrimary(call, acls->primary_datacenter());
  if (!write) {
    const bool secrets = Allowed(call, Resource::kAcl, "", Level::kWrite);
    Blocking(call.backend, call.opts,
             [store, acls, accessor, secrets](catalog::WatchSet* ws, http::Response* out) {
               Json t;
               catalog::Index index = store->AclToken(ws, accessor, &t);
               if (t.is_null()) {
                 *out = ErrorResponse(404, "Requested token does not exist: ACL not found");
               } else {
                 if (!secrets) t = Redacted(std::move(t));
                 *out = JsonResponse(acls->WithLinkNames(std::move(t)));
               }
               return index;
             },
             call.cancel, std::move(call.reply));
    return;
  }
  const bool local = existing.is_object() && existing.value("Local", false);
  if (!local && !acls->primary()) return ForwardToPrimary(call, acls->primary_datacenter());
  server::Acls::Done done;
  if (call.req.method == "DELETE") {
    std::string me = call.accessor;
    Answer(call, &done);
    return acls->DeleteToken(accessor, me, std::move(done));
  }
  Json body;
  if (!ReadBody(call, &body, "Token")) return;
  Answer(call, &done);
  if (clone) return acls->CloneToken(accessor, body, std::move(done));
  acls->SetToken(body, accessor, false, std::move(done));
}

// GET /v1/internal/acl/resolve: the request's token expanded (server::ExpandedToken), for the
// agents and datacenters that resolve tokens through this server.
void Resolve(Call& call) {
  if (!Enabled(call)) return;
  if (!ResolvesHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  std::string secret = RequestToken(call.req);
  if (secret.empty()) secret = acl::kAnonymousSecretID;
  auto expanded = Acls(call).Expand(secret);
  if (!expanded.ok()) return call.Error(403, acl::kAclNotFound);
  call.Json(*expanded);
}

// GET /v1/internal/acl/replicate?kind=policies|roles|tokens: the primary's whole list of one
// kind (global tokens only), blocking; what a secondary's leader copies.
void ReplicateSource(Call& call) {
  if (!Enabled(call)) return;
  std::string kind = call.req.Query("kind").value_or("");
  if (kind != "policies" && kind != "roles" && kind != "tokens") {
    return call.Error(400, "kind must be policies, roles or tokens");
  }
  // Tokens carry secrets: acl:write, as Consul's token replication asks of its token.
  if (!Authorize(call, Resource::kAcl, "", kind == "tokens" ? Level::kWrite : Level::kRead)) return;
  if (!TokensHere(call)) return ForwardToPrimary(call, Acls(call).primary_datacenter());
  auto* store = &call.backend.server->store();
  Blocking(call.backend, call.opts,
           [store, kind](catalog::WatchSet* ws, http::Response* out) {
             std::vector<Json> list;
             catalog::Index index = kind == "policies" ? store->AclPolicies(ws, &list)
                                    : kind == "roles"  ? store->AclRoles(ws, &list)
                                                       : store->AclTokens(ws, &list);
             Json rows = Json::array();
             for (auto& o : list) {
               if (kind == "tokens" && o.value("Local", false)) continue;
               rows.push_back(std::move(o));
             }
             *out = JsonResponse(rows);
             return index;
           },
           call.cancel, std::move(call.reply));
}

void Replication(Call& call) {
  if (!call.backend.acl.enabled) return call.Error(401, acl::kAclDisabled);
  if (!Authorize(call, Resource::kAcl, "", Level::kRead)) return;
  if (call.backend.server != nullptr && call.backend.server->acls() != nullptr) {
    return call.Json(call.backend.server->acls()->ReplicationStatus());
  }
  Json status = {{"Enabled", false},
                 {"Running", false},
                 {"SourceDatacenter", call.backend.info.primary_datacenter},
                 {"ReplicationType", call.backend.acl.enable_token_replication ? "tokens" : "policies"},
                 {"ReplicatedIndex", 0},
                 {"ReplicatedRoleIndex", 0},
                 {"ReplicatedTokenIndex", 0},
                 {"LastSuccess", "0001-01-01T00:00:00Z"},
                 {"LastError", "0001-01-01T00:00:00Z"},
                 {"LastErrorMessage", ""}};
  call.Json(status);
}

// PUT /v1/agent/token/<type>: replaces one of this agent's tokens, until restart unless
// acl.enable_token_persistence keeps it in <data_dir>/acl-tokens.json.
void AgentToken(Call& call) {
  if (!Authorize(call, Resource::kAgent, call.backend.info.node_name, Level::kWrite)) return;
  Json body;
  if (!ReadBody(call, &body, "Request")) return;
  std::string token;
  for (const auto& [k, v] : body.items()) {
    if (ToLower(k) == "token" && v.is_string()) token = v.get<std::string>();
  }
  const std::string& type = call.rest;
  std::string acl::Tokens::*field = nullptr;
  if (type == "default" || type == "acl_token") field = &acl::Tokens::default_token;
  else if (type == "agent" || type == "acl_agent_token") field = &acl::Tokens::agent;
  else if (type == "agent_recovery" || type == "agent_master" || type == "acl_agent_master_token")
    field = &acl::Tokens::agent_recovery;
  else if (type == "replication" || type == "acl_replication_token") field = &acl::Tokens::replication;
  else if (type == "config_file_service_registration")
    field = &acl::Tokens::config_file_service_registration;
  else if (type == "dns") field = &acl::Tokens::dns;
  if (field == nullptr) return call.Error(404, "Token \"" + type + "\" is unknown");
  acl::Config& cfg = call.backend.acl;
  if (cfg.enable_token_persistence && !call.backend.info.data_dir.empty()) {
    acl::Tokens kept = cfg.from_api;
    kept.*field = token;
    std::string path =
        (std::filesystem::path(call.backend.info.data_dir) / acl::kPersistedTokensFile).string();
    if (Status s = acl::SavePersistedTokens(path, kept); !s.ok()) {
      LogWarn("agent", "failed to persist tokens: " + s.message());
      return call.Error(500, s.message());
    }
    cfg.from_api = std::move(kept);
  }
  cfg.tokens.*field = token;
  call.Respond(http::Response{});
}

}  // namespace

void AddAclRoutes(std::vector<Route>* routes) {
  Route bootstrap{"/v1/acl/bootstrap", {"PUT"}, Bootstrap, true};
  bootstrap.acl = AclCheck::kSelf;
  routes->push_back(bootstrap);
  routes->push_back({"/v1/acl/replication", {"GET"}, Replication});
  routes->push_back({"/v1/acl/policies", {"GET"}, Policies, true});
  routes->push_back({"/v1/acl/policy", {"PUT"}, PolicyCreate, true});
  routes->push_back({"/v1/acl/policy/", {"GET", "PUT", "DELETE"}, Policy, true});
  routes->push_back({"/v1/acl/roles", {"GET"}, Roles, true});
  routes->push_back({"/v1/acl/role", {"PUT"}, RoleCreate, true});
  routes->push_back({"/v1/acl/role/", {"GET", "PUT", "DELETE"}, Role, true});
  routes->push_back({"/v1/acl/tokens", {"GET"}, Tokens, true});
  routes->push_back({"/v1/acl/token", {"PUT"}, TokenCreate, true});
  Route self{"/v1/acl/token/self", {"GET"}, TokenSelf, true};
  self.acl = AclCheck::kSelf;
  routes->push_back(self);
  routes->push_back({"/v1/acl/token/", {"GET", "PUT", "DELETE"}, Token, true});
  routes->push_back({"/v1/internal/acl/replicate", {"GET"}, ReplicateSource, true});
  Route resolve{"/v1/internal/acl/resolve", {"GET"}, Resolve, true};
  resolve.acl = AclCheck::kSelf;
  routes->push_back(resolve);
  routes->push_back({"/v1/agent/token/", {"PUT"}, AgentToken});
}

}  // namespace gangway::api
