// The config-entry checks the servers run on every write: meshcfg's strict decoding (unknown
// keys named with the nearest valid one), Consul's normalization and per-entry validation, with
// Consul's texts. Pure; any thread.
#pragma once

#include "server/config_entries.h"

namespace gangway::server {

ConfigEntryChecks MeshcfgConfigEntryChecks();

}  // namespace gangway::server
