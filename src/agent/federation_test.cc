#include "agent/federation.h"

#include <gtest/gtest.h>

#include "agent/joiner.h"
#include "gossip/transport.h"

namespace gangway::agent {
namespace {

gossip::Member MemberOf(std::string name, const std::string& ip, uint16_t port, std::string dc,
                        bool server, gossip::MemberStatus status = gossip::MemberStatus::kAlive) {
  gossip::Member m;
  m.name = std::move(name);
  auto addr = gossip::Address::Parse(ip, port);
  EXPECT_TRUE(addr.ok()) << ip;
  if (addr.ok()) m.addr = *addr;
  m.status = status;
  m.tags = {{"dc", std::move(dc)}, {"role", server ? "consul" : "node"}};
  if (server) {
    m.tags["id"] = "id-" + m.name;
    m.tags["port"] = "8300";
  }
  return m;
}

Status Refusal(const std::string& dc) {
  return InvalidArgument("Failed to join 10.0.2.1:8301: Member 'x' part of wrong datacenter '" +
                         dc + "'");
}

TEST(FederationTest, ServerMemberCarriesRpcAndRaftAddresses) {
  auto m = MemberOf("s1", "10.0.0.1", 8301, "dc1", true);
  auto sm = ToServerMember(m, false);
  ASSERT_TRUE(sm);
  EXPECT_EQ(sm->node, "s1");
  EXPECT_EQ(sm->node_id, "id-s1");
  EXPECT_EQ(sm->rpc_address, "10.0.0.1:8300");
  EXPECT_EQ(sm->raft_address, "10.0.0.1:8300");  // Raft shares the RPC port
  m.tags["raft_port"] = "8399";
  EXPECT_EQ(ToServerMember(m, false)->raft_address, "10.0.0.1:8399");
}

TEST(FederationTest, ServerMemberStatus) {
  using S = server::ServerMember::Status;
  auto m = MemberOf("s1", "10.0.0.1", 8301, "dc1", true);
  EXPECT_EQ(ToServerMember(m, false)->status, S::kAlive);
  EXPECT_EQ(ToServerMember(m, true)->status, S::kLeft);
  m.status = gossip::MemberStatus::kFailed;
  EXPECT_EQ(ToServerMember(m, false)->status, S::kFailed);
  m.status = gossip::MemberStatus::kLeft;
  EXPECT_EQ(ToServerMember(m, false)->status, S::kLeft);
  // Still a voter until it has left.
  m.status = gossip::MemberStatus::kLeaving;
  EXPECT_EQ(ToServerMember(m, false)->status, S::kAlive);
}

TEST(FederationTest, ClientsAndServersWithoutIdAreNotServerMembers) {
  EXPECT_FALSE(ToServerMember(MemberOf("c1", "10.0.0.2", 8301, "dc1", false), false));
  auto m = MemberOf("s1", "10.0.0.1", 8301, "dc1", true);
  m.tags.erase("id");
  EXPECT_FALSE(ToServerMember(m, false));
}

TEST(FederationTest, LanMemberStatus) {
  using S = server::LanMember::Status;
  auto m = MemberOf("c1", "10.0.0.2", 8301, "dc1", false);
  auto lm = ToLanMember(m, false);
  EXPECT_EQ(lm.name, "c1");
  EXPECT_EQ(lm.address, "10.0.0.2");
  EXPECT_EQ(lm.tags, m.tags);
  EXPECT_EQ(lm.status, S::kAlive);
  m.status = gossip::MemberStatus::kFailed;
  EXPECT_EQ(ToLanMember(m, false).status, S::kFailed);
  m.status = gossip::MemberStatus::kLeaving;
  EXPECT_EQ(ToLanMember(m, false).status, S::kLeaving);
  m.status = gossip::MemberStatus::kLeft;
  EXPECT_EQ(ToLanMember(m, false).status, S::kLeft);
  EXPECT_EQ(ToLanMember(m, true).status, S::kReaped);
}

TEST(FederationTest, ServersOfKeepsThisDatacentersServers) {
  std::vector<gossip::Member> lan = {
      MemberOf("s1", "10.0.0.1", 8301, "dc1", true), MemberOf("c1", "10.0.0.2", 8301, "dc1", false),
      MemberOf("s2", "10.0.1.1", 8301, "dc2", true), MemberOf("s3", "10.0.0.3", 8301, "dc1", true)};
  auto servers = ServersOf(lan, "dc1");
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].node, "s1");
  EXPECT_EQ(servers[1].node, "s3");
  EXPECT_TRUE(ServersOf({}, "dc1").empty());
}

TEST(FederationTest, IsServerOf) {
  EXPECT_TRUE(IsServerOf(MemberOf("s1", "10.0.0.1", 8301, "dc1", true), "dc1"));
  EXPECT_FALSE(IsServerOf(MemberOf("s1", "10.0.0.1", 8301, "dc1", true), "dc2"));
  EXPECT_FALSE(IsServerOf(MemberOf("c1", "10.0.0.2", 8301, "dc1", false), "dc1"));
}

TEST(FederationTest, AliveDatacentersAreSortedAndUnique) {
  std::vector<gossip::Member> wan = {
      MemberOf("s1.dc3", "10.0.2.1", 8302, "dc3", true),
      MemberOf("s1.dc1", "10.0.0.1", 8302, "dc1", true),
      MemberOf("s2.dc1", "10.0.0.2", 8302, "dc1", true),
      MemberOf("s1.dc2", "10.0.1.1", 8302, "dc2", true, gossip::MemberStatus::kFailed)};
  EXPECT_EQ(AliveDatacenters(wan), (std::vector<std::string>{"dc1", "dc3"}));
}

TEST(FederationTest, OnlyAServerJoiningMakesAClientSync) {
  gossip::MemberEvent e;
  e.type = gossip::MemberEventType::kJoin;
  e.members = {MemberOf("c2", "10.0.0.5", 8301, "dc1", false)};
  EXPECT_FALSE(ServerJoined(e));
  e.members.push_back(MemberOf("s1", "10.0.0.1", 8301, "dc1", true));
  EXPECT_TRUE(ServerJoined(e));
  e.type = gossip::MemberEventType::kFailed;
  EXPECT_FALSE(ServerJoined(e));
}

TEST(FederationTest, LanMergeRefusesAnotherDatacenter) {
  std::vector<gossip::Member> ok = {MemberOf("s1", "10.0.0.1", 8301, "dc1", true),
                                    MemberOf("c1", "10.0.0.2", 8301, "dc1", false)};
  EXPECT_FALSE(ForeignMember(ok, "dc1"));
  // A member without a datacenter tag (a plain Serf agent) is not vetoed.
  gossip::Member untagged;
  untagged.name = "bare";
  ok.push_back(untagged);
  EXPECT_FALSE(ForeignMember(ok, "dc1"));

  std::vector<gossip::Member> mixed = ok;
  mixed.push_back(MemberOf("b1", "10.0.1.1", 8301, "dc2", true));
  mixed.push_back(MemberOf("b2", "10.0.1.2", 8301, "dc3", true));
  auto foreign = ForeignMember(mixed, "dc1");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->name, "b1");
  Status s = WrongDatacenterError(*foreign);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "Member 'b1' part of wrong datacenter 'dc2'");
  // The joiner reads the datacenter back out of the veto's text.
  EXPECT_EQ(WrongDatacenterIn(s.message()), "dc2");
}

TEST(FederationTest, WanMergeAdmitsServersOnly) {
  std::vector<gossip::Member> servers = {MemberOf("s1.dc1", "10.0.0.1", 8302, "dc1", true),
                                         MemberOf("s1.dc2", "10.0.1.1", 8302, "dc2", true)};
  EXPECT_TRUE(CheckWanMerge(servers).ok());
  servers.push_back(MemberOf("c1", "10.0.0.2", 8302, "dc1", false));
  Status s = CheckWanMerge(servers);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "Member 'c1' is not a server");
  gossip::Member untagged;
  untagged.name = "bare";
  EXPECT_EQ(CheckWanMerge({untagged}).message(), "Member 'bare' is not a server");
}

TEST(FederationTest, FloodJoinsThisDatacentersServersMissingFromTheWan) {
  auto s1 = MemberOf("s1", "10.0.0.1", 8301, "dc1", true);
  s1.tags["wan_join_port"] = "8302";
  auto s2 = MemberOf("s2", "10.0.0.2", 8301, "dc1", true);
  s2.tags["wan_join_port"] = "9302";
  auto s3 = MemberOf("s3", "10.0.0.3", 8301, "dc1", true);
  s3.tags["wan_join_port"] = "8302";
  auto no_wan = MemberOf("s4", "10.0.0.4", 8301, "dc1", true);  // advertises no WAN port
  auto failed = MemberOf("s5", "10.0.0.5", 8301, "dc1", true, gossip::MemberStatus::kFailed);
  failed.tags["wan_join_port"] = "8302";
  auto client = MemberOf("c1", "10.0.0.6", 8301, "dc1", false);
  client.tags["wan_join_port"] = "8302";
  auto other_dc = MemberOf("b1", "10.0.1.1", 8301, "dc2", true);
  other_dc.tags["wan_join_port"] = "8302";
  std::vector<gossip::Member> lan = {s1, s2, s3, no_wan, failed, client, other_dc};
  std::vector<gossip::Member> wan = {MemberOf("s1.dc1", "10.0.0.1", 8302, "dc1", true),
                                     MemberOf("s3.dc2", "10.0.1.3", 8302, "dc2", true)};
  // s1 is in the WAN already; "s3.dc2" is another datacenter's s3, not ours.
  EXPECT_EQ(WanFloodAddresses(lan, wan, "dc1"),
            (std::vector<std::string>{"10.0.0.2:9302", "10.0.0.3:8302"}));
  wan.push_back(MemberOf("s2.dc1", "10.0.0.2", 8302, "dc1", true));
  wan.push_back(MemberOf("s3.dc1", "10.0.0.3", 8302, "dc1", true));
  EXPECT_TRUE(WanFloodAddresses(lan, wan, "dc1").empty());
}

TEST(FederationTest, RefusalsAreFoundByAddressThenByIp) {
  LanRefusals refusals;
  EXPECT_FALSE(refusals.Find("10.0.1.1", 8301));
  refusals.Remember(MemberOf("b1", "10.0.1.1", 8301, "dc2", true));
  refusals.Remember(MemberOf("b2", "10.0.1.2", 7301, "dc2", false));
  EXPECT_EQ(refusals.Find("10.0.1.1", 8301)->name, "b1");     // default port
  EXPECT_EQ(refusals.Find("10.0.1.1:8301", 1)->name, "b1");   // explicit port
  EXPECT_EQ(refusals.Find("10.0.1.2:9999", 8301)->name, "b2");  // same IP, other port
  EXPECT_FALSE(refusals.Find("10.0.1.3", 8301));
  EXPECT_FALSE(refusals.Find("not an address", 8301));
}

TEST(FederationTest, RefusedJoinForAnotherReasonIsRetried) {
  auto r = ResolveRefusedJoin("10.0.1.1", Unavailable("dial tcp 10.0.1.1:8301: connection refused"),
                              std::nullopt, true, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kRetry);
  EXPECT_EQ(r.message, "");
}

TEST(FederationTest, RefusedJoinOfAClientCannotCrossDatacenters) {
  auto b1 = MemberOf("b1", "10.0.1.1", 8301, "dc2", true);
  auto r = ResolveRefusedJoin("10.0.1.1", Refusal("dc2"), b1, /*joins_wan=*/false, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kDropAsClient);
  EXPECT_EQ(r.message,
            "retry_join \"10.0.1.1\" is agent 'b1' of datacenter 'dc2', but this agent is a client "
            "of datacenter 'dc1': a LAN join reaches only its own datacenter, and only servers "
            "join other datacenters (over the WAN, with retry_join_wan). Remove \"10.0.1.1\" from "
            "retry_join.");
  EXPECT_EQ(r.wan_address, "");
  // The member may be unknown (the veto came from a peer that relayed it).
  r = ResolveRefusedJoin("10.0.1.1", Refusal("dc2"), std::nullopt, false, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kDropAsClient);
  EXPECT_NE(r.message.find("is agent '?' of datacenter 'dc2'"), std::string::npos);
}

TEST(FederationTest, RefusedJoinOfAnotherDatacentersClientIsDropped) {
  auto c9 = MemberOf("c9", "10.0.1.2", 8301, "dc2", false);
  auto r = ResolveRefusedJoin("10.0.1.2", Refusal("dc2"), c9, /*joins_wan=*/true, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kDropNotServer);
  EXPECT_EQ(r.message,
            "retry_join \"10.0.1.2\" is client agent 'c9' of datacenter 'dc2': datacenters "
            "federate through their servers only; list a server of 'dc2' in retry_join_wan "
            "instead.");
  r = ResolveRefusedJoin("10.0.1.2", Refusal("dc2"), std::nullopt, true, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kDropNotServer);
  EXPECT_NE(r.message.find("is client agent '?'"), std::string::npos);
}

TEST(FederationTest, RefusedJoinOfAnotherDatacentersServerBecomesAWanJoin) {
  auto b1 = MemberOf("b1", "10.0.1.1", 8301, "dc2", true);
  b1.tags["wan_join_port"] = "9302";
  auto r = ResolveRefusedJoin("10.0.1.1:8301", Refusal("dc2"), b1, /*joins_wan=*/true, "dc1");
  EXPECT_EQ(r.action, RefusedJoin::Action::kJoinWan);
  EXPECT_EQ(r.wan_address, "10.0.1.1:9302");
  EXPECT_EQ(r.message,
            "retry_join \"10.0.1.1:8301\" names server 'b1' of datacenter 'dc2'; joining it over "
            "the WAN at 10.0.1.1:9302 instead. The canonical form is retry_join_wan = "
            "[\"10.0.1.1:9302\"].");
  // Without an advertised WAN port: Consul's default.
  b1.tags.erase("wan_join_port");
  r = ResolveRefusedJoin("10.0.1.1:8301", Refusal("dc2"), b1, true, "dc1");
  EXPECT_EQ(r.wan_address, "10.0.1.1:8302");
}

}  // namespace
}  // namespace gangway::agent
