// Fuzz target for what a GRPC check reads from the network: the body of a Health/Check answer
// (the 5-byte gRPC message prefix, then a HealthCheckResponse), both on its own and as the DATA
// of an otherwise well-formed answer. Beyond "no crash": the decoder is total; a check passes only
// on SERVING, and then says so in Consul's words; every output is bounded by the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "catalog/types.h"
#include "client/grpc_health.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gangway::client;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto status = DecodeHealthCheckResponse(in);
  if (status.ok()) {
    (void)ServingStatusName(*status);
  } else if (status.status().message() != "proto: cannot parse invalid wire-format data") {
    std::abort();
  }

  gangway::net::H2Result r;
  r.status = 200;
  r.headers = {{"content-type", "application/grpc"}};
  r.trailers = {{"grpc-status", "0"}};
  r.body = std::string(in);
  const std::string target = "127.0.0.1:9000/web";
  auto [check, output] = GrpcCheckOutcome(target, r);
  if (check == gangway::catalog::kPassing) {
    if (output != "gRPC check " + target + ": success") std::abort();
    // Only one whole, uncompressed message decoding to SERVING passes.
    if (in.size() < 5 || in[0] != 0) std::abort();
    auto s = DecodeHealthCheckResponse(in.substr(5));
    if (!s.ok() || *s != kGrpcServing) std::abort();
  } else if (check != gangway::catalog::kCritical) {
    std::abort();
  }
  if (output.size() > 512) std::abort();

  // The same bytes as a trailers-only answer's grpc-message.
  gangway::net::H2Result t;
  t.status = 200;
  t.headers = {{"content-type", "application/grpc"},
               {"grpc-status", "13"},
               {"grpc-message", std::string(in)}};
  auto [tcheck, toutput] = GrpcCheckOutcome(target, t);
  if (tcheck != gangway::catalog::kCritical || toutput.size() > size + 64) std::abort();
  return 0;
}
