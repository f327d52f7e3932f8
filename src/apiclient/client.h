// A blocking client for an agent's HTTP API: one request per call, failures worded as Consul's Go
// API client words them (the CLI's commands use it). One ApiClient per command run;
// single-threaded.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apiclient/config.h"
#include "apiclient/response.h"
#include "core/status.h"
#include "http/client.h"
#include "http/message.h"
#include "x509/tls_context.h"

namespace gangway::apiclient {

// Sends one HTTP request to the agent and waits for the answer (http::Fetch in production; a
// canned responder in tests).
using Transport = std::function<Result<http::Response>(const http::ClientRequest&)>;

// Query parameters in order; an empty value is sent as a bare name ("?recurse").
using Params = std::vector<std::pair<std::string, std::string>>;

// Builds "path?k=v&flag" with values escaped.
std::string BuildTarget(const std::string& path, const Params& params);

class ApiClient {
 public:
  // Resolves address, token and TLS from the flags and `getenv`; fails on a bad -http-addr, an
  // unreadable token file or bad TLS files. A null `transport` is http::Fetch.
  static Result<ApiClient> Create(const HttpFlags& flags, const GetEnv& getenv,
                                  Transport transport = nullptr);

  // One request. Fails only when the agent could not be reached; the message is Go's, e.g.
  // `Get "http://127.0.0.1:8500/v1/agent/self": dial tcp 127.0.0.1:8500: connect: connection
  // refused`. `path` must already be escaped (see escape.h). Reads also carry ?dc= and ?stale
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
  const std::string& token() const { return token_; }
  // For an https address: the client context (CA, client certificate) and the name the
  // agent's certificate must carry; null and empty for http.
  const std::shared_ptr<const x509::TlsContext>& tls() const { return tls_; }
  const std::string& tls_server_name() const { return tls_server_name_; }

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

}  // namespace gangway::apiclient
