// TLS 1.3 record protection for one direction of a connection (RFC 8446 §5.2, §5.3, §7.1–7.3):
// the sending half of a record layer, for a stream that seals its own records once the
// handshake is over (docs/proxy.md, "Sealing records").
//
// It turns a traffic secret into the AEAD key and IV, seals records of at most 16 KiB of
// plaintext with the per-record nonce, and moves to the next generation of the secret on a
// KeyUpdate. Nothing here reads the network; the handshake and the receiving half stay
// OpenSSL's.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace gangway::proxy {

class RecordSealer {
 public:
  static constexpr size_t kMaxPlaintext = 16384;
  // A record's header, its inner content type and the AEAD tag.
  static constexpr size_t kOverhead = 5 + 1 + 16;
  static constexpr uint8_t kAlert = 21;
  static constexpr uint8_t kHandshake = 22;
  static constexpr uint8_t kApplicationData = 23;
  // RFC 8446 §5.5: AES-GCM keys are good for about 2^24.5 full records; the stream moves to a
  // new key well before.
  static constexpr uint64_t kRecordsPerKey = uint64_t{1} << 24;

  // For a TLS 1.3 suite (`cipher_id` as SSL_CIPHER_get_id returns it) and a traffic secret of
  // that suite's hash length; null for a suite this does not seal (the CCM ones) or a secret
  // of the wrong length.
  static std::unique_ptr<RecordSealer> Create(uint32_t cipher_id, std::span<const uint8_t> secret);
  // Whether Create takes the suite.
  static bool Seals(uint32_t cipher_id);
  ~RecordSealer();
  RecordSealer(const RecordSealer&) = delete;
  RecordSealer& operator=(const RecordSealer&) = delete;

  // Seals `in` (at most kMaxPlaintext bytes) as one record of inner content type `type` into
  // `out`, which holds at least in.size() + kOverhead bytes; the bytes written, or 0 when the
  // cipher failed (the sealer is then unusable).
  size_t Seal(uint8_t type, std::span<const uint8_t> in, uint8_t* out);

  // The next generation of the secret (application_traffic_secret_N+1), its key and IV, and
  // sequence numbers from 0: what follows the sender's KeyUpdate message. False when the
  // derivation failed.
  bool Update();

  uint64_t sequence() const { return seq_; }
  // Records sealed under the current key before the stream should move to the next one.
  bool KeyWornOut() const { return seq_ >= records_per_key_; }
  void set_records_per_key(uint64_t n) { records_per_key_ = n; }

 private:
  RecordSealer() = default;
  bool Install();

  const EVP_CIPHER* cipher_ = nullptr;
  const char* digest_ = nullptr;
  size_t key_len_ = 0;
  std::array<uint8_t, EVP_MAX_MD_SIZE> secret_{};
  size_t secret_len_ = 0;
  std::array<uint8_t, 12> iv_{};
  uint64_t seq_ = 0;
  uint64_t records_per_key_ = kRecordsPerKey;
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

// HKDF-Expand-Label(secret, label, "", out.size()) with `digest` ("SHA256", "SHA384").
bool ExpandLabel(const char* digest, std::span<const uint8_t> secret, std::string_view label,
                 std::span<uint8_t> out);

}  // namespace gangway::proxy
