// The server role of one datacenter: owns the state store and the write path into it. In this
// version a server is a single voter that applies commands in order as it receives them (the
// dev-mode log); [M3] replaces the log with Raft without changing this interface.
// Loop thread only.
#pragma once

#include <string>
#include <vector>

#include "catalog/applier.h"
#include "catalog/store.h"
#include "core/loop.h"

namespace gangway::server {

struct ServerOptions {
  std::string datacenter = "dc1";
  std::string node_name;
  std::string rpc_address;  // "ip:port", what /v1/status/leader reports
};

class Server : public catalog::Applier {
 public:
  Server(Loop& loop, ServerOptions options);

  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override;

  catalog::Store& store() { return store_; }
  const catalog::Store& store() const { return store_; }
  const ServerOptions& options() const { return options_; }

  bool IsLeader() const { return true; }
  bool KnownLeader() const { return true; }
  std::string Leader() const { return options_.rpc_address; }
  std::vector<std::string> Peers() const { return {options_.rpc_address}; }
  // Milliseconds since the last contact with the leader (0 on the leader).
  int64_t LastContactMs() const { return 0; }

 private:
  Loop& loop_;
  ServerOptions options_;
  catalog::Store store_;
  catalog::Index next_index_ = 1;
};

}  // namespace gangway::server
