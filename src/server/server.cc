#include "server/server.h"

#include <algorithm>
#include <filesystem>

#include <unistd.h>

#include "core/log.h"
#include "rpc/frame.h"

namespace gangway::server {

namespace {

constexpr const char* kLog = "agent.server";

catalog::ApplyResult Failed(Status s) {
  catalog::ApplyResult r;
  r.status = std::move(s);
  return r;
}

uint64_t RaftId(const std::string& node_id) {
  auto id = consensus::ServerIdFromUuid(node_id);
  return id.ok() ? *id : 0;
}

}  // namespace

// A copy of the catalog's tables, encoded in the store's snapshot format on RaftNode's worker.
class StoreSnapshotSource : public consensus::SnapshotSource {
 public:
  explicit StoreSnapshotSource(std::unique_ptr<catalog::SnapshotCopy> copy)
      : copy_(std::move(copy)) {}
  Result<std::string> Encode(std::stop_token stop) override { return copy_->Encode(stop); }

 private:
  std::unique_ptr<catalog::SnapshotCopy> copy_;
};

// The catalog as Raft's state machine: entries are encoded commands, the response is the
// encoded ApplyResult, snapshots are the store's.
class Server::Fsm : public consensus::StateMachine {
 public:
  Fsm(catalog::Store& store, Sessions& sessions) : store_(store), sessions_(sessions) {}

  Result<std::string> Apply(uint64_t index, std::string_view entry) override {
    catalog::ApplyResult r;
    auto cmd = catalog::DecodeCommand(entry);
    if (!cmd.ok()) {
      // Deterministic on every server: the entry is skipped the same way everywhere.
      LogError("agent.server.fsm", "refusing undecodable log entry " + std::to_string(index) + ": " +
                                       cmd.status().message());
      r.status = cmd.status();
    } else if (index <= store_.LastIndex()) {
      r.status = Internal("log entry " + std::to_string(index) + " is already applied");
    } else {
      r = store_.Apply(index, *cmd);
      sessions_.NoteApplied(r);
    }
    return catalog::EncodeApplyResult(r);
  }
  Result<std::unique_ptr<consensus::SnapshotSource>> BeginSnapshot() override {
    return std::unique_ptr<consensus::SnapshotSource>(
        std::make_unique<StoreSnapshotSource>(store_.CopyForSnapshot()));
  }
  Status Restore(std::string_view snapshot) override { return store_.Restore(snapshot); }

 private:
  catalog::Store& store_;
  Sessions& sessions_;
};

bool HasRaftState(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(data_dir) / "raft";
  return std::filesystem::exists(dir / "metadata1", ec) || std::filesystem::exists(dir / "metadata2", ec);
}

Server::Server(Loop& loop, ServerOptions options, ServerHooks hooks)
    : loop_(loop), options_(std::move(options)), hooks_(std::move(hooks)) {
  ConfigEntriesOptions co;
  co.datacenter = options_.datacenter;
  config_entries_ =
      std::make_unique<ConfigEntries>(loop_, *this, std::move(co), BuiltinConfigEntryChecks());
  sessions_ = std::make_unique<Sessions>(
      loop_, *this, store_, [this](std::function<void(Status)> done) { VerifyLeader(std::move(done)); });
  coordinates_ = std::make_unique<Coordinates>(loop_, *this, options_.coordinates);
}

Server::~Server() { Shutdown(); }

void Server::EnableConnectCA(ConnectCAOptions options, ConnectCAHooks hooks, Workers* workers) {
  ca_ = std::make_unique<ConnectCA>(loop_, *this, std::move(options), std::move(hooks), workers);
}

void Server::ConfigureConfigEntries(ConfigEntriesOptions options, ConfigEntryChecks checks,
                                    ConfigEntriesHooks hooks) {
  config_entries_ = std::make_unique<ConfigEntries>(loop_, *this, std::move(options),
                                                    std::move(checks), std::move(hooks));
}

void Server::EnableAcls(AclOptions options) {
  acls_ = std::make_unique<Acls>(*this, std::move(options));
}

void Server::DevLeadershipAcquired() {
  if (acls_) acls_->OnLeadership(true);
  if (ca_) ca_->OnLeadership(true);
  config_entries_->OnLeadership(true);
  sessions_->OnLeadership(true);
}

void Server::Shutdown() {
  if (ca_) ca_->OnLeadership(false);
  config_entries_->OnLeadership(false);
  sessions_->OnLeadership(false);
  dead_timers_.clear();
  held_.clear();
  if (raft_) raft_->Shutdown();
}

// ---- starting

void Server::Start(std::function<void(Status)> done) {
  if (options_.dev) return done(Status::Ok());
  bool has_state = HasRaftState(options_.data_dir);
  if (has_state) {
    LogInfo(kLog, "raft: restoring the log and snapshots from " + options_.data_dir + "/raft");
    return StartRaft(std::nullopt, std::move(done));
  }
  if (options_.bootstrap) {
    LogInfo(kLog, "bootstrapping a new cluster with this server as its first voter");
    consensus::Configuration self = {{RaftId(options_.node_id), options_.raft_address,
                                      consensus::Suffrage::kVoter}};
    return StartRaft(self, std::move(done));
  }
  if (options_.bootstrap_expect > 0) {
    LogInfo(kLog, "waiting for " + std::to_string(options_.bootstrap_expect) +
                      " servers before bootstrapping (bootstrap_expect)");
    pending_start_ = std::move(done);
    if (hooks_.servers) BootstrapExpect(hooks_.servers());
    return;
  }
  // A server joining an existing cluster: the leader adds it once it sees it in gossip.
  StartRaft(std::nullopt, std::move(done));
}

void Server::BootstrapExpect(const std::vector<ServerMember>& servers) {
  if (options_.dev || started_ || starting_ || !pending_start_) return;
  std::vector<ServerMember> alive;
  for (const auto& s : servers) {
    if (s.status == ServerMember::Status::kAlive && RaftId(s.node_id) != 0) alive.push_back(s);
  }
  if (static_cast<int>(alive.size()) < options_.bootstrap_expect) return;
  // Every server computes the same configuration from the same gossip view.
  std::sort(alive.begin(), alive.end(),
            [](const ServerMember& a, const ServerMember& b) { return a.node_id < b.node_id; });
  consensus::Configuration conf;
  std::string names;
  for (const auto& s : alive) {
    conf.push_back({RaftId(s.node_id), s.raft_address, consensus::Suffrage::kVoter});
    names += (names.empty() ? "" : ", ") + s.node;
  }
  LogInfo(kLog, "found expected number of peers, bootstrapping: peers=" + names);
  StartRaft(conf, std::move(pending_start_));
}

void Server::StartRaft(std::optional<consensus::Configuration> bootstrap,
                       std::function<void(Status)> done) {
  starting_ = true;
  consensus::RaftOptions ro = options_.raft;
  ro.id = RaftId(options_.node_id);
  ro.address = options_.raft_address;
  ro.data_dir = (std::filesystem::path(options_.data_dir) / "raft").string();
  fsm_ = std::make_unique<Fsm>(store_, *sessions_);
  raft_ = std::make_unique<consensus::RaftNode>(loop_, *fsm_, ro);
  raft_->OnLeaderChange([this](consensus::RaftState state, consensus::Peer leader) {
    bool now = state == consensus::RaftState::kLeader;
    if (leader.id != 0 && leader.id != last_leader_) {
      auto who = FindServer(leader.id);
      LogInfo(kLog, "New leader elected: payload=" + (who ? who->node : leader.address));
      if (hooks_.on_leader_known) loop_.Post([this] {
        if (hooks_.on_leader_known) hooks_.on_leader_known();
      });
    }
    last_leader_ = leader.id;
    if (now == leader_) return;
    leader_ = now;
    LogInfo(kLog, now ? "cluster leadership acquired" : "cluster leadership lost");
    if (!now) dead_timers_.clear();
    if (hooks_.on_leadership) hooks_.on_leadership(now);
    if (acls_) acls_->OnLeadership(now);
    if (ca_) ca_->OnLeadership(now);
    config_entries_->OnLeadership(now);
    sessions_->OnLeadership(now);
  });
  auto start = [this, done = std::move(done)]() mutable {
    raft_->Start([this, done = std::move(done)](consensus::OpResult r) {
      starting_ = false;
      if (!r.ok()) {
        LogError(kLog, "failed to start Raft: " + r.status.message());
        return done(r.status);
      }
      started_ = true;
      done(Status::Ok());
    });
  };
  if (!bootstrap) return start();
  raft_->Bootstrap(*bootstrap, [start = std::move(start)](consensus::OpResult r) mutable {
    if (!r.ok() && r.error != consensus::Error::kAlreadyBootstrapped) {
      LogError(kLog, "failed to bootstrap Raft: " + r.status.message());
    }
    start();
  });
}

void Server::AcceptRaftConnection(int fd, std::string already_read) {
  // The RPC server calls this on the loop thread, where raft_ is owned.
  if (raft_) return raft_->AcceptConnection(fd, std::move(already_read));
  ::close(fd);
}

// ---- membership (the leader's part of Consul's autopilot)

void Server::ReconcileServer(const ServerMember& m) {
  if (options_.dev || !raft_ || !IsLeader()) return;
  uint64_t id = RaftId(m.node_id);
  if (id == 0 || id == RaftId(options_.node_id)) return;
  const auto& conf = raft_->GetConfiguration();
  bool in_conf = std::any_of(conf.begin(), conf.end(), [&](const auto& c) { return c.id == id; });
  switch (m.status) {
    case ServerMember::Status::kAlive:
      dead_timers_.erase(id);
      if (!in_conf && !m.raft_address.empty()) {
        LogInfo(kLog, "adding server to the Raft configuration: server=" + m.node + " address=" +
                          m.raft_address);
        raft_->AddVoter(id, m.raft_address, [node = m.node](consensus::OpResult r) {
          if (!r.ok()) LogWarn(kLog, "failed to add server " + node + ": " + r.status.message());
        });
      }
      break;
    case ServerMember::Status::kLeft:
      dead_timers_.erase(id);
      if (in_conf) {
        LogInfo(kLog, "removing server that left from the Raft configuration: server=" + m.node);
        raft_->Remove(id, [node = m.node](consensus::OpResult r) {
          if (!r.ok()) LogWarn(kLog, "failed to remove server " + node + ": " + r.status.message());
        });
      }
      break;
    case ServerMember::Status::kFailed:
      if (!in_conf || dead_timers_.count(id)) break;
      dead_timers_[id] = loop_.After(options_.dead_server_grace, [this, id, node = m.node] {
        dead_timers_.erase(id);
        if (!raft_ || !IsLeader()) return;
        // Still failed? And never below one voter.
        if (hooks_.servers) {
          for (const auto& s : hooks_.servers()) {
            if (RaftId(s.node_id) == id && s.status == ServerMember::Status::kAlive) return;
          }
        }
        if (raft_->GetConfiguration().size() <= 1) return;
        LogInfo(kLog, "removing dead server from the Raft configuration: server=" + node);
        raft_->Remove(id, [node](consensus::OpResult r) {
          if (!r.ok()) LogWarn(kLog, "failed to remove server " + node + ": " + r.status.message());
        });
      });
      break;
  }
}

// ---- writes

void Server::Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) {
  if (options_.dev) {
    // The command goes through its log encoding even in dev mode, so what is applied is
    // exactly what a replicated log would carry.
    std::string entry = catalog::EncodeCommand(cmd);
    auto decoded = catalog::DecodeCommand(entry);
    catalog::ApplyResult result;
    if (!decoded.ok()) {
      result.status = decoded.status();
      LogError("agent.server.fsm", "refusing undecodable command: " + result.status.message());
    } else {
      result = store_.Apply(next_index_++, *decoded);
      sessions_->NoteApplied(result);
    }
    if (done) done(std::move(result));
    return;
  }
  if (!done) done = [](catalog::ApplyResult) {};
  ApplyHeld(std::move(cmd), std::move(done), loop_.Now() + kApplyHoldTimeout);
}

void Server::ApplyHeld(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done,
                       std::chrono::steady_clock::time_point hold_until) {
  // Without a leader (an election, a server still starting) a write waits a little, as
  // Consul's RPCHoldTimeout, rather than failing at once.
  auto retry_or_fail = [this, hold_until](catalog::Command cmd,
                                          std::function<void(catalog::ApplyResult)> done,
                                          Status why) {
    if (loop_.Now() + kApplyRetryPause >= hold_until) return done(Failed(std::move(why)));
    auto holder = std::make_shared<std::unique_ptr<Timer>>();
    *holder = loop_.After(kApplyRetryPause, [this, holder, hold_until, cmd = std::move(cmd),
                                             done = std::move(done)]() mutable {
      auto keep = holder;  // the timer lives until this runs
      held_.erase(holder);
      ApplyHeld(std::move(cmd), std::move(done), hold_until);
    });
    held_.insert(holder);
  };
  if (!raft_ || !IsLeader()) {
    std::string leader = LeaderRpcAddress();
    if (leader.empty() || !hooks_.forward_apply) {
      return retry_or_fail(std::move(cmd), std::move(done), NoLeader());
    }
    catalog::Command copy = cmd;
    return hooks_.forward_apply(
        leader, std::move(cmd),
        [retry_or_fail, copy = std::move(copy), done = std::move(done)](catalog::ApplyResult r) mutable {
          if (!r.status.ok() && rpc::Retryable(r.status)) {
            return retry_or_fail(std::move(copy), std::move(done), r.status);
          }
          done(std::move(r));
        });
  }
  raft_->Apply(catalog::EncodeCommand(cmd), [done = std::move(done)](consensus::ApplyResult r) {
    if (!r.ok()) {
      switch (r.error) {
        case consensus::Error::kNotLeader:
          return done(Failed(NoLeader()));
        case consensus::Error::kLeadershipLost:
          return done(Failed(Unavailable("leadership lost while committing log")));
        default:
          return done(Failed(Unavailable("raft: " + r.status.message())));
      }
    }
    if (!r.response.ok()) return done(Failed(r.response.status()));
    auto decoded = catalog::DecodeApplyResult(*r.response);
    if (!decoded.ok()) return done(Failed(Internal(decoded.status().message())));
    done(std::move(*decoded));
  });
}

void Server::Restore(std::string state, std::function<void(Status)> done) {
  // Check before it enters the log: a bad snapshot must not occupy an entry.
  catalog::Store probe;
  if (Status s = probe.Restore(state); !s.ok()) return done(s);
  Apply(catalog::RestoreRequest{std::move(state)},
        [this, done = std::move(done)](catalog::ApplyResult r) {
          // The restored sessions replace the old ones: their TTL timers start afresh, as on a
          // new leader.
          if (r.status.ok() && (options_.dev || IsLeader())) sessions_->OnLeadership(true);
          done(r.status);
        });
}

// ---- views

std::optional<ServerMember> Server::FindServer(uint64_t raft_id) const {
  if (raft_id == RaftId(options_.node_id)) {
    return ServerMember{options_.node_name, options_.node_id, options_.rpc_address,
                        options_.raft_address, ServerMember::Status::kAlive};
  }
  if (!hooks_.servers) return std::nullopt;
  for (auto& s : hooks_.servers()) {
    if (RaftId(s.node_id) == raft_id) return s;
  }
  return std::nullopt;
}

std::string Server::LeaderRpcAddress() const {
  if (!raft_) return "";
  auto leader = raft_->Leader();
  if (leader.id == 0) return "";
  auto who = FindServer(leader.id);
  return who ? who->rpc_address : "";
}

void Server::VerifyLeader(std::function<void(Status)> done) {
  if (options_.dev) return done(Status::Ok());
  if (!raft_ || !IsLeader()) return done(NoLeader());
  raft_->Barrier([done = std::move(done)](consensus::OpResult r) {
    done(r.ok() ? Status::Ok() : NoLeader());
  });
}

// Not gated on started_: a lone bootstrapped server leads before Start's callback has run.
bool Server::IsLeader() const {
  if (options_.dev) return true;
  return raft_ && raft_->IsLeader();
}

bool Server::KnownLeader() const {
  if (options_.dev) return true;
  return raft_ && raft_->Leader().id != 0;
}

std::string Server::Leader() const {
  if (options_.dev) return options_.rpc_address;
  return LeaderRpcAddress();
}

std::vector<std::string> Server::Peers() const {
  std::vector<std::string> out;
  for (const auto& s : RaftConfiguration()) out.push_back(s.address);
  return out;
}

int64_t Server::LastContactMs() const {
  if (options_.dev || !raft_) return 0;
  auto ms = raft_->LastContact().count();
  return ms < 0 ? 0 : ms;
}

uint64_t Server::RaftTerm() const {
  if (options_.dev || !raft_) return 1;
  return raft_->Info().term;
}

std::vector<RaftServer> Server::RaftConfiguration() const {
  if (options_.dev) {
    return {RaftServer{options_.node_id, options_.node_name, options_.rpc_address, true, true}};
  }
  std::vector<RaftServer> out;
  if (!raft_) return out;
  uint64_t leader = raft_->Leader().id;
  for (const auto& m : raft_->GetConfiguration()) {
    RaftServer r;
    auto who = FindServer(m.id);
    r.id = who ? who->node_id : std::to_string(m.id);
    r.node = who ? who->node : "(unknown)";
    r.address = who ? who->rpc_address : m.address;
    r.leader = m.id == leader;
    r.voter = m.suffrage == consensus::Suffrage::kVoter;
    out.push_back(std::move(r));
  }
  return out;
}

void Server::RemovePeer(const std::string& id, const std::string& address,
                        std::function<void(Status)> done) {
  const std::string what = address.empty() ? id : address;
  if (options_.dev) {
    for (const auto& s : RaftConfiguration()) {
      if ((!id.empty() && s.id == id) || (!address.empty() && s.address == address)) {
        return done(InvalidArgument("cannot remove the only voter (this server) from the configuration"));
      }
    }
    return done(NotFound("address \"" + what + "\" was not found in the Raft configuration"));
  }
  if (!raft_) return done(NoLeader());
  for (const auto& m : raft_->GetConfiguration()) {
    auto who = FindServer(m.id);
    bool match = (!id.empty() && ((who && who->node_id == id) || std::to_string(m.id) == id)) ||
                 (!address.empty() && ((who && who->rpc_address == address) || m.address == address));
    if (!match) continue;
    return raft_->Remove(m.id, [done = std::move(done)](consensus::OpResult r) {
      done(r.ok() ? Status::Ok() : r.status);
    });
  }
  done(NotFound("address \"" + what + "\" was not found in the Raft configuration"));
}

}  // namespace gangway::server
