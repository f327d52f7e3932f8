// gangway tls ca create / tls cert create: a private CA for agent TLS and server/client/cli
// certificates signed by it, with Consul's file names, SANs, key usages and output. Files go to
// the current directory and are never overwritten.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "cli/command.h"
#include "core/flags.h"
#include "x509/x509.h"

namespace gangway::cli {

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Writes a new file with `mode` (refusing to replace one), via a temporary file and a link, so a
// crash never leaves half a key behind.
Status WriteNewFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return InvalidArgument("open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return InvalidArgument("write " + tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return InvalidArgument("open " + path + ": " + err);
  }
  ::unlink(tmp.c_str());
  return Status::Ok();
}

std::string ReplaceDomain(std::string s, const std::string& domain) {
  size_t at = s.find("#DOMAIN#");
  if (at != std::string::npos) s.replace(at, 8, domain);
  return s;
}

class TlsCaCreateCommand : public Command {
 public:
  explicit TlsCaCreateCommand(Environment& env) : env_(env) {
    flags_.Int("days", &days_, "value",
               "Number of days the CA is valid for. Defaults to 1825 days (approximately 5 "
               "years).");
    flags_.Bool("name-constraint", &constraint_,
                "Enables X.509 name constraints for the CA. If used, the CA only signs "
                "certificates for localhost and the domains specified by -domain and "
                "-additional-name-constraint. Defaults to false.");
    flags_.String("domain", &domain_, "value",
                  "The DNS domain of the cluster that agents are configured with. Defaults to "
                  "consul. Also names the files: <domain>-agent-ca.pem.");
    flags_.String("cluster-id", &cluster_id_, "value",
                  "ID of the cluster. Sets the CA's URI SAN to spiffe://<cluster-id>.<domain>.");
    flags_.String("common-name", &common_name_, "value",
                  "Common Name of the CA. Defaults to \"Consul Agent CA <serial>\".");
    flags_.StringList("additional-name-constraint", &additional_, "value",
                      "Add name constraints for the CA. Can be used multiple times. Only used "
                      "in combination with -name-constraint.");
  }

  std::string Synopsis() const override { return "Create a new consul CA"; }
  std::string Help() const override {
    return "Usage: gangway tls ca create [options]\n\n"
           "  Create a new CA for agent TLS:\n\n"
           "  $ gangway tls ca create\n"
           "  ==> Saved consul-agent-ca.pem\n"
           "  ==> Saved consul-agent-ca-key.pem\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    if (days_ <= 0) {
      *env_.err << "-days must be a positive number of days\n";
      return 1;
    }
    std::string cert_file = domain_ + "-agent-ca.pem";
    std::string key_file = domain_ + "-agent-ca-key.pem";
    for (const auto& f : {cert_file, key_file}) {
      if (Exists(f)) {
        *env_.err << f << " already exists.\n";
        return 1;
      }
    }
    auto key = x509::GenerateKey();
    if (!key.ok()) return Fail(env_, key.status().message());
    x509::CAOptions o;
    o.validity = std::chrono::hours(24 * days_);
    o.subject = {.common_name = "", .organization = "HashiCorp Inc.", .country = "US",
                 .province = "CA", .locality = "San Francisco",
                 .street_address = "101 Second Street", .postal_code = "94105"};
    // The serial is chosen here so the default name can carry it, as Consul's does.
    o.serial = x509::RandomSerialNumber();
    if (o.serial.empty()) return Fail(env_, "reading random data failed");
    o.subject.common_name = common_name_.empty()
                                ? "Consul Agent CA " + x509::SerialDecimal(o.serial)
                                : common_name_;
    if (constraint_) {
      o.permitted_dns_domains = additional_;
      o.permitted_dns_domains.push_back(domain_);
      o.permitted_dns_domains.push_back("localhost");
    }
    if (!cluster_id_.empty()) o.uris = {"spiffe://" + cluster_id_ + "." + domain_};
    auto ca = x509::CreateCA(*key, o);
    if (!ca.ok()) return Fail(env_, ca.status().message());
    if (Status s = WriteNewFile(cert_file, ca->ToPem(), 0666); !s.ok()) return Fail(env_, s.message());
    *env_.out << "==> Saved " << cert_file << "\n";
    if (Status s = WriteNewFile(key_file, key->ToPem(), 0600); !s.ok()) return Fail(env_, s.message());
    *env_.out << "==> Saved " << key_file << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
  int64_t days_ = 1825;
  bool constraint_ = false;
  std::string domain_ = "consul";
  std::string cluster_id_;
  std::string common_name_;
  std::vector<std::string> additional_;
};

class TlsCertCreateCommand : public Command {
 public:
  explicit TlsCertCreateCommand(Environment& env) : env_(env) {
    flags_.String("ca", &ca_, "value", "Provide path to the ca. Defaults to #DOMAIN#-agent-ca.pem.");
    flags_.String("key", &key_, "value",
                  "Provide path to the key. Defaults to #DOMAIN#-agent-ca-key.pem.");
    flags_.Bool("server", &server_, "Generate server certificate.");
    flags_.Bool("client", &client_, "Generate client certificate.");
    flags_.Bool("cli", &cli_, "Generate cli certificate.");
    flags_.String("node", &node_, "value",
                  "When generating a server cert and this is set an additional dns name is "
                  "included of the form <node>.server.<datacenter>.<domain>.");
    flags_.Int("days", &days_, "value",
               "Provide number of days the certificate is valid for from now on. Defaults to 1 "
               "year.");
    flags_.String("dc", &dc_, "value", "Provide the datacenter. Defaults to dc1.");
    flags_.String("domain", &domain_, "value", "Provide the domain. Defaults to consul.");
    flags_.StringList("additional-dnsname", &dnsnames_, "value",
                      "Provide an additional dnsname for Subject Alternative Names. localhost is "
                      "always included. This flag may be provided multiple times.");
    flags_.StringList("additional-ipaddress", &ips_, "value",
                      "Provide an additional ipaddress for Subject Alternative Names. 127.0.0.1 "
                      "is always included. This flag may be provided multiple times.");
  }

  std::string Synopsis() const override { return "Create a new certificate"; }
  std::string Help() const override {
    return "Usage: gangway tls cert create [options]\n\n"
           "  Create a new certificate\n\n"
           "  $ gangway tls cert create -server\n"
           "  ==> WARNING: Server Certificates grants authority to become a\n"
           "      server and access all state in the cluster including root keys\n"
           "      and all ACL tokens. Do not distribute them to production hosts\n"
           "      that are not server nodes. Store them as securely as CA keys.\n"
           "  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
           "  ==> Saved dc1-server-consul-0.pem\n"
           "  ==> Saved dc1-server-consul-0-key.pem\n"
           "  $ gangway tls cert create -client\n"
           "  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
           "  ==> Saved dc1-client-consul-0.pem\n"
           "  ==> Saved dc1-client-consul-0-key.pem\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    if (ca_.empty()) return Fail(env_, "Please provide the ca");
    if (key_.empty()) return Fail(env_, "Please provide the key");
    if (int(server_) + int(client_) + int(cli_) != 1) {
      return Fail(env_, "Please provide either -server, -client, or -cli");
    }
    if (!node_.empty() && !server_) return Fail(env_, "-node requires -server");
    if (days_ <= 0) return Fail(env_, "-days must be a positive number of days");

    x509::CertOptions o;
    for (const auto& d : dnsnames_) {
      if (!d.empty()) o.sans.dns.push_back(d);
    }
    for (const auto& ip : ips_) {
      if (!ip.empty()) o.sans.ips.push_back(ip);
    }
    std::string name, prefix;
    if (server_) {
      name = "server." + dc_ + "." + domain_;
      if (!node_.empty()) o.sans.dns.push_back(node_ + ".server." + dc_ + "." + domain_);
      o.sans.dns.push_back(name);
      o.sans.dns.push_back("localhost");
      o.sans.ips.push_back("127.0.0.1");
      o.server_auth = o.client_auth = true;
      prefix = dc_ + "-server-" + domain_;
    } else if (client_) {
      name = "client." + dc_ + "." + domain_;
      o.sans.dns.push_back(name);
      o.sans.dns.push_back("localhost");
      o.sans.ips.push_back("127.0.0.1");
      o.server_auth = o.client_auth = true;
      prefix = dc_ + "-client-" + domain_;
    } else {
      name = "cli." + dc_ + "." + domain_;
      o.sans.dns = {name, "localhost"};  // Consul drops the additional names for -cli
      o.sans.ips.clear();
      prefix = dc_ + "-cli-" + domain_;
    }
    o.subject.common_name = name;
    o.validity = std::chrono::hours(24 * days_);

    std::string cert_file, key_file;
    for (int i = 0; i <= 10000; ++i) {
      std::string c = prefix + "-" + std::to_string(i) + ".pem";
      std::string k = prefix + "-" + std::to_string(i) + "-key.pem";
      if (!Exists(c) && !Exists(k)) {
        cert_file = c;
        key_file = k;
        break;
      }
    }
    if (cert_file.empty()) return Fail(env_, "Could not find a filename that doesn't already exist");

    std::string ca_file = ReplaceDomain(ca_, domain_);
    std::string ca_key_file = ReplaceDomain(key_, domain_);
    auto ca_pem = x509::ReadFile(ca_file);
    if (!ca_pem.ok()) return Fail(env_, "Error reading CA: " + ca_pem.status().message());
    auto ca_key_pem = x509::ReadFile(ca_key_file);
    if (!ca_key_pem.ok()) return Fail(env_, "Error reading CA key: " + ca_key_pem.status().message());
    if (server_) {
      *env_.out << "==> WARNING: Server Certificates grants authority to become a\n"
                   "    server and access all state in the cluster including root keys\n"
                   "    and all ACL tokens. Do not distribute them to production hosts\n"
                   "    that are not server nodes. Store them as securely as CA keys.\n";
    }
    *env_.out << "==> Using " << ca_file << " and " << ca_key_file << "\n";

    auto ca_key = x509::ParsePrivateKeyPem(*ca_key_pem);
    if (!ca_key.ok()) return Fail(env_, ca_key_file + ": " + ca_key.status().message());
    auto ca = x509::ParseCertificatePem(*ca_pem);
    if (!ca.ok()) return Fail(env_, "failed to parse CA: " + ca_file + ": " + ca.status().message());
    auto key = x509::GenerateKey();
    if (!key.ok()) return Fail(env_, "failed to generate private key: " + key.status().message());
    auto cert = x509::SignCertificate(key->native(), o, *ca, *ca_key);
    if (!cert.ok()) return Fail(env_, "failed to create certificate: " + cert.status().message());
    if (Status s = x509::VerifyCertificate(*cert, {}, {*ca}, {.dns_name = name}); !s.ok()) {
      return Fail(env_, s.message());
    }
    if (Status s = WriteNewFile(cert_file, cert->ToPem(), 0666); !s.ok()) return Fail(env_, s.message());
    *env_.out << "==> Saved " << cert_file << "\n";
    if (Status s = WriteNewFile(key_file, key->ToPem(), 0600); !s.ok()) return Fail(env_, s.message());
    *env_.out << "==> Saved " << key_file << "\n";
    return 0;
  }

 private:

  Environment& env_;
  FlagSet flags_;
  std::string ca_ = "#DOMAIN#-agent-ca.pem";
  std::string key_ = "#DOMAIN#-agent-ca-key.pem";
  bool server_ = false;
  bool client_ = false;
  bool cli_ = false;
  std::string node_;
  int64_t days_ = 365;
  std::string dc_ = "dc1";
  std::string domain_ = "consul";
  std::vector<std::string> dnsnames_;
  std::vector<std::string> ips_;
};

}  // namespace

std::unique_ptr<Command> NewTlsCommand(Environment&) {
  return NewParentCommand("Builtin helpers for creating CAs and certificates",
                          "Usage: gangway tls <subcommand> <subcommand> [options]\n\n"
                          "  This command has subcommands for interacting with Gangway TLS.\n\n"
                          "  Here are some simple examples, and more detailed examples are\n"
                          "  available in the subcommands or the documentation.\n\n"
                          "  Create a CA\n\n"
                          "    $ gangway tls ca create\n\n"
                          "  Create a server certificate\n\n"
                          "    $ gangway tls cert create -server\n\n"
                          "  Create a client certificate\n\n"
                          "    $ gangway tls cert create -client\n\n"
                          "  For more examples, ask for subcommand help or view the "
                          "documentation.");
}

std::unique_ptr<Command> NewTlsCaCommand(Environment&) {
  return NewParentCommand("Helpers for CAs",
                          "Usage: gangway tls ca <subcommand> [options] filename-prefix\n\n"
                          "  This command has subcommands for interacting with certificate "
                          "authorities.\n\n"
                          "  Create a CA\n\n"
                          "    $ gangway tls ca create");
}

std::unique_ptr<Command> NewTlsCaCreateCommand(Environment& env) {
  return std::make_unique<TlsCaCreateCommand>(env);
}

std::unique_ptr<Command> NewTlsCertCommand(Environment&) {
  return NewParentCommand("Helpers for certificates",
                          "Usage: gangway tls cert <subcommand> [options] [filename-prefix]\n\n"
                          "  This command has subcommands for interacting with certificates.\n\n"
                          "  Create a certificate\n\n"
                          "    $ gangway tls cert create -server");
}

std::unique_ptr<Command> NewTlsCertCreateCommand(Environment& env) {
  return std::make_unique<TlsCertCreateCommand>(env);
}

}  // namespace gangway::cli
