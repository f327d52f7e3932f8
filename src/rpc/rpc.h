// Server RPC over TCP (docs/rpc.md): a Server that answers registered methods and a Client that
// multiplexes calls over one connection per server address, either optionally over TLS (mode
// byte 0x03). Both live on the control loop; every callback runs there, never inside the call
// that registered it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/duration.h"
#include "core/status.h"
#include "net/event_loop.h"
#include "x509/tls_context.h"

namespace gangway::rpc {

// What a method handler gets besides the body. on_cancel (optional, set by the handler) runs if
// the caller cancels or its connection goes away before the reply.
struct CallContext {
  std::string remote;  // "ip:port" of the caller
  std::function<void()> on_cancel;
};

// reply exactly once (later replies and replies after a cancel are dropped).
using ReplyFn = std::function<void(Result<std::string>)>;
using MethodHandler =
    std::function<void(std::string body, std::shared_ptr<CallContext> ctx, ReplyFn reply)>;

// TLS for a Server: a context built with x509::TlsRole::kServer (immutable, shared). With it the
// server accepts mode 0x03; when its settings have verify_incoming, a client certificate signed
// by the CA is required and plaintext 'G' connections are refused.
struct ServerTls {
  std::shared_ptr<const x509::TlsContext> context;  // null: no TLS (0x03 is refused)
};

// TLS for a Client: with a context (x509::TlsRole::kClient) every connection is TLS (Consul's
// verify_outgoing). The server's certificate is checked against the context's CA, and with
// verify_server_hostname must name server.<datacenter>.<domain> (x509::RpcServerName).
struct ClientTls {
  std::shared_ptr<const x509::TlsContext> context;  // null: plaintext
  std::string datacenter;  // of this agent: the default for Call's `datacenter`
  std::string domain = "consul";
};

class Server {
 public:
  explicit Server(net::EventLoop& loop, ServerTls tls = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Register(const std::string& method, MethodHandler handler);
  // Connections whose mode byte is 0x01 (Raft): the socket is released from the server and its
  // fd handed over, with the bytes already read after the mode byte; the handler owns the fd.
  // Runs on the loop. Without a handler such connections are closed as an unknown mode.
  // Raft inside TLS (0x03, handshake, inner 0x01): the handler gets one end of a socketpair and
  // the bytes read after the inner mode byte; the server relays between the TLS stream and the
  // other end on the loop until either side closes (Close closes relays too). With
  // verify_incoming, a plaintext 0x01 is refused (logged) and closed.
  using RaftHandler = std::function<void(int fd, std::string already_read)>;
  void SetRaftHandler(RaftHandler handler);
  // Binds and starts accepting; returns the bound port (useful with port 0).
  Result<int> Listen(const std::string& ip, int port);
  // Stops accepting and closes every connection. Idempotent.
  void Close();

  struct Stats {
    uint64_t connections = 0;
    uint64_t calls = 0;
    uint64_t protocol_errors = 0;
    uint64_t tls_handshake_errors = 0;
    uint64_t plaintext_refused = 0;  // 'G' or 0x01 without TLS under verify_incoming
    uint64_t raft_relayed = 0;       // Raft connections inside TLS handed over through a relay
  };
  Stats stats() const;

  struct Impl;  // public so the connection types in rpc.cc can name it

 private:
  std::shared_ptr<Impl> impl_;
};

class Client {
 public:
  explicit Client(net::EventLoop& loop, ClientTls tls = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Calls `method` on the server at "ip:port". done(body or error) exactly once, on the loop:
  // the server's error (with its code), Unavailable when the connection failed or broke, or
  // Unavailable "rpc: ... timed out" after `timeout`. The returned function cancels the call
  // (done is then not called; the server is told). With TLS, a failed handshake fails the call
  // with "rpc: TLS handshake with <address> failed: <x509::HandshakeFailureMessage>", and a
  // server refusing plaintext with its error ("rpc: server requires TLS (verify_incoming) ...").
  // `datacenter` is the server's, for the TLS server name; "" means the client's own.
  std::function<void()> Call(const std::string& address, const std::string& method,
                             std::string body, Duration timeout,
                             std::function<void(Result<std::string>)> done,
                             const std::string& datacenter = "");

  // Raft inside TLS (docs/rpc.md, "Raft (mode 0x01)"), for the Raft transport's dials: connects
  // to the server at "ip:port", writes 0x03, does the client side of the handshake as Call does
  // (the server name is server.<this client's datacenter>.<domain>), writes the inner mode byte
  // 0x01, then relays on the loop between the TLS stream and one end of a socketpair. done(fd, "")
  // gives the other end (the caller owns it; the next bytes it writes are the Raft handshake), or
  // done(-1, error) with Call's texts ("rpc: TLS handshake with <address> failed: <reason>", "rpc:
  // connecting to <address> timed out", ...). A refusal that reaches the relay after the
  // handshake (TLS 1.3: the server rejecting our certificate) closes the fd and is logged. Needs
  // a TLS context. done runs on the loop, never inside the call.
  using RaftDialDone = std::function<void(int fd, std::string error)>;
  void DialRaft(const std::string& address, RaftDialDone done);

  // Fails every call in flight (and Raft dials in progress) and closes all connections, relays
  // included. Idempotent.
  void Close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace gangway::rpc
