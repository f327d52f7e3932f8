#include "client/prober.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/workers.h"
#include "net/event_loop.h"

extern char** environ;

namespace gangway::client {
namespace {

// Runs a script to completion on the calling thread (a worker): a pipe for stdout and stderr
// together, kept as a ring of the last max_output bytes; the process group killed on timeout.
ScriptResult RunBlocking(const std::vector<std::string>& args, std::chrono::nanoseconds timeout,
                         size_t max_output) {
  ScriptResult r;
  if (args.empty()) {
    r.start_error = "no command to run";
    return r;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    r.start_error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    r.start_error = "fork/exec " + args[0] + ": " + std::strerror(err);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string ring;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every writer closed: the script (and its children) are done
    r.output_total += static_cast<size_t>(got);
    ring.append(buf, static_cast<size_t>(got));
    if (ring.size() > max_output) ring.erase(0, ring.size() - max_output);
  }
  close(fds[0]);
  if (r.timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Whatever the script left running in its group goes too.
  kill(-pid, SIGKILL);
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.output = std::move(ring);
  return r;
}

class NetProber final : public Prober {
 public:
  NetProber(net::EventLoop& loop, std::string ca_file, std::string ca_path)
      : loop_(loop),
        alive_(std::make_shared<bool>(true)),
        h2_(loop, std::move(ca_file), std::move(ca_path)) {}
  ~NetProber() override { *alive_ = false; }

  void ProbeTcp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                std::function<void(Status)> done) override {
    net::ProbeTcp(loop_, host, port, timeout, std::move(done));
  }
  void ProbeUdp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                std::function<void(Status)> done) override {
    net::ProbeUdp(loop_, host, port, timeout, std::move(done));
  }
  void FetchHttp(http::ClientRequest req,
                 std::function<void(Result<http::Response>)> done) override {
    http::FetchAsync(loop_, std::move(req), std::move(done));
  }
  void CallH2(const net::H2Endpoint& to, net::H2Request req, std::chrono::nanoseconds timeout,
              size_t max_body, std::function<void(net::H2Result)> done) override {
    h2_.Request(to, std::move(req), timeout, max_body, Guard(std::move(done)));
  }
  void PingH2(const net::H2Endpoint& to, std::chrono::nanoseconds timeout,
              std::function<void(net::H2Result)> done) override {
    h2_.Ping(to, timeout, Guard(std::move(done)));
  }
  void RunScript(std::vector<std::string> args, std::chrono::nanoseconds timeout,
                 size_t max_output, std::function<void(ScriptResult)> done) override {
    std::weak_ptr<bool> alive = alive_;
    scripts_.Submit([&loop = loop_, alive, args = std::move(args), timeout, max_output,
                     done = std::move(done)]() mutable {
      ScriptResult r = RunBlocking(args, timeout, max_output);
      loop.Post([alive, r = std::move(r), done = std::move(done)]() mutable {
        if (auto a = alive.lock(); a && *a) done(std::move(r));
      });
    });
  }

 private:
  // A call in flight may finish after the prober is gone; its answer is then dropped.
  std::function<void(net::H2Result)> Guard(std::function<void(net::H2Result)> done) {
    std::weak_ptr<bool> alive = alive_;
    return [alive, done = std::move(done)](net::H2Result r) {
      if (auto a = alive.lock(); a && *a) done(std::move(r));
    };
  }

  net::EventLoop& loop_;
  std::shared_ptr<bool> alive_;
  net::H2Client h2_;
  // Scripts block a thread each for up to their timeout; they get threads of their own so key
  // generation and snapshot encoding never wait behind them.
  Workers scripts_{2};
};

}  // namespace

std::unique_ptr<Prober> MakeNetProber(net::EventLoop& loop, std::string ca_file,
                                      std::string ca_path) {
  return std::make_unique<NetProber>(loop, std::move(ca_file), std::move(ca_path));
}

}  // namespace gangway::client
