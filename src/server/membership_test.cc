#include "server/membership.h"

#include <gtest/gtest.h>

#include "net/event_loop.h"

namespace gangway::server {
namespace {

class MembershipTest : public ::testing::Test {
 protected:
  MembershipTest() : server_(loop_, ServerOptions{}), rec_(server_, "dc1", "s1") {}

  static LanMember Member(std::string name, LanMember::Status st, std::string role = "node") {
    LanMember m;
    m.name = std::move(name);
    m.address = "10.0.0." + std::to_string(m.name.size());
    m.status = st;
    m.tags = {{"dc", "dc1"}, {"role", role}, {"id", "id-" + m.name}, {"port", "8300"}};
    return m;
  }

  std::optional<catalog::HealthCheck> Serf(const std::string& node) {
    std::vector<catalog::HealthCheck> checks;
    server_.store().NodeChecks(nullptr, node, &checks);
    for (auto& c : checks) {
      if (c.check_id == catalog::kSerfCheckID) return c;
    }
    return std::nullopt;
  }

  net::EventLoop loop_;
  Server server_;
  MembershipReconciler rec_;
};

TEST_F(MembershipTest, AliveMemberGetsNodeAndPassingSerfHealth) {
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  auto c = Serf("c1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, catalog::kPassing);
  EXPECT_EQ(c->output, kSerfAliveOutput);
  EXPECT_EQ(c->name, kSerfCheckName);
  std::optional<catalog::Node> n;
  server_.store().GetNode(nullptr, "c1", &n);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->id, "id-c1");
  // Nothing changed: no second write.
  uint64_t writes = rec_.writes();
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  EXPECT_EQ(rec_.writes(), writes);
}

TEST_F(MembershipTest, ServersGetTheConsulService) {
  rec_.Reconcile(Member("s2", LanMember::Status::kAlive, "consul"));
  std::optional<catalog::Node> n;
  std::vector<catalog::NodeService> services;
  server_.store().NodeServices(nullptr, "s2", &n, &services);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].id, "consul");
  EXPECT_EQ(services[0].port, 8300);
}

TEST_F(MembershipTest, FailedTurnsCriticalAndAliveAgainRecovers) {
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  rec_.Reconcile(Member("c1", LanMember::Status::kFailed));
  EXPECT_EQ(Serf("c1")->status, catalog::kCritical);
  EXPECT_EQ(Serf("c1")->output, kSerfFailedOutput);
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  EXPECT_EQ(Serf("c1")->status, catalog::kPassing);
}

TEST_F(MembershipTest, AgentRegisteredMetadataSurvivesTheLeaderWrite) {
  catalog::RegisterRequest req;
  req.node.node = "c1";
  req.node.id = "id-c1";
  req.node.address = "10.0.0.2";
  req.node.tagged_addresses = {{"lan", "10.0.0.2"}};
  req.node.meta = {{"rack", "r1"}};
  bool ok = false;
  server_.Apply(req, [&](catalog::ApplyResult r) { ok = r.status.ok(); });
  ASSERT_TRUE(ok);
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  std::optional<catalog::Node> n;
  server_.store().GetNode(nullptr, "c1", &n);
  EXPECT_EQ(n->meta.at("rack"), "r1");
  EXPECT_EQ(n->tagged_addresses.at("lan"), "10.0.0.2");
  EXPECT_EQ(Serf("c1")->status, catalog::kPassing);
}

TEST_F(MembershipTest, LeftAndReapedAreDeregisteredButNeverSelf) {
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  rec_.Reconcile(Member("s1", LanMember::Status::kAlive, "consul"));
  rec_.Reconcile(Member("c1", LanMember::Status::kLeft));
  rec_.Reconcile(Member("s1", LanMember::Status::kLeft));
  std::optional<catalog::Node> n;
  server_.store().GetNode(nullptr, "c1", &n);
  EXPECT_FALSE(n);
  server_.store().GetNode(nullptr, "s1", &n);
  EXPECT_TRUE(n);
}

TEST_F(MembershipTest, OtherDatacenterIgnored) {
  LanMember m = Member("x", LanMember::Status::kAlive);
  m.tags["dc"] = "dc2";
  rec_.Reconcile(m);
  EXPECT_FALSE(Serf("x"));
}

TEST_F(MembershipTest, ReconcileAllDropsNodesGossipForgot) {
  rec_.Reconcile(Member("c1", LanMember::Status::kAlive));
  rec_.Reconcile(Member("c2", LanMember::Status::kAlive));
  // A node registered through the API without serfHealth (an external node) stays.
  catalog::RegisterRequest ext;
  ext.node.node = "external";
  ext.node.address = "192.0.2.1";
  server_.Apply(ext, nullptr);
  rec_.ReconcileAll({Member("c2", LanMember::Status::kAlive)});
  std::optional<catalog::Node> n;
  server_.store().GetNode(nullptr, "c1", &n);
  EXPECT_FALSE(n);
  server_.store().GetNode(nullptr, "c2", &n);
  EXPECT_TRUE(n);
  server_.store().GetNode(nullptr, "external", &n);
  EXPECT_TRUE(n);
}

}  // namespace
}  // namespace gangway::server
