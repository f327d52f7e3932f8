// The frames of `gangway-mux/1`, the protocol two sidecars speak inside one mTLS connection to
// carry many application connections (docs/mux.md). Pure: bytes in, frames out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

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

// Appends one frame to `out`. `payload` must not exceed kMaxPayload.
void AppendFrame(std::string& out, FrameType type, uint32_t stream, std::string_view payload = {});
void AppendWindow(std::string& out, uint32_t stream, uint32_t increment);

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
