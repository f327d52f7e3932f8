#include "cli/api_client.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "cli/encoding.h"
#include "core/strings.h"

namespace gangway::cli {

namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:8500";
// The CLI has no blocking queries; a leave can take a few seconds while the agent says goodbye.
constexpr auto kRequestTimeout = std::chrono::seconds(60);

std::string TrimSpace(std::string s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::optional<std::string> FirstSet(const GetEnv& getenv,
                                    std::initializer_list<const char*> names) {
  if (!getenv) return std::nullopt;
  for (const char* n : names) {
    if (auto v = getenv(n); v && !v->empty()) return v;
  }
  return std::nullopt;
}

bool ValidPort(const std::string& p, int* port) {
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *port = std::stoi(p);
  return *port > 0 && *port <= 65535;
}

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

void HttpFlags::Register(FlagSet* flags, bool with_stale) {
  flags->SetGroup(FlagSet::Group::kHttp);
  flags->String("http-addr", &http_addr, "address",
                "The address and port of the Gangway HTTP agent. The value can be an IP "
                "address or DNS address, but it must also include the port. This can also be "
                "specified via the GANGWAY_HTTP_ADDR or CONSUL_HTTP_ADDR environment variable. "
                "The default value is http://127.0.0.1:8500. The scheme can also be set to "
                "HTTPS by setting the environment variable CONSUL_HTTP_SSL=true.");
  flags->String("token", &token, "value",
                "ACL token to use in the request. This can also be specified via the "
                "GANGWAY_HTTP_TOKEN or CONSUL_HTTP_TOKEN environment variable. If unspecified, "
                "the query will default to the token of the agent.");
  flags->String("token-file", &token_file, "value",
                "File containing the ACL token to use in the request instead of one specified "
                "via the -token argument or environment variable. This can also be specified "
                "via the CONSUL_HTTP_TOKEN_FILE environment variable.");
  flags->String("datacenter", &datacenter, "value",
                "Name of the datacenter to query. If unspecified, this will default to the "
                "datacenter of the queried agent.");
  flags->String("dc", &datacenter, "value", "Short form of -datacenter (a Gangway extension).");
  if (with_stale) {
    flags->Bool("stale", &stale,
                "Permit any Gangway server (non-leader) to respond to this request. This allows "
                "for lower latency and higher throughput, but can result in stale data. This "
                "option has no effect on non-read operations. The default value is false.");
  }
  flags->String("ca-file", &ca_file, "value",
                "Path to a CA file to use for TLS when communicating with the agent. This can "
                "also be specified via the CONSUL_CACERT environment variable.");
  flags->String("ca-path", &ca_path, "value",
                "Path to a directory of CA certificates to use for TLS when communicating with "
                "the agent. This can also be specified via the CONSUL_CAPATH environment "
                "variable.");
  flags->String("client-cert", &client_cert, "value",
                "Path to a client cert file to use for TLS when 'verify_incoming' is enabled. "
                "This can also be specified via the CONSUL_CLIENT_CERT environment variable.");
  flags->String("client-key", &client_key, "value",
                "Path to a client key file to use for TLS when 'verify_incoming' is enabled. "
                "This can also be specified via the CONSUL_CLIENT_KEY environment variable.");
  flags->String("tls-server-name", &tls_server_name, "value",
                "The server name to use as the SNI host when connecting via TLS. This can also "
                "be specified via the CONSUL_TLS_SERVER_NAME environment variable.");
  flags->SetGroup(FlagSet::Group::kCommand);
}

Result<AgentAddress> ParseAgentAddress(const std::string& text) {
  std::string rest = TrimSpace(text);
  std::string lower = ToLower(rest);
  bool https = StartsWith(lower, "https://");
  if (https) rest = rest.substr(8);
  if (StartsWith(lower, "unix://")) {
    return InvalidArgument("unix socket agent address " + rest +
                           " is not supported; use an http:// address");
  }
  if (StartsWith(lower, "http://")) rest = rest.substr(7);
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      return InvalidArgument("invalid agent address " + text + ": a path is not allowed");
    }
    rest.resize(slash);
  }
  if (rest.empty()) return InvalidArgument("invalid agent address \"" + text + "\": no host");
  AgentAddress a;
  a.https = https;
  a.port = https ? 443 : 80;  // as Go's client for "http://host"
  if (rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return InvalidArgument("invalid agent address " + text + ": missing ']'");
    }
    a.host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':' || !ValidPort(after.substr(1), &a.port)) {
        return InvalidArgument("invalid agent address " + text + ": bad port");
      }
    }
    a.hostport = "[" + a.host + "]:" + std::to_string(a.port);
  } else {
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(':') != colon) {
      return InvalidArgument("invalid agent address " + text +
                             ": write IPv6 addresses in brackets, e.g. [::1]:8500");
    }
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos && !ValidPort(rest.substr(colon + 1), &a.port)) {
      return InvalidArgument("invalid agent address " + text + ": bad port");
    }
    if (a.host.empty()) return InvalidArgument("invalid agent address " + text + ": no host");
    a.hostport = a.host + ":" + std::to_string(a.port);
  }
  return a;
}

Result<AgentAddress> ResolveAgentAddress(const std::string& flag_value, const GetEnv& getenv) {
  std::string addr = flag_value;
  if (addr.empty()) {
    addr = FirstSet(getenv, {"GANGWAY_HTTP_ADDR", "CONSUL_HTTP_ADDR"}).value_or(kDefaultAddress);
  }
  auto a = ParseAgentAddress(addr);
  if (!a.ok()) return a;
  if (auto ssl = FirstSet(getenv, {"GANGWAY_HTTP_SSL", "CONSUL_HTTP_SSL"})) {
    bool on = false;
    if (!ParseGoBool(*ssl, &on)) {
      return InvalidArgument("Could not parse CONSUL_HTTP_SSL: strconv.ParseBool: parsing \"" +
                             *ssl + "\": invalid syntax");
    }
    // As Consul's api client: the variable asks for HTTPS on a scheme-less address.
    if (on && !StartsWith(ToLower(TrimSpace(addr)), "http://")) a->https = true;
  }
  return a;
}

Result<std::string> ResolveToken(const HttpFlags& flags, const GetEnv& getenv) {
  if (!flags.token.empty()) return flags.token;
  std::string file = flags.token_file;
  if (file.empty()) {
    file = FirstSet(getenv, {"GANGWAY_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE"}).value_or("");
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return InvalidArgument("Error loading token file: open " + file + ": cannot read");
    std::stringstream ss;
    ss << in.rdbuf();
    return TrimSpace(ss.str());
  }
  return FirstSet(getenv, {"GANGWAY_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"}).value_or("");
}

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

Status UnexpectedResponse(const http::Response& response) {
  return Status(Code::kInternal, "Unexpected response code: " + std::to_string(response.status) +
                                     " (" + TrimSpace(response.body) + ")");
}

std::string JsonString(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t JsonInt(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) return static_cast<int64_t>(it->get<double>());
  return 0;
}

bool JsonBool(const Json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

const Json& JsonObject(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

std::string JoinMap(const Json& map, const std::string& sep) {
  if (!map.is_object()) return "";
  std::string out;
  // nlohmann's object is a std::map: keys come out sorted.
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!out.empty()) out += sep;
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

Result<std::shared_ptr<const x509::TlsContext>> ClientTls(const HttpFlags& flags,
                                                          const GetEnv& getenv) {
  auto pick = [&](const std::string& flag, std::initializer_list<const char*> vars) {
    return !flag.empty() ? flag : FirstSet(getenv, vars).value_or("");
  };
  x509::TlsSettings s;
  s.ca_file = pick(flags.ca_file, {"GANGWAY_CACERT", "CONSUL_CACERT"});
  s.ca_path = pick(flags.ca_path, {"GANGWAY_CAPATH", "CONSUL_CAPATH"});
  s.cert_file = pick(flags.client_cert, {"GANGWAY_CLIENT_CERT", "CONSUL_CLIENT_CERT"});
  s.key_file = pick(flags.client_key, {"GANGWAY_CLIENT_KEY", "CONSUL_CLIENT_KEY"});
  s.verify_outgoing = true;
  if (auto v = FirstSet(getenv, {"GANGWAY_HTTP_SSL_VERIFY", "CONSUL_HTTP_SSL_VERIFY"})) {
    bool on = true;
    if (!ParseGoBool(*v, &on)) {
      return InvalidArgument("Could not parse CONSUL_HTTP_SSL_VERIFY: strconv.ParseBool: "
                             "parsing \"" + *v + "\": invalid syntax");
    }
    s.verify_outgoing = on;
  }
  auto ctx = x509::BuildTlsContext(s, x509::TlsRole::kClient);
  if (!ctx.ok()) return InvalidArgument("Error loading TLS configuration: " + ctx.status().message());
  return std::make_shared<const x509::TlsContext>(std::move(*ctx));
}

Result<ApiClient> ApiClient::Create(const HttpFlags& flags, const Environment& env) {
  auto addr = ResolveAgentAddress(flags.http_addr, env.getenv);
  if (!addr.ok()) return addr.status();
  auto token = ResolveToken(flags, env.getenv);
  if (!token.ok()) return token.status();
  std::shared_ptr<const x509::TlsContext> tls;
  std::string server_name;
  if (addr->https) {
    auto t = ClientTls(flags, env.getenv);
    if (!t.ok()) return t.status();
    tls = std::move(*t);
    server_name = !flags.tls_server_name.empty()
                      ? flags.tls_server_name
                      : FirstSet(env.getenv, {"GANGWAY_TLS_SERVER_NAME", "CONSUL_TLS_SERVER_NAME"})
                            .value_or("");
  }
  Transport t = env.transport ? env.transport : Transport(http::Fetch);
  return ApiClient(std::move(*addr), std::move(*token), flags.datacenter, flags.stale,
                   std::move(t), std::move(tls), std::move(server_name));
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

}  // namespace gangway::cli
