#include "identity/sni.h"

#include <cctype>
#include <initializer_list>
#include <vector>

#include "core/strings.h"

namespace gangway::identity {
namespace {

constexpr std::string_view kInternal = "internal";
constexpr std::string_view kInternalV1 = "internal-v1";
constexpr std::string_view kQuery = "query";
constexpr std::string_view kExternal = "external";
constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxQuoted = 80;  // bytes of a bad name repeated in its error

bool IsDefaultPartition(std::string_view p) { return p.empty() || p == "default"; }

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '.';
    out += p;
  }
  return out;
}

// The name as an error may repeat it: printable ASCII only, and not too long for a log line.
std::string Quote(std::string_view sni) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : sni.substr(0, kMaxQuoted)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (sni.size() > kMaxQuoted) out += "...";
  return out + "\"";
}

Status Malformed(std::string_view sni, std::string_view reason) {
  return InvalidArgument("SNI " + Quote(sni) + ": " + std::string(reason));
}

bool IsLabelChar(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; }

Result<std::vector<std::string>> Labels(std::string_view sni) {
  if (sni.empty()) return Malformed(sni, "empty name");
  if (sni.size() > kMaxName) return Malformed(sni, "longer than 253 bytes");
  std::vector<std::string> labels = Split(sni, '.');
  for (const std::string& l : labels) {
    if (l.empty()) return Malformed(sni, "empty label");
    if (l.size() > kMaxLabel) return Malformed(sni, "label longer than 63 bytes");
    for (unsigned char c : l) {
      if (!IsLabelChar(c)) {
        return Malformed(sni, "labels may hold only letters, digits, '-' and '_'");
      }
    }
  }
  return labels;
}

bool IsMarker(std::string_view label) {
  return label == kInternal || label == kInternalV1 || label == kQuery || label == kExternal;
}

std::string JoinFrom(const std::vector<std::string>& labels, size_t from) {
  std::string out;
  for (size_t i = from; i < labels.size(); ++i) {
    if (i > from) out += '.';
    out += labels[i];
  }
  return out;
}

Status WrongCount(std::string_view sni, std::string_view marker, std::string_view want,
                  size_t got) {
  return Malformed(sni, "expected " + std::string(want) + " labels before \"" +
                            std::string(marker) + "\", found " + std::to_string(got));
}

// `p` holds the labels before the marker, already counted by the caller.
SniName InternalName(const std::vector<std::string>& p, bool with_partition) {
  SniName n;
  size_t i = 0;
  const size_t services = with_partition ? 4 : 3;  // labels of a service name without subset
  if (p.size() == (with_partition ? 2u : 1u)) {
    n.kind = SniKind::kDatacenter;
  } else {
    n.kind = SniKind::kService;
    if (p.size() > services) n.subset = p[i++];
    n.service = p[i++];
    n.ns = p[i++];
  }
  if (with_partition) {
    n.partition = p[i++];
    if (n.partition == "default") n.partition.clear();
  }
  n.datacenter = p[i];
  return n;
}

Result<SniName> MeshName(std::string_view sni, const std::vector<std::string>& labels,
                         size_t marker) {
  const std::vector<std::string> p(labels.begin(), labels.begin() + marker);
  const std::string& kind = labels[marker];
  Result<SniName> name;
  if (kind == kInternal) {
    if (p.size() != 1 && p.size() != 3 && p.size() != 4) {
      return WrongCount(sni, kind, "1, 3 or 4", p.size());
    }
    name = InternalName(p, false);
  } else if (kind == kInternalV1) {
    if (p.size() != 2 && p.size() != 4 && p.size() != 5) {
      return WrongCount(sni, kind, "2, 4 or 5", p.size());
    }
    name = InternalName(p, true);
  } else if (kind == kQuery) {
    if (p.size() != 3) return WrongCount(sni, kind, "3", p.size());
    if (p[1] != "default") return Malformed(sni, "a query name has \"default\" as its 2nd label");
    name = SniName{.kind = SniKind::kPreparedQuery, .service = p[0], .datacenter = p[2]};
  } else {
    if (p.size() != 4) return WrongCount(sni, kind, "4", p.size());
    name = SniName{.kind = SniKind::kPeeredService,
                   .service = p[0],
                   .ns = p[1],
                   .partition = p[2] == "default" ? "" : p[2],
                   .peer = p[3]};
  }
  name->domain = JoinFrom(labels, marker + 1);
  return name;
}

Result<SniName> ServerName(std::string_view sni, const std::vector<std::string>& labels) {
  if (labels.size() >= 4 && labels[1] == "server") {
    return SniName{.kind = SniKind::kServer,
                   .datacenter = labels[2],
                   .node = labels[0],
                   .domain = JoinFrom(labels, 3)};
  }
  if (labels.size() >= 3 && labels[0] == "server") {
    return SniName{
        .kind = SniKind::kServer, .datacenter = labels[1], .domain = JoinFrom(labels, 2)};
  }
  return Malformed(sni,
                   "not a mesh name (no \"internal\", \"internal-v1\", \"query\" or \"external\" "
                   "label before a trust domain) nor a server name");
}

}  // namespace

std::string ServiceSni(std::string_view service, std::string_view subset, std::string_view ns,
                       std::string_view datacenter, std::string_view trust_domain,
                       std::string_view partition) {
  if (ns.empty()) ns = "default";
  std::string name = subset.empty() ? "" : std::string(subset) + ".";
  if (IsDefaultPartition(partition)) {
    return name + Join({service, ns, datacenter, kInternal, trust_domain});
  }
  return name + Join({service, ns, partition, datacenter, kInternalV1, trust_domain});
}

std::string DatacenterSni(std::string_view datacenter, std::string_view trust_domain,
                          std::string_view partition) {
  if (IsDefaultPartition(partition)) return Join({datacenter, kInternal, trust_domain});
  return Join({partition, datacenter, kInternalV1, trust_domain});
}

std::string PreparedQuerySni(std::string_view query, std::string_view datacenter,
                             std::string_view trust_domain) {
  return Join({query, "default", datacenter, kQuery, trust_domain});
}

std::string PeeredServiceSni(std::string_view service, std::string_view ns,
                             std::string_view partition, std::string_view peer,
                             std::string_view trust_domain) {
  if (ns.empty()) ns = "default";
  if (partition.empty()) partition = "default";
  return Join({service, ns, partition, peer, kExternal, trust_domain});
}

std::string ServerSni(std::string_view datacenter, std::string_view dns_domain,
                      std::string_view node) {
  if (node.empty()) return Join({"server", datacenter, dns_domain});
  return Join({node, "server", datacenter, dns_domain});
}

std::string SniName::Name() const {
  switch (kind) {
    case SniKind::kService:
      return ServiceSni(service, subset, ns, datacenter, domain, partition);
    case SniKind::kDatacenter:
      return DatacenterSni(datacenter, domain, partition);
    case SniKind::kPreparedQuery:
      return PreparedQuerySni(service, datacenter, domain);
    case SniKind::kPeeredService:
      return PeeredServiceSni(service, ns, partition, peer, domain);
    case SniKind::kServer:
      return ServerSni(datacenter, domain, node);
  }
  return "";
}

Result<SniName> ParseSni(std::string_view sni) {
  auto labels = Labels(sni);
  if (!labels.ok()) return labels.status();
  const std::vector<std::string>& l = *labels;
  for (size_t i = l.size() - 1; i-- > 0;) {
    if (IsMarker(l[i])) return MeshName(sni, l, i);
  }
  // A DNS domain may end in "internal" ("corp.internal"), so only now is that label an error.
  auto server = ServerName(sni, l);
  if (!server.ok() && IsMarker(l.back())) {
    return Malformed(sni, "no trust domain after \"" + l.back() + "\"");
  }
  return server;
}

}  // namespace gangway::identity
