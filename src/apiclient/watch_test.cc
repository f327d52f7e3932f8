#include "apiclient/watch.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <string>
#include <vector>

#include "http/server.h"
#include "net/event_loop.h"

namespace gangway::apiclient {
namespace {

// An agent endpoint with blocking-query semantics: a query whose ?index= is at least the current
// index parks until Set() moves it (or ReleaseUnchanged() plays out a wait that ran out).
class FakeAgent : public http::Handler {
 public:
  void Handle(http::Request req, std::shared_ptr<http::Cancellation>, http::Reply reply) override {
    targets.push_back(req.target);
    tokens.push_back(req.headers.count("X-Consul-Token") ? req.headers["X-Consul-Token"] : "");
    if (failures_left > 0) {
      --failures_left;
      return reply(http::Response::Text(500, "rpc error: no leader\n"));
    }
    if (!with_index) return reply(http::Response::Json(200, body));
    uint64_t min = 0;
    if (auto i = req.Query("index")) min = std::stoull(*i);
    if (min >= index) return parked.push_back(std::move(reply));
    Answer(reply);
  }

  void Set(uint64_t new_index, std::string new_body) {
    index = new_index;
    body = std::move(new_body);
    ReleaseUnchanged();
  }
  void ReleaseUnchanged() {
    auto waiting = std::move(parked);
    parked.clear();
    for (auto& r : waiting) Answer(r);
  }

  uint64_t index = 1;
  std::string body = "[]";
  bool with_index = true;
  int failures_left = 0;
  std::vector<std::string> targets;
  std::vector<std::string> tokens;
  std::vector<http::Reply> parked;

 private:
  void Answer(const http::Reply& reply) {
    http::Response r = http::Response::Json(200, body);
    r.Set("X-Consul-Index", std::to_string(index));
    reply(std::move(r));
  }
};

struct Seen {
  uint64_t index;
  std::string body;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = server_.Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().message();
    address_.host = "127.0.0.1";
    address_.port = *port;
    address_.hostport = "127.0.0.1:" + std::to_string(*port);
  }
  void TearDown() override { server_.Close(); }

  std::unique_ptr<Watch> Start(uint64_t index, WatchOptions options = {}) {
    return std::make_unique<Watch>(
        loop_, address_, "/v1/health/service/web", index,
        [this](uint64_t i, const http::Response& r) { seen_.push_back({i, r.body}); }, options,
        [this](const Status& s, Duration pause) { errors_.emplace_back(s.message(), pause); });
  }

  // Runs the loop until `done` holds; false if it did not within 10 s.
  bool RunUntil(const std::function<bool()>& done) {
    bool ok = false;
    std::function<void()> poll;
    std::unique_ptr<Timer> tick;
    poll = [&] {
      if (done()) {
        ok = true;
        return loop_.Stop();
      }
      tick = loop_.After(std::chrono::milliseconds(1), poll);
    };
    auto guard = loop_.After(std::chrono::seconds(10), [&] { loop_.Stop(); });
    if (loop_.context().stopped()) loop_.context().restart();
    loop_.Post(poll);
    loop_.Run();
    return ok;
  }

  net::EventLoop loop_;
  FakeAgent agent_;
  http::Server server_{loop_, agent_};
  AgentAddress address_;
  std::vector<Seen> seen_;
  std::vector<std::pair<std::string, Duration>> errors_;
};

TEST_F(WatchTest, ReportsEachNewIndexAndBlocksOnTheLastOne) {
  agent_.Set(5, R"(["a"])");
  WatchOptions options;
  options.token = "secret";
  options.params = {{"dc", "dc2"}};
  auto watch = Start(0, options);
  ASSERT_TRUE(RunUntil([&] { return agent_.parked.size() == 1; }));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].index, 5u);
  EXPECT_EQ(seen_[0].body, R"(["a"])");
  ASSERT_EQ(agent_.targets.size(), 2u);
  // The first query answers at once; the next one blocks on the index just seen.
  EXPECT_EQ(agent_.targets[0], "/v1/health/service/web?dc=dc2&wait=5m0s");
  EXPECT_EQ(agent_.targets[1], "/v1/health/service/web?dc=dc2&index=5&wait=5m0s");
  EXPECT_EQ(agent_.tokens[1], "secret");
  EXPECT_EQ(watch->index(), 5u);

  agent_.Set(7, R"(["a","b"])");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2 && agent_.parked.size() == 1; }));
  EXPECT_EQ(seen_[1].index, 7u);
  EXPECT_EQ(seen_[1].body, R"(["a","b"])");
  EXPECT_EQ(agent_.targets.back(), "/v1/health/service/web?dc=dc2&index=7&wait=5m0s");
  EXPECT_TRUE(errors_.empty());
}

TEST_F(WatchTest, StartsFromTheIndexGiven) {
  agent_.Set(9, "[]");
  auto watch = Start(9);
  ASSERT_TRUE(RunUntil([&] { return agent_.parked.size() == 1; }));
  EXPECT_EQ(agent_.targets[0], "/v1/health/service/web?index=9&wait=5m0s");
  EXPECT_TRUE(seen_.empty());
}

TEST_F(WatchTest, AWaitThatRunsOutIsNotReportedAndIsReArmed) {
  agent_.Set(4, "[]");
  auto watch = Start(0);
  ASSERT_TRUE(RunUntil([&] { return agent_.parked.size() == 1; }));
  agent_.ReleaseUnchanged();
  ASSERT_TRUE(RunUntil([&] { return agent_.targets.size() == 3 && agent_.parked.size() == 1; }));
  EXPECT_EQ(seen_.size(), 1u);
  EXPECT_EQ(agent_.targets[2], "/v1/health/service/web?index=4&wait=5m0s");
}

TEST_F(WatchTest, AnIndexGoingBackwardsStartsOverFromZero) {
  agent_.Set(10, R"(["old"])");
  auto watch = Start(0);
  ASSERT_TRUE(RunUntil([&] { return agent_.parked.size() == 1; }));
  // The servers were restored from a snapshot: their index is now lower.
  agent_.Set(3, R"(["restored"])");
  ASSERT_TRUE(RunUntil([&] { return agent_.targets.size() == 4 && agent_.parked.size() == 1; }));
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].index, 3u);
  EXPECT_EQ(seen_[1].body, R"(["restored"])");
  // After the reset: one query without an index (the same answer, not reported twice), then
  // blocking on the new index.
  EXPECT_EQ(agent_.targets[2], "/v1/health/service/web?wait=5m0s");
  EXPECT_EQ(agent_.targets[3], "/v1/health/service/web?index=3&wait=5m0s");
  EXPECT_EQ(watch->index(), 3u);
}

TEST_F(WatchTest, ErrorsBackOffThenTheWatchRecovers) {
  agent_.Set(2, R"(["up"])");
  agent_.failures_left = 2;
  WatchOptions options;
  options.retry_base = std::chrono::milliseconds(2);
  options.retry_max = std::chrono::seconds(1);
  auto watch = Start(0, options);
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1 && agent_.parked.size() == 1; }));
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(errors_[0].first, "Unexpected response code: 500 (rpc error: no leader)");
  EXPECT_EQ(errors_[0].second, std::chrono::milliseconds(2));
  EXPECT_EQ(errors_[1].second, std::chrono::milliseconds(8));
  EXPECT_EQ(seen_[0].index, 2u);
  // Two failed queries, the one answered, then one blocking on its index.
  ASSERT_EQ(agent_.targets.size(), 4u);
  EXPECT_EQ(agent_.targets[3], "/v1/health/service/web?index=2&wait=5m0s");
}

TEST_F(WatchTest, AnAnswerWithoutIndexIsAnError) {
  agent_.with_index = false;
  WatchOptions options;
  options.retry_base = std::chrono::milliseconds(1);
  auto watch = Start(0, options);
  ASSERT_TRUE(RunUntil([&] { return errors_.size() == 2; }));
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(errors_[0].first,
            "the answer to GET /v1/health/service/web carries no X-Consul-Index");
}

TEST_F(WatchTest, AnUnreachableAgentIsAnError) {
  AgentAddress nowhere = address_;
  server_.Close();  // nothing listens on the port any more
  auto on_error = [&](const Status& s, Duration pause) {
    errors_.emplace_back(s.message(), pause);
  };
  Watch watch(loop_, nowhere, "/v1/catalog/services", 0, [&](uint64_t, const http::Response&) {},
              WatchOptions{}, on_error);
  ASSERT_TRUE(RunUntil([&] { return errors_.size() == 1; }));
  EXPECT_EQ(errors_[0].second, std::chrono::seconds(5));  // Consul's first pause
  EXPECT_NE(errors_[0].first.find(nowhere.hostport), std::string::npos) << errors_[0].first;
}

TEST(WatchBackoffTest, GrowsWithTheSquareOfFailuresUpToTheCap) {
  using std::chrono::seconds;
  EXPECT_EQ(WatchBackoff(0, seconds(5), seconds(20)), Duration(0));
  EXPECT_EQ(WatchBackoff(1, seconds(5), seconds(20)), seconds(5));
  EXPECT_EQ(WatchBackoff(2, seconds(5), seconds(20)), seconds(20));
  EXPECT_EQ(WatchBackoff(3, seconds(5), seconds(20)), seconds(20));
  EXPECT_EQ(WatchBackoff(1 << 30, seconds(5), seconds(20)), seconds(20));
}

}  // namespace
}  // namespace gangway::apiclient
