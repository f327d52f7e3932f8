#include "gossip/broadcast_queue.h"

#include <cmath>
#include <limits>

namespace gangway::gossip {

int RetransmitLimit(int retransmit_mult, int num_nodes) {
  const double node_scale = std::ceil(std::log10(static_cast<double>(num_nodes) + 1.0));
  return retransmit_mult * static_cast<int>(node_scale);
}

TransmitLimitedQueue::TransmitLimitedQueue(int retransmit_mult, std::function<int()> num_nodes)
    : retransmit_mult_(retransmit_mult), num_nodes_(std::move(num_nodes)) {}

TransmitLimitedQueue::~TransmitLimitedQueue() { Reset(); }

TransmitLimitedQueue::Item TransmitLimitedQueue::Take(Items::iterator it) {
  auto node = items_.extract(it);
  if (!node.mapped().name.empty()) by_name_.erase(node.mapped().name);
  return std::move(node.mapped());
}

void TransmitLimitedQueue::QueueBroadcast(std::unique_ptr<Broadcast> b) {
  if (b == nullptr) return;
  Item item{std::move(b), {}};
  item.name = std::string(item.b->Name());
  if (!item.name.empty()) {
    if (auto old = by_name_.find(item.name); old != by_name_.end()) {
      Item gone = Take(items_.find(old->second));
      gone.b->Finished();
    }
  } else if (!item.b->Unique()) {
    // Slow path, as in memberlist: only plain broadcasts can invalidate each other.
    std::vector<std::unique_ptr<Broadcast>> gone;
    for (auto it = items_.begin(); it != items_.end();) {
      const Broadcast& cur = *it->second.b;
      if (it->second.name.empty() && !cur.Unique() && item.b->Invalidates(cur)) {
        gone.push_back(std::move(it->second.b));
        it = items_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& g : gone) g->Finished();
  }
  const Key key{0, item.b->Message().size(), ++next_id_};
  if (!item.name.empty()) by_name_[item.name] = key;
  items_.emplace(key, std::move(item));
}

std::vector<std::string> TransmitLimitedQueue::GetBroadcasts(size_t overhead, size_t limit,
                                                             std::string_view to) {
  std::vector<std::string> out;
  if (items_.empty()) return out;
  const int transmit_limit = RetransmitLimit(retransmit_mult_, num_nodes_ ? num_nodes_() : 0);
  const int max_transmits = items_.rbegin()->first.transmits;
  size_t used = 0;
  std::vector<std::pair<Key, Item>> reinsert;
  std::vector<std::unique_ptr<Broadcast>> finished;
  for (int tier = items_.begin()->first.transmits; tier <= max_transmits;) {
    if (used + overhead >= limit) break;
    const size_t free = limit - used - overhead;
    // The first key of this tier whose message fits: lengths descend within a tier, and the
    // largest id sorts first among equal lengths.
    auto it = items_.lower_bound(Key{tier, free, std::numeric_limits<uint64_t>::max()});
    // Everything after it in the tier fits too. Named broadcasts are unique per name, so few
    // are ever skipped here.
    while (!to.empty() && it != items_.end() && it->first.transmits == tier &&
           it->second.b->KnownTo() == to) {
      ++it;
    }
    if (it == items_.end() || it->first.transmits != tier) {
      ++tier;
      continue;
    }
    Key key = it->first;
    Item item = Take(it);
    used += overhead + item.b->Message().size();
    out.emplace_back(item.b->Message());
    if (key.transmits + 1 >= transmit_limit) {
      finished.push_back(std::move(item.b));
    } else {
      // Re-inserted only after the walk, or the message would be found again in the next tier.
      ++key.transmits;
      reinsert.emplace_back(key, std::move(item));
    }
  }
  for (auto& [key, item] : reinsert) {
    if (!item.name.empty()) by_name_[item.name] = key;
    items_.emplace(key, std::move(item));
  }
  for (auto& f : finished) f->Finished();
  return out;
}

void TransmitLimitedQueue::Reset() {
  Items items = std::move(items_);
  items_.clear();
  by_name_.clear();
  for (auto& [key, item] : items) item.b->Finished();
}

void TransmitLimitedQueue::Prune(size_t max_retain) {
  std::vector<std::unique_ptr<Broadcast>> gone;
  while (items_.size() > max_retain) {
    gone.push_back(Take(std::prev(items_.end())).b);
  }
  for (auto& g : gone) g->Finished();
}

}  // namespace gangway::gossip
