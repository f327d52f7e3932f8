#include "catalog/service_definition.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string_view>

#include "catalog/json.h"
#include "codec/schema.h"
#include "core/duration.h"
#include "core/strings.h"

namespace gangway::catalog {
namespace {

using codec::Field;
using codec::Loc;
using codec::Members;
using codec::Schema;

// ---------------------------------------------------------------------------------------------
// Field tables: Consul's API name (the name values are stored under) and its config-file
// spelling. Keys match case-insensitively with '_' ignored (codec::KeyMatch::kFolded); types are
// checked by the Decoder's typed readers below, which know the ranges and the defaults.

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
    // The ACL token the agent syncs this service with; Enterprise scoping accepted and ignored.
    {"Namespace", "namespace"},
    {"Partition", "partition"},
    {"Token", "token"},
};
constexpr Schema kService{kServiceFields};

constexpr Field kTaggedAddressFields[] = {{"Address", "address"}, {"Port", "port"}};
constexpr Schema kTaggedAddress{kTaggedAddressFields};
constexpr Field kWeightsFields[] = {{"Passing", "passing"}, {"Warning", "warning"}};
constexpr Schema kWeights{kWeightsFields};
constexpr Field kLocalityFields[] = {{"Region", "region"}, {"Zone", "zone"}};
constexpr Schema kLocality{kLocalityFields};
constexpr Field kConnectFields[] = {{"Native", "native"}, {"SidecarService", "sidecar_service"}};
constexpr Schema kConnect{kConnectFields};

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
constexpr Schema kProxy{kProxyFields};

constexpr Field kTransparentProxyFields[] = {
    {"OutboundListenerPort", "outbound_listener_port"},
    {"DialedDirectly", "dialed_directly"},
};
constexpr Schema kTransparentProxy{kTransparentProxyFields};
constexpr Field kMeshGatewayFields[] = {{"Mode", "mode"}};
constexpr Schema kMeshGateway{kMeshGatewayFields};
constexpr Field kExposeFields[] = {{"Checks", "checks"}, {"Paths", "paths"}};
constexpr Schema kExpose{kExposeFields};
constexpr Field kExposePathFields[] = {
    {"ListenerPort", "listener_port"},
    {"Path", "path"},
    {"LocalPathPort", "local_path_port"},
    {"Protocol", "protocol"},
};
constexpr Schema kExposePath{kExposePathFields};

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
    {.name = "CentralConfig", .snake = "central_config", .alias_of = "CentrallyConfigured"},
    // The tutorial's name for the destination; accepted with a note.
    {"PackageName", "package_name"},
};
constexpr Schema kUpstream{kUpstreamFields};

constexpr Field kCheckFields[] = {
    {"CheckID", "check_id"},
    {.name = "ID", .snake = "id", .alias_of = "CheckID"},
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
    {.name = "Args", .snake = "args", .alias_of = "ScriptArgs"},
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
constexpr Schema kCheck{kCheckFields};


constexpr std::string_view kMeshGatewayUpstream = "mesh-gateway-upstream";

bool IsGatewayKind(std::string_view kind) {
  return kind == "mesh-gateway" || kind == "terminating-gateway" || kind == "ingress-gateway" ||
         kind == "api-gateway";
}

std::string Quote(std::string_view s) { return codec::QuoteValue(s); }

bool ValidHostPort(std::string_view s) {
  std::string host;
  int port = 0;
  return SplitHostPort(s, &host, &port);
}

// What the enclosing service tells a nested decoder.
struct ServiceContext {
  bool is_sidecar = false;
  std::string parent_kind;  // of the service holding Connect.SidecarService
};

class Decoder {
 public:
  explicit Decoder(const codec::Document* doc) : doc_(doc), reader_(doc) {}

  std::vector<std::string> TakeNotes() { return std::move(notes_); }

  Status DecodeService(const Json& v, const Loc& loc, const ServiceContext& ctx,
                       ServiceRegistration* out);
  Status DecodeCheck(const Json& v, const Loc& loc, CheckRegistration* out);

 private:
  Status Fail(const Loc& loc, const std::string& msg) const { return reader_.Fail(loc, msg); }

  void Note(const Loc& loc, const std::string& msg) {
    std::string where = doc_ ? doc_->Where(loc.pointer) : "";
    notes_.push_back((where.empty() ? "" : where + ": ") + msg);
  }

  Status Wrong(const Loc& loc, const char* expected, const Json& got) const {
    return reader_.Wrong(loc, expected, got);
  }

  Status ReadMembers(const Json& obj, const Loc& loc, const Schema& schema, Members* out) const {
    return reader_.ReadObject(obj, loc, schema, out);
  }

  // Typed readers. Absent or null members leave *out untouched. Values are decoded weakly, as
  // Consul decodes config files: "8080" is a valid number, "true" a valid bool, a single string
  // a valid list.
  Status Str(const Members& m, std::string_view f, std::string* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok() : reader_.AsString(*it->second.value, it->second.loc, out);
  }
  Status Int(const Members& m, std::string_view f, int64_t lo, int64_t hi, int* out) const {
    auto it = m.find(f);
    if (it == m.end()) return Status::Ok();
    int64_t v = 0;
    Status s = reader_.AsInt(*it->second.value, it->second.loc, lo, hi, &v);
    if (s.ok()) *out = static_cast<int>(v);
    return s;
  }
  Status Port(const Members& m, std::string_view f, int* out) const {
    return Int(m, f, 0, 65535, out);
  }
  Status Bool(const Members& m, std::string_view f, bool* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok() : reader_.AsBool(*it->second.value, it->second.loc, out);
  }
  Status Dur(const Members& m, std::string_view f, int64_t* ns) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok()
                         : reader_.AsDuration(*it->second.value, it->second.loc, ns);
  }
  Status StrList(const Members& m, std::string_view f, std::vector<std::string>* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok()
                         : reader_.AsStringList(*it->second.value, it->second.loc, out);
  }
  Status StrMap(const Members& m, std::string_view f, StringMap* out) const {
    auto it = m.find(f);
    return it == m.end() ? Status::Ok()
                         : reader_.AsStringMap(*it->second.value, it->second.loc, out);
  }
  // An opaque object (Config, AccessLogs) or list (EnvoyExtensions), copied verbatim.
  Status Opaque(const Members& m, std::string_view f, bool list, Json* out) const;
  Status OneOf(const Members& m, std::string_view f, std::initializer_list<std::string_view> valid,
               std::string* out) const;
  Status MeshGateway(const Members& m, std::optional<MeshGatewayConfig>* out) const;

  Status DecodeMeta(const Members& m, const std::string& kind, StringMap* out) const;
  Status DecodeTaggedAddresses(const Members& m, std::map<std::string, ServiceAddress>* out) const;
  Status DecodeWeights(const Members& m, Weights* out) const;
  Status DecodeChecks(const Members& m, std::vector<CheckRegistration>* out);
  Status DecodeProxy(const Json& v, const Loc& loc, const std::string& kind, bool static_route,
                     ProxyConfig* out);
  Status DecodeUpstreams(const codec::Member& ups, bool static_route, std::vector<Upstream>* out);
  Status DecodeUpstream(const Json& v, const Loc& loc, bool static_route, Upstream* out);
  Status DecodePackageName(const Members& m, Upstream* u);
  Status DecodeExpose(const Json& v, const Loc& loc, ExposeConfig* out) const;
  Status DecodeConnect(const Members& m, const ServiceContext& ctx, ServiceRegistration* out,
                       bool* native);
  Status ValidateService(const Members& m, const Loc& loc, const ServiceContext& ctx, bool native,
                         const ServiceRegistration& reg) const;
  void NoteStaticRoute(const Loc& kind_loc, const ServiceRegistration& reg);

  const codec::Document* doc_;
  codec::SchemaReader reader_;
  std::vector<std::string> notes_;
};

Status Decoder::Opaque(const Members& m, std::string_view f, bool list, Json* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  const Json& v = *it->second.value;
  if (list ? !v.is_array() : !v.is_object()) {
    return Wrong(it->second.loc, list ? "a list" : "an object", v);
  }
  *out = v;
  return Status::Ok();
}

Status Decoder::OneOf(const Members& m, std::string_view f,
                      std::initializer_list<std::string_view> valid, std::string* out) const {
  auto it = m.find(f);
  if (it == m.end()) return Status::Ok();
  std::string s;
  Status st = reader_.AsString(*it->second.value, it->second.loc, &s);
  if (!st.ok()) return st;
  if (std::find(valid.begin(), valid.end(), s) == valid.end()) {
    std::string list;
    for (auto v : valid) list += (list.empty() ? "" : ", ") + std::string("\"") + std::string(v) + "\"";
    return Fail(it->second.loc, "invalid value " + Quote(s) + "; must be one of " + list);
  }
  *out = s;
  return Status::Ok();
}

Status Decoder::MeshGateway(const Members& m, std::optional<MeshGatewayConfig>* out) const {
  auto it = m.find("MeshGateway");
  if (it == m.end()) return Status::Ok();
  Members mg;
  Status s = ReadMembers(*it->second.value, it->second.loc, kMeshGateway, &mg);
  if (!s.ok()) return s;
  MeshGatewayConfig c;
  s = OneOf(mg, "Mode", {"", "none", "local", "remote"}, &c.mode);
  if (!s.ok()) return s;
  *out = c;
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
    Status s = ReadMembers(addr, at, kTaggedAddress, &am);
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
  Status s = ReadMembers(*it->second.value, it->second.loc, kWeights, &wm);
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
  Status s = ReadMembers(v, loc, kCheck, &m);
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
           StrList(m, "ScriptArgs", &d.script_args),
           Str(m, "UDP", &d.udp),
           Str(m, "GRPC", &d.grpc),
           Bool(m, "GRPCUseTLS", &d.grpc_use_tls),
           Str(m, "H2PING", &d.h2ping),
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
    s = reader_.AsInt(*it->second.value, it->second.loc, 0, std::numeric_limits<int64_t>::max(),
              &output_max_size);
    if (!s.ok()) return s;
  }
  // Consul's default: TLS whenever H2PING is set, unless H2PingUseTLS says otherwise.
  d.h2ping_use_tls = !d.h2ping.empty();
  if (m.count("H2PingUseTLS")) {
    s = Bool(m, "H2PingUseTLS", &d.h2ping_use_tls);
    if (!s.ok()) return s;
  }
  for (std::string_view f : {"TCPUseTLS", "DisableRedirects"}) {
    bool ignored = false;
    s = Bool(m, f, &ignored);
    if (!s.ok()) return s;
  }
  if (s = Str(m, "Token", &out->token); !s.ok()) return s;
  for (std::string_view f : {"Namespace", "Partition", "Shell"}) {
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

  if (m.count("DockerContainerID")) {
    return bad("Docker checks (" + m.at("DockerContainerID").key +
               ") are not supported by Gangway; use a script, HTTP, TCP or TTL check");
  }
  if (m.count("OSService")) {
    return bad("OSService checks are not supported by Gangway; use an HTTP, TCP or TTL check");
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
  if (!d.udp.empty()) kinds.push_back("UDP");
  if (!d.grpc.empty()) kinds.push_back("GRPC");
  if (!d.h2ping.empty()) kinds.push_back("H2PING");
  if (!d.script_args.empty()) kinds.push_back("Args");
  bool alias = !out->alias_service.empty() || !out->alias_node.empty();
  if (alias) kinds.push_back("AliasService/AliasNode");
  if (kinds.empty()) {
    return bad(
        "needs one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args (a script) or "
        "AliasService/AliasNode to say how it is checked");
  }
  if (kinds.size() > 1) {
    return bad("set only one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args or "
               "AliasService/AliasNode; found " + kinds[0] + " and " + kinds[1]);
  }
  const std::string& kind = kinds[0];
  if (kind == "TTL") {
    if (d.ttl_ns <= 0) return bad("TTL must be > 0 for TTL checks");
    if (d.interval_ns > 0) return bad("Interval and TTL cannot both be specified");
  } else if (kind == "HTTP" || kind == "TCP" || kind == "UDP" || kind == "GRPC" ||
             kind == "H2PING" || kind == "Args") {
    if (d.interval_ns <= 0) {
      return bad("Interval is required for " + (kind == "Args" ? std::string("script") : kind) +
                 " checks");
    }
    if (kind == "GRPC" && !ValidHostPort(d.grpc.substr(0, d.grpc.find('/')))) {
      return bad("GRPC must be \"host:port\" or \"host:port/service\"; got " + Quote(d.grpc));
    }
    if (kind == "H2PING" && !ValidHostPort(d.h2ping)) {
      return bad("H2PING must be \"host:port\"; got " + Quote(d.h2ping));
    }
  } else if (d.interval_ns > 0) {
    return bad("Interval cannot be set for Alias checks");
  }
  return Status::Ok();
}

Status Decoder::DecodeExpose(const Json& v, const Loc& loc, ExposeConfig* out) const {
  Members m;
  Status s = ReadMembers(v, loc, kExpose, &m);
  if (!s.ok()) return s;
  s = Bool(m, "Checks", &out->checks);
  if (!s.ok()) return s;
  auto it = m.find("Paths");
  if (it == m.end()) return Status::Ok();
  const Json& paths = *it->second.value;
  auto one = [&](const Json& p, const Loc& at) -> Status {
    Members pm;
    Status st = ReadMembers(p, at, kExposePath, &pm);
    if (!st.ok()) return st;
    ExposePath path;
    for (auto step : {Port(pm, "ListenerPort", &path.listener_port), Str(pm, "Path", &path.path),
                      Port(pm, "LocalPathPort", &path.local_path_port),
                      OneOf(pm, "Protocol", {"", "http", "http2"}, &path.protocol)}) {
      if (!step.ok()) return step;
    }
    out->paths.push_back(std::move(path));
    return Status::Ok();
  };
  if (paths.is_object()) return one(paths, it->second.loc);
  if (!paths.is_array()) return Wrong(it->second.loc, "a list of objects", paths);
  for (size_t i = 0; i < paths.size(); ++i) {
    s = one(paths[i], it->second.loc.Index(i));
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// The tutorial's "package_name": read as destination_name, with a note.
Status Decoder::DecodePackageName(const Members& m, Upstream* u) {
  auto it = m.find("PackageName");
  if (it == m.end()) return Status::Ok();
  const codec::Member& pm = it->second;
  std::string package;
  Status s = reader_.AsString(*pm.value, pm.loc, &package);
  if (!s.ok()) return s;
  const std::string dest_key = codec::IsSnakeStyle(pm.key) ? "destination_name" : "DestinationName";
  if (u->destination_name.empty()) {
    u->destination_name = package;
    Note(pm.loc, "upstream field " + Quote(pm.key) + " is not a Consul field; read as \"" +
                     dest_key + "\": " + Quote(package));
  } else if (u->destination_name == package) {
    Note(pm.loc, "upstream field " + Quote(pm.key) + " is not a Consul field; it repeats \"" +
                     dest_key + "\" and is ignored");
  } else {
    return Fail(pm.loc, Quote(pm.key) + " " + Quote(package) + " and \"" + dest_key + "\" " +
                            Quote(u->destination_name) + " disagree; \"" + pm.key +
                            "\" is a tutorial alias of \"" + dest_key + "\": keep only \"" +
                            dest_key + "\"");
  }
  return Status::Ok();
}

Status Decoder::DecodeUpstream(const Json& v, const Loc& loc, bool static_route, Upstream* u) {
  Members m;
  Status s = ReadMembers(v, loc, kUpstream, &m);
  if (!s.ok()) return s;
  for (auto step : {
           OneOf(m, "DestinationType", {"", "service", "prepared_query"}, &u->destination_type),
           Str(m, "DestinationName", &u->destination_name),
           Str(m, "DestinationNamespace", &u->destination_namespace),
           Str(m, "DestinationPartition", &u->destination_partition),
           Str(m, "DestinationPeer", &u->destination_peer),
           Str(m, "Datacenter", &u->datacenter),
           Str(m, "LocalBindAddress", &u->local_bind_address),
           Port(m, "LocalBindPort", &u->local_bind_port),
           Str(m, "LocalBindSocketPath", &u->local_bind_socket_path),
           Str(m, "LocalBindSocketMode", &u->local_bind_socket_mode),
           Opaque(m, "Config", false, &u->config),
           MeshGateway(m, &u->mesh_gateway),
           Bool(m, "CentrallyConfigured", &u->centrally_configured),
       }) {
    if (!step.ok()) return step;
  }
  if (u->destination_type.empty()) u->destination_type = "service";
  s = DecodePackageName(m, u);
  if (!s.ok()) return s;

  // Consul's Upstream.Validate. A static route (kind "mesh-gateway-upstream") binds no local
  // listener, so its upstreams carry no port.
  const bool central = u->centrally_configured;
  if (u->destination_name.empty()) return Fail(loc, "upstream destination name cannot be empty");
  if (u->destination_name == "*" && !central) {
    return Fail(loc, "upstream destination name cannot be a wildcard");
  }
  if (!u->destination_peer.empty() && !u->datacenter.empty()) {
    return Fail(loc, "upstream cannot specify both destination peer and datacenter");
  }
  if (!static_route && !central) {
    bool port = u->local_bind_port != 0;
    bool socket = !u->local_bind_socket_path.empty();
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

Status Decoder::DecodeUpstreams(const codec::Member& ups, bool static_route,
                                std::vector<Upstream>* out) {
  // One HCL `upstreams { }` block arrives as an object: a list of one.
  std::vector<std::pair<const Json*, Loc>> items;
  if (ups.value->is_object()) {
    items.emplace_back(ups.value, ups.loc);
  } else if (ups.value->is_array()) {
    for (size_t i = 0; i < ups.value->size(); ++i) {
      items.emplace_back(&(*ups.value)[i], ups.loc.Index(i));
    }
  } else {
    return Wrong(ups.loc, "a list of upstreams", *ups.value);
  }
  std::map<std::string, std::string> seen_ids, seen_binds;
  for (const auto& [v, at] : items) {
    Upstream u;
    Status s = DecodeUpstream(*v, at, static_route, &u);
    if (!s.ok()) return s;
    std::string id = u.destination_type + "/" + u.destination_name + "/" +
                     u.destination_namespace + "/" + u.destination_partition + "/" +
                     u.destination_peer + "/" + u.datacenter;
    if (!seen_ids.emplace(id, at.path).second) {
      return Fail(at, "upstreams cannot contain duplicates of " + Quote(u.destination_name) +
                          " (also at " + seen_ids[id] + ")");
    }
    if (!static_route && !u.centrally_configured) {
      std::string bind = u.local_bind_socket_path;
      if (bind.empty()) {
        bind = (u.local_bind_address.empty() ? "127.0.0.1" : u.local_bind_address) + ":" +
               std::to_string(u.local_bind_port);
      }
      if (!seen_binds.emplace(bind, at.path).second) {
        return Fail(at,
                    "upstreams cannot contain duplicates by local bind address and port or "
                    "unix path; " +
                        bind + " is specified twice");
      }
    }
    out->push_back(std::move(u));
  }
  return Status::Ok();
}

Status Decoder::DecodeProxy(const Json& v, const Loc& loc, const std::string& kind,
                            bool static_route, ProxyConfig* p) {
  Members m;
  Status s = ReadMembers(v, loc, kProxy, &m);
  if (!s.ok()) return s;
  for (auto step : {
           Str(m, "DestinationServiceName", &p->destination_service_name),
           Str(m, "DestinationServiceID", &p->destination_service_id),
           Str(m, "LocalServiceAddress", &p->local_service_address),
           Port(m, "LocalServicePort", &p->local_service_port),
           Str(m, "LocalServiceSocketPath", &p->local_service_socket_path),
           OneOf(m, "Mode", {"", "direct", "transparent"}, &p->mode),
           Opaque(m, "Config", false, &p->config),
           Opaque(m, "AccessLogs", false, &p->access_logs),
           Opaque(m, "EnvoyExtensions", true, &p->envoy_extensions),
           MeshGateway(m, &p->mesh_gateway),
       }) {
    if (!step.ok()) return step;
  }
  if (auto it = m.find("TransparentProxy"); it != m.end()) {
    Members tm;
    s = ReadMembers(*it->second.value, it->second.loc, kTransparentProxy, &tm);
    TransparentProxyConfig& t = p->transparent_proxy.emplace();
    if (s.ok()) s = Port(tm, "OutboundListenerPort", &t.outbound_listener_port);
    if (s.ok()) s = Bool(tm, "DialedDirectly", &t.dialed_directly);
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Expose"); it != m.end()) {
    s = DecodeExpose(*it->second.value, it->second.loc, &p->expose.emplace());
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Upstreams"); it != m.end()) {
    s = DecodeUpstreams(it->second, static_route, &p->upstreams);
    if (!s.ok()) return s;
  }

  // Gateways (NodeService.Validate): these proxy fields configure a sidecar, not a gateway.
  if (IsGatewayKind(kind)) {
    for (auto [f, set] : {std::pair{"DestinationServiceName", !p->destination_service_name.empty()},
                          {"DestinationServiceID", !p->destination_service_id.empty()},
                          {"LocalServiceAddress", !p->local_service_address.empty()},
                          {"LocalServicePort", p->local_service_port != 0},
                          {"LocalServiceSocketPath", !p->local_service_socket_path.empty()}}) {
      if (set) {
        return Fail(m.at(f).loc,
                    "The Proxy." + std::string(f) + " configuration is invalid for a " + kind);
      }
    }
    if (!p->upstreams.empty()) {
      return Fail(m.at("Upstreams").loc,
                  "The Proxy.Upstreams configuration is invalid for a " + kind);
    }
  }
  return Status::Ok();
}


Status Decoder::DecodeConnect(const Members& m, const ServiceContext& ctx, ServiceRegistration* out,
                              bool* native) {
  auto it = m.find("Connect");
  if (it == m.end()) return Status::Ok();
  NodeService& svc = out->service;
  const std::string& kind = svc.kind;
  Members cm;
  Status s = ReadMembers(*it->second.value, it->second.loc, kConnect, &cm);
  if (!s.ok()) return s;
  svc.connect = Json::object();
  if (cm.count("Native")) {
    s = Bool(cm, "Native", native);
    if (!s.ok()) return s;
    svc.connect["Native"] = *native;
  }
  auto sc = cm.find("SidecarService");
  if (sc == cm.end()) return Status::Ok();
  const Loc& at = sc->second.loc;
  if (ctx.is_sidecar) return Fail(at, "A SidecarService cannot have a nested SidecarService");
  if (IsGatewayKind(kind)) return Fail(at, "A " + kind + " cannot have a sidecar service defined");
  if (kind == "connect-proxy") {
    return Fail(at, "A SidecarService cannot be specified on a Connect proxy");
  }
  const Json& sv = *sc->second.value;
  if (sv.is_object()) {
    for (const auto& [k, ignored] : sv.items()) {
      if (codec::FoldKey(k) == "id" && !sv[k].is_null()) {
        return Fail(at.Key(k), "A SidecarService cannot specify an ID as this is managed by the agent");
      }
    }
  }
  out->sidecar = std::make_unique<ServiceRegistration>();
  ServiceContext sctx{.is_sidecar = true, .parent_kind = kind};
  return DecodeService(sv, at, sctx, out->sidecar.get());
}

// NodeService.Validate, as far as it concerns what the user wrote.
Status Decoder::ValidateService(const Members& m, const Loc& loc, const ServiceContext& ctx,
                                bool native, const ServiceRegistration& reg) const {
  const NodeService& svc = reg.service;
  const std::string& kind = svc.kind;
  if (!ctx.is_sidecar && svc.service.empty()) return Fail(loc, "Missing service name");
  if (kind == "connect-proxy" && !ctx.is_sidecar) {
    std::string dest = svc.proxy ? svc.proxy->destination_service_name : "";
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
    return Fail(m.at("Connect").loc, "A Proxy cannot also be Connect Native, only typical services");
  }
  if ((IsGatewayKind(kind) && kind != "ingress-gateway" && kind != "api-gateway") ||
      kind == kMeshGatewayUpstream) {
    if (svc.port == 0) {
      return Fail(m.count("Port") ? m.at("Port").loc : loc, "Port must be non-zero for a " + kind);
    }
  }
  return Status::Ok();
}

void Decoder::NoteStaticRoute(const Loc& kind_loc, const ServiceRegistration& reg) {
  const NodeService& svc = reg.service;
  std::set<std::string> dcs;
  std::vector<const ProxyConfig*> proxies;
  if (svc.proxy) proxies.push_back(&*svc.proxy);
  if (reg.sidecar && reg.sidecar->service.proxy) proxies.push_back(&*reg.sidecar->service.proxy);
  for (const ProxyConfig* p : proxies) {
    for (const Upstream& u : p->upstreams) {
      if (!u.datacenter.empty()) dcs.insert(u.datacenter);
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

Status Decoder::DecodeService(const Json& v, const Loc& loc, const ServiceContext& ctx,
                              ServiceRegistration* out) {
  Members m;
  Status s = ReadMembers(v, loc, kService, &m);
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
  if (s = Str(m, "Token", &out->token); !s.ok()) return s;
  for (std::string_view f : {"Namespace", "Partition"}) {
    std::string ignored;
    s = Str(m, f, &ignored);
    if (!s.ok()) return s;
  }
  if (auto it = m.find("Locality"); it != m.end()) {
    Members lm;
    s = ReadMembers(*it->second.value, it->second.loc, kLocality, &lm);
    std::string ignored;
    if (s.ok()) s = Str(lm, "Region", &ignored);
    if (s.ok()) s = Str(lm, "Zone", &ignored);
    if (!s.ok()) return s;
  }
  s = DecodeChecks(m, &out->checks);
  if (!s.ok()) return s;

  const bool static_route = kind == kMeshGatewayUpstream || ctx.parent_kind == kMeshGatewayUpstream;
  if (auto it = m.find("Proxy"); it != m.end()) {
    s = DecodeProxy(*it->second.value, it->second.loc, kind, static_route, &svc.proxy.emplace());
    if (!s.ok()) return s;
  }
  bool native = false;
  s = DecodeConnect(m, ctx, out, &native);
  if (s.ok()) s = ValidateService(m, loc, ctx, native, *out);
  if (!s.ok()) return s;
  if (kind == kMeshGatewayUpstream) NoteStaticRoute(kind_loc, *out);
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
  if (!d.script_args.empty()) j["ScriptArgs"] = d.script_args;
  str("UDP", d.udp);
  str("GRPC", d.grpc);
  if (d.grpc_use_tls) j["GRPCUseTLS"] = true;
  str("H2PING", d.h2ping);
  // Written even when false: decoding defaults it to true whenever H2PING is set.
  if (!d.h2ping.empty() || d.h2ping_use_tls) j["H2PingUseTLS"] = d.h2ping_use_tls;
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
  Status s = decoder.DecodeService(value, Loc::FromPointer(src.doc, src.base), ServiceContext{}, &reg);
  if (!s.ok()) return s;
  reg.notes = decoder.TakeNotes();
  return reg;
}

Result<CheckRegistration> DecodeCheckRegistration(const Json& value, const Source& src) {
  Decoder decoder(src.doc);
  CheckRegistration reg;
  Status s = decoder.DecodeCheck(value, Loc::FromPointer(src.doc, src.base), &reg);
  if (!s.ok()) return s;
  return reg;
}

Result<std::vector<ServiceRegistration>> DecodeServicesFile(const codec::Document& doc) {
  const std::string file = doc.file.empty() ? "service definition" : doc.file;
  if (!doc.value.is_object()) {
    return InvalidArgument(file +
                           ": expected an object with \"service\" or \"services\" at the "
                           "top level, got " +
                           codec::DescribeValue(doc.value));
  }
  const codec::SchemaReader reader(&doc);
  std::vector<ServiceRegistration> out;
  for (const auto& [key, value] : doc.value.items()) {
    const std::string norm = codec::FoldKey(key);
    const Loc at = Loc{}.Key(key);
    if (norm != "service" && norm != "services") {
      std::string msg = "invalid config key " + Quote(key) + reader.Where(at);
      msg += "; a service definition file holds only \"service\" or \"services\"";
      std::string near = Nearest(norm, {"service", "services"});
      if (!near.empty()) msg += "; did you mean \"" + near + "\"?";
      return InvalidArgument(msg);
    }
    if (value.is_null()) continue;
    std::vector<std::string> bases;
    if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) bases.push_back(at.Index(i).pointer);
    } else if (value.is_object()) {
      bases.push_back(at.pointer);
    } else {
      return reader.Wrong(at, norm == "service" ? "an object" : "a list of objects", value);
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
  if (s.proxy) j["Proxy"] = ProxyConfigToJson(*s.proxy);
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

bool HasScriptCheck(const ServiceRegistration& reg) {
  for (const auto& c : reg.checks) {
    if (!c.definition.script_args.empty()) return true;
  }
  return reg.sidecar && HasScriptCheck(*reg.sidecar);
}

}  // namespace gangway::catalog
