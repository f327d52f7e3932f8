#include "x509/der.h"

#include "core/endian.h"

namespace gangway::x509::der {

bool Reader::Next(Element* out) {
  if (in_.size() < 2) return false;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(in_[i]); };
  const uint8_t tag = byte(0);
  if (tag == 0 || (tag & 0x1f) == 0x1f) return false;  // end-of-contents; high tag numbers
  size_t header = 2;
  size_t length = byte(1);
  if (length >= 0x80) {
    const size_t n = length & 0x7f;
    // 0x80 is BER's indefinite length; four length bytes are far beyond any input we take.
    if (n == 0 || n > 4 || in_.size() < 2 + n) return false;
    if (byte(2) == 0) return false;  // a leading zero: not the shortest form
    length = LoadBigEndian(in_.substr(2, n), n);
    if (length < 0x80) return false;  // fits the short form
    header += n;
  }
  if (length > in_.size() - header) return false;
  out->tag = tag;
  out->contents = in_.substr(header, length);
  out->encoding = in_.substr(0, header + length);
  in_.remove_prefix(header + length);
  return true;
}

bool Reader::Read(uint8_t tag, Element* out) {
  if (PeekTag() != tag) return false;
  return Next(out);
}

bool Reader::ReadOptional(uint8_t tag, Element* out, bool* present) {
  *present = false;
  if (in_.empty() || PeekTag() != tag) return true;
  *present = Next(out);
  return *present;
}

bool Reader::ReadOid(Element* out) {
  Element e;
  if (PeekTag() != kOid || !Reader(in_).Next(&e) || !ValidOid(e.contents)) return false;
  return Next(out);
}

bool ValidOid(std::string_view contents) {
  if (contents.empty() || (static_cast<uint8_t>(contents.back()) & 0x80) != 0) return false;
  bool first = true;  // at the first byte of a subidentifier
  for (char c : contents) {
    const auto b = static_cast<uint8_t>(c);
    if (first && b == 0x80) return false;
    first = (b & 0x80) == 0;
  }
  return true;
}

std::string Tlv(uint8_t tag, std::string_view contents) {
  std::string out(1, static_cast<char>(tag));
  size_t n = contents.size();
  if (n < 0x80) {
    out += static_cast<char>(n);
  } else {
    std::string len;
    for (; n > 0; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
    out += static_cast<char>(0x80 | len.size());
    out += len;
  }
  return out.append(contents);
}

bool BitStringBytes(std::string_view contents, std::string_view* bytes) {
  if (contents.empty() || contents[0] != 0) return false;
  *bytes = contents.substr(1);
  return true;
}

}  // namespace gangway::x509::der
