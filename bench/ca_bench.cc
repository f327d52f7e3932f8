// Connect CA leaf signing on one core (rates per CPU-second of the thread): the server path (CSR PEM parse + Consul's checks +
// sign) and its parts, and agent-side key+CSR generation. Prints operations per second;
// bench/RESULTS.md records the figures.
#include <openssl/evp.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "ca/ca.h"

namespace {

using namespace gangway;  // NOLINT: a benchmark
using Clock = std::chrono::steady_clock;

// CPU time of this thread: the machine is shared, so wall time would count other processes.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void Run(const char* name, const std::function<bool()>& op) {
  for (int i = 0; i < 50; ++i) op();  // warm up
  int n = 0;
  const auto start = Clock::now();
  const double cpu_start = CpuSeconds();
  auto elapsed = Clock::duration::zero();
  while (elapsed < std::chrono::seconds(2)) {
    for (int i = 0; i < 100; ++i) {
      if (!op()) {
        std::printf("%s: failed\n", name);
        return;
      }
    }
    n += 100;
    elapsed = Clock::now() - start;
  }
  const double s = CpuSeconds() - cpu_start;
  std::printf("%-44s %9.0f /cpu-s  %7.1f us  (wall %.0f /s)\n", name, n / s, s / n * 1e6,
              n / std::chrono::duration<double>(elapsed).count());
}

}  // namespace

int main() {
  const std::string cluster = "11111111-2222-3333-4444-555555555555";
  const std::string td = cluster + ".consul";
  const auto now = std::chrono::system_clock::now();
  auto root = ca::CreateRoot(ca::CAConfig{}, {.cluster_id = cluster, .now = now});
  if (!root.ok()) return 1;
  const ca::LeafPolicy policy{.trust_domain = td, .datacenter = "dc1"};
  auto req = ca::GenerateLeafCsr(identity::ServiceId(td, "default", "dc1", "web"));
  const std::string csr_pem = req->csr_pem;
  auto csr = x509::ParseCsrPem(csr_pem);

  std::printf("one core, EC P-256 root, 72h leaves\n");
  Run("server: SignLeafCsr, unprepared signer", [&] {
    return ca::SignLeafCsr(root->ca, policy, csr_pem, {.now = now}).ok();
  });
  ca::SigningCA prepared = root->ca;
  if (!ca::Prepare(prepared).ok()) return 1;
  Run("server: SignLeafCsr (parse+check+sign)", [&] {
    return ca::SignLeafCsr(prepared, policy, csr_pem, {.now = now}).ok();
  });
  Run("  part: x509::ParseCsrPem (incl. self-sig)", [&] { return x509::ParseCsrPem(csr_pem).ok(); });
  Run("  part: ValidateLeafCsr", [&] { return ca::ValidateLeafCsr(*csr, policy).ok(); });
  Run("  part: SignLeaf from parsed CSR", [&] {
    return ca::SignLeaf(prepared, policy, *csr, {.now = now}).ok();
  });
  x509::CertOptions o;
  o.subject.common_name = "web.svc.default.11111111.consul";
  o.sans.uris = {identity::ServiceId(td, "default", "dc1", "web").Uri()};
  o.server_auth = o.client_auth = true;
  Run("  part: x509::SignCertificate", [&] {
    return x509::SignCertificate(csr->public_key(), o, root->ca.cert, root->ca.key).ok();
  });
  Run("  part: CertInfo of the root (per sign)", [&] {
    return root->ca.cert.Info().is_ca;
  });
  Run("  part: KeyMatchesCertificate (per sign)", [&] {
    return x509::KeyMatchesCertificate(root->ca.key, root->ca.cert);
  });
  std::string tbs(400, 'x');
  Run("  part: raw ECDSA P-256 SHA-256 sign", [&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char sig[80];
    size_t len = sizeof sig;
    bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, root->ca.key.native()) == 1 &&
              EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(tbs.data()),
                             tbs.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  });
  // What parsing cannot go below: the CSR's self-signature check.
  std::string sig(80, '\0');
  {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sig.size();
    if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, req->key.native()) != 1 ||
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1) {
      return 1;
    }
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
  }
  Run("  part: raw ECDSA P-256 SHA-256 verify", [&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, csr->public_key()) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  });
  Run("agent: GenerateLeafCsr (keygen+CSR)", [&] {
    return ca::GenerateLeafCsr(identity::ServiceId(td, "default", "dc1", "web")).ok();
  });
  return 0;
}
