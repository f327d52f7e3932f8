#include "api/query.h"

#include <random>

#include "core/duration.h"
#include "core/strings.h"

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
    case Code::kUnavailable:
    case Code::kInternal: code = 500; break;
  }
  return ErrorResponse(code, s.message());
}

namespace {

// One pending blocking query. Holds itself alive through the store watch / timer callbacks.
struct Waiter : std::enable_shared_from_this<Waiter> {
  Backend* backend;
  WatchHooks hooks;
  QueryOptions opts;
  QueryFn fn;
  http::Reply reply;
  std::unique_ptr<Timer> timer;
  catalog::WatchId watch = 0;
  bool done = false;

  void Finish(http::Response r, catalog::Index index) {
    if (done) return;
    done = true;
    if (watch) hooks.unwatch(watch);
    watch = 0;
    timer.reset();
    SetMetaHeaders(*backend, index, &r);
    auto rep = std::move(reply);
    rep(std::move(r));
  }

  void Cancel() {
    if (done) return;
    done = true;
    if (watch) hooks.unwatch(watch);
    watch = 0;
    timer.reset();
  }

  // Runs the query; replies when the result is newer than the client's index.
  void Run(bool final_run) {
    if (done) return;
    watch = 0;
    catalog::WatchSet ws;
    http::Response r;
    catalog::Index index = fn(&ws, &r);
    if (final_run || index > opts.min_index || index < opts.min_index || r.status != 200) {
      Finish(std::move(r), index);
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
  auto w = std::make_shared<Waiter>();
  w->backend = &backend;
  w->hooks = std::move(hooks);
  w->opts = opts;
  w->fn = std::move(fn);
  w->reply = std::move(reply);
  w->Run(false);
  if (w->done) return;
  // Consul adds up to wait/16 of random jitter so many watchers do not return in lockstep.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto jitter_max = opts.wait.count() / 16;
  std::chrono::nanoseconds wait = opts.wait;
  if (jitter_max > 0) wait += std::chrono::nanoseconds(rng() % static_cast<uint64_t>(jitter_max));
  std::weak_ptr<Waiter> weak = w;
  w->timer = backend.loop->After(wait, [weak] {
    if (auto s = weak.lock()) s->Run(true);
  });
  if (cancel) {
    cancel->on_cancel = [weak] {
      if (auto s = weak.lock()) s->Cancel();
    };
  }
}

}  // namespace gangway::api
