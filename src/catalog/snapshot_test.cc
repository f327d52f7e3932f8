// The snapshot encoder: MessagePack written straight from the tables must be byte-identical to
// the JSON-tree encoder it replaced (Json::to_msgpack of Store::Impl::SnapshotJson), so that
// snapshots and `snapshot save` archives written before it restore and re-encode unchanged.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <stop_token>

#include "catalog/internal/msgpack_writer.h"
#include "catalog/store.h"

namespace gangway::catalog {
namespace {

using internal::MsgpackWriter;

std::string Nlohmann(const Json& j) {
  std::string out;
  Json::to_msgpack(j, out);
  return out;
}

template <typename F>
std::string Written(F write) {
  std::string out;
  MsgpackWriter w(&out);
  write(w);
  return out;
}

std::vector<size_t> Lengths() { return {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 70000}; }

TEST(MsgpackWriter, NumbersAreEncodedAsNlohmannEncodesThem) {
  std::vector<uint64_t> unsigned_values = {0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
                                           uint64_t(UINT32_MAX) + 1, UINT64_MAX};
  for (uint64_t v : unsigned_values) {
    EXPECT_EQ(Written([&](MsgpackWriter& w) { w.Uint(v); }), Nlohmann(Json(v))) << v;
  }
  std::vector<int64_t> signed_values = {0,       1,         127,       128,        255,
                                        256,     65535,     65536,     INT32_MAX,  INT64_MAX,
                                        -1,      -31,       -32,       -33,        -127,
                                        -128,    -129,      -32767,    -32768,     -32769,
                                        INT32_MIN, int64_t(INT32_MIN) - 1, INT64_MIN};
  for (int64_t v : signed_values) {
    EXPECT_EQ(Written([&](MsgpackWriter& w) { w.Int(v); }), Nlohmann(Json(v))) << v;
  }
  EXPECT_EQ(Written([](MsgpackWriter& w) { w.Bool(true); }), Nlohmann(Json(true)));
  EXPECT_EQ(Written([](MsgpackWriter& w) { w.Bool(false); }), Nlohmann(Json(false)));
  EXPECT_EQ(Written([](MsgpackWriter& w) { w.Nil(); }), Nlohmann(Json(nullptr)));
}

TEST(MsgpackWriter, StringsBinariesAndHeadersAreEncodedAsNlohmannEncodesThem) {
  for (size_t n : Lengths()) {
    std::string s(n, 'x');
    EXPECT_EQ(Written([&](MsgpackWriter& w) { w.Str(s); }), Nlohmann(Json(s))) << n;
    std::vector<uint8_t> bytes(n, 0xAB);
    EXPECT_EQ(Written([&](MsgpackWriter& w) { w.Bin(s); }),
              Written([&](MsgpackWriter& w) { w.Value(Json::binary(std::vector<uint8_t>(n, 'x'))); }))
        << n;
    EXPECT_EQ(Written([&](MsgpackWriter& w) { w.Bin(std::string(bytes.begin(), bytes.end())); }),
              Nlohmann(Json::binary(bytes)))
        << n;

    Json array = Json::array();
    for (size_t i = 0; i < n; ++i) array.push_back(nullptr);
    EXPECT_EQ(Written([&](MsgpackWriter& w) {
                w.Array(n);
                for (size_t i = 0; i < n; ++i) w.Nil();
              }),
              Nlohmann(array))
        << n;

    Json object = Json::object();
    std::map<std::string, int> sorted;
    for (size_t i = 0; i < n; ++i) sorted["k" + std::to_string(i)] = 0;
    for (const auto& [k, v] : sorted) object[k] = v;
    EXPECT_EQ(Written([&](MsgpackWriter& w) {
                w.Map(n);
                for (const auto& [k, v] : sorted) {
                  w.Str(k);
                  w.Int(v);
                }
              }),
              Nlohmann(object))
        << n;
  }
}

// A snapshot document that uses every field of every table, with each optional field both set
// and absent, negative numbers where the types allow them and sizes across every MessagePack
// header width. Restored into a store, it is encoded by both encoders.
Json EveryFieldDocument() {
  Json nodes = Json::array();
  for (int i = 0; i < 20; ++i) {
    Json meta = Json::object();
    for (int m = 0; m < (i == 0 ? 16 : i % 3); ++m) meta["m" + std::to_string(m)] = "v";
    nodes.push_back({{"ID", i == 0 ? "" : "4e3c2a6b-1111-4000-8000-0000000000" + std::to_string(10 + i)},
                     {"Node", "n" + std::to_string(i)},
                     {"Address", "10.0.0." + std::to_string(i)},
                     {"Datacenter", i == 1 ? std::string(40, 'd') : "dc1"},
                     {"TaggedAddresses", i == 2 ? Json{{"lan", "10.0.0.2"}, {"wan", "1.2.3.4"}}
                                                : Json::object()},
                     {"Meta", meta},
                     {"CreateIndex", i + 1},
                     {"ModifyIndex", 300 + i}});
  }
  Json services = Json::array();
  Json full = {{"ID", "web1"},
               {"Service", "web"},
               {"Kind", "connect-proxy"},
               {"Tags", {"a", "b", std::string(300, 't')}},
               {"Address", "10.0.0.1"},
               {"TaggedAddresses",
                {{"lan", {{"Address", "10.0.0.1"}, {"Port", 80}}},
                 {"wan", {{"Address", "1.2.3.4"}, {"Port", -1}}}}},
               {"Meta", {{"version", "1"}}},
               {"Port", 70000},
               {"SocketPath", "/run/web.sock"},
               {"Weights", {{"Passing", 10}, {"Warning", -2}}},
               {"EnableTagOverride", true},
               {"Proxy",
                {{"DestinationServiceName", "web"},
                 {"Config", {{"protocol", "http"}, {"ratio", 0.25}, {"n", -7}}},
                 {"Upstreams", Json::array({{{"DestinationName", "db"}, {"LocalBindPort", 9191}}})}}},
               {"Connect", {{"Native", false}}},
               {"CreateIndex", 21},
               {"ModifyIndex", 22}};
  services.push_back({{"Node", "n1"}, {"Service", full}});
  for (int i = 0; i < 17; ++i) {
    services.push_back({{"Node", "n" + std::to_string(i % 5)},
                        {"Service",
                         {{"ID", "s" + std::to_string(i)},
                          {"Service", i % 2 ? "api" : "db"},
                          {"Tags", Json::array()},
                          {"Address", ""},
                          {"Meta", Json::object()},
                          {"Port", i * 1000},
                          {"Weights", {{"Passing", 1}, {"Warning", 1}}},
                          {"EnableTagOverride", false},
                          {"CreateIndex", 30 + i},
                          {"ModifyIndex", 30 + i}}}});
  }
  Json checks = Json::array();
  checks.push_back({{"Node", "n1"},
                    {"CheckID", "web-http"},
                    {"Name", "HTTP on web"},
                    {"Status", "passing"},
                    {"Notes", "notes"},
                    {"Output", std::string(70000, 'o')},
                    {"ServiceID", "web1"},
                    {"ServiceName", "web"},
                    {"ServiceTags", {"a", "b"}},
                    {"Type", "http"},
                    {"ExposedPort", 21500},
                    {"Definition",
                     {{"HTTP", "http://localhost/health"},
                      {"Header", {{"X-A", {"1", "2"}}, {"Accept", {"json"}}}},
                      {"Method", "POST"},
                      {"Body", "{}"},
                      {"TCP", "localhost:80"},
                      {"TLSSkipVerify", true},
                      {"TLSServerName", "web.local"},
                      {"Interval", 10'000'000'000LL},
                      {"Timeout", -1},
                      {"TTL", 30'000'000'000LL},
                      {"DeregisterCriticalServiceAfter", 60'000'000'000LL}}},
                    {"CreateIndex", 40},
                    {"ModifyIndex", 41}});
  for (int i = 0; i < 3; ++i) {
    checks.push_back({{"Node", "n" + std::to_string(i)},
                      {"CheckID", "serfHealth"},
                      {"Name", "Serf Health Status"},
                      {"Status", "critical"},
                      {"Notes", ""},
                      {"Output", ""},
                      {"ServiceID", ""},
                      {"ServiceName", ""},
                      {"ServiceTags", Json::array()},
                      {"Type", "serf"},
                      {"ExposedPort", 0},
                      {"Definition", i == 2 ? Json{{"Interval", 1}} : Json::object()},
                      {"CreateIndex", 42 + i},
                      {"ModifyIndex", 42 + i}});
  }
  Json kvs = Json::array();
  size_t k = 0;
  for (size_t n : Lengths()) {
    Json e = {{"Key", "kv/" + std::to_string(k++) + std::string(n, 'k')},
              {"Flags", uint64_t(n) << 40},
              {"LockIndex", n},
              {"CreateIndex", 50},
              {"ModifyIndex", 60}};
    if (n > 0) e["Value"] = Json::binary(std::vector<uint8_t>(n, uint8_t(n)));
    if (n % 2 == 1) e["Session"] = "3f1b2c4d-0000-4000-8000-00000000000" + std::to_string(n % 10);
    kvs.push_back(std::move(e));
  }
  Json tombstones = Json::object();
  for (int i = 0; i < 17; ++i) tombstones["gone/" + std::to_string(i)] = 70 + i;
  Json sessions = Json::array();
  for (int i = 0; i < 10; ++i) {
    Json sess = {{"ID", "3f1b2c4d-0000-4000-8000-00000000000" + std::to_string(i)},
                 {"Name", i == 0 ? std::string(200, 'x') : ""},
                 {"Node", "n" + std::to_string(i % 3)},
                 {"LockDelay", i * 1'000'000'000LL},
                 {"Behavior", i % 2 ? "release" : "delete"},
                 {"TTL", i % 3 ? "" : "15s"},
                 {"NodeChecks", i == 1 ? Json(nullptr) : Json::array({"serfHealth"})},
                 {"ServiceChecks", nullptr},
                 {"CreateIndex", 100 + i},
                 {"ModifyIndex", 100 + i}};
    if (i == 1) sess["ServiceChecks"] = Json::array({{{"ID", "web-http"}, {"Namespace", ""}}});
    if (i == 2) sess["Checks"] = {"legacy"};
    sessions.push_back(std::move(sess));
  }
  return {
      {"LastIndex", 400},
      {"Indexes",
       {{"nodes", 319}, {"services", 46}, {"checks", 44}, {"kvs", 86}, {"service_extinction", 33}}},
      {"Nodes", nodes},
      {"Services", services},
      {"Checks", checks},
      {"KVs", kvs},
      {"Tombstones", tombstones},
      {"ServiceIndexes", {{"web", 22}, {"api", 46}, {"db", 45}}},
      {"ConnectIndexes", {{"web", 22}}},
      {"ConnectCA",
       {{"Config", {{"Provider", "consul"}, {"CreateIndex", 90}, {"ModifyIndex", 91}}},
        {"Roots", {{"TrustDomain", "td.consul"}, {"Roots", Json::array({{{"ID", "r1"}}})}}},
        {"ConfigIndex", 91},
        {"RootsIndex", 92}}},
      {"ConfigEntries",
       {{"Entries", Json::array({{{"Kind", "proxy-defaults"},
                                  {"Name", "global"},
                                  {"Entry",
                                   {{"Kind", "proxy-defaults"},
                                    {"Name", "global"},
                                    {"Config", {{"protocol", "http"}}},
                                    {"CreateIndex", 93},
                                    {"ModifyIndex", 95}}}},
                                 {{"Kind", "service-defaults"},
                                  {"Name", "web"},
                                  {"Entry",
                                   {{"Kind", "service-defaults"},
                                    {"Name", "web"},
                                    {"Protocol", "http"},
                                    {"CreateIndex", 94},
                                    {"ModifyIndex", 94}}}}})},
        {"Index", 96}}},
      {"Sessions", {{"Entries", sessions}, {"Index", 110}}},
      {"Coordinates",
       {{"Entries",
         Json::array({{{"Node", "n0"},
                       {"Segment", ""},
                       {"Coord",
                        {{"Vec", {1.5e-5, -2.25e-4, 0.0, 3.0, 1e-300, -0.1, 7.0, 0.5}},
                         {"Error", 0.734},
                         {"Adjustment", -1.2e-5},
                         {"Height", 1e-5}}}},
                      {{"Node", "n1"},
                       {"Segment", "alpha"},
                       {"Coord", {{"Vec", Json::array()}, {"Error", 1.5}, {"Adjustment", 0.0},
                                  {"Height", 0.25}}}}})},
        {"Index", 120}}}};
}

// Compares snapshot bytes without printing megabytes when they differ.
::testing::AssertionResult SameBytes(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure()
         << "sizes " << got.size() << " and " << want.size() << ", first difference at byte " << i;
}

std::string Encoded(const Json& document) {
  std::string bytes(1, '\x01');
  Json::to_msgpack(document, bytes);
  return bytes;
}

void ExpectBothEncodersAgree(const Store& store) {
  std::string reference = internal::SnapshotThroughJson(store);
  EXPECT_TRUE(SameBytes(store.Snapshot(), reference));
  auto copy = store.CopyForSnapshot();
  EXPECT_EQ(copy->LastIndex(), store.LastIndex());
  auto encoded = copy->Encode();
  ASSERT_TRUE(encoded.ok()) << encoded.status().message();
  EXPECT_TRUE(SameBytes(*encoded, reference));
}

void ExpectRestoresToTheSameBytes(const Store& store) {
  std::string bytes = store.Snapshot();
  Store again;
  ASSERT_TRUE(again.Restore(bytes).ok());
  EXPECT_TRUE(SameBytes(again.Snapshot(), bytes));
}

TEST(SnapshotDecoder, RefusesCoordinatesOfUnknownNodesAndDuplicates) {
  Json document = EveryFieldDocument();
  Store store;
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  Json ghost = document;
  ghost["Coordinates"]["Entries"][0]["Node"] = "ghost";
  EXPECT_EQ(store.Restore(Encoded(ghost)).message(),
            "snapshot: coordinate of unknown node \"ghost\"");
  Json twice = document;
  twice["Coordinates"]["Entries"].push_back(twice["Coordinates"]["Entries"][0]);
  EXPECT_FALSE(store.Restore(Encoded(twice)).ok());
  Json bad = document;
  bad["Coordinates"]["Entries"][0]["Coord"]["Vec"] = "nope";
  EXPECT_EQ(store.Restore(Encoded(bad)).message(),
            "snapshot.Coordinates.Entries[0].Coord.Vec: expected a list of numbers");
}

TEST(SnapshotEncoder, MatchesTheJsonTreeEncoderOnEveryField) {
  Json document = EveryFieldDocument();
  Store store;
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  ExpectBothEncodersAgree(store);
  ExpectRestoresToTheSameBytes(store);

  // Without config entries (snapshots from before the table existed).
  document.erase("ConfigEntries");
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  ExpectBothEncodersAgree(store);
  ExpectRestoresToTheSameBytes(store);
  std::vector<Json> entries;
  EXPECT_EQ(store.ConfigEntries(nullptr, "", &entries), 1u);  // no table index: 1, as Consul
  EXPECT_TRUE(entries.empty());
  // Every entry deleted: the table index survives, so a blocking list does not go backwards.
  document["ConfigEntries"] = {{"Entries", Json::array()}, {"Index", 97}};
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  ExpectBothEncodersAgree(store);
  ExpectRestoresToTheSameBytes(store);

  // Without the CA (snapshots from before it existed), and with only one of its documents.
  document.erase("ConnectCA");
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  ExpectBothEncodersAgree(store);
  ExpectRestoresToTheSameBytes(store);
  document["ConnectCA"] = {{"Config", nullptr},
                           {"Roots", {{"TrustDomain", "td"}, {"Roots", Json::array()}}},
                           {"ConfigIndex", 0},
                           {"RootsIndex", 5}};
  ASSERT_TRUE(store.Restore(Encoded(document)).ok());
  ExpectBothEncodersAgree(store);

  // Empty store; and a KV table large enough for a 32-bit array header.
  Store empty;
  ExpectBothEncodersAgree(empty);
  Store many;
  for (Index i = 1; i <= 70'000; ++i) {
    KVRequest r;
    r.entry.key = "many/" + std::to_string(i);
    r.entry.value = i % 7 == 0 ? "" : "v";
    ASSERT_TRUE(many.Apply(i, r).status.ok());
  }
  ExpectBothEncodersAgree(many);
}

TEST(SnapshotEncoder, MatchesTheJsonTreeEncoderOnAStoreBuiltByCommands) {
  Store store;
  Index index = 0;
  auto apply = [&](const Command& cmd) {
    ApplyResult r = store.Apply(++index, cmd);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  };
  for (int i = 0; i < 5; ++i) {
    RegisterRequest reg;
    reg.node.node = "node-" + std::to_string(i);
    reg.node.address = "10.1.0." + std::to_string(i);
    reg.node.meta = {{"rack", "r" + std::to_string(i % 2)}};
    NodeService svc;
    svc.id = "web-" + std::to_string(i);
    svc.service = "web";
    svc.port = 8080 + i;
    svc.tags = {"v" + std::to_string(i)};
    reg.service = svc;
    HealthCheck check;
    check.check_id = "web-check";
    check.name = "web";
    check.status = "passing";
    check.service_id = svc.id;
    check.definition.tcp = "localhost:8080";
    check.definition.interval_ns = 5'000'000'000;
    reg.checks = {check};
    apply(reg);
  }
  for (int i = 0; i < 40; ++i) {
    KVRequest kv;
    kv.entry.key = "config/" + std::to_string(i);
    kv.entry.value = std::string(size_t(i) * 37, char('a' + i % 26));
    kv.entry.flags = uint64_t(i);
    apply(kv);
  }
  KVRequest del;
  del.op = KVOp::kDeleteTree;
  del.entry.key = "config/1";
  apply(del);
  DeregisterRequest dereg;
  dereg.node = "node-4";
  apply(dereg);
  ExpectBothEncodersAgree(store);

  Store restored;
  ASSERT_TRUE(restored.Restore(store.Snapshot()).ok());
  EXPECT_EQ(restored.LastIndex(), store.LastIndex());
  std::vector<KVEntry> a, b;
  EXPECT_EQ(restored.KVList(nullptr, "", &a), store.KVList(nullptr, "", &b));
  EXPECT_EQ(a, b);
  std::vector<CheckServiceNode> ca, cb;
  EXPECT_EQ(restored.CheckServiceNodes(nullptr, "web", false, &ca),
            store.CheckServiceNodes(nullptr, "web", false, &cb));
  EXPECT_EQ(ca, cb);
  ExpectBothEncodersAgree(restored);
}

TEST(SnapshotEncoder, KeepsTheAclTables) {
  Store store;
  Index index = 0;
  auto apply = [&](AclOp op, Json object, std::string id = "") {
    AclRequest r;
    r.op = op;
    r.object = std::move(object);
    r.id = std::move(id);
    ApplyResult res = store.Apply(++index, r);
    ASSERT_TRUE(res.status.ok()) << res.status.message();
  };
  apply(AclOp::kPolicySet, {{"ID", "p1"}, {"Name", "web"}, {"Rules", "service \"web\" {}"}});
  apply(AclOp::kRoleSet, {{"ID", "r1"}, {"Name", "ops"}, {"Policies", {{{"ID", "p1"}}}}});
  apply(AclOp::kBootstrap, {{"AccessorID", "a1"}, {"SecretID", "s1"}, {"Local", false}});
  apply(AclOp::kTokenSet, {{"AccessorID", "a2"}, {"SecretID", "s2"}, {"Local", true}});
  apply(AclOp::kTokenDelete, nullptr, "a2");
  ExpectBothEncodersAgree(store);
  ExpectRestoresToTheSameBytes(store);
  Store restored;
  ASSERT_TRUE(restored.Restore(store.Snapshot()).ok());
  Json t;
  restored.AclTokenBySecret(nullptr, "s1", &t);
  ASSERT_TRUE(t.is_object());
  EXPECT_EQ(t["AccessorID"], "a1");
  EXPECT_EQ(restored.AclBootstrapIndex(), 3u);
  Json p;
  EXPECT_EQ(restored.AclPolicyByName(nullptr, "web", &p), 1u);
  EXPECT_EQ(p["ID"], "p1");
  restored.AclRoleByName(nullptr, "ops", &p);
  EXPECT_EQ(p["ID"], "r1");
  EXPECT_EQ(restored.AclToken(nullptr, "a2", &t), 5u);
  EXPECT_TRUE(t.is_null());

  // A snapshot whose tokens repeat a secret is refused, naming the record.
  std::string snap = store.Snapshot();
  Json doc = Json::from_msgpack(snap.substr(1));
  doc["ACL"]["Tokens"].push_back({{"AccessorID", "a9"}, {"SecretID", "s1"}});
  Status s = Store().Restore(Encoded(doc));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ACL.Tokens[1]"), std::string::npos) << s.message();
}

TEST(SnapshotEncoder, ACopyKeepsTheStateOfItsMomentWhileTheStoreMovesOn) {
  Store store;
  KVRequest kv;
  kv.entry.key = "k";
  kv.entry.value = "before";
  ASSERT_TRUE(store.Apply(1, kv).status.ok());
  std::string then = store.Snapshot();
  auto copy = store.CopyForSnapshot();

  kv.entry.value = "after";
  ASSERT_TRUE(store.Apply(2, kv).status.ok());
  KVRequest del;
  del.op = KVOp::kDelete;
  del.entry.key = "k";
  ASSERT_TRUE(store.Apply(3, del).status.ok());
  ASSERT_NE(store.Snapshot(), then);

  auto encoded = copy->Encode();
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, then);
  EXPECT_EQ(copy->LastIndex(), 1u);
  Store restored;
  ASSERT_TRUE(restored.Restore(*encoded).ok());
  std::optional<KVEntry> e;
  restored.KVGet(nullptr, "k", &e);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->value, "before");

  // The copy outlives the store.
  auto gone = std::make_unique<Store>();
  ASSERT_TRUE(gone->Apply(1, kv).status.ok());
  auto orphan = gone->CopyForSnapshot();
  std::string last = gone->Snapshot();
  gone.reset();
  EXPECT_EQ(*orphan->Encode(), last);
}

TEST(SnapshotEncoder, StopsWhenAskedTo) {
  Store store;
  for (Index i = 1; i <= 5'000; ++i) {
    KVRequest r;
    r.entry.key = "k/" + std::to_string(i);
    r.entry.value = "v";
    ASSERT_TRUE(store.Apply(i, r).status.ok());
  }
  auto copy = store.CopyForSnapshot();
  std::stop_source stop;
  stop.request_stop();
  auto encoded = copy->Encode(stop.get_token());
  EXPECT_FALSE(encoded.ok());
  EXPECT_EQ(*copy->Encode(), store.Snapshot());  // the copy is still whole
}

// Bytes written by the JSON-tree encoder before this one existed (the commands fuzz target's
// seed snapshot): restored and encoded again, they come back unchanged.
TEST(SnapshotEncoder, ReencodesAStoredSnapshotByteForByte) {
  std::ifstream in(std::string(GANGWAY_FUZZ_CORPUS_DIR) + "/commands_fuzz/snapshot",
                   std::ios::binary);
  ASSERT_TRUE(in.good());
  std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(stored.size(), 100u);
  Store store;
  ASSERT_TRUE(store.Restore(stored).ok());
  EXPECT_TRUE(SameBytes(store.Snapshot(), stored));
  EXPECT_TRUE(SameBytes(*store.CopyForSnapshot()->Encode(), stored));
}

// The decoder reads a snapshot section by section and names the first bad record, so that a
// damaged snapshot or archive is rejected with a message that says where.
TEST(SnapshotDecoder, NamesTheFirstBadRecord) {
  const Json node = {{"Node", "n1"}, {"Address", "10.0.0.1"}, {"ID", "id-1"}};
  const Json kv = {{"Key", "k"}, {"ModifyIndex", 1}};
  const Json config_entry = {
      {"Kind", "mesh"}, {"Name", "mesh"}, {"Entry", {{"Kind", "mesh"}, {"ModifyIndex", 2}}}};
  struct Case {
    Json doc;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{"LastIndex", 5}, {"Nodes", Json::object()}}, "snapshot.Nodes: expected a list"},
      {{{"LastIndex", 5}, {"Nodes", {{{"Address", "a"}}}}}, "snapshot: node without a name"},
      {{{"LastIndex", 5}, {"Nodes", {{{"Node", "n1"}, {"ModifyIndex", 9}}}}},
       "snapshot: node \"n1\" has indexes beyond the snapshot's last index"},
      {{{"LastIndex", 5}, {"Nodes", {node, {{"Node", "n2"}, {"ID", "id-1"}}}}},
       "snapshot: node ID \"id-1\" used twice"},
      {{{"LastIndex", 5}, {"Nodes", {node}}, {"Services", {{{"Node", "n1"}}}}},
       "snapshot: service entry without a service"},
      {{{"LastIndex", 5},
        {"Services", {{{"Node", "ghost"}, {"Service", {{"ID", "s"}, {"Service", "s"}}}}}}},
       "snapshot: service on unknown node \"ghost\""},
      {{{"LastIndex", 5}, {"Checks", 1}}, "snapshot.Checks: expected a list"},
      {{{"LastIndex", 5},
        {"Nodes", {node}},
        {"Checks", {{{"Node", "n1"}, {"CheckID", "c"}, {"ServiceID", "s"}}}}},
       "snapshot: check \"c\" of unknown service \"s\""},
      {{{"LastIndex", 5}, {"KVs", {kv, kv}}}, "snapshot: key \"k\" twice"},
      {{{"LastIndex", 5}, {"Tombstones", {{"k", "x"}}}},
       "snapshot.Tombstones.k: expected an index"},
      {{{"LastIndex", 5}, {"ConnectIndexes", Json::array()}},
       "snapshot.ConnectIndexes: expected a map"},
      {{{"LastIndex", 5}, {"ConnectCA", {{"Config", 1}}}},
       "snapshot: ConnectCA.Config is not a map"},
      {{{"LastIndex", 5}, {"Indexes", {{"kvs", 9}}}},
       "snapshot: table index beyond the snapshot's last index"},
      {{{"LastIndex", 5}, {"ConfigEntries", {{"Entries", 1}}}},
       "snapshot: ConfigEntries.Entries is not a list"},
      {{{"LastIndex", 5}, {"ConfigEntries", {{"Entries", {{{"Kind", "mesh"}}}}}}},
       "snapshot: config entry without a kind, a name or a body"},
      {{{"LastIndex", 5},
        {"ConfigEntries", {{"Entries", {config_entry, config_entry}}, {"Index", 5}}}},
       "snapshot: config entry \"mesh/mesh\" twice"},
      {{{"LastIndex", 5}, {"ConfigEntries", {{"Index", 9}}}},
       "snapshot: table index beyond the snapshot's last index"},
  };
  for (const Case& c : cases) {
    std::string bytes(1, '\x01');
    Json::to_msgpack(c.doc, bytes);
    Store store;
    Status s = store.Restore(bytes);
    ASSERT_FALSE(s.ok()) << c.doc.dump();
    EXPECT_EQ(s.message(), c.error) << c.doc.dump();
  }
}

}  // namespace
}  // namespace gangway::catalog
