// gangway: one binary, several roles. "agent" runs the agent; the proxy commands ("connect
// proxy", "connect envoy", "connect gateway", "gateway") run the proxy process; every other
// command is the CLI, which talks to an agent over its HTTP API.
#include <iostream>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "cli/cli.h"
#include "proxyd/command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "agent") {
    return gangway::agent::RunAgent({args.begin() + 1, args.end()});
  }
  if (gangway::proxyd::IsProxyCommand(args)) {
    auto env = gangway::proxyd::ProcessCommandEnvironment(std::cout, std::cerr);
    return gangway::proxyd::RunProxyCommand(args, env);
  }
  return gangway::cli::Run(args, std::cout, std::cerr);
}
