#include "identity/spiffe.h"

#include <cctype>
#include <vector>

#include "core/strings.h"

namespace gangway::identity {
namespace {

std::string Escape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Truncate(std::string_view s, size_t n) { return std::string(s.substr(0, n)); }

// Lower case, only the characters a DNS label may hold (Consul's invalidDNSNameChars).
std::string DnsSafe(std::string_view s) {
  std::string out;
  for (char c : ToLower(s)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') out += c;
  }
  return out;
}

Status NotExpected(std::string_view uri) {
  return InvalidArgument("SPIFFE ID is not in the expected format: " + std::string(uri));
}

}  // namespace

std::string SpiffeId::Uri() const {
  std::string uri = "spiffe://" + host;
  const bool named_partition = !partition.empty() && partition != "default";
  switch (kind) {
    case SpiffeKind::kSigning:
      break;
    case SpiffeKind::kService:
      if (named_partition) uri += "/ap/" + Escape(partition);
      uri += "/ns/" + Escape(ns) + "/dc/" + Escape(datacenter) + "/svc/" + Escape(service);
      break;
    case SpiffeKind::kAgent:
      uri += "/agent/client/dc/" + Escape(datacenter) + "/id/" + Escape(agent);
      break;
    case SpiffeKind::kServer:
      uri += "/agent/server/dc/" + Escape(datacenter);
      break;
    case SpiffeKind::kMeshGateway:
      if (named_partition) uri += "/ap/" + Escape(partition);
      uri += "/gateway/mesh/dc/" + Escape(datacenter);
      break;
  }
  return uri;
}

SpiffeId SigningId(std::string_view td) {
  return {.kind = SpiffeKind::kSigning, .host = std::string(td)};
}

SpiffeId ServiceId(std::string_view td, std::string_view ns, std::string_view dc,
                   std::string_view service, std::string_view partition) {
  return {.kind = SpiffeKind::kService,
          .host = std::string(td),
          .partition = std::string(partition),
          .ns = std::string(ns),
          .datacenter = std::string(dc),
          .service = std::string(service)};
}

SpiffeId AgentId(std::string_view td, std::string_view dc, std::string_view node) {
  return {.kind = SpiffeKind::kAgent,
          .host = std::string(td),
          .datacenter = std::string(dc),
          .agent = std::string(node)};
}

SpiffeId ServerId(std::string_view td, std::string_view dc) {
  return {.kind = SpiffeKind::kServer, .host = std::string(td), .datacenter = std::string(dc)};
}

SpiffeId MeshGatewayId(std::string_view td, std::string_view dc, std::string_view partition) {
  return {.kind = SpiffeKind::kMeshGateway,
          .host = std::string(td),
          .partition = std::string(partition),
          .datacenter = std::string(dc)};
}

Result<SpiffeId> ParseSpiffeId(std::string_view uri) {
  constexpr std::string_view kScheme = "spiffe://";
  if (uri.size() < kScheme.size() || ToLower(uri.substr(0, kScheme.size())) != kScheme) {
    return InvalidArgument("SPIFFE ID must have 'spiffe' scheme");
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view host = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (host.empty() || host.find_first_of("?#@ ") != std::string_view::npos ||
      path.find_first_of("?#") != std::string_view::npos) {
    return NotExpected(uri);
  }
  SpiffeId id{.host = std::string(host)};
  if (path.empty() || path == "/") return id;  // the signing ID

  std::vector<std::string> seg = Split(path.substr(1), '/');
  for (auto& s : seg) {
    if (s.empty()) return NotExpected(uri);
    s = UrlDecode(s);
    if (s.empty() || s.find('/') != std::string::npos) return NotExpected(uri);
  }
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "ap") {
    id.partition = seg[1];
    i = 2;
  }
  const size_t n = seg.size() - i;
  auto at = [&](size_t k) -> const std::string& { return seg[i + k]; };
  if (n == 6 && at(0) == "ns" && at(2) == "dc" && at(4) == "svc") {
    id.kind = SpiffeKind::kService;
    id.ns = at(1);
    id.datacenter = at(3);
    id.service = at(5);
    return id;
  }
  if (n == 4 && at(0) == "gateway" && at(1) == "mesh" && at(2) == "dc") {
    id.kind = SpiffeKind::kMeshGateway;
    id.datacenter = at(3);
    return id;
  }
  if (n == 6 && at(0) == "agent" && at(1) == "client" && at(2) == "dc" && at(4) == "id") {
    id.kind = SpiffeKind::kAgent;
    id.datacenter = at(3);
    id.agent = at(5);
    return id;
  }
  if (i == 0 && n == 4 && at(0) == "agent" && at(1) == "server" && at(2) == "dc") {
    id.kind = SpiffeKind::kServer;
    id.datacenter = at(3);
    return id;
  }
  return NotExpected(uri);
}

bool CanSign(const SpiffeId& signing, const SpiffeId& id) {
  if (signing.kind != SpiffeKind::kSigning) return false;
  switch (id.kind) {
    case SpiffeKind::kSigning:
    case SpiffeKind::kService:
    case SpiffeKind::kServer:
    case SpiffeKind::kMeshGateway:
      return SameTrustDomain(signing.host, id.host);
    case SpiffeKind::kAgent:
      return false;  // agent IDs are re-homed into our trust domain instead (see SignLeaf)
  }
  return false;
}

std::string CommonNameFor(const SpiffeId& id) {
  const std::string td8 = Truncate(id.host, 8);
  switch (id.kind) {
    case SpiffeKind::kSigning:
      return "ca." + td8 + ".consul";
    case SpiffeKind::kService: {
      // Consul keeps the whole name within 64 characters: 21 for ".svc." + td8 + ".consul",
      // the rest shared between service and namespace.
      std::string svc = DnsSafe(id.service);
      std::string ns = DnsSafe(id.ns);
      if (svc.size() + ns.size() > 43) {
        ns = Truncate(ns, std::max<size_t>(43 - std::min<size_t>(svc.size(), 32), 0));
        svc = Truncate(svc, 43 - ns.size());
      }
      return svc + ".svc." + ns + "." + td8 + ".consul";
    }
    case SpiffeKind::kAgent:
      return Truncate(DnsSafe(id.agent), 43) + ".agnt." + td8 + ".consul";
    case SpiffeKind::kServer:
      return "server." + DnsSafe(id.datacenter) + "." + td8 + ".consul";
    case SpiffeKind::kMeshGateway:
      return "mesh-gateway." + DnsSafe(id.datacenter) + "." + td8 + ".consul";
  }
  return "";
}

}  // namespace gangway::identity
