// The Connect CA as the servers of one datacenter run it (docs/connect-ca.md "Server"): the
// primary's leader creates the root and trust domain once; a secondary's leader has the primary
// sign an intermediate for it and keeps it renewed; every server signs leaf CSRs with the
// datacenter's signer; configuration changes rotate the root with cross-signing. All state is in
// the replicated store (catalog ConnectCARequest); this class holds only caches and timers.
// Loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ca/state.h"
#include "core/loop.h"
#include "core/status.h"
#include "core/workers.h"

namespace gangway::server {

class Server;

struct ConnectCAOptions {
  std::string datacenter;
  // The CA authority; "" or our own datacenter: we are the primary.
  std::string primary_datacenter;
  // connect.ca_provider / connect.ca_config: used once, when the CA is first initialised.
  ca::CAConfig bootstrap;
  // A secondary retries reaching the primary this often at first, doubling up to the maximum.
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{30000};
};

struct ConnectCAHooks {
  // Datacenter `dc`'s /v1/connect/ca/roots document, waiting for an index past `min_index`
  // (0: answer at once; `stale`: any server may answer). done(roots JSON, X-Consul-Index) or
  // an error.
  std::function<void(const std::string& dc, uint64_t min_index, bool stale,
                     std::function<void(Result<nlohmann::json>, uint64_t index)>)>
      roots;
  // The other datacenters known over the WAN.
  std::function<std::vector<std::string>()> datacenters;
  // Has the primary's leader sign our intermediate CSR; done(certificate PEM) or an error.
  std::function<void(std::string csr_pem, std::function<void(Result<std::string>)>)>
      sign_intermediate;
};

class ConnectCA {
 public:
  // `workers`: where keys are made (root, rotation, intermediate); null: inline on the loop.
  ConnectCA(Loop& loop, Server& server, ConnectCAOptions options, ConnectCAHooks hooks,
            Workers* workers = nullptr);
  ~ConnectCA();

  bool primary() const;
  const ConnectCAOptions& options() const { return options_; }
  // The server calls this when it gains or loses leadership.
  void OnLeadership(bool leader);

  // The stored state; nullopt before the CA is initialised here.
  std::optional<ca::CAState> State() const;
  // The stored configuration (the bootstrap one before initialisation).
  ca::CAConfig Config() const;

  // Any server: signs a leaf CSR with this datacenter's signer (Consul's ConnectCA.Sign).
  // Refused past CSRMaxPerSecond with Consul's "Rate limit reached, try again later".
  Result<ca::IssuedCert> Sign(std::string_view csr_pem);
  // Primary's leader: signs a secondary's intermediate CSR (ConnectCA.SignIntermediate).
  Result<std::string> SignIntermediate(std::string_view csr_pem);
  // Leader: validates and stores a new configuration, rotating the root (primary) or renewing
  // the intermediate (secondary) when the key material changes. An error changes nothing.
  void SetConfig(ca::CAConfig next, std::function<void(Status)> done);

  // What the last initialisation attempt said, for status output ("" when all is well).
  const std::string& last_error() const { return last_error_; }
  // Datacenters whose CA has another trust domain than ours (dc -> their trust domain), as the
  // leader last saw them.
  const std::map<std::string, std::string>& mismatches() const { return mismatches_; }

 private:
  void InitializePrimary();
  void SecondaryFetch(uint64_t min_index);
  void SecondaryGotRoots(const nlohmann::json& doc, uint64_t index);
  void RenewIntermediate(const ca::IndexedCARoots& primary);
  void SendIntermediateCsr(const ca::IndexedCARoots& primary, const ca::CAConfig& config,
                           ca::IntermediateRequest req);
  template <typename Work, typename Done>
  void RunWork(Work work, Done done) {
    if (workers_ != nullptr) {
      workers_->Run(loop_, std::move(work), std::move(done));
    } else {
      done(work());
    }
  }
  void RetrySecondary(const std::string& why);
  void ScheduleMaintenance();
  void CheckFederation();
  void PrimaryRoots(uint64_t min_index,
                    std::function<void(Result<nlohmann::json>, uint64_t)> done);
  void Store(ca::CAConfig config, const ca::CAState& state, uint64_t cas,
             std::function<void(Status)> done);
  Result<const ca::SigningCA*> Signer();
  bool RateLimited();

  // Callbacks of requests that outlive this object (they travel through the agent's API and
  // RPC) hold a weak reference and do nothing once it has expired.
  std::weak_ptr<int> Life() const { return life_; }
  std::shared_ptr<int> life_ = std::make_shared<int>(0);

  Loop& loop_;
  Server& server_;
  ConnectCAOptions options_;
  ConnectCAHooks hooks_;
  Workers* workers_;
  bool leader_ = false;
  uint64_t generation_ = 0;  // bumped on every leadership change: stale callbacks stop
  bool renewing_ = false;
  std::chrono::milliseconds retry_{0};
  std::unique_ptr<Timer> retry_timer_;
  std::unique_ptr<Timer> maintenance_timer_;
  std::unique_ptr<Timer> federation_timer_;
  std::map<std::string, std::string> mismatches_;
  std::string last_error_;
  // The prepared signer, rebuilt when the roots' index moves.
  uint64_t signer_index_ = 0;
  std::optional<ca::SigningCA> signer_;
  std::optional<ca::CAState> signer_state_;
  mutable uint64_t config_index_ = 0;
  mutable std::optional<ca::CAConfig> config_cache_;
  // Token bucket for CSRMaxPerSecond.
  double tokens_ = 0;
  std::chrono::steady_clock::time_point tokens_at_{};
};

}  // namespace gangway::server
