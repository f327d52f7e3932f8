// The composition root: builds the roles from a Config, starts the listeners and runs the
// control-plane loop until interrupted or asked to leave.
#pragma once

#include <string>
#include <vector>

namespace gangway::agent {

// `gangway agent ...`: returns the process exit code.
int RunAgent(const std::vector<std::string>& args);

}  // namespace gangway::agent
