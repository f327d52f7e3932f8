// /v1/coordinate/* and ?near= in process (TestAgent on a SimLoop): validation texts, the leader's
// batching into the store, the reads, and sorting by estimated RTT with unknown nodes last.
#include <gtest/gtest.h>

#include <string>

#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using namespace std::chrono_literals;
using testing::TestAgent;

catalog::Json Body(const http::Response& r) { return catalog::Json::parse(r.body); }

std::string Coord(double x, int dims = 8) {
  catalog::Json vec = catalog::Json::array();
  for (int i = 0; i < dims; ++i) vec.push_back(i == 0 ? x : 0.0);
  return catalog::Json{{"Vec", vec}, {"Error", 0.5}, {"Adjustment", 0.0}, {"Height", 1e-5}}
      .dump();
}

std::string Update(const std::string& node, double x) {
  return R"({"Node":")" + node + R"(","Segment":"","Coord":)" + Coord(x) + "}";
}

std::vector<std::string> Names(const catalog::Json& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    out.push_back(r["Node"].is_string() ? r["Node"].get<std::string>()
                                        : r["Node"]["Node"].get<std::string>());
  }
  return out;
}

class CoordinateApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_.server().DevLeadershipAcquired();
    for (const char* n : {"a", "b", "c", "nocoord", "test"}) {
      auto r = agent_.Do("PUT", "/v1/catalog/register",
                         std::string(R"({"Node":")") + n +
                             R"(","Address":"127.0.0.1","Service":{"Service":"web","Port":80},
                             "Check":{"CheckID":"web","Name":"web","ServiceID":"web",
                             "Status":"passing"}})");
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }
  TestAgent agent_;
};

TEST_F(CoordinateApiTest, UpdateRefusesBadBodiesNamingTheField) {
  auto r = agent_.Do("PUT", "/v1/coordinate/update", R"({"Node":"a","Coord":{"Vec":"x"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Request decode failed: Coord.Vec: expected a list of numbers");
  r = agent_.Do("PUT", "/v1/coordinate/update", R"({"Coord":{}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Request decode failed: Node: must not be empty");
  r = agent_.Do("PUT", "/v1/coordinate/update", R"({"Node":"a"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Request decode failed: Coord: missing");
  r = agent_.Do("PUT", "/v1/coordinate/update", R"({"Node":"a","Coord":{"Error":"big"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Request decode failed: Coord.Error: expected a number");
  r = agent_.Do("PUT", "/v1/coordinate/update",
                R"({"Node":"a","Segment":"","Coord":)" + Coord(0.1, 3) + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "incompatible coordinate");
  r = agent_.Do("PUT", "/v1/coordinate/update", "[1]");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(agent_.Do("GET", "/v1/coordinate/update").status, 405);
}

TEST_F(CoordinateApiTest, UpdatesAreBatchedThenReadAndSortNearLists) {
  for (auto [node, x] : {std::pair{"a", 0.0}, {"b", 0.010}, {"c", 0.002}, {"test", 0.0045}}) {
    auto r = agent_.Do("PUT", "/v1/coordinate/update", Update(node, x));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "");
  }
  // Nothing is written until the leader's next batch (update_period, 5s by default).
  auto empty = agent_.Do("GET", "/v1/coordinate/nodes");
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(Body(empty), catalog::Json::array());
  EXPECT_EQ(agent_.Do("GET", "/v1/coordinate/node/a").status, 404);
  // A blocking read wakes when the batch lands.
  std::string index;
  for (const auto& [k, v] : empty.headers) {
    if (k == "X-Consul-Index") index = v;
  }
  ASSERT_FALSE(index.empty());
  auto waiting = agent_.Send("GET", "/v1/coordinate/nodes?index=" + index);
  agent_.loop().RunFor(4s);
  EXPECT_FALSE(waiting->response.has_value());
  agent_.loop().RunFor(2s);
  ASSERT_TRUE(waiting->response.has_value());
  auto list = Body(*waiting->response);
  EXPECT_EQ(Names(list), (std::vector<std::string>{"a", "b", "c", "test"}));
  EXPECT_EQ(list[1]["Segment"], "");
  EXPECT_DOUBLE_EQ(list[1]["Coord"]["Vec"][0].get<double>(), 0.010);
  EXPECT_EQ(list[1]["Coord"]["Vec"].size(), 8u);
  EXPECT_EQ(list[1]["Coord"]["Error"], 0.5);
  EXPECT_EQ(list[1]["Coord"]["Height"], 1e-5);

  auto one = agent_.Do("GET", "/v1/coordinate/node/c");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Names(Body(one)), (std::vector<std::string>{"c"}));
  auto none = agent_.Do("GET", "/v1/coordinate/node/nocoord");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.body, "");
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/coordinate/nodes?segment=alpha")), catalog::Json::array());

  // ?near=: by estimated RTT from the node, nodes without coordinates last; _agent is us.
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/catalog/nodes?near=b"))),
            (std::vector<std::string>{"b", "test", "c", "a", "nocoord"}));
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/catalog/nodes"))),
            (std::vector<std::string>{"a", "b", "c", "nocoord", "test"}));
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/catalog/service/web?near=c"))),
            (std::vector<std::string>{"c", "a", "test", "b", "nocoord"}));
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/health/service/web?near=_agent"))),
            (std::vector<std::string>{"test", "c", "a", "b", "nocoord"}));
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/health/checks/web?near=a"))),
            (std::vector<std::string>{"a", "c", "test", "b", "nocoord"}));
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/health/state/passing?near=b"))),
            (std::vector<std::string>{"b", "test", "c", "a", "nocoord"}));
  // A source without a coordinate leaves the natural order.
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/catalog/nodes?near=nocoord"))),
            (std::vector<std::string>{"a", "b", "c", "nocoord", "test"}));

  // Deregistering a node takes its coordinate with it.
  ASSERT_EQ(agent_.Do("PUT", "/v1/catalog/deregister", R"({"Node":"b"})").status, 200);
  EXPECT_EQ(Names(Body(agent_.Do("GET", "/v1/coordinate/nodes"))),
            (std::vector<std::string>{"a", "c", "test"}));
}

TEST_F(CoordinateApiTest, DatacentersWithoutAWanPoolIsAnEmptyList) {
  auto r = agent_.Do("GET", "/v1/coordinate/datacenters");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), catalog::Json::array());
}

}  // namespace
}  // namespace gangway::api
