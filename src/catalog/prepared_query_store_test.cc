// Prepared queries in the state store: Consul's uniqueness rules, the indexes, deletion with the
// session a query is bound to, log encoding and snapshots.
#include <gtest/gtest.h>

#include "catalog/commands.h"
#include "catalog/store.h"

namespace gangway::catalog {
namespace {

PreparedQueryRequest Set(Json q) { return {PreparedQueryOp::kSet, std::move(q), ""}; }
PreparedQueryRequest Delete(std::string id) { return {PreparedQueryOp::kDelete, nullptr, id}; }

Json Query(const std::string& id, const std::string& name, bool tmpl = false) {
  Json q = {{"ID", id}, {"Name", name}, {"Service", {{"Service", "redis"}}}};
  q["Template"] = {{"Type", tmpl ? "name_prefix_match" : ""}};
  return q;
}

class PreparedQueryStoreTest : public ::testing::Test {
 protected:
  ApplyResult Apply(const Command& cmd) {
    // Through the log encoding, as a follower sees it.
    auto decoded = DecodeCommand(EncodeCommand(cmd));
    EXPECT_TRUE(decoded.ok()) << decoded.status().message();
    return store_.Apply(++index_, *decoded);
  }
  std::string Refusal(const Command& cmd) {
    ApplyResult r = Apply(cmd);
    EXPECT_FALSE(r.status.ok());
    return r.status.message();
  }
  Store store_;
  Index index_ = 0;
};

TEST_F(PreparedQueryStoreTest, StoredWithIndexesListedAndDeleted) {
  ASSERT_TRUE(Apply(Set(Query("q1", "db"))).status.ok());
  ASSERT_TRUE(Apply(Set(Query("q2", ""))).status.ok());  // unnamed (session checks are the server's)
  Json q2 = Query("q2", "cache");
  ASSERT_TRUE(Apply(Set(q2)).status.ok());
  std::vector<Json> all;
  EXPECT_EQ(store_.PreparedQueries(nullptr, &all), 3u);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["Name"], "cache");
  EXPECT_EQ(all[1]["CreateIndex"], 2u);
  EXPECT_EQ(all[1]["ModifyIndex"], 3u);
  Json one;
  store_.PreparedQueryGet(nullptr, "q1", &one);
  EXPECT_EQ(one["Name"], "db");
  ASSERT_TRUE(Apply(Delete("q1")).status.ok());
  EXPECT_EQ(store_.PreparedQueryGet(nullptr, "q1", &one), 4u);
  EXPECT_TRUE(one.is_null());
  // Deleting what is not there changes nothing.
  ASSERT_TRUE(Apply(Delete("q1")).status.ok());
  EXPECT_EQ(store_.PreparedQueries(nullptr, &all), 4u);
}

TEST_F(PreparedQueryStoreTest, ConsulsUniquenessRules) {
  ASSERT_TRUE(Apply(Set(Query("8f246b77-f3e1-ff88-5b48-8ec93abf3e05", "db"))).status.ok());
  EXPECT_EQ(Refusal(Set(Query("q2", "db"))), "name 'db' aliases an existing query name");
  EXPECT_EQ(Refusal(Set(Query("q2", "8f246b77-f3e1-ff88-5b48-8ec93abf3e05"))),
            "name '8f246b77-f3e1-ff88-5b48-8ec93abf3e05' aliases an existing query ID");
  ASSERT_TRUE(Apply(Set(Query("t1", "", true))).status.ok());
  EXPECT_EQ(Refusal(Set(Query("t2", "", true))),
            "a query template with an empty name already exists");
  ASSERT_TRUE(Apply(Set(Query("t1", "", true))).status.ok());  // the same one, updated
  Json bound = Query("q3", "bound");
  bound["Session"] = "no-such-session";
  EXPECT_EQ(Refusal(Set(bound)), "invalid session \"no-such-session\"");
  EXPECT_EQ(Refusal(Set(Json{{"Name", "x"}})), "Missing query ID");
}

TEST_F(PreparedQueryStoreTest, GoesWithItsSessionAndSurvivesASnapshot) {
  RegisterRequest node;
  node.node.node = "n1";
  node.node.address = "10.0.0.1";
  ASSERT_TRUE(Apply(node).status.ok());
  Session s;
  s.id = "s1";
  s.node = "n1";
  ASSERT_TRUE(Apply(SessionRequest{SessionOp::kCreate, s}).status.ok());
  Json bound = Query("q1", "");
  bound["Session"] = "s1";
  ASSERT_TRUE(Apply(Set(bound)).status.ok());
  ASSERT_TRUE(Apply(Set(Query("q2", "db"))).status.ok());

  Store restored;
  ASSERT_TRUE(restored.Restore(store_.Snapshot()).ok());
  std::vector<Json> a, b;
  EXPECT_EQ(restored.PreparedQueries(nullptr, &a), store_.PreparedQueries(nullptr, &b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 2u);

  SessionRequest destroy;
  destroy.op = SessionOp::kDestroy;
  destroy.session.id = "s1";
  ASSERT_TRUE(Apply(destroy).status.ok());
  std::vector<Json> left;
  EXPECT_EQ(store_.PreparedQueries(nullptr, &left), index_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["ID"], "q2");
}

TEST_F(PreparedQueryStoreTest, BadCommandsAreRefusedByTheDecoder) {
  std::string bytes = EncodeCommand(Delete("x"));
  bytes[0] = static_cast<char>(CommandType::kPreparedQuery);
  EXPECT_TRUE(DecodeCommand(bytes).ok());
  EXPECT_FALSE(DecodeCommand(EncodeCommand(Delete(""))).ok());
  PreparedQueryRequest bad = Set(Json::array());
  EXPECT_FALSE(DecodeCommand(EncodeCommand(bad)).ok());
}

}  // namespace
}  // namespace gangway::catalog
