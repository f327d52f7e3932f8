#include "gossip/lzw.h"

#include <array>
#include <cstdint>
#include <vector>

namespace gangway::gossip {
namespace {

constexpr uint32_t kClear = 256;
constexpr uint32_t kEof = 257;
constexpr uint32_t kMaxCode = 4095;  // codes are at most 12 bits
constexpr int kMaxWidth = 12;

// Packs codes least-significant bit first.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  void Put(uint32_t code, int width) {
    bits_ |= static_cast<uint64_t>(code) << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      out_->push_back(static_cast<char>(bits_ & 0xff));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }
  void Flush() {
    if (nbits_ > 0) out_->push_back(static_cast<char>(bits_ & 0xff));
    bits_ = 0;
    nbits_ = 0;
  }

 private:
  std::string* out_;
  uint64_t bits_ = 0;
  int nbits_ = 0;
};

// Dictionary of (prefix code, next byte) -> code, open addressing. The probing scheme does not
// influence the output; only which strings are in the dictionary does.
class Dictionary {
 public:
  Dictionary() : slots_(kSlots, kEmpty) {}
  void Clear() { std::fill(slots_.begin(), slots_.end(), kEmpty); }
  // Returns the code for key, or 0 when absent (0 is never a dictionary code).
  uint32_t Find(uint32_t key) const {
    for (uint32_t h = Hash(key);; h = (h + 1) & (kSlots - 1)) {
      const uint32_t e = slots_[h];
      if (e == kEmpty) return 0;
      if ((e >> 12) == key) return e & 0xfff;
    }
  }
  void Insert(uint32_t key, uint32_t code) {
    uint32_t h = Hash(key);
    while (slots_[h] != kEmpty) h = (h + 1) & (kSlots - 1);
    slots_[h] = (key << 12) | code;
  }

 private:
  // 4x the number of codes, so probing stays short and the table never fills.
  static constexpr uint32_t kSlots = 1u << 14;
  static constexpr uint32_t kEmpty = 0;  // key 0 with code 0 never occurs
  static uint32_t Hash(uint32_t key) { return ((key >> 12) ^ key) & (kSlots - 1); }
  std::vector<uint32_t> slots_;
};

}  // namespace

std::string LzwCompress(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 2 + 8);
  BitWriter w(&out);
  int width = 9;
  uint32_t hi = kEof;  // last code handed out
  uint32_t overflow = 1u << width;
  Dictionary dict;

  w.Put(kClear, width);
  if (in.empty()) {
    w.Put(kEof, width);
    w.Flush();
    return out;
  }

  // Hands out the next code; when the code space is used up, emits CLEAR and starts over.
  // Returns false after such a reset (the new code must then not be recorded).
  auto next_code = [&]() {
    ++hi;
    if (hi == overflow) {
      ++width;
      overflow <<= 1;
    }
    if (hi == kMaxCode) {
      w.Put(kClear, width);
      width = 9;
      hi = kEof;
      overflow = 1u << width;
      dict.Clear();
      return false;
    }
    return true;
  };

  uint32_t code = static_cast<uint8_t>(in[0]);
  for (size_t i = 1; i < in.size(); ++i) {
    const uint32_t literal = static_cast<uint8_t>(in[i]);
    const uint32_t key = (code << 8) | literal;
    if (const uint32_t found = dict.Find(key); found != 0) {
      code = found;
      continue;
    }
    w.Put(code, width);
    code = literal;
    if (next_code()) dict.Insert(key, hi);
  }
  w.Put(code, width);
  next_code();  // Go's Close() advances the counter too, which can widen or reset before EOF
  w.Put(kEof, width);
  w.Flush();
  return out;
}

Result<std::string> LzwDecompress(std::string_view in, size_t max_output) {
  std::array<uint16_t, 4096> prefix{};
  std::array<uint8_t, 4096> suffix{};
  std::array<uint8_t, 4096> scratch{};
  constexpr uint32_t kInvalid = 0xffff;

  std::string out;
  int width = 9;
  uint32_t hi = kEof;  // next code to be defined is hi + 1 ... see below
  uint32_t overflow = 1u << width;
  uint32_t last = kInvalid;

  uint64_t bits = 0;
  int nbits = 0;
  size_t pos = 0;
  for (;;) {
    while (nbits < width) {
      if (pos >= in.size()) return InvalidArgument("lzw: unexpected end of input (no EOF code)");
      bits |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos++])) << nbits;
      nbits += 8;
    }
    const uint32_t code = static_cast<uint32_t>(bits & ((1u << width) - 1));
    bits >>= width;
    nbits -= width;

    if (code == kClear) {
      width = 9;
      hi = kEof;
      overflow = 1u << width;
      last = kInvalid;
      continue;
    }
    if (code == kEof) return out;

    // Expand `code` into scratch[start..4096).
    size_t start = scratch.size();
    if (code < kClear) {
      scratch[--start] = static_cast<uint8_t>(code);
    } else if (code <= hi && !(code == hi && last == kInvalid)) {
      uint32_t c = code;
      if (code == hi) {
        // The code being defined right now: last's string plus its own first byte.
        uint32_t head = last;
        while (head >= kClear) head = prefix[head];
        scratch[--start] = static_cast<uint8_t>(head);
        c = last;
      }
      while (c >= kClear) {
        if (start == 0) return InvalidArgument("lzw: corrupt dictionary");
        scratch[--start] = suffix[c];
        c = prefix[c];
      }
      if (start == 0) return InvalidArgument("lzw: corrupt dictionary");
      scratch[--start] = static_cast<uint8_t>(c);
    } else {
      return InvalidArgument("lzw: invalid code " + std::to_string(code));
    }
    const size_t n = scratch.size() - start;
    if (out.size() + n > max_output) {
      return Status(Code::kTooLarge,
                    "lzw: output larger than " + std::to_string(max_output) + " bytes");
    }
    out.append(reinterpret_cast<const char*>(scratch.data() + start), n);
    if (last != kInvalid) {
      // Define code hi as last's string plus the first byte of this one.
      suffix[hi] = scratch[start];
      prefix[hi] = static_cast<uint16_t>(last);
    }
    last = code;
    ++hi;
    if (hi >= overflow) {
      if (width == kMaxWidth) {
        // Code space full: no new codes until the encoder sends CLEAR.
        last = kInvalid;
        --hi;
      } else {
        ++width;
        overflow <<= 1;
      }
    }
  }
}

}  // namespace gangway::gossip
