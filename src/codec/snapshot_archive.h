// The file `gangway snapshot save` writes and `snapshot restore` reads (GET/PUT /v1/snapshot):
// the state store's snapshot with a small header and a SHA-256 over everything, so a truncated
// or altered file is refused before anything is restored. Layout (docs/snapshots.md):
//
//   "GWSNAP" 0x00 0x01 | meta_len:u32be | meta JSON | state_len:u64be | state | sha256(all before)
//
// Pure; any thread. The decoder takes untrusted bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gangway::codec {

struct SnapshotMeta {
  std::string id;  // "<term>-<index>-<unix ms>", as Consul's snapshot IDs
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t size = 0;  // bytes of state
  int version = 1;
  std::string datacenter;
};

struct SnapshotArchive {
  SnapshotMeta meta;
  std::string state;  // catalog::Store::Snapshot bytes
};

std::string EncodeSnapshotArchive(const SnapshotArchive& a);
Result<SnapshotArchive> DecodeSnapshotArchive(std::string_view bytes);

}  // namespace gangway::codec
