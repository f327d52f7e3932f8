// The SNI and SPIFFE names proxycfg writes into configs (consul-behaviour.md §1.4, §2.1). Private
// to proxycfg until the identity module is on main; pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace gangway::proxycfg::internal {

// A discovery target's SNI and cluster name: `<svc>.default.<dc>.internal.<td>`.
inline std::string TargetSni(std::string_view service, std::string_view dc,
                             std::string_view trust_domain) {
  std::string out;
  out.append(service).append(".default.").append(dc).append(".internal.").append(trust_domain);
  return out;
}

// A gateway's whole-datacenter cluster name: `<dc>.internal.<td>`.
inline std::string DatacenterSni(std::string_view dc, std::string_view trust_domain) {
  std::string out;
  out.append(dc).append(".internal.").append(trust_domain);
  return out;
}

// A service's URI SAN: `spiffe://<td>/ns/default/dc/<dc>/svc/<svc>`.
inline std::string ServiceSpiffeId(std::string_view service, std::string_view dc,
                                   std::string_view trust_domain) {
  std::string out = "spiffe://";
  out.append(trust_domain).append("/ns/default/dc/").append(dc).append("/svc/").append(service);
  return out;
}

}  // namespace gangway::proxycfg::internal
