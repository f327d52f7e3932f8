// The name grammar of Consul's DNS interface (reference: consul-api-more.md §4.2): what a
// question name asks for. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

#include "dns/config.h"

namespace gangway::dns {

struct Lookup {
  enum class Kind {
    kOutside,  // not under domain or alt_domain: recursors, or REFUSED
    kDomain,   // the domain itself (SOA/NS; NXDOMAIN for other types)
    kInvalid,  // under the domain but not a valid name: NXDOMAIN
    kService,  // [<tag>.]<service>.service, _<service>._<tag>[.service]
    kConnect,  // <service>.connect
    kIngress,  // <service>.ingress
    kNode,     // <node>.node
    kAddr,     // <hex>.addr
    kQuery,    // <query>.query
    kPtr,      // <reversed ip>.in-addr.arpa / .ip6.arpa
  };
  Kind kind = Kind::kOutside;
  std::string name;    // the question name, lower case, fully qualified
  std::string domain;  // the domain the question used ("consul."); the primary one for PTR
  std::string service; // service, node, query name or address hex
  std::string tag;     // "" = no tag filter
  std::string dc;      // "" = the agent's datacenter
  std::string address; // kPtr: the address asked about ("10.0.0.1", "::1")
};

// Parses a question name (any case, with or without the trailing dot). srv_question: the
// question type is SRV, where the RFC 2782 form may leave out the "service" label.
Lookup ParseName(std::string_view qname, const Config& cfg, bool srv_question);

// "0a000001" for 10.0.0.1, 32 hex digits for an IPv6 address; "" when not an IP literal.
std::string AddrLabel(const std::string& ip);

// The IP an <hex>.addr label names ("" when it is neither 8 nor 32 hex digits).
std::string DecodeAddrLabel(std::string_view hex);

}  // namespace gangway::dns
