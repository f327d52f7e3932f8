// Fuzz target for the first bytes of a connection as the mesh gateway reads them
// (net/client_hello.h, docs/proxy.md). Beyond "no crash": a kNeedMore asks for more than it was
// given; an accepted hello has a valid SNI and parses the same from exactly its own bytes; and a
// prefix's verdict agrees with the whole's, since more bytes may only complete a hello, never
// change an accepted or refused one.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "net/client_hello.h"

namespace {

using namespace gangway::net;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

void Exercise(std::span<const uint8_t> in, const HelloLimits& limits) {
  const PeekResult r = ParseClientHello(in, limits);
  switch (r.kind) {
    case PeekResult::Kind::kNeedMore:
      Check(r.need_at_least > in.size());
      break;
    case PeekResult::Kind::kError:
      Check(!r.message.empty() && HelloErrorName(r.error) != "unknown");
      break;
    case PeekResult::Kind::kOk: {
      const ClientHello& h = r.hello;
      Check(h.consumed <= in.size() && h.records >= 1 && h.records <= limits.max_records);
      Check(h.sni.empty() || IsValidSniHostName(h.sni));
      const PeekResult exact = ParseClientHello(in.first(h.consumed), limits);
      Check(exact.ok() && exact.hello.sni == h.sni && exact.hello.alpn == h.alpn &&
            exact.hello.supported_versions == h.supported_versions &&
            exact.hello.consumed == h.consumed);
      Check(ParseClientHello(in.first(h.consumed - 1), limits).need_more());
      break;
    }
  }
  const PeekResult half = ParseClientHello(in.first(in.size() / 2), limits);
  if (half.ok()) Check(r.ok() && r.hello.consumed == half.hello.consumed);
  if (half.kind == PeekResult::Kind::kError)
    Check(!r.ok() && !r.need_more() && r.error == half.error);
  if (half.need_more() && in.size() < half.need_at_least) Check(!r.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  Exercise(in, HelloLimits{});
  HelloLimits tight;
  tight.max_hello_bytes = 300;
  tight.max_records = 2;
  Exercise(in, tight);
  return 0;
}
