// The agent's Connect certificates (Consul's agent cache for ConnectCARoot and ConnectCALeaf):
// the datacenter's CA roots, watched with a blocking query, and one leaf per service, for which
// the agent makes the key and CSR and a server signs. A leaf is renewed at a random point between
// 60% and 90% of its lifetime, and at once when the active root changes; readers may block until
// a newer leaf than the one they hold exists. Loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ca/ca.h"
#include "core/loop.h"
#include "core/status.h"
#include "core/workers.h"

namespace gangway::client {

struct LeafCacheOptions {
  std::string datacenter;
  // Renewal point within a leaf's lifetime: uniform in [min, max].
  double renew_min = 0.6;
  double renew_max = 0.9;
  // Retry after a failed signing or roots fetch.
  std::chrono::milliseconds retry{1000};
  // A leaf nobody asked for this long is dropped (Consul's cache: 72 h), checked this often.
  std::chrono::hours unused_ttl{72};
  std::chrono::minutes sweep_interval{60};
};

struct LeafCacheHooks {
  // The datacenter's /v1/connect/ca/roots, blocking past min_index (0: at once);
  // done(document, X-Consul-Index) or an error.
  std::function<void(uint64_t min_index,
                     std::function<void(Result<nlohmann::json>, uint64_t index)>)>
      roots;
  // Has a server sign the CSR with `token` (the last one a request for the leaf carried; "":
  // the agent's own); done(the IssuedCert JSON) or an error.
  std::function<void(std::string csr_pem, const std::string& token,
                     std::function<void(Result<nlohmann::json>)>)>
      sign;
};

class LeafCache {
 public:
  // `workers`: where keys and CSRs are made (an RSA key takes tens of milliseconds); null: on
  // the loop, inline.
  LeafCache(Loop& loop, LeafCacheOptions options, LeafCacheHooks hooks,
            Workers* workers = nullptr);
  ~LeafCache();

  struct Leaf {
    nlohmann::json cert;  // Consul's IssuedCert, PrivateKeyPEM included
    uint64_t index = 0;   // X-Consul-Index: grows with every new leaf of this service
  };
  using LeafCallback = std::function<void(Result<Leaf>)>;
  using RootsCallback = std::function<void(Result<nlohmann::json>, uint64_t index)>;

  // The leaf for `service`, issuing it first when there is none. With min_index > 0, waits until
  // a leaf with a greater index exists or `wait` passes (then answers with the current one).
  // `token`, when set, is the requester's ACL token (it was checked for service:write): the
  // leaf's issuances and renewals are signed with it from then on, as Consul's cache does.
  void GetLeaf(const std::string& service, uint64_t min_index, std::chrono::nanoseconds wait,
               LeafCallback done, const std::string& token = "");
  // The roots as the agent last saw them, blocking the same way on min_index.
  void GetRoots(uint64_t min_index, std::chrono::nanoseconds wait, RootsCallback done);

  size_t size() const { return leaves_.size(); }

 private:
  struct Waiter {
    uint64_t min_index = 0;
    LeafCallback leaf_done;
    RootsCallback roots_done;
    std::unique_ptr<Timer> timer;
    bool done = false;
  };
  struct Entry {
    std::string service;
    std::string token;  // what issuances are signed with ("" : the agent's own)
    std::optional<Leaf> leaf;
    std::string issued_for_root;  // active root ID the leaf chains to
    bool issuing = false;
    std::vector<std::shared_ptr<Waiter>> waiters;
    std::vector<LeafCallback> first;  // waiting for the first leaf (or its error)
    std::unique_ptr<Timer> renew;
    std::chrono::steady_clock::time_point last_used{};
  };

  void WatchRoots(uint64_t min_index);
  void OnRoots(const nlohmann::json& doc, uint64_t index);
  void Issue(const std::shared_ptr<Entry>& e);
  void Issued(const std::shared_ptr<Entry>& e, Result<Leaf> leaf);
  void ScheduleRenewal(const std::shared_ptr<Entry>& e);
  void WakeLeafWaiters(Entry& e);
  void WakeRootsWaiters();
  void Sweep();
  void Park(std::vector<std::shared_ptr<Waiter>>* list, std::shared_ptr<Waiter> w,
            std::chrono::nanoseconds wait, std::function<void(Waiter&)> on_timeout);

  Loop& loop_;
  LeafCacheOptions options_;
  LeafCacheHooks hooks_;
  Workers* workers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::mt19937_64 rng_{std::random_device{}()};

  // Roots.
  bool roots_watching_ = false;
  nlohmann::json roots_;  // null until the first answer
  uint64_t roots_index_ = 0;
  std::string trust_domain_;
  std::string active_root_id_;
  x509::KeySpec key_spec_;
  std::vector<std::shared_ptr<Entry>> roots_ready_;  // leaves waiting for the first roots
  std::vector<std::shared_ptr<Waiter>> roots_waiters_;
  std::vector<RootsCallback> roots_first_;  // waiting for the first roots
  std::unique_ptr<Timer> roots_retry_;

  std::map<std::string, std::shared_ptr<Entry>> leaves_;
  std::unique_ptr<Timer> sweep_;
  uint64_t next_index_ = 1;
};

}  // namespace gangway::client
