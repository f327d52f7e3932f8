#include "agent/agent.h"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "acl/builtin.h"
#include "agent/connect.h"
#include "agent/federation.h"
#include "agent/joiner.h"
#include "agent/loopback.h"
#include "agent/proxy_sources.h"
#include "agent/tls.h"
#include "agent/dns_catalog.h"
#include "api/acl_resolver.h"
#include "api/http_api.h"
#include "catalog/json.h"
#include "client/local_agent.h"
#include "client/persisted_services.h"
#include "client/user_events.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/random.h"
#include "gossip/pool.h"
#include "http/server.h"
#include "meshcfg/intentions.h"
#include "proxycfg/manager.h"
#include "rpc/forwarding.h"
#include "rpc/rpc.h"
#include "server/config_entry_checks.h"
#include "server/membership.h"
#include "server/server.h"

namespace gangway::agent {

namespace {

std::string JoinAddrs(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// Consul keeps a node's ID in data_dir/node-id so it survives restarts (Raft identifies servers
// by it). Creates the data dir if needed.
Status PersistNodeId(Config& cfg) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);
  if (ec) return InvalidArgument("data_dir " + cfg.data_dir + ": " + ec.message());
  fs::path file = fs::path(cfg.data_dir) / "node-id";
  if (std::ifstream in(file); in) {
    std::string id;
    std::getline(in, id);
    if (id.size() != 36) {
      return InvalidArgument("node-id file " + file.string() + " does not hold a UUID (found \"" +
                             id.substr(0, 40) + "\"); remove it to get a new node ID");
    }
    if (cfg.node_id_configured && id != cfg.node_id) {
      LogWarn("agent", "node_id " + cfg.node_id + " replaces " + id + " from " + file.string());
    } else {
      cfg.node_id = id;
      return Status::Ok();
    }
  }
  std::ofstream out(file, std::ios::trunc);
  out << cfg.node_id;
  if (!out) return InvalidArgument("cannot write " + file.string());
  return Status::Ok();
}

// The failure of a phase whose audience is the terminal that started the agent.
Status Refuse(Status s) {
  std::cerr << "==> " << s.message() << "\n";
  return s;
}

// The failure of a phase that is both logged and shown on the terminal.
Status LogAndRefuse(Status s) {
  LogError("agent", s.message());
  return Refuse(std::move(s));
}

// The default for sources no intention matches, decided once for the agent: the API's answers
// (intention check, /v1/agent/connect/authorize) and the local sidecars' authz both take it from
// the Backend, so what an operator is told is what the sidecars enforce. With ACLs on,
// acl.default_policy decides when default_intention_policy is not set (Consul's order).
meshcfg::IntentionDefault IntentionDefaultOf(const Config& cfg) {
  meshcfg::IntentionDefaultSettings settings;
  if (cfg.acl.enabled) settings.acl_allow = cfg.acl.default_allow;
  if (!cfg.default_intention_policy.empty()) {
    settings.policy_allow = cfg.default_intention_policy == "allow";
  }
  return meshcfg::ResolveIntentionDefault(settings);
}

}  // namespace

// Requests the agent makes of its own API: with its token unless the request names one. The
// token is read at each request, so PUT /v1/agent/token takes effect.
class Agent::TokenHandler : public http::Handler {
 public:
  TokenHandler(http::Handler* inner, std::function<std::string()> token)
      : inner_(inner), token_(std::move(token)) {}
  void Handle(http::Request req, std::shared_ptr<http::Cancellation> cancel,
              http::Reply reply) override {
    if (req.headers.find("X-Consul-Token") == req.headers.end()) {
      if (std::string token = token_(); !token.empty()) req.headers["X-Consul-Token"] = token;
    }
    inner_->Handle(std::move(req), std::move(cancel), std::move(reply));
  }

 private:
  http::Handler* inner_;
  std::function<std::string()> token_;
};

// A client agent's writes: to a server over RPC once the forwarder exists (it needs the gossip
// pools, which start after the local agent).
class Agent::ClientWriter : public catalog::Applier {
 public:
  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override {
    if (target) return target->Apply(std::move(cmd), std::move(done));
    catalog::ApplyResult r;
    r.status = Unavailable("No known Consul servers");
    done(std::move(r));
  }
  // A service or check registered without a token syncs with the default token (Consul's
  // "user token"), else the anonymous one; the node itself with the agent token (Apply).
  void ApplyWithToken(catalog::Command cmd, const std::string& token,
                      std::function<void(catalog::ApplyResult)> done) override {
    if (!target) return Apply(std::move(cmd), std::move(done));
    std::string t = token;
    if (t.empty() && user_token) t = user_token();
    target->ApplyWithToken(std::move(cmd), t, std::move(done));
  }
  catalog::Applier* target = nullptr;
  std::function<std::string()> user_token;  // set with ACLs on
};

int RunAgent(const std::vector<std::string>& args) {
  auto loaded = LoadConfig(args);
  if (!loaded.ok()) {
    std::cerr << "==> " << loaded.status().message() << "\n";
    return 1;
  }
  Agent agent(std::move(*loaded));
  return agent.Run();
}

Agent::Agent(Config config)
    : cfg_(std::move(config)),
      client_writer_(std::make_unique<ClientWriter>()),
      refused_lan_(std::make_unique<LanRefusals>()) {}

Agent::~Agent() = default;

int Agent::Run() {
  static constexpr Phase kPhases[] = {
      &Agent::Prepare,     &Agent::StartServer, &Agent::StartLocal, &Agent::Announce,
      &Agent::StartGossip, &Agent::StartApi,    &Agent::StartProxies, &Agent::StartRoles,
      &Agent::StartJoins,
  };
  for (Phase phase : kPhases) {
    if (!(this->*phase)().ok()) return 1;
  }
  std::cout << "==> Gangway agent running!\n" << std::flush;
  LogInfo("agent", "Gangway agent running!");
  loop_.Run();
  Stop();
  return 0;
}

Status Agent::Prepare() {
  if (!cfg_.dev) {
    if (Status s = PersistNodeId(cfg_); !s.ok()) return Refuse(s);
  }
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg_.log_level, &level);
  SetLogLevel(level);
  for (const auto& n : cfg_.notes) std::cerr << "note: " << n << "\n";
  // Tokens set through the API before a restart win over configured ones (Consul's order); a
  // file that cannot be read leaves the configured tokens, with a warning.
  if (cfg_.acl.enabled && cfg_.acl.enable_token_persistence && !cfg_.dev &&
      !cfg_.data_dir.empty()) {
    std::string path = (std::filesystem::path(cfg_.data_dir) / acl::kPersistedTokensFile).string();
    std::vector<std::string> warnings;
    Status s = acl::LoadPersistedTokens(path, &cfg_.acl.tokens, &cfg_.acl.from_api, &warnings);
    for (const auto& w : warnings) LogWarn("agent", w);
    if (!s.ok()) LogWarn("agent", "unable to load persisted tokens: " + s.message());
  }

  // Blocking queries hold a connection each: allow as many descriptors as the system permits.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // TLS on the server RPC (tls.internal_rpc over tls.defaults); bad files stop the agent.
  auto rpc_tls = BuildRpcTls(cfg_);
  if (!rpc_tls.ok()) return Refuse(rpc_tls.status());
  rpc_tls_ = std::make_unique<RpcTls>(std::move(*rpc_tls));
  rpc_client_ = std::make_unique<rpc::Client>(loop_, rpc_tls_->client);
  rpc_port_ = cfg_.ports.server;
  return Status::Ok();
}

Status Agent::StartServer() {
  if (!cfg_.server) return Status::Ok();
  server::ServerOptions so;
  so.datacenter = cfg_.datacenter;
  so.node_name = cfg_.node_name;
  so.node_id = cfg_.node_id;
  // Server RPC (docs/rpc.md) on ports.server; bound first so gossip advertises the real port.
  rpc_server_ = std::make_unique<rpc::Server>(loop_, rpc_tls_->server);
  auto bound = rpc_server_->Listen(cfg_.bind_addr, cfg_.ports.server);
  if (!bound.ok()) return Refuse(bound.status());
  rpc_port_ = *bound;
  so.rpc_address = cfg_.advertise_addr + ":" + std::to_string(rpc_port_);
  so.dev = cfg_.dev;
  // Consul's dev mode writes coordinate batches every 100ms instead of 5s.
  if (cfg_.dev) so.coordinates.update_period = std::chrono::milliseconds(100);
  so.data_dir = cfg_.data_dir;
  so.bootstrap = cfg_.bootstrap;
  so.bootstrap_expect = cfg_.bootstrap_expect;
  if (!cfg_.session_ttl_min.empty()) {
    if (auto d = ParseDuration(cfg_.session_ttl_min); d.ok() && d->count() > 0) {
      so.session_ttl_min = *d;
    }
  }
  if (!cfg_.dev && cfg_.ports.raft > 0) {
    // Raft on a port of its own (libraft's TCP transport).
    raft_port_ = cfg_.ports.raft;
    so.raft_address = cfg_.advertise_addr + ":" + std::to_string(raft_port_);
    so.raft.bind_address = cfg_.bind_addr + ":" + std::to_string(raft_port_);
  } else if (!cfg_.dev) {
    // As Consul: Raft shares the server RPC port (mode byte 0x01, docs/rpc.md).
    so.raft_address = so.rpc_address;
    so.raft.transport = consensus::RaftOptions::Transport::kHandoff;
    if (rpc_tls_->client.context) {
      // As Consul: with TLS on outgoing RPC, Raft goes inside TLS too (0x03, the handshake,
      // then 0x01). The raft thread asks; this loop dials, verifies and relays (docs/rpc.md).
      so.raft.dial = [loop = &loop_, rpc_client = rpc_client_.get()](
                         std::string address, std::function<void(int, std::string)> done) {
        loop->Post([rpc_client, address = std::move(address), done = std::move(done)]() mutable {
          rpc_client->DialRaft(address, std::move(done));
        });
      };
    } else if (InternalRpcTlsSettings(cfg_).verify_incoming) {
      // Peers with verify_incoming refuse plaintext Raft, and this server would dial it.
      LogWarn("agent.server", "verify_incoming is set but verify_outgoing is not: this server "
                              "dials Raft without TLS, which servers with verify_incoming "
                              "refuse; set verify_outgoing = true (tls.internal_rpc or tls.defaults)");
    }
  }
  server::ServerHooks hooks;
  // The servers of this datacenter as the LAN pool knows them.
  hooks.servers = [this] { return LanServers(); };
  hooks.forward_apply = [this](const std::string& addr, catalog::Command cmd,
                               std::function<void(catalog::ApplyResult)> done) {
    forwarder_->ApplyAt(addr, std::move(cmd), std::move(done));
  };
  hooks.on_leadership = [this](bool leader) {
    if (leader && reconcile_ready_) ReconcileAll();
    if (!leader) reconcile_tick_.reset();
  };
  server_ = std::make_unique<server::Server>(loop_, so, std::move(hooks));
  if (cfg_.acl.enabled) {
    server::AclOptions ao;
    ao.config = cfg_.acl;
    ao.datacenter = cfg_.datacenter;
    ao.primary_datacenter = cfg_.primary_datacenter;
    server_->EnableAcls(std::move(ao));
    server_->acls()->SetReplicationHooks(
        AclReplicationHooksVia(&api_handler_, cfg_.primary_datacenter));
  }
  server::ConfigEntriesOptions ceo;
  ceo.datacenter = cfg_.datacenter;
  ceo.primary_datacenter = cfg_.primary_datacenter;
  // Entry checks: the built-in ones until meshcfg's typed entries are wired here.
  server_->ConfigureConfigEntries(std::move(ceo), server::MeshcfgConfigEntryChecks(),
                                  ConfigEntriesHooksVia(&api_handler_, cfg_.primary_datacenter));
  if (cfg_.connect_enabled) {
    server::ConnectCAOptions co;
    co.datacenter = cfg_.datacenter;
    co.primary_datacenter = cfg_.primary_datacenter;
    co.bootstrap = cfg_.connect_ca;
    auto datacenters = [this] {
      return wan_ ? AliveDatacenters(wan_->Members()) : std::vector<std::string>();
    };
    server_->EnableConnectCA(
        std::move(co), ConnectCAHooksVia(&api_handler_, cfg_.primary_datacenter, datacenters),
        &workers_);
  }
  rpc_server_->SetRaftHandler([srv = server_.get()](int fd, std::string rest) {
    srv->AcceptRaftConnection(fd, std::move(rest));
  });
  return Status::Ok();
}

Status Agent::StartLocal() {
  client::LocalAgentOptions lo;
  lo.node_name = cfg_.node_name;
  lo.node_id = cfg_.node_id;
  lo.datacenter = cfg_.datacenter;
  lo.address = cfg_.advertise_addr;
  lo.node_meta = cfg_.node_meta;
  lo.sidecar_min_port = cfg_.ports.sidecar_min_port;
  lo.sidecar_max_port = cfg_.ports.sidecar_max_port;
  catalog::Applier& writer =
      server_ ? static_cast<catalog::Applier&>(*server_) : *client_writer_;
  local_ = std::make_unique<client::LocalAgent>(loop_, client::MakeNetProber(loop_), writer,
                                                server_ ? &server_->store() : nullptr, lo);
  if (server_) server_->SetLeaderKnownHook([local = local_.get()] { local->FullSync(); });

  backend_ = std::make_unique<api::Backend>();
  api::Backend& backend = *backend_;
  backend.loop = &loop_;
  backend.server = server_.get();
  backend.agent = local_.get();
  // Consul keeps API registrations in data_dir/services; a -dev agent forgets them.
  if (!cfg_.dev && !cfg_.data_dir.empty()) {
    persisted_ = std::make_unique<client::PersistedServices>(
        (std::filesystem::path(cfg_.data_dir) / "services").string());
    backend.persisted = persisted_.get();
  }
  backend.info.node_name = cfg_.node_name;
  backend.info.node_id = cfg_.node_id;
  backend.info.datacenter = cfg_.datacenter;
  backend.info.primary_datacenter = cfg_.primary_datacenter;
  backend.info.server = cfg_.server;
  backend.info.dev = cfg_.dev;
  backend.info.advertise_address = cfg_.advertise_addr;
  backend.info.serf_lan_port = cfg_.ports.serf_lan;
  backend.info.server_port = rpc_port_;
  backend.info.config = cfg_.merged;
  backend.info.data_dir = cfg_.dev ? "" : cfg_.data_dir;
  backend.acl = cfg_.acl;
  backend.intention_default = IntentionDefaultOf(cfg_);
  backend.enable_script_checks = cfg_.enable_script_checks;
  backend.disable_coordinates = cfg_.disable_coordinates;
  backend.shutdown = [this] { Shutdown(); };
  // Signals are handled on the loop from here on, before anything announces readiness.
  signals_ = net::OnSignals(loop_, [this](int sig) { OnSignal(sig); });
  return Status::Ok();
}

Status Agent::Announce() {
  std::cout << "==> Starting Gangway agent...\n"
            << "           Version: 'v0.1.0'\n"
            << "           Node ID: '" << cfg_.node_id << "'\n"
            << "         Node name: '" << cfg_.node_name << "'\n"
            << "        Datacenter: '" << cfg_.datacenter << "' (Segment: '"
            << (cfg_.server ? "<all>" : "") << "')\n"
            << "            Server: " << (cfg_.server ? "true" : "false")
            << " (Bootstrap: " << ((cfg_.bootstrap || cfg_.dev) ? "true" : "false") << ")\n"
            << "       Client Addr: [" << JoinAddrs(cfg_.client_addrs) << "] (HTTP: "
            << cfg_.ports.http << ", HTTPS: " << cfg_.ports.https << ", gRPC: " << cfg_.ports.grpc
            << ", DNS: " << cfg_.ports.dns << ")\n"
            << "      Cluster Addr: " << cfg_.advertise_addr << " (LAN: " << cfg_.ports.serf_lan
            << ", WAN: " << cfg_.ports.serf_wan << ")\n"
            << "\n==> Log data will now stream in as it occurs:\n\n"
            << std::flush;
  for (const auto& w : cfg_.warnings) LogWarn("agent", w);
  return Status::Ok();
}

Status Agent::StartGossip() {
  // On servers, LAN membership becomes the catalog's serfHealth checks (Consul's leader
  // reconcile).
  if (server_) {
    reconciler_ = std::make_unique<server::MembershipReconciler>(*server_, cfg_.datacenter,
                                                                 cfg_.node_name);
  }
  gossip::Tags tags = {{"dc", cfg_.datacenter}, {"id", cfg_.node_id},
                       {"role", cfg_.server ? "consul" : "node"}, {"segment", ""},
                       {"vsn", "2"}, {"vsn_min", "2"}, {"vsn_max", "3"},
                       {"build", "1.17.0:gangway"}, {"acls", cfg_.acl.enabled ? "1" : "0"}};
  if (cfg_.server) {
    tags["port"] = std::to_string(rpc_port_);
    if (raft_port_ > 0) tags["raft_port"] = std::to_string(raft_port_);
    tags["raft_vsn"] = "3";
    tags["expect"] = std::to_string(cfg_.bootstrap_expect);
    if (cfg_.bootstrap || cfg_.dev) tags["bootstrap"] = "1";
  }
  // The WAN pool first: servers advertise its bound port on the LAN ("wan_join_port").
  if (cfg_.server && cfg_.ports.serf_wan >= 0) {
    wan_ = StartPool(/*wan=*/true, cfg_.node_name + "." + cfg_.datacenter, cfg_.ports.serf_wan,
                     tags, {}, CheckWanMerge);
    if (!wan_) return Unavailable("the WAN gossip pool did not start");
    tags["wan_join_port"] = std::to_string(wan_->port());
  }
  gossip::SerfHandlers lan_handlers;
  lan_handlers.on_member = [this](const gossip::MemberEvent& e) { OnLanMember(e); };
  // The members refused are remembered so a retry_join naming another datacenter's server can
  // be turned into a WAN join.
  auto lan_merge = [this](const std::vector<gossip::Member>& members) -> Status {
    auto foreign = ForeignMember(members, cfg_.datacenter);
    if (!foreign) return Status::Ok();
    refused_lan_->Remember(*foreign);
    return WrongDatacenterError(*foreign);
  };
  lan_ = StartPool(/*wan=*/false, cfg_.node_name, cfg_.ports.serf_lan, tags,
                   std::move(lan_handlers), lan_merge);
  if (!lan_) return Unavailable("the LAN gossip pool did not start");
  backend_->lan = lan_.get();
  backend_->wan = wan_.get();
  return Status::Ok();
}

std::unique_ptr<gossip::Pool> Agent::StartPool(
    bool wan, const std::string& name, int port, const std::map<std::string, std::string>& tags,
    gossip::SerfHandlers handlers,
    std::function<Status(const std::vector<gossip::Member>&)> merge) {
  const char* which = wan ? "wan" : "lan";
  gossip::PoolOptions po;
  po.profile = wan ? gossip::PoolOptions::Profile::kWan : gossip::PoolOptions::Profile::kLan;
  po.name = name;
  po.bind_ip = cfg_.bind_addr;
  po.port = port;
  po.advertise_ip = wan && !cfg_.advertise_addr_wan.empty() ? cfg_.advertise_addr_wan
                                                            : cfg_.advertise_addr;
  po.tags = tags;
  po.encrypt_key = cfg_.encrypt;
  po.verify_incoming = cfg_.encrypt_verify_incoming;
  po.verify_outgoing = cfg_.encrypt_verify_outgoing;
  po.merge = std::move(merge);
  po.disable_coordinates = cfg_.disable_coordinates;
  const Config::GossipTuning& g = wan ? cfg_.gossip_wan : cfg_.gossip_lan;
  po.gossip_nodes = g.gossip_nodes;
  po.gossip_interval = g.gossip_interval;
  po.probe_interval = g.probe_interval;
  po.probe_timeout = g.probe_timeout;
  po.retransmit_mult = g.retransmit_mult;
  po.suspicion_mult = g.suspicion_mult;
  auto p = gossip::Pool::Start(loop_, po, std::move(handlers));
  if (!p.ok()) {
    std::cerr << "==> Failed to start the " << which << " gossip pool: " << p.status().message()
              << "\n";
    return nullptr;
  }
  LogInfo(std::string("agent.server.serf.") + which,
          std::string("serf: started gossip: address=") + po.advertise_ip + ":" +
              std::to_string((*p)->port()) + " name=" + name);
  return std::move(*p);
}

void Agent::OnLanMember(const gossip::MemberEvent& e) {
  if (!reconciler_) {
    // A client agent syncs everything once a server (re)appears.
    if (ServerJoined(e)) local_->FullSync();
    return;
  }
  // Servers of this datacenter: bootstrap_expect counts them, the leader keeps the Raft
  // configuration in step. The leader alone writes the catalog's view of membership.
  const bool reaped = e.type == gossip::MemberEventType::kReap;
  bool servers_changed = false;
  for (const auto& m : e.members) {
    if (IsServerOf(m, cfg_.datacenter)) {
      servers_changed = true;
      if (auto sm = ToServerMember(m, reaped)) server_->ReconcileServer(*sm);
    }
    if (server_->IsLeader()) reconciler_->Reconcile(ToLanMember(m, reaped));
  }
  if (servers_changed) {
    server_->BootstrapExpect(LanServers());
    FloodWan();
  }
}

// Consul's WAN flooding: every server of this datacenter joins the WAN pool too, found through
// the LAN pool, so federation needs retry_join_wan on one server only.
void Agent::FloodWan() {
  if (!wan_ || !lan_) return;
  for (const auto& addr : WanFloodAddresses(lan_->Members(), wan_->Members(), cfg_.datacenter)) {
    wan_->Join({addr}, [addr](int n, Status s) {
      if (n == 0) LogWarn("agent.server", "WAN flood join to " + addr + " failed: " + s.message());
    });
  }
}

std::vector<server::ServerMember> Agent::LanServers() const {
  if (!lan_) return {};
  return ServersOf(lan_->Members(), cfg_.datacenter);
}

Status Agent::StartApi() {
  api::Backend& backend = *backend_;
  // Forwarding: client agents send server-state requests and writes to their servers, servers
  // send ?dc=<other> requests to that datacenter's servers.
  forwarder_ = std::make_unique<rpc::Forwarder>(
      loop_, *rpc_client_, rpc::ServerDirectory(cfg_.datacenter, lan_.get(), wan_.get()));
  if (server_) forwarder_->SetLeader([this] { return server_->Leader(); });
  backend.forward = [forwarder = forwarder_.get()](http::Request req, const std::string& dc,
                                                   std::shared_ptr<http::Cancellation> cancel,
                                                   http::Reply reply) {
    forwarder->ForwardHttp(std::move(req), dc, std::move(cancel), std::move(reply));
  };
  if (!server_) client_writer_->target = forwarder_.get();
  if (!server_ && cfg_.acl.enabled) {
    // A client agent's anti-entropy writes carry its agent token (else the default, else the
    // anonymous one), read at each write so PUT /v1/agent/token/agent takes effect.
    forwarder_->SetApplyToken([this]() -> std::string {
      const acl::Tokens& t = api_ ? api_->backend().acl.tokens : cfg_.acl.tokens;
      if (!t.agent.empty()) return t.agent;
      if (!t.default_token.empty()) return t.default_token;
      return acl::kAnonymousSecretID;
    });
    client_writer_->user_token = [this]() -> std::string {
      const acl::Tokens& t = api_ ? api_->backend().acl.tokens : cfg_.acl.tokens;
      return t.default_token.empty() ? std::string(acl::kAnonymousSecretID) : t.default_token;
    };
  }
  // User events arrive on the LAN pool; the filters look at this agent's services.
  user_events_ = std::make_unique<client::UserEventBuffer>(
      cfg_.node_name, [local = local_.get()] {
        std::vector<client::FilterService> out;
        for (const auto& [id, s] : local->services()) out.push_back({id, s.service.tags});
        return out;
      });
  lan_->AddUserEventHandler([events = user_events_.get()](const gossip::UserEvent& e) {
    events->HandleSerfEvent(e.name, e.payload, e.ltime);
  });
  backend.user_events = user_events_.get();
  // Connect leaves and roots for local proxies; every agent serves them, signed by a server.
  client::LeafCacheOptions leaf_options;
  leaf_options.datacenter = cfg_.datacenter;
  leaves_ = std::make_unique<client::LeafCache>(loop_, leaf_options,
                                                LeafCacheHooksVia(&api_handler_), &workers_);
  backend.leaves = leaves_.get();
  backend.workers = &workers_;
  api_ = std::make_unique<api::HttpApi>(backend);
  // The agent's own requests (Connect's CA and leaves, proxy configuration, config entry
  // replication) carry its token: the replication token on a server that has one, else the
  // agent token, else the default.
  internal_api_ = std::make_unique<TokenHandler>(api_.get(), [this]() -> std::string {
    const acl::Tokens& t = api_->backend().acl.tokens;
    if (server_ && !t.replication.empty()) return t.replication;
    return t.agent.empty() ? t.default_token : t.agent;
  });
  api_handler_ = internal_api_.get();
  if (rpc_server_) {
    rpc::ApplyGuard guard;
    if (cfg_.acl.enabled) {
      // Servers forward writes they authorized to their leader without a token; anyone else
      // carries one (docs/rpc.md, "Catalog.Apply and ACLs").
      guard.trusted_peer = [this](const std::string& remote) {
        std::string ip = remote.substr(0, remote.rfind(':'));
        if (!lan_) return false;
        for (const auto& m : lan_->Members()) {
          auto role = m.tags.find("role");
          if (role != m.tags.end() && role->second == "consul" &&
              m.status == gossip::MemberStatus::kAlive && m.addr.IpString() == ip) {
            return true;
          }
        }
        return false;
      };
      api::HttpApi* api = api_.get();
      guard.authorize = [api](const std::string& token, const catalog::Command& cmd,
                              std::function<void(Status)> done) {
        api::Backend& b = api->backend();
        if (!b.acl_resolver || b.server == nullptr) return done(Status::Ok());
        std::string secret = token.empty() ? b.acl_resolver->DefaultSecret() : token;
        auto cmd_copy = std::make_shared<catalog::Command>(cmd);
        b.acl_resolver->Resolve(secret, [&b, cmd_copy, done](Result<api::Resolved> r) {
          if (!r.ok()) {
            return done(r.status().code() == Code::kNotFound ? PermissionDenied("ACL not found")
                                                             : r.status());
          }
          done(api::AuthorizeCommand(*r->authz, r->accessor, *cmd_copy, b.server->store()));
        });
      };
    }
    rpc::ServeForwarded(*rpc_server_, *api_, server_.get(), std::move(guard));
    LogInfo("agent.server.rpc", "Started RPC server: address=" + cfg_.bind_addr + ":" +
                                    std::to_string(rpc_port_));
  }

  if (cfg_.ports.http >= 0) {
    for (const auto& addr : cfg_.client_addrs) {
      http::ServerOptions options;
      options.io_threads = cfg_.http_io_threads;
      auto l = std::make_unique<http::Server>(loop_, *api_, options);
      auto port = l->Listen(addr, cfg_.ports.http);
      if (!port.ok()) return LogAndRefuse(port.status());
      LogInfo("agent", "Started HTTP server: address=" + addr + ":" + std::to_string(*port) +
                           " network=tcp");
      listeners_.push_back(std::move(l));
    }
  }
  // HTTPS: the same API over TLS (tls.https over tls.defaults), when ports.https is set.
  if (Status s = StartHttpsListeners(cfg_, loop_, *api_, &listeners_); !s.ok()) {
    return LogAndRefuse(s);
  }
  return StartDns();
}

// The DNS interface on ports.dns (UDP and TCP) at addresses.dns, answering from the catalog
// through the API's own routing (docs/dns.md).
Status Agent::StartDns() {
  if (cfg_.ports.dns < 0) return Status::Ok();
  dns_catalog_ = std::make_unique<DnsCatalog>(*api_, api_->backend(), cfg_.dns);
  for (const auto& addr : cfg_.dns_addrs) {
    auto server = std::make_unique<dns::Server>(loop_, *dns_catalog_, cfg_.dns);
    auto port = server->Listen(addr, cfg_.ports.dns);
    if (!port.ok()) return LogAndRefuse(port.status());
    for (const char* network : {"udp", "tcp"}) {
      LogInfo("agent.dns", "Started DNS server: address=" + addr + ":" + std::to_string(*port) +
                               " network=" + network);
    }
    dns_servers_.push_back(std::move(server));
  }
  return Status::Ok();
}

Status Agent::StartProxies() {
  ProxySourcesOptions source_options;
  if (cfg_.acl.enabled) {
    // A sidecar's leaf with the sidecar's registration token, a gateway's with the gateway's.
    source_options.leaf_token = [local = local_.get()](const std::string& service) {
      std::string token;
      for (const auto& [id, s] : local->services()) {
        const auto& svc = s.service;
        bool proxies_it = svc.proxy && svc.proxy->destination_service_name == service;
        if ((proxies_it || svc.service == service) && !s.token.empty()) {
          token = s.token;
          if (proxies_it) break;
        }
      }
      return token;
    };
  }
  proxy_sources_ =
      std::make_unique<ProxySources>(loop_, &api_handler_, leaves_.get(), source_options);
  proxycfg::ManagerOptions options;
  options.node = cfg_.node_name;
  options.datacenter = cfg_.datacenter;
  options.first_version = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  options.default_intention_allow = backend_->intention_default.allow;
  proxies_ = std::make_unique<proxycfg::Manager>(loop_, *proxy_sources_, options);
  api_->backend().proxies = proxies_.get();
  SyncProxies();
  return Status::Ok();
}

// Hands the local proxy registrations to proxycfg, now and after every local change.
void Agent::SyncProxies() {
  std::vector<proxycfg::LocalProxy> proxies;
  const auto& services = local_->services();
  for (const auto& [id, s] : services) {
    if (s.service.kind != "connect-proxy" && s.service.kind != "mesh-gateway") continue;
    proxycfg::LocalProxy p{s.service, 0};
    if (s.service.proxy) {
      auto dest = services.find(s.service.proxy->destination_service_id);
      if (dest != services.end()) p.destination_port = dest->second.service.port;
    }
    proxies.push_back(std::move(p));
  }
  proxies_->Sync(proxies);
  local_->WatchLocal([this] { SyncProxies(); });
}

Status Agent::StartRoles() {
  if (server_) {
    // The leader's reconcile writes every LAN member's node and serfHealth check (and the
    // "consul" service of servers): on gaining leadership, then on every member event and
    // every reconcile interval while it leads; it also brings the Raft configuration in step.
    reconcile_ready_ = true;
    if (server_->dev()) {
      LogInfo("agent.server", "cluster leadership acquired");
      LogInfo("agent.server", "New leader elected: payload=" + cfg_.node_name);
      ReconcileAll();
      server_->DevLeadershipAcquired();
    }
    server_->Start([this](Status s) {
      if (!s.ok()) {
        std::cerr << "==> Failed to start the server's Raft log: " << s.message() << "\n";
        Shutdown();
        return;
      }
      if (!server_->dev()) {
        LogInfo("agent.server", "raft: started: address=" + server_->options().raft_address +
                                    (server_->options().raft.dial ? " tls=true" : ""));
      }
    });
  }

  // Service and check definitions fail here only in ways the log explains.
  bool scripts = std::any_of(cfg_.services.begin(), cfg_.services.end(),
                             [](const auto& s) { return catalog::HasScriptCheck(s); }) ||
                 std::any_of(cfg_.checks.begin(), cfg_.checks.end(),
                             [](const auto& c) { return !c.definition.script_args.empty(); });
  if (scripts && !cfg_.enable_script_checks && !cfg_.enable_local_script_checks) {
    Status s = InvalidArgument(
        "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
        "'enable_local_script_checks' to true");
    LogError("agent", "failed to register check: " + s.message());
    return s;
  }
  if (cfg_.enable_script_checks) {
    LogError("agent", "[SECURITY] using enable-script-checks without ACLs and without "
                      "allow_write_http_from is DANGEROUS, use enable-local-script-checks "
                      "instead, see https://www.hashicorp.com/blog/"
                      "protecting-consul-from-rce-risk-in-specific-configurations/");
  }
  local_->Start();
  // Services and checks from configuration files sync with their own `token`, else
  // tokens.config_file_service_registration (else the default token), as Consul's.
  const std::string& file_token = cfg_.acl.tokens.config_file_service_registration;
  for (auto& reg : cfg_.services) {
    std::string name = reg.service.service;
    if (reg.token.empty()) reg.token = file_token;
    Status s = local_->AddService(std::move(reg), false);
    if (!s.ok()) {
      LogError("agent", "failed to register service \"" + name + "\": " + s.message());
      return s;
    }
  }
  for (auto& c : cfg_.checks) {
    if (c.token.empty()) c.token = file_token;
    Status s = local_->AddCheck(std::move(c));
    if (!s.ok()) {
      LogError("agent", "failed to register check: " + s.message());
      return s;
    }
  }
  RestorePersistedServices();
  return Status::Ok();
}

// Services registered through the API before a restart, unless a configuration file defines
// the same ID (the file wins, as in Consul).
void Agent::RestorePersistedServices() {
  if (!persisted_) return;
  std::vector<std::string> errors;
  std::vector<catalog::ServiceRegistration> regs = persisted_->Load(&errors);
  for (const std::string& e : errors) LogWarn("agent", "skipping a persisted service: " + e);
  int restored = 0;
  for (auto& reg : regs) {
    std::string id = reg.service.id.empty() ? reg.service.service : reg.service.id;
    if (local_->services().count(id)) continue;
    if (Status s = local_->AddService(std::move(reg), false); !s.ok()) {
      LogWarn("agent", "failed to restore persisted service \"" + id + "\": " + s.message());
      continue;
    }
    ++restored;
  }
  if (restored > 0) {
    LogInfo("agent", "restored " + std::to_string(restored) + " service(s) from " +
                         persisted_->dir());
  }
}

void Agent::ReconcileAll() {
  if (!server_->IsLeader()) return;
  std::vector<server::LanMember> members;
  for (const auto& m : lan_->Members()) {
    members.push_back(ToLanMember(m, false));
    if (auto sm = ToServerMember(m, false); sm && IsServerOf(m, cfg_.datacenter)) {
      server_->ReconcileServer(*sm);
    }
  }
  reconciler_->ReconcileAll(members);
  reconcile_tick_ = loop_.After(std::chrono::seconds(60), [this] { ReconcileAll(); });
}

// Consul's Agent.sendCoordinate: every agent reports its LAN coordinate to the servers, through
// its own API (so a client agent's request is forwarded, with its token, and the leader batches
// it), every max(sync_coordinate_interval_min, members / 64 s) plus a random stagger.
void Agent::ScheduleCoordinateUpdate() {
  if (cfg_.disable_coordinates || !lan_ || stopping_) return;
  std::chrono::nanoseconds min_interval = std::chrono::seconds(15);
  if (!cfg_.sync_coordinate_interval_min.empty()) {
    if (auto d = ParseDuration(cfg_.sync_coordinate_interval_min); d.ok() && d->count() > 0) {
      min_interval = *d;
    }
  }
  constexpr double kRateTarget = 64.0;  // updates per second the servers should see at most
  const auto scaled = std::chrono::nanoseconds(static_cast<int64_t>(
      static_cast<double>(lan_->Members().size()) / kRateTarget * 1e9));
  const auto interval = std::max(min_interval, scaled);
  const auto wait = interval + UniformDuration(coordinate_random_, interval);
  coordinate_timer_ = loop_.After(wait, [this] { SendCoordinateUpdate(); });
}

void Agent::SendCoordinateUpdate() {
  std::optional<coordinate::Coordinate> c = lan_ ? lan_->serf().GetCoordinate() : std::nullopt;
  if (c && api_handler_ != nullptr) {
    catalog::Json body = {
        {"Node", cfg_.node_name}, {"Segment", ""}, {"Coord", catalog::CoordinateToJson(*c)}};
    LoopbackRequest(&api_handler_, "PUT", "/v1/coordinate/update", body.dump(), nullptr,
                    [](const http::Response& r) {
                      if (r.status == 403) {
                        LogWarn("agent", "Coordinate update blocked by ACLs");
                      } else if (r.status != 200) {
                        LogDebug("agent", "Coordinate update failed: " + std::to_string(r.status) +
                                              " " + r.body);
                      }
                    });
  }
  // Scheduled from here so a timer never outlives the send that replaces it.
  loop_.Post([this] { ScheduleCoordinateUpdate(); });
}

Status Agent::StartJoins() {
  // Joins: start_join/retry_join (LAN) and their _wan forms, retried every retry_interval.
  auto lan_addrs = cfg_.start_join;
  lan_addrs.insert(lan_addrs.end(), cfg_.retry_join.begin(), cfg_.retry_join.end());
  auto wan_addrs = cfg_.start_join_wan;
  wan_addrs.insert(wan_addrs.end(), cfg_.retry_join_wan.begin(), cfg_.retry_join_wan.end());
  AddJoiner(lan_.get(), lan_addrs, cfg_.retry_interval, cfg_.retry_max, "LAN",
            [this](const std::string& addr, const Status& error) {
              return OnLanJoinRefused(addr, error);
            });
  AddJoiner(wan_.get(), wan_addrs, cfg_.retry_interval_wan, cfg_.retry_max_wan, "WAN", nullptr);
  ScheduleCoordinateUpdate();
  return Status::Ok();
}

void Agent::AddJoiner(gossip::Pool* pool, std::vector<std::string> addrs,
                      const std::string& interval, int max_attempts, const char* which,
                      std::function<bool(const std::string&, const Status&)> on_refused) {
  if (!pool || addrs.empty()) return;
  JoinerOptions jo;
  jo.which = which;
  auto d = ParseDuration(interval);
  jo.interval = d.ok() && d->count() > 0 ? *d : std::chrono::seconds(30);
  jo.max_attempts = max_attempts;
  joiners_.push_back(std::make_unique<Joiner>(loop_, *pool, std::move(addrs), jo,
                                              std::move(on_refused), [this] { Shutdown(); }));
  joiners_.back()->Start();
}

// Either way the address leaves the LAN list, unless the refusal is one retrying can fix.
bool Agent::OnLanJoinRefused(const std::string& address, const Status& error) {
  auto who = refused_lan_->Find(address, static_cast<uint16_t>(lan_->port()));
  RefusedJoin r = ResolveRefusedJoin(address, error, who, cfg_.server && wan_, cfg_.datacenter);
  switch (r.action) {
    case RefusedJoin::Action::kRetry:
      return false;
    case RefusedJoin::Action::kDropAsClient:
    case RefusedJoin::Action::kDropNotServer:
      LogError("agent", r.message);
      std::cerr << "error: " << r.message << "\n" << std::flush;
      return true;
    case RefusedJoin::Action::kJoinWan:
      LogInfo("agent", "note: " + r.message);
      std::cerr << "note: " << r.message << "\n" << std::flush;
      AddJoiner(wan_.get(), {r.wan_address}, cfg_.retry_interval_wan, cfg_.retry_max_wan, "WAN",
                nullptr);
      return true;
  }
  return false;
}

void Agent::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  LogInfo("agent", "Requesting shutdown");
  // A short grace period lets replies already handed to connections (e.g. to /v1/agent/leave)
  // reach their clients.
  stop_timer_ = loop_.After(std::chrono::milliseconds(100), [this] { loop_.Stop(); });
}

// A client leaves its pools gracefully on either signal (peers then list it "left" and the
// catalog drops it); a server just stops, unless configured otherwise. A second signal stops at
// once.
void Agent::OnSignal(int sig) {
  LogInfo("agent", std::string("Caught signal: ") + (sig == SIGINT ? "interrupt" : "terminated"));
  bool leave = sig == SIGINT ? !cfg_.skip_leave_on_interrupt : cfg_.leave_on_terminate;
  if (!leave || leaving_ || !backend_->lan) return Shutdown();
  leaving_ = true;
  std::cout << "==> Gracefully shutting down agent...\n" << std::flush;
  LogInfo("agent", "Gracefully shutting down agent...");
  auto pending = std::make_shared<int>(0);
  for (gossip::Pool* p : {backend_->lan, backend_->wan}) {
    if (!p) continue;
    ++*pending;
    p->Leave([this, pending](Status s) {
      if (!s.ok()) LogWarn("agent", "leave failed: " + s.message());
      if (--*pending == 0) Shutdown();
    });
  }
}

void Agent::Stop() {
  for (auto& l : listeners_) l->Close();
  for (auto& d : dns_servers_) d->Close();
  if (server_) server_->Shutdown();
  if (rpc_server_) rpc_server_->Close();
  rpc_client_->Close();
  joiners_.clear();
  coordinate_timer_.reset();
  if (wan_) wan_->Shutdown();
  if (lan_) lan_->Shutdown();
  LogInfo("agent", "Graceful shutdown complete");
  std::cout << "==> Gangway agent stopped\n" << std::flush;
}

}  // namespace gangway::agent
