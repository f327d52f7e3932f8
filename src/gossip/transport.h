// What the memberlist engine needs from a network: best-effort datagrams and short-lived byte
// streams (memberlist's UDP + TCP on one port). The real implementation binds sockets on the
// agent's loop; testing/sim.h routes in memory on simulated time. A Transport and its Streams
// belong to one loop: every method is called, and every callback runs, on that loop.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/duration.h"
#include "core/status.h"

namespace gangway::gossip {

// A gossip peer's IP and port. The IP is kept as memberlist carries it in alive.Addr: 4 raw
// bytes for IPv4 (IPv4-mapped IPv6 addresses are folded to 4 bytes so they compare equal) or 16
// for IPv6. Never identify a peer by a stream's source address (§6): Go dials unbound.
struct Address {
  std::string ip;
  uint16_t port = 0;

  // From raw IP bytes; fails unless there are 4 or 16 of them.
  static Result<Address> FromIp(std::string_view ip_bytes, uint16_t port);
  // "10.0.0.1:8301", "10.0.0.1" (default_port), "[::1]:8301" or "::1". Literal IPs only: names
  // are resolved by the caller (the pool), which knows about DNS.
  static Result<Address> Parse(std::string_view text, uint16_t default_port);

  bool empty() const { return ip.empty(); }
  std::string IpString() const;
  std::string ToString() const;  // "10.0.0.1:8301", "[::1]:8301"

  auto operator<=>(const Address&) const = default;
};

struct AddressHash {
  size_t operator()(const Address& a) const { return std::hash<std::string>()(a.ip) * 31 + a.port; }
};

// One connection: the dialer writes one request, the listener answers with at most one reply,
// then both close (§6). Callbacks run on the loop, never inside the call that registered them.
// Destroying a Stream closes it and cancels its pending callbacks.
class Stream {
 public:
  virtual ~Stream() = default;
  // Queues bytes; done(ok) once they are handed to the network, or an error (reset, closed).
  virtual void Write(std::string bytes, std::function<void(Status)> done) = 0;
  // Delivers the next bytes that arrived (any amount), an empty string at end of stream, or an
  // error. One Read may be outstanding at a time.
  virtual void Read(std::function<void(Result<std::string>)> done) = 0;
  // Closes our direction after the bytes already written; pending callbacks are dropped.
  virtual void Close() = 0;
  // The address the connection came from or went to; for logs only.
  virtual Address remote() const = 0;
};

class Transport {
 public:
  using PacketHandler = std::function<void(const Address& from, std::string bytes)>;
  using StreamHandler = std::function<void(std::unique_ptr<Stream> stream)>;
  using OpenCallback = std::function<void(Result<std::unique_ptr<Stream>>)>;

  virtual ~Transport() = default;

  // The address peers reach us on (what our alive messages advertise).
  virtual Address LocalAddress() const = 0;
  // Sends one datagram. Delivery is not guaranteed; an error means it certainly was not sent.
  virtual Status SendPacket(const Address& to, std::string bytes) = 0;
  // Connects to `to`; done gets the stream, or an error (refused, unreachable, timeout).
  virtual void OpenStream(const Address& to, Duration timeout, OpenCallback done) = 0;
  // Where incoming datagrams and accepted streams go. Pass nullptr to detach (before the
  // handler's owner goes away).
  virtual void SetPacketHandler(PacketHandler handler) = 0;
  virtual void SetStreamHandler(StreamHandler handler) = 0;
};

}  // namespace gangway::gossip
