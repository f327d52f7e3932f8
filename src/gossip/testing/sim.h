// Simulated time and network for gossip tests: one virtual clock drives many nodes in one
// process; packets and streams travel in memory with loss, delay, jitter, partitions and
// crashes, every choice drawn from a seeded Random, so a run replays exactly from its seed.
// Single-threaded (SimLoop::Post excepted); test code only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/duration.h"
#include "core/loop.h"
#include "core/random.h"
#include "gossip/security.h"
#include "gossip/transport.h"

namespace gangway::gossip::testing {

using TimePoint = std::chrono::steady_clock::time_point;

// A Loop on virtual time. Nothing happens until Run* is called; then events run in time order
// (ties in the order they were scheduled) and Now() jumps from one event to the next.
class SimLoop final : public Loop {
 public:
  SimLoop();
  ~SimLoop() override;

  void Post(std::function<void()> fn) override;  // any thread
  std::unique_ptr<Timer> After(std::chrono::nanoseconds d, std::function<void()> fn) override;
  TimePoint Now() const override { return now_; }
  // Like After, without a handle: the event cannot be cancelled.
  void Defer(Duration d, std::function<void()> fn);

  // Runs every event due up to and including `deadline`; Now() is `deadline` afterwards.
  void RunUntil(TimePoint deadline);
  void RunFor(Duration d) { RunUntil(now_ + d); }
  // Runs until pred() holds, checking it every `step` of virtual time, for at most `limit`.
  // Returns whether it held.
  bool RunUntil(const std::function<bool()>& pred, Duration limit,
                Duration step = std::chrono::milliseconds(100));

  uint64_t events_run() const { return events_run_; }
  size_t pending() const;

 private:
  struct Slot {
    std::function<void()> fn;
    bool cancelled = false;
  };
  struct Entry {
    TimePoint at;
    uint64_t seq;
    std::shared_ptr<Slot> slot;
    bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  class SimTimer;

  std::shared_ptr<Slot> Schedule(TimePoint at, std::function<void()> fn);

  TimePoint now_;
  mutable std::mutex mu_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
};

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
