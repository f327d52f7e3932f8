// Strict DER reading for the structures x509 walks itself instead of through OpenSSL's
// generic decoders (certificate requests: see ParseCsrDer). Only what DER allows: definite
// lengths in their shortest form, one-byte identifiers (tag numbers below 31), no
// end-of-contents marker. Everything is a view into the caller's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gangway::x509::der {

// Identifier octets: class, constructed bit and tag number in one byte.
inline constexpr uint8_t kBoolean = 0x01;
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kBitString = 0x03;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kNull = 0x05;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kSet = 0x31;
constexpr uint8_t ContextPrimitive(int n) { return static_cast<uint8_t>(0x80 | n); }
constexpr uint8_t ContextConstructed(int n) { return static_cast<uint8_t>(0xa0 | n); }

struct Element {
  uint8_t tag = 0;
  std::string_view contents;  // the value
  std::string_view encoding;  // identifier, length and value, exactly as in the input
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool empty() const { return in_.empty(); }
  // The identifier of the next element; 0 at the end (0 is never a valid identifier).
  uint8_t PeekTag() const { return in_.empty() ? 0 : static_cast<uint8_t>(in_[0]); }
  // Reads the next element. False, consuming nothing, at the end or on malformed input.
  bool Next(Element* out);
  // Reads the next element, which must have identifier `tag`.
  bool Read(uint8_t tag, Element* out);
  // Reads the next element if it has identifier `tag`; `*present` says whether it did.
  // False only on malformed input.
  bool ReadOptional(uint8_t tag, Element* out, bool* present);
  // Reads an OBJECT IDENTIFIER whose contents are well formed (see ValidOid).
  bool ReadOid(Element* out);

 private:
  std::string_view in_;
};

// OBJECT IDENTIFIER contents: at least one subidentifier, each in base 128 without leading
// 0x80 bytes, the last one complete.
bool ValidOid(std::string_view contents);

// The bytes of a BIT STRING's contents that has no unused bits (keys, signatures). False when
// the contents are empty or declare unused bits.
bool BitStringBytes(std::string_view contents, std::string_view* bytes);

// One DER element: `tag`, the definite length of `contents` (short or long form), `contents`.
// For building structures by hand (tests, fuzz seeds); the reader above is what parses.
std::string Tlv(uint8_t tag, std::string_view contents);

}  // namespace gangway::x509::der
