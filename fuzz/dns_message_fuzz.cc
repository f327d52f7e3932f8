// Fuzz target for DNS messages as the DNS server reads them from UDP and TCP: any bytes go
// through dns::Parse. Beyond "no crash" and bounded work: a message that parses encodes, with
// and without compression, into bytes that parse back to an equal message (names compared
// byte for byte, case included), the uncompressed encoding has UncompressedSize bytes, and
// errors are printable ASCII.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "dns/message.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = dns::Parse({data, size});
  if (!parsed.ok()) {
    for (unsigned char c : parsed.status().message()) Check(c >= 0x20 && c < 0x7f);
    Check(dns::PeekId({data, size}).has_value() == (size >= 2));
    return 0;
  }
  std::string wire;
  for (bool compress : {true, false}) {
    dns::Encode(*parsed, compress, &wire);
    if (!compress) Check(wire.size() == dns::UncompressedSize(*parsed));
    auto again = dns::Parse(Span(wire));
    Check(again.ok());
    Check(*again == *parsed);
  }
  return 0;
}
