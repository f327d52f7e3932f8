// RaftNode behind the real rpc::Server: three servers, each on one 127.0.0.1 port (port 0, bound
// first) that answers RPC methods and hands mode-0x01 connections to its RaftNode, as the server
// role will. Only this test links the two modules; neither library depends on the other.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "consensus/raft_node.h"
#include "net/event_loop.h"
#include "rpc/rpc.h"

namespace gangway::consensus {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class CountingFsm : public StateMachine {
 public:
  Result<std::string> Apply(uint64_t, std::string_view entry) override {
    entries.emplace_back(entry);
    return std::string("ok");
  }
  Result<std::unique_ptr<SnapshotSource>> BeginSnapshot() override {
    return Internal("no snapshots in this test");
  }
  Status Restore(std::string_view) override { return Status::Ok(); }
  std::vector<std::string> entries;
};

class RaftOverRpcPortTest : public ::testing::Test {
 protected:
  struct Server {
    std::unique_ptr<rpc::Server> rpc;
    std::unique_ptr<CountingFsm> fsm;
    std::unique_ptr<RaftNode> raft;
    std::string address;
  };

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gangway-raft-rpc-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }

  void TearDown() override {
    for (auto& [id, s] : servers_) {
      s.rpc->SetRaftHandler(nullptr);
      s.raft.reset();
      s.rpc->Close();
    }
    RunUntil([] { return false; }, 20ms);
    servers_.clear();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  template <typename F>
  bool RunUntil(F done, std::chrono::milliseconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (loop_.context().stopped()) loop_.context().restart();
      loop_.context().run_for(5ms);
    }
    return true;
  }

  uint64_t Leader() {
    uint64_t leader = 0;
    for (auto& [id, s] : servers_) {
      uint64_t seen = s.raft->Leader().id;
      if (seen == 0 || (leader != 0 && seen != leader)) return 0;
      leader = seen;
    }
    return leader != 0 && servers_[leader].raft->IsLeader() ? leader : 0;
  }

  net::EventLoop loop_;
  std::string root_;
  std::map<uint64_t, Server> servers_;
};

TEST_F(RaftOverRpcPortTest, RaftAndRpcShareThePort) {
  for (uint64_t id : {1, 2, 3}) {
    Server& s = servers_[id];
    s.rpc = std::make_unique<rpc::Server>(loop_);
    s.rpc->Register("Echo", [](std::string body, std::shared_ptr<rpc::CallContext>,
                               rpc::ReplyFn reply) { reply(std::move(body)); });
    auto port = s.rpc->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().message();
    s.address = "127.0.0.1:" + std::to_string(*port);
  }
  Configuration conf;
  for (auto& [id, s] : servers_) conf.push_back(Member{id, s.address, Suffrage::kVoter});
  for (auto& [id, s] : servers_) {
    RaftOptions o = RaftOptions::Fast();
    o.id = id;
    o.address = s.address;
    o.data_dir = root_ + "/node" + std::to_string(id);
    o.transport = RaftOptions::Transport::kHandoff;
    s.fsm = std::make_unique<CountingFsm>();
    s.raft = std::make_unique<RaftNode>(loop_, *s.fsm, o);
    s.rpc->SetRaftHandler([raft = s.raft.get()](int fd, std::string already_read) {
      raft->AcceptConnection(fd, std::move(already_read));
    });
    std::optional<OpResult> started;
    s.raft->Bootstrap(conf, [](OpResult) {});
    s.raft->Start([&](OpResult r) { started = std::move(r); });
    ASSERT_TRUE(RunUntil([&] { return started.has_value(); }));
    ASSERT_TRUE(started->ok()) << started->status.message();
  }

  uint64_t leader = 0;
  ASSERT_TRUE(RunUntil([&] { return (leader = Leader()) != 0; }));
  int acked = 0;
  for (int i = 0; i < 200; ++i) {
    servers_[leader].raft->Apply("e" + std::to_string(i), [&](ApplyResult r) {
      EXPECT_TRUE(r.ok()) << r.status.message();
      ++acked;
    });
  }
  ASSERT_TRUE(RunUntil([&] { return acked == 200; }));
  ASSERT_TRUE(RunUntil([&] {
    for (auto& [id, s] : servers_) {
      if (s.fsm->entries.size() < 200) return false;
    }
    return true;
  }));
  for (auto& [id, s] : servers_) EXPECT_EQ(s.fsm->entries, servers_[leader].fsm->entries);

  // The same port still answers RPC.
  rpc::Client client(loop_);
  std::optional<Result<std::string>> echo;
  client.Call(servers_[leader].address, "Echo", "still rpc", 5s,
              [&](Result<std::string> r) { echo = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return echo.has_value(); }));
  ASSERT_TRUE(echo->ok()) << echo->status().message();
  EXPECT_EQ(**echo, "still rpc");
  client.Close();
  EXPECT_EQ(servers_[leader].rpc->stats().protocol_errors, 0u);
}

}  // namespace
}  // namespace gangway::consensus
