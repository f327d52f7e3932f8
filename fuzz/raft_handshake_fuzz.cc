// Fuzz target for the handshake that opens a Raft connection on the RPC port
// (consensus/handshake.h). The bytes come from whoever connects to port 8300. Beyond "no crash":
// a complete handshake is exactly what EncodeHandshake writes for its id and address; an
// incomplete one never asks for more than the largest handshake; and feeding a valid prefix one
// byte at a time reaches the same verdict.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "consensus/handshake.h"

using namespace gangway::consensus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto p = DecodeHandshake(bytes);
  if (!p.ok()) return 0;
  if (!p->complete()) {
    if (size + p->missing > kMaxHandshakeSize) std::abort();
    return 0;
  }
  if (p->size > size || p->size > kMaxHandshakeSize) std::abort();
  if (EncodeHandshake(p->handshake.id, p->handshake.address) != bytes.substr(0, p->size)) {
    std::abort();
  }
  // Every prefix is an incomplete but valid handshake.
  for (size_t n = 0; n < p->size; ++n) {
    auto q = DecodeHandshake(bytes.substr(0, n));
    if (!q.ok() || q->complete() || n + q->missing > p->size) std::abort();
  }
  return 0;
}
