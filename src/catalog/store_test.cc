#include "catalog/store.h"

#include <gtest/gtest.h>

#include <limits>

#include <chrono>
#include <cstdio>

namespace gangway::catalog {
namespace {

Node MakeNode(const std::string& name, const std::string& address = "10.0.0.1") {
  Node n;
  n.node = name;
  n.address = address;
  n.datacenter = "dc1";
  return n;
}

NodeService MakeService(const std::string& id, const std::string& name, int port = 8080,
                        std::vector<std::string> tags = {}) {
  NodeService s;
  s.id = id;
  s.service = name;
  s.port = port;
  s.tags = std::move(tags);
  return s;
}

HealthCheck MakeCheck(const std::string& node, const std::string& id, const std::string& status,
                      const std::string& service_id = "") {
  HealthCheck c;
  c.node = node;
  c.check_id = id;
  c.name = id;
  c.status = status;
  c.service_id = service_id;
  return c;
}

RegisterRequest Reg(const Node& node, std::optional<NodeService> svc = std::nullopt,
                    std::vector<HealthCheck> checks = {}) {
  RegisterRequest r;
  r.node = node;
  r.service = std::move(svc);
  r.checks = std::move(checks);
  return r;
}

KVRequest KV(KVOp op, const std::string& key, const std::string& value = "", Index cas = 0) {
  KVRequest r;
  r.op = op;
  r.entry.key = key;
  r.entry.value = value;
  r.entry.raft.modify_index = cas;
  return r;
}

DeregisterRequest Dereg(const std::string& node, const std::string& service_id = "",
                        const std::string& check_id = "") {
  return {node, service_id, check_id};
}

// A store plus a log index counter, so tests read like a sequence of commits.
class StoreTest : public ::testing::Test {
 protected:
  ApplyResult Apply(const Command& cmd) { return store_.Apply(++index_, cmd); }
  void MustApply(const Command& cmd) {
    auto r = Apply(cmd);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  }
  // Registers a watch on what `read` touched; returns a counter of how often it fired.
  std::shared_ptr<int> WatchRead(const std::function<void(WatchSet*)>& read) {
    WatchSet ws;
    read(&ws);
    auto fired = std::make_shared<int>(0);
    store_.Watch(ws, [fired] { ++*fired; });
    return fired;
  }
  std::shared_ptr<int> WatchKV(const std::string& key) {
    return WatchRead([&](WatchSet* ws) {
      std::optional<KVEntry> e;
      store_.KVGet(ws, key, &e);
    });
  }
  std::shared_ptr<int> WatchPrefix(const std::string& prefix) {
    return WatchRead([&](WatchSet* ws) {
      std::vector<KVEntry> list;
      store_.KVList(ws, prefix, &list);
    });
  }
  std::shared_ptr<int> WatchHealth(const std::string& service, bool connect = false) {
    return WatchRead([&](WatchSet* ws) {
      std::vector<CheckServiceNode> rows;
      store_.CheckServiceNodes(ws, service, connect, &rows);
    });
  }
  std::optional<KVEntry> Get(const std::string& key, Index* idx = nullptr) {
    std::optional<KVEntry> e;
    Index i = store_.KVGet(nullptr, key, &e);
    if (idx != nullptr) *idx = i;
    return e;
  }

  Store store_;
  Index index_ = 0;
};

// ---- Registration

TEST_F(StoreTest, RegisterCreatesNodeServiceAndChecks) {
  MustApply(
      Reg(MakeNode("n1"), MakeService("web1", "web", 80, {"v1"}),
          {MakeCheck("", "svc-check", kPassing, "web1"), MakeCheck("n1", kSerfCheckID, kPassing)}));
  std::vector<Node> nodes;
  EXPECT_EQ(store_.Nodes(nullptr, &nodes), 1u);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].raft.create_index, 1u);
  EXPECT_EQ(nodes[0].raft.modify_index, 1u);

  std::vector<HealthCheck> checks;
  store_.NodeChecks(nullptr, "n1", &checks);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].check_id, kSerfCheckID);
  EXPECT_EQ(checks[1].check_id, "svc-check");
  // A check takes its node from the request and its service name and tags from the service.
  EXPECT_EQ(checks[1].node, "n1");
  EXPECT_EQ(checks[1].service_name, "web");
  EXPECT_EQ(checks[1].service_tags, std::vector<std::string>{"v1"});
  EXPECT_EQ(checks[0].service_name, "");
}

TEST_F(StoreTest, ServiceIDDefaultsToNameAndCheckIDToCheckName) {
  NodeService svc = MakeService("", "web");
  HealthCheck c = MakeCheck("n1", "", kPassing, "web");
  c.name = "web alive";
  MustApply(Reg(MakeNode("n1"), svc, {c}));
  std::optional<Node> node;
  std::vector<NodeService> services;
  store_.NodeServices(nullptr, "n1", &node, &services);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].id, "web");
  std::vector<HealthCheck> checks;
  store_.NodeChecks(nullptr, "n1", &checks);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].check_id, "web alive");
}

TEST_F(StoreTest, CheckForUnknownServiceIsRejectedAndNothingApplied) {
  auto r =
      Apply(Reg(MakeNode("n1"), MakeService("web1", "web"),
                {MakeCheck("n1", "c1", kPassing, "web1"), MakeCheck("n1", "y", kPassing, "x")}));
  EXPECT_EQ(r.status.code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "Unknown service ID \"x\" for check ID \"y\"");
  EXPECT_EQ(store_.LastIndex(), 1u);  // rejected commands still consume their index
  std::vector<Node> nodes;
  store_.Nodes(nullptr, &nodes);
  EXPECT_TRUE(nodes.empty());
  std::vector<ServiceNode> rows;
  store_.AllServiceNodes(nullptr, &rows);
  EXPECT_TRUE(rows.empty());
}

TEST_F(StoreTest, CheckMayReferenceServiceRegisteredEarlier) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  MustApply(Reg(MakeNode("n1"), std::nullopt, {MakeCheck("n1", "c1", kWarning, "web1")}));
  std::vector<HealthCheck> checks;
  store_.ServiceChecks(nullptr, "web", &checks);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].status, kWarning);
}

TEST_F(StoreTest, RegisterValidatesNodeNameAndAddress) {
  auto r = Apply(Reg(MakeNode("")));
  EXPECT_EQ(r.status.message(), "Must provide node");
  r = Apply(Reg(MakeNode("n1", "")));
  EXPECT_EQ(r.status.message(), "Must provide address");
  NodeService unnamed = MakeService("x", "");
  r = Apply(Reg(MakeNode("n1"), unnamed));
  EXPECT_EQ(r.status.message(), "Must provide service name");
  EXPECT_EQ(store_.LastIndex(), 3u);
  std::vector<Node> nodes;
  store_.Nodes(nullptr, &nodes);
  EXPECT_TRUE(nodes.empty());
}

TEST_F(StoreTest, SkipNodeUpdateKeepsNodeButNeedsIt) {
  auto req = Reg(MakeNode("n1", ""), MakeService("web1", "web"));
  req.skip_node_update = true;
  auto r = Apply(req);
  EXPECT_EQ(r.status.message(), "Missing node registration");
  MustApply(Reg(MakeNode("n1", "10.0.0.9")));
  MustApply(req);
  std::optional<Node> node;
  store_.GetNode(nullptr, "n1", &node);
  ASSERT_TRUE(node);
  EXPECT_EQ(node->address, "10.0.0.9");
  std::vector<ServiceNode> rows;
  store_.ServiceNodes(nullptr, "web", false, &rows);
  EXPECT_EQ(rows.size(), 1u);
}

TEST_F(StoreTest, ModifyIndexMovesOnlyOnRealChanges) {
  MustApply(
      Reg(MakeNode("n1"), MakeService("web1", "web"), {MakeCheck("n1", "c1", kPassing, "web1")}));
  auto nodes_watch = WatchRead([&](WatchSet* ws) {
    std::vector<Node> n;
    store_.Nodes(ws, &n);
  });
  auto health = WatchHealth("web");
  // Identical re-registration: no index moves, nothing fires.
  MustApply(
      Reg(MakeNode("n1"), MakeService("web1", "web"), {MakeCheck("n1", "c1", kPassing, "web1")}));
  EXPECT_EQ(*nodes_watch, 0);
  EXPECT_EQ(*health, 0);
  std::vector<Node> nodes;
  EXPECT_EQ(store_.Nodes(nullptr, &nodes), 1u);
  std::vector<CheckServiceNode> rows;
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 1u);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].service.raft.modify_index, 1u);
  EXPECT_EQ(store_.WatchCount(), 2u);

  // A changed port bumps the service's ModifyIndex only; CreateIndex stays.
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web", 9090)));
  EXPECT_EQ(*health, 1);
  EXPECT_EQ(*nodes_watch, 0);
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 3u);
  EXPECT_EQ(rows[0].service.raft.create_index, 1u);
  EXPECT_EQ(rows[0].service.raft.modify_index, 3u);
  EXPECT_EQ(rows[0].node.raft.modify_index, 1u);
  ASSERT_EQ(rows[0].checks.size(), 1u);
  EXPECT_EQ(rows[0].checks[0].raft.modify_index, 1u);

  // A check status change bumps the check only.
  MustApply(Reg(MakeNode("n1"), std::nullopt, {MakeCheck("n1", "c1", kCritical, "web1")}));
  store_.CheckServiceNodes(nullptr, "web", false, &rows);
  EXPECT_EQ(rows[0].checks[0].raft.create_index, 1u);
  EXPECT_EQ(rows[0].checks[0].raft.modify_index, 4u);
  EXPECT_EQ(rows[0].service.raft.modify_index, 3u);

  // A node address change bumps the node.
  MustApply(Reg(MakeNode("n1", "10.0.0.2")));
  EXPECT_EQ(*nodes_watch, 1);
  std::optional<Node> node;
  EXPECT_EQ(store_.GetNode(nullptr, "n1", &node), 5u);
  EXPECT_EQ(node->raft.create_index, 1u);
  EXPECT_EQ(node->raft.modify_index, 5u);
}

TEST_F(StoreTest, ServiceChangeRefreshesItsChecksServiceTags) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web", 80, {"v1"}),
                {MakeCheck("n1", "c1", kPassing, "web1")}));
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web", 80, {"v2"})));
  std::vector<HealthCheck> checks;
  store_.NodeChecks(nullptr, "n1", &checks);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].service_tags, std::vector<std::string>{"v2"});
  EXPECT_EQ(checks[0].raft.modify_index, 2u);
}

TEST_F(StoreTest, NodeIDUnderNewNameRenamesTheNode) {
  Node a = MakeNode("old-name");
  a.id = "0b1b6f3c-0000-4000-8000-000000000001";
  MustApply(Reg(a, MakeService("web1", "web")));
  Node b = a;
  b.node = "new-name";
  MustApply(Reg(b));
  std::vector<Node> nodes;
  store_.Nodes(nullptr, &nodes);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].node, "new-name");
  std::vector<ServiceNode> rows;
  store_.ServiceNodes(nullptr, "web", false, &rows);
  EXPECT_TRUE(rows.empty());
}

// ---- Deregistration

TEST_F(StoreTest, DeregisterCheckServiceAndNodeCascade) {
  MustApply(
      Reg(MakeNode("n1"), MakeService("web1", "web"),
          {MakeCheck("n1", "serfHealth", kPassing), MakeCheck("n1", "c-web", kPassing, "web1")}));
  MustApply(
      Reg(MakeNode("n1"), MakeService("db1", "db"), {MakeCheck("n1", "c-db", kPassing, "db1")}));
  std::vector<HealthCheck> checks;

  MustApply(Dereg("n1", "", "c-db"));  // check only
  store_.NodeChecks(nullptr, "n1", &checks);
  EXPECT_EQ(checks.size(), 2u);
  std::vector<ServiceNode> rows;
  store_.ServiceNodes(nullptr, "db", false, &rows);
  EXPECT_EQ(rows.size(), 1u);

  MustApply(Dereg("n1", "web1"));  // service and its checks
  store_.NodeChecks(nullptr, "n1", &checks);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].check_id, "serfHealth");
  store_.ServiceNodes(nullptr, "web", false, &rows);
  EXPECT_TRUE(rows.empty());

  MustApply(Dereg("n1"));  // node and everything on it
  std::vector<Node> nodes;
  store_.Nodes(nullptr, &nodes);
  EXPECT_TRUE(nodes.empty());
  store_.ChecksInState(nullptr, "any", &checks);
  EXPECT_TRUE(checks.empty());
  store_.AllServiceNodes(nullptr, &rows);
  EXPECT_TRUE(rows.empty());
  std::map<std::string, std::vector<std::string>> services;
  store_.Services(nullptr, &services);
  EXPECT_TRUE(services.empty());
}

TEST_F(StoreTest, DeregisterUnknownThingsIsANoOp) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  auto any = WatchRead([&](WatchSet* ws) {
    std::vector<ServiceNode> rows;
    store_.AllServiceNodes(ws, &rows);
    std::vector<HealthCheck> checks;
    store_.ChecksInState(ws, "any", &checks);
  });
  MustApply(Dereg("n2"));
  MustApply(Dereg("n1", "nope"));
  MustApply(Dereg("n1", "", "nope"));
  EXPECT_EQ(*any, 0);
  EXPECT_EQ(Apply(Dereg("")).status.message(), "Must provide node");
}

// ---- Catalog reads

TEST_F(StoreTest, ServicesUnionTagsAndRowsAreSorted) {
  MustApply(Reg(MakeNode("n2"), MakeService("web", "web", 80, {"b", "a"})));
  MustApply(Reg(MakeNode("n1"), MakeService("web", "web", 80, {"c", "a"})));
  MustApply(Reg(MakeNode("n1"), MakeService("api", "api", 81)));
  std::map<std::string, std::vector<std::string>> services;
  EXPECT_EQ(store_.Services(nullptr, &services), 3u);
  EXPECT_EQ(services["web"], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(services["api"], std::vector<std::string>{});

  std::vector<ServiceNode> rows;
  store_.AllServiceNodes(nullptr, &rows);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].service.service, "api");
  EXPECT_EQ(rows[1].node.node, "n1");
  EXPECT_EQ(rows[2].node.node, "n2");
  store_.ServiceNodes(nullptr, "web", false, &rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].node.node, "n1");
  EXPECT_EQ(rows[0].node.address, "10.0.0.1");
}

TEST_F(StoreTest, ConnectReadsFindProxiesAndNativeInstances) {
  NodeService proxy = MakeService("web1-sidecar-proxy", "web-sidecar-proxy", 21000);
  proxy.kind = "connect-proxy";
  proxy.proxy = ProxyConfig{.destination_service_name = "web", .destination_service_id = "web1"};
  NodeService native = MakeService("web2", "web", 8443);
  native.connect = {{"Native", true}};
  NodeService gateway = MakeService("gw", "gateway", 8443);
  gateway.kind = "mesh-gateway";
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  MustApply(Reg(MakeNode("n1"), proxy));
  MustApply(Reg(MakeNode("n2"), native));
  MustApply(Reg(MakeNode("n2"), gateway));
  std::vector<ServiceNode> rows;
  store_.ServiceNodes(nullptr, "web", true, &rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].service.id, "web1-sidecar-proxy");
  EXPECT_EQ(rows[1].service.id, "web2");
  std::vector<CheckServiceNode> health;
  store_.CheckServiceNodes(nullptr, "web", true, &health);
  EXPECT_EQ(health.size(), 2u);
  store_.ServiceNodes(nullptr, "web", false, &rows);
  EXPECT_EQ(rows.size(), 2u);  // web1 and web2
}

TEST_F(StoreTest, ServiceDumpListsOneKindWithChecksAndWakesOnCheckChanges) {
  NodeService gw1 = MakeService("gw1", "mesh-gateway", 8443);
  gw1.kind = "mesh-gateway";
  NodeService gw2 = MakeService("gw2", "other-gateway", 8443);
  gw2.kind = "mesh-gateway";
  MustApply(Reg(MakeNode("n2"), gw1, {MakeCheck("n2", "gw1-tcp", kCritical, "gw1")}));
  MustApply(Reg(MakeNode("n1"), gw2));
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  std::vector<CheckServiceNode> rows;
  WatchSet ws;
  store_.ServiceDump(&ws, "mesh-gateway", &rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].service.id, "gw1");  // by service name first
  ASSERT_EQ(rows[0].checks.size(), 1u);
  EXPECT_EQ(rows[0].checks[0].status, kCritical);
  EXPECT_EQ(rows[1].service.id, "gw2");
  store_.ServiceDump(nullptr, "", &rows);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].service.id, "web1");
  store_.ServiceDump(nullptr, "terminating-gateway", &rows);
  EXPECT_TRUE(rows.empty());

  bool fired = false;
  store_.Watch(ws, [&] { fired = true; });
  MustApply(Reg(MakeNode("n2"), gw1, {MakeCheck("n2", "gw1-tcp", kPassing, "gw1")}));
  EXPECT_TRUE(fired);
}

TEST_F(StoreTest, CheckServiceNodesListNodeChecksFirst) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web"),
                {MakeCheck("n1", "a-web", kPassing, "web1"), MakeCheck("n1", "z-node", kWarning)}));
  MustApply(Reg(MakeNode("n1"), MakeService("web2", "web"),
                {MakeCheck("n1", "b-web2", kCritical, "web2")}));
  std::vector<CheckServiceNode> rows;
  store_.CheckServiceNodes(nullptr, "web", false, &rows);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].checks.size(), 2u);
  EXPECT_EQ(rows[0].checks[0].check_id, "z-node");
  EXPECT_EQ(rows[0].checks[1].check_id, "a-web");
  ASSERT_EQ(rows[1].checks.size(), 2u);
  EXPECT_EQ(rows[1].checks[1].check_id, "b-web2");

  std::vector<HealthCheck> checks;
  store_.ChecksInState(nullptr, kCritical, &checks);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].check_id, "b-web2");
  store_.ChecksInState(nullptr, "any", &checks);
  EXPECT_EQ(checks.size(), 3u);
  store_.ServiceChecks(nullptr, "web", &checks);
  EXPECT_EQ(checks.size(), 2u);
}

TEST_F(StoreTest, ServiceIndexIgnoresOtherServicesAndRemembersExtinction) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));  // 1
  MustApply(Reg(MakeNode("n1"), MakeService("db1", "db")));    // 2
  std::vector<CheckServiceNode> rows;
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 1u);
  std::vector<ServiceNode> catalog_rows;
  EXPECT_EQ(store_.ServiceNodes(nullptr, "db", false, &catalog_rows), 2u);
  // Never-seen service: the catalog's table index.
  EXPECT_EQ(store_.ServiceNodes(nullptr, "nope", false, &catalog_rows), 2u);
  MustApply(Dereg("n1", "db1"));  // 3
  EXPECT_EQ(store_.ServiceNodes(nullptr, "db", false, &catalog_rows), 3u);
  EXPECT_EQ(store_.ServiceNodes(nullptr, "nope", false, &catalog_rows), 3u);
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 1u);
  // A node-level check touches every service on the node.
  MustApply(Reg(MakeNode("n1"), std::nullopt, {MakeCheck("n1", "serfHealth", kPassing)}));  // 4
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 4u);
}

TEST_F(StoreTest, IndexIsNeverZeroOnceSomethingWasApplied) {
  std::vector<Node> nodes;
  EXPECT_EQ(store_.Nodes(nullptr, &nodes), 0u);
  MustApply(KV(KVOp::kSet, "k", "v"));
  EXPECT_EQ(store_.Nodes(nullptr, &nodes), 1u);
  std::vector<HealthCheck> checks;
  EXPECT_EQ(store_.ChecksInState(nullptr, "any", &checks), 1u);
  std::vector<CheckServiceNode> rows;
  EXPECT_EQ(store_.CheckServiceNodes(nullptr, "web", false, &rows), 1u);
}

TEST_F(StoreTest, ApplyRefusesAnIndexThatIsNotNewer) {
  MustApply(KV(KVOp::kSet, "k", "v"));
  auto r = store_.Apply(1, KV(KVOp::kSet, "k", "other"));
  EXPECT_EQ(r.status.code(), Code::kInternal);
  EXPECT_EQ(Get("k")->value, "v");
  EXPECT_EQ(store_.LastIndex(), 1u);
}

// ---- KV

TEST_F(StoreTest, KVSetKeepsCreateIndexAndMovesModifyIndex) {
  auto set = KV(KVOp::kSet, "k", "v1");
  set.entry.flags = 42;
  MustApply(set);
  MustApply(KV(KVOp::kSet, "other", "x"));
  MustApply(KV(KVOp::kSet, "k", "v2"));
  Index idx = 0;
  auto e = Get("k", &idx);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value, "v2");
  EXPECT_EQ(e->flags, 0u);
  EXPECT_EQ(e->raft.create_index, 1u);
  EXPECT_EQ(e->raft.modify_index, 3u);
  EXPECT_EQ(idx, 3u);
  // A missing key reports the KV table index.
  EXPECT_FALSE(Get("missing", &idx));
  EXPECT_EQ(idx, 3u);
}

TEST_F(StoreTest, KVCASSucceedsOnlyOnMatchingIndex) {
  auto r = Apply(KV(KVOp::kCAS, "k", "first", 0));  // 0: only if absent
  EXPECT_TRUE(r.success);
  r = Apply(KV(KVOp::kCAS, "k", "again", 0));
  EXPECT_TRUE(r.status.ok());
  EXPECT_FALSE(r.success);
  r = Apply(KV(KVOp::kCAS, "k", "stale", 7));
  EXPECT_FALSE(r.success);
  EXPECT_EQ(Get("k")->value, "first");
  r = Apply(KV(KVOp::kCAS, "k", "second", 1));
  EXPECT_TRUE(r.success);
  EXPECT_EQ(Get("k")->value, "second");
  EXPECT_EQ(Get("k")->raft.modify_index, 4u);
  r = Apply(KV(KVOp::kCAS, "absent", "x", 4));
  EXPECT_FALSE(r.success);
  EXPECT_FALSE(Get("absent"));
}

TEST_F(StoreTest, KVDeleteAndDeleteCAS) {
  MustApply(KV(KVOp::kSet, "a", "1"));
  MustApply(KV(KVOp::kSet, "b", "2"));
  auto r = Apply(KV(KVOp::kDeleteCAS, "a", "", 2));
  EXPECT_FALSE(r.success);
  EXPECT_TRUE(Get("a"));
  r = Apply(KV(KVOp::kDeleteCAS, "a", "", 1));
  EXPECT_TRUE(r.success);
  EXPECT_FALSE(Get("a"));
  r = Apply(KV(KVOp::kDeleteCAS, "never", "", 9));  // as in Consul: nothing to delete succeeds
  EXPECT_TRUE(r.success);
  r = Apply(KV(KVOp::kDelete, "b"));
  EXPECT_TRUE(r.success);
  EXPECT_FALSE(Get("b"));
  Index idx = 0;
  Get("b", &idx);
  EXPECT_EQ(idx, 6u);  // the delete's index (its tombstone)
  EXPECT_EQ(Apply(KV(KVOp::kSet, "")).status.message(), "Missing key name");
  EXPECT_EQ(Apply(KV(KVOp::kGet, "a")).status.code(), Code::kInvalidArgument);
}

TEST_F(StoreTest, KVDeleteTreeRemovesThePrefixOnly) {
  for (const char* k : {"app/a", "app/b/c", "apple", "b"}) MustApply(KV(KVOp::kSet, k, "v"));
  MustApply(KV(KVOp::kDeleteTree, "app/"));
  std::vector<std::string> keys;
  store_.KVKeys(nullptr, "", "", &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"apple", "b"}));
  MustApply(KV(KVOp::kDeleteTree, ""));
  store_.KVKeys(nullptr, "", "", &keys);
  EXPECT_TRUE(keys.empty());
}

TEST_F(StoreTest, KVListIndexFollowsEntriesAndTombstonesUnderThePrefix) {
  MustApply(KV(KVOp::kSet, "a/1", "v"));  // 1
  MustApply(KV(KVOp::kSet, "a/2", "v"));  // 2
  MustApply(KV(KVOp::kSet, "b/1", "v"));  // 3
  std::vector<KVEntry> list;
  EXPECT_EQ(store_.KVList(nullptr, "a/", &list), 2u);
  EXPECT_EQ(list.size(), 2u);
  MustApply(KV(KVOp::kDelete, "a/2"));  // 4
  EXPECT_EQ(store_.KVList(nullptr, "a/", &list), 4u);
  EXPECT_EQ(list.size(), 1u);
  MustApply(KV(KVOp::kSet, "b/2", "v"));  // 5
  EXPECT_EQ(store_.KVList(nullptr, "a/", &list), 4u);
  EXPECT_EQ(store_.KVList(nullptr, "", &list), 5u);
  EXPECT_EQ(store_.KVList(nullptr, "zzz", &list), 5u);  // nothing matches: table index
  std::vector<std::string> keys;
  EXPECT_EQ(store_.KVKeys(nullptr, "a/", "", &keys), 4u);
}

TEST_F(StoreTest, KVKeysRollsUpAtTheSeparator) {
  for (const char* k : {"a/b/c", "a/b/d", "a/d", "a", "b/x"}) MustApply(KV(KVOp::kSet, k, "v"));
  std::vector<std::string> keys;
  store_.KVKeys(nullptr, "a/", "/", &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/b/", "a/d"}));
  store_.KVKeys(nullptr, "", "/", &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "a/", "b/"}));
  store_.KVKeys(nullptr, "a/", "", &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/b/c", "a/b/d", "a/d"}));
}

// ---- Transactions

TEST_F(StoreTest, TxnAppliesAllOpsAndReturnsResults) {
  MustApply(KV(KVOp::kSet, "existing", "old"));
  TxnRequest txn;
  txn.ops = {KV(KVOp::kSet, "t/a", "A"),       KV(KVOp::kCAS, "t/b", "B", 0),
             KV(KVOp::kGet, "existing"),       KV(KVOp::kCheckIndex, "existing", "", 1),
             KV(KVOp::kCheckNotExists, "t/c"), KV(KVOp::kDelete, "existing"),
             KV(KVOp::kGetTree, "t/")};
  auto r = Apply(txn);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(r.txn_errors.empty());
  ASSERT_EQ(r.txn_results.size(), 6u);
  EXPECT_EQ(r.txn_results[0].key, "t/a");
  EXPECT_EQ(r.txn_results[0].value, "");  // writes return the entry without its value
  EXPECT_EQ(r.txn_results[0].raft.modify_index, 2u);
  EXPECT_EQ(r.txn_results[1].key, "t/b");
  EXPECT_EQ(r.txn_results[2].value, "old");  // reads return values
  EXPECT_EQ(r.txn_results[3].key, "existing");
  EXPECT_EQ(r.txn_results[4].value, "A");
  EXPECT_EQ(r.txn_results[5].value, "B");
  EXPECT_FALSE(Get("existing"));
  EXPECT_EQ(Get("t/b")->value, "B");
}

TEST_F(StoreTest, TxnRollsBackEverythingOnAnyError) {
  MustApply(KV(KVOp::kSet, "k", "v"));     // 1
  MustApply(KV(KVOp::kSet, "gone", "x"));  // 2
  auto watch_k = WatchKV("k");
  auto watch_all = WatchPrefix("");
  TxnRequest txn;
  txn.ops = {KV(KVOp::kSet, "k", "changed"),   KV(KVOp::kDelete, "gone"),
             KV(KVOp::kSet, "new", "n"),       KV(KVOp::kCAS, "k", "cas", 1),
             KV(KVOp::kGet, "missing"),        KV(KVOp::kCheckIndex, "gone", "", 2),
             KV(KVOp::kCheckNotExists, "new"), KV(KVOp::kDeleteCAS, "new", "", 99),
             KV(KVOp::kDeleteTree, "")};
  auto r = Apply(txn);
  EXPECT_EQ(r.status.code(), Code::kConflict);
  EXPECT_TRUE(r.txn_results.empty());
  // Every failing op is reported, and ops see earlier ops' effects: op 0 set k, so op 3's CAS
  // index is stale; op 1 deleted "gone" and op 2 created "new".
  std::vector<std::pair<int, std::string>> errors;
  for (const auto& e : r.txn_errors) errors.emplace_back(e.op_index, e.what);
  EXPECT_EQ(errors, (std::vector<std::pair<int, std::string>>{
                        {3, "failed to set key \"k\", index is stale"},
                        {4, "key \"missing\" doesn't exist"},
                        {5, "key \"gone\" doesn't exist"},
                        {6, "key \"new\" exists"},
                        {7, "failed to delete key \"new\", index is stale"}}));

  EXPECT_EQ(Get("k")->value, "v");
  EXPECT_EQ(Get("k")->raft.modify_index, 1u);
  EXPECT_EQ(Get("gone")->value, "x");
  EXPECT_FALSE(Get("new"));
  std::vector<KVEntry> list;
  EXPECT_EQ(store_.KVList(nullptr, "", &list), 2u);
  Index idx = 0;
  Get("gone", &idx);
  EXPECT_EQ(idx, 2u);
  EXPECT_EQ(*watch_k, 0);
  EXPECT_EQ(*watch_all, 0);
  EXPECT_EQ(store_.LastIndex(), 3u);
}

TEST_F(StoreTest, TxnCheckIndexMismatchAndCheckNotExistsMessages) {
  MustApply(KV(KVOp::kSet, "k", "v"));
  TxnRequest txn;
  txn.ops = {KV(KVOp::kCheckIndex, "k", "", 5), KV(KVOp::kCheckNotExists, "k"),
             KV(KVOp::kDeleteCAS, "k", "", 5), KV(KVOp::kSet, "", "x")};
  auto r = Apply(txn);
  ASSERT_EQ(r.txn_errors.size(), 4u);
  EXPECT_EQ(r.txn_errors[0].what, "current modify index 1 != 5");
  EXPECT_EQ(r.txn_errors[1].what, "key \"k\" exists");
  EXPECT_EQ(r.txn_errors[2].what, "failed to delete key \"k\", index is stale");
  EXPECT_EQ(r.txn_errors[3].what, "Missing key name");
}

// ---- Watches

TEST_F(StoreTest, KVWatchesFireOnlyForTheirKeyOrPrefix) {
  MustApply(KV(KVOp::kSet, "y", "1"));
  auto x = WatchKV("x");
  auto y = WatchKV("y");
  auto a = WatchPrefix("a/");
  auto all = WatchPrefix("");
  auto b = WatchPrefix("b/");
  auto ab = WatchPrefix("a/b");
  auto abc = WatchPrefix("a/bc");
  MustApply(KV(KVOp::kSet, "x", "1"));
  EXPECT_EQ(*x, 1);
  EXPECT_EQ(*y, 0);
  EXPECT_EQ(*all, 1);
  EXPECT_EQ(*a, 0);
  MustApply(KV(KVOp::kSet, "a/b", "1"));
  EXPECT_EQ(*a, 1);
  EXPECT_EQ(*ab, 1);
  EXPECT_EQ(*abc, 0);
  EXPECT_EQ(*b, 0);
  EXPECT_EQ(*y, 0);
  // Deletes fire too; a delete of an absent key changes nothing and fires nothing.
  auto y2 = WatchKV("y");
  MustApply(KV(KVOp::kDelete, "nope"));
  EXPECT_EQ(*y2, 0);
  MustApply(KV(KVOp::kDelete, "y"));
  EXPECT_EQ(*y2, 1);
  EXPECT_EQ(*y, 1);
  EXPECT_EQ(*x, 1);                    // fired watches are gone
  EXPECT_EQ(store_.WatchCount(), 2u);  // b and abc remain
}

TEST_F(StoreTest, ServiceWatchesFireForTheirServiceOnly) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  MustApply(Reg(MakeNode("n2"), MakeService("db1", "db")));
  auto web = WatchHealth("web");
  auto db = WatchHealth("db");
  auto web_catalog = WatchRead([&](WatchSet* ws) {
    std::vector<ServiceNode> rows;
    store_.ServiceNodes(ws, "web", false, &rows);
  });
  auto web_connect = WatchHealth("web", /*connect=*/true);
  auto n2_services = WatchRead([&](WatchSet* ws) {
    std::optional<Node> n;
    std::vector<NodeService> s;
    store_.NodeServices(ws, "n2", &n, &s);
  });
  MustApply(Reg(MakeNode("n1"), MakeService("web2", "web")));
  EXPECT_EQ(*web, 1);
  EXPECT_EQ(*web_catalog, 1);
  EXPECT_EQ(*db, 0);
  EXPECT_EQ(*web_connect, 0);
  EXPECT_EQ(*n2_services, 0);

  NodeService proxy = MakeService("web1-proxy", "web-sidecar-proxy", 21000);
  proxy.kind = "connect-proxy";
  proxy.proxy = ProxyConfig{.destination_service_name = "web"};
  MustApply(Reg(MakeNode("n2"), proxy));
  EXPECT_EQ(*web_connect, 1);
  EXPECT_EQ(*db, 0);
  EXPECT_EQ(*n2_services, 1);
}

TEST_F(StoreTest, NodeChecksAndNodeChangesWakeHealthWatchesOfServicesOnThatNode) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  MustApply(Reg(MakeNode("n2"), MakeService("db1", "db")));
  auto web = WatchHealth("web");
  auto db = WatchHealth("db");
  auto critical = WatchRead([&](WatchSet* ws) {
    std::vector<HealthCheck> c;
    store_.ChecksInState(ws, kCritical, &c);
  });
  auto passing = WatchRead([&](WatchSet* ws) {
    std::vector<HealthCheck> c;
    store_.ChecksInState(ws, kPassing, &c);
  });
  MustApply(Reg(MakeNode("n1"), std::nullopt, {MakeCheck("n1", "serfHealth", kCritical)}));
  EXPECT_EQ(*web, 1);
  EXPECT_EQ(*db, 0);
  EXPECT_EQ(*critical, 1);
  EXPECT_EQ(*passing, 0);
  auto db2 = WatchHealth("db");
  MustApply(Reg(MakeNode("n2", "10.9.9.9")));
  EXPECT_EQ(*db, 1);
  EXPECT_EQ(*db2, 1);
}

TEST_F(StoreTest, TenThousandWatchersOnOneKeyAllFireOnce) {
  constexpr int kWatchers = 10000;
  std::vector<int> fired(kWatchers, 0);
  for (int i = 0; i < kWatchers; ++i) {
    WatchSet ws;
    std::optional<KVEntry> e;
    store_.KVGet(&ws, "hot", &e);
    store_.Watch(ws, [&fired, i] { ++fired[i]; });
  }
  auto unrelated = WatchKV("cold");
  auto start = std::chrono::steady_clock::now();
  MustApply(KV(KVOp::kSet, "hot", "1"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  // A figure for the log, not an assertion: timing belongs to benchmarks.
  std::printf("fired %d watches in %.3f ms\n", kWatchers,
              std::chrono::duration<double, std::milli>(elapsed).count());
  for (int i = 0; i < kWatchers; ++i) ASSERT_EQ(fired[i], 1) << i;
  EXPECT_EQ(*unrelated, 0);
  EXPECT_EQ(store_.WatchCount(), 1u);
  MustApply(KV(KVOp::kSet, "hot", "2"));
  for (int i = 0; i < kWatchers; ++i) ASSERT_EQ(fired[i], 1) << i;
}

TEST_F(StoreTest, CallbacksMayWatchAndUnwatchWhileFiring) {
  std::vector<std::string> log;
  WatchSet ws;
  std::optional<KVEntry> e;
  store_.KVGet(&ws, "k", &e);
  WatchId second = 0;
  WatchId rewatched = 0;
  store_.Watch(ws, [&] {
    log.push_back("first");
    store_.Unwatch(second);  // removed before its turn: it must not run
    // A watch added while firing waits for the next change (blocking queries re-arm like this).
    rewatched = store_.Watch(ws, [&] { log.push_back("rewatched"); });
  });
  second = store_.Watch(ws, [&] { log.push_back("second"); });
  store_.Watch(ws, [&] {
    log.push_back("third");
    store_.Unwatch(rewatched);
    rewatched = store_.Watch(ws, [&] { log.push_back("rewatched"); });
  });
  MustApply(KV(KVOp::kSet, "k", "1"));
  EXPECT_EQ(log, (std::vector<std::string>{"first", "third"}));
  EXPECT_EQ(store_.WatchCount(), 1u);
  MustApply(KV(KVOp::kSet, "k", "2"));
  EXPECT_EQ(log, (std::vector<std::string>{"first", "third", "rewatched"}));
  EXPECT_EQ(store_.WatchCount(), 0u);
}

TEST_F(StoreTest, UnwatchRemovesAWatch) {
  WatchSet ws;
  std::optional<KVEntry> e;
  store_.KVGet(&ws, "k", &e);
  store_.KVGet(&ws, "k", &e);  // duplicate keys are fine
  int fired = 0;
  WatchId id = store_.Watch(ws, [&] { ++fired; });
  EXPECT_EQ(store_.WatchCount(), 1u);
  store_.Unwatch(id);
  store_.Unwatch(id);
  store_.Unwatch(12345);
  EXPECT_EQ(store_.WatchCount(), 0u);
  MustApply(KV(KVOp::kSet, "k", "1"));
  EXPECT_EQ(fired, 0);
}

TEST_F(StoreTest, RejectedCommandsFireNothing) {
  MustApply(Reg(MakeNode("n1"), MakeService("web1", "web")));
  auto web = WatchHealth("web");
  auto nodes = WatchRead([&](WatchSet* ws) {
    std::vector<Node> n;
    store_.Nodes(ws, &n);
  });
  Apply(Reg(MakeNode("n1", "10.1.1.1"), MakeService("web1", "web", 1),
            {MakeCheck("n1", "c", kPassing, "missing")}));
  EXPECT_EQ(*web, 0);
  EXPECT_EQ(*nodes, 0);
}

// ---- Snapshots

ConnectCARequest CARoots(std::vector<std::string> ids, Index cas = 0) {
  ConnectCARequest r;
  r.op = CAOp::kSetRoots;
  r.cas = cas;
  r.roots = {{"TrustDomain", "td.consul"}, {"Roots", Json::array()}};
  for (const auto& id : ids) r.roots["Roots"].push_back({{"ID", id}});
  return r;
}

TEST_F(StoreTest, ConnectCADocumentsAreVersionedAndWatched) {
  Json out;
  EXPECT_EQ(store_.CARoots(nullptr, &out), 0u);
  EXPECT_TRUE(out.is_null());
  auto roots_fired = WatchRead([&](WatchSet* ws) { store_.CARoots(ws, &out); });
  auto config_fired = WatchRead([&](WatchSet* ws) { store_.CAConfig(ws, &out); });

  MustApply(KV(KVOp::kSet, "k", "v"));  // index 1
  MustApply(CARoots({"a"}));            // index 2
  EXPECT_EQ(*roots_fired, 1);
  EXPECT_EQ(*config_fired, 0);
  EXPECT_EQ(store_.CARoots(nullptr, &out), 2u);
  EXPECT_EQ(out["Roots"][0]["CreateIndex"], 2);
  EXPECT_EQ(out["Roots"][0]["ModifyIndex"], 2);

  // Rotation: "a" keeps its CreateIndex, "b" is new; a stale CAS changes nothing.
  auto stale = Apply(CARoots({"x"}, /*cas=*/1));
  EXPECT_TRUE(stale.status.ok());
  EXPECT_FALSE(stale.success);
  MustApply(CARoots({"a", "b"}, /*cas=*/2));  // index 4
  EXPECT_EQ(store_.CARoots(nullptr, &out), 4u);
  ASSERT_EQ(out["Roots"].size(), 2u);
  EXPECT_EQ(out["Roots"][0]["CreateIndex"], 2);
  EXPECT_EQ(out["Roots"][0]["ModifyIndex"], 4);
  EXPECT_EQ(out["Roots"][1]["CreateIndex"], 4);

  ConnectCARequest config;
  config.op = CAOp::kSetConfig;
  config.config = {{"Provider", "consul"}};
  MustApply(config);  // index 5
  config.config["Provider"] = "other";
  MustApply(config);  // index 6
  EXPECT_EQ(store_.CAConfig(nullptr, &out), 6u);
  EXPECT_EQ(out["CreateIndex"], 5);
  EXPECT_EQ(out["ModifyIndex"], 6);
  EXPECT_EQ(out["Provider"], "other");
  config.cas = 5;
  EXPECT_FALSE(Apply(config).success);

  // Snapshots carry the CA and restore it.
  std::string snap = store_.Snapshot();
  Store other;
  ASSERT_TRUE(other.Restore(snap).ok());
  Json back;
  EXPECT_EQ(other.CARoots(nullptr, &back), 4u);
  store_.CARoots(nullptr, &out);
  EXPECT_EQ(back, out);
  EXPECT_EQ(other.CAConfig(nullptr, &back), 6u);
  EXPECT_EQ(other.Snapshot(), snap);
}

ConfigEntryRequest Entry(ConfigEntryOp op, std::string kind, std::string name, Json body = {},
                         Index cas = 0) {
  ConfigEntryRequest r;
  r.op = op;
  r.kind = std::move(kind);
  r.name = std::move(name);
  r.cas = cas;
  r.entry = body.is_null() ? Json{{"Kind", r.kind}, {"Name", r.name}} : std::move(body);
  return r;
}

TEST_F(StoreTest, ConfigEntriesAreKeyedByKindAndName) {
  Json out;
  EXPECT_EQ(store_.ConfigEntry(nullptr, "service-defaults", "web", &out), 0u);
  EXPECT_TRUE(out.is_null());
  MustApply(KV(KVOp::kSet, "k", "v"));  // index 1
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-defaults", "web",
                  {{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}}));  // 2
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-defaults", "api"));                      // 3
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-resolver", "web"));                      // 4
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-defaults", "web",
                  {{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "grpc"}}));  // 5

  EXPECT_EQ(store_.ConfigEntry(nullptr, "service-defaults", "web", &out), 5u);
  EXPECT_EQ(out["Protocol"], "grpc");
  EXPECT_EQ(out["CreateIndex"], 2);
  EXPECT_EQ(out["ModifyIndex"], 5);
  // A read of an absent entry still reports the table's index (Consul's), for blocking.
  EXPECT_EQ(store_.ConfigEntry(nullptr, "service-router", "web", &out), 5u);
  EXPECT_TRUE(out.is_null());

  std::vector<Json> list;
  EXPECT_EQ(store_.ConfigEntries(nullptr, "service-defaults", &list), 5u);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["Name"], "api");
  EXPECT_EQ(list[1]["Name"], "web");
  store_.ConfigEntries(nullptr, "", &list);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2]["Kind"], "service-resolver");
  store_.ConfigEntries(nullptr, "mesh", &list);
  EXPECT_TRUE(list.empty());
}

TEST_F(StoreTest, ConfigEntryCASAndDelete) {
  // upsert-cas with 0: only if absent.
  EXPECT_TRUE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "mesh", "mesh", {}, 0)).success);  // 1
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "mesh", "mesh", {}, 0)).success);
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "mesh", "mesh", {}, 7)).success);
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "proxy-defaults", "global", {}, 1)).success);
  EXPECT_TRUE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "mesh", "mesh", {}, 1)).success);  // 5
  Json out;
  EXPECT_EQ(store_.ConfigEntry(nullptr, "mesh", "mesh", &out), 5u);
  EXPECT_EQ(out["CreateIndex"], 1);
  EXPECT_EQ(out["ModifyIndex"], 5);

  // delete-cas needs the entry and its index; a failed one changes nothing.
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kDeleteCAS, "mesh", "mesh", {}, 1)).success);
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kDeleteCAS, "mesh", "other", {}, 0)).success);
  EXPECT_EQ(store_.ConfigEntry(nullptr, "mesh", "mesh", &out), 5u);
  EXPECT_TRUE(Apply(Entry(ConfigEntryOp::kDeleteCAS, "mesh", "mesh", {}, 5)).success);  // 8
  EXPECT_EQ(store_.ConfigEntry(nullptr, "mesh", "mesh", &out), 8u);
  EXPECT_TRUE(out.is_null());
  // A plain delete of an absent entry succeeds and changes nothing.
  auto r = Apply(Entry(ConfigEntryOp::kDelete, "mesh", "mesh"));  // 9
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.success);
  EXPECT_EQ(store_.ConfigEntry(nullptr, "mesh", "mesh", &out), 8u);
  // Recreated: a new CreateIndex.
  MustApply(Entry(ConfigEntryOp::kUpsert, "mesh", "mesh"));  // 10
  store_.ConfigEntry(nullptr, "mesh", "mesh", &out);
  EXPECT_EQ(out["CreateIndex"], 10);
}

TEST_F(StoreTest, ConfigEntryWatchesFireForWhatChanged) {
  Json out;
  std::vector<Json> list;
  auto web =
      WatchRead([&](WatchSet* ws) { store_.ConfigEntry(ws, "service-defaults", "web", &out); });
  auto api =
      WatchRead([&](WatchSet* ws) { store_.ConfigEntry(ws, "service-defaults", "api", &out); });
  auto kind = WatchRead([&](WatchSet* ws) { store_.ConfigEntries(ws, "service-defaults", &list); });
  auto resolvers =
      WatchRead([&](WatchSet* ws) { store_.ConfigEntries(ws, "service-resolver", &list); });
  auto all = WatchRead([&](WatchSet* ws) { store_.ConfigEntries(ws, "", &list); });
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-defaults", "web"));
  EXPECT_EQ(*web, 1);
  EXPECT_EQ(*api, 0);
  EXPECT_EQ(*kind, 1);
  EXPECT_EQ(*resolvers, 0);
  EXPECT_EQ(*all, 1);

  // A failed CAS and a delete of nothing fire nothing.
  auto again = WatchRead([&](WatchSet* ws) { store_.ConfigEntries(ws, "", &list); });
  EXPECT_FALSE(Apply(Entry(ConfigEntryOp::kUpsertCAS, "service-defaults", "web", {}, 99)).success);
  MustApply(Entry(ConfigEntryOp::kDelete, "service-defaults", "nothing"));
  EXPECT_EQ(*again, 0);
  MustApply(Entry(ConfigEntryOp::kDelete, "service-defaults", "web"));
  EXPECT_EQ(*again, 1);
}

TEST_F(StoreTest, ConfigEntriesSurviveASnapshot) {
  MustApply(
      Entry(ConfigEntryOp::kUpsert, "proxy-defaults", "global",
            {{"Kind", "proxy-defaults"}, {"Name", "global"}, {"Config", {{"protocol", "http"}}}}));
  MustApply(Entry(ConfigEntryOp::kUpsert, "service-defaults", "web"));
  MustApply(Entry(ConfigEntryOp::kDelete, "service-defaults", "web"));
  std::string snap = store_.Snapshot();
  Store other;
  ASSERT_TRUE(other.Restore(snap).ok());
  Json back;
  EXPECT_EQ(other.ConfigEntry(nullptr, "proxy-defaults", "global", &back), 3u);
  EXPECT_EQ(back["Config"]["protocol"], "http");
  EXPECT_EQ(back["ModifyIndex"], 1);
  std::vector<Json> list;
  other.ConfigEntries(nullptr, "", &list);
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(other.Snapshot(), snap);
}

TEST_F(StoreTest, SnapshotRestoreRoundTrip) {
  NodeService proxy = MakeService("web1-proxy", "web-sidecar-proxy", 21000);
  proxy.kind = "connect-proxy";
  proxy.proxy = ProxyConfig{.destination_service_name = "web", .config = {{"protocol", "http"}}};
  HealthCheck http = MakeCheck("n1", "http", kPassing, "web1");
  http.definition.http = "http://localhost/health";
  http.definition.interval_ns = 10'000'000'000;
  http.definition.header = {{"X-A", {"1", "2"}}};
  Node n1 = MakeNode("n1");
  n1.id = "4e3c2a6b-1111-4000-8000-000000000001";
  n1.meta = {{"rack", "r1"}};
  MustApply(Reg(n1, MakeService("web1", "web", 80, {"v1"}), {http}));
  MustApply(Reg(MakeNode("n2"), proxy));
  MustApply(Reg(MakeNode("n3"), MakeService("db1", "db")));
  MustApply(Dereg("n3"));
  MustApply(KV(KVOp::kSet, "bin", std::string("\0\xff\x01", 3)));
  MustApply(KV(KVOp::kSet, std::string("key-\xff"), "non-UTF-8 key"));
  MustApply(KV(KVOp::kSet, "gone", "x"));
  MustApply(KV(KVOp::kDelete, "gone"));

  std::string snap = store_.Snapshot();
  Store other;
  auto fired = std::make_shared<int>(0);
  WatchSet ws;
  std::optional<KVEntry> e;
  other.KVGet(&ws, "unrelated", &e);
  other.Watch(ws, [fired] { ++*fired; });
  ASSERT_TRUE(other.Restore(snap).ok());
  EXPECT_EQ(*fired, 1);  // Restore fires every watch
  EXPECT_EQ(other.LastIndex(), store_.LastIndex());
  EXPECT_EQ(other.Snapshot(), snap);

  std::vector<CheckServiceNode> a, b;
  EXPECT_EQ(other.CheckServiceNodes(nullptr, "web", false, &a),
            store_.CheckServiceNodes(nullptr, "web", false, &b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(other.CheckServiceNodes(nullptr, "web", true, &a),
            store_.CheckServiceNodes(nullptr, "web", true, &b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 1u);
  std::vector<ServiceNode> ra, rb;
  EXPECT_EQ(other.ServiceNodes(nullptr, "db", false, &ra),
            store_.ServiceNodes(nullptr, "db", false, &rb));
  std::vector<KVEntry> ka, kb;
  EXPECT_EQ(other.KVList(nullptr, "", &ka), store_.KVList(nullptr, "", &kb));
  EXPECT_EQ(ka, kb);
  Index ia = 0, ib = 0;
  std::optional<KVEntry> ea, eb;
  ia = other.KVGet(nullptr, "gone", &ea);
  ib = store_.KVGet(nullptr, "gone", &eb);
  EXPECT_EQ(ia, ib);
  EXPECT_EQ(ia, 8u);
  // The restored store keeps working.
  ASSERT_TRUE(other.Apply(other.LastIndex() + 1, Dereg("n1", "web1")).status.ok());
  other.ServiceNodes(nullptr, "web", false, &ra);
  EXPECT_TRUE(ra.empty());
}

TEST_F(StoreTest, RestoreRejectsBadBytesAndKeepsTheStore) {
  MustApply(KV(KVOp::kSet, "k", "v"));
  std::string good = store_.Snapshot();
  Store other;
  ASSERT_TRUE(other.Apply(1, KV(KVOp::kSet, "mine", "1")).status.ok());
  std::vector<std::string> bad = {"",
                                  std::string(1, '\x02') + good.substr(1),
                                  "\x01",
                                  "\x01garbage",
                                  good.substr(0, good.size() - 3),
                                  good + "trailing"};
  // Structurally valid but inconsistent: a service on a node that is not there.
  Json orphan = {{"LastIndex", 5},
                 {"Services", {{{"Node", "ghost"}, {"Service", {{"ID", "s"}, {"Service", "s"}}}}}}};
  std::string orphan_bytes(1, '\x01');
  Json::to_msgpack(orphan, orphan_bytes);
  bad.push_back(orphan_bytes);
  Json future = {{"LastIndex", 1}, {"KVs", {{{"Key", "k"}, {"ModifyIndex", 9}}}}};
  std::string future_bytes(1, '\x01');
  Json::to_msgpack(future, future_bytes);
  bad.push_back(future_bytes);
  for (const auto& b : bad) {
    Status s = other.Restore(b);
    EXPECT_FALSE(s.ok()) << b.size();
    std::optional<KVEntry> e;
    other.KVGet(nullptr, "mine", &e);
    EXPECT_TRUE(e) << s.message();
    EXPECT_EQ(other.LastIndex(), 1u);
  }
}

// Coordinates (docs/coordinates.md): batches replace per (node, segment), skip unknown nodes and
// invalid coordinates, wake blocked readers, go with their node, and survive a snapshot.
TEST(Coordinates, BatchesSkipUnknownNodesAndGoWithTheirNode) {
  Store store;
  ASSERT_TRUE(store.Apply(1, Reg(MakeNode("a"))).status.ok());
  ASSERT_TRUE(store.Apply(2, Reg(MakeNode("b", "10.0.0.2"))).status.ok());
  coordinate::Coordinate c1 = coordinate::Coordinate::Initial();
  c1.vec[0] = 0.001;
  coordinate::Coordinate c2 = coordinate::Coordinate::Initial();
  c2.vec[1] = -0.002;
  coordinate::Coordinate bad = c1;
  bad.height = std::numeric_limits<double>::quiet_NaN();

  WatchSet ws;
  std::vector<CoordinateEntry> out;
  EXPECT_EQ(store.Coordinates(&ws, &out), 0u);
  EXPECT_TRUE(out.empty());
  bool fired = false;
  store.Watch(ws, [&] { fired = true; });

  CoordinateBatchRequest batch;
  batch.updates = {{"a", "", c1}, {"b", "", c2}, {"b", "seg", c1}, {"ghost", "", c1},
                   {"a", "x", bad}};
  ASSERT_TRUE(store.Apply(3, batch).status.ok());
  EXPECT_TRUE(fired);
  EXPECT_EQ(store.Coordinates(nullptr, &out), 3u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (CoordinateEntry{"a", "", c1}));
  EXPECT_EQ(out[1], (CoordinateEntry{"b", "", c2}));
  EXPECT_EQ(out[2], (CoordinateEntry{"b", "seg", c1}));
  EXPECT_EQ(store.NodeCoordinates(nullptr, "b", &out), 3u);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(store.NodeCoordinates(nullptr, "ghost", &out), 3u);
  EXPECT_TRUE(out.empty());

  // The same values again change nothing (no index move); a new one replaces.
  CoordinateBatchRequest same;
  same.updates = {{"a", "", c1}};
  ASSERT_TRUE(store.Apply(4, same).status.ok());
  EXPECT_EQ(store.Coordinates(nullptr, &out), 3u);
  same.updates = {{"a", "", c2}};
  ASSERT_TRUE(store.Apply(5, same).status.ok());
  EXPECT_EQ(store.NodeCoordinates(nullptr, "a", &out), 5u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].coord, c2);

  // A snapshot keeps them; restoring brings them back.
  Store copy;
  ASSERT_TRUE(copy.Restore(store.Snapshot()).ok());
  std::vector<CoordinateEntry> restored;
  EXPECT_EQ(copy.Coordinates(nullptr, &restored), 5u);
  store.Coordinates(nullptr, &out);
  EXPECT_EQ(restored, out);

  // Deregistering the node deletes its coordinates, in every segment.
  WatchSet ws2;
  store.Coordinates(&ws2, &out);
  fired = false;
  store.Watch(ws2, [&] { fired = true; });
  DeregisterRequest dereg;
  dereg.node = "b";
  ASSERT_TRUE(store.Apply(6, dereg).status.ok());
  EXPECT_TRUE(fired);
  EXPECT_EQ(store.Coordinates(nullptr, &out), 6u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].node, "a");
}

}  // namespace
}  // namespace gangway::catalog
