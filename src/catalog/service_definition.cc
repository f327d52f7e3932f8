#include "catalog/service_definition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string_view>

#include "core/duration.h"
#include "core/strings.h"

namespace gangway::catalog {
namespace {

// ---------------------------------------------------------------------------------------------
// Field tables. `camel` is Consul's API name (and the key we store), `snake` its config-file
// spelling; a key matches a field when both agree after lowercasing and dropping '_'. `alias_of`
// makes a second spelling set the same field.

struct Field {
  std::string_view camel;
  std::string_view snake;
  std::string_view alias_of = {};
  std::string_view canonical() const { return alias_of.empty() ? camel : alias_of; }
};

constexpr Field kServiceFields[] = {
    {"Kind", "kind"},
    {"ID", "id"},
    {"Name", "name"},
    {"Tags", "tags"},
    {"Address", "address"},
    {"Port", "port"},
    {"SocketPath", "socket_path"},
    {"Meta", "meta"},
    {"TaggedAddresses", "tagged_addresses"},
    {"EnableTagOverride", "enable_tag_override"},
    {"Weights", "weights"},
    {"Check", "check"},
    {"Checks", "checks"},
    {"Proxy", "proxy"},
    {"Connect", "connect"},
    {"Locality", "locality"},
    // Accepted and ignored: Enterprise scoping and per-service ACL tokens.
    {"Namespace", "namespace"},
    {"Partition", "partition"},
    {"Token", "token"},
};

constexpr Field kTaggedAddressFields[] = {{"Address", "address"}, {"Port", "port"}};
constexpr Field kWeightsFields[] = {{"Passing", "passing"}, {"Warning", "warning"}};
constexpr Field kLocalityFields[] = {{"Region", "region"}, {"Zone", "zone"}};
constexpr Field kConnectFields[] = {{"Native", "native"}, {"SidecarService", "sidecar_service"}};

constexpr Field kProxyFields[] = {
    {"DestinationServiceName", "destination_service_name"},
    {"DestinationServiceID", "destination_service_id"},
    {"LocalServiceAddress", "local_service_address"},
    {"LocalServicePort", "local_service_port"},
    {"LocalServiceSocketPath", "local_service_socket_path"},
    {"Mode", "mode"},
    {"TransparentProxy", "transparent_proxy"},
    {"Config", "config"},
    {"Upstreams", "upstreams"},
    {"MeshGateway", "mesh_gateway"},
    {"Expose", "expose"},
    {"AccessLogs", "access_logs"},
    {"EnvoyExtensions", "envoy_extensions"},
};

constexpr Field kTransparentProxyFields[] = {
    {"OutboundListenerPort", "outbound_listener_port"},
    {"DialedDirectly", "dialed_directly"},
};
constexpr Field kMeshGatewayFields[] = {{"Mode", "mode"}};
constexpr Field kExposeFields[] = {{"Checks", "checks"}, {"Paths", "paths"}};
constexpr Field kExposePathFields[] = {
    {"ListenerPort", "listener_port"},
    {"Path", "path"},
    {"LocalPathPort", "local_path_port"},
    {"Protocol", "protocol"},
};

constexpr Field kUpstreamFields[] = {
    {"DestinationType", "destination_type"},
    {"DestinationName", "destination_name"},
    {"DestinationNamespace", "destination_namespace"},
    {"DestinationPartition", "destination_partition"},
    {"DestinationPeer", "destination_peer"},
    {"Datacenter", "datacenter"},
    {"LocalBindAddress", "local_bind_address"},
    {"LocalBindPort", "local_bind_port"},
    {"LocalBindSocketPath", "local_bind_socket_path"},
    {"LocalBindSocketMode", "local_bind_socket_mode"},
    {"Config", "config"},
    {"MeshGateway", "mesh_gateway"},
    {"CentrallyConfigured", "centrally_configured"},
    {"CentralConfig", "central_config", "CentrallyConfigured"},
    // The tutorial's name for the destination; accepted with a note.
    {"PackageName", "package_name"},
};

constexpr Field kCheckFields[] = {
    {"CheckID", "check_id"},
    {"ID", "id", "CheckID"},
    {"Name", "name"},
    {"Notes", "notes"},
    {"ServiceID", "service_id"},
    {"Status", "status"},
    {"TTL", "ttl"},
    {"HTTP", "http"},
    {"Header", "header"},
    {"Method", "method"},
    {"Body", "body"},
    {"DisableRedirects", "disable_redirects"},
    {"TCP", "tcp"},
    {"TCPUseTLS", "tcp_use_tls"},
    {"TLSSkipVerify", "tls_skip_verify"},
    {"TLSServerName", "tls_server_name"},
    {"Interval", "interval"},
    {"Timeout", "timeout"},
    {"SuccessBeforePassing", "success_before_passing"},
    {"FailuresBeforeWarning", "failures_before_warning"},
    {"FailuresBeforeCritical", "failures_before_critical"},
    {"DeregisterCriticalServiceAfter", "deregister_critical_service_after"},
    {"AliasService", "alias_service"},
    {"AliasNode", "alias_node"},
    {"OutputMaxSize", "output_max_size"},
    // Recognised so that they get a clear "not supported" instead of "invalid config key".
    {"ScriptArgs", "script_args"},
    {"Args", "args", "ScriptArgs"},
    {"Shell", "shell"},
    {"DockerContainerID", "docker_container_id"},
    {"GRPC", "grpc"},
    {"GRPCUseTLS", "grpc_use_tls"},
    {"H2PING", "h2ping"},
    {"H2PingUseTLS", "h2ping_use_tls"},
    {"UDP", "udp"},
    {"OSService", "os_service"},
    // Accepted and ignored.
    {"Namespace", "namespace"},
    {"Partition", "partition"},
    {"Token", "token"},
};

constexpr std::string_view kMeshGatewayUpstream = "mesh-gateway-upstream";

bool IsGatewayKind(std::string_view kind) {
  return kind == "mesh-gateway" || kind == "terminating-gateway" || kind == "ingress-gateway" ||
         kind == "api-gateway";
}

std::string Normalize(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '_') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

// Users who write snake_case (config files) get suggestions in snake_case; CamelCase (API
// bodies) in CamelCase.
bool SnakeStyle(std::string_view key) {
  if (key.find('_') != std::string_view::npos) return true;
  return std::none_of(key.begin(), key.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string Quote(std::string_view s) {
  // Messages must stay valid UTF-8 (they end up in JSON error bodies): cut on a character
  // boundary and let the JSON encoder escape the rest.
  constexpr size_t kMax = 60;
  std::string cut(s.substr(0, kMax));
  if (s.size() > kMax) {
    while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80) cut.pop_back();
    if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0x80)) cut.pop_back();
  }
  std::string q = Json(cut).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMax) q.insert(q.size() - 1, "...");
  return q;
}

std::string Describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "string " + Quote(v.get_ref<const std::string&>());
    case Json::value_t::boolean:
      return v.get<bool>() ? "bool true" : "bool false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number " + v.dump();
    case Json::value_t::array:
      return "a list";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::null:
      return "null";
    default:
      return "a value";
  }
}

std::string EscapeToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}

// Where a value sits: the dotted path shown to users (their own spelling of the keys) and the
// JSON pointer used to look up its line.
struct Loc {
  std::string path;
  std::string pointer;

  Loc Key(std::string_view key) const {
    return {path.empty() ? std::string(key) : path + "." + std::string(key),
            pointer + "/" + EscapeToken(key)};
  }
  Loc Index(size_t i) const {
    return {path + "[" + std::to_string(i) + "]", pointer + "/" + std::to_string(i)};
  }
};

// Turns Source::base ("/services/0") into a path ("services[0]"), consulting the document to
// tell list indexes from object keys.
Loc LocFromSource(const Source& src) {
  Loc loc;
  loc.pointer = src.base;
  const Json* node = src.doc ? &src.doc->value : nullptr;
  if (src.base.empty() || src.base[0] != '/') return loc;
  for (const std::string& raw : Split(std::string_view(src.base).substr(1), '/')) {
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        tok.push_back(raw[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        tok.push_back(raw[i]);
      }
    }
    bool numeric = !tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos;
    bool is_index = node ? node->is_array() : numeric;
    if (is_index && numeric) {
      loc.path += "[" + tok + "]";
      size_t idx = 0;
      std::from_chars(tok.data(), tok.data() + tok.size(), idx);
      node = node && idx < node->size() ? &(*node)[idx] : nullptr;
    } else {
      loc.path += (loc.path.empty() ? "" : ".") + tok;
      node = node && node->is_object() && node->contains(tok) ? &(*node)[tok] : nullptr;
    }
  }
  return loc;
}

// " (line 12 of web.json)", " (line 12)", " (web.json)" or "".
std::string WhereIn(const codec::Document& doc, const std::string& pointer) {
  int line = doc.LineOf(pointer);
  if (line > 0 && !doc.file.empty()) {
    return " (line " + std::to_string(line) + " of " + doc.file + ")";
  }
  if (line > 0) return " (line " + std::to_string(line) + ")";
  if (!doc.file.empty()) return " (" + doc.file + ")";
  return "";
}

struct Member {
  std::string key;  // as the user spelled it
  const Json* value = nullptr;
  Loc loc;
};
using Members = std::map<std::string_view, Member>;  // by canonical field name

// What the enclosing service tells a nested decoder.
struct ServiceContext {
  bool is_sidecar = false;
  std::string parent_kind;  // of the service holding Connect.SidecarService
};

class Decoder {
 public:
  explicit Decoder(const codec::Document* doc) : doc_(doc) {}

  std::vector<std::string> TakeNotes() { return std::move(notes_); }

  Status DecodeService(const Json& v, const Loc& loc, const ServiceContext& ctx,
                       ServiceRegistration* out);
  Status DecodeCheck(const Json& v, const Loc& loc, CheckRegistration* out);

 private:
  std::string Where(const Loc& loc) const { return doc_ ? WhereIn(*doc_, loc.pointer) : ""; }

  Status Fail(const Loc& loc, const std::string& msg) const {
    return InvalidArgument((loc.path.empty() ? "" : loc.path + ": ") + msg + Where(loc));
  }

  void Note(const Loc& loc, const std::string& msg) {
    std::string where = doc_ ? doc_->Where(loc.pointer) : "";
    notes_.push_back((where.empty() ? "" : where + ": ") + msg);
  }

  Status Wrong(const Loc& loc, const char* expected, const Json& got) const {
    return Fail(loc, std::string("expected ") + expected + ", got " + Describe(got));
  }

  Status ReadMembers(const Json& obj, const Loc& loc, std::span<const Field> fields,
                     Members* out) const;

  // Typed readers. Absent or null members leave *out untouched. Values are decoded weakly, as
  // Consul decodes config files: "8080" is a valid number, "true" a valid bool, a single string
  // a valid list.
  Status AsString(const Json& v, const Loc& loc, std::string* out) const;
  Status AsInt(const Json& v, const Loc& loc, int64_t lo, int64_t hi, int64_t* out) const;
  Status AsBool(const Json& v, const Loc& loc, bool* out) const;
  Status AsDuration(const Json& v, const Loc& loc, int64_t* ns) const;

  Status Str(const Members& m, std::string_view f, std::string* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok() : AsString(*it->second.value, it->second.loc, out);
  }
  Status Int(const Members& m, std::string_view f, int64_t lo, int64_t hi, int* out) const {
    auto it = m.find(f);
    if (it == m.end()) return Status::Ok();
    int64_t v = 0;
    Status s = AsInt(*it->second.value, it->second.loc, lo, hi, &v);
    if (s.ok()) *out = static_cast<int>(v);
    return s;
  }
  Status Port(const Members& m, std::string_view f, int* out) const {
    return Int(m, f, 0, 65535, out);
  }
  Status Bool(const Members& m, std::string_view f, bool* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok() : AsBool(*it->second.value, it->second.loc, out);
  }
  Status Dur(const Members& m, std::string_view f, int64_t* ns) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok() : AsDuration(*it->second.value, it->second.loc, ns);
  }
  Status StrList(const Members& m, std::string_view f, std::vector<std::string>* out) const;
  Status StrMap(const Members& m, std::string_view f, StringMap* out) const;
  // An opaque object (Config, AccessLogs): copied verbatim into out[name].
  Status Opaque(const Members& m, std::string_view f, bool list, Json* out) const;
  // Stores a string member under its canonical name when set.
  Status CopyStr(const Members& m, std::string_view f, Json* out) const {
    std::string s;
    if (!m.count(f)) return Status::Ok();
    Status st = Str(m, f, &s);
    if (st.ok()) (*out)[std::string(f)] = s;
    return st;
  }
  Status CopyPort(const Members& m, std::string_view f, Json* out) const {
    int p = 0;
    if (!m.count(f)) return Status::Ok();
    Status st = Port(m, f, &p);
    if (st.ok()) (*out)[std::string(f)] = p;
    return st;
  }
  Status OneOf(const Members& m, std::string_view f, std::initializer_list<std::string_view> valid,
               Json* out) const;
  Status MeshGateway(const Members& m, Json* out) const;

  Status DecodeMeta(const Members& m, const std::string& kind, StringMap* out) const;
  Status DecodeTaggedAddresses(const Members& m, std::map<std::string, ServiceAddress>* out) const;
  Status DecodeWeights(const Members& m, Weights* out) const;
  Status DecodeChecks(const Members& m, std::vector<CheckRegistration>* out);
  Status DecodeProxy(const Json& v, const Loc& loc, const std::string& kind, bool static_route,
                     Json* out);
  Status DecodeUpstream(const Json& v, const Loc& loc, bool static_route, Json* out,
                        bool* centrally_configured);
  Status DecodeExpose(const Json& v, const Loc& loc, Json* out) const;

  const codec::Document* doc_;
  std::vector<std::string> notes_;
};

Status Decoder::ReadMembers(const Json& obj, const Loc& loc, std::span<const Field> fields,
                            Members* out) const {
  if (!obj.is_object()) return Wrong(loc, "an object", obj);
  for (const auto& [key, value] : obj.items()) {
    const std::string norm = Normalize(key);
    const Field* field = nullptr;
    for (const Field& f : fields) {
      if (Normalize(f.camel) == norm) {
        field = &f;
        break;
      }
    }
    Loc at = loc.Key(key);
    if (!field) {
      std::vector<std::string> names;
      for (const Field& f : fields) names.push_back(Normalize(f.camel));
      std::string near = Nearest(norm, names);
      std::string msg = "invalid config key " + Quote(at.path) + Where(at);
      if (!near.empty()) {
        for (const Field& f : fields) {
          if (Normalize(f.camel) == near) {
            msg += "; did you mean \"" + std::string(SnakeStyle(key) ? f.snake : f.camel) + "\"?";
            break;
          }
        }
      }
      return InvalidArgument(msg);
    }
    auto [it, inserted] = out->emplace(field->canonical(), Member{key, &value, at});
    if (!inserted) {
      return Fail(loc, Quote(it->second.key) + " and " + Quote(key) + " both set " +
                           std::string(field->canonical()) + "; keep one");
    }
    if (value.is_null()) out->erase(it);  // null means "not set", as with Go's decoder
  }
  return Status::Ok();
}

Status Decoder::AsString(const Json& v, const Loc& loc, std::string* out) const {
  if (v.is_string()) {
    *out = v.get<std::string>();
  } else if (v.is_boolean()) {
    *out = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    *out = v.dump();
  } else {
    return Wrong(loc, "a string", v);
  }
  return Status::Ok();
}

Status Decoder::AsInt(const Json& v, const Loc& loc, int64_t lo, int64_t hi, int64_t* out) const {
  int64_t n = 0;
  bool ok = false;
  bool too_big = false;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
    ok = true;
  } else if (v.is_number_unsigned()) {
    // nlohmann's own parser (HTTP bodies) stores every non-negative integer as unsigned.
    if (v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      n = static_cast<int64_t>(v.get<uint64_t>());
      ok = true;
    } else {
      too_big = true;
    }
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::trunc(d)) {
      if (std::fabs(d) < 9.0e15) {
        n = static_cast<int64_t>(d);
        ok = true;
      } else {
        too_big = true;
      }
    }
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
    too_big = r.ec == std::errc::result_out_of_range;
  }
  if (!ok && !too_big) return Wrong(loc, v.is_number_float() ? "a whole number" : "a number", v);
  if (too_big || n < lo || n > hi) {
    return Fail(loc, (v.is_string() ? v.get<std::string>() : v.dump()) + " is out of range (" +
                         std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }
  *out = n;
  return Status::Ok();
}

Status Decoder::AsBool(const Json& v, const Loc& loc, bool* out) const {
  if (v.is_boolean()) {
    *out = v.get<bool>();
    return Status::Ok();
  }
  if (v.is_string()) {
    std::string s = ToLower(v.get<std::string>());
    if (s == "true" || s == "1" || s == "t") {
      *out = true;
      return Status::Ok();
    }
    if (s == "false" || s == "0" || s == "f") {
      *out = false;
      return Status::Ok();
    }
  }
  if (v.is_number_integer() || v.is_number_unsigned()) {
    *out = v.get<int64_t>() != 0;
    return Status::Ok();
  }
  return Wrong(loc, "true or false", v);
}

Status Decoder::AsDuration(const Json& v, const Loc& loc, int64_t* ns) const {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    // Go's API encodes time.Duration as integer nanoseconds.
    int64_t n = 0;
    Status s = AsInt(v, loc, 0, std::numeric_limits<int64_t>::max(), &n);
    if (!s.ok()) return s;
    *ns = n;
    return Status::Ok();
  }
  if (!v.is_string()) return Wrong(loc, "a duration such as \"10s\"", v);
  auto d = ParseDuration(v.get<std::string>());
  if (!d.ok()) return Fail(loc, d.status().message());
  if (d->count() < 0) {
    return Fail(loc, "duration " + Quote(v.get<std::string>()) + " must not be negative");
  }
  *ns = d->count();
  return Status::Ok();
}

Status Decoder::StrList(const Members& m, std::string_view f, std::vector<std::string>* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  const Json& v = *it->second.value;
  out->clear();
  if (!v.is_array()) {
    if (!v.is_string()) return Wrong(it->second.loc, "a list of strings", v);
    out->push_back(v.get<std::string>());
    return Status::Ok();
  }
  for (size_t i = 0; i < v.size(); ++i) {
    std::string s;
    if (!v[i].is_string() && !v[i].is_number() && !v[i].is_boolean()) {
      return Wrong(it->second.loc.Index(i), "a string", v[i]);
    }
    Status st = AsString(v[i], it->second.loc.Index(i), &s);
    if (!st.ok()) return st;
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Status Decoder::StrMap(const Members& m, std::string_view f, StringMap* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  const Json& v = *it->second.value;
  if (!v.is_object()) return Wrong(it->second.loc, "an object of strings", v);
  out->clear();
  for (const auto& [k, e] : v.items()) {
    std::string s;
    if (!e.is_null()) {
      Status st = AsString(e, it->second.loc.Key(k), &s);
      if (!st.ok()) return st;
    }
    (*out)[k] = std::move(s);
  }
  return Status::Ok();
}

Status Decoder::Opaque(const Members& m, std::string_view f, bool list, Json* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  const Json& v = *it->second.value;
  if (list ? !v.is_array() : !v.is_object()) {
    return Wrong(it->second.loc, list ? "a list" : "an object", v);
  }
  (*out)[std::string(f)] = v;
  return Status::Ok();
}

Status Decoder::OneOf(const Members& m, std::string_view f,
                      std::initializer_list<std::string_view> valid, Json* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  std::string s;
  Status st = AsString(*it->second.value, it->second.loc, &s);
  if (!st.ok()) return st;
  if (std::find(valid.begin(), valid.end(), s) == valid.end()) {
    std::string list;
    for (auto v : valid)
      list += (list.empty() ? "" : ", ") + std::string("\"") + std::string(v) + "\"";
    return Fail(it->second.loc, "invalid value " + Quote(s) + "; must be one of " + list);
  }
  (*out)[std::string(f)] = s;
  return Status::Ok();
}

Status Decoder::MeshGateway(const Members& m, Json* out) const {
  auto it = m.find("MeshGateway");
  if (it == m.end()) return Status::Ok();
  Members mg;
  Status s = ReadMembers(*it->second.value, it->second.loc, kMeshGatewayFields, &mg);
  if (!s.ok()) return s;
  Json j = Json::object();
  s = OneOf(mg, "Mode", {"", "none", "local", "remote"}, &j);
  if (!s.ok()) return s;
  (*out)["MeshGateway"] = std::move(j);
  return Status::Ok();
}

Status Decoder::DecodeMeta(const Members& m, const std::string& kind, StringMap* out) const {
  Status s = StrMap(m, "Meta", out);
  if (!s.ok()) return s;
  auto it = m.find("Meta");
  if (it == m.end()) return Status::Ok();
  const Loc& loc = it->second.loc;
  // Consul's limits (structs.ValidateServiceMetadata).
  if (out->size() > 64) {
    return Fail(loc, "Service metadata cannot contain more than 64 key/value pairs");
  }
  for (const auto& [k, v] : *out) {
    Loc at = loc.Key(k);
    if (k.empty()) return Fail(loc, "Key cannot be blank");
    if (k.size() > 128) return Fail(at, "Key is too long (limit: 128 characters)");
    bool valid = std::all_of(k.begin(), k.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    });
    if (!valid) return Fail(at, "Key " + Quote(k) + " contains invalid characters");
    if (StartsWith(k, "consul-") && !(kind == "mesh-gateway" && k == "consul-wan-federation")) {
      return Fail(at, "Key prefix 'consul-' is reserved for internal use");
    }
    if (v.size() > 512) return Fail(at, "Value is too long (limit: 512 characters)");
  }
  return Status::Ok();
}

Status Decoder::DecodeTaggedAddresses(const Members& m,
                                      std::map<std::string, ServiceAddress>* out) const {
  auto it = m.find("TaggedAddresses");
  if (it == m.end()) return Status::Ok();
  const Json& v = *it->second.value;
  if (!v.is_object()) return Wrong(it->second.loc, "an object", v);
  out->clear();
  for (const auto& [tag, addr] : v.items()) {
    Members am;
    Loc at = it->second.loc.Key(tag);
    if (addr.is_null()) continue;
    Status s = ReadMembers(addr, at, kTaggedAddressFields, &am);
    if (!s.ok()) return s;
    ServiceAddress sa;
    s = Str(am, "Address", &sa.address);
    if (s.ok()) s = Port(am, "Port", &sa.port);
    if (!s.ok()) return s;
    (*out)[tag] = sa;
  }
  return Status::Ok();
}

Status Decoder::DecodeWeights(const Members& m, Weights* out) const {
  auto it = m.find("Weights");
  if (it == m.end()) return Status::Ok();
  Members wm;
  Status s = ReadMembers(*it->second.value, it->second.loc, kWeightsFields, &wm);
  if (!s.ok()) return s;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  s = Int(wm, "Passing", std::numeric_limits<int32_t>::min(), kMax, &out->passing);
  if (s.ok()) s = Int(wm, "Warning", std::numeric_limits<int32_t>::min(), kMax, &out->warning);
  if (!s.ok()) return s;
  if (out->passing < 1) return Fail(it->second.loc, "Passing must be greater than 0");
  if (out->warning < 0) return Fail(it->second.loc, "Warning must be greater or equal than 0");
  return Status::Ok();
}

Status Decoder::DecodeChecks(const Members& m, std::vector<CheckRegistration>* out) {
  // "Check" is one object, "Checks" a list; in HCL repeated `check { }` blocks arrive as a list
  // and one `checks { }` block as an object, so both accept both.
  for (std::string_view f : {"Check", "Checks"}) {
    auto it = m.find(f);
    if (it == m.end()) continue;
    const Json& v = *it->second.value;
    if (v.is_object()) {
      CheckRegistration c;
      Status s = DecodeCheck(v, it->second.loc, &c);
      if (!s.ok()) return s;
      out->push_back(std::move(c));
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        CheckRegistration c;
        Status s = DecodeCheck(v[i], it->second.loc.Index(i), &c);
        if (!s.ok()) return s;
        out->push_back(std::move(c));
      }
    } else {
      return Wrong(it->second.loc, f == "Check" ? "an object" : "a list of objects", v);
    }
  }
  return Status::Ok();
}

Status Decoder::DecodeCheck(const Json& v, const Loc& loc, CheckRegistration* out) {
  Members m;
  Status s = ReadMembers(v, loc, kCheckFields, &m);
  if (!s.ok()) return s;
  CheckDefinition& d = out->definition;
  constexpr int64_t kMaxCount = std::numeric_limits<int32_t>::max();
  int64_t output_max_size = 0;
  int64_t ttl = 0;
  // Each reader below runs; the first failure, in field order, is reported.
  for (auto step : {
           Str(m, "CheckID", &out->check_id),
           Str(m, "Name", &out->name),
           Str(m, "Notes", &out->notes),
           Str(m, "ServiceID", &out->service_id),
           Str(m, "Status", &out->status),
           Dur(m, "TTL", &ttl),
           Str(m, "HTTP", &d.http),
           Str(m, "Method", &d.method),
           Str(m, "Body", &d.body),
           Str(m, "TCP", &d.tcp),
           Bool(m, "TLSSkipVerify", &d.tls_skip_verify),
           Str(m, "TLSServerName", &d.tls_server_name),
           Dur(m, "Interval", &d.interval_ns),
           Dur(m, "Timeout", &d.timeout_ns),
           Int(m, "SuccessBeforePassing", 0, kMaxCount, &out->success_before_passing),
           Int(m, "FailuresBeforeWarning", 0, kMaxCount, &out->failures_before_warning),
           Int(m, "FailuresBeforeCritical", 0, kMaxCount, &out->failures_before_critical),
           Dur(m, "DeregisterCriticalServiceAfter", &d.deregister_critical_service_after_ns),
           Str(m, "AliasService", &out->alias_service),
           Str(m, "AliasNode", &out->alias_node),
       }) {
    if (!step.ok()) return step;
  }
  d.ttl_ns = ttl;
  if (auto it = m.find("OutputMaxSize"); it != m.end()) {
    s = AsInt(*it->second.value, it->second.loc, 0, std::numeric_limits<int64_t>::max(),
              &output_max_size);
    if (!s.ok()) return s;
  }
  for (std::string_view f : {"TCPUseTLS", "GRPCUseTLS", "H2PingUseTLS", "DisableRedirects"}) {
    bool ignored = false;
    s = Bool(m, f, &ignored);
    if (!s.ok()) return s;
  }
  for (std::string_view f : {"Namespace", "Partition", "Token", "Shell"}) {
    std::string ignored;
    s = Str(m, f, &ignored);
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Header"); it != m.end()) {
    const Json& h = *it->second.value;
    if (!h.is_object()) return Wrong(it->second.loc, "an object of header lists", h);
    for (const auto& [name, values] : h.items()) {
      Loc at = it->second.loc.Key(name);
      std::vector<std::string>& list = d.header[name];
      if (values.is_string()) {
        list.push_back(values.get<std::string>());
        continue;
      }
      if (!values.is_array()) return Wrong(at, "a list of strings", values);
      for (size_t i = 0; i < values.size(); ++i) {
        if (!values[i].is_string()) return Wrong(at.Index(i), "a string", values[i]);
        list.push_back(values[i].get<std::string>());
      }
    }
  }

  std::string label = !out->name.empty()       ? out->name
                      : !out->check_id.empty() ? out->check_id
                                               : std::string();
  const std::string who = label.empty() ? "Check: " : "Check " + Quote(label) + ": ";
  auto bad = [&](const std::string& msg) { return Fail(loc, who + msg); };

  if (m.count("ScriptArgs") || m.count("DockerContainerID")) {
    return bad("script checks (" +
               m.at(m.count("ScriptArgs") ? "ScriptArgs" : "DockerContainerID").key +
               ") are not supported by Gangway; use an HTTP, TCP or TTL check");
  }
  for (std::string_view f : {"GRPC", "H2PING", "UDP", "OSService"}) {
    if (m.count(f)) {
      return bad(std::string(f) +
                 " checks are not supported by Gangway; use an HTTP, TCP or "
                 "TTL check");
    }
  }
  if (!out->status.empty() && out->status != kPassing && out->status != kWarning &&
      out->status != kCritical) {
    return bad("invalid Status " + Quote(out->status) +
               "; must be \"passing\", \"warning\" or \"critical\"");
  }
  std::vector<std::string> kinds;
  if (m.count("TTL")) kinds.push_back("TTL");
  if (!d.http.empty()) kinds.push_back("HTTP");
  if (!d.tcp.empty()) kinds.push_back("TCP");
  bool alias = !out->alias_service.empty() || !out->alias_node.empty();
  if (alias) kinds.push_back("AliasService/AliasNode");
  if (kinds.empty()) {
    return bad(
        "needs one of TTL, HTTP or TCP (or AliasService/AliasNode) to say how it is "
        "checked");
  }
  if (kinds.size() > 1) {
    return bad("set only one of TTL, HTTP, TCP or AliasService/AliasNode; found " + kinds[0] +
               " and " + kinds[1]);
  }
  const std::string& kind = kinds[0];
  if (kind == "TTL") {
    if (d.ttl_ns <= 0) return bad("TTL must be > 0 for TTL checks");
    if (d.interval_ns > 0) return bad("Interval and TTL cannot both be specified");
  } else if (kind == "HTTP" || kind == "TCP") {
    if (d.interval_ns <= 0) return bad("Interval is required for " + kind + " checks");
  } else if (d.interval_ns > 0) {
    return bad("Interval cannot be set for Alias checks");
  }
  return Status::Ok();
}

Status Decoder::DecodeExpose(const Json& v, const Loc& loc, Json* out) const {
  Members m;
  Status s = ReadMembers(v, loc, kExposeFields, &m);
  if (!s.ok()) return s;
  Json j = Json::object();
  if (m.count("Checks")) {
    bool checks = false;
    s = Bool(m, "Checks", &checks);
    if (!s.ok()) return s;
    j["Checks"] = checks;
  }
  if (auto it = m.find("Paths"); it != m.end()) {
    const Json& paths = *it->second.value;
    Json list = Json::array();
    auto one = [&](const Json& p, const Loc& at) -> Status {
      Members pm;
      Status st = ReadMembers(p, at, kExposePathFields, &pm);
      if (!st.ok()) return st;
      Json pj = Json::object();
      for (auto step : {CopyPort(pm, "ListenerPort", &pj), CopyStr(pm, "Path", &pj),
                        CopyPort(pm, "LocalPathPort", &pj),
                        OneOf(pm, "Protocol", {"", "http", "http2"}, &pj)}) {
        if (!step.ok()) return step;
      }
      list.push_back(std::move(pj));
      return Status::Ok();
    };
    if (paths.is_object()) {
      s = one(paths, it->second.loc);
      if (!s.ok()) return s;
    } else if (paths.is_array()) {
      for (size_t i = 0; i < paths.size(); ++i) {
        s = one(paths[i], it->second.loc.Index(i));
        if (!s.ok()) return s;
      }
    } else {
      return Wrong(it->second.loc, "a list of objects", paths);
    }
    j["Paths"] = std::move(list);
  }
  (*out)["Expose"] = std::move(j);
  return Status::Ok();
}

Status Decoder::DecodeUpstream(const Json& v, const Loc& loc, bool static_route, Json* out,
                               bool* centrally_configured) {
  Members m;
  Status s = ReadMembers(v, loc, kUpstreamFields, &m);
  if (!s.ok()) return s;
  Json& j = *out;
  j = Json::object();
  for (auto step : {
           OneOf(m, "DestinationType", {"", "service", "prepared_query"}, &j),
           CopyStr(m, "DestinationName", &j),
           CopyStr(m, "DestinationNamespace", &j),
           CopyStr(m, "DestinationPartition", &j),
           CopyStr(m, "DestinationPeer", &j),
           CopyStr(m, "Datacenter", &j),
           CopyStr(m, "LocalBindAddress", &j),
           CopyPort(m, "LocalBindPort", &j),
           CopyStr(m, "LocalBindSocketPath", &j),
           CopyStr(m, "LocalBindSocketMode", &j),
           Opaque(m, "Config", false, &j),
           MeshGateway(m, &j),
           Bool(m, "CentrallyConfigured", centrally_configured),
       }) {
    if (!step.ok()) return step;
  }
  if (!j.contains("DestinationType") || j["DestinationType"] == "") {
    j["DestinationType"] = "service";
  }
  // Kept so that the API body re-encoded from this upstream still passes validation.
  if (*centrally_configured) j["CentrallyConfigured"] = true;

  if (auto it = m.find("PackageName"); it != m.end()) {
    std::string package;
    s = AsString(*it->second.value, it->second.loc, &package);
    if (!s.ok()) return s;
    const std::string dest_key =
        SnakeStyle(it->second.key) ? "destination_name" : "DestinationName";
    std::string dest = j.value("DestinationName", "");
    if (dest.empty()) {
      j["DestinationName"] = package;
      Note(it->second.loc, "upstream field " + Quote(it->second.key) +
                               " is not a Consul field; read as \"" + dest_key +
                               "\": " + Quote(package));
    } else if (dest == package) {
      Note(it->second.loc, "upstream field " + Quote(it->second.key) +
                               " is not a Consul field; it repeats \"" + dest_key +
                               "\" and is ignored");
    } else {
      return Fail(it->second.loc, Quote(it->second.key) + " " + Quote(package) + " and \"" +
                                      dest_key + "\" " + Quote(dest) + " disagree; \"" +
                                      it->second.key + "\" is a tutorial alias of \"" + dest_key +
                                      "\": keep only \"" + dest_key + "\"");
    }
  }

  // Consul's Upstream.Validate. A static route (kind "mesh-gateway-upstream") binds no local
  // listener, so its upstreams carry no port.
  const std::string name = j.value("DestinationName", "");
  if (name.empty()) return Fail(loc, "upstream destination name cannot be empty");
  if (name == "*" && !*centrally_configured) {
    return Fail(loc, "upstream destination name cannot be a wildcard");
  }
  if (!j.value("DestinationPeer", "").empty() && !j.value("Datacenter", "").empty()) {
    return Fail(loc, "upstream cannot specify both destination peer and datacenter");
  }
  if (!static_route && !*centrally_configured) {
    bool port = j.value("LocalBindPort", 0) != 0;
    bool socket = !j.value("LocalBindSocketPath", "").empty();
    if (!port && !socket) {
      return Fail(loc, "upstream local bind port or local socket path must be defined and nonzero");
    }
    if (port && socket) {
      return Fail(loc,
                  "only one of upstream local bind port or local socket path can be defined "
                  "and nonzero");
    }
  }
  return Status::Ok();
}

Status Decoder::DecodeProxy(const Json& v, const Loc& loc, const std::string& kind,
                            bool static_route, Json* out) {
  Members m;
  Status s = ReadMembers(v, loc, kProxyFields, &m);
  if (!s.ok()) return s;
  Json j = Json::object();
  for (auto step : {
           CopyStr(m, "DestinationServiceName", &j),
           CopyStr(m, "DestinationServiceID", &j),
           CopyStr(m, "LocalServiceAddress", &j),
           CopyPort(m, "LocalServicePort", &j),
           CopyStr(m, "LocalServiceSocketPath", &j),
           OneOf(m, "Mode", {"", "direct", "transparent"}, &j),
           Opaque(m, "Config", false, &j),
           Opaque(m, "AccessLogs", false, &j),
           Opaque(m, "EnvoyExtensions", true, &j),
           MeshGateway(m, &j),
       }) {
    if (!step.ok()) return step;
  }
  if (auto it = m.find("TransparentProxy"); it != m.end()) {
    Members tm;
    s = ReadMembers(*it->second.value, it->second.loc, kTransparentProxyFields, &tm);
    if (!s.ok()) return s;
    Json tj = Json::object();
    s = CopyPort(tm, "OutboundListenerPort", &tj);
    if (s.ok() && tm.count("DialedDirectly")) {
      bool dd = false;
      s = Bool(tm, "DialedDirectly", &dd);
      tj["DialedDirectly"] = dd;
    }
    if (!s.ok()) return s;
    j["TransparentProxy"] = std::move(tj);
  }
  if (auto it = m.find("Expose"); it != m.end()) {
    s = DecodeExpose(*it->second.value, it->second.loc, &j);
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Upstreams"); it != m.end()) {
    const Json& ups = *it->second.value;
    // One HCL `upstreams { }` block arrives as an object: a list of one.
    std::vector<std::pair<const Json*, Loc>> items;
    if (ups.is_object()) {
      items.emplace_back(&ups, it->second.loc);
    } else if (ups.is_array()) {
      for (size_t i = 0; i < ups.size(); ++i) items.emplace_back(&ups[i], it->second.loc.Index(i));
    } else {
      return Wrong(it->second.loc, "a list of upstreams", ups);
    }
    Json list = Json::array();
    std::map<std::string, std::string> seen_ids, seen_binds;
    for (const auto& [u, at] : items) {
      Json uj;
      bool central = false;
      s = DecodeUpstream(*u, at, static_route, &uj, &central);
      if (!s.ok()) return s;
      std::string id = uj.value("DestinationType", "") + "/" + uj.value("DestinationName", "") +
                       "/" + uj.value("DestinationNamespace", "") + "/" +
                       uj.value("DestinationPartition", "") + "/" +
                       uj.value("DestinationPeer", "") + "/" + uj.value("Datacenter", "");
      if (!seen_ids.emplace(id, at.path).second) {
        return Fail(at, "upstreams cannot contain duplicates of " +
                            Quote(uj.value("DestinationName", "")) + " (also at " + seen_ids[id] +
                            ")");
      }
      if (!static_route && !central) {
        std::string bind = uj.value("LocalBindSocketPath", "");
        if (bind.empty()) {
          std::string addr = uj.value("LocalBindAddress", "");
          bind = (addr.empty() ? "127.0.0.1" : addr) + ":" +
                 std::to_string(uj.value("LocalBindPort", 0));
        }
        if (!seen_binds.emplace(bind, at.path).second) {
          return Fail(at,
                      "upstreams cannot contain duplicates by local bind address and port or "
                      "unix path; " +
                          bind + " is specified twice");
        }
      }
      list.push_back(std::move(uj));
    }
    j["Upstreams"] = std::move(list);
  }

  // Gateways (NodeService.Validate): these proxy fields configure a sidecar, not a gateway.
  if (IsGatewayKind(kind)) {
    for (std::string_view f :
         {"DestinationServiceName", "DestinationServiceID", "LocalServiceAddress",
          "LocalServicePort", "LocalServiceSocketPath"}) {
      const std::string key(f);
      if (j.contains(key) && j[key] != "" && j[key] != 0) {
        return Fail(m.at(f).loc, "The Proxy." + key + " configuration is invalid for a " + kind);
      }
    }
    if (j.contains("Upstreams") && !j["Upstreams"].empty()) {
      return Fail(m.at("Upstreams").loc,
                  "The Proxy.Upstreams configuration is invalid for a " + kind);
    }
  }
  *out = std::move(j);
  return Status::Ok();
}

Status Decoder::DecodeService(const Json& v, const Loc& loc, const ServiceContext& ctx,
                              ServiceRegistration* out) {
  Members m;
  Status s = ReadMembers(v, loc, kServiceFields, &m);
  if (!s.ok()) return s;
  NodeService& svc = out->service;

  s = Str(m, "Kind", &svc.kind);
  if (!s.ok()) return s;
  const Loc kind_loc = m.count("Kind") ? m.at("Kind").loc : loc;
  const std::string& kind = svc.kind;
  if (ctx.is_sidecar) {
    if (!kind.empty() && kind != "connect-proxy") {
      return Fail(kind_loc,
                  "a sidecar service is always a connect-proxy; remove kind " + Quote(kind));
    }
  } else if (kind == kMeshGatewayUpstream) {
    // Noted below, once the upstreams are known.
  } else if (!kind.empty() && kind != "connect-proxy" && !IsGatewayKind(kind)) {
    return Fail(kind_loc, "invalid service kind " + Quote(kind) +
                              "; must be one of \"\" (a typical service), \"connect-proxy\", "
                              "\"mesh-gateway\", \"terminating-gateway\", \"ingress-gateway\", "
                              "\"api-gateway\"");
  }

  for (auto step : {
           Str(m, "ID", &svc.id),
           Str(m, "Name", &svc.service),
           StrList(m, "Tags", &svc.tags),
           Str(m, "Address", &svc.address),
           Port(m, "Port", &svc.port),
           Str(m, "SocketPath", &svc.socket_path),
           DecodeMeta(m, kind, &svc.meta),
           DecodeTaggedAddresses(m, &svc.tagged_addresses),
           Bool(m, "EnableTagOverride", &svc.enable_tag_override),
           DecodeWeights(m, &svc.weights),
       }) {
    if (!step.ok()) return step;
  }
  for (std::string_view f : {"Namespace", "Partition", "Token"}) {
    std::string ignored;
    s = Str(m, f, &ignored);
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Locality"); it != m.end()) {
    Members lm;
    s = ReadMembers(*it->second.value, it->second.loc, kLocalityFields, &lm);
    std::string ignored;
    if (s.ok()) s = Str(lm, "Region", &ignored);
    if (s.ok()) s = Str(lm, "Zone", &ignored);
    if (!s.ok()) return s;
  }
  s = DecodeChecks(m, &out->checks);
  if (!s.ok()) return s;

  const bool static_route = kind == kMeshGatewayUpstream || ctx.parent_kind == kMeshGatewayUpstream;
  if (auto it = m.find("Proxy"); it != m.end()) {
    s = DecodeProxy(*it->second.value, it->second.loc, kind, static_route, &svc.proxy);
    if (!s.ok()) return s;
  }

  bool native = false;
  if (auto it = m.find("Connect"); it != m.end()) {
    Members cm;
    s = ReadMembers(*it->second.value, it->second.loc, kConnectFields, &cm);
    if (!s.ok()) return s;
    svc.connect = Json::object();
    if (cm.count("Native")) {
      s = Bool(cm, "Native", &native);
      if (!s.ok()) return s;
      svc.connect["Native"] = native;
    }
    if (auto sc = cm.find("SidecarService"); sc != cm.end()) {
      const Loc& at = sc->second.loc;
      if (ctx.is_sidecar) return Fail(at, "A SidecarService cannot have a nested SidecarService");
      if (IsGatewayKind(kind))
        return Fail(at, "A " + kind + " cannot have a sidecar service defined");
      if (kind == "connect-proxy") {
        return Fail(at, "A SidecarService cannot be specified on a Connect proxy");
      }
      const Json& sv = *sc->second.value;
      if (sv.is_object()) {
        for (const auto& [k, ignored] : sv.items()) {
          if (Normalize(k) == "id" && !sv[k].is_null()) {
            return Fail(at.Key(k),
                        "A SidecarService cannot specify an ID as this is managed by the agent");
          }
        }
      }
      out->sidecar = std::make_unique<ServiceRegistration>();
      ServiceContext sctx{.is_sidecar = true, .parent_kind = kind};
      s = DecodeService(sv, at, sctx, out->sidecar.get());
      if (!s.ok()) return s;
    }
  }

  // NodeService.Validate, as far as it concerns what the user wrote.
  if (!ctx.is_sidecar && svc.service.empty()) return Fail(loc, "Missing service name");
  if (kind == "connect-proxy" && !ctx.is_sidecar) {
    std::string dest = svc.proxy.is_object() ? svc.proxy.value("DestinationServiceName", "") : "";
    Loc at = m.count("Proxy") ? m.at("Proxy").loc : loc;
    if (dest.find_first_not_of(" \t") == std::string::npos) {
      return Fail(at, "Proxy.DestinationServiceName must be non-empty for Connect proxy services");
    }
    if (dest == "*") {
      return Fail(at,
                  "Proxy.DestinationServiceName must not be a wildcard for Connect proxy "
                  "services");
    }
    if (svc.port == 0 && svc.socket_path.empty()) {
      return Fail(loc, "Port or SocketPath must be set for a Connect proxy");
    }
  }
  if ((kind == "connect-proxy" || ctx.is_sidecar) && native) {
    return Fail(m.at("Connect").loc,
                "A Proxy cannot also be Connect Native, only typical services");
  }
  if ((IsGatewayKind(kind) && kind != "ingress-gateway" && kind != "api-gateway") ||
      kind == kMeshGatewayUpstream) {
    if (svc.port == 0) {
      return Fail(m.count("Port") ? m.at("Port").loc : loc, "Port must be non-zero for a " + kind);
    }
  }

  if (kind == kMeshGatewayUpstream) {
    std::set<std::string> dcs;
    for (const Json* p : {&svc.proxy, out->sidecar ? &out->sidecar->service.proxy : nullptr}) {
      if (!p || !p->is_object() || !p->contains("Upstreams")) continue;
      for (const Json& u : (*p)["Upstreams"]) {
        std::string dc = u.value("Datacenter", "");
        if (!dc.empty()) dcs.insert(dc);
      }
    }
    std::string route = "a static route to a remote datacenter's mesh gateway";
    if (!dcs.empty()) {
      std::string list;
      for (const auto& dc : dcs) list += (list.empty() ? "" : ", ") + Quote(dc);
      route = "a static route to the mesh gateway of datacenter " + list + " (port " +
              std::to_string(svc.port) + ")";
    }
    Note(kind_loc, "kind \"mesh-gateway-upstream\" is a Gangway extension, not a Consul kind: " +
                       Quote(svc.service) + " is read as " + route +
                       ". Consul's form is a mesh gateway (kind \"mesh-gateway\") in each "
                       "datacenter plus an upstream with \"datacenter\" on the calling sidecar");
  }
  return Status::Ok();
}

Json CheckToApiJson(const CheckRegistration& c) {
  Json j = Json::object();
  const CheckDefinition& d = c.definition;
  auto str = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  auto dur = [&](const char* k, int64_t ns) {
    if (ns > 0) j[k] = FormatDuration(Duration(ns));
  };
  auto count = [&](const char* k, int v) {
    if (v != 0) j[k] = v;
  };
  str("CheckID", c.check_id);
  str("Name", c.name);
  str("Notes", c.notes);
  str("ServiceID", c.service_id);
  str("Status", c.status);
  dur("TTL", d.ttl_ns);
  str("HTTP", d.http);
  if (!d.header.empty()) j["Header"] = d.header;
  str("Method", d.method);
  str("Body", d.body);
  str("TCP", d.tcp);
  if (d.tls_skip_verify) j["TLSSkipVerify"] = true;
  str("TLSServerName", d.tls_server_name);
  dur("Interval", d.interval_ns);
  dur("Timeout", d.timeout_ns);
  count("SuccessBeforePassing", c.success_before_passing);
  count("FailuresBeforeWarning", c.failures_before_warning);
  count("FailuresBeforeCritical", c.failures_before_critical);
  dur("DeregisterCriticalServiceAfter", d.deregister_critical_service_after_ns);
  str("AliasService", c.alias_service);
  str("AliasNode", c.alias_node);
  return j;
}

}  // namespace

Result<ServiceRegistration> DecodeServiceRegistration(const Json& value, const Source& src) {
  Decoder decoder(src.doc);
  ServiceRegistration reg;
  Status s = decoder.DecodeService(value, LocFromSource(src), ServiceContext{}, &reg);
  if (!s.ok()) return s;
  reg.notes = decoder.TakeNotes();
  return reg;
}

Result<CheckRegistration> DecodeCheckRegistration(const Json& value, const Source& src) {
  Decoder decoder(src.doc);
  CheckRegistration reg;
  Status s = decoder.DecodeCheck(value, LocFromSource(src), &reg);
  if (!s.ok()) return s;
  return reg;
}

Result<std::vector<ServiceRegistration>> DecodeServicesFile(const codec::Document& doc) {
  const std::string file = doc.file.empty() ? "service definition" : doc.file;
  if (!doc.value.is_object()) {
    return InvalidArgument(file +
                           ": expected an object with \"service\" or \"services\" at the "
                           "top level, got " +
                           Describe(doc.value));
  }
  std::vector<ServiceRegistration> out;
  for (const auto& [key, value] : doc.value.items()) {
    const std::string norm = Normalize(key);
    const std::string ptr = "/" + EscapeToken(key);
    if (norm != "service" && norm != "services") {
      std::string msg = "invalid config key " + Quote(key) + WhereIn(doc, ptr);
      msg += "; a service definition file holds only \"service\" or \"services\"";
      std::string near = Nearest(norm, {"service", "services"});
      if (!near.empty()) msg += "; did you mean \"" + near + "\"?";
      return InvalidArgument(msg);
    }
    if (value.is_null()) continue;
    std::vector<std::string> bases;
    if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) bases.push_back(ptr + "/" + std::to_string(i));
    } else if (value.is_object()) {
      bases.push_back(ptr);
    } else {
      return InvalidArgument(key + ": expected " +
                             (norm == "service" ? "an object" : "a list of objects") + ", got " +
                             Describe(value) + WhereIn(doc, ptr));
    }
    for (size_t i = 0; i < bases.size(); ++i) {
      const Json& item = value.is_array() ? value[i] : value;
      auto reg = DecodeServiceRegistration(item, Source{&doc, bases[i]});
      if (!reg.ok()) return reg.status();
      out.push_back(std::move(*reg));
    }
  }
  if (out.empty()) return InvalidArgument(file + ": no \"service\" or \"services\" defined");
  if (doc.json_had_comments) {
    out.front().notes.insert(out.front().notes.begin(),
                             file +
                                 ": comments are not valid JSON; accepted and ignored "
                                 "(Consul rejects this file; an .hcl file may carry "
                                 "comments)");
  }
  return out;
}

Json ServiceRegistrationToApiJson(const ServiceRegistration& reg) {
  const NodeService& s = reg.service;
  Json j = Json::object();
  if (!s.kind.empty()) j["Kind"] = s.kind;
  if (!s.id.empty()) j["ID"] = s.id;
  if (!s.service.empty()) j["Name"] = s.service;
  if (!s.tags.empty()) j["Tags"] = s.tags;
  if (!s.address.empty()) j["Address"] = s.address;
  if (s.port != 0) j["Port"] = s.port;
  if (!s.socket_path.empty()) j["SocketPath"] = s.socket_path;
  if (!s.meta.empty()) j["Meta"] = s.meta;
  if (!s.tagged_addresses.empty()) {
    Json ta = Json::object();
    for (const auto& [tag, a] : s.tagged_addresses)
      ta[tag] = {{"Address", a.address}, {"Port", a.port}};
    j["TaggedAddresses"] = std::move(ta);
  }
  if (s.enable_tag_override) j["EnableTagOverride"] = true;
  j["Weights"] = {{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
  if (s.proxy.is_object()) j["Proxy"] = s.proxy;
  if (s.connect.is_object() || reg.sidecar) {
    Json c = s.connect.is_object() ? s.connect : Json::object();
    if (reg.sidecar) c["SidecarService"] = ServiceRegistrationToApiJson(*reg.sidecar);
    j["Connect"] = std::move(c);
  }
  if (!reg.checks.empty()) {
    Json checks = Json::array();
    for (const auto& c : reg.checks) checks.push_back(CheckToApiJson(c));
    j["Checks"] = std::move(checks);
  }
  return j;
}

}  // namespace gangway::catalog
