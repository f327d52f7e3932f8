// How much to hand a TCP connection in one call: whole segments of it, about 64 KiB (one GSO
// packet). Shared by the gateway's splice and the TLS stream's sealed bursts (docs/proxy.md).
#pragma once

#include <cstddef>

namespace gangway::proxy {

// The largest multiple of the connection's current MSS (TCP_MAXSEG) up to 64 KiB; 64 KiB when
// the socket does not say. A call that leaves a sliver of a segment behind makes a pacing
// congestion control (BBR without the fq qdisc) wait for a timer for the sliver, and wakes the
// next hop for it alone: on the loopback a segment is 65,483 bytes, so 64 KiB exactly would
// leave 53 bytes. Ask again for every burst: the kernel bounds a connection's segment to half
// the largest window its peer has offered, so a new connection starts with smaller segments
// (43,008 bytes on the loopback) and reaches 65,483 only once the peer's window has grown.
size_t SegmentChunk(int fd);

}  // namespace gangway::proxy
