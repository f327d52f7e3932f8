// HTTP/1.1 server (Boost.Beast parser), plain or over TLS: keep-alive, body size limit, one
// coroutine per connection. Connections are served from the server's own I/O threads (one per
// core by default); the Handler is always called on the owner EventLoop, and its Reply is
// expected there too (docs/architecture.md, "Threads"). Public methods: owner loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
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
  // Threads that read, parse and write connections (accept stays on the owner loop). Each has
  // its own io_context; accepted connections are spread over them round-robin and a connection
  // stays on one. kOnePerCore: std::thread::hardware_concurrency(), at least 1. 0: serve
  // connections on the owner loop itself (no threads; handy for tests on one thread).
  static constexpr int kOnePerCore = -1;
  int io_threads = kOnePerCore;
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
  // Stops accepting. With I/O threads it also stops and joins them and drops their connections
  // (requests in flight are never answered; replies that arrive later are discarded). Without,
  // connections already open are still served, as before.
  void Close();
  // Any thread.
  size_t open_connections() const;
  size_t io_threads() const;
  // Answers of one shared reply (ReplyGroup) that an I/O thread wrote for another's connections
  // once through with its own. Any thread.
  uint64_t answers_for_other_threads() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gangway::http
