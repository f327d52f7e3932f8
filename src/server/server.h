// The server role of one datacenter: owns the state store and the write path into it. In this
// version a server is a single voter that applies commands in order as it receives them (the
// dev-mode log); [M3] replaces the log with Raft without changing this interface.
// Loop thread only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "catalog/applier.h"
#include "catalog/store.h"
#include "core/loop.h"

namespace gangway::server {

struct ServerOptions {
  std::string datacenter = "dc1";
  std::string node_name;
  std::string node_id;
  std::string rpc_address;  // "ip:port", what /v1/status/leader reports
};

// One voter of the datacenter's Raft group, as /v1/operator/raft/configuration shows it.
struct RaftServer {
  std::string id;  // the server's node ID
  std::string node;
  std::string address;  // RPC address
  bool leader = false;
  bool voter = true;
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
  std::vector<RaftServer> RaftConfiguration() const;
  // The last log index applied here.
  uint64_t RaftIndex() const { return store_.LastIndex(); }
  uint64_t RaftTerm() const { return 1; }
  // Removes a voter by node ID or RPC address.
  void RemovePeer(const std::string& id, const std::string& address, std::function<void(Status)> done);

  // The state as of the last applied entry, for /v1/snapshot.
  std::string Snapshot() const { return store_.Snapshot(); }
  // Replaces the state with a snapshot's, through the log (every server restores at the same
  // point). done(error) when the snapshot is invalid; nothing changes then.
  void Restore(std::string state, std::function<void(Status)> done);

 private:
  Loop& loop_;
  ServerOptions options_;
  catalog::Store store_;
  catalog::Index next_index_ = 1;
};

}  // namespace gangway::server
