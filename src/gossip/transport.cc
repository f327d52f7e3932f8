#include "gossip/transport.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace gangway::gossip {

namespace {
constexpr unsigned char kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

Result<Address> Address::FromIp(std::string_view ip, uint16_t port) {
  if (ip.size() == 16 && std::memcmp(ip.data(), kV4MappedPrefix, 12) == 0) ip.remove_prefix(12);
  if (ip.size() != 4 && ip.size() != 16) {
    return InvalidArgument("gossip: an IP address has 4 or 16 bytes, not " +
                           std::to_string(ip.size()));
  }
  return Address{std::string(ip), port};
}

Result<Address> Address::Parse(std::string_view text, uint16_t default_port) {
  std::string_view host = text;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("gossip: missing ']' in address \"" + std::string(text) + "\"");
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return InvalidArgument("gossip: bad address \"" + std::string(text) + "\"");
      }
      port_text = rest.substr(1);
      has_port = true;
    }
  } else if (const size_t colon = text.find(':');
             colon != std::string_view::npos &&
             text.find(':', colon + 1) == std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    has_port = true;
  }
  uint16_t port = default_port;
  if (has_port) {
    const auto* end = port_text.data() + port_text.size();
    auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
    if (ec != std::errc() || ptr != end || port == 0) {
      return InvalidArgument("gossip: bad port in address \"" + std::string(text) + "\"");
    }
  }
  const std::string h(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, h.c_str(), buf) == 1) {
    return Address{std::string(reinterpret_cast<char*>(buf), 4), port};
  }
  if (inet_pton(AF_INET6, h.c_str(), buf) == 1) {
    return FromIp(std::string_view(reinterpret_cast<char*>(buf), 16), port);
  }
  return InvalidArgument("gossip: \"" + h + "\" is not an IP address");
}

std::string Address::IpString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ip.size() == 4) {
    inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
  } else if (ip.size() == 16) {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  } else {
    return "<invalid ip>";
  }
  return buf;
}

std::string Address::ToString() const {
  if (ip.size() == 16) return "[" + IpString() + "]:" + std::to_string(port);
  return IpString() + ":" + std::to_string(port);
}

}  // namespace gangway::gossip
