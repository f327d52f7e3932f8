#include "dns/answer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "core/duration.h"

namespace gangway::dns {
namespace {

uint32_t Seconds(std::chrono::nanoseconds d) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

std::string LowerCopy(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool EqualFold(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The address record for `ip` if its family fits the question (A, AAAA, or ANY for both).
bool AddressRecord(const std::string& name, uint32_t ttl, const std::string& ip, uint16_t qtype,
                   Record* out) {
  std::array<uint8_t, 16> bytes{};
  int family = IpFamily(ip, &bytes);
  if (family == 0) return false;
  uint16_t type = family == 4 ? kA : kAAAA;
  if (qtype != kANY && qtype != type) return false;
  out->name = name;
  out->type = type;
  out->ttl = ttl;
  out->ip = bytes;
  return true;
}

Record NameRecord(const std::string& name, uint16_t type, uint32_t ttl, std::string target) {
  Record r;
  r.name = name;
  r.type = type;
  r.ttl = ttl;
  r.target = std::move(target);
  return r;
}

std::string Fqdn(std::string host) {
  if (host.empty() || host.back() != '.') host += '.';
  return host;
}

// Node meta as RFC 1464 TXT records ("rfc1035-" keys raw).
void MetaTxt(const std::string& owner, const catalog::Node& node, uint32_t ttl,
             std::vector<Record>* out) {
  for (const auto& [key, value] : node.meta) {
    Record r;
    r.name = owner;
    r.type = kTXT;
    r.ttl = ttl;
    r.txt.push_back(key.rfind("rfc1035-", 0) == 0 ? value : key + "=" + value);
    out->push_back(std::move(r));
  }
}

// "passing", "warning" or "critical" over every check of an instance (maintenance counts as
// critical, as Consul stores it).
std::string Aggregate(const std::vector<catalog::HealthCheck>& checks) {
  std::string status = catalog::kPassing;
  for (const auto& c : checks) {
    if (c.status == catalog::kCritical || c.status == catalog::kMaintenance) return catalog::kCritical;
    if (c.status == catalog::kWarning) status = catalog::kWarning;
  }
  return status;
}

bool IsSrvAdditionalFor(const Record& r, const std::set<std::string>& targets) {
  return targets.count(LowerCopy(r.name)) > 0;
}

}  // namespace

int IpFamily(const std::string& address, std::array<uint8_t, 16>* bytes) {
  std::array<uint8_t, 16> buf{};
  if (inet_pton(AF_INET, address.c_str(), buf.data()) == 1) {
    if (bytes) *bytes = buf;
    return 4;
  }
  if (inet_pton(AF_INET6, address.c_str(), buf.data()) == 1) {
    if (bytes) *bytes = buf;
    return 6;
  }
  return 0;
}

Message ReplyTo(const Message& query, const Lookup& l, const Config& cfg) {
  Message m;
  m.header.id = query.header.id;
  m.header.qr = true;
  m.header.opcode = query.header.opcode;
  m.header.rd = query.header.rd;
  m.header.ra = !cfg.recursors.empty();
  m.header.aa = l.kind != Lookup::Kind::kOutside;
  if (!query.questions.empty()) {
    Question q = query.questions.front();
    q.name = l.name;
    m.questions.push_back(std::move(q));
  }
  if (query.edns) {
    Edns e;
    e.udp_size = std::max<uint16_t>(query.edns->udp_size, 512);
    if (query.edns->subnet) {
      e.subnet = query.edns->subnet;
      e.subnet->scope_prefix = 0;
    }
    m.edns = e;
  }
  return m;
}

Record SoaRecord(const std::string& domain, const Config& cfg, uint32_t now_unix) {
  Record r;
  r.name = domain;
  r.type = kSOA;
  r.ttl = cfg.soa.min_ttl;
  r.soa.mname = "ns." + domain;
  r.soa.rname = "hostmaster." + domain;
  r.soa.serial = now_unix;
  r.soa.refresh = cfg.soa.refresh;
  r.soa.retry = cfg.soa.retry;
  r.soa.expire = cfg.soa.expire;
  r.soa.minimum = cfg.soa.min_ttl;
  return r;
}

void NameError(const std::string& domain, const Config& cfg, uint32_t now, Message* out) {
  out->header.rcode = kNXDomain;
  out->answer.clear();
  out->additional.clear();
  out->authority = {SoaRecord(domain, cfg, now)};
}

void NoData(const std::string& domain, const Config& cfg, uint32_t now, Message* out) {
  out->header.rcode = kNoError;
  out->answer.clear();
  out->additional.clear();
  out->authority = {SoaRecord(domain, cfg, now)};
}

void AnswerService(const Lookup& l, uint16_t qtype, const std::string& dc,
                   std::vector<catalog::CheckServiceNode> rows, const Config& cfg, uint32_t now,
                   std::mt19937& rng, Message* out) {
  std::erase_if(rows, [&](const catalog::CheckServiceNode& row) {
    if (!l.tag.empty() &&
        std::none_of(row.service.tags.begin(), row.service.tags.end(),
                     [&](const std::string& t) { return EqualFold(t, l.tag); })) {
      return true;
    }
    std::string status = Aggregate(row.checks);
    return status == catalog::kCritical || (cfg.only_passing && status == catalog::kWarning);
  });
  if (rows.empty()) return NameError(l.domain, cfg, now, out);
  std::shuffle(rows.begin(), rows.end(), rng);
  AnswerInstances(l, qtype, dc, rows, ServiceTtl(cfg, l.service), cfg, now, out);
}

void AnswerQuery(const Lookup& l, uint16_t qtype, const QueryAnswer& q, const Config& cfg,
                 uint32_t now, Message* out) {
  // The query chose, filtered and ordered its instances; an answer without any is a name error.
  if (q.nodes.empty()) return NameError(l.domain, cfg, now, out);
  uint32_t ttl = ServiceTtl(cfg, q.service);
  if (!q.ttl.empty()) {
    // Vetted when the query was written; an unreadable one falls back to the service's TTL.
    if (auto d = ParseDuration(q.ttl); d.ok() && d->count() >= 0) ttl = Seconds(*d);
  }
  // The answer depends on the client's subnet (a query near "_ip"): say so in its scope.
  if (out->edns && out->edns->subnet) out->edns->subnet->scope_prefix = out->edns->subnet->source_prefix;
  AnswerInstances(l, qtype, q.datacenter, q.nodes, ttl, cfg, now, out);
}

void AnswerInstances(const Lookup& l, uint16_t qtype, const std::string& dc,
                     const std::vector<catalog::CheckServiceNode>& rows, uint32_t ttl,
                     const Config& cfg, uint32_t now, Message* out) {
  const std::string& qname = l.name;
  uint32_t node_ttl = Seconds(cfg.node_ttl);

  if (qtype == kA || qtype == kAAAA || qtype == kANY) {
    std::set<std::string> seen;
    for (const auto& row : rows) {
      const std::string& addr = row.service.address.empty() ? row.node.address : row.service.address;
      if (!seen.insert(LowerCopy(addr)).second) continue;
      Record r;
      if (AddressRecord(qname, ttl, addr, qtype, &r)) {
        out->answer.push_back(std::move(r));
      } else if (IpFamily(addr) == 0 && !addr.empty()) {
        out->answer.push_back(NameRecord(qname, kCNAME, ttl, Fqdn(addr)));
      }
    }
    if (out->answer.empty()) NoData(l.domain, cfg, now, out);
    return;
  }
  if (qtype != kSRV) return NoData(l.domain, cfg, now, out);

  std::set<std::string> seen;
  std::set<std::string> extra_names;
  for (const auto& row : rows) {
    const std::string& node_addr = row.node.address;
    const std::string& svc_addr = row.service.address;
    std::string key = row.node.node + "\n" + (svc_addr.empty() ? node_addr : svc_addr) + "\n" +
                      std::to_string(row.service.port);
    if (!seen.insert(key).second) continue;
    Record srv;
    srv.name = qname;
    srv.type = kSRV;
    srv.ttl = ttl;
    srv.srv.priority = 1;
    srv.srv.weight = static_cast<uint16_t>(std::clamp(
        Aggregate(row.checks) == catalog::kWarning ? row.service.weights.warning
                                                   : row.service.weights.passing,
        0, 65535));
    srv.srv.port = static_cast<uint16_t>(row.service.port);
    std::vector<Record> extra;
    if (svc_addr.empty() || svc_addr == node_addr) {
      srv.srv.target = LowerCopy(row.node.node) + ".node." + dc + "." + l.domain;
      Record a;
      if (AddressRecord(srv.srv.target, node_ttl, node_addr, kANY, &a)) {
        extra.push_back(std::move(a));
      } else if (!node_addr.empty()) {
        extra.push_back(NameRecord(srv.srv.target, kCNAME, node_ttl, Fqdn(node_addr)));
      }
      if (cfg.enable_additional_node_meta_txt) MetaTxt(srv.srv.target, row.node, node_ttl, &extra);
    } else if (IpFamily(svc_addr) != 0) {
      srv.srv.target = AddrLabel(svc_addr) + ".addr." + dc + "." + l.domain;
      Record a;
      AddressRecord(srv.srv.target, node_ttl, svc_addr, kANY, &a);
      extra.push_back(std::move(a));
    } else {
      srv.srv.target = Fqdn(svc_addr);
    }
    if (extra_names.insert(srv.srv.target).second) {
      for (auto& r : extra) out->additional.push_back(std::move(r));
    }
    out->answer.push_back(std::move(srv));
  }
}

void AnswerNode(const Lookup& l, uint16_t qtype, const std::string& dc,
                const std::optional<catalog::Node>& node, const Config& cfg, uint32_t now,
                Message* out) {
  (void)dc;
  if (!node) return NameError(l.domain, cfg, now, out);
  uint32_t ttl = Seconds(cfg.node_ttl);
  if (qtype == kA || qtype == kAAAA || qtype == kANY) {
    Record r;
    if (AddressRecord(l.name, ttl, node->address, qtype, &r)) {
      out->answer.push_back(std::move(r));
    } else if (IpFamily(node->address) == 0 && !node->address.empty()) {
      out->answer.push_back(NameRecord(l.name, kCNAME, ttl, Fqdn(node->address)));
    }
  }
  if (qtype == kTXT || qtype == kANY) MetaTxt(l.name, *node, ttl, &out->answer);
  if (out->answer.empty()) NoData(l.domain, cfg, now, out);
}

void AnswerAddr(const Lookup& l, uint16_t qtype, const Config& cfg, uint32_t now, Message* out) {
  Record r;
  if (AddressRecord(l.name, Seconds(cfg.node_ttl), l.address, qtype, &r)) {
    out->answer.push_back(std::move(r));
  } else {
    NoData(l.domain, cfg, now, out);
  }
}

void AnswerPtr(const Lookup& l, uint16_t qtype, const std::string& dc,
               const std::vector<catalog::Node>& nodes,
               const std::vector<catalog::ServiceNode>& services, const Config& cfg, uint32_t now,
               Message* out) {
  std::array<uint8_t, 16> want{};
  int family = IpFamily(l.address, &want);
  auto same = [&](const std::string& a) {
    std::array<uint8_t, 16> got{};
    return IpFamily(a, &got) == family && got == want;
  };
  std::vector<std::string> targets;
  for (const auto& n : nodes) {
    if (same(n.address)) targets.push_back(LowerCopy(n.node) + ".node." + dc + "." + l.domain);
  }
  if (targets.empty()) {
    std::set<std::string> names;
    for (const auto& s : services) {
      if (same(s.service.address) && names.insert(s.service.service).second) {
        targets.push_back(LowerCopy(s.service.service) + ".service." + dc + "." + l.domain);
      }
    }
  }
  if (targets.empty()) return NameError(l.domain, cfg, now, out);
  if (qtype != kPTR && qtype != kANY) return NoData(l.domain, cfg, now, out);
  for (auto& t : targets) out->answer.push_back(NameRecord(l.name, kPTR, 0, std::move(t)));
}

void AnswerDomain(const Lookup& l, uint16_t qtype, const std::string& dc,
                  const std::vector<ServerNode>& servers, const Config& cfg, uint32_t now,
                  Message* out) {
  uint32_t ttl = Seconds(cfg.node_ttl);
  std::vector<Record> ns, addresses;
  for (size_t i = 0; i < servers.size() && ns.size() < 3; ++i) {
    std::string target = LowerCopy(servers[i].node) + ".node." + dc + "." + l.domain;
    Record a;
    if (!AddressRecord(target, ttl, servers[i].address, kANY, &a)) continue;
    ns.push_back(NameRecord(l.domain, kNS, ttl, target));
    addresses.push_back(std::move(a));
  }
  if (qtype == kSOA) {
    out->answer.push_back(SoaRecord(l.domain, cfg, now));
    out->authority = std::move(ns);
    out->additional = std::move(addresses);
  } else if (qtype == kNS) {
    out->answer = std::move(ns);
    out->additional = std::move(addresses);
  } else if (l.kind == Lookup::Kind::kDomain) {
    NameError(l.domain, cfg, now, out);  // the domain itself has no other records
  }
}

void Truncate(bool tcp, const Config& cfg, Message* out) {
  bool cut = false;
  auto keep_answers = [&](size_t n) {
    if (out->answer.size() > n) {
      out->answer.resize(n);
      cut = true;
    }
  };
  if (cfg.a_record_limit > 0) {
    size_t limit = static_cast<size_t>(cfg.a_record_limit);
    size_t kept = 0;
    std::erase_if(out->answer, [&](const Record& r) {
      if (r.type != kA && r.type != kAAAA) return false;
      if (kept < limit) {
        ++kept;
        return false;
      }
      cut = true;
      return true;
    });
  }
  bool srv = !out->answer.empty() && out->answer.front().type == kSRV;
  size_t max_bytes;
  if (tcp) {
    keep_answers(srv ? 1024 : 4096);
    max_bytes = 65523;
  } else if (out->edns && out->edns->udp_size > 512) {
    max_bytes = std::min<size_t>(out->edns->udp_size, 65535 - 68);
  } else {
    keep_answers(static_cast<size_t>(std::clamp(cfg.udp_answer_limit, 1, 8)));
    max_bytes = 512;
  }
  auto rebuild_additional = [&] {
    std::set<std::string> targets;
    for (const auto& r : out->answer) {
      if (r.type == kSRV) targets.insert(LowerCopy(r.srv.target));
    }
    if (!srv) return;
    std::erase_if(out->additional, [&](const Record& r) { return !IsSrvAdditionalFor(r, targets); });
  };
  rebuild_additional();
  if (UncompressedSize(*out) > max_bytes && !out->authority.empty() && !out->answer.empty()) {
    out->authority.clear();
  }
  while (UncompressedSize(*out) > max_bytes && !out->answer.empty()) {
    out->answer.pop_back();
    cut = true;
    rebuild_additional();
  }
  while (UncompressedSize(*out) > max_bytes && !out->additional.empty()) {
    out->additional.pop_back();
    cut = true;
  }
  if (cut && cfg.enable_truncate) out->header.tc = true;
}

}  // namespace gangway::dns
