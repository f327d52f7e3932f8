// Endpoint choice for one cluster of one config: which endpoints to try, in which order, each at
// most once, and which endpoints recent connection failures have ejected for a while. Shared by
// every worker of the config (atomics only); any thread. Times are passed in, so tests set them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/stats.h"

namespace gangway::proxy {

// Passive health (Envoy's outlier detection, consecutive connection failures only): the catalog
// learns that an endpoint, a gateway or a whole datacenter is gone only after a check interval,
// or never when the datacenter's servers cannot be reached either. Connection failures say so
// at once.
struct OutlierPolicy {
  // Consecutive failures (connect refused or timed out, upstream TLS handshake failed) that
  // eject an endpoint. Two rather than one: a single lost SYN should not move traffic away.
  int eject_after = 2;
  // The first ejection lasts `base_ejection`; each further one while the endpoint keeps failing
  // doubles it, up to `max_ejection`. After an ejection one connection tries the endpoint again;
  // so a healed endpoint gets its traffic back within `max_ejection`, and a dead one costs one
  // connection attempt per ejection period (a connect timeout when it drops packets).
  std::chrono::milliseconds base_ejection{1000};
  std::chrono::milliseconds max_ejection{30000};
};

// The passive health of one endpoint. The runtime keeps it across config versions (by cluster
// name and address), so a new snapshot neither forgets a dead endpoint nor retries it at once.
class EndpointOutlier {
 public:
  using Clock = std::chrono::steady_clock;

  bool Ejected(Clock::time_point now) const {
    return now.time_since_epoch().count() < ejected_until_.load(std::memory_order_relaxed);
  }
  // Returns true when this failure ejected the endpoint.
  bool Failed(Clock::time_point now, const OutlierPolicy& policy);
  void Succeeded();
  // The catalog saw the endpoint critical and now healthy again: trust it afresh.
  void Reset() { Succeeded(); }
  int consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> failures_{0};
  std::atomic<int> ejections_{0};          // in a row, for the back-off
  std::atomic<int64_t> ejected_until_{0};  // Clock ticks since its epoch
};

class ClusterState {
 public:
  // `outliers`, one per endpoint of `cluster` in its order, may be empty: then every endpoint
  // has its own fresh state (tests).
  ClusterState(const Cluster& cluster, std::shared_ptr<ClusterCounters> counters,
               std::vector<std::shared_ptr<EndpointOutlier>> outliers = {},
               OutlierPolicy policy = {});

  const Cluster& cluster() const { return cluster_; }
  ClusterCounters& counters() const { return *counters_; }

  // Indexes into cluster().endpoints of the endpoints to try, in order: only kPassing and
  // kWarning ones (passing first is not implied; Consul treats warning as usable), and of those
  // only the ones not ejected at `now` unless `include_ejected`. kRoundRobin starts one further
  // on each call; kLeastRequest orders by connections open now, ties broken by the round-robin
  // start. Empty: no usable endpoint.
  std::vector<size_t> PickOrder(EndpointOutlier::Clock::time_point now, bool include_ejected);
  std::vector<size_t> PickOrder() { return PickOrder(EndpointOutlier::Clock::now(), false); }

  // A connection to endpoint `i` failed (connect or upstream handshake), or was established.
  // Returns true when the failure ejected the endpoint.
  bool ReportFailure(size_t i, EndpointOutlier::Clock::time_point now);
  void ReportSuccess(size_t i) { outliers_[i]->Succeeded(); }
  const EndpointOutlier& outlier(size_t i) const { return *outliers_[i]; }

  // Connections open to endpoint `i` (for kLeastRequest).
  void Acquire(size_t i) { active_[i].fetch_add(1, std::memory_order_relaxed); }
  void Release(size_t i) { active_[i].fetch_sub(1, std::memory_order_relaxed); }
  int Active(size_t i) const { return active_[i].load(std::memory_order_relaxed); }

 private:
  const Cluster& cluster_;  // owned by the config that owns this state
  std::shared_ptr<ClusterCounters> counters_;
  std::vector<std::shared_ptr<EndpointOutlier>> outliers_;
  OutlierPolicy policy_;
  std::vector<size_t> healthy_;
  std::unique_ptr<std::atomic<int>[]> active_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace gangway::proxy
