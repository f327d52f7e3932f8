// Fuzz target for the Connect CA's leaf-signing path: an untrusted CSR PEM goes through
// parsing and Consul's trust checks, and whatever passes is signed. Beyond "no crash": a
// signed leaf carries exactly the one SPIFFE URI the checks returned, in our trust domain.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ca/ca.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

const ca::SigningCA& Signer() {
  static const ca::SigningCA signer = [] {
    ca::RootOptions o{.cluster_id = "11111111-2222-3333-4444-555555555555",
                      .now = std::chrono::system_clock::now(),
                      .unique_id = "fuzzfuzz"};
    auto root = ca::CreateRoot(ca::CAConfig{}, o);
    Check(root.ok());
    return root->ca;
  }();
  return signer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const ca::LeafPolicy policy{.trust_domain = "11111111-2222-3333-4444-555555555555.consul",
                              .datacenter = "dc1"};
  auto csr = x509::ParseCsrPem(in);
  if (!csr.ok()) return 0;
  auto id = ca::ValidateLeafCsr(*csr, policy);
  auto leaf = ca::SignLeaf(Signer(), policy, *csr, {.now = std::chrono::system_clock::now()});
  Check(id.ok() == leaf.ok() || !leaf.ok());
  if (!leaf.ok()) return 0;
  auto cert = x509::ParseCertificatePem(leaf->cert_pem);
  Check(cert.ok());
  x509::CertInfo info = cert->Info();
  Check(info.sans.uris.size() == 1 && info.sans.uris[0] == id->Uri());
  auto parsed = identity::ParseSpiffeId(info.sans.uris[0]);
  Check(parsed.ok() && identity::CanSign(identity::SigningId(policy.trust_domain), *parsed) ==
                           (parsed->kind != identity::SpiffeKind::kAgent));
  return 0;
}
