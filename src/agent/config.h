// Agent configuration: Consul's keys and defaults, read from -config-file/-config-dir (HCL and
// JSON) and command-line flags (flags win). Unknown keys are errors naming the key, the file and
// line, and the nearest valid key. Pure; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ca/config.h"
#include "catalog/service_definition.h"
#include "core/duration.h"
#include "core/status.h"
#include "acl/config.h"
#include "dns/config.h"

namespace gangway::agent {

struct Ports {
  int dns = 8600;
  int http = 8500;
  int https = -1;
  int grpc = -1;
  int grpc_tls = -1;
  int serf_lan = 8301;
  int serf_wan = 8302;
  int server = 8300;
  // Raft traffic between servers shares ports.server (0); a port here gives Raft a listener of
  // its own (libraft's TCP transport) instead. A Gangway extension.
  int raft = 0;
  int sidecar_min_port = 21000;
  int sidecar_max_port = 21255;
  int expose_min_port = 21500;
  int expose_max_port = 21755;
};

struct TLSFiles {
  std::string ca_file;
  std::string ca_path;
  std::string cert_file;
  std::string key_file;
  std::optional<bool> verify_incoming;
  std::optional<bool> verify_outgoing;
  std::optional<bool> verify_server_hostname;
  std::string tls_min_version;
};

struct Config {
  bool dev = false;
  bool server = false;
  bool bootstrap = false;
  int bootstrap_expect = 0;
  std::string datacenter = "dc1";
  std::string primary_datacenter;
  std::string node_name;
  std::string node_id;
  std::map<std::string, std::string> node_meta;
  std::string data_dir;
  // node_id came from the configuration (else it is random until the agent reads or writes
  // data_dir/node-id, as Consul keeps it across restarts).
  bool node_id_configured = false;
  std::string bind_addr = "0.0.0.0";
  std::vector<std::string> client_addrs = {"127.0.0.1"};
  std::string advertise_addr;
  std::string advertise_addr_wan;
  std::string domain = "consul.";
  // domain, alt_domain, recursors and dns_config, as the DNS interface uses them.
  dns::Config dns;
  acl::Config acl;
  std::vector<std::string> dns_addrs;  // addresses.dns, else client_addr
  std::string log_level = "info";
  std::string encrypt;
  bool encrypt_verify_incoming = true;
  bool encrypt_verify_outgoing = true;
  std::vector<std::string> retry_join;
  std::vector<std::string> retry_join_wan;
  std::vector<std::string> start_join;
  std::vector<std::string> start_join_wan;
  std::string retry_interval = "30s";
  std::string retry_interval_wan = "30s";
  std::string session_ttl_min;  // empty: Consul's 10s
  // Network coordinates (docs/coordinates.md): off entirely, and the shortest interval between
  // an agent's coordinate updates to the servers (Consul's internal key; empty: 15s).
  bool disable_coordinates = false;
  std::string sync_coordinate_interval_min;
  int retry_max = 0;
  int retry_max_wan = 0;
  bool connect_enabled = false;
  // default_intention_policy: "allow" | "deny" when set, which decides for every source no
  // intention matches (meshcfg::ResolveIntentionDefault); "" leaves it to the ACL default.
  std::string default_intention_policy;
  ca::CAConfig connect_ca;  // connect.ca_provider + connect.ca_config, validated
  bool ui = false;
  bool enable_script_checks = false;        // script checks from anywhere, the API included
  bool enable_local_script_checks = false;  // script checks from configuration files only
  // gossip_lan / gossip_wan: memberlist knobs over the pool's profile; zero = the profile's value.
  struct GossipTuning {
    int gossip_nodes = 0;
    Duration gossip_interval{0};
    Duration probe_interval{0};
    Duration probe_timeout{0};
    int retransmit_mult = 0;
    int suspicion_mult = 0;
  };
  GossipTuning gossip_lan;
  GossipTuning gossip_wan;
  bool leave_on_terminate = false;       // default: true on clients
  bool skip_leave_on_interrupt = false;  // default: true on servers
  Ports ports;
  // I/O threads serving HTTP(S) connections (docs/architecture.md, Threads): -1 one per core,
  // 0 the control loop. From GANGWAY_HTTP_IO_THREADS; not a Consul setting.
  int http_io_threads = -1;
  TLSFiles tls_defaults;
  TLSFiles tls_internal_rpc;
  TLSFiles tls_https;
  std::vector<catalog::ServiceRegistration> services;
  std::vector<catalog::CheckRegistration> checks;

  // The merged configuration document (for /v1/agent/self "DebugConfig").
  nlohmann::json merged;
  // One-line `note:`s about accepted non-Consul forms, to print at startup.
  std::vector<std::string> notes;
  // Warnings (deprecated keys and the like), to log at startup.
  std::vector<std::string> warnings;
};

// Parses agent arguments (everything after "agent"). Errors carry the message to print.
Result<Config> LoadConfig(const std::vector<std::string>& args);

// The usage text of `gangway agent`.
std::string AgentUsage();

}  // namespace gangway::agent
