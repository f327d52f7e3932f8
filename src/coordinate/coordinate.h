// Vivaldi network coordinates (Serf's coordinate package): a Coordinate, the distance between
// two (an RTT estimate) and the Client that learns this node's coordinate from measured RTTs.
// Pure values; a Client is owned by one loop (Serf's) and not thread-safe. docs/coordinates.md.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/status.h"

namespace gangway::coordinate {

// Serf's coordinate.DefaultConfig(), which Consul uses unchanged.
struct Config {
  // Euclidean dimensions (a height is added on top).
  size_t dimensionality = 8;
  // Initial and maximum error of a coordinate.
  double vivaldi_error_max = 1.5;
  // How fast the error estimate follows new samples.
  double vivaldi_ce = 0.25;
  // How far one sample moves the coordinate.
  double vivaldi_cc = 0.25;
  // Samples kept for the adjustment term (0 disables it).
  size_t adjustment_window_size = 20;
  // Height floor and initial height, seconds.
  double height_min = 10.0e-6;
  // Per-peer RTT samples whose median is used (filters out outliers).
  size_t latency_filter_size = 3;
  // Strength of the pull toward the origin (keeps the coordinate system from drifting).
  double gravity_rho = 150.0;
};

struct Coordinate {
  std::vector<double> vec;
  double error = 0;
  double adjustment = 0;
  double height = 0;

  // The origin with maximum error: what a node starts from.
  static Coordinate Initial(const Config& config = {});
  // Every component finite.
  bool IsValid() const;
  bool IsCompatibleWith(const Coordinate& other) const { return vec.size() == other.vec.size(); }
  // Estimated RTT to `other` in seconds (Serf's DistanceTo): the Euclidean distance plus both
  // heights, plus both adjustments when that keeps it positive. Incompatible coordinates: NaN.
  double DistanceTo(const Coordinate& other) const;
  // Without the adjustments.
  double RawDistanceTo(const Coordinate& other) const;
  bool operator==(const Coordinate&) const = default;
};

// Learns this node's coordinate from (peer coordinate, measured RTT) samples.
class Client {
 public:
  // `random` (borrowed, may be null) picks the direction when two coordinates coincide.
  explicit Client(Config config = {}, Random* random = nullptr);

  const Coordinate& GetCoordinate() const { return coord_; }
  // Replaces the coordinate (a restored one); refused when invalid or of another dimension.
  Status SetCoordinate(const Coordinate& c);
  // A sample: `node` answered our probe after `rtt_seconds` and told us it is at `other`.
  // Refuses an incompatible or invalid coordinate and an RTT outside [0, 10 s]; returns the
  // updated coordinate otherwise.
  Result<Coordinate> Update(std::string_view node, const Coordinate& other, double rtt_seconds);
  // Drops the latency samples of a node that went away.
  void ForgetNode(std::string_view node);
  // Times the coordinate was reset to the origin because an update made it invalid.
  uint64_t resets() const { return resets_; }
  const Config& config() const { return config_; }

 private:
  double LatencyFilter(std::string_view node, double rtt);
  void UpdateVivaldi(const Coordinate& other, double rtt);
  void UpdateAdjustment(const Coordinate& other, double rtt);
  void UpdateGravity();
  Coordinate ApplyForce(const Coordinate& c, double force, const Coordinate& other);

  Config config_;
  Random* random_;
  Coordinate origin_;
  Coordinate coord_;
  std::vector<double> adjustment_samples_;
  size_t adjustment_index_ = 0;
  std::map<std::string, std::vector<double>, std::less<>> latency_samples_;
  uint64_t resets_ = 0;
  uint64_t fallback_state_ = 0x9e3779b97f4a7c15ULL;  // when random_ is null
};

// Reorders `items` by `keys` ({distance, index into items} for each item): nearest first,
// stably; a negative distance (unknown) goes last, in its order.
template <typename T>
void OrderByDistance(std::vector<std::pair<double, size_t>> keys, std::vector<T>* items) {
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if ((a.first < 0) != (b.first < 0)) return b.first < 0;
    return a.first < b.first;
  });
  std::vector<T> out;
  out.reserve(items->size());
  for (const auto& [d, i] : keys) out.push_back(std::move((*items)[i]));
  *items = std::move(out);
}

// Stable sort of `items` by estimated RTT from `source`; items whose coordinate is missing (or
// incompatible with the source's) go last, in their order. `coord_of` returns nullptr for none.
template <typename T, typename CoordOf>
void SortByDistance(const Coordinate& source, std::vector<T>* items, CoordOf coord_of) {
  std::vector<std::pair<double, size_t>> keys;
  keys.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    const Coordinate* c = coord_of((*items)[i]);
    double d = (c != nullptr && c->IsCompatibleWith(source)) ? source.DistanceTo(*c) : -1;
    keys.emplace_back(d, i);
  }
  OrderByDistance(std::move(keys), items);
}

// The median of the estimated RTTs from `source` to `coords` (Consul orders datacenters by it);
// nullopt when none is comparable.
std::optional<double> MedianDistance(const Coordinate& source,
                                     const std::vector<Coordinate>& coords);

}  // namespace gangway::coordinate
