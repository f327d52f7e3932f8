#include "dns/config.h"

#include <algorithm>

namespace gangway::dns {

uint32_t ServiceTtl(const Config& cfg, const std::string& service) {
  auto seconds = [](std::chrono::nanoseconds d) {
    return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  if (auto it = cfg.service_ttl.find(service); it != cfg.service_ttl.end()) return seconds(it->second);
  size_t best = 0;
  const std::chrono::nanoseconds* found = nullptr;
  for (const auto& [key, ttl] : cfg.service_ttl) {
    if (key.empty() || key.back() != '*') continue;
    std::string_view prefix(key.data(), key.size() - 1);
    if (service.compare(0, prefix.size(), prefix) != 0) continue;
    if (found == nullptr || prefix.size() > best) {
      best = prefix.size();
      found = &ttl;
    }
  }
  return found ? seconds(*found) : 0;
}

std::string CanonicalDomain(const std::string& domain) {
  std::string d = domain;
  std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!d.empty() && d.front() == '.') d.erase(d.begin());
  while (d.size() > 1 && d.back() == '.' && d[d.size() - 2] == '.') d.pop_back();
  if (d.empty() || d.back() != '.') d += '.';
  return d;
}

}  // namespace gangway::dns
