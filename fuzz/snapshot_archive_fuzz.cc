// Fuzz target for snapshot files (`gangway snapshot restore`, PUT /v1/snapshot): the archive
// decoder must refuse anything damaged without crashing, and what it accepts re-encodes to the
// same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "codec/snapshot_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto a = gangway::codec::DecodeSnapshotArchive(in);
  if (a.ok()) {
    auto again = gangway::codec::DecodeSnapshotArchive(gangway::codec::EncodeSnapshotArchive(*a));
    if (!again.ok() || again->state != a->state || again->meta.index != a->meta.index) std::abort();
  }
  return 0;
}
