#include "codec/snapshot_archive.h"
#include "core/endian.h"

#include <openssl/sha.h>

#include <nlohmann/json.hpp>

namespace gangway::codec {

namespace {

constexpr std::string_view kMagic("GWSNAP\x00\x01", 8);
constexpr size_t kMaxMeta = 64 * 1024;



std::string Sha256(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof d);
}

}  // namespace

std::string EncodeSnapshotArchive(const SnapshotArchive& a) {
  nlohmann::json meta = {{"ID", a.meta.id},        {"Index", a.meta.index},
                         {"Term", a.meta.term},    {"Size", a.state.size()},
                         {"Version", a.meta.version}, {"Datacenter", a.meta.datacenter}};
  std::string m = meta.dump();
  std::string out(kMagic);
  AppendBigEndian(&out, m.size(), 4);
  out += m;
  AppendBigEndian(&out, a.state.size(), 8);
  out += a.state;
  out += Sha256(out);
  return out;
}

Result<SnapshotArchive> DecodeSnapshotArchive(std::string_view b) {
  auto bad = [](const std::string& what) {
    return InvalidArgument("snapshot archive: " + what);
  };
  if (b.size() < kMagic.size() || b.substr(0, kMagic.size()) != kMagic) {
    return bad("not a Gangway snapshot (bad magic bytes)");
  }
  if (b.size() < kMagic.size() + 4 + 8 + 32) return bad("truncated");
  size_t at = kMagic.size();
  uint64_t meta_len = LoadBigEndian(b.substr(at), 4);
  at += 4;
  if (meta_len > kMaxMeta || meta_len > b.size() - at) return bad("metadata length runs past the end");
  std::string_view meta_text = b.substr(at, meta_len);
  at += meta_len;
  if (b.size() - at < 8 + 32) return bad("truncated");
  uint64_t state_len = LoadBigEndian(b.substr(at), 8);
  at += 8;
  if (state_len != b.size() - at - 32) {
    return bad("state length " + std::to_string(state_len) + " does not match the file (" +
               std::to_string(b.size() - at - 32) + " bytes)");
  }
  if (Sha256(b.substr(0, b.size() - 32)) != b.substr(b.size() - 32)) {
    return bad("checksum mismatch: the file is corrupt or was altered");
  }
  SnapshotArchive out;
  out.state.assign(b.substr(at, state_len));
  auto meta = nlohmann::json::parse(meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return bad("metadata is not a JSON object");
  auto str = [&](const char* k, std::string* v) {
    if (meta.contains(k) && meta[k].is_string()) *v = meta[k].get<std::string>();
  };
  auto num = [&](const char* k, uint64_t* v) {
    if (meta.contains(k) && meta[k].is_number_unsigned()) *v = meta[k].get<uint64_t>();
  };
  str("ID", &out.meta.id);
  str("Datacenter", &out.meta.datacenter);
  num("Index", &out.meta.index);
  num("Term", &out.meta.term);
  num("Size", &out.meta.size);
  if (meta.contains("Version") && meta["Version"].is_number_integer()) {
    out.meta.version = meta["Version"].get<int>();
  }
  if (out.meta.version != 1) {
    return bad("unsupported version " + std::to_string(out.meta.version));
  }
  return out;
}

}  // namespace gangway::codec
