#include "proxy/config/json.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "proxy/config/testing/examples.h"

namespace gangway::proxy {
namespace {

using OJson = nlohmann::ordered_json;

std::string GoldenPath(const std::string& name) {
  return std::string(GANGWAY_TESTDATA_DIR) + "/proxy-config/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares the encoder's output with the golden file byte for byte. With GANGWAY_UPDATE_GOLDEN=1
// the file is rewritten instead (then review the diff).
void ExpectGolden(const Config& config, const std::string& name) {
  std::string encoded = EncodeConfig(config);
  if (std::getenv("GANGWAY_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(GoldenPath(name), std::ios::binary) << encoded;
  }
  std::string golden = ReadFile(GoldenPath(name));
  ASSERT_FALSE(golden.empty()) << "missing " << GoldenPath(name);
  EXPECT_EQ(encoded, golden) << name << " differs from EncodeConfig output";

  Result<Config> decoded = DecodeConfig(golden);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == config) << name << " does not decode to the config it was made from";
}

TEST(ConfigJsonTest, SidecarGolden) { ExpectGolden(testing::SidecarExample(), "sidecar.json"); }

TEST(ConfigJsonTest, RoutedSidecarGolden) {
  ExpectGolden(testing::RoutedSidecarExample(), "sidecar-l7.json");
}

TEST(ConfigJsonTest, L7AuthzSidecarGolden) {
  ExpectGolden(testing::L7AuthzSidecarExample(), "sidecar-l7-authz.json");
}

// Configs without L7 intentions keep the shape proxies that predate them accept.
TEST(ConfigJsonTest, L7AuthzKeysOnlyWhenUsed) {
  std::string plain = EncodeConfig(testing::SidecarExample());
  EXPECT_EQ(plain.find("InboundHttp"), std::string::npos);
  EXPECT_EQ(plain.find("Permissions"), std::string::npos);
  std::string l7 = EncodeConfig(testing::L7AuthzSidecarExample());
  EXPECT_NE(l7.find("\"InboundHttp\": true"), std::string::npos);
  EXPECT_NE(l7.find("\"Permissions\""), std::string::npos);
}

TEST(ConfigJsonTest, L7AuthzErrorsNameTheKey) {
  auto decode_edited = [](const std::function<void(OJson&)>& edit) {
    OJson j = OJson::parse(EncodeConfig(testing::L7AuthzSidecarExample()));
    edit(j);
    Result<Config> r = DecodeConfig(j.dump());
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(decode_edited([](OJson& j) { j["Authz"]["Rules"][1]["Allow"] = true; }),
            "Authz.Rules[1].Allow: must be false for a rule with Permissions (it denies where "
            "requests are not seen)");
  EXPECT_EQ(decode_edited([](OJson& j) {
              j["Authz"]["Rules"][1]["Permissions"][1]["Match"]["QueryParams"] =
                  OJson::parse(R"([{"Name": "a", "Match": "present", "Value": ""}])");
            }),
            "Authz.Rules[1].Permissions[1].Match.QueryParams: a permission does not match query "
            "parameters");
  EXPECT_EQ(decode_edited([](OJson& j) {
              j["Authz"]["Rules"][1]["Permissions"][0]["Match"]["Path"] = "admin";
            }),
            "Authz.Rules[1].Permissions[0].Match.Path: \"admin\" does not start with \"/\"");
  EXPECT_EQ(decode_edited([](OJson& j) { j["Authz"]["Rules"][1]["Permissions"][0]["Alow"] = 1; }),
            "Authz.Rules[1].Permissions[0].Alow: unknown key (did you mean \"Allow\"?)");
  EXPECT_EQ(
      decode_edited([](OJson& j) { j["Listeners"][0]["FilterChains"][0]["InboundHttp"] = 1; }),
      "Listeners[0].FilterChains[0].InboundHttp: expected a boolean, found an integer");
  EXPECT_EQ(
      decode_edited([](OJson& j) { j["Listeners"][1]["FilterChains"][0]["InboundHttp"] = true; }),
      "Listeners[1].FilterChains[0].InboundHttp: only a terminate_tls chain parses inbound "
      "requests");
}

TEST(ConfigJsonTest, GatewayGolden) {
  ExpectGolden(testing::GatewayExample(), "mesh-gateway.json");
}

TEST(ConfigJsonTest, RoundTripsEdgeValues) {
  Config c = testing::SidecarExample();
  c.version = std::numeric_limits<uint64_t>::max();
  c.listeners[0].port = 0;
  c.clusters[1].failover = {c.clusters[2].name};
  c.clusters[1].connect_timeout = std::chrono::milliseconds(1);
  c.clusters[0].endpoints[0].node = "n\u00f6de \"quoted\"\n\t\\";
  c.leaf->valid_before = "2030-01-02T03:04:05.123456789+02:00";
  c.roots_pem.push_back("second root");
  c.authz.rules.clear();
  ASSERT_EQ(Validate(c).message(), "");
  std::string encoded = EncodeConfig(c);
  Result<Config> back = DecodeConfig(encoded);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == c);
  EXPECT_EQ(EncodeConfig(*back), encoded);
}

// Go's decoder matches keys without case; so does ours, and the result is the same config.
TEST(ConfigJsonTest, KeysMatchWithoutCase) {
  std::string golden = ReadFile(GoldenPath("sidecar.json"));
  ASSERT_FALSE(golden.empty());
  std::function<void(OJson&)> lower = [&](OJson& j) {
    if (j.is_array()) {
      for (auto& e : j) lower(e);
    } else if (j.is_object()) {
      OJson out = OJson::object();
      for (auto& [k, v] : j.items()) {
        lower(v);
        std::string key = k;
        for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        out[key] = v;
      }
      j = out;
    }
  };
  OJson j = OJson::parse(golden);
  lower(j);
  std::string text = j.dump();
  ASSERT_NE(text.find("\"proxyid\""), std::string::npos);
  Result<Config> decoded = DecodeConfig(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == testing::SidecarExample());
}

TEST(ConfigJsonTest, OptionalArraysAndLeaf) {
  OJson j = OJson::parse(EncodeConfig(testing::GatewayExample()));
  j.erase("Leaf");
  j.erase("RootsPEM");
  j["Clusters"][0]["Failover"] = nullptr;
  j["Clusters"][0].erase("SpiffeIDs");
  j["Listeners"][0]["FilterChains"][2].erase("ServerNames");
  j["Authz"].erase("Rules");
  Result<Config> decoded = DecodeConfig(j.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == testing::GatewayExample());
}

struct ErrorCase {
  const char* what;
  std::function<void(OJson&)> edit;
  const char* message;
};

TEST(ConfigJsonTest, ErrorsNameTheKey) {
  const ErrorCase cases[] = {
      {"unknown key", [](OJson& j) { j["Listeners"][0]["Prot"] = 1; },
       "Listeners[0].Prot: unknown key (did you mean \"Port\"?)"},
      {"unknown top key", [](OJson& j) { j["Routes"] = OJson::array(); }, "Routes: unknown key"},
      {"same key in two cases", [](OJson& j) { j["version"] = 43; },
       "version: duplicate key (also given as \"Version\"; keys match without case)"},
      {"string port", [](OJson& j) { j["Listeners"][0]["Port"] = "21000"; },
       "Listeners[0].Port: expected an integer, found a string"},
      {"fraction port", [](OJson& j) { j["Listeners"][0]["Port"] = 1.5; },
       "Listeners[0].Port: expected an integer, found a number with a fraction or exponent"},
      {"huge port", [](OJson& j) { j["Listeners"][0]["Port"] = 99999999999; },
       "Listeners[0].Port: 99999999999 is out of range"},
      {"port range", [](OJson& j) { j["Listeners"][0]["Port"] = 70000; },
       "Listeners[0].Port: 70000 is not in 0..65535"},
      {"negative version", [](OJson& j) { j["Version"] = -1; }, "Version: -1 is negative"},
      {"string version", [](OJson& j) { j["Version"] = "42"; },
       "Version: expected an integer, found a string"},
      {"unknown kind", [](OJson& j) { j["Kind"] = "sidecar"; },
       "Kind: expected one of \"connect-proxy\", \"mesh-gateway\", found \"sidecar\""},
      {"kind case", [](OJson& j) { j["Kind"] = "Connect-Proxy"; },
       "Kind: expected one of \"connect-proxy\", \"mesh-gateway\", found \"Connect-Proxy\""},
      {"missing action", [](OJson& j) { j["Listeners"][0]["FilterChains"][0].erase("Action"); },
       "Listeners[0].FilterChains[0].Action: required key is missing"},
      {"bad action", [](OJson& j) { j["Listeners"][1]["FilterChains"][0]["Action"] = "proxy"; },
       "Listeners[1].FilterChains[0].Action: expected one of \"terminate_tls\", "
       "\"originate_tls\", \"tcp_proxy\", \"sni_cluster\", \"http_route\", found \"proxy\""},
      {"missing health", [](OJson& j) { j["Clusters"][1]["Endpoints"][1].erase("Health"); },
       "Clusters[1].Endpoints[1].Health: required key is missing"},
      {"bad health", [](OJson& j) { j["Clusters"][1]["Endpoints"][1]["Health"] = "ok"; },
       "Clusters[1].Endpoints[1].Health: expected one of \"passing\", \"warning\", "
       "\"critical\", found \"ok\""},
      {"leaf scalar", [](OJson& j) { j["Leaf"] = 5; },
       "Leaf: expected an object, found an integer"},
      {"leaf key", [](OJson& j) { j["Leaf"]["CertPM"] = ""; },
       "Leaf.CertPM: unknown key (did you mean \"CertPEM\"?)"},
      {"listeners object", [](OJson& j) { j["Listeners"] = OJson::object(); },
       "Listeners: expected an array, found an object"},
      {"listener scalar", [](OJson& j) { j["Listeners"][2] = true; },
       "Listeners[2]: expected an object, found a boolean"},
      {"server name number",
       [](OJson& j) { j["Listeners"][0]["FilterChains"][0]["ServerNames"] = {1}; },
       "Listeners[0].FilterChains[0].ServerNames[0]: expected a string, found an integer"},
      {"null string", [](OJson& j) { j["Clusters"][0]["SNI"] = nullptr; },
       "Clusters[0].SNI: expected a string, found null"},
      {"missing authz", [](OJson& j) { j.erase("Authz"); }, "Authz: required key is missing"},
      {"allow as string", [](OJson& j) { j["Authz"]["Rules"][0]["Allow"] = "false"; },
       "Authz.Rules[0].Allow: expected a boolean, found a string"},
      {"timeout as string", [](OJson& j) { j["Clusters"][2]["ConnectTimeoutMs"] = "10s"; },
       "Clusters[2].ConnectTimeoutMs: expected an integer, found a string"},
      {"validation runs", [](OJson& j) { j["Listeners"][1]["FilterChains"][0]["Cluster"] = "x"; },
       "Listeners[1].FilterChains[0].Cluster: no cluster named \"x\""},
  };
  const std::string golden = EncodeConfig(testing::SidecarExample());
  for (const ErrorCase& c : cases) {
    OJson j = OJson::parse(golden);
    c.edit(j);
    Result<Config> r = DecodeConfig(j.dump(2));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.what;
    EXPECT_EQ(r.status().message(), c.message) << c.what;
  }
}

TEST(ConfigJsonTest, RouteErrorsNameTheKey) {
  const std::string r0 = "Listeners[1].FilterChains[0].RouteConfig.Routes[0]";
  auto route = [](OJson& j) -> OJson& {
    return j["Listeners"][1]["FilterChains"][0]["RouteConfig"]["Routes"][0];
  };
  struct Case {
    const char* what;
    std::function<void(OJson&)> edit;
    std::string message;
  };
  const Case cases[] = {
      {"unknown match key", [&](OJson& j) { route(j)["Match"]["PathMach"] = "/"; },
       r0 + ".Match.PathMach: unknown key (did you mean \"PathMatch\"?)"},
      {"path kind", [&](OJson& j) { route(j)["Match"]["PathMatch"] = "glob"; },
       r0 + ".Match.PathMatch: expected one of \"any\", \"exact\", \"prefix\", \"regex\", "
            "found \"glob\""},
      {"header kind", [&](OJson& j) { route(j)["Match"]["Headers"][0]["Match"] = "contains"; },
       r0 + ".Match.Headers[0].Match: expected one of \"present\", \"exact\", \"prefix\", "
            "\"suffix\", \"regex\", found \"contains\""},
      {"query suffix", [&](OJson& j) { route(j)["Match"]["QueryParams"][0]["Match"] = "suffix"; },
       r0 + ".Match.QueryParams[0].Match: expected one of \"present\", \"exact\", \"regex\", "
            "found \"suffix\""},
      {"weight fraction", [&](OJson& j) { route(j)["Clusters"][0]["Weight"] = 100.0; },
       r0 + ".Clusters[0].Weight: expected an integer, found a number with a fraction or "
            "exponent"},
      {"missing timeout", [&](OJson& j) { route(j).erase("RequestTimeoutMs"); },
       r0 + ".RequestTimeoutMs: required key is missing"},
      {"status code string", [&](OJson& j) { route(j)["RetryOnStatusCodes"][0] = "503"; },
       r0 + ".RetryOnStatusCodes[0]: expected an integer, found a string"},
      {"headers as map",
       [&](OJson& j) {
         route(j)["RequestHeaders"]["Add"] = {{"x", "y"}};
       },
       r0 + ".RequestHeaders.Add: expected an array, found an object"},
      {"missing response headers", [&](OJson& j) { route(j).erase("ResponseHeaders"); },
       r0 + ".ResponseHeaders: required key is missing"},
      {"routes object",
       [](OJson& j) { j["Listeners"][1]["FilterChains"][0]["RouteConfig"] = OJson::array(); },
       "Listeners[1].FilterChains[0].RouteConfig: expected an object, found an array"},
      {"validation runs", [&](OJson& j) { route(j)["Clusters"][0]["Cluster"] = "x"; },
       r0 + ".Clusters[0].Cluster: no cluster named \"x\""},
  };
  const std::string golden = EncodeConfig(testing::RoutedSidecarExample());
  for (const Case& c : cases) {
    OJson j = OJson::parse(golden);
    c.edit(j);
    Result<Config> r = DecodeConfig(j.dump(2));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().message(), c.message) << c.what;
  }
  // Keys added after the first release are optional: absent, they take their defaults; the
  // strict decoder still refuses them misspelt or mistyped.
  {
    OJson j = OJson::parse(golden);
    route(j)["RetryOn"] = {"reset", "5xx"};
    route(j)["IdleTimeoutMs"] = 2500;
    route(j)["Clusters"][0]["RequestHeaders"] = {{"Add", {{{"Name", "x-split"}, {"Value", "a"}}}},
                                                 {"Set", OJson::array()},
                                                 {"Remove", {"x"}}};
    Result<Config> r = DecodeConfig(j.dump());
    ASSERT_TRUE(r.ok()) << r.status().message();
    const Route& decoded = r->listeners[1].chains[0].route->routes[0];
    EXPECT_EQ(decoded.retry_on, (std::vector<std::string>{"reset", "5xx"}));
    EXPECT_EQ(decoded.idle_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(decoded.clusters[0].request_headers.add,
              (std::vector<HeaderValue>{{"x-split", "a"}}));
    EXPECT_EQ(decoded.clusters[0].request_headers.remove, std::vector<std::string>{"x"});
    EXPECT_TRUE(decoded.clusters[0].response_headers.empty());
    Result<Config> again = DecodeConfig(EncodeConfig(*r));
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_TRUE(*again == *r);

    route(j)["RetryOn"] = {"5xx", "sometimes"};
    EXPECT_EQ(DecodeConfig(j.dump()).status().message(),
              r0 + ".RetryOn[1]: \"sometimes\" is not a retry condition");
    route(j)["RetryOn"] = "5xx";
    EXPECT_EQ(DecodeConfig(j.dump()).status().message(),
              r0 + ".RetryOn: expected an array, found a string");
    route(j).erase("RetryOn");
    route(j)["Clusters"][0]["ResponseHeader"] = OJson::object();
    EXPECT_EQ(DecodeConfig(j.dump()).status().message(),
              r0 + ".Clusters[0].ResponseHeader: unknown key (did you mean \"ResponseHeaders\"?)");
  }
  // A chain without routes carries no RouteConfig key at all, so the files of proxies that
  // predate http_route are unchanged (docs/proxy-config.md, "Evolving the format").
  EXPECT_EQ(EncodeConfig(testing::SidecarExample()).find("RouteConfig"), std::string::npos);
  OJson j = OJson::parse(EncodeConfig(testing::SidecarExample()));
  j["Listeners"][1]["FilterChains"][0]["RouteConfig"] = nullptr;
  Result<Config> r = DecodeConfig(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(*r == testing::SidecarExample());
}

TEST(ConfigJsonTest, SyntaxErrorsAndNonObjects) {
  EXPECT_EQ(DecodeConfig("[]").status().message(), "expected an object, found an array");
  EXPECT_EQ(DecodeConfig("null").status().message(), "expected an object, found null");
  for (std::string_view bad : {"", "{", "{\"Version\": 1,}", "{\"Version\" 1}", "\xff"}) {
    Result<Config> r = DecodeConfig(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("line"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace gangway::proxy
