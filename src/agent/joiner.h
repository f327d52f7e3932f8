// start_join / retry_join (and their _wan forms): join a pool through a list of addresses,
// retrying every interval until one of them answers or the attempts run out, as Consul's
// retry-join does. Each address is tried on its own so that one refused for a reason retrying
// cannot fix (another datacenter's agent) can be taken out of the list and handled elsewhere.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/duration.h"
#include "core/loop.h"
#include "core/status.h"
#include "gossip/pool.h"

namespace gangway::agent {

struct JoinerOptions {
  const char* which = "LAN";  // for logs: "LAN" or "WAN"
  Duration interval = std::chrono::seconds(30);
  int max_attempts = 0;  // 0: forever
};

class Joiner {
 public:
  // Asked about an address whose join failed; true takes it out of the list for good.
  using RefusalHandler = std::function<bool(const std::string& address, const Status& error)>;

  Joiner(Loop& loop, gossip::Pool& pool, std::vector<std::string> addrs, JoinerOptions options,
         RefusalHandler on_refused, std::function<void()> on_exhausted);
  ~Joiner();

  // First attempt now, then every interval until done.
  void Start();
  bool done() const { return done_; }

 private:
  void Attempt();
  void Finish(int joined, const Status& last_error);

  Loop& loop_;
  gossip::Pool& pool_;
  std::vector<std::string> addrs_;
  JoinerOptions options_;
  RefusalHandler on_refused_;
  std::function<void()> on_exhausted_;
  int attempts_ = 0;
  bool done_ = false;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// "Member 'n2' part of wrong datacenter 'dc2'" (Consul's LAN veto) → "dc2"; empty otherwise.
std::string WrongDatacenterIn(const std::string& message);

}  // namespace gangway::agent
