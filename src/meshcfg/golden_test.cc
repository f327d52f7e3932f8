// Golden cases under testdata/config-entries/, one file per kind. Each case is
//
//   === <name> <hcl|json>
//   <the entry as a user writes it>
//   --- error            (optional: the exact message decoding or validation must give)
//   <message>
//   --- json             (optional: the normalized entry as EncodeConfigEntry writes it)
//   <JSON>
//
// A case without an error must decode, validate, and come back unchanged from its JSON form.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "codec/document.h"
#include "core/strings.h"
#include "meshcfg/config_entry.h"

namespace gangway::meshcfg {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::string format;  // hcl | json
  std::string body;
  std::optional<std::string> error;
  std::optional<std::string> json;
};

std::vector<Case> ReadCases(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Case> cases;
  std::string line;
  std::string* section = nullptr;
  while (std::getline(in, line)) {
    if (StartsWith(line, "=== ")) {
      Case c;
      std::istringstream words(line.substr(4));
      words >> c.name >> c.format;
      cases.push_back(std::move(c));
      section = &cases.back().body;
    } else if (!cases.empty() && line == "--- error") {
      cases.back().error.emplace();
      section = &*cases.back().error;
    } else if (!cases.empty() && line == "--- json") {
      cases.back().json.emplace();
      section = &*cases.back().json;
    } else if (section) {
      *section += line + "\n";
    }
  }
  for (Case& c : cases) {
    if (c.error) {
      while (!c.error->empty() && c.error->back() == '\n') c.error->pop_back();
    }
  }
  return cases;
}

Status DecodeAndValidate(const Case& c, ConfigEntry* out) {
  std::string file = c.name + "." + c.format;
  auto doc = c.format == "hcl" ? codec::ParseHcl(c.body, file) : codec::ParseJson(c.body, file);
  if (!doc.ok()) return doc.status();
  auto e = DecodeConfigEntry(*doc);
  if (!e.ok()) return e.status();
  *out = *e;
  return Validate(*out);
}

TEST(ConfigEntryGolden, EveryKindHasValidAndInvalidCases) {
  const fs::path dir = fs::path(GANGWAY_TESTDATA_DIR) / "config-entries";
  std::vector<std::string> kinds;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".txt") continue;
    const std::string kind = f.path().stem().string();
    kinds.push_back(kind);
    std::vector<Case> cases = ReadCases(f.path());
    int valid = 0;
    int invalid = 0;
    for (const Case& c : cases) {
      SCOPED_TRACE(kind + ": " + c.name);
      ASSERT_TRUE(c.format == "hcl" || c.format == "json") << "format " << c.format;
      ConfigEntry e;
      Status s = DecodeAndValidate(c, &e);
      if (c.error) {
        ++invalid;
        EXPECT_FALSE(s.ok());
        EXPECT_EQ(s.message(), *c.error);
        continue;
      }
      ++valid;
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_EQ(e.kind(), kind);
      ASSERT_TRUE(Normalize(&e).ok());
      Json api = EncodeConfigEntry(e);
      if (c.json) {
        EXPECT_EQ(api, Json::parse(*c.json)) << api.dump(2);
      }
      codec::Document again;
      again.value = Json::parse(api.dump());
      auto back = DecodeConfigEntry(again);
      ASSERT_TRUE(back.ok()) << back.status().message();
      ASSERT_TRUE(Normalize(&*back).ok());
      EXPECT_EQ(*back, e) << api.dump(2);
      EXPECT_TRUE(Validate(*back).ok());
    }
    EXPECT_GT(valid, 0) << kind;
    EXPECT_GT(invalid, 0) << kind;
  }
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"mesh", "proxy-defaults", "service-defaults",
                                             "service-intentions", "service-resolver",
                                             "service-router", "service-splitter"}));
}

}  // namespace
}  // namespace gangway::meshcfg
