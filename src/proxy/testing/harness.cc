#include "proxy/testing/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace gangway::proxy::testing {
namespace {

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.status().message());
  return std::move(*r);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

void SetTimeouts(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

TestCa::TestCa(std::string trust_domain) : trust_domain_(std::move(trust_domain)) {
  key_ = Must(x509::GenerateKey(), "root key");
  x509::CAOptions options;
  options.subject.common_name = "Test CA " + trust_domain_;
  options.uris = {"spiffe://" + trust_domain_};
  root_ = Must(x509::CreateCA(key_, options), "root");
}

Identity TestCa::Leaf(const std::string& service, const std::string& dc) const {
  Identity id;
  id.spiffe_id = "spiffe://" + trust_domain_ + "/ns/default/dc/" + dc + "/svc/" + service;
  x509::PrivateKey key = Must(x509::GenerateKey(), "leaf key");
  x509::CertOptions options;
  options.subject.common_name = service;
  options.sans.uris = {id.spiffe_id};
  options.server_auth = true;
  options.client_auth = true;
  options.validity = std::chrono::hours(24);
  id.cert_pem = Must(x509::SignCertificate(key.native(), options, root_, key_), "leaf").ToPem();
  id.key_pem = key.ToPem();
  return id;
}

TcpServer::TcpServer(std::function<void(int fd)> session, const char* what)
    : session_(std::move(session)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::pipe(stop_pipe_) != 0) {
    throw std::runtime_error(std::string(what) + ": bind/listen failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      sessions_.emplace_back([this, fd] { session_(fd); });
    }
  });
}

TcpServer::~TcpServer() {
  (void)!::write(stop_pipe_[1], "x", 1);
  acceptor_.join();
  std::lock_guard lock(mu_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  for (auto& t : sessions_) t.join();
  for (int fd : fds_) ::close(fd);
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

EchoServer::EchoServer()
    : server_(
          [](int fd) {
            char buf[16384];
            for (;;) {
              ssize_t n = ::read(fd, buf, sizeof(buf));
              if (n <= 0) break;
              if (!WriteAll(fd, std::string_view(buf, static_cast<size_t>(n)))) break;
            }
            ::shutdown(fd, SHUT_WR);
          },
          "echo") {}

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SetTimeouts(fd);
  sockaddr_in addr = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadN(int fd, size_t n) {
  std::string out;
  char buf[16384];
  while (out.size() < n) {
    ssize_t got = ::read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

bool ReadsEof(int fd) {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

TlsClient::TlsClient(int port, const std::string& sni, const Identity* identity,
                     const std::vector<std::string>& roots_pem) {
  fd_ = ConnectTcp(port);
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
  for (const auto& pem : roots_pem) {
    for (const auto& cert : Must(x509::ParseCertificatesPem(pem), "roots")) {
      X509_STORE_add_cert(store, cert.native());
    }
  }
  if (identity != nullptr) {
    auto cert = Must(x509::ParseCertificatePem(identity->cert_pem), "cert");
    auto key = Must(x509::ParsePrivateKeyPem(identity->key_pem), "key");
    SSL_CTX_use_certificate(ctx_, cert.native());
    SSL_CTX_use_PrivateKey(ctx_, key.native());
  }
  ssl_ = SSL_new(ctx_);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl_, sni.c_str());
  if (fd_ >= 0) {
    SSL_set_fd(ssl_, fd_);
    handshake_ok_ = SSL_connect(ssl_) == 1;
  }
}

TlsClient::~TlsClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool TlsClient::Write(std::string_view data) {
  if (!handshake_ok_) return false;
  return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
         static_cast<int>(data.size());
}

std::string TlsClient::Read(size_t n) {
  std::string out;
  if (!handshake_ok_) return out;
  char buf[16384];
  while (out.size() < n) {
    int got = SSL_read(ssl_, buf, static_cast<int>(std::min(sizeof(buf), n - out.size())));
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace gangway::proxy::testing
