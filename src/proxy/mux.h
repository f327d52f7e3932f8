// The frames of `gangway-mux/1`, the protocol two sidecars speak inside one mTLS connection to
// carry many application connections (docs/mux.md). Pure: bytes in, frames out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gangway::proxy::mux {

// The ALPN protocol ID, and its wire form for SSL_set_alpn_protos (length-prefixed).
inline constexpr std::string_view kAlpn = "gangway-mux/1";
inline constexpr std::string_view kAlpnWire = "\x0dgangway-mux/1";
static_assert(kAlpnWire.size() == kAlpn.size() + 1 && kAlpnWire[0] == kAlpn.size() &&
              kAlpnWire.substr(1) == kAlpn);

enum class FrameType : uint8_t {
  kData = 0,
  kOpen = 1,
  kFin = 2,
  kReset = 3,
  kWindow = 4,
  kGoAway = 5,
};
std::string_view FrameTypeName(FrameType type);

inline constexpr size_t kHeaderSize = 8;
// A frame and its header fit one TLS record (16 KiB of plaintext).
inline constexpr size_t kMaxPayload = 16 * 1024 - kHeaderSize;
// Bytes a sender may have unacknowledged on one stream, per direction.
inline constexpr uint32_t kWindow = 256 * 1024;

struct Frame {
  FrameType type = FrameType::kData;
  uint32_t stream = 0;
  std::string_view payload;  // points into the decoded input
  uint32_t window_increment = 0;  // kWindow only
};

// Writes a frame header at `at` (kHeaderSize bytes), for a payload written behind it.
void PutHeader(char* at, FrameType type, uint32_t stream, size_t payload_size);

// Appends one frame to `out` (a std::string or Bytes). `payload` must not exceed kMaxPayload.
template <typename Out>
void AppendFrame(Out& out, FrameType type, uint32_t stream, std::string_view payload = {}) {
  char header[kHeaderSize];
  PutHeader(header, type, stream, payload.size());
  out.append(header, kHeaderSize);
  out.append(payload.data(), payload.size());
}
template <typename Out>
void AppendWindow(Out& out, uint32_t stream, uint32_t increment) {
  const char payload[4] = {static_cast<char>(increment >> 24), static_cast<char>(increment >> 16),
                           static_cast<char>(increment >> 8), static_cast<char>(increment)};
  AppendFrame(out, FrameType::kWindow, stream, std::string_view(payload, 4));
}

// A connection's outgoing queue: frames appended, and DATA read straight into it. Unlike
// std::string, Grow() leaves the new bytes uninitialized, since the read that follows overwrites
// them.
class Bytes {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  void clear() { size_ = 0; }
  void swap(Bytes& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }
  // n more bytes, uninitialized; where they start.
  char* Grow(size_t n);
  // Drops the bytes from `size` on.
  void Truncate(size_t size) { size_ = size < size_ ? size : size_; }
  void append(const char* p, size_t n) {
    if (n > 0) std::memcpy(Grow(n), p, n);
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

struct DecodeResult {
  enum class Kind { kFrame, kNeedMore, kError };
  Kind kind = Kind::kNeedMore;
  Frame frame;          // kFrame
  size_t consumed = 0;  // kFrame: header plus payload
  std::string error;    // kError: what was wrong, for the log line
};

// Decodes the frame at the front of `in`. A frame whose type, length, stream ID or window
// payload breaks docs/mux.md is kError; the checks that need the connection's state (who opens
// streams, windows) are the session's.
DecodeResult Decode(std::span<const uint8_t> in);

}  // namespace gangway::proxy::mux
