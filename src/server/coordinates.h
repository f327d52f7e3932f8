// Network coordinates on the servers (docs/coordinates.md): the leader's batching of agents'
// coordinate updates into the log (Consul's Coordinate.Update and its batchUpdate loop), and the
// distance helpers that server code sorts with. Owned by server::Server; loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/applier.h"
#include "catalog/store.h"
#include "coordinate/coordinate.h"
#include "core/loop.h"

namespace gangway::server {

struct CoordinateOptions {
  // How often the pending updates are written (Consul's coordinate_update_period; -dev: 100ms).
  std::chrono::nanoseconds update_period = std::chrono::seconds(5);
  // Coordinates per log entry, and entries per period; updates beyond both are dropped (the
  // agents send again next interval). Consul: 128 and 5.
  size_t update_batch_size = 128;
  size_t update_max_batches = 5;
};

class Coordinates {
 public:
  Coordinates(Loop& loop, catalog::Applier& applier, CoordinateOptions options = {});
  ~Coordinates();

  // Checks an update as Consul's Coordinate.Update does against this server's own coordinate
  // dimensions: "invalid coordinate" (NaN/Inf), "incompatible coordinate".
  static Status Check(const coordinate::Coordinate& c);
  // Keeps the update for the next flush; the last one per (node, segment) wins.
  void Enqueue(catalog::CoordinateEntry e);
  // Writes what is pending now: at most update_batch_size × update_max_batches, in log entries
  // of update_batch_size.
  void Flush();
  size_t pending() const { return pending_.size(); }
  uint64_t discarded() const { return discarded_; }

 private:
  Loop& loop_;
  catalog::Applier& applier_;
  CoordinateOptions options_;
  std::map<std::pair<std::string, std::string>, coordinate::Coordinate> pending_;
  std::unique_ptr<Timer> timer_;
  bool armed_ = false;
  uint64_t discarded_ = 0;
};

// ---- Distances from the store's (LAN) coordinates. All return or sort by estimated RTT in
// seconds; coordinates of different segments are compared only through a segment both nodes
// have (the default "" first), as Consul does.

// The estimated RTT between two nodes of this datacenter; nullopt when either has no coordinate.
std::optional<double> EstimateRtt(const catalog::Store& store, std::string_view a,
                                  std::string_view b);

// Stable sort of `items` by estimated RTT from `source` (Consul's ?near=); items whose node has
// no coordinate go last, in their order. No-op when `source` has none. `node_of(item)` names
// the item's node.
template <typename T, typename NodeOf>
void SortByDistance(const catalog::Store& store, std::string_view source, std::vector<T>* items,
                    NodeOf node_of) {
  std::vector<catalog::CoordinateEntry> all;
  store.Coordinates(nullptr, &all);
  std::map<std::string, std::map<std::string, coordinate::Coordinate>, std::less<>> by_node;
  for (auto& e : all) by_node[e.node][e.segment] = e.coord;
  auto src = by_node.find(source);
  if (src == by_node.end() || src->second.empty()) return;
  // One source coordinate per segment; each item is measured in the first segment both share.
  std::vector<std::pair<double, size_t>> keys;
  keys.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    double d = -1;
    auto it = by_node.find(std::string_view(node_of((*items)[i])));
    if (it != by_node.end()) {
      for (const auto& [segment, c] : it->second) {
        auto s = src->second.find(segment);
        if (s == src->second.end() || !s->second.IsCompatibleWith(c)) continue;
        d = s->second.DistanceTo(c);
        break;
      }
    }
    keys.emplace_back(d, i);
  }
  coordinate::OrderByDistance(std::move(keys), items);
}

// Datacenters ordered by the median estimated WAN RTT from `self` (this server's WAN
// coordinate) to each one's servers (`coords`: datacenter -> its servers' WAN coordinates), as
// Consul orders /v1/catalog/datacenters and prepared-query failover; `local` first (distance 0),
// datacenters without coordinates last, ties by name.
std::vector<std::string> DatacentersByDistance(
    const coordinate::Coordinate& self, std::string_view local,
    const std::map<std::string, std::vector<coordinate::Coordinate>>& coords);

}  // namespace gangway::server
