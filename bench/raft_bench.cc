// raft_bench: three RaftNodes in one process on loopback, each with its own temp data dir (real
// O_DSYNC writes), default timing. Measures committed applies per second and commit latency
// (Apply call to done on the leader) with a given number of applies in flight.
//
//   raft_bench [--transport=own|rpc|rpc-tls] [entries-per-run] [payload-bytes] [windows...]
//                                                  (defaults: own 5000 64 1 16 64 256)
//
// own: libraft's TCP transport on ports of its own (the owner loop is a TestLoop). rpc: each node
// behind an rpc::Server on one port (mode 0x01, as the agent wires it), owner loop an Asio
// net::EventLoop shared by the three RPC servers. rpc-tls: the same with Raft inside TLS,
// verify_incoming/outgoing/server_hostname on every server (certificates made here): the RPC
// clients dial, and both ends relay between TLS and the node's socketpair on that one loop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "consensus/raft_node.h"
#include "consensus/testing/test_loop.h"
#include "net/event_loop.h"
#include "rpc/rpc.h"
#include "x509/tls_context.h"
#include "x509/x509.h"

namespace {

using namespace gangway;               // NOLINT: a benchmark program
using namespace gangway::consensus;    // NOLINT
using Clock = std::chrono::steady_clock;

class StringSource : public SnapshotSource {
 public:
  explicit StringSource(std::string bytes) : bytes_(std::move(bytes)) {}
  Result<std::string> Encode(std::stop_token) override { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class CountingFsm : public StateMachine {
 public:
  Result<std::string> Apply(uint64_t, std::string_view entry) override {
    bytes_ += entry.size();
    return std::string();
  }
  Result<std::unique_ptr<SnapshotSource>> BeginSnapshot() override {
    return std::unique_ptr<SnapshotSource>(std::make_unique<StringSource>(std::to_string(bytes_)));
  }
  Status Restore(std::string_view data) override {
    bytes_ = std::strtoull(std::string(data).c_str(), nullptr, 10);
    return Status::Ok();
  }

 private:
  uint64_t bytes_ = 0;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Runs the owner loop in slices until pred() or the timeout; returns pred().
using RunUntilFn = std::function<bool(const std::function<bool()>&, std::chrono::milliseconds)>;

bool RunAsio(net::EventLoop& loop, const std::function<bool()>& pred,
             std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return pred();
    if (loop.context().stopped()) loop.context().restart();
    loop.context().run_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string WriteFile(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f != nullptr) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  return path;
}

// A CA and, per node, a server.dc1.consul certificate; the agent's server settings with TLS on
// every side. Returns false (with a message) when something cannot be built.
bool MakeTls(const std::string& dir, int nodes, std::vector<rpc::ServerTls>* servers,
             std::vector<rpc::ClientTls>* clients) {
  auto ca_key = x509::GenerateKey();
  x509::CAOptions ca_options;
  ca_options.subject.common_name = "Consul Agent CA bench";
  auto ca = x509::CreateCA(*ca_key, ca_options);
  if (!ca.ok()) return false;
  std::string ca_file = WriteFile(dir + "/ca.pem", ca->ToPem());
  for (int i = 0; i < nodes; ++i) {
    auto key = x509::GenerateKey();
    x509::CertOptions co;
    co.subject.common_name = "server.dc1.consul";
    co.sans.dns = {"server.dc1.consul", "localhost"};
    co.sans.ips = {"127.0.0.1"};
    co.server_auth = co.client_auth = true;
    auto cert = x509::SignCertificate(key->native(), co, *ca, *ca_key);
    if (!cert.ok()) return false;
    x509::TlsSettings s;
    s.ca_file = ca_file;
    s.cert_file = WriteFile(dir + "/server" + std::to_string(i) + ".pem", cert->ToPem());
    s.key_file = WriteFile(dir + "/server" + std::to_string(i) + "-key.pem", key->ToPem());
    s.verify_incoming = s.verify_outgoing = s.verify_server_hostname = true;
    auto server_ctx = x509::BuildTlsContext(s, x509::TlsRole::kServer);
    auto client_ctx = x509::BuildTlsContext(s, x509::TlsRole::kClient);
    if (!server_ctx.ok() || !client_ctx.ok()) {
      std::fprintf(stderr, "tls: %s\n",
                   (server_ctx.ok() ? client_ctx.status() : server_ctx.status()).message().c_str());
      return false;
    }
    servers->push_back(
        rpc::ServerTls{std::make_shared<const x509::TlsContext>(std::move(*server_ctx))});
    rpc::ClientTls c;
    c.context = std::make_shared<const x509::TlsContext>(std::move(*client_ctx));
    c.datacenter = "dc1";
    clients->push_back(c);
  }
  return true;
}

// CPU time of the whole process (every node, the loops, the relays), in microseconds.
double CpuMicros() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string transport = "own";
  int arg = 1;
  if (argc > 1 && std::string(argv[1]).rfind("--transport=", 0) == 0) {
    transport = std::string(argv[1]).substr(12);
    arg = 2;
  }
  if (transport != "own" && transport != "rpc" && transport != "rpc-tls") {
    std::fprintf(stderr, "--transport: own, rpc or rpc-tls\n");
    return 2;
  }
  size_t per_run = argc > arg ? std::strtoul(argv[arg], nullptr, 10) : 5000;
  size_t payload = argc > arg + 1 ? std::strtoul(argv[arg + 1], nullptr, 10) : 64;
  std::vector<size_t> windows;
  for (int i = arg + 2; i < argc; ++i) windows.push_back(std::strtoul(argv[i], nullptr, 10));
  if (windows.empty()) windows = {1, 16, 64, 256};

  std::string root = (std::filesystem::temp_directory_path() / "gangway-raft-bench-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  testing::TestLoop test_loop;
  net::EventLoop asio_loop;
  bool own = transport == "own";
  Loop& loop = own ? static_cast<Loop&>(test_loop) : static_cast<Loop&>(asio_loop);
  RunUntilFn run_until = [&](const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    return own ? test_loop.RunUntil(pred, limit) : RunAsio(asio_loop, pred, limit);
  };
  std::vector<rpc::ServerTls> server_tls(3);
  std::vector<rpc::ClientTls> client_tls(3);
  if (transport == "rpc-tls") {
    server_tls.clear();
    client_tls.clear();
    if (!MakeTls(root, 3, &server_tls, &client_tls)) {
      std::fprintf(stderr, "cannot build the TLS contexts\n");
      return 1;
    }
  }
  std::vector<std::unique_ptr<rpc::Server>> rpc_servers;
  std::vector<std::unique_ptr<rpc::Client>> rpc_clients;
  Configuration conf;
  std::vector<RaftOptions> options;
  for (uint64_t id = 1; id <= 3; ++id) {
    RaftOptions o = RaftOptions::Default();
    o.id = id;
    o.data_dir = root + "/node" + std::to_string(id);
    if (own) {
      o.address = "127.0.0.1:" + std::to_string(FreePort());
    } else {
      rpc_servers.push_back(std::make_unique<rpc::Server>(asio_loop, server_tls[id - 1]));
      rpc_clients.push_back(std::make_unique<rpc::Client>(asio_loop, client_tls[id - 1]));
      auto port = rpc_servers.back()->Listen("127.0.0.1", 0);
      if (!port.ok()) {
        std::fprintf(stderr, "%s\n", port.status().message().c_str());
        return 1;
      }
      o.address = "127.0.0.1:" + std::to_string(*port);
      o.transport = RaftOptions::Transport::kHandoff;
      if (transport == "rpc-tls") {
        o.dial = [&asio_loop, client = rpc_clients.back().get()](
                     std::string address, std::function<void(int, std::string)> done) {
          asio_loop.Post([client, address = std::move(address), done = std::move(done)]() mutable {
            client->DialRaft(address, std::move(done));
          });
        };
      }
    }
    options.push_back(o);
    conf.push_back(Member{id, o.address, Suffrage::kVoter});
  }
  std::vector<std::unique_ptr<CountingFsm>> fsms;
  std::vector<std::unique_ptr<RaftNode>> nodes;
  int started = 0;
  bool failed = false;
  for (const auto& o : options) {
    fsms.push_back(std::make_unique<CountingFsm>());
    nodes.push_back(std::make_unique<RaftNode>(loop, *fsms.back(), o));
    if (!own) {
      rpc_servers[nodes.size() - 1]->SetRaftHandler(
          [node = nodes.back().get()](int fd, std::string rest) {
            node->AcceptConnection(fd, std::move(rest));
          });
    }
    nodes.back()->Bootstrap(conf, [](OpResult) {});
    nodes.back()->Start([&](OpResult r) {
      if (!r.ok()) {
        std::fprintf(stderr, "start: %s\n", r.status.message().c_str());
        failed = true;
      }
      ++started;
    });
  }
  RaftNode* leader = nullptr;
  run_until(
      [&] {
        for (auto& n : nodes) {
          if (n->IsLeader()) leader = n.get();
        }
        return failed || leader != nullptr;
      },
      std::chrono::seconds(30));
  if (leader == nullptr) {
    std::fprintf(stderr, "no leader\n");
    return 1;
  }
  std::printf(
      "== raft_bench: 3 nodes in one process, loopback, transport %s, %s, %zu-byte entries, "
      "%u cores\n",
      transport.c_str(), root.c_str(), payload, unsigned(sysconf(_SC_NPROCESSORS_ONLN)));
  std::printf("%-8s %12s %10s %10s %10s %12s %8s\n", "window", "applies/s", "p50 ms", "p90 ms",
              "p99 ms", "cpu us/op", "errors");

  std::string body(payload, 'x');
  for (size_t window : windows) {
    std::vector<double> latencies;
    latencies.reserve(per_run);
    size_t submitted = 0, done = 0, errors = 0;
    auto submit = [&](auto& self) -> void {
      while (submitted < per_run && submitted - done < window) {
        ++submitted;
        auto t0 = Clock::now();
        leader->Apply(body, [&, t0, self](ApplyResult r) {
          ++done;
          if (!r.ok()) ++errors;
          latencies.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          self(self);
        });
      }
    };
    auto start = Clock::now();
    double cpu0 = CpuMicros();
    submit(submit);
    run_until([&] { return done == per_run; }, std::chrono::seconds(300));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    double cpu = (CpuMicros() - cpu0) / double(done);
    std::printf("%-8zu %12.0f %10.3f %10.3f %10.3f %12.1f %8zu\n", window, double(done) / secs,
                Percentile(latencies, 0.50), Percentile(latencies, 0.90),
                Percentile(latencies, 0.99), cpu, errors);
    std::fflush(stdout);
  }
  for (auto& s : rpc_servers) s->SetRaftHandler(nullptr);
  nodes.clear();
  for (auto& s : rpc_servers) s->Close();
  for (auto& c : rpc_clients) c->Close();
  run_until([] { return false; }, std::chrono::milliseconds(10));
  std::filesystem::remove_all(root);
  return 0;
}
