// Fuzz target for the frame RaftNode puts around every Raft log entry (consensus/entry.h). The
// bytes come from disk and from peers. Beyond "no crash": whatever decodes is exactly what
// EncodeEntry would have written for its payload.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "consensus/entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto payload = gangway::consensus::DecodeEntry(bytes);
  if (!payload.ok()) return 0;
  if (gangway::consensus::EncodeEntry(*payload) != bytes) std::abort();
  return 0;
}
