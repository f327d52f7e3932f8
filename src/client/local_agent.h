// The client role's local state: services and checks registered with this agent, the checks it
// runs, sidecar expansion, maintenance mode, and anti-entropy that brings the catalog in line
// with this state. Owned by the control-plane loop; loop thread only.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "catalog/applier.h"
#include "catalog/service_definition.h"
#include "catalog/store.h"
#include "client/checks.h"
#include "client/prober.h"
#include "core/loop.h"

namespace gangway::client {

struct LocalAgentOptions {
  std::string node_name;
  std::string node_id;
  std::string datacenter;
  std::string address;  // advertised node address
  catalog::StringMap node_meta;
  catalog::StringMap tagged_addresses;
  int sidecar_min_port = 21000;
  int sidecar_max_port = 21255;
  std::chrono::nanoseconds sync_interval = std::chrono::seconds(60);
  std::chrono::nanoseconds reap_interval = std::chrono::seconds(1);
};

struct LocalService {
  catalog::NodeService service;
  std::string sidecar_parent;  // set when this is an agent-managed sidecar
  std::string token;           // the ACL token it syncs with ("": the writer's default)
  uint64_t version = 0;
  uint64_t synced_version = 0;
};

struct LocalCheck {
  catalog::HealthCheck check;
  catalog::CheckRegistration definition;  // its `token`: the ACL token it syncs with
  std::unique_ptr<CheckRunner> runner;
  std::optional<std::chrono::steady_clock::time_point> critical_since;
  uint64_t version = 0;
  uint64_t synced_version = 0;
};

class LocalAgent {
 public:
  // `prober` runs the HTTP and TCP checks (MakeNetProber on the agent's loop); `writer` carries
  // writes to the servers; `catalog` (may be null) is read for full syncs.
  LocalAgent(Loop& loop, std::unique_ptr<Prober> prober, catalog::Applier& writer,
             const catalog::Store* catalog, LocalAgentOptions options);
  ~LocalAgent();

  // Registers the node and starts anti-entropy and the reaper (serfHealth is the leader's).
  void Start();

  // Adds or replaces a service with its checks (and its sidecar, expanded with defaults).
  Status AddService(catalog::ServiceRegistration reg, bool replace_existing_checks);
  // Removes a service, its checks and its agent-managed sidecar. NotFound when unknown.
  Status RemoveService(const std::string& id);
  Status AddCheck(catalog::CheckRegistration reg);
  Status RemoveCheck(const std::string& id);
  // TTL update; status is passing/warning/critical. NotFound / InvalidArgument (not a TTL check).
  Status UpdateTTL(const std::string& check_id, const std::string& status, const std::string& output);
  Status SetServiceMaintenance(const std::string& id, bool enable, const std::string& reason);
  void SetNodeMaintenance(bool enable, const std::string& reason);

  const std::map<std::string, LocalService>& services() const { return services_; }
  const std::map<std::string, LocalCheck>& checks() const { return checks_; }
  const LocalAgentOptions& options() const { return options_; }
  // Changes on every local change; /v1/agent/services hash-blocking uses it.
  uint64_t generation() const { return generation_; }
  // Fires once on the next local change (for hash-based blocking on agent endpoints).
  uint64_t WatchLocal(std::function<void()> fire);
  void UnwatchLocal(uint64_t id);

  // Runs an anti-entropy pass now (also scheduled after every change and periodically).
  void SyncNow();
  // Compares everything with the catalog (or, without a local copy, pushes everything again) and
  // syncs the differences: periodically, and when a server joins.
  void FullSync();
  bool InSync() const;

 private:
  Status AddCheckLocked(catalog::CheckRegistration reg, const catalog::NodeService* service);
  void UpdateCheckStatus(const std::string& check_id, const std::string& status,
                         const std::string& output);
  void RefreshAliasChecks();
  // Drops a check from every table and queues its deregistration.
  void EraseCheck(const std::string& id);
  std::string CheckToken(const LocalCheck& c) const;
  int AllocateSidecarPort() const;
  void Changed();
  void ScheduleSync();
  void Reap();
  void ArmFullSync();  // FullSync every sync_interval
  void ArmReap();      // Reap every reap_interval
  catalog::Node NodeRecord() const;

  Loop& loop_;
  std::unique_ptr<Prober> prober_;
  catalog::Applier& writer_;
  const catalog::Store* catalog_;
  LocalAgentOptions options_;
  std::map<std::string, LocalService> services_;
  std::map<std::string, LocalCheck> checks_;
  // Removed but not yet deregistered: ID -> the token it was registered with.
  std::map<std::string, std::string> removed_services_;
  std::map<std::string, std::string> removed_checks_;
  // Items whose version differs from what the catalog has; a sync pass only visits these.
  std::set<std::string> dirty_services_;
  std::set<std::string> dirty_checks_;
  std::set<std::string> alias_checks_;
  // service ID -> IDs of its checks.
  std::map<std::string, std::set<std::string>> service_checks_;
  bool node_synced_ = false;
  bool sync_pending_ = false;
  uint64_t generation_ = 1;
  uint64_t next_watch_ = 1;
  std::map<uint64_t, std::function<void()>> local_watches_;
  std::unique_ptr<Timer> sync_timer_;
  std::unique_ptr<Timer> reap_timer_;
  std::shared_ptr<bool> alive_;
};

}  // namespace gangway::client
