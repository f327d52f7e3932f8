#include "client/grpc_health.h"

#include "catalog/types.h"
#include "core/strings.h"

namespace gangway::client {
namespace {

constexpr std::string_view kInvalidWire = "proto: cannot parse invalid wire-format data";

// A base-128 varint of at most 10 bytes; false when cut short or too long.
bool ReadVarint(std::string_view in, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*pos >= in.size()) return false;
    auto b = static_cast<uint8_t>(in[(*pos)++]);
    if (shift == 63 && b > 1) return false;  // more than 64 bits
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

void WriteVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::string RpcError(int code, const std::string& desc) {
  return "rpc error: code = " + GrpcCodeName(code) + " desc = " + desc;
}

// gRPC codes (google.rpc.Code).
enum : int {
  kOk = 0,
  kCanceled = 1,
  kUnknown = 2,
  kDeadlineExceeded = 4,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kUnauthenticated = 16,
};

// grpc-message is percent-encoded (gRPC over HTTP/2, "Status-Message").
std::string DecodeGrpcMessage(std::string_view m) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '%' && i + 2 < m.size() && hex(m[i + 1]) >= 0 && hex(m[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(m[i + 1]) * 16 + hex(m[i + 2])));
      i += 2;
    } else {
      out.push_back(m[i]);
    }
  }
  return out;
}

const std::string* Find(const net::H2Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return &v;
  }
  return nullptr;
}

// grpc-go's mapping of a non-200 HTTP status to a code, and its reason phrase.
std::pair<int, std::string> HttpStatusCode(int status) {
  switch (status) {
    case 400:
      return {kInternal, "Bad Request"};
    case 401:
      return {kUnauthenticated, "Unauthorized"};
    case 403:
      return {kPermissionDenied, "Forbidden"};
    case 404:
      return {kUnimplemented, "Not Found"};
    case 429:
      return {kUnavailable, "Too Many Requests"};
    case 500:
      return {kUnknown, "Internal Server Error"};
    case 502:
      return {kUnavailable, "Bad Gateway"};
    case 503:
      return {kUnavailable, "Service Unavailable"};
    case 504:
      return {kUnavailable, "Gateway Timeout"};
    default:
      return {kUnknown, ""};
  }
}

int ResetCode(uint32_t h2_code) {
  switch (h2_code) {
    case 0x7:
      return kUnavailable;  // REFUSED_STREAM
    case 0x8:
      return kCanceled;  // CANCEL
    case 0xb:
      return kResourceExhausted;  // ENHANCE_YOUR_CALM
    case 0xc:
      return kPermissionDenied;  // INADEQUATE_SECURITY
    default:
      return kInternal;
  }
}

// The error text of a Health/Check call, or "" when it returned a message (in *message).
std::string CallError(const net::H2Result& r, std::string_view* message) {
  if (r.timed_out) return RpcError(kDeadlineExceeded, "context deadline exceeded");
  switch (r.stage) {
    case net::H2Stage::kDial:
      return RpcError(kUnavailable, "connection error: desc = \"transport: Error while dialing: " +
                                        r.error + "\"");
    case net::H2Stage::kHandshake:
      return RpcError(kUnavailable,
                      "connection error: desc = \"transport: authentication "
                      "handshake failed: " +
                          r.error + "\"");
    case net::H2Stage::kConnection:
      if (!r.got_settings) {
        return RpcError(kUnavailable, "connection error: desc = \"error reading server preface: " +
                                          r.error + "\"");
      }
      return RpcError(kUnavailable, "error reading from server: " + r.error);
    case net::H2Stage::kOk:
      break;
  }
  if (r.status != 200) {
    auto [code, reason] = HttpStatusCode(r.status);
    std::string desc =
        "unexpected HTTP status code received from server: " + std::to_string(r.status);
    if (!reason.empty()) desc += " (" + reason + ")";
    return RpcError(code, desc);
  }
  const std::string* ct = Find(r.headers, "content-type");
  if (ct == nullptr || !StartsWith(*ct, "application/grpc")) {
    return RpcError(kInternal, "transport: received unexpected content-type \"" +
                                   (ct ? *ct : std::string()) + "\"");
  }
  // A trailers-only answer carries its status in the headers.
  const std::string* gs = Find(r.trailers, "grpc-status");
  const net::H2Headers& where = gs ? r.trailers : r.headers;
  if (gs == nullptr) gs = Find(r.headers, "grpc-status");
  if (gs == nullptr) {
    if (r.reset_code != 0) {
      return RpcError(ResetCode(r.reset_code), "stream terminated by RST_STREAM with error code: " +
                                                   net::H2ErrorCodeName(r.reset_code));
    }
    return RpcError(kInternal, "server closed the stream without sending trailers");
  }
  int code = 0;
  bool numeric = !gs->empty() && gs->size() <= 9;
  for (char c : *gs) {
    if (c < '0' || c > '9') numeric = false;
    if (numeric) code = code * 10 + (c - '0');
  }
  if (!numeric) return RpcError(kInternal, "transport: malformed grpc-status: " + *gs);
  if (code != kOk) {
    const std::string* gm = Find(where, "grpc-message");
    return RpcError(code, gm ? DecodeGrpcMessage(*gm) : std::string());
  }
  // One message, uncompressed.
  std::string_view body = r.body;
  if (body.empty()) {
    return RpcError(kInternal,
                    "cardinality violation: received no response message from non-streaming RPC");
  }
  if (body.size() < 5)
    return RpcError(kInternal, "grpc: failed to receive the message: unexpected EOF");
  auto flag = static_cast<uint8_t>(body[0]);
  uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(body[1])) << 24) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(body[2])) << 16) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(body[3])) << 8) |
                 static_cast<uint32_t>(static_cast<uint8_t>(body[4]));
  if (flag == 1) {
    return RpcError(kInternal, "grpc: compressed flag set with identity or empty encoding");
  }
  if (flag != 0) {
    return RpcError(kInternal, "grpc: received unexpected payload format " + std::to_string(flag));
  }
  if (len > kGrpcMaxMessage) {
    return RpcError(kResourceExhausted, "grpc: received message larger than max (" +
                                            std::to_string(len) + " vs. " +
                                            std::to_string(kGrpcMaxMessage) + ")");
  }
  if (body.size() - 5 < len) {
    return RpcError(kInternal, "grpc: failed to receive the message: unexpected EOF");
  }
  if (body.size() - 5 > len || r.body_truncated) {
    return RpcError(kInternal,
                    "cardinality violation: expected <EOF> for non server-streaming "
                    "RPCs, but received another message");
  }
  *message = body.substr(5, len);
  return "";
}

}  // namespace

Result<GrpcTarget> ParseGrpcTarget(std::string_view target) {
  GrpcTarget t;
  size_t slash = target.find('/');
  std::string_view hostport = target.substr(0, slash);
  if (slash != std::string_view::npos) t.service = std::string(target.substr(slash + 1));
  if (!SplitHostPort(hostport, &t.host, &t.port)) {
    return InvalidArgument("invalid GRPC check target \"" + std::string(target) +
                           "\": want \"host:port\" or \"host:port/service\"");
  }
  t.authority = std::string(hostport);
  return t;
}

std::string EncodeHealthCheckRequest(std::string_view service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back(static_cast<char>((1 << 3) | 2));  // field 1, length-delimited
  WriteVarint(service.size(), &out);
  out.append(service);
  return out;
}

Result<int32_t> DecodeHealthCheckResponse(std::string_view m) {
  int32_t status = kGrpcUnknown;
  size_t pos = 0;
  while (pos < m.size()) {
    uint64_t key = 0;
    if (!ReadVarint(m, &pos, &key)) return InvalidArgument(std::string(kInvalidWire));
    uint64_t field = key >> 3;
    uint32_t wire = key & 7;
    if (field == 0 || field > 536870911) return InvalidArgument(std::string(kInvalidWire));
    switch (wire) {
      case 0: {
        uint64_t v = 0;
        if (!ReadVarint(m, &pos, &v)) return InvalidArgument(std::string(kInvalidWire));
        // An enum is an int32 on the wire: the low 32 bits count.
        if (field == 1) status = static_cast<int32_t>(static_cast<uint32_t>(v));
        break;
      }
      case 1:
        if (m.size() - pos < 8) return InvalidArgument(std::string(kInvalidWire));
        pos += 8;
        break;
      case 2: {
        uint64_t len = 0;
        if (!ReadVarint(m, &pos, &len) || len > m.size() - pos) {
          return InvalidArgument(std::string(kInvalidWire));
        }
        pos += static_cast<size_t>(len);
        break;
      }
      case 5:
        if (m.size() - pos < 4) return InvalidArgument(std::string(kInvalidWire));
        pos += 4;
        break;
      default:  // groups (3, 4) and the undefined 6 and 7
        return InvalidArgument(std::string(kInvalidWire));
    }
  }
  return status;
}

std::string GrpcFrame(std::string_view message) {
  std::string out(5, '\0');
  auto n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  out.append(message);
  return out;
}

std::string ServingStatusName(int32_t status) {
  switch (status) {
    case kGrpcUnknown:
      return "UNKNOWN";
    case kGrpcServing:
      return "SERVING";
    case kGrpcNotServing:
      return "NOT_SERVING";
    case kGrpcServiceUnknown:
      return "SERVICE_UNKNOWN";
    default:
      return std::to_string(status);
  }
}

std::string GrpcCodeName(int code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code >= 0 && code < static_cast<int>(sizeof kNames / sizeof kNames[0])) return kNames[code];
  return "Code(" + std::to_string(code) + ")";
}

std::pair<std::string, std::string> GrpcCheckOutcome(const std::string& target,
                                                     const net::H2Result& r) {
  std::string_view message;
  std::string error = CallError(r, &message);
  if (!error.empty()) return {catalog::kCritical, error};
  auto status = DecodeHealthCheckResponse(message);
  if (!status.ok()) {
    return {catalog::kCritical,
            RpcError(kInternal, "grpc: failed to unmarshal the received message: " +
                                    status.status().message())};
  }
  if (*status != kGrpcServing) {
    return {catalog::kCritical,
            "gRPC " + target + " serving status: " + ServingStatusName(*status)};
  }
  return {catalog::kPassing, "gRPC check " + target + ": success"};
}

std::pair<std::string, std::string> H2PingOutcome(const std::string& target,
                                                  const net::H2Result& r) {
  switch (r.stage) {
    case net::H2Stage::kOk:
      if (r.timed_out) return {catalog::kCritical, "HTTP2 ping failed: context deadline exceeded"};
      return {catalog::kPassing, "HTTP2 ping was successful"};
    case net::H2Stage::kDial:
    case net::H2Stage::kHandshake:
      return {catalog::kCritical, "Failed to dial to " + target + ": " + r.error};
    case net::H2Stage::kConnection:
      return {catalog::kCritical, "HTTP2 ping failed: " + r.error};
  }
  return {catalog::kCritical, "HTTP2 ping failed"};
}

}  // namespace gangway::client
