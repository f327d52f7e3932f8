#include "agent/joiner.h"

#include "core/log.h"

namespace gangway::agent {

Joiner::Joiner(Loop& loop, gossip::Pool& pool, std::vector<std::string> addrs,
               JoinerOptions options, RefusalHandler on_refused,
               std::function<void()> on_exhausted)
    : loop_(loop),
      pool_(pool),
      addrs_(std::move(addrs)),
      options_(options),
      on_refused_(std::move(on_refused)),
      on_exhausted_(std::move(on_exhausted)) {}

Joiner::~Joiner() = default;

void Joiner::Start() {
  LogInfo("agent", std::string("Joining cluster...: cluster=") + options_.which);
  Attempt();
}

void Joiner::Attempt() {
  if (done_) return;
  if (addrs_.empty()) {
    done_ = true;
    return;
  }
  ++attempts_;
  struct Round {
    size_t pending = 0;
    int joined = 0;
    Status last_error;
    std::vector<std::string> refused;
  };
  auto round = std::make_shared<Round>();
  round->pending = addrs_.size();
  std::weak_ptr<bool> alive = alive_;
  for (const auto& addr : addrs_) {
    pool_.Join({addr}, [this, alive, round, addr](int n, Status s) {
      if (alive.expired()) return;
      if (n > 0) {
        round->joined += n;
      } else {
        round->last_error = s;
        if (on_refused_ && on_refused_(addr, s)) round->refused.push_back(addr);
      }
      if (--round->pending > 0) return;
      for (const auto& r : round->refused) std::erase(addrs_, r);
      Finish(round->joined, round->last_error);
    });
  }
}

void Joiner::Finish(int joined, const Status& last_error) {
  if (joined > 0) {
    done_ = true;
    LogInfo("agent", std::string("Join cluster completed. Synced with initial agents: cluster=") +
                         options_.which + " num_agents=" + std::to_string(joined));
    return;
  }
  if (addrs_.empty()) {
    done_ = true;  // every address was handed elsewhere or dropped, with its own message
    return;
  }
  if (options_.max_attempts > 0 && attempts_ >= options_.max_attempts) {
    done_ = true;
    LogError("agent", std::string("max join retry exhausted, exiting: cluster=") + options_.which);
    if (on_exhausted_) on_exhausted_();
    return;
  }
  LogWarn("agent", std::string("Join cluster failed, will retry: cluster=") + options_.which +
                       " retry_interval=" + FormatDuration(options_.interval) +
                       " error=" + last_error.message());
  std::weak_ptr<bool> alive = alive_;
  timer_ = loop_.After(options_.interval, [this, alive] {
    if (!alive.expired()) Attempt();
  });
}

std::string WrongDatacenterIn(const std::string& message) {
  static constexpr std::string_view kMarker = "part of wrong datacenter '";
  auto at = message.find(kMarker);
  if (at == std::string::npos) return "";
  auto start = at + kMarker.size();
  auto end = message.find('\'', start);
  if (end == std::string::npos) return "";
  return message.substr(start, end - start);
}

}  // namespace gangway::agent
