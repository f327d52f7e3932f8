#include "server/coordinates.h"

#include <algorithm>
#include <tuple>

#include "core/log.h"

namespace gangway::server {

namespace {
constexpr std::string_view kLog = "agent.server.coordinate";
}  // namespace

Coordinates::Coordinates(Loop& loop, catalog::Applier& applier, CoordinateOptions options)
    : loop_(loop), applier_(applier), options_(options) {
  if (options_.update_batch_size == 0) options_.update_batch_size = 1;
  if (options_.update_max_batches == 0) options_.update_max_batches = 1;
}

Coordinates::~Coordinates() = default;

Status Coordinates::Check(const coordinate::Coordinate& c) {
  if (!c.IsValid()) return InvalidArgument("invalid coordinate");
  if (!c.IsCompatibleWith(coordinate::Coordinate::Initial())) {
    return InvalidArgument("incompatible coordinate");
  }
  return Status::Ok();
}

void Coordinates::Enqueue(catalog::CoordinateEntry e) {
  pending_[{std::move(e.node), std::move(e.segment)}] = std::move(e.coord);
  if (!armed_) {
    // Replaces a timer that has fired (never destroyed from inside its own callback).
    armed_ = true;
    timer_ = loop_.After(options_.update_period, [this] {
      armed_ = false;
      Flush();
    });
  }
}

void Coordinates::Flush() {
  if (pending_.empty()) return;
  const size_t limit = options_.update_batch_size * options_.update_max_batches;
  std::vector<catalog::CoordinateEntry> all;
  all.reserve(std::min(limit, pending_.size()));
  for (auto& [key, c] : pending_) {
    if (all.size() == limit) break;
    all.push_back({key.first, key.second, std::move(c)});
  }
  if (pending_.size() > limit) {
    const size_t dropped = pending_.size() - limit;
    discarded_ += dropped;
    LogWarn(kLog, "Discarded coordinate updates: number_discarded=" + std::to_string(dropped));
  }
  pending_.clear();
  for (size_t start = 0; start < all.size(); start += options_.update_batch_size) {
    catalog::CoordinateBatchRequest batch;
    const size_t end = std::min(all.size(), start + options_.update_batch_size);
    batch.updates.assign(std::make_move_iterator(all.begin() + start),
                         std::make_move_iterator(all.begin() + end));
    applier_.Apply(std::move(batch), [](catalog::ApplyResult r) {
      if (!r.status.ok()) LogWarn(kLog, "Failed to apply coordinate updates: " + r.status.message());
    });
  }
}

std::optional<double> EstimateRtt(const catalog::Store& store, std::string_view a,
                                  std::string_view b) {
  std::vector<catalog::CoordinateEntry> ca, cb;
  store.NodeCoordinates(nullptr, a, &ca);
  store.NodeCoordinates(nullptr, b, &cb);
  // Both lists are sorted by segment, so "" (the default segment) is tried first.
  for (const auto& x : ca) {
    for (const auto& y : cb) {
      if (x.segment == y.segment && x.coord.IsCompatibleWith(y.coord)) {
        return x.coord.DistanceTo(y.coord);
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> DatacentersByDistance(
    const coordinate::Coordinate& self, std::string_view local,
    const std::map<std::string, std::vector<coordinate::Coordinate>>& coords) {
  std::vector<std::tuple<int, double, std::string>> keyed;
  bool have_local = false;
  for (const auto& [dc, list] : coords) {
    if (dc == local) {
      have_local = true;
      keyed.emplace_back(0, 0.0, dc);
      continue;
    }
    auto m = coordinate::MedianDistance(self, list);
    if (m) {
      keyed.emplace_back(1, *m, dc);
    } else {
      keyed.emplace_back(2, 0.0, dc);
    }
  }
  if (!have_local && !local.empty()) keyed.emplace_back(0, 0.0, std::string(local));
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> out;
  for (auto& k : keyed) out.push_back(std::move(std::get<2>(k)));
  return out;
}

}  // namespace gangway::server
