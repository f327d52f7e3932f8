// A gossip pool as the agent runs it: Serf over a UdpTransport with its own keyring and
// randomness. The LAN pool has every agent of a datacenter; the WAN pool has the servers of all
// datacenters. Owned by the agent; loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/status.h"
#include "gossip/serf.h"
#include "gossip/udp_transport.h"
#include "net/event_loop.h"

namespace gangway::gossip {

struct PoolOptions {
  enum class Profile { kLan, kWan, kLocal };
  Profile profile = Profile::kLan;
  std::string name;          // member name (WAN: "<node>.<dc>")
  std::string bind_ip = "0.0.0.0";
  int port = 8301;           // 0: any free port
  std::string advertise_ip;  // empty: the bind IP (127.0.0.1 for a wildcard bind)
  Tags tags;
  std::string encrypt_key;   // base64 (16, 24 or 32 bytes), empty: no encryption
  bool verify_incoming = true;
  bool verify_outgoing = true;
  // Overrides of the profile's memberlist knobs (Consul's gossip_lan / gossip_wan); zero keeps
  // the profile's value.
  int gossip_nodes = 0;
  Duration gossip_interval{0};
  Duration probe_interval{0};
  Duration probe_timeout{0};
  int retransmit_mult = 0;
  int suspicion_mult = 0;
  // No Vivaldi coordinates in this pool (disable_coordinates).
  bool disable_coordinates = false;
  // Veto of joining members (SerfOptions::merge): the agent refuses other datacenters on the LAN
  // and non-servers on the WAN.
  std::function<Status(const std::vector<Member>&)> merge;
};

class Pool {
 public:
  static Result<std::unique_ptr<Pool>> Start(net::EventLoop& loop, PoolOptions options,
                                             SerfHandlers handlers = {});
  ~Pool();

  // Joins through "host[:port]" addresses (port defaults to this pool's). done(count, status).
  void Join(const std::vector<std::string>& addrs, std::function<void(int, Status)> done);
  void Leave(std::function<void(Status)> done);
  void ForceLeave(const std::string& node, bool prune, std::function<void(Status)> done);
  void Shutdown();

  // Also hears every user event of this pool, after the handler given to Start (if any). For
  // owners that come after the pool, such as the agent's user-event buffer.
  void AddUserEventHandler(std::function<void(const UserEvent&)> handler) {
    user_event_handlers_.push_back(std::move(handler));
  }

  std::vector<Member> Members() const { return serf_->Members(); }
  Member LocalMember() const { return serf_->LocalMember(); }
  bool Encrypted() const { return keyring_ != nullptr && !keyring_->empty(); }
  int port() const { return transport_->port(); }
  Serf& serf() { return *serf_; }
  const PoolOptions& options() const { return options_; }

 private:
  Pool() = default;
  PoolOptions options_;
  std::unique_ptr<UdpTransport> transport_;
  std::unique_ptr<SeededRandom> random_;
  std::unique_ptr<Keyring> keyring_;
  std::vector<std::function<void(const UserEvent&)>> user_event_handlers_;
  std::unique_ptr<Serf> serf_;
};

}  // namespace gangway::gossip
