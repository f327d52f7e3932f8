#include <gtest/gtest.h>

#include <map>

#include "apiclient/client.h"
#include "apiclient/config.h"
#include "apiclient/escape.h"
#include "apiclient/response.h"

namespace gangway::apiclient {
namespace {

GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

http::Response Answer(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ResponseTest, JsonBodyOfA200) {
  auto j = JsonBody(Answer(200, R"({"Roots":[]})"));
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE((*j)["Roots"].is_array());
}

TEST(ResponseTest, JsonBodyErrorsReadLikeConsuls) {
  auto j = JsonBody(Answer(500, "rpc error: no leader\n\n"));
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kUnavailable);
  EXPECT_EQ(j.status().message(), "Unexpected response code: 500 (rpc error: no leader)");
  j = JsonBody(Answer(200, "{not json"));
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kInternal);
}

TEST(ResponseTest, UnexpectedResponseTrimsTheBody) {
  Status s = UnexpectedResponse(Answer(404, "  no such key \n"));
  EXPECT_EQ(s.message(), "Unexpected response code: 404 (no such key)");
}

TEST(ResponseTest, IndexOfReadsTheHeaderInAnyCase) {
  http::Response r = Answer(200, "[]");
  EXPECT_EQ(IndexOf(r), 0u);
  r.headers = {{"Content-Type", "application/json"}, {"x-consul-index", "42"}};
  EXPECT_EQ(IndexOf(r), 42u);
  r.headers = {{"X-Consul-Index", "18446744073709551615"}};
  EXPECT_EQ(IndexOf(r), 18446744073709551615u);
  r.headers = {{"X-Consul-Index", "junk"}};
  EXPECT_EQ(IndexOf(r), 0u);
}

TEST(ClientTest, BuildTargetEscapesValuesAndKeepsBareFlags) {
  EXPECT_EQ(BuildTarget("/v1/kv/a", {}), "/v1/kv/a");
  EXPECT_EQ(BuildTarget("/v1/kv/a", {{"recurse", ""}, {"filter", "Service == \"web\""}}),
            "/v1/kv/a?recurse&filter=Service%20%3D%3D%20%22web%22");
  EXPECT_EQ(EscapePath("a b/c"), "a%20b/c");
  EXPECT_EQ(EscapePathSegment("a b/c"), "a%20b%2Fc");
}

TEST(ClientTest, SendAddsDatacenterTokenAndStale) {
  HttpFlags flags;
  flags.datacenter = "dc2";
  flags.stale = true;
  http::ClientRequest sent;
  auto client = ApiClient::Create(flags, Env({{"CONSUL_HTTP_ADDR", "10.1.2.3:8501"},
                                              {"CONSUL_HTTP_TOKEN", "t0k"}}),
                                  [&](const http::ClientRequest& req) -> Result<http::Response> {
                                    sent = req;
                                    return Answer(200, "[]");
                                  });
  ASSERT_TRUE(client.ok()) << client.status().message();
  EXPECT_EQ(client->address().hostport, "10.1.2.3:8501");
  EXPECT_EQ(client->token(), "t0k");
  ASSERT_TRUE(client->GetJson("/v1/catalog/nodes").ok());
  EXPECT_EQ(sent.host, "10.1.2.3");
  EXPECT_EQ(sent.port, 8501);
  EXPECT_EQ(sent.target, "/v1/catalog/nodes?dc=dc2&stale");
  ASSERT_EQ(sent.headers.size(), 1u);
  EXPECT_EQ(sent.headers[0], (std::pair<std::string, std::string>("X-Consul-Token", "t0k")));
  // Writes are never stale.
  ASSERT_TRUE(client->Put("/v1/kv/k", {}, "v").ok());
  EXPECT_EQ(sent.target, "/v1/kv/k?dc=dc2");
}

TEST(ClientTest, UnreachableAgentReadsLikeGo) {
  auto refused = [](const http::ClientRequest& req) -> Result<http::Response> {
    return Unavailable("Error connecting to GET http://127.0.0.1:8500" + req.target +
                       ": Connection refused");
  };
  auto client = ApiClient::Create({}, Env({}), refused);
  ASSERT_TRUE(client.ok());
  auto r = client->Get("/v1/agent/self");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "Get \"http://127.0.0.1:8500/v1/agent/self\": dial tcp 127.0.0.1:8500: connect: "
            "connection refused");
}

TEST(ConfigTest, TlsServerNameFlagThenEnvironment) {
  HttpFlags flags;
  EXPECT_EQ(ResolveTlsServerName(flags, Env({})), "");
  EXPECT_EQ(ResolveTlsServerName(flags, Env({{"CONSUL_TLS_SERVER_NAME", "c"}})), "c");
  EXPECT_EQ(ResolveTlsServerName(flags, Env({{"CONSUL_TLS_SERVER_NAME", "c"},
                                             {"GANGWAY_TLS_SERVER_NAME", "g"}})),
            "g");
  flags.tls_server_name = "f";
  EXPECT_EQ(ResolveTlsServerName(flags, Env({{"GANGWAY_TLS_SERVER_NAME", "g"}})), "f");
}

}  // namespace
}  // namespace gangway::apiclient
