// Agent TLS settings per listener, as Consul merges them: tls.https / tls.internal_rpc over
// tls.defaults over the legacy top-level keys (and verify_incoming_https/_rpc), and the HTTPS
// listeners that serve the HTTP API over TLS. Loop thread only.
#pragma once

#include <memory>
#include <vector>

#include "agent/config.h"
#include "core/status.h"
#include "http/server.h"
#include "net/event_loop.h"
#include "x509/tls_context.h"

namespace gangway::agent {

x509::TlsSettings HttpsTlsSettings(const Config& cfg);
// For the server RPC port (8300); the name to expect is x509::RpcServerName(cfg.datacenter).
x509::TlsSettings InternalRpcTlsSettings(const Config& cfg);

// Starts one HTTPS listener per client address on ports.https (nothing when it is -1), each
// logging "Started HTTPS server: address=<ip>:<port> network=tcp". Errors name the file or
// address at fault.
Status StartHttpsListeners(const Config& cfg, net::EventLoop& loop, http::Handler& handler,
                           std::vector<std::unique_ptr<http::Server>>* listeners);

}  // namespace gangway::agent
