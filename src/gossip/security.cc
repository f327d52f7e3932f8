#include "gossip/security.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

namespace gangway::gossip {
namespace {

constexpr size_t kBlockSize = 16;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

const EVP_CIPHER* CipherFor(size_t key_len) {
  switch (key_len) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// GCM open with one key. Returns false when the tag does not verify.
bool OpenWithKey(std::string_view key, const Nonce& nonce, std::string_view ciphertext,
                 std::string_view tag, std::string_view aad, std::string* plain) {
  const EVP_CIPHER* cipher = CipherFor(key.size());
  if (cipher == nullptr) return false;
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, U8(key), nonce.data()) != 1) return false;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  plain->assign(ciphertext.size(), '\0');
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain->data()), &len,
                        U8(ciphertext), static_cast<int>(ciphertext.size())) != 1) {
    return false;
  }
  std::array<unsigned char, kTagSize> tag_copy{};
  std::copy(tag.begin(), tag.end(), tag_copy.begin());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag_copy.data()) != 1) {
    return false;
  }
  unsigned char final_block[kBlockSize];
  return EVP_DecryptFinal_ex(ctx.get(), final_block, &len) == 1;
}

}  // namespace

uint32_t Crc32Ieee(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t c = 0xffffffffu;
  for (char ch : data) c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

size_t SealedLength(uint8_t version, size_t plain_len) {
  if (version >= kEncryptionVersion1) return kVersionSize + kNonceSize + plain_len + kTagSize;
  const size_t padding = kBlockSize - (plain_len % kBlockSize);
  return kVersionSize + kNonceSize + plain_len + padding + kTagSize;
}

Status RandomNonceSource::Next(Nonce* out) {
  if (RAND_bytes(out->data(), static_cast<int>(out->size())) != 1) {
    return Internal("gossip: no randomness for an encryption nonce");
  }
  return Status::Ok();
}

Status Keyring::ValidateKey(std::string_view key) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    return InvalidArgument("key size must be 16, 24 or 32 bytes, not " +
                           std::to_string(key.size()));
  }
  return Status::Ok();
}

Result<Keyring> Keyring::Create(const std::vector<std::string>& keys, std::string_view primary) {
  Keyring ring;
  if (keys.empty() && primary.empty()) return ring;
  if (primary.empty()) return InvalidArgument("gossip: empty primary key not allowed");
  if (Status s = ring.AddKey(primary); !s.ok()) return s;
  for (const std::string& k : keys) {
    if (Status s = ring.AddKey(k); !s.ok()) return s;
  }
  return ring;
}

Status Keyring::AddKey(std::string_view key) {
  if (Status s = ValidateKey(key); !s.ok()) return s;
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.emplace_back(key);
  return Status::Ok();
}

Status Keyring::UseKey(std::string_view key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return NotFound("Requested key is not in the keyring");
  std::rotate(keys_.begin(), it, it + 1);
  return Status::Ok();
}

Status Keyring::RemoveKey(std::string_view key) {
  if (!keys_.empty() && keys_[0] == key) {
    return InvalidArgument("Removing the primary key is not allowed");
  }
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it != keys_.end()) keys_.erase(it);
  return Status::Ok();
}

Result<std::string> Seal(uint8_t version, std::string_view key, const Nonce& nonce,
                         std::string_view plain, std::string_view aad) {
  if (version > kMaxEncryptionVersion) {
    return InvalidArgument("gossip: unsupported encryption version " + std::to_string(version));
  }
  const EVP_CIPHER* cipher = CipherFor(key.size());
  if (cipher == nullptr) return Keyring::ValidateKey(key);
  std::string padded;
  if (version == kEncryptionVersion0) {
    // PKCS#7 to the AES block size; a full block when already aligned.
    const size_t more = kBlockSize - (plain.size() % kBlockSize);
    padded.reserve(plain.size() + more);
    padded.append(plain);
    padded.append(more, static_cast<char>(more));
    plain = padded;
  }
  std::string out;
  out.resize(kVersionSize + kNonceSize + plain.size() + kTagSize);
  out[0] = static_cast<char>(version);
  std::copy(nonce.begin(), nonce.end(), out.begin() + kVersionSize);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + kVersionSize + kNonceSize;

  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, U8(key), nonce.data()) != 1) {
    return Internal("gossip: AES-GCM init failed");
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return Internal("gossip: AES-GCM aad failed");
  }
  if (!plain.empty() &&
      EVP_EncryptUpdate(ctx.get(), ct, &len, U8(plain), static_cast<int>(plain.size())) != 1) {
    return Internal("gossip: AES-GCM encrypt failed");
  }
  unsigned char final_block[kBlockSize];
  if (EVP_EncryptFinal_ex(ctx.get(), final_block, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, ct + plain.size()) != 1) {
    return Internal("gossip: AES-GCM finish failed");
  }
  return out;
}

Result<Opened> Open(const Keyring& keyring, std::string_view sealed, std::string_view aad) {
  if (sealed.empty()) return InvalidArgument("gossip: cannot decrypt an empty payload");
  const uint8_t version = static_cast<uint8_t>(sealed[0]);
  if (version > kMaxEncryptionVersion) {
    return InvalidArgument("gossip: unsupported encryption version " + std::to_string(version));
  }
  if (sealed.size() < SealedLength(version, 0)) {
    return InvalidArgument(
        "gossip: payload is too small to decrypt: " + std::to_string(sealed.size()) + " bytes");
  }
  if (keyring.empty()) return InvalidArgument("gossip: no keys installed to decrypt with");
  Opened result;
  result.version = version;
  std::copy_n(sealed.begin() + kVersionSize, kNonceSize, result.nonce.begin());
  const std::string_view body = sealed.substr(kVersionSize + kNonceSize);
  const std::string_view ciphertext = body.substr(0, body.size() - kTagSize);
  const std::string_view tag = body.substr(body.size() - kTagSize);
  for (size_t i = 0; i < keyring.keys().size(); ++i) {
    if (!OpenWithKey(keyring.keys()[i], result.nonce, ciphertext, tag, aad, &result.plain)) {
      continue;
    }
    result.key_index = i;
    if (version == kEncryptionVersion0) {
      // Go trusts the pad byte blindly; we check it so a forged value cannot underflow.
      const size_t n = result.plain.size();
      const uint8_t pad = n == 0 ? 0 : static_cast<uint8_t>(result.plain[n - 1]);
      if (pad == 0 || pad > kBlockSize || pad > n) {
        return InvalidArgument("gossip: bad padding in a version 0 payload");
      }
      result.plain.resize(n - pad);
    }
    return result;
  }
  return InvalidArgument("gossip: no installed keys could decrypt the message");
}

}  // namespace gangway::gossip
