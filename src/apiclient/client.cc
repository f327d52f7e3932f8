#include "apiclient/client.h"

#include <cctype>

#include "apiclient/escape.h"
#include "core/strings.h"

namespace gangway::apiclient {

namespace {

// The CLI has no blocking queries; a leave can take a few seconds while the agent says goodbye.
constexpr auto kRequestTimeout = std::chrono::seconds(60);

// Go's url.Error "Op": the method with only its first letter upper-case ("Get", "Put").
std::string GoOp(const std::string& method) {
  std::string op = ToLower(method);
  if (!op.empty()) op[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(op[0])));
  return op;
}

std::string LowerFirst(std::string s) {
  // Asio says "Connection refused"; Go's syscall text is lower-case.
  if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) &&
      std::islower(static_cast<unsigned char>(s[1]))) {
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  }
  return s;
}

}  // namespace

std::string BuildTarget(const std::string& path, const Params& params) {
  std::string t = path;
  char sep = '?';
  for (const auto& [k, v] : params) {
    t += sep;
    sep = '&';
    t += EscapeQueryValue(k);
    if (!v.empty()) t += "=" + EscapeQueryValue(v);
  }
  return t;
}

Result<ApiClient> ApiClient::Create(const HttpFlags& flags, const GetEnv& getenv,
                                    Transport transport) {
  auto addr = ResolveAgentAddress(flags.http_addr, getenv);
  if (!addr.ok()) return addr.status();
  auto token = ResolveToken(flags, getenv);
  if (!token.ok()) return token.status();
  std::shared_ptr<const x509::TlsContext> tls;
  std::string server_name;
  if (addr->https) {
    auto t = ClientTls(flags, getenv);
    if (!t.ok()) return t.status();
    tls = std::move(*t);
    server_name = ResolveTlsServerName(flags, getenv);
  }
  if (!transport) transport = http::Fetch;
  return ApiClient(std::move(*addr), std::move(*token), flags.datacenter, flags.stale,
                   std::move(transport), std::move(tls), std::move(server_name));
}

Result<http::Response> ApiClient::Send(const std::string& method, const std::string& path,
                                       const Params& params, std::string body) const {
  Params all = params;
  if (!datacenter_.empty()) all.emplace_back("dc", datacenter_);
  if (stale_ && method == "GET") all.emplace_back("stale", "");
  http::ClientRequest req;
  req.method = method;
  req.host = address_.host;
  req.port = address_.port;
  req.target = BuildTarget(path, all);
  req.body = std::move(body);
  req.timeout = kRequestTimeout;
  req.tls = tls_;
  req.tls_server_name = tls_server_name_;
  if (!token_.empty()) req.headers.emplace_back("X-Consul-Token", token_);
  if (!req.body.empty()) {
    req.headers.emplace_back("Content-Type", StartsWith(path, "/v1/kv/")
                                                 ? "application/octet-stream"
                                                 : "application/json");
  }
  auto res = transport_(req);
  if (res.ok()) return res;
  // The transport's message names the request ("Error connecting to GET http://...: reason");
  // keep its reason and say it the way Go's client does.
  const std::string url =
      (address_.https ? "https://" : "http://") + address_.hostport + req.target;
  const std::string& msg = res.status().message();
  std::string reason = msg;
  if (size_t at = msg.find(": ", msg.find(req.target)); at != std::string::npos) {
    reason = msg.substr(at + 2);
  }
  reason = LowerFirst(reason);
  std::string text = GoOp(method) + " \"" + url + "\": ";
  if (StartsWith(msg, "Error connecting to") && reason.find("not found") != std::string::npos) {
    text += "dial tcp: lookup " + address_.host + ": no such host";
  } else if (StartsWith(msg, "Error connecting to")) {
    text += "dial tcp " + address_.hostport + ": connect: " + reason;
  } else {
    text += reason;
  }
  return Status(Code::kUnavailable, text);
}

Result<std::string> ApiClient::Checked(const std::string& method, const std::string& path,
                                       const Params& params, std::string body) const {
  auto res = Send(method, path, params, std::move(body));
  if (!res.ok()) return res.status();
  if (res->status < 200 || res->status > 299) return UnexpectedResponse(*res);
  return std::move(res->body);
}

Result<std::string> ApiClient::Get(const std::string& path, const Params& params) const {
  return Checked("GET", path, params, {});
}

Result<Json> ApiClient::GetJson(const std::string& path, const Params& params) const {
  auto body = Get(path, params);
  if (!body.ok()) return body.status();
  Json j = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Internal("invalid JSON in the response to GET " + path);
  }
  return j;
}

Result<std::string> ApiClient::Put(const std::string& path, const Params& params,
                                   std::string body) const {
  return Checked("PUT", path, params, std::move(body));
}

Result<std::string> ApiClient::Delete(const std::string& path, const Params& params) const {
  return Checked("DELETE", path, params, {});
}

}  // namespace gangway::apiclient
