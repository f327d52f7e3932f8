// Formatting of "gangway members" from the /v1/agent/members answer, as Consul prints it. Pure;
// any thread.
#pragma once

#include <string>

#include "cli/api_client.h"
#include "core/status.h"

namespace gangway::cli {

// Serf's member status names: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
std::string MemberStatusName(int64_t status);

// The members table (no final newline): servers first, then by segment and name. Standard
// columns Node, Address, Status, Type, Build, Protocol, DC, Partition, Segment; `detailed` gives
// Node, Address, Status, Tags. Only members whose status name matches `status_regexp` (unanchored
// search) are listed; "" when none does. A bad regexp is an error.
Result<std::string> FormatMembers(const Json& members, bool detailed,
                                  const std::string& status_regexp);

}  // namespace gangway::cli
