#include "core/uuid.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <random>

namespace gangway {

namespace {

bool IsDashAt(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void FillRandom(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  if (got == n) return;
  // getrandom(2) fails only on kernels before 3.17; random_device still reads the kernel's pool.
  std::random_device rd;
  for (size_t i = got; i < n; ++i) out[i] = static_cast<uint8_t>(rd());
}

}  // namespace

std::string NewUuid() {
  UuidBytes b;
  FillRandom(b.data(), b.size());
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return FormatUuid(b);
}

std::optional<UuidBytes> ParseUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  UuidBytes out{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsDashAt(i)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    int v = HexValue(text[i]);
    if (v < 0) return std::nullopt;
    out[nibble / 2] = static_cast<uint8_t>(out[nibble / 2] | (nibble % 2 ? v : v << 4));
    ++nibble;
  }
  return out;
}

std::string FormatUuid(const UuidBytes& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

}  // namespace gangway
