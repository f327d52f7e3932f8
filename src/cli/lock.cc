// gangway lock: runs a child process while holding a lock (or one of N semaphore slots) in the
// KV store, with Consul's client protocol (api.Lock / api.Semaphore, docs/sessions.md) and the
// flags and messages of `consul lock`. Three threads: the main one acquires, starts the child and
// waits for it; one renews the session every TTL/2; one watches the lock with blocking reads.
// Losing the lock (or a signal) stops the child: SIGTERM, then SIGKILL after 5 s.
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/encoding.h"
#include "core/base64.h"
#include "core/duration.h"
#include "core/flags.h"

namespace gangway::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kLockFlagValue = 0x2ddccbc058a50c18;
constexpr uint64_t kSemaphoreFlagValue = 0xe0f69a2baa414de0;
constexpr const char* kSessionTTL = "15s";
constexpr auto kRenewEvery = 7500ms;  // TTL / 2
constexpr auto kLockRetryTime = 5s;   // after a refused acquire (the lock-delay)
constexpr auto kMonitorRetryTime = 1s;
constexpr auto kKillGrace = 5s;
constexpr auto kWaitSlice = 5s;  // blocking reads, short enough to notice a signal

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

std::string KvPath(const std::string& key) { return "/v1/kv/" + EscapePath(key); }

uint64_t IndexOf(const http::Response& r) {
  for (const auto& [k, v] : r.headers) {
    if (k == "X-Consul-Index") {
      try {
        return std::stoull(v);
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

Json ParseOr(const std::string& body, Json fallback) {
  try {
    return Json::parse(body);
  } catch (...) {
    return fallback;
  }
}

// Stops the waits of the helper threads at once.
class Stopper {
 public:
  void Stop() {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  bool stopped() {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  }
  // False when stopped during the wait.
  bool Sleep(Clock::duration d) {
    std::unique_lock<std::mutex> l(mu_);
    return !cv_.wait_for(l, d, [&] { return stopped_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

class LockCommand : public Command {
 public:
  explicit LockCommand(Environment& env) : env_(env) {
    http_.Register(&flags_);
    flags_.Int("n", &limit_, "int",
               "Optional limit on the number of concurrent lock holders. The underlying "
               "implementation switches from a lock to a semaphore when increased past one. "
               "The default value is 1.");
    flags_.String("name", &name_, "string", "Optional name to associate with the lock session.");
    flags_.Bool("pass-stdin", &pass_stdin_, "Pass stdin to the child process.");
    flags_.Bool("shell", &shell_, "Use a shell to run the command (can set a custom shell via "
                                  "the SHELL environment variable). The default value is true.");
    flags_.String("timeout", &timeout_text_, "duration",
                  "Maximum amount of time to wait to acquire the lock. The default value is 0 "
                  "(wait forever).");
    flags_.String("try", &try_text_, "duration", "DEPRECATED: use -timeout instead.");
    flags_.Int("monitor-retry", &monitor_retry_, "int",
               "Number of times to retry if Gangway returns a 500 error while monitoring the "
               "lock. The default value is 3, with a 1s wait between retries.");
    flags_.Bool("child-exit-code", &child_exit_code_,
                "Exit 2 if the child process exited with an error.");
    flags_.Bool("verbose", &verbose_, "Enable verbose (debugging) output.");
  }

  std::string Synopsis() const override { return "Execute a command holding a lock"; }
  std::string Help() const override {
    return "Usage: gangway lock [options] prefix child...\n\n"
           "  Acquires a lock or semaphore at a given path, and invokes a child process\n"
           "  when successful. The child process can assume the lock is held while it\n"
           "  executes. If the lock is lost or communication is disrupted the child\n"
           "  process will be sent a SIGTERM signal and given time to gracefully exit.\n"
           "  After the grace period expires the process will be hard terminated.\n\n"
           "  For Gangway agents on Windows, the child process is always hard terminated\n"
           "  with a SIGKILL, since Windows has no POSIX compatible notion for SIGTERM.\n\n"
           "  When -n=1, only a single lock holder or leader exists providing mutual\n"
           "  exclusion. Setting a higher value switches to a semaphore allowing multiple\n"
           "  holders to coordinate.\n\n"
           "  The prefix provided must have write privileges.\n\n" +
           flags_.Usage();
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (limit_ <= 0) return Fail("Lock holder limit must be positive");
    const auto& rest = flags_.Args();
    if (rest.size() < 2) return Fail("Key prefix and child command must be specified");
    std::string text = !timeout_text_.empty() ? timeout_text_ : try_text_;
    if (!text.empty()) {
      auto d = ParseDuration(text);
      if (!d.ok() || d->count() < 0) return Fail("Timeout must be positive");
      timeout_ = *d;
    }
    if (monitor_retry_ < 0) return Fail("Number for 'monitor-retry' must be >= 0");
    prefix_ = rest[0];
    if (!prefix_.empty() && prefix_[0] == '/') prefix_.erase(0, 1);
    std::string child;
    for (size_t i = 1; i < rest.size(); ++i) child += (i > 1 ? " " : "") + rest[i];
    child_args_.assign(rest.begin() + 1, rest.end());
    if (name_.empty()) name_ = "Consul lock for '" + child + "' at '" + prefix_ + "'";

    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return Fail("Error connecting to Gangway agent: " + client.status().message());
    client_.emplace(std::move(*client));

    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

    auto session = CreateSession();
    if (!session.ok()) return Fail("Lock acquisition failed: " + session.status().message());
    session_ = *session;
    std::thread renewer([this] { RenewLoop(); });
    auto acquired = limit_ == 1 ? AcquireLock() : AcquireSemaphore();
    int code = 0;
    if (!acquired.ok()) {
      Fail("Lock acquisition failed: " + acquired.status().message());
      code = 1;
    } else if (!*acquired) {
      Fail("Shutdown triggered or timeout during lock acquisition");
      code = 1;
    } else {
      Verbose("Lock acquired");
      std::thread monitor([this] { MonitorLoop(); });
      code = RunChild();
      stop_.Stop();
      monitor.join();
      Release();
    }
    stop_.Stop();
    renewer.join();
    (void)client_->Put("/v1/session/destroy/" + session_);
    return code;
  }

 private:
  int Fail(const std::string& msg) {
    *env_.err << msg << "\n";
    return 1;
  }
  void Verbose(const std::string& msg) {
    if (verbose_) *env_.out << msg << "\n";
  }
  bool Interrupted() const { return g_signal.load() != 0; }

  Result<std::string> CreateSession() {
    Json body = {{"Name", name_}, {"TTL", kSessionTTL}};
    if (limit_ > 1) body["Behavior"] = "delete";
    auto r = client_->Put("/v1/session/create", {}, body.dump());
    if (!r.ok()) return r.status();
    Json j = ParseOr(*r, nullptr);
    if (!j.is_object() || !j.contains("ID") || !j["ID"].is_string()) {
      return Internal("unexpected session create answer: " + *r);
    }
    return j["ID"].get<std::string>();
  }

  // A blocking read of path (with ?index when index > 0), bounded by the deadline.
  Result<http::Response> BlockingGet(const std::string& path, Params params, uint64_t index,
                                     std::optional<Clock::time_point> deadline,
                                     const ApiClient* client = nullptr) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kWaitSlice);
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      wait = std::max(std::chrono::milliseconds(1), std::min(wait, left));
    }
    if (index > 0) {
      params.emplace_back("index", std::to_string(index));
      params.emplace_back("wait", std::to_string(wait.count()) + "ms");
    }
    return (client != nullptr ? *client : *client_).Send("GET", path, params);
  }

  std::optional<Clock::time_point> Deadline() const {
    if (timeout_.count() == 0) return std::nullopt;
    return Clock::now() + timeout_;
  }
  static bool Passed(const std::optional<Clock::time_point>& d) {
    return d && Clock::now() >= *d;
  }
  // Sleeps up to d, stopping early at the deadline or on a signal; false when it should give up.
  bool Pause(Clock::duration d, const std::optional<Clock::time_point>& deadline) {
    auto until = Clock::now() + d;
    if (deadline && *deadline < until) until = *deadline;
    while (Clock::now() < until) {
      if (Interrupted()) return false;
      std::this_thread::sleep_for(50ms);
    }
    return !Interrupted() && !Passed(deadline);
  }

  // api.Lock.Lock. Ok(false): interrupted or timed out.
  Result<bool> AcquireLock() {
    const std::string key = prefix_ + "/.lock";
    auto deadline = Deadline();
    uint64_t index = 0;
    while (!Interrupted() && !Passed(deadline)) {
      auto r = BlockingGet(KvPath(key), {}, index, deadline);
      if (!r.ok() && Interrupted()) break;
      if (!r.ok()) return r.status();
      if (r->status != 200 && r->status != 404) {
        return UnexpectedStatus(*r);
      }
      index = IndexOf(*r);
      if (r->status == 200) {
        Json pair = ParseOr(r->body, Json::array());
        if (pair.is_array() && !pair.empty()) {
          if (JsonInt(pair[0], "Flags") != static_cast<int64_t>(kLockFlagValue)) {
            return Internal("Existing key does not match lock use");
          }
          std::string holder = JsonString(pair[0], "Session");
          if (!holder.empty() && holder != session_) continue;  // held: wait for a change
        }
      }
      auto put = client_->Put(KvPath(key),
                              {{"acquire", session_}, {"flags", std::to_string(kLockFlagValue)}});
      if (!put.ok()) return put.status();
      if (*put == "true") return true;
      // Refused: the lock-delay of a previous holder, or a race. Consul's client waits 5 s.
      if (!Pause(kLockRetryTime, deadline)) break;
      index = 0;
    }
    return false;
  }

  static Status UnexpectedStatus(const http::Response& r) {
    return Internal("Unexpected response code: " + std::to_string(r.status) + " (" + r.body + ")");
  }

  // api.Semaphore.Acquire.
  Result<bool> AcquireSemaphore() {
    const std::string contender = prefix_ + "/" + session_;
    const std::string lock_key = prefix_ + "/.lock";
    auto made = client_->Put(KvPath(contender),
                             {{"acquire", session_}, {"flags", std::to_string(kSemaphoreFlagValue)}});
    if (!made.ok()) return made.status();
    if (*made != "true") return Internal("failed to make contender entry");
    auto deadline = Deadline();
    uint64_t index = 0;
    while (!Interrupted() && !Passed(deadline)) {
      auto r = BlockingGet(KvPath(prefix_ + "/"), {{"recurse", ""}}, index, deadline);
      if (!r.ok() && Interrupted()) break;
      if (!r.ok()) return r.status();
      if (r->status != 200 && r->status != 404) return UnexpectedStatus(*r);
      index = IndexOf(*r);
      Json pairs = r->status == 200 ? ParseOr(r->body, Json::array()) : Json::array();
      std::set<std::string> alive;  // sessions holding their contender keys
      Json lock = nullptr;
      for (const auto& p : pairs) {
        std::string k = JsonString(p, "Key");
        if (k == lock_key) {
          lock = p;
          continue;
        }
        std::string s = JsonString(p, "Session");
        if (!s.empty()) alive.insert(s);
      }
      Json doc = {{"Limit", limit_}, {"Holders", Json::object()}};
      uint64_t cas = 0;
      if (!lock.is_null()) {
        if (JsonInt(lock, "Flags") != static_cast<int64_t>(kSemaphoreFlagValue)) {
          return Internal("Existing key does not match semaphore use");
        }
        cas = static_cast<uint64_t>(JsonInt(lock, "ModifyIndex"));
        std::string raw;
        if (auto v = lock.find("Value"); v != lock.end() && v->is_string()) {
          auto decoded = Base64Decode(v->get<std::string>());
          if (decoded.ok()) raw = *decoded;
        }
        Json existing = ParseOr(raw, nullptr);
        if (!existing.is_object()) return Internal("Failed to unmarshal semaphore: " + raw);
        int64_t their = existing.contains("Limit") && existing["Limit"].is_number_integer()
                            ? existing["Limit"].get<int64_t>()
                            : 0;
        if (their != limit_) {
          return Internal("Semaphore limit conflict (lock: " + std::to_string(their) +
                          ", local: " + std::to_string(limit_) + ")");
        }
        if (existing.contains("Holders") && existing["Holders"].is_object()) {
          for (const auto& [holder, v] : existing["Holders"].items()) {
            if (alive.count(holder) > 0) doc["Holders"][holder] = true;  // prune the dead
          }
        }
      }
      if (static_cast<int64_t>(doc["Holders"].size()) >= limit_) continue;  // full: wait
      doc["Holders"][session_] = true;
      auto put = client_->Put(KvPath(lock_key),
                              {{"cas", std::to_string(cas)},
                               {"flags", std::to_string(kSemaphoreFlagValue)}},
                              doc.dump());
      if (!put.ok()) return put.status();
      if (*put == "true") return true;
      index = 0;  // lost a race on the CAS: look again at once
    }
    return false;
  }

  // Whether we still hold the lock, from one read; Ok(false) when lost.
  Result<bool> StillHeld(const ApiClient& client, uint64_t* index) {
    const std::string key = prefix_ + "/.lock";
    auto r = BlockingGet(KvPath(key), {}, *index, std::nullopt, &client);
    if (!r.ok()) return r.status();
    if (r->status == 404) return false;
    if (r->status != 200) return UnexpectedStatus(*r);
    *index = IndexOf(*r);
    Json pair = ParseOr(r->body, Json::array());
    if (!pair.is_array() || pair.empty()) return false;
    if (limit_ == 1) return JsonString(pair[0], "Session") == session_;
    std::string raw;
    if (auto v = pair[0].find("Value"); v != pair[0].end() && v->is_string()) {
      auto decoded = Base64Decode(v->get<std::string>());
      if (decoded.ok()) raw = *decoded;
    }
    Json doc = ParseOr(raw, nullptr);
    return doc.is_object() && doc.contains("Holders") && doc["Holders"].is_object() &&
           doc["Holders"].contains(session_);
  }

  void MonitorLoop() {
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) {
      lost_.store(true);
      return;
    }
    uint64_t index = 0;
    int failures = 0;
    while (!stop_.stopped()) {
      auto held = StillHeld(*client, &index);
      if (stop_.stopped()) return;
      if (!held.ok()) {
        if (++failures > monitor_retry_) {
          lost_.store(true);
          return;
        }
        stop_.Sleep(kMonitorRetryTime);
        continue;
      }
      failures = 0;
      if (!*held) {
        lost_.store(true);
        return;
      }
    }
  }

  void RenewLoop() {
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return;
    while (stop_.Sleep(kRenewEvery)) {
      auto r = client->Send("PUT", "/v1/session/renew/" + session_);
      if (r.ok() && r->status == 404) {
        lost_.store(true);  // the session is gone, and the lock with it
        return;
      }
    }
  }

  int RunChild() {
    // Everything the child needs is built before fork: other threads are running, so between
    // fork and exec the child only calls async-signal-safe functions.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).starts_with("CONSUL_LOCK_HELD=")) continue;
      env_strings.emplace_back(*e);
    }
    env_strings.emplace_back("CONSUL_LOCK_HELD=true");
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string joined;
    for (size_t i = 0; i < child_args_.size(); ++i) joined += (i ? " " : "") + child_args_[i];
    const char* shell_env = getenv("SHELL");
    std::string shell = shell_env != nullptr && *shell_env ? shell_env : "/bin/sh";
    std::string dash_c = "-c";
    std::vector<char*> argv;
    if (shell_) {
      argv = {shell.data(), dash_c.data(), joined.data(), nullptr};
    } else {
      for (auto& a : child_args_) argv.push_back(a.data());
      argv.push_back(nullptr);
    }
    const int devnull = pass_stdin_ ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
      if (devnull >= 0) ::close(devnull);
      return Fail("Error running handler: fork failed");
    }
    if (pid == 0) {
      setpgid(0, 0);
      if (devnull >= 0) dup2(devnull, 0);
      if (shell_) {
        execve(argv[0], argv.data(), envp.data());
      } else {
        execvpe(argv[0], argv.data(), envp.data());
      }
      _exit(127);
    }
    if (devnull >= 0) ::close(devnull);
    setpgid(pid, pid);
    int status = 0;
    std::optional<Clock::time_point> kill_at;
    int forwarded = 0;
    for (;;) {
      pid_t done = waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      int sig = g_signal.load();
      if (sig != 0 && sig != forwarded) {
        kill(-pid, sig);
        forwarded = sig;
        if (!kill_at) kill_at = Clock::now() + kKillGrace;
      }
      if (lost_.load() && !kill_at) {
        *env_.err << "Lock lost, killing child\n";
        kill(-pid, SIGTERM);
        kill_at = Clock::now() + kKillGrace;
      }
      if (kill_at && Clock::now() >= *kill_at) {
        kill(-pid, SIGKILL);
        kill_at = Clock::time_point::max();
      }
      std::this_thread::sleep_for(20ms);
    }
    const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (failed) Verbose("Child process exited with an error");
    return child_exit_code_ && failed ? 2 : 0;
  }

  void Release() {
    if (lost_.load()) return;
    if (limit_ == 1) {
      const std::string key = KvPath(prefix_ + "/.lock");
      (void)client_->Put(key, {{"release", session_}, {"flags", std::to_string(kLockFlagValue)}});
      DeleteIfUnused(key, /*semaphore=*/false);
      return;
    }
    const std::string lock_key = prefix_ + "/.lock";
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto r = client_->Send("GET", KvPath(lock_key));
      if (!r.ok() || r->status != 200) break;
      Json pair = ParseOr(r->body, Json::array());
      if (!pair.is_array() || pair.empty()) break;
      std::string raw;
      if (auto v = pair[0].find("Value"); v != pair[0].end() && v->is_string()) {
        auto decoded = Base64Decode(v->get<std::string>());
        if (decoded.ok()) raw = *decoded;
      }
      Json doc = ParseOr(raw, nullptr);
      if (!doc.is_object() || !doc.contains("Holders") || !doc["Holders"].is_object()) break;
      doc["Holders"].erase(session_);
      auto put = client_->Put(
          KvPath(lock_key),
          {{"cas", std::to_string(JsonInt(pair[0], "ModifyIndex"))},
           {"flags", std::to_string(kSemaphoreFlagValue)}},
          doc.dump());
      if (put.ok() && *put == "true") break;
    }
    (void)client_->Delete(KvPath(prefix_ + "/" + session_));
    DeleteIfUnused(KvPath(lock_key), /*semaphore=*/true);
  }

  // api.Lock.Destroy / api.Semaphore.Destroy: the lock key goes when no one holds it (a CAS, so
  // a contender that just took it keeps it); "in use" is not an error.
  void DeleteIfUnused(const std::string& path, bool semaphore) {
    auto r = client_->Send("GET", path);
    if (!r.ok() || r->status != 200) return;
    Json pair = ParseOr(r->body, Json::array());
    if (!pair.is_array() || pair.empty()) return;
    if (!semaphore && !JsonString(pair[0], "Session").empty()) return;
    if (semaphore) {
      std::string raw;
      if (auto v = pair[0].find("Value"); v != pair[0].end() && v->is_string()) {
        auto decoded = Base64Decode(v->get<std::string>());
        if (decoded.ok()) raw = *decoded;
      }
      Json doc = ParseOr(raw, nullptr);
      if (!doc.is_object() || (doc.contains("Holders") && doc["Holders"].is_object() &&
                               !doc["Holders"].empty())) {
        return;
      }
    }
    (void)client_->Delete(path, {{"cas", std::to_string(JsonInt(pair[0], "ModifyIndex"))}});
  }

  Environment& env_;
  FlagSet flags_;
  HttpFlags http_;
  int64_t limit_ = 1;
  std::string name_;
  bool pass_stdin_ = false;
  bool shell_ = true;
  std::string timeout_text_;
  std::string try_text_;
  int64_t monitor_retry_ = 3;
  bool child_exit_code_ = false;
  bool verbose_ = false;

  std::chrono::nanoseconds timeout_{0};
  std::string prefix_;
  std::vector<std::string> child_args_;
  std::optional<ApiClient> client_;
  std::string session_;
  Stopper stop_;
  std::atomic<bool> lost_{false};
};

}  // namespace

std::unique_ptr<Command> NewLockCommand(Environment& env) {
  return std::make_unique<LockCommand>(env);
}

}  // namespace gangway::cli
