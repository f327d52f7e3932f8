// The gangway-mux/1 frame codec (docs/mux.md).
#include "proxy/mux.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace gangway::proxy::mux {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(MuxFrames, RoundTripEveryType) {
  std::string out;
  AppendFrame(out, FrameType::kOpen, 1);
  AppendFrame(out, FrameType::kData, 1, "hello");
  AppendWindow(out, 1, 131072);
  AppendFrame(out, FrameType::kFin, 1);
  AppendFrame(out, FrameType::kReset, 3, "connect_failed");
  AppendFrame(out, FrameType::kGoAway, 0, "draining");
  std::vector<uint8_t> in = Bytes(out);
  std::vector<Frame> frames;
  std::vector<std::string> payloads;
  size_t off = 0;
  while (off < in.size()) {
    DecodeResult r = Decode(std::span<const uint8_t>(in).subspan(off));
    ASSERT_EQ(r.kind, DecodeResult::Kind::kFrame) << r.error;
    frames.push_back(r.frame);
    payloads.emplace_back(r.frame.payload);
    off += r.consumed;
  }
  ASSERT_EQ(frames.size(), 6u);
  EXPECT_EQ(frames[0].type, FrameType::kOpen);
  EXPECT_EQ(frames[1].type, FrameType::kData);
  EXPECT_EQ(payloads[1], "hello");
  EXPECT_EQ(frames[2].type, FrameType::kWindow);
  EXPECT_EQ(frames[2].window_increment, 131072u);
  EXPECT_EQ(frames[3].type, FrameType::kFin);
  EXPECT_EQ(frames[4].stream, 3u);
  EXPECT_EQ(payloads[4], "connect_failed");
  EXPECT_EQ(frames[5].type, FrameType::kGoAway);
  EXPECT_EQ(frames[5].stream, 0u);
  EXPECT_EQ(payloads[5], "draining");
}

TEST(MuxFrames, HeaderIsBigEndianTypeFlagsLengthStream) {
  std::string out;
  AppendFrame(out, FrameType::kData, 0x01020304, "xyz");
  EXPECT_EQ(out, std::string("\x00\x00\x00\x03\x01\x02\x03\x04xyz", 11));
}

TEST(MuxFrames, PartialInputNeedsMore) {
  std::string out;
  AppendFrame(out, FrameType::kData, 5, std::string(100, 'a'));
  std::vector<uint8_t> in = Bytes(out);
  for (size_t n : {0u, 1u, 7u, 8u, 107u}) {
    EXPECT_EQ(Decode(std::span<const uint8_t>(in).first(n)).kind, DecodeResult::Kind::kNeedMore)
        << n;
  }
  EXPECT_EQ(Decode(in).kind, DecodeResult::Kind::kFrame);
}

TEST(MuxFrames, BrokenFramesAreErrorsThatSayWhy) {
  auto error = [](std::string bytes) {
    std::vector<uint8_t> in = Bytes(bytes);
    DecodeResult r = Decode(in);
    return r.kind == DecodeResult::Kind::kError ? r.error : std::string("no error");
  };
  EXPECT_EQ(error(std::string("\x09\x00\x00\x00\x00\x00\x00\x01", 8)), "unknown frame type 9");
  EXPECT_EQ(error(std::string("\x00\x00\x40\x00\x00\x00\x00\x01", 8)),
            "DATA frame of 16384 bytes, over the limit of 16376");
  EXPECT_EQ(error(std::string("\x00\x00\x00\x01\x00\x00\x00\x00", 8)),
            "DATA frame with stream ID 0");
  EXPECT_EQ(error(std::string("\x05\x00\x00\x00\x00\x00\x00\x07", 8)),
            "GOAWAY frame with stream ID 7 (GOAWAY is for stream 0 only)");
  EXPECT_EQ(error(std::string("\x01\x00\x00\x02\x00\x00\x00\x01" "ab", 10)),
            "OPEN frame with a payload of 2 bytes");
  EXPECT_EQ(error(std::string("\x04\x00\x00\x03\x00\x00\x00\x01" "abc", 11)),
            "WINDOW frame with a payload of 3 bytes, not 4");
  EXPECT_EQ(error(std::string("\x04\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00", 12)),
            "WINDOW frame with an increment of 0");
}

// The outgoing queue: frames appended as to a string, a read's worth grown and cut back to what
// the read brought, the bytes kept across growth, and swapped with the writer's buffer.
TEST(MuxFrames, QueueGrowsKeepsAndTruncates) {
  mux::Bytes q;
  EXPECT_TRUE(q.empty());
  AppendFrame(q, FrameType::kOpen, 1);
  std::string expected;
  AppendFrame(expected, FrameType::kOpen, 1);
  char* at = q.Grow(kHeaderSize + 3 * kMaxPayload);
  PutHeader(at, FrameType::kData, 1, 5);
  std::memcpy(at + kHeaderSize, "hello", 5);
  q.Truncate(q.size() - (3 * kMaxPayload - 5));
  AppendFrame(expected, FrameType::kData, 1, "hello");
  AppendWindow(q, 1, 131072);
  AppendWindow(expected, 1, 131072);
  ASSERT_EQ(q.size(), expected.size());
  EXPECT_EQ(std::string(q.data(), q.size()), expected);
  EXPECT_GE(q.capacity(), kHeaderSize + 3 * kMaxPayload);

  mux::Bytes other;
  other.swap(q);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(std::string(other.data(), other.size()), expected);
  other.clear();
  EXPECT_TRUE(other.empty());
  q.Truncate(10);  // never grows
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace gangway::proxy::mux
