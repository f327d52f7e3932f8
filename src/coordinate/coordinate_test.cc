#include "coordinate/coordinate.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace gangway::coordinate {
namespace {

TEST(Coordinate, InitialIsSerfsNewCoordinate) {
  Coordinate c = Coordinate::Initial();
  EXPECT_EQ(c.vec, std::vector<double>(8, 0.0));
  EXPECT_EQ(c.error, 1.5);
  EXPECT_EQ(c.adjustment, 0.0);
  EXPECT_EQ(c.height, 10.0e-6);
  EXPECT_TRUE(c.IsValid());
}

TEST(Coordinate, DistanceAddsHeightsAndAdjustmentsWhenPositive) {
  Coordinate a{{3, 0}, 0, 0, 0.5};
  Coordinate b{{0, 4}, 0, 0, 0.25};
  EXPECT_DOUBLE_EQ(a.RawDistanceTo(b), 5.75);
  EXPECT_DOUBLE_EQ(a.DistanceTo(b), 5.75);
  a.adjustment = 1;
  b.adjustment = -0.5;
  EXPECT_DOUBLE_EQ(a.DistanceTo(b), 6.25);
  // An adjustment that would make the estimate non-positive is left out.
  a.adjustment = -10;
  EXPECT_DOUBLE_EQ(a.DistanceTo(b), 5.75);
  Coordinate c{{1, 2, 3}, 0, 0, 0};
  EXPECT_TRUE(std::isnan(a.DistanceTo(c)));
}

TEST(Coordinate, InvalidComponentsAreDetected) {
  Coordinate c = Coordinate::Initial();
  c.vec[3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(c.IsValid());
  c = Coordinate::Initial();
  c.height = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(c.IsValid());
}

TEST(Client, RefusesBadSamples) {
  Client client;
  Coordinate other = Coordinate::Initial();
  EXPECT_FALSE(client.Update("n", Coordinate{{0, 0}, 1, 0, 1e-5}, 0.01).ok());
  Coordinate nan = other;
  nan.error = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(client.Update("n", nan, 0.01).ok());
  EXPECT_FALSE(client.Update("n", other, -0.001).ok());
  EXPECT_FALSE(client.Update("n", other, 10.5).ok());
  EXPECT_EQ(client.GetCoordinate(), Coordinate::Initial());
  EXPECT_TRUE(client.Update("n", other, 0.01).ok());
  EXPECT_NE(client.GetCoordinate(), Coordinate::Initial());
}

TEST(Client, LatencyFilterUsesTheMedianOfThreeSamples) {
  // Two nodes: the far one moves toward the observed RTT. One wild sample among steady ones
  // must not move it the way the raw sample would.
  Client steady, spiked;
  Coordinate peer = Coordinate::Initial();
  peer.vec[0] = 0.0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(steady.Update("p", peer, 0.010).ok());
    ASSERT_TRUE(spiked.Update("p", peer, 0.010).ok());
  }
  ASSERT_TRUE(steady.Update("p", peer, 0.010).ok());
  ASSERT_TRUE(spiked.Update("p", peer, 5.0).ok());
  EXPECT_NEAR(steady.GetCoordinate().DistanceTo(peer), spiked.GetCoordinate().DistanceTo(peer),
              0.002);
}

// Many nodes with known RTTs (points in a plane, 1-60 ms apart, plus a per-node access
// latency) probing each other as gossip would: every estimate ends within a few ms of the truth.
TEST(Client, ConvergesOnASimulatedNetwork) {
  constexpr int kNodes = 16;
  constexpr int kRounds = 400;
  SeededRandom random(20261206);
  std::vector<std::pair<double, double>> pos;
  std::vector<double> access;
  for (int i = 0; i < kNodes; ++i) {
    pos.emplace_back(UniformDouble(random) * 0.030, UniformDouble(random) * 0.030);
    access.push_back(0.0005 + UniformDouble(random) * 0.002);
  }
  auto truth = [&](int i, int j) {
    const double dx = pos[i].first - pos[j].first, dy = pos[i].second - pos[j].second;
    return std::sqrt(dx * dx + dy * dy) + access[i] + access[j];
  };
  std::vector<Client> clients;
  for (int i = 0; i < kNodes; ++i) clients.emplace_back(Config{}, &random);
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kNodes; ++i) {
      int j = static_cast<int>(Uniform(random, kNodes - 1));
      if (j >= i) ++j;
      ASSERT_TRUE(clients[i]
                      .Update("n" + std::to_string(j), clients[j].GetCoordinate(), truth(i, j))
                      .ok());
    }
  }
  double worst = 0, sum = 0;
  int pairs = 0;
  for (int i = 0; i < kNodes; ++i) {
    for (int j = i + 1; j < kNodes; ++j) {
      const double est = clients[i].GetCoordinate().DistanceTo(clients[j].GetCoordinate());
      const double err = std::abs(est - truth(i, j));
      worst = std::max(worst, err);
      sum += err;
      ++pairs;
    }
  }
  EXPECT_LT(sum / pairs, 0.002) << "mean absolute error (s)";
  EXPECT_LT(worst, 0.006) << "worst absolute error (s)";
  for (const Client& c : clients) EXPECT_EQ(c.resets(), 0u);
}

// Loopback: every RTT is tiny. The estimates stay tiny too (what the integration test relies on).
TEST(Client, NearZeroRttsGiveNearZeroEstimates) {
  SeededRandom random(7);
  std::vector<Client> clients(3, Client(Config{}, &random));
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) {
      int j = (i + 1 + round % 2) % 3;
      ASSERT_TRUE(clients[i].Update("n" + std::to_string(j), clients[j].GetCoordinate(),
                                    0.0001 + 0.0001 * UniformDouble(random)).ok());
    }
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_LT(clients[i].GetCoordinate().DistanceTo(clients[j].GetCoordinate()), 0.002);
    }
  }
}

TEST(SortByDistance, StableWithUnknownsLast) {
  Coordinate src{{0, 0}, 0, 0, 0};
  Coordinate near{{1, 0}, 0, 0, 0}, far{{5, 0}, 0, 0, 0}, mid{{0, 3}, 0, 0, 0};
  std::map<std::string, Coordinate> coords{{"far", far}, {"near", near}, {"mid", mid},
                                           {"mid2", mid}};
  std::vector<std::string> items{"x", "far", "mid", "y", "near", "mid2"};
  SortByDistance(src, &items, [&](const std::string& n) -> const Coordinate* {
    auto it = coords.find(n);
    return it == coords.end() ? nullptr : &it->second;
  });
  EXPECT_EQ(items, (std::vector<std::string>{"near", "mid", "mid2", "far", "x", "y"}));
}

TEST(MedianDistance, MedianOfComparableCoordinates) {
  Coordinate src{{0, 0}, 0, 0, 0};
  EXPECT_FALSE(MedianDistance(src, {}).has_value());
  auto m = MedianDistance(src, {{{1, 0}, 0, 0, 0}, {{9, 0}, 0, 0, 0}, {{3, 0}, 0, 0, 0},
                                {{1, 2, 3}, 0, 0, 0}});
  ASSERT_TRUE(m.has_value());
  EXPECT_DOUBLE_EQ(*m, 3.0);
}

}  // namespace
}  // namespace gangway::coordinate
