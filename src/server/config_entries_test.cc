#include "server/config_entries.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/testing/sim_loop.h"
#include "server/server.h"

namespace gangway::server {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BuiltinChecks, NormalizeKeepsTheEntryAndCanonicalizesKindAndName) {
  auto c = BuiltinConfigEntryChecks();
  auto e = c.normalize(
      {{"kind", "service-defaults"}, {"name", "web"}, {"protocol", "http"}, {"ModifyIndex", 9}});
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(*e, (Json{{"Kind", "service-defaults"}, {"Name", "web"}, {"protocol", "http"}}));

  auto global = c.normalize({{"Kind", "proxy-defaults"}});
  ASSERT_TRUE(global.ok());
  EXPECT_EQ((*global)["Name"], "global");
  auto mesh = c.normalize({{"Kind", "mesh"}});
  ASSERT_TRUE(mesh.ok());
  EXPECT_EQ((*mesh)["Name"], "mesh");
}

TEST(BuiltinChecks, RefusesWithConsulsTexts) {
  auto c = BuiltinConfigEntryChecks();
  auto message = [&](const Json& body) { return c.normalize(body).status().message(); };
  EXPECT_EQ(message({{"Name", "web"}}),
            "Payload does not contain a kind/Kind key at the top level");
  EXPECT_EQ(message({{"Kind", 3}}), "Kind value in payload is not a string");
  EXPECT_EQ(message({{"Kind", "service-route"}, {"Name", "web"}}),
            "invalid config entry kind: service-route");
  EXPECT_EQ(c.normalize(Json::array()).status().code(), Code::kInvalidArgument);

  EXPECT_EQ(c.validate({{"Kind", "proxy-defaults"}, {"Name", "x"}}).message(),
            "invalid name (\"x\"), only \"global\" is supported");
  EXPECT_EQ(c.validate({{"Kind", "mesh"}, {"Name", "x"}}).message(),
            "invalid name (\"x\"), only \"mesh\" is supported");
  EXPECT_EQ(c.validate({{"Kind", "service-defaults"}}).message(), "Name is required");
  EXPECT_TRUE(c.validate({{"Kind", "service-router"}, {"Name", "web"}}).ok());

  for (const char* kind : {"proxy-defaults", "service-defaults", "service-resolver",
                           "service-router", "service-splitter", "service-intentions", "mesh"}) {
    EXPECT_TRUE(c.known_kind(kind)) << kind;
  }
  EXPECT_FALSE(c.known_kind("ingress-gateway"));
}

ServerOptions Dev(const std::string& dc) {
  ServerOptions so;
  so.datacenter = dc;
  so.node_name = "s-" + dc;
  so.node_id = "00000000-0000-4000-8000-000000000001";
  return so;
}

Json Read(Server& s, const std::string& kind, const std::string& name) {
  Json out;
  s.store().ConfigEntry(nullptr, kind, name, &out);
  return out;
}

TEST(ConfigEntries, WritesAreCheckedAndCASd) {
  testing::SimLoop loop;
  Server s(loop, Dev("dc1"));
  ConfigEntries& ce = s.config_entries();
  ASSERT_TRUE(ce.primary());
  EXPECT_EQ(ce.primary_datacenter(), "dc1");

  std::optional<Result<bool>> got;
  auto done = [&](Result<bool> r) { got = std::move(r); };
  ce.Upsert({{"Kind", "proxy-defaults"}, {"Name", "x"}}, std::nullopt, done);
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->status().message(), "invalid name (\"x\"), only \"global\" is supported");
  EXPECT_EQ(s.store().LastIndex(), 0u);  // nothing reached the log

  ce.Upsert({{"Kind", "service-defaults"}, {"Name", "web"}}, std::nullopt, done);
  ASSERT_TRUE(got->ok());
  EXPECT_TRUE(**got);
  uint64_t index = Read(s, "service-defaults", "web")["ModifyIndex"];
  ce.Upsert({{"Kind", "service-defaults"}, {"Name", "web"}}, index + 1, done);
  EXPECT_FALSE(**got);
  ce.Upsert({{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}}, index, done);
  EXPECT_TRUE(**got);
  EXPECT_EQ(Read(s, "service-defaults", "web")["Protocol"], "http");

  ce.Delete("service-defaults", "web", 1, done);
  EXPECT_FALSE(**got);
  ce.Delete("service-defaults", "web", std::nullopt, done);
  EXPECT_TRUE(**got);
  EXPECT_TRUE(Read(s, "service-defaults", "web").is_null());
}

// A primary reached through a hook: its entries as /v1/config/... lists them, with a blocking
// read on the store's watches, and a switch that makes it unreachable.
class FakePrimary {
 public:
  explicit FakePrimary(testing::SimLoop& loop) : loop_(loop), server_(loop, Dev("dc1")) {}

  ConfigEntriesHooks Hooks() {
    ConfigEntriesHooks h;
    h.primary_entries = [this](uint64_t min_index,
                               std::function<void(Result<Json>, uint64_t)> done) {
      ++reads_;
      Answer(min_index, std::move(done));
    };
    return h;
  }

  void Write(const Json& body) {
    auto entry = server_.config_entries().Normalize(body);
    ASSERT_TRUE(entry.ok()) << entry.status().message();
    server_.config_entries().Upsert(std::move(*entry), std::nullopt,
                                    [](Result<bool> r) { ASSERT_TRUE(r.ok() && *r); });
  }
  void Delete(const std::string& kind, const std::string& name) {
    server_.config_entries().Delete(kind, name, std::nullopt,
                                    [](Result<bool> r) { ASSERT_TRUE(r.ok()); });
  }
  void SetReachable(bool up) {
    reachable_ = up;
    if (up) return;
    // Parked reads fail as a lost connection would.
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& [key, p] : parked) {
      server_.store().Unwatch(p.id);
      loop_.Post([done = p.done] { (*done)(Unavailable("connection refused"), 0); });
    }
  }
  int reads() const { return reads_; }

 private:
  void Answer(uint64_t min_index, std::function<void(Result<Json>, uint64_t)> done) {
    if (!reachable_) {
      loop_.Post([done = std::move(done)] { done(Unavailable("connection refused"), 0); });
      return;
    }
    catalog::WatchSet ws;
    std::vector<Json> list;
    uint64_t index = server_.store().ConfigEntries(&ws, "", &list);
    if (min_index == 0 || index > min_index) {
      loop_.Post([done = std::move(done), list, index] { done(Json(list), index); });
      return;
    }
    auto shared = std::make_shared<Done>(std::move(done));
    int key = next_key_++;
    catalog::WatchId id = server_.store().Watch(ws, [this, key, shared, min_index] {
      parked_.erase(key);
      Answer(min_index, std::move(*shared));
    });
    parked_[key] = Parked{id, shared};
  }

  using Done = std::function<void(Result<Json>, uint64_t)>;
  struct Parked {
    catalog::WatchId id = 0;
    std::shared_ptr<Done> done;
  };

  testing::SimLoop& loop_;
  Server server_;
  bool reachable_ = true;
  int reads_ = 0;
  std::map<int, Parked> parked_;
  int next_key_ = 0;
};

TEST(ConfigEntries, ASecondaryLeaderReplicatesThePrimary) {
  testing::SimLoop loop;
  FakePrimary primary(loop);
  primary.Write(
      {{"Kind", "proxy-defaults"}, {"Name", "global"}, {"Config", {{"protocol", "http"}}}});
  primary.Write({{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "http"}});

  Server s(loop, Dev("dc2"));
  ConfigEntriesOptions co;
  co.datacenter = "dc2";
  co.primary_datacenter = "dc1";
  s.ConfigureConfigEntries(co, BuiltinConfigEntryChecks(), primary.Hooks());
  ConfigEntries& ce = s.config_entries();
  EXPECT_FALSE(ce.primary());
  EXPECT_EQ(ce.primary_datacenter(), "dc1");

  // A secondary refuses writes of its own: its API sends them to the primary.
  std::optional<Result<bool>> got;
  ce.Upsert({{"Kind", "mesh"}, {"Name", "mesh"}}, std::nullopt, [&](Result<bool> r) { got = r; });
  EXPECT_FALSE(got->ok());

  // Not leading: nothing is copied.
  loop.RunFor(seconds(1));
  EXPECT_TRUE(Read(s, "service-defaults", "web").is_null());

  ce.OnLeadership(true);
  ASSERT_TRUE(loop.RunUntil([&] { return !Read(s, "service-defaults", "web").is_null(); },
                            seconds(5), milliseconds(10)));
  EXPECT_EQ(Read(s, "proxy-defaults", "global")["Config"]["protocol"], "http");
  EXPECT_EQ(Read(s, "service-defaults", "web")["Protocol"], "http");

  // Insert, update and delete at the primary each reach the copy.
  primary.Write({{"Kind", "service-resolver"}, {"Name", "web"}, {"ConnectTimeout", "5s"}});
  primary.Write({{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "grpc"}});
  primary.Delete("proxy-defaults", "global");
  ASSERT_TRUE(loop.RunUntil(
      [&] {
        return Read(s, "proxy-defaults", "global").is_null() &&
               Read(s, "service-defaults", "web")["Protocol"] == "grpc" &&
               !Read(s, "service-resolver", "web").is_null();
      },
      seconds(5), milliseconds(10)));
  EXPECT_EQ(ce.last_error(), "");

  // An unchanged answer (the blocking read timing out) changes nothing here.
  uint64_t before = s.store().LastIndex();
  primary.Write({{"Kind", "service-defaults"}, {"Name", "web"}, {"Protocol", "grpc"}});
  loop.RunFor(seconds(1));
  EXPECT_EQ(s.store().LastIndex(), before);

  // The primary unreachable: the copy stays and is served; replication retries.
  primary.SetReachable(false);
  loop.RunFor(seconds(3));
  EXPECT_NE(ce.last_error(), "");
  EXPECT_EQ(Read(s, "service-defaults", "web")["Protocol"], "grpc");
  EXPECT_FALSE(Read(s, "service-resolver", "web").is_null());

  // Changed meanwhile, then reachable again: the copy catches up.
  primary.Delete("service-resolver", "web");
  primary.Write({{"Kind", "mesh"}});
  primary.SetReachable(true);
  ASSERT_TRUE(loop.RunUntil(
      [&] {
        return Read(s, "service-resolver", "web").is_null() && !Read(s, "mesh", "mesh").is_null();
      },
      seconds(60), milliseconds(50)));
  EXPECT_EQ(ce.last_error(), "");

  // Leadership lost: changes at the primary are no longer copied.
  ce.OnLeadership(false);
  primary.Write({{"Kind", "service-splitter"}, {"Name", "web"}});
  loop.RunFor(seconds(2));
  EXPECT_TRUE(Read(s, "service-splitter", "web").is_null());
}

}  // namespace
}  // namespace gangway::server
