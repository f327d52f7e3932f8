// MsgpackWriter: appends MessagePack to a string exactly as nlohmann::json::to_msgpack encodes
// the same values (smallest form of every header and integer, big-endian), so that a document
// written field by field is byte-identical to one built as a JSON tree and then encoded. The
// caller writes object keys in std::map order, as a JSON object holds them. Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "catalog/types.h"
#include "core/endian.h"

namespace gangway::catalog::internal {

class MsgpackWriter {
 public:
  explicit MsgpackWriter(std::string* out) : out_(out) {}

  void Nil() { Byte(0xC0); }
  void Bool(bool b) { Byte(b ? 0xC3 : 0xC2); }

  // An unsigned JSON number, or a signed one that is not negative (same bytes).
  void Uint(uint64_t v) {
    if (v < 128) {
      Byte(uint8_t(v));
    } else if (v <= UINT8_MAX) {
      Tagged(0xCC, uint8_t(v));
    } else if (v <= UINT16_MAX) {
      Tagged(0xCD, uint16_t(v));
    } else if (v <= UINT32_MAX) {
      Tagged(0xCE, uint32_t(v));
    } else {
      Tagged(0xCF, v);
    }
  }

  // A signed JSON number (int, int64_t fields).
  void Int(int64_t v) {
    if (v >= 0) return Uint(uint64_t(v));
    if (v >= -32) {
      Byte(uint8_t(int8_t(v)));
    } else if (v >= INT8_MIN) {
      Tagged(0xD0, uint8_t(int8_t(v)));
    } else if (v >= INT16_MIN) {
      Tagged(0xD1, uint16_t(int16_t(v)));
    } else if (v >= INT32_MIN) {
      Tagged(0xD2, uint32_t(int32_t(v)));
    } else {
      Tagged(0xD3, uint64_t(v));
    }
  }

  void Str(std::string_view s) {
    size_t n = s.size();
    if (n <= 31) {
      Byte(uint8_t(0xA0 | n));
    } else if (n <= UINT8_MAX) {
      Tagged(0xD9, uint8_t(n));
    } else if (n <= UINT16_MAX) {
      Tagged(0xDA, uint16_t(n));
    } else {
      Tagged(0xDB, uint32_t(n));
    }
    out_->append(s);
  }

  // Bytes as a JSON binary value without a subtype (Json::binary(bytes)).
  void Bin(std::string_view b) {
    size_t n = b.size();
    if (n <= UINT8_MAX) {
      Tagged(0xC4, uint8_t(n));
    } else if (n <= UINT16_MAX) {
      Tagged(0xC5, uint16_t(n));
    } else {
      Tagged(0xC6, uint32_t(n));
    }
    out_->append(b);
  }

  // Headers; the n elements (n key/value pairs for a map) follow.
  void Array(size_t n) { Header(n, 0x90, 0xDC, 0xDD); }
  void Map(size_t n) { Header(n, 0x80, 0xDE, 0xDF); }

  // Any JSON value, by nlohmann's own encoder (opaque documents such as a service's Proxy).
  void Value(const Json& j) { Json::to_msgpack(j, *out_); }

 private:
  void Byte(uint8_t b) { out_->push_back(char(b)); }

  // A type byte, then v big-endian.
  template <typename T>
  void Tagged(uint8_t tag, T v) {
    Byte(tag);
    BigEndian(v);
  }

  template <typename T>
  void BigEndian(T v) {
    AppendBigEndian(out_, static_cast<uint64_t>(v), sizeof(T));
  }

  void Header(size_t n, uint8_t fix, uint8_t b16, uint8_t b32) {
    if (n <= 15) {
      Byte(uint8_t(fix | n));
    } else if (n <= UINT16_MAX) {
      Tagged(b16, uint16_t(n));
    } else {
      Tagged(b32, uint32_t(n));
    }
  }

  std::string* out_;
};

}  // namespace gangway::catalog::internal
