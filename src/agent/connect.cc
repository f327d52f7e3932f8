#include "agent/connect.h"

#include <memory>

#include "agent/loopback.h"
#include "apiclient/response.h"

namespace gangway::agent {
namespace {

using Json = nlohmann::json;
using apiclient::IndexOf;
using apiclient::JsonBody;

// How long a blocking read of the roots or of the primary's config entries waits before
// answering unchanged (then it is simply re-armed).
constexpr const char* kRootsWait = "5m";

void Request(http::Handler* const* api, std::string method, std::string target, std::string body,
             std::function<void(const http::Response&)> done) {
  LoopbackRequest(api, std::move(method), std::move(target), std::move(body), nullptr,
                  std::move(done));
}

void Roots(http::Handler* const* api, const std::string& dc, uint64_t min_index, bool stale,
           std::function<void(Result<Json>, uint64_t)> done) {
  std::string target = "/v1/connect/ca/roots";
  std::string sep = "?";
  if (!dc.empty()) {
    target += sep + "dc=" + dc;
    sep = "&";
  }
  if (stale) {
    target += sep + "stale";
    sep = "&";
  }
  if (min_index > 0) target += sep + "index=" + std::to_string(min_index) + "&wait=" + kRootsWait;
  Request(api, "GET", target, "", [done = std::move(done)](const http::Response& r) {
    auto body = JsonBody(r);
    if (!body.ok()) return done(body.status(), 0);
    done(std::move(*body), IndexOf(r));
  });
}

void SignCsr(http::Handler* const* api, const std::string& target, std::string csr,
             std::function<void(Result<Json>)> done, const std::string& token = "") {
  Json body = {{"CSR", std::move(csr)}};
  LoopbackRequest(api, "PUT", target, body.dump(), nullptr,
                  [done = std::move(done)](const http::Response& r) { done(JsonBody(r)); },
                  token);
}

}  // namespace

server::ConnectCAHooks ConnectCAHooksVia(http::Handler* const* api, std::string primary_dc,
                                         std::function<std::vector<std::string>()> datacenters) {
  server::ConnectCAHooks h;
  h.roots = [api](const std::string& dc, uint64_t min_index, bool stale,
                  std::function<void(Result<Json>, uint64_t)> done) {
    Roots(api, dc, min_index, stale, std::move(done));
  };
  h.datacenters = std::move(datacenters);
  h.sign_intermediate = [api, primary_dc](std::string csr,
                                          std::function<void(Result<std::string>)> done) {
    SignCsr(api, "/v1/internal/connect/ca/sign-intermediate?dc=" + primary_dc, std::move(csr),
            [done = std::move(done)](Result<Json> j) {
              if (!j.ok()) return done(j.status());
              if (!j->is_object() || !j->contains("Certificate") || !(*j)["Certificate"].is_string()) {
                return done(Internal("the primary's answer holds no certificate"));
              }
              done((*j)["Certificate"].get<std::string>());
            });
  };
  return h;
}

client::LeafCacheHooks LeafCacheHooksVia(http::Handler* const* api) {
  client::LeafCacheHooks h;
  h.roots = [api](uint64_t min_index, std::function<void(Result<Json>, uint64_t)> done) {
    Roots(api, "", min_index, /*stale=*/false, std::move(done));
  };
  h.sign = [api](std::string csr, const std::string& token,
                 std::function<void(Result<Json>)> done) {
    SignCsr(api, "/v1/internal/connect/ca/sign", std::move(csr), std::move(done), token);
  };
  return h;
}

server::ConfigEntriesHooks ConfigEntriesHooksVia(http::Handler* const* api,
                                                 std::string primary_dc) {
  server::ConfigEntriesHooks h;
  h.primary_entries = [api, primary_dc](uint64_t min_index,
                                        std::function<void(Result<Json>, uint64_t)> done) {
    std::string target = "/v1/internal/config-entries?dc=" + primary_dc;
    if (min_index > 0) target += "&index=" + std::to_string(min_index) + "&wait=" + kRootsWait;
    Request(api, "GET", target, "", [done = std::move(done)](const http::Response& r) {
      auto body = JsonBody(r);
      if (!body.ok()) return done(body.status(), 0);
      done(std::move(*body), IndexOf(r));
    });
  };
  return h;
}

server::AclReplicationHooks AclReplicationHooksVia(http::Handler* const* api,
                                                   std::string primary_dc) {
  server::AclReplicationHooks h;
  h.fetch = [api, primary_dc](const std::string& kind, uint64_t min_index,
                              std::function<void(Result<Json>, uint64_t)> done) {
    std::string target = "/v1/internal/acl/replicate?kind=" + kind + "&dc=" + primary_dc;
    if (min_index > 0) target += "&index=" + std::to_string(min_index) + "&wait=" + kRootsWait;
    Request(api, "GET", target, "", [done = std::move(done)](const http::Response& r) {
      auto body = JsonBody(r);
      if (!body.ok()) return done(body.status(), 0);
      done(std::move(*body), IndexOf(r));
    });
  };
  return h;
}

}  // namespace gangway::agent
