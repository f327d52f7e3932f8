// RaftNode against real libraft: nodes in one process, each on its own 127.0.0.1 port and temp
// data dir, all owned by the test thread's loop. Deadlines are generous; timings are printed, not
// asserted tightly.
#include "consensus/raft_node.h"
#include "core/testing/ports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>

#include "consensus/handshake.h"
#include "consensus/testing/port_sink.h"
#include "consensus/testing/raft_port_listener.h"
#include "consensus/testing/test_loop.h"

namespace gangway::consensus {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TestLoop;

constexpr milliseconds kOpTimeout = seconds(30);

// What the snapshot encoders of one RecordingFsm did, shared with the worker threads that run
// them (and outliving the state machine). `hold` makes Encode wait until released or stopped.
struct SnapshotLog {
  std::mutex mu;
  std::condition_variable_any cv;
  bool hold = false;
  int encoding = 0;  // Encode calls in progress
  int encoded = 0;   // Encode calls that returned the bytes
  int stopped = 0;   // Encode calls that gave up because the node shut down
  std::set<std::thread::id> threads;  // where Encode ran

  void Release() {
    {
      std::lock_guard<std::mutex> l(mu);
      hold = false;
    }
    cv.notify_all();
  }
  int Encoding() {
    std::lock_guard<std::mutex> l(mu);
    return encoding;
  }
};

// Records every entry it applies; its snapshot is the whole record, so a node that restored a
// snapshot and replayed the log has exactly the same record as one that applied everything.
class RecordingFsm : public StateMachine {
 public:
  struct Entry {
    uint64_t index;
    std::string data;
    bool operator==(const Entry&) const = default;
  };

  // A copy of the record, encoded later on RaftNode's worker thread.
  class Source : public SnapshotSource {
   public:
    Source(std::vector<Entry> entries, std::shared_ptr<SnapshotLog> log)
        : entries_(std::move(entries)), log_(std::move(log)) {}

    Result<std::string> Encode(std::stop_token stop) override {
      {
        std::unique_lock<std::mutex> l(log_->mu);
        ++log_->encoding;
        log_->threads.insert(std::this_thread::get_id());
        log_->cv.wait(l, stop, [&] { return !log_->hold; });
        --log_->encoding;
        if (stop.stop_requested()) {
          ++log_->stopped;
          return Unavailable("stopped");
        }
      }
      std::string out = "FSM1\n";
      for (const auto& e : entries_) {
        out += std::to_string(e.index) + " " + std::to_string(e.data.size()) + "\n" + e.data;
      }
      std::lock_guard<std::mutex> l(log_->mu);
      ++log_->encoded;
      return out;
    }

   private:
    std::vector<Entry> entries_;
    std::shared_ptr<SnapshotLog> log_;
  };

  Result<std::string> Apply(uint64_t index, std::string_view entry) override {
    if (!entries.empty() && index <= entries.back().index) {
      out_of_order = true;
    }
    entries.push_back({index, std::string(entry)});
    if (entry.rfind("reject", 0) == 0) return InvalidArgument("rejected " + std::string(entry));
    return "applied:" + std::to_string(index);
  }

  Result<std::unique_ptr<SnapshotSource>> BeginSnapshot() override {
    ++snapshots;
    snapshot_threads.insert(std::this_thread::get_id());
    return std::unique_ptr<SnapshotSource>(std::make_unique<Source>(entries, snapshot_log));
  }

  Status Restore(std::string_view data) override {
    if (data.substr(0, 5) != "FSM1\n") return InvalidArgument("not an FSM1 snapshot");
    std::vector<Entry> restored;
    size_t pos = 5;
    while (pos < data.size()) {
      size_t nl = data.find('\n', pos);
      if (nl == std::string_view::npos) return InvalidArgument("truncated snapshot");
      unsigned long long index = 0, len = 0;
      if (std::sscanf(std::string(data.substr(pos, nl - pos)).c_str(), "%llu %llu", &index,
                      &len) != 2 ||
          nl + 1 + len > data.size()) {
        return InvalidArgument("bad snapshot record");
      }
      restored.push_back({index, std::string(data.substr(nl + 1, len))});
      pos = nl + 1 + len;
    }
    entries = std::move(restored);
    ++restores;
    return Status::Ok();
  }

  std::vector<std::string> Data() const {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.data);
    return out;
  }

  std::vector<Entry> entries;
  int snapshots = 0;  // BeginSnapshot calls
  std::set<std::thread::id> snapshot_threads;  // where BeginSnapshot ran
  std::shared_ptr<SnapshotLog> snapshot_log = std::make_shared<SnapshotLog>();
  int restores = 0;
  bool out_of_order = false;
};

// libraft must know its address before it listens: a port reserved for this test process.
int FreePort() { return gangway::testing::ReservePort(); }

std::string MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "gangway-raft-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  return tmpl;
}

// Runs an asynchronous RaftNode operation to completion on the loop.
template <typename R>
R Await(TestLoop& loop, const std::function<void(std::function<void(R)>)>& start,
        milliseconds timeout = kOpTimeout) {
  auto out = std::make_shared<std::optional<R>>();
  start([out](R r) { *out = std::move(r); });
  if (!loop.RunUntil([&] { return out->has_value(); }, timeout)) {
    R r;
    r.status = Internal("test: operation did not complete in time");
    return r;
  }
  return std::move(**out);
}

class RaftHarness : public ::testing::Test {
 protected:
  struct Node {
    // With the hand-off transport: the node's stand-in RPC port (address is its address).
    std::unique_ptr<testing::RaftPortListener> listener;
    uint64_t id = 0;
    std::string address;
    std::string dir;
    std::unique_ptr<RecordingFsm> fsm;
    std::unique_ptr<RaftNode> raft;
    std::vector<std::pair<RaftState, Peer>> leader_changes;
    // While stopped by StopIntoSink: what takes its port, and who led when it stopped (the
    // leader then, and how many leader changes each other node had seen).
    std::unique_ptr<testing::PortSink> sink;
    uint64_t leader_at_stop = 0;
    std::map<uint64_t, size_t> leader_changes_at_stop;
  };

  void SetUp() override {
    root_ = MakeTempDir();
    options_ = RaftOptions::Fast();
  }

  void TearDown() override {
    for (auto& [id, n] : nodes_) Stop(id);
    loop_.RunFor(milliseconds(10));  // let posted shutdown failures run while nodes_ exist
    nodes_.clear();
    std::error_code ec;
    if (std::getenv("RAFT_TEST_KEEP") == nullptr) fs::remove_all(root_, ec);
  }

  Node& Define(uint64_t id) {
    Node& n = nodes_[id];
    n.id = id;
    if (options_.transport == RaftOptions::Transport::kHandoff) {
      n.listener = std::make_unique<testing::RaftPortListener>();
      n.address = n.listener->address();
    } else {
      n.address = "127.0.0.1:" + std::to_string(FreePort());
    }
    n.dir = root_ + "/node" + std::to_string(id);
    return n;
  }

  RaftOptions OptionsFor(const Node& n) const {
    RaftOptions o = options_;
    o.id = n.id;
    o.address = n.address;
    o.data_dir = n.dir;
    return o;
  }

  Configuration ConfigOf(const std::vector<uint64_t>& ids) {
    Configuration c;
    for (uint64_t id : ids) c.push_back(Member{id, nodes_[id].address, Suffrage::kVoter});
    return c;
  }

  // Creates a fresh state machine and RaftNode over n's data dir; bootstraps when conf is set.
  OpResult Open(uint64_t id, const std::optional<Configuration>& conf) {
    Node& n = nodes_[id];
    Stop(id);
    n.sink.reset();  // frees the port for the node
    n.fsm = std::make_unique<RecordingFsm>();
    n.leader_changes.clear();
    n.raft = std::make_unique<RaftNode>(loop_, *n.fsm, OptionsFor(n));
    if (n.listener) {
      n.listener->SetHandler([raft = n.raft.get()](int fd, std::string already_read) {
        raft->AcceptConnection(fd, std::move(already_read));
      });
    }
    n.raft->OnLeaderChange([&n](RaftState s, Peer p) { n.leader_changes.emplace_back(s, p); });
    if (conf) {
      OpResult b = Await<OpResult>(loop_, [&](auto done) { n.raft->Bootstrap(*conf, done); });
      if (!b.ok() && b.error != Error::kAlreadyBootstrapped) return b;
    }
    return Await<OpResult>(loop_, [&](auto done) { n.raft->Start(done); });
  }

  void StartCluster(const std::vector<uint64_t>& ids) {
    for (uint64_t id : ids) Define(id);
    Configuration conf = ConfigOf(ids);
    for (uint64_t id : ids) {
      OpResult r = Open(id, conf);
      ASSERT_TRUE(r.ok()) << "node " << id << ": " << r.status.message();
    }
  }

  void Stop(uint64_t id) {
    Node& n = nodes_[id];
    if (n.listener) n.listener->SetHandler(nullptr);  // no call into the node from now on
    n.raft.reset();
  }

  // Stops a node and takes its port with a PortSink until Open: what the others send it in the
  // meantime goes nowhere, including what their transports hold back while it is unreachable
  // (see port_sink.h). kOwnPort only; with kHandoff the node's listener keeps the port.
  testing::PortSink& StopIntoSink(uint64_t id) {
    Node& n = nodes_[id];
    EXPECT_EQ(options_.transport, RaftOptions::Transport::kOwnPort);
    n.leader_at_stop = AgreedLeader();
    n.leader_changes_at_stop.clear();
    for (auto& [other, o] : nodes_) n.leader_changes_at_stop[other] = o.leader_changes.size();
    Stop(id);
    n.sink = std::make_unique<testing::PortSink>(
        std::stoi(n.address.substr(n.address.rfind(':') + 1)));
    EXPECT_TRUE(n.sink->ok()) << "node " << id << "'s port " << n.address << " was taken";
    return *n.sink;
  }

  // Whether every node that led since `id` was stopped into its sink has connected to it. Only a
  // leader sends a follower entries, and a leader heartbeats, so its transport finds the old
  // connection dead and dials the port; once it is connected, what it held back for `id` has
  // gone into the sink, and so does what it sends until Open closes the sink.
  bool LeadersReachedSink(uint64_t id) {
    Node& n = nodes_[id];
    std::set<uint64_t> led;
    if (n.leader_at_stop != 0) led.insert(n.leader_at_stop);
    for (auto& [other, o] : nodes_) {
      if (other == id) continue;
      for (size_t i = n.leader_changes_at_stop[other]; i < o.leader_changes.size(); ++i) {
        if (o.leader_changes[i].first == RaftState::kLeader) led.insert(other);
      }
    }
    for (uint64_t l : led) {
      if (!n.sink->Connected(l)) return false;
    }
    return !led.empty();
  }

  bool Running(uint64_t id) { return nodes_[id].raft != nullptr; }

  // The leader that every running node agrees on, or 0.
  uint64_t AgreedLeader() {
    uint64_t leader = 0;
    for (auto& [id, n] : nodes_) {
      if (!n.raft) continue;
      if (n.raft->Info().configuration.empty()) continue;  // not a member yet
      bool member = false;
      for (const auto& m : n.raft->Info().configuration) member |= m.id == id;
      if (!member) continue;
      uint64_t seen = n.raft->Leader().id;
      if (seen == 0) return 0;
      if (leader != 0 && seen != leader) return 0;
      leader = seen;
    }
    if (leader == 0 || !Running(leader) || !nodes_[leader].raft->IsLeader()) return 0;
    return leader;
  }

  uint64_t WaitLeader(milliseconds timeout = seconds(30)) {
    uint64_t leader = 0;
    loop_.RunUntil([&] { return (leader = AgreedLeader()) != 0; }, timeout);
    return leader;
  }

  // Applies entries through whichever node leads, resubmitting the ones that fail with an
  // unknown outcome (so an entry may be applied twice, as with any Raft client that retries).
  // Returns the entries acknowledged as committed.
  std::set<std::string> ApplyAll(const std::vector<std::string>& entries,
                                 milliseconds timeout = seconds(60)) {
    std::set<std::string> acked;
    std::vector<std::string> unacked = entries;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!unacked.empty() && std::chrono::steady_clock::now() < deadline) {
      uint64_t leader = WaitLeader();
      if (leader == 0) break;
      auto failed = std::make_shared<std::vector<std::string>>();
      auto outstanding = std::make_shared<size_t>(unacked.size());
      for (const auto& e : unacked) {
        nodes_[leader].raft->Apply(e, [e, failed, outstanding, &acked](ApplyResult r) {
          --*outstanding;
          if (r.ok()) {
            acked.insert(e);
          } else {
            failed->push_back(e);
          }
        });
      }
      loop_.RunUntil([&] { return *outstanding == 0; }, kOpTimeout);
      if (*outstanding != 0) break;
      unacked = *failed;
    }
    return acked;
  }

  std::vector<std::string> Numbered(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  // Waits until every running node has applied at least `count` entries and all records agree.
  bool WaitConverged(size_t count, milliseconds timeout = seconds(30)) {
    return loop_.RunUntil(
        [&] {
          const std::vector<RecordingFsm::Entry>* first = nullptr;
          for (auto& [id, n] : nodes_) {
            if (!n.raft) continue;
            if (n.fsm->entries.size() < count) return false;
            if (first == nullptr) {
              first = &n.fsm->entries;
            } else if (*first != n.fsm->entries) {
              return false;
            }
          }
          return first != nullptr;
        },
        timeout);
  }

  static bool Contains(const RecordingFsm& fsm, const std::set<std::string>& wanted) {
    std::set<std::string> have;
    for (const auto& e : fsm.entries) have.insert(e.data);
    for (const auto& w : wanted) {
      if (!have.count(w)) return false;
    }
    return true;
  }

  size_t SnapshotFiles(const Node& n) {
    size_t count = 0;
    for (const auto& f : fs::directory_iterator(n.dir)) {
      auto name = f.path().filename().string();
      if (name.rfind("snapshot-", 0) == 0 && name.find(".meta") == std::string::npos) ++count;
    }
    return count;
  }

  // Checks TCP_NODELAY on every connected socket of this process to or from a node's port;
  // returns how many it checked.
  int CheckPeerSocketsNoDelay() {
    std::set<int> ports;
    for (auto& [id, n] : nodes_) {
      ports.insert(std::stoi(n.address.substr(n.address.rfind(':') + 1)));
    }
    int checked = 0;
    for (const auto& f : fs::directory_iterator("/proc/self/fd")) {
      int fd = std::stoi(f.path().filename().string());
      sockaddr_in local{}, peer{};
      socklen_t len = sizeof local;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
          local.sin_family != AF_INET) {
        continue;
      }
      len = sizeof peer;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;  // listener
      if (!ports.count(ntohs(local.sin_port)) && !ports.count(ntohs(peer.sin_port))) continue;
      int nodelay = 0;
      len = sizeof nodelay;
      EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
      EXPECT_EQ(nodelay, 1) << "fd " << fd << " port " << ntohs(local.sin_port) << " -> "
                            << ntohs(peer.sin_port);
      ++checked;
    }
    return checked;
  }

  TestLoop loop_;
  std::string root_;
  RaftOptions options_;
  std::map<uint64_t, Node> nodes_;
};

// One node (lifecycle, failures): fast, run as unit tests. Several nodes (elections, failover,
// snapshots, membership): run as integration tests.
class RaftNodeTest : public RaftHarness {};
class RaftClusterTest : public RaftHarness {};

// Raft through the RPC port: every node dials its peers' stand-in RPC ports and takes its
// connections from AcceptConnection.
class RaftHandoffTest : public RaftHarness {
 protected:
  void SetUp() override {
    RaftHarness::SetUp();
    options_.transport = RaftOptions::Transport::kHandoff;
    options_.handshake_timeout = milliseconds(1000);
  }
};

// ---- options and ids ------------------------------------------------------------------------

TEST(RaftOptionsTest, ValidatesIdsAddressesAndTimings) {
  RaftOptions o = RaftOptions::Fast();
  o.id = 1;
  o.address = "127.0.0.1:8300";
  o.data_dir = "/tmp/x";
  EXPECT_TRUE(ValidateOptions(o).ok());

  RaftOptions bad = o;
  bad.id = 0;
  EXPECT_NE(ValidateOptions(bad).message().find("greater than zero"), std::string::npos);
  bad = o;
  bad.address = "localhost:8300";
  EXPECT_EQ(ValidateOptions(bad).code(), Code::kInvalidArgument);
  bad = o;
  bad.address = "127.0.0.1:70000";
  EXPECT_FALSE(ValidateOptions(bad).ok());
  bad = o;
  bad.heartbeat_timeout = bad.election_timeout;  // libraft would assert in raft_start
  EXPECT_NE(ValidateOptions(bad).message().find("below the election timeout"), std::string::npos);
  bad = o;
  bad.bind_address = "0.0.0.0:9999";
  EXPECT_NE(ValidateOptions(bad).message().find("port"), std::string::npos);
  bad.bind_address = "0.0.0.0:8300";
  EXPECT_TRUE(ValidateOptions(bad).ok());
  bad = o;
  bad.data_dir.clear();
  EXPECT_FALSE(ValidateOptions(bad).ok());
}

TEST(RaftOptionsTest, DefaultTimingIsConsulLike) {
  RaftOptions d = RaftOptions::Default();
  EXPECT_EQ(d.election_timeout, milliseconds(1000));
  EXPECT_EQ(d.heartbeat_timeout, milliseconds(100));
  EXPECT_EQ(d.install_snapshot_timeout, milliseconds(2000));
  EXPECT_TRUE(d.pre_vote);
}

TEST(RaftOptionsTest, ServerIdFromUuidTakesTheFirst64Bits) {
  auto id = ServerIdFromUuid("8f246b77-f3e1-ff88-5b48-8ec93abf3e05");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 0x8f246b77f3e1ff88ULL);
  EXPECT_EQ(*ServerIdFromUuid("8F246B77-F3E1-FF88-5B48-8EC93ABF3E05"), *id);
  EXPECT_NE(*ServerIdFromUuid("8f246b77-f3e1-ff89-5b48-8ec93abf3e05"), *id);
  EXPECT_FALSE(ServerIdFromUuid("8f246b77f3e1ff885b488ec93abf3e05").ok());
  EXPECT_FALSE(ServerIdFromUuid("8f246b77-f3e1-ff88-5b48-8ec93abf3e0g").ok());
  EXPECT_FALSE(ServerIdFromUuid("00000000-0000-0000-5b48-8ec93abf3e05").ok());
}

TEST(RaftOptionsTest, SnapshotThresholdsAreStaggeredPerServer) {
  RaftOptions o;
  o.snapshot_threshold = 16384;
  std::set<unsigned> seen;
  for (uint64_t id : {1ULL, 2ULL, 3ULL, 0x8f246b77f3e1ff88ULL, 0x1d3b5a7c9e0f2468ULL}) {
    o.id = id;
    unsigned t = SnapshotThreshold(o);
    EXPECT_GE(t, 16384u) << id;
    EXPECT_LE(t, 16384u + 2048u) << id;
    EXPECT_EQ(SnapshotThreshold(o), t);  // deterministic
    seen.insert(t);
    std::printf("server %llx: snapshot every %u entries\n", (unsigned long long)id, t);
  }
  EXPECT_EQ(seen.size(), 5u);  // 2,049 offsets: these five happen to differ
  o.snapshot_threshold = 7;  // below 8 there is no room for an offset
  EXPECT_EQ(SnapshotThreshold(o), 7u);
}

TEST(RaftOptionsTest, StateNamesAreConsuls) {
  EXPECT_STREQ(RaftStateName(RaftState::kLeader), "Leader");
  EXPECT_STREQ(RaftStateName(RaftState::kFollower), "Follower");
  EXPECT_STREQ(RaftStateName(RaftState::kCandidate), "Candidate");
  EXPECT_STREQ(RaftStateName(RaftState::kUnavailable), "Shutdown");
}

// ---- one node: lifecycle and failures -------------------------------------------------------

TEST_F(RaftNodeTest, SingleVoterLeadsAppliesAndReturnsTheStateMachineResult) {
  Define(1);
  Node& n = nodes_[1];
  n.fsm = std::make_unique<RecordingFsm>();
  n.raft = std::make_unique<RaftNode>(loop_, *n.fsm, OptionsFor(n));

  ApplyResult early = Await<ApplyResult>(loop_, [&](auto d) { n.raft->Apply("x", d); });
  EXPECT_EQ(early.error, Error::kInvalid) << early.status.message();
  EXPECT_NE(early.status.message().find("not started"), std::string::npos);

  ASSERT_TRUE(Open(1, ConfigOf({1})).ok());
  ASSERT_EQ(WaitLeader(), 1u);
  EXPECT_EQ(nodes_[1].raft->LastContact(), milliseconds(0));
  ASSERT_FALSE(nodes_[1].leader_changes.empty());
  EXPECT_EQ(nodes_[1].leader_changes.back().first, RaftState::kLeader);

  ApplyResult r = Await<ApplyResult>(loop_, [&](auto d) { nodes_[1].raft->Apply("hello", d); });
  ASSERT_TRUE(r.ok()) << r.status.message();
  EXPECT_GT(r.index, 1u);  // index 1 is the bootstrap configuration
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(*r.response, "applied:" + std::to_string(r.index));
  ASSERT_EQ(nodes_[1].fsm->entries.size(), 1u);
  EXPECT_EQ(nodes_[1].fsm->entries[0].data, "hello");

  // A deterministic rejection by the state machine is a committed entry with an error response.
  ApplyResult rej = Await<ApplyResult>(loop_, [&](auto d) { nodes_[1].raft->Apply("reject me", d); });
  ASSERT_TRUE(rej.ok());
  EXPECT_FALSE(rej.response.ok());
  EXPECT_NE(rej.response.status().message().find("rejected"), std::string::npos);

  OpResult b = Await<OpResult>(loop_, [&](auto d) { nodes_[1].raft->Barrier(d); });
  ASSERT_TRUE(b.ok()) << b.status.message();
  EXPECT_GT(b.index, rej.index);

  ApplyResult empty = Await<ApplyResult>(loop_, [&](auto d) { nodes_[1].raft->Apply("", d); });
  EXPECT_EQ(empty.error, Error::kInvalid);

  // A second bootstrap over the now non-empty dir is refused and harmless.
  nodes_[1].raft.reset();
  OpResult again = Open(1, ConfigOf({1}));
  ASSERT_TRUE(again.ok()) << again.status.message();
  ASSERT_EQ(WaitLeader(), 1u);
  EXPECT_TRUE(loop_.RunUntil([&] { return nodes_[1].fsm->entries.size() == 2; }, seconds(10)));

  auto boot = Await<OpResult>(loop_, [&](auto d) { nodes_[1].raft->Bootstrap(ConfigOf({1}), d); });
  EXPECT_EQ(boot.error, Error::kInvalid);  // after Start

  nodes_[1].raft.reset();
  RecordingFsm fsm;
  RaftNode fresh(loop_, fsm, OptionsFor(nodes_[1]));
  boot = Await<OpResult>(loop_, [&](auto d) { fresh.Bootstrap(ConfigOf({1}), d); });
  EXPECT_EQ(boot.error, Error::kAlreadyBootstrapped) << boot.status.message();
  EXPECT_EQ(boot.status.code(), Code::kConflict);
}

TEST_F(RaftNodeTest, BindAddressListensWhereAskedAndAdvertisesTheAddress) {
  Node& n = Define(1);
  std::string port = n.address.substr(n.address.rfind(':') + 1);
  options_.bind_address = "0.0.0.0:" + port;
  ASSERT_TRUE(Open(1, ConfigOf({1})).ok());
  ASSERT_EQ(WaitLeader(), 1u);
  EXPECT_EQ(nodes_[1].raft->Leader().address, n.address);
  // Reachable on an address other than the advertised one: it listens on all of them.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(std::stoi(port)));
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  close(fd);
}

TEST_F(RaftNodeTest, OperationsAfterShutdownFailAndShutdownIsIdempotent) {
  StartCluster({1});
  ASSERT_EQ(WaitLeader(), 1u);
  RaftNode& raft = *nodes_[1].raft;
  // Queue work and shut down at once: every callback still runs, exactly once.
  int calls = 0;
  for (int i = 0; i < 50; ++i) raft.Apply("e" + std::to_string(i), [&](ApplyResult) { ++calls; });
  raft.Shutdown();
  raft.Shutdown();
  EXPECT_EQ(raft.State(), RaftState::kUnavailable);
  ApplyResult after = Await<ApplyResult>(loop_, [&](auto d) { raft.Apply("late", d); });
  EXPECT_EQ(after.error, Error::kShutdown);
  EXPECT_TRUE(loop_.RunUntil([&] { return calls == 50; }, seconds(5)));
  loop_.RunFor(milliseconds(50));
  EXPECT_EQ(calls, 50);
}

TEST_F(RaftNodeTest, DataDirThatCannotBeCreatedIsAClearError) {
  std::ofstream(root_ + "/file") << "not a directory";
  Define(1).dir = root_ + "/file/raft";
  OpResult r = Open(1, ConfigOf({1}));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("cannot create data dir"), std::string::npos)
      << r.status.message();
}

TEST_F(RaftNodeTest, PortInUseIsAClearError) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  Define(1).address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  OpResult r = Open(1, ConfigOf({1}));
  close(fd);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("in use"), std::string::npos) << r.status.message();
  // Later calls report the same failure rather than touching a half-started raft.
  ApplyResult ar = Await<ApplyResult>(loop_, [&](auto d) { nodes_[1].raft->Apply("x", d); });
  EXPECT_EQ(ar.status.message(), r.status.message());
}

TEST_F(RaftNodeTest, DataDirInUseByAnotherNodeIsRefused) {
  StartCluster({1});
  Node& n = nodes_[1];
  RecordingFsm fsm;
  RaftOptions o = OptionsFor(n);
  o.address = "127.0.0.1:" + std::to_string(FreePort());
  RaftNode second(loop_, fsm, o);
  OpResult r = Await<OpResult>(loop_, [&](auto d) { second.Start(d); });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("in use by another raft node"), std::string::npos)
      << r.status.message();
}

TEST_F(RaftNodeTest, CorruptMetadataIsAClearError) {
  StartCluster({1});
  ASSERT_EQ(WaitLeader(), 1u);
  ASSERT_EQ(ApplyAll(Numbered("m", 10)).size(), 10u);
  Stop(1);
  for (const char* name : {"metadata1", "metadata2"}) {
    std::ofstream f(nodes_[1].dir + "/" + name, std::ios::binary | std::ios::trunc);
    f << std::string(32, '\x7f');
  }
  OpResult r = Open(1, std::nullopt);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status.code(), Code::kInternal) << r.status.message();
  EXPECT_NE(r.status.message().find(nodes_[1].dir), std::string::npos) << r.status.message();
}

TEST_F(RaftNodeTest, CorruptSegmentIsAClearError) {
  options_.segment_size = 64 << 10;  // small segments so some close
  StartCluster({1});
  ASSERT_EQ(WaitLeader(), 1u);
  ASSERT_EQ(ApplyAll(Numbered(std::string(2000, 's'), 200)).size(), 200u);
  Stop(1);
  // The first closed segment in name order, so every run corrupts the same place: the header of
  // its first batch (bytes 8..). A batch after a good one would also be refused, but libraft 0.15
  // then leaks the entries it already read from that segment (40 bytes, once, on a start that
  // fails anyway), which LeakSanitizer reports.
  std::vector<std::string> closed;
  for (const auto& f : fs::directory_iterator(nodes_[1].dir)) {
    auto name = f.path().filename().string();
    if (name.find('-') != std::string::npos && name.rfind("open", 0) != 0 &&
        name.rfind("snapshot", 0) != 0 && name.rfind("gangway", 0) != 0) {
      closed.push_back(f.path().string());
    }
  }
  ASSERT_FALSE(closed.empty()) << "no closed segment";
  std::sort(closed.begin(), closed.end());
  const std::string& victim = closed.front();
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f << std::string(32, '\x55');
  }
  OpResult r = Open(1, std::nullopt);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find(nodes_[1].dir), std::string::npos) << r.status.message();
  std::printf("corrupt segment: %s\n", r.status.message().c_str());
}

TEST_F(RaftNodeTest, RestoreRejectedByTheStateMachineFailsStart) {
  options_.snapshot_threshold = 16;
  options_.snapshot_trailing = 4;
  StartCluster({1});
  ASSERT_EQ(WaitLeader(), 1u);
  ASSERT_EQ(ApplyAll(Numbered("r", 40)).size(), 40u);
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[1].raft->Info().snapshot_index > 0; },
                             seconds(10)));
  Stop(1);

  class RefusingFsm : public RecordingFsm {
    Status Restore(std::string_view) override { return InvalidArgument("unknown snapshot version"); }
  };
  RefusingFsm fsm;
  RaftNode raft(loop_, fsm, OptionsFor(nodes_[1]));
  OpResult r = Await<OpResult>(loop_, [&](auto d) { raft.Start(d); });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("unknown snapshot version"), std::string::npos)
      << r.status.message();
}

// The raft thread asks the owner for a copy of the state and carries on; a libuv worker encodes
// the copy. While the encoding is held back, entries keep committing and applying; once it is
// released the snapshot lands, and a restart starts from it.
TEST_F(RaftNodeTest, SnapshotsAreEncodedOffTheOwnerThreadWhileEntriesCommit) {
  options_.snapshot_threshold = 16;
  options_.snapshot_trailing = 4;
  Define(1);
  ASSERT_TRUE(Open(1, ConfigOf({1})).ok());
  ASSERT_EQ(WaitLeader(), 1u);
  auto log = nodes_[1].fsm->snapshot_log;
  log->hold = true;
  ASSERT_EQ(ApplyAll(Numbered("a", 40)).size(), 40u);
  ASSERT_TRUE(loop_.RunUntil([&] { return log->Encoding() == 1; }, seconds(10)));
  EXPECT_EQ(nodes_[1].fsm->snapshots, 1);

  auto held = std::chrono::steady_clock::now();
  ASSERT_EQ(ApplyAll(Numbered("b", 200)).size(), 200u);
  std::printf("200 entries committed and applied in %lld ms while a snapshot was encoding\n",
              (long long)std::chrono::duration_cast<milliseconds>(
                  std::chrono::steady_clock::now() - held)
                  .count());
  EXPECT_EQ(nodes_[1].fsm->entries.size(), 240u);
  EXPECT_EQ(nodes_[1].raft->Info().snapshot_index, 0u);
  EXPECT_EQ(nodes_[1].fsm->snapshots, 1);  // one snapshot at a time

  log->Release();
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[1].raft->Info().snapshot_index > 0; },
                             seconds(10)));
  uint64_t first = nodes_[1].raft->Info().snapshot_index;
  EXPECT_LE(first, 45u);  // the index it was asked at, not where the encoding finished
  // The entries behind it are far past the threshold: the next applied entry brings another.
  ASSERT_EQ(ApplyAll(Numbered("c", 1)).size(), 1u);
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[1].raft->Info().snapshot_index > first; },
                             seconds(10)));
  EXPECT_GE(nodes_[1].fsm->snapshots, 2);
  EXPECT_EQ(nodes_[1].fsm->snapshot_threads,
            std::set<std::thread::id>{std::this_thread::get_id()});
  {
    std::lock_guard<std::mutex> l(log->mu);
    EXPECT_GE(log->encoded, 2);
    EXPECT_EQ(log->threads.count(std::this_thread::get_id()), 0u);
  }

  // A restart restores the latest snapshot, then replays the log after it.
  std::vector<RecordingFsm::Entry> before = nodes_[1].fsm->entries;
  ASSERT_TRUE(Open(1, std::nullopt).ok());
  EXPECT_EQ(nodes_[1].fsm->restores, 1);
  ASSERT_EQ(WaitLeader(), 1u);
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[1].fsm->entries.size() >= before.size(); },
                             seconds(10)));
  EXPECT_EQ(nodes_[1].fsm->entries, before);
}

// Shutdown while a worker encodes a snapshot: the encoder is told to stop, Shutdown returns, and
// the data dir starts again with every entry. (Under ASan, also: nothing is used after free.)
TEST_F(RaftNodeTest, ShutdownWhileASnapshotIsEncodingStopsTheEncoder) {
  options_.snapshot_threshold = 16;
  options_.snapshot_trailing = 4;
  Define(1);
  ASSERT_TRUE(Open(1, ConfigOf({1})).ok());
  ASSERT_EQ(WaitLeader(), 1u);
  auto log = nodes_[1].fsm->snapshot_log;
  log->hold = true;
  ASSERT_EQ(ApplyAll(Numbered("a", 40)).size(), 40u);
  ASSERT_TRUE(loop_.RunUntil([&] { return log->Encoding() == 1; }, seconds(10)));

  auto t0 = std::chrono::steady_clock::now();
  Stop(1);
  auto took = std::chrono::steady_clock::now() - t0;
  std::printf("shutdown during an encoding took %lld ms\n",
              (long long)std::chrono::duration_cast<milliseconds>(took).count());
  {
    std::lock_guard<std::mutex> l(log->mu);
    EXPECT_EQ(log->stopped, 1);
    EXPECT_EQ(log->encoded, 0);
  }
  ASSERT_TRUE(Open(1, std::nullopt).ok());
  EXPECT_EQ(nodes_[1].fsm->restores, 0);  // no snapshot was written
  ASSERT_EQ(WaitLeader(), 1u);
  EXPECT_TRUE(loop_.RunUntil([&] { return nodes_[1].fsm->entries.size() == 40; }, seconds(10)));
}

// Shutdown after the raft thread asked for a copy of the state that the owner has not taken yet
// (the owner is the thread calling Shutdown): the waiting worker is released, the copy is never
// taken, and Shutdown does not wait for the worker's bound on that wait.
TEST_F(RaftNodeTest, ShutdownBeforeTheOwnerCopiedTheStateReleasesTheWorker) {
  options_.snapshot_threshold = 16;
  options_.snapshot_trailing = 4;
  Define(1);
  ASSERT_TRUE(Open(1, ConfigOf({1})).ok());
  ASSERT_EQ(WaitLeader(), 1u);
  RaftNode& raft = *nodes_[1].raft;
  RecordingFsm& fsm = *nodes_[1].fsm;
  const uint64_t threshold = SnapshotThreshold(OptionsFor(nodes_[1]));
  // One entry at a time, stopping the loop right after each one's outcome: libraft asks for a
  // snapshot after applying an entry, so that request is left queued on the owner.
  auto apply_one = [&](int i) {
    auto r = std::make_shared<std::optional<ApplyResult>>();
    raft.Apply("s" + std::to_string(i), [r](ApplyResult a) { *r = std::move(a); });
    EXPECT_TRUE(loop_.RunUntil([&] { return r->has_value(); }, kOpTimeout));
    EXPECT_TRUE(r->has_value() && (*r)->ok());
    return r->has_value() ? (*r)->index : 0;
  };
  // The first snapshot shows where libraft asks: at the entry `threshold` past the last one.
  int i = 0;
  uint64_t last = 0;
  while (fsm.snapshots == 0 && i < 100) {
    last = apply_one(i++);
    loop_.RunFor(milliseconds(20));
  }
  ASSERT_EQ(fsm.snapshots, 1);
  ASSERT_TRUE(loop_.RunUntil([&] { return raft.Info().snapshot_index > 0; }, seconds(10)));
  uint64_t snapshot = raft.Info().snapshot_index;
  ASSERT_EQ(snapshot, last);
  // The next request comes with the entry at snapshot + threshold.
  while (last + 1 < snapshot + threshold) last = apply_one(i++);
  loop_.RunFor(milliseconds(50));
  ASSERT_EQ(fsm.snapshots, 1);
  ASSERT_EQ(apply_one(i++), snapshot + threshold);
  std::this_thread::sleep_for(milliseconds(100));  // the raft thread posts its request

  auto t0 = std::chrono::steady_clock::now();
  Stop(1);
  auto took = std::chrono::steady_clock::now() - t0;
  std::printf("shutdown with a copy requested took %lld ms\n",
              (long long)std::chrono::duration_cast<milliseconds>(took).count());
  EXPECT_LT(took, seconds(5));  // released by Shutdown, not by the 10 s bound
  loop_.RunFor(milliseconds(50));  // the queued request runs now and must do nothing
  EXPECT_EQ(fsm.snapshots, 1);
}

// ---- three nodes ----------------------------------------------------------------------------

TEST_F(RaftClusterTest, ThreeNodesElectALeaderAndApplyInTheSameOrder) {
  StartCluster({1, 2, 3});
  auto t0 = std::chrono::steady_clock::now();
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  std::printf("leader %llu elected after %lld ms\n", (unsigned long long)leader,
              (long long)std::chrono::duration_cast<milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count());

  auto entries = Numbered("entry-", 1000);
  auto t1 = std::chrono::steady_clock::now();
  std::set<std::string> acked = ApplyAll(entries);
  auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t1);
  ASSERT_EQ(acked.size(), entries.size());
  std::printf("1000 applies acknowledged in %lld ms\n", (long long)ms.count());

  ASSERT_TRUE(WaitConverged(1000));
  for (auto& [id, n] : nodes_) {
    EXPECT_FALSE(n.fsm->out_of_order) << "node " << id;
    EXPECT_TRUE(Contains(*n.fsm, acked)) << "node " << id;
  }
  // With no leader change the order is exactly the submission order.
  if (nodes_[leader].fsm->entries.size() == 1000) {
    EXPECT_EQ(nodes_[leader].fsm->Data(), entries);
  }

  // Followers: not-leader with the leader's address; a recent last contact.
  uint64_t follower = leader == 1 ? 2 : 1;
  ApplyResult r = Await<ApplyResult>(loop_, [&](auto d) { nodes_[follower].raft->Apply("f", d); });
  EXPECT_EQ(r.error, Error::kNotLeader);
  EXPECT_EQ(r.status.code(), Code::kUnavailable);
  EXPECT_EQ(r.leader.id, leader);
  EXPECT_EQ(r.leader.address, nodes_[leader].address);
  EXPECT_NE(r.status.message().find(nodes_[leader].address), std::string::npos);
  ASSERT_TRUE(loop_.RunUntil(
      [&] { return nodes_[follower].raft->LastContact() >= milliseconds(0); }, seconds(5)));
  EXPECT_LT(nodes_[follower].raft->LastContact(), seconds(5));
  EXPECT_EQ(nodes_[follower].raft->State(), RaftState::kFollower);
  EXPECT_EQ(nodes_[follower].raft->GetConfiguration().size(), 3u);
  EXPECT_GE(nodes_[follower].raft->CommitIndex(), 1001u);
  EXPECT_GE(nodes_[follower].raft->LastIndex(), nodes_[follower].raft->CommitIndex());
  ASSERT_FALSE(nodes_[follower].leader_changes.empty());
  EXPECT_EQ(nodes_[follower].leader_changes.back().second.id, leader);
}

TEST_F(RaftClusterTest, LeaderStopsThenANewLeaderKeepsEveryAcknowledgedEntry) {
  StartCluster({1, 2, 3});
  uint64_t old_leader = WaitLeader();
  ASSERT_NE(old_leader, 0u);
  std::set<std::string> acked = ApplyAll(Numbered("before-", 300));
  ASSERT_EQ(acked.size(), 300u);

  // Stop the leader while entries keep arriving: those acknowledged must survive.
  auto inflight_acked = std::make_shared<std::set<std::string>>();
  for (int i = 0; i < 100; ++i) {
    std::string e = "inflight-" + std::to_string(i);
    nodes_[old_leader].raft->Apply(e, [e, inflight_acked](ApplyResult r) {
      if (r.ok()) inflight_acked->insert(e);
    });
    if (i % 20 == 19) loop_.RunFor(milliseconds(1));
  }
  auto t0 = std::chrono::steady_clock::now();
  Stop(old_leader);
  uint64_t leader = WaitLeader();
  auto failover = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_NE(leader, 0u);
  EXPECT_NE(leader, old_leader);
  std::printf("new leader %llu after %lld ms (election timeout %lld ms); %zu in-flight acked\n",
              (unsigned long long)leader, (long long)failover.count(),
              (long long)options_.election_timeout.count(), inflight_acked->size());
  acked.insert(inflight_acked->begin(), inflight_acked->end());

  std::set<std::string> after = ApplyAll(Numbered("after-", 200));
  ASSERT_EQ(after.size(), 200u);
  acked.insert(after.begin(), after.end());
  ASSERT_TRUE(WaitConverged(500));
  for (auto& [id, n] : nodes_) {
    if (n.raft) {
      EXPECT_TRUE(Contains(*n.fsm, acked)) << "node " << id;
    }
  }

  // The old leader restarts from its data dir and catches up.
  ASSERT_TRUE(Open(old_leader, std::nullopt).ok());
  ASSERT_TRUE(WaitConverged(500));
  EXPECT_TRUE(Contains(*nodes_[old_leader].fsm, acked));
  EXPECT_NE(WaitLeader(), 0u);
}

TEST_F(RaftClusterTest, SnapshotsThenRestartRestoresFromSnapshotAndLog) {
  options_.snapshot_threshold = 64;
  options_.snapshot_trailing = 16;
  StartCluster({1, 2, 3});
  ASSERT_NE(WaitLeader(), 0u);
  std::set<std::string> acked = ApplyAll(Numbered("a-", 500));
  ASSERT_EQ(acked.size(), 500u);
  ASSERT_TRUE(WaitConverged(500));
  ASSERT_TRUE(loop_.RunUntil(
      [&] {
        for (auto& [id, n] : nodes_) {
          if (n.raft->Info().snapshot_index == 0) return false;
        }
        return true;
      },
      seconds(10)));
  for (auto& [id, n] : nodes_) {
    EXPECT_GT(n.fsm->snapshots, 0) << "node " << id;
    EXPECT_GT(SnapshotFiles(n), 0u) << "node " << id;
  }

  // A follower misses entries, then restarts: snapshot from disk, then its log, then the rest.
  uint64_t leader = WaitLeader();
  uint64_t follower = leader == 3 ? 2 : 3;
  Stop(follower);
  std::set<std::string> more = ApplyAll(Numbered("b-", 300));
  ASSERT_EQ(more.size(), 300u);
  acked.insert(more.begin(), more.end());
  ASSERT_TRUE(Open(follower, std::nullopt).ok());
  EXPECT_GE(nodes_[follower].fsm->restores, 1);
  ASSERT_TRUE(WaitConverged(800));
  EXPECT_TRUE(Contains(*nodes_[follower].fsm, acked));
  EXPECT_FALSE(nodes_[follower].fsm->out_of_order);
}

// A follower that was down while the others snapshotted (asynchronously) and compacted their
// logs past its last entry catches up by InstallSnapshot.
TEST_F(RaftClusterTest, FollowerBehindTheCompactedLogCatchesUpByInstallSnapshot) {
  options_.snapshot_threshold = 64;
  options_.snapshot_trailing = 16;
  StartCluster({1, 2, 3});
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  std::set<std::string> acked = ApplyAll(Numbered("early-", 10));
  ASSERT_EQ(acked.size(), 10u);
  ASSERT_TRUE(WaitConverged(10));
  uint64_t follower = leader == 3 ? 2 : 3;
  // Behind a sink, not a closed port: the leader's transport holds back AppendEntries for the
  // follower, entries it is about to compact included, and would write them to the restarted
  // follower, which would then catch up from those (seen as 0 restores under load).
  testing::PortSink& sink = StopIntoSink(follower);
  ASSERT_EQ(SnapshotFiles(nodes_[follower]), 0u);  // nothing of its own to start from

  std::set<std::string> more = ApplyAll(Numbered("late-", 400));
  ASSERT_EQ(more.size(), 400u);
  acked.insert(more.begin(), more.end());
  // libraft asks for a snapshot only as it applies entries, and not while one is in progress: a
  // node still encoding when the last batch arrived waits for a further entry.
  auto compacted = [&] {
    for (auto& [id, n] : nodes_) {
      if (n.raft && n.raft->Info().snapshot_index <= 100) return false;
    }
    return true;
  };
  for (int i = 0; i < 20 && !loop_.RunUntil(compacted, milliseconds(500)); ++i) {
    std::set<std::string> nudge = ApplyAll({"nudge-" + std::to_string(i)});
    acked.insert(nudge.begin(), nudge.end());
  }
  ASSERT_TRUE(compacted());
  // Compacted, and nothing sent before survives the sink: the follower's entries now exist only
  // in the snapshots.
  ASSERT_TRUE(loop_.RunUntil([&] { return LeadersReachedSink(follower); }, seconds(10)))
      << "a node that led while the follower was down never reached its port";
  std::printf("the follower's port dropped %zu bytes of the leader's messages\n",
              sink.Discarded(leader));

  ASSERT_TRUE(Open(follower, std::nullopt).ok());
  EXPECT_EQ(nodes_[follower].fsm->restores, 0);
  ASSERT_TRUE(WaitConverged(acked.size()));
  EXPECT_GE(nodes_[follower].fsm->restores, 1);  // the leader's snapshot
  EXPECT_TRUE(Contains(*nodes_[follower].fsm, acked));
  EXPECT_FALSE(nodes_[follower].fsm->out_of_order);
  for (auto& [id, n] : nodes_) {
    std::lock_guard<std::mutex> l(n.fsm->snapshot_log->mu);
    EXPECT_EQ(n.fsm->snapshot_log->threads.count(std::this_thread::get_id()), 0u) << id;
  }
}

TEST_F(RaftClusterTest, AddVoterCatchesUpByInstallSnapshotAndRemoveShrinks) {
  options_.snapshot_threshold = 64;
  options_.snapshot_trailing = 16;
  StartCluster({1, 2, 3});
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  std::set<std::string> acked = ApplyAll(Numbered("x-", 400));
  ASSERT_EQ(acked.size(), 400u);
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[leader].raft->Info().snapshot_index > 100; },
                             seconds(10)));

  // Node 4 starts empty (no bootstrap) and is added by the leader.
  Define(4);
  ASSERT_TRUE(Open(4, std::nullopt).ok());
  EXPECT_EQ(nodes_[4].raft->State(), RaftState::kFollower);
  leader = WaitLeader();
  OpResult add = Await<OpResult>(
      loop_, [&](auto d) { nodes_[leader].raft->AddVoter(4, nodes_[4].address, d); });
  ASSERT_TRUE(add.ok()) << add.status.message();
  ASSERT_TRUE(WaitConverged(400));
  EXPECT_GE(nodes_[4].fsm->restores, 1);  // the log it needed was already compacted
  EXPECT_TRUE(Contains(*nodes_[4].fsm, acked));
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[leader].raft->GetConfiguration().size() == 4; },
                             seconds(5)));
  for (const auto& m : nodes_[leader].raft->GetConfiguration()) {
    EXPECT_EQ(m.suffrage, Suffrage::kVoter) << m.id;
  }
  // Adding it again is a no-op; a different address for the same id is refused.
  OpResult again = Await<OpResult>(
      loop_, [&](auto d) { nodes_[leader].raft->AddVoter(4, nodes_[4].address, d); });
  EXPECT_TRUE(again.ok()) << again.status.message();
  OpResult clash =
      Await<OpResult>(loop_, [&](auto d) { nodes_[leader].raft->AddVoter(4, "127.0.0.1:1", d); });
  EXPECT_EQ(clash.error, Error::kInvalid);

  std::set<std::string> more = ApplyAll(Numbered("y-", 50));
  ASSERT_EQ(more.size(), 50u);
  ASSERT_TRUE(WaitConverged(450));

  leader = WaitLeader();
  uint64_t victim = leader == 4 ? 3 : 4;
  OpResult rm = Await<OpResult>(loop_, [&](auto d) { nodes_[leader].raft->Remove(victim, d); });
  ASSERT_TRUE(rm.ok()) << rm.status.message();
  ASSERT_TRUE(loop_.RunUntil([&] { return nodes_[leader].raft->GetConfiguration().size() == 3; },
                             seconds(5)));
  for (const auto& m : nodes_[leader].raft->GetConfiguration()) {
    EXPECT_NE(m.id, victim);
  }
  Stop(victim);
  EXPECT_EQ(ApplyAll(Numbered("z-", 50)).size(), 50u);
}

TEST_F(RaftClusterTest, TransferLeadershipMovesTheLeader) {
  StartCluster({1, 2, 3});
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  uint64_t target = leader == 1 ? 2 : 1;
  OpResult t = Await<OpResult>(
      loop_, [&](auto d) { nodes_[leader].raft->TransferLeadership(target, d); });
  ASSERT_TRUE(t.ok()) << t.status.message();
  EXPECT_EQ(WaitLeader(), target);
  OpResult bad = Await<OpResult>(loop_, [&](auto d) { nodes_[target].raft->TransferLeadership(99, d); });
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error, Error::kInvalid) << bad.status.message();
}

TEST_F(RaftClusterTest, FullRestartOfAllNodesLosesNothing) {
  options_.snapshot_threshold = 128;
  options_.snapshot_trailing = 32;
  StartCluster({1, 2, 3});
  ASSERT_NE(WaitLeader(), 0u);
  std::set<std::string> acked = ApplyAll(Numbered("p-", 400));
  ASSERT_EQ(acked.size(), 400u);
  for (uint64_t id : {1, 2, 3}) Stop(id);
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(Open(id, ConfigOf({1, 2, 3})).ok());
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  // A new leader commits its first entry of the term; then everything before it is applied.
  OpResult b = Await<OpResult>(loop_, [&](auto d) { nodes_[leader].raft->Barrier(d); });
  ASSERT_TRUE(b.ok()) << b.status.message();
  ASSERT_TRUE(WaitConverged(400));
  for (auto& [id, n] : nodes_) {
    EXPECT_TRUE(Contains(*n.fsm, acked)) << "node " << id;
    EXPECT_FALSE(n.fsm->out_of_order) << "node " << id;
  }
}

// libraft 0.15 leaves Nagle's algorithm on: small AppendEntries waited for delayed ACKs (40 ms
// tails at 16 entries in flight in raft_bench). Every peer connection must have TCP_NODELAY.
TEST_F(RaftClusterTest, PeerConnectionsDisableNagle) {
  StartCluster({1, 2, 3});
  ASSERT_NE(WaitLeader(), 0u);
  ASSERT_EQ(ApplyAll(Numbered("n-", 10)).size(), 10u);
  EXPECT_GE(CheckPeerSocketsNoDelay(), 4);  // the leader's two outgoing connections, both ends
}

// With Consul-like default timing (election timeout 1 s) a stopped leader is replaced within a few
// seconds; the issue asks for 5 s. The bound asserted here is loose on purpose; the figure is
// printed.
TEST_F(RaftClusterTest, DefaultTimingReplacesALeaderWithinSeconds) {
  options_ = RaftOptions::Default();
  options_.segment_size = 1 << 20;
  StartCluster({1, 2, 3});
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  ASSERT_EQ(ApplyAll(Numbered("d-", 20)).size(), 20u);
  auto t0 = std::chrono::steady_clock::now();
  Stop(leader);
  uint64_t next = WaitLeader();
  auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_NE(next, 0u);
  std::printf("default timing: new leader after %lld ms\n", (long long)took.count());
  EXPECT_LT(took, seconds(15));
}

// ---- a leader process killed with SIGKILL --------------------------------------------------

// The leader runs in a child process (this binary, re-executed to run only the test below), so
// it can die the hard way: no raft_close, whatever was in flight lost. It reports each entry it
// saw acknowledged on a pipe; the two nodes in this process must keep every one of them.
constexpr const char* kChildEnv = "GANGWAY_RAFT_CHILD";

TEST(RaftCrashChild, DISABLED_LeaderProcess) {
  // Environment: GANGWAY_RAFT_CHILD="<id> <data dir> <ack fd> <address of 1> <of 2> <of 3>".
  const char* spec = std::getenv(kChildEnv);
  if (spec == nullptr) GTEST_SKIP() << "only run as the child of KilledLeader...";
  unsigned long long id = 0;
  int fd = -1;
  char dir[4096], a1[64], a2[64], a3[64];
  ASSERT_EQ(std::sscanf(spec, "%llu %4095s %d %63s %63s %63s", &id, dir, &fd, a1, a2, a3), 6);
  TestLoop loop;
  RecordingFsm fsm;
  RaftOptions o = RaftOptions::Default();
  o.id = id;
  o.address = a1;
  o.data_dir = dir;
  RaftNode node(loop, fsm, o);
  Configuration conf = {{1, a1, Suffrage::kVoter}, {2, a2, Suffrage::kVoter},
                        {3, a3, Suffrage::kVoter}};
  ASSERT_TRUE(Await<OpResult>(loop, [&](auto d) { node.Bootstrap(conf, d); }).ok());
  ASSERT_TRUE(Await<OpResult>(loop, [&](auto d) { node.Start(d); }).ok());
  // Apply forever (16 in flight) once leading, until killed; give up after two minutes.
  size_t next = 0, outstanding = 0;
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    while (node.IsLeader() && outstanding < 16) {
      std::string e = "k-" + std::to_string(next++);
      ++outstanding;
      node.Apply(e, [e, fd, &outstanding](ApplyResult r) {
        --outstanding;
        if (!r.ok()) return;
        std::string line = e + "\n";
        if (write(fd, line.data(), line.size()) < 0) std::_Exit(1);
      });
    }
    loop.RunFor(milliseconds(2));
  }
}

TEST_F(RaftClusterTest, KilledLeaderProcessIsReplacedWithinSecondsAndLosesNoAcknowledgedEntry) {
  options_ = RaftOptions::Default();
  options_.segment_size = 1 << 20;
  for (uint64_t id : {1, 2, 3}) Define(id);
  Configuration conf = ConfigOf({1, 2, 3});

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string spec = std::string(kChildEnv) + "=1 " + nodes_[1].dir + " " +
                     std::to_string(fds[1]) + " " + nodes_[1].address + " " +
                     nodes_[2].address + " " + nodes_[3].address;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(spec);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args_strings = {self, "--gtest_also_run_disabled_tests",
                                           "--gtest_filter=RaftCrashChild.DISABLED_LeaderProcess"};
  std::vector<char*> argv;
  for (auto& a : args_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    execve(self.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  struct Reaper {
    pid_t pid;
    int fd;
    ~Reaper() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
      close(fd);
    }
  } reaper{child, fds[0]};

  std::set<std::string> acked;
  std::string partial;
  auto read_acks = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) {
      partial.append(buf, size_t(n));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        acked.insert(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
  };

  for (uint64_t id : {2, 3}) ASSERT_TRUE(Open(id, conf).ok());
  // Make the child's node the leader.
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    read_acks();
    uint64_t seen = nodes_[2].raft->Leader().id;
    if (seen == 1 && !acked.empty()) break;
    if (seen == 2 || seen == 3) {
      Await<OpResult>(loop_, [&](auto d) { nodes_[seen].raft->TransferLeadership(1, d); });
    }
    loop_.RunFor(milliseconds(50));
  }
  ASSERT_EQ(nodes_[2].raft->Leader().id, 1u) << "the child never led";
  ASSERT_TRUE(loop_.RunUntil(
      [&] {
        read_acks();
        return acked.size() >= 300;
      },
      seconds(60)));

  kill(child, SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  waitpid(child, nullptr, 0);
  reaper.pid = 0;
  read_acks();
  uint64_t leader = WaitLeader();
  auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(leader == 2 || leader == 3) << leader;
  std::printf("leader process killed: new leader %llu after %lld ms; %zu entries acknowledged\n",
              (unsigned long long)leader, (long long)took.count(), acked.size());
  EXPECT_LT(took, seconds(15));

  OpResult b = Await<OpResult>(loop_, [&](auto d) { nodes_[leader].raft->Barrier(d); });
  ASSERT_TRUE(b.ok()) << b.status.message();
  ASSERT_TRUE(WaitConverged(acked.size()));
  for (uint64_t id : {2, 3}) EXPECT_TRUE(Contains(*nodes_[id].fsm, acked)) << "node " << id;

  // The killed node's data dir (open segments, maybe a torn write) still starts and catches up.
  OpResult r = Open(1, std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status.message();
  ASSERT_TRUE(WaitConverged(acked.size()));
  EXPECT_TRUE(Contains(*nodes_[1].fsm, acked));
}

// ---- Raft through the RPC port (hand-off transport) -------------------------------------------

// A connected loopback TCP pair: {the test's end, the end handed to a node}.
std::pair<int, int> TcpPair() {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(lfd, 1), 0);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  int ours = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(connect(ours, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  int theirs = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  close(lfd);
  return {ours, theirs};
}

int Dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
}

// What the other side of fd sent until it closed the connection, running the loop meanwhile;
// nullopt if it was still open after `timeout`. Closes fd.
std::optional<std::string> ReadUntilClosed(TestLoop& loop, int fd,
                                           milliseconds timeout = seconds(10)) {
  std::string got;
  bool closed = loop.RunUntil(
      [&] {
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, size_t(n));
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      },
      timeout);
  close(fd);
  if (!closed) return std::nullopt;
  return got;
}

// Reads the one-byte answer to a handshake, running the loop meanwhile.
std::optional<std::string> ReadAnswer(TestLoop& loop, int fd, milliseconds timeout = seconds(10)) {
  std::string got;
  bool done = loop.RunUntil(
      [&] {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 1) got.push_back(c);
        return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      },
      timeout);
  if (!done) return std::nullopt;
  return got;
}

std::string Hello(uint64_t id, const std::string& address) {
  return std::string(1, char(kRaftModeByte)) + EncodeHandshake(id, address);
}

TEST(RaftOptionsTest, HandoffTakesNoBindAddressAndNeedsAHandshakeTimeout) {
  RaftOptions o = RaftOptions::Fast();
  o.id = 1;
  o.address = "127.0.0.1:8300";
  o.data_dir = "/tmp/x";
  o.transport = RaftOptions::Transport::kHandoff;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.bind_address = "0.0.0.0:8300";
  EXPECT_FALSE(ValidateOptions(o).ok());
  o.bind_address.clear();
  o.handshake_timeout = milliseconds(0);
  EXPECT_FALSE(ValidateOptions(o).ok());
}

// A handed-over connection is always the node's to close: before Start, after Shutdown, and on a
// node with its own port.
TEST_F(RaftNodeTest, HandedOverConnectionsAreClosedWhenTheNodeCannotTakeThem) {
  options_.transport = RaftOptions::Transport::kHandoff;
  Node& n = Define(1);
  n.fsm = std::make_unique<RecordingFsm>();
  n.raft = std::make_unique<RaftNode>(loop_, *n.fsm, OptionsFor(n));
  auto [before, handed_before] = TcpPair();
  n.raft->AcceptConnection(handed_before, Hello(2, "127.0.0.1:1").substr(1));
  EXPECT_EQ(ReadUntilClosed(loop_, before), std::optional<std::string>(""));

  n.listener->SetHandler([raft = n.raft.get()](int fd, std::string already_read) {
    raft->AcceptConnection(fd, std::move(already_read));
  });
  OpResult b = Await<OpResult>(loop_, [&](auto d) { n.raft->Bootstrap(ConfigOf({1}), d); });
  ASSERT_TRUE(b.ok()) << b.status.message();
  ASSERT_TRUE(Await<OpResult>(loop_, [&](auto d) { n.raft->Start(d); }).ok());
  int live = Dial(n.listener->port());
  SendAll(live, Hello(2, "127.0.0.1:1"));
  EXPECT_EQ(ReadAnswer(loop_, live), std::optional<std::string>(std::string(1, '\0')));

  n.listener->SetHandler(nullptr);
  n.raft->Shutdown();
  // The accepted connection went with libraft.
  EXPECT_EQ(ReadUntilClosed(loop_, live), std::optional<std::string>(""));
  auto [after, handed_after] = TcpPair();
  n.raft->AcceptConnection(handed_after, "");
  EXPECT_EQ(ReadUntilClosed(loop_, after), std::optional<std::string>(""));

  options_.transport = RaftOptions::Transport::kOwnPort;
  Node& own = Define(2);
  own.fsm = std::make_unique<RecordingFsm>();
  own.raft = std::make_unique<RaftNode>(loop_, *own.fsm, OptionsFor(own));
  auto [ours, handed] = TcpPair();
  own.raft->AcceptConnection(handed, "");
  EXPECT_EQ(ReadUntilClosed(loop_, ours), std::optional<std::string>(""));
}

TEST_F(RaftHandoffTest, ThreeNodesElectReplicateAndSurviveALeaderRestart) {
  StartCluster({1, 2, 3});
  auto t0 = std::chrono::steady_clock::now();
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  std::printf("leader %llu elected after %lld ms\n", (unsigned long long)leader,
              (long long)std::chrono::duration_cast<milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count());
  auto t1 = std::chrono::steady_clock::now();
  std::set<std::string> acked = ApplyAll(Numbered("entry-", 1000));
  ASSERT_EQ(acked.size(), 1000u);
  std::printf("1000 applies acknowledged in %lld ms\n",
              (long long)std::chrono::duration_cast<milliseconds>(
                  std::chrono::steady_clock::now() - t1)
                  .count());
  ASSERT_TRUE(WaitConverged(1000));
  for (auto& [id, n] : nodes_) {
    EXPECT_FALSE(n.fsm->out_of_order) << "node " << id;
    EXPECT_TRUE(Contains(*n.fsm, acked)) << "node " << id;
  }

  // Not-leader answers name the leader's RPC address.
  uint64_t follower = leader == 1 ? 2 : 1;
  ApplyResult r = Await<ApplyResult>(loop_, [&](auto d) { nodes_[follower].raft->Apply("f", d); });
  EXPECT_EQ(r.error, Error::kNotLeader);
  EXPECT_EQ(r.leader.address, nodes_[leader].address);

  Stop(leader);
  uint64_t next = WaitLeader();
  ASSERT_NE(next, 0u);
  EXPECT_NE(next, leader);
  std::set<std::string> after = ApplyAll(Numbered("after-", 100));
  ASSERT_EQ(after.size(), 100u);
  acked.insert(after.begin(), after.end());

  // The old leader restarts behind the same RPC port and catches up.
  ASSERT_TRUE(Open(leader, std::nullopt).ok());
  ASSERT_TRUE(WaitConverged(1100));
  for (auto& [id, n] : nodes_) EXPECT_TRUE(Contains(*n.fsm, acked)) << "node " << id;
  EXPECT_NE(WaitLeader(), 0u);
}

TEST_F(RaftHandoffTest, PeerConnectionsDisableNagle) {
  StartCluster({1, 2, 3});
  ASSERT_NE(WaitLeader(), 0u);
  ASSERT_EQ(ApplyAll(Numbered("n-", 10)).size(), 10u);
  EXPECT_GE(CheckPeerSocketsNoDelay(), 4);  // the leader's two outgoing connections, both ends
}

TEST_F(RaftHandoffTest, GarbageHandshakesAreRefusedAndTheNodeKeepsWorking) {
  StartCluster({1, 2, 3});
  uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  ASSERT_EQ(ApplyAll(Numbered("before-", 50)).size(), 50u);
  Node& target = nodes_[leader];
  std::string good = EncodeHandshake(99, "127.0.0.1:1");
  std::string v2 = good;
  v2[7] = 2;
  std::string id0 = good;
  for (int i = 8; i < 16; ++i) id0[i] = 0;
  std::string huge = good.substr(0, 16) + std::string("\xff\xff", 2) + std::string(300, 'a');

  // Handed over with the bytes already read by the RPC server: refused without an answer.
  for (const std::string& bytes :
       {v2, id0, huge, std::string("GET / HTTP/1.1\r\n\r\n"), good + "extra",
        std::string(5000, '\x01')}) {
    auto [ours, theirs] = TcpPair();
    target.raft->AcceptConnection(theirs, bytes);
    EXPECT_EQ(ReadUntilClosed(loop_, ours), std::optional<std::string>(""))
        << "already read: " << bytes.size() << " bytes";
  }
  // Through the port, arriving from the socket: refused without an answer.
  for (const std::string& bytes : {v2, id0, huge}) {
    int fd = Dial(target.listener->port());
    SendAll(fd, std::string(1, char(kRaftModeByte)));
    loop_.RunFor(milliseconds(50));  // most likely read apart from the mode byte
    SendAll(fd, bytes);
    EXPECT_EQ(ReadUntilClosed(loop_, fd), std::optional<std::string>(""));
  }
  // Half a handshake, then silence: closed after the handshake timeout.
  int stalled = Dial(target.listener->port());
  SendAll(stalled, Hello(99, "127.0.0.1:1").substr(0, 12));
  EXPECT_EQ(ReadUntilClosed(loop_, stalled), std::optional<std::string>(""));
  // Half a handshake, then the peer hangs up.
  int gone = Dial(target.listener->port());
  SendAll(gone, Hello(99, "127.0.0.1:1").substr(0, 25));
  shutdown(gone, SHUT_WR);
  EXPECT_EQ(ReadUntilClosed(loop_, gone), std::optional<std::string>(""));

  // A handshake split between the RPC server's read and the socket is accepted; what follows it
  // goes to libraft, which drops a connection that sends garbage.
  int peer = Dial(target.listener->port());
  std::string hello = Hello(99, "127.0.0.1:1");
  SendAll(peer, hello.substr(0, 10));
  loop_.RunFor(milliseconds(50));
  SendAll(peer, hello.substr(10));
  EXPECT_EQ(ReadAnswer(loop_, peer), std::optional<std::string>(std::string(1, '\0')));
  // libraft's framing: u64 message type, u64 header length (little endian), header. Type 255
  // does not exist. (Lengths are libraft's to trust: a huge one makes it try a huge malloc.)
  std::string unknown_type("\xff\0\0\0\0\0\0\0\x08\0\0\0\0\0\0\0", 16);
  SendAll(peer, unknown_type + std::string(8, '\0'));
  EXPECT_EQ(ReadUntilClosed(loop_, peer), std::optional<std::string>(""));

  // The node still leads, replicates and accepts its peers.
  std::set<std::string> after = ApplyAll(Numbered("after-", 100));
  ASSERT_EQ(after.size(), 100u);
  ASSERT_TRUE(WaitConverged(150));
  EXPECT_EQ(WaitLeader(), leader);
}

// A peer whose RPC port accepts but never answers the handshake: each dial gives up after the
// handshake timeout (libraft retries), and Shutdown cancels the dial in progress.
TEST_F(RaftHandoffTest, DialsThatGetNoAnswerTimeOutAndShutdownCancelsThem) {
  int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(silent, 16), 0);
  getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  std::string silent_address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  Node& n = Define(1);
  Configuration conf = {Member{1, n.address, Suffrage::kVoter},
                        Member{2, silent_address, Suffrage::kVoter}};
  // Accepts the dials that arrived, reading what each one sent.
  std::vector<std::pair<int, std::string>> dials;
  auto take = [&] {
    for (int fd; (fd = accept4(silent, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
      dials.emplace_back(fd, "");
    }
    for (auto& [fd, got] : dials) {
      char buf[256];
      ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (k > 0) got.append(buf, size_t(k));
    }
  };
  std::string hello = Hello(1, n.address);

  options_.handshake_timeout = milliseconds(200);
  ASSERT_TRUE(Open(1, conf).ok());
  ASSERT_TRUE(loop_.RunUntil(
      [&] {
        take();
        return dials.size() >= 3 && dials[0].second == hello;
      },
      seconds(30)));
  // The first dial was given up: its socket is closed by the node.
  EXPECT_EQ(ReadUntilClosed(loop_, dials[0].first), std::optional<std::string>(""));
  for (size_t i = 1; i < dials.size(); ++i) close(dials[i].first);
  dials.clear();
  Stop(1);

  options_.handshake_timeout = seconds(60);
  ASSERT_TRUE(Open(1, std::nullopt).ok());
  ASSERT_TRUE(loop_.RunUntil(
      [&] {
        take();
        return !dials.empty() && dials.back().second == hello;
      },
      seconds(30)));
  auto t0 = std::chrono::steady_clock::now();
  Stop(1);
  std::printf("shutdown with a dial in progress took %lld ms\n",
              (long long)std::chrono::duration_cast<milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count());
  EXPECT_EQ(ReadUntilClosed(loop_, dials.back().first), std::optional<std::string>(""));
  for (size_t i = 0; i + 1 < dials.size(); ++i) close(dials[i].first);
  close(silent);
}

}  // namespace
}  // namespace gangway::consensus
