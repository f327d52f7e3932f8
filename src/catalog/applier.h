// The write path's boundary: something that puts a Command into the log and reports what applying
// it produced. In dev mode the local server applies directly; with Raft ([M3]) it is the leader's
// log. Callers and callbacks run on the control-plane loop.
#pragma once

#include <functional>

#include "catalog/commands.h"

namespace gangway::catalog {

class Applier {
 public:
  virtual ~Applier() = default;
  virtual void Apply(Command cmd, std::function<void(ApplyResult)> done) = 0;
};

}  // namespace gangway::catalog
