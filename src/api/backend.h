// What the HTTP API handlers operate on: the roles of this agent. Borrowed pointers owned by the
// agent's composition root; everything runs on the control-plane loop.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "acl/config.h"
#include "catalog/types.h"
#include "client/leaf_cache.h"
#include "client/local_agent.h"
#include "client/persisted_services.h"
#include "client/user_events.h"
#include "core/loop.h"
#include "gossip/pool.h"
#include "http/message.h"
#include "meshcfg/intentions.h"
#include "proxycfg/manager.h"
#include "server/server.h"

namespace gangway::api {

struct SharedWaits;  // api/query.cc
class AclResolver;   // api/acl_resolver.h

struct AgentInfo {
  std::string node_name;
  std::string node_id;
  std::string datacenter;
  std::string primary_datacenter;
  std::string version = "1.17.0";
  std::string revision = "gangway";
  bool server = false;
  bool dev = false;
  std::string advertise_address;
  int serf_lan_port = 8301;
  int server_port = 8300;
  std::string data_dir;  // "" for -dev agents
  catalog::Json config;  // the agent's runtime configuration, for /v1/agent/self "DebugConfig"
};

struct Backend {
  Loop* loop = nullptr;  // the agent's net::EventLoop; a testing::SimLoop in tests
  server::Server* server = nullptr;       // null on client agents
  client::LocalAgent* agent = nullptr;
  // Where API registrations are kept across restarts; null on -dev agents.
  client::PersistedServices* persisted = nullptr;
  gossip::Pool* lan = nullptr;  // every agent
  gossip::Pool* wan = nullptr;  // servers only
  client::UserEventBuffer* user_events = nullptr;  // events this agent received
  client::LeafCache* leaves = nullptr;  // Connect roots and leaves; null when Connect is off
  proxycfg::Manager* proxies = nullptr;  // configs of the local proxies; null when Connect is off
  // What decides for a source no intention matches (docs/intentions.md, "Default"); the agent's
  // local sidecars are compiled with the same.
  meshcfg::IntentionDefault intention_default;
  // enable_script_checks: script checks may be registered through the API.
  bool enable_script_checks = false;
  // disable_coordinates: the coordinate endpoints answer 401 and ?near= sorts nothing.
  bool disable_coordinates = false;
  Workers* workers = nullptr;  // CPU-heavy work off the loop (snapshot encoding); null: inline
  AgentInfo info;
  std::function<void()> shutdown;  // /v1/agent/leave
  // Sends a request to a server of the datacenter (docs/rpc.md); null: nothing to forward to.
  std::function<void(http::Request, const std::string& dc, std::shared_ptr<http::Cancellation>,
                     http::Reply)>
      forward;
  // Identical blocking queries parked together (api/query.h, QueryOptions::share_key); made on
  // first use.
  std::shared_ptr<SharedWaits> shared_waits;
  // The agent's ACL settings; with acl.enabled, HttpApi makes the resolver every request uses.
  acl::Config acl;
  std::shared_ptr<AclResolver> acl_resolver;
};

}  // namespace gangway::api
