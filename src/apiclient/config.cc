#include "apiclient/config.h"

#include <fstream>
#include <sstream>

#include "core/strings.h"

namespace gangway::apiclient {

namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:8500";

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

std::string ResolveTlsServerName(const HttpFlags& flags, const GetEnv& getenv) {
  if (!flags.tls_server_name.empty()) return flags.tls_server_name;
  return FirstSet(getenv, {"GANGWAY_TLS_SERVER_NAME", "CONSUL_TLS_SERVER_NAME"}).value_or("");
}

}  // namespace gangway::apiclient
