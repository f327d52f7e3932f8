#include "consensus/handshake.h"
#include "core/endian.h"

namespace gangway::consensus {

namespace {



bool Printable(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

std::string EncodeHandshake(uint64_t id, std::string_view address) {
  std::string out;
  out.reserve(kHandshakeHeaderSize + address.size());
  AppendBigEndian(&out, kHandshakeVersion, 8);
  AppendBigEndian(&out, id, 8);
  AppendBigEndian(&out, address.size(), 2);
  out.append(address);
  return out;
}

Result<HandshakeProgress> DecodeHandshake(std::string_view bytes) {
  HandshakeProgress p;
  // Check what has arrived as early as possible, so garbage is refused without waiting for more.
  if (bytes.size() >= 8) {
    uint64_t version = LoadBigEndian(bytes, 8);
    if (version != kHandshakeVersion) {
      return InvalidArgument("raft handshake: unsupported version " + std::to_string(version));
    }
  }
  if (bytes.size() >= 16 && LoadBigEndian(bytes.substr(8), 8) == 0) {
    return InvalidArgument("raft handshake: server id 0");
  }
  if (bytes.size() < kHandshakeHeaderSize) {
    p.missing = kHandshakeHeaderSize - bytes.size();
    return p;
  }
  size_t length = size_t(LoadBigEndian(bytes.substr(16), 2));
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
  p.handshake.id = LoadBigEndian(bytes.substr(8), 8);
  p.handshake.address = std::string(address);
  return p;
}

}  // namespace gangway::consensus
