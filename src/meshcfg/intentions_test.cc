#include "meshcfg/intentions.h"

#include <gtest/gtest.h>

namespace gangway::meshcfg {
namespace {

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

SourceIntention L4(const std::string& name, const std::string& action) {
  SourceIntention s;
  s.name = name;
  s.action = action;
  return s;
}

SourceIntention L7(const std::string& name) {
  SourceIntention s;
  s.name = name;
  IntentionPermission p;
  p.action = "allow";
  p.http.emplace().path_prefix = "/api";
  s.permissions.push_back(p);
  return s;
}

ServiceIntentions Entry(const std::string& destination, std::vector<SourceIntention> sources) {
  ServiceIntentions e;
  e.name = destination;
  e.sources = std::move(sources);
  return e;
}

IntentionSource From(const std::string& name) { return {name, "", "", ""}; }

TEST(Authorize, ExactBeatsWildcardsInConsulsPrecedence) {
  std::vector<ServiceIntentions> entries = {
      Entry("db", {L4("web", "allow"), L4("*", "deny")}),
      Entry("*", {L4("web", "deny"), L4("*", "allow")}),
  };
  Decision d = Authorize(From("web"), "db", entries, IntentionDefault::FromAcls(false));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "Matched L4 intention: web => db (allow)");
  ASSERT_TRUE(d.intention);
  EXPECT_EQ(d.intention->precedence, 9);

  d = Authorize(From("api"), "db", entries, IntentionDefault::FromAcls(true));
  EXPECT_FALSE(d.allowed);  // 8: * => db
  EXPECT_EQ(d.reason, "Matched L4 intention: * => db (deny)");

  d = Authorize(From("web"), "cache", entries, IntentionDefault::FromAcls(true));
  EXPECT_FALSE(d.allowed);  // 6: web => *
  EXPECT_EQ(d.reason, "Matched L4 intention: web => * (deny)");

  d = Authorize(From("api"), "cache", entries, IntentionDefault::FromAcls(false));
  EXPECT_TRUE(d.allowed);  // 5: * => *
  EXPECT_EQ(d.intention->precedence, 5);
}

TEST(Authorize, DenyWinsATieWhateverTheOrder) {
  std::vector<ServiceIntentions> entries = {Entry("db", {L4("web", "allow")}),
                                            Entry("db", {L4("web", "deny")})};
  EXPECT_FALSE(Authorize(From("web"), "db", entries, {}).allowed);
  std::swap(entries[0], entries[1]);
  EXPECT_FALSE(Authorize(From("web"), "db", entries, {}).allowed);
}

TEST(Authorize, L7PermissionsDenyAConnection) {
  std::vector<ServiceIntentions> entries = {Entry("db", {L7("web")})};
  Decision d = Authorize(From("web"), "db", entries, IntentionDefault::AclsDisabled());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "Matched L7 intention: web => db (permissions)");
}

TEST(Authorize, NothingMatchingLeavesItToTheDefaultWithItsReason) {
  std::vector<ServiceIntentions> entries = {Entry("db", {L4("web", "deny")})};
  Decision d = Authorize(From("api"), "db", entries, IntentionDefault::AclsDisabled());
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "ACLs disabled, access is allowed by default");
  EXPECT_FALSE(d.intention);
  d = Authorize(From("api"), "db", entries, IntentionDefault::FromAcls(false));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "Default behavior configured by ACLs");
  d = Authorize(From("api"), "db", entries, IntentionDefault::FromPolicy(false));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "Default intention policy");
}

TEST(ResolveIntentionDefault, PolicyOverAclsOverAllow) {
  IntentionDefault d = ResolveIntentionDefault({});
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.reason, "ACLs disabled, access is allowed by default");
  d = ResolveIntentionDefault({.acl_allow = false});
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason, "Default behavior configured by ACLs");
  d = ResolveIntentionDefault({.policy_allow = false});
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason, "Default intention policy");
  d = ResolveIntentionDefault({.policy_allow = true, .acl_allow = false});
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.reason, "Default intention policy");
}

TEST(Authorize, NamespacesPartitionsAndPeersMustMatch) {
  SourceIntention peered = L4("web", "allow");
  peered.peer = "other";
  SourceIntention other_ns = L4("api", "allow");
  other_ns.namespace_ = "team";
  std::vector<ServiceIntentions> entries = {Entry("db", {peered, other_ns})};
  IntentionDefault deny = IntentionDefault::FromAcls(false);
  EXPECT_FALSE(Authorize(From("web"), "db", entries, deny).allowed);
  EXPECT_TRUE(Authorize({"web", "", "", "other"}, "db", entries, deny).allowed);
  EXPECT_FALSE(Authorize(From("api"), "db", entries, deny).allowed);
  EXPECT_TRUE(Authorize({"api", "team", "", ""}, "db", entries, deny).allowed);
  EXPECT_FALSE(Authorize({"api", "team", "eu", ""}, "db", entries, deny).allowed);
}

TEST(Match, ByDestinationAndBySourceInPrecedenceOrder) {
  std::vector<ServiceIntentions> entries = {
      Entry("*", {L4("*", "deny"), L4("web", "allow")}),
      Entry("db", {L4("*", "allow"), L4("web", "allow")}),
      Entry("api", {L4("web", "deny")}),
  };
  auto by_dest = Match(MatchBy::kDestination, {"db"}, entries);
  std::vector<std::string> names;
  for (const Intention& i : by_dest["db"]) names.push_back(i.Name());
  EXPECT_EQ(names, (std::vector<std::string>{"web => db", "* => db", "web => *", "* => *"}));

  auto by_src = Match(MatchBy::kSource, {"web", "cache"}, entries);
  names.clear();
  for (const Intention& i : by_src["web"]) names.push_back(i.Name());
  EXPECT_EQ(names,
            (std::vector<std::string>{"web => api", "web => db", "* => db", "web => *", "* => *"}));
  names.clear();
  for (const Intention& i : by_src["cache"]) names.push_back(i.Name());
  EXPECT_EQ(names, (std::vector<std::string>{"* => db", "* => *"}));
}

TEST(CompileAuthz, RulesInEvaluationOrderWithWildcardSegments) {
  SourceIntention team = L4("api", "allow");
  team.namespace_ = "team";
  SourceIntention peered = L4("web", "allow");
  peered.peer = "other";
  std::vector<ServiceIntentions> entries = {
      Entry("*", {L4("*", "allow")}),
      Entry("db", {L4("*", "deny"), L4("web", "allow"), L7("cache"), team, peered}),
  };
  std::vector<IntentionRule> rules = CompileAuthz("db", entries, kTd);
  const std::string td = std::string("spiffe://") + kTd;
  std::vector<IntentionRule> want = {
      {td + "/ns/default/dc/*/svc/cache", false, 9, "cache => db"},
      {td + "/ns/default/dc/*/svc/web", true, 9, "web => db"},
      {td + "/ns/team/dc/*/svc/api", true, 9, "api => db"},
      {td + "/ns/default/dc/*/svc/*", false, 8, "* => db"},
      {td + "/ns/default/dc/*/svc/*", true, 5, "* => *"},
  };
  // An L7 intention denies a connection and carries its permissions for a proxy that sees the
  // requests.
  want[0].permissions = L7("cache").permissions;
  EXPECT_EQ(rules, want);
}

}  // namespace
}  // namespace gangway::meshcfg
