// What proxycfg::Manager reads from the control plane: typed, blocking watches on the catalog
// (in any datacenter), the config entries of one kind, the Connect roots and one service's leaf. The agent implements them over
// its own HTTP API (agent/proxy_sources.cc); tests fake them. Loop thread only.
#pragma once

#include <compare>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "core/status.h"
#include "meshcfg/config_entry.h"
#include "proxy/config/config.h"

namespace gangway::proxycfg {

// One catalog read, answered in the health endpoints' form (instances with their checks).
struct HealthQuery {
  enum class Kind {
    kConnect,  // /v1/health/connect/<name>: the Connect-capable instances of service `name`
    kService,  // /v1/health/service/<name>: the instances of service `name`
    kDump,     // /v1/internal/service-dump?kind=<name>: every instance of service kind `name`
  };
  Kind kind = Kind::kService;
  std::string name;
  std::string datacenter;  // never empty: the manager names the local datacenter too

  auto operator<=>(const HealthQuery&) const = default;
  bool operator==(const HealthQuery&) const = default;
};

// The Connect roots as proxies need them.
struct Roots {
  std::string trust_domain;
  std::vector<std::string> pems;  // every root's certificate, the active one first

  bool operator==(const Roots&) const = default;
};

// A live watch. Destroying it stops the watch; its callback never runs afterwards.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class DataSources {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  virtual ~DataSources() = default;

  // Each calls back, on the loop and never from inside the call, with the first answer and then
  // with every changed one; an error (the datacenter unreachable, a server failing) is reported
  // and the watch goes on retrying on its own.
  virtual std::unique_ptr<Subscription> Health(const HealthQuery& query,
                                               Callback<std::vector<catalog::CheckServiceNode>>
                                                   callback) = 0;
  // The datacenters known to the servers (the local one included).
  virtual std::unique_ptr<Subscription> Datacenters(Callback<std::vector<std::string>> callback) = 0;
  virtual std::unique_ptr<Subscription> ConnectRoots(Callback<Roots> callback) = 0;
  // Every config entry of `kind` in this datacenter (its replica of the primary's), decoded and
  // normalized; an entry that does not decode is an error for the whole answer.
  virtual std::unique_ptr<Subscription> ConfigEntries(
      const std::string& kind, Callback<std::vector<meshcfg::ConfigEntry>> callback) = 0;
  // The leaf certificate of service `service`, renewed before it expires and when the roots change.
  virtual std::unique_ptr<Subscription> Leaf(const std::string& service,
                                             Callback<proxy::Leaf> callback) = 0;
  // The config entries discovery chains are compiled from (proxy-defaults, service-defaults,
  // service-resolver, service-router, service-splitter) in the local datacenter, decoded, with
  // every change. Null (the default): the sources have none to give, and every upstream uses
  // its default chain.
  virtual std::unique_ptr<Subscription> ChainEntries(
      Callback<std::vector<meshcfg::ConfigEntry>> callback) {
    (void)callback;
    return nullptr;
  }
};

}  // namespace gangway::proxycfg
