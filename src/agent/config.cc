#include "agent/config.h"

#include "ca/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "codec/document.h"
#include "codec/schema.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/uuid.h"

namespace gangway::agent {

namespace {

using Json = nlohmann::json;

// ---- Schema: which keys exist and what they hold (codec/schema.h). -------------------------

using codec::Field;
using codec::FieldType;
using codec::KeyMatch;
using codec::Schema;

// Consul's wording: "invalid config key \"ports.htpp\" (a.hcl:3); did you mean \"ports.http\"?".
constexpr codec::MessageStyle kConfigStyle{.file_colon_line = true, .suggest_path = true};

constexpr Field kAddressesFields[] = {
    {"dns", {}, FieldType::kString},
    {"grpc", {}, FieldType::kString},
    {"grpc_tls", {}, FieldType::kString},
    {"http", {}, FieldType::kString},
    {"https", {}, FieldType::kString},
};
constexpr Schema kAddresses{kAddressesFields, KeyMatch::kExact, true};
constexpr Field kPortsFields[] = {
    {"dns", {}, FieldType::kInt},
    {"expose_max_port", {}, FieldType::kInt},
    {"expose_min_port", {}, FieldType::kInt},
    {"grpc", {}, FieldType::kInt},
    {"grpc_tls", {}, FieldType::kInt},
    {"http", {}, FieldType::kInt},
    {"https", {}, FieldType::kInt},
    {"raft", {}, FieldType::kInt},
    {"serf_lan", {}, FieldType::kInt},
    {"serf_wan", {}, FieldType::kInt},
    {"server", {}, FieldType::kInt},
    {"sidecar_max_port", {}, FieldType::kInt},
    {"sidecar_min_port", {}, FieldType::kInt},
};
constexpr Schema kPorts{kPortsFields, KeyMatch::kExact, true};
constexpr Field kConnectFields[] = {
    {"ca_config", {}, FieldType::kOpaque},
    {"ca_provider", {}, FieldType::kString},
    {"enable_mesh_gateway_wan_federation", {}, FieldType::kBool},
    {"enabled", {}, FieldType::kBool},
};
constexpr Schema kConnect{kConnectFields, KeyMatch::kExact, true};
// Consul's gossip_lan / gossip_wan: memberlist knobs over the pool's profile.
constexpr Field kGossipFields[] = {
    {"gossip_interval", {}, FieldType::kDuration},
    {"gossip_nodes", {}, FieldType::kInt},
    {"probe_interval", {}, FieldType::kDuration},
    {"probe_timeout", {}, FieldType::kDuration},
    {"retransmit_mult", {}, FieldType::kInt},
    {"suspicion_mult", {}, FieldType::kInt},
};
constexpr Schema kGossip{kGossipFields, KeyMatch::kExact, true};
// dns_config (dns/config.h).
constexpr Field kDnsSoaFields[] = {
    {"expire", {}, FieldType::kInt},
    {"min_ttl", {}, FieldType::kInt},
    {"refresh", {}, FieldType::kInt},
    {"retry", {}, FieldType::kInt},
};
constexpr Schema kDnsSoa{kDnsSoaFields, KeyMatch::kExact, true};
constexpr Field kDnsFields[] = {
    {"a_record_limit", {}, FieldType::kInt},
    {"allow_stale", {}, FieldType::kBool},
    {"cache_max_age", {}, FieldType::kDuration},
    {"disable_compression", {}, FieldType::kBool},
    {"enable_additional_node_meta_txt", {}, FieldType::kBool},
    {"enable_truncate", {}, FieldType::kBool},
    {"max_stale", {}, FieldType::kDuration},
    {"node_ttl", {}, FieldType::kDuration},
    {"only_passing", {}, FieldType::kBool},
    {"prefer_namespace", {}, FieldType::kBool},
    {"recursor_strategy", {}, FieldType::kString},
    {"recursor_timeout", {}, FieldType::kDuration},
    {"service_ttl", {}, FieldType::kStringMap},
    {"soa", {}, FieldType::kObject, &kDnsSoa},
    {"udp_answer_limit", {}, FieldType::kInt},
    {"use_cache", {}, FieldType::kBool},
};
constexpr Schema kDns{kDnsFields, KeyMatch::kExact, true};
constexpr Field kTlsBlockFields[] = {
    {"ca_file", {}, FieldType::kString},
    {"ca_path", {}, FieldType::kString},
    {"cert_file", {}, FieldType::kString},
    {"key_file", {}, FieldType::kString},
    {"tls_cipher_suites", {}, FieldType::kString},
    {"tls_min_version", {}, FieldType::kString},
    {"use_auto_cert", {}, FieldType::kBool},
    {"verify_incoming", {}, FieldType::kBool},
    {"verify_outgoing", {}, FieldType::kBool},
    {"verify_server_hostname", {}, FieldType::kBool},
};
constexpr Schema kTlsBlock{kTlsBlockFields, KeyMatch::kExact, true};
constexpr Field kTlsFields[] = {
    {"defaults", {}, FieldType::kObject, &kTlsBlock},
    {"grpc", {}, FieldType::kObject, &kTlsBlock},
    {"https", {}, FieldType::kObject, &kTlsBlock},
    {"internal_rpc", {}, FieldType::kObject, &kTlsBlock},
};
constexpr Schema kTls{kTlsFields, KeyMatch::kExact, true};

// acl { } (acl/config.h), with the names Consul renamed in 1.11 still accepted.
constexpr Field kAclTokenFields[] = {
    {"agent", {}, FieldType::kString},
    {"agent_master", {}, FieldType::kString},
    {"agent_recovery", {}, FieldType::kString},
    {"config_file_service_registration", {}, FieldType::kString},
    {"default", {}, FieldType::kString},
    {"dns", {}, FieldType::kString},
    {"initial_management", {}, FieldType::kString},
    {"master", {}, FieldType::kString},
    {"replication", {}, FieldType::kString},
};
constexpr Schema kAclTokens{kAclTokenFields, KeyMatch::kExact, true};
constexpr Field kAclFields[] = {
    {"default_policy", {}, FieldType::kString},
    {"down_policy", {}, FieldType::kString},
    {"enable_key_list_policy", {}, FieldType::kBool},
    {"enable_token_persistence", {}, FieldType::kBool},
    {"enable_token_replication", {}, FieldType::kBool},
    {"enabled", {}, FieldType::kBool},
    {"msp_disable_bootstrap", {}, FieldType::kBool},
    {"policy_ttl", {}, FieldType::kDuration},
    {"role_ttl", {}, FieldType::kDuration},
    {"token_ttl", {}, FieldType::kDuration},
    {"tokens", {}, FieldType::kObject, &kAclTokens},
};
constexpr Schema kAcl{kAclFields, KeyMatch::kExact, true};

// The top level. service(s) and check(s) are decoded by catalog's service definitions.
constexpr Field kAgentFields[] = {
    {"acl", {}, FieldType::kObject, &kAcl},
    {"acl_agent_master_token", {}, FieldType::kString},
    {"acl_agent_token", {}, FieldType::kString},
    {"acl_datacenter", {}, FieldType::kString},
    {"acl_default_policy", {}, FieldType::kString},
    {"acl_down_policy", {}, FieldType::kString},
    {"acl_enforce_version_8", {}, FieldType::kBool},
    {"acl_master_token", {}, FieldType::kString},
    {"acl_replication_token", {}, FieldType::kString},
    {"acl_token", {}, FieldType::kString},
    {"acl_ttl", {}, FieldType::kDuration},
    {"addresses", {}, FieldType::kObject, &kAddresses},
    {"advertise_addr", {}, FieldType::kString},
    {"advertise_addr_ipv4", {}, FieldType::kString},
    {"advertise_addr_ipv6", {}, FieldType::kString},
    {"advertise_addr_wan", {}, FieldType::kString},
    {"advertise_reconnect_timeout", {}, FieldType::kDuration},
    {"alt_domain", {}, FieldType::kString},
    {"auto_config", {}, FieldType::kOpaque},
    {"auto_encrypt", {}, FieldType::kOpaque},
    {"auto_reload_config", {}, FieldType::kBool},
    {"autopilot", {}, FieldType::kOpaque},
    {"bind_addr", {}, FieldType::kString},
    {"bootstrap", {}, FieldType::kBool},
    {"bootstrap_expect", {}, FieldType::kInt},
    {"ca_config", {}, FieldType::kOpaque},
    {"ca_file", {}, FieldType::kString},
    {"ca_path", {}, FieldType::kString},
    {"ca_provider", {}, FieldType::kString},
    {"cert_file", {}, FieldType::kString},
    {"check", {}, FieldType::kAny},
    {"check_output_max_size", {}, FieldType::kInt},
    {"checks", {}, FieldType::kAny},
    {"client_addr", {}, FieldType::kString},
    {"config_entries", {}, FieldType::kOpaque},
    {"connect", {}, FieldType::kObject, &kConnect},
    {"data_dir", {}, FieldType::kString},
    {"datacenter", {}, FieldType::kString},
    {"default_intention_policy", {}, FieldType::kString},
    {"default_query_time", {}, FieldType::kDuration},
    {"disable_host_node_id", {}, FieldType::kBool},
    {"disable_primary_gateway_fallback", {}, FieldType::kBool},
    {"disable_remote_exec", {}, FieldType::kBool},
    {"disable_update_check", {}, FieldType::kBool},
    {"dns", {}, FieldType::kInt},
    {"dns_config", {}, FieldType::kObject, &kDns},
    {"disable_coordinates", {}, FieldType::kBool},
    {"domain", {}, FieldType::kString},
    {"enable_central_service_config", {}, FieldType::kBool},
    {"enable_acl_replication", {}, FieldType::kBool},
    {"enable_debug", {}, FieldType::kBool},
    {"enable_local_script_checks", {}, FieldType::kBool},
    {"enable_mesh_gateway_wan_federation", {}, FieldType::kBool},
    {"enable_script_checks", {}, FieldType::kBool},
    {"enable_syslog", {}, FieldType::kBool},
    {"enabled", {}, FieldType::kBool},
    {"encrypt", {}, FieldType::kString},
    {"encrypt_verify_incoming", {}, FieldType::kBool},
    {"encrypt_verify_outgoing", {}, FieldType::kBool},
    {"expose_max_port", {}, FieldType::kInt},
    {"expose_min_port", {}, FieldType::kInt},
    {"gossip_lan", {}, FieldType::kObject, &kGossip},
    {"gossip_wan", {}, FieldType::kObject, &kGossip},
    {"grpc", {}, FieldType::kInt},
    {"grpc_tls", {}, FieldType::kInt},
    {"http", {}, FieldType::kInt},
    {"http_config", {}, FieldType::kOpaque},
    {"https", {}, FieldType::kInt},
    {"key_file", {}, FieldType::kString},
    {"leave_on_terminate", {}, FieldType::kBool},
    {"limits", {}, FieldType::kOpaque},
    {"log_file", {}, FieldType::kString},
    {"log_json", {}, FieldType::kBool},
    {"log_level", {}, FieldType::kString},
    {"log_rotate_bytes", {}, FieldType::kInt},
    {"log_rotate_duration", {}, FieldType::kDuration},
    {"log_rotate_max_files", {}, FieldType::kInt},
    {"max_query_time", {}, FieldType::kDuration},
    {"node_id", {}, FieldType::kString},
    {"node_meta", {}, FieldType::kStringMap},
    {"node_name", {}, FieldType::kString},
    {"performance", {}, FieldType::kOpaque},
    {"pid_file", {}, FieldType::kString},
    {"ports", {}, FieldType::kObject, &kPorts},
    {"primary_datacenter", {}, FieldType::kString},
    {"primary_gateways", {}, FieldType::kStringList},
    {"primary_gateways_interval", {}, FieldType::kDuration},
    {"raft", {}, FieldType::kInt},
    {"raft_protocol", {}, FieldType::kInt},
    {"reconnect_timeout", {}, FieldType::kDuration},
    {"reconnect_timeout_wan", {}, FieldType::kDuration},
    {"recursors", {}, FieldType::kStringList},
    {"rejoin_after_leave", {}, FieldType::kBool},
    {"retry_interval", {}, FieldType::kDuration},
    {"retry_interval_wan", {}, FieldType::kDuration},
    {"retry_join", {}, FieldType::kStringList},
    {"retry_join_wan", {}, FieldType::kStringList},
    {"retry_max", {}, FieldType::kInt},
    {"retry_max_wan", {}, FieldType::kInt},
    {"segment", {}, FieldType::kString},
    {"serf_lan", {}, FieldType::kString},
    {"serf_wan", {}, FieldType::kString},
    {"server", {}, FieldType::kBool},
    {"service", {}, FieldType::kAny},
    {"services", {}, FieldType::kAny},
    {"session_ttl_min", {}, FieldType::kDuration},
    {"sidecar_max_port", {}, FieldType::kInt},
    {"sidecar_min_port", {}, FieldType::kInt},
    {"skip_leave_on_interrupt", {}, FieldType::kBool},
    {"start_join", {}, FieldType::kStringList},
    {"start_join_wan", {}, FieldType::kStringList},
    {"sync_coordinate_interval_min", {}, FieldType::kDuration},
    {"syslog_facility", {}, FieldType::kString},
    {"telemetry", {}, FieldType::kOpaque},
    {"tls", {}, FieldType::kObject, &kTls},
    {"translate_wan_addrs", {}, FieldType::kBool},
    {"ui", {}, FieldType::kBool},
    {"ui_config", {}, FieldType::kOpaque},
    {"verify_incoming", {}, FieldType::kBool},
    {"verify_incoming_https", {}, FieldType::kBool},
    {"verify_incoming_rpc", {}, FieldType::kBool},
    {"verify_outgoing", {}, FieldType::kBool},
    {"verify_server_hostname", {}, FieldType::kBool},
};
constexpr Schema kAgent{kAgentFields, KeyMatch::kExact, true};

// Merges b into a: objects recursively, services/checks lists appended, anything else replaced.
void Merge(Json* a, const Json& b) {
  for (const auto& [k, v] : b.items()) {
    if (k == "service" || k == "services" || k == "check" || k == "checks") continue;
    if (a->contains(k) && (*a)[k].is_object() && v.is_object()) {
      Merge(&(*a)[k], v);
    } else if (a->contains(k) && (*a)[k].is_array() && v.is_array()) {
      // Consul appends lists from later sources (recursors, retry_join, ...).
      for (const auto& item : v) (*a)[k].push_back(item);
    } else {
      (*a)[k] = v;
    }
  }
}

struct FlagSpec {
  const char* name;
  const char* pointer;  // JSON pointer in the config document
  FieldType kind;
  bool append = false;
};

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> kFlags = {
      {"server", "/server", FieldType::kBool},
      {"bootstrap", "/bootstrap", FieldType::kBool},
      {"bootstrap-expect", "/bootstrap_expect", FieldType::kInt},
      {"datacenter", "/datacenter", FieldType::kString},
      {"primary-datacenter", "/primary_datacenter", FieldType::kString},
      {"node", "/node_name", FieldType::kString},
      {"node-id", "/node_id", FieldType::kString},
      {"bind", "/bind_addr", FieldType::kString},
      {"client", "/client_addr", FieldType::kString},
      {"advertise", "/advertise_addr", FieldType::kString},
      {"advertise-wan", "/advertise_addr_wan", FieldType::kString},
      {"data-dir", "/data_dir", FieldType::kString},
      {"domain", "/domain", FieldType::kString},
      {"alt-domain", "/alt_domain", FieldType::kString},
      {"encrypt", "/encrypt", FieldType::kString},
      {"log-level", "/log_level", FieldType::kString},
      {"log-json", "/log_json", FieldType::kBool},
      {"log-file", "/log_file", FieldType::kString},
      {"pid-file", "/pid_file", FieldType::kString},
      {"ui", "/ui", FieldType::kBool},
      {"http-port", "/ports/http", FieldType::kInt},
      {"https-port", "/ports/https", FieldType::kInt},
      {"dns-port", "/ports/dns", FieldType::kInt},
      {"grpc-port", "/ports/grpc", FieldType::kInt},
      {"grpc-tls-port", "/ports/grpc_tls", FieldType::kInt},
      {"server-port", "/ports/server", FieldType::kInt},
      {"raft-port", "/ports/raft", FieldType::kInt},
      {"serf-lan-port", "/ports/serf_lan", FieldType::kInt},
      {"serf-wan-port", "/ports/serf_wan", FieldType::kInt},
      {"join", "/start_join", FieldType::kStringList, true},
      {"join-wan", "/start_join_wan", FieldType::kStringList, true},
      {"retry-join", "/retry_join", FieldType::kStringList, true},
      {"retry-join-wan", "/retry_join_wan", FieldType::kStringList, true},
      {"retry-interval", "/retry_interval", FieldType::kDuration},
      {"retry-interval-wan", "/retry_interval_wan", FieldType::kDuration},
      {"retry-max", "/retry_max", FieldType::kInt},
      {"retry-max-wan", "/retry_max_wan", FieldType::kInt},
      {"recursor", "/recursors", FieldType::kStringList, true},
      {"disable-host-node-id", "/disable_host_node_id", FieldType::kBool},
      {"rejoin", "/rejoin_after_leave", FieldType::kBool},
      {"raft-protocol", "/raft_protocol", FieldType::kInt},
      {"segment", "/segment", FieldType::kString},
      {"auto-reload-config", "/auto_reload_config", FieldType::kBool},
      {"enable-script-checks", "/enable_script_checks", FieldType::kBool},
      {"enable-local-script-checks", "/enable_local_script_checks", FieldType::kBool},
      {"default-query-time", "/default_query_time", FieldType::kDuration},
      {"max-query-time", "/max_query_time", FieldType::kDuration},
  };
  return kFlags;
}

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

struct LoadedDoc {
  codec::Document doc;
};

Status LoadFile(const std::string& path, std::vector<LoadedDoc>* out, std::vector<std::string>* notes) {
  auto doc = codec::ParseConfigFile(path);
  if (!doc.ok()) return InvalidArgument("Error loading " + path + ": " + doc.status().message());
  if (doc->json_had_comments) {
    notes->push_back(path + ": '#' comments are not valid JSON; accepted and ignored (an .hcl file "
                            "keeps comments legitimately)");
  }
  out->push_back({std::move(*doc)});
  return Status::Ok();
}

Status LoadDir(const std::string& dir, std::vector<LoadedDoc>* out, std::vector<std::string>* notes) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return InvalidArgument("Error loading " + dir + ": not a directory");
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".hcl" || ext == ".json")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Status s = LoadFile(f, out, notes);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status DecodeDocument(const codec::Document& doc, Json* merged, Config* cfg) {
  if (!doc.value.is_object()) {
    return InvalidArgument(doc.file + ": expected an object at the top level");
  }
  Json value = doc.value;
  Status s = codec::SchemaReader(&doc, kConfigStyle).CheckObject(kAgent, &value, codec::Loc{});
  if (!s.ok()) return s;
  if (value.contains("service") || value.contains("services")) {
    codec::Document sub;
    sub.file = doc.file;
    sub.lines = doc.lines;
    sub.value = Json::object();
    if (value.contains("service")) sub.value["service"] = value["service"];
    if (value.contains("services")) sub.value["services"] = value["services"];
    auto regs = catalog::DecodeServicesFile(sub);
    if (!regs.ok()) return regs.status();
    for (auto& r : *regs) {
      for (const auto& n : r.notes) cfg->notes.push_back(n);
      cfg->services.push_back(std::move(r));
    }
  }
  for (const char* key : {"check", "checks"}) {
    if (!value.contains(key)) continue;
    Json list = value[key].is_array() ? value[key] : Json::array({value[key]});
    for (size_t i = 0; i < list.size(); ++i) {
      std::string base = "/" + std::string(key) + (value[key].is_array() ? "/" + std::to_string(i) : "");
      auto c = catalog::DecodeCheckRegistration(list[i], catalog::Source{&doc, base});
      if (!c.ok()) return c.status();
      cfg->checks.push_back(std::move(*c));
    }
  }
  Merge(merged, value);
  return Status::Ok();
}

template <typename T>
void Get(const Json& j, const char* pointer, T* out) {
  Json::json_pointer p(pointer);
  if (j.contains(p) && !j.at(p).is_null()) *out = j.at(p).get<T>();
}

void GetTLS(const Json& j, const std::string& base, TLSFiles* t) {
  auto str = [&](const char* k, std::string* out) { Get(j, (base + "/" + k).c_str(), out); };
  str("ca_file", &t->ca_file);
  str("ca_path", &t->ca_path);
  str("cert_file", &t->cert_file);
  str("key_file", &t->key_file);
  str("tls_min_version", &t->tls_min_version);
  for (auto [k, out] : {std::pair{"verify_incoming", &t->verify_incoming},
                        std::pair{"verify_outgoing", &t->verify_outgoing},
                        std::pair{"verify_server_hostname", &t->verify_server_hostname}}) {
    Json::json_pointer p(base + "/" + k);
    if (j.contains(p) && j.at(p).is_boolean()) *out = j.at(p).get<bool>();
  }
}

}  // namespace

std::string AgentUsage() {
  return R"(Usage: gangway agent [options]

  Starts the Gangway agent and runs until an interrupt is received. The agent
  represents a single node in a cluster.

Options:
  -dev                 Start a single-node server and agent in memory with Connect on,
                       HTTP on 127.0.0.1:8500. For development only.
  -server              Run as a server.
  -bootstrap           Bootstrap this server as the leader of its datacenter.
  -bootstrap-expect=N  Number of servers to wait for before bootstrapping.
  -datacenter=dc1      Datacenter of the agent.
  -node=NAME           Node name (default: hostname).
  -bind=ADDR           Address for cluster communication (default 0.0.0.0).
  -client=ADDR         Address(es) for the HTTP/DNS interfaces (default 127.0.0.1).
  -advertise=ADDR      Address to advertise to other nodes.
  -data-dir=PATH       Directory for agent state (required unless -dev).
  -config-file=PATH    Load a configuration file (HCL or JSON). Repeatable.
  -config-dir=PATH     Load every .hcl and .json file in a directory, in name order. Repeatable.
  -hcl='...'           Inline HCL configuration. Repeatable.
  -http-port=N  -dns-port=N  -grpc-port=N  -server-port=N  -serf-lan-port=N  -serf-wan-port=N
                       Ports (0 picks a free port and logs it).
  -retry-join=ADDR     Address of an agent to join at start; retried. Repeatable.
  -retry-join-wan=ADDR Address of a server in another datacenter to join over the WAN.
  -encrypt=KEY         Gossip encryption key (base64).
  -log-level=info      trace, debug, info, warn or error.
)";
}

namespace {

// The agent's command line: Consul's flags, the config sources in order, and -dev.
struct CommandLine {
  Json flags = Json::object();       // flag values at their config keys
  std::vector<std::string> sources;  // "file:<p>", "dir:<p>", "hcl:<text>"
  bool dev = false;
  std::string config_format;
};

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  Json& flags = cl.flags;
  std::vector<std::string>& sources = cl.sources;
  bool& dev = cl.dev;
  std::string& config_format = cl.config_format;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-" || a.size() < 2 || a[0] != '-') {
      return InvalidArgument("unexpected argument \"" + a + "\"\n\n" + AgentUsage());
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto need_value = [&]() -> Result<std::string> {
      if (value) return *value;
      if (i + 1 >= args.size()) return InvalidArgument("flag needs an argument: -" + name);
      return args[++i];
    };
    if (name == "h" || name == "help") return InvalidArgument(AgentUsage());
    if (name == "dev") {
      if (value && *value != "true") dev = *value == "1";
      else dev = true;
      continue;
    }
    if (name == "config-file" || name == "config-dir" || name == "hcl") {
      auto v = need_value();
      if (!v.ok()) return v.status();
      sources.push_back((name == "config-file" ? "file:" : name == "config-dir" ? "dir:" : "hcl:") + *v);
      continue;
    }
    if (name == "config-format") {
      auto v = need_value();
      if (!v.ok()) return v.status();
      config_format = *v;
      if (config_format != "json" && config_format != "hcl") {
        return InvalidArgument("-config-format must be json or hcl, not \"" + config_format + "\"");
      }
      continue;
    }
    if (name == "node-meta") {
      auto v = need_value();
      if (!v.ok()) return v.status();
      auto colon = v->find(':');
      if (colon == std::string::npos) {
        return InvalidArgument("-node-meta: expected key:value, got \"" + *v + "\"");
      }
      flags["node_meta"][v->substr(0, colon)] = v->substr(colon + 1);
      continue;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& f : Flags()) {
      if (name == f.name) spec = &f;
    }
    if (!spec) return InvalidArgument("flag provided but not defined: -" + name + "\n\n" + AgentUsage());
    Json::json_pointer ptr(spec->pointer);
    if (spec->kind == FieldType::kBool) {
      bool b = true;
      if (value) {
        std::string l = ToLower(*value);
        if (l == "false" || l == "0") b = false;
        else if (l != "true" && l != "1") return InvalidArgument("invalid boolean value \"" + *value + "\" for -" + name);
      }
      flags[ptr] = b;
      continue;
    }
    auto v = need_value();
    if (!v.ok()) return v.status();
    if (spec->kind == FieldType::kInt) {
      if (v->empty() || v->find_first_not_of("-0123456789") != std::string::npos || v->size() > 10) {
        return InvalidArgument("invalid value \"" + *v + "\" for flag -" + name + ": parse error");
      }
      flags[ptr] = std::stoll(*v);
    } else if (spec->append) {
      if (!flags.contains(ptr)) flags[ptr] = Json::array();
      flags[ptr].push_back(*v);
    } else {
      flags[ptr] = *v;
    }
  }

  return cl;
}

// The documents of every source, over the dev-mode defaults, decoded into `merged` (the
// configuration as JSON, later keys winning) and the parts of `cfg` decoding fills.
Status LoadSources(const CommandLine& cl, Config* out, Json* merged_out) {
  Config& cfg = *out;
  const std::vector<std::string>& sources = cl.sources;
  const std::string& config_format = cl.config_format;
  const bool dev = cl.dev;
  // Dev-mode defaults come first; files and flags override them.
  Json& merged = *merged_out;
  merged = Json::object();
  if (dev) {
    cfg.dev = true;
    merged = {{"server", true},
              {"bootstrap", true},
              {"bind_addr", "127.0.0.1"},
              {"client_addr", "127.0.0.1"},
              {"ui", true},
              {"connect", {{"enabled", true}}},
              {"ports", {{"grpc", 8502}}}};
  }

  std::vector<LoadedDoc> docs;
  for (const auto& src : sources) {
    Status s;
    if (src.rfind("file:", 0) == 0) {
      std::string path = src.substr(5);
      if (!config_format.empty()) {
        std::string text;
        FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) return InvalidArgument("Error loading " + path + ": cannot open file");
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        std::fclose(f);
        auto doc = config_format == "hcl" ? codec::ParseHcl(text, path) : codec::ParseJson(text, path);
        if (!doc.ok()) return InvalidArgument("Error loading " + path + ": " + doc.status().message());
        docs.push_back({std::move(*doc)});
        continue;
      }
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) {
        s = LoadDir(path, &docs, &cfg.notes);
      } else {
        s = LoadFile(path, &docs, &cfg.notes);
      }
    } else if (src.rfind("dir:", 0) == 0) {
      s = LoadDir(src.substr(4), &docs, &cfg.notes);
    } else {
      auto doc = codec::ParseHcl(src.substr(4), "-hcl");
      if (!doc.ok()) return InvalidArgument("Error parsing -hcl: " + doc.status().message());
      docs.push_back({std::move(*doc)});
    }
    if (!s.ok()) return s;
  }
  for (const auto& d : docs) {
    Status s = DecodeDocument(d.doc, &merged, &cfg);
    if (!s.ok()) return s;
  }
  {
    codec::Document fd;
    fd.file = "command-line flags";
    fd.value = cl.flags;
    Status s = DecodeDocument(fd, &merged, &cfg);
    if (!s.ok()) return s;
  }

  return Status::Ok();
}

// The settings read from the merged configuration, Consul's defaults applied.
Status ReadSettings(const Json& merged, Config* out) {
  Config& cfg = *out;
  Get(merged, "/server", &cfg.server);
  Get(merged, "/bootstrap", &cfg.bootstrap);
  Get(merged, "/bootstrap_expect", &cfg.bootstrap_expect);
  Get(merged, "/datacenter", &cfg.datacenter);
  cfg.datacenter = ToLower(cfg.datacenter);
  Get(merged, "/primary_datacenter", &cfg.primary_datacenter);
  if (cfg.primary_datacenter.empty()) Get(merged, "/acl_datacenter", &cfg.primary_datacenter);
  if (cfg.primary_datacenter.empty()) cfg.primary_datacenter = cfg.datacenter;
  Get(merged, "/node_name", &cfg.node_name);
  if (cfg.node_name.empty()) cfg.node_name = Hostname();
  Get(merged, "/node_id", &cfg.node_id);
  cfg.node_id_configured = !cfg.node_id.empty();
  if (cfg.node_id.empty()) cfg.node_id = NewUuid();
  Get(merged, "/node_meta", &cfg.node_meta);
  Get(merged, "/data_dir", &cfg.data_dir);
  Get(merged, "/bind_addr", &cfg.bind_addr);
  std::string client;
  Get(merged, "/client_addr", &client);
  if (!client.empty()) {
    cfg.client_addrs.clear();
    for (const auto& part : Split(client, ' ')) {
      if (!part.empty()) cfg.client_addrs.push_back(part);
    }
  }
  Get(merged, "/advertise_addr", &cfg.advertise_addr);
  Get(merged, "/advertise_addr_wan", &cfg.advertise_addr_wan);
  Get(merged, "/domain", &cfg.domain);
  Get(merged, "/log_level", &cfg.log_level);
  Get(merged, "/encrypt", &cfg.encrypt);
  Get(merged, "/encrypt_verify_incoming", &cfg.encrypt_verify_incoming);
  Get(merged, "/encrypt_verify_outgoing", &cfg.encrypt_verify_outgoing);
  Get(merged, "/retry_join", &cfg.retry_join);
  Get(merged, "/retry_join_wan", &cfg.retry_join_wan);
  Get(merged, "/start_join", &cfg.start_join);
  Get(merged, "/start_join_wan", &cfg.start_join_wan);
  Get(merged, "/retry_max", &cfg.retry_max);
  Get(merged, "/retry_max_wan", &cfg.retry_max_wan);
  if (merged.contains("retry_interval") && merged["retry_interval"].is_string()) {
    cfg.retry_interval = merged["retry_interval"].get<std::string>();
  }
  if (merged.contains("session_ttl_min") && merged["session_ttl_min"].is_string()) {
    cfg.session_ttl_min = merged["session_ttl_min"].get<std::string>();
  }
  Get(merged, "/disable_coordinates", &cfg.disable_coordinates);
  if (merged.contains("sync_coordinate_interval_min") &&
      merged["sync_coordinate_interval_min"].is_string()) {
    cfg.sync_coordinate_interval_min = merged["sync_coordinate_interval_min"].get<std::string>();
  }
  if (merged.contains("retry_interval_wan") && merged["retry_interval_wan"].is_string()) {
    cfg.retry_interval_wan = merged["retry_interval_wan"].get<std::string>();
  }
  Get(merged, "/connect/enabled", &cfg.connect_enabled);
  if (merged.contains("default_intention_policy")) {
    std::string policy;
    Get(merged, "/default_intention_policy", &policy);
    if (policy != "allow" && policy != "deny") {
      return InvalidArgument("default_intention_policy: invalid value \"" + policy +
                             "\" (expected allow or deny)");
    }
    cfg.default_intention_policy = policy;
  }
  {
    // connect.ca_provider / connect.ca_config: what the CA starts with (docs/connect-ca.md).
    // Checked here so a bad setting stops the agent with Consul's text instead of surfacing
    // when the leader first initialises the CA.
    catalog::Json body = {{"Provider", std::string(ca::kConsulProvider)},
                          {"Config", catalog::Json::object()}};
    std::string provider;
    Get(merged, "/connect/ca_provider", &provider);
    if (!provider.empty()) body["Provider"] = provider;
    if (const catalog::Json* c = merged.contains("connect") ? &merged["connect"] : nullptr;
        c != nullptr && c->is_object() && c->contains("ca_config")) {
      body["Config"] = (*c)["ca_config"];
    }
    auto ca_config = ca::DecodeCAConfiguration(body);
    if (!ca_config.ok()) return InvalidArgument("connect.ca_config: " + ca_config.status().message());
    if (Status s = ca::Validate(*ca_config); !s.ok()) {
      return InvalidArgument("connect.ca_config: " + s.message());
    }
    cfg.connect_ca = std::move(*ca_config);
  }
  Get(merged, "/ui", &cfg.ui);
  Get(merged, "/enable_script_checks", &cfg.enable_script_checks);
  Get(merged, "/enable_local_script_checks", &cfg.enable_local_script_checks);
  // Consul's defaults: clients leave the cluster on SIGTERM and SIGINT, servers on neither.
  cfg.leave_on_terminate = !cfg.server;
  cfg.skip_leave_on_interrupt = cfg.server;
  Get(merged, "/leave_on_terminate", &cfg.leave_on_terminate);
  Get(merged, "/skip_leave_on_interrupt", &cfg.skip_leave_on_interrupt);
  auto& p = cfg.ports;
  Get(merged, "/ports/dns", &p.dns);
  Get(merged, "/ports/http", &p.http);
  Get(merged, "/ports/https", &p.https);
  Get(merged, "/ports/grpc", &p.grpc);
  Get(merged, "/ports/grpc_tls", &p.grpc_tls);
  Get(merged, "/ports/serf_lan", &p.serf_lan);
  Get(merged, "/ports/serf_wan", &p.serf_wan);
  Get(merged, "/ports/server", &p.server);
  Get(merged, "/ports/raft", &p.raft);
  Get(merged, "/ports/sidecar_min_port", &p.sidecar_min_port);
  Get(merged, "/ports/sidecar_max_port", &p.sidecar_max_port);
  // Legacy top-level TLS keys feed tls.defaults; the tls {} block wins where both are set.
  GetTLS(merged, "", &cfg.tls_defaults);
  GetTLS(merged, "/tls/defaults", &cfg.tls_defaults);
  GetTLS(merged, "/tls/internal_rpc", &cfg.tls_internal_rpc);
  GetTLS(merged, "/tls/https", &cfg.tls_https);
  for (const char* legacy : {"ca_file", "cert_file", "key_file", "verify_incoming",
                             "verify_outgoing", "verify_server_hostname"}) {
    if (merged.contains(legacy)) {
      cfg.warnings.push_back(std::string("The '") + legacy +
                             "' field is deprecated. Use the 'tls.defaults." + legacy +
                             "' field instead.");
    }
  }
  for (const char* legacy : {"start_join", "start_join_wan"}) {
    if (merged.contains(legacy)) {
      cfg.warnings.push_back(std::string("The '") + legacy + "' field is deprecated. Use the 'retry_join" +
                             (std::string(legacy) == "start_join" ? "" : "_wan") + "' field instead.");
    }
  }

  return Status::Ok();
}

// A duration under pointer: a Go duration string or integer nanoseconds.
Status GetDuration(const Json& j, const std::string& pointer, std::chrono::nanoseconds* out) {
  Json::json_pointer p(pointer);
  if (!j.contains(p) || j.at(p).is_null()) return Status::Ok();
  const Json& v = j.at(p);
  std::string key = pointer.substr(1);
  std::replace(key.begin(), key.end(), '/', '.');
  if (v.is_number_integer()) {
    *out = std::chrono::nanoseconds(v.get<int64_t>());
  } else if (v.is_string()) {
    auto d = ParseDuration(v.get<std::string>());
    if (!d.ok()) return InvalidArgument(key + ": " + d.status().message());
    *out = *d;
  } else {
    return InvalidArgument(key + ": expected a duration such as \"10s\"");
  }
  if (out->count() < 0) return InvalidArgument(key + ": must not be negative");
  return Status::Ok();
}

// domain, alt_domain, recursors and dns_config (dns/config.h; Consul's defaults).
Status ReadDnsConfig(const Json& merged, Config* out) {
  dns::Config& d = out->dns;
  std::string domain = "consul.", alt;
  Get(merged, "/domain", &domain);
  Get(merged, "/alt_domain", &alt);
  d.domain = dns::CanonicalDomain(domain);
  d.alt_domain = alt.empty() ? "" : dns::CanonicalDomain(alt);
  if (d.domain == "." || (!alt.empty() && d.alt_domain == ".")) {
    return InvalidArgument("domain: the root zone cannot be the DNS domain");
  }
  if (d.alt_domain == d.domain) d.alt_domain.clear();
  Get(merged, "/recursors", &d.recursors);
  for (const auto& r : d.recursors) {
    if (r.empty()) return InvalidArgument("recursors: an empty address (expected host or host:port)");
  }
  Get(merged, "/dns_config/allow_stale", &d.allow_stale);
  Get(merged, "/dns_config/udp_answer_limit", &d.udp_answer_limit);
  Get(merged, "/dns_config/a_record_limit", &d.a_record_limit);
  Get(merged, "/dns_config/enable_truncate", &d.enable_truncate);
  Get(merged, "/dns_config/only_passing", &d.only_passing);
  Get(merged, "/dns_config/disable_compression", &d.disable_compression);
  Get(merged, "/dns_config/enable_additional_node_meta_txt", &d.enable_additional_node_meta_txt);
  if (d.udp_answer_limit < 0) {
    return InvalidArgument("dns_config.udp_answer_limit: must not be negative, got " +
                           std::to_string(d.udp_answer_limit));
  }
  if (d.a_record_limit < 0) {
    return InvalidArgument("dns_config.a_record_limit: must not be negative, got " +
                           std::to_string(d.a_record_limit));
  }
  for (auto [key, target] : {std::pair{"/dns_config/max_stale", &d.max_stale},
                             {"/dns_config/node_ttl", &d.node_ttl},
                             {"/dns_config/recursor_timeout", &d.recursor_timeout}}) {
    if (Status s = GetDuration(merged, key, target); !s.ok()) return s;
  }
  if (d.recursor_timeout.count() == 0) d.recursor_timeout = std::chrono::seconds(2);
  std::string strategy = "sequential";
  Get(merged, "/dns_config/recursor_strategy", &strategy);
  if (strategy != "sequential" && strategy != "random") {
    return InvalidArgument("dns_config.recursor_strategy: invalid value \"" + strategy +
                           "\" (expected sequential or random)");
  }
  d.recursor_random = strategy == "random";
  Json::json_pointer ttl_ptr("/dns_config/service_ttl");
  if (merged.contains(ttl_ptr) && merged.at(ttl_ptr).is_object()) {
    for (const auto& [name, value] : merged.at(ttl_ptr).items()) {
      std::chrono::nanoseconds ttl{0};
      Json one = {{"dns_config", {{"service_ttl", {{name, value}}}}}};
      Json::json_pointer p("/dns_config/service_ttl");
      p /= name;
      if (Status s = GetDuration(one, p.to_string(), &ttl); !s.ok()) return s;
      d.service_ttl[name] = ttl;
    }
  }
  for (auto [key, target] : {std::pair{"/dns_config/soa/expire", &d.soa.expire},
                             {"/dns_config/soa/min_ttl", &d.soa.min_ttl},
                             {"/dns_config/soa/refresh", &d.soa.refresh},
                             {"/dns_config/soa/retry", &d.soa.retry}}) {
    int64_t v = *target;
    Get(merged, key, &v);
    if (v < 0 || v > 0xffffffffLL) {
      std::string k = std::string(key).substr(1);
      std::replace(k.begin(), k.end(), '/', '.');
      return InvalidArgument(k + ": must be between 0 and 4294967295, got " + std::to_string(v));
    }
    *target = static_cast<uint32_t>(v);
  }
  std::string dns_addr;
  Get(merged, "/addresses/dns", &dns_addr);
  if (!dns_addr.empty()) {
    out->dns_addrs.clear();
    for (const auto& part : Split(dns_addr, ' ')) {
      if (!part.empty()) out->dns_addrs.push_back(part);
    }
  } else {
    out->dns_addrs = out->client_addrs;
  }
  return Status::Ok();
}

// acl { } and its older spellings (acl/config.h; Consul's defaults). A key Consul renamed is
// still read, with a warning naming the new one; where both are set the new one wins.
Status ReadAclConfig(const Json& merged, Config* out) {
  acl::Config& a = out->acl;
  auto legacy = [&](const char* old_pointer, const char* new_pointer, auto* target) {
    Json::json_pointer op(old_pointer), np(new_pointer);
    if (!merged.contains(op)) return;
    std::string o = std::string(old_pointer).substr(1), n = std::string(new_pointer).substr(1);
    std::replace(o.begin(), o.end(), '/', '.');
    std::replace(n.begin(), n.end(), '/', '.');
    out->warnings.push_back("The '" + o + "' field is deprecated. Use the '" + n +
                            "' field instead.");
    if (!merged.contains(np)) Get(merged, old_pointer, target);
  };
  std::string default_policy = "allow", down_policy = "extend-cache";
  legacy("/acl_default_policy", "/acl/default_policy", &default_policy);
  legacy("/acl_down_policy", "/acl/down_policy", &down_policy);
  legacy("/acl_token", "/acl/tokens/default", &a.tokens.default_token);
  legacy("/acl_agent_token", "/acl/tokens/agent", &a.tokens.agent);
  legacy("/acl_agent_master_token", "/acl/tokens/agent_recovery", &a.tokens.agent_recovery);
  legacy("/acl_master_token", "/acl/tokens/initial_management", &a.tokens.initial_management);
  legacy("/acl_replication_token", "/acl/tokens/replication", &a.tokens.replication);
  legacy("/enable_acl_replication", "/acl/enable_token_replication", &a.enable_token_replication);
  legacy("/acl/tokens/master", "/acl/tokens/initial_management", &a.tokens.initial_management);
  legacy("/acl/tokens/agent_master", "/acl/tokens/agent_recovery", &a.tokens.agent_recovery);
  if (merged.contains("acl_datacenter")) {
    out->warnings.push_back(
        "The 'acl_datacenter' field is deprecated. Use the 'primary_datacenter' field instead.");
    // Consul: acl_datacenter also turns ACLs on (and names the primary, see ReadSettings).
    a.enabled = true;
  }
  if (merged.contains("acl_ttl")) {
    out->warnings.push_back("The 'acl_ttl' field is deprecated. Use the 'acl.token_ttl' field instead.");
    if (Status s = GetDuration(merged, "/acl_ttl", &a.token_ttl); !s.ok()) return s;
  }
  Get(merged, "/acl/enabled", &a.enabled);
  Get(merged, "/acl/default_policy", &default_policy);
  Get(merged, "/acl/down_policy", &down_policy);
  Get(merged, "/acl/enable_key_list_policy", &a.enable_key_list_policy);
  Get(merged, "/acl/enable_token_replication", &a.enable_token_replication);
  Get(merged, "/acl/enable_token_persistence", &a.enable_token_persistence);
  for (auto [key, target] : {std::pair{"/acl/token_ttl", &a.token_ttl},
                             {"/acl/policy_ttl", &a.policy_ttl},
                             {"/acl/role_ttl", &a.role_ttl}}) {
    if (Status s = GetDuration(merged, key, target); !s.ok()) return s;
  }
  Get(merged, "/acl/tokens/initial_management", &a.tokens.initial_management);
  Get(merged, "/acl/tokens/agent_recovery", &a.tokens.agent_recovery);
  Get(merged, "/acl/tokens/agent", &a.tokens.agent);
  Get(merged, "/acl/tokens/default", &a.tokens.default_token);
  Get(merged, "/acl/tokens/replication", &a.tokens.replication);
  Get(merged, "/acl/tokens/config_file_service_registration",
      &a.tokens.config_file_service_registration);
  Get(merged, "/acl/tokens/dns", &a.tokens.dns);
  if (default_policy != "allow" && default_policy != "deny") {
    return InvalidArgument("acl.default_policy: invalid value \"" + default_policy +
                           "\" (expected allow or deny)");
  }
  a.default_allow = default_policy == "allow";
  if (down_policy == "extend-cache") {
    a.down_policy = acl::DownPolicy::kExtendCache;
  } else if (down_policy == "async-cache") {
    a.down_policy = acl::DownPolicy::kAsyncCache;
  } else if (down_policy == "allow") {
    a.down_policy = acl::DownPolicy::kAllow;
  } else if (down_policy == "deny") {
    a.down_policy = acl::DownPolicy::kDeny;
  } else {
    return InvalidArgument("acl.down_policy: invalid value \"" + down_policy +
                           "\" (expected extend-cache, async-cache, allow or deny)");
  }
  return Status::Ok();
}

// gossip_lan / gossip_wan tuning (docs/gossip-profiles.md).
Status ReadGossipTuning(const Json& merged, Config* out) {
  Config& cfg = *out;
  for (auto [base, t] : {std::pair{"gossip_lan", &cfg.gossip_lan}, {"gossip_wan", &cfg.gossip_wan}}) {
    std::string b = std::string("/") + base + "/";
    Get(merged, (b + "gossip_nodes").c_str(), &t->gossip_nodes);
    Get(merged, (b + "retransmit_mult").c_str(), &t->retransmit_mult);
    Get(merged, (b + "suspicion_mult").c_str(), &t->suspicion_mult);
    for (auto [key, out] : {std::pair{"gossip_interval", &t->gossip_interval},
                            {"probe_interval", &t->probe_interval},
                            {"probe_timeout", &t->probe_timeout}}) {
      Json::json_pointer ptr(b + key);
      if (!merged.contains(ptr) || !merged.at(ptr).is_string()) continue;
      auto d = ParseDuration(merged.at(ptr).get<std::string>());
      if (d.ok()) *out = *d;
      if (d.ok() && d->count() <= 0) {
        return InvalidArgument(std::string(base) + "." + key + ": must be a positive duration");
      }
    }
    for (auto [key, v] : {std::pair{"gossip_nodes", t->gossip_nodes},
                          {"retransmit_mult", t->retransmit_mult},
                          {"suspicion_mult", t->suspicion_mult}}) {
      if (v < 0) {
        return InvalidArgument(std::string(base) + "." + key + ": must be at least 1, got " +
                               std::to_string(v));
      }
    }
    if (t->probe_timeout.count() > 0 && t->probe_interval.count() > 0 &&
        t->probe_timeout >= t->probe_interval) {
      return InvalidArgument(std::string(base) +
                             ".probe_timeout must be shorter than probe_interval");
    }
  }

  return Status::Ok();
}

Status Validate(Config* out) {
  Config& cfg = *out;
  auto& p = cfg.ports;
  // Validation, with Consul's wording where it has one.
  if (LogLevel level; !ParseLogLevel(cfg.log_level, &level)) {
    return InvalidArgument("log_level: unknown level \"" + cfg.log_level +
                           "\" (expected trace, debug, info, warn or error)");
  }
  auto port_ok = [](int v, bool allow_off) { return (allow_off && v == -1) || (v >= 0 && v <= 65535); };
  for (auto [name, v, off] : {std::tuple{"ports.http", p.http, true}, {"ports.dns", p.dns, true},
                              {"ports.server", p.server, false}, {"ports.serf_lan", p.serf_lan, false},
                              {"ports.serf_wan", p.serf_wan, true}, {"ports.grpc", p.grpc, true},
                              {"ports.https", p.https, true}}) {
    if (!port_ok(v, off)) {
      return InvalidArgument(std::string(name) + ": invalid port " + std::to_string(v) +
                             " (expected 0-65535" + (off ? ", or -1 to disable" : "") + ")");
    }
  }
  if (p.sidecar_min_port > p.sidecar_max_port) {
    return InvalidArgument("ports.sidecar_min_port must be less than or equal to ports.sidecar_max_port");
  }
  if (!cfg.dev && cfg.data_dir.empty()) {
    return InvalidArgument("data_dir cannot be empty (set data_dir or pass -data-dir, or use -dev)");
  }
  if (cfg.bootstrap && cfg.bootstrap_expect > 0) {
    return InvalidArgument("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive");
  }
  if ((cfg.bootstrap || cfg.bootstrap_expect > 0) && !cfg.server) {
    return InvalidArgument(cfg.bootstrap ? "'bootstrap = true' requires 'server = true'"
                                         : "'bootstrap_expect > 0' requires 'server = true'");
  }
  if (!cfg.server && !cfg.retry_join_wan.empty()) {
    return InvalidArgument("'retry_join_wan' requires 'server = true'");
  }
  if (cfg.datacenter.empty() || cfg.datacenter.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
    return InvalidArgument("datacenter \"" + cfg.datacenter +
                           "\" is invalid: use only letters, digits, '-' and '_'");
  }
  if (cfg.advertise_addr.empty()) {
    cfg.advertise_addr = cfg.bind_addr == "0.0.0.0" ? "127.0.0.1" : cfg.bind_addr;
  }
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::vector<std::string>& args) {
  auto cl = ParseCommandLine(args);
  if (!cl.ok()) return cl.status();
  Config cfg;
  Json merged;
  if (Status s = LoadSources(*cl, &cfg, &merged); !s.ok()) return s;
  if (Status s = ReadSettings(merged, &cfg); !s.ok()) return s;
  if (Status s = ReadGossipTuning(merged, &cfg); !s.ok()) return s;
  if (Status s = ReadDnsConfig(merged, &cfg); !s.ok()) return s;
  if (Status s = ReadAclConfig(merged, &cfg); !s.ok()) return s;
  if (const char* io = std::getenv("GANGWAY_HTTP_IO_THREADS"); io != nullptr && *io != '\0') {
    char* end = nullptr;
    long n = std::strtol(io, &end, 10);
    if (*end != '\0' || n < -1 || n > 256) {
      return InvalidArgument(std::string("GANGWAY_HTTP_IO_THREADS: invalid value \"") + io +
                             "\" (expected -1 for one per core, 0 for none, or a count)");
    }
    cfg.http_io_threads = static_cast<int>(n);
  }
  if (Status s = Validate(&cfg); !s.ok()) return s;
  cfg.merged = merged;
  return cfg;
}

}  // namespace gangway::agent
