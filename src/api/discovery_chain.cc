// /v1/discovery-chain/<service>: the compiled discovery chain of one service (Consul's
// DiscoveryChain.Get), from this datacenter's config entries, blocking on the config entries
// table. GET takes ?compile-dc=; POST also takes the caller's overrides in its body.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "api/http_api.h"
#include "ca/state.h"
#include "codec/document.h"
#include "core/duration.h"
#include "meshcfg/chain.h"
#include "meshcfg/config_entry.h"

namespace gangway::api {
namespace {

using catalog::Json;

// The kinds the compiler reads.
constexpr const char* kChainKinds[] = {"proxy-defaults", "service-defaults", "service-resolver",
                                       "service-router", "service-splitter"};

// A key as Consul's body decoder matches it: case-insensitively, '_' ignored.
std::string FoldKey(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Reads the POST body's overrides into `request`; an error names what was wrong.
Status ReadOverrides(const Json& body, meshcfg::ChainRequest* request) {
  if (!body.is_object()) return InvalidArgument("body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    std::string k = FoldKey(key);
    if (k == "overridemeshgateway") {
      if (value.is_null()) continue;
      if (!value.is_object()) return InvalidArgument("OverrideMeshGateway must be an object");
      for (const auto& [mk, mv] : value.items()) {
        if (FoldKey(mk) != "mode") continue;
        if (!mv.is_string()) return InvalidArgument("OverrideMeshGateway.Mode must be a string");
        request->override_mesh_gateway.mode = mv.get<std::string>();
      }
    } else if (k == "overrideprotocol") {
      if (value.is_null()) continue;
      if (!value.is_string()) return InvalidArgument("OverrideProtocol must be a string");
      request->override_protocol = value.get<std::string>();
    } else if (k == "overrideconnecttimeout") {
      if (value.is_number_integer()) {
        request->override_connect_timeout = Duration(value.get<int64_t>());
      } else if (value.is_string()) {
        auto d = ParseDuration(value.get<std::string>());
        if (!d.ok()) return InvalidArgument("OverrideConnectTimeout: " + d.status().message());
        request->override_connect_timeout = *d;
      } else if (!value.is_null()) {
        return InvalidArgument("OverrideConnectTimeout must be a duration");
      }
    } else if (k == "evaluateindatacenter") {
      if (value.is_string() && !value.get<std::string>().empty()) {
        request->datacenter = value.get<std::string>();
      }
    }
  }
  return Status::Ok();
}

// Reads the chain-relevant entries and the trust domain, and compiles. Returns the table index.
catalog::Index CompileFromStore(const catalog::Store& store, meshcfg::ChainRequest request,
                                catalog::WatchSet* ws, http::Response* out) {
  catalog::Index index = 0;
  meshcfg::EntrySet entries;
  for (const char* kind : kChainKinds) {
    std::vector<Json> stored;
    index = std::max(index, store.ConfigEntries(ws, kind, &stored));
    for (const Json& body : stored) {
      codec::Document doc;
      doc.value = body;
      auto entry = meshcfg::DecodeConfigEntry(doc);
      if (!entry.ok()) {
        *out = ErrorResponse(500, "stored " + std::string(kind) + " entry " +
                                      body.value("Name", std::string()) +
                                      " unreadable: " + entry.status().message());
        return index;
      }
      entries.Add(*entry);
    }
  }
  Json roots_doc;
  catalog::Index roots_index = store.CARoots(ws, &roots_doc);
  index = std::max(index, roots_index);
  if (!roots_doc.is_null()) {
    auto state = ca::StateFromStorage(roots_doc, roots_index);
    if (state.ok()) request.trust_domain = state->roots.trust_domain;
  }
  if (request.trust_domain.empty()) {
    *out = ErrorResponse(500, "no cluster ca config setup");
    return index;
  }
  auto chain = meshcfg::CompileChain(request, entries);
  if (!chain.ok()) {
    *out = ErrorResponse(500, chain.status().message());
    return index;
  }
  *out = JsonResponse(Json{{"Chain", meshcfg::ChainToJson(*chain)}});
  return index;
}

void DiscoveryChain(Call& call) {
  if (call.rest.empty()) return call.Error(400, "Missing chain name");
  if (!Authorize(call, acl::Resource::kService, call.rest, acl::Level::kRead)) return;
  meshcfg::ChainRequest request;
  request.service = call.rest;
  request.datacenter = call.backend.info.datacenter;
  if (auto dc = call.req.Query("compile-dc"); dc && !dc->empty()) request.datacenter = *dc;
  if (call.req.method == "POST" && !call.req.body.empty()) {
    Json body;
    try {
      body = Json::parse(call.req.body);
    } catch (const Json::parse_error& e) {
      return call.Error(400, std::string("Request decoding failed: ") + e.what());
    }
    Status s = ReadOverrides(body, &request);
    if (!s.ok()) return call.Error(400, "Request decoding failed: " + s.message());
  }
  const catalog::Store* store = &call.backend.server->store();
  Blocking(
      call.backend, call.opts,
      [store, request](catalog::WatchSet* ws, http::Response* out) {
        return CompileFromStore(*store, request, ws, out);
      },
      call.cancel, std::move(call.reply));
}

}  // namespace

void AddDiscoveryChainRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/discovery-chain/", {"GET", "POST"}, DiscoveryChain, true});
}

}  // namespace gangway::api
