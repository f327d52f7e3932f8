// FakeSources: proxycfg::DataSources whose answers a test gives, for Manager tests and the
// agent endpoint's. Test code only; test thread only.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/testing/sim_loop.h"
#include "proxycfg/sources.h"

namespace gangway::proxycfg::testing {

// DataSources whose answers the test gives: every live subscription is listed, and Answer*
// calls its callback as a real watch would (on the loop).
class FakeSources : public DataSources {
 public:
  explicit FakeSources(gangway::testing::SimLoop& loop) : loop_(loop) {}

  template <typename T>
  struct Sub : Subscription {
    Sub(FakeSources* s, std::string key, Callback<T> cb) : s(s), key(std::move(key)) {
      s->live_[this->key] = [cb = std::move(cb)](const void* v, const Status* err) {
        if (err != nullptr) return cb(*err);
        cb(*static_cast<const T*>(v));
      };
    }
    ~Sub() override { s->live_.erase(key); }
    FakeSources* s;
    std::string key;
  };

  static std::string Key(const HealthQuery& q) {
    const char* kinds[] = {"connect", "service", "dump"};
    return std::string(kinds[static_cast<int>(q.kind)]) + ":" + q.name + "@" + q.datacenter;
  }

  using Nodes = std::vector<catalog::CheckServiceNode>;

  std::unique_ptr<Subscription> Health(const HealthQuery& q, Callback<Nodes> cb) override {
    return std::make_unique<Sub<Nodes>>(this, Key(q), std::move(cb));
  }
  std::unique_ptr<Subscription> Datacenters(Callback<std::vector<std::string>> cb) override {
    return std::make_unique<Sub<std::vector<std::string>>>(this, "dcs", std::move(cb));
  }
  std::unique_ptr<Subscription> ConnectRoots(Callback<Roots> cb) override {
    return std::make_unique<Sub<Roots>>(this, "roots", std::move(cb));
  }
  // Key "config:<kind>".
  std::unique_ptr<Subscription> ConfigEntries(
      const std::string& kind, Callback<std::vector<meshcfg::ConfigEntry>> cb) override {
    return std::make_unique<Sub<std::vector<meshcfg::ConfigEntry>>>(this, "config:" + kind,
                                                                    std::move(cb));
  }
  std::unique_ptr<Subscription> Leaf(const std::string& service,
                                     Callback<proxy::Leaf> cb) override {
    return std::make_unique<Sub<proxy::Leaf>>(this, "leaf:" + service, std::move(cb));
  }

  // With `chain_entries` set, ChainEntries is watched under "chain-entries"; without, the fake
  // has no config entries (the manager then uses default chains).
  std::unique_ptr<Subscription> ChainEntries(
      Callback<std::vector<meshcfg::ConfigEntry>> cb) override {
    if (!chain_entries) return nullptr;
    return std::make_unique<Sub<std::vector<meshcfg::ConfigEntry>>>(this, "chain-entries",
                                                                     std::move(cb));
  }
  bool chain_entries = false;

  bool Live(const std::string& key) const { return live_.count(key) > 0; }
  std::vector<std::string> LiveKeys() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : live_) out.push_back(k);
    return out;
  }

  template <typename T>
  void Answer(const std::string& key, T value) {
    ASSERT_TRUE(Live(key)) << "nobody watches " << key;
    live_.at(key)(&value, nullptr);
    loop_.RunPending();
  }
  void Fail(const std::string& key, const Status& error) {
    ASSERT_TRUE(Live(key)) << "nobody watches " << key;
    live_.at(key)(nullptr, &error);
    loop_.RunPending();
  }

 private:
  gangway::testing::SimLoop& loop_;
  std::map<std::string, std::function<void(const void*, const Status*)>> live_;
};

}  // namespace gangway::proxycfg::testing
