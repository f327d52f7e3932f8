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

}  // namespace gangway::server
