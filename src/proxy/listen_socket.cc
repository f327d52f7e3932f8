#include "proxy/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gangway::proxy {
namespace {

Result<int> OpenOne(const sockaddr_storage& addr, socklen_t len, int backlog) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 ||
      ::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    return Unavailable(std::strerror(err));
  }
  return fd;
}

// SO_REUSEPORT lets any process of the same user join a port that is already listening, and the
// kernel would then share its connections with it. A plain bind first makes "in use" an error.
Status CheckFree(const sockaddr_storage& addr, socklen_t len) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // TIME_WAIT is no conflict
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  if (rc == 0) return Status::Ok();
  if (err == EADDRINUSE) return Unavailable("address already in use (by another process?)");
  return Unavailable(std::strerror(err));
}

}  // namespace

Result<ListenSockets> OpenListenSockets(const std::string& address, int port, int count) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  ListenSockets out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
    out.v6 = true;
  } else {
    return InvalidArgument("listen address \"" + address + "\" is not an IP literal");
  }
  std::string where = address + ":" + std::to_string(port);
  if (port != 0) {
    if (Status free = CheckFree(addr, len); !free.ok()) {
      return Unavailable("listen " + where + ": " + free.message());
    }
  }
  for (int i = 0; i < count; ++i) {
    auto fd = OpenOne(addr, len, 1024);
    if (!fd.ok()) {
      CloseFds(out.fds);
      return Unavailable("listen " + where + ": " + fd.status().message());
    }
    out.fds.push_back(*fd);
    if (i == 0) {
      sockaddr_storage bound{};
      socklen_t bound_len = sizeof(bound);
      ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
      out.port = ntohs(out.v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      // The other workers' sockets join the port the kernel picked.
      if (out.v6) {
        v6->sin6_port = htons(static_cast<uint16_t>(out.port));
      } else {
        v4->sin_port = htons(static_cast<uint16_t>(out.port));
      }
    }
  }
  return out;
}

void CloseFds(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

}  // namespace gangway::proxy
