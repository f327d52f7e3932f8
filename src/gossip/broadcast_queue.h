// memberlist's TransmitLimitedQueue (§9.5): messages waiting to be piggybacked on gossip, each
// sent RetransmitMult × ceil(log10(n + 1)) times, least-sent first. Memberlist uses one for its
// alive/suspect/dead messages and Serf keeps its own for intents, events and queries. Owned by
// its user; one loop, not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gangway::gossip {

// One message to gossip.
class Broadcast {
 public:
  virtual ~Broadcast() = default;
  // The bytes to send. Must not change while queued.
  virtual std::string_view Message() const = 0;
  // A non-empty name makes this a named broadcast: queueing it replaces any queued broadcast of
  // the same name (memberlist names its messages by node, so a newer alive/suspect/dead about X
  // replaces the older one).
  virtual std::string_view Name() const { return {}; }
  // A unique broadcast never invalidates anything (Serf's intents, events and queries).
  virtual bool Unique() const { return false; }
  // For broadcasts that are neither named nor unique: whether this one makes `other` obsolete.
  // Only consulted for other such broadcasts.
  virtual bool Invalidates(const Broadcast& /*other*/) const { return false; }
  // A node known to hold this news already (memberlist: the node an alive message is about).
  // Packets to that node leave the broadcast in the queue instead of spending a transmission on
  // it. Empty = none.
  virtual std::string_view KnownTo() const { return {}; }
  // Called once when the broadcast leaves the queue: sent its last time, replaced, pruned or
  // reset. Runs inside the queue call that removed it; it must not touch the queue.
  virtual void Finished() {}
};

// A broadcast holding its bytes, with an optional name and completion callback.
class SimpleBroadcast final : public Broadcast {
 public:
  explicit SimpleBroadcast(std::string message, std::string name = {}, bool unique = false,
                           std::function<void()> finished = nullptr)
      : message_(std::move(message)),
        name_(std::move(name)),
        unique_(unique),
        finished_(std::move(finished)) {}
  std::string_view Message() const override { return message_; }
  std::string_view Name() const override { return name_; }
  bool Unique() const override { return unique_; }
  void Finished() override {
    if (finished_) std::exchange(finished_, nullptr)();
  }

 private:
  std::string message_;
  std::string name_;
  bool unique_;
  std::function<void()> finished_;
};

// RetransmitMult × ceil(log10(n + 1)): 4 for n <= 9, 8 for n <= 99, 12 for n <= 999 on LAN.
int RetransmitLimit(int retransmit_mult, int num_nodes);

class TransmitLimitedQueue {
 public:
  // num_nodes is asked on every GetBroadcasts for the current cluster size estimate.
  TransmitLimitedQueue(int retransmit_mult, std::function<int()> num_nodes);
  ~TransmitLimitedQueue();  // Finished() on whatever is left
  TransmitLimitedQueue(const TransmitLimitedQueue&) = delete;
  TransmitLimitedQueue& operator=(const TransmitLimitedQueue&) = delete;

  void QueueBroadcast(std::unique_ptr<Broadcast> b);

  // Takes messages for one packet: each costs `overhead` + its size and the total stays within
  // `limit`. Order: fewest transmits first, then larger, then newer; each message at most once
  // per call. A message that reaches the retransmit limit leaves the queue (Finished()).
  // `to` names the packet's recipient when known: broadcasts KnownTo() it are skipped, and keep
  // their transmissions for nodes that may not have heard.
  std::vector<std::string> GetBroadcasts(size_t overhead, size_t limit, std::string_view to = {});

  size_t NumQueued() const { return items_.size(); }
  // Drops everything (Finished() on each).
  void Reset();
  // Keeps the max_retain newest-ranked messages: drops the most transmitted, smallest, oldest.
  void Prune(size_t max_retain);

  void set_retransmit_mult(int mult) { retransmit_mult_ = mult; }

 private:
  struct Key {
    int transmits;
    size_t len;
    uint64_t id;
    // Ascending transmits, then descending length, then descending id (newest first).
    bool operator<(const Key& o) const {
      if (transmits != o.transmits) return transmits < o.transmits;
      if (len != o.len) return len > o.len;
      return id > o.id;
    }
  };
  struct Item {
    std::unique_ptr<Broadcast> b;
    std::string name;
  };
  using Items = std::map<Key, Item>;

  Item Take(Items::iterator it);  // removes it from both indexes, without Finished()

  int retransmit_mult_;
  std::function<int()> num_nodes_;
  uint64_t next_id_ = 0;
  Items items_;
  std::unordered_map<std::string, Key> by_name_;
};

}  // namespace gangway::gossip
