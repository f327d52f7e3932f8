// gangway tls ca create / tls cert create, run in a temporary working directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "x509/x509.h"

namespace gangway::cli {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class TlsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = fs::current_path();
    dir_ = fs::temp_directory_path() / ("cli_tls_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_);
    fs::remove_all(dir_);
  }

  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    Environment env;
    env.out = &out_;
    env.err = &err_;
    env.getenv = [](const std::string&) { return std::nullopt; };
    env.transport = [](const http::ClientRequest&) -> Result<http::Response> {
      return Internal("no agent in this test");
    };
    return RunWithEnvironment(args, env);
  }

  x509::CertInfo Cert(const std::string& file) {
    auto text = x509::ReadFile(file);
    EXPECT_TRUE(text.ok()) << file;
    auto c = x509::ParseCertificatePem(*text);
    EXPECT_TRUE(c.ok()) << file;
    return c->Info();
  }

  fs::path old_, dir_;
  std::ostringstream out_, err_;
};

TEST_F(TlsCommandTest, CaCreateWritesConsulsFilesOnce) {
  ASSERT_EQ(Run({"tls", "ca", "create"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n");
  auto ca = Cert("consul-agent-ca.pem");
  EXPECT_TRUE(ca.is_ca);
  EXPECT_EQ(ca.common_name, "Consul Agent CA " + ca.serial_decimal);
  EXPECT_THAT(ca.subject, HasSubstr("O=HashiCorp Inc."));
  EXPECT_EQ(ca.subject_key_id, ca.authority_key_id);
  auto days = std::chrono::duration_cast<std::chrono::hours>(ca.not_after - ca.not_before);
  EXPECT_EQ(days.count(), 1825 * 24);
  struct stat st;
  ASSERT_EQ(::stat("consul-agent-ca-key.pem", &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_EQ(Run({"tls", "ca", "create"}), 1);
  EXPECT_EQ(err_.str(), "consul-agent-ca.pem already exists.\n");
}

TEST_F(TlsCommandTest, CaCreateOptions) {
  ASSERT_EQ(Run({"tls", "ca", "create", "-domain", "mesh", "-days=10", "-name-constraint",
                 "-additional-name-constraint", "ui.example.com", "-common-name", "My CA",
                 "-cluster-id", "abcd"}),
            0)
      << err_.str();
  auto ca = Cert("mesh-agent-ca.pem");
  EXPECT_EQ(ca.common_name, "My CA");
  EXPECT_EQ(ca.permitted_dns_domains,
            (std::vector<std::string>{"ui.example.com", "mesh", "localhost"}));
  EXPECT_EQ(ca.sans.uris, std::vector<std::string>{"spiffe://abcd.mesh"});
  // A server certificate outside the constraints is refused before anything is written.
  EXPECT_EQ(Run({"tls", "cert", "create", "-server", "-domain", "mesh",
                 "-additional-dnsname", "evil.org"}),
            1);
  EXPECT_THAT(err_.str(), HasSubstr("name constraints"));
  EXPECT_FALSE(fs::exists("dc1-server-mesh-0.pem"));
  ASSERT_EQ(Run({"tls", "cert", "create", "-server", "-domain", "mesh"}), 0) << err_.str();
}

TEST_F(TlsCommandTest, CertCreateServerClientCli) {
  ASSERT_EQ(Run({"tls", "ca", "create"}), 0);
  auto ca = Cert("consul-agent-ca.pem");
  ASSERT_EQ(Run({"tls", "cert", "create", "-server", "-dc", "dc2", "-node", "n1",
                 "-additional-dnsname", "extra.example", "-additional-ipaddress", "10.0.0.9"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(),
            "==> WARNING: Server Certificates grants authority to become a\n"
            "    server and access all state in the cluster including root keys\n"
            "    and all ACL tokens. Do not distribute them to production hosts\n"
            "    that are not server nodes. Store them as securely as CA keys.\n"
            "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
            "==> Saved dc2-server-consul-0.pem\n"
            "==> Saved dc2-server-consul-0-key.pem\n");
  auto s = Cert("dc2-server-consul-0.pem");
  EXPECT_EQ(s.common_name, "server.dc2.consul");
  EXPECT_EQ(s.sans.dns, (std::vector<std::string>{"extra.example", "n1.server.dc2.consul",
                                                  "server.dc2.consul", "localhost"}));
  EXPECT_EQ(s.sans.ips, (std::vector<std::string>{"10.0.0.9", "127.0.0.1"}));
  EXPECT_TRUE(s.server_auth && s.client_auth);
  EXPECT_EQ(s.authority_key_id, ca.subject_key_id);
  auto key = x509::ParsePrivateKeyPem(*x509::ReadFile("dc2-server-consul-0-key.pem"));
  ASSERT_TRUE(key.ok());

  // The index moves on when the files exist.
  ASSERT_EQ(Run({"tls", "cert", "create", "-server", "-dc", "dc2"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("==> Saved dc2-server-consul-1.pem\n"));

  ASSERT_EQ(Run({"tls", "cert", "create", "-client"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
            "==> Saved dc1-client-consul-0.pem\n==> Saved dc1-client-consul-0-key.pem\n");
  auto c = Cert("dc1-client-consul-0.pem");
  EXPECT_EQ(c.sans.dns, (std::vector<std::string>{"client.dc1.consul", "localhost"}));
  EXPECT_EQ(c.sans.ips, std::vector<std::string>{"127.0.0.1"});

  ASSERT_EQ(Run({"tls", "cert", "create", "-cli"}), 0) << err_.str();
  auto cl = Cert("dc1-cli-consul-0.pem");
  EXPECT_EQ(cl.sans.dns, (std::vector<std::string>{"cli.dc1.consul", "localhost"}));
  EXPECT_TRUE(cl.sans.ips.empty());
  EXPECT_FALSE(cl.server_auth);
}

TEST_F(TlsCommandTest, CertCreateErrors) {
  EXPECT_EQ(Run({"tls", "cert", "create"}), 1);
  EXPECT_EQ(err_.str(), "Please provide either -server, -client, or -cli\n");
  EXPECT_EQ(Run({"tls", "cert", "create", "-server", "-client"}), 1);
  EXPECT_EQ(err_.str(), "Please provide either -server, -client, or -cli\n");
  EXPECT_EQ(Run({"tls", "cert", "create", "-client", "-node", "x"}), 1);
  EXPECT_EQ(err_.str(), "-node requires -server\n");
  EXPECT_EQ(Run({"tls", "cert", "create", "-server"}), 1);
  EXPECT_EQ(err_.str(),
            "Error reading CA: open consul-agent-ca.pem: no such file or directory\n");
  ASSERT_EQ(Run({"tls", "ca", "create"}), 0);
  EXPECT_EQ(Run({"tls", "cert", "create", "-server", "-key", "consul-agent-ca.pem"}), 1);
  EXPECT_THAT(err_.str(),
              HasSubstr("consul-agent-ca.pem: unknown PEM block type for signing key: CERTIFICATE"));
  EXPECT_EQ(Run({"tls", "cert", "create", "-server", "-additional-ipaddress", "1.2.3"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("invalid IP address in SAN: \"1.2.3\""));
  // A CA key from another CA.
  fs::create_directories("other");
  fs::current_path("other");
  ASSERT_EQ(Run({"tls", "ca", "create"}), 0);
  fs::current_path("..");
  EXPECT_EQ(Run({"tls", "cert", "create", "-client", "-key", "other/consul-agent-ca-key.pem"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("the CA key does not match the CA certificate"));
  EXPECT_FALSE(fs::exists("dc1-client-consul-0.pem"));
}

}  // namespace
}  // namespace gangway::cli
