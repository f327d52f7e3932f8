// PortSink: takes a stopped node's 127.0.0.1 port in consensus tests and reads and drops
// everything peers send there, as a host that went silent would. Owned by the test; a thread of
// its own accepts and reads; Connected/Discarded may be called from any thread.
//
// Why a stopped node needs one: libraft's TCP client keeps the messages it cannot deliver to a
// peer (at each failed connect the newest three, plus all it built since) and writes them as soon
// as the peer's port accepts again. A node restarted on a bare port therefore first receives
// what was sent to it while it was down, AppendEntries with their entries included, even entries
// the sender has compacted since. Once a client has connected to the sink its held-back messages
// are written here, and so is everything it sends until the sink closes; closing drops whatever
// was not read yet (the peer gets a reset, and libraft never resends a failed message).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace gangway::consensus::testing {

class PortSink {
 public:
  // Listens on 127.0.0.1:port. SO_REUSEADDR, as libuv binds, so that the stopped node's
  // connections in TIME_WAIT do not keep the sink (or the node, later) off the port.
  explicit PortSink(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ < 0 || setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0) {
      if (fd_ >= 0) close(fd_);
      fd_ = -1;
      return;
    }
    thread_ = std::thread([this] { Run(); });
  }

  ~PortSink() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (const Conn& c : conns_) close(c.fd);
    if (fd_ >= 0) close(fd_);
  }

  PortSink(const PortSink&) = delete;
  PortSink& operator=(const PortSink&) = delete;

  // False when the port could not be taken.
  bool ok() const { return fd_ >= 0; }

  // Whether server `id`'s client has written its whole handshake here: libraft then hands it the
  // stream, and the messages it held back for this address are written to it.
  bool Connected(uint64_t id) const {
    std::lock_guard<std::mutex> l(mu_);
    return connected_.count(id) != 0;
  }

  // Bytes after the handshake dropped from server id's connections.
  size_t Discarded(uint64_t id) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = discarded_.find(id);
    return it == discarded_.end() ? 0 : it->second;
  }

 private:
  // libraft 0.15's TCP handshake: protocol version, server id, size of the address field (all
  // u64 little endian), then the address field.
  static constexpr size_t kHandshakeFixed = 24;

  struct Conn {
    int fd = -1;
    size_t read = 0;
    unsigned char fixed[kHandshakeFixed] = {};
    uint64_t id = 0;
    size_t handshake = 0;  // its whole length, once the fixed part is in
  };

  static uint64_t Le64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }

  void Consume(Conn& c, const unsigned char* data, size_t n) {
    size_t before = c.read;
    c.read += n;
    for (size_t i = before; i < c.read && i < kHandshakeFixed; ++i) c.fixed[i] = data[i - before];
    if (c.handshake == 0 && c.read >= kHandshakeFixed) {
      c.id = Le64(c.fixed + 8);
      c.handshake = kHandshakeFixed + Le64(c.fixed + 16);
    }
    if (c.handshake == 0 || c.read < c.handshake) return;
    std::lock_guard<std::mutex> l(mu_);
    connected_.insert(c.id);
    discarded_[c.id] += c.read - std::max(before, c.handshake);
  }

  void Run() {
    std::vector<unsigned char> buf(64 * 1024);
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (const Conn& c : conns_) fds.push_back({c.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Conn& c = conns_[i - 1];
        ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
        if (n > 0) {
          Consume(c, buf.data(), size_t(n));
        } else {
          close(c.fd);
          c.fd = -1;
        }
      }
      std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
      if (fds[0].revents & POLLIN) {
        int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0) conns_.push_back(Conn{.fd = conn});
      }
    }
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::vector<Conn> conns_;  // sink thread only
  mutable std::mutex mu_;
  std::set<uint64_t> connected_;
  std::map<uint64_t, size_t> discarded_;
  std::thread thread_;
};

}  // namespace gangway::consensus::testing
