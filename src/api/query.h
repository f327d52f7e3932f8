// Consul's query plumbing: ?index/?wait blocking queries, ?stale/?consistent, ?dc, and the
// X-Consul-* response headers. A query is a function of a WatchSet; Blocking() re-runs it when
// anything it read changes, until its index passes the client's or the wait ends.
// Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/backend.h"
#include "catalog/store.h"
#include "core/status.h"
#include "http/message.h"

namespace gangway::api {

inline constexpr std::chrono::seconds kDefaultQueryTime{300};
inline constexpr std::chrono::seconds kMaxQueryTime{600};

struct QueryOptions {
  bool blocking = false;
  catalog::Index min_index = 0;
  std::chrono::nanoseconds wait{kDefaultQueryTime};
  bool stale = false;
  bool consistent = false;
  std::chrono::milliseconds max_stale{0};  // with stale: 0 = any staleness
  std::string dc;
  std::string filter;
};

Status ParseQueryOptions(const http::Request& req, const std::string& local_dc, QueryOptions* out);

// A read: fills the response body/status and returns the index to report.
using QueryFn = std::function<catalog::Index(catalog::WatchSet* ws, http::Response* out)>;

// Runs fn now; if the request is blocking and nothing newer than min_index is there, waits for a
// change in what fn read (or the wait time, with Consul's jitter) and runs it again.
void Blocking(Backend& backend, const QueryOptions& opts, QueryFn fn,
              std::shared_ptr<http::Cancellation> cancel, http::Reply reply);

// Where a blocking query parks between runs. `watch` arms a one-shot callback for a change to
// what the last run read (the WatchSet it filled) and returns an id for `unwatch`. Blocking()
// uses the state store; agent-local data (user events) brings its own.
struct WatchHooks {
  std::function<catalog::WatchId(const catalog::WatchSet&, std::function<void()>)> watch;
  std::function<void(catalog::WatchId)> unwatch;
};

// Blocking() over other data than the state store; works on client agents too.
void BlockingWith(Backend& backend, const QueryOptions& opts, WatchHooks hooks, QueryFn fn,
                  std::shared_ptr<http::Cancellation> cancel, http::Reply reply);

// A parked request's read: fills the response (and the WatchSet with what it read) and says
// whether the answer is ready. final_run: the wait is over, answer whatever it is.
using ParkedRunFn =
    std::function<bool(bool final_run, catalog::WatchSet* ws, http::Response* out)>;

// The waiting shared by every blocking form (index, content hash): runs `run` now and after each
// change that `hooks` report, until it is ready, the wait (plus Consul's jitter of up to wait/16)
// ends, or the client goes away.
void Park(Backend& backend, std::chrono::nanoseconds wait, WatchHooks hooks, ParkedRunFn run,
          std::shared_ptr<http::Cancellation> cancel, http::Reply reply);

// Sets X-Consul-Index, -KnownLeader, -LastContact and friends.
void SetMetaHeaders(const Backend& backend, catalog::Index index, http::Response* r);

// Response helpers with Consul's content types.
http::Response JsonResponse(const catalog::Json& body, int status = 200);
http::Response ErrorResponse(int status, const std::string& message);
http::Response StatusResponse(const Status& s);  // maps Code to Consul's HTTP status

}  // namespace gangway::api
