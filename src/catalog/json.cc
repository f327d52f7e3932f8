#include "catalog/json.h"

#include <limits>

#include "catalog/internal/json_forms.h"
#include "core/base64.h"
#include "core/duration.h"

namespace gangway::catalog {
namespace internal {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 (overlong forms, surrogates and
// code points above U+10FFFF are ill-formed, as in Go's utf8.DecodeRune).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Go's json.Marshal replaces each byte that is not part of valid UTF-8 with U+FFFD.
std::string ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return std::string(s);
  std::string out(s.substr(0, i));
  while (i < s.size()) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

std::string Str(const std::string& s, Form form) { return form == Form::kApi ? ValidUtf8(s) : s; }

Json StrList(const std::vector<std::string>& list, Form form) {
  Json out = Json::array();
  for (const auto& s : list) out.push_back(Str(s, form));
  return out;
}

Json StrMap(const catalog::StringMap& m, Form form) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[Str(k, form)] = Str(v, form);
  return out;
}

// Opaque JSON (Proxy, Connect) came from a parser or from the log; in the API form it must dump.
Json Opaque(const Json& j, Form form) {
  if (form == Form::kStorage) return j;
  switch (j.type()) {
    case Json::value_t::string:
      return ValidUtf8(j.get_ref<const std::string&>());
    case Json::value_t::binary:
      return Base64Encode(std::string_view(reinterpret_cast<const char*>(j.get_binary().data()),
                                           j.get_binary().size()));
    case Json::value_t::array: {
      Json out = Json::array();
      for (const auto& v : j) out.push_back(Opaque(v, form));
      return out;
    }
    case Json::value_t::object: {
      Json out = Json::object();
      for (const auto& [k, v] : j.items()) out[ValidUtf8(k)] = Opaque(v, form);
      return out;
    }
    default:
      return j;
  }
}

Json DurationJson(int64_t ns, Form form) {
  if (form == Form::kStorage) return ns;
  return FormatDuration(gangway::Duration(ns));
}

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string Quote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

const char* TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::binary:
      return "binary";
    case Json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

// ---- FieldReader

FieldReader::FieldReader(const Json& j, std::string path) : path_(std::move(path)) {
  if (j.is_object()) {
    obj_ = &j;
  } else {
    status_ = InvalidArgument(
        (path_.empty() ? std::string("expected a JSON object") : path_ + ": expected an object") +
        ", got " + TypeName(j));
  }
}

const Json* FieldReader::Find(std::string_view key) const {
  if (obj_ == nullptr) return nullptr;
  auto it = obj_->find(key);
  if (it == obj_->end()) {
    for (auto i = obj_->begin(); i != obj_->end(); ++i) {
      if (EqualFold(i.key(), key)) {
        it = i;
        break;
      }
    }
  }
  if (it == obj_->end() || it->is_null()) return nullptr;
  return &*it;
}

std::string FieldReader::Path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void FieldReader::Fail(std::string_view key, std::string_view message) {
  if (status_.ok()) status_ = InvalidArgument(Path(key) + ": " + std::string(message));
}

FieldReader& FieldReader::String(std::string_view key, std::string* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (!v->is_string()) {
      Fail(key, std::string("expected a string, got ") + TypeName(*v));
    } else {
      *out = v->get<std::string>();
    }
  }
  return *this;
}

FieldReader& FieldReader::Bool(std::string_view key, bool* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (!v->is_boolean()) {
      Fail(key, std::string("expected a bool, got ") + TypeName(*v));
    } else {
      *out = v->get<bool>();
    }
  }
  return *this;
}

FieldReader& FieldReader::Int64(std::string_view key, int64_t* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      *out = v->get<int64_t>();
    } else if (v->is_number_unsigned() &&
               v->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *out = static_cast<int64_t>(v->get<uint64_t>());
    } else if (v->is_number_unsigned()) {
      Fail(key, "integer out of range");
    } else {
      Fail(key, std::string("expected an integer, got ") + TypeName(*v));
    }
  }
  return *this;
}

FieldReader& FieldReader::Int(std::string_view key, int* out) {
  if (!ok()) return *this;
  int64_t v = *out;
  Int64(key, &v);
  if (!ok()) return *this;
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    Fail(key, "integer out of range");
  } else {
    *out = static_cast<int>(v);
  }
  return *this;
}

FieldReader& FieldReader::Uint64(std::string_view key, uint64_t* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (v->is_number_unsigned()) {
      *out = v->get<uint64_t>();
    } else if (v->is_number_integer()) {
      Fail(key, "expected a non-negative integer");
    } else {
      Fail(key, std::string("expected an integer, got ") + TypeName(*v));
    }
  }
  return *this;
}

FieldReader& FieldReader::StringList(std::string_view key, std::vector<std::string>* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (!v->is_array()) {
      Fail(key, std::string("expected an array of strings, got ") + TypeName(*v));
      return *this;
    }
    out->clear();
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& s = (*v)[i];
      if (!s.is_string()) {
        Fail(std::string(key) + "[" + std::to_string(i) + "]",
             std::string("expected a string, got ") + TypeName(s));
        return *this;
      }
      out->push_back(s.get<std::string>());
    }
  }
  return *this;
}

FieldReader& FieldReader::StringMap(std::string_view key, catalog::StringMap* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (!v->is_object()) {
      Fail(key, std::string("expected an object of strings, got ") + TypeName(*v));
      return *this;
    }
    out->clear();
    for (const auto& [k, s] : v->items()) {
      if (!s.is_string()) {
        Fail(std::string(key) + "." + k, std::string("expected a string, got ") + TypeName(s));
        return *this;
      }
      (*out)[k] = s.get<std::string>();
    }
  }
  return *this;
}

FieldReader& FieldReader::Duration(std::string_view key, int64_t* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (v->is_string()) {
      auto d = ParseDuration(v->get<std::string>());
      if (!d.ok()) {
        Fail(key, d.status().message());
      } else {
        *out = d->count();
      }
    } else if (v->is_number_integer()) {
      Int64(key, out);
    } else {
      Fail(key, std::string("expected a duration string, got ") + TypeName(*v));
    }
  }
  return *this;
}

FieldReader& FieldReader::Object(std::string_view key, Json* out) {
  if (!ok()) return *this;
  if (const Json* v = Find(key)) {
    if (!v->is_object()) {
      Fail(key, std::string("expected an object, got ") + TypeName(*v));
    } else {
      *out = *v;
    }
  } else {
    *out = nullptr;
  }
  return *this;
}

// ---- Renderings

Json NodeToJson(const Node& n, Form form) {
  return {
      {"ID", Str(n.id, form)},
      {"Node", Str(n.node, form)},
      {"Address", Str(n.address, form)},
      {"Datacenter", Str(n.datacenter, form)},
      {"TaggedAddresses", StrMap(n.tagged_addresses, form)},
      {"Meta", StrMap(n.meta, form)},
      {"CreateIndex", n.raft.create_index},
      {"ModifyIndex", n.raft.modify_index},
  };
}

namespace {

Json TaggedAddressesJson(const std::map<std::string, ServiceAddress>& m, Form form) {
  Json out = Json::object();
  for (const auto& [k, a] : m) {
    out[Str(k, form)] = {{"Address", Str(a.address, form)}, {"Port", a.port}};
  }
  return out;
}

Json WeightsJson(const Weights& w) { return {{"Passing", w.passing}, {"Warning", w.warning}}; }

Json MeshGatewayJson(const MeshGatewayConfig& m, Form form) {
  Json j = Json::object();
  if (!m.mode.empty()) j["Mode"] = Str(m.mode, form);
  return j;
}

// Consul tags every field of Upstream omitempty; nested structs are rendered when they were given.
Json UpstreamJson(const Upstream& u, Form form) {
  Json j = Json::object();
  auto str = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = Str(v, form);
  };
  str("DestinationType", u.destination_type);
  str("DestinationNamespace", u.destination_namespace);
  str("DestinationPartition", u.destination_partition);
  str("DestinationPeer", u.destination_peer);
  str("DestinationName", u.destination_name);
  str("Datacenter", u.datacenter);
  str("LocalBindAddress", u.local_bind_address);
  if (u.local_bind_port != 0) j["LocalBindPort"] = u.local_bind_port;
  str("LocalBindSocketPath", u.local_bind_socket_path);
  str("LocalBindSocketMode", u.local_bind_socket_mode);
  if (!u.config.is_null()) j["Config"] = Opaque(u.config, form);
  if (u.mesh_gateway) j["MeshGateway"] = MeshGatewayJson(*u.mesh_gateway, form);
  if (u.centrally_configured) j["CentrallyConfigured"] = true;
  return j;
}

Json ExposeJson(const ExposeConfig& e, Form form) {
  Json j = Json::object();
  if (e.checks) j["Checks"] = true;
  if (e.paths.empty()) return j;
  Json paths = Json::array();
  for (const ExposePath& p : e.paths) {
    Json pj = Json::object();
    if (p.listener_port != 0) pj["ListenerPort"] = p.listener_port;
    if (!p.path.empty()) pj["Path"] = Str(p.path, form);
    if (p.local_path_port != 0) pj["LocalPathPort"] = p.local_path_port;
    if (!p.protocol.empty()) pj["Protocol"] = Str(p.protocol, form);
    paths.push_back(std::move(pj));
  }
  j["Paths"] = std::move(paths);
  return j;
}

}  // namespace

Json ProxyConfigToJson(const ProxyConfig& p, Form form) {
  Json j = Json::object();
  auto str = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = Str(v, form);
  };
  str("DestinationServiceName", p.destination_service_name);
  str("DestinationServiceID", p.destination_service_id);
  str("LocalServiceAddress", p.local_service_address);
  if (p.local_service_port != 0) j["LocalServicePort"] = p.local_service_port;
  str("LocalServiceSocketPath", p.local_service_socket_path);
  str("Mode", p.mode);
  if (!p.config.is_null()) j["Config"] = Opaque(p.config, form);
  if (!p.upstreams.empty()) {
    Json list = Json::array();
    for (const Upstream& u : p.upstreams) list.push_back(UpstreamJson(u, form));
    j["Upstreams"] = std::move(list);
  }
  if (p.mesh_gateway) j["MeshGateway"] = MeshGatewayJson(*p.mesh_gateway, form);
  if (p.expose) j["Expose"] = ExposeJson(*p.expose, form);
  if (p.transparent_proxy) {
    Json t = Json::object();
    if (p.transparent_proxy->outbound_listener_port != 0) {
      t["OutboundListenerPort"] = p.transparent_proxy->outbound_listener_port;
    }
    if (p.transparent_proxy->dialed_directly) t["DialedDirectly"] = true;
    j["TransparentProxy"] = std::move(t);
  }
  if (!p.access_logs.is_null()) j["AccessLogs"] = Opaque(p.access_logs, form);
  if (!p.envoy_extensions.is_null()) j["EnvoyExtensions"] = Opaque(p.envoy_extensions, form);
  return j;
}

namespace {

}  // namespace

Json NodeServiceToJson(const NodeService& s, Form form) {
  Json j = {
      {"ID", Str(s.id, form)},
      {"Service", Str(s.service, form)},
      {"Tags", StrList(s.tags, form)},
      {"Address", Str(s.address, form)},
      {"Meta", StrMap(s.meta, form)},
      {"Port", s.port},
      {"Weights", WeightsJson(s.weights)},
      {"EnableTagOverride", s.enable_tag_override},
      {"CreateIndex", s.raft.create_index},
      {"ModifyIndex", s.raft.modify_index},
  };
  // Consul tags these omitempty.
  if (!s.kind.empty()) j["Kind"] = Str(s.kind, form);
  if (!s.tagged_addresses.empty())
    j["TaggedAddresses"] = TaggedAddressesJson(s.tagged_addresses, form);
  if (!s.socket_path.empty()) j["SocketPath"] = Str(s.socket_path, form);
  if (s.proxy) j["Proxy"] = ProxyConfigToJson(*s.proxy, form);
  if (!s.connect.is_null()) j["Connect"] = Opaque(s.connect, form);
  return j;
}

Json CheckDefinitionToJson(const CheckDefinition& d, Form form) {
  // Every field is omitempty in Consul's HealthCheckDefinition.
  Json j = Json::object();
  if (!d.http.empty()) j["HTTP"] = Str(d.http, form);
  if (!d.header.empty()) {
    Json h = Json::object();
    for (const auto& [k, vs] : d.header) h[Str(k, form)] = StrList(vs, form);
    j["Header"] = std::move(h);
  }
  if (!d.method.empty()) j["Method"] = Str(d.method, form);
  if (!d.body.empty()) j["Body"] = Str(d.body, form);
  if (!d.tcp.empty()) j["TCP"] = Str(d.tcp, form);
  if (!d.script_args.empty()) j["ScriptArgs"] = StrList(d.script_args, form);
  if (!d.udp.empty()) j["UDP"] = Str(d.udp, form);
  if (!d.grpc.empty()) j["GRPC"] = Str(d.grpc, form);
  if (d.grpc_use_tls) j["GRPCUseTLS"] = true;
  if (!d.h2ping.empty()) j["H2PING"] = Str(d.h2ping, form);
  if (d.h2ping_use_tls) j["H2PingUseTLS"] = true;
  if (d.tls_skip_verify) j["TLSSkipVerify"] = true;
  if (!d.tls_server_name.empty()) j["TLSServerName"] = Str(d.tls_server_name, form);
  if (d.interval_ns != 0) j["Interval"] = DurationJson(d.interval_ns, form);
  if (d.timeout_ns != 0) j["Timeout"] = DurationJson(d.timeout_ns, form);
  if (d.ttl_ns != 0) j["TTL"] = DurationJson(d.ttl_ns, form);
  if (d.deregister_critical_service_after_ns != 0) {
    j["DeregisterCriticalServiceAfter"] =
        DurationJson(d.deregister_critical_service_after_ns, form);
  }
  return j;
}

Json HealthCheckToJson(const HealthCheck& c, Form form) {
  return {
      {"Node", Str(c.node, form)},
      {"CheckID", Str(c.check_id, form)},
      {"Name", Str(c.name, form)},
      {"Status", Str(c.status, form)},
      {"Notes", Str(c.notes, form)},
      {"Output", Str(c.output, form)},
      {"ServiceID", Str(c.service_id, form)},
      {"ServiceName", Str(c.service_name, form)},
      {"ServiceTags", StrList(c.service_tags, form)},
      {"Type", Str(c.type, form)},
      {"ExposedPort", c.exposed_port},
      {"Definition", CheckDefinitionToJson(c.definition, form)},
      {"CreateIndex", c.raft.create_index},
      {"ModifyIndex", c.raft.modify_index},
  };
}

Json KVEntryToJson(const KVEntry& e, Form form) {
  Json j = {
      {"LockIndex", e.lock_index},
      {"Key", Str(e.key, form)},
      {"Flags", e.flags},
      {"CreateIndex", e.raft.create_index},
      {"ModifyIndex", e.raft.modify_index},
  };
  if (form == Form::kApi) {
    j["Value"] = e.value.empty() ? Json(nullptr) : Json(Base64Encode(e.value));
  } else if (!e.value.empty()) {
    j["Value"] = Json::binary(std::vector<uint8_t>(e.value.begin(), e.value.end()));
  }
  if (!e.session.empty()) j["Session"] = Str(e.session, form);
  return j;
}

Json SessionToJson(const Session& s, Form form) {
  Json service_checks = nullptr;
  if (!s.service_checks.empty()) {
    service_checks = Json::array();
    for (const auto& c : s.service_checks) {
      service_checks.push_back({{"ID", Str(c.id, form)}, {"Namespace", Str(c.ns, form)}});
    }
  }
  Json j = {
      {"ID", Str(s.id, form)},
      {"Name", Str(s.name, form)},
      {"Node", Str(s.node, form)},
      {"LockDelay", s.lock_delay_ns},
      {"Behavior", Str(s.behavior, form)},
      {"TTL", Str(s.ttl, form)},
      {"NodeChecks", s.node_checks.empty() ? Json(nullptr) : StrList(s.node_checks, form)},
      {"ServiceChecks", std::move(service_checks)},
      {"CreateIndex", s.raft.create_index},
      {"ModifyIndex", s.raft.modify_index},
  };
  if (!s.checks.empty()) j["Checks"] = StrList(s.checks, form);
  return j;
}

// ---- Decoders (shared by both forms)

namespace {

Status DecodeNode(const Json& j, const std::string& path, Node* n) {
  FieldReader r(j, path);
  r.String("ID", &n->id)
      .String("Node", &n->node)
      .String("Address", &n->address)
      .String("Datacenter", &n->datacenter)
      .StringMap("TaggedAddresses", &n->tagged_addresses)
      .StringMap("Meta", &n->meta)
      .Uint64("CreateIndex", &n->raft.create_index)
      .Uint64("ModifyIndex", &n->raft.modify_index);
  return r.status();
}

Status DecodeMeshGateway(const FieldReader& parent, std::optional<MeshGatewayConfig>* out) {
  const Json* v = parent.Find("MeshGateway");
  if (v == nullptr) return Status::Ok();
  FieldReader r(*v, parent.Path("MeshGateway"));
  MeshGatewayConfig m;
  r.String("Mode", &m.mode);
  if (r.ok()) *out = m;
  return r.status();
}

// Any JSON value of one shape, kept verbatim (null when absent).
Status Verbatim(FieldReader* r, std::string_view key, bool list, Json* out) {
  const Json* v = r->Find(key);
  if (v == nullptr) return Status::Ok();
  if (list ? !v->is_array() : !v->is_object()) {
    r->Fail(key, std::string(list ? "expected an array, got " : "expected an object, got ") +
                     TypeName(*v));
    return r->status();
  }
  *out = *v;
  return Status::Ok();
}

Status DecodeUpstream(const Json& j, const std::string& path, Upstream* u) {
  FieldReader r(j, path);
  r.String("DestinationType", &u->destination_type)
      .String("DestinationNamespace", &u->destination_namespace)
      .String("DestinationPartition", &u->destination_partition)
      .String("DestinationPeer", &u->destination_peer)
      .String("DestinationName", &u->destination_name)
      .String("Datacenter", &u->datacenter)
      .String("LocalBindAddress", &u->local_bind_address)
      .Int("LocalBindPort", &u->local_bind_port)
      .String("LocalBindSocketPath", &u->local_bind_socket_path)
      .String("LocalBindSocketMode", &u->local_bind_socket_mode)
      .Object("Config", &u->config)
      .Bool("CentrallyConfigured", &u->centrally_configured);
  if (!r.ok()) return r.status();
  return DecodeMeshGateway(r, &u->mesh_gateway);
}

Status DecodeExpose(const FieldReader& parent, std::optional<ExposeConfig>* out) {
  const Json* v = parent.Find("Expose");
  if (v == nullptr) return Status::Ok();
  FieldReader r(*v, parent.Path("Expose"));
  ExposeConfig e;
  r.Bool("Checks", &e.checks);
  if (!r.ok()) return r.status();
  if (const Json* paths = r.Find("Paths")) {
    if (!paths->is_array()) {
      r.Fail("Paths", std::string("expected an array, got ") + TypeName(*paths));
      return r.status();
    }
    for (size_t i = 0; i < paths->size(); ++i) {
      ExposePath p;
      FieldReader pr((*paths)[i], r.Path("Paths") + "[" + std::to_string(i) + "]");
      pr.Int("ListenerPort", &p.listener_port)
          .String("Path", &p.path)
          .Int("LocalPathPort", &p.local_path_port)
          .String("Protocol", &p.protocol);
      if (!pr.ok()) return pr.status();
      e.paths.push_back(std::move(p));
    }
  }
  *out = std::move(e);
  return Status::Ok();
}

}  // namespace

Status DecodeProxyConfigAt(const Json& j, const std::string& path, ProxyConfig* p) {
  FieldReader r(j, path);
  r.String("DestinationServiceName", &p->destination_service_name)
      .String("DestinationServiceID", &p->destination_service_id)
      .String("LocalServiceAddress", &p->local_service_address)
      .Int("LocalServicePort", &p->local_service_port)
      .String("LocalServiceSocketPath", &p->local_service_socket_path)
      .String("Mode", &p->mode)
      .Object("Config", &p->config)
      .Object("AccessLogs", &p->access_logs);
  if (!r.ok()) return r.status();
  if (Status s = Verbatim(&r, "EnvoyExtensions", true, &p->envoy_extensions); !s.ok()) return s;
  if (const Json* ups = r.Find("Upstreams")) {
    if (!ups->is_array()) {
      r.Fail("Upstreams", std::string("expected an array, got ") + TypeName(*ups));
      return r.status();
    }
    for (size_t i = 0; i < ups->size(); ++i) {
      Upstream u;
      Status s = DecodeUpstream((*ups)[i], r.Path("Upstreams") + "[" + std::to_string(i) + "]", &u);
      if (!s.ok()) return s;
      p->upstreams.push_back(std::move(u));
    }
  }
  if (Status s = DecodeMeshGateway(r, &p->mesh_gateway); !s.ok()) return s;
  if (Status s = DecodeExpose(r, &p->expose); !s.ok()) return s;
  if (const Json* t = r.Find("TransparentProxy")) {
    FieldReader tr(*t, r.Path("TransparentProxy"));
    TransparentProxyConfig tp;
    tr.Int("OutboundListenerPort", &tp.outbound_listener_port)
        .Bool("DialedDirectly", &tp.dialed_directly);
    if (!tr.ok()) return tr.status();
    p->transparent_proxy = tp;
  }
  return Status::Ok();
}

namespace {

Status DecodeNodeService(const Json& j, const std::string& path, NodeService* s) {
  FieldReader r(j, path);
  r.String("Kind", &s->kind)
      .String("ID", &s->id)
      .String("Service", &s->service)
      .StringList("Tags", &s->tags)
      .String("Address", &s->address)
      .StringMap("Meta", &s->meta)
      .Int("Port", &s->port)
      .String("SocketPath", &s->socket_path)
      .Bool("EnableTagOverride", &s->enable_tag_override)
      .Object("Connect", &s->connect)
      .Uint64("CreateIndex", &s->raft.create_index)
      .Uint64("ModifyIndex", &s->raft.modify_index);
  if (!r.ok()) return r.status();
  if (const Json* proxy = r.Find("Proxy")) {
    ProxyConfig p;
    Status ps = DecodeProxyConfigAt(*proxy, r.Path("Proxy"), &p);
    if (!ps.ok()) return ps;
    s->proxy = std::move(p);
  }
  if (const Json* tagged = r.Find("TaggedAddresses")) {
    FieldReader t(*tagged, r.Path("TaggedAddresses"));
    if (!t.ok()) return t.status();
    for (const auto& [k, v] : tagged->items()) {
      ServiceAddress a;
      FieldReader ar(v, t.Path(k));
      ar.String("Address", &a.address).Int("Port", &a.port);
      if (!ar.ok()) return ar.status();
      s->tagged_addresses[k] = a;
    }
  }
  if (const Json* w = r.Find("Weights")) {
    FieldReader wr(*w, r.Path("Weights"));
    wr.Int("Passing", &s->weights.passing).Int("Warning", &s->weights.warning);
    if (!wr.ok()) return wr.status();
  }
  return Status::Ok();
}

Status DecodeCheckDefinition(const Json& j, const std::string& path, CheckDefinition* d) {
  FieldReader r(j, path);
  r.String("HTTP", &d->http)
      .String("Method", &d->method)
      .String("Body", &d->body)
      .String("TCP", &d->tcp)
      .StringList("ScriptArgs", &d->script_args)
      .String("UDP", &d->udp)
      .String("GRPC", &d->grpc)
      .Bool("GRPCUseTLS", &d->grpc_use_tls)
      .String("H2PING", &d->h2ping)
      .Bool("H2PingUseTLS", &d->h2ping_use_tls)
      .Bool("TLSSkipVerify", &d->tls_skip_verify)
      .String("TLSServerName", &d->tls_server_name)
      .Duration("Interval", &d->interval_ns)
      .Duration("Timeout", &d->timeout_ns)
      .Duration("TTL", &d->ttl_ns)
      .Duration("DeregisterCriticalServiceAfter", &d->deregister_critical_service_after_ns);
  if (!r.ok()) return r.status();
  if (const Json* h = r.Find("Header")) {
    FieldReader hr(*h, r.Path("Header"));
    if (!hr.ok()) return hr.status();
    for (const auto& [k, v] : h->items()) {
      // Header values are lists; Go rejects a bare string too.
      bool strings = v.is_array();
      for (size_t i = 0; strings && i < v.size(); ++i) strings = v[i].is_string();
      if (!strings) {
        return InvalidArgument(hr.Path(k) + ": expected an array of strings, got " + TypeName(v));
      }
      d->header[k] = v.get<std::vector<std::string>>();
    }
  }
  return Status::Ok();
}

Status DecodeHealthCheck(const Json& j, const std::string& path, HealthCheck* c) {
  FieldReader r(j, path);
  r.String("Node", &c->node)
      .String("CheckID", &c->check_id)
      .String("Name", &c->name)
      .String("Status", &c->status)
      .String("Notes", &c->notes)
      .String("Output", &c->output)
      .String("ServiceID", &c->service_id)
      .String("ServiceName", &c->service_name)
      .StringList("ServiceTags", &c->service_tags)
      .String("Type", &c->type)
      .Int("ExposedPort", &c->exposed_port)
      .Uint64("CreateIndex", &c->raft.create_index)
      .Uint64("ModifyIndex", &c->raft.modify_index);
  if (!r.ok()) return r.status();
  if (const Json* d = r.Find("Definition")) {
    return DecodeCheckDefinition(*d, r.Path("Definition"), &c->definition);
  }
  return Status::Ok();
}

Status DecodeKVEntry(const Json& j, const std::string& path, KVEntry* e) {
  FieldReader r(j, path);
  r.Uint64("LockIndex", &e->lock_index)
      .String("Key", &e->key)
      .Uint64("Flags", &e->flags)
      .String("Session", &e->session)
      .Uint64("CreateIndex", &e->raft.create_index)
      .Uint64("ModifyIndex", &e->raft.modify_index);
  if (!r.ok()) return r.status();
  if (const Json* v = r.Find("Value")) {
    if (v->is_binary()) {
      e->value.assign(v->get_binary().begin(), v->get_binary().end());
    } else if (v->is_string()) {
      auto decoded = Base64Decode(v->get_ref<const std::string&>());
      if (!decoded.ok())
        return InvalidArgument(r.Path("Value") + ": " + decoded.status().message());
      e->value = std::move(*decoded);
    } else {
      return InvalidArgument(r.Path("Value") + ": expected a base64 string, got " + TypeName(*v));
    }
  }
  return Status::Ok();
}

template <typename T>
Result<T> Decode(const Json& j, Status (*fn)(const Json&, const std::string&, T*)) {
  T out;
  Status s = fn(j, "", &out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace

Status DecodeNodeAt(const Json& j, const std::string& path, Node* out) {
  return DecodeNode(j, path, out);
}
Status DecodeNodeServiceAt(const Json& j, const std::string& path, NodeService* out) {
  return DecodeNodeService(j, path, out);
}
Status DecodeHealthCheckAt(const Json& j, const std::string& path, HealthCheck* out) {
  return DecodeHealthCheck(j, path, out);
}
Status DecodeKVEntryAt(const Json& j, const std::string& path, KVEntry* out) {
  return DecodeKVEntry(j, path, out);
}

Status DecodeSessionAt(const Json& j, const std::string& path, Session* out) {
  FieldReader r(j, path);
  r.String("ID", &out->id)
      .String("Name", &out->name)
      .String("Node", &out->node)
      .Int64("LockDelay", &out->lock_delay_ns)
      .String("Behavior", &out->behavior)
      .String("TTL", &out->ttl)
      .StringList("Checks", &out->checks)
      .StringList("NodeChecks", &out->node_checks)
      .Uint64("CreateIndex", &out->raft.create_index)
      .Uint64("ModifyIndex", &out->raft.modify_index);
  if (!r.ok()) return r.status();
  if (const Json* list = r.Find("ServiceChecks")) {
    if (!list->is_array()) return InvalidArgument(r.Path("ServiceChecks") + ": expected an array");
    out->service_checks.clear();
    for (size_t i = 0; i < list->size(); ++i) {
      FieldReader cr((*list)[i], r.Path("ServiceChecks") + "[" + std::to_string(i) + "]");
      if (!(*list)[i].is_object()) {
        return InvalidArgument(r.Path("ServiceChecks") + "[" + std::to_string(i) +
                               "]: expected an object");
      }
      ServiceCheckRef ref;
      cr.String("ID", &ref.id).String("Namespace", &ref.ns);
      if (!cr.ok()) return cr.status();
      out->service_checks.push_back(std::move(ref));
    }
  }
  return Status::Ok();
}

}  // namespace internal

using internal::Form;

Json NodeToJson(const Node& n) { return internal::NodeToJson(n, Form::kApi); }
Json NodeServiceToJson(const NodeService& s) { return internal::NodeServiceToJson(s, Form::kApi); }
Json ProxyConfigToJson(const ProxyConfig& p) { return internal::ProxyConfigToJson(p, Form::kApi); }
Json CheckDefinitionToJson(const CheckDefinition& d) {
  return internal::CheckDefinitionToJson(d, Form::kApi);
}
Json HealthCheckToJson(const HealthCheck& c) { return internal::HealthCheckToJson(c, Form::kApi); }
Json KVEntryToJson(const KVEntry& e) { return internal::KVEntryToJson(e, Form::kApi); }
Json SessionToJson(const Session& s) { return internal::SessionToJson(s, Form::kApi); }

Json ServiceNodeToJson(const ServiceNode& sn) {
  Json node = NodeToJson(sn.node);
  Json svc = NodeServiceToJson(sn.service);
  Json j = {
      {"ID", node["ID"]},
      {"Node", node["Node"]},
      {"Address", node["Address"]},
      {"Datacenter", node["Datacenter"]},
      {"TaggedAddresses", node["TaggedAddresses"]},
      {"NodeMeta", node["Meta"]},
      {"ServiceKind", svc.value("Kind", "")},
      {"ServiceID", svc["ID"]},
      {"ServiceName", svc["Service"]},
      {"ServiceTags", svc["Tags"]},
      {"ServiceAddress", svc["Address"]},
      {"ServiceWeights", svc["Weights"]},
      {"ServiceMeta", svc["Meta"]},
      {"ServicePort", svc["Port"]},
      {"ServiceEnableTagOverride", svc["EnableTagOverride"]},
      {"CreateIndex", sn.service.raft.create_index},
      {"ModifyIndex", sn.service.raft.modify_index},
  };
  if (svc.contains("TaggedAddresses")) j["ServiceTaggedAddresses"] = svc["TaggedAddresses"];
  if (svc.contains("SocketPath")) j["ServiceSocketPath"] = svc["SocketPath"];
  if (svc.contains("Proxy")) j["ServiceProxy"] = svc["Proxy"];
  if (svc.contains("Connect")) j["ServiceConnect"] = svc["Connect"];
  return j;
}

Json CheckServiceNodeToJson(const CheckServiceNode& csn) {
  Json checks = Json::array();
  for (const auto& c : csn.checks) checks.push_back(HealthCheckToJson(c));
  return {{"Node", NodeToJson(csn.node)},
          {"Service", NodeServiceToJson(csn.service)},
          {"Checks", std::move(checks)}};
}

Result<Node> NodeFromJson(const Json& j) { return internal::Decode(j, internal::DecodeNode); }
Result<NodeService> NodeServiceFromJson(const Json& j) {
  return internal::Decode(j, internal::DecodeNodeService);
}
Result<ProxyConfig> ProxyConfigFromJson(const Json& j) {
  return internal::Decode(j, internal::DecodeProxyConfigAt);
}
Result<CheckDefinition> CheckDefinitionFromJson(const Json& j) {
  return internal::Decode(j, internal::DecodeCheckDefinition);
}
Result<HealthCheck> HealthCheckFromJson(const Json& j) {
  return internal::Decode(j, internal::DecodeHealthCheck);
}
Result<KVEntry> KVEntryFromJson(const Json& j) {
  return internal::Decode(j, internal::DecodeKVEntry);
}

Result<ServiceNode> ServiceNodeFromJson(const Json& j) {
  // The row flattens node and service fields; map them back onto the two structs' shapes.
  internal::FieldReader r(j, "");
  if (!r.ok()) return r.status();
  static const std::pair<const char*, const char*> kNodeFields[] = {
      {"ID", "ID"},
      {"Node", "Node"},
      {"Address", "Address"},
      {"Datacenter", "Datacenter"},
      {"TaggedAddresses", "TaggedAddresses"},
      {"NodeMeta", "Meta"}};
  static const std::pair<const char*, const char*> kServiceFields[] = {
      {"ServiceKind", "Kind"},
      {"ServiceID", "ID"},
      {"ServiceName", "Service"},
      {"ServiceTags", "Tags"},
      {"ServiceAddress", "Address"},
      {"ServiceTaggedAddresses", "TaggedAddresses"},
      {"ServiceWeights", "Weights"},
      {"ServiceMeta", "Meta"},
      {"ServicePort", "Port"},
      {"ServiceSocketPath", "SocketPath"},
      {"ServiceEnableTagOverride", "EnableTagOverride"},
      {"ServiceProxy", "Proxy"},
      {"ServiceConnect", "Connect"},
      {"CreateIndex", "CreateIndex"},
      {"ModifyIndex", "ModifyIndex"}};
  Json node = Json::object();
  Json svc = Json::object();
  for (const auto& [from, to] : kNodeFields) {
    if (const Json* v = r.Find(from)) node[to] = *v;
  }
  for (const auto& [from, to] : kServiceFields) {
    if (const Json* v = r.Find(from)) svc[to] = *v;
  }
  ServiceNode out;
  Status s = internal::DecodeNode(node, "", &out.node);
  if (s.ok()) s = internal::DecodeNodeService(svc, "", &out.service);
  if (!s.ok()) return s;
  return out;
}

Result<CheckServiceNode> CheckServiceNodeFromJson(const Json& j) {
  internal::FieldReader r(j, "");
  if (!r.ok()) return r.status();
  CheckServiceNode out;
  if (const Json* n = r.Find("Node")) {
    if (Status s = internal::DecodeNode(*n, "Node", &out.node); !s.ok()) return s;
  }
  if (const Json* svc = r.Find("Service")) {
    if (Status s = internal::DecodeNodeService(*svc, "Service", &out.service); !s.ok()) return s;
  }
  if (const Json* checks = r.Find("Checks")) {
    if (!checks->is_array()) {
      return InvalidArgument(std::string("Checks: expected an array, got ") +
                             internal::TypeName(*checks));
    }
    for (size_t i = 0; i < checks->size(); ++i) {
      HealthCheck c;
      Status s = internal::DecodeHealthCheck((*checks)[i], "Checks[" + std::to_string(i) + "]", &c);
      if (!s.ok()) return s;
      out.checks.push_back(std::move(c));
    }
  }
  return out;
}

Json CoordinateToJson(const coordinate::Coordinate& c) {
  return {{"Vec", c.vec}, {"Error", c.error}, {"Adjustment", c.adjustment}, {"Height", c.height}};
}

Json CoordinateEntryToJson(const CoordinateEntry& e) {
  return {{"Node", e.node}, {"Segment", e.segment}, {"Coord", CoordinateToJson(e.coord)}};
}

Status DecodeCoordinateAt(const Json& j, const std::string& path, coordinate::Coordinate* out) {
  constexpr size_t kMaxDimensions = 64;
  if (!j.is_object()) return InvalidArgument(path + ": expected a map");
  internal::FieldReader r(j, path);
  *out = coordinate::Coordinate{};
  if (const Json* vec = r.Find("Vec")) {
    if (!vec->is_array()) return InvalidArgument(r.Path("Vec") + ": expected a list of numbers");
    if (vec->size() > kMaxDimensions) {
      return InvalidArgument(r.Path("Vec") + ": more than " + std::to_string(kMaxDimensions) +
                             " dimensions");
    }
    for (const Json& x : *vec) {
      if (!x.is_number()) return InvalidArgument(r.Path("Vec") + ": expected a list of numbers");
      out->vec.push_back(x.get<double>());
    }
  }
  for (auto [key, field] : {std::pair<const char*, double*>{"Error", &out->error},
                            {"Adjustment", &out->adjustment},
                            {"Height", &out->height}}) {
    const Json* v = r.Find(key);
    if (v == nullptr) continue;
    if (!v->is_number()) return InvalidArgument(r.Path(key) + ": expected a number");
    *field = v->get<double>();
  }
  return Status::Ok();
}

Status DecodeCoordinateEntryAt(const Json& j, const std::string& path, CoordinateEntry* out) {
  if (!j.is_object()) return InvalidArgument((path.empty() ? "body" : path) + ": expected a map");
  internal::FieldReader r(j, path);
  r.String("Node", &out->node).String("Segment", &out->segment);
  if (!r.ok()) return r.status();
  if (out->node.empty()) return InvalidArgument(r.Path("Node") + ": must not be empty");
  const Json* coord = r.Find("Coord");
  if (coord == nullptr) return InvalidArgument(r.Path("Coord") + ": missing");
  return DecodeCoordinateAt(*coord, r.Path("Coord"), &out->coord);
}

}  // namespace gangway::catalog
