#include "agent/agent.h"

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "agent/config.h"
#include "agent/connect.h"
#include "agent/joiner.h"
#include "agent/tls.h"
#include "core/duration.h"
#include "api/http_api.h"
#include "client/local_agent.h"
#include "client/user_events.h"
#include "core/log.h"
#include "gossip/pool.h"
#include "http/server.h"
#include "net/event_loop.h"
#include "rpc/forwarding.h"
#include "rpc/rpc.h"
#include "server/membership.h"
#include "server/server.h"

namespace gangway::agent {

namespace {

// A client agent's writes: to a server over RPC once the forwarder exists (it needs the gossip
// pools, which start after the local agent).
class ClientWriter : public catalog::Applier {
 public:
  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override {
    if (target) return target->Apply(std::move(cmd), std::move(done));
    catalog::ApplyResult r;
    r.status = Unavailable("No known Consul servers");
    done(std::move(r));
  }
  catalog::Applier* target = nullptr;
};

std::string JoinAddrs(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

server::LanMember ToLanMember(const gossip::Member& m, bool reaped) {
  server::LanMember out;
  out.name = m.name;
  out.address = m.addr.IpString();
  out.tags = m.tags;
  using S = server::LanMember::Status;
  switch (m.status) {
    case gossip::MemberStatus::kFailed: out.status = S::kFailed; break;
    case gossip::MemberStatus::kLeft: out.status = S::kLeft; break;
    case gossip::MemberStatus::kLeaving: out.status = S::kLeaving; break;
    default: out.status = S::kAlive; break;
  }
  if (reaped) out.status = S::kReaped;
  return out;
}

// A server of some datacenter in the LAN pool, for the Raft layer.
std::optional<server::ServerMember> ToServerMember(const gossip::Member& m, bool reaped) {
  auto tag = [&](const char* k) -> std::string {
    auto it = m.tags.find(k);
    return it == m.tags.end() ? "" : it->second;
  };
  if (tag("role") != "consul" || tag("id").empty()) return std::nullopt;
  server::ServerMember out;
  out.node = m.name;
  out.node_id = tag("id");
  std::string ip = m.addr.IpString();
  out.rpc_address = ip + ":" + tag("port");
  // Raft shares the RPC port unless the server advertises a port of its own.
  out.raft_address = tag("raft_port").empty() ? out.rpc_address : ip + ":" + tag("raft_port");
  using S = server::ServerMember::Status;
  out.status = reaped || m.status == gossip::MemberStatus::kLeft ? S::kLeft
               : m.status == gossip::MemberStatus::kFailed       ? S::kFailed
                                                                 : S::kAlive;
  if (m.status == gossip::MemberStatus::kLeaving) out.status = S::kAlive;
  return out;
}

std::vector<server::ServerMember> LanServers(gossip::Pool* lan, const std::string& dc) {
  std::vector<server::ServerMember> out;
  if (!lan) return out;
  for (const auto& m : lan->Members()) {
    auto it = m.tags.find("dc");
    if (it == m.tags.end() || it->second != dc) continue;
    if (auto sm = ToServerMember(m, false)) out.push_back(std::move(*sm));
  }
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

}  // namespace

int RunAgent(const std::vector<std::string>& args) {
  auto loaded = LoadConfig(args);
  if (!loaded.ok()) {
    std::cerr << "==> " << loaded.status().message() << "\n";
    return 1;
  }
  Config cfg = std::move(*loaded);
  if (!cfg.dev) {
    if (Status s = PersistNodeId(cfg); !s.ok()) {
      std::cerr << "==> " << s.message() << "\n";
      return 1;
    }
  }
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log_level, &level);
  SetLogLevel(level);
  for (const auto& n : cfg.notes) std::cerr << "note: " << n << "\n";

  // Blocking queries hold a connection each: allow as many descriptors as the system permits.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // TLS on the server RPC (tls.internal_rpc over tls.defaults); bad files stop the agent.
  auto rpc_tls = BuildRpcTls(cfg);
  if (!rpc_tls.ok()) {
    std::cerr << "==> " << rpc_tls.status().message() << "\n";
    return 1;
  }
  net::EventLoop loop;
  // Key generation for Connect (roots, intermediates, leaves) runs here, off the control loop.
  // Declared after the loop and before the roles: destroyed after them, before the loop.
  Workers workers(1);
  std::unique_ptr<server::Server> server;
  ClientWriter client_writer;
  rpc::Client rpc_client(loop, rpc_tls->client);
  std::unique_ptr<rpc::Server> rpc_server;
  int rpc_port = cfg.ports.server;
  int raft_port = 0;
  std::unique_ptr<gossip::Pool> lan, wan;
  rpc::Forwarder* forwarder_ptr = nullptr;
  http::Handler* api_ptr = nullptr;  // this agent's API, once built (Connect's requests use it)
  std::function<void()> reconcile_all;
  std::unique_ptr<Timer> reconcile_tick;
  if (cfg.server) {
    server::ServerOptions so;
    so.datacenter = cfg.datacenter;
    so.node_name = cfg.node_name;
    so.node_id = cfg.node_id;
    // Server RPC (docs/rpc.md) on ports.server; bound first so gossip advertises the real port.
    rpc_server = std::make_unique<rpc::Server>(loop, rpc_tls->server);
    auto bound = rpc_server->Listen(cfg.bind_addr, cfg.ports.server);
    if (!bound.ok()) {
      std::cerr << "==> " << bound.status().message() << "\n";
      return 1;
    }
    rpc_port = *bound;
    so.rpc_address = cfg.advertise_addr + ":" + std::to_string(rpc_port);
    so.dev = cfg.dev;
    so.data_dir = cfg.data_dir;
    so.bootstrap = cfg.bootstrap;
    so.bootstrap_expect = cfg.bootstrap_expect;
    if (!cfg.dev && cfg.ports.raft > 0) {
      // Raft on a port of its own (libraft's TCP transport).
      raft_port = cfg.ports.raft;
      so.raft_address = cfg.advertise_addr + ":" + std::to_string(raft_port);
      so.raft.bind_address = cfg.bind_addr + ":" + std::to_string(raft_port);
    } else if (!cfg.dev) {
      // As Consul: Raft shares the server RPC port (mode byte 0x01, docs/rpc.md).
      so.raft_address = so.rpc_address;
      so.raft.transport = consensus::RaftOptions::Transport::kHandoff;
      if (rpc_tls->client.context) {
        // As Consul: with TLS on outgoing RPC, Raft goes inside TLS too (0x03, the handshake,
        // then 0x01). The raft thread asks; this loop dials, verifies and relays (docs/rpc.md).
        so.raft.dial = [&loop, &rpc_client](std::string address,
                                            std::function<void(int, std::string)> done) {
          loop.Post([&rpc_client, address = std::move(address), done = std::move(done)]() mutable {
            rpc_client.DialRaft(address, std::move(done));
          });
        };
      } else if (InternalRpcTlsSettings(cfg).verify_incoming) {
        // Peers with verify_incoming refuse plaintext Raft, and this server would dial it.
        LogWarn("agent.server", "verify_incoming is set but verify_outgoing is not: this server "
                                "dials Raft without TLS, which servers with verify_incoming "
                                "refuse; set verify_outgoing = true (tls.internal_rpc or tls.defaults)");
      }
    }
    server::ServerHooks hooks;
    // The servers of this datacenter as the LAN pool knows them.
    hooks.servers = [&] { return LanServers(lan.get(), cfg.datacenter); };
    hooks.forward_apply = [&](const std::string& addr, catalog::Command cmd,
                              std::function<void(catalog::ApplyResult)> done) {
      forwarder_ptr->ApplyAt(addr, std::move(cmd), std::move(done));
    };
    hooks.on_leadership = [&](bool leader) {
      if (leader && reconcile_all) reconcile_all();
      if (!leader) reconcile_tick.reset();
    };
    server = std::make_unique<server::Server>(loop, so, std::move(hooks));
    if (cfg.connect_enabled) {
      server::ConnectCAOptions co;
      co.datacenter = cfg.datacenter;
      co.primary_datacenter = cfg.primary_datacenter;
      co.bootstrap = cfg.connect_ca;
      server->EnableConnectCA(std::move(co), ConnectCAHooksVia(&api_ptr, cfg.primary_datacenter, [&] {
        std::set<std::string> dcs;
        if (wan) {
          for (const auto& m : wan->Members()) {
            auto it = m.tags.find("dc");
            if (it != m.tags.end() && m.status == gossip::MemberStatus::kAlive) dcs.insert(it->second);
          }
        }
        return std::vector<std::string>(dcs.begin(), dcs.end());
      }), &workers);
    }
    rpc_server->SetRaftHandler([srv = server.get()](int fd, std::string rest) {
      srv->AcceptRaftConnection(fd, std::move(rest));
    });
  }

  client::LocalAgentOptions lo;
  lo.node_name = cfg.node_name;
  lo.node_id = cfg.node_id;
  lo.datacenter = cfg.datacenter;
  lo.address = cfg.advertise_addr;
  lo.node_meta = cfg.node_meta;
  lo.sidecar_min_port = cfg.ports.sidecar_min_port;
  lo.sidecar_max_port = cfg.ports.sidecar_max_port;
  catalog::Applier& writer = server ? static_cast<catalog::Applier&>(*server) : client_writer;
  client::LocalAgent local(loop, client::MakeNetProber(loop), writer,
                           server ? &server->store() : nullptr, lo);
  if (server) server->SetLeaderKnownHook([&local] { local.FullSync(); });

  bool stopping = false;
  std::unique_ptr<Timer> stop_timer;
  api::Backend backend;
  backend.loop = &loop;
  backend.server = server.get();
  backend.agent = &local;
  backend.info.node_name = cfg.node_name;
  backend.info.node_id = cfg.node_id;
  backend.info.datacenter = cfg.datacenter;
  backend.info.primary_datacenter = cfg.primary_datacenter;
  backend.info.server = cfg.server;
  backend.info.dev = cfg.dev;
  backend.info.advertise_address = cfg.advertise_addr;
  backend.info.serf_lan_port = cfg.ports.serf_lan;
  backend.info.server_port = rpc_port;
  backend.info.config = cfg.merged;
  backend.shutdown = [&] {
    if (stopping) return;
    stopping = true;
    LogInfo("agent", "Requesting shutdown");
    // A short grace period lets replies already handed to connections (e.g. to /v1/agent/leave)
    // reach their clients.
    stop_timer = loop.After(std::chrono::milliseconds(100), [&] { loop.Stop(); });
  };
  // Signals are handled on the loop from here on, before anything announces readiness.
  // A client leaves its pools gracefully on either signal (peers then list it "left" and the
  // catalog drops it); a server just stops, unless configured otherwise. A second signal stops
  // at once.
  bool leaving = false;
  auto signals = net::OnSignals(loop, [&](int sig) {
    LogInfo("agent", std::string("Caught signal: ") + (sig == SIGINT ? "interrupt" : "terminated"));
    bool leave = sig == SIGINT ? !cfg.skip_leave_on_interrupt : cfg.leave_on_terminate;
    if (!leave || leaving || !backend.lan) return backend.shutdown();
    leaving = true;
    std::cout << "==> Gracefully shutting down agent...\n" << std::flush;
    LogInfo("agent", "Gracefully shutting down agent...");
    auto pending = std::make_shared<int>(0);
    for (gossip::Pool* p : {backend.lan, backend.wan}) {
      if (!p) continue;
      ++*pending;
      p->Leave([&, pending](Status s) {
        if (!s.ok()) LogWarn("agent", "leave failed: " + s.message());
        if (--*pending == 0) backend.shutdown();
      });
    }
  });

  std::cout << "==> Starting Gangway agent...\n"
            << "           Version: 'v0.1.0'\n"
            << "           Node ID: '" << cfg.node_id << "'\n"
            << "         Node name: '" << cfg.node_name << "'\n"
            << "        Datacenter: '" << cfg.datacenter << "' (Segment: '"
            << (cfg.server ? "<all>" : "") << "')\n"
            << "            Server: " << (cfg.server ? "true" : "false")
            << " (Bootstrap: " << ((cfg.bootstrap || cfg.dev) ? "true" : "false") << ")\n"
            << "       Client Addr: [" << JoinAddrs(cfg.client_addrs) << "] (HTTP: "
            << cfg.ports.http << ", HTTPS: " << cfg.ports.https << ", gRPC: " << cfg.ports.grpc
            << ", DNS: " << cfg.ports.dns << ")\n"
            << "      Cluster Addr: " << cfg.advertise_addr << " (LAN: " << cfg.ports.serf_lan
            << ", WAN: " << cfg.ports.serf_wan << ")\n"
            << "\n==> Log data will now stream in as it occurs:\n\n"
            << std::flush;
  for (const auto& w : cfg.warnings) LogWarn("agent", w);
  // Gossip: the LAN pool for every agent, the WAN pool for servers. On servers, LAN membership
  // becomes the catalog's serfHealth checks (Consul's leader reconcile).
  std::unique_ptr<server::MembershipReconciler> reconciler;
  if (server) {
    reconciler = std::make_unique<server::MembershipReconciler>(*server, cfg.datacenter, cfg.node_name);
  }
  std::map<std::string, gossip::Member> refused_lan;  // "ip:port" -> member of another datacenter
  std::function<void()> flood_wan;  // servers: join this datacenter's servers on the WAN
  {
    gossip::Tags tags = {{"dc", cfg.datacenter}, {"id", cfg.node_id}, {"role", cfg.server ? "consul" : "node"},
                         {"segment", ""}, {"vsn", "2"}, {"vsn_min", "2"}, {"vsn_max", "3"},
                         {"build", "1.17.0:gangway"}};
    if (cfg.server) {
      tags["port"] = std::to_string(rpc_port);
      if (raft_port > 0) tags["raft_port"] = std::to_string(raft_port);
      tags["raft_vsn"] = "3";
      tags["expect"] = std::to_string(cfg.bootstrap_expect);
      if (cfg.bootstrap || cfg.dev) tags["bootstrap"] = "1";
    }
    auto start_pool = [&](gossip::PoolOptions::Profile profile, const std::string& name, int port,
                          const char* which, gossip::SerfHandlers handlers,
                          std::function<Status(const std::vector<gossip::Member>&)> merge)
        -> std::unique_ptr<gossip::Pool> {
      gossip::PoolOptions po;
      po.profile = profile;
      po.name = name;
      po.bind_ip = cfg.bind_addr;
      po.port = port;
      po.advertise_ip = profile == gossip::PoolOptions::Profile::kWan && !cfg.advertise_addr_wan.empty()
                            ? cfg.advertise_addr_wan
                            : cfg.advertise_addr;
      po.tags = tags;
      po.encrypt_key = cfg.encrypt;
      po.verify_incoming = cfg.encrypt_verify_incoming;
      po.verify_outgoing = cfg.encrypt_verify_outgoing;
      po.merge = std::move(merge);
      const Config::GossipTuning& g =
          profile == gossip::PoolOptions::Profile::kWan ? cfg.gossip_wan : cfg.gossip_lan;
      po.gossip_nodes = g.gossip_nodes;
      po.gossip_interval = g.gossip_interval;
      po.probe_interval = g.probe_interval;
      po.probe_timeout = g.probe_timeout;
      po.retransmit_mult = g.retransmit_mult;
      po.suspicion_mult = g.suspicion_mult;
      auto p = gossip::Pool::Start(loop, po, std::move(handlers));
      if (!p.ok()) {
        std::cerr << "==> Failed to start the " << which << " gossip pool: " << p.status().message() << "\n";
        return nullptr;
      }
      LogInfo(std::string("agent.server.serf.") + which,
              std::string("serf: started gossip: address=") + po.advertise_ip + ":" +
                  std::to_string((*p)->port()) + " name=" + name);
      return std::move(*p);
    };
    // Consul's LAN merge delegate: a datacenter's LAN pool holds that datacenter only. The
    // members refused are remembered so a retry_join naming another datacenter's server can be
    // turned into a WAN join.
    auto lan_merge = [&](const std::vector<gossip::Member>& members) -> Status {
      for (const auto& m : members) {
        auto dc = m.tags.find("dc");
        if (dc != m.tags.end() && dc->second != cfg.datacenter) {
          refused_lan[m.addr.ToString()] = m;
          return InvalidArgument("Member '" + m.name + "' part of wrong datacenter '" +
                                    dc->second + "'");
        }
      }
      return Status::Ok();
    };
    // Consul's WAN merge delegate: servers only.
    auto wan_merge = [](const std::vector<gossip::Member>& members) -> Status {
      for (const auto& m : members) {
        auto role = m.tags.find("role");
        if (role == m.tags.end() || role->second != "consul") {
          return InvalidArgument("Member '" + m.name + "' is not a server");
        }
      }
      return Status::Ok();
    };
    // Consul's WAN flooding: every server of this datacenter joins the WAN pool too, found
    // through the LAN pool, so federation needs retry_join_wan on one server only.
    flood_wan = [&] {
      if (!wan || !lan) return;
      std::set<std::string> in_wan;
      for (const auto& m : wan->Members()) in_wan.insert(m.name);
      for (const auto& m : lan->Members()) {
        auto tag = [&](const char* k) {
          auto it = m.tags.find(k);
          return it == m.tags.end() ? std::string() : it->second;
        };
        if (m.status != gossip::MemberStatus::kAlive || tag("role") != "consul" ||
            tag("dc") != cfg.datacenter || tag("wan_join_port").empty() ||
            in_wan.count(m.name + "." + cfg.datacenter)) {
          continue;
        }
        std::string addr = m.addr.IpString() + ":" + tag("wan_join_port");
        wan->Join({addr}, [addr](int n, Status s) {
          if (n == 0) LogWarn("agent.server", "WAN flood join to " + addr + " failed: " + s.message());
        });
      }
    };
    gossip::SerfHandlers lan_handlers;
    lan_handlers.on_member = [&](const gossip::MemberEvent& e) {
      if (!reconciler) {
        // A client agent syncs everything once a server (re)appears.
        for (const auto& m : e.members) {
          auto role = m.tags.find("role");
          if (e.type == gossip::MemberEventType::kJoin && role != m.tags.end() &&
              role->second == "consul") {
            local.FullSync();
            break;
          }
        }
        return;
      }
      // Servers of this datacenter: bootstrap_expect counts them, the leader keeps the Raft
      // configuration in step. The leader alone writes the catalog's view of membership.
      bool servers_changed = false;
      for (const auto& m : e.members) {
        auto role = m.tags.find("role");
        auto dc = m.tags.find("dc");
        if (role != m.tags.end() && role->second == "consul" && dc != m.tags.end() &&
            dc->second == cfg.datacenter) {
          servers_changed = true;
          if (auto sm = ToServerMember(m, e.type == gossip::MemberEventType::kReap)) {
            server->ReconcileServer(*sm);
          }
        }
        if (server->IsLeader()) {
          reconciler->Reconcile(ToLanMember(m, e.type == gossip::MemberEventType::kReap));
        }
      }
      if (servers_changed) {
        server->BootstrapExpect(LanServers(lan.get(), cfg.datacenter));
        flood_wan();
      }
    };
    // The WAN pool first: servers advertise its bound port on the LAN ("wan_join_port").
    if (cfg.server && cfg.ports.serf_wan >= 0) {
      wan = start_pool(gossip::PoolOptions::Profile::kWan, cfg.node_name + "." + cfg.datacenter,
                       cfg.ports.serf_wan, "wan", {}, wan_merge);
      if (!wan) return 1;
      tags["wan_join_port"] = std::to_string(wan->port());
    }
    lan = start_pool(gossip::PoolOptions::Profile::kLan, cfg.node_name, cfg.ports.serf_lan, "lan",
                     std::move(lan_handlers), lan_merge);
    if (!lan) return 1;
  }
  backend.lan = lan.get();
  backend.wan = wan.get();
  // Forwarding: client agents send server-state requests and writes to their servers, servers
  // send ?dc=<other> requests to that datacenter's servers.
  rpc::Forwarder forwarder(loop, rpc_client, rpc::ServerDirectory(cfg.datacenter, lan.get(), wan.get()));
  forwarder_ptr = &forwarder;
  if (server) {
    forwarder.SetLeader([&] { return server->Leader(); });
  }
  backend.forward = [&forwarder](http::Request req, const std::string& dc,
                                 std::shared_ptr<http::Cancellation> cancel, http::Reply reply) {
    forwarder.ForwardHttp(std::move(req), dc, std::move(cancel), std::move(reply));
  };
  if (!server) client_writer.target = &forwarder;
  // User events arrive on the LAN pool; the filters look at this agent's services.
  client::UserEventBuffer user_events(cfg.node_name, [&local] {
    std::vector<client::FilterService> out;
    for (const auto& [id, s] : local.services()) out.push_back({id, s.service.tags});
    return out;
  });
  lan->AddUserEventHandler([&user_events](const gossip::UserEvent& e) {
    user_events.HandleSerfEvent(e.name, e.payload, e.ltime);
  });
  backend.user_events = &user_events;
  // Connect leaves and roots for local proxies; every agent serves them, signed by a server.
  client::LeafCacheOptions leaf_options;
  leaf_options.datacenter = cfg.datacenter;
  client::LeafCache leaves(loop, leaf_options, LeafCacheHooksVia(&api_ptr), &workers);
  backend.leaves = &leaves;
  backend.workers = &workers;
  api::HttpApi api_with_gossip(backend);
  api_ptr = &api_with_gossip;
  if (rpc_server) {
    rpc::ServeForwarded(*rpc_server, api_with_gossip, server.get());
    LogInfo("agent.server.rpc", "Started RPC server: address=" + cfg.bind_addr + ":" +
                                    std::to_string(rpc_port));
  }

  std::vector<std::unique_ptr<http::Server>> listeners;
  if (cfg.ports.http >= 0) {
    for (const auto& addr : cfg.client_addrs) {
      auto l = std::make_unique<http::Server>(loop, api_with_gossip);
      auto port = l->Listen(addr, cfg.ports.http);
      if (!port.ok()) {
        LogError("agent", port.status().message());
        std::cerr << "==> " << port.status().message() << "\n";
        return 1;
      }
      LogInfo("agent", "Started HTTP server: address=" + addr + ":" + std::to_string(*port) +
                           " network=tcp");
      listeners.push_back(std::move(l));
    }
  }
  // HTTPS: the same API over TLS (tls.https over tls.defaults), when ports.https is set.
  if (Status s = StartHttpsListeners(cfg, loop, api_with_gossip, &listeners); !s.ok()) {
    LogError("agent", s.message());
    std::cerr << "==> " << s.message() << "\n";
    return 1;
  }

  if (server) {
    // The leader's reconcile writes every LAN member's node and serfHealth check (and the
    // "consul" service of servers): on gaining leadership, then on every member event and
    // every reconcile interval while it leads; it also brings the Raft configuration in step.
    reconcile_all = [&] {
      if (!server->IsLeader()) return;
      std::vector<server::LanMember> members;
      for (const auto& m : lan->Members()) {
        members.push_back(ToLanMember(m, false));
        if (auto sm = ToServerMember(m, false); sm && m.tags.count("dc") && m.tags.at("dc") == cfg.datacenter) {
          server->ReconcileServer(*sm);
        }
      }
      reconciler->ReconcileAll(members);
      reconcile_tick = loop.After(std::chrono::seconds(60), [&] { reconcile_all(); });
    };
    if (server->dev()) {
      LogInfo("agent.server", "cluster leadership acquired");
      LogInfo("agent.server", "New leader elected: payload=" + cfg.node_name);
      reconcile_all();
      server->DevLeadershipAcquired();
    }
    server->Start([&](Status s) {
      if (!s.ok()) {
        std::cerr << "==> Failed to start the server's Raft log: " << s.message() << "\n";
        backend.shutdown();
        return;
      }
      if (!server->dev()) {
        LogInfo("agent.server", "raft: started: address=" + server->options().raft_address +
                                    (server->options().raft.dial ? " tls=true" : ""));
      }
    });
  }

  local.Start();
  for (auto& reg : cfg.services) {
    std::string name = reg.service.service;
    Status s = local.AddService(std::move(reg), false);
    if (!s.ok()) {
      LogError("agent", "failed to register service \"" + name + "\": " + s.message());
      return 1;
    }
  }
  for (auto& c : cfg.checks) {
    Status s = local.AddCheck(std::move(c));
    if (!s.ok()) {
      LogError("agent", "failed to register check: " + s.message());
      return 1;
    }
  }

  // Joins: start_join/retry_join (LAN) and their _wan forms, retried every retry_interval.
  std::vector<std::unique_ptr<Joiner>> joiners;
  auto add_joiner = [&](gossip::Pool* pool, std::vector<std::string> addrs, const std::string& interval,
                        int max, const char* which, Joiner::RefusalHandler on_refused) {
    if (!pool || addrs.empty()) return;
    JoinerOptions jo;
    jo.which = which;
    auto d = ParseDuration(interval);
    jo.interval = d.ok() && d->count() > 0 ? *d : std::chrono::seconds(30);
    jo.max_attempts = max;
    joiners.push_back(std::make_unique<Joiner>(loop, *pool, std::move(addrs), jo,
                                               std::move(on_refused), [&] { backend.shutdown(); }));
    joiners.back()->Start();
  };
  // The tutorial's form: retry_join naming a server of another datacenter. The LAN refuses it
  // (as Consul does); a server then joins it over the WAN and says what it understood, a client
  // cannot, and says why. Either way the address leaves the LAN list.
  auto lan_refused = [&](const std::string& addr, const Status& error) -> bool {
    std::string dc = WrongDatacenterIn(error.message());
    if (dc.empty()) return false;  // unreachable and the like: retry later
    std::optional<gossip::Member> who;
    if (auto parsed = gossip::Address::Parse(addr, static_cast<uint16_t>(lan->port())); parsed.ok()) {
      if (auto it = refused_lan.find(parsed->ToString()); it != refused_lan.end()) {
        who = it->second;
      } else {
        for (const auto& [key, m] : refused_lan) {
          if (m.addr.ip == parsed->ip) who = m;
        }
      }
    }
    auto tag = [&](const char* k) -> std::string {
      if (!who) return "";
      auto it = who->tags.find(k);
      return it == who->tags.end() ? "" : it->second;
    };
    std::string name = who ? who->name : "?";
    if (!cfg.server || !wan) {
      std::string msg = "retry_join \"" + addr + "\" is agent '" + name + "' of datacenter '" + dc +
                        "', but this agent is a client of datacenter '" + cfg.datacenter +
                        "': a LAN join reaches only its own datacenter, and only servers join " +
                        "other datacenters (over the WAN, with retry_join_wan). Remove \"" + addr +
                        "\" from retry_join.";
      LogError("agent", msg);
      std::cerr << "error: " << msg << "\n" << std::flush;
      return true;
    }
    if (tag("role") != "consul") {
      std::string msg = "retry_join \"" + addr + "\" is client agent '" + name +
                        "' of datacenter '" + dc + "': datacenters federate through their " +
                        "servers only; list a server of '" + dc + "' in retry_join_wan instead.";
      LogError("agent", msg);
      std::cerr << "error: " << msg << "\n" << std::flush;
      return true;
    }
    std::string port = tag("wan_join_port").empty() ? "8302" : tag("wan_join_port");
    std::string wan_addr = (who ? who->addr.IpString() : addr) + ":" + port;
    std::string note = "retry_join \"" + addr + "\" names server '" + name + "' of datacenter '" +
                       dc + "'; joining it over the WAN at " + wan_addr +
                       " instead. The canonical form is retry_join_wan = [\"" + wan_addr + "\"].";
    LogInfo("agent", "note: " + note);
    std::cerr << "note: " << note << "\n" << std::flush;
    add_joiner(wan.get(), {wan_addr}, cfg.retry_interval_wan, cfg.retry_max_wan, "WAN", nullptr);
    return true;
  };
  {
    auto lan_addrs = cfg.start_join;
    lan_addrs.insert(lan_addrs.end(), cfg.retry_join.begin(), cfg.retry_join.end());
    auto wan_addrs = cfg.start_join_wan;
    wan_addrs.insert(wan_addrs.end(), cfg.retry_join_wan.begin(), cfg.retry_join_wan.end());
    add_joiner(lan.get(), lan_addrs, cfg.retry_interval, cfg.retry_max, "LAN", lan_refused);
    add_joiner(wan.get(), wan_addrs, cfg.retry_interval_wan, cfg.retry_max_wan, "WAN", nullptr);
  }

  std::cout << "==> Gangway agent running!\n" << std::flush;
  LogInfo("agent", "Gangway agent running!");
  loop.Run();
  for (auto& l : listeners) l->Close();
  if (server) server->Shutdown();
  if (rpc_server) rpc_server->Close();
  rpc_client.Close();
  joiners.clear();
  if (wan) wan->Shutdown();
  if (lan) lan->Shutdown();
  LogInfo("agent", "Graceful shutdown complete");
  std::cout << "==> Gangway agent stopped\n" << std::flush;
  return 0;
}

}  // namespace gangway::agent
