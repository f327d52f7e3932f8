#include "client/leaf_cache.h"

#include <gtest/gtest.h>

#include "ca/state.h"
#include "core/testing/sim_loop.h"
#include "identity/trust_domain.h"

namespace gangway::client {
namespace {

using namespace std::chrono_literals;

// A CA standing in for the servers: roots answered from a real root, CSRs signed with it.
class FakeServers {
 public:
  explicit FakeServers(std::chrono::hours leaf_ttl) : leaf_ttl_(leaf_ttl) { Rotate(); }

  void Rotate() {
    ca::CAConfig config;
    config.cluster_id = "11111111-2222-4333-8444-555555555555";
    ca::RootOptions ro;
    ro.cluster_id = config.cluster_id;
    ro.serial = ++serial_;
    ro.now = std::chrono::system_clock::now();
    auto m = ca::CreateRoot(config, ro);
    ASSERT_TRUE(m.ok()) << m.status().message();
    signer_ = m->ca;
    ASSERT_TRUE(ca::Prepare(signer_).ok());
    roots_.active_root_id = m->root.id;
    roots_.trust_domain = identity::TrustDomainForCluster(config.cluster_id);
    roots_.roots = {m->root};
    ++index_;
    // Answer a parked blocking roots query, as the server does when the roots change.
    if (parked_) {
      auto cb = std::move(parked_);
      parked_ = nullptr;
      cb(ca::ToJson(roots_), index_);
    }
  }

  LeafCacheHooks Hooks() {
    LeafCacheHooks h;
    h.roots = [this](uint64_t min_index, auto done) {
      ++roots_calls;
      if (min_index >= index_) {
        parked_ = std::move(done);
        return;
      }
      done(ca::ToJson(roots_), index_);
    };
    h.sign = [this](std::string csr, const std::string&,
                    std::function<void(Result<nlohmann::json>)> done) {
      ++signs;
      if (hold_next) {
        // Signed now by the current root, answered when the test calls `held` (a reply still
        // on its way while the roots change).
        hold_next = false;
        held = [done = std::move(done), cert = SignNow(csr)]() mutable { done(std::move(cert)); };
        return;
      }
      done(SignNow(csr));
    };
    return h;
  }

  Result<nlohmann::json> SignNow(const std::string& csr) {
    if (fail_next || failing) {
      fail_next = false;
      return Unavailable("Unexpected response code: 500 (boom)");
    }
    ca::LeafPolicy p;
    p.trust_domain = roots_.trust_domain;
    p.datacenter = "dc1";
    p.leaf_ttl = leaf_ttl_;
    ca::LeafOptions o;
    o.now = std::chrono::system_clock::now();
    auto cert = ca::SignLeafCsr(signer_, p, csr, o);
    if (!cert.ok()) return cert.status();
    return ca::ToJson(*cert);
  }

  int signs = 0;
  int roots_calls = 0;
  bool fail_next = false;
  bool failing = false;
  bool hold_next = false;
  std::function<void()> held;
  const ca::IndexedCARoots& roots() const { return roots_; }

 private:
  std::chrono::hours leaf_ttl_;
  uint64_t serial_ = 0;
  uint64_t index_ = 0;
  ca::SigningCA signer_;
  ca::IndexedCARoots roots_;
  std::function<void(Result<nlohmann::json>, uint64_t)> parked_;
};

class LeafCacheTest : public ::testing::Test {
 protected:
  LeafCacheTest() : servers_(std::chrono::hours(1)), cache_(loop_, Options(), servers_.Hooks()) {}
  static LeafCacheOptions Options() {
    LeafCacheOptions o;
    o.datacenter = "dc1";
    return o;
  }
  Result<LeafCache::Leaf> Get(uint64_t min_index = 0, std::chrono::nanoseconds wait = 10min) {
    std::optional<Result<LeafCache::Leaf>> got;
    cache_.GetLeaf("web", min_index, wait, [&](Result<LeafCache::Leaf> r) { got = std::move(r); });
    EXPECT_TRUE(got.has_value()) << "the leaf should be answered at once";
    return got ? std::move(*got) : Result<LeafCache::Leaf>(Internal("no answer"));
  }

  gangway::testing::SimLoop loop_;
  FakeServers servers_;
  LeafCache cache_;
};

TEST_F(LeafCacheTest, IssuesOnceAndServesFromTheCache) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(leaf->cert["ServiceURI"],
            "spiffe://11111111-2222-4333-8444-555555555555.consul/ns/default/dc/dc1/svc/web");
  EXPECT_NE(leaf->cert["PrivateKeyPEM"].get<std::string>().find("EC PRIVATE KEY"),
            std::string::npos);
  EXPECT_EQ(leaf->cert["ModifyIndex"], leaf->index);
  auto again = Get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->index, leaf->index);
  EXPECT_EQ(again->cert["SerialNumber"], leaf->cert["SerialNumber"]);
  EXPECT_EQ(servers_.signs, 1);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(LeafCacheTest, RenewsBetween60And90PercentOfTheLifetime) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  std::optional<Result<LeafCache::Leaf>> woken;
  cache_.GetLeaf("web", leaf->index, 2h, [&](Result<LeafCache::Leaf> r) { woken = std::move(r); });
  EXPECT_FALSE(woken.has_value());
  // Validity starts a minute in the past: 60 % of an hour is 35 minutes from now.
  loop_.RunFor(34min);
  EXPECT_EQ(servers_.signs, 1);
  EXPECT_FALSE(woken.has_value());
  loop_.RunFor(20min);  // past 90 %
  EXPECT_EQ(servers_.signs, 2);
  ASSERT_TRUE(woken.has_value());
  ASSERT_TRUE(woken->ok());
  EXPECT_GT((*woken)->index, leaf->index);
  EXPECT_NE((*woken)->cert["SerialNumber"], leaf->cert["SerialNumber"]);
}

TEST_F(LeafCacheTest, ABlockedReadAnswersWithTheSameLeafWhenTheWaitEnds) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  std::optional<Result<LeafCache::Leaf>> got;
  cache_.GetLeaf("web", leaf->index, 5s, [&](Result<LeafCache::Leaf> r) { got = std::move(r); });
  loop_.RunFor(4s);
  EXPECT_FALSE(got.has_value());
  loop_.RunFor(2s);
  ASSERT_TRUE(got.has_value() && got->ok());
  EXPECT_EQ((*got)->index, leaf->index);
}

TEST_F(LeafCacheTest, ARootChangeRenewsAtOnce) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  std::optional<Result<LeafCache::Leaf>> woken;
  cache_.GetLeaf("web", leaf->index, 1h, [&](Result<LeafCache::Leaf> r) { woken = std::move(r); });
  servers_.Rotate();
  ASSERT_TRUE(woken.has_value());
  ASSERT_TRUE(woken->ok());
  EXPECT_EQ(servers_.signs, 2);
  // The new leaf is signed by the new root.
  auto certs = x509::ParseCertificatesPem((*woken)->cert["CertPEM"].get<std::string>());
  ASSERT_TRUE(certs.ok());
  auto info = (*certs)[0].Info();
  EXPECT_EQ(info.authority_key_id, servers_.roots().roots[0].signing_key_id);
}

TEST_F(LeafCacheTest, ALeafSignedByTheOldRootWhileTheRootChangedIsRenewed) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  // A renewal is signed by the old root, and its reply arrives after the roots changed.
  servers_.hold_next = true;
  loop_.RunFor(55min);  // past 90 % of the hour: the renewal has been asked for
  ASSERT_EQ(servers_.signs, 2);
  ASSERT_TRUE(servers_.held);
  servers_.Rotate();
  EXPECT_EQ(servers_.signs, 2) << "a renewal was in flight: the root change cannot start another";
  servers_.held();
  EXPECT_EQ(servers_.signs, 3) << "the old root's leaf is replaced at once";
  auto now = Get();
  ASSERT_TRUE(now.ok());
  auto certs = x509::ParseCertificatesPem(now->cert["CertPEM"].get<std::string>());
  ASSERT_TRUE(certs.ok());
  EXPECT_EQ((*certs)[0].Info().authority_key_id, servers_.roots().roots[0].signing_key_id);
}

TEST_F(LeafCacheTest, AFailedSigningIsReportedAndRetriedOnTheNextRead) {
  servers_.fail_next = true;
  auto failed = Get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "Unexpected response code: 500 (boom)");
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(servers_.signs, 2);
}

TEST_F(LeafCacheTest, AFailedRenewalKeepsServingTheCurrentLeaf) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  servers_.failing = true;
  loop_.RunFor(54min);  // renewal attempted, failing, retried every second
  EXPECT_GT(servers_.signs, 2);
  auto still = Get();
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->index, leaf->index);
  servers_.failing = false;
  int before = servers_.signs;
  loop_.RunFor(2s);
  EXPECT_EQ(servers_.signs, before + 1);
  auto renewed = Get();
  ASSERT_TRUE(renewed.ok());
  EXPECT_GT(renewed->index, leaf->index);
}

TEST_F(LeafCacheTest, ALeafNobodyAsksForIn72HoursIsDropped) {
  auto leaf = Get();
  ASSERT_TRUE(leaf.ok());
  loop_.RunFor(71h);
  EXPECT_EQ(cache_.size(), 1u);
  auto again = Get();  // used: its 72 hours start again
  ASSERT_TRUE(again.ok());
  loop_.RunFor(71h);
  EXPECT_EQ(cache_.size(), 1u);
  int signs = servers_.signs;
  loop_.RunFor(3h);
  EXPECT_EQ(cache_.size(), 0u);
  loop_.RunFor(10h);  // and it is no longer renewed
  EXPECT_LE(servers_.signs, signs + 3);
  const int after_drop = servers_.signs;
  loop_.RunFor(10h);
  EXPECT_EQ(servers_.signs, after_drop);
  // Asking again issues a new one.
  auto fresh = Get();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(servers_.signs, after_drop + 1);
}

}  // namespace
}  // namespace gangway::client
