// The real gossip Transport: one UDP socket for packets and one TCP listener for streams on the
// same address and port, as memberlist's NetTransport. Lives on the agent's EventLoop; every
// callback runs on that loop.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "gossip/transport.h"
#include "net/event_loop.h"

namespace gangway::gossip {

class UdpTransport : public Transport {
 public:
  // Binds UDP and TCP on bind_ip:port (port 0: a free port that is free for both). advertise_ip
  // (may be empty: the bind IP, or 127.0.0.1 for a wildcard bind) is what peers are told.
  static Result<std::unique_ptr<UdpTransport>> Bind(net::EventLoop& loop, const std::string& bind_ip,
                                                    int port, const std::string& advertise_ip);
  ~UdpTransport() override;

  Address LocalAddress() const override;
  Status SendPacket(const Address& to, std::string bytes) override;
  void OpenStream(const Address& to, Duration timeout, OpenCallback done) override;
  void SetPacketHandler(PacketHandler handler) override;
  void SetStreamHandler(StreamHandler handler) override;

  int port() const;
  void Shutdown();

 private:
  struct Impl;
  explicit UdpTransport(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace gangway::gossip
