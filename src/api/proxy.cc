// GET /v1/agent/connect/proxy/<proxy-id>: the compiled config of a proxy registered with this
// agent, as a blocking query whose index is the config's version (docs/proxy-config.md,
// "Transport and versioning").
#include "api/http_api.h"
#include "proxycfg/manager.h"

namespace gangway::api {
namespace {

void ProxyConfig(Call& call) {
  const std::string id = call.rest;
  if (id.empty()) return call.Error(400, "Missing proxy ID");
  proxycfg::Manager* manager = call.backend.proxies;
  // The configuration holds the service's private key: service:write on the proxied service
  // (a sidecar's destination, or the gateway itself), as Consul's xDS server asks.
  if (call.backend.agent != nullptr) {
    auto it = call.backend.agent->services().find(id);
    if (it != call.backend.agent->services().end()) {
      const catalog::NodeService& s = it->second.service;
      const std::string& name = s.proxy && !s.proxy->destination_service_name.empty()
                                    ? s.proxy->destination_service_name
                                    : s.service;
      if (!Authorize(call, acl::Resource::kService, name, acl::Level::kWrite)) return;
    } else if (!Authorize(call, acl::Resource::kService, id, acl::Level::kWrite)) {
      return;
    }
  }
  if (manager == nullptr || manager->Find(id) == nullptr) {
    return call.Error(404, "unknown proxy service ID: " + id);
  }
  WatchHooks hooks;
  hooks.watch = [manager, id](const catalog::WatchSet&, std::function<void()> fire) {
    return manager->Watch(id, std::move(fire));
  };
  hooks.unwatch = [manager](catalog::WatchId w) { manager->Unwatch(w); };
  // Before its first config a proxy's request waits for it, blocking or not: the proxy has
  // nothing to serve until then.
  auto run = [&backend = call.backend, manager, id, blocking = call.opts.blocking,
              min_index = call.opts.min_index](bool final_run, catalog::WatchSet*,
                                               http::Response* out) {
    const proxycfg::Published* p = manager->Find(id);
    if (p == nullptr) {
      *out = ErrorResponse(404, "unknown proxy service ID: " + id);
      return true;
    }
    if (!p->config) {
      if (!p->error.empty()) {
        *out = ErrorResponse(500, "proxy " + id + ": " + p->error);
        return true;
      }
      if (!final_run) return false;
      *out = ErrorResponse(503, "proxy " + id + " has no config yet: waiting for " +
                                    p->waiting_for);
      return true;
    }
    if (blocking && p->version == min_index && !final_run) return false;
    *out = http::Response::Json(200, p->json);
    SetMetaHeaders(backend, p->version, out);
    return true;
  };
  Park(call.backend, call.opts.wait, std::move(hooks), std::move(run), call.cancel,
       std::move(call.reply));
}

}  // namespace

void AddProxyRoutes(std::vector<Route>* routes) {
  routes->push_back({"/v1/agent/connect/proxy/", {"GET"}, ProxyConfig});
}

}  // namespace gangway::api
