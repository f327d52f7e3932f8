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
  // Blocking requests with the same non-empty key are answered alike, so one parked query can
  // serve them all (see BlockingWith). HttpApi sets it for plain blocking GETs: method, target
  // and token. Empty: never shared.
  std::string share_key;
  // With ACLs: whether the request's token still resolves; a blocking query asks after each
  // wake and answers 403 "ACL not found" once it does not. Null: never asked.
  std::function<bool()> token_still_valid;
};

// The share_key of a request: method, raw target (path and query string, so also ?index and
// ?wait) and the token headers.
std::string ShareKey(const http::Request& req);

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
//
// With opts.share_key set, a request that finds a parked query with the same key joins it
// instead of running its own: the query's one answer (its body rendered once and shared, see
// http::Response::shared_body) goes to every member. A query is joinable only while parked, i.e.
// while its last read saw nothing newer than the shared ?index; the first answer removes it, so a
// later request runs afresh. A member that goes away leaves the group; the last one releases the
// parked query. Members get the answer when the first one's wait (with its jitter) ends.
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

// Blocking queries parked under a share key now, and the requests waiting on them (for tests).
size_t SharedWaitCount(const Backend& backend);
size_t SharedWaitMembers(const Backend& backend);

// Sets X-Consul-Index, -KnownLeader, -LastContact and friends.
void SetMetaHeaders(const Backend& backend, catalog::Index index, http::Response* r);

// Response helpers with Consul's content types.
http::Response JsonResponse(const catalog::Json& body, int status = 200);
http::Response ErrorResponse(int status, const std::string& message);
http::Response StatusResponse(const Status& s);  // maps Code to Consul's HTTP status

}  // namespace gangway::api
