#include "server/coordinates.h"

#include <gtest/gtest.h>

#include "core/testing/sim_loop.h"

namespace gangway::server {
namespace {

using catalog::CoordinateEntry;
using coordinate::Coordinate;

// Applies straight to a store, recording each command's size.
class StoreApplier : public catalog::Applier {
 public:
  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override {
    if (auto* b = std::get_if<catalog::CoordinateBatchRequest>(&cmd)) {
      batches.push_back(b->updates.size());
    }
    done(store.Apply(++index, cmd));
  }
  catalog::Store store;
  catalog::Index index = 0;
  std::vector<size_t> batches;
};

Coordinate At(double x, double y = 0) {
  Coordinate c = Coordinate::Initial();
  c.vec[0] = x;
  c.vec[1] = y;
  c.height = 0;
  return c;
}

void Register(StoreApplier& a, const std::string& node) {
  catalog::RegisterRequest r;
  r.node.node = node;
  r.node.address = "127.0.0.1";
  a.Apply(r, [](catalog::ApplyResult res) { ASSERT_TRUE(res.status.ok()); });
}

TEST(Coordinates, BatchesEveryPeriodWithLastWriteWinsAndACap) {
  testing::SimLoop loop;
  StoreApplier applier;
  for (int i = 0; i < 300; ++i) Register(applier, "n" + std::to_string(1000 + i));
  CoordinateOptions o;
  o.update_period = std::chrono::seconds(5);
  o.update_batch_size = 128;
  o.update_max_batches = 2;
  Coordinates coords(loop, applier, o);
  coords.Enqueue({"n1000", "", At(0.5)});
  for (int i = 0; i < 300; ++i) coords.Enqueue({"n" + std::to_string(1000 + i), "", At(0.001 * i)});
  EXPECT_EQ(coords.pending(), 300u);
  loop.RunFor(std::chrono::milliseconds(4900));
  EXPECT_TRUE(applier.batches.empty()) << "nothing is written before the period";
  loop.RunFor(std::chrono::milliseconds(200));
  EXPECT_EQ(applier.batches, (std::vector<size_t>{128, 128}));
  EXPECT_EQ(coords.discarded(), 44u);
  EXPECT_EQ(coords.pending(), 0u);
  std::vector<CoordinateEntry> out;
  applier.store.NodeCoordinates(nullptr, "n1000", &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].coord, At(0.0)) << "the last update of a node wins";
  // The next update arms the timer again.
  coords.Enqueue({"n1001", "", At(0.25)});
  loop.RunFor(std::chrono::seconds(6));
  EXPECT_EQ(applier.batches.size(), 3u);
}

TEST(Coordinates, CheckRefusesInvalidAndIncompatible) {
  EXPECT_TRUE(Coordinates::Check(Coordinate::Initial()).ok());
  Coordinate nan = Coordinate::Initial();
  nan.vec[0] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(Coordinates::Check(nan).message(), "invalid coordinate");
  EXPECT_EQ(Coordinates::Check(Coordinate{{1, 2}, 0, 0, 0}).message(), "incompatible coordinate");
}

TEST(Coordinates, EstimatesAndSortsFromTheStore) {
  testing::SimLoop loop;
  StoreApplier applier;
  for (const char* n : {"a", "b", "c", "d", "none"}) Register(applier, n);
  catalog::CoordinateBatchRequest batch;
  batch.updates = {{"a", "", At(0)}, {"b", "", At(0.010)}, {"c", "", At(0.003)},
                   {"d", "", At(0, 0.007)}, {"d", "seg", At(1)}};
  applier.Apply(batch, [](catalog::ApplyResult) {});
  auto ab = EstimateRtt(applier.store, "a", "b");
  ASSERT_TRUE(ab);
  EXPECT_NEAR(*ab, 0.010, 1e-12);
  EXPECT_FALSE(EstimateRtt(applier.store, "a", "none"));
  std::vector<std::string> nodes{"none", "b", "a", "d", "ghost", "c"};
  SortByDistance(applier.store, "a", &nodes, [](const std::string& n) { return n; });
  EXPECT_EQ(nodes, (std::vector<std::string>{"a", "c", "d", "b", "none", "ghost"}));
  // From a node without a coordinate nothing moves.
  std::vector<std::string> same{"b", "a"};
  SortByDistance(applier.store, "none", &same, [](const std::string& n) { return n; });
  EXPECT_EQ(same, (std::vector<std::string>{"b", "a"}));
}

TEST(Coordinates, DatacentersByMedianWanDistance) {
  std::map<std::string, std::vector<Coordinate>> dcs{
      {"dc1", {At(0)}},
      {"far", {At(0.100), At(0.120), At(0.500)}},
      {"near", {At(0.020), At(0.010), At(0.900)}},
      {"blind", {}},
  };
  EXPECT_EQ(DatacentersByDistance(At(0), "dc1", dcs),
            (std::vector<std::string>{"dc1", "near", "far", "blind"}));
}

}  // namespace
}  // namespace gangway::server
