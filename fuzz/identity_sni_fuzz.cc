// Fuzz target for SNI names as a mesh gateway reads them from a TLS ClientHello: any bytes go
// through identity::ParseSni. Beyond "no crash": a name that parses rebuilds, through
// SniName::Name(), into a name that parses to the same parts, and errors repeat the input only
// as printable ASCII.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "identity/sni.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view sni(reinterpret_cast<const char*>(data), size);
  auto parsed = identity::ParseSni(sni);
  if (!parsed.ok()) {
    for (unsigned char c : parsed.status().message()) Check(c >= 0x20 && c < 0x7f);
    return 0;
  }
  const std::string name = parsed->Name();
  auto again = identity::ParseSni(name);
  Check(again.ok() && *again == *parsed);
  Check(!parsed->datacenter.empty() || parsed->kind == identity::SniKind::kPeeredService);
  Check(!parsed->domain.empty());
  return 0;
}
