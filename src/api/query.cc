#include "api/query.h"

#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/duration.h"
#include "core/strings.h"
#include "http/reply_group.h"

namespace gangway::api {

Status ParseQueryOptions(const http::Request& req, const std::string& local_dc, QueryOptions* out) {
  if (auto w = req.Query("wait")) {
    auto d = ParseDuration(*w);
    if (!d.ok() || d->count() < 0) return InvalidArgument("Invalid wait time");
    out->wait = *d;
    if (out->wait > kMaxQueryTime) out->wait = kMaxQueryTime;
    if (out->wait.count() == 0) out->wait = kDefaultQueryTime;
  }
  if (auto i = req.Query("index")) {
    if (i->empty() || i->size() > 20 || i->find_first_not_of("0123456789") != std::string::npos) {
      return InvalidArgument("Invalid index");
    }
    try {
      out->min_index = std::stoull(*i);
    } catch (...) {
      return InvalidArgument("Invalid index");
    }
    out->blocking = out->min_index > 0;
  }
  out->stale = req.Has("stale");
  out->consistent = req.Has("consistent");
  if (out->stale && out->consistent) {
    return InvalidArgument("Cannot specify ?stale with ?consistent, conflicting semantics.");
  }
  if (auto ms = req.Query("max_stale"); ms && !ms->empty()) {
    auto d = ParseDuration(*ms);
    if (!d.ok() || d->count() < 0) return InvalidArgument("Invalid max_stale value");
    out->max_stale = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  out->dc = local_dc;
  if (auto dc = req.Query("dc"); dc && !dc->empty()) out->dc = ToLower(*dc);
  if (auto f = req.Query("filter")) out->filter = *f;
  return Status::Ok();
}

void SetMetaHeaders(const Backend& backend, catalog::Index index, http::Response* r) {
  if (index == 0) index = 1;
  r->Set("X-Consul-Index", std::to_string(index));
  bool known = backend.server ? backend.server->KnownLeader() : false;
  r->Set("X-Consul-KnownLeader", known ? "true" : "false");
  r->Set("X-Consul-LastContact",
         std::to_string(backend.server ? backend.server->LastContactMs() : 0));
  r->Set("X-Consul-Effective-Consistency", "leader");
}

http::Response JsonResponse(const catalog::Json& body, int status) {
  auto r = http::Response::Json(status, body.dump());
  r.Set("Vary", "Accept-Encoding");
  return r;
}

http::Response ErrorResponse(int status, const std::string& message) {
  auto r = http::Response::Text(status, message);
  r.Set("Vary", "Accept-Encoding");
  return r;
}

http::Response StatusResponse(const Status& s) {
  int code = 500;
  switch (s.code()) {
    case Code::kOk: code = 200; break;
    case Code::kInvalidArgument: code = 400; break;
    case Code::kNotFound: code = 404; break;
    case Code::kConflict: code = 409; break;
    case Code::kPermissionDenied: code = 403; break;
    case Code::kMethodNotAllowed: code = 405; break;
    case Code::kTooLarge: code = 413; break;
    case Code::kRateLimited: code = 429; break;
    case Code::kUnavailable:
    case Code::kNoLeader:
    case Code::kPeerUnreachable:
    case Code::kInternal: code = 500; break;
  }
  return ErrorResponse(code, s.message());
}

namespace {

// One parked request. Holds itself alive through the watch / timer callbacks.
struct Waiter : std::enable_shared_from_this<Waiter> {
  WatchHooks hooks;
  ParkedRunFn run;
  http::Reply reply;
  std::unique_ptr<Timer> timer;
  catalog::WatchId watch = 0;
  bool done = false;

  void Release() {
    done = true;
    if (watch) hooks.unwatch(watch);
    watch = 0;
    timer.reset();
  }

  // Runs the read; replies when it says the answer is ready, otherwise waits for a change.
  void Run(bool final_run) {
    if (done) return;
    watch = 0;
    catalog::WatchSet ws;
    http::Response r;
    if (run(final_run, &ws, &r)) {
      Release();
      auto rep = std::move(reply);
      rep(std::move(r));
      return;
    }
    auto self = shared_from_this();
    watch = hooks.watch(ws, [self] {
      self->watch = 0;
      self->Run(false);
    });
  }
};

}  // namespace

// One parked query and the identical requests waiting on it.
struct SharedWait {
  std::string key;
  std::weak_ptr<SharedWaits> registry;
  http::ReplyGroup members;
  // The parked query's own cancellation: fired when the last member has gone.
  std::shared_ptr<http::Cancellation> upstream = std::make_shared<http::Cancellation>();
  bool answered = false;

  void Unregister();
  void Answer(http::Response r);
};

struct SharedWaits {
  std::unordered_map<std::string, std::shared_ptr<SharedWait>> parked;
};

void SharedWait::Unregister() {
  auto reg = registry.lock();
  if (!reg) return;
  if (auto it = reg->parked.find(key); it != reg->parked.end() && it->second.get() == this) {
    reg->parked.erase(it);
  }
}

void SharedWait::Answer(http::Response r) {
  answered = true;
  // Out of the registry first: a request arriving from here on runs its own read.
  Unregister();
  members.Send(std::move(r));
}

namespace {

void JoinShared(const std::shared_ptr<SharedWait>& g,
                const std::shared_ptr<http::Cancellation>& cancel, http::Reply reply) {
  http::ReplyGroup::Id id = g->members.Add(std::move(reply));
  if (!cancel) return;
  cancel->on_cancel = [weak = std::weak_ptr<SharedWait>(g), id] {
    auto g = weak.lock();
    if (!g || g->answered) return;
    g->members.Remove(id);
    if (!g->members.empty()) return;
    // The last member went away: release the parked query.
    g->answered = true;
    g->Unregister();
    if (auto fn = std::move(g->upstream->on_cancel)) fn();
  };
}

}  // namespace

std::string ShareKey(const http::Request& req) {
  std::string key = req.method;
  key.append(" ").append(req.target);
  for (const char* h : {"X-Consul-Token", "Authorization"}) {
    if (auto it = req.headers.find(h); it != req.headers.end()) {
      key.append("\n").append(h).append(": ").append(it->second);
    }
  }
  return key;
}

size_t SharedWaitCount(const Backend& backend) {
  return backend.shared_waits ? backend.shared_waits->parked.size() : 0;
}

size_t SharedWaitMembers(const Backend& backend) {
  size_t n = 0;
  if (!backend.shared_waits) return n;
  for (const auto& [k, g] : backend.shared_waits->parked) n += g->members.size();
  return n;
}

void Park(Backend& backend, std::chrono::nanoseconds wait, WatchHooks hooks, ParkedRunFn run,
          std::shared_ptr<http::Cancellation> cancel, http::Reply reply) {
  auto w = std::make_shared<Waiter>();
  w->hooks = std::move(hooks);
  w->run = std::move(run);
  w->reply = std::move(reply);
  w->Run(false);
  if (w->done) return;
  // Consul adds up to wait/16 of random jitter so many watchers do not return in lockstep.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto jitter_max = wait.count() / 16;
  if (jitter_max > 0) wait += std::chrono::nanoseconds(rng() % static_cast<uint64_t>(jitter_max));
  std::weak_ptr<Waiter> weak = w;
  w->timer = backend.loop->After(wait, [weak] {
    if (auto s = weak.lock()) s->Run(true);
  });
  if (cancel) {
    cancel->on_cancel = [weak] {
      if (auto s = weak.lock(); s && !s->done) s->Release();
    };
  }
}

void Blocking(Backend& backend, const QueryOptions& opts, QueryFn fn,
              std::shared_ptr<http::Cancellation> cancel, http::Reply reply) {
  WatchHooks hooks;
  if (backend.server) {
    catalog::Store* store = &backend.server->store();
    hooks.watch = [store](const catalog::WatchSet& ws, std::function<void()> fire) {
      return store->Watch(ws, std::move(fire));
    };
    hooks.unwatch = [store](catalog::WatchId id) { store->Unwatch(id); };
  }
  BlockingWith(backend, opts, std::move(hooks), std::move(fn), std::move(cancel),
               std::move(reply));
}

void BlockingWith(Backend& backend, const QueryOptions& opts, WatchHooks hooks, QueryFn fn,
                  std::shared_ptr<http::Cancellation> cancel, http::Reply reply) {
  if (!opts.blocking || !hooks.watch) {
    http::Response r;
    catalog::Index index = fn(nullptr, &r);
    SetMetaHeaders(backend, index, &r);
    reply(std::move(r));
    return;
  }
  // Ready when the index moved (either way: a restored snapshot can take it back) or on error.
  auto run = [&backend, min_index = opts.min_index, fn = std::move(fn),
              still_valid = opts.token_still_valid, first = true](
                 bool final_run, catalog::WatchSet* ws, http::Response* r) mutable {
    // A token deleted (or expired) while the query waited ends it (docs/acl.md).
    if (!first && still_valid && !still_valid()) {
      *r = ErrorResponse(403, "ACL not found");
      return true;
    }
    first = false;
    catalog::Index index = fn(ws, r);
    if (!final_run && index == min_index && r->status == 200) return false;
    SetMetaHeaders(backend, index, r);
    return true;
  };
  if (opts.share_key.empty()) {
    Park(backend, opts.wait, std::move(hooks), std::move(run), std::move(cancel),
         std::move(reply));
    return;
  }
  if (!backend.shared_waits) backend.shared_waits = std::make_shared<SharedWaits>();
  auto& parked = backend.shared_waits->parked;
  if (auto it = parked.find(opts.share_key); it != parked.end()) {
    JoinShared(it->second, cancel, std::move(reply));
    return;
  }
  auto g = std::make_shared<SharedWait>();
  g->key = opts.share_key;
  g->registry = backend.shared_waits;
  JoinShared(g, cancel, std::move(reply));
  Park(backend, opts.wait, std::move(hooks), std::move(run), g->upstream,
       [g](http::Response r) { g->Answer(std::move(r)); });
  // Answered by the first read (or already left): nothing parked to join.
  if (!g->answered) parked[g->key] = g;
}

}  // namespace gangway::api
