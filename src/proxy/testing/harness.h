// Test-only helpers for the proxy: a CA and SPIFFE leaves, an echo app, and blocking TCP/TLS
// clients on 127.0.0.1. Plain POSIX and OpenSSL (no Asio), so tests compile quickly. Each object
// is used by one test thread; EchoServer runs its own threads.
#pragma once

#include <openssl/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "x509/x509.h"

namespace gangway::proxy::testing {

struct Identity {
  std::string cert_pem;
  std::string key_pem;
  std::string spiffe_id;
};

class TestCa {
 public:
  // A root for `trust_domain` (URI SAN spiffe://<td>).
  explicit TestCa(std::string trust_domain);
  const std::string& trust_domain() const { return trust_domain_; }
  std::string root_pem() const { return root_.ToPem(); }
  // A leaf for spiffe://<td>/ns/default/dc/<dc>/svc/<service>.
  Identity Leaf(const std::string& service, const std::string& dc = "dc1") const;

 private:
  std::string trust_domain_;
  x509::PrivateKey key_;
  x509::Certificate root_;
};

// A loopback TCP server with a thread per connection running `session(fd)`; the destructor
// shuts every connection down and joins the threads.
class TcpServer {
 public:
  TcpServer(std::function<void(int fd)> session, const char* what);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  int port() const { return port_; }

 private:
  std::function<void(int fd)> session_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> sessions_;
  std::vector<int> fds_;
};

// Echoes every byte back; closes its side when the client does.
class EchoServer {
 public:
  EchoServer();
  int port() const { return server_.port(); }

 private:
  TcpServer server_;
};

// A blocking TCP connection with 5 s read/write timeouts; -1 when the connect failed.
int ConnectTcp(int port);
// A port nothing listens on (bound, then closed).
int ClosedPort();
// Writes all of `data`; false on error.
bool WriteAll(int fd, std::string_view data);
// Reads until `n` bytes arrived, EOF, an error or the timeout; what arrived.
std::string ReadN(int fd, size_t n);
// True when the peer closed (EOF or reset) within the fd's timeout.
bool ReadsEof(int fd);

// A blocking TLS client over ConnectTcp. `identity` may be null (no client certificate).
class TlsClient {
 public:
  TlsClient(int port, const std::string& sni, const Identity* identity,
            const std::vector<std::string>& roots_pem);
  ~TlsClient();
  // SSL_connect's result; with TLS 1.3 a server's refusal of our certificate shows on first read.
  bool handshake_ok() const { return handshake_ok_; }
  bool Write(std::string_view data);
  std::string Read(size_t n);

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool handshake_ok_ = false;
};

// Polls `condition` until it holds or `timeout` passes; returns its last value.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace gangway::proxy::testing
