#include "client/user_events.h"

#include <gtest/gtest.h>

#include <string>

namespace gangway::client {
namespace {

const char kId[] = "0f8d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

UserEvent Sample() {
  UserEvent e;
  e.id = kId;
  e.name = "deploy";
  e.payload = "hello";
  e.node_filter = "web-.*";
  e.service_filter = "api";
  e.tag_filter = "v1";
  return e;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST(UserEventCodecTest, EncodesConsulFieldsInOrderAndOmitsEmptyOnes) {
  UserEvent e;
  e.id = kId;
  e.name = "x";
  // {"ID": <36 bytes>, "n": "x", "v": 1}; above 31 bytes the old spec uses str16 (da).
  std::string want = Bytes({0x83, 0xa2, 'I', 'D', 0xda, 0x00, 0x24}) + kId +
                     Bytes({0xa1, 'n', 0xa1, 'x', 0xa1, 'v', 0x01});
  EXPECT_EQ(EncodeUserEvent(e), want);

  // An empty payload is omitted, like Go's omitempty on a []byte.
  e.payload = "";
  EXPECT_EQ(EncodeUserEvent(e), want);
}

TEST(UserEventCodecTest, RoundTripsEveryField) {
  UserEvent e = Sample();
  auto back = DecodeUserEvent(EncodeUserEvent(e));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, e);

  e.payload.reset();
  e.node_filter.clear();
  e.tag_filter.clear();
  back = DecodeUserEvent(EncodeUserEvent(e));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(back->payload.has_value());
}

TEST(UserEventCodecTest, DecodesConsulsNewSpecEncoding) {
  // Consul's codec (WriteExt) writes str8 (d9) for 32..255-byte strings and bin8 (c4) for
  // []byte, puts keys in struct order and may add fields we do not know.
  std::string bytes = Bytes({0x85, 0xa2, 'I', 'D', 0xd9, 0x24}) + kId +
                      Bytes({0xa1, 'n', 0xa6, 'd', 'e', 'p', 'l', 'o', 'y',  //
                             0xa1, 'p', 0xc4, 0x02, 'h', 'i',                //
                             0xa5, 'e', 'x', 't', 'r', 'a', 0x92, 0x01, 0xc0,  //
                             0xa1, 'v', 0x02});
  auto e = DecodeUserEvent(bytes);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->id, kId);
  EXPECT_EQ(e->name, "deploy");
  EXPECT_EQ(e->payload, std::optional<std::string>("hi"));
  EXPECT_EQ(e->version, 2);
  EXPECT_EQ(e->ltime, 0u);
}

TEST(UserEventCodecTest, RejectsMalformedInput) {
  const std::string good = EncodeUserEvent(Sample());
  struct Case {
    std::string bytes;
    std::string message;
  };
  UserEvent no_uuid = Sample();
  no_uuid.id = "not-a-uuid";
  UserEvent no_name = Sample();
  no_name.name.clear();
  const Case cases[] = {
      {"", "user event:"},
      {good.substr(0, good.size() - 1), "user event:"},
      {good + "x", "1 trailing bytes"},
      {Bytes({0x93, 0x01, 0x02, 0x03}), "user event:"},
      {Bytes({0x81, 0xa1, 'n', 0x05}), "user event:"},  // name is not a string
      {EncodeUserEvent(no_uuid), "is not a UUID"},
      {EncodeUserEvent(no_name), "missing name"},
      {Bytes({0xc0}), "missing name"},
      // A map header claiming more entries than there are bytes.
      {Bytes({0xdf, 0xff, 0xff, 0xff, 0xff}), "user event:"},
  };
  for (const auto& c : cases) {
    auto r = DecodeUserEvent(c.bytes);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message();
  }
}

TEST(UserEventTest, ValidateUsesConsulsMessages) {
  UserEvent e = Sample();
  EXPECT_TRUE(ValidateUserEvent(e).ok());
  e.name.clear();
  EXPECT_EQ(ValidateUserEvent(e).message(), "User event missing name");
  e = Sample();
  e.service_filter.clear();
  EXPECT_EQ(ValidateUserEvent(e).message(), "Cannot provide tag filter without service filter");
  e = Sample();
  e.node_filter = "web[";
  EXPECT_EQ(ValidateUserEvent(e).message().find("Invalid node filter: error parsing regexp"), 0u);
  e = Sample();
  e.service_filter = "(";
  EXPECT_EQ(ValidateUserEvent(e).message().find("Invalid service filter:"), 0u);
  // Go's regexp wording, as Consul's "Invalid node filter: %v".
  e = Sample();
  e.tag_filter = "a**";
  EXPECT_EQ(ValidateUserEvent(e).message(),
            "Invalid tag filter: error parsing regexp: invalid nested repetition operator: `**`");
  // No length limit beyond the event's own, as in Consul: matching is linear in any case.
  e = Sample();
  e.node_filter = "^(" + std::string(500, 'a') + "|web-[0-9]+)$";
  EXPECT_TRUE(ValidateUserEvent(e).ok()) << ValidateUserEvent(e).message();
}

TEST(UserEventTest, UuidToUint64MatchesConsul) {
  // lower = 0f8d1a2b3c4d4e5f, upper = 8a9b0c1d2e3f4a5b.
  EXPECT_EQ(UuidToUint64(kId), std::optional<uint64_t>(0x0f8d1a2b3c4d4e5fULL ^ 0x8a9b0c1d2e3f4a5bULL));
  EXPECT_EQ(UuidToUint64("00000000-0000-0000-0000-000000000000"), std::optional<uint64_t>(0));
  EXPECT_EQ(UuidToUint64("0F8D1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B"), UuidToUint64(kId));
  EXPECT_FALSE(UuidToUint64(""));
  EXPECT_FALSE(UuidToUint64("0f8d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5"));
  EXPECT_FALSE(UuidToUint64("0f8d1a2b+3c4d-4e5f-8a9b-0c1d2e3f4a5b"));
  EXPECT_FALSE(UuidToUint64("0f8d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5g"));
}

TEST(UserEventFilterTest, NodeServiceAndTagFilters) {
  const std::vector<FilterService> services = {{"api", {"v1", "primary"}}, {"db-1", {}}};
  UserEvent e;
  e.id = kId;
  e.name = "deploy";
  EXPECT_TRUE(MatchesFilters(e, "web-1", services));

  e.node_filter = "^web-";
  EXPECT_TRUE(MatchesFilters(e, "web-1", services));
  EXPECT_FALSE(MatchesFilters(e, "db-1", services));
  e.node_filter = "eb";  // unanchored, as Go's MatchString
  EXPECT_TRUE(MatchesFilters(e, "web-1", services));

  e.node_filter.clear();
  e.service_filter = "^db";
  EXPECT_TRUE(MatchesFilters(e, "n", services));
  EXPECT_FALSE(MatchesFilters(e, "n", {}));
  e.service_filter = "cache";
  EXPECT_FALSE(MatchesFilters(e, "n", services));

  e.service_filter = "api";
  e.tag_filter = "^prim";
  EXPECT_TRUE(MatchesFilters(e, "n", services));
  e.tag_filter = "v2";
  EXPECT_FALSE(MatchesFilters(e, "n", services));
  // The tag must belong to a service that matched: db-1 has no tags.
  e.service_filter = "db";
  e.tag_filter = "v1";
  EXPECT_FALSE(MatchesFilters(e, "n", services));

  // Filters from the network that do not compile match nothing (and do not throw).
  e = UserEvent{};
  e.name = "x";
  e.node_filter = "(";
  EXPECT_FALSE(MatchesFilters(e, "n", services));
  e.node_filter.clear();
  e.service_filter = "[";
  EXPECT_FALSE(MatchesFilters(e, "n", services));
}

// Regression: the fuzzer's event with node filter ".*+*'*]" made std::regex backtrack without
// end on the node name, so any LAN peer could pin an agent's CPU. Filters are RE2 now: that
// pattern is refused as Go refuses it, and valid patterns that backtrack exponentially in a
// backtracking engine run in linear time on long names.
TEST(UserEventFilterTest, RegexHangFromFuzzedNodeFilter) {
  const std::vector<FilterService> services = {{"web", {"v1"}}};
  UserEvent e = Sample();
  e.node_filter = ".*+*'*]";
  EXPECT_FALSE(MatchesFilters(e, "node-1", services));
  EXPECT_EQ(ValidateUserEvent(e).message().find(
                "Invalid node filter: error parsing regexp: invalid nested repetition operator"),
            0u)
      << ValidateUserEvent(e).message();

  const std::string long_name(100000, 'a');
  e.service_filter.clear();
  e.tag_filter.clear();
  for (const char* filter : {"(a*)*b", "(a|aa)*c", "^(a+)+$x"}) {
    e.node_filter = filter;
    EXPECT_FALSE(MatchesFilters(e, long_name, services)) << filter;
  }
  e.node_filter = "(a|aa)*$";
  EXPECT_TRUE(MatchesFilters(e, long_name, services));
  e.node_filter.clear();
  e.service_filter = "(w*)*x";
  EXPECT_FALSE(MatchesFilters(e, "n", {{std::string(100000, 'w'), {}}}));
}

TEST(UserEventBufferTest, KeepsOnlyConsulEventsThatPassFilters) {
  std::vector<FilterService> services = {{"web", {"v1"}}};
  UserEventBuffer buf("node-a", [&] { return services; });
  UserEvent e = Sample();
  e.node_filter.clear();
  e.service_filter = "web";
  e.tag_filter.clear();
  const std::string payload = EncodeUserEvent(e);

  EXPECT_FALSE(buf.HandleSerfEvent("deploy", payload, 3));  // not a consul event
  EXPECT_FALSE(buf.HandleSerfEvent("consul:event:deploy", std::string("junk"), 3));
  EXPECT_FALSE(buf.HandleSerfEvent("consul:event:deploy", std::nullopt, 3));
  EXPECT_TRUE(buf.Events().empty());

  ASSERT_TRUE(buf.HandleSerfEvent("consul:event:deploy", payload, 7));
  ASSERT_EQ(buf.Events().size(), 1u);
  EXPECT_EQ(buf.Events()[0].ltime, 7u);
  EXPECT_EQ(buf.Events()[0].payload, std::optional<std::string>("hello"));

  services.clear();  // the service went away: the next event no longer matches
  EXPECT_FALSE(buf.HandleSerfEvent("consul:event:deploy", payload, 8));
  EXPECT_EQ(buf.Events().size(), 1u);

  UserEvent rexec = Sample();
  rexec.name = std::string(kRemoteExecName);
  rexec.node_filter.clear();
  rexec.service_filter.clear();
  rexec.tag_filter.clear();
  EXPECT_FALSE(buf.HandleSerfEvent("consul:event:_rexec", EncodeUserEvent(rexec), 9));
  EXPECT_EQ(buf.Events().size(), 1u);
}

TEST(UserEventBufferTest, RingKeepsTheLast256OldestFirst) {
  UserEventBuffer buf("n", nullptr);
  for (uint64_t i = 1; i <= 300; ++i) {
    UserEvent e;
    e.id = kId;
    e.name = "e" + std::to_string(i);
    e.ltime = i;
    buf.Add(e);
    auto events = buf.Events();
    ASSERT_EQ(events.size(), std::min<size_t>(i, kUserEventBufferSize));
    EXPECT_EQ(events.back().ltime, i);
    EXPECT_EQ(events.front().ltime, i <= kUserEventBufferSize ? 1 : i - kUserEventBufferSize + 1);
  }
}

TEST(UserEventBufferTest, WatchesFireOnceOnTheNextEvent) {
  UserEventBuffer buf("n", nullptr);
  int fired = 0, cancelled = 0;
  buf.Watch([&] { ++fired; });
  uint64_t id = buf.Watch([&] { ++cancelled; });
  buf.Unwatch(id);
  buf.Unwatch(12345);  // unknown: no-op
  EXPECT_EQ(buf.WatchCount(), 1u);
  // A watch may re-arm from inside its callback.
  buf.Watch([&] { buf.Watch([&] { ++fired; }); });
  buf.Add(Sample());
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(buf.WatchCount(), 1u);
  buf.Add(Sample());
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(cancelled, 0);
  EXPECT_EQ(buf.WatchCount(), 0u);
}

}  // namespace
}  // namespace gangway::client
