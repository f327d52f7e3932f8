#include "client/leaf_cache.h"

#include <algorithm>

#include "ca/state.h"
#include "core/log.h"
#include "identity/spiffe.h"

namespace gangway::client {
namespace {

constexpr const char* kLog = "agent.cache.leaf";

}  // namespace

LeafCache::LeafCache(Loop& loop, LeafCacheOptions options, LeafCacheHooks hooks,
                     Workers* workers)
    : loop_(loop), options_(std::move(options)), hooks_(std::move(hooks)), workers_(workers) {}

LeafCache::~LeafCache() {
  *alive_ = false;
  // A pending renewal's callback holds its entry, and the entry holds the timer: cancel them so
  // the entries go with the cache.
  for (auto& [service, e] : leaves_) e->renew.reset();
  roots_retry_.reset();
  sweep_.reset();
}

// ---- waiting

void LeafCache::Park(std::vector<std::shared_ptr<Waiter>>* list, std::shared_ptr<Waiter> w,
                     std::chrono::nanoseconds wait, std::function<void(Waiter&)> on_timeout) {
  std::weak_ptr<Waiter> weak = w;
  w->timer = loop_.After(wait, [weak, on_timeout = std::move(on_timeout)] {
    auto w = weak.lock();
    if (!w || w->done) return;
    w->done = true;
    on_timeout(*w);
  });
  // Drop waiters that already answered before adding one.
  list->erase(std::remove_if(list->begin(), list->end(),
                             [](const std::shared_ptr<Waiter>& x) { return x->done; }),
              list->end());
  list->push_back(std::move(w));
}

// ---- roots

void LeafCache::GetRoots(uint64_t min_index, std::chrono::nanoseconds wait, RootsCallback done) {
  if (!roots_watching_) WatchRoots(0);
  if (roots_.is_null()) {
    roots_first_.push_back(std::move(done));
    return;
  }
  if (min_index == 0 || roots_index_ > min_index) return done(roots_, roots_index_);
  auto w = std::make_shared<Waiter>();
  w->min_index = min_index;
  w->roots_done = std::move(done);
  Park(&roots_waiters_, w, wait, [this, alive = alive_](Waiter& w) {
    if (*alive) w.roots_done(roots_, roots_index_);
  });
}

void LeafCache::WatchRoots(uint64_t min_index) {
  roots_watching_ = true;
  hooks_.roots(min_index, [this, alive = alive_](Result<nlohmann::json> doc, uint64_t index) {
    if (!*alive) return;
    if (!doc.ok()) {
      LogWarn(kLog, "failed to fetch the CA roots: " + doc.status().message());
      auto first = std::move(roots_first_);
      roots_first_.clear();
      for (auto& cb : first) cb(doc.status(), 0);
      auto ready = std::move(roots_ready_);
      roots_ready_.clear();
      for (auto& e : ready) Issued(e, doc.status());
      roots_retry_ = loop_.After(options_.retry, [this, alive] {
        if (*alive) WatchRoots(roots_index_);
      });
      return;
    }
    OnRoots(*doc, index);
    WatchRoots(index);
  });
}

void LeafCache::OnRoots(const nlohmann::json& doc, uint64_t index) {
  std::string previous_active = active_root_id_;
  roots_ = doc;
  roots_index_ = index;
  trust_domain_ = doc.value("TrustDomain", "");
  active_root_id_ = doc.value("ActiveRootID", "");
  if (auto roots = ca::RootsFromJson(doc, index); roots.ok()) {
    if (const ca::CARoot* active = roots->Active()) {
      key_spec_.type = active->private_key_type == "rsa" ? x509::KeyType::kRsa : x509::KeyType::kEc;
      key_spec_.bits = active->private_key_bits;
    }
  }
  auto first = std::move(roots_first_);
  roots_first_.clear();
  for (auto& cb : first) cb(roots_, roots_index_);
  WakeRootsWaiters();
  auto ready = std::move(roots_ready_);
  roots_ready_.clear();
  for (auto& e : ready) Issue(e);
  if (!previous_active.empty() && previous_active != active_root_id_) {
    LogInfo(kLog, "CA root changed to " + active_root_id_ + "; renewing " +
                      std::to_string(leaves_.size()) + " leaf certificate(s)");
    for (auto& [name, e] : leaves_) {
      if (e->leaf) Issue(e);
    }
  }
}

void LeafCache::WakeRootsWaiters() {
  auto waiters = std::move(roots_waiters_);
  roots_waiters_.clear();
  for (auto& w : waiters) {
    if (w->done) continue;
    if (roots_index_ > w->min_index) {
      w->done = true;
      w->timer.reset();
      w->roots_done(roots_, roots_index_);
    } else {
      roots_waiters_.push_back(w);
    }
  }
}

// ---- leaves

void LeafCache::GetLeaf(const std::string& service, uint64_t min_index,
                        std::chrono::nanoseconds wait, LeafCallback done,
                        const std::string& token) {
  auto& slot = leaves_[service];
  if (!slot) {
    slot = std::make_shared<Entry>();
    slot->service = service;
  }
  auto e = slot;
  if (!token.empty()) e->token = token;
  e->last_used = loop_.Now();
  if (!sweep_) sweep_ = loop_.After(options_.sweep_interval, [this] { Sweep(); });
  if (!e->leaf) {
    e->first.push_back(std::move(done));
    if (!e->issuing) Issue(e);
    return;
  }
  if (min_index == 0 || e->leaf->index > min_index) return done(*e->leaf);
  auto w = std::make_shared<Waiter>();
  w->min_index = min_index;
  w->leaf_done = std::move(done);
  Park(&e->waiters, w, wait, [e](Waiter& w) { w.leaf_done(*e->leaf); });
}

void LeafCache::Sweep() {
  sweep_.reset();
  const auto now = loop_.Now();
  for (auto it = leaves_.begin(); it != leaves_.end();) {
    Entry& e = *it->second;
    bool waiting = !e.first.empty() ||
                   std::any_of(e.waiters.begin(), e.waiters.end(),
                               [](const std::shared_ptr<Waiter>& w) { return !w->done; });
    if (!waiting && !e.issuing && now - e.last_used >= options_.unused_ttl) {
      e.renew.reset();  // no more renewals for a leaf nobody uses
      it = leaves_.erase(it);
    } else {
      ++it;
    }
  }
  if (!leaves_.empty()) sweep_ = loop_.After(options_.sweep_interval, [this] { Sweep(); });
}

void LeafCache::Issue(const std::shared_ptr<Entry>& e) {
  if (e->issuing) return;
  if (roots_.is_null()) {
    if (std::find(roots_ready_.begin(), roots_ready_.end(), e) == roots_ready_.end()) {
      roots_ready_.push_back(e);
    }
    if (!roots_watching_) WatchRoots(0);
    return;
  }
  if (active_root_id_.empty() || trust_domain_.empty()) {
    return Issued(e, Unavailable("CA is not initialized yet: no active root"));
  }
  e->issuing = true;
  identity::SpiffeId id =
      identity::ServiceId(trust_domain_, "default", options_.datacenter, e->service);
  auto make = [id, spec = key_spec_] { return ca::GenerateLeafCsr(id, spec); };
  auto sign = [this, alive = alive_, e, root = active_root_id_](Result<ca::LeafRequest> req) {
    if (!*alive) return;
    if (!req.ok()) {
      e->issuing = false;
      return Issued(e, req.status());
    }
    std::string key_pem = req->key.ToPem();
    hooks_.sign(req->csr_pem, e->token, [this, alive, e, key_pem, root](Result<nlohmann::json> cert) {
      if (!*alive) return;
      e->issuing = false;
      if (!cert.ok()) return Issued(e, cert.status());
      Leaf leaf;
      leaf.cert = std::move(*cert);
      leaf.cert["PrivateKeyPEM"] = key_pem;
      leaf.index = next_index_++;
      leaf.cert["CreateIndex"] = leaf.index;
      leaf.cert["ModifyIndex"] = leaf.index;
      e->issued_for_root = root;
      Issued(e, std::move(leaf));
      // The active root changed while this leaf was being made (OnRoots could not start a
      // renewal then): it may be signed by the old root, so make another one now.
      if (!active_root_id_.empty() && root != active_root_id_) Issue(e);
    });
  };
  if (workers_ != nullptr) {
    workers_->Run(loop_, std::move(make), std::move(sign));
  } else {
    sign(make());
  }
}

void LeafCache::Issued(const std::shared_ptr<Entry>& e, Result<Leaf> leaf) {
  if (!leaf.ok()) {
    LogWarn(kLog, "failed to get a leaf certificate for service \"" + e->service +
                      "\": " + leaf.status().message());
    auto first = std::move(e->first);
    e->first.clear();
    for (auto& cb : first) cb(leaf.status());
    if (e->leaf) {
      // Keep serving the current leaf and try again soon.
      e->renew = loop_.After(options_.retry, [this, alive = alive_, e] {
        if (*alive) Issue(e);
      });
    }
    return;
  }
  e->leaf = std::move(*leaf);
  auto first = std::move(e->first);
  e->first.clear();
  for (auto& cb : first) cb(*e->leaf);
  WakeLeafWaiters(*e);
  ScheduleRenewal(e);
}

void LeafCache::WakeLeafWaiters(Entry& e) {
  auto waiters = std::move(e.waiters);
  e.waiters.clear();
  for (auto& w : waiters) {
    if (w->done) continue;
    if (e.leaf->index > w->min_index) {
      w->done = true;
      w->timer.reset();
      w->leaf_done(*e.leaf);
    } else {
      e.waiters.push_back(w);
    }
  }
}

void LeafCache::ScheduleRenewal(const std::shared_ptr<Entry>& e) {
  auto after = ca::ParseTime(e->leaf->cert.value("ValidAfter", ""));
  auto before = ca::ParseTime(e->leaf->cert.value("ValidBefore", ""));
  if (!after.ok() || !before.ok() || *before <= *after) {
    LogWarn(kLog, "leaf certificate for \"" + e->service + "\" has no usable validity period");
    return;
  }
  std::uniform_real_distribution<double> fraction(options_.renew_min, options_.renew_max);
  auto life = *before - *after;
  auto at = *after + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         life * fraction(rng_));
  auto delay = std::max<std::chrono::nanoseconds>(at - std::chrono::system_clock::now(),
                                                  std::chrono::seconds(1));
  e->renew = loop_.After(delay, [this, alive = alive_, e] {
    if (*alive) Issue(e);
  });
}

}  // namespace gangway::client
