// The server RPC protocol's bytes (docs/rpc.md): mode bytes, frames, and the bodies of the
// methods. Pure functions and value types over untrusted input: every decoder returns an error
// naming what was wrong and never reads past its input. Any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gangway::rpc {

// First byte of a connection.
inline constexpr uint8_t kModeRaft = 0x01;
inline constexpr uint8_t kModeTls = 0x03;
inline constexpr uint8_t kModeGangway = 0x47;  // 'G'

inline constexpr size_t kFrameHeader = 4 + 1 + 8;  // length, kind, seq
inline constexpr size_t kMaxFrame = 64u << 20;     // bytes after the length field

enum class FrameKind : uint8_t { kRequest = 0, kResponse = 1, kError = 2, kCancel = 3 };

struct Frame {
  FrameKind kind = FrameKind::kRequest;
  uint64_t seq = 0;
  std::string method;  // requests only
  Code code = Code::kOk;  // errors only
  std::string body;       // request/response body, or the error message
};

std::string EncodeFrame(const Frame& f);

// Splits a byte stream into frames. Feed() what arrived; Next() yields complete frames. After an
// error the decoder stays failed (the connection must be closed).
class FrameDecoder {
 public:
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  // A frame, nullopt when more bytes are needed, or an error.
  Result<std::optional<Frame>> Next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  Status failed_;
};

// Method "HTTP": an HTTP request forwarded to another agent, and its answer.
struct ForwardedRequest {
  std::string method;
  std::string target;  // "/v1/catalog/services?dc=dc2"
  std::map<std::string, std::string> headers;
  std::string body;
  int hops = 0;
};
struct ForwardedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Whether a failed call or forwarding may succeed if tried again (on another server, after an
// election): no leader yet, or the connection to the chosen server failed or broke.
bool Retryable(const Status& s);

std::string EncodeForwardedRequest(const ForwardedRequest& r);
Result<ForwardedRequest> DecodeForwardedRequest(std::string_view bytes);
std::string EncodeForwardedResponse(const ForwardedResponse& r);
Result<ForwardedResponse> DecodeForwardedResponse(std::string_view bytes);

}  // namespace gangway::rpc
