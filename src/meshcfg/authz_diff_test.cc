// Intentions are evaluated twice: by meshcfg::Authorize on the servers (`intention check`,
// /v1/agent/connect/authorize) and by the destination proxy over the rules CompileAuthz gives
// it (proxy::Authorize). This test links both and checks that they agree on random intention
// sets and random sources. The seed is printed; GANGWAY_AUTHZ_SEED=<n> replays one run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>

#include "identity/spiffe.h"
#include "meshcfg/intentions.h"
#include "proxy/authz.h"

namespace gangway::meshcfg {
namespace {

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";

const std::vector<std::string> kServices = {"web", "api", "db", "cache", "billing"};

class Random {
 public:
  explicit Random(uint64_t seed) : gen_(seed) {}
  int Below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(gen_); }
  bool OneIn(int n) { return Below(n) == 0; }
  const std::string& Pick(const std::vector<std::string>& v) { return v[Below(v.size())]; }

 private:
  std::mt19937_64 gen_;
};

std::string NameOrWildcard(Random& r) { return r.OneIn(4) ? "*" : r.Pick(kServices); }

SourceIntention RandomSource(Random& r, const std::string& name) {
  SourceIntention s;
  s.name = name;
  if (r.OneIn(8)) s.namespace_ = r.OneIn(2) ? "team" : "*";
  if (r.OneIn(10)) s.partition = "eu";
  if (r.OneIn(12)) s.peer = "other";
  if (r.OneIn(5)) {
    IntentionPermission p;
    p.action = r.OneIn(2) ? "allow" : "deny";
    p.http.emplace().path_prefix = "/";
    s.permissions.push_back(p);
  } else {
    s.action = r.OneIn(2) ? "allow" : "deny";
  }
  return s;
}

// Destinations may repeat across entries (as two writers could leave them before the store
// merges), so equal-precedence ties between allow and deny happen.
std::vector<ServiceIntentions> RandomEntries(Random& r) {
  std::vector<ServiceIntentions> entries;
  int n = r.Below(5);
  for (int i = 0; i < n; ++i) {
    ServiceIntentions e;
    e.name = NameOrWildcard(r);
    int sources = 1 + r.Below(4);
    for (int j = 0; j < sources; ++j) e.sources.push_back(RandomSource(r, NameOrWildcard(r)));
    entries.push_back(std::move(e));
  }
  return entries;
}

TEST(AuthzDifferential, ServersAndProxiesDecideAlike) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("GANGWAY_AUTHZ_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "GANGWAY_AUTHZ_SEED=" << seed << "\n";
  Random r(seed);
  int allowed = 0, denied = 0, by_default = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<ServiceIntentions> entries = RandomEntries(r);
    const std::string destination = r.Pick(kServices);
    const bool default_allow = r.OneIn(2);
    proxy::Authz authz;
    authz.default_allow = default_allow;
    for (const IntentionRule& rule : CompileAuthz(destination, entries, kTd)) {
      authz.rules.push_back({rule.source, rule.allow, rule.precedence, rule.intention});
    }
    for (int k = 0; k < 8; ++k) {
      IntentionSource src;
      src.name = r.OneIn(10) ? "other" : r.Pick(kServices);
      if (r.OneIn(6)) src.ns = "team";
      if (r.OneIn(8)) src.partition = "eu";
      const std::string dc = r.OneIn(2) ? "dc1" : "dc2";
      std::string uri =
          identity::ServiceId(kTd, src.ns.empty() ? "default" : src.ns, dc, src.name, src.partition)
              .Uri();
      Decision want =
          Authorize(src, destination, entries, IntentionDefault::FromAcls(default_allow));
      proxy::AuthzDecision got = proxy::Authorize(authz, uri);
      const proxy::AuthzRule* rule = proxy::MatchRule(authz, uri);
      SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round) + ": " + uri +
                   " -> " + destination + ": " + want.reason);
      ASSERT_EQ(got.allowed, want.allowed) << got.reason;
      // The same intention decided, or the default did on both sides.
      ASSERT_EQ(rule != nullptr, want.intention.has_value()) << got.reason;
      if (rule) {
        ASSERT_EQ(rule->id, want.intention->Name());
      }
      (want.intention ? (want.allowed ? allowed : denied) : by_default)++;
    }
  }
  // The generator must exercise every outcome, or the agreement above proves little.
  EXPECT_GT(allowed, 1000);
  EXPECT_GT(denied, 1000);
  EXPECT_GT(by_default, 1000);
}

}  // namespace
}  // namespace gangway::meshcfg
