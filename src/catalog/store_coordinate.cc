// The coordinates table (docs/coordinates.md): the leader's batches of network coordinates, keyed
// by (node, segment), and what deregistering a node removes.
#include <string>
#include <vector>

#include "catalog/internal/store_impl.h"
#include "catalog/store.h"

namespace gangway::catalog {

using internal::kCoordinatesKey;

ApplyResult Store::Impl::CoordinateBatch(Changes& ch, const CoordinateBatchRequest& req) {
  bool changed = false;
  for (const CoordinateEntry& e : req.updates) {
    // Consul skips updates for nodes that are not (or no longer) registered; an invalid one
    // never got past the server's checks, but the log is input too.
    if (t.nodes.count(e.node) == 0 || !e.coord.IsValid()) continue;
    auto [it, inserted] = t.coordinates.try_emplace({e.node, e.segment}, e.coord);
    if (!inserted) {
      if (it->second == e.coord) continue;
      it->second = e.coord;
    }
    changed = true;
  }
  if (changed) {
    t.coordinates_index = ch.index;
    ch.keys.emplace_back(kCoordinatesKey);
  }
  return {};
}

void Store::Impl::DeleteNodeCoordinates(Changes& ch, const std::string& node) {
  auto it = t.coordinates.lower_bound({node, std::string()});
  bool changed = false;
  while (it != t.coordinates.end() && it->first.first == node) {
    it = t.coordinates.erase(it);
    changed = true;
  }
  if (changed) {
    t.coordinates_index = ch.index;
    ch.keys.emplace_back(kCoordinatesKey);
  }
}

Index Store::Coordinates(WatchSet* ws, std::vector<CoordinateEntry>* out) const {
  const Tables& t = impl_->t;
  if (ws != nullptr) ws->Add(std::string(kCoordinatesKey));
  out->clear();
  for (const auto& [key, c] : t.coordinates) out->push_back({key.first, key.second, c});
  return t.coordinates_index;
}

Index Store::NodeCoordinates(WatchSet* ws, std::string_view node,
                             std::vector<CoordinateEntry>* out) const {
  const Tables& t = impl_->t;
  if (ws != nullptr) ws->Add(std::string(kCoordinatesKey));
  out->clear();
  for (auto it = t.coordinates.lower_bound({std::string(node), std::string()});
       it != t.coordinates.end() && it->first.first == node; ++it) {
    out->push_back({it->first.first, it->first.second, it->second});
  }
  return t.coordinates_index;
}

}  // namespace gangway::catalog
