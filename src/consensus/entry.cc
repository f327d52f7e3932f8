#include "consensus/entry.h"

namespace gangway::consensus {

namespace {
size_t Padded(size_t n) { return (n + 7) / 8 * 8; }
}  // namespace

std::string EncodeEntry(std::string_view payload) {
  std::string out(kEntryHeaderSize + Padded(payload.size()), '\0');
  uint32_t n = uint32_t(payload.size());
  for (int i = 0; i < 4; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  out[4] = char(kEntryFormat);
  out.replace(kEntryHeaderSize, payload.size(), payload);
  return out;
}

Result<std::string_view> DecodeEntry(std::string_view framed) {
  if (framed.size() < kEntryHeaderSize || framed.size() % 8 != 0) {
    return InvalidArgument("raft entry: size " + std::to_string(framed.size()) +
                           " is not a framed entry");
  }
  auto byte = [&](size_t i) { return uint8_t(framed[i]); };
  if (byte(4) != kEntryFormat) {
    return InvalidArgument("raft entry: unknown format " + std::to_string(byte(4)));
  }
  if (byte(5) != 0 || byte(6) != 0 || byte(7) != 0) {
    return InvalidArgument("raft entry: reserved header bytes are set");
  }
  uint64_t n = uint64_t(byte(0)) | uint64_t(byte(1)) << 8 | uint64_t(byte(2)) << 16 |
               uint64_t(byte(3)) << 24;
  if (kEntryHeaderSize + Padded(n) != framed.size()) {
    return InvalidArgument("raft entry: length " + std::to_string(n) + " does not match size " +
                           std::to_string(framed.size()));
  }
  for (size_t i = kEntryHeaderSize + n; i < framed.size(); ++i) {
    if (framed[i] != '\0') return InvalidArgument("raft entry: padding is not zero");
  }
  return framed.substr(kEntryHeaderSize, n);
}

}  // namespace gangway::consensus
