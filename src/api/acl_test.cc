// The ACL API and its enforcement on every route, in process (TestAgent, simulated time).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "acl/builtin.h"
#include "api/testing/test_agent.h"

namespace gangway::api {
namespace {

using catalog::Json;

acl::Config DenyByDefault() {
  acl::Config c;
  c.enabled = true;
  c.default_allow = false;
  return c;
}

class AclApiTest : public ::testing::Test {
 protected:
  AclApiTest() : agent_(DenyByDefault()) {}

  Json Body(const http::Response& r) { return Json::parse(r.body, nullptr, false); }

  // Bootstraps and keeps the management secret as the agent's request token.
  std::string Bootstrap() {
    auto r = agent_.Do("PUT", "/v1/acl/bootstrap");
    EXPECT_EQ(r.status, 200) << r.body;
    Json t = Body(r);
    management_ = t.value("SecretID", "");
    agent_.set_token(management_);
    return management_;
  }

  // A token with a policy of `rules`; returns its secret.
  std::string TokenWith(const std::string& name, const std::string& rules) {
    agent_.set_token(management_);
    auto p = agent_.Do("PUT", "/v1/acl/policy", Json{{"Name", name}, {"Rules", rules}}.dump());
    EXPECT_EQ(p.status, 200) << p.body;
    auto t = agent_.Do("PUT", "/v1/acl/token",
                       Json{{"Policies", {{{"Name", name}}}}}.dump());
    EXPECT_EQ(t.status, 200) << t.body;
    return Body(t).value("SecretID", "");
  }

  testing::TestAgent agent_;
  std::string management_;
};

TEST_F(AclApiTest, BootstrapsOnceWithConsulsTexts) {
  auto r = agent_.Do("PUT", "/v1/acl/bootstrap");
  ASSERT_EQ(r.status, 200) << r.body;
  Json t = Body(r);
  EXPECT_EQ(t["Description"], "Bootstrap Token (Global Management)");
  EXPECT_EQ(t["ID"], t["SecretID"]);
  EXPECT_EQ(t["Policies"][0]["Name"], "global-management");
  EXPECT_EQ(t["Local"], false);
  auto again = agent_.Do("PUT", "/v1/acl/bootstrap");
  EXPECT_EQ(again.status, 403);
  EXPECT_NE(again.body.find("Permission denied: ACL bootstrap no longer allowed (reset index: "),
            std::string::npos)
      << again.body;
  // The bootstrap token manages; no token is anonymous and refused.
  agent_.set_token(t["SecretID"]);
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/x", "1").status, 200);
  agent_.set_token("");
  auto anon = agent_.Do("PUT", "/v1/kv/x", "1");
  EXPECT_EQ(anon.status, 403);
  EXPECT_EQ(anon.body,
            "Permission denied: anonymous token lacks permission 'key:write' on \"x\". The "
            "anonymous token is used implicitly when a request does not specify a token.");
  agent_.set_token("00000000-dead-beef-0000-000000000000");
  auto unknown = agent_.Do("GET", "/v1/kv/x");
  EXPECT_EQ(unknown.status, 403);
  EXPECT_EQ(unknown.body, "ACL not found");
}

TEST_F(AclApiTest, KeyPrefixRulesGateKVAndFilterLists) {
  Bootstrap();
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/app/a", "1").status, 200);
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/other/b", "2").status, 200);
  std::string app = TokenWith("app", R"(key_prefix "app/" { policy = "write" })");
  agent_.set_token(app);
  EXPECT_EQ(agent_.Do("PUT", "/v1/kv/app/x", "v").status, 200);
  auto refused = agent_.Do("PUT", "/v1/kv/other/x", "v");
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("lacks permission 'key:write' on \"other/x\""), std::string::npos);
  auto keys = agent_.Do("GET", "/v1/kv/?keys");
  ASSERT_EQ(keys.status, 200);
  EXPECT_EQ(Body(keys), Json::array({"app/a", "app/x"}));
  bool marked = false;
  for (const auto& [k, v] : keys.headers) {
    marked = marked || (k == "X-Consul-Results-Filtered-By-ACLs" && v == "true");
  }
  EXPECT_TRUE(marked);
  // A recursive delete above the token's prefix is refused; below it, allowed.
  EXPECT_EQ(agent_.Do("DELETE", "/v1/kv/?recurse").status, 403);
  EXPECT_EQ(agent_.Do("DELETE", "/v1/kv/app/?recurse").status, 200);
}

TEST_F(AclApiTest, ServiceRulesGateRegistrationAndReads) {
  Bootstrap();
  std::string web = TokenWith("web", R"(service "web" { policy = "write" }
node_prefix "" { policy = "read" })");
  agent_.set_token(web);
  EXPECT_EQ(agent_.Do("PUT", "/v1/agent/service/register", R"({"Name":"web","Port":80})").status,
            200);
  auto api = agent_.Do("PUT", "/v1/agent/service/register", R"({"Name":"api","Port":81})");
  EXPECT_EQ(api.status, 403);
  EXPECT_NE(api.body.find("'service:write' on \"api\""), std::string::npos) << api.body;
  agent_.set_token(management_);
  ASSERT_EQ(agent_.Do("PUT", "/v1/agent/service/register", R"({"Name":"db","Port":82})").status,
            200);
  agent_.loop().RunFor(std::chrono::seconds(1));
  agent_.set_token(web);
  Json services = Body(agent_.Do("GET", "/v1/catalog/services"));
  EXPECT_TRUE(services.contains("web"));
  EXPECT_FALSE(services.contains("db"));
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/health/service/db")), Json::array());
}

TEST_F(AclApiTest, PoliciesRolesAndTokensRoundTrip) {
  Bootstrap();
  auto bad = agent_.Do("PUT", "/v1/acl/policy",
                       Json{{"Name", "x"}, {"Rules", "key_prefix \"a\" { policy = \"maybe\" }"}}.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("Invalid key_prefix policy"), std::string::npos) << bad.body;
  auto unknown = agent_.Do("PUT", "/v1/acl/token", R"({"Policies":[{"Name":"nope"}]})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("No such ACL policy with name \"nope\""), std::string::npos);
  auto p = Body(agent_.Do("PUT", "/v1/acl/policy",
                          Json{{"Name", "ro"}, {"Rules", "node_prefix \"\" { policy = \"read\" }"}}.dump()));
  auto role = agent_.Do("PUT", "/v1/acl/role",
                        Json{{"Name", "ops"}, {"Policies", {{{"ID", p["ID"]}}}}}.dump());
  ASSERT_EQ(role.status, 200) << role.body;
  EXPECT_EQ(Body(role)["Policies"][0]["Name"], "ro");
  auto token = agent_.Do("PUT", "/v1/acl/token", R"({"Roles":[{"Name":"ops"}],"Description":"d"})");
  ASSERT_EQ(token.status, 200) << token.body;
  Json t = Body(token);
  auto read = Body(agent_.Do("GET", "/v1/acl/token/" + t["AccessorID"].get<std::string>()));
  EXPECT_EQ(read["Roles"][0]["Name"], "ops");
  EXPECT_EQ(read["SecretID"], t["SecretID"]);
  // The token reads nodes through its role, and itself through token/self.
  agent_.set_token(t["SecretID"]);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/acl/token/self"))["AccessorID"], t["AccessorID"]);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/catalog/nodes")).size(), 1u);
  EXPECT_EQ(agent_.Do("GET", "/v1/acl/policies").status, 403);
  // Deleted, it is not found anywhere.
  agent_.set_token(management_);
  EXPECT_EQ(agent_.Do("DELETE", "/v1/acl/token/" + t["AccessorID"].get<std::string>()).status, 200);
  agent_.set_token(t["SecretID"]);
  EXPECT_EQ(agent_.Do("GET", "/v1/catalog/nodes").body, "ACL not found");
  // The builtin policy and the anonymous token cannot be deleted.
  agent_.set_token(management_);
  EXPECT_EQ(agent_.Do("DELETE", std::string("/v1/acl/policy/") + acl::kGlobalManagementPolicyID).status,
            403);
  EXPECT_EQ(agent_.Do("DELETE", std::string("/v1/acl/token/") + acl::kAnonymousAccessorID).status,
            403);
}

// A cached authorizer is dropped when any ACL table moves. The cache once compared a hash of
// the three indexes, which two states could share (tokens 45 / policies 44 and tokens 46 /
// policies 183): a narrowed policy then went on granting. Here the indexes are driven to that
// pair before the policy changes.
TEST_F(AclApiTest, ANarrowedPolicyTakesEffectAtOnce) {
  Bootstrap();
  // Writes a pad key until the last write is at `index` (nothing else writes meanwhile).
  auto pad_to = [&](uint64_t index) {
    for (int i = 0; i < 400; ++i) {
      EXPECT_EQ(agent_.Do("PUT", "/v1/kv/pad", "x").status, 200);
      Json e = Body(agent_.Do("GET", "/v1/kv/pad"));
      if (e[0]["ModifyIndex"].get<uint64_t>() >= index) return e[0]["ModifyIndex"].get<uint64_t>();
    }
    return uint64_t{0};
  };
  ASSERT_EQ(pad_to(42), 42u);
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/bench/key", "v").status, 200);  // 43
  auto pr = agent_.Do("PUT", "/v1/acl/policy",
                      Json{{"Name", "bench"}, {"Rules", R"(key_prefix "bench/" { policy = "read" })"}}.dump());
  ASSERT_EQ(pr.status, 200) << pr.body;
  auto p = Body(pr);
  EXPECT_EQ(p["ModifyIndex"], 44u);
  auto tr = agent_.Do("PUT", "/v1/acl/token", R"({"Policies":[{"Name":"bench"}]})");
  ASSERT_EQ(tr.status, 200) << tr.body;
  auto t = Body(tr);
  EXPECT_EQ(t["ModifyIndex"], 45u);
  agent_.set_token(t["SecretID"]);
  ASSERT_EQ(agent_.Do("GET", "/v1/kv/bench/key").status, 200);
  agent_.set_token(management_);
  auto other = Body(agent_.Do("PUT", "/v1/acl/token", "{}"));
  EXPECT_EQ(other["ModifyIndex"], 46u);
  ASSERT_EQ(pad_to(182), 182u);
  std::string id = p["ID"];
  auto narrowed = agent_.Do("PUT", "/v1/acl/policy/" + id,
                            Json{{"Name", "bench"}, {"Rules", R"(key_prefix "bench/" { policy = "deny" })"}}.dump());
  ASSERT_EQ(narrowed.status, 200) << narrowed.body;
  agent_.set_token(t["SecretID"]);
  EXPECT_EQ(agent_.Do("GET", "/v1/kv/bench/key").status, 403);
}

TEST_F(AclApiTest, ABlockingQueryEndsWhenItsTokenIsDeleted) {
  Bootstrap();
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/k", "v0").status, 200);
  std::string reader = TokenWith("reader", R"(key_prefix "" { policy = "read" })");
  Json self;
  {
    agent_.set_token(reader);
    self = Body(agent_.Do("GET", "/v1/acl/token/self"));
  }
  auto first = agent_.Do("GET", "/v1/kv/k");
  std::string index;
  for (const auto& [k, v] : first.headers) {
    if (k == "X-Consul-Index") index = v;
  }
  auto pending = agent_.Send("GET", "/v1/kv/k?index=" + index + "&wait=60s");
  agent_.loop().RunPending();
  EXPECT_FALSE(pending->response.has_value());
  agent_.set_token(management_);
  ASSERT_EQ(agent_.Do("DELETE", "/v1/acl/token/" + self["AccessorID"].get<std::string>()).status, 200);
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/k", "v").status, 200);  // wakes the query
  agent_.loop().RunFor(std::chrono::seconds(1));
  ASSERT_TRUE(pending->response.has_value());
  EXPECT_EQ(pending->response->status, 403);
  EXPECT_EQ(pending->response->body, "ACL not found");
}

// One request per route and method, without a token, under default deny: each is refused (403)
// or answers with nothing in it. Routes Consul gates nothing on are listed; a route without a
// sample fails the test, so a new endpoint cannot land without its rule being exercised here.
TEST_F(AclApiTest, EveryRouteRefusesOrFiltersAnonymousRequests) {
  Bootstrap();
  // Something to leak in every list.
  ASSERT_EQ(agent_.Do("PUT", "/v1/agent/service/register",
                      R"({"Name":"web","Port":80,"Check":{"CheckID":"web-ttl","TTL":"30s"}})")
                .status,
            200);
  ASSERT_EQ(agent_.Do("PUT", "/v1/kv/web", "v").status, 200);
  ASSERT_EQ(agent_.Do("PUT", "/v1/config",
                      R"({"Kind":"service-defaults","Name":"web","Protocol":"http"})")
                .status,
            200);
  ASSERT_EQ(agent_.Do("PUT", "/v1/connect/intentions/exact?source=api&destination=web",
                      R"({"Action":"allow"})")
                .status,
            200);
  // The node's serfHealth, which the membership reconciler registers on a real server.
  ASSERT_EQ(agent_.Do("PUT", "/v1/catalog/register",
                      R"({"Node":"test","Address":"127.0.0.1","Check":{"CheckID":"serfHealth",
                          "Name":"Serf Health Status","Status":"passing"}})")
                .status,
            200);
  auto session = agent_.Do("PUT", "/v1/session/create", "{}");
  ASSERT_EQ(session.status, 200) << session.body;
  std::string sid = Body(session)["ID"];
  Json policy = Body(agent_.Do("PUT", "/v1/acl/policy", R"({"Name":"p","Rules":""})"));
  Json token = Body(agent_.Do("PUT", "/v1/acl/token", "{}"));
  Json role = Body(agent_.Do("PUT", "/v1/acl/role", R"({"Name":"r"})"));
  Json query = Body(agent_.Do("POST", "/v1/query", R"({"Name":"webq","Service":{"Service":"web"}})"));
  ASSERT_TRUE(query.contains("ID")) << query.dump();
  const std::string qid = query["ID"];
  agent_.loop().RunFor(std::chrono::seconds(1));
  agent_.set_token("");

  struct Sample {
    std::string method, target, body;
  };
  const std::string pid = policy["ID"], acc = token["AccessorID"], rid = role["ID"];
  const std::vector<Sample> samples = {
      {"GET", "/v1/agent/self"},
      {"GET", "/v1/agent/members"},
      {"GET", "/v1/agent/services"},
      {"PUT", "/v1/agent/service/register", R"({"Name":"web2","Port":1})"},
      {"PUT", "/v1/agent/service/deregister/web"},
      {"PUT", "/v1/agent/service/maintenance/web?enable=true"},
      {"GET", "/v1/agent/service/web"},
      {"PUT", "/v1/agent/maintenance?enable=true"},
      {"GET", "/v1/agent/checks"},
      {"PUT", "/v1/agent/check/register", R"({"Name":"n","TTL":"10s"})"},
      {"PUT", "/v1/agent/check/deregister/web-ttl"},
      {"PUT", "/v1/agent/check/pass/web-ttl"},
      {"GET", "/v1/agent/check/pass/web-ttl"},
      {"PUT", "/v1/agent/check/warn/web-ttl"},
      {"GET", "/v1/agent/check/warn/web-ttl"},
      {"PUT", "/v1/agent/check/fail/web-ttl"},
      {"GET", "/v1/agent/check/fail/web-ttl"},
      {"PUT", "/v1/agent/check/update/web-ttl", R"({"Status":"passing"})"},
      {"PUT", "/v1/agent/leave"},
      {"PUT", "/v1/agent/join/127.0.0.1:1"},
      {"PUT", "/v1/agent/force-leave/x"},
      {"GET", "/v1/agent/connect/ca/leaf/web"},
      {"POST", "/v1/agent/connect/authorize",
       R"({"Target":"web","ClientCertURI":"spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/api"})"},
      {"GET", "/v1/agent/connect/proxy/web-sidecar-proxy"},
      {"PUT", "/v1/agent/token/default", R"({"Token":"x"})"},
      {"PUT", "/v1/catalog/register", R"({"Node":"n2","Address":"10.0.0.2"})"},
      {"PUT", "/v1/catalog/deregister", R"({"Node":"test"})"},
      {"GET", "/v1/catalog/nodes"},
      {"GET", "/v1/catalog/services"},
      {"GET", "/v1/catalog/service/web"},
      {"GET", "/v1/catalog/connect/web"},
      {"GET", "/v1/catalog/node/test"},
      {"PUT", "/v1/config", R"({"Kind":"service-defaults","Name":"web","Protocol":"tcp"})"},
      {"GET", "/v1/config/service-defaults"},
      {"GET", "/v1/config/service-defaults/web"},
      {"DELETE", "/v1/config/service-defaults/web"},
      {"GET", "/v1/internal/config-entries"},
      {"GET", "/v1/connect/ca/configuration"},
      {"PUT", "/v1/connect/ca/configuration", R"({"Provider":"consul","Config":{}})"},
      {"PUT", "/v1/internal/connect/ca/sign", R"({"CSR":"x"})"},
      {"PUT", "/v1/internal/connect/ca/sign-intermediate", R"({"CSR":"x"})"},
      {"GET", "/v1/discovery-chain/web"},
      {"POST", "/v1/discovery-chain/web", "{}"},
      {"PUT", "/v1/event/fire/deploy"},
      {"GET", "/v1/event/list"},
      {"GET", "/v1/health/node/test"},
      {"GET", "/v1/health/checks/web"},
      {"GET", "/v1/health/state/any"},
      {"GET", "/v1/health/service/web"},
      {"GET", "/v1/health/connect/web"},
      {"GET", "/v1/internal/service-dump?kind=typical"},
      {"GET", "/v1/connect/intentions"},
      {"GET", "/v1/connect/intentions/exact?source=api&destination=web"},
      {"PUT", "/v1/connect/intentions/exact?source=db&destination=web", R"({"Action":"deny"})"},
      {"DELETE", "/v1/connect/intentions/exact?source=api&destination=web"},
      {"GET", "/v1/connect/intentions/check?source=api&destination=web"},
      {"GET", "/v1/connect/intentions/match?by=destination&name=web"},
      {"GET", "/v1/kv/web"},
      {"GET", "/v1/kv/?recurse"},
      {"GET", "/v1/kv/?keys"},
      {"PUT", "/v1/kv/web", "x"},
      {"DELETE", "/v1/kv/web"},
      {"PUT", "/v1/txn", R"([{"KV":{"Verb":"get","Key":"web"}}])"},
      {"GET", "/v1/operator/keyring"},
      {"POST", "/v1/operator/keyring", R"({"Key":"x"})"},
      {"PUT", "/v1/operator/keyring", R"({"Key":"x"})"},
      {"DELETE", "/v1/operator/keyring", R"({"Key":"x"})"},
      {"GET", "/v1/operator/raft/configuration"},
      {"DELETE", "/v1/operator/raft/peer?id=x"},
      {"GET", "/v1/snapshot"},
      {"PUT", "/v1/snapshot", "x"},
      {"PUT", "/v1/session/create", "{}"},
      {"PUT", "/v1/session/destroy/" + sid},
      {"PUT", "/v1/session/renew/" + sid},
      {"GET", "/v1/session/info/" + sid},
      {"GET", "/v1/session/node/test"},
      {"GET", "/v1/session/list"},
      {"GET", "/v1/coordinate/nodes"},
      {"GET", "/v1/coordinate/node/test"},
      {"PUT", "/v1/coordinate/update",
       R"({"Node":"test","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Height":1e-5}})"},
      {"GET", "/v1/acl/replication"},
      {"GET", "/v1/internal/acl/replicate?kind=policies"},
      {"GET", "/v1/internal/acl/replicate?kind=tokens"},
      {"GET", "/v1/acl/policies"},
      {"PUT", "/v1/acl/policy", R"({"Name":"q","Rules":""})"},
      {"GET", "/v1/acl/policy/" + pid},
      {"PUT", "/v1/acl/policy/" + pid, R"({"Name":"p2","Rules":""})"},
      {"DELETE", "/v1/acl/policy/" + pid},
      {"GET", "/v1/acl/roles"},
      {"PUT", "/v1/acl/role", R"({"Name":"r2"})"},
      {"GET", "/v1/acl/role/" + rid},
      {"PUT", "/v1/acl/role/" + rid, R"({"Name":"r3"})"},
      {"DELETE", "/v1/acl/role/" + rid},
      {"GET", "/v1/acl/tokens"},
      {"PUT", "/v1/acl/token", "{}"},
      {"GET", "/v1/acl/token/" + acc},
      {"PUT", "/v1/acl/token/" + acc, "{}"},
      {"DELETE", "/v1/acl/token/" + acc},
      {"GET", "/v1/query"},
      {"POST", "/v1/query", R"({"Name":"q2","Service":{"Service":"web"}})"},
      {"GET", "/v1/query/" + qid},
      {"PUT", "/v1/query/" + qid, R"({"Name":"webq","Service":{"Service":"api"}})"},
      {"DELETE", "/v1/query/" + qid},
      {"POST", "/v1/internal/query/execute-remote", R"({"Query":{"Service":{"Service":"web"}}})"},
  };
  // Consul gates nothing here, or the endpoint is the token's own business.
  const std::set<std::string> open = {"/v1/status/leader", "/v1/status/peers",
                                      "/v1/catalog/datacenters", "/v1/connect/ca/roots",
                                      "/v1/agent/connect/ca/roots", "/v1/acl/bootstrap",
                                      "/v1/acl/token/self", "/v1/internal/acl/resolve",
                                      "/v1/coordinate/datacenters"};
  // Nothing readable is left in an answer: empty lists and maps, null, or a 404 without a body.
  std::function<bool(const Json&)> empty = [&](const Json& j) {
    if (j.is_null()) return true;
    if (j.is_array() || j.is_object()) {
      for (const auto& v : j) {
        if (!empty(v)) return false;
      }
      return true;
    }
    return false;
  };
  for (const Route& route : agent_.api().routes()) {
    if (open.count(route.path) != 0) {
      EXPECT_NE(route.acl, AclCheck::kHandler) << route.path << " is open but resolves tokens";
      continue;
    }
    EXPECT_EQ(route.acl, AclCheck::kHandler) << route.path;
    for (const std::string& method : route.methods) {
      const Sample* sample = nullptr;
      for (const auto& s : samples) {
        std::string path = s.target.substr(0, s.target.find('?'));
        bool prefix = route.path.back() == '/';
        bool match = prefix ? path.rfind(route.path, 0) == 0 : path == route.path;
        // The longest route owns the path (as the router decides).
        const Route* owner = nullptr;
        for (const Route& r : agent_.api().routes()) {
          bool p = r.path.back() == '/';
          if (p ? path.rfind(r.path, 0) == 0 : path == r.path) {
            owner = &r;
            break;
          }
        }
        if (match && owner == &route && s.method == method) sample = &s;
      }
      if (sample == nullptr) {
        ADD_FAILURE() << "no sample request for " << method << " " << route.path
                      << ": add one (and the endpoint's ACL rule)";
        continue;
      }
      http::Response r = agent_.Do(sample->method, sample->target, sample->body);
      SCOPED_TRACE(sample->method + " " + sample->target + " -> " + std::to_string(r.status) +
                   " " + r.body);
      if (r.status == 403) {
        EXPECT_NE(r.body.find("Permission denied"), std::string::npos);
        continue;
      }
      if (r.status == 404 && r.body.empty()) continue;
      ASSERT_EQ(r.status, 200);
      Json body = Body(r);
      EXPECT_FALSE(body.is_discarded());
      EXPECT_TRUE(empty(body));
    }
  }
}

// Query rules govern named queries; execute needs none but shows only what the token (or the
// query's stored one) may read; tokens are shown only to acl:write.
TEST_F(AclApiTest, PreparedQueriesFollowQueryRulesAndStoredTokens) {
  Bootstrap();
  ASSERT_EQ(agent_.Do("PUT", "/v1/catalog/register",
                      R"({"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":80}})")
                .status,
            200);
  std::string reader = TokenWith("web-reader", "service \"web\" { policy = \"read\" }\n"
                                               "node_prefix \"\" { policy = \"read\" }");
  std::string writer = TokenWith("q-writer", "query_prefix \"team-\" { policy = \"write\" }");
  agent_.set_token(management_);
  Json plain = Body(agent_.Do("POST", "/v1/query",
                              R"({"Name":"team-plain","Service":{"Service":"web"}})"));
  Json stored = Body(agent_.Do(
      "POST", "/v1/query",
      Json{{"Name", "team-stored"}, {"Token", reader}, {"Service", {{"Service", "web"}}}}.dump()));
  ASSERT_TRUE(stored.contains("ID")) << stored.dump();

  agent_.set_token(writer);
  auto denied = agent_.Do("POST", "/v1/query", R"({"Name":"other","Service":{"Service":"web"}})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("lacks permission 'query:write' on \"other\""), std::string::npos)
      << denied.body;
  EXPECT_EQ(agent_.Do("POST", "/v1/query", R"({"Name":"team-x","Service":{"Service":"web"}})")
                .status,
            200);
  // The writer may read its queries, with the stored token hidden.
  Json mine = Body(agent_.Do("GET", "/v1/query/" + stored["ID"].get<std::string>()));
  ASSERT_EQ(mine.size(), 1u) << mine.dump();
  EXPECT_EQ(mine[0]["Token"], "<hidden>");
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query")).size(), 3u);

  // Execute: the writer's own token may not read web; the stored token may.
  Json none = Body(agent_.Do("GET", "/v1/query/team-plain/execute"));
  EXPECT_EQ(none["Nodes"], Json::array());
  Json some = Body(agent_.Do("GET", "/v1/query/team-stored/execute"));
  EXPECT_EQ(some["Nodes"].size(), 1u) << some.dump();
  agent_.set_token("");
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query/team-plain/execute"))["Nodes"], Json::array());
  EXPECT_EQ(agent_.Do("GET", "/v1/query/team-plain/explain").status, 403);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query")), Json::array());
  agent_.set_token(management_);
  EXPECT_EQ(Body(agent_.Do("GET", "/v1/query/" + stored["ID"].get<std::string>()))[0]["Token"],
            reader);
  (void)plain;
}

TEST(AclDisabled, AclEndpointsSayAclSupportIsDisabled) {
  testing::TestAgent agent;
  auto r = agent.Do("PUT", "/v1/acl/bootstrap");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "ACL support disabled");
  EXPECT_EQ(agent.Do("PUT", "/v1/kv/x", "1").status, 200);
}

}  // namespace
}  // namespace gangway::api
