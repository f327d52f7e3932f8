// Wiring of Connect into the agent: the CA manager's, the leaf cache's and config entry
// replication's requests go through
// this agent's own HTTP API handler, which answers them locally or forwards them to the right
// server (our datacenter's, or the primary's with ?dc=). Loop thread only.
#pragma once

#include <string>

#include "client/leaf_cache.h"
#include "http/message.h"
#include "server/acl.h"
#include "server/config_entries.h"
#include "server/connect_ca.h"

namespace gangway::agent {

// `*api` must be set before the first request is made (the handler is built after the roles).
// `datacenters`: the other datacenters known over the WAN.
server::ConnectCAHooks ConnectCAHooksVia(http::Handler* const* api, std::string primary_dc,
                                         std::function<std::vector<std::string>()> datacenters);
client::LeafCacheHooks LeafCacheHooksVia(http::Handler* const* api);
// Config entry replication: a blocking read of the primary datacenter's entries of every kind.
server::ConfigEntriesHooks ConfigEntriesHooksVia(http::Handler* const* api, std::string primary_dc);

// A secondary's ACL replication through the agent's own API: the primary's objects of one kind
// (GET /v1/internal/acl/replicate?dc=<primary>), with the agent's (replication) token.
server::AclReplicationHooks AclReplicationHooksVia(http::Handler* const* api,
                                                   std::string primary_dc);

}  // namespace gangway::agent
