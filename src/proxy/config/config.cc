#include "proxy/config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "core/regexp.h"
#include "core/strings.h"

namespace gangway::proxy {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The host-name rule of net::ParseClientHello (docs/proxy.md): a pattern that no accepted SNI can
// equal would be dead configuration, so it is refused here too.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  size_t start = 0;
  bool last_all_digits = false;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    last_all_digits = true;
    for (char c : label) {
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      bool digit = c >= '0' && c <= '9';
      if (!alpha && !digit && c != '-' && c != '_') return false;
      if (!digit) last_all_digits = false;
    }
    start = end + 1;
  }
  return !last_all_digits;
}

bool IsIpLiteral(const std::string& address) {
  unsigned char buf[16];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

bool IsServerNamePattern(std::string_view pattern) {
  if (pattern.starts_with("*.")) pattern.remove_prefix(2);
  return IsDnsName(pattern);
}

constexpr std::string_view kSpiffe = "spiffe://";

// "spiffe://" followed by '/'-separated non-empty segments (the first is the trust domain).
bool SplitSpiffe(std::string_view id, std::vector<std::string_view>* segments) {
  if (!id.starts_with(kSpiffe)) return false;
  id.remove_prefix(kSpiffe.size());
  segments->clear();
  size_t start = 0;
  while (true) {
    size_t end = id.find('/', start);
    std::string_view seg = id.substr(start, end == std::string_view::npos ? id.npos : end - start);
    if (seg.empty()) return false;
    segments->push_back(seg);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments->size() >= 2;
}

bool IsSourcePattern(std::string_view pattern) {
  std::vector<std::string_view> segments;
  if (!SplitSpiffe(pattern, &segments)) return false;
  for (std::string_view seg : segments) {
    if (seg != "*" && seg.find('*') != std::string_view::npos) return false;
  }
  return true;
}

bool IsSpiffeId(std::string_view id) {
  std::vector<std::string_view> segments;
  return SplitSpiffe(id, &segments) && id.find('*') == std::string_view::npos;
}

// RFC 9110 token characters: what a header name may be made of.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A header value the proxy may write: no CR, LF or NUL, which would split or end the header.
bool IsFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                         "DELETE", "CONNECT", "OPTIONS", "TRACE"};

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Index(std::string_view field, size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

// Collects the first error; each check names its path relative to the config root.
class Validator {
 public:
  explicit Validator(const Config& c) : c_(c) {}

  Status Run() {
    CheckTop();
    for (size_t i = 0; i < c_.clusters.size() && error_.ok(); ++i) CheckCluster(i);
    std::set<std::pair<std::string, int>> bound;
    std::set<std::string> names;
    int publics = 0;
    for (size_t i = 0; i < c_.listeners.size() && error_.ok(); ++i) {
      const Listener& l = c_.listeners[i];
      std::string at = Index("Listeners", i);
      if (!names.insert(l.name).second) {
        Fail(at + ".Name", "duplicate listener name " + Quote(l.name));
      } else if (l.port != 0 && !bound.insert({l.address, l.port}).second) {
        Fail(at + ".Port",
             l.address + ":" + std::to_string(l.port) + " is already bound by another listener");
      }
      if (l.kind == Listener::Kind::kPublic) ++publics;
      CheckListener(l, at);
    }
    if (!error_.ok()) return error_;
    if (c_.kind == Config::Kind::kConnectProxy && publics != 1) {
      Fail("Listeners",
           "a connect-proxy needs exactly one public listener, found " + std::to_string(publics));
    }
    if (c_.kind == Config::Kind::kMeshGateway && c_.listeners.empty()) {
      Fail("Listeners", "a mesh-gateway needs at least one listener");
    }
    CheckAuthz();
    return error_;
  }

 private:
  void Fail(const std::string& path, const std::string& message) {
    if (error_.ok()) error_ = InvalidArgument(path + ": " + message);
  }

  void Required(const std::string& path, const std::string& value) {
    if (value.empty()) Fail(path, "must not be empty");
  }

  void CheckTop() {
    if (c_.version == 0) Fail("Version", "must be at least 1");
    Required("ProxyID", c_.proxy_id);
    Required("Service", c_.service);
    Required("Datacenter", c_.datacenter);
    Required("TrustDomain", c_.trust_domain);
    if (c_.leaf) {
      if (c_.kind == Config::Kind::kMeshGateway) {
        Fail("Leaf", "a mesh-gateway holds no service key; Leaf must be null");
      }
      Required("Leaf.CertPEM", c_.leaf->cert_pem);
      Required("Leaf.PrivateKeyPEM", c_.leaf->private_key_pem);
      if (!IsSpiffeId(c_.leaf->spiffe_id)) {
        Fail("Leaf.SpiffeID", Quote(c_.leaf->spiffe_id) + " is not a SPIFFE ID");
      }
      Required("Leaf.ValidBefore", c_.leaf->valid_before);
    }
    for (size_t i = 0; i < c_.roots_pem.size(); ++i)
      Required(Index("RootsPEM", i), c_.roots_pem[i]);
  }

  void CheckCluster(size_t i) {
    const Cluster& cl = c_.clusters[i];
    std::string at = Index("Clusters", i);
    Required(at + ".Name", cl.name);
    for (size_t j = 0; j < i; ++j) {
      // Without case: sni_cluster looks a cluster up by the (lowercased) SNI.
      if (EqualsNoCase(c_.clusters[j].name, cl.name))
        Fail(at + ".Name", "duplicate cluster name " + Quote(cl.name));
    }
    if (cl.tls == Cluster::Tls::kOriginate) {
      if (c_.kind == Config::Kind::kMeshGateway) {
        Fail(at + ".TLS", "a mesh-gateway never originates TLS");
      }
      if (!IsDnsName(cl.sni)) Fail(at + ".SNI", Quote(cl.sni) + " is not a valid server name");
      if (cl.spiffe_ids.empty()) Fail(at + ".SpiffeIDs", "originating TLS needs at least one");
      for (size_t j = 0; j < cl.spiffe_ids.size(); ++j) {
        if (!IsSpiffeId(cl.spiffe_ids[j])) {
          Fail(at + "." + Index("SpiffeIDs", j), Quote(cl.spiffe_ids[j]) + " is not a SPIFFE ID");
        }
      }
    } else {
      if (!cl.sni.empty()) Fail(at + ".SNI", "must be empty unless TLS is \"originate\"");
      if (!cl.spiffe_ids.empty()) {
        Fail(at + ".SpiffeIDs", "must be empty unless TLS is \"originate\"");
      }
    }
    if (cl.connect_timeout.count() <= 0) Fail(at + ".ConnectTimeoutMs", "must be positive");
    std::set<std::string_view> seen;
    for (size_t j = 0; j < cl.failover.size(); ++j) {
      std::string fat = at + "." + Index("Failover", j);
      const std::string& name = cl.failover[j];
      const Cluster* f = c_.FindCluster(name);
      if (f == nullptr) {
        Fail(fat, "no cluster named " + Quote(name));
      } else if (f == &cl) {
        Fail(fat, "a cluster cannot fail over to itself");
      } else if (!seen.insert(name).second) {
        Fail(fat, "cluster " + Quote(name) + " is listed twice");
      } else if (!f->failover.empty()) {
        Fail(fat, "cluster " + Quote(name) + " has a Failover of its own");
      } else if (f->tls != cl.tls) {
        Fail(fat, "cluster " + Quote(name) + " has TLS \"" + std::string(TlsName(f->tls)) +
                      "\", this one \"" + std::string(TlsName(cl.tls)) + "\"");
      }
    }
    for (size_t j = 0; j < cl.endpoints.size(); ++j) {
      const Endpoint& e = cl.endpoints[j];
      std::string eat = at + "." + Index("Endpoints", j);
      if (!IsIpLiteral(e.address) && !IsDnsName(e.address)) {
        Fail(eat + ".Address", Quote(e.address) + " is neither an IP address nor a DNS name");
      }
      if (e.port < 1 || e.port > 65535) {
        Fail(eat + ".Port", std::to_string(e.port) + " is not in 1..65535");
      }
    }
  }

  void CheckListener(const Listener& l, const std::string& at) {
    Required(at + ".Name", l.name);
    if (!IsIpLiteral(l.address)) Fail(at + ".Address", Quote(l.address) + " is not an IP address");
    if (l.port < 0 || l.port > 65535) {
      Fail(at + ".Port", std::to_string(l.port) + " is not in 0..65535");
    }
    bool gateway_config = c_.kind == Config::Kind::kMeshGateway;
    bool gateway_listener = l.kind == Listener::Kind::kGateway;
    if (gateway_config != gateway_listener) {
      Fail(at + ".Kind", std::string("a ") + std::string(KindName(c_.kind)) + " cannot have a " +
                             std::string(ListenerKindName(l.kind)) + " listener");
    }
    if (l.chains.empty()) Fail(at + ".FilterChains", "a listener needs at least one filter chain");
    if (l.kind == Listener::Kind::kUpstream && l.chains.size() > 1) {
      Fail(at + ".FilterChains", "an upstream listener takes plaintext, so it has one chain");
    }
    // Every name (without case) and the catch-all may appear once per listener, so MatchChain
    // never has to break a tie.
    std::map<std::string, size_t> owner;
    bool catch_all = false;
    for (size_t i = 0; i < l.chains.size(); ++i) {
      const FilterChain& ch = l.chains[i];
      std::string cat = at + "." + Index("FilterChains", i);
      CheckAction(l, ch, cat);
      if (ch.server_names.empty()) {
        if (catch_all) Fail(cat + ".ServerNames", "a second chain with no server names");
        catch_all = true;
      }
      if (l.kind == Listener::Kind::kUpstream && !ch.server_names.empty()) {
        Fail(cat + ".ServerNames", "an upstream listener takes plaintext, which has no SNI");
      }
      for (size_t j = 0; j < ch.server_names.size(); ++j) {
        const std::string& name = ch.server_names[j];
        std::string nat = cat + "." + Index("ServerNames", j);
        if (!IsServerNamePattern(name)) {
          Fail(nat, Quote(name) + " is neither a DNS name nor \"*.\" followed by one");
          continue;
        }
        auto [it, fresh] = owner.emplace(ToLower(name), i);
        if (!fresh) {
          Fail(nat, Quote(name) + " is already matched by " + Index("FilterChains", it->second));
        }
      }
    }
  }

  void CheckAction(const Listener& l, const FilterChain& ch, const std::string& at) {
    using A = FilterChain::Action;
    static const std::map<Listener::Kind, std::set<A>> kAllowed = {
        {Listener::Kind::kPublic, {A::kTerminateTls}},
        {Listener::Kind::kUpstream, {A::kOriginateTls, A::kHttpRoute}},
        {Listener::Kind::kGateway, {A::kTcpProxy, A::kSniCluster}},
    };
    if (kAllowed.at(l.kind).count(ch.action) == 0) {
      Fail(at + ".Action", "\"" + std::string(ActionName(ch.action)) + "\" is not allowed on a " +
                               std::string(ListenerKindName(l.kind)) + " listener");
      return;
    }
    if (ch.action != A::kHttpRoute && ch.route) {
      Fail(at + ".RouteConfig", "only an http_route chain has routes");
    }
    if (ch.action != A::kTerminateTls && ch.inbound_http) {
      Fail(at + ".InboundHttp", "only a terminate_tls chain parses inbound requests");
    }
    if (ch.action == A::kTerminateTls || ch.action == A::kOriginateTls ||
        ch.action == A::kHttpRoute) {
      if (!c_.leaf) Fail(at + ".Action", std::string(ActionName(ch.action)) + " needs a Leaf");
      if (c_.roots_pem.empty()) {
        Fail(at + ".Action", std::string(ActionName(ch.action)) + " needs RootsPEM");
      }
    }
    if (ch.action == A::kSniCluster) {
      if (!ch.cluster.empty()) Fail(at + ".Cluster", "must be empty: the SNI names the cluster");
      return;
    }
    if (ch.action == A::kHttpRoute) {
      if (!ch.cluster.empty()) Fail(at + ".Cluster", "must be empty: the routes name the clusters");
      if (!ch.route) {
        Fail(at + ".RouteConfig", "an http_route chain needs a RouteConfig");
      } else {
        CheckRoutes(*ch.route, at + ".RouteConfig");
      }
      return;
    }
    const Cluster* cl = c_.FindCluster(ch.cluster);
    if (cl == nullptr) {
      Fail(at + ".Cluster", "no cluster named " + Quote(ch.cluster));
      return;
    }
    Cluster::Tls want =
        ch.action == A::kOriginateTls ? Cluster::Tls::kOriginate : Cluster::Tls::kNone;
    if (cl->tls != want) {
      Fail(at + ".Cluster", std::string(ActionName(ch.action)) + " needs a cluster with TLS \"" +
                                std::string(TlsName(want)) + "\"; " + Quote(cl->name) + " has \"" +
                                std::string(TlsName(cl->tls)) + "\"");
    }
  }

  void CheckPattern(const std::string& at, const std::string& pattern) {
    Result<Regexp> re = Regexp::Compile(pattern);
    // Matches are whole-value (Envoy's safe_regex); the anchored form must compile too.
    if (re.ok()) re = Regexp::Compile("^(?:" + pattern + ")$");
    if (!re.ok()) Fail(at, re.status().message());
  }

  void CheckHeaderChanges(const HeaderChanges& h, const std::string& at) {
    auto check = [&](const std::vector<HeaderValue>& values, const std::string& key) {
      for (size_t i = 0; i < values.size(); ++i) {
        std::string hat = at + "." + Index(key, i);
        if (!IsToken(values[i].name)) {
          Fail(hat + ".Name", Quote(values[i].name) + " is not a header name");
        }
        if (!IsFieldValue(values[i].value)) {
          Fail(hat + ".Value", "a header value may not hold CR, LF or NUL");
        }
      }
    };
    check(h.add, "Add");
    check(h.set, "Set");
    for (size_t i = 0; i < h.remove.size(); ++i) {
      if (!IsToken(h.remove[i])) {
        Fail(at + "." + Index("Remove", i), Quote(h.remove[i]) + " is not a header name");
      }
    }
  }

  void CheckMatch(const RouteMatch& m, const std::string& at) {
    using P = RouteMatch::Path;
    if (m.path_kind == P::kAny && !m.path.empty()) {
      Fail(at + ".Path", "must be empty when PathMatch is \"any\"");
    }
    if ((m.path_kind == P::kExact || m.path_kind == P::kPrefix) && !m.path.starts_with("/")) {
      Fail(at + ".Path", Quote(m.path) + " does not start with \"/\"");
    }
    if (m.path_kind == P::kRegex) CheckPattern(at + ".Path", m.path);
    for (size_t i = 0; i < m.headers.size(); ++i) {
      const HeaderMatch& h = m.headers[i];
      std::string hat = at + "." + Index("Headers", i);
      if (!IsToken(h.name)) Fail(hat + ".Name", Quote(h.name) + " is not a header name");
      if (h.kind == HeaderMatch::Kind::kPresent && !h.value.empty()) {
        Fail(hat + ".Value", "must be empty when Match is \"present\"");
      }
      if (h.kind == HeaderMatch::Kind::kRegex) CheckPattern(hat + ".Value", h.value);
    }
    for (size_t i = 0; i < m.query_params.size(); ++i) {
      const QueryMatch& q = m.query_params[i];
      std::string qat = at + "." + Index("QueryParams", i);
      Required(qat + ".Name", q.name);
      if (q.kind == QueryMatch::Kind::kPresent && !q.value.empty()) {
        Fail(qat + ".Value", "must be empty when Match is \"present\"");
      }
      if (q.kind == QueryMatch::Kind::kRegex) CheckPattern(qat + ".Value", q.value);
    }
    std::set<std::string_view> methods;
    for (size_t i = 0; i < m.methods.size(); ++i) {
      std::string mat = at + "." + Index("Methods", i);
      const std::string& method = m.methods[i];
      if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
        Fail(mat, Quote(method) + " is not one of GET HEAD POST PUT PATCH DELETE CONNECT " +
                      "OPTIONS TRACE");
      } else if (!methods.insert(method).second) {
        Fail(mat, Quote(method) + " is listed twice");
      }
    }
  }

  void CheckRoutes(const RouteConfig& rc, const std::string& at) {
    if (rc.routes.empty()) Fail(at + ".Routes", "an http_route chain needs at least one route");
    for (size_t i = 0; i < rc.routes.size(); ++i) {
      const Route& r = rc.routes[i];
      std::string rat = at + "." + Index("Routes", i);
      CheckMatch(r.match, rat + ".Match");
      if (r.clusters.empty()) Fail(rat + ".Clusters", "a route needs at least one cluster");
      int64_t sum = 0;
      std::set<std::string_view> seen;
      for (size_t j = 0; j < r.clusters.size(); ++j) {
        const WeightedCluster& wc = r.clusters[j];
        std::string wat = rat + "." + Index("Clusters", j);
        const Cluster* cl = c_.FindCluster(wc.cluster);
        if (cl == nullptr) {
          Fail(wat + ".Cluster", "no cluster named " + Quote(wc.cluster));
        } else if (cl->tls != Cluster::Tls::kOriginate) {
          Fail(wat + ".Cluster", "http_route needs a cluster with TLS \"originate\"; " +
                                     Quote(cl->name) + " has \"" + std::string(TlsName(cl->tls)) +
                                     "\"");
        } else if (!seen.insert(wc.cluster).second) {
          Fail(wat + ".Cluster", "cluster " + Quote(wc.cluster) + " is listed twice");
        }
        if (wc.weight < 0 || wc.weight > 10000) {
          Fail(wat + ".Weight", std::to_string(wc.weight) + " is not in 0..10000");
        }
        CheckHeaderChanges(wc.request_headers, wat + ".RequestHeaders");
        CheckHeaderChanges(wc.response_headers, wat + ".ResponseHeaders");
        sum += wc.weight;
      }
      if (!r.clusters.empty() && sum != 10000) {
        Fail(rat + ".Clusters",
             "the weights must sum to 10000 (100.00%), not " + std::to_string(sum));
      }
      if (!r.prefix_rewrite.empty() && r.match.path_kind != RouteMatch::Path::kExact &&
          r.match.path_kind != RouteMatch::Path::kPrefix) {
        Fail(rat + ".PrefixRewrite", "needs a PathMatch of \"exact\" or \"prefix\"");
      }
      if (!r.prefix_rewrite.empty() && !IsFieldValue(r.prefix_rewrite)) {
        Fail(rat + ".PrefixRewrite", "may not hold CR, LF or NUL");
      }
      if (r.request_timeout.count() < 0) Fail(rat + ".RequestTimeoutMs", "must not be negative");
      if (r.num_retries < 0) Fail(rat + ".NumRetries", "must not be negative");
      if (r.idle_timeout.count() < 0) Fail(rat + ".IdleTimeoutMs", "must not be negative");
      for (size_t j = 0; j < r.retry_on.size(); ++j) {
        if (!KnownRetryOn(r.retry_on[j])) {
          Fail(rat + "." + Index("RetryOn", j), Quote(r.retry_on[j]) + " is not a retry condition");
        }
      }
      for (size_t j = 0; j < r.retry_on_status_codes.size(); ++j) {
        int code = r.retry_on_status_codes[j];
        if (code < 100 || code > 599) {
          Fail(rat + "." + Index("RetryOnStatusCodes", j),
               std::to_string(code) + " is not an HTTP status code");
        }
      }
      CheckHeaderChanges(r.request_headers, rat + ".RequestHeaders");
      CheckHeaderChanges(r.response_headers, rat + ".ResponseHeaders");
    }
  }

  void CheckAuthz() {
    const auto& rules = c_.authz.rules;
    if (c_.kind == Config::Kind::kMeshGateway && (!rules.empty() || !c_.authz.default_allow)) {
      Fail("Authz", "a mesh-gateway does not enforce intentions; Authz must be the default");
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      std::string at = Index("Authz.Rules", i);
      if (!IsSourcePattern(rules[i].source)) {
        Fail(at + ".Source", Quote(rules[i].source) + " is not a SPIFFE ID pattern");
      }
      if (!rules[i].permissions.empty() && rules[i].allow) {
        Fail(at + ".Allow",
             "must be false for a rule with Permissions (it denies where requests "
             "are not seen)");
      }
      for (size_t j = 0; j < rules[i].permissions.size(); ++j) {
        const RouteMatch& m = rules[i].permissions[j].http;
        std::string pat = at + "." + Index("Permissions", j) + ".Match";
        if (!m.query_params.empty()) {
          Fail(pat + ".QueryParams", "a permission does not match query parameters");
        }
        CheckMatch(m, pat);
      }
      if (i == 0) continue;
      const AuthzRule& prev = rules[i - 1];
      // Evaluation is first match, so the order must already be Consul's precedence order.
      if (rules[i].precedence > prev.precedence ||
          (rules[i].precedence == prev.precedence && !rules[i].allow && prev.allow)) {
        Fail(at + ".Precedence",
             "rules must be ordered by precedence, highest first, deny before allow");
      }
    }
  }

  const Config& c_;
  Status error_;
};

}  // namespace

const Cluster* Config::FindCluster(std::string_view name) const {
  for (const Cluster& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Status Validate(const Config& config) { return Validator(config).Run(); }

bool ServerNameMatches(std::string_view pattern, std::string_view sni) {
  if (!pattern.starts_with("*.")) return EqualsNoCase(pattern, sni);
  std::string_view suffix = pattern.substr(1);  // ".<suffix>"
  return sni.size() > suffix.size() && sni[0] != '.' &&
         EqualsNoCase(sni.substr(sni.size() - suffix.size()), suffix);
}

const FilterChain* MatchChain(const Listener& listener, std::string_view sni) {
  const FilterChain* best = nullptr;
  size_t best_rank = 0;  // 0 none, 1 catch-all, 2 + suffix length for wildcards, SIZE_MAX exact
  for (const FilterChain& ch : listener.chains) {
    if (ch.server_names.empty()) {
      if (best_rank < 1) best = &ch, best_rank = 1;
      continue;
    }
    if (sni.empty()) continue;
    for (const std::string& name : ch.server_names) {
      if (!ServerNameMatches(name, sni)) continue;
      size_t rank = name.starts_with("*.") ? 2 + name.size() : SIZE_MAX;
      if (rank > best_rank) best = &ch, best_rank = rank;
    }
  }
  return best;
}

bool SourceMatches(std::string_view pattern, std::string_view id) {
  std::vector<std::string_view> want, got;
  if (!SplitSpiffe(pattern, &want) || !SplitSpiffe(id, &got) || want.size() != got.size()) {
    return false;
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "*") continue;
    if (i == 0 ? !EqualsNoCase(want[i], got[i]) : want[i] != got[i]) return false;
  }
  return true;
}

const AuthzRule* MatchRule(const Authz& authz, std::string_view spiffe_id) {
  for (const AuthzRule& r : authz.rules) {
    if (SourceMatches(r.source, spiffe_id)) return &r;
  }
  return nullptr;
}

bool Allowed(const Authz& authz, std::string_view spiffe_id) {
  const AuthzRule* r = MatchRule(authz, spiffe_id);
  return r != nullptr ? r->allow : authz.default_allow;
}

std::string_view KindName(Config::Kind kind) {
  return kind == Config::Kind::kMeshGateway ? "mesh-gateway" : "connect-proxy";
}

std::string_view ListenerKindName(Listener::Kind kind) {
  switch (kind) {
    case Listener::Kind::kPublic:
      return "public";
    case Listener::Kind::kUpstream:
      return "upstream";
    case Listener::Kind::kGateway:
      return "gateway";
  }
  return "?";
}

std::string_view ActionName(FilterChain::Action action) {
  switch (action) {
    case FilterChain::Action::kTerminateTls:
      return "terminate_tls";
    case FilterChain::Action::kOriginateTls:
      return "originate_tls";
    case FilterChain::Action::kTcpProxy:
      return "tcp_proxy";
    case FilterChain::Action::kSniCluster:
      return "sni_cluster";
    case FilterChain::Action::kHttpRoute:
      return "http_route";
  }
  return "?";
}

bool KnownRetryOn(std::string_view condition) {
  static constexpr std::string_view kConditions[] = {"5xx",
                                                     "gateway-error",
                                                     "reset",
                                                     "connect-failure",
                                                     "envoy-ratelimited",
                                                     "retriable-4xx",
                                                     "refused-stream",
                                                     "cancelled",
                                                     "deadline-exceeded",
                                                     "internal",
                                                     "resource-exhausted",
                                                     "unavailable"};
  return std::find(std::begin(kConditions), std::end(kConditions), condition) !=
         std::end(kConditions);
}

std::string_view PathMatchName(RouteMatch::Path path) {
  switch (path) {
    case RouteMatch::Path::kAny:
      return "any";
    case RouteMatch::Path::kExact:
      return "exact";
    case RouteMatch::Path::kPrefix:
      return "prefix";
    case RouteMatch::Path::kRegex:
      return "regex";
  }
  return "?";
}

std::string_view HeaderMatchName(HeaderMatch::Kind kind) {
  switch (kind) {
    case HeaderMatch::Kind::kPresent:
      return "present";
    case HeaderMatch::Kind::kExact:
      return "exact";
    case HeaderMatch::Kind::kPrefix:
      return "prefix";
    case HeaderMatch::Kind::kSuffix:
      return "suffix";
    case HeaderMatch::Kind::kRegex:
      return "regex";
  }
  return "?";
}

std::string_view QueryMatchName(QueryMatch::Kind kind) {
  switch (kind) {
    case QueryMatch::Kind::kPresent:
      return "present";
    case QueryMatch::Kind::kExact:
      return "exact";
    case QueryMatch::Kind::kRegex:
      return "regex";
  }
  return "?";
}

std::string_view TlsName(Cluster::Tls tls) {
  return tls == Cluster::Tls::kOriginate ? "originate" : "none";
}

std::string_view LbName(Cluster::Lb lb) {
  return lb == Cluster::Lb::kLeastRequest ? "least_request" : "round_robin";
}

std::string_view HealthName(Endpoint::Health health) {
  switch (health) {
    case Endpoint::Health::kPassing:
      return "passing";
    case Endpoint::Health::kWarning:
      return "warning";
    case Endpoint::Health::kCritical:
      return "critical";
  }
  return "?";
}

}  // namespace gangway::proxy
