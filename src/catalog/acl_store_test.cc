// The ACL tables: unique names and secrets, bootstrap and its reset, replication's replace.
#include <gtest/gtest.h>

#include "catalog/store.h"

namespace gangway::catalog {
namespace {

class AclStoreTest : public ::testing::Test {
 protected:
  ApplyResult Apply(AclOp op, Json object, std::string id = "", Index cas = 0,
                    std::string kind = "") {
    AclRequest r;
    r.op = op;
    r.object = std::move(object);
    r.id = std::move(id);
    r.cas = cas;
    r.kind = std::move(kind);
    return store.Apply(++index, r);
  }
  Json Token(const std::string& accessor) {
    Json out;
    store.AclToken(nullptr, accessor, &out);
    return out;
  }
  Store store;
  Index index = 0;
};

TEST_F(AclStoreTest, StampsIndexesAndKeepsCreateIndexOnUpdate) {
  ASSERT_TRUE(Apply(AclOp::kPolicySet, {{"ID", "p1"}, {"Name", "a"}}).status.ok());
  ASSERT_TRUE(Apply(AclOp::kPolicySet, {{"ID", "p1"}, {"Name", "b"}}).status.ok());
  Json p;
  EXPECT_EQ(store.AclPolicy(nullptr, "p1", &p), 2u);
  EXPECT_EQ(p["CreateIndex"], 1u);
  EXPECT_EQ(p["ModifyIndex"], 2u);
  // The rename freed the old name.
  store.AclPolicyByName(nullptr, "a", &p);
  EXPECT_TRUE(p.is_null());
  ASSERT_TRUE(Apply(AclOp::kPolicySet, {{"ID", "p2"}, {"Name", "a"}}).status.ok());
}

TEST_F(AclStoreTest, RefusesADuplicateNameOrSecret) {
  ASSERT_TRUE(Apply(AclOp::kRoleSet, {{"ID", "r1"}, {"Name", "ops"}}).status.ok());
  ApplyResult r = Apply(AclOp::kRoleSet, {{"ID", "r2"}, {"Name", "ops"}});
  EXPECT_FALSE(r.status.ok());
  ASSERT_TRUE(Apply(AclOp::kTokenSet, {{"AccessorID", "a1"}, {"SecretID", "s"}}).status.ok());
  EXPECT_FALSE(Apply(AclOp::kTokenSet, {{"AccessorID", "a2"}, {"SecretID", "s"}}).status.ok());
  EXPECT_TRUE(Token("a2").is_null());
  // An object without its ID is refused, not stored under "".
  EXPECT_FALSE(Apply(AclOp::kTokenSet, {{"SecretID", "x"}}).status.ok());
}

TEST_F(AclStoreTest, BootstrapsOnceThenOnlyWithTheResetIndex) {
  ASSERT_TRUE(Apply(AclOp::kBootstrap, {{"AccessorID", "a1"}, {"SecretID", "s1"}}).status.ok());
  EXPECT_EQ(store.AclBootstrapIndex(), 1u);
  ApplyResult again = Apply(AclOp::kBootstrap, {{"AccessorID", "a2"}, {"SecretID", "s2"}});
  EXPECT_EQ(again.status.code(), Code::kPermissionDenied);
  EXPECT_EQ(again.status.message(), "ACL bootstrap no longer allowed (reset index: 1)");
  ApplyResult wrong = Apply(AclOp::kBootstrap, {{"AccessorID", "a2"}, {"SecretID", "s2"}}, "", 7);
  EXPECT_EQ(wrong.status.message(), "Invalid bootstrap reset index (specified 7, reset index: 1)");
  ASSERT_TRUE(
      Apply(AclOp::kBootstrap, {{"AccessorID", "a2"}, {"SecretID", "s2"}}, "", 1).status.ok());
  EXPECT_EQ(store.AclBootstrapIndex(), 4u);
  EXPECT_FALSE(Token("a2").is_null());
}

TEST_F(AclStoreTest, DeleteWakesWatchersAndUnknownDeleteChangesNothing) {
  ASSERT_TRUE(Apply(AclOp::kTokenSet, {{"AccessorID", "a1"}, {"SecretID", "s1"}}).status.ok());
  WatchSet ws;
  Json t;
  store.AclTokenBySecret(&ws, "s1", &t);
  bool fired = false;
  store.Watch(ws, [&] { fired = true; });
  ASSERT_TRUE(Apply(AclOp::kTokenDelete, nullptr, "nope").status.ok());
  EXPECT_FALSE(fired);
  ASSERT_TRUE(Apply(AclOp::kTokenDelete, nullptr, "a1").status.ok());
  EXPECT_TRUE(fired);
  store.AclTokenBySecret(nullptr, "s1", &t);
  EXPECT_TRUE(t.is_null());
}

TEST_F(AclStoreTest, ReplicationReplacesGlobalTokensAndKeepsLocalOnes) {
  ASSERT_TRUE(Apply(AclOp::kTokenSet, {{"AccessorID", "local"}, {"SecretID", "l"}, {"Local", true}})
                  .status.ok());
  ASSERT_TRUE(Apply(AclOp::kTokenSet, {{"AccessorID", "old"}, {"SecretID", "o"}}).status.ok());
  Json list = Json::array({{{"AccessorID", "g1"}, {"SecretID", "x"}, {"CreateIndex", 77}}});
  ASSERT_TRUE(Apply(AclOp::kReplicate, list, "", 0, "tokens").status.ok());
  EXPECT_FALSE(Token("local").is_null());
  EXPECT_TRUE(Token("old").is_null());
  EXPECT_EQ(Token("g1")["CreateIndex"], 3u);  // stamped here, not copied
  // The same list again changes nothing and wakes nobody.
  WatchSet ws;
  std::vector<Json> all;
  Index before = store.AclTokens(&ws, &all);
  bool fired = false;
  store.Watch(ws, [&] { fired = true; });
  ASSERT_TRUE(Apply(AclOp::kReplicate, list, "", 0, "tokens").status.ok());
  EXPECT_FALSE(fired);
  EXPECT_EQ(store.AclTokens(nullptr, &all), before);
  // A malformed list changes nothing.
  Json bad = Json::array({{{"AccessorID", "g2"}, {"SecretID", "y"}}, {{"AccessorID", "g3"}}});
  EXPECT_FALSE(Apply(AclOp::kReplicate, bad, "", 0, "tokens").status.ok());
  EXPECT_TRUE(Token("g2").is_null());
  EXPECT_FALSE(Token("g1").is_null());
}

TEST_F(AclStoreTest, CommandsRoundTripAndBadOnesAreRefused) {
  AclRequest r;
  r.op = AclOp::kReplicate;
  r.kind = "roles";
  r.object = Json::array({{{"ID", "r"}, {"Name", "n"}}});
  auto back = DecodeCommand(EncodeCommand(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  const auto& got = std::get<AclRequest>(*back);
  EXPECT_EQ(got.kind, "roles");
  EXPECT_EQ(got.object, r.object);
  r.kind = "users";
  EXPECT_FALSE(DecodeCommand(EncodeCommand(r)).ok());
  AclRequest del;
  del.op = AclOp::kPolicyDelete;
  EXPECT_FALSE(DecodeCommand(EncodeCommand(del)).ok());  // no ID
}

}  // namespace
}  // namespace gangway::catalog
