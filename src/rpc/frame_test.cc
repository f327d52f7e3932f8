#include "rpc/frame.h"

#include <gtest/gtest.h>

namespace gangway::rpc {
namespace {

TEST(FrameTest, EveryKindRoundTrips) {
  std::vector<Frame> frames = {
      {FrameKind::kRequest, 1, "HTTP", Code::kOk, std::string("body\0bytes", 10)},
      {FrameKind::kResponse, 0xfffffffffffffffeULL, "", Code::kOk, ""},
      {FrameKind::kError, 7, "", Code::kNoLeader, "No cluster leader"},
      {FrameKind::kError, 8, "", Code::kRateLimited, "Rate limit reached, try again later"},
      {FrameKind::kError, 10, "", Code::kPeerUnreachable, "rpc: dial 127.0.0.1:8300: refused"},
      {FrameKind::kCancel, 9, "", Code::kOk, ""},
  };
  std::string stream;
  for (const auto& f : frames) stream += EncodeFrame(f);
  // Fed one byte at a time, the decoder yields exactly the frames, in order.
  FrameDecoder d;
  std::vector<Frame> got;
  for (char c : stream) {
    d.Feed(std::string_view(&c, 1));
    while (true) {
      auto n = d.Next();
      ASSERT_TRUE(n.ok()) << n.status().message();
      if (!*n) break;
      got.push_back(**n);
    }
  }
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(got[i].kind, frames[i].kind);
    EXPECT_EQ(got[i].seq, frames[i].seq);
    EXPECT_EQ(got[i].method, frames[i].method);
    EXPECT_EQ(got[i].code, frames[i].code);
    EXPECT_EQ(got[i].body, frames[i].body);
  }
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameTest, LayoutIsAsDocumented) {
  std::string b = EncodeFrame({FrameKind::kRequest, 0x0102, "AB", Code::kOk, "x"});
  EXPECT_EQ(b, std::string("\x00\x00\x00\x0d\x00\x00\x00\x00\x00\x00\x00\x01\x02\x02" "ABx", 17));
}

Status DecodeError(std::string bytes) {
  FrameDecoder d;
  d.Feed(bytes);
  auto n = d.Next();
  if (n.ok()) return Status::Ok();
  // The decoder stays failed.
  EXPECT_FALSE(d.Next().ok());
  return n.status();
}

TEST(FrameTest, MalformedFramesAreNamed) {
  using namespace std::string_literals;
  EXPECT_EQ(DecodeError("\x00\x00\x00\x05zzzzz"s).message(), "rpc: frame length 5 is below the 9-byte minimum");
  EXPECT_EQ(DecodeError("\x7f\xff\xff\xff"s).message(),
            "rpc: frame length 2147483647 exceeds the limit of 67108864");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x09\x09\x00\x00\x00\x00\x00\x00\x00\x01"s).message(),
            "rpc: unknown frame kind 9");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"s).message(),
            "rpc: request frame without a method");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"s).message(),
            "rpc: request frame with an empty method");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x01\x05x"s).message(),
            "rpc: method length 5 runs past the request frame");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x0a\x02\x00\x00\x00\x00\x00\x00\x00\x01\x63"s).message(),
            "rpc: error frame with unknown code 99");
  EXPECT_EQ(DecodeError("\x00\x00\x00\x0a\x03\x00\x00\x00\x00\x00\x00\x00\x01z"s).message(),
            "rpc: cancel frame with a payload");
  // Incomplete is not an error.
  EXPECT_TRUE(DecodeError("\x00\x00\x00\x20\x00"s).ok());
}

TEST(FrameTest, ForwardedRequestAndResponseRoundTrip) {
  ForwardedRequest q{"PUT", "/v1/kv/a?dc=dc2", {{"X-Consul-Token", "t"}}, std::string("\xff\x00v", 3), 1};
  auto dq = DecodeForwardedRequest(EncodeForwardedRequest(q));
  ASSERT_TRUE(dq.ok()) << dq.status().message();
  EXPECT_EQ(dq->method, "PUT");
  EXPECT_EQ(dq->target, q.target);
  EXPECT_EQ(dq->headers, q.headers);
  EXPECT_EQ(dq->body, q.body);
  EXPECT_EQ(dq->hops, 1);

  ForwardedResponse r{404, {{"X-Consul-Index", "7"}, {"X-Consul-Index", "8"}}, "missing"};
  auto dr = DecodeForwardedResponse(EncodeForwardedResponse(r));
  ASSERT_TRUE(dr.ok()) << dr.status().message();
  EXPECT_EQ(dr->status, 404);
  EXPECT_EQ(dr->headers, r.headers);
  EXPECT_EQ(dr->body, "missing");
}

TEST(FrameTest, BadForwardedBodiesAreRefused) {
  EXPECT_EQ(DecodeForwardedRequest("").status().message().substr(0, 18), "forwarded request:");
  EXPECT_EQ(DecodeForwardedRequest("\x90").status().message(), "forwarded request: expected a map");
  ForwardedRequest q{"GET", "v1/no-slash", {}, "", 0};
  EXPECT_EQ(DecodeForwardedRequest(EncodeForwardedRequest(q)).status().message(),
            "forwarded request: Target must start with '/'");
  std::string ok = EncodeForwardedRequest({"GET", "/", {}, "", 0});
  EXPECT_EQ(DecodeForwardedRequest(ok + "x").status().message(), "forwarded request: 1 trailing bytes");
  ForwardedResponse r{200, {}, ""};
  std::string enc = EncodeForwardedResponse(r);
  enc[8] = 0x7f;  // Status 200 -> a fixint outside 100..599? (cc c8 -> the byte after the key)
  EXPECT_FALSE(DecodeForwardedResponse(std::string("\x81\xa6Status\x05", 9)).ok());
}

// Callers retry by code, whatever the text says: a remote server's "No cluster leader" arrives
// with its code in the error frame.
TEST(FrameTest, RetryableByCodeNotText) {
  EXPECT_TRUE(Retryable(NoLeader()));
  EXPECT_TRUE(Retryable(PeerUnreachable("rpc: connection to 10.0.0.1:8300 closed: EOF")));
  EXPECT_FALSE(Retryable(Unavailable("No cluster leader")));
  EXPECT_FALSE(Retryable(RateLimited("Rate limit reached, try again later")));
  EXPECT_FALSE(Retryable(InvalidArgument("rpc: dial is not a method")));
}

}  // namespace
}  // namespace gangway::rpc
