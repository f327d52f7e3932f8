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
#include "rpc/rpc.h"
#include "x509/tls_context.h"

namespace gangway::agent {

x509::TlsSettings HttpsTlsSettings(const Config& cfg);
// For the server RPC port (8300); the name to expect is x509::RpcServerName(cfg.datacenter).
x509::TlsSettings InternalRpcTlsSettings(const Config& cfg);

// TLS for the server RPC port, from InternalRpcTlsSettings(cfg), built once: a server context
// on servers with a cert_file (or verify_incoming), a client context when verify_outgoing is
// set (every outgoing RPC is then TLS). Either may be empty (plaintext). Errors name the file:
// "Failed to configure RPC TLS: Failed to read ca_file: open /x.pem: ...".
struct RpcTls {
  rpc::ServerTls server;
  rpc::ClientTls client;
};
Result<RpcTls> BuildRpcTls(const Config& cfg);

// Starts one HTTPS listener per client address on ports.https (nothing when it is -1), each
// logging "Started HTTPS server: address=<ip>:<port> network=tcp". Errors name the file or
// address at fault.
Status StartHttpsListeners(const Config& cfg, net::EventLoop& loop, http::Handler& handler,
                           std::vector<std::unique_ptr<http::Server>>* listeners);

}  // namespace gangway::agent
