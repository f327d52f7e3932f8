// The write path's boundary: something that puts a Command into the log and reports what applying
// it produced. In dev mode the local server applies directly; with Raft ([M3]) it is the leader's
// log. Callers and callbacks run on the control-plane loop.
#pragma once

#include <functional>
#include <string>

#include "catalog/commands.h"

namespace gangway::catalog {

class Applier {
 public:
  virtual ~Applier() = default;
  virtual void Apply(Command cmd, std::function<void(ApplyResult)> done) = 0;
  // The same write made with an ACL token (a client agent's service registered with its own
  // token); "" means the writer's usual one. Writers that carry no token ignore it.
  virtual void ApplyWithToken(Command cmd, const std::string& token,
                              std::function<void(ApplyResult)> done) {
    (void)token;
    Apply(std::move(cmd), std::move(done));
  }
};

}  // namespace gangway::catalog
