#include "proxy/mux.h"

namespace gangway::proxy::mux {
namespace {

void Put16(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void Put32(std::string& out, uint32_t v) {
  Put16(out, v >> 16);
  Put16(out, v & 0xffff);
}

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

void AppendFrame(std::string& out, FrameType type, uint32_t stream, std::string_view payload) {
  out.push_back(static_cast<char>(type));
  out.push_back(0);
  Put16(out, static_cast<uint32_t>(payload.size()));
  Put32(out, stream);
  out.append(payload);
}

void AppendWindow(std::string& out, uint32_t stream, uint32_t increment) {
  std::string payload;
  Put32(payload, increment);
  AppendFrame(out, FrameType::kWindow, stream, payload);
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
