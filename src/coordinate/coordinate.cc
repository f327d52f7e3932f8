#include "coordinate/coordinate.h"

#include <cmath>

namespace gangway::coordinate {

namespace {

// Below this a vector is treated as zero and an RTT as this (Serf's zeroThreshold).
constexpr double kZeroThreshold = 1.0e-6;
// Samples beyond this are refused (Serf: "round trip time not in valid range").
constexpr double kMaxRttSeconds = 10.0;

double Magnitude(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

}  // namespace

Coordinate Coordinate::Initial(const Config& config) {
  Coordinate c;
  c.vec.assign(config.dimensionality, 0.0);
  c.error = config.vivaldi_error_max;
  c.adjustment = 0;
  c.height = config.height_min;
  return c;
}

bool Coordinate::IsValid() const {
  for (double x : vec) {
    if (!std::isfinite(x)) return false;
  }
  return std::isfinite(error) && std::isfinite(adjustment) && std::isfinite(height);
}

double Coordinate::RawDistanceTo(const Coordinate& other) const {
  if (!IsCompatibleWith(other)) return std::nan("");
  double sum = 0;
  for (size_t i = 0; i < vec.size(); ++i) {
    const double d = vec[i] - other.vec[i];
    sum += d * d;
  }
  return std::sqrt(sum) + height + other.height;
}

double Coordinate::DistanceTo(const Coordinate& other) const {
  const double dist = RawDistanceTo(other);
  const double adjusted = dist + adjustment + other.adjustment;
  return adjusted > 0.0 ? adjusted : dist;
}

Client::Client(Config config, Random* random)
    : config_(config),
      random_(random),
      origin_(Coordinate::Initial(config)),
      coord_(Coordinate::Initial(config)),
      adjustment_samples_(config.adjustment_window_size, 0.0) {}

Status Client::SetCoordinate(const Coordinate& c) {
  if (!c.IsCompatibleWith(coord_)) return InvalidArgument("dimensions aren't compatible");
  if (!c.IsValid()) return InvalidArgument("coordinate is invalid");
  coord_ = c;
  return Status::Ok();
}

void Client::ForgetNode(std::string_view node) {
  auto it = latency_samples_.find(node);
  if (it != latency_samples_.end()) latency_samples_.erase(it);
}

double Client::LatencyFilter(std::string_view node, double rtt) {
  auto it = latency_samples_.find(node);
  if (it == latency_samples_.end()) it = latency_samples_.emplace(std::string(node), std::vector<double>{}).first;
  std::vector<double>& samples = it->second;
  samples.push_back(rtt);
  if (samples.size() > config_.latency_filter_size) samples.erase(samples.begin());
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

Coordinate Client::ApplyForce(const Coordinate& c, double force, const Coordinate& other) {
  Coordinate ret = c;
  std::vector<double> unit(c.vec.size());
  for (size_t i = 0; i < unit.size(); ++i) unit[i] = c.vec[i] - other.vec[i];
  double mag = Magnitude(unit);
  if (mag > kZeroThreshold) {
    for (double& x : unit) x /= mag;
  } else {
    // Coincident: push in a random direction (Serf does the same), without moving the height.
    mag = 0;
    for (double& x : unit) {
      double u;
      if (random_ != nullptr) {
        u = UniformDouble(*random_);
      } else {
        fallback_state_ = fallback_state_ * 6364136223846793005ULL + 1442695040888963407ULL;
        u = static_cast<double>(fallback_state_ >> 11) * 0x1.0p-53;
      }
      x = u - 0.5;
    }
    const double m = Magnitude(unit);
    if (m > kZeroThreshold) {
      for (double& x : unit) x /= m;
    } else {
      std::fill(unit.begin(), unit.end(), 0.0);
      if (!unit.empty()) unit[0] = 1.0;
    }
  }
  for (size_t i = 0; i < ret.vec.size(); ++i) ret.vec[i] += unit[i] * force;
  if (mag > kZeroThreshold) {
    ret.height = (ret.height + other.height) * force / mag + ret.height;
    ret.height = std::max(ret.height, config_.height_min);
  }
  return ret;
}

void Client::UpdateVivaldi(const Coordinate& other, double rtt) {
  const double dist = coord_.DistanceTo(other);
  rtt = std::max(rtt, kZeroThreshold);
  const double wrongness = std::abs(dist - rtt) / rtt;
  const double total_error = std::max(coord_.error + other.error, kZeroThreshold);
  const double weight = coord_.error / total_error;
  coord_.error = config_.vivaldi_ce * weight * wrongness +
                 coord_.error * (1.0 - config_.vivaldi_ce * weight);
  coord_.error = std::min(coord_.error, config_.vivaldi_error_max);
  const double force = config_.vivaldi_cc * weight * (rtt - dist);
  coord_ = ApplyForce(coord_, force, other);
}

void Client::UpdateAdjustment(const Coordinate& other, double rtt) {
  if (config_.adjustment_window_size == 0) return;
  // The raw distance: the adjustment corrects what the Euclidean model cannot express.
  adjustment_samples_[adjustment_index_] = rtt - coord_.RawDistanceTo(other);
  adjustment_index_ = (adjustment_index_ + 1) % config_.adjustment_window_size;
  double sum = 0;
  for (double s : adjustment_samples_) sum += s;
  coord_.adjustment = sum / (2.0 * static_cast<double>(config_.adjustment_window_size));
}

void Client::UpdateGravity() {
  const double dist = origin_.DistanceTo(coord_);
  const double force = -1.0 * std::pow(dist / config_.gravity_rho, 2.0);
  coord_ = ApplyForce(coord_, force, origin_);
}

Result<Coordinate> Client::Update(std::string_view node, const Coordinate& other,
                                  double rtt_seconds) {
  if (!coord_.IsCompatibleWith(other)) return InvalidArgument("dimensions aren't compatible");
  if (!other.IsValid()) return InvalidArgument("coordinate is invalid");
  if (!(rtt_seconds >= 0 && rtt_seconds <= kMaxRttSeconds)) {
    return InvalidArgument("round trip time not in valid range");
  }
  const double rtt = LatencyFilter(node, rtt_seconds);
  UpdateVivaldi(other, rtt);
  UpdateAdjustment(other, rtt);
  UpdateGravity();
  if (!coord_.IsValid()) {
    ++resets_;
    coord_ = Coordinate::Initial(config_);
  }
  return coord_;
}

std::optional<double> MedianDistance(const Coordinate& source,
                                     const std::vector<Coordinate>& coords) {
  std::vector<double> d;
  for (const Coordinate& c : coords) {
    if (c.IsCompatibleWith(source) && c.IsValid()) d.push_back(source.DistanceTo(c));
  }
  if (d.empty()) return std::nullopt;
  std::sort(d.begin(), d.end());
  return d[d.size() / 2];
}

}  // namespace gangway::coordinate
