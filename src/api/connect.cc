// /v1/connect/ca/..., /v1/agent/connect/ca/..., and the servers' internal signing endpoints
// (docs/connect-ca.md "HTTP").
#include "api/http_api.h"
#include "ca/state.h"
#include "client/leaf_cache.h"
#include "identity/spiffe.h"
#include "x509/x509.h"

namespace gangway::api {
namespace {

// Consul's text when Connect is off.
constexpr const char* kConnectDisabled = "Connect must be enabled in order to use this endpoint";

server::ConnectCA* CA(Call& call) {
  server::ConnectCA* ca = call.backend.server ? call.backend.server->connect_ca() : nullptr;
  if (ca == nullptr) call.Error(500, kConnectDisabled);
  return ca;
}

// The roots document as served: the stored one without the private fields.
catalog::Json ServedRoots(const catalog::Json& stored, catalog::Index index) {
  if (stored.is_null()) {
    return {{"ActiveRootID", ""}, {"TrustDomain", ""}, {"Roots", catalog::Json::array()}};
  }
  auto st = ca::StateFromStorage(stored, index);
  if (!st.ok()) return {{"ActiveRootID", ""}, {"TrustDomain", ""}, {"Roots", catalog::Json::array()}};
  return ca::ToJson(st->roots);
}

void Roots(Call& call) {
  if (CA(call) == nullptr) return;
  bool pem = false;
  if (auto v = call.req.Query("pem"); v && !ParseBool(*v, &pem)) {
    return call.Error(400, "Invalid value for pem: " + *v);
  }
  auto* store = &call.backend.server->store();
  Blocking(call.backend, call.opts,
           [store, pem](catalog::WatchSet* ws, http::Response* out) {
             catalog::Json doc;
             catalog::Index index = store->CARoots(ws, &doc);
             if (pem) {
               auto st = ca::StateFromStorage(doc, index);
               *out = http::Response::Text(200, st.ok() ? ca::RootsPem(st->roots) : "");
               out->Set("Content-Type", "application/pem-certificate-chain");
             } else {
               *out = JsonResponse(ServedRoots(doc, index));
             }
             return index;
           },
           call.cancel, std::move(call.reply));
}

void Configuration(Call& call) {
  if (!Authorize(call, acl::Resource::kOperator, "",
                 call.req.method == "GET" ? acl::Level::kRead : acl::Level::kWrite)) {
    return;
  }
  server::ConnectCA* ca = CA(call);
  if (ca == nullptr) return;
  if (call.req.method == "GET") {
    auto* store = &call.backend.server->store();
    Blocking(call.backend, call.opts,
             [ca, store](catalog::WatchSet* ws, http::Response* out) {
               catalog::Json doc;
               catalog::Index index = store->CAConfig(ws, &doc);
               *out = JsonResponse(ca::EncodeCAConfiguration(ca->Config()));
               return index;
             },
             call.cancel, std::move(call.reply));
    return;
  }
  catalog::Json body;
  if (!DecodeBody(call, &body)) return;
  auto next = ca::DecodeCAConfiguration(body);
  if (!next.ok()) return call.Error(400, "Request decode failed: " + next.status().message());
  auto reply = std::move(call.reply);
  ca->SetConfig(std::move(*next), [reply](Status s) {
    if (!s.ok()) return reply(StatusResponse(s));
    reply(http::Response::Text(200, ""));
  });
}

// Reads {"CSR": "<PEM>"}; replies 400 and returns false when it is not there.
bool ReadCsr(Call& call, std::string* csr) {
  catalog::Json body;
  if (!DecodeBody(call, &body)) return false;
  if (!body.is_object() || !body.contains("CSR") || !body["CSR"].is_string()) {
    call.Error(400, "Request decode failed: expected {\"CSR\": \"<PEM>\"}");
    return false;
  }
  *csr = body["CSR"].get<std::string>();
  return true;
}

// Consul's ConnectCA.Sign: any server signs with its datacenter's signer.
void Sign(Call& call) {
  std::string csr;
  if (!ReadCsr(call, &csr)) return;
  // service:write on the service the CSR names (a mesh gateway's: on its own name, which the
  // SPIFFE ID does not carry, so gateways need the write permission of service_prefix "").
  if (!call.authz->all_allowed()) {
    auto parsed = x509::ParseCsrPem(csr);
    std::string service;
    if (parsed.ok() && parsed->sans().uris.size() == 1) {
      auto id = identity::ParseSpiffeId(parsed->sans().uris[0]);
      if (id.ok() && id->kind == identity::SpiffeKind::kService) service = id->service;
    }
    if (!Authorize(call, acl::Resource::kService, service, acl::Level::kWrite)) return;
  }
  server::ConnectCA* ca = CA(call);
  if (ca == nullptr) return;
  auto cert = ca->Sign(csr);
  if (!cert.ok()) {
    return call.Fail(cert.status());
  }
  call.Json(ca::ToJson(*cert));
}

// Consul's ConnectCA.SignIntermediate: the primary's leader signs a secondary's intermediate.
void SignIntermediate(Call& call) {
  if (!Authorize(call, acl::Resource::kOperator, "", acl::Level::kWrite)) return;
  server::ConnectCA* ca = CA(call);
  if (ca == nullptr) return;
  std::string csr;
  if (!ReadCsr(call, &csr)) return;
  auto pem = ca->SignIntermediate(csr);
  if (!pem.ok()) return call.Fail(pem.status());
  call.Json({{"Certificate", *pem}});
}

// ---- agent cache

client::LeafCache* Leaves(Call& call) {
  if (call.backend.leaves == nullptr) call.Error(500, kConnectDisabled);
  return call.backend.leaves;
}

void AgentRoots(Call& call) {
  client::LeafCache* leaves = Leaves(call);
  if (leaves == nullptr) return;
  auto reply = std::move(call.reply);
  Backend* backend = &call.backend;
  leaves->GetRoots(call.opts.min_index, call.opts.wait,
                   [reply, backend](Result<catalog::Json> doc, uint64_t index) {
                     if (!doc.ok()) return reply(StatusResponse(doc.status()));
                     auto r = JsonResponse(*doc);
                     SetMetaHeaders(*backend, index, &r);
                     reply(std::move(r));
                   });
}

void AgentLeaf(Call& call) {
  const std::string& service = call.rest;
  if (service.empty() || service.find('/') != std::string::npos) {
    return call.Error(400, "Missing service name");
  }
  if (!Authorize(call, acl::Resource::kService, service, acl::Level::kWrite)) return;
  client::LeafCache* leaves = Leaves(call);
  if (leaves == nullptr) return;
  auto reply = std::move(call.reply);
  Backend* backend = &call.backend;
  leaves->GetLeaf(service, call.opts.min_index, call.opts.wait,
                  [reply, backend](Result<client::LeafCache::Leaf> leaf) {
                    if (!leaf.ok()) return reply(StatusResponse(leaf.status()));
                    auto r = JsonResponse(leaf->cert);
                    SetMetaHeaders(*backend, leaf->index, &r);
                    reply(std::move(r));
                  },
                  RequestToken(call.req));
}

}  // namespace

void AddConnectRoutes(std::vector<Route>* routes) {
  Route roots{"/v1/connect/ca/roots", {"GET"}, Roots, true};
  roots.acl = AclCheck::kNone;  // the roots are public (Consul: no ACL)
  routes->push_back(roots);
  routes->push_back({"/v1/connect/ca/configuration", {"GET", "PUT"}, Configuration, true});
  routes->push_back({"/v1/internal/connect/ca/sign", {"PUT"}, Sign, true, true});
  routes->push_back(
      {"/v1/internal/connect/ca/sign-intermediate", {"PUT"}, SignIntermediate, true});
  Route agent_roots{"/v1/agent/connect/ca/roots", {"GET"}, AgentRoots};
  agent_roots.acl = AclCheck::kNone;
  routes->push_back(agent_roots);
  routes->push_back({"/v1/agent/connect/ca/leaf/", {"GET"}, AgentLeaf});
}

}  // namespace gangway::api
