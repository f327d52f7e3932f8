#include "cli/cli.h"

#include <gtest/gtest.h>

#include "core/base64.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/flags.h"
#include "cli/members.h"
#include "cli/table.h"
#include "cli/testing/fake_agent.h"
#include "cli/trust.h"

namespace gangway::cli {
namespace {

using Args = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Flags (the parser itself is tested in core/flags_test.cc)

TEST(FlagsTest, UsageListsGroups) {
  FlagSet set;
  HttpFlags http;
  bool detailed = false;
  http.Register(&set);
  set.Bool("detailed", &detailed, "Provides detailed information.");
  std::string u = set.Usage();
  EXPECT_EQ(u.find("HTTP API Options\n\n"), 0u);
  EXPECT_NE(u.find("  -http-addr=<address>\n     The address and port"), std::string::npos);
  EXPECT_NE(u.find("\n\nCommand Options\n\n  -detailed\n     Provides detailed information."),
            std::string::npos);
  EXPECT_NE(u.back(), '\n');
}

// ---------------------------------------------------------------------------------------------
// Tables and encodings

TEST(TableTest, ColumnizePadsAllButLastColumn) {
  EXPECT_EQ(Columnize({{"Node", "Address", "Status"}, {"a-long-name", "10.0.0.1:8301", "alive"}}),
            "Node         Address        Status\n"
            "a-long-name  10.0.0.1:8301  alive");
  // Empty trailing cells leave no trailing spaces.
  EXPECT_EQ(Columnize({{"web", ""}, {"db", "primary"}}), "web\ndb   primary");
  EXPECT_EQ(Columnize({}), "");
  // Widths count code points, not bytes.
  EXPECT_EQ(Columnize({{"é", "x"}, {"ab", "y"}}), "é   x\nab  y");
}

TEST(TableTest, AlignPairsAsTabwriter) {
  EXPECT_EQ(AlignPairs({{"CreateIndex", "1"}, {"Key", "k"}}, 6),
            "CreateIndex      1\n"
            "Key              k");
}

TEST(EncodingTest, PathEscaping) {
  EXPECT_EQ(EscapePath("a b/c?d#e%f"), "a%20b/c%3Fd%23e%25f");
  EXPECT_EQ(EscapePath("web/config:1@x"), "web/config:1@x");
  EXPECT_EQ(EscapePathSegment("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(EscapeQueryValue("k:v w&x"), "k%3Av%20w%26x");
  EXPECT_EQ(EscapePath("caf\xc3\xa9"), "caf%C3%A9");
}


// ---------------------------------------------------------------------------------------------
// members

const char kMembersJson[] = R"([
  {"Name":"web-1","Addr":"10.0.0.5","Port":8301,"Status":1,
   "Tags":{"role":"node","dc":"dc1","build":"0.1.0:abc","vsn":"2","segment":""}},
  {"Name":"srv-b","Addr":"10.0.0.2","Port":8301,"Status":4,
   "Tags":{"role":"consul","dc":"dc1","build":"0.1.0:abc","vsn":"2","port":"8300"}},
  {"Name":"srv-a","Addr":"10.0.0.1","Port":8301,"Status":1,
   "Tags":{"role":"consul","dc":"dc1","build":"0.1.0:abc","vsn":"2","port":"8300"}},
  {"Name":"serf-agent","Addr":"fd00::7","Port":7946,"Status":3,"Tags":{}}
])";

TEST(MembersTest, StandardTable) {
  auto out = FormatMembers(Json::parse(kMembersJson), false, ".*");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out,
            "Node        Address         Status  Type     Build  Protocol  DC   Partition  "
            "Segment\n"
            "srv-a       10.0.0.1:8301   alive   server   0.1.0  2         dc1  default    <all>\n"
            "srv-b       10.0.0.2:8301   failed  server   0.1.0  2         dc1  default    <all>\n"
            "serf-agent  [fd00::7]:7946  left    unknown\n"
            "web-1       10.0.0.5:8301   alive   client   0.1.0  2         dc1  default    "
            "<default>");
}

TEST(MembersTest, DetailedTable) {
  auto out = FormatMembers(Json::parse(kMembersJson), true, "alive");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "Node   Address        Status  Tags\n"
            "srv-a  10.0.0.1:8301  alive   build=0.1.0:abc,dc=dc1,port=8300,role=consul,vsn=2\n"
            "web-1  10.0.0.5:8301  alive   build=0.1.0:abc,dc=dc1,role=node,segment=,vsn=2");
}

TEST(MembersTest, StatusFilter) {
  auto failed = FormatMembers(Json::parse(kMembersJson), false, "fail");
  ASSERT_TRUE(failed.ok());
  EXPECT_NE(failed->find("srv-b"), std::string::npos);
  EXPECT_EQ(failed->find("srv-a"), std::string::npos);
  auto none = FormatMembers(Json::parse(kMembersJson), false, "^leaving$");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  auto both = FormatMembers(Json::parse(kMembersJson), false, "^(alive|failed)$");
  ASSERT_TRUE(both.ok());
  EXPECT_NE(both->find("srv-a"), std::string::npos);
  EXPECT_NE(both->find("srv-b"), std::string::npos);
  // Go's regexp syntax and wording, as `consul members -status`.
  auto bad = FormatMembers(Json::parse(kMembersJson), false, "(");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "Failed to compile status regexp: error parsing regexp: missing closing ): `(`");
  auto perl_class = FormatMembers(Json::parse(kMembersJson), false, R"(^\pL+$)");
  ASSERT_TRUE(perl_class.ok()) << perl_class.status().message();
  EXPECT_NE(perl_class->find("srv-a"), std::string::npos);
  EXPECT_EQ(MemberStatusName(0), "none");
  EXPECT_EQ(MemberStatusName(2), "leaving");
}

// ---------------------------------------------------------------------------------------------
// Agent address and token

TEST(AddressTest, Precedence) {
  auto a = ResolveAgentAddress("", FakeEnv({}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8500);

  a = ResolveAgentAddress("", FakeEnv({{"CONSUL_HTTP_ADDR", "10.0.0.1:8600"}}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->hostport, "10.0.0.1:8600");

  a = ResolveAgentAddress("", FakeEnv({{"CONSUL_HTTP_ADDR", "10.0.0.1:8600"},
                                       {"GANGWAY_HTTP_ADDR", "http://10.0.0.2:9500"}}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->hostport, "10.0.0.2:9500");

  a = ResolveAgentAddress("localhost:1234", FakeEnv({{"GANGWAY_HTTP_ADDR", "10.0.0.2:9500"}}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 1234);

  // An empty variable counts as unset.
  a = ResolveAgentAddress("", FakeEnv({{"GANGWAY_HTTP_ADDR", ""}, {"CONSUL_HTTP_ADDR", "h:1"}}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->hostport, "h:1");
}

TEST(AddressTest, Forms) {
  auto a = ParseAgentAddress("http://example.com");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 80);
  a = ParseAgentAddress("http://127.0.0.1:8500/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->hostport, "127.0.0.1:8500");
  a = ParseAgentAddress("[::1]:8500");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->hostport, "[::1]:8500");

  auto https = ParseAgentAddress("https://127.0.0.1:8501");
  ASSERT_TRUE(https.ok());
  EXPECT_TRUE(https->https);
  EXPECT_EQ(https->port, 8501);
  EXPECT_EQ(ParseAgentAddress("https://example.com")->port, 443);
  EXPECT_FALSE(ParseAgentAddress("unix:///tmp/consul.sock").ok());
  EXPECT_FALSE(ParseAgentAddress("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseAgentAddress("127.0.0.1:").ok());
  EXPECT_FALSE(ParseAgentAddress("").ok());
  EXPECT_FALSE(ParseAgentAddress("::1").ok());

  auto ssl = ResolveAgentAddress("", FakeEnv({{"CONSUL_HTTP_SSL", "true"}}));
  ASSERT_TRUE(ssl.ok());
  EXPECT_TRUE(ssl->https);
  EXPECT_EQ(ssl->hostport, "127.0.0.1:8500");
  EXPECT_FALSE(ResolveAgentAddress("", FakeEnv({{"CONSUL_HTTP_SSL", "yes"}})).ok());
}

TEST(AddressTest, Token) {
  HttpFlags flags;
  auto t = ResolveToken(flags, FakeEnv({{"CONSUL_HTTP_TOKEN", "c"}}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "c");
  t = ResolveToken(flags, FakeEnv({{"CONSUL_HTTP_TOKEN", "c"}, {"GANGWAY_HTTP_TOKEN", "g"}}));
  EXPECT_EQ(*t, "g");
  flags.token = "f";
  t = ResolveToken(flags, FakeEnv({{"GANGWAY_HTTP_TOKEN", "g"}}));
  EXPECT_EQ(*t, "f");
  flags.token.clear();
  flags.token_file = "/nonexistent/token";
  EXPECT_FALSE(ResolveToken(flags, FakeEnv({})).ok());
}

// ---------------------------------------------------------------------------------------------
// Commands against a canned agent

TEST(CommandTest, KeygenPrintsAFreshValidKey) {
  Harness a, b;
  ASSERT_EQ(a.Run({"keygen"}), 0) << a.err.str();
  ASSERT_EQ(b.Run({"keygen"}), 0);
  std::string key = a.out.str();
  ASSERT_EQ(key.size(), 45u);  // 44 base64 characters + newline
  EXPECT_EQ(key.back(), '\n');
  auto raw = Base64Decode(key.substr(0, 44));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), 32u);
  EXPECT_NE(key, b.out.str());
  EXPECT_TRUE(a.agent.requests.empty());  // no agent needed
  Harness extra;
  EXPECT_EQ(extra.Run({"keygen", "x"}), 1);
}

TEST(CommandTest, LockRefusesBadArgumentsBeforeTouchingTheAgent) {
  const std::pair<Args, std::string> cases[] = {
      {{"lock", "-n", "0", "p", "true"}, "Lock holder limit must be positive\n"},
      {{"lock", "p"}, "Key prefix and child command must be specified\n"},
      {{"lock", "-timeout", "soon", "p", "true"}, "Timeout must be positive\n"},
      {{"lock", "-monitor-retry", "-1", "p", "true"}, "Number for 'monitor-retry' must be >= 0\n"},
  };
  for (const auto& [args, message] : cases) {
    Harness h;
    EXPECT_EQ(h.Run(args), 1);
    EXPECT_EQ(h.err.str(), message);
    EXPECT_TRUE(h.agent.requests.empty());
  }
  // The session cannot be made: nothing runs.
  Harness h;
  h.agent.refuse = true;
  EXPECT_EQ(h.Run({"lock", "p", "touch /nonexistent/never"}), 1);
  EXPECT_EQ(h.err.str().rfind("Lock acquisition failed: ", 0), 0u) << h.err.str();
}

TEST(CommandTest, UnknownCommandAndHelp) {
  Harness h;
  EXPECT_EQ(h.Run({"frobnicate"}), 127);
  EXPECT_EQ(h.err.str().find("Usage: gangway [--version] [--help] <command> [<args>]"), 0u);
  EXPECT_NE(h.err.str().find("    agent        Runs a Gangway agent\n"), std::string::npos);
  EXPECT_NE(h.err.str().find("    members      Lists the members of a Gangway cluster\n"),
            std::string::npos);

  Harness help;
  EXPECT_EQ(help.Run({"--help"}), 0);
  EXPECT_NE(help.out.str().find("Available commands are:"), std::string::npos);

  Harness none;
  EXPECT_EQ(none.Run({}), 127);

  Harness sub;
  EXPECT_EQ(sub.Run({"kv", "put", "-h"}), 0);
  EXPECT_EQ(sub.out.str().find("Usage: gangway kv put [options] KEY [DATA]"), 0u);
  EXPECT_TRUE(sub.agent.requests.empty());
}

TEST(CommandTest, ParentWithoutSubcommandShowsSubcommands) {
  Harness h;
  EXPECT_EQ(h.Run({"kv"}), 1);
  EXPECT_EQ(h.err.str().find("Usage: gangway kv <subcommand>"), 0u);
  EXPECT_NE(h.err.str().find("Subcommands:\n    delete    Removes data from the KV store\n"),
            std::string::npos);
  Harness c;
  EXPECT_EQ(c.Run({"catalog"}), 1);
  EXPECT_NE(c.err.str().find("    datacenters    Lists all known datacenters\n"),
            std::string::npos);
}

TEST(CommandTest, UnknownFlagPrintsUsage) {
  Harness h;
  EXPECT_EQ(h.Run({"members", "-x"}), 1);
  EXPECT_EQ(h.err.str().find("flag provided but not defined: -x\n\nUsage: gangway members"), 0u);
  EXPECT_TRUE(h.agent.requests.empty());
}

TEST(CommandTest, Version) {
  Harness h;
  EXPECT_EQ(h.Run({"version"}), 0);
  EXPECT_EQ(h.out.str().find("Gangway v"), 0u);
  EXPECT_NE(h.out.str().find("\nRevision "), std::string::npos);
  EXPECT_NE(h.out.str().find("\nBuild Date "), std::string::npos);
  EXPECT_NE(h.out.str().find("\nProtocol 2 spoken by default, understands 2 to 3 (agent will "
                             "automatically use protocol >2 when speaking to compatible "
                             "agents)\n"),
            std::string::npos);
  Harness v;
  EXPECT_EQ(v.Run({"-v"}), 0);
  EXPECT_EQ(v.out.str(), h.out.str());
  EXPECT_TRUE(h.agent.requests.empty());
}

TEST(CommandTest, MembersRequestAndExitCodes) {
  Harness h;
  h.agent.On("GET /v1/agent/members?wan=1", 200, kMembersJson);
  h.vars["CONSUL_HTTP_TOKEN"] = "secret";
  EXPECT_EQ(h.Run({"members", "-wan", "-datacenter=dc2"}), 1);  // dc= changes the target
  ASSERT_EQ(h.agent.requests.size(), 1u);
  EXPECT_EQ(h.agent.requests[0].target, "/v1/agent/members?wan=1&dc=dc2");
  EXPECT_EQ(h.Header(0, "X-Consul-Token"), "secret");
  EXPECT_EQ(h.err.str(), "Error retrieving members: Unexpected response code: 404 ()\n");

  Harness ok;
  ok.agent.On("GET /v1/agent/members?wan=1", 200, kMembersJson);
  EXPECT_EQ(ok.Run({"members", "-wan"}), 0);
  EXPECT_EQ(ok.out.str().find("Node        Address"), 0u);

  Harness none;
  none.agent.On("GET /v1/agent/members", 200, kMembersJson);
  EXPECT_EQ(none.Run({"members", "-status=leaving"}), 2);
  EXPECT_EQ(none.out.str(), "");
}

TEST(CommandTest, ConnectionRefusedReadsLikeConsul) {
  Harness h;
  h.agent.refuse = true;
  EXPECT_EQ(h.Run({"members"}), 1);
  EXPECT_EQ(h.err.str(),
            "Error retrieving members: Get \"http://127.0.0.1:8500/v1/agent/members\": dial tcp "
            "127.0.0.1:8500: connect: connection refused\n");

  Harness https;
  https.agent.refuse = true;
  EXPECT_EQ(https.Run({"members", "-http-addr=https://127.0.0.1:8501"}), 1);
  EXPECT_EQ(https.err.str().find("Error retrieving members: Get \"https://127.0.0.1:8501/v1/"
                                 "agent/members\": dial tcp"),
            0u)
      << https.err.str();
  ASSERT_EQ(https.agent.requests.size(), 1u);
  EXPECT_TRUE(https.agent.requests[0].tls != nullptr);

  Harness bad_ca;
  EXPECT_EQ(bad_ca.Run({"members", "-http-addr=https://127.0.0.1:8501",
                        "-ca-file=/nonexistent/ca.pem"}),
            1);
  EXPECT_NE(bad_ca.err.str().find("Failed to read ca_file: open /nonexistent/ca.pem: no such "
                                  "file or directory"),
            std::string::npos)
      << bad_ca.err.str();
  EXPECT_TRUE(bad_ca.agent.requests.empty());
}

TEST(CommandTest, KvGet) {
  Harness h;
  h.agent.On("GET /v1/kv/app/a%20b", 200,
             R"([{"Key":"app/a b","Value":"aGVsbG8=","Flags":7,"CreateIndex":3,
                  "ModifyIndex":4,"LockIndex":0,"Session":""}])");
  EXPECT_EQ(h.Run({"kv", "get", "/app/a b"}), 0);
  EXPECT_EQ(h.out.str(), "hello\n");

  Harness d;
  d.agent.routes = h.agent.routes;
  EXPECT_EQ(d.Run({"kv", "get", "-detailed", "app/a b"}), 0);
  EXPECT_EQ(d.out.str(),
            "CreateIndex      3\n"
            "Flags            7\n"
            "Key              app/a b\n"
            "LockIndex        0\n"
            "ModifyIndex      4\n"
            "Session          -\n"
            "Value            hello\n");

  Harness missing;
  EXPECT_EQ(missing.Run({"kv", "get", "nope"}), 1);
  EXPECT_EQ(missing.err.str(), "Error! No key exists at: nope\n");

  Harness noarg;
  EXPECT_EQ(noarg.Run({"kv", "get"}), 1);
  EXPECT_EQ(noarg.err.str(), "Error! Missing KEY argument\n");
}

TEST(CommandTest, KvGetRecurseAndKeys) {
  Harness h;
  h.agent.On("GET /v1/kv/app?recurse", 200,
             R"([{"Key":"app/a","Value":"MQ=="},{"Key":"app/b","Value":null}])");
  EXPECT_EQ(h.Run({"kv", "get", "-recurse", "app"}), 0);
  EXPECT_EQ(h.out.str(), "app/a:1\napp/b:\n");

  Harness k;
  k.agent.On("GET /v1/kv/?keys&separator=%2F", 200, R"(["app/","top"])");
  EXPECT_EQ(k.Run({"kv", "get", "-keys"}), 0);
  EXPECT_EQ(k.out.str(), "app/\ntop\n");
}

TEST(CommandTest, KvPut) {
  Harness h;
  h.agent.On("PUT /v1/kv/key?flags=42", 200, "true");
  EXPECT_EQ(h.Run({"kv", "put", "-flags=42", "key", "value"}), 0);
  EXPECT_EQ(h.out.str(), "Success! Data written to: key\n");
  ASSERT_EQ(h.agent.requests.size(), 1u);
  EXPECT_EQ(h.agent.requests[0].method, "PUT");
  EXPECT_EQ(h.agent.requests[0].body, "value");

  Harness cas;
  cas.agent.On("PUT /v1/kv/key?cas=5", 200, "false");
  EXPECT_EQ(cas.Run({"kv", "put", "-cas", "-modify-index=5", "key", "v"}), 1);
  EXPECT_EQ(cas.err.str(), "Error! Did not write to key: CAS failed\n");

  Harness stdin_put;
  stdin_put.in.str("from stdin");
  stdin_put.agent.On("PUT /v1/kv/k", 200, "true");
  EXPECT_EQ(stdin_put.Run({"kv", "put", "k", "-"}), 0);
  EXPECT_EQ(stdin_put.agent.requests.at(0).body, "from stdin");

  Harness b64;
  b64.agent.On("PUT /v1/kv/k", 200, "true");
  EXPECT_EQ(b64.Run({"kv", "put", "-base64", "k", "aGk="}), 0);
  EXPECT_EQ(b64.agent.requests.at(0).body, "hi");
}

TEST(CommandTest, IntentionCreateCheckListGetDelete) {
  const std::string exact = "/v1/connect/intentions/exact?source=web&destination=api";
  Harness create;
  create.agent.On("PUT " + exact, 200, "true");
  EXPECT_EQ(create.Run({"intention", "create", "-deny", "web", "api"}), 0) << create.err.str();
  EXPECT_EQ(create.out.str(), "Created: web => api (deny)\n");
  ASSERT_EQ(create.agent.requests.size(), 2u);  // the lookup for a duplicate, then the write
  EXPECT_EQ(Json::parse(create.agent.requests[1].body),
            (Json{{"SourceType", "consul"}, {"Action", "deny"}}));

  Harness dup;
  dup.agent.On("GET " + exact, 200, R"({"SourceName":"web","DestinationName":"api","Action":"deny"})");
  EXPECT_EQ(dup.Run({"intention", "create", "web", "api"}), 1);
  EXPECT_EQ(dup.err.str(), "Error creating intention \"web => api (allow)\": duplicate intention "
                           "found: web => api (deny)\n");
  Harness replace;
  replace.agent.On("PUT " + exact, 200, "true");
  EXPECT_EQ(replace.Run({"intention", "create", "-allow", "-replace", "web", "api"}), 0);
  EXPECT_EQ(replace.out.str(), "Created: web => api (allow)\n");
  EXPECT_EQ(replace.agent.requests.size(), 1u);
  Harness both;
  EXPECT_EQ(both.Run({"intention", "create", "-allow", "-deny", "web", "api"}), 1);
  EXPECT_EQ(both.err.str(), "Only one of -allow or -deny may be specified.\n");

  const std::string check = "/v1/connect/intentions/check?source=web&destination=api";
  Harness allowed;
  allowed.agent.On("GET " + check, 200, R"({"Allowed":true})");
  EXPECT_EQ(allowed.Run({"intention", "check", "web", "api"}), 0);
  EXPECT_EQ(allowed.out.str(), "Allowed\n");
  Harness denied;
  denied.agent.On("GET " + check, 200, R"({"Allowed":false})");
  EXPECT_EQ(denied.Run({"intention", "check", "web", "api"}), 1);
  EXPECT_EQ(denied.out.str(), "Denied\n");
  Harness failed;
  failed.agent.On("GET " + check, 500, "no leader");
  EXPECT_EQ(failed.Run({"intention", "check", "web", "api"}), 2);
  Harness one_arg;
  EXPECT_EQ(one_arg.Run({"intention", "check", "web"}), 2);

  Harness list;
  list.agent.On("GET /v1/connect/intentions", 200,
                R"([{"SourceName":"web","DestinationName":"api","Action":"deny","Precedence":9},
                    {"SourceName":"*","DestinationName":"api","Action":"allow","Precedence":8}])");
  EXPECT_EQ(list.Run({"intention", "list"}), 0);
  EXPECT_EQ(list.out.str(),
            "ID  Source  Action  Destination  Precedence\n"
            "    web     deny    api          9\n"
            "    *       allow   api          8\n");
  Harness none;
  none.agent.On("GET /v1/connect/intentions", 200, "[]");
  EXPECT_EQ(none.Run({"intention", "list"}), 2);
  EXPECT_EQ(none.err.str(), "There are no intentions.\n");

  Harness get;
  get.agent.On("GET " + exact, 200,
               R"({"SourceName":"web","DestinationName":"api","Action":"deny"})");
  EXPECT_EQ(get.Run({"intention", "get", "web", "api"}), 0);
  EXPECT_EQ(get.out.str(), "Source:      web\nDestination: api\nAction:      deny\n");

  Harness del;
  del.agent.On("DELETE " + exact, 200, "true");
  EXPECT_EQ(del.Run({"intention", "delete", "web", "api"}), 0);
  EXPECT_EQ(del.out.str(), "Intention deleted.\n");
}

// The tutorial's service-router: the note, then the canonical entries, each merged with what is
// stored and written with cas on its index.
TEST(CommandTest, ConfigWriteOfTheTutorialsRouterWritesWhatItStandsFor) {
  Harness h;
  h.in.str(R"({
  "Kind": "service-router",
  "Name": "route-to-dc2",
  "Services": { "service": { "Datacenter": "dc2" } }, # Matches services in dc2
  "Routes": [{ "MeshGateway": { "Name": "mesh-gateway" },
               "Destination": { "Service": "mesh-gateway-upstream-dc2" } }]
})");
  h.agent.On("GET /v1/catalog/datacenters", 200, R"(["dc1","dc2"])");
  h.agent.On("GET /v1/catalog/service/mesh-gateway", 200, "[]");
  h.agent.On("GET /v1/config/proxy-defaults/global", 200,
             R"({"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"tcp"},
                 "CreateIndex":3,"ModifyIndex":8})");
  h.agent.On("PUT /v1/config?cas=0", 200, "true");
  h.agent.On("PUT /v1/config?cas=8", 200, "true");
  EXPECT_EQ(h.Run({"config", "write", "-"}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(),
            "Config entry written: service-resolver/service\n"
            "Config entry written: proxy-defaults/global\n");
  const std::string err = h.err.str();
  EXPECT_EQ(err.rfind("note: stdin: comments are not valid JSON; accepted", 0), 0u) << err;
  EXPECT_NE(err.find("\nnote: a service-router in the mesh-gateway tutorial's shape"),
            std::string::npos) << err;
  EXPECT_NE(err.find("\nnote: no service \"mesh-gateway\" is registered in this datacenter"),
            std::string::npos) << err;
  std::vector<std::string> writes;
  for (const auto& r : h.agent.requests) {
    if (r.method == "PUT") writes.push_back(r.target + " " + Json::parse(r.body).dump());
  }
  EXPECT_EQ(writes, (std::vector<std::string>{
                        "/v1/config?cas=0 "
                        R"({"Kind":"service-resolver","Name":"service",)"
                        R"("Redirect":{"Datacenter":"dc2"}})",
                        "/v1/config?cas=8 "
                        R"({"Config":{"protocol":"tcp"},"Kind":"proxy-defaults",)"
                        R"("MeshGateway":{"Mode":"local"},"Name":"global"})"}));

  Harness typo;
  typo.in.str(R"({"Kind": "service-router", "Services": {"api": {"Datacentr": "dc2"}}})");
  EXPECT_EQ(typo.Run({"config", "write", "-"}), 1);
  EXPECT_EQ(typo.err.str(),
            "Failed to decode config entry input: invalid config key \"Services.api.Datacentr\" (line 1); "
            "did you mean \"Datacenter\"?\n");
  EXPECT_TRUE(typo.agent.requests.empty());

  Harness raced;
  raced.in.str(R"({"Kind": "service-router", "Services": {"api": {"Datacenter": "dc2"}}})");
  raced.agent.On("GET /v1/catalog/datacenters", 200, R"(["dc1"])");
  raced.agent.On("PUT /v1/config?cas=0", 200, "false");
  EXPECT_EQ(raced.Run({"config", "write", "-"}), 1);
  EXPECT_NE(raced.err.str().find("note: datacenter \"dc2\" is not among the datacenters"),
            std::string::npos) << raced.err.str();
  EXPECT_NE(raced.err.str().find("Config entry not updated: service-resolver/api (it changed"),
            std::string::npos) << raced.err.str();
}

TEST(CommandTest, ConfigWriteReadsTheKindFromTheFilesName) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/service-defaults.consul";
  {
    std::ofstream f(path);
    f << "Name = \"api\"\nMeshGateway { Mode = \"local\" }\n";
  }
  Harness h;
  h.agent.On("PUT /v1/config", 200, "true");
  EXPECT_EQ(h.Run({"config", "write", path}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(), "Config entry written: service-defaults/api\n");
  EXPECT_EQ(h.err.str(), "note: " + path +
                             ": no Kind in the entry; read as Kind = \"service-defaults\", as "
                             "the file's name says (Consul needs the Kind key)\n");
  ASSERT_EQ(h.agent.requests.size(), 1u);
  EXPECT_EQ(Json::parse(h.agent.requests[0].body)["Kind"], "service-defaults");
  std::remove(path.c_str());
}

TEST(CommandTest, ConfigWriteFromHclJsonAndStdin) {
  Harness h;
  h.in.str("Kind = \"service-defaults\"\nName = \"web\"\n# a comment\nProtocol = \"http\"\n");
  h.agent.On("PUT /v1/config", 200, "true");
  EXPECT_EQ(h.Run({"config", "write", "-"}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(), "Config entry written: service-defaults/web\n");
  ASSERT_EQ(h.agent.requests.size(), 1u);
  EXPECT_EQ(Json::parse(h.agent.requests[0].body),
            (Json{{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}}));

  Harness json;
  json.in.str(R"({"kind": "proxy-defaults", "config": {"protocol": "http"}})");
  json.agent.On("PUT /v1/config?cas=7", 200, "false");
  EXPECT_EQ(json.Run({"config", "write", "-cas", "-modify-index=7", "-"}), 1);
  EXPECT_EQ(json.err.str(), "Config entry not updated: proxy-defaults/global\n");

  Harness bad;
  bad.in.str(R"({"Name": "web"})");
  EXPECT_EQ(bad.Run({"config", "write", "-"}), 1);
  EXPECT_EQ(bad.err.str(),
            "Failed to decode config entry input: Payload does not contain a "
            "kind/Kind key at the top level\n");
  EXPECT_TRUE(bad.agent.requests.empty());

  Harness refused;
  refused.in.str(R"({"Kind": "proxy-defaults", "Name": "x"})");
  refused.agent.On("PUT /v1/config", 500, "invalid name (\"x\"), only \"global\" is supported");
  EXPECT_EQ(refused.Run({"config", "write", "-"}), 1);
  EXPECT_EQ(refused.err.str(),
            "Error writing config entry proxy-defaults/x: Unexpected response code: 500 (invalid "
            "name (\"x\"), only \"global\" is supported)\n");

  Harness args;
  EXPECT_EQ(args.Run({"config", "write"}), 1);
  EXPECT_EQ(args.err.str(),
            "Must provide exactly one positional argument to specify the config "
            "entry to write\n");
  Harness missing;
  EXPECT_EQ(missing.Run({"config", "write", "/nonexistent/web.hcl"}), 1);
  EXPECT_EQ(missing.err.str(),
            "Failed to load data: Failed to read file: open "
            "/nonexistent/web.hcl: no such file or directory\n");
}

TEST(CommandTest, ConfigReadListDelete) {
  Harness read;
  read.agent.On("GET /v1/config/service-defaults/web", 200,
                R"({"Kind":"service-defaults","Name":"web","Protocol":"http"})");
  EXPECT_EQ(read.Run({"config", "read", "-kind", "service-defaults", "-name", "web"}), 0);
  EXPECT_EQ(read.out.str(),
            "{\n    \"Kind\": \"service-defaults\",\n    \"Name\": \"web\",\n"
            "    \"Protocol\": \"http\"\n}\n");
  Harness absent;
  absent.agent.On("GET /v1/config/service-defaults/api", 404,
                  R"(Config entry not found for "service-defaults" / "api")");
  EXPECT_EQ(absent.Run({"config", "read", "-kind", "service-defaults", "-name", "api"}), 1);
  EXPECT_EQ(absent.err.str(),
            "Error reading config entry \"service-defaults\" / \"api\": Unexpected response code: "
            "404 (Config entry not found for \"service-defaults\" / \"api\")\n");
  Harness no_kind;
  EXPECT_EQ(no_kind.Run({"config", "read", "-name", "web"}), 1);
  EXPECT_EQ(no_kind.err.str(), "Must specify the -kind parameter\n");

  Harness list;
  list.agent.On(
      "GET /v1/config/service-defaults", 200,
      R"([{"Kind":"service-defaults","Name":"api"},{"Kind":"service-defaults","Name":"web"}])");
  EXPECT_EQ(list.Run({"config", "list", "-kind", "service-defaults"}), 0);
  EXPECT_EQ(list.out.str(), "api\nweb\n");

  Harness del;
  del.agent.On("DELETE /v1/config/service-defaults/web", 200, "{}");
  EXPECT_EQ(del.Run({"config", "delete", "-kind", "service-defaults", "-name", "web"}), 0);
  EXPECT_EQ(del.out.str(), "Config entry deleted: service-defaults/web\n");
  Harness cas;
  cas.agent.On("DELETE /v1/config/service-defaults/web?cas=3", 200, "false");
  EXPECT_EQ(cas.Run({"config", "delete", "-kind", "service-defaults", "-name", "web", "-cas",
                     "-modify-index", "3"}),
            1);
  EXPECT_EQ(cas.err.str(), "Config entry not deleted: service-defaults/web\n");
  Harness no_name;
  EXPECT_EQ(no_name.Run({"config", "delete", "-kind", "service-defaults"}), 1);
  EXPECT_EQ(no_name.err.str(), "Must specify the -name parameter\n");
}

TEST(CommandTest, KvDelete) {
  Harness h;
  h.agent.On("DELETE /v1/kv/app?recurse", 200, "true");
  EXPECT_EQ(h.Run({"kv", "delete", "-recurse", "app"}), 0);
  EXPECT_EQ(h.out.str(), "Success! Deleted keys with prefix: app\n");

  Harness one;
  one.agent.On("DELETE /v1/kv/app", 200, "true");
  EXPECT_EQ(one.Run({"kv", "delete", "app"}), 0);
  EXPECT_EQ(one.out.str(), "Success! Deleted key: app\n");

  Harness bad;
  EXPECT_EQ(bad.Run({"kv", "delete", "-cas", "-recurse", "-modify-index=3", "app"}), 1);
  EXPECT_TRUE(bad.agent.requests.empty());
}

TEST(CommandTest, CatalogServicesAndNodes) {
  Harness h;
  h.agent.On("GET /v1/catalog/services", 200, R"({"web":["v2","v1"],"consul":[]})");
  EXPECT_EQ(h.Run({"catalog", "services"}), 0);
  EXPECT_EQ(h.out.str(), "consul\nweb\n");

  Harness t;
  t.agent.routes = h.agent.routes;
  EXPECT_EQ(t.Run({"catalog", "services", "-tags"}), 0);
  EXPECT_EQ(t.out.str(), "consul\nweb     v1,v2\n");

  Harness n;
  n.agent.On("GET /v1/catalog/nodes", 200,
             R"([{"Node":"node1","ID":"5e1f3c2a-aaaa-bbbb","Address":"10.0.0.1",
                  "Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.1"},"Meta":{}}])");
  EXPECT_EQ(n.Run({"catalog", "nodes"}), 0);
  EXPECT_EQ(n.out.str(), "Node   ID        Address   DC\nnode1  5e1f3c2a  10.0.0.1  dc1\n");

  Harness dcs;
  dcs.agent.On("GET /v1/catalog/datacenters", 200, R"(["dc1","dc2"])");
  EXPECT_EQ(dcs.Run({"catalog", "datacenters"}), 0);
  EXPECT_EQ(dcs.out.str(), "dc1\ndc2\n");
}

TEST(CommandTest, ServicesListingExplainsItself) {
  Harness h;
  h.agent.On("GET /v1/catalog/services", 200, R"({"mesh-gateway":[],"web":["v1"]})");
  h.agent.On("GET /v1/catalog/service/mesh-gateway", 200,
             R"([{"ServiceName":"mesh-gateway","ServiceKind":"mesh-gateway"}])");
  h.agent.On("GET /v1/catalog/service/web", 200,
             R"([{"ServiceName":"web","ServiceKind":""},{"ServiceName":"web"}])");
  EXPECT_EQ(h.Run({"services"}), 0);
  EXPECT_EQ(h.out.str(),
            "Service       Kind          Instances  Tags\n"
            "mesh-gateway  mesh-gateway  1\n"
            "web           typical       2          v1\n");
  EXPECT_EQ(h.err.str().find("note: \"gangway services\" is a Gangway listing"), 0u);
}

TEST(CommandTest, ServicesRegisterFromFlagsAndDeregister) {
  Harness h;
  h.agent.On("PUT /v1/agent/service/register", 200, "");
  EXPECT_EQ(
      h.Run({"services", "register", "-name=web", "-port=80", "-tag=a", "-tag=b", "-meta", "k=v"}),
      0);
  EXPECT_EQ(h.out.str(), "Registered service: web\n");
  Json body = Json::parse(h.agent.requests.at(0).body);
  EXPECT_EQ(body["Name"], "web");
  EXPECT_EQ(body["Port"], 80);
  EXPECT_EQ(body["Tags"], Json::array({"a", "b"}));
  EXPECT_EQ(body["Meta"]["k"], "v");

  Harness d;
  d.agent.On("PUT /v1/agent/service/deregister/web%2F1", 200, "");
  EXPECT_EQ(d.Run({"services", "deregister", "-id", "web/1"}), 0);
  EXPECT_EQ(d.out.str(), "Deregistered service: web/1\n");

  Harness none;
  EXPECT_EQ(none.Run({"services", "deregister"}), 1);
  EXPECT_EQ(none.err.str(), "Error: Must specify -id or file arguments\n");
}

TEST(CommandTest, ServicesRegisterJsonFileWithComments) {
  std::string path = testing::TempDir() + "cli_test_gateway.json";
  {
    std::ofstream f(path);
    f << "# dc1-mesh-gateway-service.json\n"
         "{\n"
         "  \"service\": {\n"
         "    \"name\": \"mesh-gateway\",\n"
         "    \"port\": 8443, # the port the gateway listens on\n"
         "    \"kind\": \"mesh-gateway\"\n"
         "  }\n"
         "}\n";
  }
  Harness h;
  h.agent.On("PUT /v1/agent/service/register", 200, "");
  int code = h.Run({"services", "register", path});
  std::remove(path.c_str());
  ASSERT_EQ(code, 0) << h.err.str();
  EXPECT_EQ(h.out.str(), "Registered service: mesh-gateway\n");
  EXPECT_EQ(h.err.str().rfind("note: ", 0), 0u) << h.err.str();
  EXPECT_NE(h.err.str().find("comments"), std::string::npos);
  Json body = Json::parse(h.agent.requests.at(0).body);
  EXPECT_EQ(body["Name"], "mesh-gateway");
  EXPECT_EQ(body["Kind"], "mesh-gateway");
  EXPECT_EQ(body["Port"], 8443);
}

TEST(CommandTest, ServicesRegisterReportsDecodeErrors) {
  std::string path = testing::TempDir() + "cli_test_bad.hcl";
  {
    std::ofstream f(path);
    f << "service {\n  name = \"web\"\n  prot = 80\n}\n";
  }
  Harness h;
  int code = h.Run({"services", "register", path});
  std::remove(path.c_str());
  EXPECT_EQ(code, 1);
  EXPECT_EQ(h.err.str().rfind("Error: ", 0), 0u) << h.err.str();
  EXPECT_NE(h.err.str().find("prot"), std::string::npos) << h.err.str();
  EXPECT_TRUE(h.agent.requests.empty());
}

TEST(CommandTest, LeaveAndInfo) {
  Harness h;
  h.agent.On("PUT /v1/agent/leave", 200, "");
  EXPECT_EQ(h.Run({"leave"}), 0);
  EXPECT_EQ(h.out.str(), "Graceful leave complete\n");

  Harness i;
  i.agent.On("GET /v1/agent/self", 200,
             R"({"Config":{"Server":true,"Version":"0.1.0","Revision":"abc"},
                 "Member":{"Addr":"10.0.0.1","Tags":{"port":"8300","bootstrap":"1"}},
                 "Stats":{"raft":{"state":"Leader","num_peers":0}}})");
  i.agent.On("GET /v1/status/leader", 200, R"("10.0.0.1:8300")");
  i.agent.On("GET /v1/catalog/datacenters", 200, R"(["dc1","dc2"])");
  EXPECT_EQ(i.Run({"info"}), 0);
  const std::string out = i.out.str();
  EXPECT_NE(out.find("build:\n\tprerelease = \n\trevision = abc\n\tversion = 0.1.0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("consul:\n\tacl = disabled\n\tbootstrap = true\n\tknown_datacenters = 2\n"
                     "\tleader = true\n\tleader_addr = 10.0.0.1:8300\n\tserver = true\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("raft:\n\tnum_peers = 0\n\tstate = Leader\n"), std::string::npos) << out;
}

// consul rtt's texts: LAN from /v1/coordinate/nodes (a default-segment match), one node against
// the local agent, WAN from /v1/coordinate/datacenters, and the errors.
TEST(CommandTest, RttPrintsConsulsLine) {
  const std::string nodes =
      R"([{"Node":"n1","Segment":"","Coord":{"Vec":[0.001,0,0,0,0,0,0,0],"Error":0.2,
           "Adjustment":0,"Height":0.0001}},
          {"Node":"n2","Segment":"","Coord":{"Vec":[0,0.002,0,0,0,0,0,0],"Error":0.2,
           "Adjustment":-0.0001,"Height":0.0002}}])";
  Harness h;
  h.agent.On("GET /v1/coordinate/nodes", 200, nodes);
  EXPECT_EQ(h.Run({"rtt", "n1", "n2"}), 0) << h.err.str();
  // sqrt(1e-6 + 4e-6) + 1e-4 + 2e-4 - 1e-4 = 2.436 ms.
  EXPECT_EQ(h.out.str(), "Estimated n1 <-> n2 rtt: 2.436 ms (using LAN coordinates)\n");

  Harness self;
  self.agent.On("GET /v1/agent/self", 200, R"({"Config":{"NodeName":"n2","Datacenter":"dc1"}})");
  self.agent.On("GET /v1/coordinate/nodes", 200, nodes);
  EXPECT_EQ(self.Run({"rtt", "n1"}), 0) << self.err.str();
  EXPECT_EQ(self.out.str(), "Estimated n1 <-> n2 rtt: 2.436 ms (using LAN coordinates)\n");

  Harness missing;
  missing.agent.On("GET /v1/coordinate/nodes", 200, nodes);
  EXPECT_EQ(missing.Run({"rtt", "n1", "n9"}), 1);
  EXPECT_EQ(missing.err.str(), "Could not find a coordinate for node \"n9\"\n");

  Harness none;
  EXPECT_EQ(none.Run({"rtt"}), 1);
  EXPECT_EQ(none.err.str(), "One or two node names must be specified\n");

  Harness wan;
  wan.agent.On("GET /v1/coordinate/datacenters", 200,
               R"([{"Datacenter":"dc1","AreaID":"wan","Coordinates":[{"Node":"s1","Segment":"",
                    "Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":0.2,"Adjustment":0,"Height":0.001}}]},
                   {"Datacenter":"dc2","AreaID":"wan","Coordinates":[{"Node":"s2","Segment":"",
                    "Coord":{"Vec":[0.03,0,0,0,0,0,0,0],"Error":0.2,"Adjustment":0,
                    "Height":0.001}}]}])");
  EXPECT_EQ(wan.Run({"rtt", "-wan", "s1.dc1", "s2.dc2"}), 0) << wan.err.str();
  EXPECT_EQ(wan.out.str(), "Estimated s1.dc1 <-> s2.dc2 rtt: 32.000 ms (using WAN coordinates)\n");
  Harness bad_wan;
  EXPECT_EQ(bad_wan.Run({"rtt", "-wan", "s1", "s2.dc2"}), 1);
  EXPECT_EQ(bad_wan.err.str(),
            "Node names must be specified as <node name>.<datacenter> with -wan\n");
}

TEST(CommandTest, StatusListsJoinedDatacenters) {
  Harness h;
  h.agent.On("GET /v1/agent/self", 200,
             R"({"Config":{"Server":true,"Datacenter":"dc1","NodeName":"srv1",
                           "PrimaryDatacenter":"dc1"}})");
  h.agent.On("GET /v1/status/leader", 200, R"("10.0.0.1:8300")");
  h.agent.On("GET /v1/status/peers", 200, R"(["10.0.0.1:8300"])");
  h.agent.On("GET /v1/agent/members?wan=1", 200,
             R"([{"Name":"srv1.dc1","Addr":"10.0.0.1","Port":8302,"Status":1,
                  "Tags":{"role":"consul","dc":"dc1","build":"0.1.0:x","vsn":"2"}},
                 {"Name":"srv1.dc2","Addr":"10.0.1.1","Port":8302,"Status":1,
                  "Tags":{"role":"consul","dc":"dc2","build":"0.1.0:x","vsn":"2"}},
                 {"Name":"srv1.dc3","Addr":"10.0.2.1","Port":8302,"Status":4,
                  "Tags":{"role":"consul","dc":"dc3","build":"0.1.0:x","vsn":"2"}}])");
  EXPECT_EQ(h.Run({"status"}), 0);
  const std::string out = h.out.str();
  EXPECT_EQ(out.find("Datacenter:   dc1\nNode:         srv1 (server)\n"), 0u) << out;
  EXPECT_NE(out.find("\nLeader:       10.0.0.1:8300\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nJoined WAN:   dc1, dc2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nUnreachable:  dc3"), std::string::npos) << out;
  EXPECT_NE(out.find("\nWAN members:\nNode"), std::string::npos) << out;
  EXPECT_EQ(h.err.str().rfind("note: \"gangway status\" is a Gangway summary", 0), 0u);
}

// S6: dc2 bootstrapped its own CA; dc3 cannot be asked; dc4 shares ours.
TEST(CommandTest, StatusNamesDatacentersThatDoNotShareTheTrustDomain) {
  Harness h;
  h.agent.On("GET /v1/agent/self", 200,
             R"({"Config":{"Server":true,"Datacenter":"dc1","NodeName":"srv1",
                           "PrimaryDatacenter":"dc1"}})");
  h.agent.On("GET /v1/agent/members?wan=1", 200,
             R"([{"Name":"srv1.dc1","Status":1,"Tags":{"role":"consul","dc":"dc1"}},
                 {"Name":"srv1.dc2","Status":1,"Tags":{"role":"consul","dc":"dc2"}}])");
  h.agent.On("GET /v1/catalog/datacenters", 200, R"(["dc1","dc2","dc3","dc4"])");
  h.agent.On("GET /v1/connect/ca/roots", 200,
             R"({"TrustDomain":"aaaa.consul","Roots":[{"ID":"11:11"}]})");
  h.agent.On("GET /v1/connect/ca/roots?dc=dc2&stale", 200,
             R"({"TrustDomain":"bbbb.consul","Roots":[{"ID":"22:22"}]})");
  h.agent.On("GET /v1/connect/ca/roots?dc=dc3&stale", 500, "No path to datacenter");
  h.agent.On("GET /v1/connect/ca/roots?dc=dc4&stale", 200,
             R"({"TrustDomain":"AAAA.consul","Roots":[{"ID":"11:11"}]})");
  EXPECT_EQ(h.Run({"status"}), 0) << h.err.str();
  const std::string out = h.out.str();
  EXPECT_NE(out.find("\nTrust domain:  aaaa.consul\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nConnect trust: dc1, dc4 share trust domain aaaa.consul\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nConnect trust: dc2 does not trust dc1: x509: certificate signed by unknown "
                     "authority (dc1 trust domain aaaa.consul, dc2 trust domain bbbb.consul); "
                     "cross-datacenter connections between them fail. Fix: set "
                     "primary_datacenter = \"dc1\" on dc2's servers and restart them, so dc2 "
                     "takes an intermediate from dc1's root\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nConnect trust: cannot read dc3's CA roots: Unexpected response code: 500 "
                     "(No path to datacenter)\n"),
            std::string::npos)
      << out;

  Harness j;
  j.agent.routes = h.agent.routes;
  EXPECT_EQ(j.Run({"status", "-format=json"}), 0) << j.err.str();
  Json doc = Json::parse(j.out.str());
  EXPECT_EQ(doc["ConnectCA"]["TrustDomainMismatch"], Json({"dc2"})) << j.out.str();
  EXPECT_EQ(doc["ConnectCA"]["Datacenters"],
            Json({{"dc2", "bbbb.consul"}, {"dc4", "AAAA.consul"}}));
  EXPECT_TRUE(doc["ConnectCA"]["Errors"].contains("dc3"));
}

TEST(ConnectTrust, LinesSayWhoSharesWhoDoesNotAndHowToFixIt) {
  auto ca = [](std::string dc, std::string td, std::vector<std::string> roots = {}) {
    DatacenterCA c;
    c.datacenter = std::move(dc);
    c.trust_domain = std::move(td);
    c.root_ids = std::move(roots);
    return c;
  };
  DatacenterCA dc1 = ca("dc1", "t1.consul", {"r1"});
  EXPECT_EQ(ConnectTrustLines(dc1, {ca("dc2", "t1.consul")}, "dc1"),
            std::vector<std::string>{"Connect trust: dc1, dc2 share trust domain t1.consul"});
  // Nothing to compare, or no Connect here: no line.
  EXPECT_TRUE(ConnectTrustLines(dc1, {}, "dc1").empty());
  DatacenterCA off = ReadDatacenterCA(
      "dc1", Unavailable("Unexpected response code: 500 (Connect must be enabled in order to use "
                         "this endpoint)"));
  EXPECT_TRUE(off.connect_disabled);
  EXPECT_TRUE(ConnectTrustLines(off, {ca("dc2", "t1.consul")}, "dc1").empty());
  EXPECT_EQ(
      ConnectTrustLines(ReadDatacenterCA("dc1", Unavailable("connection refused")), {}, "dc1"),
      std::vector<std::string>{"Connect trust: cannot read dc1's CA roots: connection refused"});

  // Asked from the wrong datacenter, the fix still goes to it.
  DatacenterCA dc2 = ca("dc2", "t2.consul", {"r2"});
  auto lines = ConnectTrustLines(dc2, {dc1}, "dc1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "Connect trust: dc2 does not trust dc1: x509: certificate signed by unknown authority "
            "(dc2 trust domain t2.consul, dc1 trust domain t1.consul); cross-datacenter "
            "connections between them fail. Fix: set primary_datacenter = \"dc1\" on dc2's "
            "servers and restart them, so dc2 takes an intermediate from dc1's root");
  // Two secondaries, neither the primary.
  lines = ConnectTrustLines(ca("dc3", "t3.consul"), {dc2}, "dc1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("Connect trust: dc3 and dc2 do not trust each other: x509: ", 0), 0u)
      << lines[0];
  EXPECT_NE(lines[0].find("Fix: set primary_datacenter = \"dc1\" on the servers of every "
                          "datacenter"),
            std::string::npos);
  // A shared root under another trust domain is no x509 failure.
  lines = ConnectTrustLines(dc1, {ca("dc2", "t2.consul", {"r0", "r1"})}, "dc1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("x509"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("shares root r1 with dc1"), std::string::npos) << lines[0];

  DatacenterCA read = ReadDatacenterCA(
      "dc2", Json::parse(R"({"TrustDomain":"t2.consul","Roots":[{"ID":"a"},{"ID":"b"}]})"));
  EXPECT_EQ(read.trust_domain, "t2.consul");
  EXPECT_EQ(read.root_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(read.error, "");
  EXPECT_NE(ReadDatacenterCA("dc2", Json::parse(R"({"Roots":[]})")).error, "");
}

constexpr char kKeyringJson[] =
    R"([{"WAN":true,"Datacenter":"dc1","Segment":"","NumNodes":2,
         "Keys":{"T2xkT2xkT2xkT2xkT2xkIQ==":2,"TmV3TmV3TmV3TmV3TmV3IQ==":1},
         "PrimaryKeys":{"T2xkT2xkT2xkT2xkT2xkIQ==":2}},
        {"WAN":false,"Datacenter":"dc1","Segment":"","NumNodes":3,
         "Messages":{"n3":"truncated key list response"},
         "Keys":{"T2xkT2xkT2xkT2xkT2xkIQ==":3},"PrimaryKeys":{"T2xkT2xkT2xkT2xkT2xkIQ==":3}}])";

TEST(CommandTest, KeyringListPrintsEveryPool) {
  Harness h;
  h.agent.On("GET /v1/operator/keyring", 200, kKeyringJson);
  EXPECT_EQ(h.Run({"keyring", "-list"}), 0);
  EXPECT_EQ(h.out.str(),
            "==> Gathering installed encryption keys...\n"
            "\nWAN:\n"
            "  T2xkT2xkT2xkT2xkT2xkIQ== [2/2]\n"
            "  TmV3TmV3TmV3TmV3TmV3IQ== [1/2]\n"
            "\ndc1 (LAN):\n"
            "  ===> n3: truncated key list response\n"
            "  T2xkT2xkT2xkT2xkT2xkIQ== [3/3]\n");
  EXPECT_EQ(h.err.str(), "");

  Harness local;
  local.agent.On("GET /v1/operator/keyring?local-only=true", 200, "[]");
  EXPECT_EQ(local.Run({"keyring", "-list", "-local-only"}), 0) << local.err.str();
  EXPECT_EQ(local.out.str(), "==> Gathering installed encryption keys...\n");
  // As Consul: -local-only goes with -list only, not even with -list-primary.
  Harness primary_local;
  EXPECT_EQ(primary_local.Run({"keyring", "-list-primary", "-local-only"}), 1);
  EXPECT_TRUE(primary_local.agent.requests.empty());

  Harness q;
  q.agent.On("GET /v1/operator/keyring?relay-factor=2", 200, kKeyringJson);
  EXPECT_EQ(q.Run({"keyring", "-list-primary", "-relay-factor=2"}), 0) << q.err.str();
  EXPECT_EQ(q.out.str().find("==> Gathering installed primary encryption keys...\n\nWAN:\n"
                             "  T2xkT2xkT2xkT2xkT2xkIQ== [2/2]\n\ndc1 (LAN):\n"),
            0u)
      << q.out.str();
}

TEST(CommandTest, KeyringChangesSendTheKey) {
  struct Case {
    const char* flag;
    const char* method;
    const char* banner;
  };
  const Case cases[] = {
      {"-install", "POST", "==> Installing new gossip encryption key...\n"},
      {"-use", "PUT", "==> Changing primary gossip encryption key...\n"},
      {"-remove", "DELETE", "==> Removing gossip encryption key...\n"},
  };
  for (const auto& c : cases) {
    Harness h;
    h.agent.On(std::string(c.method) + " /v1/operator/keyring", 200, "");
    EXPECT_EQ(h.Run({"keyring", std::string(c.flag) + "=TmV3TmV3TmV3TmV3TmV3IQ=="}), 0) << c.flag;
    EXPECT_EQ(h.out.str(), c.banner);
    ASSERT_EQ(h.agent.requests.size(), 1u);
    EXPECT_EQ(Json::parse(h.agent.requests[0].body), Json({{"Key", "TmV3TmV3TmV3TmV3TmV3IQ=="}}));
  }

  Harness fail;
  fail.agent.On("DELETE /v1/operator/keyring", 500,
                "1 error occurred:\n\t* dc1 (LAN) error: 1/1 nodes reported failure\n\n");
  EXPECT_EQ(fail.Run({"keyring", "-remove=T2xkT2xkT2xkT2xkT2xkIQ=="}), 1);
  EXPECT_EQ(fail.out.str(), "==> Removing gossip encryption key...\n");
  EXPECT_EQ(fail.err.str(),
            "error: Unexpected response code: 500 (1 error occurred:\n\t* dc1 (LAN) error: 1/1 "
            "nodes reported failure)\n");
}

TEST(CommandTest, KeyringNeedsExactlyOneAction) {
  Harness none;
  EXPECT_EQ(none.Run({"keyring"}), 1);
  EXPECT_EQ(none.err.str().find("Usage: gangway keyring [options]"), 0u);
  Harness two;
  EXPECT_EQ(two.Run({"keyring", "-list", "-install=abc"}), 1);
  EXPECT_EQ(two.err.str(), "Only a single action is allowed\n");
  Harness relay;
  EXPECT_EQ(relay.Run({"keyring", "-list", "-relay-factor=6"}), 1);
  EXPECT_EQ(relay.err.str(), "Error parsing relay factor: Relay factor must be in range: [0, 5]\n");
  Harness local;
  EXPECT_EQ(local.Run({"keyring", "-use=abc", "-local-only"}), 1);
  EXPECT_EQ(local.err.str(),
            "Error validating local-only: local-only can only be set for list requests\n");
  for (const Harness* h : {&none, &two, &relay, &local}) EXPECT_TRUE(h->agent.requests.empty());
}

TEST(CommandTest, EventFiresWithFiltersAndPayload) {
  Harness h;
  h.agent.On("GET /v1/agent/self", 200, R"({"Config":{"NodeName":"n1"}})");
  h.agent.On("PUT /v1/event/fire/deploy?node=web.%2A&service=api&tag=v1", 200,
             R"({"ID":"0f8d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b","Name":"deploy","Payload":"aGVsbG8=",
                 "NodeFilter":"web.*","ServiceFilter":"api","TagFilter":"v1","Version":1,
                 "LTime":0})");
  EXPECT_EQ(h.Run({"event", "-name=deploy", "-node=web.*", "-service=api", "-tag=v1", "hello"}),
            0)
      << h.err.str();
  EXPECT_EQ(h.out.str(), "Event ID: 0f8d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\n");
  ASSERT_EQ(h.agent.requests.size(), 2u);
  EXPECT_EQ(h.agent.requests[1].method, "PUT");
  EXPECT_EQ(h.agent.requests[1].body, "hello");

  Harness fail;
  fail.agent.On("GET /v1/agent/self", 200, "{}");
  fail.agent.On("PUT /v1/event/fire/big", 413, "Failed to fire event \"big\": too large");
  EXPECT_EQ(fail.Run({"event", "-name=big", "x"}), 1);
  EXPECT_EQ(fail.err.str(),
            "Error firing event: Unexpected response code: 413 (Failed to fire event \"big\": "
            "too large)\n");

  Harness down;
  down.agent.refuse = true;
  EXPECT_EQ(down.Run({"event", "-name=x"}), 1);
  EXPECT_EQ(down.err.str().find("Error querying Gangway agent: Get \"http://127.0.0.1:8500/v1/"
                                "agent/self\": dial tcp"),
            0u)
      << down.err.str();
}

TEST(CommandTest, EventRejectsBadInputBeforeCallingTheAgent) {
  Harness noname;
  EXPECT_EQ(noname.Run({"event", "payload"}), 1);
  EXPECT_EQ(noname.err.str().find("Event name must be specified\n\nUsage: gangway event"), 0u)
      << noname.err.str();
  Harness tag;
  EXPECT_EQ(tag.Run({"event", "-name=x", "-tag=v1"}), 1);
  EXPECT_EQ(tag.err.str(), "Cannot provide tag filter without service filter.\n");
  Harness re;
  EXPECT_EQ(re.Run({"event", "-name=x", "-node=web["}), 1);
  EXPECT_EQ(re.err.str(),
            "Failed to compile node filter regexp: error parsing regexp: missing closing ]: `[`\n");
  Harness many;
  EXPECT_EQ(many.Run({"event", "-name=x", "a", "b"}), 1);
  EXPECT_EQ(many.err.str().find("Too many command line arguments.\n\nUsage:"), 0u);
  for (const Harness* h : {&noname, &tag, &re, &many}) EXPECT_TRUE(h->agent.requests.empty());
}

// ---------------------------------------------------------------------------------------------
// connect ca

// What Gangway's server answers: nlohmann's sorted keys, the Config map as the server encodes it.
constexpr char kCaConfigJson[] =
    R"({"Config":{"CSRMaxConcurrent":0,"CSRMaxPerSecond":50,"IntermediateCertTTL":"8760h",)"
    R"("LeafCertTTL":"72h","PrivateKeyBits":256,"PrivateKeyType":"ec","RootCertTTL":"87600h"},)"
    R"("CreateIndex":5,"ForceWithoutCrossSigning":false,"ModifyIndex":7,"Provider":"consul",)"
    R"("State":null})";

TEST(ConnectCaTest, GetConfigPrintsTheStructAsConsulDoes) {
  Harness h;
  h.agent.On("GET /v1/connect/ca/configuration", 200, kCaConfigJson);
  ASSERT_EQ(h.Run({"connect", "ca", "get-config"}), 0) << h.err.str();
  // json.MarshalIndent(api.CAConfig, "", "\t"): the struct's field order, tabs, sorted Config.
  EXPECT_EQ(h.out.str(),
            "{\n"
            "\t\"Provider\": \"consul\",\n"
            "\t\"Config\": {\n"
            "\t\t\"CSRMaxConcurrent\": 0,\n"
            "\t\t\"CSRMaxPerSecond\": 50,\n"
            "\t\t\"IntermediateCertTTL\": \"8760h\",\n"
            "\t\t\"LeafCertTTL\": \"72h\",\n"
            "\t\t\"PrivateKeyBits\": 256,\n"
            "\t\t\"PrivateKeyType\": \"ec\",\n"
            "\t\t\"RootCertTTL\": \"87600h\"\n"
            "\t},\n"
            "\t\"State\": null,\n"
            "\t\"ForceWithoutCrossSigning\": false,\n"
            "\t\"CreateIndex\": 5,\n"
            "\t\"ModifyIndex\": 7\n"
            "}\n");
  EXPECT_EQ(h.err.str(), "");

  Harness q;
  q.vars["CONSUL_HTTP_TOKEN"] = "op";
  q.agent.On("GET /v1/connect/ca/configuration?dc=dc2&stale", 200,
             R"({"Provider":"consul","Config":{"LeafCertTTL":"24h","X":50.0,"Y":1e21},
                 "State":{"k":"v"}})");
  ASSERT_EQ(q.Run({"connect", "ca", "get-config", "-datacenter=dc2", "-stale"}), 0) << q.err.str();
  EXPECT_EQ(q.Header(0, "X-Consul-Token"), "op");
  EXPECT_EQ(q.out.str(),
            "{\n\t\"Provider\": \"consul\",\n\t\"Config\": {\n\t\t\"LeafCertTTL\": \"24h\",\n"
            "\t\t\"X\": 50,\n\t\t\"Y\": 1e+21\n\t},\n\t\"State\": {\n\t\t\"k\": \"v\"\n\t},\n"
            "\t\"ForceWithoutCrossSigning\": false,\n\t\"CreateIndex\": 0,\n"
            "\t\"ModifyIndex\": 0\n}\n");
}

TEST(ConnectCaTest, GetConfigErrors) {
  Harness denied;
  denied.agent.On("GET /v1/connect/ca/configuration", 403, "Permission denied");
  EXPECT_EQ(denied.Run({"connect", "ca", "get-config"}), 1);
  EXPECT_EQ(denied.out.str(), "");
  EXPECT_EQ(denied.err.str(),
            "Error querying CA configuration: Unexpected response code: 403 (Permission denied)\n");

  Harness down;
  down.agent.refuse = true;
  EXPECT_EQ(down.Run({"connect", "ca", "get-config"}), 1);
  EXPECT_EQ(down.err.str(),
            "Error querying CA configuration: Get \"http://127.0.0.1:8500/v1/connect/ca/"
            "configuration\": dial tcp 127.0.0.1:8500: connect: connection refused\n");

  Harness garbled;
  garbled.agent.On("GET /v1/connect/ca/configuration", 200, R"({"Provider":7})");
  EXPECT_EQ(garbled.Run({"connect", "ca", "get-config"}), 1);
  EXPECT_EQ(garbled.err.str(),
            "Error querying CA configuration: json: cannot unmarshal number into Go struct "
            "field CAConfig.Provider of type string\n");

  Harness flag;
  EXPECT_EQ(flag.Run({"connect", "ca", "get-config", "-format=json"}), 1);
  EXPECT_EQ(flag.err.str().find("flag provided but not defined: -format\n\n"
                                "Usage: gangway connect ca get-config [options]\n"),
            0u)
      << flag.err.str();
  EXPECT_NE(flag.err.str().find("\nFailed to parse args: flag provided but not defined: "
                                "-format\n"),
            std::string::npos);
  EXPECT_TRUE(flag.agent.requests.empty());
}

TEST(ConnectCaTest, SetConfigPutsTheFileThroughConsulsStruct) {
  TempFile file("cli_test_ca.json", R"({
    "Provider": "consul",
    "Config": {"LeafCertTTL": "24h", "IntermediateCertTTL": "288h", "PrivateKeyBits": 256,
               "RootCert": "<pem & more>"},
    "ForceWithoutCrossSigning": true,
    "unknown": "ignored"
  })");
  Harness h;
  h.agent.On("PUT /v1/connect/ca/configuration", 200, "true");
  ASSERT_EQ(h.Run({"connect", "ca", "set-config", "-config-file", file.path}), 0) << h.err.str();
  EXPECT_EQ(h.out.str(), "Configuration updated!\n");
  EXPECT_EQ(h.err.str(), "");
  ASSERT_EQ(h.agent.requests.size(), 1u);
  EXPECT_EQ(h.Header(0, "Content-Type"), "application/json");
  // Consul's client re-encodes api.CAConfig; the file's ForceWithoutCrossSigning is replaced by
  // the flag's value.
  EXPECT_EQ(h.agent.requests[0].body,
            R"({"Provider":"consul","Config":{"IntermediateCertTTL":"288h","LeafCertTTL":"24h",)"
            R"("PrivateKeyBits":256,"RootCert":"\u003cpem \u0026 more\u003e"},"State":null,)"
            R"("ForceWithoutCrossSigning":false,"CreateIndex":0,"ModifyIndex":0})"
            "\n");

  Harness force;
  force.agent.On("PUT /v1/connect/ca/configuration?dc=dc2", 200, "true");
  ASSERT_EQ(force.Run({"connect", "ca", "set-config", "-config-file=" + file.path,
                       "-force-without-cross-signing", "-dc=dc2"}),
            0)
      << force.err.str();
  EXPECT_TRUE(Json::parse(force.agent.requests.at(0).body)["ForceWithoutCrossSigning"]);
}

TEST(ConnectCaTest, SetConfigErrors) {
  Harness none;
  EXPECT_EQ(none.Run({"connect", "ca", "set-config"}), 1);
  EXPECT_EQ(none.err.str(), "The -config-file flag is required\n");

  Harness missing;
  const std::string nowhere = testing::TempDir() + "cli_test_no_such_ca.json";
  EXPECT_EQ(missing.Run({"connect", "ca", "set-config", "-config-file=" + nowhere}), 1);
  EXPECT_EQ(missing.err.str(),
            "Error reading config file: open " + nowhere + ": no such file or directory\n");

  Harness dir;
  EXPECT_EQ(dir.Run({"connect", "ca", "set-config", "-config-file=/"}), 1);
  EXPECT_EQ(dir.err.str(), "Error reading config file: read /: is a directory\n");

  TempFile bad("cli_test_bad_ca.json",
               R"({"Provider": "consul", "Config": {"LeafCertTTL": "1h",}})");
  Harness syntax;
  EXPECT_EQ(syntax.Run({"connect", "ca", "set-config", "-config-file=" + bad.path}), 1);
  EXPECT_EQ(syntax.err.str(),
            "Error parsing config file: invalid character '}' looking for beginning of object "
            "key string\n");

  TempFile mistyped("cli_test_mistyped_ca.json",
                    R"({"Provider": "consul", "Config": "LeafCertTTL=1h", "CreateIndex": -1})");
  Harness type;
  EXPECT_EQ(type.Run({"connect", "ca", "set-config", "-config-file=" + mistyped.path}), 1);
  EXPECT_EQ(type.err.str(),
            "Error parsing config file: json: cannot unmarshal string into Go struct field "
            "CAConfig.Config of type map[string]interface {}\n");

  TempFile state("cli_test_state_ca.json", R"({"State": {"id": 1}})");
  Harness state_type;
  EXPECT_EQ(state_type.Run({"connect", "ca", "set-config", "-config-file=" + state.path}), 1);
  EXPECT_EQ(state_type.err.str(),
            "Error parsing config file: json: cannot unmarshal number into Go struct field "
            "CAConfig.State of type string\n");

  TempFile top("cli_test_array_ca.json", "[]");
  Harness array;
  EXPECT_EQ(array.Run({"connect", "ca", "set-config", "-config-file=" + top.path}), 1);
  EXPECT_EQ(array.err.str(),
            "Error parsing config file: json: cannot unmarshal array into Go value of type "
            "api.CAConfig\n");

  for (const Harness* h : {&none, &missing, &dir, &syntax, &type, &state_type, &array}) {
    EXPECT_EQ(h->out.str(), "");
    EXPECT_TRUE(h->agent.requests.empty());
  }

  TempFile good("cli_test_good_ca.json",
                R"({"Provider": "consul", "Config": {"LeafCertTTL": "10m"}})");
  Harness rejected;
  rejected.agent.On("PUT /v1/connect/ca/configuration", 400,
                    "leaf cert TTL must be greater or equal than 1h0m0s\n");
  EXPECT_EQ(rejected.Run({"connect", "ca", "set-config", "-config-file=" + good.path}), 1);
  EXPECT_EQ(rejected.out.str(), "");
  EXPECT_EQ(rejected.err.str(),
            "Error setting CA configuration: Unexpected response code: 400 (leaf cert TTL must "
            "be greater or equal than 1h0m0s)\n");

  // The client is set up before -config-file is looked at, as in Consul.
  Harness addr;
  EXPECT_EQ(addr.Run({"connect", "ca", "set-config", "-http-addr=unix:///tmp/agent.sock"}), 1);
  EXPECT_EQ(addr.err.str().find("Error initializing client: "), 0u) << addr.err.str();
}

TEST(ConnectCaTest, ParentsListTheirSubcommands) {
  Harness ca;
  EXPECT_EQ(ca.Run({"connect", "ca"}), 1);
  EXPECT_EQ(ca.err.str().find("Usage: gangway connect ca <subcommand> [options] [args]\n"), 0u);
  EXPECT_NE(
      ca.err.str().find("documentation.\n\nSubcommands:\n"
                        "    get-config    Display the current Connect Certificate Authority (CA) "
                        "configuration\n"
                        "    set-config    Modify the current Connect CA configuration\n"),
      std::string::npos)
      << ca.err.str();

  Harness connect;
  EXPECT_EQ(connect.Run({"connect"}), 1);
  EXPECT_EQ(connect.err.str().find("Usage: gangway connect <subcommand> [options] [args]\n"), 0u);
  // The proxy commands are run by tools/main.cc; the CLI lists them.
  EXPECT_NE(connect.err.str().find(
                "\n\nSubcommands:\n"
                "    ca         Interact with the Gangway Connect Certificate Authority (CA)\n"
                "    envoy      Runs a mesh gateway or sidecar with Gangway's proxy (no Envoy)\n"
                "    gateway    Runs a mesh gateway with Gangway's proxy\n"
                "    proxy      Runs a Gangway Connect proxy\n"),
            std::string::npos)
      << connect.err.str();

  Harness top;
  EXPECT_EQ(top.Run({"--help"}), 0);
  EXPECT_NE(top.out.str().find("    connect      Interact with Gangway Connect\n"),
            std::string::npos)
      << top.out.str();

  Harness help;
  EXPECT_EQ(help.Run({"connect", "ca", "set-config", "-h"}), 0);
  EXPECT_EQ(help.out.str().find("Usage: gangway connect ca set-config [options]\n\n"
                                "  Modifies the current Connect Certificate Authority (CA) "
                                "configuration.\n"),
            0u);
  EXPECT_NE(help.out.str().find("  -config-file=<value>\n"), std::string::npos);
  EXPECT_NE(help.out.str().find("  -force-without-cross-signing\n"), std::string::npos);
  EXPECT_NE(help.out.str().find("  -stale\n"), std::string::npos);
  for (const Harness* h : {&ca, &connect, &top, &help}) EXPECT_TRUE(h->agent.requests.empty());
}

}  // namespace
}  // namespace gangway::cli
