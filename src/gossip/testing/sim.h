// Simulated network for gossip tests: one simulated clock (core's SimLoop) drives many nodes in
// one process; packets and streams travel in memory with loss, delay, jitter, partitions and
// crashes, every choice drawn from a seeded Random, so a run replays exactly from its seed.
// Single-threaded; test code only (gangway_gossip_testing).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/duration.h"
#include "core/random.h"
#include "core/testing/sim_loop.h"
#include "gossip/security.h"
#include "gossip/transport.h"

namespace gangway::gossip::testing {

using TimePoint = std::chrono::steady_clock::time_point;

// The shared simulated-time loop (core/testing/sim_loop.h) drives the network and the nodes.
using SimLoop = gangway::testing::SimLoop;

// Properties of one direction of a link.
struct LinkOptions {
  // Probability that a datagram is lost. Stream segments are lost with the same probability
  // and then resent after a TCP-like timeout (1 s for connection setup, 200 ms doubling for
  // data), so streams arrive late rather than never.
  double loss = 0;
  Duration delay = std::chrono::milliseconds(1);   // one-way base latency
  Duration jitter = std::chrono::milliseconds(1);  // plus uniform [0, jitter)
};

struct SimNetworkStats {
  uint64_t packets_sent = 0;
  uint64_t packets_delivered = 0;
  uint64_t packets_lost = 0;     // random loss
  uint64_t packets_blocked = 0;  // partition, block or crash
  uint64_t bytes_sent = 0;
  uint64_t streams_opened = 0;
  uint64_t streams_refused = 0;
  uint64_t streams_timed_out = 0;
  uint64_t segments_resent = 0;
};

class SimTransport;

// The network between simulated nodes, addressed by Address. Owns the endpoints.
class SimNetwork {
 public:
  SimNetwork(SimLoop* loop, uint64_t seed);
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // A new endpoint listening on `addr` (packets and streams).
  Transport* AddNode(const Address& addr);

  void SetDefaultLink(const LinkOptions& link) { default_link_ = link; }
  // Overrides one direction.
  void SetLink(const Address& from, const Address& to, const LinkOptions& link);
  void ClearLinks() { links_.clear(); }
  // Nodes in different groups cannot reach each other; nodes in no group reach everyone.
  void Partition(const std::vector<std::vector<Address>>& groups);
  void Heal();
  // One direction blocked for packets and stream segments (a one-way fault).
  void Block(const Address& from, const Address& to) { blocked_.insert({from, to}); }
  void Unblock(const Address& from, const Address& to) { blocked_.erase({from, to}); }
  // A crashed node neither sends nor receives anything until restarted.
  void Crash(const Address& addr) { crashed_.insert(addr); }
  void Restart(const Address& addr) { crashed_.erase(addr); }

  bool Reachable(const Address& from, const Address& to) const;
  // Delivers bytes to `to` as if `from` had sent them, subject to the same rules.
  void InjectPacket(const Address& from, const Address& to, std::string bytes);

  const SimNetworkStats& stats() const { return stats_; }
  SimLoop* loop() const { return loop_; }

 private:
  friend class SimTransport;
  friend class SimStream;
  struct Pipe;

  const LinkOptions& Link(const Address& from, const Address& to) const;
  Duration SampleDelay(const Address& from, const Address& to);
  void SendPacket(const Address& from, const Address& to, std::string bytes);
  void OpenStream(const Address& from, const Address& to, Duration timeout,
                  Transport::OpenCallback done);
  // Sends one stream segment reliably: resent after `rto` (doubling) while lost or blocked,
  // until it arrives or the attempts run out. Runs `arrived` on arrival.
  void Transmit(Address from, Address to, Duration rto, int attempt, std::function<void()> arrived);
  void Kick(const std::shared_ptr<Pipe>& pipe, int dir);

  SimLoop* loop_;
  SeededRandom random_;
  LinkOptions default_link_;
  std::map<std::pair<Address, Address>, LinkOptions> links_;
  std::unordered_map<Address, int, AddressHash> group_;
  std::set<std::pair<Address, Address>> blocked_;
  std::set<Address> crashed_;
  std::unordered_map<Address, std::unique_ptr<SimTransport>, AddressHash> endpoints_;
  SimNetworkStats stats_;
};

// Nonces drawn from a Random: replayable ciphertext in simulations. Never for production.
class SeededNonceSource final : public NonceSource {
 public:
  explicit SeededNonceSource(uint64_t seed) : random_(seed) {}
  Status Next(Nonce* out) override;

 private:
  SeededRandom random_;
};

}  // namespace gangway::gossip::testing
