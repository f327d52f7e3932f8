// The proxy commands of the gangway binary, run by tools/main.cc before the CLI sees the
// arguments (as it runs "agent"): `connect proxy`, `connect envoy` (Consul's command, served by
// Gangway's own proxy), and the canonical `connect gateway mesh` / `gateway mesh`. Each resolves
// the proxy ID (and registers a gateway when asked), then runs a ProxyProcess. One command run per
// process; single-threaded until the proxy starts.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "apiclient/client.h"
#include "apiclient/config.h"
#include "proxyd/process.h"
#include "proxyd/registration.h"

namespace gangway::proxyd {

// What a command run talks to; ProcessCommandEnvironment() gives the real ones.
struct CommandEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  apiclient::GetEnv getenv;
  apiclient::Transport transport;  // for the lookups and the registration
  IsLocalAddress is_local;
  // Runs the proxy and returns the exit code (tests capture the options instead).
  std::function<int(const ProcessOptions&)> run_proxy;
};

CommandEnvironment ProcessCommandEnvironment(std::ostream& out, std::ostream& err);

// True when `args` (without the program name) name one of these commands.
bool IsProxyCommand(const std::vector<std::string>& args);

// Runs the command named by the leading words of `args`: 0 after a clean stop, 1 on bad flags or
// a failed lookup or registration (the message on err).
int RunProxyCommand(const std::vector<std::string>& args, CommandEnvironment& env);

// Whether `address` is an IP of one of this host's interfaces (getifaddrs).
bool IsLocalInterfaceAddress(const std::string& address);

}  // namespace gangway::proxyd
