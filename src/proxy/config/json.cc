#include "proxy/config/json.h"

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "codec/document.h"
#include "core/strings.h"

namespace gangway::proxy {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;  // keeps our key order in the output

// ---- encoding ----

OJson Str(std::string_view s) { return OJson(std::string(s)); }

OJson EncodeEndpoint(const Endpoint& e) {
  OJson j = OJson::object();
  j["Address"] = e.address;
  j["Port"] = e.port;
  j["Health"] = Str(HealthName(e.health));
  j["Node"] = e.node;
  return j;
}

OJson EncodeCluster(const Cluster& c) {
  OJson j = OJson::object();
  j["Name"] = c.name;
  j["TLS"] = Str(TlsName(c.tls));
  j["SNI"] = c.sni;
  j["SpiffeIDs"] = c.spiffe_ids;
  j["ConnectTimeoutMs"] = static_cast<int64_t>(c.connect_timeout.count());
  j["LB"] = Str(LbName(c.lb));
  j["Failover"] = c.failover;
  OJson endpoints = OJson::array();
  for (const Endpoint& e : c.endpoints) endpoints.push_back(EncodeEndpoint(e));
  j["Endpoints"] = std::move(endpoints);
  return j;
}

OJson EncodeHeaderChanges(const HeaderChanges& h) {
  auto values = [](const std::vector<HeaderValue>& vs) {
    OJson a = OJson::array();
    for (const HeaderValue& v : vs) {
      OJson j = OJson::object();
      j["Name"] = v.name;
      j["Value"] = v.value;
      a.push_back(std::move(j));
    }
    return a;
  };
  OJson j = OJson::object();
  j["Add"] = values(h.add);
  j["Set"] = values(h.set);
  j["Remove"] = h.remove;
  return j;
}

OJson EncodeMatch(const RouteMatch& match) {
  OJson m = OJson::object();
  m["PathMatch"] = Str(PathMatchName(match.path_kind));
  m["Path"] = match.path;
  OJson headers = OJson::array();
  for (const HeaderMatch& h : match.headers) {
    OJson hj = OJson::object();
    hj["Name"] = h.name;
    hj["Match"] = Str(HeaderMatchName(h.kind));
    hj["Value"] = h.value;
    hj["Invert"] = h.invert;
    headers.push_back(std::move(hj));
  }
  m["Headers"] = std::move(headers);
  OJson query = OJson::array();
  for (const QueryMatch& q : match.query_params) {
    OJson qj = OJson::object();
    qj["Name"] = q.name;
    qj["Match"] = Str(QueryMatchName(q.kind));
    qj["Value"] = q.value;
    query.push_back(std::move(qj));
  }
  m["QueryParams"] = std::move(query);
  m["Methods"] = match.methods;
  return m;
}

OJson EncodeRoute(const Route& r) {
  OJson j = OJson::object();
  j["Match"] = EncodeMatch(r.match);
  OJson clusters = OJson::array();
  for (const WeightedCluster& wc : r.clusters) {
    OJson cj = OJson::object();
    cj["Cluster"] = wc.cluster;
    cj["Weight"] = wc.weight;
    // Written only when used (keys added after the first release; see EncodeListener).
    if (!wc.request_headers.empty()) cj["RequestHeaders"] = EncodeHeaderChanges(wc.request_headers);
    if (!wc.response_headers.empty()) {
      cj["ResponseHeaders"] = EncodeHeaderChanges(wc.response_headers);
    }
    clusters.push_back(std::move(cj));
  }
  j["Clusters"] = std::move(clusters);
  j["PrefixRewrite"] = r.prefix_rewrite;
  j["RequestTimeoutMs"] = static_cast<int64_t>(r.request_timeout.count());
  j["NumRetries"] = r.num_retries;
  j["RetryOnConnectFailure"] = r.retry_on_connect_failure;
  j["RetryOnStatusCodes"] = r.retry_on_status_codes;
  if (!r.retry_on.empty()) j["RetryOn"] = r.retry_on;
  if (r.idle_timeout.count() != 0) {
    j["IdleTimeoutMs"] = static_cast<int64_t>(r.idle_timeout.count());
  }
  j["RequestHeaders"] = EncodeHeaderChanges(r.request_headers);
  j["ResponseHeaders"] = EncodeHeaderChanges(r.response_headers);
  return j;
}

OJson EncodeListener(const Listener& l) {
  OJson j = OJson::object();
  j["Name"] = l.name;
  j["Address"] = l.address;
  j["Port"] = l.port;
  j["Kind"] = Str(ListenerKindName(l.kind));
  OJson chains = OJson::array();
  for (const FilterChain& ch : l.chains) {
    OJson cj = OJson::object();
    cj["ServerNames"] = ch.server_names;
    cj["Action"] = Str(ActionName(ch.action));
    cj["Cluster"] = ch.cluster;
    // Written only when present: a key added after the first release is omitted at its default,
    // so proxies that predate it keep accepting configs that do not use it.
    if (ch.route) {
      OJson routes = OJson::array();
      for (const Route& r : ch.route->routes) routes.push_back(EncodeRoute(r));
      cj["RouteConfig"] = OJson::object();
      cj["RouteConfig"]["Routes"] = std::move(routes);
    }
    if (ch.inbound_http) cj["InboundHttp"] = true;
    chains.push_back(std::move(cj));
  }
  j["FilterChains"] = std::move(chains);
  return j;
}

// ---- decoding ----

std::string TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number with a fraction or exponent";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

Status Error(const std::string& path, const std::string& message) {
  return InvalidArgument(path.empty() ? message : path + ": " + message);
}

Status WrongType(const std::string& path, std::string_view expected, const Json& found) {
  return Error(path, "expected " + std::string(expected) + ", found " + TypeName(found));
}

// One JSON object being decoded: keys are looked up without case, and whatever was not looked up
// is an unknown key.
class Object {
 public:
  Status Open(const Json& v, std::string path) {
    path_ = std::move(path);
    if (!v.is_object()) return WrongType(path_, "an object", v);
    for (const auto& [key, value] : v.items()) {
      auto [it, fresh] = by_lower_.emplace(ToLower(key), Member{key, &value});
      if (!fresh) {
        return Error(Join(path_, key), "duplicate key (also given as \"" + it->second.key +
                                           "\"; keys match without case)");
      }
    }
    return Status::Ok();
  }

  // The value of `key` (canonical spelling), or nullptr when absent.
  const Json* Find(std::string_view key) {
    known_.emplace_back(key);
    auto it = by_lower_.find(ToLower(key));
    if (it == by_lower_.end()) return nullptr;
    it->second.used = true;
    return it->second.value;
  }

  Status Require(std::string_view key, const Json** out) {
    *out = Find(key);
    if (*out == nullptr) return Error(Join(path_, key), "required key is missing");
    return Status::Ok();
  }

  Status Finish() const {
    for (const auto& [lower, m] : by_lower_) {
      if (m.used) continue;
      std::string message = "unknown key";
      std::string near = Nearest(m.key, known_);
      if (!near.empty()) message += " (did you mean \"" + near + "\"?)";
      return Error(Join(path_, m.key), message);
    }
    return Status::Ok();
  }

  std::string At(std::string_view key) const { return Join(path_, key); }

 private:
  struct Member {
    std::string key;
    const Json* value;
    bool used = false;
  };
  std::string path_;
  std::map<std::string, Member> by_lower_;
  std::vector<std::string> known_;
};

Status ReadString(Object& o, std::string_view key, std::string* out) {
  const Json* v;
  if (Status s = o.Require(key, &v); !s.ok()) return s;
  if (!v->is_string()) return WrongType(o.At(key), "a string", *v);
  *out = v->get<std::string>();
  return Status::Ok();
}

Status ReadBool(Object& o, std::string_view key, bool* out) {
  const Json* v;
  if (Status s = o.Require(key, &v); !s.ok()) return s;
  if (!v->is_boolean()) return WrongType(o.At(key), "a boolean", *v);
  *out = v->get<bool>();
  return Status::Ok();
}

Status ReadInt(Object& o, std::string_view key, int64_t lo, int64_t hi, int64_t* out) {
  const Json* v;
  if (Status s = o.Require(key, &v); !s.ok()) return s;
  if (!v->is_number_integer()) return WrongType(o.At(key), "an integer", *v);
  bool fits;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    fits = u <= static_cast<uint64_t>(hi);
    *out = fits ? static_cast<int64_t>(u) : 0;
  } else {
    *out = v->get<int64_t>();
    fits = *out >= lo && *out <= hi;
  }
  if (!fits) return Error(o.At(key), v->dump() + " is out of range");
  return Status::Ok();
}

Status ReadInt32(Object& o, std::string_view key, int* out) {
  int64_t v = 0;
  Status s = ReadInt(o, key, std::numeric_limits<int>::min(), std::numeric_limits<int>::max(), &v);
  *out = static_cast<int>(v);
  return s;
}

Status ReadUint64(Object& o, std::string_view key, uint64_t* out) {
  const Json* v;
  if (Status s = o.Require(key, &v); !s.ok()) return s;
  if (v->is_number_unsigned()) {
    *out = v->get<uint64_t>();
  } else if (v->is_number_integer() && v->get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v->get<int64_t>());
  } else if (v->is_number_integer()) {
    return Error(o.At(key), v->dump() + " is negative");
  } else {
    return WrongType(o.At(key), "an integer", *v);
  }
  return Status::Ok();
}

template <typename E>
using Names = std::vector<std::pair<E, std::string_view>>;

template <typename E>
Status ReadEnum(Object& o, std::string_view key, const Names<E>& names, E* out) {
  std::string s;
  if (Status st = ReadString(o, key, &s); !st.ok()) return st;
  std::string choices;
  for (const auto& [value, name] : names) {
    if (s == name) {
      *out = value;
      return Status::Ok();
    }
    choices += (choices.empty() ? "\"" : ", \"") + std::string(name) + "\"";
  }
  return Error(o.At(key), "expected one of " + choices + ", found \"" + s + "\"");
}

// An optional array: absent or null is empty. `each` decodes element i at path "<key>[i]".
template <typename F>
Status ReadArray(Object& o, std::string_view key, F each) {
  const Json* v = o.Find(key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (!v->is_array()) return WrongType(o.At(key), "an array", *v);
  for (size_t i = 0; i < v->size(); ++i) {
    Status s = each((*v)[i], o.At(key) + "[" + std::to_string(i) + "]");
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status ReadStrings(Object& o, std::string_view key, std::vector<std::string>* out) {
  return ReadArray(o, key, [out](const Json& v, const std::string& path) {
    if (!v.is_string()) return WrongType(path, "a string", v);
    out->push_back(v.get<std::string>());
    return Status::Ok();
  });
}

const Names<Config::Kind> kKinds = {{Config::Kind::kConnectProxy, "connect-proxy"},
                                    {Config::Kind::kMeshGateway, "mesh-gateway"}};
const Names<Listener::Kind> kListenerKinds = {{Listener::Kind::kPublic, "public"},
                                              {Listener::Kind::kUpstream, "upstream"},
                                              {Listener::Kind::kGateway, "gateway"}};
const Names<FilterChain::Action> kActions = {{FilterChain::Action::kTerminateTls, "terminate_tls"},
                                             {FilterChain::Action::kOriginateTls, "originate_tls"},
                                             {FilterChain::Action::kTcpProxy, "tcp_proxy"},
                                             {FilterChain::Action::kSniCluster, "sni_cluster"},
                                             {FilterChain::Action::kHttpRoute, "http_route"}};
const Names<RouteMatch::Path> kPathMatches = {{RouteMatch::Path::kAny, "any"},
                                              {RouteMatch::Path::kExact, "exact"},
                                              {RouteMatch::Path::kPrefix, "prefix"},
                                              {RouteMatch::Path::kRegex, "regex"}};
const Names<HeaderMatch::Kind> kHeaderMatches = {{HeaderMatch::Kind::kPresent, "present"},
                                                 {HeaderMatch::Kind::kExact, "exact"},
                                                 {HeaderMatch::Kind::kPrefix, "prefix"},
                                                 {HeaderMatch::Kind::kSuffix, "suffix"},
                                                 {HeaderMatch::Kind::kRegex, "regex"}};
const Names<QueryMatch::Kind> kQueryMatches = {{QueryMatch::Kind::kPresent, "present"},
                                               {QueryMatch::Kind::kExact, "exact"},
                                               {QueryMatch::Kind::kRegex, "regex"}};
const Names<Cluster::Tls> kTls = {{Cluster::Tls::kNone, "none"},
                                  {Cluster::Tls::kOriginate, "originate"}};
const Names<Cluster::Lb> kLbs = {{Cluster::Lb::kRoundRobin, "round_robin"},
                                 {Cluster::Lb::kLeastRequest, "least_request"}};
const Names<Endpoint::Health> kHealth = {{Endpoint::Health::kPassing, "passing"},
                                         {Endpoint::Health::kWarning, "warning"},
                                         {Endpoint::Health::kCritical, "critical"}};

Status DecodeEndpoint(const Json& v, const std::string& path, Endpoint* e) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Address", &e->address);
  if (s.ok()) s = ReadInt32(o, "Port", &e->port);
  if (s.ok()) s = ReadEnum(o, "Health", kHealth, &e->health);
  if (s.ok()) s = ReadString(o, "Node", &e->node);
  return s.ok() ? o.Finish() : s;
}

Status DecodeCluster(const Json& v, const std::string& path, Cluster* c) {
  Object o;
  int64_t timeout_ms = 0;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Name", &c->name);
  if (s.ok()) s = ReadEnum(o, "TLS", kTls, &c->tls);
  if (s.ok()) s = ReadString(o, "SNI", &c->sni);
  if (s.ok()) s = ReadStrings(o, "SpiffeIDs", &c->spiffe_ids);
  if (s.ok()) {
    s = ReadInt(o, "ConnectTimeoutMs", std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max(), &timeout_ms);
    c->connect_timeout = std::chrono::milliseconds(timeout_ms);
  }
  if (s.ok()) s = ReadEnum(o, "LB", kLbs, &c->lb);
  if (s.ok()) s = ReadStrings(o, "Failover", &c->failover);
  if (s.ok()) {
    s = ReadArray(o, "Endpoints", [c](const Json& ev, const std::string& at) {
      return DecodeEndpoint(ev, at, &c->endpoints.emplace_back());
    });
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeHeaderValue(const Json& v, const std::string& path, HeaderValue* h) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Name", &h->name);
  if (s.ok()) s = ReadString(o, "Value", &h->value);
  return s.ok() ? o.Finish() : s;
}

Status DecodeHeaderChanges(Object& parent, std::string_view key, HeaderChanges* h) {
  const Json* v;
  Object o;
  Status s = parent.Require(key, &v);
  if (s.ok()) s = o.Open(*v, parent.At(key));
  if (s.ok()) {
    s = ReadArray(o, "Add", [h](const Json& hv, const std::string& at) {
      return DecodeHeaderValue(hv, at, &h->add.emplace_back());
    });
  }
  if (s.ok()) {
    s = ReadArray(o, "Set", [h](const Json& hv, const std::string& at) {
      return DecodeHeaderValue(hv, at, &h->set.emplace_back());
    });
  }
  if (s.ok()) s = ReadStrings(o, "Remove", &h->remove);
  return s.ok() ? o.Finish() : s;
}

Status DecodeHeaderMatch(const Json& v, const std::string& path, HeaderMatch* h) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Name", &h->name);
  if (s.ok()) s = ReadEnum(o, "Match", kHeaderMatches, &h->kind);
  if (s.ok()) s = ReadString(o, "Value", &h->value);
  if (s.ok()) s = ReadBool(o, "Invert", &h->invert);
  return s.ok() ? o.Finish() : s;
}

Status DecodeQueryMatch(const Json& v, const std::string& path, QueryMatch* q) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Name", &q->name);
  if (s.ok()) s = ReadEnum(o, "Match", kQueryMatches, &q->kind);
  if (s.ok()) s = ReadString(o, "Value", &q->value);
  return s.ok() ? o.Finish() : s;
}

Status DecodeMatch(Object& parent, RouteMatch* m) {
  const Json* v;
  Object o;
  Status s = parent.Require("Match", &v);
  if (s.ok()) s = o.Open(*v, parent.At("Match"));
  if (s.ok()) s = ReadEnum(o, "PathMatch", kPathMatches, &m->path_kind);
  if (s.ok()) s = ReadString(o, "Path", &m->path);
  if (s.ok()) {
    s = ReadArray(o, "Headers", [m](const Json& hv, const std::string& at) {
      return DecodeHeaderMatch(hv, at, &m->headers.emplace_back());
    });
  }
  if (s.ok()) {
    s = ReadArray(o, "QueryParams", [m](const Json& qv, const std::string& at) {
      return DecodeQueryMatch(qv, at, &m->query_params.emplace_back());
    });
  }
  if (s.ok()) s = ReadStrings(o, "Methods", &m->methods);
  return s.ok() ? o.Finish() : s;
}

Status DecodeWeighted(const Json& v, const std::string& path, WeightedCluster* wc) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Cluster", &wc->cluster);
  if (s.ok()) s = ReadInt32(o, "Weight", &wc->weight);
  if (s.ok() && o.Find("RequestHeaders") != nullptr) {
    s = DecodeHeaderChanges(o, "RequestHeaders", &wc->request_headers);
  }
  if (s.ok() && o.Find("ResponseHeaders") != nullptr) {
    s = DecodeHeaderChanges(o, "ResponseHeaders", &wc->response_headers);
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeRoute(const Json& v, const std::string& path, Route* r) {
  Object o;
  int64_t timeout_ms = 0;
  Status s = o.Open(v, path);
  if (s.ok()) s = DecodeMatch(o, &r->match);
  if (s.ok()) {
    s = ReadArray(o, "Clusters", [r](const Json& cv, const std::string& at) {
      return DecodeWeighted(cv, at, &r->clusters.emplace_back());
    });
  }
  if (s.ok()) s = ReadString(o, "PrefixRewrite", &r->prefix_rewrite);
  if (s.ok()) {
    s = ReadInt(o, "RequestTimeoutMs", std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max(), &timeout_ms);
    r->request_timeout = std::chrono::milliseconds(timeout_ms);
  }
  if (s.ok()) s = ReadInt32(o, "NumRetries", &r->num_retries);
  if (s.ok()) s = ReadBool(o, "RetryOnConnectFailure", &r->retry_on_connect_failure);
  if (s.ok()) {
    s = ReadArray(o, "RetryOnStatusCodes", [r](const Json& cv, const std::string& at) {
      if (!cv.is_number_integer()) return WrongType(at, "an integer", cv);
      if (cv.is_number_unsigned() ? cv.get<uint64_t>() > 999
                                  : (cv.get<int64_t>() < 0 || cv.get<int64_t>() > 999)) {
        return Error(at, cv.dump() + " is out of range");
      }
      r->retry_on_status_codes.push_back(cv.get<int>());
      return Status::Ok();
    });
  }
  if (s.ok()) s = ReadStrings(o, "RetryOn", &r->retry_on);
  if (s.ok() && o.Find("IdleTimeoutMs") != nullptr) {
    int64_t idle_ms = 0;
    s = ReadInt(o, "IdleTimeoutMs", std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max(), &idle_ms);
    r->idle_timeout = std::chrono::milliseconds(idle_ms);
  }
  if (s.ok()) s = DecodeHeaderChanges(o, "RequestHeaders", &r->request_headers);
  if (s.ok()) s = DecodeHeaderChanges(o, "ResponseHeaders", &r->response_headers);
  return s.ok() ? o.Finish() : s;
}

Status DecodeRouteConfig(Object& parent, std::optional<RouteConfig>* out) {
  const Json* v = parent.Find("RouteConfig");
  if (v == nullptr || v->is_null()) return Status::Ok();
  Object o;
  RouteConfig rc;
  Status s = o.Open(*v, parent.At("RouteConfig"));
  if (s.ok()) {
    s = ReadArray(o, "Routes", [&rc](const Json& rv, const std::string& at) {
      return DecodeRoute(rv, at, &rc.routes.emplace_back());
    });
  }
  if (s.ok()) s = o.Finish();
  if (s.ok()) *out = std::move(rc);
  return s;
}

Status DecodeChain(const Json& v, const std::string& path, FilterChain* ch) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadStrings(o, "ServerNames", &ch->server_names);
  if (s.ok()) s = ReadEnum(o, "Action", kActions, &ch->action);
  if (s.ok()) s = ReadString(o, "Cluster", &ch->cluster);
  if (s.ok()) s = DecodeRouteConfig(o, &ch->route);
  if (const Json* h = o.Find("InboundHttp"); s.ok() && h != nullptr && !h->is_null()) {
    if (!h->is_boolean()) return WrongType(o.At("InboundHttp"), "a boolean", *h);
    ch->inbound_http = h->get<bool>();
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeListener(const Json& v, const std::string& path, Listener* l) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Name", &l->name);
  if (s.ok()) s = ReadString(o, "Address", &l->address);
  if (s.ok()) s = ReadInt32(o, "Port", &l->port);
  if (s.ok()) s = ReadEnum(o, "Kind", kListenerKinds, &l->kind);
  if (s.ok()) {
    s = ReadArray(o, "FilterChains", [l](const Json& cv, const std::string& at) {
      return DecodeChain(cv, at, &l->chains.emplace_back());
    });
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeLeaf(Object& parent, std::optional<Leaf>* out) {
  const Json* v = parent.Find("Leaf");
  if (v == nullptr || v->is_null()) return Status::Ok();
  Object o;
  Leaf leaf;
  Status s = o.Open(*v, parent.At("Leaf"));
  if (s.ok()) s = ReadString(o, "CertPEM", &leaf.cert_pem);
  if (s.ok()) s = ReadString(o, "PrivateKeyPEM", &leaf.private_key_pem);
  if (s.ok()) s = ReadString(o, "SpiffeID", &leaf.spiffe_id);
  if (s.ok()) s = ReadString(o, "ValidBefore", &leaf.valid_before);
  if (s.ok()) s = o.Finish();
  if (s.ok()) *out = std::move(leaf);
  return s;
}

Status DecodePermission(const Json& v, const std::string& path, AuthzPermission* p) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadBool(o, "Allow", &p->allow);
  if (s.ok()) s = DecodeMatch(o, &p->http);
  return s.ok() ? o.Finish() : s;
}

Status DecodeRule(const Json& v, const std::string& path, AuthzRule* r) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Source", &r->source);
  if (s.ok()) s = ReadBool(o, "Allow", &r->allow);
  if (s.ok()) s = ReadInt32(o, "Precedence", &r->precedence);
  if (s.ok()) s = ReadString(o, "ID", &r->id);
  if (s.ok()) {
    s = ReadArray(o, "Permissions", [r](const Json& pv, const std::string& at) {
      return DecodePermission(pv, at, &r->permissions.emplace_back());
    });
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeAuthz(Object& parent, Authz* a) {
  const Json* v;
  Object o;
  Status s = parent.Require("Authz", &v);
  if (s.ok()) s = o.Open(*v, parent.At("Authz"));
  if (s.ok()) s = ReadBool(o, "DefaultAllow", &a->default_allow);
  if (s.ok()) {
    s = ReadArray(o, "Rules", [a](const Json& rv, const std::string& at) {
      return DecodeRule(rv, at, &a->rules.emplace_back());
    });
  }
  return s.ok() ? o.Finish() : s;
}

Status DecodeTop(const Json& v, Config* c) {
  Object o;
  Status s = o.Open(v, "");
  if (s.ok()) s = ReadUint64(o, "Version", &c->version);
  if (s.ok()) s = ReadEnum(o, "Kind", kKinds, &c->kind);
  if (s.ok()) s = ReadString(o, "ProxyID", &c->proxy_id);
  if (s.ok()) s = ReadString(o, "Service", &c->service);
  if (s.ok()) s = ReadString(o, "Datacenter", &c->datacenter);
  if (s.ok()) s = ReadString(o, "TrustDomain", &c->trust_domain);
  if (s.ok()) s = DecodeLeaf(o, &c->leaf);
  if (s.ok()) s = ReadStrings(o, "RootsPEM", &c->roots_pem);
  if (s.ok()) {
    s = ReadArray(o, "Listeners", [c](const Json& lv, const std::string& at) {
      return DecodeListener(lv, at, &c->listeners.emplace_back());
    });
  }
  if (s.ok()) {
    s = ReadArray(o, "Clusters", [c](const Json& cv, const std::string& at) {
      return DecodeCluster(cv, at, &c->clusters.emplace_back());
    });
  }
  if (s.ok()) s = DecodeAuthz(o, &c->authz);
  return s.ok() ? o.Finish() : s;
}

}  // namespace

std::string EncodeConfig(const Config& c) {
  OJson j = OJson::object();
  j["Version"] = c.version;
  j["Kind"] = Str(KindName(c.kind));
  j["ProxyID"] = c.proxy_id;
  j["Service"] = c.service;
  j["Datacenter"] = c.datacenter;
  j["TrustDomain"] = c.trust_domain;
  if (c.leaf) {
    OJson leaf = OJson::object();
    leaf["CertPEM"] = c.leaf->cert_pem;
    leaf["PrivateKeyPEM"] = c.leaf->private_key_pem;
    leaf["SpiffeID"] = c.leaf->spiffe_id;
    leaf["ValidBefore"] = c.leaf->valid_before;
    j["Leaf"] = std::move(leaf);
  } else {
    j["Leaf"] = nullptr;
  }
  j["RootsPEM"] = c.roots_pem;
  OJson listeners = OJson::array();
  for (const Listener& l : c.listeners) listeners.push_back(EncodeListener(l));
  j["Listeners"] = std::move(listeners);
  OJson clusters = OJson::array();
  for (const Cluster& cl : c.clusters) clusters.push_back(EncodeCluster(cl));
  j["Clusters"] = std::move(clusters);
  OJson authz = OJson::object();
  authz["DefaultAllow"] = c.authz.default_allow;
  OJson rules = OJson::array();
  for (const AuthzRule& r : c.authz.rules) {
    OJson rj = OJson::object();
    rj["Source"] = r.source;
    rj["Allow"] = r.allow;
    rj["Precedence"] = r.precedence;
    rj["ID"] = r.id;
    // Written only when present, as RouteConfig is: a config without L7 intentions stays one
    // that proxies predating them accept.
    if (!r.permissions.empty()) {
      OJson perms = OJson::array();
      for (const AuthzPermission& p : r.permissions) {
        OJson pj = OJson::object();
        pj["Allow"] = p.allow;
        pj["Match"] = EncodeMatch(p.http);
        perms.push_back(std::move(pj));
      }
      rj["Permissions"] = std::move(perms);
    }
    rules.push_back(std::move(rj));
  }
  authz["Rules"] = std::move(rules);
  j["Authz"] = std::move(authz);
  return j.dump(2, ' ', false, OJson::error_handler_t::replace) + "\n";
}

Result<Config> DecodeConfig(std::string_view json) {
  Result<codec::Document> doc = codec::ParseJson(json);
  if (!doc.ok()) return doc.status();
  Config c;
  if (Status s = DecodeTop(doc->value, &c); !s.ok()) return s;
  if (Status s = Validate(c); !s.ok()) return s;
  return c;
}

}  // namespace gangway::proxy
