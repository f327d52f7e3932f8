#include "ca/ca.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "core/strings.h"

namespace gangway::ca {

using identity::CanSign;
using identity::CommonNameFor;
using identity::ParseSpiffeId;
using identity::SigningId;
using identity::SpiffeId;
using identity::SpiffeKind;
using identity::TrustDomainForCluster;

namespace {

using nlohmann::json;

constexpr auto kBackdate = std::chrono::minutes(1);  // clock skew allowance, as Consul

std::string SerialBytes(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) {
    char b = static_cast<char>((v >> shift) & 0xff);
    if (out.empty() && b == 0) continue;
    out += b;
  }
  if (out.empty()) out.assign(1, '\0');
  return out;
}

uint64_t SerialValue(const std::string& colon_hex) {
  std::string hex;
  for (char c : colon_hex) {
    if (c != ':') hex += c;
  }
  if (hex.empty() || hex.size() > 16) return 0;
  return std::stoull(hex, nullptr, 16);
}

std::string RandomUid() {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char buf[8];
  if (RAND_bytes(buf, sizeof buf) != 1) return "00000000";
  std::string out;
  for (unsigned char b : buf) out += kAlphabet[b % 36];
  return out;
}

std::string CaCommonName(std::string_view role, std::string_view uid, std::string_view td) {
  return std::string(role) + "-" + std::string(uid) + ".consul.ca." +
         std::string(td.substr(0, 8)) + ".consul";
}

Result<x509::KeySpec> KeySpecFor(const CAConfig& c) {
  if (c.private_key_type == "ec") return x509::KeySpec{x509::KeyType::kEc, c.private_key_bits};
  if (c.private_key_type == "rsa") return x509::KeySpec{x509::KeyType::kRsa, c.private_key_bits};
  return InvalidArgument("private key type must be either 'ec' or 'rsa'");
}

std::chrono::hours Hours(Duration d) {
  return std::max(std::chrono::hours(1), std::chrono::duration_cast<std::chrono::hours>(d));
}

Time Seconds(Time t) { return std::chrono::time_point_cast<std::chrono::seconds>(t); }

std::string WithNewline(std::string pem) {
  if (pem.empty() || pem.back() != '\n') pem += '\n';
  return pem;
}

}  // namespace

std::string FormatTime(Time t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const CARoot* IndexedCARoots::Active() const {
  for (const auto& r : roots) {
    if (r.active && r.id == active_root_id) return &r;
  }
  return nullptr;
}

json ToJson(const CARoot& r) {
  json inter = json(nullptr);
  if (!r.intermediate_certs.empty()) inter = r.intermediate_certs;
  return json{{"ID", r.id},
              {"Name", r.name},
              {"SerialNumber", r.serial_number},
              {"SigningKeyID", r.signing_key_id},
              {"ExternalTrustDomain", r.external_trust_domain},
              {"NotBefore", FormatTime(r.not_before)},
              {"NotAfter", FormatTime(r.not_after)},
              {"RootCert", r.root_cert},
              {"IntermediateCerts", inter},
              {"Active", r.active},
              {"PrivateKeyType", r.private_key_type},
              {"PrivateKeyBits", r.private_key_bits},
              {"CreateIndex", r.create_index},
              {"ModifyIndex", r.modify_index}};
}

json ToJson(const IndexedCARoots& roots) {
  json list = json::array();
  for (const auto& r : roots.roots) list.push_back(ToJson(r));
  return json{{"ActiveRootID", roots.active_root_id},
              {"TrustDomain", roots.trust_domain},
              {"Roots", list}};
}

std::string RootsPem(const IndexedCARoots& roots) {
  std::string out;
  for (const auto& r : roots.roots) {
    out += WithNewline(r.root_cert);
    for (const auto& i : r.intermediate_certs) out += WithNewline(i);
  }
  return out;
}

// --- Roots ------------------------------------------------------------------------------------

Result<RootMaterial> CreateRoot(const CAConfig& config, const RootOptions& o) {
  if (Status s = Validate(config); !s.ok()) return s;
  if (o.cluster_id.empty()) return InvalidArgument("a CA root needs a cluster ID");
  const std::string td = TrustDomainForCluster(o.cluster_id);

  RootMaterial m;
  if (!config.private_key.empty()) {
    auto key = x509::ParsePrivateKeyPem(config.private_key);
    if (!key.ok()) return InvalidArgument("error parsing private key: " + key.status().message());
    m.ca.key = *key;
  } else {
    auto spec = KeySpecFor(config);
    if (!spec.ok()) return spec.status();
    auto key = x509::GenerateKey(*spec);
    if (!key.ok()) return key.status();
    m.ca.key = *key;
  }
  if (!config.root_cert.empty()) {
    auto cert = x509::ParseCertificatePem(config.root_cert);
    if (!cert.ok()) return InvalidArgument("error parsing root cert: " + cert.status().message());
    if (!x509::KeyMatchesCertificate(m.ca.key, *cert)) {
      return InvalidArgument("private key does not match the root certificate");
    }
    if (!cert->Info().is_ca) return InvalidArgument("root certificate is not a CA");
    m.ca.cert = *cert;
  } else {
    x509::CAOptions ca;
    ca.subject.common_name =
        CaCommonName("pri", o.unique_id.empty() ? RandomUid() : o.unique_id, td);
    ca.validity = Hours(config.root_cert_ttl);
    ca.not_before = Seconds(o.now) - kBackdate;
    ca.serial = SerialBytes(o.serial);
    ca.uris = {SigningId(td).Uri()};
    // No DNS name constraint, unlike Consul's root: OpenSSL (and so our proxies) checks a
    // leaf's CN against it when the leaf has no DNS SAN, and Consul's CNs
    // ("web.svc.default.<td8>.consul") are not inside <td>. Go ignores the CN, so Consul
    // gets away with it; we cannot.
    auto cert = x509::CreateCA(m.ca.key, ca);
    if (!cert.ok()) return cert.status();
    m.ca.cert = *cert;
  }

  x509::CertInfo info = m.ca.cert.Info();
  x509::KeySpec spec = m.ca.key.spec();
  m.root = CARoot{
      .id = info.fingerprint_sha1,
      .name = "Consul CA Root Cert",
      .serial_number = config.root_cert.empty() ? o.serial : SerialValue(info.serial),
      .signing_key_id = info.subject_key_id,
      .external_trust_domain = o.cluster_id,
      .not_before = info.not_before,
      .not_after = info.not_after,
      .root_cert = m.ca.cert.ToPem(),
      .intermediate_certs = {},
      .active = true,
      .private_key_type = spec.type == x509::KeyType::kEc ? "ec" : "rsa",
      .private_key_bits = spec.bits,
      .create_index = o.index,
      .modify_index = o.index,
  };
  return m;
}

// --- Intermediates ----------------------------------------------------------------------------

Result<IntermediateRequest> GenerateIntermediateCsr(const CAConfig& config,
                                                    std::string_view trust_domain,
                                                    std::string_view unique_id) {
  auto spec = KeySpecFor(config);
  if (!spec.ok()) return spec.status();
  auto key = x509::GenerateKey(*spec);
  if (!key.ok()) return key.status();
  x509::Subject subject{.common_name = CaCommonName(
                            "sec", unique_id.empty() ? RandomUid() : std::string(unique_id),
                            trust_domain)};
  auto csr = x509::CreateCsr(*key, subject, x509::Sans{.uris = {SigningId(trust_domain).Uri()}});
  if (!csr.ok()) return csr.status();
  return IntermediateRequest{*key, csr->ToPem()};
}

Result<std::string> SignIntermediate(const SigningCA& root, const CAConfig& config,
                                     std::string_view trust_domain, std::string_view csr_pem,
                                     Time now, std::string serial) {
  auto csr = x509::ParseCsrPem(csr_pem);
  if (!csr.ok()) return csr.status();
  x509::CsrInfo info = csr->Info();
  const SpiffeId signing = SigningId(trust_domain);
  if (!info.sans.uris.empty()) {
    if (info.sans.uris.size() != 1) {
      return InvalidArgument("incoming CSR has unexpected number of URIs: " +
                             std::to_string(info.sans.uris.size()));
    }
    auto id = ParseSpiffeId(info.sans.uris[0]);
    if (!id.ok()) return id.status();
    if (!CanSign(signing, *id)) {
      return InvalidArgument("incoming CSR domain \"" + id->Uri() +
                             "\" is not valid for our domain \"" + signing.host + "\"");
    }
  }
  x509::CertOptions o;
  o.subject.common_name = info.common_name;
  o.sans.uris = info.sans.uris;
  o.validity = Hours(config.intermediate_cert_ttl);
  o.not_before = Seconds(now) - kBackdate;
  o.serial = std::move(serial);
  o.is_ca = true;
  o.path_len = 0;  // no DNS name constraint: see CreateRoot
  auto cert = x509::SignCertificate(csr->public_key(), o, root.cert, root.key);
  if (!cert.ok()) return cert.status();
  return cert->ToPem();
}

Status ValidateIntermediate(std::string_view intermediate_pem, const x509::PrivateKey& key,
                            std::string_view root_pem, std::string_view trust_domain,
                            std::optional<Time> at) {
  auto inter = x509::ParseCertificatePem(intermediate_pem);
  if (!inter.ok()) {
    return InvalidArgument("error parsing intermediate PEM: " + inter.status().message());
  }
  if (!x509::KeyMatchesCertificate(key, *inter)) {
    return InvalidArgument("intermediate cert is for a different private key");
  }
  x509::CertInfo info = inter->Info();
  if (!info.is_ca) return InvalidArgument("intermediate is not a CA certificate");
  if (info.sans.uris.size() != 1) {
    return InvalidArgument("incoming intermediate cert has unexpected number of URIs: " +
                           std::to_string(info.sans.uris.size()));
  }
  const std::string want = SigningId(trust_domain).Uri();
  if (info.sans.uris[0] != want) {
    return InvalidArgument("incoming cert URI \"" + info.sans.uris[0] +
                           "\" does not match current URI: \"" + want + "\"");
  }
  auto roots = x509::ParseCertificatesPem(root_pem);
  if (!roots.ok()) return roots.status();
  x509::VerifyOptions vo;
  vo.at = at;
  if (Status s = x509::VerifyCertificate(*inter, {}, *roots, vo); !s.ok()) {
    return InvalidArgument("could not verify intermediate cert against root: " + s.message());
  }
  return Status::Ok();
}

IndexedCARoots SecondaryRoots(const IndexedCARoots& primary, std::string_view intermediate_pem) {
  IndexedCARoots out = primary;
  std::string skid;
  if (auto c = x509::ParseCertificatePem(intermediate_pem); c.ok()) {
    skid = c->Info().subject_key_id;
  }
  for (auto& r : out.roots) {
    if (r.id != out.active_root_id) continue;
    r.intermediate_certs.push_back(std::string(intermediate_pem));
    r.signing_key_id = skid;
  }
  return out;
}

// --- Leaves -----------------------------------------------------------------------------------

json ToJson(const IssuedCert& c) {
  json j{{"SerialNumber", c.serial_number},
         {"CertPEM", c.cert_pem},
         {"PrivateKeyPEM", c.private_key_pem},
         {"ValidAfter", FormatTime(c.valid_after)},
         {"ValidBefore", FormatTime(c.valid_before)},
         {"CreateIndex", c.create_index},
         {"ModifyIndex", c.modify_index}};
  if (!c.service.empty()) {
    j["Service"] = c.service;
    j["ServiceURI"] = c.service_uri;
  }
  if (!c.agent.empty()) {
    j["Agent"] = c.agent;
    j["AgentURI"] = c.agent_uri;
  }
  if (!c.kind.empty()) {
    j["Kind"] = c.kind;
    j["KindURI"] = c.kind_uri;
  }
  if (!c.server_uri.empty()) j["ServerURI"] = c.server_uri;
  if (!c.ns.empty()) j["Namespace"] = c.ns;
  if (!c.partition.empty()) j["Partition"] = c.partition;
  return j;
}

namespace {

GENERAL_NAME* MakeName(int type, std::string_view value) {
  GENERAL_NAME* g = GENERAL_NAME_new();
  ASN1_STRING* v = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  if (g == nullptr || v == nullptr ||
      ASN1_STRING_set(v, value.data(), static_cast<int>(value.size())) != 1) {
    GENERAL_NAME_free(g);
    ASN1_STRING_free(v);
    return nullptr;
  }
  GENERAL_NAME_set0_value(g, type, v);
  return g;
}

// A textual IP (as x509::Sans holds them, validated) as 4 or 16 bytes.
std::string IpBytes(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return "";
}

Result<SpiffeId> CheckLeafId(const std::vector<std::string>& uris, const LeafPolicy& policy) {
  if (uris.size() != 1) {
    return InvalidArgument("CSR SAN contains an invalid number of URIs: " +
                           std::to_string(uris.size()));
  }
  auto id = ParseSpiffeId(uris[0]);
  if (!id.ok()) return id.status();
  const SpiffeId signing = SigningId(policy.trust_domain);
  auto other_dc = [&]() {
    return InvalidArgument("SPIFFE ID in CSR from a different datacenter: " + id->datacenter +
                           ", we are " + policy.datacenter);
  };
  auto other_td = [&]() {
    return InvalidArgument("SPIFFE ID in CSR from a different trust domain: " + id->host +
                           ", we are " + signing.host);
  };
  switch (id->kind) {
    case SpiffeKind::kService:
    case SpiffeKind::kMeshGateway:
      if (id->datacenter != policy.datacenter) return other_dc();
      if (!CanSign(signing, *id)) return other_td();
      return *id;
    case SpiffeKind::kAgent:
      id->host = signing.host;  // auto-encrypt asks before it knows the trust domain
      return *id;
    case SpiffeKind::kServer:
      if (!policy.allow_server_ids) break;
      if (id->datacenter != policy.datacenter) return other_dc();
      if (!CanSign(signing, *id)) return other_td();
      return *id;
    case SpiffeKind::kSigning:
      break;
  }
  return InvalidArgument("SPIFFE ID in CSR must be a service, mesh-gateway, or agent ID");
}

std::string Sha256(const unsigned char* data, size_t n, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, out, &len, md, nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

struct LeafTemplate {
  X509_NAME* issuer = nullptr;
  EVP_MD* sha256 = nullptr;
  std::vector<X509_EXTENSION*> fixed;  // basicConstraints, keyUsage, EKU, AKID

  LeafTemplate() = default;
  LeafTemplate(const LeafTemplate&) = delete;
  LeafTemplate& operator=(const LeafTemplate&) = delete;
  ~LeafTemplate() {
    X509_NAME_free(issuer);
    EVP_MD_free(sha256);
    for (X509_EXTENSION* e : fixed) X509_EXTENSION_free(e);
  }
};

namespace {

Result<std::shared_ptr<const LeafTemplate>> MakeTemplate(const SigningCA& ca) {
  if (!ca.cert.valid() || !ca.key.valid()) return InvalidArgument("no signing CA");
  if (!x509::KeyMatchesCertificate(ca.key, ca.cert)) {
    return InvalidArgument("the CA key does not match the CA certificate");
  }
  if (X509_check_ca(ca.cert.native()) == 0) {
    return InvalidArgument("the signing certificate is not a CA");
  }
  auto t = std::make_shared<LeafTemplate>();
  t->issuer = X509_NAME_dup(X509_get_subject_name(ca.cert.native()));
  t->sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (t->issuer == nullptr || t->sha256 == nullptr) return Internal(x509::DrainOpenSslErrors());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, nullptr, nullptr, nullptr, 0);
  const std::pair<int, const char*> conf[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      // Consul's leaf key usages (DigitalSignature|KeyEncipherment|KeyAgreement).
      {NID_key_usage, "critical,digitalSignature,keyEncipherment,keyAgreement"},
      {NID_ext_key_usage, "serverAuth,clientAuth"},
  };
  for (const auto& [nid, value] : conf) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (e == nullptr) return Internal(x509::DrainOpenSslErrors());
    t->fixed.push_back(e);
  }
  if (const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(ca.cert.native())) {
    AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
    akid->keyid = ASN1_OCTET_STRING_dup(skid);
    X509_EXTENSION* e = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
    AUTHORITY_KEYID_free(akid);
    if (e == nullptr) return Internal(x509::DrainOpenSslErrors());
    t->fixed.push_back(e);
  }
  return std::shared_ptr<const LeafTemplate>(std::move(t));
}

}  // namespace

Status Prepare(SigningCA& ca) {
  auto t = MakeTemplate(ca);
  if (!t.ok()) return t.status();
  ca.leaf_template = *t;
  return Status::Ok();
}

Result<SpiffeId> ValidateLeafCsr(const x509::Csr& csr, const LeafPolicy& policy) {
  return CheckLeafId(csr.sans().uris, policy);
}

Result<IssuedCert> SignLeafCsr(const SigningCA& signer, const LeafPolicy& policy,
                               std::string_view csr_pem, const LeafOptions& options) {
  auto csr = x509::ParseCsrPem(csr_pem);
  if (!csr.ok()) return csr.status();
  return SignLeaf(signer, policy, *csr, options);
}

Result<IssuedCert> SignLeaf(const SigningCA& signer, const LeafPolicy& policy,
                            const x509::Csr& csr, const LeafOptions& options) {
  auto id = CheckLeafId(csr.sans().uris, policy);
  if (!id.ok()) return id.status();
  std::shared_ptr<const LeafTemplate> tmpl = signer.leaf_template;
  if (!tmpl) {
    auto made = MakeTemplate(signer);
    if (!made.ok()) return made.status();
    tmpl = *made;
  }
  EVP_PKEY* pub = csr.public_key();
  if (pub == nullptr) return InvalidArgument("certificate request has no public key");

  const std::string serial = options.serial.empty() ? x509::RandomSerialNumber() : options.serial;
  if (serial.empty()) return Internal("reading a random serial failed");
  const Time not_before = Seconds(options.now) - kBackdate;
  const Time not_after =
      not_before + std::chrono::duration_cast<std::chrono::seconds>(policy.leaf_ttl);
  const std::string cn = csr.common_name().empty() ? CommonNameFor(*id) : csr.common_name();
  const std::string uri = id->Uri();

  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509* x = cert.get();
  bool ok = X509_set_version(x, 2) == 1;
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr);
  ok = ok && bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  ok = ok && ASN1_TIME_set(X509_getm_notBefore(x), std::chrono::system_clock::to_time_t(not_before));
  ok = ok && ASN1_TIME_set(X509_getm_notAfter(x), std::chrono::system_clock::to_time_t(not_after));
  // The CSR's SubjectPublicKeyInfo as received, not through the EVP_PKEY (see x509.h).
  ok = ok && x509::SetPublicKeyInfo(x, csr.public_key_der()).ok();
  ok = ok && X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(cn.data()),
                                        static_cast<int>(cn.size()), -1, 0) == 1;
  ok = ok && X509_set_issuer_name(x, tmpl->issuer) == 1;
  for (X509_EXTENSION* e : tmpl->fixed) ok = ok && X509_add_ext(x, e, -1) == 1;
  if (!ok) return Internal("building the leaf: " + x509::DrainOpenSslErrors());

  // SKID: SHA-256 of the SubjectPublicKeyInfo, as x509::KeyId.
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
  if (spki_len <= 0) return InvalidArgument("certificate request: unusable public key");
  std::string skid = Sha256(spki, static_cast<size_t>(spki_len), tmpl->sha256);
  OPENSSL_free(spki);
  ASN1_OCTET_STRING* skid_os = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(skid_os, reinterpret_cast<const unsigned char*>(skid.data()),
                        static_cast<int>(skid.size()));
  ok = X509_add1_ext_i2d(x, NID_subject_key_identifier, skid_os, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_OCTET_STRING_free(skid_os);

  // The SPIFFE URI, then the CSR's DNS names and IPs.
  GENERAL_NAMES* sans = sk_GENERAL_NAME_new_null();
  auto push = [&](GENERAL_NAME* g) {
    if (g == nullptr || sk_GENERAL_NAME_push(sans, g) <= 0) {
      GENERAL_NAME_free(g);
      ok = false;
    }
  };
  ok = ok && sans != nullptr;
  if (ok) {
    push(MakeName(GEN_URI, uri));
    for (const std::string& d : csr.sans().dns) push(MakeName(GEN_DNS, d));
    for (const std::string& ip : csr.sans().ips) push(MakeName(GEN_IPADD, IpBytes(ip)));
  }
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(sans);
  ok = ok && X509_sign(x, signer.key.native(), tmpl->sha256) > 0;
  if (!ok) return Internal("signing the leaf: " + x509::DrainOpenSslErrors());

  IssuedCert out;
  out.serial_number = x509::ColonHex(serial);
  {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.cert_pem.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  for (const auto& p : signer.chain) out.cert_pem += WithNewline(p);
  out.valid_after = not_before;
  out.valid_before = not_after;
  out.create_index = out.modify_index = options.index;
  switch (id->kind) {
    case SpiffeKind::kService:
      out.service = id->service;
      out.service_uri = uri;
      out.ns = id->ns;
      out.partition = id->partition;
      break;
    case SpiffeKind::kMeshGateway:
      out.kind = "mesh-gateway";
      out.kind_uri = uri;
      out.partition = id->partition;
      break;
    case SpiffeKind::kAgent:
      out.agent = id->agent;
      out.agent_uri = uri;
      break;
    case SpiffeKind::kServer:
      out.server_uri = uri;
      break;
    case SpiffeKind::kSigning:
      return Internal("not possible");
  }
  return out;
}

Result<LeafRequest> GenerateLeafCsr(const SpiffeId& id, const x509::KeySpec& spec,
                                    const std::vector<std::string>& dns_sans) {
  auto key = x509::GenerateKey(spec);
  if (!key.ok()) return key.status();
  auto csr = x509::CreateCsr(*key, x509::Subject{.common_name = CommonNameFor(id)},
                             x509::Sans{.dns = dns_sans, .uris = {id.Uri()}});
  if (!csr.ok()) return csr.status();
  return LeafRequest{*key, csr->ToPem()};
}

// --- Rotation ---------------------------------------------------------------------------------

Result<Rotation> RotateRoot(const IndexedCARoots& current, const SigningCA& old_active,
                            const CAConfig& next, const RootOptions& options) {
  const CARoot* active = current.Active();
  if (active == nullptr) return InvalidArgument("no active CA root to rotate from");
  if (TrustDomainForCluster(options.cluster_id) != current.trust_domain) {
    return InvalidArgument("the new root's trust domain " +
                           TrustDomainForCluster(options.cluster_id) + " is not " +
                           current.trust_domain);
  }
  if (!x509::KeyMatchesCertificate(old_active.key, old_active.cert) ||
      old_active.cert.Info().fingerprint_sha1 != active->id) {
    return InvalidArgument("the signing key given is not the active root's");
  }
  auto fresh = CreateRoot(next, options);
  if (!fresh.ok()) return fresh.status();

  Rotation r;
  r.new_root = std::move(*fresh);
  r.signer = r.new_root.ca;
  if (!next.force_without_cross_signing) {
    x509::CertInfo info = r.new_root.ca.cert.Info();
    x509::CertInfo old_info = old_active.cert.Info();
    const Time nb = Seconds(options.now) - kBackdate;
    const Time until = std::min(info.not_after, old_info.not_after);
    if (until <= nb + std::chrono::hours(1)) {
      return InvalidArgument("the active root expires too soon to cross-sign the new one");
    }
    x509::CertOptions o;
    o.subject.common_name = info.common_name;
    o.sans.uris = info.sans.uris;
    o.validity = std::chrono::duration_cast<std::chrono::hours>(until - nb);
    o.not_before = nb;
    o.is_ca = true;
    o.path_len = info.path_len;
    o.permitted_dns_domains = info.permitted_dns_domains;
    auto cross = x509::SignCertificate(X509_get0_pubkey(r.new_root.ca.cert.native()), o,
                                       old_active.cert, old_active.key);
    if (!cross.ok()) return cross.status();
    r.cross_signed_pem = cross->ToPem();
    r.new_root.root.intermediate_certs = {r.cross_signed_pem};
    r.signer.chain = {r.cross_signed_pem};
  }

  r.roots.trust_domain = current.trust_domain;
  r.roots.index = options.index;
  for (CARoot old : current.roots) {
    if (old.active) old.modify_index = options.index;
    old.active = false;
    r.roots.roots.push_back(std::move(old));
  }
  r.roots.roots.push_back(r.new_root.root);
  r.roots.active_root_id = r.new_root.root.id;
  return r;
}

IndexedCARoots PruneExpiredRoots(const IndexedCARoots& roots, Time now) {
  IndexedCARoots out = roots;
  std::erase_if(out.roots, [&](const CARoot& r) { return !r.active && r.not_after < now; });
  return out;
}

}  // namespace gangway::ca
