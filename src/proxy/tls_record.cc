#include "proxy/tls_record.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/tls1.h>

#include <cstring>

namespace gangway::proxy {

bool ExpandLabel(const char* digest, std::span<const uint8_t> secret, std::string_view label,
                 std::span<uint8_t> out) {
  static EVP_KDF* hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  constexpr std::string_view kPrefix = "tls13 ";
  if (hkdf == nullptr || out.size() > 0xffff || kPrefix.size() + label.size() > 255) return false;
  // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel;
  uint8_t info[2 + 1 + 255 + 1];
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(out.size() >> 8);
  info[n++] = static_cast<uint8_t>(out.size());
  info[n++] = static_cast<uint8_t>(kPrefix.size() + label.size());
  std::memcpy(info + n, kPrefix.data(), kPrefix.size());
  n += kPrefix.size();
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // an empty context
  EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(hkdf);
  if (kctx == nullptr) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_end(),
  };
  bool ok = EVP_KDF_derive(kctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(kctx);
  return ok;
}

bool RecordSealer::Seals(uint32_t cipher_id) {
  return cipher_id == TLS1_3_CK_AES_128_GCM_SHA256 || cipher_id == TLS1_3_CK_AES_256_GCM_SHA384 ||
         cipher_id == TLS1_3_CK_CHACHA20_POLY1305_SHA256;
}

std::unique_ptr<RecordSealer> RecordSealer::Create(uint32_t cipher_id,
                                                   std::span<const uint8_t> secret) {
  std::unique_ptr<RecordSealer> s(new RecordSealer());
  size_t hash_len = 32;
  // Each cipher is fetched once: an implicit fetch per record would look it up every time.
  switch (cipher_id) {
    case TLS1_3_CK_AES_128_GCM_SHA256: {
      static const EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
      s->cipher_ = aes128;
      s->digest_ = "SHA256";
      s->key_len_ = 16;
      break;
    }
    case TLS1_3_CK_AES_256_GCM_SHA384: {
      static const EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
      s->cipher_ = aes256;
      s->digest_ = "SHA384";
      s->key_len_ = 32;
      hash_len = 48;
      break;
    }
    case TLS1_3_CK_CHACHA20_POLY1305_SHA256: {
      static const EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
      s->cipher_ = chacha;
      s->digest_ = "SHA256";
      s->key_len_ = 32;
      break;
    }
    default:
      return nullptr;
  }
  if (s->cipher_ == nullptr || secret.size() != hash_len) return nullptr;
  std::memcpy(s->secret_.data(), secret.data(), secret.size());
  s->secret_len_ = secret.size();
  s->ctx_ = EVP_CIPHER_CTX_new();
  if (s->ctx_ == nullptr || !s->Install()) return nullptr;
  return s;
}

RecordSealer::~RecordSealer() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
  OPENSSL_cleanse(iv_.data(), iv_.size());
  EVP_CIPHER_CTX_free(ctx_);  // cleanses the key schedule
}

bool RecordSealer::Install() {
  std::array<uint8_t, 32> key;
  std::span<const uint8_t> secret(secret_.data(), secret_len_);
  bool ok = ExpandLabel(digest_, secret, "key", std::span(key.data(), key_len_)) &&
            ExpandLabel(digest_, secret, "iv", iv_) &&
            EVP_EncryptInit_ex(ctx_, cipher_, nullptr, key.data(), nullptr) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  seq_ = 0;
  return ok;
}

bool RecordSealer::Update() {
  std::array<uint8_t, EVP_MAX_MD_SIZE> next;
  bool ok = ExpandLabel(digest_, std::span(secret_.data(), secret_len_), "traffic upd",
                        std::span(next.data(), secret_len_));
  if (ok) std::memcpy(secret_.data(), next.data(), secret_len_);
  OPENSSL_cleanse(next.data(), next.size());
  return ok && Install();
}

size_t RecordSealer::Seal(uint8_t type, std::span<const uint8_t> in, uint8_t* out) {
  if (in.size() > kMaxPlaintext) return 0;
  // TLSCiphertext: opaque_type application_data, legacy_record_version 0x0303, length; the
  // header is the AEAD's additional data.
  const size_t length = in.size() + 1 + 16;
  out[0] = kApplicationData;
  out[1] = 0x03;
  out[2] = 0x03;
  out[3] = static_cast<uint8_t>(length >> 8);
  out[4] = static_cast<uint8_t>(length);
  // The per-record nonce: the IV with the 64-bit sequence number XORed into its right end.
  uint8_t nonce[12];
  std::memcpy(nonce, iv_.data(), sizeof nonce);
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<uint8_t>(seq_ >> (56 - 8 * i));
  uint8_t* p = out + 5;
  int n = 0;
  bool ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_EncryptUpdate(ctx_, nullptr, &n, out, 5) == 1;
  // TLSInnerPlaintext: the content, then its type; no padding.
  if (ok && !in.empty()) {
    ok = EVP_EncryptUpdate(ctx_, p, &n, in.data(), static_cast<int>(in.size())) == 1;
    p += n;
  }
  if (ok) {
    ok = EVP_EncryptUpdate(ctx_, p, &n, &type, 1) == 1;
    p += n;
  }
  if (ok) {
    ok = EVP_EncryptFinal_ex(ctx_, p, &n) == 1;
    p += n;
  }
  ok = ok && p == out + 5 + in.size() + 1 &&
       EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, 16, p) == 1;
  if (!ok) return 0;
  ++seq_;
  return 5 + length;
}

}  // namespace gangway::proxy
