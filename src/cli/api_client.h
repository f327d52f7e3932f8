// The CLI's client for the local agent's HTTP API: the common HTTP flags every command takes
// (-http-addr, -token, -datacenter, -stale, ...), where the agent is (flag, then GANGWAY_HTTP_ADDR,
// then CONSUL_HTTP_ADDR, then 127.0.0.1:8500), and requests whose failures read like Consul's Go
// API client. One ApiClient per command run; single-threaded.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "core/flags.h"
#include "core/status.h"
#include "http/message.h"
#include "x509/tls_context.h"

namespace gangway::cli {

using Json = nlohmann::json;

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

// Query parameters in order; an empty value is sent as a bare name ("?recurse").
using Params = std::vector<std::pair<std::string, std::string>>;

class ApiClient {
 public:
  // Resolves address and token; fails on a bad -http-addr or unreadable token file.
  static Result<ApiClient> Create(const HttpFlags& flags, const Environment& env);

  // One request. Fails only when the agent could not be reached; the message is Go's, e.g.
  // `Get "http://127.0.0.1:8500/v1/agent/self": dial tcp 127.0.0.1:8500: connect: connection
  // refused`. `path` must already be escaped (see encoding.h). Reads also carry ?dc= and ?stale
  // from the flags; writes carry ?dc=.
  Result<http::Response> Send(const std::string& method, const std::string& path,
                              const Params& params = {}, std::string body = {}) const;

  // As Send, and a non-2xx status becomes "Unexpected response code: <code> (<body>)".
  Result<std::string> Get(const std::string& path, const Params& params = {}) const;
  Result<Json> GetJson(const std::string& path, const Params& params = {}) const;
  Result<std::string> Put(const std::string& path, const Params& params = {},
                          std::string body = {}) const;
  Result<std::string> Delete(const std::string& path, const Params& params = {}) const;

  const AgentAddress& address() const { return address_; }

 private:
  ApiClient(AgentAddress address, std::string token, std::string datacenter, bool stale,
            Transport transport, std::shared_ptr<const x509::TlsContext> tls,
            std::string tls_server_name)
      : tls_(std::move(tls)),
        tls_server_name_(std::move(tls_server_name)),
        address_(std::move(address)),
        token_(std::move(token)),
        datacenter_(std::move(datacenter)),
        stale_(stale),
        transport_(std::move(transport)) {}

  Result<std::string> Checked(const std::string& method, const std::string& path,
                              const Params& params, std::string body) const;

  std::shared_ptr<const x509::TlsContext> tls_;
  std::string tls_server_name_;
  AgentAddress address_;
  std::string token_;
  std::string datacenter_;
  bool stale_ = false;
  Transport transport_;
};

// The client TLS context for an HTTPS agent address: -ca-file/-ca-path/-client-cert/-client-key,
// else CONSUL_CACERT, CONSUL_CAPATH, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY (GANGWAY_ forms first);
// CONSUL_HTTP_SSL_VERIFY=false turns verification off.
Result<std::shared_ptr<const x509::TlsContext>> ClientTls(const HttpFlags& flags,
                                                          const GetEnv& getenv);

// Consul's API client text for a non-2xx answer: "Unexpected response code: 404 (body)".
Status UnexpectedResponse(const http::Response& response);

// Builds "path?k=v&flag" with values escaped.
std::string BuildTarget(const std::string& path, const Params& params);

// Lenient readers for API answers: a missing or mistyped field reads as empty/zero, so a
// slightly different server never crashes the CLI. Non-string scalars are rendered as text.
std::string JsonString(const Json& object, const char* key);
int64_t JsonInt(const Json& object, const char* key);
bool JsonBool(const Json& object, const char* key);
// The member `key` when it is an object, else an empty object.
const Json& JsonObject(const Json& object, const char* key);
// Sorted "k=v" pairs of a string map joined by `sep` (Consul's mapToKV).
std::string JoinMap(const Json& map, const std::string& sep);

}  // namespace gangway::cli
