// TLS SNI names of the mesh as Consul builds them (agent/connect/sni.go): sidecars dial upstreams
// with them and mesh gateways route on them without terminating TLS. Builders and a parser for
// names read off the network (a ClientHello). Pure functions over values; any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::identity {

// The forms, as docs/connect-ca.md lists them ("<td>" is the trust domain, "<ap>" a
// non-default admin partition):
enum class SniKind {
  kService,        // [<subset>.]<svc>.<ns>.<dc>.internal.<td>
                   // [<subset>.]<svc>.<ns>.<ap>.<dc>.internal-v1.<td>
  kDatacenter,     // <dc>.internal.<td>, <ap>.<dc>.internal-v1.<td>: a gateway's "whole DC"
  kPreparedQuery,  // <query>.default.<dc>.query.<td>
  kPeeredService,  // <svc>.<ns>.<ap>.<peer>.external.<td>
  kServer,         // server.<dc>.<domain>, <node>.server.<dc>.<domain>: WAN federation
};

// One SNI name split into its parts. Fields a kind does not use stay empty.
struct SniName {
  SniKind kind = SniKind::kService;
  std::string service;     // kService, kPeeredService; the query name for kPreparedQuery
  std::string subset;      // kService: a service-resolver subset, "" for none
  std::string ns;          // kService, kPeeredService
  std::string partition;   // kService, kDatacenter, kPeeredService: "" for the default partition
  std::string datacenter;  // every kind but kPeeredService
  std::string peer;        // kPeeredService
  std::string node;        // kServer: one server's name, "" for any server of the datacenter
  std::string domain;      // the trust domain; for kServer the DNS domain ("consul")

  // The name these parts make; ParseSni(Name()) gives back the same parts.
  std::string Name() const;
  bool operator==(const SniName&) const = default;
};

// An empty `ns` means "default" and an empty or "default" `partition` the default partition,
// as in Consul. The builders do not validate: they join what they are given.
std::string ServiceSni(std::string_view service, std::string_view subset, std::string_view ns,
                       std::string_view datacenter, std::string_view trust_domain,
                       std::string_view partition = "");
std::string DatacenterSni(std::string_view datacenter, std::string_view trust_domain,
                          std::string_view partition = "");
std::string PreparedQuerySni(std::string_view query, std::string_view datacenter,
                             std::string_view trust_domain);
std::string PeeredServiceSni(std::string_view service, std::string_view ns,
                             std::string_view partition, std::string_view peer,
                             std::string_view trust_domain);
// Uses the DNS domain, not the trust domain (Consul's server SNI).
std::string ServerSni(std::string_view datacenter, std::string_view dns_domain,
                      std::string_view node = "");

// Splits an SNI name taken from the network. The kind is chosen by the last "internal",
// "internal-v1", "query" or "external" label that has a trust domain after it; a name with none
// of these is a server name. A trust domain may therefore not hold one of those four labels,
// which "<cluster-id>.consul" never does. Labels must be 1-63 bytes of letters, digits, '-' or
// '_', the whole name at most 253 bytes. Errors read "SNI \"<name>\": <reason>", the name
// escaped and shortened so that it is safe to log.
Result<SniName> ParseSni(std::string_view sni);

}  // namespace gangway::identity
