// Where the agent's HTTP API is and how to talk to it, as Consul's api package resolves it: the
// common HTTP flags (-http-addr, -token, -ca-file, ...) over GANGWAY_* then CONSUL_* environment
// variables over 127.0.0.1:8500. Used by every process that calls an agent (the CLI, the proxy).
// Pure apart from reading the files named; any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/flags.h"
#include "core/status.h"
#include "x509/tls_context.h"

namespace gangway::apiclient {

// Reads an environment variable; nullopt when unset (std::getenv in processes, a map in tests).
using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

// Values of the common HTTP flags.
struct HttpFlags {
  std::string http_addr;
  std::string token;
  std::string token_file;
  std::string datacenter;
  bool stale = false;
  // HTTPS: the CA to verify the agent with, our certificate, the name to expect.
  std::string ca_file;
  std::string ca_path;
  std::string client_cert;
  std::string client_key;
  std::string tls_server_name;

  // Adds the flags to `flags` under "HTTP API Options". `with_stale` for commands that read.
  void Register(FlagSet* flags, bool with_stale = true);
};

// Where the agent's HTTP API is.
struct AgentAddress {
  std::string host;  // for connecting: name or IP, IPv6 without brackets
  int port = 8500;
  bool https = false;
  std::string hostport;  // as written in URLs: "127.0.0.1:8500", "[::1]:8500"
};

// Parses "host:port", "http://host:port" (port 80 when absent), "https://host:port" (443).
// "unix://..." is an error: sockets are not supported.
Result<AgentAddress> ParseAgentAddress(const std::string& text);

// The address to use: the -http-addr flag when set, else GANGWAY_HTTP_ADDR, else CONSUL_HTTP_ADDR,
// else 127.0.0.1:8500. GANGWAY_HTTP_SSL / CONSUL_HTTP_SSL=true asks for HTTPS.
Result<AgentAddress> ResolveAgentAddress(const std::string& flag_value, const GetEnv& getenv);

// The ACL token: -token, else -token-file, else GANGWAY_/CONSUL_HTTP_TOKEN_FILE, else
// GANGWAY_/CONSUL_HTTP_TOKEN; "" for none. A token file that cannot be read is an error.
Result<std::string> ResolveToken(const HttpFlags& flags, const GetEnv& getenv);

// The client TLS context for an HTTPS agent address: -ca-file/-ca-path/-client-cert/-client-key,
// else CONSUL_CACERT, CONSUL_CAPATH, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY (GANGWAY_ forms first);
// CONSUL_HTTP_SSL_VERIFY=false turns verification off.
Result<std::shared_ptr<const x509::TlsContext>> ClientTls(const HttpFlags& flags,
                                                          const GetEnv& getenv);

// The name to expect in the agent's certificate: -tls-server-name, else
// GANGWAY_/CONSUL_TLS_SERVER_NAME; "" for the host itself.
std::string ResolveTlsServerName(const HttpFlags& flags, const GetEnv& getenv);

}  // namespace gangway::apiclient
