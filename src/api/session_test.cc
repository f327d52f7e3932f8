// /v1/session/* and KV ?acquire/?release in process (TestAgent on a SimLoop): Consul's texts,
// defaults, invalidation on a critical check, TTL expiry with the leader's grace, lock-delay.
#include <gtest/gtest.h>

#include <string>

#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using namespace std::chrono_literals;
using testing::TestAgent;

catalog::Json Body(const http::Response& r) { return catalog::Json::parse(r.body); }

class SessionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_.server().DevLeadershipAcquired();
    // The node's serfHealth, which the membership reconciler registers on a real server.
    auto r = agent_.Do("PUT", "/v1/catalog/register",
                       R"({"Node":"test","Address":"127.0.0.1","Check":{"CheckID":"serfHealth",
                          "Name":"Serf Health Status","Status":"passing"}})");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::string Create(const std::string& body = "") {
    auto r = agent_.Do("PUT", "/v1/session/create", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? Body(r)["ID"].get<std::string>() : "";
  }
  catalog::Json Info(const std::string& id) {
    return Body(agent_.Do("GET", "/v1/session/info/" + id));
  }
  TestAgent agent_;
};

TEST_F(SessionApiTest, CreateWithDefaultsAndRead) {
  std::string id = Create();
  auto info = Info(id);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0]["Node"], "test");
  EXPECT_EQ(info[0]["LockDelay"], 15'000'000'000);
  EXPECT_EQ(info[0]["Behavior"], "release");
  EXPECT_EQ(info[0]["TTL"], "");
  EXPECT_EQ(info[0]["NodeChecks"], catalog::Json::array({"serfHealth"}));
  EXPECT_TRUE(info[0]["ServiceChecks"].is_null());
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/session/list")).size(), 1u);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/session/node/test")).size(), 1u);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/session/node/other")).size(), 0u);
  EXPECT_EQ(Info("00000000-0000-0000-0000-000000000000"), catalog::Json::array());
}

TEST_F(SessionApiTest, ErrorsHaveConsulsTexts) {
  auto r = agent_.Do("PUT", "/v1/session/create", R"({"TTL":"5s"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
  r = agent_.Do("PUT", "/v1/session/create", R"({"Behavior":"x"})");
  EXPECT_EQ(r.body, "Invalid Behavior setting 'x'");
  r = agent_.Do("PUT", "/v1/session/create", R"({"Node":"nope"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "Missing node registration");
  r = agent_.Do("PUT", "/v1/session/create", R"({"NodeChecks":["disk"]})");
  EXPECT_EQ(r.body, "Missing check 'disk' registration");
  r = agent_.Do("PUT", "/v1/session/create", "{");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("Request decode failed: ", 0), 0u) << r.body;
  r = agent_.Do("POST", "/v1/session/create", "");
  EXPECT_EQ(r.status, 405);
  r = agent_.Do("PUT", "/v1/session/renew/0a9e4e9e-0000-4000-8000-000000000000");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "Session id '0a9e4e9e-0000-4000-8000-000000000000' not found");
  r = agent_.Do("PUT", "/v1/session/destroy/0a9e4e9e-0000-4000-8000-000000000000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "true");
  EXPECT_EQ(agent_.Do("PUT", "/v1/session/destroy/").status, 400);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/session/list")).size(), 0u);
}

TEST_F(SessionApiTest, AcquireReleaseAndConflictingFlags) {
  std::string s1 = Create(R"({"LockDelay":"0s"})");
  std::string s2 = Create();
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s1, "one").body, "true");
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s2, "two").body, "false");
  auto kv = Body(agent_.Do("GET", "/v1/kv/lock"));
  EXPECT_EQ(kv[0]["Session"], s1);
  EXPECT_EQ(kv[0]["LockIndex"], 1);
  auto r = agent_.Do("PUT", "/v1/kv/lock?acquire=" + s1 + "&cas=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("Conflicting flags: ", 0), 0u);
  r = agent_.Do("PUT", "/v1/kv/x?acquire=0a9e4e9e-0000-4000-8000-000000000000");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "invalid session \"0a9e4e9e-0000-4000-8000-000000000000\"");
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?release=" + s2).body, "false");
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?release=" + s1, "after").body, "true");
  kv = Body(agent_.Do("GET", "/v1/kv/lock"));
  EXPECT_FALSE(kv[0].contains("Session"));
  // The txn verbs.
  r = agent_.Do("PUT", "/v1/txn",
                R"([{"KV":{"Verb":"lock","Key":"t","Session":")" + s2 +
                    R"("}},{"KV":{"Verb":"check-session","Key":"t","Session":")" + s2 + R"("}}])");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(SessionApiTest, CriticalCheckReleasesAndLockDelayHolds) {
  std::string s1 = Create();  // LockDelay 15s
  std::string s2 = Create(R"({"NodeChecks":[]})");
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s1).body, "true");
  auto r = agent_.Do("PUT", "/v1/catalog/register",
                     R"({"Node":"test","Address":"127.0.0.1","Check":{"CheckID":"serfHealth",
                        "Name":"Serf Health Status","Status":"critical"}})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Info(s1), catalog::Json::array());
  EXPECT_FALSE(Body(agent_.Do("GET", "/v1/kv/lock"))[0].contains("Session"));
  EXPECT_EQ(Info(s2).size(), 1u);
  // Refused during the lock-delay, taken after it.
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s2).body, "false");
  agent_.loop().RunFor(14s);
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s2).body, "false");
  agent_.loop().RunFor(2s);
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/lock?acquire=" + s2).body, "true");
}

TEST_F(SessionApiTest, TTLExpiresAfterTwiceTheTTLUnlessRenewed) {
  std::string id = Create(R"({"TTL":"10s","Behavior":"delete","NodeChecks":[]})");
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/held?acquire=" + id, "v").body, "true");
  agent_.loop().RunFor(15s);
  auto renewed = agent_.Do("PUT", "/v1/session/renew/" + id);
  ASSERT_EQ(renewed.status, 200);
  EXPECT_EQ(Body(renewed)[0]["ID"], id);
  agent_.loop().RunFor(19s);  // 34s after create, 19s after renew: within TTL × 2 of the renew
  EXPECT_EQ(Info(id).size(), 1u);
  agent_.loop().RunFor(2s);
  EXPECT_EQ(Info(id), catalog::Json::array());
  EXPECT_EQ(agent_.Do("GET", "/v1/kv/held").status, 404);  // Behavior delete
}

// A restore brings back a TTL session destroyed since the snapshot: it needs a timer again, or it
// would live forever.
TEST_F(SessionApiTest, RestoredTTLSessionsGetTimers) {
  std::string id = Create(R"({"TTL":"10s","NodeChecks":[]})");
  std::string snapshot = agent_.server().Snapshot();
  ASSERT_EQ(agent_.Do("PUT", "/v1/session/destroy/" + id).status, 200);
  bool restored = false;
  agent_.server().Restore(snapshot, [&](Status s) {
    ASSERT_TRUE(s.ok()) << s.message();
    restored = true;
  });
  ASSERT_TRUE(restored);
  EXPECT_EQ(Info(id).size(), 1u);
  agent_.loop().RunFor(21s);
  EXPECT_EQ(Info(id), catalog::Json::array());
}

TEST_F(SessionApiTest, BlockingInfoWakesOnDestroy) {
  std::string id = Create();
  auto first = agent_.Do("GET", "/v1/session/info/" + id);
  std::string index;
  for (const auto& [k, v] : first.headers) {
    if (k == "X-Consul-Index") index = v;
  }
  auto blocked = agent_.Send("GET", "/v1/session/info/" + id + "?index=" + index + "&wait=60s");
  agent_.loop().RunFor(5s);
  EXPECT_FALSE(blocked->response.has_value());
  ASSERT_EQ(agent_.Do("PUT", "/v1/session/destroy/" + id).status, 200);
  agent_.loop().RunPending();
  ASSERT_TRUE(blocked->response.has_value());
  EXPECT_EQ(Body(*blocked->response), catalog::Json::array());
}

}  // namespace
}  // namespace gangway::api
