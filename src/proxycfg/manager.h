// proxycfg::Manager: for every proxy registered with this agent (connect-proxy sidecars and mesh
// gateways), the watches its config depends on, and the immutable, versioned proxy::Config
// compiled from their answers whenever one changes (docs/proxy-config.md, "Transport and
// versioning"; docs/proxycfg.md). Owned by the agent's composition root; loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "core/loop.h"
#include "proxy/config/config.h"
#include "proxycfg/sources.h"

namespace gangway::proxycfg {

// A local registration the manager serves a config for.
struct LocalProxy {
  catalog::NodeService service;  // Kind "connect-proxy" or "mesh-gateway"
  // Sidecars: the port of the local service it fronts (used when Proxy.LocalServicePort is 0).
  int destination_port = 0;

  bool operator==(const LocalProxy&) const = default;
};

struct ManagerOptions {
  std::string node;        // this agent's node name
  std::string datacenter;  // this agent's datacenter
  // The first version of every proxy's config; the agent passes its start time in milliseconds
  // since the Unix epoch, so versions keep increasing across agent restarts (rule 1).
  uint64_t first_version = 1;
  // Until the config entries are compiled: proxy-defaults' MeshGateway.Mode.
  std::string default_mesh_gateway_mode;
  // Whether a sidecar lets a connection in when no intention matches its source: the agent's
  // meshcfg::ResolveIntentionDefault, the same its API answers with.
  bool default_intention_allow = true;
};

// What the manager has for one proxy.
struct Published {
  uint64_t version = 0;  // 0 until the first config is compiled
  std::shared_ptr<const proxy::Config> config;
  std::string json;         // proxy::EncodeConfig(*config)
  std::string error;        // why the last compile failed; "" when it succeeded
  std::string waiting_for;  // before the first config: the inputs still missing
};

class Manager {
 public:
  Manager(Loop& loop, DataSources& sources, ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // The agent's proxies now: new ones start their watches, changed ones recompile (and adjust
  // their watches), missing ones are dropped. Registrations of other kinds are ignored.
  void Sync(const std::vector<LocalProxy>& proxies);

  // Null when no proxy with this service ID is registered here.
  const Published* Find(const std::string& id) const;

  // Calls `fire` once, on the next new config of `id` or when `id` goes away. Returns an ID for
  // Unwatch (a watch that fired is gone by itself).
  uint64_t Watch(const std::string& id, std::function<void()> fire);
  void Unwatch(uint64_t watch);

  size_t size() const { return proxies_.size(); }

 private:
  class ProxyState;
  friend class ProxyState;

  void Wake(const std::string& id);  // fires the watches of `id`

  Loop& loop_;
  DataSources& sources_;
  ManagerOptions options_;
  std::map<std::string, std::unique_ptr<ProxyState>> proxies_;
  struct Waiter {
    std::string id;
    std::function<void()> fire;
  };
  std::map<uint64_t, Waiter> watches_;
  uint64_t next_watch_ = 1;
};

}  // namespace gangway::proxycfg
