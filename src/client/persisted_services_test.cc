#include "client/persisted_services.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

namespace gangway::client {
namespace {

namespace fs = std::filesystem;

class PersistedServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gangway-persisted-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(PersistedServicesTest, SavedBodiesComeBackAndRemovedOnesDoNot) {
  PersistedServices store((dir_ / "services").string());
  std::vector<std::string> errors;
  EXPECT_TRUE(store.Load(&errors).empty());  // no directory yet
  auto web = catalog::Json::parse(R"({"Name": "web", "Port": 8080,
      "Connect": {"SidecarService": {"Port": 21000}}})");
  ASSERT_TRUE(store.Save("web", web, "secret-1").ok());
  ASSERT_TRUE(store.Save("a/b", catalog::Json::parse(R"({"ID": "a/b", "Name": "api"})"), "").ok());
  auto regs = store.Load(&errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(regs.size(), 2u);
  std::set<std::string> names;
  for (const auto& r : regs) names.insert(r.service.service);
  EXPECT_EQ(names, (std::set<std::string>{"web", "api"}));
  for (const auto& r : regs) {
    if (r.service.service == "web") {
      ASSERT_NE(r.sidecar, nullptr);  // re-expanded when it is added again
      EXPECT_EQ(r.sidecar->service.port, 21000);
      EXPECT_EQ(r.token, "secret-1");  // synced with the token it was registered with
    } else {
      EXPECT_EQ(r.token, "");
    }
  }
  // Saving again replaces; removing forgets.
  ASSERT_TRUE(store.Save("web", catalog::Json::parse(R"({"Name": "web", "Port": 9090})"), "").ok());
  store.Remove("a/b");
  store.Remove("never-saved");
  regs = store.Load(&errors);
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].service.port, 9090);
}

TEST_F(PersistedServicesTest, ATokenFileIsTheOwnersAndOldBareBodiesStillLoad) {
  PersistedServices store(dir_.string());
  ASSERT_TRUE(store.Save("web", catalog::Json::parse(R"({"Name": "web"})"), "s3cret").ok());
  auto perms = fs::status(dir_ / "776562.json").permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  // A file from before tokens were kept: the API body alone.
  std::ofstream(dir_ / "617069.json") << R"({"Name": "api", "Port": 7})";
  std::vector<std::string> errors;
  auto regs = store.Load(&errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_EQ(regs[0].service.service, "api");
  EXPECT_EQ(regs[0].token, "");
  EXPECT_EQ(regs[1].service.service, "web");
  EXPECT_EQ(regs[1].token, "s3cret");
}

TEST_F(PersistedServicesTest, ABadFileIsSkippedAndNamed) {
  PersistedServices store(dir_.string());
  ASSERT_TRUE(store.Save("web", catalog::Json::parse(R"({"Name": "web"})"), "").ok());
  std::ofstream(dir_ / "broken.json") << "{not json";
  std::ofstream(dir_ / "bad.json") << R"({"Name": "x", "Port": "nope"})";
  std::vector<std::string> errors;
  auto regs = store.Load(&errors);
  ASSERT_EQ(regs.size(), 1u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("bad.json"), std::string::npos);
  EXPECT_NE(errors[1].find("broken.json: not JSON"), std::string::npos);
}

}  // namespace
}  // namespace gangway::client
