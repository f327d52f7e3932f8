// /v1/config: config entries (docs/config-entries.md). Reads are answered from this
// datacenter's store (a secondary's replica); writes are checked here and applied in the primary
// datacenter, to which a secondary forwards them as ?dc= would, so the primary's answer reaches
// the client unchanged.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "acl/builtin.h"
#include "api/http_api.h"
#include "core/strings.h"

namespace gangway::api {
namespace {

using catalog::Json;

constexpr const char* kNotFound = "Config entry not found";

bool ParseCas(Call& call, std::optional<uint64_t>* out) {
  auto cas = call.req.Query("cas");
  if (!cas) return true;
  const std::string& s = *cas;
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    call.Error(400, "Invalid cas value: " + s);
    return false;
  }
  try {
    *out = std::stoull(s);
  } catch (const std::exception&) {
    call.Error(400, "Invalid cas value: " + s);
    return false;
  }
  return true;
}

// Who may read and write an entry (Consul's ConfigEntry CanRead/CanWrite): service kinds by
// service:read/write on their name, service-intentions by intention:read/write, proxy-defaults
// and mesh readable by anyone and written with mesh:write, gateways read by service:read and
// written with mesh:write.
bool MayRead(const acl::Authorizer& authz, const std::string& kind, const std::string& name) {
  if (kind == "proxy-defaults" || kind == "mesh") return true;
  if (kind == "service-intentions") {
    return authz.Allowed(acl::Resource::kIntention, name, acl::Level::kRead);
  }
  return authz.Allowed(acl::Resource::kService, name, acl::Level::kRead);
}

bool AuthorizeEntryWrite(Call& call, const std::string& kind, const std::string& name) {
  if (kind == "service-defaults" || kind == "service-resolver" || kind == "service-router" ||
      kind == "service-splitter") {
    return Authorize(call, acl::Resource::kService, name, acl::Level::kWrite);
  }
  if (kind == "service-intentions") {
    return Authorize(call, acl::Resource::kIntention, name, acl::Level::kWrite);
  }
  return Authorize(call, acl::Resource::kMesh, "", acl::Level::kWrite);
}

// Consul answers a refused write with its RPC error: a 500 with the validation's text.
http::Response WriteFailed(const Status& s) {
  if (s.code() == Code::kInvalidArgument) return ErrorResponse(500, s.message());
  return StatusResponse(s);
}

// PUT /v1/config[?cas=<ModifyIndex>]: the body is one entry; answers true or false.
void Apply(Call& call) {
  server::ConfigEntries& entries = call.backend.server->config_entries();
  Json body;
  if (call.req.body.empty()) return call.Error(400, "Request decoding failed: EOF");
  try {
    body = Json::parse(call.req.body);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    auto pos = what.find("] ");
    return call.Error(400, "Request decoding failed: " +
                               (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  auto entry = entries.Normalize(body);
  if (!entry.ok()) return call.Error(400, "Request decoding failed: " + entry.status().message());
  std::optional<uint64_t> cas;
  if (!ParseCas(call, &cas)) return;
  if (!AuthorizeEntryWrite(call, entry->value("Kind", ""), entry->value("Name", ""))) return;
  if (!entries.primary()) return ForwardToPrimary(call, entries.primary_datacenter());
  auto reply = std::move(call.reply);
  entries.Upsert(std::move(*entry), cas, [reply](Result<bool> written) {
    if (!written.ok()) return reply(WriteFailed(written.status()));
    reply(JsonResponse(Json(*written)));
  });
}

// ("kind", "name") from "<kind>/<name>"; the name may be empty, and may hold slashes.
std::pair<std::string, std::string> KindAndName(const std::string& rest) {
  auto slash = rest.find('/');
  if (slash == std::string::npos) return {rest, ""};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

void Get(Call& call, const std::string& kind, const std::string& name) {
  auto* store = &call.backend.server->store();
  QueryFn fn;
  if (name.empty()) {
    FilterPtr filter;
    if (!ParseFilter(call, &filter)) return;
    AclView acl(call);
    fn = [store, kind, filter, acl](catalog::WatchSet* ws, http::Response* out) {
      std::vector<Json> list;
      catalog::Index index = store->ConfigEntries(ws, kind, &list);
      bool filtered = false;
      std::erase_if(list, [&](const Json& e) {
        bool ok = MayRead(*acl.authz, e.value("Kind", ""), e.value("Name", ""));
        filtered = filtered || !ok;
        return !ok;
      });
      Json rows(list);
      if (rows.is_null()) rows = Json::array();
      FilterArray(filter, &rows);
      *out = JsonResponse(rows);
      acl.Mark(filtered, out);
      return index;
    };
  } else {
    if (!MayRead(*call.authz, kind, name)) {
      return call.Error(403, acl::PermissionDeniedText(
                                 call.accessor,
                                 kind == "service-intentions" ? acl::Resource::kIntention
                                                              : acl::Resource::kService,
                                 acl::Level::kRead, name));
    }
    fn = [store, kind, name](catalog::WatchSet* ws, http::Response* out) {
      Json entry;
      catalog::Index index = store->ConfigEntry(ws, kind, name, &entry);
      if (entry.is_null()) {
        *out =
            ErrorResponse(404, std::string(kNotFound) + " for \"" + kind + "\" / \"" + name + "\"");
      } else {
        *out = JsonResponse(entry);
      }
      return index;
    };
  }
  Blocking(call.backend, call.opts, std::move(fn), call.cancel, std::move(call.reply));
}

// DELETE /v1/config/<kind>/<name>[?cas=<ModifyIndex>]: {} without cas, true or false with it.
void Delete(Call& call, const std::string& kind, const std::string& name) {
  server::ConfigEntries& entries = call.backend.server->config_entries();
  if (kind.empty() || name.empty()) {
    return call.Error(404, "Must provide both a kind and name to delete");
  }
  if (!entries.KnownKind(kind)) return call.Error(400, "invalid config entry kind: " + kind);
  std::optional<uint64_t> cas;
  if (!ParseCas(call, &cas)) return;
  if (!AuthorizeEntryWrite(call, kind, name)) return;
  if (!entries.primary()) return ForwardToPrimary(call, entries.primary_datacenter());
  auto reply = std::move(call.reply);
  const bool with_cas = cas.has_value();
  entries.Delete(kind, name, cas, [reply, with_cas](Result<bool> deleted) {
    if (!deleted.ok()) return reply(WriteFailed(deleted.status()));
    // Consul answers a plain delete with {} (what its clients have always read).
    reply(JsonResponse(with_cas ? Json(*deleted) : Json::object()));
  });
}

void Config(Call& call) {
  auto [kind, name] = KindAndName(call.rest);
  if (call.req.method == "DELETE") return Delete(call, kind, name);
  if (kind.empty()) return call.Error(404, "Must provide either a kind or both kind and name");
  if (!call.backend.server->config_entries().KnownKind(kind)) {
    return call.Error(500, "invalid config entry kind: " + kind);
  }
  Get(call, kind, name);
}

// GET /v1/internal/config-entries: every entry of every kind, blocking; what a secondary's
// leader reads from the primary to replicate (Consul's ConfigEntry.ListAll).
void ListAll(Call& call) { Get(call, "", ""); }

}  // namespace

// The same path and parameters, with dc naming the primary so that it answers from its own
// store.
void ForwardToPrimary(Call& call, const std::string& primary) {
  if (!call.backend.forward) return call.Error(500, "No path to datacenter");
  std::string target = call.req.target;
  std::string path = target, query;
  if (auto q = target.find('?'); q != std::string::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  std::string kept;
  for (const auto& part : Split(query, '&')) {
    if (part.empty() || part == "dc" || StartsWith(part, "dc=")) continue;
    kept += part + "&";
  }
  call.req.target = path + "?" + kept + "dc=" + primary;
  call.req.query.erase(std::remove_if(call.req.query.begin(), call.req.query.end(),
                                      [](const auto& kv) { return kv.first == "dc"; }),
                       call.req.query.end());
  call.req.query.emplace_back("dc", primary);
  call.backend.forward(std::move(call.req), primary, std::move(call.cancel), std::move(call.reply));
}

void AddConfigRoutes(std::vector<Route>* routes) {
  Route apply{"/v1/config", {"PUT"}, Apply, true};
  apply.writes_on_any_server = true;
  routes->push_back(apply);
  Route entries{"/v1/config/", {"GET", "DELETE"}, Config, true};
  entries.writes_on_any_server = true;
  routes->push_back(entries);
  routes->push_back({"/v1/internal/config-entries", {"GET"}, ListAll, true});
}

}  // namespace gangway::api
