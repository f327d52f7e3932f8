// The DNS interface's settings: Consul's top-level domain, alt_domain and recursors, and its
// dns_config block, with Consul's defaults. Plain values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/duration.h"

namespace gangway::dns {

struct SoaConfig {
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 86400;
  uint32_t min_ttl = 0;
};

struct Config {
  std::string domain = "consul.";  // always lower case and fully qualified
  std::string alt_domain;          // "" or lower case and fully qualified
  // "host:port" of upstream resolvers for names outside the domains (port 53 when not given).
  std::vector<std::string> recursors;
  std::chrono::nanoseconds recursor_timeout = std::chrono::seconds(2);
  bool recursor_random = false;  // recursor_strategy = "random"
  bool allow_stale = true;
  std::chrono::nanoseconds max_stale = std::chrono::hours(87600);
  std::chrono::nanoseconds node_ttl{0};
  // service name, or "prefix*", -> TTL (exact name first, then the longest matching prefix).
  std::map<std::string, std::chrono::nanoseconds> service_ttl;
  int udp_answer_limit = 3;
  int a_record_limit = 0;  // 0: unlimited
  bool enable_truncate = false;
  bool only_passing = false;
  bool disable_compression = false;
  bool enable_additional_node_meta_txt = true;
  SoaConfig soa;
};

// The TTL of a service's records under cfg.service_ttl, in seconds.
uint32_t ServiceTtl(const Config& cfg, const std::string& service);

// Normalises a configured domain: lower case with one trailing dot ("Consul" -> "consul.").
std::string CanonicalDomain(const std::string& domain);

}  // namespace gangway::dns
