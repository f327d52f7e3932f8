// gangway: one binary, several roles. "agent" runs the agent; every other command is the CLI,
// which talks to an agent over its HTTP API.
#include <iostream>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "agent") {
    return gangway::agent::RunAgent({args.begin() + 1, args.end()});
  }
  return gangway::cli::Run(args, std::cout, std::cerr);
}
