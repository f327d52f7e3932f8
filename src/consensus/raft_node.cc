#include "consensus/raft_node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

// libraft 0.15's headers have no extern "C" of their own.
extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "consensus/entry.h"
#include "consensus/internal/handoff_transport.h"
#include "consensus/internal/nodelay_transport.h"
#include "core/endian.h"
#include "core/log.h"
#include "core/uuid.h"

namespace gangway::consensus {

namespace {

constexpr std::string_view kLog = "raft";
constexpr const char* kLockFile = "gangway-raft.lock";

// raft.h declares struct raft_apply and the function raft_apply(); in C++ the function hides the
// type, so name the request types explicitly.
using RaftApplyReq = struct raft_apply;
using RaftBarrierReq = struct raft_barrier;
using RaftTransferReq = struct raft_transfer;

Error ErrorFor(int rv) {
  switch (rv) {
    case 0:
      return Error::kNone;
    case RAFT_NOTLEADER:
      return Error::kNotLeader;
    case RAFT_LEADERSHIPLOST:
      return Error::kLeadershipLost;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
      return Error::kShutdown;
    case RAFT_CANTBOOTSTRAP:
      return Error::kAlreadyBootstrapped;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
      return Error::kBusy;
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE:
    case RAFT_NOTFOUND:
    case RAFT_INVALID:
    case RAFT_MALFORMED:
    case RAFT_NAMETOOLONG:
    case RAFT_TOOBIG:
      return Error::kInvalid;
    case RAFT_IOERR:
    case RAFT_NOSPACE:
    case RAFT_CORRUPT:
    case RAFT_UNAUTHORIZED:
    case RAFT_NOCONNECTION:
      return Error::kIo;
    default:
      return Error::kOther;
  }
}

Code CodeFor(Error e) {
  switch (e) {
    case Error::kNone:
      return Code::kOk;
    case Error::kNotLeader:
    case Error::kLeadershipLost:
    case Error::kShutdown:
    case Error::kBusy:
      return Code::kUnavailable;
    case Error::kAlreadyBootstrapped:
      return Code::kConflict;
    case Error::kInvalid:
      return Code::kInvalidArgument;
    case Error::kIo:
    case Error::kOther:
      return Code::kInternal;
  }
  return Code::kInternal;
}

OpResult Fail(Error e, std::string message) {
  OpResult r;
  r.error = e;
  r.status = Status(CodeFor(e), std::move(message));
  return r;
}

RaftState StateFor(int s) {
  switch (s) {
    case RAFT_FOLLOWER:
      return RaftState::kFollower;
    case RAFT_CANDIDATE:
      return RaftState::kCandidate;
    case RAFT_LEADER:
      return RaftState::kLeader;
    default:
      return RaftState::kUnavailable;
  }
}

int RoleFor(Suffrage s) {
  switch (s) {
    case Suffrage::kVoter:
      return RAFT_VOTER;
    case Suffrage::kStandby:
      return RAFT_STANDBY;
    case Suffrage::kSpare:
      return RAFT_SPARE;
  }
  return RAFT_VOTER;
}

Suffrage SuffrageFor(int role) {
  switch (role) {
    case RAFT_STANDBY:
      return Suffrage::kStandby;
    case RAFT_SPARE:
      return Suffrage::kSpare;
    default:
      return Suffrage::kVoter;
  }
}

// Status messages say "raft: ..." for whoever reads them without context; the log line already
// names the component.
std::string_view Unprefixed(std::string_view message) {
  constexpr std::string_view kPrefix = "raft: ";
  if (message.substr(0, kPrefix.size()) == kPrefix) message.remove_prefix(kPrefix.size());
  return message;
}

bool ParseIpv4Port(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  std::string host(address.substr(0, colon));
  in_addr ignored;
  if (inet_pton(AF_INET, host.c_str(), &ignored) != 1) return false;
  std::string_view port = address.substr(colon + 1);
  if (port.size() > 5) return false;
  unsigned value = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + unsigned(ch - '0');
  }
  return value > 0 && value < 65536;
}

}  // namespace

const char* RaftStateName(RaftState state) {
  switch (state) {
    case RaftState::kFollower:
      return "Follower";
    case RaftState::kCandidate:
      return "Candidate";
    case RaftState::kLeader:
      return "Leader";
    case RaftState::kUnavailable:
      return "Shutdown";
  }
  return "Shutdown";
}

RaftOptions RaftOptions::Fast() {
  RaftOptions o;
  o.election_timeout = std::chrono::milliseconds(500);
  o.heartbeat_timeout = std::chrono::milliseconds(50);
  o.install_snapshot_timeout = std::chrono::milliseconds(1000);
  o.connect_retry_delay = std::chrono::milliseconds(100);
  o.poll_interval = std::chrono::milliseconds(10);
  o.segment_size = 1 << 20;
  return o;
}

Status ValidateOptions(const RaftOptions& o) {
  if (o.id == 0) return InvalidArgument("raft: server id must be greater than zero");
  if (!ParseIpv4Port(o.address)) {
    return InvalidArgument("raft: address \"" + o.address +
                           "\" is not an IPv4 address with a port (a.b.c.d:port)");
  }
  if (!o.bind_address.empty()) {
    if (o.transport == RaftOptions::Transport::kHandoff) {
      return InvalidArgument("raft: bind address " + o.bind_address +
                             " is for the own-port transport; with hand-off the RPC server "
                             "listens");
    }
    if (!ParseIpv4Port(o.bind_address)) {
      return InvalidArgument("raft: bind address \"" + o.bind_address +
                             "\" is not an IPv4 address with a port (a.b.c.d:port)");
    }
    if (o.bind_address.substr(o.bind_address.rfind(':')) != o.address.substr(o.address.rfind(':'))) {
      return InvalidArgument("raft: bind address " + o.bind_address +
                             " must use the advertised address's port (" + o.address + ")");
    }
  }
  if (o.data_dir.empty()) return InvalidArgument("raft: data_dir is required");
  if (o.heartbeat_timeout.count() <= 0 || o.election_timeout <= o.heartbeat_timeout) {
    return InvalidArgument("raft: heartbeat timeout (" + std::to_string(o.heartbeat_timeout.count()) +
                           " ms) must be positive and below the election timeout (" +
                           std::to_string(o.election_timeout.count()) + " ms)");
  }
  if (o.install_snapshot_timeout.count() <= 0 || o.connect_retry_delay.count() <= 0 ||
      o.poll_interval.count() <= 0 || o.handshake_timeout.count() <= 0) {
    return InvalidArgument("raft: timeouts must be positive");
  }
  if (o.snapshot_threshold == 0) return InvalidArgument("raft: snapshot_threshold must be > 0");
  if (o.segment_size < (64u << 10)) return InvalidArgument("raft: segment_size must be >= 64 KiB");
  return Status::Ok();
}

unsigned SnapshotThreshold(const RaftOptions& options) {
  // splitmix64: small ids (1, 2, 3 in tests) land far apart as well as random UUID prefixes.
  uint64_t z = options.id + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  uint64_t span = uint64_t(options.snapshot_threshold) / 8 + 1;
  uint64_t threshold = uint64_t(options.snapshot_threshold) + z % span;
  return unsigned(std::min<uint64_t>(threshold, UINT_MAX));
}

Result<uint64_t> ServerIdFromUuid(std::string_view uuid) {
  auto bytes = ParseUuid(uuid);
  if (!bytes) return InvalidArgument("raft: \"" + std::string(uuid) + "\" is not a UUID");
  // The first 8 bytes (16 hex digits), big-endian.
  uint64_t id = LoadBigEndian(std::string_view(reinterpret_cast<const char*>(bytes->data()), 8), 8);
  if (id == 0) return InvalidArgument("raft: UUID " + std::string(uuid) + " maps to server id 0");
  return id;
}

// ---------------------------------------------------------------------------------------------
// One asynchronous snapshot (libraft's fsm version 3; docs/consensus.md, "Snapshots"): the raft
// thread asks the owner for a copy of the state, a libuv worker waits for the copy and encodes
// it, libraft writes the bytes, and snapshot_finalize drops the job on the raft thread. Held by
// the raft thread (Core::snapshot_), the owner's closure and, through the Core, the worker.

namespace {

struct SnapshotJob {
  uint64_t index = 0;  // libraft's last_applied when it asked
  // Guarded by Shared::mu; changes are signalled on Shared::cv.
  bool copied = false;     // the owner ran BeginSnapshot; `source` holds its outcome
  bool abandoned = false;  // finalized (or given up) before the owner got to it: skip the copy
  Result<std::unique_ptr<SnapshotSource>> source;
  std::chrono::steady_clock::duration copy_time{};
  // Written by the worker, then read by libraft until snapshot_finalize.
  std::string bytes;
  raft_buffer buf{};
};

// How long a worker waits for the owner's copy before it gives up on this snapshot (libraft
// tries again after the next applied entry). The owner only delays it by the work queued ahead
// of the copy; the bound matters when several nodes share a process and its owner thread waits
// in one node's Shutdown while workers of the others wait for it (libuv's pool has 4 threads).
constexpr auto kCopyWait = std::chrono::seconds(10);

double Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string Fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Owner-side state. Closures posted by the raft thread hold it by shared_ptr, so it outlives the
// RaftNode; `dead` (owner thread only) turns them into no-ops after Shutdown.

struct RaftNode::Shared {
  Shared(Loop& l, StateMachine& f) : owner(l), fsm(&f) {}

  Loop& owner;
  StateMachine* fsm;

  // Cross-thread: the command queue and the raft thread's (and snapshot workers') waits for
  // owner work.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void(Core&)>> queue;
  bool stopping = false;
  std::stop_source stop;  // requested by Shutdown, with stopping: snapshot encoders give up

  // Owner thread only.
  bool dead = false;
  RaftInfo info;
  std::function<void(RaftState, Peer)> on_leader_change;
  struct Pending {
    std::function<void(ApplyResult)> apply_done;
    std::function<void(OpResult)> op_done;
    Result<std::string> response;
  };
  std::unordered_map<uint64_t, Pending> pending;
  uint64_t next_id = 1;

  void ApplyEntry(uint64_t index, const std::string& entry, uint64_t request) {
    if (dead) return;
    auto result = fsm->Apply(index, entry);
    // An applied entry is committed and in the log; Info() should not say otherwise until the
    // next observation arrives.
    info.applied_index = std::max(info.applied_index, index);
    info.commit_index = std::max(info.commit_index, index);
    info.last_index = std::max(info.last_index, index);
    if (request == 0) return;
    auto it = pending.find(request);
    if (it != pending.end()) it->second.response = std::move(result);
  }

  void Complete(uint64_t id, OpResult r) {
    if (dead) return;
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Pending p = std::move(it->second);
    pending.erase(it);
    if (p.apply_done) {
      ApplyResult ar;
      static_cast<OpResult&>(ar) = std::move(r);
      if (ar.ok()) ar.response = std::move(p.response);
      p.apply_done(std::move(ar));
    } else if (p.op_done) {
      p.op_done(std::move(r));
    }
  }

  void Observe(RaftInfo next) {
    if (dead) return;
    bool changed = next.state != info.state || next.leader != info.leader;
    info = std::move(next);
    if (changed && on_leader_change) on_leader_change(info.state, info.leader);
  }

  // Runs fn on the owner thread and waits for its value; nullopt once Shutdown has begun (the
  // owner may be inside Shutdown, waiting for this thread). Raft thread only.
  template <typename T>
  std::optional<T> Hop(std::function<T()> fn, const std::shared_ptr<Shared>& self) {
    struct Call {
      bool done = false;
      std::optional<T> value;
    };
    auto call = std::make_shared<Call>();
    {
      std::lock_guard<std::mutex> l(mu);
      if (stopping) return std::nullopt;
    }
    owner.Post([self, call, fn = std::move(fn)] {
      if (self->dead) return;
      T v = fn();
      {
        std::lock_guard<std::mutex> l(self->mu);
        call->value = std::move(v);
        call->done = true;
      }
      self->cv.notify_all();
    });
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return call->done || stopping; });
    if (!call->done) return std::nullopt;
    return std::move(call->value);
  }
};

// ---------------------------------------------------------------------------------------------
// Raft-thread state. Everything below runs on the raft thread, except the constructor and
// uv_async_send(&async).

class RaftNode::Core {
 public:
  Core(std::shared_ptr<Shared> shared, RaftOptions options,
       std::shared_ptr<internal::HandoffInbox> inbox)
      : shared_(std::move(shared)), options_(std::move(options)), inbox_(std::move(inbox)) {
    int rv = uv_loop_init(&loop_);
    if (rv != 0) {
      // Without a loop nothing works; this only fails when the process is out of fds/memory.
      LogError(kLog, std::string("uv_loop_init: ") + uv_strerror(rv));
      std::abort();
    }
    uv_async_init(&loop_, &async, &Core::AsyncCb);
    async.data = this;
    uv_timer_init(&loop_, &poll_);
    poll_.data = this;
    uv_check_init(&loop_, &check_);
    check_.data = this;
  }

  uv_async_t async;

  void Run() {
    sigset_t all;
    sigfillset(&all);
    // Signals belong to the owner's loop; and a write to a peer that hung up must fail with
    // EPIPE here rather than raise SIGPIPE and kill the process.
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    init_status_ = Init();
    if (!init_status_.ok()) LogError(kLog, Unprefixed(init_status_.message()));
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop_) != 0) {
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      if (uv_loop_close(&loop_) != 0) LogWarn(kLog, "uv loop did not close cleanly");
    }
    if (lock_fd_ >= 0) close(lock_fd_);
  }

  // ---- commands ----

  void DoBootstrap(uint64_t op, Configuration members) {
    if (!init_status_.ok()) return Complete(op, InitFailure());
    if (start_attempted_) {
      return Complete(op, Fail(Error::kInvalid, "raft: bootstrap must come before start"));
    }
    if (members.empty()) {
      return Complete(op, Fail(Error::kInvalid, "raft: bootstrap needs at least one server"));
    }
    raft_configuration conf;
    raft_configuration_init(&conf);
    for (const auto& m : members) {
      int rv = raft_configuration_add(&conf, m.id, m.address.c_str(), RoleFor(m.suffrage));
      if (rv != 0) {
        raft_configuration_close(&conf);
        return Complete(op, Fail(ErrorFor(rv), "raft: bootstrap configuration: server " +
                                                   std::to_string(m.id) + " (" + m.address +
                                                   "): " + raft_strerror(rv)));
      }
    }
    int rv = raft_bootstrap(&raft_, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
      ClearErrors();
      return Complete(op, Fail(Error::kAlreadyBootstrapped,
                               "raft: data dir " + options_.data_dir +
                                   " already holds raft state; not bootstrapping"));
    }
    if (rv != 0) return Complete(op, Failure(rv, "bootstrap"));
    LogInfo(kLog, "bootstrapped a configuration of " + std::to_string(members.size()) +
                      " server(s) in " + options_.data_dir);
    Complete(op, OpResult{});
  }

  void DoStart(uint64_t op) {
    if (start_attempted_) return Complete(op, start_result_);
    start_attempted_ = true;
    if (!init_status_.ok()) {
      start_result_ = InitFailure();
      return Complete(op, start_result_);
    }
    restore_error_.clear();
    int rv = raft_start(&raft_);
    if (rv != 0) {
      start_result_ = Failure(rv, "start from " + options_.data_dir);
      start_result_.error = rv == RAFT_SHUTDOWN ? Error::kShutdown : Error::kIo;
      start_result_.status = Status(Code::kInternal, start_result_.status.message());
      bool own_port = options_.transport == RaftOptions::Transport::kOwnPort;
      if (std::string busy = rv == RAFT_IOERR && own_port ? ListenProblem() : "";
          !busy.empty()) {
        start_result_.status = Status(Code::kInternal, "raft: " + busy);
      }
      if (!restore_error_.empty()) {
        start_result_.status = Status(start_result_.status.code(),
                                      "raft: restoring the snapshot in " + options_.data_dir +
                                          " failed: " + restore_error_);
      }
      LogError(kLog, Unprefixed(start_result_.status.message()));
      return Complete(op, start_result_);
    }
    started_ = true;
    auto every = uint64_t(options_.poll_interval.count());
    uv_timer_start(&poll_, &Core::PollCb, every, every);
    uv_check_start(&check_, [](uv_check_t* h) { static_cast<Core*>(h->data)->Pump(); });
    bool handoff = options_.transport == RaftOptions::Transport::kHandoff;
    LogInfo(kLog, "started server " + std::to_string(options_.id) + " at " + options_.address +
                      (handoff ? " (via the RPC port)" : "") +
                      " (last index " + std::to_string(raft_last_index(&raft_)) + ")");
    start_result_ = OpResult{};
    PostObservation();
    Complete(op, start_result_);
  }

  void DoApply(uint64_t op, std::string entry) {
    if (!CheckStarted(op)) return;
    if (entry.empty()) return Complete(op, Fail(Error::kInvalid, "raft: empty entry"));
    if (entry.size() > UINT32_MAX - 8) {
      return Complete(op, Fail(Error::kInvalid, "raft: entry of " + std::to_string(entry.size()) +
                                                    " bytes is too large"));
    }
    if (!CheckLeader(op)) return;
    Write w;
    w.kind = Write::kApply;
    w.op = op;
    w.framed = EncodeEntry(entry);
    writes_.push_back(std::move(w));
    Pump();
  }

  void DoBarrier(uint64_t op) {
    if (!CheckStarted(op) || !CheckLeader(op)) return;
    Write w;
    w.kind = Write::kBarrier;
    w.op = op;
    writes_.push_back(std::move(w));
    Pump();
  }

  void DoAddVoter(uint64_t op, uint64_t id, std::string address) {
    if (!CheckStarted(op)) return;
    if (id == 0 || !ParseIpv4Port(address)) {
      return Complete(op, Fail(Error::kInvalid, "raft: add voter: bad id " + std::to_string(id) +
                                                    " or address \"" + address + "\""));
    }
    for (unsigned i = 0; i < raft_.configuration.n; ++i) {
      const raft_server& s = raft_.configuration.servers[i];
      if (s.id != id) continue;
      if (address != s.address) {
        return Complete(op, Fail(Error::kInvalid, "raft: server " + std::to_string(id) +
                                                      " is already in the configuration at " +
                                                      s.address));
      }
      if (s.role == RAFT_VOTER) return Complete(op, OpResult{});
      return QueueChange(op, ChangeKind::kAssignVoter, id, address);
    }
    QueueChange(op, ChangeKind::kAdd, id, address);
  }

  void DoRemove(uint64_t op, uint64_t id) {
    if (!CheckStarted(op)) return;
    QueueChange(op, ChangeKind::kRemove, id, "");
  }

  void DoTransfer(uint64_t op, uint64_t id) {
    if (!CheckStarted(op)) return;
    auto req = std::make_unique<TransferReq>();
    req->core = this;
    req->op = op;
    req->raw.data = req.get();
    int rv = raft_transfer(&raft_, &req->raw, id, &Core::TransferCb);
    if (rv != 0) return Complete(op, Failure(rv, "transfer leadership"));
    transfers_[op] = std::move(req);
  }

  void DoClose() {
    if (closing_) return;
    closing_ = true;
    uv_timer_stop(&poll_);
    uv_check_stop(&check_);
    writes_.clear();  // the owner fails whatever is pending
    if (!raft_inited_) return FinishClose();
    // libraft 0.15 crashes when raft_close cancels more than one pending append of the leader
    // (each cancelled append truncates the log from its own index, the second one past the end).
    // The gate keeps ours to one; wait for the disk to finish it, within reason.
    close_deadline_ = uv_now(&loop_) + 5000;
    uv_timer_start(&poll_, &Core::CloseWhenIdleCb, 0, 1);
  }

 private:
  static constexpr size_t kMaxBatch = 512;
  struct BatchReq {
    RaftApplyReq raw{};
    Core* core = nullptr;
    uint64_t first = 0;
    unsigned n = 0;
  };
  struct Inflight {
    uint64_t op;
    uint64_t term;
  };
  struct BarrierReq {
    RaftBarrierReq raw{};
    Core* core = nullptr;
    uint64_t op = 0;
  };
  struct TransferReq {
    RaftTransferReq raw{};
    Core* core = nullptr;
    uint64_t op = 0;
  };
  enum class ChangeKind { kAdd, kAssignVoter, kRemove };
  // A write waiting for the gate (see Pump).
  struct Write {
    enum Kind { kApply, kBarrier, kChange } kind = kApply;
    uint64_t op = 0;
    std::string framed;  // kApply
    ChangeKind change = ChangeKind::kAdd;
    uint64_t server = 0;
    std::string address;
  };
  struct ChangeReq {
    raft_change raw{};
    Core* core = nullptr;
    uint64_t op = 0;
    ChangeKind kind = ChangeKind::kAdd;
    uint64_t server = 0;
    std::string address;
  };

  Status Init() {
    Status valid = ValidateOptions(options_);
    if (!valid.ok()) return valid;
    namespace fs = std::filesystem;
    const std::string& dir = options_.data_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Internal("raft: cannot create data dir " + dir + ": " + ec.message());
    if (!fs::is_directory(dir, ec)) return Internal("raft: data dir " + dir + " is not a directory");
    std::string lock_path = (fs::path(dir) / kLockFile).string();
    lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      return Internal("raft: data dir " + dir + " is not writable: " + std::strerror(errno));
    }
    if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status(Code::kConflict, "raft: data dir " + dir + " is in use by another raft node");
    }

    raft_uv_transport* transport = nullptr;
    int rv = 0;
    if (options_.transport == RaftOptions::Transport::kHandoff) {
      handoff_ = std::make_unique<internal::HandoffTransport>(
          &loop_, inbox_, options_.handshake_timeout, options_.dial);
      transport = handoff_->get();
    } else {
      rv = raft_uv_tcp_init(&transport_, &loop_);
      if (rv != 0) return Internal(std::string("raft: transport: ") + raft_strerror(rv));
      transport_inited_ = true;
      if (!options_.bind_address.empty()) {
        rv = raft_uv_tcp_set_bind_address(&transport_, options_.bind_address.c_str());
        if (rv != 0) {
          return InvalidArgument("raft: bind address " + options_.bind_address + ": " +
                                 raft_strerror(rv));
        }
      }
      nodelay_ = std::make_unique<internal::NodelayTransport>(&transport_);
      transport = nodelay_->get();
    }
    rv = raft_uv_init(&io_, &loop_, dir.c_str(), transport);
    if (rv != 0) {
      return Internal("raft: data dir " + dir + ": " + raft_strerror(rv) +
                      (io_.errmsg[0] ? std::string(": ") + io_.errmsg : ""));
    }
    io_inited_ = true;
    raft_uv_set_segment_size(&io_, options_.segment_size);
    raft_uv_set_connect_retry_delay(&io_, unsigned(options_.connect_retry_delay.count()));
    // With auto-recovery libraft renames a segment it cannot read and starts without it,
    // silently forgetting committed entries. A clear error at Start is safer.
    raft_uv_set_auto_recovery(&io_, false);

    // libraft 0.15's uv I/O implements async_work but still calls itself version 1, and raft_init
    // refuses an fsm with snapshot_async over an io below version 2 (fixed upstream in "uv: set
    // io version to 2", 0.17).
    if (io_.version < 2 && io_.async_work != nullptr) io_.version = 2;

    // Asynchronous snapshots (see FsmSnapshot): nothing waits for the state to be encoded.
    fsm_.version = 3;
    fsm_.data = this;
    fsm_.apply = &Core::FsmApply;
    fsm_.snapshot = &Core::FsmSnapshot;
    fsm_.restore = &Core::FsmRestore;
    fsm_.snapshot_finalize = &Core::FsmSnapshotFinalize;
    fsm_.snapshot_async = &Core::FsmSnapshotAsync;
    rv = raft_init(&raft_, &io_, &fsm_, options_.id, options_.address.c_str());
    if (rv != 0) {
      std::string detail = raft_.errmsg[0] ? raft_.errmsg : raft_strerror(rv);
      return Internal("raft: open data dir " + dir + ": " + detail);
    }
    raft_inited_ = true;
    raft_.data = this;
    raft_set_election_timeout(&raft_, unsigned(options_.election_timeout.count()));
    raft_set_heartbeat_timeout(&raft_, unsigned(options_.heartbeat_timeout.count()));
    raft_set_install_snapshot_timeout(&raft_, unsigned(options_.install_snapshot_timeout.count()));
    raft_set_snapshot_threshold(&raft_, SnapshotThreshold(options_));
    raft_set_snapshot_trailing(&raft_, options_.snapshot_trailing);
    raft_set_pre_vote(&raft_, options_.pre_vote);
    return Status::Ok();
  }

  static void CloseWhenIdleCb(uv_timer_t* t) {
    auto* core = static_cast<Core*>(t->data);
    struct raft* r = &core->raft_;
    if (r->last_stored < raft_last_index(r) && uv_now(&core->loop_) < core->close_deadline_) return;
    uv_timer_stop(t);
    r->data = core;
    raft_close(r, [](struct raft* rr) { static_cast<Core*>(rr->data)->FinishClose(); });
  }

  void FinishClose() {
    if (io_inited_) raft_uv_close(&io_);
    if (transport_inited_) raft_uv_tcp_close(&transport_);
    io_inited_ = transport_inited_ = raft_inited_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  }

  void QueueChange(uint64_t op, ChangeKind kind, uint64_t id, std::string address) {
    if (!CheckLeader(op)) return;
    Write w;
    w.kind = Write::kChange;
    w.op = op;
    w.change = kind;
    w.server = id;
    w.address = std::move(address);
    writes_.push_back(std::move(w));
    Pump();
  }

  // Issues queued writes while this leader has no append of its own in flight. Entries that
  // queued up meanwhile go as one batch: group commit.
  void Pump() {
    if (!started_ || closing_ || (writes_.empty() && inflight_.empty())) return;
    CheckLeadership();
    while (!writes_.empty() && raft_.last_stored == raft_last_index(&raft_) &&
           raft_state(&raft_) == RAFT_LEADER) {
      Write& head = writes_.front();
      if (head.kind == Write::kBarrier) {
        uint64_t op = head.op;
        writes_.pop_front();
        IssueBarrier(op);
      } else if (head.kind == Write::kChange) {
        Write w = std::move(head);
        writes_.pop_front();
        Change(w.op, w.change, w.server, std::move(w.address));
      } else {
        IssueApplies();
      }
    }
  }

  void IssueApplies() {
    std::vector<Write> batch;
    while (!writes_.empty() && writes_.front().kind == Write::kApply &&
           batch.size() < kMaxBatch) {
      batch.push_back(std::move(writes_.front()));
      writes_.pop_front();
    }
    std::vector<raft_buffer> bufs(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      bufs[i].len = batch[i].framed.size();
      bufs[i].base = raft_malloc(bufs[i].len);
      if (bufs[i].base != nullptr) std::memcpy(bufs[i].base, batch[i].framed.data(), bufs[i].len);
    }
    bool oom = std::any_of(bufs.begin(), bufs.end(), [](auto& b) { return b.base == nullptr; });
    auto req = std::make_unique<BatchReq>();
    req->core = this;
    req->raw.data = req.get();
    int rv = oom ? RAFT_NOMEM
                 : raft_apply(&raft_, &req->raw, bufs.data(), unsigned(bufs.size()),
                              &Core::BatchCb);
    if (rv != 0) {
      for (auto& b : bufs) raft_free(b.base);  // ownership passes to raft only on success
      OpResult r = Failure(rv, "apply");
      for (const auto& w : batch) Complete(w.op, r);
      return;
    }
    req->first = req->raw.index;
    req->n = unsigned(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      inflight_[req->first + i] = Inflight{batch[i].op, raft_.current_term};
    }
    BatchReq* key = req.get();
    batches_[key] = std::move(req);
  }

  void IssueBarrier(uint64_t op) {
    auto req = std::make_unique<BarrierReq>();
    req->core = this;
    req->op = op;
    req->raw.data = req.get();
    int rv = raft_barrier(&raft_, &req->raw, &Core::BarrierCb);
    if (rv != 0) return Complete(op, Failure(rv, "barrier"));
    barriers_[op] = std::move(req);
  }

  // A leader that stepped down (or moved to a new term) will not see its pending entries
  // through: their outcome is unknown. Fail them, and refuse what was still queued.
  void CheckLeadership() {
    bool leader = raft_inited_ && raft_state(&raft_) == RAFT_LEADER;
    if (!inflight_.empty() && (!leader || raft_.current_term != inflight_.begin()->second.term)) {
      OpResult r = Failure(RAFT_LEADERSHIPLOST, "apply");
      for (const auto& [index, f] : inflight_) {
        OpResult ri = r;
        ri.index = index;
        Complete(f.op, ri);
      }
      inflight_.clear();
    }
    if (!writes_.empty() && !leader) {
      OpResult r = Failure(RAFT_NOTLEADER, "apply");
      for (const auto& w : writes_) Complete(w.op, r);
      writes_.clear();
    }
  }

  void Change(uint64_t op, ChangeKind kind, uint64_t id, std::string address) {
    auto req = std::make_unique<ChangeReq>();
    req->core = this;
    req->op = op;
    req->kind = kind;
    req->server = id;
    req->address = std::move(address);
    req->raw.data = req.get();
    int rv = 0;
    const char* what = "";
    switch (kind) {
      case ChangeKind::kAdd:
        what = "add server";
        rv = raft_add(&raft_, &req->raw, id, req->address.c_str(), &Core::ChangeCb);
        break;
      case ChangeKind::kAssignVoter:
        what = "promote server to voter";
        rv = raft_assign(&raft_, &req->raw, id, RAFT_VOTER, &Core::ChangeCb);
        break;
      case ChangeKind::kRemove:
        what = "remove server";
        rv = raft_remove(&raft_, &req->raw, id, &Core::ChangeCb);
        break;
    }
    if (rv != 0) return Complete(op, Failure(rv, std::string(what) + " " + std::to_string(id)));
    changes_[op] = std::move(req);
  }

  // ---- libraft callbacks ----

  static void AsyncCb(uv_async_t* h) { static_cast<Core*>(h->data)->Drain(); }
  static void PollCb(uv_timer_t* t) {
    auto* core = static_cast<Core*>(t->data);
    core->CheckLeadership();
    core->PostObservation();
  }

  void Drain() {
    std::deque<std::function<void(Core&)>> q;
    {
      std::lock_guard<std::mutex> l(shared_->mu);
      q.swap(shared_->queue);
    }
    for (auto& fn : q) {
      if (closing_) break;  // Shutdown fails whatever was still pending
      fn(*this);
    }
    if (started_ && !closing_) {
      Pump();
      PostObservation();
    }
  }

  static int FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
    *result = nullptr;
    static_cast<Core*>(fsm->data)->OnFsmApply(buf);
    return 0;  // non-zero would make libraft retry the entry forever
  }

  void OnFsmApply(const raft_buffer* buf) {
    uint64_t index = raft_.last_applied + 1;  // libraft applies in order and bumps it after
    uint64_t op = 0;
    if (auto it = inflight_.find(index); it != inflight_.end()) {
      // Ours only while we still lead in the term we appended it: a leader never overwrites its
      // own log within its term.
      if (raft_state(&raft_) == RAFT_LEADER && raft_.current_term == it->second.term) {
        op = it->second.op;
      }
      inflight_.erase(it);
    }
    auto payload = DecodeEntry(std::string_view(static_cast<const char*>(buf->base), buf->len));
    if (!payload.ok()) {
      // Every server holds the same bytes, so every server skips this entry alike.
      LogError(kLog, "skipping log entry " + std::to_string(index) + ": " +
                         payload.status().message());
      if (op != 0) Complete(op, Fail(Error::kInvalid, payload.status().message()));
      return;
    }
    std::string entry(*payload);
    shared_->owner.Post([s = shared_, index, entry = std::move(entry), op] {
      s->ApplyEntry(index, entry, op);
    });
    if (op != 0) {
      // Applying an entry means it is committed; the owner sees this after ApplyEntry.
      OpResult r;
      r.index = index;
      Complete(op, std::move(r), /*observe=*/false);  // ApplyEntry already moved the indexes
    }
  }

  // libraft's fsm->snapshot (raft thread): asks the owner for a copy of the state and returns
  // at once, without buffers. The copy is taken on the owner after every entry up to
  // last_applied has been applied there and before any later one (Post is FIFO).
  static int FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* core = static_cast<Core*>(fsm->data);
    *bufs = nullptr;
    *n_bufs = 0;
    if (core->closing_ || core->snapshot_) return RAFT_BUSY;  // "try later" to libraft
    auto s = core->shared_;
    auto job = std::make_shared<SnapshotJob>();
    job->index = core->raft_.last_applied;
    {
      std::lock_guard<std::mutex> l(s->mu);
      if (s->stopping) return RAFT_BUSY;
    }
    s->owner.Post([s, job] {
      if (s->dead) return;  // Shutdown began; the worker wakes on `stopping`
      {
        std::lock_guard<std::mutex> l(s->mu);
        if (job->abandoned) return;
      }
      auto start = std::chrono::steady_clock::now();
      auto source = s->fsm->BeginSnapshot();
      auto took = std::chrono::steady_clock::now() - start;
      {
        std::lock_guard<std::mutex> l(s->mu);
        job->source = std::move(source);
        job->copy_time = took;
        job->copied = true;
      }
      s->cv.notify_all();
    });
    core->snapshot_ = std::move(job);
    return 0;
  }

  // libraft's fsm->snapshot_async, on a libuv worker thread: waits for the owner's copy, encodes
  // it and hands the bytes to libraft. Touches only the job and the shared state's lock; the
  // Core outlives it (the raft loop runs until this work's callback has run).
  static int FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* core = static_cast<Core*>(fsm->data);
    std::shared_ptr<SnapshotJob> job = core->snapshot_;  // set before libraft queued this work
    Shared& s = *core->shared_;
    std::unique_ptr<SnapshotSource> source;
    std::chrono::steady_clock::duration copy_time{};
    {
      std::unique_lock<std::mutex> l(s.mu);
      s.cv.wait_for(l, kCopyWait, [&] { return job->copied || s.stopping; });
      if (s.stopping) {
        job->abandoned = true;
        return RAFT_CANCELED;
      }
      if (!job->copied) {
        job->abandoned = true;
        LogWarn(kLog, "snapshot at index " + std::to_string(job->index) +
                          ": no copy of the state after " + std::to_string(kCopyWait.count()) +
                          " s; trying again later");
        return RAFT_BUSY;
      }
      if (!job->source.ok()) {
        LogWarn(kLog, "state machine snapshot failed: " + job->source.status().message());
        return RAFT_BUSY;
      }
      source = std::move(*job->source);
      copy_time = job->copy_time;
    }
    auto start = std::chrono::steady_clock::now();
    auto bytes = source ? source->Encode(s.stop.get_token())
                        : Result<std::string>(Internal("no snapshot source"));
    auto took = std::chrono::steady_clock::now() - start;
    source.reset();  // the copy goes here, off the owner and raft threads
    if (!bytes.ok()) {
      if (!s.stop.stop_requested()) {
        LogWarn(kLog, "state machine snapshot failed: " + bytes.status().message());
      }
      return RAFT_BUSY;
    }
    job->bytes = std::move(*bytes);
    job->buf.base = job->bytes.data();
    job->buf.len = job->bytes.size();
    *bufs = &job->buf;
    *n_bufs = 1;
    LogInfo(kLog, "snapshot at index " + std::to_string(job->index) + ": state copied in " +
                      Fixed1(Millis(copy_time)) + " ms on the owner thread, " +
                      Fixed1(double(job->bytes.size()) / (1 << 20)) + " MiB encoded in " +
                      Fixed1(Millis(took)) + " ms on a worker");
    return 0;
  }

  // libraft's fsm->snapshot_finalize (raft thread), after every fsm->snapshot that returned 0:
  // the snapshot is on disk, failed or was abandoned. The buffers are ours (version >= 2).
  static int FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* core = static_cast<Core*>(fsm->data);
    if (core->snapshot_) {
      std::lock_guard<std::mutex> l(core->shared_->mu);
      core->snapshot_->abandoned = true;
    }
    core->snapshot_.reset();
    *bufs = nullptr;
    *n_bufs = 0;
    return 0;
  }

  static int FsmRestore(raft_fsm* fsm, raft_buffer* buf) {
    auto* core = static_cast<Core*>(fsm->data);
    auto s = core->shared_;
    // The owner runs this while we wait, or not at all once Shutdown began (see Hop), so the
    // view stays valid for as long as it can be read.
    std::string_view view(static_cast<const char*>(buf->base), buf->len);
    auto status = s->Hop<Status>([s, view] { return s->fsm->Restore(view); }, s);
    if (!status) {
      core->restore_error_ = "node shutting down";
      return RAFT_SHUTDOWN;
    }
    if (!status->ok()) {
      core->restore_error_ = status->message();
      LogError(kLog, "state machine refused a snapshot: " + status->message());
      return RAFT_MALFORMED;
    }
    raft_free(buf->base);  // on success the buffer is ours to release
    return 0;
  }

  // Fires when the batch's first entry is applied (success: completions come from OnFsmApply)
  // or when the batch failed (disk error, leadership lost, shutdown).
  static void BatchCb(RaftApplyReq* raw, int status, void* /*result*/) {
    auto* req = static_cast<BatchReq*>(raw->data);
    Core* core = req->core;
    if (status != 0) {
      OpResult r = core->Failure(status, "apply", /*async=*/true);
      for (uint64_t i = req->first; i < req->first + req->n; ++i) {
        auto it = core->inflight_.find(i);
        if (it == core->inflight_.end()) continue;
        OpResult ri = r;
        ri.index = i;
        core->Complete(it->second.op, ri);
        core->inflight_.erase(it);
      }
    }
    core->batches_.erase(req);  // frees req
  }

  static void BarrierCb(RaftBarrierReq* raw, int status) {
    auto* req = static_cast<BarrierReq*>(raw->data);
    Core* core = req->core;
    uint64_t op = req->op;
    OpResult r = status == 0 ? OpResult{} : core->Failure(status, "barrier", true);
    r.index = raw->index;
    core->Complete(op, std::move(r));
    core->barriers_.erase(op);
  }

  static void ChangeCb(raft_change* raw, int status) {
    auto* req = static_cast<ChangeReq*>(raw->data);
    Core* core = req->core;
    uint64_t op = req->op;
    if (status == 0 && req->kind == ChangeKind::kAdd && !core->closing_) {
      // Added as a spare; now promote it. libraft catches it up (AppendEntries or
      // InstallSnapshot) before committing the promotion. Issued from the queue, not from
      // inside this callback.
      Write w;
      w.kind = Write::kChange;
      w.op = op;
      w.change = ChangeKind::kAssignVoter;
      w.server = req->server;
      w.address = req->address;
      core->writes_.push_front(std::move(w));  // issued by Pump, outside this callback
    } else {
      OpResult r = status == 0 ? OpResult{} : core->Failure(status, "configuration change", true);
      core->Complete(op, std::move(r));
    }
    core->PostObservation();
    core->changes_.erase(op);
  }

  static void TransferCb(RaftTransferReq* raw) {
    auto* req = static_cast<TransferReq*>(raw->data);
    Core* core = req->core;
    uint64_t op = req->op;
    OpResult r;
    if (core->closing_) {
      r = Fail(Error::kShutdown, "raft: shut down during leadership transfer");
    } else if (raft_state(&core->raft_) == RAFT_LEADER) {
      r = Fail(Error::kOther, "raft: leadership transfer did not complete in time");
    } else {
      r.leader = core->CurrentLeader();
    }
    core->Complete(op, std::move(r));
    core->PostObservation();
    core->transfers_.erase(op);
  }

  // ---- helpers ----

  bool CheckStarted(uint64_t op) {
    if (started_) return true;
    if (!init_status_.ok()) {
      Complete(op, InitFailure());
    } else if (start_attempted_) {
      Complete(op, start_result_);
    } else {
      Complete(op, Fail(Error::kInvalid, "raft: not started"));
    }
    return false;
  }

  // libraft reports a failed listen as a bare I/O error; find out whether the port is taken.
  std::string ListenProblem() const {
    const std::string& address =
        options_.bind_address.empty() ? options_.address : options_.bind_address;
    auto colon = address.rfind(':');
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(std::stoi(address.substr(colon + 1))));
    if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1) return "";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as libuv does
    std::string problem;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      problem = "listen on " + address + ": " + std::strerror(errno);
    }
    close(fd);
    return problem;
  }

  bool CheckLeader(uint64_t op) {
    if (raft_state(&raft_) == RAFT_LEADER && raft_.transfer == nullptr) return true;
    Complete(op, Failure(RAFT_NOTLEADER, "apply"));
    return false;
  }

  OpResult InitFailure() const {
    OpResult r;
    r.error = init_status_.code() == Code::kInvalidArgument ? Error::kInvalid : Error::kIo;
    r.status = init_status_;
    return r;
  }

  Peer CurrentLeader() {
    Peer p;
    if (!raft_inited_) return p;
    raft_id id = 0;
    const char* address = nullptr;
    raft_leader(&raft_, &id, &address);
    p.id = id;
    if (id != 0 && address != nullptr) p.address = address;
    return p;
  }

  void ClearErrors() {
    raft_.errmsg[0] = '\0';
    io_.errmsg[0] = '\0';
  }

  // Synchronous failures leave details in errmsg; callbacks only carry a code.
  OpResult Failure(int rv, const std::string& what, bool async = false) {
    Error e = ErrorFor(rv);
    OpResult r;
    r.error = e;
    if (e == Error::kNotLeader || e == Error::kLeadershipLost) {
      r.leader = CurrentLeader();
      std::string text = e == Error::kNotLeader ? "raft: not the leader"
                                                : "raft: leadership lost while committing";
      if (r.leader.id != 0 && r.leader.id != options_.id) {
        text += "; the leader is server " + std::to_string(r.leader.id) + " at " +
                r.leader.address;
      } else {
        text += "; no leader is known";
      }
      r.status = Status(CodeFor(e), text);
      ClearErrors();
      return r;
    }
    std::string text = "raft: " + what + ": " + raft_strerror(rv);
    if (!async) {
      const char* detail = raft_.errmsg[0] ? raft_.errmsg : io_.errmsg;
      if (detail[0] != '\0' && std::strcmp(detail, raft_strerror(rv)) != 0) {
        text += std::string(": ") + detail;
      }
    }
    ClearErrors();
    r.status = Status(CodeFor(e), std::move(text));
    return r;
  }

  // Posts the outcome of op, preceded by a fresh observation so that Info() in the callback is
  // at least as new as the outcome.
  void Complete(uint64_t op, OpResult r, bool observe = true) {
    if (observe) PostObservation();
    shared_->owner.Post(
        [s = shared_, op, r = std::move(r)]() mutable { s->Complete(op, std::move(r)); });
  }

  RaftInfo Observe(uint64_t* contact_mark) {
    RaftInfo i;
    i.state = StateFor(raft_state(&raft_));
    i.leader = CurrentLeader();
    i.term = raft_.current_term;
    i.last_index = raft_last_index(&raft_);
    i.commit_index = raft_.commit_index;
    i.applied_index = raft_last_applied(&raft_);
    i.snapshot_index = raft_.log.snapshot.last_index;
    for (unsigned k = 0; k < raft_.configuration.n; ++k) {
      const raft_server& s = raft_.configuration.servers[k];
      i.configuration.push_back(Member{s.id, s.address, SuffrageFor(s.role)});
    }
    *contact_mark = 0;
    if (i.state == RaftState::kFollower && i.leader.id != 0) {
      // libraft resets the follower's election timer on every message from the leader.
      uint64_t now_ms = uv_now(&loop_);
      uint64_t since = now_ms > raft_.election_timer_start ? now_ms - raft_.election_timer_start
                                                           : 0;
      i.last_contact = std::chrono::steady_clock::now() - std::chrono::milliseconds(since);
      *contact_mark = raft_.election_timer_start;
    }
    return i;
  }

  void PostObservation() {
    if (!started_ || closing_) return;
    uint64_t mark = 0;
    RaftInfo i = Observe(&mark);
    bool same = posted_ && mark == posted_mark_ && i.state == last_.state &&
                i.leader == last_.leader && i.term == last_.term &&
                i.last_index == last_.last_index && i.commit_index == last_.commit_index &&
                i.applied_index == last_.applied_index &&
                i.snapshot_index == last_.snapshot_index &&
                i.configuration == last_.configuration;
    if (same) return;
    posted_ = true;
    posted_mark_ = mark;
    last_ = i;
    shared_->owner.Post([s = shared_, i = std::move(i)]() mutable { s->Observe(std::move(i)); });
  }

  std::shared_ptr<Shared> shared_;
  RaftOptions options_;

  uv_loop_t loop_;
  uv_timer_t poll_;
  uv_check_t check_;  // runs Pump after every loop iteration
  raft_uv_transport transport_{};                      // libraft's TCP transport
  std::unique_ptr<internal::NodelayTransport> nodelay_;  // what raft_uv uses: it, with NODELAY
  std::shared_ptr<internal::HandoffInbox> inbox_;         // kHandoff: AcceptConnection's queue
  std::unique_ptr<internal::HandoffTransport> handoff_;  // kHandoff: what raft_uv uses
  raft_io io_{};
  raft_fsm fsm_{};
  struct raft raft_ {};
  bool transport_inited_ = false;
  bool io_inited_ = false;
  bool raft_inited_ = false;
  bool start_attempted_ = false;
  bool started_ = false;
  bool closing_ = false;
  int lock_fd_ = -1;
  Status init_status_;
  OpResult start_result_;
  std::string restore_error_;
  std::shared_ptr<SnapshotJob> snapshot_;  // the snapshot in progress, until finalize

  std::deque<Write> writes_;
  std::map<uint64_t, Inflight> inflight_;  // log index -> local Apply awaiting its commit
  std::unordered_map<BatchReq*, std::unique_ptr<BatchReq>> batches_;
  uint64_t close_deadline_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<BarrierReq>> barriers_;
  std::unordered_map<uint64_t, std::unique_ptr<ChangeReq>> changes_;
  std::unordered_map<uint64_t, std::unique_ptr<TransferReq>> transfers_;

  RaftInfo last_;
  uint64_t posted_mark_ = 0;
  bool posted_ = false;
};

// ---------------------------------------------------------------------------------------------

RaftNode::RaftNode(Loop& owner, StateMachine& fsm, RaftOptions options)
    : owner_(owner),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>(owner, fsm)),
      inbox_(std::make_shared<internal::HandoffInbox>()) {}

RaftNode::~RaftNode() { Shutdown(); }

void RaftNode::EnsureThread() {
  if (core_) return;
  core_ = std::make_unique<Core>(shared_, options_, inbox_);
  thread_ = std::thread([core = core_.get()] { core->Run(); });
}

void RaftNode::Submit(std::function<void(Core&)> fn) {
  EnsureThread();
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    shared_->queue.push_back(std::move(fn));
  }
  uv_async_send(&core_->async);
}

uint64_t RaftNode::AddPending(std::function<void(ApplyResult)> apply_done,
                              std::function<void(OpResult)> op_done) {
  uint64_t id = shared_->next_id++;
  auto& p = shared_->pending[id];
  p.apply_done = std::move(apply_done);
  p.op_done = std::move(op_done);
  return id;
}

namespace {
OpResult ShutdownResult() { return Fail(Error::kShutdown, "raft: node is shut down"); }
}  // namespace

void RaftNode::Op(std::function<void(OpResult)> done, std::function<void(Core&, uint64_t)> fn) {
  if (shut_down_) {
    owner_.Post([d = std::move(done)] {
      if (d) d(ShutdownResult());
    });
    return;
  }
  uint64_t op = AddPending(nullptr, std::move(done));
  Submit([op, fn = std::move(fn)](Core& core) { fn(core, op); });
}

void RaftNode::Bootstrap(Configuration configuration, std::function<void(OpResult)> done) {
  Op(std::move(done), [c = std::move(configuration)](Core& core, uint64_t op) {
    core.DoBootstrap(op, c);
  });
}

void RaftNode::Start(std::function<void(OpResult)> done) {
  Op(std::move(done), [](Core& core, uint64_t op) { core.DoStart(op); });
}

void RaftNode::Barrier(std::function<void(OpResult)> done) {
  Op(std::move(done), [](Core& core, uint64_t op) { core.DoBarrier(op); });
}

void RaftNode::AddVoter(uint64_t id, std::string address, std::function<void(OpResult)> done) {
  Op(std::move(done),
     [id, address = std::move(address)](Core& core, uint64_t op) { core.DoAddVoter(op, id, address); });
}

void RaftNode::Remove(uint64_t id, std::function<void(OpResult)> done) {
  Op(std::move(done), [id](Core& core, uint64_t op) { core.DoRemove(op, id); });
}

void RaftNode::TransferLeadership(uint64_t id, std::function<void(OpResult)> done) {
  Op(std::move(done), [id](Core& core, uint64_t op) { core.DoTransfer(op, id); });
}

void RaftNode::Apply(std::string entry, std::function<void(ApplyResult)> done) {
  if (shut_down_) {
    owner_.Post([d = std::move(done)] {
      ApplyResult r;
      static_cast<OpResult&>(r) = ShutdownResult();
      if (d) d(std::move(r));
    });
    return;
  }
  uint64_t op = AddPending(std::move(done), nullptr);
  Submit([op, e = std::move(entry)](Core& core) mutable { core.DoApply(op, std::move(e)); });
}

const RaftInfo& RaftNode::Info() const { return shared_->info; }

std::chrono::milliseconds RaftNode::LastContact() const {
  const RaftInfo& i = Info();
  if (i.state == RaftState::kLeader) return std::chrono::milliseconds(0);
  if (i.state != RaftState::kFollower || i.leader.id == 0 ||
      i.last_contact == std::chrono::steady_clock::time_point{}) {
    return std::chrono::milliseconds(-1);
  }
  auto d = std::chrono::steady_clock::now() - i.last_contact;
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

void RaftNode::AcceptConnection(int fd, std::string already_read) {
  if (options_.transport != RaftOptions::Transport::kHandoff) {
    LogWarn(kLog, "a raft connection was handed over, but this node listens on its own port; "
                  "closing it");
    close(fd);
    return;
  }
  inbox_->Push(fd, std::move(already_read));
}

void RaftNode::OnLeaderChange(std::function<void(RaftState, Peer)> fn) {
  shared_->on_leader_change = std::move(fn);
}

void RaftNode::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  shared_->dead = true;
  if (core_) {
    {
      std::lock_guard<std::mutex> l(shared_->mu);
      shared_->stopping = true;
      shared_->queue.push_back([](Core& core) { core.DoClose(); });
    }
    shared_->stop.request_stop();
    shared_->cv.notify_all();
    uv_async_send(&core_->async);
    thread_.join();
    core_.reset();
  }
  shared_->info.state = RaftState::kUnavailable;
  shared_->info.leader = Peer{};
  auto pending = std::move(shared_->pending);
  shared_->pending.clear();
  for (auto& [id, p] : pending) {
    owner_.Post([p = std::move(p)]() mutable {
      if (p.apply_done) {
        ApplyResult r;
        static_cast<OpResult&>(r) = ShutdownResult();
        p.apply_done(std::move(r));
      } else if (p.op_done) {
        p.op_done(ShutdownResult());
      }
    });
  }
}

}  // namespace gangway::consensus
