// A watch on one endpoint of an agent's HTTP API, as Consul's watch package runs one: blocking
// GETs with ?index=<last X-Consul-Index>&wait=..., re-armed after every answer; a callback when
// the index moves and the answer changed; a growing pause after errors; a fresh start (index 0)
// when the index goes backwards (the servers' state was restored or rebuilt). Runs on one
// net::EventLoop; create, use and destroy it on that loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "apiclient/client.h"
#include "apiclient/config.h"
#include "core/duration.h"
#include "core/loop.h"
#include "core/status.h"
#include "http/message.h"
#include "net/event_loop.h"

namespace gangway::apiclient {

struct WatchOptions {
  // Sent as ?wait= with every blocking query; the agent answers unchanged when it runs out.
  Duration wait = std::chrono::minutes(5);
  // After the n-th error in a row the watch pauses retry_base * n², at most retry_max
  // (Consul's watch: 5 s base, 20 s cap).
  Duration retry_base = std::chrono::seconds(5);
  Duration retry_max = std::chrono::seconds(20);
  // Added to each request (?dc=, ?filter=, ...); the watch adds index and wait.
  Params params;
  std::string token;  // X-Consul-Token when not empty
  // For an https agent address: the client context and the name the agent's certificate must
  // carry (the host when empty), as ApiClient has them.
  std::shared_ptr<const x509::TlsContext> tls;
  std::string tls_server_name;
};

class Watch {
 public:
  // A new answer: its X-Consul-Index and the whole 200 response.
  using Callback = std::function<void(uint64_t index, const http::Response& response)>;
  // A failed query (the agent unreachable, a non-200 answer, no X-Consul-Index) and how long the
  // watch waits before the next one.
  using ErrorCallback = std::function<void(const Status& error, Duration retry_in)>;

  // Starts watching `path` (escaped, without a query) on the agent at `address`; the first query
  // carries `index` (0: answer at once). Callbacks run on the loop, never inside the constructor,
  // and never after the Watch is destroyed. An https address needs options.tls.
  Watch(net::EventLoop& loop, AgentAddress address, std::string path, uint64_t index,
        Callback callback, WatchOptions options = {}, ErrorCallback on_error = nullptr);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // The index the next query sends.
  uint64_t index() const { return index_; }

 private:
  void Query();
  void OnAnswer(Result<http::Response> answer);
  void Retry(const Status& error);

  net::EventLoop& loop_;
  AgentAddress address_;
  std::string path_;
  uint64_t index_;
  Callback callback_;
  WatchOptions options_;
  ErrorCallback on_error_;
  int failures_ = 0;
  bool reported_ = false;
  std::string last_body_;
  std::unique_ptr<Timer> retry_timer_;
  // Answers that arrive after destruction find this expired.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The pause after `failures` errors in a row (1, 2, ...): base * failures², at most max.
Duration WatchBackoff(int failures, Duration base, Duration max);

}  // namespace gangway::apiclient
