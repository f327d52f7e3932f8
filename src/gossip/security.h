// Integrity and confidentiality for gossip: the IEEE CRC-32 of hasCrc packets and memberlist's
// AES-GCM payload format with its keyring. Keyring is a plain value owned by the gossip loop (not
// thread-safe); the free functions are pure and may run on any thread. Randomness comes only
// through a NonceSource so tests can replay captured ciphertext.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway::gossip {

// CRC-32 with the IEEE polynomial (zlib, Ethernet, Go's crc32.ChecksumIEEE).
uint32_t Crc32Ieee(std::string_view data);

// AES-GCM framing constants (memberlist security.go).
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kVersionSize = 1;
using Nonce = std::array<uint8_t, kNonceSize>;

// Encryption versions: 0 pads the plaintext PKCS#7-style to 16 bytes (memberlist protocol 1
// only); 1 is plain GCM and is what every current peer sends.
inline constexpr uint8_t kEncryptionVersion0 = 0;
inline constexpr uint8_t kEncryptionVersion1 = 1;
inline constexpr uint8_t kMaxEncryptionVersion = 1;

// Bytes a sealed payload of `plain_len` bytes occupies.
size_t SealedLength(uint8_t version, size_t plain_len);

// Where nonces come from. Production uses RandomNonceSource; tests inject fixed ones.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  virtual Status Next(Nonce* out) = 0;
};

// Nonces from OpenSSL's CSPRNG (RAND_bytes), as Go's crypto/rand.
class RandomNonceSource final : public NonceSource {
 public:
  Status Next(Nonce* out) override;
};

// The ordered set of AES keys. keys()[0] is the primary key: it seals, and it is tried first
// when opening; every other key is only tried. Keys are 16, 24 or 32 bytes (AES-128/192/256).
class Keyring {
 public:
  Keyring() = default;
  // Installs `primary` first, then `keys` in order (duplicates dropped). An empty keyring (no
  // keys, empty primary) is valid and means "encryption off"; keys without a primary are not.
  static Result<Keyring> Create(const std::vector<std::string>& keys, std::string_view primary);

  static Status ValidateKey(std::string_view key);

  // Installs a key (no-op if present). The first key installed becomes primary.
  Status AddKey(std::string_view key);
  // Makes an installed key the primary.
  Status UseKey(std::string_view key);
  // Removes a key; removing the primary is refused.
  Status RemoveKey(std::string_view key);

  bool empty() const { return keys_.empty(); }
  const std::vector<std::string>& keys() const { return keys_; }
  std::string_view primary() const { return keys_.empty() ? std::string_view() : keys_[0]; }

 private:
  std::vector<std::string> keys_;
};

// `version | nonce | GCM(plain) | tag` with `aad` as additional data, using `key`.
Result<std::string> Seal(uint8_t version, std::string_view key, const Nonce& nonce,
                         std::string_view plain, std::string_view aad);

struct Opened {
  std::string plain;
  uint8_t version = 0;
  Nonce nonce{};
  size_t key_index = 0;  // which key of the keyring opened it
};

// Tries every key in keyring order. Fails on an unknown version, a payload shorter than the
// framing, bad version-0 padding, or when no key authenticates it.
Result<Opened> Open(const Keyring& keyring, std::string_view sealed, std::string_view aad);

}  // namespace gangway::gossip
