#include "proxyd/command.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "core/duration.h"
#include "core/flags.h"
#include "core/log.h"

namespace gangway::proxyd {

namespace {

enum class Form {
  kConnectProxy,  // connect proxy
  kConnectEnvoy,  // connect envoy (Consul's command; prints a note)
  kGateway,       // connect gateway <kind>, gateway <kind>
};

constexpr char kEnvoyNote[] =
    "note: Gangway runs its own proxy for \"connect envoy\"; no Envoy process is started "
    "(canonical form: gangway connect gateway mesh ...)";

constexpr char kProxyHelp[] =
    "Usage: gangway connect proxy [options]\n\n"
    "  Runs Gangway's proxy for a sidecar registered with the local agent, until an\n"
    "  interrupt is received. The proxy follows its configuration from the agent\n"
    "  (GET /v1/agent/connect/proxy/<id>) and keeps serving its last configuration\n"
    "  while the agent is unreachable.\n\n"
    "      $ gangway connect proxy -sidecar-for web";

constexpr char kEnvoyHelp[] =
    "Usage: gangway connect envoy [options]\n\n"
    "  Consul's command, served by Gangway's own proxy: no Envoy process is started.\n"
    "  Runs a mesh gateway (-gateway=mesh, registered with -register) or a sidecar\n"
    "  (-sidecar-for, -proxy-id). The canonical form for gateways is\n"
    "  \"gangway connect gateway mesh\".\n\n"
    "      $ gangway connect envoy -gateway=mesh -register -address 10.0.1.10:8443 \\\n"
    "          -wan-address 192.0.2.10:8443";

constexpr char kGatewayHelp[] =
    "Usage: gangway connect gateway mesh [options]\n"
    "       gangway gateway mesh [options]\n\n"
    "  Runs a mesh gateway with Gangway's proxy, registering it with the local agent\n"
    "  first when -register is given, until an interrupt is received.\n\n"
    "      $ gangway gateway mesh -register -service mesh-gateway \\\n"
    "          -address 10.0.1.10:8443 -wan-address 192.0.2.10:8443";

// Flags every form takes: the agent's HTTP API and how the proxy runs.
struct RunFlags {
  apiclient::HttpFlags http;
  std::string admin_bind = "127.0.0.1:19000";
  int64_t workers = 0;
  std::string drain_timeout = "5s";
  std::string log_level = "info";
  bool multiplex = true;

  void Register(FlagSet* flags) {
    flags->String("admin-bind", &admin_bind, "host:port",
                  "The address:port of the proxy's admin endpoint (GET /stats, GET /ready). "
                  "Port 0 picks a free port; the address bound is logged. Default "
                  "127.0.0.1:19000.");
    flags->Int("workers", &workers, "count",
               "Worker threads of the proxy. Default: one per hardware thread, at most 8.");
    flags->String("drain-timeout", &drain_timeout, "duration",
                  "How long open connections may finish after an interrupt. Default 5s.");
    flags->String("log-level", &log_level, "level",
                  "trace, debug, info, warn or error. Default info.");
    flags->Bool("multiplex", &multiplex,
                "Carry a sidecar's upstream connections to one endpoint as streams of shared "
                "mTLS connections when the other sidecar agrees (docs/mux.md). Default true; "
                "-multiplex=false dials one mTLS connection per connection.");
  }
};

// Gateway flags (connect envoy and the canonical form).
struct GatewayFlags {
  bool register_service = false;
  std::string service;
  std::optional<ServiceAddress> lan;
  std::optional<ServiceAddress> wan;
  std::map<std::string, ServiceAddress> binds;
  std::string deregister_after_critical = "6h";
  bool expose_servers = false;

  void Register(FlagSet* flags) {
    flags->Bool("register", &register_service,
                "Register the gateway service with the local agent before starting the proxy.");
    flags->String("service", &service, "name",
                  "Service name to use for the registration. Default mesh-gateway.");
    flags->Custom(
        "address", false,
        [this](std::string_view v) -> Status {
          auto a = ParseServiceAddress(v);
          if (!a.ok()) return a.status();
          lan = *a;
          return Status::Ok();
        },
        "ip[:port]", "LAN address to advertise in the gateway service registration.");
    flags->Custom(
        "wan-address", false,
        [this](std::string_view v) -> Status {
          auto a = ParseServiceAddress(v);
          if (!a.ok()) return a.status();
          wan = *a;
          return Status::Ok();
        },
        "ip[:port]", "WAN address to advertise in the gateway service registration.");
    flags->Custom(
        "bind-address", false,
        [this](std::string_view v) -> Status {
          auto b = ParseBindAddress(v);
          if (!b.ok()) return b.status();
          binds[b->first] = b->second;
          return Status::Ok();
        },
        "name=ip:port",
        "Bind address to use instead of the default binding rules. This flag may be "
        "specified multiple times to add multiple bind addresses.");
    flags->String("deregister-after-critical", &deregister_after_critical, "duration",
                  "How long the gateway's health check may be critical before the service is "
                  "deregistered. Default 6h.");
    flags->Bool("expose-servers", &expose_servers,
                "Expose the servers for WAN federation via this mesh gateway.");
  }
};

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--") break;
    if (a == "-h" || a == "-help" || a == "--help") return true;
  }
  return false;
}

std::string Help(const char* text, const FlagSet& flags) {
  return std::string(text) + "\n\n" + flags.Usage();
}

int Fail(CommandEnvironment& env, const std::string& message) {
  *env.err << message << "\n";
  return 1;
}

Result<std::pair<std::string, int>> ParseAdminBind(const std::string& text) {
  auto a = ParseServiceAddress(text);
  bool has_port = !text.empty() && text.back() != ']' &&
                  (text.front() == '[' || std::count(text.begin(), text.end(), ':') == 1);
  if (!a.ok() || !has_port) {
    return InvalidArgument("Invalid -admin-bind \"" + text + "\": expected host:port");
  }
  std::string host = a->address;
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  return std::make_pair(host, a->port);
}

// The proxy's options from the common flags, once the proxy ID is known.
Result<ProcessOptions> BuildOptions(const RunFlags& flags, const apiclient::ApiClient& client,
                                    const std::string& proxy_id) {
  ProcessOptions o;
  o.agent = client.address();
  o.token = client.token();
  o.watch.tls = client.tls();
  o.watch.tls_server_name = client.tls_server_name();
  o.proxy_id = proxy_id;
  auto admin = ParseAdminBind(flags.admin_bind);
  if (!admin.ok()) return admin.status();
  o.runtime.admin_address = admin->first;
  o.runtime.admin_port = admin->second;
  if (flags.workers < 0 || flags.workers > 1024) {
    return InvalidArgument("Invalid -workers " + std::to_string(flags.workers) +
                           ": expected 1 to 1024");
  }
  // A sidecar rarely keeps more than a few threads busy; a big host's every core is too many.
  int hardware = static_cast<int>(std::thread::hardware_concurrency());
  o.runtime.workers =
      flags.workers > 0 ? static_cast<int>(flags.workers) : std::clamp(hardware, 1, 8);
  o.runtime.multiplex = flags.multiplex;
  auto drain = ParseDuration(flags.drain_timeout);
  if (!drain.ok() || drain->count() < 0) {
    return InvalidArgument("Invalid -drain-timeout \"" + flags.drain_timeout + "\"");
  }
  o.drain_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*drain);
  return o;
}

struct Parsed {
  Form form = Form::kConnectProxy;
  std::string kind;  // the gateway kind of the canonical form
  std::vector<std::string> flags;
  const char* help = kProxyHelp;
};

Parsed Split(const std::vector<std::string>& args) {
  Parsed p;
  if (args[0] == "connect" && args[1] == "proxy") {
    p.form = Form::kConnectProxy;
    p.flags.assign(args.begin() + 2, args.end());
    p.help = kProxyHelp;
  } else if (args[0] == "connect" && args[1] == "envoy") {
    p.form = Form::kConnectEnvoy;
    p.flags.assign(args.begin() + 2, args.end());
    p.help = kEnvoyHelp;
  } else {
    size_t at = args[0] == "connect" ? 2 : 1;
    p.form = Form::kGateway;
    p.help = kGatewayHelp;
    if (at < args.size() && (args[at].empty() || args[at][0] != '-')) p.kind = args[at++];
    p.flags.assign(args.begin() + static_cast<std::ptrdiff_t>(at), args.end());
  }
  return p;
}

}  // namespace

bool IsLocalInterfaceAddress(const std::string& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char host[NI_MAXHOST];
    socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (getnameinfo(i->ifa_addr, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    std::string text = host;
    // Link-local IPv6 addresses come back with their zone ("fe80::1%eth0").
    if (size_t pct = text.find('%'); pct != std::string::npos) text.resize(pct);
    found = text == address;
  }
  freeifaddrs(list);
  return found;
}

CommandEnvironment ProcessCommandEnvironment(std::ostream& out, std::ostream& err) {
  CommandEnvironment env;
  env.out = &out;
  env.err = &err;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.transport = http::Fetch;
  env.is_local = IsLocalInterfaceAddress;
  env.run_proxy = [](const ProcessOptions& options) {
    ProxyProcess process(options);
    return process.Run();
  };
  return env;
}

bool IsProxyCommand(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  if (args[0] == "gateway") return true;
  return args.size() >= 2 && args[0] == "connect" &&
         (args[1] == "proxy" || args[1] == "envoy" || args[1] == "gateway");
}

int RunProxyCommand(const std::vector<std::string>& args, CommandEnvironment& env) {
  if (!IsProxyCommand(args)) return Fail(env, "not a proxy command");
  Parsed p = Split(args);

  FlagSet flags;
  RunFlags run;
  GatewayFlags gw;
  std::string sidecar_for;
  std::string proxy_id;
  std::string gateway;
  bool mesh_gateway = false;
  switch (p.form) {
    case Form::kConnectProxy:
      flags.String("sidecar-for", &sidecar_for, "service-id",
                   "The ID of a service instance on the local agent that this proxy is the "
                   "sidecar for: a connect-proxy whose Proxy.DestinationServiceID is this value "
                   "must be registered. If more than one is, the command fails.");
      flags.String("proxy-id", &proxy_id, "id", "The proxy's service ID on the local agent.");
      break;
    case Form::kConnectEnvoy:
      flags.String("gateway", &gateway, "kind",
                   "The type of gateway to run. Gangway supports mesh so far.");
      flags.Bool("mesh-gateway", &mesh_gateway, "Deprecated: the same as -gateway=mesh.");
      flags.String("sidecar-for", &sidecar_for, "service-id",
                   "The ID of a service instance on the local agent that this proxy is the "
                   "sidecar for.");
      flags.String("proxy-id", &proxy_id, "id", "The proxy's service ID on the local agent.");
      gw.Register(&flags);
      break;
    case Form::kGateway:
      flags.String("proxy-id", &proxy_id, "id",
                   "The gateway's service ID on the local agent (without -register).");
      gw.Register(&flags);
      break;
  }
  run.Register(&flags);
  flags.SetGroup(FlagSet::Group::kHttp);
  run.http.Register(&flags, /*with_stale=*/false);

  if (WantsHelp(p.flags)) {
    *env.out << Help(p.help, flags) << "\n";
    return 0;
  }
  if (p.form == Form::kConnectEnvoy) *env.err << kEnvoyNote << "\n";
  if (p.form == Form::kGateway) {
    if (p.kind.empty()) {
      return Fail(env, "A gateway kind is required: gangway " +
                           std::string(args[0] == "connect" ? "connect " : "") +
                           "gateway mesh [options]");
    }
    gateway = p.kind;
  }
  if (Status s = flags.Parse(p.flags); !s.ok()) {
    return Fail(env, s.message() + "\n\n" + Help(p.help, flags));
  }
  if (!flags.Args().empty()) {
    return Fail(env, "Unexpected arguments: " + flags.Args().front() +
                         " (Gangway runs its own proxy: there is no Envoy to pass them to)");
  }
  LogLevel level;
  if (!ParseLogLevel(run.log_level, &level)) {
    return Fail(
        env, "Invalid -log-level \"" + run.log_level + "\": use trace, debug, info, warn or error");
  }
  SetLogLevel(level);

  // Consul's order of checks (command/connect/envoy).
  if (mesh_gateway && !gateway.empty()) {
    return Fail(env,
                "The mesh-gateway flag is deprecated and cannot be used alongside the gateway "
                "flag");
  }
  if (mesh_gateway) gateway = "mesh";
  if (gw.expose_servers) {
    if (gateway != "mesh") return Fail(env, "'-expose-servers' can only be used for mesh gateways");
    if (!gw.register_service) return Fail(env, "'-expose-servers' requires '-register'");
  }
  if (!gateway.empty() && gateway != "mesh") {
    if (gateway == "terminating" || gateway == "ingress" || gateway == "api") {
      return Fail(env, "Gangway supports only mesh gateways so far: \"" + gateway +
                           "\" gateways cannot run yet");
    }
    return Fail(env,
                "Gateway must be one of: terminating, mesh, or ingress (Gangway supports "
                "mesh so far)");
  }
  if (gw.service.empty()) gw.service = "mesh-gateway";
  if (!sidecar_for.empty() && !proxy_id.empty()) {
    return Fail(env, "Only one of -sidecar-for and -proxy-id may be given");
  }
  if (p.form == Form::kConnectProxy && sidecar_for.empty() && proxy_id.empty()) {
    return Fail(env,
                "One of -sidecar-for or -proxy-id must be specified so that the proxy can "
                "configure itself.");
  }
  if (gw.register_service && gateway.empty()) {
    return Fail(env, "Auto-Registration can only be used for gateways");
  }

  auto client = apiclient::ApiClient::Create(run.http, env.getenv, env.transport);
  if (!client.ok()) {
    return Fail(env, "Error connecting to Gangway agent: " + client.status().message());
  }

  if (proxy_id.empty()) {
    if (!sidecar_for.empty()) {
      auto services = client->GetJson("/v1/agent/services");
      if (!services.ok()) {
        return Fail(env, "Failed looking up sidecar proxy info for " + sidecar_for + ": " +
                             services.status().message());
      }
      auto id = FindSidecarProxy(*services, sidecar_for);
      if (!id.ok()) return Fail(env, id.status().message());
      proxy_id = *id;
    } else if (!gateway.empty() && !gw.register_service) {
      auto services = client->GetJson("/v1/agent/services");
      if (!services.ok()) {
        return Fail(env, "Failed looking up mesh-gateway services: " + services.status().message());
      }
      // Filter by name only when one was asked for: Consul's command takes the one there is.
      auto id = FindMeshGateway(*services, flags.IsSet("service") ? gw.service : "");
      if (!id.ok()) return Fail(env, id.status().message());
      proxy_id = *id;
    } else if (!gateway.empty()) {
      proxy_id = gw.service;
    }
  }
  if (proxy_id.empty()) {
    return Fail(env,
                "No proxy ID specified. One of -proxy-id, -sidecar-for, or -gateway is "
                "required");
  }

  // Check the flags that need no agent before registering anything.
  auto options = BuildOptions(run, *client, proxy_id);
  if (!options.ok()) return Fail(env, options.status().message());

  if (gw.register_service) {
    GatewayRegistration reg;
    reg.service = gw.service;
    reg.id = proxy_id;
    reg.lan = gw.lan;
    reg.wan = gw.wan;
    reg.bind_addresses = gw.binds;
    reg.deregister_after_critical = gw.deregister_after_critical;
    reg.expose_servers = gw.expose_servers;
    auto body = MeshGatewayRegistrationBody(reg, env.is_local);
    if (!body.ok()) return Fail(env, body.status().message());
    auto put = client->Put("/v1/agent/service/register", {}, body->dump());
    if (!put.ok()) {
      return Fail(env,
                  "Error registering service \"" + gw.service + "\": " + put.status().message());
    }
    *env.out << "Registered service: " << gw.service << "\n" << std::flush;
  }
  return env.run_proxy(*options);
}

}  // namespace gangway::proxyd
