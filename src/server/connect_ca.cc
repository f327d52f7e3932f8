#include "server/connect_ca.h"

#include <algorithm>

#include "catalog/commands.h"
#include "core/log.h"
#include "identity/trust_domain.h"
#include "server/server.h"

namespace gangway::server {
namespace {

constexpr const char* kLog = "agent.server.connect";

// How often the leader looks at the roots: prunes expired ones (primary) and checks whether
// the intermediate is past half its life (secondary), as Consul does hourly.
constexpr std::chrono::hours kMaintenanceInterval{1};
constexpr uint64_t kNoIndex = 0;
// How often the leader compares the other datacenters' trust domains with ours.
constexpr std::chrono::seconds kFederationInterval{10};

ca::Time Now() { return std::chrono::system_clock::now(); }

}  // namespace

ConnectCA::ConnectCA(Loop& loop, Server& server, ConnectCAOptions options, ConnectCAHooks hooks,
                     Workers* workers)
    : loop_(loop),
      server_(server),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      workers_(workers) {}

ConnectCA::~ConnectCA() = default;

bool ConnectCA::primary() const {
  return options_.primary_datacenter.empty() ||
         options_.primary_datacenter == options_.datacenter;
}

std::optional<ca::CAState> ConnectCA::State() const {
  catalog::Json doc;
  uint64_t index = server_.store().CARoots(nullptr, &doc);
  if (doc.is_null()) return std::nullopt;
  auto st = ca::StateFromStorage(doc, index);
  if (!st.ok()) {
    LogError(kLog, "stored CA roots are unreadable: " + st.status().message());
    return std::nullopt;
  }
  return std::move(*st);
}

ca::CAConfig ConnectCA::Config() const {
  catalog::Json doc;
  uint64_t index = server_.store().CAConfig(nullptr, &doc);
  if (doc.is_null()) return options_.bootstrap;
  if (config_cache_ && config_index_ == index) return *config_cache_;
  auto c = ca::ConfigFromStorage(doc);
  if (!c.ok()) {
    LogError(kLog, "stored CA configuration is unreadable: " + c.status().message());
    return options_.bootstrap;
  }
  config_cache_ = *c;
  config_index_ = index;
  return std::move(*c);
}

// ---- leadership

void ConnectCA::OnLeadership(bool leader) {
  ++generation_;
  leader_ = leader;
  retry_timer_.reset();
  maintenance_timer_.reset();
  federation_timer_.reset();
  renewing_ = false;
  retry_ = options_.retry_min;
  if (!leader) return;
  federation_timer_ = loop_.After(std::chrono::seconds(2), [this] { CheckFederation(); });
  if (primary()) {
    InitializePrimary();
  } else {
    SecondaryFetch(kNoIndex);
  }
  ScheduleMaintenance();
}

void ConnectCA::PrimaryRoots(uint64_t min_index,
                             std::function<void(Result<nlohmann::json>, uint64_t)> done) {
  if (!hooks_.roots) return done(Unavailable("no way to reach the primary datacenter"), 0);
  hooks_.roots(options_.primary_datacenter, min_index, /*stale=*/false, std::move(done));
}

// S6: a datacenter that bootstrapped its own CA (a wrong or missing primary_datacenter) cannot
// verify anyone else's certificates. The leader asks every other datacenter for its roots and
// says loudly which trust domains disagree.
void ConnectCA::CheckFederation() {
  federation_timer_ = loop_.After(kFederationInterval, [this] { CheckFederation(); });
  if (!leader_ || !hooks_.datacenters || !hooks_.roots) return;
  auto ours = State();
  if (!ours || ours->roots.trust_domain.empty()) return;
  for (const auto& dc : hooks_.datacenters()) {
    if (dc == options_.datacenter) continue;
    hooks_.roots(dc, kNoIndex, /*stale=*/true,
                 [this, gen = generation_, life = Life(), dc, td = ours->roots.trust_domain](
                     Result<nlohmann::json> doc, uint64_t) {
                   if (life.expired() || gen != generation_ || !leader_ || !doc.ok() || !doc->is_object()) return;
                   std::string theirs = doc->value("TrustDomain", "");
                   if (theirs.empty()) return;  // Connect off there, or not initialised yet
                   if (theirs == td) {
                     if (mismatches_.erase(dc) > 0) {
                       LogInfo(kLog, "datacenter '" + dc + "' now shares trust domain " + td);
                     }
                     return;
                   }
                   auto [it, added] = mismatches_.try_emplace(dc, theirs);
                   if (!added && it->second == theirs) return;  // said already
                   it->second = theirs;
                   std::string primary = options_.primary_datacenter.empty()
                                             ? options_.datacenter
                                             : options_.primary_datacenter;
                   LogError(kLog, "CA trust domain mismatch: datacenter '" + dc +
                                      "' has trust domain " + theirs + " but datacenter '" +
                                      options_.datacenter + "' has " + td +
                                      ". One of them bootstrapped its own CA instead of taking "
                                      "an intermediate from the primary (primary_datacenter "
                                      "here is '" + primary + "'; it must name the same "
                                      "datacenter everywhere). Mesh traffic between them fails "
                                      "with x509: certificate signed by unknown authority.");
                 });
  }
}

void ConnectCA::ScheduleMaintenance() {
  maintenance_timer_ = loop_.After(kMaintenanceInterval, [this, gen = generation_] {
    if (gen != generation_ || !leader_) return;
    auto st = State();
    if (st && primary()) {
      ca::IndexedCARoots pruned = ca::PruneExpiredRoots(st->roots, Now());
      if (pruned.roots.size() != st->roots.roots.size()) {
        LogInfo(kLog, "pruning " + std::to_string(st->roots.roots.size() - pruned.roots.size()) +
                          " expired CA root(s)");
        ca::CAState next = *st;
        next.roots = std::move(pruned);
        Store(Config(), next, st->roots.index, [](Status s) {
          if (!s.ok()) LogWarn(kLog, "failed to prune CA roots: " + s.message());
        });
      }
    }
    // A secondary checks its intermediate's age whenever the primary's roots arrive, and its
    // blocking query returns at least every few minutes; nothing more to do here.
    ScheduleMaintenance();
  });
}

// ---- primary

void ConnectCA::InitializePrimary() {
  if (auto st = State(); st && st->roots.Active() != nullptr) {
    if (st->secondary) {
      LogWarn(kLog, "this datacenter holds an intermediate from '" + st->primary_datacenter +
                        "' but is now configured as the primary; keeping it");
    }
    LogInfo(kLog, "initialized primary datacenter CA with provider: provider=consul");
    return;
  }
  ca::CAConfig config = options_.bootstrap;
  config.cluster_id = ca::NewClusterId();
  ca::RootOptions ro;
  ro.cluster_id = config.cluster_id;
  ro.serial = 1;
  ro.now = Now();
  RunWork([config, ro] { return ca::CreateRoot(config, ro); },
          [this, gen = generation_, life = Life(), config](Result<ca::RootMaterial> made) {
            if (life.expired() || gen != generation_ || !leader_) return;
            if (!made.ok()) {
              last_error_ = "failed to create the CA root: " + made.status().message();
              LogError(kLog, last_error_);
              return;
            }
            ca::CAState st;
            st.roots.active_root_id = made->root.id;
            st.roots.trust_domain = identity::TrustDomainForCluster(config.cluster_id);
            st.roots.roots.push_back(made->root);
            st.signing_cert_pem = made->ca.cert.ToPem();
            st.signing_key_pem = made->ca.key.ToPem();
            st.next_serial = 2;
            Store(config, st, 0, [this, life, td = st.roots.trust_domain](Status s) {
              if (life.expired()) return;
              if (!s.ok()) {
                last_error_ = "failed to store the CA root: " + s.message();
                LogError(kLog, last_error_);
                return;
              }
              last_error_.clear();
              LogInfo(kLog, "initialized primary datacenter CA with provider: provider=consul "
                            "trust_domain=" + td);
            });
          });
}

Result<std::string> ConnectCA::SignIntermediate(std::string_view csr_pem) {
  if (!primary()) {
    return InvalidArgument("intermediates are signed by the primary datacenter '" +
                           options_.primary_datacenter + "', not by '" + options_.datacenter + "'");
  }
  auto st = State();
  if (!st) return Unavailable("CA is not initialized yet");
  auto signer = st->Signer();
  if (!signer.ok()) return signer.status();
  return ca::SignIntermediate(*signer, Config(), st->roots.trust_domain, csr_pem, Now());
}

// ---- secondary

void ConnectCA::RetrySecondary(const std::string& why) {
  if (why != last_error_) {
    LogWarn(kLog, "secondary CA: " + why + "; retrying");
  }
  last_error_ = why;
  auto delay = retry_;
  retry_ = std::min(retry_ * 2, options_.retry_max);
  retry_timer_ = loop_.After(delay, [this, gen = generation_] {
    if (gen == generation_ && leader_) SecondaryFetch(kNoIndex);
  });
}

void ConnectCA::SecondaryFetch(uint64_t min_index) {
  PrimaryRoots(min_index, [this, gen = generation_, life = Life()](Result<nlohmann::json> doc,
                                                    uint64_t index) {
    if (life.expired() || gen != generation_ || !leader_) return;
    if (!doc.ok()) {
      return RetrySecondary("cannot reach the primary datacenter '" +
                            options_.primary_datacenter + "': " + doc.status().message());
    }
    SecondaryGotRoots(*doc, index);
  });
}

void ConnectCA::SecondaryGotRoots(const nlohmann::json& doc, uint64_t index) {
  auto primary_roots = ca::RootsFromJson(doc, index);
  if (!primary_roots.ok()) {
    return RetrySecondary("the primary's roots are unreadable: " + primary_roots.status().message());
  }
  const ca::CARoot* active = primary_roots->Active();
  if (active == nullptr) {
    return RetrySecondary("the primary datacenter '" + options_.primary_datacenter +
                          "' has no active CA root yet");
  }
  retry_ = options_.retry_min;
  auto ours = State();
  bool renew = true;
  if (ours && ours->secondary && ours->roots.active_root_id == primary_roots->active_root_id &&
      ours->roots.trust_domain == primary_roots->trust_domain) {
    // Same active root: renew only past half the intermediate's lifetime.
    auto cert = x509::ParseCertificatePem(ours->signing_cert_pem);
    if (cert.ok()) {
      auto info = cert->Info();
      renew = Now() > info.not_before + (info.not_after - info.not_before) / 2;
    }
    if (!renew) {
      // Keep the roots list in step (the primary may have added or pruned inactive roots).
      ca::IndexedCARoots next = ca::SecondaryRoots(*primary_roots, ours->signing_cert_pem);
      bool changed = next.roots.size() != ours->roots.roots.size();
      for (size_t i = 0; !changed && i < next.roots.size(); ++i) {
        changed = next.roots[i].id != ours->roots.roots[i].id ||
                  next.roots[i].active != ours->roots.roots[i].active;
      }
      if (changed) {
        ca::CAState st = *ours;
        st.roots = std::move(next);
        Store(Config(), st, ours->roots.index, [](Status s) {
          if (!s.ok()) LogWarn(kLog, "failed to update the CA roots: " + s.message());
        });
      }
    }
  } else if (ours && !ours->secondary && ours->roots.Active() != nullptr &&
             ours->roots.trust_domain != primary_roots->trust_domain) {
    LogWarn(kLog, "this datacenter's CA has trust domain " + ours->roots.trust_domain +
                      " but the primary datacenter '" + options_.primary_datacenter + "' has " +
                      primary_roots->trust_domain +
                      "; replacing it with an intermediate signed by the primary");
  }
  if (renew) {
    RenewIntermediate(*primary_roots);
    return;
  }
  last_error_.clear();
  SecondaryFetch(index);  // block until the primary's roots change
}

void ConnectCA::RenewIntermediate(const ca::IndexedCARoots& primary_roots) {
  if (renewing_) return;
  renewing_ = true;
  ca::CAConfig config = Config();
  const ca::CARoot* active = primary_roots.Active();
  // Our configuration follows the primary's cluster; the key settings are our own.
  config.cluster_id = active->external_trust_domain;
  RunWork([config, td = primary_roots.trust_domain] {
            return ca::GenerateIntermediateCsr(config, td);
          },
          [this, gen = generation_, life = Life(), primary_roots,
           config](Result<ca::IntermediateRequest> req) {
            if (life.expired() || gen != generation_ || !leader_) return;
            if (!req.ok()) {
              renewing_ = false;
              return RetrySecondary("cannot make an intermediate CSR: " + req.status().message());
            }
            SendIntermediateCsr(primary_roots, config, std::move(*req));
          });
}

void ConnectCA::SendIntermediateCsr(const ca::IndexedCARoots& primary_roots,
                                    const ca::CAConfig& config, ca::IntermediateRequest req_value) {
  auto req = &req_value;
  auto key = std::make_shared<x509::PrivateKey>(req->key);
  hooks_.sign_intermediate(
      req->csr_pem, [this, gen = generation_, life = Life(), key, primary_roots, config](Result<std::string> pem) {
        if (life.expired() || gen != generation_ || !leader_) return;
        renewing_ = false;
        if (!pem.ok()) {
          return RetrySecondary("the primary did not sign our intermediate: " +
                                pem.status().message());
        }
        const ca::CARoot* active = primary_roots.Active();
        if (Status s = ca::ValidateIntermediate(*pem, *key, active->root_cert,
                                                primary_roots.trust_domain);
            !s.ok()) {
          return RetrySecondary("the primary's intermediate is not usable: " + s.message());
        }
        ca::CAState st;
        st.roots = ca::SecondaryRoots(primary_roots, *pem);
        st.signing_cert_pem = *pem;
        st.signing_key_pem = key->ToPem();
        st.secondary = true;
        st.primary_datacenter = options_.primary_datacenter;
        auto ours = State();
        Store(config, st, ours ? ours->roots.index : 0,
              [this, gen, life, index = primary_roots.index, td = primary_roots.trust_domain](Status s) {
                if (life.expired() || gen != generation_ || !leader_) return;
                if (!s.ok()) return RetrySecondary("failed to store the intermediate: " + s.message());
                last_error_.clear();
                LogInfo(kLog, "initialized secondary datacenter CA with provider: provider=consul "
                              "primary_datacenter=" + options_.primary_datacenter +
                              " trust_domain=" + td);
                SecondaryFetch(index);
              });
      });
}

// ---- configuration

void ConnectCA::Store(ca::CAConfig config, const ca::CAState& state, uint64_t cas,
                      std::function<void(Status)> done) {
  catalog::ConnectCARequest req;
  req.op = catalog::CAOp::kSetConfigAndRoots;
  req.config = ca::ConfigToStorage(config);
  req.roots = ca::StateToStorage(state);
  req.cas = cas;
  server_.Apply(std::move(req), [done = std::move(done)](catalog::ApplyResult r) {
    if (!r.status.ok()) return done(r.status);
    if (!r.success) return done(Unavailable("the CA state changed meanwhile; try again"));
    done(Status::Ok());
  });
}

void ConnectCA::SetConfig(ca::CAConfig next, std::function<void(Status)> done) {
  if (Status s = ca::Validate(next); !s.ok()) return done(s);
  auto st = State();
  if (!st) return done(Unavailable("CA is not initialized yet; try again once it is"));
  ca::CAConfig current = Config();
  next.cluster_id = current.cluster_id;
  next.state = current.state;
  if (!ca::RequiresNewRoot(current, next)) {
    catalog::ConnectCARequest req;
    req.op = catalog::CAOp::kSetConfig;
    req.config = ca::ConfigToStorage(next);
    req.cas = current.modify_index;
    server_.Apply(std::move(req), [done = std::move(done)](catalog::ApplyResult r) {
      if (!r.status.ok()) return done(r.status);
      if (!r.success) return done(Unavailable("the CA configuration changed meanwhile; try again"));
      done(Status::Ok());
    });
    return;
  }
  if (!primary()) {
    // A new key type for our intermediate: store the configuration, then have the primary sign
    // a new one.
    Store(next, *st, st->roots.index, [this, life = Life(), done = std::move(done)](Status s) {
      if (s.ok() && !life.expired() && leader_) {
        ++generation_;
        renewing_ = false;
        retry_timer_.reset();
        retry_ = options_.retry_min;
        // Forget the current intermediate's age: fetch the roots and renew.
        auto ours = State();
        if (ours) {
          PrimaryRoots(kNoIndex, [this, gen = generation_, life = Life()](Result<nlohmann::json> doc,
                                                           uint64_t index) {
            if (life.expired() || gen != generation_ || !leader_) return;
            if (!doc.ok()) return RetrySecondary(doc.status().message());
            auto roots = ca::RootsFromJson(*doc, index);
            if (!roots.ok() || roots->Active() == nullptr) {
              return RetrySecondary("the primary has no usable roots");
            }
            RenewIntermediate(*roots);
          });
        }
      }
      done(s);
    });
    return;
  }
  auto old = st->Signer();
  if (!old.ok()) return done(old.status());
  ca::RootOptions ro;
  ro.cluster_id = next.cluster_id;
  ro.serial = st->next_serial;
  ro.now = Now();
  RunWork([roots = st->roots, old = *old, next, ro] { return ca::RotateRoot(roots, old, next, ro); },
          [this, life = Life(), st = *st, next, done = std::move(done)](
              Result<ca::Rotation> rotation) mutable {
            if (life.expired()) return done(Unavailable("agent shutting down"));
            if (!rotation.ok()) return done(rotation.status());
            ca::CAState rotated = st;
            rotated.roots = rotation->roots;
            rotated.signing_cert_pem = rotation->signer.cert.ToPem();
            rotated.signing_key_pem = rotation->signer.key.ToPem();
            rotated.next_serial = st.next_serial + 1;
            LogInfo(kLog, "rotating the CA root: new root " + rotation->new_root.root.id +
                              (rotation->cross_signed_pem.empty() ? " (without cross-signing)"
                                                                  : " cross-signed by the old root"));
            // CAS on the roots' index: a change made while the key was being made wins.
            Store(next, rotated, st.roots.index, std::move(done));
          });
}

// ---- leaves

bool ConnectCA::RateLimited() {
  double rate = Config().csr_max_per_second;
  if (rate <= 0) return false;
  auto now = std::chrono::steady_clock::now();
  if (tokens_at_ == std::chrono::steady_clock::time_point{}) {
    tokens_ = rate;
  } else {
    double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
    tokens_ = std::min(rate, tokens_ + elapsed * rate);
  }
  tokens_at_ = now;
  if (tokens_ < 1) return true;
  tokens_ -= 1;
  return false;
}

Result<const ca::SigningCA*> ConnectCA::Signer() {
  catalog::Json doc;
  uint64_t index = server_.store().CARoots(nullptr, &doc);
  if (doc.is_null()) return Unavailable("CA is not initialized yet");
  if (!signer_ || index != signer_index_) {
    auto st = ca::StateFromStorage(doc, index);
    if (!st.ok()) return st.status();
    auto signer = st->Signer();
    if (!signer.ok()) return signer.status();
    signer_ = std::move(*signer);
    signer_state_ = std::move(*st);
    signer_index_ = index;
  }
  return &*signer_;
}

Result<ca::IssuedCert> ConnectCA::Sign(std::string_view csr_pem) {
  if (RateLimited()) return ::gangway::RateLimited("Rate limit reached, try again later");
  auto signer = Signer();
  if (!signer.ok()) return signer.status();
  ca::LeafPolicy policy;
  policy.trust_domain = signer_state_->roots.trust_domain;
  policy.datacenter = options_.datacenter;
  policy.leaf_ttl = Config().leaf_cert_ttl;
  ca::LeafOptions lo;
  lo.now = Now();
  lo.index = signer_index_;
  return ca::SignLeafCsr(**signer, policy, csr_pem, lo);
}

}  // namespace gangway::server
