// Handshakes between contexts built from files, over an in-memory BIO pair (no sockets).
#include "x509/tls_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gangway::x509 {
namespace {

using ::testing::HasSubstr;

struct Files {
  std::string ca, cert, key;
};

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tls_context_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  // A CA "Consul Agent CA <tag>" and a cert for `dns` signed by it.
  Files Make(const std::string& tag, const std::vector<std::string>& dns) {
    auto ca_key = GenerateKey();
    CAOptions o;
    o.subject.common_name = "Consul Agent CA " + tag;
    auto ca = CreateCA(*ca_key, o);
    auto key = GenerateKey();
    CertOptions co;
    co.subject.common_name = dns.empty() ? "x" : dns[0];
    co.sans.dns = dns;
    co.sans.ips = {"127.0.0.1"};
    co.server_auth = co.client_auth = true;
    auto cert = SignCertificate(key->native(), co, *ca, *ca_key);
    EXPECT_TRUE(cert.ok());
    return {Write(tag + "-ca.pem", ca->ToPem()), Write(tag + "-cert.pem", cert->ToPem()),
            Write(tag + "-key.pem", key->ToPem())};
  }

  struct Outcome {
    bool ok = false;
    std::string client_error;
    std::string server_error;
  };

  Outcome Handshake(const TlsContext& server, const TlsContext& client,
                    const std::string& name = "", bool check_name = false) {
    SSL* s = SSL_new(server.native());
    SSL* c = SSL_new(client.native());
    BIO *bs = nullptr, *bc = nullptr;
    BIO_new_bio_pair(&bs, 0, &bc, 0);
    SSL_set_bio(s, bs, bs);
    SSL_set_bio(c, bc, bc);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    EXPECT_TRUE(PrepareClientSsl(c, name, check_name).ok());
    Outcome out;
    bool s_done = false, c_done = false, failed = false;
    for (int i = 0; i < 50 && !(s_done && c_done) && !failed; ++i) {
      for (auto [ssl, done, err] : {std::tuple{c, &c_done, &out.client_error},
                                    std::tuple{s, &s_done, &out.server_error}}) {
        if (*done) continue;
        int r = SSL_do_handshake(ssl);
        if (r == 1) {
          *done = true;
          // TLS 1.3: a server's rejection of the client certificate arrives after the client
          // finished; read to see it.
          if (ssl == c) {
            char b;
            SSL_read(c, &b, 1);
          }
          continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
        *err = HandshakeFailureMessage(ssl, DrainOpenSslErrors());
        failed = true;
      }
    }
    // One more read on the client to pick up a late alert.
    if (c_done && out.client_error.empty()) {
      char b;
      int r = SSL_read(c, &b, 1);
      if (r <= 0 && SSL_get_error(c, r) == SSL_ERROR_SSL) {
        out.client_error = HandshakeFailureMessage(c, DrainOpenSslErrors());
        failed = true;
      }
      ERR_clear_error();
    }
    out.ok = !failed && s_done && c_done;
    SSL_free(s);
    SSL_free(c);
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(TlsContextTest, RightCaSucceedsWithHostnameCheck) {
  Files a = Make("1111", {"server.dc1.consul", "localhost"});
  auto server = BuildTlsContext({.ca_file = a.ca, .cert_file = a.cert, .key_file = a.key,
                                 .verify_incoming = true},
                                TlsRole::kServer);
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto client = BuildTlsContext({.ca_file = a.ca, .cert_file = a.cert, .key_file = a.key,
                                 .verify_outgoing = true, .verify_server_hostname = true},
                                TlsRole::kClient);
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto r = Handshake(*server, *client, RpcServerName("dc1"), true);
  EXPECT_TRUE(r.ok) << r.client_error << " / " << r.server_error;
  auto ip = Handshake(*server, *client, "127.0.0.1", true);
  EXPECT_TRUE(ip.ok) << ip.client_error;

  auto wrong = Handshake(*server, *client, RpcServerName("dc2"), true);
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.client_error,
            "tls: failed to verify certificate: x509: certificate is valid for "
            "server.dc1.consul, localhost, 127.0.0.1, not server.dc2.consul");
}

TEST_F(TlsContextTest, WrongCaFailsNamingTheExpectedCa) {
  Files ours = Make("1111", {"server.dc1.consul"});
  Files theirs = Make("2222", {"server.dc1.consul"});
  auto server = BuildTlsContext({.cert_file = theirs.cert, .key_file = theirs.key},
                                TlsRole::kServer);
  ASSERT_TRUE(server.ok());
  auto client = BuildTlsContext({.ca_file = ours.ca, .verify_outgoing = true}, TlsRole::kClient);
  ASSERT_TRUE(client.ok());
  auto r = Handshake(*server, *client, "server.dc1.consul", true);
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.client_error, HasSubstr("tls: failed to verify certificate: x509: certificate "
                                        "signed by unknown authority"));
  EXPECT_THAT(r.client_error, HasSubstr("expected CA \"Consul Agent CA 1111\" (key ID "));
  EXPECT_THAT(r.client_error, HasSubstr("issued by \"Consul Agent CA 2222\""));
  EXPECT_THAT(r.client_error, HasSubstr(ours.ca));
}

TEST_F(TlsContextTest, VerifyIncomingRejectsMissingAndForeignClientCerts) {
  Files ours = Make("1111", {"server.dc1.consul"});
  Files theirs = Make("2222", {"client.dc1.consul"});
  auto server = BuildTlsContext({.ca_file = ours.ca, .cert_file = ours.cert,
                                 .key_file = ours.key, .verify_incoming = true},
                                TlsRole::kServer);
  ASSERT_TRUE(server.ok());
  auto anonymous = BuildTlsContext({.ca_file = ours.ca, .verify_outgoing = true}, TlsRole::kClient);
  ASSERT_TRUE(anonymous.ok());
  auto r = Handshake(*server, *anonymous);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.server_error, "tls: client didn't provide a certificate");
  EXPECT_THAT(r.client_error, HasSubstr("remote error: tls: certificate required"));

  auto foreign = BuildTlsContext({.ca_file = ours.ca, .cert_file = theirs.cert,
                                  .key_file = theirs.key, .verify_outgoing = true},
                                 TlsRole::kClient);
  ASSERT_TRUE(foreign.ok());
  auto f = Handshake(*server, *foreign);
  EXPECT_FALSE(f.ok);
  EXPECT_THAT(f.server_error, HasSubstr("x509: certificate signed by unknown authority"));
  EXPECT_THAT(f.server_error, HasSubstr("\"Consul Agent CA 1111\""));

  // Without verify_incoming the anonymous client is fine.
  auto open = BuildTlsContext({.cert_file = ours.cert, .key_file = ours.key}, TlsRole::kServer);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(Handshake(*open, *anonymous).ok);
}

TEST_F(TlsContextTest, MinVersion) {
  Files a = Make("1", {"localhost"});
  auto server = BuildTlsContext({.cert_file = a.cert, .key_file = a.key,
                                 .tls_min_version = "TLSv1_3"},
                                TlsRole::kServer);
  ASSERT_TRUE(server.ok());
  auto client = BuildTlsContext({.ca_file = a.ca, .verify_outgoing = true}, TlsRole::kClient);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(Handshake(*server, *client).ok);
  SSL_CTX_set_max_proto_version(client->native(), TLS1_2_VERSION);
  auto r = Handshake(*server, *client);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(BuildTlsContext({.tls_min_version = "ssl3"}, TlsRole::kClient).status().message(),
              HasSubstr("tls_min_version: unsupported value \"ssl3\""));
}

TEST_F(TlsContextTest, BadFilesNameTheFile) {
  Files a = Make("1", {"localhost"});
  Files b = Make("2", {"localhost"});
  auto missing = BuildTlsContext({.ca_file = (dir_ / "nope.pem").string()}, TlsRole::kClient);
  EXPECT_THAT(missing.status().message(), HasSubstr("Failed to read ca_file: open "));
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.pem: no such file or directory"));
  auto mismatch = BuildTlsContext({.cert_file = a.cert, .key_file = b.key}, TlsRole::kServer);
  EXPECT_THAT(mismatch.status().message(),
              HasSubstr("tls: private key does not match public key (cert_file " + a.cert));
  auto swapped = BuildTlsContext({.cert_file = a.key, .key_file = a.cert}, TlsRole::kServer);
  EXPECT_THAT(swapped.status().message(),
              HasSubstr("cert_file " + a.key +
                        ": first PEM-block should be CERTIFICATE type, got EC PRIVATE KEY"));
  auto garbage = BuildTlsContext({.ca_file = Write("garbage.pem", "hello")}, TlsRole::kClient);
  EXPECT_THAT(garbage.status().message(), HasSubstr("no PEM-encoded data found"));
  EXPECT_THAT(BuildTlsContext({}, TlsRole::kServer).status().message(),
              HasSubstr("needs cert_file and key_file"));
  EXPECT_THAT(BuildTlsContext({.cert_file = a.cert, .key_file = a.key, .verify_incoming = true},
                              TlsRole::kServer)
                  .status()
                  .message(),
              HasSubstr("verify_incoming is set but no ca_file"));
  EXPECT_THAT(BuildTlsContext({.cert_file = a.cert}, TlsRole::kServer).status().message(),
              HasSubstr("is set but key_file is not"));
  // ca_path: every certificate file of the directory.
  std::filesystem::create_directories(dir_ / "cas");
  std::filesystem::copy_file(a.ca, dir_ / "cas" / "a.pem");
  auto by_dir = BuildTlsContext({.ca_path = (dir_ / "cas").string(), .verify_outgoing = true},
                                TlsRole::kClient);
  ASSERT_TRUE(by_dir.ok()) << by_dir.status().message();
  EXPECT_EQ(by_dir->material().cas.size(), 1u);
}

}  // namespace
}  // namespace gangway::x509
