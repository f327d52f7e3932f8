#include "agent/tls.h"

#include "core/log.h"

namespace gangway::agent {

namespace {

const nlohmann::json* Find(const nlohmann::json& j, const char* pointer) {
  nlohmann::json::json_pointer p(pointer);
  return j.contains(p) ? &j.at(p) : nullptr;
}

x509::TlsSettings Merge(const TLSFiles& specific, const TLSFiles& defaults) {
  auto str = [](const std::string& a, const std::string& b) { return a.empty() ? b : a; };
  auto flag = [](std::optional<bool> a, std::optional<bool> b) {
    return a.value_or(b.value_or(false));
  };
  x509::TlsSettings s;
  s.ca_file = str(specific.ca_file, defaults.ca_file);
  s.ca_path = str(specific.ca_path, defaults.ca_path);
  s.cert_file = str(specific.cert_file, defaults.cert_file);
  s.key_file = str(specific.key_file, defaults.key_file);
  s.verify_incoming = flag(specific.verify_incoming, defaults.verify_incoming);
  s.verify_outgoing = flag(specific.verify_outgoing, defaults.verify_outgoing);
  s.verify_server_hostname = flag(specific.verify_server_hostname, defaults.verify_server_hostname);
  s.tls_min_version = str(specific.tls_min_version, defaults.tls_min_version);
  return s;
}

// The deprecated verify_incoming_https / verify_incoming_rpc override, when set.
void Legacy(const Config& cfg, const char* key, x509::TlsSettings* s) {
  if (const auto* v = Find(cfg.merged, key); v != nullptr && v->is_boolean()) {
    s->verify_incoming = v->get<bool>();
  }
}

}  // namespace

x509::TlsSettings HttpsTlsSettings(const Config& cfg) {
  x509::TlsSettings s = Merge(cfg.tls_https, cfg.tls_defaults);
  if (!cfg.tls_https.verify_incoming) Legacy(cfg, "/verify_incoming_https", &s);
  s.verify_server_hostname = false;  // an internal_rpc setting only
  return s;
}

x509::TlsSettings InternalRpcTlsSettings(const Config& cfg) {
  x509::TlsSettings s = Merge(cfg.tls_internal_rpc, cfg.tls_defaults);
  if (!cfg.tls_internal_rpc.verify_incoming) Legacy(cfg, "/verify_incoming_rpc", &s);
  // verify_server_hostname implies verify_outgoing (Consul does the same).
  if (s.verify_server_hostname) s.verify_outgoing = true;
  return s;
}

Result<RpcTls> BuildRpcTls(const Config& cfg) {
  x509::TlsSettings settings = InternalRpcTlsSettings(cfg);
  RpcTls out;
  auto fail = [](const Status& s) { return InvalidArgument("Failed to configure RPC TLS: " + s.message()); };
  if (cfg.server && (!settings.cert_file.empty() || settings.verify_incoming)) {
    auto ctx = x509::BuildTlsContext(settings, x509::TlsRole::kServer);
    if (!ctx.ok()) return fail(ctx.status());
    out.server.context = std::make_shared<const x509::TlsContext>(std::move(*ctx));
  }
  if (settings.verify_outgoing) {
    auto ctx = x509::BuildTlsContext(settings, x509::TlsRole::kClient);
    if (!ctx.ok()) return fail(ctx.status());
    out.client.context = std::make_shared<const x509::TlsContext>(std::move(*ctx));
    out.client.datacenter = cfg.datacenter;
    std::string domain = cfg.domain;
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    if (!domain.empty()) out.client.domain = domain;
  }
  return out;
}

Status StartHttpsListeners(const Config& cfg, net::EventLoop& loop, http::Handler& handler,
                           std::vector<std::unique_ptr<http::Server>>* listeners) {
  if (cfg.ports.https < 0) return Status::Ok();
  auto tls = x509::BuildTlsContext(HttpsTlsSettings(cfg), x509::TlsRole::kServer);
  if (!tls.ok()) {
    return InvalidArgument("error starting HTTPS listener: " + tls.status().message());
  }
  http::ServerOptions options;
  options.io_threads = cfg.http_io_threads;
  options.tls = std::make_shared<const x509::TlsContext>(std::move(*tls));
  for (const auto& addr : cfg.client_addrs) {
    auto l = std::make_unique<http::Server>(loop, handler, options);
    auto port = l->Listen(addr, cfg.ports.https);
    if (!port.ok()) return port.status();
    LogInfo("agent", "Started HTTPS server: address=" + addr + ":" + std::to_string(*port) +
                         " network=tcp");
    listeners->push_back(std::move(l));
  }
  return Status::Ok();
}

}  // namespace gangway::agent
