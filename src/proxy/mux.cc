#include "proxy/mux.h"

#include <algorithm>

namespace gangway::proxy::mux {
namespace {

uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

DecodeResult Error(std::string message) {
  DecodeResult r;
  r.kind = DecodeResult::Kind::kError;
  r.error = std::move(message);
  return r;
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kData: return "DATA";
    case FrameType::kOpen: return "OPEN";
    case FrameType::kFin: return "FIN";
    case FrameType::kReset: return "RESET";
    case FrameType::kWindow: return "WINDOW";
    case FrameType::kGoAway: return "GOAWAY";
  }
  return "unknown";
}

char* Bytes::Grow(size_t n) {
  if (capacity_ - size_ < n) {
    size_t capacity = std::max({size_ + n, 2 * capacity_, size_t{256}});
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }
  char* at = data_.get() + size_;
  size_ += n;
  return at;
}

void PutHeader(char* at, FrameType type, uint32_t stream, size_t payload_size) {
  at[0] = static_cast<char>(type);
  at[1] = 0;
  at[2] = static_cast<char>((payload_size >> 8) & 0xff);
  at[3] = static_cast<char>(payload_size & 0xff);
  at[4] = static_cast<char>((stream >> 24) & 0xff);
  at[5] = static_cast<char>((stream >> 16) & 0xff);
  at[6] = static_cast<char>((stream >> 8) & 0xff);
  at[7] = static_cast<char>(stream & 0xff);
}

DecodeResult Decode(std::span<const uint8_t> in) {
  if (in.size() < kHeaderSize) return {};
  const uint8_t type = in[0];
  const size_t length = (size_t{in[2]} << 8) | in[3];
  const uint32_t stream = Get32(in.data() + 4);
  if (type > static_cast<uint8_t>(FrameType::kGoAway)) {
    return Error("unknown frame type " + std::to_string(type));
  }
  const auto t = static_cast<FrameType>(type);
  if (length > kMaxPayload) {
    return Error(std::string(FrameTypeName(t)) + " frame of " + std::to_string(length) +
                 " bytes, over the limit of " + std::to_string(kMaxPayload));
  }
  if ((t == FrameType::kGoAway) != (stream == 0)) {
    return Error(std::string(FrameTypeName(t)) + " frame with stream ID " + std::to_string(stream) +
                 (stream == 0 ? "" : " (GOAWAY is for stream 0 only)"));
  }
  if ((t == FrameType::kOpen || t == FrameType::kFin) && length != 0) {
    return Error(std::string(FrameTypeName(t)) + " frame with a payload of " +
                 std::to_string(length) + " bytes");
  }
  if (t == FrameType::kWindow && length != 4) {
    return Error("WINDOW frame with a payload of " + std::to_string(length) + " bytes, not 4");
  }
  if (in.size() < kHeaderSize + length) return {};
  DecodeResult r;
  r.kind = DecodeResult::Kind::kFrame;
  r.consumed = kHeaderSize + length;
  r.frame.type = t;
  r.frame.stream = stream;
  r.frame.payload = std::string_view(reinterpret_cast<const char*>(in.data()) + kHeaderSize, length);
  if (t == FrameType::kWindow) {
    r.frame.window_increment = Get32(in.data() + kHeaderSize);
    if (r.frame.window_increment == 0) return Error("WINDOW frame with an increment of 0");
  }
  return r;
}

}  // namespace gangway::proxy::mux
