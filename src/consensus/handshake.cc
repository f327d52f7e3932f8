#include "consensus/handshake.h"

namespace gangway::consensus {

namespace {

void PutBe(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[at + size_t(i)]);
  return v;
}

bool Printable(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

std::string EncodeHandshake(uint64_t id, std::string_view address) {
  std::string out;
  out.reserve(kHandshakeHeaderSize + address.size());
  PutBe(out, kHandshakeVersion, 8);
  PutBe(out, id, 8);
  PutBe(out, address.size(), 2);
  out.append(address);
  return out;
}

Result<HandshakeProgress> DecodeHandshake(std::string_view bytes) {
  HandshakeProgress p;
  // Check what has arrived as early as possible, so garbage is refused without waiting for more.
  if (bytes.size() >= 8) {
    uint64_t version = GetBe(bytes, 0, 8);
    if (version != kHandshakeVersion) {
      return InvalidArgument("raft handshake: unsupported version " + std::to_string(version));
    }
  }
  if (bytes.size() >= 16 && GetBe(bytes, 8, 8) == 0) {
    return InvalidArgument("raft handshake: server id 0");
  }
  if (bytes.size() < kHandshakeHeaderSize) {
    p.missing = kHandshakeHeaderSize - bytes.size();
    return p;
  }
  size_t length = size_t(GetBe(bytes, 16, 2));
  if (length == 0 || length > kMaxHandshakeAddress) {
    return InvalidArgument("raft handshake: address length " + std::to_string(length) +
                           " (must be 1.." + std::to_string(kMaxHandshakeAddress) + ")");
  }
  std::string_view address = bytes.substr(kHandshakeHeaderSize, length);
  for (char c : address) {
    if (!Printable(c)) return InvalidArgument("raft handshake: address is not printable ASCII");
  }
  if (address.size() < length) {
    p.missing = length - address.size();
    return p;
  }
  p.size = kHandshakeHeaderSize + length;
  p.handshake.id = GetBe(bytes, 8, 8);
  p.handshake.address = std::string(address);
  return p;
}

}  // namespace gangway::consensus
