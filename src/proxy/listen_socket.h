// Listening sockets for one proxy listener, one per worker, sharing the port with SO_REUSEPORT so
// the kernel spreads accepted connections over the workers. Opened by the thread applying a
// config (so a bind error reaches Apply's caller), then handed to the workers. Plain POSIX.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace gangway::proxy {

struct ListenSockets {
  std::vector<int> fds;  // non-blocking, close-on-exec, listening
  int port = 0;          // the bound port (the kernel's pick when asked for 0)
  bool v6 = false;
};

// `address` is an IP literal. Port 0: the first socket gets a free port, the others join it.
Result<ListenSockets> OpenListenSockets(const std::string& address, int port, int count);

void CloseFds(std::vector<int>& fds);

}  // namespace gangway::proxy
