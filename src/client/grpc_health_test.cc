// The gRPC health codec (protobuf by hand, the 5-byte message prefix) and the outputs of GRPC and
// H2PING checks for each way a call can end, against Consul's and grpc-go's texts.
#include "client/grpc_health.h"

#include <gtest/gtest.h>

#include <string>

#include "catalog/types.h"

namespace gangway::client {
namespace {

using namespace std::string_literals;

net::H2Result Answer(std::string body, net::H2Headers trailers = {{"grpc-status", "0"}}) {
  net::H2Result r;
  r.status = 200;
  r.headers = {{"content-type", "application/grpc"}};
  r.trailers = std::move(trailers);
  r.body = std::move(body);
  return r;
}

std::string Serving(int status) {
  std::string m = "\x08"s;
  m.push_back(static_cast<char>(status));
  return GrpcFrame(m);
}

TEST(GrpcCodecTest, RequestEncoding) {
  EXPECT_EQ(EncodeHealthCheckRequest(""), "");  // proto3 leaves the empty string out
  EXPECT_EQ(EncodeHealthCheckRequest("web"), "\x0a\x03web"s);
  std::string long_name(300, 'a');
  EXPECT_EQ(EncodeHealthCheckRequest(long_name), "\x0a\xac\x02"s + long_name);  // 300 = ac 02
}

TEST(GrpcCodecTest, Framing) {
  EXPECT_EQ(GrpcFrame(""), "\0\0\0\0\0"s);
  EXPECT_EQ(GrpcFrame("\x0a\x03web"s), "\0\0\0\0\x05\x0a\x03web"s);
  EXPECT_EQ(GrpcFrame(std::string(0x010203, 'x')).substr(0, 5), "\0\x00\x01\x02\x03"s);
}

TEST(GrpcCodecTest, ResponseDecoding) {
  EXPECT_EQ(*DecodeHealthCheckResponse(""), kGrpcUnknown);  // every field at its default
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\x01"), kGrpcServing);
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\x02"), kGrpcNotServing);
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\x03"), kGrpcServiceUnknown);
  // Unknown fields of every wire type are skipped; the last status wins.
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\x02\x12\x02hi\x19\x01\x02\x03\x04\x05\x06\x07\x08"
                                       "\x25\x01\x02\x03\x04\x08\x01"s),
            kGrpcServing);
  // A status outside the enum is kept; an int32 sign-extended to ten bytes reads as -1.
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\x2a"), 42);
  EXPECT_EQ(*DecodeHealthCheckResponse("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), -1);
  // A status with the wrong wire type is an unknown field, as in protobuf-go.
  EXPECT_EQ(*DecodeHealthCheckResponse("\x0a\x01\x01"), kGrpcUnknown);
}

TEST(GrpcCodecTest, MalformedResponsesAreErrors) {
  for (std::string bad : {"\x08"s, "\x08\x80"s, "\x0a\x05xx"s, "\x00\x01"s, "\x0b"s, "\x0c"s,
                          "\x0e\x01"s, "\x09\x01\x02"s, "\x0d\x01"s,
                          "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"s,  // over 64 bits
                          "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s,
                          "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"s}) {
    auto r = DecodeHealthCheckResponse(bad);
    ASSERT_FALSE(r.ok()) << testing::PrintToString(bad);
    EXPECT_EQ(r.status().message(), "proto: cannot parse invalid wire-format data");
  }
}

TEST(GrpcCodecTest, Targets) {
  auto t = ParseGrpcTarget("127.0.0.1:9000/web/v1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 9000);
  EXPECT_EQ(t->authority, "127.0.0.1:9000");
  EXPECT_EQ(t->service, "web/v1");  // split at the first '/', as Consul does
  t = ParseGrpcTarget("[::1]:9000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->service, "");
  EXPECT_EQ(ParseGrpcTarget("localhost/web").status().message(),
            "invalid GRPC check target \"localhost/web\": want \"host:port\" or "
            "\"host:port/service\"");
}

TEST(GrpcCodecTest, Names) {
  EXPECT_EQ(ServingStatusName(1), "SERVING");
  EXPECT_EQ(ServingStatusName(2), "NOT_SERVING");
  EXPECT_EQ(ServingStatusName(3), "SERVICE_UNKNOWN");
  EXPECT_EQ(ServingStatusName(0), "UNKNOWN");
  EXPECT_EQ(ServingStatusName(7), "7");
  EXPECT_EQ(GrpcCodeName(14), "Unavailable");
  EXPECT_EQ(GrpcCodeName(16), "Unauthenticated");
  EXPECT_EQ(GrpcCodeName(17), "Code(17)");
}

TEST(GrpcOutcomeTest, ServingPassesOtherwiseCritical) {
  const std::string t = "127.0.0.1:9000/web";
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(1))),
            std::make_pair(std::string(catalog::kPassing), "gRPC check " + t + ": success"));
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(2))),
            std::make_pair(std::string(catalog::kCritical),
                           "gRPC " + t + " serving status: NOT_SERVING"));
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(3))).second,
            "gRPC " + t + " serving status: SERVICE_UNKNOWN");
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(GrpcFrame(""))).second,
            "gRPC " + t + " serving status: UNKNOWN");
}

TEST(GrpcOutcomeTest, GrpcStatusAndTransportErrors) {
  const std::string t = "127.0.0.1:9000";
  // Trailers-only: the status in the headers, the message percent-encoded.
  net::H2Result r = Answer("", {});
  r.headers.emplace_back("grpc-status", "5");
  r.headers.emplace_back("grpc-message", "unknown%20service");
  EXPECT_EQ(GrpcCheckOutcome(t, r).second, "rpc error: code = NotFound desc = unknown service");
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(1), {{"grpc-status", "12"}})).second,
            "rpc error: code = Unimplemented desc = ");
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(1), {})).second,
            "rpc error: code = Internal desc = server closed the stream without sending trailers");
  EXPECT_EQ(GrpcCheckOutcome(t, Answer(Serving(1), {{"grpc-status", "x"}})).second,
            "rpc error: code = Internal desc = transport: malformed grpc-status: x");

  net::H2Result dial;
  dial.stage = net::H2Stage::kDial;
  dial.error = "dial tcp 127.0.0.1:9000: connect: connection refused";
  EXPECT_EQ(
      GrpcCheckOutcome(t, dial),
      std::make_pair(std::string(catalog::kCritical),
                     std::string("rpc error: code = Unavailable desc = connection error: desc "
                                 "= \"transport: Error while dialing: dial tcp "
                                 "127.0.0.1:9000: connect: connection refused\"")));
  net::H2Result late;
  late.stage = net::H2Stage::kConnection;
  late.timed_out = true;
  EXPECT_EQ(GrpcCheckOutcome(t, late).second,
            "rpc error: code = DeadlineExceeded desc = context deadline exceeded");
  net::H2Result closed;
  closed.stage = net::H2Stage::kConnection;
  closed.error = "EOF";
  EXPECT_EQ(GrpcCheckOutcome(t, closed).second,
            "rpc error: code = Unavailable desc = connection error: desc = \"error reading server "
            "preface: EOF\"");
  closed.got_settings = true;
  EXPECT_EQ(GrpcCheckOutcome(t, closed).second,
            "rpc error: code = Unavailable desc = error reading from server: EOF");
  net::H2Result tls;
  tls.stage = net::H2Stage::kHandshake;
  tls.error = "tls: failed to verify certificate: x509: certificate signed by unknown authority";
  EXPECT_EQ(GrpcCheckOutcome(t, tls).second,
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: "
            "authentication handshake failed: tls: failed to verify certificate: x509: "
            "certificate signed by unknown authority\"");

  net::H2Result http = Answer("<html>");
  http.status = 404;
  http.headers = {{"content-type", "text/html"}};
  EXPECT_EQ(GrpcCheckOutcome(t, http).second,
            "rpc error: code = Unimplemented desc = unexpected HTTP status code received from "
            "server: 404 (Not Found)");
  http.status = 200;
  EXPECT_EQ(GrpcCheckOutcome(t, http).second,
            "rpc error: code = Internal desc = transport: received unexpected content-type "
            "\"text/html\"");
  net::H2Result reset = Answer("", {});
  reset.reset_code = 7;
  EXPECT_EQ(GrpcCheckOutcome(t, reset).second,
            "rpc error: code = Unavailable desc = stream terminated by RST_STREAM with error "
            "code: REFUSED_STREAM");
}

TEST(GrpcOutcomeTest, BadMessagesAreCritical) {
  const std::string t = "h:1";
  auto out = [&](std::string body) { return GrpcCheckOutcome(t, Answer(std::move(body))); };
  EXPECT_EQ(out("").second,
            "rpc error: code = Internal desc = cardinality violation: received no response "
            "message from non-streaming RPC");
  EXPECT_EQ(
      out("\0\0\0"s).second,
      "rpc error: code = Internal desc = grpc: failed to receive the message: unexpected EOF");
  EXPECT_EQ(
      out("\0\0\0\0\x05\x08"s).second,
      "rpc error: code = Internal desc = grpc: failed to receive the message: unexpected EOF");
  EXPECT_EQ(out("\x01\0\0\0\x02\x08\x01"s).second,
            "rpc error: code = Internal desc = grpc: compressed flag set with identity or empty "
            "encoding");
  EXPECT_EQ(out("\x07\0\0\0\x02\x08\x01"s).second,
            "rpc error: code = Internal desc = grpc: received unexpected payload format 7");
  EXPECT_EQ(out("\0\xff\xff\xff\xff"s).second,
            "rpc error: code = ResourceExhausted desc = grpc: received message larger than max "
            "(4294967295 vs. 4194304)");
  EXPECT_EQ(out(Serving(1) + Serving(1)).second,
            "rpc error: code = Internal desc = cardinality violation: expected <EOF> for non "
            "server-streaming RPCs, but received another message");
  EXPECT_EQ(
      out(GrpcFrame("\x08"s)),
      std::make_pair(std::string(catalog::kCritical),
                     std::string("rpc error: code = Internal desc = grpc: failed to unmarshal "
                                 "the received message: proto: cannot parse invalid "
                                 "wire-format data")));
}

TEST(H2PingOutcomeTest, ConsulTexts) {
  const std::string t = "127.0.0.1:8443";
  EXPECT_EQ(
      H2PingOutcome(t, net::H2Result{}),
      std::make_pair(std::string(catalog::kPassing), std::string("HTTP2 ping was successful")));
  net::H2Result dial;
  dial.stage = net::H2Stage::kDial;
  dial.error = "dial tcp 127.0.0.1:8443: connect: connection refused";
  EXPECT_EQ(H2PingOutcome(t, dial), std::make_pair(std::string(catalog::kCritical),
                                                   "Failed to dial to " + t +
                                                       ": dial tcp 127.0.0.1:8443: connect: "
                                                       "connection refused"));
  net::H2Result late;
  late.stage = net::H2Stage::kConnection;
  late.timed_out = true;
  late.error = "context deadline exceeded";
  EXPECT_EQ(H2PingOutcome(t, late).second, "HTTP2 ping failed: context deadline exceeded");
}

}  // namespace
}  // namespace gangway::client
