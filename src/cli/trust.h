// What "gangway status" says about Connect trust across datacenters: whether each datacenter the
// agent can reach shares this datacenter's CA, and how to fix it when one bootstrapped its own
// (scenario S6). Pure; any thread.
#pragma once

#include <string>
#include <vector>

#include "cli/api_client.h"
#include "core/status.h"

namespace gangway::cli {

// One datacenter's Connect CA as GET /v1/connect/ca/roots?dc=<dc> answered it.
struct DatacenterCA {
  std::string datacenter;
  std::string trust_domain;           // "" when unknown
  std::vector<std::string> root_ids;  // Roots[].ID
  std::string error;                  // why the roots could not be read; "" when they were
  bool connect_disabled = false;      // the answer was "Connect must be enabled ..."
};

// Reads the roots answer (or its failure) of `datacenter`.
DatacenterCA ReadDatacenterCA(const std::string& datacenter, const Result<Json>& roots);

// The "Connect trust: ..." lines, without newlines: one line naming the datacenters that share
// `local`'s trust domain, one per datacenter that does not (with the error proxies log and the
// fix, `primary` being the primary datacenter this agent is configured with), one per datacenter
// whose roots could not be read. None when `local`'s trust domain is unknown or there is no
// other datacenter; one saying why when `local`'s roots could not be read (and Connect is on).
std::vector<std::string> ConnectTrustLines(const DatacenterCA& local,
                                           const std::vector<DatacenterCA>& others,
                                           const std::string& primary);

}  // namespace gangway::cli
