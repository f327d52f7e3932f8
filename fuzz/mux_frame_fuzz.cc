// Fuzz target for the frames two sidecars exchange inside a multiplexed mTLS connection
// (proxy/mux.h, docs/mux.md). Beyond "no crash": a frame never claims more bytes than it was
// given, its payload lies inside them, it re-encodes to exactly its own bytes (flags aside), and
// a prefix of a frame only ever needs more.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "proxy/mux.h"

namespace {

using namespace gangway::proxy::mux;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  while (!in.empty()) {
    const DecodeResult r = Decode(in);
    if (r.kind == DecodeResult::Kind::kNeedMore) break;
    if (r.kind == DecodeResult::Kind::kError) {
      Check(!r.error.empty());
      break;
    }
    Check(r.consumed >= kHeaderSize && r.consumed <= in.size());
    Check(r.frame.payload.size() == r.consumed - kHeaderSize);
    Check(reinterpret_cast<const uint8_t*>(r.frame.payload.data()) == in.data() + kHeaderSize);
    std::string again;
    AppendFrame(again, r.frame.type, r.frame.stream, r.frame.payload);
    std::string original(reinterpret_cast<const char*>(in.data()), r.consumed);
    original[1] = 0;  // flags are ignored
    Check(again == original);
    Check(Decode(in.first(r.consumed - 1)).kind != DecodeResult::Kind::kFrame);
    in = in.subspan(r.consumed);
  }
  return 0;
}
