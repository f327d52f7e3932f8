#include "catalog/commands.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "catalog/store.h"

namespace gangway::catalog {
namespace {

bool SameCommand(const Command& a, const Command& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, RegisterRequest>) {
          return x.node == y.node && x.service == y.service && x.checks == y.checks &&
                 x.skip_node_update == y.skip_node_update;
        } else if constexpr (std::is_same_v<T, DeregisterRequest>) {
          return x.node == y.node && x.service_id == y.service_id && x.check_id == y.check_id;
        } else if constexpr (std::is_same_v<T, KVRequest>) {
          return x.op == y.op && x.entry == y.entry;
        } else if constexpr (std::is_same_v<T, RestoreRequest>) {
          return x.snapshot == y.snapshot;
        } else if constexpr (std::is_same_v<T, ConnectCARequest>) {
          return x.op == y.op && x.cas == y.cas && x.config == y.config && x.roots == y.roots;
        } else if constexpr (std::is_same_v<T, ConfigEntryRequest>) {
          return x.op == y.op && x.kind == y.kind && x.name == y.name && x.cas == y.cas &&
                 x.entry == y.entry;
        } else if constexpr (std::is_same_v<T, SessionRequest>) {
          return x.op == y.op && x.session == y.session;
        } else if constexpr (std::is_same_v<T, CoordinateBatchRequest>) {
          return x.updates == y.updates;
        } else if constexpr (std::is_same_v<T, AclRequest>) {
          return x.op == y.op && x.object == y.object && x.id == y.id && x.kind == y.kind &&
                 x.cas == y.cas;
        } else if constexpr (std::is_same_v<T, PreparedQueryRequest>) {
          return x.op == y.op && x.query == y.query && x.id == y.id;
        } else {
          if (x.ops.size() != y.ops.size()) return false;
          for (size_t i = 0; i < x.ops.size(); ++i) {
            if (x.ops[i].op != y.ops[i].op || !(x.ops[i].entry == y.ops[i].entry)) return false;
          }
          return true;
        }
      },
      a);
}

KVRequest KV(KVOp op, std::string key, std::string value = "", Index index = 0) {
  KVRequest r;
  r.op = op;
  r.entry.key = std::move(key);
  r.entry.value = std::move(value);
  r.entry.raft.modify_index = index;
  return r;
}

// One of each command type, with every field set somewhere; also the fuzz seed corpus.
std::vector<std::pair<std::string, Command>> Samples() {
  std::vector<std::pair<std::string, Command>> out;

  RegisterRequest full;
  full.node.id = "40e4a748-2192-161a-0510-9bf59fe950b5";
  full.node.node = "node-1";
  full.node.address = "10.0.0.1";
  full.node.datacenter = "dc1";
  full.node.tagged_addresses = {{"lan", "10.0.0.1"}, {"wan", "198.18.0.1"}};
  full.node.meta = {{"rack", "r1"}};
  NodeService svc;
  svc.kind = "connect-proxy";
  svc.id = "web-sidecar-proxy";
  svc.service = "web-sidecar-proxy";
  svc.tags = {"v1", "primary"};
  svc.address = "10.0.0.1";
  svc.tagged_addresses = {{"wan", {"198.18.0.1", 443}}};
  svc.meta = {{"version", "1"}};
  svc.port = 21000;
  svc.socket_path = "/run/web.sock";
  svc.weights = {10, 2};
  svc.enable_tag_override = true;
  svc.proxy = ProxyConfig{
      .destination_service_name = "web",
      .local_service_port = 8080,
      .config = {{"protocol", "http"}, {"nested", {{"list", {1, 2.5, "x", nullptr}}}}},
      .upstreams = {Upstream{.destination_name = "db", .local_bind_port = 9191}},
      .mesh_gateway = MeshGatewayConfig{"local"},
      .expose = ExposeConfig{.checks = true, .paths = {{21500, "/metrics", 8080, "http"}}},
      .transparent_proxy = TransparentProxyConfig{15001, true}};
  svc.connect = {{"Native", false}};
  full.service = svc;
  HealthCheck http;
  http.check_id = "service:web-sidecar-proxy";
  http.name = "HTTP on 21000";
  http.status = kPassing;
  http.notes = "notes";
  http.output = "HTTP GET http://localhost:21000/health: 200 OK";
  http.service_id = "web-sidecar-proxy";
  http.type = "http";
  http.exposed_port = 21500;
  http.definition.http = "http://localhost:21000/health";
  http.definition.header = {{"X-Token", {"a", "b"}}};
  http.definition.method = "POST";
  http.definition.body = "{}";
  http.definition.tls_skip_verify = true;
  http.definition.tls_server_name = "web.local";
  http.definition.interval_ns = 10'000'000'000;
  http.definition.timeout_ns = 1'000'000'001;  // not representable as a float of seconds
  http.definition.deregister_critical_service_after_ns = 90'000'000'000;
  HealthCheck ttl;
  ttl.node = "node-1";
  ttl.check_id = "ttl";
  ttl.definition.ttl_ns = 30'000'000'000;
  HealthCheck tcp;
  tcp.check_id = "tcp";
  tcp.definition.tcp = "10.0.0.1:21000";
  tcp.status = kWarning;
  full.checks = {http, ttl, tcp};
  out.emplace_back("register-full", full);

  RegisterRequest minimal;
  minimal.node.node = "n2";
  minimal.node.address = "10.0.0.2";
  out.emplace_back("register-node", minimal);

  RegisterRequest skip;
  skip.node.node = "n2";
  skip.skip_node_update = true;
  NodeService native;
  native.id = "api";
  native.service = "api";
  native.connect = {{"Native", true}};
  skip.service = native;
  out.emplace_back("register-skip-node", skip);

  out.emplace_back("deregister-node", DeregisterRequest{"node-1", "", ""});
  out.emplace_back("deregister-service", DeregisterRequest{"node-1", "web-sidecar-proxy", ""});
  out.emplace_back("deregister-check", DeregisterRequest{"node-1", "", "ttl"});

  KVRequest set = KV(KVOp::kSet, "config/app/\xff-bytes", std::string("\0\x01\xfe value", 9));
  set.entry.flags = 42;
  set.entry.session = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  set.entry.lock_index = 3;
  out.emplace_back("kv-set", set);
  out.emplace_back("kv-cas", KV(KVOp::kCAS, "config/app", "v2", 7));
  out.emplace_back("kv-delete", KV(KVOp::kDelete, "config/app"));
  out.emplace_back("kv-delete-cas", KV(KVOp::kDeleteCAS, "config/app", "", 8));
  out.emplace_back("kv-delete-tree", KV(KVOp::kDeleteTree, "config/"));

  TxnRequest txn;
  txn.ops = {KV(KVOp::kSet, "t/a", "A"),        KV(KVOp::kCAS, "t/b", "B", 0),
             KV(KVOp::kDelete, "t/c"),          KV(KVOp::kDeleteCAS, "t/d", "", 3),
             KV(KVOp::kDeleteTree, "t/e/"),     KV(KVOp::kGet, "t/a"),
             KV(KVOp::kGetTree, "t/"),          KV(KVOp::kCheckIndex, "t/a", "", 1),
             KV(KVOp::kCheckNotExists, "t/zzz")};
  out.emplace_back("txn-every-verb", txn);
  TxnRequest failing;
  failing.ops = {KV(KVOp::kSet, "t/a", "A"), KV(KVOp::kGet, "missing")};
  out.emplace_back("txn-rolls-back", failing);
  Store small;
  small.Apply(1, set);
  out.emplace_back("restore", RestoreRequest{small.Snapshot()});
  ConnectCARequest ca;
  ca.op = CAOp::kSetConfigAndRoots;
  ca.cas = 7;
  ca.config = {{"Provider", "consul"}, {"Config", {{"LeafCertTTL", 259200000000000}}}};
  ca.roots = {{"TrustDomain", "x.consul"}, {"Roots", Json::array({{{"ID", "aa:bb"}}})}};
  out.emplace_back("connect-ca", ca);
  ConfigEntryRequest entry;
  entry.op = ConfigEntryOp::kUpsert;
  entry.kind = "service-defaults";
  entry.name = "web";
  entry.entry = {{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}};
  out.emplace_back("config-entry-upsert", entry);
  entry.op = ConfigEntryOp::kUpsertCAS;
  entry.cas = 12;
  entry.kind = "service-router";
  entry.entry = {{"Kind", "service-router"},
                 {"Name", "web"},
                 {"Routes", Json::array({{{"Match", {{"HTTP", {{"PathPrefix", "/admin"}}}}},
                                          {"Destination", {{"Service", "admin"}}}}})}};
  out.emplace_back("config-entry-upsert-cas", entry);
  ConfigEntryRequest del;
  del.op = ConfigEntryOp::kDelete;
  del.kind = "proxy-defaults";
  del.name = "global";
  out.emplace_back("config-entry-delete", del);
  del.op = ConfigEntryOp::kDeleteCAS;
  del.cas = 4;
  out.emplace_back("config-entry-delete-cas", del);
  SessionRequest session;
  session.session.id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  session.session.name = "lock";
  session.session.node = "node-1";
  session.session.ttl = "15s";
  session.session.behavior = "delete";
  session.session.checks = {"legacy"};
  session.session.node_checks = {"serfHealth"};
  session.session.service_checks = {{"service:web", ""}};
  out.emplace_back("session-create", session);
  SessionRequest destroy;
  destroy.op = SessionOp::kDestroy;
  destroy.session.id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  out.emplace_back("session-destroy", destroy);
  KVRequest lock = KV(KVOp::kLock, "service/web/.lock", "holder");
  lock.entry.session = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  lock.entry.flags = 0x2ddccbc058a50c18;
  out.emplace_back("kv-lock", lock);
  lock.op = KVOp::kUnlock;
  out.emplace_back("kv-unlock", lock);

  AclRequest acl;
  acl.op = AclOp::kBootstrap;
  acl.cas = 3;
  acl.object = {{"AccessorID", "a"}, {"SecretID", "s"}, {"Policies", {{{"ID", "p"}}}}};
  out.emplace_back("acl-bootstrap", acl);
  AclRequest acl_del;
  acl_del.op = AclOp::kRoleDelete;
  acl_del.id = "r1";
  out.emplace_back("acl-role-delete", acl_del);
  AclRequest acl_rep;
  acl_rep.op = AclOp::kReplicate;
  acl_rep.kind = "policies";
  acl_rep.object = Json::array({{{"ID", "p"}, {"Name", "n"}, {"Rules", ""}}});
  out.emplace_back("acl-replicate", acl_rep);
  PreparedQueryRequest pq;
  pq.query = {{"ID", "8f246b77-f3e1-ff88-5b48-8ec93abf3e05"}, {"Name", "db"},
              {"Service", {{"Service", "redis"}, {"Failover", {{"NearestN", 2}}}}}};
  out.emplace_back("prepared-query-set", pq);
  PreparedQueryRequest pq_del;
  pq_del.op = PreparedQueryOp::kDelete;
  pq_del.id = "8f246b77-f3e1-ff88-5b48-8ec93abf3e05";
  out.emplace_back("prepared-query-delete", pq_del);
  CoordinateBatchRequest coords;
  coords.updates.push_back({"node-1", "", {{1e-5, -2e-5, 0, 0, 0, 0, 0, 3.5e-4}, 0.8, -1e-6, 1e-5}});
  coords.updates.push_back({"node-2", "alpha", coordinate::Coordinate::Initial()});
  out.emplace_back("coordinate-batch", coords);
  return out;
}

TEST(Commands, EveryTypeRoundTrips) {
  for (const auto& [name, cmd] : Samples()) {
    std::string bytes = EncodeCommand(cmd);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<size_t>(bytes[0]), cmd.index()) << name;
    auto back = DecodeCommand(bytes);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status().message();
    EXPECT_TRUE(SameCommand(cmd, *back)) << name;
    EXPECT_EQ(EncodeCommand(*back), bytes) << name;
  }
}

// Pins the wire format: type byte 1, then a MessagePack map. Changing this breaks stored logs.
TEST(Commands, DeregisterEncodingIsStable) {
  std::string bytes = EncodeCommand(DeregisterRequest{"n", "s", ""});
  std::string want(
      "\x01\x83\xa7"
      "CheckID"
      "\xa0\xa4"
      "Node"
      "\xa1n\xa9"
      "ServiceID"
      "\xa1s");
  EXPECT_EQ(bytes, want);
  EXPECT_EQ(static_cast<int>(CommandType::kRegister), 0);
  EXPECT_EQ(static_cast<int>(CommandType::kDeregister), 1);
  EXPECT_EQ(static_cast<int>(CommandType::kKV), 2);
  EXPECT_EQ(static_cast<int>(CommandType::kTxn), 3);
}

std::string Encode(CommandType type, const Json& body) {
  std::string out(1, static_cast<char>(type));
  Json::to_msgpack(body, out);
  return out;
}

// A restore entry replaces the state in log order and wakes every watcher.
TEST(Commands, RestoreReplacesTheStateAtItsIndex) {
  Store source;
  source.Apply(1, KV(KVOp::kSet, "keep/me", "v"));
  std::string snap = source.Snapshot();
  Store target;
  target.Apply(1, KV(KVOp::kSet, "gone", "x"));
  target.Apply(2, KV(KVOp::kSet, "gone2", "x"));
  WatchSet ws;
  std::optional<KVEntry> e;
  target.KVGet(&ws, "gone", &e);
  bool fired = false;
  target.Watch(ws, [&] { fired = true; });
  auto r = target.Apply(3, *DecodeCommand(EncodeCommand(RestoreRequest{snap})));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(fired);
  target.KVGet(nullptr, "gone", &e);
  EXPECT_FALSE(e);
  target.KVGet(nullptr, "keep/me", &e);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value, "v");
  EXPECT_EQ(target.LastIndex(), 3u);
  // A bad snapshot is rejected and changes nothing.
  auto bad = target.Apply(4, RestoreRequest{"\x01garbage"});
  EXPECT_FALSE(bad.status.ok());
  target.KVGet(nullptr, "keep/me", &e);
  EXPECT_TRUE(e);
}

TEST(Commands, UnknownFieldsAreIgnored) {
  auto r = DecodeCommand(Encode(CommandType::kDeregister,
                                {{"Node", "n"}, {"FutureField", {1, 2, 3}}, {"CheckID", "c"}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(std::get<DeregisterRequest>(*r).check_id, "c");
}

TEST(Commands, ConnectCAChecksItsDocuments) {
  auto decode = [](Json body) {
    std::string bytes(1, static_cast<char>(CommandType::kConnectCA));
    Json::to_msgpack(body, bytes);
    return DecodeCommand(bytes);
  };
  EXPECT_EQ(decode({{"Op", 9}}).status().message(), "Op: unknown CA operation 9");
  EXPECT_EQ(decode({{"Op", 0}, {"Config", "x"}}).status().message(), "Config: expected a map");
  EXPECT_EQ(decode({{"Op", 1}, {"Roots", Json::object()}}).status().message(),
            "Roots.Roots: expected a list");
  EXPECT_EQ(decode({{"Op", 1}, {"Roots", {{"Roots", {1}}}}}).status().message(),
            "Roots.Roots[0]: expected a map");
  EXPECT_TRUE(decode({{"Op", 1}, {"Roots", {{"Roots", Json::array()}}}}).ok());
}

TEST(Commands, ConfigEntryChecksItsFields) {
  auto decode = [](Json body) {
    std::string bytes(1, static_cast<char>(CommandType::kConfigEntry));
    Json::to_msgpack(body, bytes);
    return DecodeCommand(bytes);
  };
  const Json ok = {{"Op", 0}, {"Kind", "mesh"}, {"Name", "mesh"}, {"Entry", Json::object()}};
  EXPECT_TRUE(decode(ok).ok());
  Json bad = ok;
  bad["Op"] = 4;
  EXPECT_EQ(decode(bad).status().message(), "Op: unknown config entry operation 4");
  bad = ok;
  bad["Kind"] = "";
  EXPECT_EQ(decode(bad).status().message(), "Kind: must not be empty");
  bad = ok;
  bad.erase("Name");
  EXPECT_EQ(decode(bad).status().message(), "Name: must not be empty");
  bad = ok;
  bad["Entry"] = Json::array();
  EXPECT_EQ(decode(bad).status().message(), "Entry: expected a map");
  bad["Op"] = 2;  // a delete carries no entry
  EXPECT_TRUE(decode(bad).ok());
  bad = ok;
  bad["CAS"] = "7";
  EXPECT_FALSE(decode(bad).ok());
}

TEST(Commands, GarbageIsRejectedWithAMessage) {
  struct Case {
    std::string bytes;
    std::string want;  // substring of the message
  };
  std::vector<Case> cases = {
      {"", "empty command"},
      {"\x0b", "unknown command type 11"},
      {"\x01", "malformed command body"},
      {std::string("\x01\x83\xa7", 3), "malformed command body"},  // truncated map
      {Encode(CommandType::kKV, Json::array({1, 2})), "expected a map, got array"},
      {Encode(CommandType::kRegister, {{"Node", "n1"}}), "Node: expected an object, got string"},
      {Encode(CommandType::kRegister, {{"Node", {{"Node", "n"}}}, {"Service", {{"Port", "80"}}}}),
       "Service.Port: expected an integer, got string"},
      {Encode(CommandType::kRegister, {{"Service", {{"Port", 1LL << 40}}}}),
       "Service.Port: integer out of range"},
      {Encode(CommandType::kRegister, {{"Checks", {{{"Definition", {{"Interval", "10 s"}}}}}}}),
       "Checks[0].Definition.Interval"},
      {Encode(CommandType::kRegister, {{"Checks", {{{"ServiceTags", {"a", 1}}}}}}),
       "Checks[0].ServiceTags[1]: expected a string"},
      {Encode(CommandType::kRegister, {{"Service", {{"Proxy", "not-an-object"}}}}),
       "Service.Proxy: expected an object"},
      {Encode(CommandType::kKV, {{"Op", 99}}), "Op: unknown KV operation 99"},
      {Encode(CommandType::kKV, {{"Op", -1}}), "Op: expected a non-negative integer"},
      {Encode(CommandType::kKV, {{"Op", 5}, {"Entry", {{"Key", "k"}}}}),
       "only valid inside a transaction"},
      {Encode(CommandType::kKV, {{"Op", 0}, {"Entry", {{"Value", 12}}}}),
       "Entry.Value: expected a base64 string"},
      {Encode(CommandType::kKV, {{"Op", 0}, {"Entry", {{"Flags", 1.5}}}}),
       "Entry.Flags: expected an integer, got number"},
      {Encode(CommandType::kTxn, {{"Ops", {{{"Op", 0}}, "x"}}}),
       "Ops[1]: expected an object, got string"},
      {Encode(CommandType::kTxn, {{"Ops", Json::object()}}), "Ops: expected an array"},
      {Encode(CommandType::kDeregister, {{"Node", true}}), "Node: expected a string, got bool"},
      {Encode(CommandType::kCoordinateBatch, {{"Updates", {{{"Node", "n"}, {"Coord", {{"Vec", {1, "x"}}}}}}}}),
       "Updates[0].Coord.Vec: expected a list of numbers"},
      {Encode(CommandType::kCoordinateBatch, {{"Updates", {{{"Node", ""}, {"Coord", Json::object()}}}}}),
       "Updates[0].Node: must not be empty"},
      {Encode(CommandType::kDeregister, {{"Node", "n"}}) + "x", "malformed command body"},
  };
  for (const auto& c : cases) {
    auto r = DecodeCommand(c.bytes);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << "got: " << r.status().message() << "\nwant: " << c.want;
  }
}

TEST(Commands, DeepNestingAndHugeDeclaredLengthsDoNotCrash) {
  // 100k nested one-element arrays would overflow the stack of a recursive reader.
  std::string deep(1, static_cast<char>(CommandType::kRegister));
  deep += "\x81\xa4Node";
  deep.append(100000, '\x91');
  deep += '\xc0';
  auto r = DecodeCommand(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper"), std::string::npos) << r.status().message();
  // Declared sizes far beyond the input: array32, map32, str32 and bin32 of 4 GiB.
  for (const char* header : {"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdb\xff\xff\xff\xff",
                             "\xc6\xff\xff\xff\xff"}) {
    std::string bytes(1, static_cast<char>(CommandType::kKV));
    bytes.append(header, 5);
    bytes += "abc";
    EXPECT_FALSE(DecodeCommand(bytes).ok());
  }
}

TEST(Commands, EveryTruncationOfAValidCommandFailsCleanly) {
  for (const auto& [name, cmd] : Samples()) {
    std::string bytes = EncodeCommand(cmd);
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(DecodeCommand(std::string_view(bytes).substr(0, n)).ok()) << name << " " << n;
    }
  }
}

// With GANGWAY_WRITE_CORPUS=<dir>, writes the samples as fuzz seeds (fuzz/corpus/commands_fuzz).
TEST(Commands, WriteSeedCorpus) {
  const char* dir = std::getenv("GANGWAY_WRITE_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "set GANGWAY_WRITE_CORPUS to write the fuzz seed corpus";
  Store store;
  Index index = 0;
  for (const auto& [name, cmd] : Samples()) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << EncodeCommand(cmd);
    if (name.rfind("deregister", 0) != 0) store.Apply(++index, cmd);
  }
  // The fuzz target also restores its input as a snapshot.
  std::ofstream(std::string(dir) + "/snapshot", std::ios::binary) << store.Snapshot();
}

}  // namespace
}  // namespace gangway::catalog
