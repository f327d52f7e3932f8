#include "dns/lookup.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace gangway::dns {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Splits "a.b.c." into labels (the empty root label dropped).
std::vector<std::string> Labels(std::string_view name) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    out.emplace_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

bool EndsWithLabels(std::string_view name, std::string_view suffix) {
  if (name == suffix) return true;
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name[name.size() - suffix.size() - 1] == '.';
}

std::string Join(const std::vector<std::string>& parts, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    if (!out.empty()) out += '.';
    out += parts[i];
  }
  return out;
}

// The tenancy labels after the type label: none, one (a datacenter), or <x>.dc / <x>.cluster /
// <x>.ns / <x>.ap pairs. Namespaces and partitions other than "default" do not exist here.
bool ParseTenancy(const std::vector<std::string>& labels, std::string* dc) {
  if (labels.empty()) return true;
  if (labels.size() == 1) {
    *dc = labels[0];
    return !dc->empty();
  }
  if (labels.size() % 2 != 0) return false;
  bool have_dc = false;
  for (size_t i = 0; i < labels.size(); i += 2) {
    const std::string& value = labels[i];
    const std::string& key = labels[i + 1];
    if (value.empty()) return false;
    if (key == "dc" || key == "cluster") {
      if (have_dc) return false;
      have_dc = true;
      *dc = value;
    } else if (key == "ns" || key == "ap") {
      if (value != "default") return false;
    } else {
      return false;  // peer and sampling-group lookups are not served
    }
  }
  return true;
}

std::string ReverseToAddress(const std::vector<std::string>& labels, bool v6) {
  if (!v6) {
    if (labels.size() != 4) return "";
    std::string out;
    for (size_t i = 4; i-- > 0;) {
      const std::string& l = labels[i];
      if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos) return "";
      if (std::stoi(l) > 255) return "";
      out += l;
      if (i) out += '.';
    }
    return out;
  }
  if (labels.size() != 32) return "";
  std::string hex;
  for (size_t i = 32; i-- > 0;) {
    if (labels[i].size() != 1 || !std::isxdigit(static_cast<unsigned char>(labels[i][0]))) return "";
    hex += labels[i];
  }
  return DecodeAddrLabel(hex);
}

}  // namespace

std::string AddrLabel(const std::string& ip) {
  std::array<unsigned char, 16> buf{};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  if (inet_pton(AF_INET, ip.c_str(), buf.data()) == 1) {
    for (int i = 0; i < 4; ++i) {
      out += kHex[buf[i] >> 4];
      out += kHex[buf[i] & 15];
    }
  } else if (inet_pton(AF_INET6, ip.c_str(), buf.data()) == 1) {
    for (int i = 0; i < 16; ++i) {
      out += kHex[buf[i] >> 4];
      out += kHex[buf[i] & 15];
    }
  }
  return out;
}

std::string DecodeAddrLabel(std::string_view hex) {
  if ((hex.size() != 8 && hex.size() != 32) ||
      !std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    return "";
  }
  std::array<unsigned char, 16> buf{};
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    buf[i] = static_cast<unsigned char>(std::stoi(std::string(hex.substr(i * 2, 2)), nullptr, 16));
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(hex.size() == 8 ? AF_INET : AF_INET6, buf.data(), text, sizeof text);
  return text;
}

Lookup ParseName(std::string_view qname, const Config& cfg, bool srv_question) {
  Lookup l;
  l.name = Lower(qname);
  if (l.name.empty() || l.name.back() != '.') l.name += '.';
  l.domain = cfg.domain;

  if (EndsWithLabels(l.name, "in-addr.arpa.") || EndsWithLabels(l.name, "ip6.arpa.")) {
    bool v6 = EndsWithLabels(l.name, "ip6.arpa.");
    std::string_view rest(l.name);
    rest.remove_suffix(v6 ? 9 : 13);
    if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
    l.address = ReverseToAddress(Labels(rest), v6);
    l.kind = l.address.empty() ? Lookup::Kind::kInvalid : Lookup::Kind::kPtr;
    return l;
  }

  std::string_view rest;
  bool inside = false;
  for (const std::string* d : {&cfg.domain, &cfg.alt_domain}) {
    if (d->empty() || !EndsWithLabels(l.name, *d)) continue;
    inside = true;
    l.domain = *d;
    rest = std::string_view(l.name).substr(0, l.name.size() - d->size());
    break;
  }
  if (!inside) {
    l.kind = Lookup::Kind::kOutside;
    return l;
  }
  if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  std::vector<std::string> labels = Labels(rest);
  if (labels.empty()) {
    l.kind = Lookup::Kind::kDomain;
    return l;
  }
  if (std::any_of(labels.begin(), labels.end(), [](const std::string& s) { return s.empty(); })) {
    l.kind = Lookup::Kind::kInvalid;
    return l;
  }

  // The rightmost recognised type label.
  static const std::pair<const char*, Lookup::Kind> kTypes[] = {
      {"service", Lookup::Kind::kService}, {"connect", Lookup::Kind::kConnect},
      {"ingress", Lookup::Kind::kIngress}, {"node", Lookup::Kind::kNode},
      {"addr", Lookup::Kind::kAddr},       {"query", Lookup::Kind::kQuery},
  };
  size_t type_at = labels.size();
  Lookup::Kind kind = Lookup::Kind::kInvalid;
  for (size_t i = labels.size(); i-- > 0 && type_at == labels.size();) {
    for (const auto& [label, k] : kTypes) {
      if (labels[i] == label && i > 0) {
        type_at = i;
        kind = k;
        break;
      }
    }
  }
  if (type_at == labels.size()) {
    // RFC 2782 without the "service" label: _<service>._<tag>[.<dc>], SRV questions only.
    if (srv_question && (labels.size() == 2 || labels.size() == 3) && labels[0].size() > 1 &&
        labels[1].size() > 1 && labels[0][0] == '_' && labels[1][0] == '_') {
      l.kind = Lookup::Kind::kService;
      l.service = labels[0].substr(1);
      l.tag = labels[1] == "_tcp" ? "" : labels[1].substr(1);
      if (labels.size() == 3) l.dc = labels[2];
      return l;
    }
    l.kind = Lookup::Kind::kInvalid;
    return l;
  }
  std::vector<std::string> parts(labels.begin(), labels.begin() + static_cast<long>(type_at));
  std::vector<std::string> tenancy(labels.begin() + static_cast<long>(type_at) + 1, labels.end());
  if (!ParseTenancy(tenancy, &l.dc)) {
    l.kind = Lookup::Kind::kInvalid;
    return l;
  }
  l.kind = kind;
  switch (kind) {
    case Lookup::Kind::kService:
      if (parts.size() == 2 && parts[0].size() > 1 && parts[1].size() > 1 && parts[0][0] == '_' &&
          parts[1][0] == '_') {
        l.service = parts[0].substr(1);
        l.tag = parts[1] == "_tcp" ? "" : parts[1].substr(1);
      } else if (parts.size() == 1) {
        l.service = parts[0];
      } else if (parts.size() == 2) {
        l.tag = parts[0];
        l.service = parts[1];
      } else {
        l.kind = Lookup::Kind::kInvalid;  // tags containing dots are not looked up
      }
      break;
    case Lookup::Kind::kConnect:
    case Lookup::Kind::kIngress:
      if (parts.size() != 1) l.kind = Lookup::Kind::kInvalid;
      l.service = parts[0];
      break;
    case Lookup::Kind::kNode:
    case Lookup::Kind::kQuery:
      l.service = Join(parts, 0, parts.size());
      break;
    case Lookup::Kind::kAddr:
      if (parts.size() != 1 || DecodeAddrLabel(parts[0]).empty()) l.kind = Lookup::Kind::kInvalid;
      l.service = parts[0];
      l.address = DecodeAddrLabel(parts[0]);
      break;
    default:
      break;
  }
  if (l.kind == Lookup::Kind::kQuery && parts.size() == 2 && parts[0].size() > 1 &&
      parts[0][0] == '_' && parts[1].size() > 1 && parts[1][0] == '_') {
    l.service = parts[0].substr(1);  // _<query>._<proto>.query
  }
  return l;
}

}  // namespace gangway::dns
