// The agent's proxycfg::DataSources: catalog reads go through its own HTTP API as blocking
// queries (so a client agent's reach its servers, and ?dc= another datacenter's through them),
// the roots and leaves come from its LeafCache. Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "client/leaf_cache.h"
#include "core/duration.h"
#include "core/loop.h"
#include "http/message.h"
#include "proxycfg/sources.h"

namespace gangway::agent {

struct ProxySourcesOptions {
  Duration wait = std::chrono::minutes(5);  // ?wait= of every blocking query
  // After the n-th failure in a row a watch pauses retry_base * n, at most retry_max.
  Duration retry_base = std::chrono::seconds(1);
  Duration retry_max = std::chrono::seconds(10);
  // The datacenter list is not a blocking query (nor is it in Consul); it is read this often.
  Duration datacenters_interval = std::chrono::seconds(5);
  // The ACL token a local proxy's leaf for `service` is signed with (its registration token,
  // as Consul's proxies present theirs); "" or unset: the agent's own.
  std::function<std::string(const std::string& service)> leaf_token;
};

class ProxySources : public proxycfg::DataSources {
 public:
  // `*api` is read at each request (it is set once the API is built).
  ProxySources(Loop& loop, http::Handler* const* api, client::LeafCache* leaves,
               ProxySourcesOptions options = {});

  std::unique_ptr<proxycfg::Subscription> Health(
      const proxycfg::HealthQuery& query,
      Callback<std::vector<catalog::CheckServiceNode>> callback) override;
  std::unique_ptr<proxycfg::Subscription> Datacenters(
      Callback<std::vector<std::string>> callback) override;
  std::unique_ptr<proxycfg::Subscription> ConnectRoots(
      Callback<proxycfg::Roots> callback) override;
  std::unique_ptr<proxycfg::Subscription> ConfigEntries(
      const std::string& kind, Callback<std::vector<meshcfg::ConfigEntry>> callback) override;
  std::unique_ptr<proxycfg::Subscription> Leaf(const std::string& service,
                                               Callback<proxy::Leaf> callback) override;
  // A blocking read of /v1/internal/config-entries, keeping the chain-relevant kinds.
  std::unique_ptr<proxycfg::Subscription> ChainEntries(
      Callback<std::vector<meshcfg::ConfigEntry>> callback) override;

 private:
  Loop& loop_;
  http::Handler* const* api_;
  client::LeafCache* leaves_;
  ProxySourcesOptions options_;
};

// The API target a health query reads, e.g. "/v1/health/connect/api?dc=dc2".
std::string HealthTarget(const proxycfg::HealthQuery& query);

// Readers of the API's answers (exposed for tests).
Result<std::vector<catalog::CheckServiceNode>> ReadNodes(const nlohmann::json& body);
Result<proxycfg::Roots> ReadRoots(const nlohmann::json& body);
Result<std::vector<meshcfg::ConfigEntry>> ReadConfigEntries(const nlohmann::json& body);
Result<proxy::Leaf> ReadLeaf(const nlohmann::json& issued_cert);
// Every entry of /v1/internal/config-entries of a kind discovery chains read, decoded.
Result<std::vector<meshcfg::ConfigEntry>> ReadChainEntries(const nlohmann::json& body);

}  // namespace gangway::agent
