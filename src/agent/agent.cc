#include "agent/agent.h"

#include <sys/resource.h>

#include <csignal>
#include <iostream>
#include <memory>

#include "agent/config.h"
#include "core/duration.h"
#include "api/http_api.h"
#include "client/local_agent.h"
#include "core/log.h"
#include "gossip/pool.h"
#include "http/server.h"
#include "net/event_loop.h"
#include "server/server.h"

namespace gangway::agent {

namespace {

// Writes go nowhere on an agent with no server to talk to (client agents join servers in [M3]).
class NoServers : public catalog::Applier {
 public:
  void Apply(catalog::Command, std::function<void(catalog::ApplyResult)> done) override {
    catalog::ApplyResult r;
    r.status = Unavailable("No known Consul servers");
    done(std::move(r));
  }
};

std::string JoinAddrs(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

int RunAgent(const std::vector<std::string>& args) {
  auto loaded = LoadConfig(args);
  if (!loaded.ok()) {
    std::cerr << "==> " << loaded.status().message() << "\n";
    return 1;
  }
  Config cfg = std::move(*loaded);
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log_level, &level);
  SetLogLevel(level);
  for (const auto& n : cfg.notes) std::cerr << "note: " << n << "\n";

  // Blocking queries hold a connection each: allow as many descriptors as the system permits.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  net::EventLoop loop;
  std::unique_ptr<server::Server> server;
  NoServers no_servers;
  if (cfg.server) {
    server::ServerOptions so;
    so.datacenter = cfg.datacenter;
    so.node_name = cfg.node_name;
    so.rpc_address = cfg.advertise_addr + ":" + std::to_string(cfg.ports.server);
    server = std::make_unique<server::Server>(loop, so);
  }

  client::LocalAgentOptions lo;
  lo.node_name = cfg.node_name;
  lo.node_id = cfg.node_id;
  lo.datacenter = cfg.datacenter;
  lo.address = cfg.advertise_addr;
  lo.node_meta = cfg.node_meta;
  lo.sidecar_min_port = cfg.ports.sidecar_min_port;
  lo.sidecar_max_port = cfg.ports.sidecar_max_port;
  catalog::Applier& writer = server ? static_cast<catalog::Applier&>(*server) : no_servers;
  client::LocalAgent local(loop, writer, server ? &server->store() : nullptr, lo);

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
  backend.info.server_port = cfg.ports.server;
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
  auto signals = net::OnSignals(loop, [&](int sig) {
    LogInfo("agent", std::string("Caught signal: ") + (sig == SIGINT ? "interrupt" : "terminated"));
    backend.shutdown();
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
  // Gossip: the LAN pool for every agent, the WAN pool for servers.
  std::unique_ptr<gossip::Pool> lan, wan;
  {
    gossip::Tags tags = {{"dc", cfg.datacenter}, {"id", cfg.node_id}, {"role", cfg.server ? "consul" : "node"},
                         {"segment", ""}, {"vsn", "2"}, {"vsn_min", "2"}, {"vsn_max", "3"},
                         {"build", "1.17.0:gangway"}};
    if (cfg.server) {
      tags["port"] = std::to_string(cfg.ports.server);
      tags["raft_vsn"] = "3";
      tags["expect"] = std::to_string(cfg.bootstrap_expect);
      if (cfg.bootstrap || cfg.dev) tags["bootstrap"] = "1";
    }
    auto start_pool = [&](gossip::PoolOptions::Profile profile, const std::string& name, int port,
                          const char* which) -> std::unique_ptr<gossip::Pool> {
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
      auto p = gossip::Pool::Start(loop, po);
      if (!p.ok()) {
        std::cerr << "==> Failed to start the " << which << " gossip pool: " << p.status().message() << "\n";
        return nullptr;
      }
      LogInfo(std::string("agent.server.serf.") + which,
              std::string("serf: started gossip: address=") + po.advertise_ip + ":" +
                  std::to_string((*p)->port()) + " name=" + name);
      return std::move(*p);
    };
    lan = start_pool(gossip::PoolOptions::Profile::kLan, cfg.node_name, cfg.ports.serf_lan, "lan");
    if (!lan) return 1;
    if (cfg.server && cfg.ports.serf_wan >= 0) {
      wan = start_pool(gossip::PoolOptions::Profile::kWan, cfg.node_name + "." + cfg.datacenter,
                       cfg.ports.serf_wan, "wan");
      if (!wan) return 1;
    }
  }
  backend.lan = lan.get();
  backend.wan = wan.get();
  api::HttpApi api_with_gossip(backend);

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

  if (server) {
    LogInfo("agent.server", "cluster leadership acquired");
    LogInfo("agent.server", "New leader elected: payload=" + cfg.node_name);
    // Servers register the "consul" service on themselves, as Consul's leader does.
    catalog::RegisterRequest req;
    req.node.id = cfg.node_id;
    req.node.node = cfg.node_name;
    req.node.address = cfg.advertise_addr;
    req.node.datacenter = cfg.datacenter;
    req.node.tagged_addresses = {{"lan", cfg.advertise_addr}, {"lan_ipv4", cfg.advertise_addr},
                                 {"wan", cfg.advertise_addr}, {"wan_ipv4", cfg.advertise_addr}};
    req.node.meta = cfg.node_meta;
    if (req.node.meta.empty()) req.node.meta = {{"consul-network-segment", ""}};
    catalog::NodeService consul;
    consul.id = "consul";
    consul.service = "consul";
    consul.port = cfg.ports.server;
    req.service = consul;
    server->Apply(req, [](catalog::ApplyResult r) {
      if (!r.status.ok()) LogError("agent.server", "failed to register consul service: " + r.status.message());
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
  struct Joiner {
    gossip::Pool* pool;
    std::vector<std::string> addrs;
    Duration interval;
    int max_attempts;
    int attempts = 0;
    const char* which;
    std::unique_ptr<Timer> timer;
  };
  std::vector<std::shared_ptr<Joiner>> joiners;
  auto add_joiner = [&](gossip::Pool* pool, std::vector<std::string> addrs, const std::string& interval,
                        int max, const char* which) {
    if (!pool || addrs.empty()) return;
    auto j = std::make_shared<Joiner>();
    j->pool = pool;
    j->addrs = std::move(addrs);
    auto d = ParseDuration(interval);
    j->interval = d.ok() && d->count() > 0 ? *d : std::chrono::seconds(30);
    j->max_attempts = max;
    j->which = which;
    joiners.push_back(j);
  };
  {
    auto lan_addrs = cfg.start_join;
    lan_addrs.insert(lan_addrs.end(), cfg.retry_join.begin(), cfg.retry_join.end());
    auto wan_addrs = cfg.start_join_wan;
    wan_addrs.insert(wan_addrs.end(), cfg.retry_join_wan.begin(), cfg.retry_join_wan.end());
    add_joiner(lan.get(), lan_addrs, cfg.retry_interval, cfg.retry_max, "LAN");
    add_joiner(wan.get(), wan_addrs, cfg.retry_interval_wan, cfg.retry_max_wan, "WAN");
  }
  std::function<void(std::shared_ptr<Joiner>)> attempt = [&](std::shared_ptr<Joiner> j) {
    ++j->attempts;
    std::weak_ptr<Joiner> weak = j;
    j->pool->Join(j->addrs, [&, weak](int n, Status s) {
      auto jj = weak.lock();
      if (!jj) return;
      if (n > 0) {
        LogInfo("agent", std::string("Join cluster completed. Synced with initial agents: cluster=") +
                             jj->which + " num_agents=" + std::to_string(n));
        return;
      }
      if (jj->max_attempts > 0 && jj->attempts >= jj->max_attempts) {
        LogError("agent", std::string("max join retry exhausted, exiting: cluster=") + jj->which);
        backend.shutdown();
        return;
      }
      LogWarn("agent", std::string("Join cluster failed, will retry: cluster=") + jj->which +
                           " retry_interval=" + FormatDuration(jj->interval) + " error=" + s.message());
      jj->timer = loop.After(jj->interval, [&, weak] {
        if (auto again = weak.lock()) attempt(again);
      });
    });
  };
  for (auto& j : joiners) attempt(j);

  std::cout << "==> Gangway agent running!\n" << std::flush;
  LogInfo("agent", "Gangway agent running!");
  loop.Run();
  for (auto& l : listeners) l->Close();
  joiners.clear();
  if (wan) wan->Shutdown();
  if (lan) lan->Shutdown();
  LogInfo("agent", "Graceful shutdown complete");
  std::cout << "==> Gangway agent stopped\n" << std::flush;
  return 0;
}

}  // namespace gangway::agent
