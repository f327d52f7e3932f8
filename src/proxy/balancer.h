// Endpoint choice for one cluster of one config: which endpoints to try, in which order, each at
// most once. Shared by every worker of the config (atomics only); any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/stats.h"

namespace gangway::proxy {

class ClusterState {
 public:
  ClusterState(const Cluster& cluster, std::shared_ptr<ClusterCounters> counters);

  const Cluster& cluster() const { return cluster_; }
  ClusterCounters& counters() const { return *counters_; }

  // Indexes into cluster().endpoints of the endpoints to try, in order: only kPassing and
  // kWarning ones (passing first is not implied; Consul treats warning as usable). kRoundRobin
  // starts one further on each call; kLeastRequest orders by connections open now, ties broken
  // by the round-robin start. Empty: no healthy endpoint.
  std::vector<size_t> PickOrder();

  // Connections open to endpoint `i` (for kLeastRequest).
  void Acquire(size_t i) { active_[i].fetch_add(1, std::memory_order_relaxed); }
  void Release(size_t i) { active_[i].fetch_sub(1, std::memory_order_relaxed); }
  int Active(size_t i) const { return active_[i].load(std::memory_order_relaxed); }

 private:
  const Cluster& cluster_;  // owned by the config that owns this state
  std::shared_ptr<ClusterCounters> counters_;
  std::vector<size_t> healthy_;
  std::unique_ptr<std::atomic<int>[]> active_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace gangway::proxy
