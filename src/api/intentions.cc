// /v1/connect/intentions/... and /v1/agent/connect/authorize (docs/intentions.md): intentions
// read from and written to the service-intentions config entries, one per destination. A write
// is a check-and-set of the destination's entry (retried when another write got in between), so
// two intentions written at once to one destination both land.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "api/http_api.h"
#include "codec/document.h"
#include "identity/spiffe.h"
#include "meshcfg/config_entry.h"
#include "meshcfg/intentions.h"

namespace gangway::api {
namespace {

using catalog::Json;

constexpr char kKind[] = "service-intentions";
constexpr char kNotFound[] = "Intention not found";
// How often a write re-reads the entry after losing a check-and-set race.
constexpr int kWriteAttempts = 5;

// The service-intentions entries among `rows` (entries in the API's JSON), typed; one that does
// not decode (written by checks that did not know intentions) is left out.
void DecodeEntries(const std::vector<Json>& rows, std::vector<meshcfg::ServiceIntentions>* out) {
  for (const Json& row : rows) {
    codec::Document doc;
    doc.value = row;
    auto entry = meshcfg::DecodeConfigEntry(doc);
    if (!entry.ok() || !meshcfg::Normalize(&*entry).ok()) continue;
    if (auto* si = entry->As<meshcfg::ServiceIntentions>()) out->push_back(std::move(*si));
  }
}

// Every service-intentions entry in the store.
catalog::Index LoadEntries(const catalog::Store& store, catalog::WatchSet* ws,
                           std::vector<meshcfg::ServiceIntentions>* out) {
  std::vector<Json> rows;
  catalog::Index index = store.ConfigEntries(ws, kKind, &rows);
  DecodeEntries(rows, out);
  return index;
}

std::string OrDefault(const std::string& s) { return s.empty() ? "default" : s; }

// One intention in the legacy API's shape; the indexes are its entry's.
Json IntentionJson(const meshcfg::Intention& ixn,
                   const std::vector<meshcfg::ServiceIntentions>& entries) {
  Json j = {{"Description", ixn.description},
            {"SourceNS", OrDefault(ixn.source_ns)},
            {"SourceName", ixn.source_name},
            {"DestinationNS", OrDefault(ixn.destination_ns)},
            {"DestinationName", ixn.destination_name},
            {"SourcePartition", OrDefault(ixn.source_partition)},
            {"DestinationPartition", OrDefault(ixn.destination_partition)},
            {"SourceType", "consul"},
            {"Precedence", ixn.precedence}};
  if (!ixn.legacy_id.empty()) j["ID"] = ixn.legacy_id;
  if (!ixn.source_peer.empty()) j["SourcePeer"] = ixn.source_peer;
  if (!ixn.action.empty()) j["Action"] = ixn.action;
  if (!ixn.permissions.empty()) {
    // The entry's own encoding of its permissions.
    for (const meshcfg::ServiceIntentions& e : entries) {
      if (e.name != ixn.destination_name) continue;
      Json enc = meshcfg::EncodeConfigEntry(meshcfg::ConfigEntry(e));
      for (const Json& s : enc.value("Sources", Json::array())) {
        if (s.value("Name", "") == ixn.source_name && s.contains("Permissions")) {
          j["Permissions"] = s["Permissions"];
        }
      }
    }
  }
  j["Meta"] = Json::object();
  for (const meshcfg::ServiceIntentions& e : entries) {
    if (e.name != ixn.destination_name) continue;
    j["CreateIndex"] = e.create_index;
    j["ModifyIndex"] = e.modify_index;
  }
  return j;
}

// Every intention, in evaluation order.
std::vector<meshcfg::Intention> AllIntentions(
    const std::vector<meshcfg::ServiceIntentions>& entries) {
  std::vector<meshcfg::Intention> all;
  for (const meshcfg::ServiceIntentions& e : entries) {
    for (meshcfg::Intention& i : meshcfg::IntentionsOf(e)) all.push_back(std::move(i));
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(b.precedence, a.source_name, a.destination_name) <
           std::tie(a.precedence, b.source_name, b.destination_name);
  });
  return all;
}

// The query parameter `name`, or answers 400 naming it.
std::optional<std::string> Required(Call& call, const std::string& name) {
  auto v = call.req.Query(name);
  if (!v || v->empty()) {
    call.Error(400, "required query parameter '" + name + "' not set");
    return std::nullopt;
  }
  return v;
}

// GET /v1/connect/intentions[?filter=]
void List(Call& call) {
  FilterPtr filter;
  if (!ParseFilter(call, &filter)) return;
  const catalog::Store* store = &call.backend.server->store();
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, filter, acl](catalog::WatchSet* ws, http::Response* out) {
             std::vector<meshcfg::ServiceIntentions> entries;
             catalog::Index index = LoadEntries(*store, ws, &entries);
             Json rows = Json::array();
             bool filtered = false;
             for (const meshcfg::Intention& i : AllIntentions(entries)) {
               if (!acl.Allowed(acl::Resource::kIntention, i.destination_name, &filtered)) continue;
               rows.push_back(IntentionJson(i, entries));
             }
             FilterArray(filter, &rows);
             *out = JsonResponse(rows);
             acl.Mark(filtered, out);
             return index;
           },
           call.cancel, std::move(call.reply));
}

// A read-modify-write of the destination's entry: `edit` changes its JSON (null when absent)
// and says whether anything is left to store; the write is a cas on the entry's ModifyIndex.
using Edit = std::function<Status(Json* entry, bool* keep)>;

void WriteEntry(Backend& backend, std::string destination, Edit edit, int attempt,
                http::Reply reply) {
  server::Server* srv = backend.server;
  Json entry;
  srv->store().ConfigEntry(nullptr, kKind, destination, &entry);
  const uint64_t cas = entry.is_null() ? 0 : entry.value("ModifyIndex", uint64_t{0});
  bool keep = true;
  if (Status s = edit(&entry, &keep); !s.ok()) return reply(StatusResponse(s));
  auto again = [&backend, destination, edit, attempt, reply](Result<bool> written) {
    if (!written.ok()) {
      if (written.status().code() == Code::kInvalidArgument) {
        return reply(ErrorResponse(500, written.status().message()));
      }
      return reply(StatusResponse(written.status()));
    }
    if (*written) return reply(JsonResponse(Json(true)));
    if (attempt + 1 >= kWriteAttempts) {
      return reply(ErrorResponse(500, "intention write kept losing to concurrent writes of " +
                                          std::string(kKind) + " \"" + destination + "\""));
    }
    WriteEntry(backend, destination, edit, attempt + 1, reply);
  };
  server::ConfigEntries& entries = srv->config_entries();
  if (!keep) {
    if (entry.is_null() || cas == 0) return reply(JsonResponse(Json(true)));
    return entries.Delete(kKind, destination, cas, std::move(again));
  }
  entry.erase("CreateIndex");
  entry.erase("ModifyIndex");
  auto normalized = entries.Normalize(entry);
  if (!normalized.ok()) return reply(ErrorResponse(400, normalized.status().message()));
  entries.Upsert(std::move(*normalized), cas, std::move(again));
}

bool SameSource(const Json& s, const std::string& name) {
  auto empty_or_default = [&](const char* key) {
    std::string v = s.value(key, "");
    return v.empty() || v == "default";
  };
  return s.value("Name", "") == name && s.value("Peer", "").empty() &&
         s.value("SamenessGroup", "").empty() && empty_or_default("Namespace") &&
         empty_or_default("Partition");
}

// PUT/GET/DELETE /v1/connect/intentions/exact?source=&destination=
void Exact(Call& call) {
  auto source = Required(call, "source");
  if (!source) return;
  auto destination = Required(call, "destination");
  if (!destination) return;
  if (!Authorize(call, acl::Resource::kIntention, *destination,
                 call.req.method == "GET" ? acl::Level::kRead : acl::Level::kWrite)) {
    return;
  }
  if (call.req.method == "GET") {
    const catalog::Store* store = &call.backend.server->store();
    std::string src = *source, dst = *destination;
    return Blocking(
        call.backend, call.opts,
        [store, src, dst](catalog::WatchSet* ws, http::Response* out) {
          std::vector<meshcfg::ServiceIntentions> entries;
          catalog::Index index = LoadEntries(*store, ws, &entries);
          *out = ErrorResponse(404, kNotFound);
          for (const meshcfg::Intention& i : AllIntentions(entries)) {
            if (i.source_name == src && i.destination_name == dst && i.source_peer.empty() &&
                i.source_sameness_group.empty()) {
              *out = JsonResponse(IntentionJson(i, entries));
            }
          }
          return index;
        },
        call.cancel, std::move(call.reply));
  }
  server::ConfigEntries& entries = call.backend.server->config_entries();
  if (!entries.primary()) return ForwardToPrimary(call, entries.primary_datacenter());
  std::string src = *source;
  Edit edit;
  if (call.req.method == "DELETE") {
    edit = [src](Json* entry, bool* keep) {
      if (entry->is_null()) {
        *keep = false;
        return Status::Ok();
      }
      Json& sources = (*entry)["Sources"];
      if (!sources.is_array()) sources = Json::array();
      Json kept = Json::array();
      for (const Json& s : sources) {
        if (!SameSource(s, src)) kept.push_back(s);
      }
      sources = kept;
      *keep = !kept.empty();
      return Status::Ok();
    };
  } else {
    Json body;
    try {
      body = Json::parse(call.req.body.empty() ? "{}" : call.req.body);
    } catch (const Json::parse_error&) {
      return call.Error(400, "Request decode failed: invalid JSON body");
    }
    if (!body.is_object()) return call.Error(400, "Request decode failed: expected an object");
    Json fields = Json::object();
    for (const char* key : {"Action", "Permissions", "Description"}) {
      if (body.contains(key) && !body[key].is_null()) fields[key] = body[key];
    }
    std::string type = body.value("SourceType", "consul");
    if (!type.empty() && type != "consul") {
      return call.Error(400, "SourceType must be set to 'consul'");
    }
    std::string dst = *destination;
    edit = [src, dst, fields](Json* entry, bool* keep) {
      *keep = true;
      if (entry->is_null()) *entry = {{"Kind", kKind}, {"Name", dst}, {"Sources", Json::array()}};
      Json& sources = (*entry)["Sources"];
      if (!sources.is_array()) sources = Json::array();
      Json updated = fields;
      updated["Name"] = src;
      for (Json& s : sources) {
        if (!SameSource(s, src)) continue;
        // An upsert replaces the intention's action and permissions, keeping its legacy fields.
        for (const char* key : {"Action", "Permissions", "Description", "Precedence"}) {
          s.erase(key);
        }
        for (auto& [k, v] : updated.items()) s[k] = v;
        return Status::Ok();
      }
      sources.push_back(updated);
      return Status::Ok();
    };
  }
  WriteEntry(call.backend, *destination, std::move(edit), 0, std::move(call.reply));
}

// GET /v1/connect/intentions/check?source=&destination=
void Check(Call& call) {
  auto source = Required(call, "source");
  if (!source) return;
  auto destination = Required(call, "destination");
  if (!destination) return;
  if (!Authorize(call, acl::Resource::kIntention, *destination, acl::Level::kRead)) return;
  std::vector<meshcfg::ServiceIntentions> entries;
  LoadEntries(call.backend.server->store(), nullptr, &entries);
  meshcfg::IntentionSource who;
  who.name = *source;
  meshcfg::Decision d =
      meshcfg::Authorize(who, *destination, entries, call.backend.intention_default);
  call.Json({{"Allowed", d.allowed}});
}

// GET /v1/connect/intentions/match?by=source|destination&name=...
void MatchEndpoint(Call& call) {
  auto by = Required(call, "by");
  if (!by) return;
  meshcfg::MatchBy match_by;
  if (*by == "source") {
    match_by = meshcfg::MatchBy::kSource;
  } else if (*by == "destination") {
    match_by = meshcfg::MatchBy::kDestination;
  } else {
    return call.Error(400, "'by' parameter must be one of 'source' or 'destination'");
  }
  std::vector<std::string> names;
  for (const auto& [k, v] : call.req.query) {
    if (k == "name") names.push_back(v);
  }
  if (names.empty()) return call.Error(400, "required query parameter 'name' not set");
  const catalog::Store* store = &call.backend.server->store();
  AclView acl(call);
  Blocking(call.backend, call.opts,
           [store, match_by, names, acl](catalog::WatchSet* ws, http::Response* out) {
             std::vector<meshcfg::ServiceIntentions> entries;
             catalog::Index index = LoadEntries(*store, ws, &entries);
             Json doc = Json::object();
             bool filtered = false;
             for (const auto& [name, list] : meshcfg::Match(match_by, names, entries)) {
               Json rows = Json::array();
               for (const meshcfg::Intention& i : list) {
                 if (!acl.Allowed(acl::Resource::kIntention, i.destination_name, &filtered)) continue;
                 rows.push_back(IntentionJson(i, entries));
               }
               doc[name] = rows;
             }
             for (const std::string& n : names) {
               if (!doc.contains(n)) doc[n] = Json::array();
             }
             *out = JsonResponse(doc);
             acl.Mark(filtered, out);
             return index;
           },
           call.cancel, std::move(call.reply));
}

// POST /v1/agent/connect/authorize {"Target","ClientCertURI","ClientCertSerial"}
void AgentAuthorize(Call& call) {
  Json body;
  try {
    body = Json::parse(call.req.body.empty() ? "{}" : call.req.body);
  } catch (const Json::parse_error&) {
    return call.Error(400, "Request decode failed: invalid JSON body");
  }
  if (!body.is_object()) return call.Error(400, "Request decode failed: expected an object");
  std::string target = body.value("Target", "");
  std::string uri = body.value("ClientCertURI", "");
  if (target.empty()) return call.Error(400, "Target service must be specified");
  if (uri.empty()) return call.Error(400, "ClientCertURI must be specified");
  if (!Authorize(call, acl::Resource::kService, target, acl::Level::kWrite)) return;
  auto id = identity::ParseSpiffeId(uri);
  if (!id.ok() || id->kind != identity::SpiffeKind::kService) {
    return call.Error(400, "ClientCertURI not a valid Connect identifier");
  }
  meshcfg::IntentionSource who{id->service, id->ns, id->partition, ""};
  // This agent's default, the one its own sidecars are compiled with, whoever holds the entries.
  meshcfg::IntentionDefault def = call.backend.intention_default;
  auto answer = [who, target, def](const std::vector<meshcfg::ServiceIntentions>& entries) {
    meshcfg::Decision d = meshcfg::Authorize(who, target, entries, def);
    return JsonResponse({{"Authorized", d.allowed}, {"Reason", d.reason}});
  };
  if (call.backend.server != nullptr) {
    std::vector<meshcfg::ServiceIntentions> entries;
    LoadEntries(call.backend.server->store(), nullptr, &entries);
    return call.Respond(answer(entries));
  }
  // A client agent reads the entries from its servers (as its proxies' watch does).
  if (!call.backend.forward) return call.Error(500, "No known Consul servers");
  http::Request read;
  read.method = "GET";
  read.target = read.path = std::string("/v1/config/") + kKind;
  read.remote_address = call.req.remote_address;
  // The caller's token (service:write on the target reads its intentions).
  if (auto t = call.req.headers.find("X-Consul-Token"); t != call.req.headers.end()) {
    read.headers["X-Consul-Token"] = t->second;
  } else if (std::string token = RequestToken(call.req); !token.empty()) {
    read.headers["X-Consul-Token"] = token;
  }
  call.backend.forward(
      std::move(read), call.backend.info.datacenter, call.cancel,
      [answer, reply = std::move(call.reply)](http::Response r) {
        if (r.status != 200) return reply(std::move(r));
        Json rows = Json::parse(r.Body(), nullptr, false);
        if (!rows.is_array()) {
          return reply(ErrorResponse(500, "reading service-intentions: expected a JSON array"));
        }
        std::vector<meshcfg::ServiceIntentions> entries;
        DecodeEntries(rows.get<std::vector<Json>>(), &entries);
        reply(answer(entries));
      });
}

}  // namespace

void AddIntentionRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/connect/intentions", {"GET"}, List, true});
  Route exact{"/v1/connect/intentions/exact", {"GET", "PUT", "DELETE"}, Exact, true};
  exact.writes_on_any_server = true;
  routes->push_back(exact);
  routes->push_back({"/v1/connect/intentions/check", {"GET"}, Check, true});
  routes->push_back({"/v1/connect/intentions/match", {"GET"}, MatchEndpoint, true});
  // An agent endpoint, as Consul's: answered with this agent's default (the one its sidecars
  // enforce) over the servers' entries (Consul's agent answers from its cache of them).
  routes->push_back({"/v1/agent/connect/authorize", {"POST"}, AgentAuthorize, false});
}

}  // namespace gangway::api
