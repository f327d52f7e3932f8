// HTTP/1.1 server (Boost.Beast), plain or over TLS: keep-alive, body size limit, one coroutine per connection on the
// owning EventLoop. Requests go to a Handler as plain Request values. Loop thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/message.h"
#include "net/event_loop.h"
#include "x509/tls_context.h"

namespace gangway::http {

struct ServerOptions {
  size_t max_body_bytes = 512 * 1024;  // Consul's default for KV values is 512 KiB
  size_t max_header_bytes = 64 * 1024;
  // When set, connections are TLS (HTTPS) with this server context; a client that fails the
  // handshake (say, no certificate under verify_incoming) is logged and dropped.
  std::shared_ptr<const x509::TlsContext> tls;
};

// Parses one complete HTTP/1.1 request from bytes, with the server's limits, exactly as a
// connection would (same parser, same target decoding). For the fuzz target and tests.
Result<Request> ParseRequest(std::string_view bytes, const ServerOptions& options = {});

class Server {
 public:
  Server(net::EventLoop& loop, Handler& handler, ServerOptions options = {});
  ~Server();

  // Binds and starts accepting. port 0 picks a free port; returns the bound port.
  Result<int> Listen(const std::string& address, int port);
  void Close();
  size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gangway::http
