#include "proxy/segment.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace gangway::proxy {

size_t SegmentChunk(int fd) {
  constexpr size_t kMax = 64 * 1024;
  int mss = 0;
  socklen_t len = sizeof mss;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len) != 0 || mss < 512 ||
      static_cast<size_t>(mss) > kMax) {
    return kMax;
  }
  const size_t seg = static_cast<size_t>(mss);
  return kMax / seg * seg;
}

}  // namespace gangway::proxy
