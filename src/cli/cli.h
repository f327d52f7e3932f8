// The gangway command-line interface: every command except "agent" (which tools/main.cc hands to
// the agent). Commands talk to the local agent only through its HTTP API. Run is called once per
// process from the main thread.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gangway::cli {

// Runs the command named by args[0] (args exclude the program name), printing results to `out`
// and messages to `err`. Returns the process exit code, as Consul's CLI does: 0 success, 1 error,
// 2 for "nothing matched" answers (members -status), 127 for an unknown command.
int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gangway::cli
