#include "proxy/balancer.h"

#include <algorithm>

namespace gangway::proxy {

bool EndpointOutlier::Failed(Clock::time_point now, const OutlierPolicy& policy) {
  int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < policy.eject_after || Ejected(now)) return false;
  // Concurrent failures of one endpoint eject it once: only the connection that moves the
  // deadline forward doubles the period.
  int ejections = ejections_.load(std::memory_order_relaxed);
  auto period = policy.base_ejection;
  for (int k = 0; k < ejections && period < policy.max_ejection; ++k) period *= 2;
  period = std::min(period, policy.max_ejection);
  int64_t until = (now + period).time_since_epoch().count();
  int64_t old = ejected_until_.load(std::memory_order_relaxed);
  if (old >= until) return false;
  if (!ejected_until_.compare_exchange_strong(old, until, std::memory_order_relaxed)) return false;
  ejections_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void EndpointOutlier::Succeeded() {
  failures_.store(0, std::memory_order_relaxed);
  ejections_.store(0, std::memory_order_relaxed);
  ejected_until_.store(0, std::memory_order_relaxed);
}

ClusterState::ClusterState(const Cluster& cluster, std::shared_ptr<ClusterCounters> counters,
                           std::vector<std::shared_ptr<EndpointOutlier>> outliers,
                           OutlierPolicy policy)
    : cluster_(cluster),
      counters_(std::move(counters)),
      outliers_(std::move(outliers)),
      policy_(policy),
      active_(std::make_unique<std::atomic<int>[]>(cluster.endpoints.size())) {
  outliers_.resize(cluster.endpoints.size());
  for (auto& o : outliers_) {
    if (!o) o = std::make_shared<EndpointOutlier>();
  }
  for (size_t i = 0; i < cluster.endpoints.size(); ++i) {
    if (cluster.endpoints[i].health != Endpoint::Health::kCritical) healthy_.push_back(i);
  }
}

std::vector<size_t> ClusterState::PickOrder(EndpointOutlier::Clock::time_point now,
                                            bool include_ejected) {
  std::vector<size_t> order;
  if (healthy_.empty()) return order;
  size_t start = next_.fetch_add(1, std::memory_order_relaxed) % healthy_.size();
  order.reserve(healthy_.size());
  for (size_t k = 0; k < healthy_.size(); ++k) {
    size_t i = healthy_[(start + k) % healthy_.size()];
    if (include_ejected || !outliers_[i]->Ejected(now)) order.push_back(i);
  }
  if (cluster_.lb == Cluster::Lb::kLeastRequest) {
    std::stable_sort(order.begin(), order.end(),
                     [this](size_t a, size_t b) { return Active(a) < Active(b); });
  }
  return order;
}

bool ClusterState::ReportFailure(size_t i, EndpointOutlier::Clock::time_point now) {
  return outliers_[i]->Failed(now, policy_);
}

}  // namespace gangway::proxy
