#include "proxyd/registration.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/strings.h"

namespace gangway::proxyd {

namespace {

Result<int> ParsePort(std::string_view port, std::string_view whole) {
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(c); });
  int value = digits ? std::stoi(std::string(port)) : -1;
  if (value < 0 || value > 65535) {
    return InvalidArgument("invalid port \"" + std::string(port) + "\" in \"" + std::string(whole) +
                           "\"");
  }
  return value;
}

}  // namespace

Result<ServiceAddress> ParseServiceAddress(std::string_view text) {
  ServiceAddress out;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("missing ']' in address \"" + std::string(text) + "\"");
    }
    out.address = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':') {
      return InvalidArgument("unexpected \"" + std::string(rest) + "\" after address \"" +
                             std::string(text) + "\"");
    }
    auto port = ParsePort(rest.substr(1), text);
    if (!port.ok()) return port.status();
    out.port = *port;
    return out;
  }
  size_t colon = text.rfind(':');
  // No colon: an address alone. More than one: a bare IPv6 address, also without a port.
  if (colon == std::string_view::npos || text.find(':') != colon) {
    out.address = std::string(text);
    return out;
  }
  out.address = std::string(text.substr(0, colon));
  auto port = ParsePort(text.substr(colon + 1), text);
  if (!port.ok()) return port.status();
  out.port = *port;
  return out;
}

Result<std::pair<std::string, ServiceAddress>> ParseBindAddress(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return InvalidArgument("bad bind address \"" + std::string(text) +
                           "\": expected <name>=<ip>:<port>");
  }
  std::string_view addr = text.substr(eq + 1);
  bool has_port = !addr.empty() && addr.back() != ']' &&
                  (addr.front() == '[' || std::count(addr.begin(), addr.end(), ':') == 1);
  if (!has_port) {
    return InvalidArgument("bad bind address \"" + std::string(text) +
                           "\": expected <name>=<ip>:<port>");
  }
  auto parsed = ParseServiceAddress(addr);
  if (!parsed.ok()) return parsed.status();
  return std::make_pair(std::string(text.substr(0, eq)), *parsed);
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Json> MeshGatewayRegistrationBody(const GatewayRegistration& r,
                                         const IsLocalAddress& is_local) {
  ServiceAddress lan = r.lan.value_or(ServiceAddress{});
  ServiceAddress wan = r.wan.value_or(ServiceAddress{});
  auto address_json = [](const ServiceAddress& a) {
    return Json{{"Address", a.address}, {"Port", a.port}};
  };
  auto bindable = [&](const ServiceAddress& a) {
    return !a.address.empty() && is_local(a.address);
  };

  Json body = {{"Kind", "mesh-gateway"},
               {"Name", r.service},
               {"ID", r.id.empty() ? r.service : r.id},
               {"Address", lan.address},
               {"Port", lan.port}};
  Json tagged = Json::object();
  if (!lan.address.empty()) tagged["lan"] = address_json(lan);
  if (!wan.address.empty()) tagged["wan"] = address_json(wan);
  if (!tagged.empty()) body["TaggedAddresses"] = tagged;
  if (r.expose_servers) body["Meta"] = {{"consul-wan-federation", "1"}};

  if (!r.bind_addresses.empty()) {
    Json binds = Json::object();
    for (const auto& [name, a] : r.bind_addresses) binds[name] = address_json(a);
    body["Proxy"] = {
        {"Config",
         {{"envoy_gateway_no_default_bind", true}, {"envoy_gateway_bind_addresses", binds}}}};
  } else if (bindable(lan) && bindable(wan)) {
    body["Proxy"] = {
        {"Config",
         {{"envoy_gateway_no_default_bind", true}, {"envoy_gateway_bind_tagged_addresses", true}}}};
  } else if (!lan.address.empty() && !bindable(lan)) {
    return InvalidArgument("The LAN address \"" + lan.address +
                           "\" will not be bindable. Either set a bindable address or override "
                           "the bind addresses with -bind-address");
  }

  body["Check"] = {
      {"Name", "mesh-gateway listening"},
      {"TCP", JoinHostPort(lan.address.empty() ? "127.0.0.1" : lan.address, lan.port)},
      {"Interval", "10s"},
      {"DeregisterCriticalServiceAfter", r.deregister_after_critical},
  };
  return body;
}

Result<std::string> FindSidecarProxy(const Json& services, std::string_view sidecar_for) {
  std::vector<std::string> ids;
  if (services.is_object()) {
    for (const auto& [key, svc] : services.items()) {
      if (apiclient::JsonString(svc, "Kind") != "connect-proxy") continue;
      const Json& proxy = apiclient::JsonObject(svc, "Proxy");
      if (ToLower(apiclient::JsonString(proxy, "DestinationServiceID")) != ToLower(sidecar_for)) {
        continue;
      }
      std::string id = apiclient::JsonString(svc, "ID");
      ids.push_back(id.empty() ? key : id);
    }
  }
  if (ids.empty()) return NotFound("No sidecar proxy registered for " + std::string(sidecar_for));
  if (ids.size() > 1) {
    std::sort(ids.begin(), ids.end());
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
    return InvalidArgument(
        "More than one sidecar proxy registered for " + std::string(sidecar_for) +
        ".\n    Start proxy with -proxy-id and one of the following IDs: " + list);
  }
  return ids.front();
}

Result<std::string> FindMeshGateway(const Json& services, std::string_view service) {
  std::vector<std::string> ids;
  if (services.is_object()) {
    for (const auto& [key, svc] : services.items()) {
      if (apiclient::JsonString(svc, "Kind") != "mesh-gateway") continue;
      if (!service.empty() && apiclient::JsonString(svc, "Service") != service) continue;
      std::string id = apiclient::JsonString(svc, "ID");
      ids.push_back(id.empty() ? key : id);
    }
  }
  if (ids.empty()) {
    if (service.empty()) return NotFound("No mesh-gateway services registered with this agent");
    return NotFound("No mesh-gateway service named \"" + std::string(service) +
                    "\" registered with this agent");
  }
  if (ids.size() > 1) {
    return InvalidArgument(
        "Cannot lookup the mesh-gateway's proxy ID because multiple are registered with the "
        "agent");
  }
  return ids.front();
}

}  // namespace gangway::proxyd
