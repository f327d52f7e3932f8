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
                                             {FilterChain::Action::kSniCluster, "sni_cluster"}};
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

Status DecodeChain(const Json& v, const std::string& path, FilterChain* ch) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadStrings(o, "ServerNames", &ch->server_names);
  if (s.ok()) s = ReadEnum(o, "Action", kActions, &ch->action);
  if (s.ok()) s = ReadString(o, "Cluster", &ch->cluster);
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

Status DecodeRule(const Json& v, const std::string& path, AuthzRule* r) {
  Object o;
  Status s = o.Open(v, path);
  if (s.ok()) s = ReadString(o, "Source", &r->source);
  if (s.ok()) s = ReadBool(o, "Allow", &r->allow);
  if (s.ok()) s = ReadInt32(o, "Precedence", &r->precedence);
  if (s.ok()) s = ReadString(o, "ID", &r->id);
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
