// RaftNode behind the real rpc::Server: three servers, each on one 127.0.0.1 port (port 0, bound
// first) that answers RPC methods and hands mode-0x01 connections to its RaftNode, as the server
// role does; plaintext, and Raft inside TLS (RaftOptions::dial through rpc::Client::DialRaft, the
// server relaying 0x03 + 0x01 to the node) as the agent wires it with verify_outgoing. Only this
// test links the two modules; neither library depends on the other.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "consensus/raft_node.h"
#include "net/event_loop.h"
#include "rpc/rpc.h"
#include "x509/tls_context.h"
#include "x509/x509.h"

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
    std::unique_ptr<rpc::Client> client;  // dials Raft inside TLS when it has a context
    std::unique_ptr<CountingFsm> fsm;
    std::unique_ptr<RaftNode> raft;
    std::string address;
  };

  // A CA, and per server a server.dc1.consul certificate from it (files under root_).
  struct Pki {
    std::string ca_file;
    x509::Certificate ca;
    x509::PrivateKey key;
  };
  Pki MakeCa(const std::string& name) {
    Pki p;
    auto key = x509::GenerateKey();
    x509::CAOptions o;
    o.subject.common_name = "Consul Agent CA " + name;
    auto ca = x509::CreateCA(*key, o);
    EXPECT_TRUE(ca.ok());
    p.ca = *ca;
    p.key = *key;
    p.ca_file = Write(name + "-ca.pem", ca->ToPem());
    return p;
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(root_ + "/" + name) << text;
    return root_ + "/" + name;
  }
  // The agent's tls settings for a server: verify_incoming, verify_outgoing and
  // verify_server_hostname, its own certificate both ways.
  rpc::ServerTls ServerTlsFor(uint64_t id, const Pki& pki, rpc::ClientTls* client) {
    auto key = x509::GenerateKey();
    x509::CertOptions co;
    co.subject.common_name = "server.dc1.consul";
    co.sans.dns = {"server.dc1.consul", "localhost"};
    co.sans.ips = {"127.0.0.1"};
    co.server_auth = co.client_auth = true;
    auto cert = x509::SignCertificate(key->native(), co, pki.ca, pki.key);
    EXPECT_TRUE(cert.ok());
    x509::TlsSettings s;
    s.ca_file = pki.ca_file;
    s.cert_file = Write("server" + std::to_string(id) + ".pem", cert->ToPem());
    s.key_file = Write("server" + std::to_string(id) + "-key.pem", key->ToPem());
    s.verify_incoming = s.verify_outgoing = s.verify_server_hostname = true;
    auto server_ctx = x509::BuildTlsContext(s, x509::TlsRole::kServer);
    auto client_ctx = x509::BuildTlsContext(s, x509::TlsRole::kClient);
    EXPECT_TRUE(server_ctx.ok() && client_ctx.ok());
    client->context = std::make_shared<const x509::TlsContext>(std::move(*client_ctx));
    client->datacenter = "dc1";
    return rpc::ServerTls{std::make_shared<const x509::TlsContext>(std::move(*server_ctx))};
  }

  // Three servers on their RPC ports; with `pki` (one per server) Raft goes inside TLS.
  void StartServers(std::vector<const Pki*> pki = {}) {
    uint64_t id = 0;
    for (uint64_t i : {1, 2, 3}) {
      id = i;
      Server& s = servers_[id];
      rpc::ServerTls server_tls;
      rpc::ClientTls client_tls;
      if (!pki.empty()) server_tls = ServerTlsFor(id, *pki[id - 1], &client_tls);
      s.rpc = std::make_unique<rpc::Server>(loop_, server_tls);
      s.client = std::make_unique<rpc::Client>(loop_, client_tls);
      s.rpc->Register("Echo", [](std::string body, std::shared_ptr<rpc::CallContext>,
                                 rpc::ReplyFn reply) { reply(std::move(body)); });
      auto port = s.rpc->Listen("127.0.0.1", 0);
      ASSERT_TRUE(port.ok()) << port.status().message();
      s.address = "127.0.0.1:" + std::to_string(*port);
    }
    Configuration conf;
    for (auto& [sid, s] : servers_) conf.push_back(Member{sid, s.address, Suffrage::kVoter});
    for (auto& [sid, s] : servers_) {
      RaftOptions o = RaftOptions::Fast();
      o.id = sid;
      o.address = s.address;
      o.data_dir = root_ + "/node" + std::to_string(sid);
      o.transport = RaftOptions::Transport::kHandoff;
      if (!pki.empty()) {
        // As the agent: the raft thread asks, the loop dials.
        o.dial = [this, client = s.client.get()](std::string address,
                                                 std::function<void(int, std::string)> done) {
          loop_.Post([client, address = std::move(address), done = std::move(done)]() mutable {
            client->DialRaft(address, std::move(done));
          });
        };
      }
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
  }

  // Applies n entries on the leader and waits for them on every server in `on`.
  void ApplyAndReplicate(uint64_t leader, int n, std::vector<uint64_t> on) {
    int acked = 0;
    for (int i = 0; i < n; ++i) {
      servers_[leader].raft->Apply("e" + std::to_string(i), [&](ApplyResult r) {
        EXPECT_TRUE(r.ok()) << r.status.message();
        ++acked;
      });
    }
    ASSERT_TRUE(RunUntil([&] { return acked == n; }));
    ASSERT_TRUE(RunUntil([&] {
      for (uint64_t id : on) {
        if (servers_[id].fsm->entries.size() < size_t(n)) return false;
      }
      return true;
    }));
    for (uint64_t id : on) EXPECT_EQ(servers_[id].fsm->entries, servers_[leader].fsm->entries);
  }

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
      s.client->Close();
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

  uint64_t Leader(std::vector<uint64_t> among = {1, 2, 3}) {
    uint64_t leader = 0;
    for (uint64_t id : among) {
      Server& s = servers_[id];
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
  StartServers();
  uint64_t leader = 0;
  ASSERT_TRUE(RunUntil([&] { return (leader = Leader()) != 0; }));
  ApplyAndReplicate(leader, 200, {1, 2, 3});

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
  EXPECT_EQ(servers_[leader].rpc->stats().raft_relayed, 0u);
}

TEST_F(RaftOverRpcPortTest, RaftInsideTlsWithVerifyIncomingEverywhere) {
  Pki pki = MakeCa("1111");
  StartServers({&pki, &pki, &pki});
  uint64_t leader = 0;
  ASSERT_TRUE(RunUntil([&] { return (leader = Leader()) != 0; }));
  ApplyAndReplicate(leader, 200, {1, 2, 3});
  for (auto& [id, s] : servers_) {
    auto st = s.rpc->stats();
    EXPECT_GT(st.raft_relayed, 0u) << "server " << id;  // every peer reached it inside TLS
    EXPECT_EQ(st.plaintext_refused, 0u);
    EXPECT_EQ(st.tls_handshake_errors, 0u);
    EXPECT_EQ(st.protocol_errors, 0u);
  }
  // RPC on the same port, over TLS (verify_incoming refuses plaintext).
  std::optional<Result<std::string>> echo;
  servers_[leader].client->Call(servers_[leader].address, "Echo", "tls rpc", 5s,
                                [&](Result<std::string> r) { echo = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return echo.has_value(); }));
  ASSERT_TRUE(echo->ok()) << echo->status().message();
  EXPECT_EQ(**echo, "tls rpc");

  // A follower stopped and started again reconnects inside TLS and catches up.
  uint64_t follower = leader == 1 ? 2 : 1;
  Server& f = servers_[follower];
  f.rpc->SetRaftHandler(nullptr);
  f.raft.reset();
  ApplyAndReplicate(leader, 250, {leader});
  RaftOptions o = RaftOptions::Fast();
  o.id = follower;
  o.address = f.address;
  o.data_dir = root_ + "/node" + std::to_string(follower);
  o.transport = RaftOptions::Transport::kHandoff;
  o.dial = [this, client = f.client.get()](std::string address,
                                           std::function<void(int, std::string)> done) {
    loop_.Post([client, address = std::move(address), done = std::move(done)]() mutable {
      client->DialRaft(address, std::move(done));
    });
  };
  f.fsm = std::make_unique<CountingFsm>();
  f.raft = std::make_unique<RaftNode>(loop_, *f.fsm, o);
  f.rpc->SetRaftHandler([raft = f.raft.get()](int fd, std::string already_read) {
    raft->AcceptConnection(fd, std::move(already_read));
  });
  std::optional<OpResult> started;
  f.raft->Start([&](OpResult r) { started = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return started.has_value(); }));
  ASSERT_TRUE(started->ok()) << started->status.message();
  ASSERT_TRUE(RunUntil([&] { return f.fsm->entries.size() == 450; }))
      << f.fsm->entries.size() << " entries on the restarted follower";
}

TEST_F(RaftOverRpcPortTest, AServerFromAnotherCaCannotJoinRaft) {
  Pki good = MakeCa("1111");
  Pki other = MakeCa("2222");
  ::testing::internal::CaptureStderr();
  StartServers({&good, &good, &other});
  uint64_t leader = 0;
  ASSERT_TRUE(RunUntil([&] { return (leader = Leader({1, 2})) != 0; }));
  ApplyAndReplicate(leader, 50, {1, 2});
  RunUntil([] { return false; }, 500ms);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(servers_[3].fsm->entries.empty());
  EXPECT_NE(servers_[3].raft->Leader().id, leader);
  // Its dials fail verifying the others' certificates, logged once per peer.
  for (uint64_t id : {1, 2}) {
    EXPECT_THAT(log, ::testing::HasSubstr(
                         "cannot connect to peer " + servers_[id].address +
                         ": rpc: TLS handshake with " + servers_[id].address +
                         " failed: tls: failed to verify certificate: x509: certificate signed by "
                         "unknown authority"));
  }
  EXPECT_GT(
      servers_[1].rpc->stats().tls_handshake_errors + servers_[2].rpc->stats().tls_handshake_errors,
      0u);
}

}  // namespace
}  // namespace gangway::consensus
