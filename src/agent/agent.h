// The composition root: builds the roles from a Config in named phases, starts the listeners
// and runs the control-plane loop until interrupted or asked to leave. An Agent is owned by the
// thread that calls Run, which becomes its loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/config.h"
#include "core/random.h"
#include "core/status.h"
#include "core/workers.h"
#include "dns/server.h"
#include "net/event_loop.h"

namespace gangway {
class Timer;
}
namespace gangway::api {
class HttpApi;
struct Backend;
}  // namespace gangway::api
namespace gangway::client {
class LeafCache;
class LocalAgent;
class PersistedServices;
class UserEventBuffer;
}  // namespace gangway::client
namespace gangway::gossip {
class Pool;
struct Member;
struct MemberEvent;
struct SerfHandlers;
}  // namespace gangway::gossip
namespace gangway::http {
class Server;
class Handler;
}  // namespace gangway::http
namespace gangway::proxycfg {
class Manager;
}  // namespace gangway::proxycfg
namespace gangway::rpc {
class Client;
class Forwarder;
class Server;
}  // namespace gangway::rpc
namespace gangway::server {
class MembershipReconciler;
class Server;
struct ServerMember;
}  // namespace gangway::server

namespace gangway::agent {

class Joiner;
class LanRefusals;
class ProxySources;
struct RpcTls;

// `gangway agent ...`: loads the configuration, runs an Agent; returns the process exit code.
int RunAgent(const std::vector<std::string>& args);

class Agent {
 public:
  explicit Agent(Config config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs the startup phases in order, then the loop until shutdown, then the stop phase.
  // Returns the process exit code: 1 when a phase failed (it has said why), else 0.
  int Run();

 private:
  class ClientWriter;
  using Phase = Status (Agent::*)();

  // The startup phases, in the order Run calls them. Each builds on what the earlier ones made,
  // reports its own failure (on stderr and/or in the log, where the operator expects it), and
  // returns it. A new role is one more phase in kPhases (agent.cc).
  Status Prepare();      // config: node ID, log level, notes, descriptor limit, RPC TLS
  Status StartServer();  // server: the state store (Raft), the RPC listener, the Connect CA
  Status StartLocal();   // local state: services and checks here, API backend, signals
  Status Announce();     // the startup banner and configuration warnings
  Status StartGossip();  // gossip: the LAN pool, and the WAN pool on servers
  Status StartApi();     // API: forwarding, user events, Connect leaves, HTTP(S) listeners
  Status StartDns();     // DNS listeners (part of StartApi)
  Status StartProxies();  // proxycfg: the configs of local sidecars and gateways
  Status StartRoles();   // start: the server's Raft and reconcile, local services and checks
  Status StartJoins();   // start: start_join/retry_join and their WAN forms
  void ScheduleCoordinateUpdate();
  void SendCoordinateUpdate();
  void Stop();           // stop: listeners, server, RPC and pools, in that order

  void SyncProxies();
  void RestorePersistedServices();

  // Gossip.
  std::unique_ptr<gossip::Pool> StartPool(bool wan, const std::string& name, int port,
                                          const std::map<std::string, std::string>& tags,
                                          gossip::SerfHandlers handlers,
                                          std::function<Status(const std::vector<gossip::Member>&)>
                                              merge);
  void OnLanMember(const gossip::MemberEvent& event);
  void FloodWan();
  std::vector<server::ServerMember> LanServers() const;

  // The leader's catalog reconcile of LAN membership, then again every interval while it leads.
  void ReconcileAll();

  // Joins.
  void AddJoiner(gossip::Pool* pool, std::vector<std::string> addrs, const std::string& interval,
                 int max_attempts, const char* which,
                 std::function<bool(const std::string&, const Status&)> on_refused);
  bool OnLanJoinRefused(const std::string& address, const Status& error);

  // Shutdown: /v1/agent/leave, exhausted joins, signals.
  void Shutdown();
  void OnSignal(int sig);

  // Declaration order is construction order; members are destroyed in reverse, so the roles go
  // before the pools, the pools before the RPC, and everything before the workers and the loop.
  Config cfg_;
  std::unique_ptr<RpcTls> rpc_tls_;
  net::EventLoop loop_;
  // Key generation for Connect (roots, intermediates, leaves) runs here, off the control loop.
  Workers workers_{1};
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<ClientWriter> client_writer_;
  std::unique_ptr<rpc::Client> rpc_client_;
  std::unique_ptr<rpc::Server> rpc_server_;
  int rpc_port_ = 0;
  int raft_port_ = 0;
  std::unique_ptr<gossip::Pool> lan_;
  std::unique_ptr<gossip::Pool> wan_;
  http::Handler* api_handler_ = nullptr;  // set once built; Connect's requests go through it
  class TokenHandler;
  std::unique_ptr<TokenHandler> internal_api_;
  bool reconcile_ready_ = false;          // the start phase has run: leadership may reconcile
  std::unique_ptr<Timer> reconcile_tick_;
  std::unique_ptr<client::LocalAgent> local_;
  std::unique_ptr<client::PersistedServices> persisted_;
  bool stopping_ = false;
  std::unique_ptr<Timer> stop_timer_;
  std::unique_ptr<api::Backend> backend_;
  bool leaving_ = false;
  std::shared_ptr<void> signals_;
  std::unique_ptr<server::MembershipReconciler> reconciler_;
  std::unique_ptr<LanRefusals> refused_lan_;
  std::unique_ptr<rpc::Forwarder> forwarder_;
  std::unique_ptr<client::UserEventBuffer> user_events_;
  std::unique_ptr<client::LeafCache> leaves_;
  std::unique_ptr<api::HttpApi> api_;
  std::unique_ptr<ProxySources> proxy_sources_;
  std::unique_ptr<proxycfg::Manager> proxies_;
  std::vector<std::unique_ptr<http::Server>> listeners_;
  std::unique_ptr<dns::Catalog> dns_catalog_;
  std::vector<std::unique_ptr<dns::Server>> dns_servers_;
  std::vector<std::unique_ptr<Joiner>> joiners_;
  // Coordinate updates to the servers (ScheduleCoordinateUpdate).
  std::unique_ptr<Timer> coordinate_timer_;
  SeededRandom coordinate_random_{RandomSeed()};
};

}  // namespace gangway::agent
