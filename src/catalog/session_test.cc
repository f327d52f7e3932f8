// Sessions in the state store: create and its checks, invalidation by destroy, check critical,
// check and node deregistration, the behaviour applied to held keys, lock verbs, transactions,
// log encoding and snapshots; and the create-request decoder's defaults and texts.
#include <gtest/gtest.h>

#include "catalog/commands.h"
#include "catalog/json.h"
#include "catalog/session_request.h"
#include "catalog/store.h"

namespace gangway::catalog {
namespace {

HealthCheck Check(const std::string& node, const std::string& id, const std::string& status) {
  HealthCheck c;
  c.node = node;
  c.check_id = id;
  c.name = id;
  c.status = status;
  return c;
}

RegisterRequest Reg(const std::string& node, std::vector<HealthCheck> checks = {}) {
  RegisterRequest r;
  r.node.node = node;
  r.node.address = "10.0.0.1";
  r.checks = std::move(checks);
  return r;
}

Session MakeSession(const std::string& id, const std::string& node,
                    std::vector<std::string> node_checks = {kSerfCheckID}) {
  Session s;
  s.id = id;
  s.node = node;
  s.node_checks = std::move(node_checks);
  return s;
}

SessionRequest Create(const Session& s) { return {SessionOp::kCreate, s}; }
SessionRequest Destroy(const std::string& id) {
  SessionRequest r;
  r.op = SessionOp::kDestroy;
  r.session.id = id;
  return r;
}

KVRequest Lock(KVOp op, const std::string& key, const std::string& session,
               const std::string& value = "") {
  KVRequest r;
  r.op = op;
  r.entry.key = key;
  r.entry.session = session;
  r.entry.value = value;
  return r;
}

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MustApply(Reg("n1", {Check("n1", kSerfCheckID, kPassing), Check("n1", "disk", kPassing)}));
  }
  ApplyResult Apply(const Command& cmd) { return store_.Apply(++index_, cmd); }
  void MustApply(const Command& cmd) {
    auto r = Apply(cmd);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  }
  std::optional<KVEntry> Get(const std::string& key) {
    std::optional<KVEntry> e;
    store_.KVGet(nullptr, key, &e);
    return e;
  }
  bool Exists(const std::string& id) {
    std::optional<Session> s;
    store_.SessionGet(nullptr, id, &s);
    return s.has_value();
  }

  Store store_;
  Index index_ = 0;
};

TEST_F(SessionStoreTest, CreateChecksNodeAndChecks) {
  auto r = Apply(Create(MakeSession("s1", "nope")));
  EXPECT_EQ(r.status.message(), "Missing node registration");
  r = Apply(Create(MakeSession("s1", "n1", {"missing"})));
  EXPECT_EQ(r.status.message(), "Missing check 'missing' registration");
  MustApply(Reg("n1", {Check("n1", "disk", kCritical)}));
  r = Apply(Create(MakeSession("s1", "n1", {"disk"})));
  EXPECT_EQ(r.status.message(), "Check 'disk' is in critical state");
  EXPECT_FALSE(Exists("s1"));

  Index before = index_;
  MustApply(Create(MakeSession("s1", "n1")));
  std::optional<Session> s;
  EXPECT_EQ(store_.SessionGet(nullptr, "s1", &s), before + 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->raft.create_index, before + 1);
  EXPECT_EQ(s->behavior, "release");
  std::vector<Session> list;
  store_.NodeSessions(nullptr, "n1", &list);
  EXPECT_EQ(list.size(), 1u);
}

TEST_F(SessionStoreTest, AcquireReleaseSemantics) {
  MustApply(Create(MakeSession("s1", "n1")));
  MustApply(Create(MakeSession("s2", "n1")));
  auto r = Apply(Lock(KVOp::kLock, "k", "bogus"));
  EXPECT_EQ(r.status.message(), "invalid session \"bogus\"");
  EXPECT_FALSE(Get("k"));

  r = Apply(Lock(KVOp::kLock, "k", "s1", "v1"));
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.success);
  EXPECT_EQ(Get("k")->lock_index, 1u);
  EXPECT_EQ(Get("k")->session, "s1");
  // The holder again: value updated, same generation.
  EXPECT_TRUE(Apply(Lock(KVOp::kLock, "k", "s1", "v2")).success);
  EXPECT_EQ(Get("k")->lock_index, 1u);
  EXPECT_EQ(Get("k")->value, "v2");
  // Another session: refused, nothing changes.
  Index modify = Get("k")->raft.modify_index;
  EXPECT_FALSE(Apply(Lock(KVOp::kLock, "k", "s2", "x")).success);
  EXPECT_EQ(Get("k")->raft.modify_index, modify);
  // A plain set keeps the holder.
  KVRequest set;
  set.entry.key = "k";
  set.entry.value = "plain";
  MustApply(set);
  EXPECT_EQ(Get("k")->session, "s1");
  // Release by a non-holder fails; by the holder clears Session and writes the body.
  EXPECT_FALSE(Apply(Lock(KVOp::kUnlock, "k", "s2")).success);
  EXPECT_TRUE(Apply(Lock(KVOp::kUnlock, "k", "s1", "")).success);
  EXPECT_EQ(Get("k")->session, "");
  EXPECT_EQ(Get("k")->value, "");
  EXPECT_EQ(Get("k")->lock_index, 1u);
  // Next acquisition is a new generation.
  EXPECT_TRUE(Apply(Lock(KVOp::kLock, "k", "s2")).success);
  EXPECT_EQ(Get("k")->lock_index, 2u);
  EXPECT_FALSE(Apply(Lock(KVOp::kUnlock, "absent", "s1")).success);
  EXPECT_EQ(Apply(Lock(KVOp::kLock, "k", "")).status.message(), "missing session");
}

TEST_F(SessionStoreTest, DestroyReleasesOrDeletesPerBehavior) {
  Session rel = MakeSession("rel", "n1");
  Session del = MakeSession("del", "n1");
  del.behavior = "delete";
  del.lock_delay_ns = 0;
  rel.lock_delay_ns = 120'000'000'000;  // clamped to 60s
  MustApply(Create(rel));
  MustApply(Create(del));
  MustApply(Lock(KVOp::kLock, "a", "rel", "va"));
  MustApply(Lock(KVOp::kLock, "b", "del", "vb"));

  WatchSet ws;
  std::optional<Session> s;
  store_.SessionGet(&ws, "rel", &s);
  int fired = 0;
  store_.Watch(ws, [&] { ++fired; });

  auto r = Apply(Destroy("rel"));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(Exists("rel"));
  ASSERT_TRUE(Get("a"));
  EXPECT_EQ(Get("a")->session, "");
  EXPECT_EQ(Get("a")->value, "va");
  EXPECT_EQ(Get("a")->raft.modify_index, index_);
  ASSERT_EQ(r.lock_delays.size(), 1u);
  EXPECT_EQ(r.lock_delays[0].first, "a");
  EXPECT_EQ(r.lock_delays[0].second, 60'000'000'000);

  r = Apply(Destroy("del"));
  EXPECT_FALSE(Get("b"));
  EXPECT_TRUE(r.lock_delays.empty());  // LockDelay 0 disables it
  // Destroying an unknown session succeeds and changes nothing.
  EXPECT_TRUE(Apply(Destroy("del")).status.ok());
}

TEST_F(SessionStoreTest, CheckCriticalInvalidatesButWarningDoesNot) {
  MustApply(Create(MakeSession("s1", "n1", {kSerfCheckID, "disk"})));
  MustApply(Create(MakeSession("other", "n1", {})));
  MustApply(Lock(KVOp::kLock, "k", "s1"));
  MustApply(Reg("n1", {Check("n1", "disk", kWarning)}));
  EXPECT_TRUE(Exists("s1"));
  auto r = Apply(Reg("n1", {Check("n1", "disk", kCritical)}));
  ASSERT_TRUE(r.status.ok());
  EXPECT_FALSE(Exists("s1"));
  EXPECT_TRUE(Exists("other"));
  EXPECT_EQ(Get("k")->session, "");
  ASSERT_EQ(r.lock_delays.size(), 1u);
  EXPECT_EQ(r.lock_delays[0].second, 15'000'000'000);
}

TEST_F(SessionStoreTest, CheckOrNodeDeregistrationInvalidates) {
  MustApply(Create(MakeSession("s1", "n1", {"disk"})));
  MustApply(Create(MakeSession("s2", "n1", {})));
  DeregisterRequest dc{"n1", "", "disk"};
  MustApply(dc);
  EXPECT_FALSE(Exists("s1"));
  EXPECT_TRUE(Exists("s2"));
  DeregisterRequest dn{"n1", "", ""};
  MustApply(dn);
  EXPECT_FALSE(Exists("s2"));
  std::vector<Session> all;
  store_.SessionList(nullptr, &all);
  EXPECT_TRUE(all.empty());
}

TEST_F(SessionStoreTest, TxnLockVerbs) {
  MustApply(Create(MakeSession("s1", "n1")));
  MustApply(Create(MakeSession("s2", "n1")));
  TxnRequest txn;
  txn.ops = {Lock(KVOp::kLock, "t", "s1", "v"), Lock(KVOp::kCheckSession, "t", "s1")};
  auto r = Apply(txn);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.txn_results.size(), 2u);
  EXPECT_EQ(r.txn_results[0].session, "s1");

  txn.ops = {Lock(KVOp::kCheckSession, "t", "s2")};
  r = Apply(txn);
  ASSERT_EQ(r.txn_errors.size(), 1u);
  EXPECT_EQ(r.txn_errors[0].what, "failed session check for key \"t\", current session \"s1\" != \"s2\"");
  // A failed lock rolls back everything before it.
  txn.ops = {Lock(KVOp::kLock, "u", "s2"), Lock(KVOp::kLock, "t", "s2")};
  r = Apply(txn);
  ASSERT_EQ(r.txn_errors.size(), 1u);
  EXPECT_EQ(r.txn_errors[0].what, "failed to lock key \"t\", lock is already held");
  EXPECT_FALSE(Get("u"));
  txn.ops = {Lock(KVOp::kUnlock, "t", "s2")};
  r = Apply(txn);
  ASSERT_EQ(r.txn_errors.size(), 1u);
  txn.ops = {Lock(KVOp::kUnlock, "t", "s1")};
  r = Apply(txn);
  EXPECT_TRUE(r.txn_errors.empty());
  EXPECT_EQ(Get("t")->session, "");
  // check-session is a transaction verb only.
  EXPECT_FALSE(Apply(Lock(KVOp::kCheckSession, "t", "s1")).status.ok());
}

TEST_F(SessionStoreTest, CommandRoundTrip) {
  Session s = MakeSession("abc", "n1", {"serfHealth", "disk"});
  s.name = "lock";
  s.ttl = "15s";
  s.behavior = "delete";
  s.lock_delay_ns = 7;
  s.service_checks = {{"service:web", ""}};
  auto decoded = DecodeCommand(EncodeCommand(Create(s)));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  const auto& req = std::get<SessionRequest>(*decoded);
  EXPECT_EQ(req.session, s);
  auto lock = DecodeCommand(EncodeCommand(Lock(KVOp::kLock, "k", "abc", "v")));
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(std::get<KVRequest>(*lock).entry.session, "abc");
  EXPECT_FALSE(DecodeCommand(EncodeCommand(Lock(KVOp::kCheckSession, "k", "abc"))).ok());
  EXPECT_FALSE(DecodeCommand(EncodeCommand(Destroy(""))).ok());
}

TEST_F(SessionStoreTest, SnapshotKeepsSessionsAndHeldKeys) {
  Session s = MakeSession("s1", "n1", {"disk"});
  s.service_checks = {};
  MustApply(Create(s));
  MustApply(Lock(KVOp::kLock, "k", "s1", "v"));
  std::string snap = store_.Snapshot();
  EXPECT_EQ(snap, internal::SnapshotThroughJson(store_));
  auto copy = store_.CopyForSnapshot();
  EXPECT_EQ(*copy->Encode(), snap);

  Store restored;
  ASSERT_TRUE(restored.Restore(snap).ok());
  std::optional<Session> got;
  EXPECT_EQ(restored.SessionGet(nullptr, "s1", &got), store_.SessionGet(nullptr, "s1", &got));
  ASSERT_TRUE(got);
  // The derived index came back too: the check going critical invalidates on the restored store.
  auto r = restored.Apply(index_ + 1, Reg("n1", {Check("n1", "disk", kCritical)}));
  ASSERT_TRUE(r.status.ok());
  restored.SessionGet(nullptr, "s1", &got);
  EXPECT_FALSE(got);
  std::optional<KVEntry> e;
  restored.KVGet(nullptr, "k", &e);
  EXPECT_EQ(e->session, "");
}

// ---- The create request

TEST(SessionRequestTest, Defaults) {
  auto s = DecodeSessionCreate("", "agent1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->node, "agent1");
  EXPECT_EQ(s->lock_delay_ns, 15'000'000'000);
  EXPECT_EQ(s->behavior, "release");
  EXPECT_EQ(s->node_checks, std::vector<std::string>{"serfHealth"});
  EXPECT_TRUE(s->checks.empty());
  Json j = SessionToJson(*s);
  EXPECT_EQ(j["LockDelay"], 15'000'000'000);
  EXPECT_TRUE(j["ServiceChecks"].is_null());
  EXPECT_FALSE(j.contains("Checks"));
}

TEST(SessionRequestTest, CheckListFixUps) {
  auto s = DecodeSessionCreate(R"({"NodeChecks":[]})", "a");
  EXPECT_TRUE(s->node_checks.empty() && s->checks.empty());
  s = DecodeSessionCreate(R"({"Checks":[]})", "a");
  EXPECT_TRUE(s->node_checks.empty() && s->checks.empty());
  s = DecodeSessionCreate(R"({"checks":["service:web"]})", "a");
  EXPECT_EQ(s->checks, std::vector<std::string>{"service:web"});
  EXPECT_EQ(s->node_checks, std::vector<std::string>{"serfHealth"});
  s = DecodeSessionCreate(R"({"ServiceChecks":[{"ID":"service:web"}],"Unknown":1})", "a");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->service_checks.size(), 1u);
  EXPECT_EQ(s->AllChecks(), (std::vector<std::string>{"serfHealth", "service:web"}));
}

TEST(SessionRequestTest, LockDelayForms) {
  EXPECT_EQ(DecodeSessionCreate(R"({"LockDelay":15})", "a")->lock_delay_ns, 15'000'000'000);
  EXPECT_EQ(DecodeSessionCreate(R"({"LockDelay":"15ns"})", "a")->lock_delay_ns, 15'000'000'000);
  EXPECT_EQ(DecodeSessionCreate(R"({"LockDelay":1000})", "a")->lock_delay_ns, 1000);
  EXPECT_EQ(DecodeSessionCreate(R"({"LockDelay":"2s"})", "a")->lock_delay_ns, 2'000'000'000);
  EXPECT_EQ(DecodeSessionCreate(R"({"LockDelay":0})", "a")->lock_delay_ns, 0);
}

// Found by session_request_fuzz (corpus: bad-utf8): the parser's message quoted the bytes it
// choked on, and a message that is not UTF-8 cannot be rendered as JSON.
TEST(SessionRequestTest, DecodeErrorOnBadUtf8IsValidUtf8) {
  auto bad = DecodeSessionCreate("{\"Name\":\"\xff\xfe\"}", "a");
  ASSERT_FALSE(bad.ok());
  EXPECT_NO_THROW((void)Json(bad.status().message()).dump());
}

TEST(SessionRequestTest, ErrorsAndValidation) {
  auto bad = DecodeSessionCreate("{", "a");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("Request decode failed: ", 0), 0u);
  EXPECT_FALSE(DecodeSessionCreate(R"({"Node":5})", "a").ok());
  EXPECT_FALSE(DecodeSessionCreate(std::string(100, '['), "a").ok());

  auto s = *DecodeSessionCreate(R"({"Node":""})", "a");
  EXPECT_EQ(ValidateSession(&s).message(), "Must provide Node");
  s = *DecodeSessionCreate(R"({"Behavior":"keep"})", "a");
  EXPECT_EQ(ValidateSession(&s).message(), "Invalid Behavior setting 'keep'");
  s = *DecodeSessionCreate(R"({"TTL":"abc"})", "a");
  EXPECT_EQ(ValidateSession(&s).message(),
            "Session TTL 'abc' invalid: time: invalid duration \"abc\"");
  s = *DecodeSessionCreate(R"({"TTL":"5s"})", "a");
  EXPECT_EQ(ValidateSession(&s).message(),
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
  s = *DecodeSessionCreate(R"({"TTL":"0s","Behavior":""})", "a");
  EXPECT_TRUE(ValidateSession(&s).ok());
  EXPECT_EQ(s.behavior, "release");
  s = *DecodeSessionCreate(R"({"TTL":"15s"})", "a");
  EXPECT_TRUE(ValidateSession(&s).ok());
  EXPECT_EQ(SessionTTL(s), std::chrono::seconds(15));
}

}  // namespace
}  // namespace gangway::catalog
