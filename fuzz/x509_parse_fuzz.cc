// Fuzz target for untrusted certificate material: PEM and DER certificates, CSRs (what the
// Connect CA will sign) and private keys. Beyond "no crash": whatever parses re-encodes to
// something that parses again to the same DER, and a CSR that parses has valid SANs only.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "x509/x509.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto c = x509::ParseCertificateDer(in); c.ok()) {
    (void)c->Info();
    auto again = x509::ParseCertificateDer(c->ToDer());
    Check(again.ok() && again->ToDer() == c->ToDer());
  }
  if (auto certs = x509::ParseCertificatesPem(in); certs.ok()) {
    for (const auto& c : *certs) {
      (void)c.Info();
      auto again = x509::ParseCertificatePem(c.ToPem());
      Check(again.ok() && again->ToDer() == c.ToDer());
    }
  }
  for (auto csr : {x509::ParseCsrDer(in), x509::ParseCsrPem(in)}) {
    if (!csr.ok()) continue;
    x509::CsrInfo info = csr->Info();
    auto again = x509::ParseCsrDer(csr->ToDer());
    Check(again.ok());
    Check(again->Info().sans.dns == info.sans.dns && again->Info().sans.uris == info.sans.uris &&
          again->Info().sans.ips == info.sans.ips);
  }
  if (auto key = x509::ParsePrivateKeyPem(in); key.ok()) {
    auto again = x509::ParsePrivateKeyPem(key->ToPem());
    Check(again.ok());
  }
  return 0;
}
