#include "codec/snapshot_archive.h"

#include <gtest/gtest.h>

namespace gangway::codec {
namespace {

SnapshotArchive Sample() {
  SnapshotArchive a;
  a.meta.id = "2-41-1790000000000";
  a.meta.index = 41;
  a.meta.term = 2;
  a.meta.datacenter = "dc1";
  a.state = std::string("\x01\x82state\0bytes", 13);
  return a;
}

TEST(SnapshotArchive, RoundTrips) {
  auto back = DecodeSnapshotArchive(EncodeSnapshotArchive(Sample()));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->state, Sample().state);
  EXPECT_EQ(back->meta.id, "2-41-1790000000000");
  EXPECT_EQ(back->meta.index, 41u);
  EXPECT_EQ(back->meta.term, 2u);
  EXPECT_EQ(back->meta.size, 13u);
  EXPECT_EQ(back->meta.datacenter, "dc1");
}

TEST(SnapshotArchive, DamageIsDetected) {
  std::string good = EncodeSnapshotArchive(Sample());
  EXPECT_EQ(DecodeSnapshotArchive("PK\x03\x04 a zip").status().message(),
            "snapshot archive: not a Gangway snapshot (bad magic bytes)");
  // Every truncation and every single-byte change is refused.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeSnapshotArchive(good.substr(0, n)).ok()) << n;
    std::string bent = good;
    bent[n] = static_cast<char>(bent[n] ^ 0x20);
    EXPECT_FALSE(DecodeSnapshotArchive(bent).ok()) << n;
  }
  std::string flipped = good;
  flipped[good.size() - 40] ^= 1;  // inside the state
  EXPECT_EQ(DecodeSnapshotArchive(flipped).status().message(),
            "snapshot archive: checksum mismatch: the file is corrupt or was altered");
}

}  // namespace
}  // namespace gangway::codec
