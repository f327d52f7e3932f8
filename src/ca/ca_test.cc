#include "ca/ca.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace gangway::ca {
namespace {

using identity::AgentId;
using identity::MeshGatewayId;
using identity::ServerId;
using identity::ServiceId;
using identity::SpiffeId;

using std::chrono::hours;

constexpr char kCluster[] = "11111111-2222-3333-4444-555555555555";
const std::string kTd = std::string(kCluster) + ".consul";

Time Now() { return std::chrono::system_clock::now(); }

std::vector<x509::Certificate> Certs(const std::string& pem) {
  auto c = x509::ParseCertificatesPem(pem);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : std::vector<x509::Certificate>{};
}

// Verifies `cert_pem` (leaf first, then intermediates) against `roots_pem`, with our verifier
// and, when installed, the openssl binary.
void ExpectVerifies(const std::string& cert_pem, const std::string& roots_pem, bool want = true) {
  auto chain = Certs(cert_pem);
  ASSERT_FALSE(chain.empty());
  std::vector<x509::Certificate> inter(chain.begin() + 1, chain.end());
  Status s = x509::VerifyCertificate(chain[0], inter, Certs(roots_pem));
  EXPECT_EQ(s.ok(), want) << s.message();
  if (std::system("openssl version >/dev/null 2>&1") != 0) return;
  // A directory of this call's own, removed afterwards.
  std::string dir = ::testing::TempDir() + "ca_test_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::vector<std::string> files;
  auto write = [&](const std::string& name, const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    files.push_back(path);
    return path;
  };
  std::string leaf = write("leaf.pem", chain[0].ToPem());
  std::string untrusted;
  for (const auto& c : inter) untrusted += c.ToPem();
  std::string cmd = "openssl verify -CAfile " + write("roots.pem", roots_pem);
  if (!untrusted.empty()) cmd += " -untrusted " + write("inter.pem", untrusted);
  cmd += " " + leaf + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()) == 0, want) << cmd;
  for (const auto& f : files) std::remove(f.c_str());
  ::rmdir(dir.c_str());
}

CAConfig Defaults() { return CAConfig{}; }

RootOptions Opts(uint64_t serial = 1) {
  return RootOptions{.cluster_id = kCluster, .serial = serial, .index = 5, .now = Now()};
}

IndexedCARoots RootsOf(const RootMaterial& m) {
  return IndexedCARoots{.active_root_id = m.root.id, .trust_domain = kTd, .roots = {m.root}};
}

LeafPolicy Policy(std::string dc = "dc1") {
  return LeafPolicy{.trust_domain = kTd, .datacenter = dc, .leaf_ttl = hours(72)};
}

TEST(CARootTest, GeneratedRootHasConsulsFields) {
  auto m = CreateRoot(Defaults(), Opts(7));
  ASSERT_TRUE(m.ok()) << m.status().message();
  x509::CertInfo info = m->ca.cert.Info();
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.sans.uris, std::vector<std::string>{"spiffe://" + kTd});
  EXPECT_TRUE(info.permitted_dns_domains.empty());  // deliberate: docs/connect-ca.md
  EXPECT_EQ(info.key.type, x509::KeyType::kEc);
  EXPECT_EQ(info.key.bits, 256);
  EXPECT_EQ(info.common_name.rfind("pri-", 0), 0u);
  EXPECT_EQ(info.common_name.substr(12), ".consul.ca.11111111.consul");
  EXPECT_NEAR(std::chrono::duration_cast<hours>(info.not_after - info.not_before).count(),
              87600, 1);

  auto j = ToJson(RootsOf(*m));
  EXPECT_EQ(j["ActiveRootID"], info.fingerprint_sha1);
  EXPECT_EQ(j["TrustDomain"], kTd);
  const auto& r = j["Roots"][0];
  EXPECT_EQ(r["ID"], info.fingerprint_sha1);
  EXPECT_EQ(r["Name"], "Consul CA Root Cert");
  EXPECT_EQ(r["SerialNumber"], 7);
  EXPECT_EQ(r["SigningKeyID"], info.subject_key_id);
  EXPECT_EQ(r["ExternalTrustDomain"], kCluster);
  EXPECT_TRUE(r["IntermediateCerts"].is_null());
  EXPECT_EQ(r["Active"], true);
  EXPECT_EQ(r["PrivateKeyType"], "ec");
  EXPECT_EQ(r["PrivateKeyBits"], 256);
  EXPECT_EQ(r["CreateIndex"], 5);
  EXPECT_EQ(r["NotAfter"].get<std::string>().back(), 'Z');
  EXPECT_FALSE(r.contains("SigningKey"));
  EXPECT_EQ(RootsPem(RootsOf(*m)), m->ca.cert.ToPem());
}

TEST(CARootTest, KeyTypeFollowsConfigAndBadConfigIsRefused) {
  CAConfig c;
  c.private_key_bits = 384;
  auto m = CreateRoot(c, Opts());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->ca.cert.Info().key.bits, 384);
  EXPECT_EQ(m->root.private_key_bits, 384);
  c.private_key_type = "dsa";
  EXPECT_EQ(CreateRoot(c, Opts()).status().message(),
            "private key type must be either 'ec' or 'rsa'");
}

TEST(CARootTest, BringYourOwnRoot) {
  auto mine = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(mine.ok());
  CAConfig c;
  c.private_key = mine->ca.key.ToPem();
  c.root_cert = mine->ca.cert.ToPem();
  auto adopted = CreateRoot(c, Opts());
  ASSERT_TRUE(adopted.ok()) << adopted.status().message();
  EXPECT_EQ(adopted->root.id, mine->root.id);
  auto other = CreateRoot(Defaults(), Opts());
  c.private_key = other->ca.key.ToPem();
  EXPECT_EQ(CreateRoot(c, Opts()).status().message(),
            "private key does not match the root certificate");
}

TEST(CALeafTest, PrimaryLeafChainsToRootWithSpiffeUri) {
  auto m = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(m.ok());
  SpiffeId web = ServiceId(kTd, "default", "dc1", "web");
  auto req = GenerateLeafCsr(web, {}, {"web.service.consul"});
  ASSERT_TRUE(req.ok());
  auto leaf = SignLeafCsr(m->ca, Policy(), req->csr_pem, {.now = Now(), .index = 9});
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(leaf->service, "web");
  EXPECT_EQ(leaf->service_uri, "spiffe://" + kTd + "/ns/default/dc/dc1/svc/web");
  auto certs = Certs(leaf->cert_pem);
  ASSERT_EQ(certs.size(), 1u);  // the built-in primary signs with the root directly
  x509::CertInfo info = certs[0].Info();
  EXPECT_EQ(info.sans.uris, std::vector<std::string>{leaf->service_uri});
  EXPECT_EQ(info.sans.dns, std::vector<std::string>{"web.service.consul"});
  EXPECT_FALSE(info.is_ca);
  EXPECT_TRUE(info.server_auth && info.client_auth);
  EXPECT_EQ(info.serial, leaf->serial_number);
  EXPECT_EQ(info.authority_key_id, m->root.signing_key_id);
  EXPECT_EQ(std::chrono::duration_cast<hours>(info.not_after - info.not_before).count(), 72);
  EXPECT_EQ(info.not_before, leaf->valid_after);
  EXPECT_EQ(info.not_after, leaf->valid_before);
  auto j = ToJson(*leaf);
  EXPECT_EQ(j["ServiceURI"], leaf->service_uri);
  EXPECT_EQ(j["Namespace"], "default");
  EXPECT_EQ(j["CreateIndex"], 9);
  ExpectVerifies(leaf->cert_pem, m->root.root_cert);
  // and not against another cluster's root
  auto stranger = CreateRoot(Defaults(), Opts());
  ExpectVerifies(leaf->cert_pem, stranger->root.root_cert, false);
}

TEST(CALeafTest, AgentsMeshGatewaysAndServers) {
  auto m = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(m.ok());
  auto agent = GenerateLeafCsr(AgentId("dummy.consul", "dc1", "node1"));
  auto a = SignLeafCsr(m->ca, Policy(), agent->csr_pem, {.now = Now()});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->agent, "node1");
  EXPECT_EQ(a->agent_uri, "spiffe://" + kTd + "/agent/client/dc/dc1/id/node1");  // re-homed
  auto gw = GenerateLeafCsr(MeshGatewayId(kTd, "dc1"));
  auto g = SignLeafCsr(m->ca, Policy(), gw->csr_pem, {.now = Now()});
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->kind, "mesh-gateway");
  EXPECT_EQ(g->kind_uri, "spiffe://" + kTd + "/gateway/mesh/dc/dc1");
  ExpectVerifies(g->cert_pem, m->root.root_cert);
  auto server = GenerateLeafCsr(ServerId(kTd, "dc1"));
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), server->csr_pem, {.now = Now()}).status().message(),
            "SPIFFE ID in CSR must be a service, mesh-gateway, or agent ID");
  LeafPolicy p = Policy();
  p.allow_server_ids = true;
  auto s = SignLeafCsr(m->ca, p, server->csr_pem, {.now = Now()});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->server_uri, "spiffe://" + kTd + "/agent/server/dc/dc1");
}

TEST(CALeafTest, TrustChecksRefuseBadCsrs) {
  auto m = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(m.ok());
  auto foreign = GenerateLeafCsr(ServiceId("99999999-0000.consul", "default", "dc1", "web"));
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), foreign->csr_pem, {.now = Now()}).status().message(),
            "SPIFFE ID in CSR from a different trust domain: 99999999-0000.consul, we are " + kTd);
  auto other_dc = GenerateLeafCsr(ServiceId(kTd, "default", "dc9", "web"));
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), other_dc->csr_pem, {.now = Now()}).status().message(),
            "SPIFFE ID in CSR from a different datacenter: dc9, we are dc1");

  auto key = x509::GenerateKey();
  auto two = x509::CreateCsr(*key, {.common_name = "web"},
                             {.uris = {ServiceId(kTd, "default", "dc1", "web").Uri(),
                                       ServiceId(kTd, "default", "dc1", "db").Uri()}});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), two->ToPem(), {.now = Now()}).status().message(),
            "CSR SAN contains an invalid number of URIs: 2");
  auto none = x509::CreateCsr(*key, {.common_name = "web"}, {.dns = {"web"}});
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), none->ToPem(), {.now = Now()}).status().message(),
            "CSR SAN contains an invalid number of URIs: 0");
  auto signing = x509::CreateCsr(*key, {.common_name = "x"}, {.uris = {"spiffe://" + kTd}});
  EXPECT_EQ(SignLeafCsr(m->ca, Policy(), signing->ToPem(), {.now = Now()}).status().message(),
            "SPIFFE ID in CSR must be a service, mesh-gateway, or agent ID");
  EXPECT_FALSE(SignLeafCsr(m->ca, Policy(), "garbage", {.now = Now()}).ok());
}

TEST(CALeafTest, LeafCarriesTheCsrsKeyAndNames) {
  auto m = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(m.ok());
  SigningCA signer = m->ca;
  ASSERT_TRUE(Prepare(signer).ok());
  for (int bits : {256, 384}) {
    auto key = x509::GenerateKey({x509::KeyType::kEc, bits});
    ASSERT_TRUE(key.ok());
    const std::string uri = ServiceId(kTd, "default", "dc1", "web").Uri();
    auto csr = x509::CreateCsr(*key, {.common_name = "web.example"},
                               {.dns = {"web.service.consul", "web"},
                                .ips = {"10.0.0.7", "fd00::7"},
                                .uris = {uri}});
    ASSERT_TRUE(csr.ok()) << csr.status().message();
    auto leaf = SignLeafCsr(signer, Policy(), csr->ToPem(), {.now = Now()});
    ASSERT_TRUE(leaf.ok()) << leaf.status().message();
    auto certs = Certs(leaf->cert_pem);
    ASSERT_EQ(certs.size(), 1u);
    x509::CertInfo info = certs[0].Info();
    EXPECT_EQ(info.common_name, "web.example");
    EXPECT_EQ(info.sans.uris, std::vector<std::string>{uri});
    EXPECT_EQ(info.sans.dns, (std::vector<std::string>{"web.service.consul", "web"}));
    EXPECT_EQ(info.sans.ips, (std::vector<std::string>{"10.0.0.7", "fd00::7"}));
    EXPECT_EQ(info.key.bits, bits);
    EXPECT_TRUE(x509::KeyMatchesCertificate(*key, certs[0]));
    EXPECT_EQ(info.subject_key_id, x509::KeyId(key->native()));
    ExpectVerifies(leaf->cert_pem, m->root.root_cert);
  }

  // The self-signature is checked on the signing path: the same request with another URI.
  auto key = x509::GenerateKey();
  auto csr = x509::CreateCsr(*key, {.common_name = "web"},
                             {.uris = {ServiceId(kTd, "default", "dc1", "web").Uri()}});
  ASSERT_TRUE(csr.ok());
  std::string der = csr->ToDer();
  size_t at = der.find("/svc/web");
  ASSERT_NE(at, std::string::npos);
  der.replace(at, 8, "/svc/db1");
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  b64.resize(static_cast<size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                      reinterpret_cast<const unsigned char*>(der.data()), static_cast<int>(der.size()))));
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  pem += "-----END CERTIFICATE REQUEST-----\n";
  EXPECT_EQ(SignLeafCsr(signer, Policy(), pem, {.now = Now()}).status().message(),
            "x509: certificate request signature is invalid");
}

TEST(CALeafTest, PreparedSignerExactTtlAndCallerSerial) {
  auto m = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(m.ok());
  SigningCA signer = m->ca;
  ASSERT_TRUE(Prepare(signer).ok());
  LeafPolicy p = Policy();
  p.leaf_ttl = std::chrono::minutes(90);
  auto req = GenerateLeafCsr(ServiceId(kTd, "default", "dc1", "web"), {x509::KeyType::kRsa, 2048},
                             {"web.example"});
  ASSERT_TRUE(req.ok());
  const Time now = Now();
  auto leaf = SignLeafCsr(signer, p, req->csr_pem,
                          {.now = now, .serial = std::string("\x01\x02", 2), .index = 3});
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(leaf->serial_number, "01:02");
  x509::CertInfo info = Certs(leaf->cert_pem)[0].Info();
  EXPECT_EQ(info.serial, "01:02");
  EXPECT_EQ(info.not_after - info.not_before, std::chrono::minutes(90));
  EXPECT_LE(info.not_before, now - std::chrono::seconds(59));
  EXPECT_EQ(info.key.type, x509::KeyType::kRsa);
  EXPECT_EQ(info.sans.dns, std::vector<std::string>{"web.example"});
  EXPECT_EQ(info.subject_key_id, x509::KeyId(req->key.native()));
  ExpectVerifies(leaf->cert_pem, m->root.root_cert);

  SigningCA wrong{m->ca.cert, *x509::GenerateKey(), {}};
  EXPECT_EQ(Prepare(wrong).message(), "the CA key does not match the CA certificate");
  EXPECT_FALSE(SignLeafCsr(wrong, Policy(), req->csr_pem, {.now = now}).ok());
}

TEST(CAIntermediateTest, SecondaryLeafChainsThroughItsIntermediate) {
  auto primary = CreateRoot(Defaults(), Opts());
  ASSERT_TRUE(primary.ok());
  auto req = GenerateIntermediateCsr(Defaults(), kTd, "abcdefgh");
  ASSERT_TRUE(req.ok());
  auto inter = SignIntermediate(primary->ca, Defaults(), kTd, req->csr_pem, Now());
  ASSERT_TRUE(inter.ok()) << inter.status().message();
  ASSERT_TRUE(ValidateIntermediate(*inter, req->key, primary->root.root_cert, kTd).ok())
      << ValidateIntermediate(*inter, req->key, primary->root.root_cert, kTd).message();
  x509::CertInfo info = Certs(*inter)[0].Info();
  EXPECT_EQ(info.common_name, "sec-abcdefgh.consul.ca.11111111.consul");
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.path_len, 0);
  EXPECT_EQ(std::chrono::duration_cast<hours>(info.not_after - info.not_before).count(), 8760);

  IndexedCARoots roots = SecondaryRoots(RootsOf(*primary), *inter);
  ASSERT_NE(roots.Active(), nullptr);
  EXPECT_EQ(roots.Active()->intermediate_certs, std::vector<std::string>{*inter});
  EXPECT_EQ(roots.Active()->signing_key_id, info.subject_key_id);

  SigningCA dc2{Certs(*inter)[0], req->key, {*inter}};
  auto leaf_req = GenerateLeafCsr(ServiceId(kTd, "default", "dc2", "api"));
  auto leaf = SignLeafCsr(dc2, Policy("dc2"), leaf_req->csr_pem, {.now = Now()});
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(Certs(leaf->cert_pem).size(), 2u);
  ExpectVerifies(leaf->cert_pem, RootsPem(roots));
  ExpectVerifies(leaf->cert_pem, primary->root.root_cert);
  // Without the intermediate the leaf does not chain.
  ExpectVerifies(Certs(leaf->cert_pem)[0].ToPem(), primary->root.root_cert, false);
}

TEST(CAIntermediateTest, RefusesForeignCsrsAndBadIntermediates) {
  auto primary = CreateRoot(Defaults(), Opts());
  auto foreign = GenerateIntermediateCsr(Defaults(), "other.consul");
  EXPECT_EQ(SignIntermediate(primary->ca, Defaults(), kTd, foreign->csr_pem, Now())
                .status()
                .message(),
            "incoming CSR domain \"spiffe://other.consul\" is not valid for our domain \"" + kTd +
                "\"");
  auto req = GenerateIntermediateCsr(Defaults(), kTd);
  auto inter = SignIntermediate(primary->ca, Defaults(), kTd, req->csr_pem, Now());
  ASSERT_TRUE(inter.ok());
  auto wrong_key = x509::GenerateKey();
  EXPECT_EQ(ValidateIntermediate(*inter, *wrong_key, primary->root.root_cert, kTd).message(),
            "intermediate cert is for a different private key");
  auto stranger = CreateRoot(Defaults(), Opts());
  EXPECT_EQ(ValidateIntermediate(*inter, req->key, stranger->root.root_cert, kTd)
                .message()
                .rfind("could not verify intermediate cert against root: ", 0),
            0u);
}

TEST(CARotationTest, CrossSignedRotationKeepsOldLeavesAndChainsNewOnes) {
  auto old_root = CreateRoot(Defaults(), Opts(1));
  ASSERT_TRUE(old_root.ok());
  IndexedCARoots before = RootsOf(*old_root);
  auto old_req = GenerateLeafCsr(ServiceId(kTd, "default", "dc1", "web"));
  auto old_leaf = SignLeafCsr(old_root->ca, Policy(), old_req->csr_pem, {.now = Now()});
  ASSERT_TRUE(old_leaf.ok());

  CAConfig next;
  next.private_key_bits = 384;
  ASSERT_TRUE(RequiresNewRoot(Defaults(), next));
  auto rot = RotateRoot(before, old_root->ca, next, Opts(2));
  ASSERT_TRUE(rot.ok()) << rot.status().message();
  ASSERT_EQ(rot->roots.roots.size(), 2u);
  EXPECT_FALSE(rot->roots.roots[0].active);
  EXPECT_EQ(rot->roots.roots[0].id, old_root->root.id);
  EXPECT_TRUE(rot->roots.roots[1].active);
  EXPECT_EQ(rot->roots.active_root_id, rot->new_root.root.id);
  EXPECT_NE(rot->new_root.root.id, old_root->root.id);
  EXPECT_EQ(rot->roots.Active()->intermediate_certs,
            std::vector<std::string>{rot->cross_signed_pem});
  x509::CertInfo cross = Certs(rot->cross_signed_pem)[0].Info();
  EXPECT_EQ(cross.subject_key_id, rot->new_root.root.signing_key_id);
  EXPECT_EQ(cross.authority_key_id, old_root->root.signing_key_id);

  const std::string all_roots = RootsPem(rot->roots);
  ExpectVerifies(old_leaf->cert_pem, all_roots);  // old leaves keep working

  auto new_req = GenerateLeafCsr(ServiceId(kTd, "default", "dc1", "web"), {x509::KeyType::kEc, 384});
  auto new_leaf = SignLeafCsr(rot->signer, Policy(), new_req->csr_pem, {.now = Now()});
  ASSERT_TRUE(new_leaf.ok()) << new_leaf.status().message();
  ASSERT_EQ(Certs(new_leaf->cert_pem).size(), 2u);  // leaf + cross-signed new root
  ExpectVerifies(new_leaf->cert_pem, rot->new_root.root.root_cert);
  // A proxy that still only trusts the old root accepts new leaves via the cross-signed cert.
  ExpectVerifies(new_leaf->cert_pem, old_root->root.root_cert);
}

TEST(CARotationTest, ForceWithoutCrossSigning) {
  auto old_root = CreateRoot(Defaults(), Opts(1));
  CAConfig next;
  next.force_without_cross_signing = true;
  auto rot = RotateRoot(RootsOf(*old_root), old_root->ca, next, Opts(2));
  ASSERT_TRUE(rot.ok());
  EXPECT_TRUE(rot->cross_signed_pem.empty());
  EXPECT_TRUE(rot->roots.Active()->intermediate_certs.empty());
  auto req = GenerateLeafCsr(ServiceId(kTd, "default", "dc1", "web"));
  auto leaf = SignLeafCsr(rot->signer, Policy(), req->csr_pem, {.now = Now()});
  ASSERT_TRUE(leaf.ok());
  ExpectVerifies(leaf->cert_pem, rot->new_root.root.root_cert);
  ExpectVerifies(leaf->cert_pem, old_root->root.root_cert, false);
  // Wrong signing key, bad config: nothing produced.
  auto stranger = CreateRoot(Defaults(), Opts());
  EXPECT_FALSE(RotateRoot(RootsOf(*old_root), stranger->ca, next, Opts(3)).ok());
  next.leaf_cert_ttl = std::chrono::minutes(5);
  EXPECT_EQ(RotateRoot(RootsOf(*old_root), old_root->ca, next, Opts(3)).status().message(),
            "leaf cert TTL must be greater or equal than 1h0m0s");
}

TEST(CARotationTest, PruneDropsOnlyExpiredInactiveRoots) {
  auto a = CreateRoot(Defaults(), Opts(1));
  auto rot = RotateRoot(RootsOf(*a), a->ca, Defaults(), Opts(2));
  ASSERT_TRUE(rot.ok());
  EXPECT_EQ(PruneExpiredRoots(rot->roots, Now()).roots.size(), 2u);
  auto later = PruneExpiredRoots(rot->roots, Now() + hours(87600 * 2));
  ASSERT_EQ(later.roots.size(), 1u);
  EXPECT_TRUE(later.roots[0].active);
}

}  // namespace
}  // namespace gangway::ca
