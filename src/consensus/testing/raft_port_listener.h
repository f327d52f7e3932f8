// RaftPortListener: stands in for rpc::Server's port in consensus tests. A thread of its own
// accepts on 127.0.0.1 (port 0, reported by port()), reads the first chunk of each connection
// and, when its first byte is the Raft mode byte, hands the socket and the bytes after that byte
// to the handler, as rpc::Server::SetRaftHandler does. Anything else is closed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "consensus/handshake.h"

namespace gangway::consensus::testing {

class RaftPortListener {
 public:
  using Handler = std::function<void(int fd, std::string already_read)>;

  RaftPortListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(fd_, 64) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::abort();  // a test without loopback cannot run at all
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~RaftPortListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Runs on the listener's thread. Returns once no call of the previous handler is running, so
  // whatever it referred to may then be destroyed.
  void SetHandler(Handler h) {
    std::lock_guard<std::mutex> l(mu_);
    handler_ = std::move(h);
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      pollfd c{conn, POLLIN, 0};
      char buf[4096];
      ssize_t n = poll(&c, 1, 2000) == 1 ? recv(conn, buf, sizeof buf, 0) : -1;
      if (n <= 0 || static_cast<uint8_t>(buf[0]) != kRaftModeByte) {
        close(conn);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      if (handler_) {
        handler_(conn, std::string(buf + 1, size_t(n - 1)));
      } else {
        close(conn);
      }
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace gangway::consensus::testing
