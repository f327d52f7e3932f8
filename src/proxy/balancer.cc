#include "proxy/balancer.h"

#include <algorithm>

namespace gangway::proxy {

ClusterState::ClusterState(const Cluster& cluster, std::shared_ptr<ClusterCounters> counters)
    : cluster_(cluster),
      counters_(std::move(counters)),
      active_(std::make_unique<std::atomic<int>[]>(cluster.endpoints.size())) {
  for (size_t i = 0; i < cluster.endpoints.size(); ++i) {
    if (cluster.endpoints[i].health != Endpoint::Health::kCritical) healthy_.push_back(i);
  }
}

std::vector<size_t> ClusterState::PickOrder() {
  std::vector<size_t> order;
  if (healthy_.empty()) return order;
  size_t start = next_.fetch_add(1, std::memory_order_relaxed) % healthy_.size();
  order.reserve(healthy_.size());
  for (size_t k = 0; k < healthy_.size(); ++k) order.push_back(healthy_[(start + k) % healthy_.size()]);
  if (cluster_.lb == Cluster::Lb::kLeastRequest) {
    std::stable_sort(order.begin(), order.end(),
                     [this](size_t a, size_t b) { return Active(a) < Active(b); });
  }
  return order;
}

}  // namespace gangway::proxy
