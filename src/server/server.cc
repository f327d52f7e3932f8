#include "server/server.h"

#include "core/log.h"

namespace gangway::server {

Server::Server(Loop& loop, ServerOptions options) : loop_(loop), options_(std::move(options)) {}

void Server::Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) {
  // The command goes through its log encoding even in dev mode, so what is applied is exactly
  // what a replicated log would carry.
  std::string entry = catalog::EncodeCommand(cmd);
  auto decoded = catalog::DecodeCommand(entry);
  catalog::ApplyResult result;
  if (!decoded.ok()) {
    result.status = decoded.status();
    LogError("server.fsm", "refusing undecodable command: " + result.status.message());
  } else {
    result = store_.Apply(next_index_++, *decoded);
  }
  if (done) done(std::move(result));
}

std::vector<RaftServer> Server::RaftConfiguration() const {
  return {RaftServer{options_.node_id, options_.node_name, options_.rpc_address, true, true}};
}

void Server::RemovePeer(const std::string& id, const std::string& address,
                        std::function<void(Status)> done) {
  for (const auto& s : RaftConfiguration()) {
    if ((!id.empty() && s.id == id) || (!address.empty() && s.address == address)) {
      return done(InvalidArgument("cannot remove the only voter (this server) from the configuration"));
    }
  }
  done(NotFound("address \"" + (address.empty() ? id : address) + "\" was not found in the Raft configuration"));
}

void Server::Restore(std::string state, std::function<void(Status)> done) {
  Apply(catalog::RestoreRequest{std::move(state)},
        [done = std::move(done)](catalog::ApplyResult r) { done(r.status); });
}

}  // namespace gangway::server
