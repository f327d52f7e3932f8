#include "codec/document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace gangway::codec {
namespace {

using ::testing::HasSubstr;

TEST(DocumentTest, LineOfFallsBackToTheNearestKnownAncestor) {
  Document doc;
  doc.lines = {{"", 1}, {"/service", 2}, {"/service/port", 4}};
  EXPECT_EQ(doc.LineOf("/service/port"), 4);
  EXPECT_EQ(doc.LineOf("/service/name"), 2);  // missing member: its parent object
  EXPECT_EQ(doc.LineOf("/service/proxy/mode"), 2);
  EXPECT_EQ(doc.LineOf("/services/0"), 0);  // never the root
  EXPECT_EQ(doc.LineOf(""), 1);
}

TEST(DocumentTest, Where) {
  Document doc;
  doc.lines = {{"/a", 3}};
  EXPECT_EQ(doc.Where("/a"), "line 3");
  EXPECT_EQ(doc.Where("/b"), "");
  doc.file = "x.json";
  EXPECT_EQ(doc.Where("/a"), "x.json:3");
  EXPECT_EQ(doc.Where("/b"), "x.json");
}

TEST(DocumentTest, ParseConfigTextChoosesByExtension) {
  auto hcl = ParseConfigText("a = 1\n", "dir/agent.hcl");
  ASSERT_TRUE(hcl.ok()) << hcl.status().message();
  EXPECT_EQ(hcl->value["a"], 1);
  EXPECT_EQ(hcl->file, "dir/agent.hcl");
  auto json = ParseConfigText("{\"a\": 1} # c", "agent.JSON");
  ASSERT_TRUE(json.ok()) << json.status().message();
  EXPECT_TRUE(json->json_had_comments);
  // HCL syntax in a .json file is a JSON error, as in Consul.
  auto wrong = ParseConfigText("a = 1\n", "agent.json");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), "agent.json:1:1: expected a value, found 'a'");
  auto unknown = ParseConfigText("a = 1", "agent.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "agent.yaml: unknown configuration format: the file name must end in \".hcl\" or "
            "\".json\"");
}

TEST(DocumentTest, ParseConfigFile) {
  auto dir = std::filesystem::path(::testing::TempDir()) / "gangway-codec-document-test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "web.hcl").string();
  {
    std::ofstream out(path);
    out << "service {\n  name = \"web\"\n}\n";
  }
  auto doc = ParseConfigFile(path);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->value["service"]["name"], "web");
  EXPECT_EQ(doc->Where("/service/name"), path + ":2");

  auto missing = ParseConfigFile((dir / "nope.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.json: cannot open: "));

  auto directory = ParseConfigFile(dir.string());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.status().message(), HasSubstr("is a directory"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gangway::codec
