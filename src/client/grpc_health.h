// The gRPC health checking protocol (grpc.health.v1.Health/Check) as the GRPC check speaks it,
// and how GRPC and H2PING check results read, in Consul's words. Pure functions, no I/O: the
// bytes travel through net::H2Client. The protobuf messages are tiny and coded here by hand:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING,
//                                                      3 SERVICE_UNKNOWN)
// Decoders are bounded and total on any input (fuzz/grpc_health_fuzz.cc). Any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"
#include "net/h2_client.h"

namespace gangway::client {

inline constexpr std::string_view kGrpcHealthCheckPath = "/grpc.health.v1.Health/Check";
// grpc-go's default limit on a received message.
inline constexpr size_t kGrpcMaxMessage = 4 * 1024 * 1024;

enum GrpcServingStatus : int32_t {
  kGrpcUnknown = 0,
  kGrpcServing = 1,
  kGrpcNotServing = 2,
  kGrpcServiceUnknown = 3,
};

// A GRPC check's target, "host:port" or "host:port/service" (Consul splits at the first '/').
struct GrpcTarget {
  std::string host;  // without IPv6 brackets
  int port = 0;
  std::string authority;  // host:port as written
  std::string service;
};
Result<GrpcTarget> ParseGrpcTarget(std::string_view target);

// HealthCheckRequest with `service` (an empty service is omitted, as proto3 does).
std::string EncodeHealthCheckRequest(std::string_view service);
// The status of a HealthCheckResponse (the last one wins; unknown fields are skipped). Values
// outside the enum are kept as numbers. Errors in protobuf-go's words.
Result<int32_t> DecodeHealthCheckResponse(std::string_view message);

// gRPC's length-prefixed message: flag 0 (not compressed), u32 big-endian length, the bytes.
std::string GrpcFrame(std::string_view message);

// "SERVING", "NOT_SERVING", ...; other values as their number, as Go prints an unknown enum.
std::string ServingStatusName(int32_t status);
// grpc-go's code names ("Unavailable", "DeadlineExceeded", "Code(42)").
std::string GrpcCodeName(int code);

// The check result for a Health/Check answer (or failure): {status, output} with Consul's
// outputs: "gRPC check <target>: success", "gRPC <target> serving status: NOT_SERVING", or
// grpc-go's error text ("rpc error: code = Unavailable desc = ...").
std::pair<std::string, std::string> GrpcCheckOutcome(const std::string& target,
                                                     const net::H2Result& r);

// The check result for an H2PING: "HTTP2 ping was successful", or Consul's failure texts
// ("Failed to dial to <target>: <err>", "HTTP2 ping failed: <err>").
std::pair<std::string, std::string> H2PingOutcome(const std::string& target,
                                                  const net::H2Result& r);

}  // namespace gangway::client
