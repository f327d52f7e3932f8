#include "meshcfg/tutorial_router.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "codec/document.h"

namespace gangway::meshcfg {
namespace {

using Json = nlohmann::json;

codec::Document Parse(const std::string& text, bool json = true) {
  auto doc = json ? codec::ParseJson(text, "router.json") : codec::ParseHcl(text, "router.hcl");
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? *doc : codec::Document{};
}

Result<TutorialRouter> Read(const std::string& text, bool json = true) {
  codec::Document doc = Parse(text, json);
  return ReadTutorialRouter(doc.value, &doc);
}

// The tutorial's file, as written (with its '#' comments).
TEST(TutorialRouterTest, TheTutorialsFileIsARedirectThroughTheLocalGateway) {
  std::ifstream in(std::string(GANGWAY_EXAMPLES_DIR) +
                   "/tutorial/dc1-service-router-to-dc2.json");
  ASSERT_TRUE(in) << "examples/tutorial/dc1-service-router-to-dc2.json";
  std::stringstream ss;
  ss << in.rdbuf();
  codec::Document doc = Parse(ss.str());
  EXPECT_TRUE(doc.json_had_comments);
  ASSERT_TRUE(IsTutorialRouter(doc.value));
  auto r = ReadTutorialRouter(doc.value, &doc);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "route-to-dc2");
  ASSERT_EQ(r->redirects.size(), 1u);
  EXPECT_EQ(r->redirects.at("service"), (TutorialRedirect{"dc2", ""}));
  EXPECT_TRUE(r->mesh_gateway);
  EXPECT_EQ(r->local_gateway, "mesh-gateway");
  EXPECT_EQ(r->gateway_routes, std::vector<std::string>{"mesh-gateway-upstream-dc2"});

  EXPECT_EQ(RedirectResolver("service", r->redirects.at("service"), nullptr),
            Json::parse(R"({"Kind":"service-resolver","Name":"service",
                            "Redirect":{"Datacenter":"dc2"}})"));
  EXPECT_EQ(LocalGatewayProxyDefaults(nullptr),
            Json::parse(R"({"Kind":"proxy-defaults","Name":"global",
                            "MeshGateway":{"Mode":"local"}})"));
  EXPECT_EQ(DescribeTranslation(*r),
            "a service-router in the mesh-gateway tutorial's shape, which Consul rejects (invalid "
            "config key \"Services\"); written as the entries it stands for: service-resolver "
            "\"service\" with Redirect { Datacenter = \"dc2\" }, proxy-defaults \"global\" with "
            "MeshGateway { Mode = \"local\" }. Traffic for \"service\" to dc2 leaves through the "
            "local mesh gateway \"mesh-gateway\". The Name \"route-to-dc2\" is not a service, so "
            "no service-router is stored under it. The destination "
            "\"mesh-gateway-upstream-dc2\" is the gateway route the local gateway already "
            "follows; nothing is written for it.");
}

TEST(TutorialRouterTest, ConsulsOwnRouterIsNotTheTutorials) {
  EXPECT_FALSE(IsTutorialRouter(Json::parse(R"({"Kind":"service-router","Name":"api",
      "Routes":[{"Match":{"HTTP":{"PathPrefix":"/v2"}},"Destination":{"Service":"api-v2"}}]})")));
  EXPECT_FALSE(IsTutorialRouter(Json::parse(R"({"Kind":"service-resolver","Services":{}})")));
  EXPECT_TRUE(IsTutorialRouter(Json::parse(R"({"kind":"service-router","services":{}})")));
  EXPECT_TRUE(IsTutorialRouter(
      Json::parse(R"({"Kind":"service-router","Routes":[{"MeshGateway":{}}]})")));
}

TEST(TutorialRouterTest, HclAndSnakeCaseReadTheSame) {
  auto r = Read(R"(
Kind = "service-router"
Name = "to-dc3"
services {
  api { datacenter = "dc3" }
  billing { datacenter = "dc2" }
}
routes = [{ mesh_gateway { name = "gw" } }]
)",
                false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->redirects.at("api"), (TutorialRedirect{"dc3", ""}));
  EXPECT_EQ(r->redirects.at("billing"), (TutorialRedirect{"dc2", ""}));
  EXPECT_EQ(r->local_gateway, "gw");
}

TEST(TutorialRouterTest, ADestinationServiceThatIsNoGatewayRouteIsTheTarget) {
  auto r = Read(R"({"Kind":"service-router","Routes":[{
      "Services":{"api":{"Datacenter":"dc2"}},"Destination":{"Service":"api-v2"}}]})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->redirects.at("api"), (TutorialRedirect{"dc2", "api-v2"}));
  EXPECT_FALSE(r->mesh_gateway);
  EXPECT_EQ(RedirectResolver("api", r->redirects.at("api"), nullptr)["Redirect"],
            Json::parse(R"({"Service":"api-v2","Datacenter":"dc2"})"));
}

TEST(TutorialRouterTest, UnknownKeysNameTheLineAndTheNearestKey) {
  auto r = Read("{\n  \"Kind\": \"service-router\",\n  \"Services\": {\n"
                "    \"api\": {\"Datacentre\": \"dc2\"}\n  }\n}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "invalid config key \"Services.api.Datacentre\" (line 4 of router.json); did you "
            "mean \"Datacenter\"?");
  r = Read(R"({"Kind":"service-router","Services":{"api":{"Datacenter":"dc2"}},
               "Routes":[{"MeshGateway":{"Nmae":"gw"}}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did you mean \"Name\"?"), std::string::npos)
      << r.status().message();
  r = Read(R"({"Kind":"service-router","Servicez":{}, "Routes":[{"MeshGateway":{}}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did you mean \"Services\"?"), std::string::npos)
      << r.status().message();
}

TEST(TutorialRouterTest, WhatCannotBeMeantIsRefused) {
  struct Bad {
    const char* entry;
    const char* error;
  } bad[] = {
      {R"({"Kind":"service-router","Services":{"api":{}}})",
       "Services.api: missing required key \"Datacenter\""},
      {R"({"Kind":"service-router","Services":{"api":{"Datacenter":""}}})",
       "Services.api.Datacenter: the datacenter cannot be empty"},
      {R"({"Kind":"service-router","Services":[]})",
       "Services: expected an object of services by name, got a list"},
      {R"({"Kind":"service-router","Routes":[{"MeshGateway":{"Name":"gw"}}]})",
       "Routes[0]: the route names no services"},
      {R"({"Kind":"service-router","Services":{"api":{"Datacenter":"dc2"}},
           "Routes":[{"MeshGateway":{"ConsumerNamespace":"team-a"}}]})",
       "Routes[0].MeshGateway.ConsumerNamespace: namespace \"team-a\" does not exist here"},
      {R"({"Kind":"service-router","Services":{"api":{"Datacenter":"dc2"}},
           "Routes":[{"MeshGateway":{"Mode":"remote"}}]})",
       "Routes[0].MeshGateway.Mode: this route sends traffic through the local mesh gateway"},
      {R"({"Kind":"service-router","Routes":[
           {"Services":{"api":{"Datacenter":"dc2"}}},
           {"Services":{"api":{"Datacenter":"dc3"}}}]})",
       "Routes[1].Services.api: service \"api\" is sent to dc2 and to dc3"},
      {R"({"Kind":"service-router","Routes":[
           {"Services":{"a":{"Datacenter":"dc2"}},"MeshGateway":{"Name":"gw1"}},
           {"Services":{"b":{"Datacenter":"dc2"}},"MeshGateway":{"Name":"gw2"}}]})",
       "Routes[1].MeshGateway.Name: the routes name two local gateways"},
  };
  for (const auto& b : bad) {
    auto r = Read(b.entry);
    ASSERT_FALSE(r.ok()) << b.entry;
    EXPECT_EQ(r.status().message().rfind(b.error, 0), 0u) << r.status().message();
  }
}

TEST(TutorialRouterTest, ExistingEntriesKeepWhatTheRouterDoesNotSay) {
  Json resolver = Json::parse(R"({"Kind":"service-resolver","Name":"api","ConnectTimeout":"3s",
      "Redirect":{"Service":"old"},"CreateIndex":5,"ModifyIndex":9})");
  EXPECT_EQ(RedirectResolver("api", {"dc2", ""}, &resolver),
            Json::parse(R"({"Kind":"service-resolver","Name":"api","ConnectTimeout":"3s",
                            "Redirect":{"Datacenter":"dc2"}})"));
  Json defaults = Json::parse(R"({"Kind":"proxy-defaults","Name":"global",
      "Config":{"protocol":"http"},"MeshGateway":{"Mode":"remote"},"ModifyIndex":3})");
  EXPECT_EQ(LocalGatewayProxyDefaults(&defaults),
            Json::parse(R"({"Kind":"proxy-defaults","Name":"global",
                            "Config":{"protocol":"http"},"MeshGateway":{"Mode":"local"}})"));
}

}  // namespace
}  // namespace gangway::meshcfg
