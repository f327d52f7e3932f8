// The one translation unit of the proxy that instantiates Asio templates (sockets, TLS streams,
// coroutines): everything protocol-shaped lives in plain files beside it.
#include "proxy/runtime.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "identity/sni.h"
#include "proxy/admin.h"
#include "proxy/authz.h"
#include "proxy/balancer.h"
#include "proxy/http_router.h"
#include "proxy/inbound_http.h"
#include "proxy/listen_socket.h"
#include "proxy/mux_session.h"
#include "proxy/segment.h"
#include "proxy/tls.h"
#include "proxy/tls_stream.h"

namespace gangway::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr std::string_view kLog = "proxy";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string PeerOf(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// One applied config with everything derived from it once: TLS contexts, cluster states and
// the counters its listeners and clusters bump. Immutable once posted; shared by the workers
// and by every connection that started under it.
// An http_route chain's router and its counters, built once per snapshot.
struct RouteTable {
  HttpRouter router;
  std::vector<std::shared_ptr<RouteCounters>> counters;  // one per route
  std::shared_ptr<RouteCounters> unmatched;              // requests no route took
};

struct Snapshot {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const MeshTls> tls;  // null without a leaf (a mesh gateway)
  std::unique_ptr<ssl::context> server_ctx;
  std::unique_ptr<ssl::context> client_ctx;
  std::map<std::string, std::unique_ptr<ClusterState>, std::less<>> clusters;  // lower-case name
  std::map<std::string, const Listener*, std::less<>> listeners;
  std::map<std::string, std::shared_ptr<ListenerCounters>, std::less<>> listener_counters;
  std::map<const FilterChain*, std::unique_ptr<RouteTable>> routes;
  std::unique_ptr<InboundAuthz> inbound_authz;  // a connect-proxy's authz, for inbound_http chains

  ClusterState* FindCluster(std::string_view name) const {
    auto it = clusters.find(Lower(name));
    return it == clusters.end() ? nullptr : it->second.get();
  }
};

struct Connection;
struct State;
struct ClientMux;
// A client mux connection is found by the endpoint it goes to: the ClusterState (of the snapshot
// it was dialed under) and the endpoint's index.
using MuxKey = std::pair<const ClusterState*, size_t>;

struct Worker {
  State* rt = nullptr;
  int index = 0;
  std::unique_ptr<asio::io_context> io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::shared_ptr<const Snapshot> current;
  std::map<std::string, std::shared_ptr<tcp::acceptor>> acceptors;
  std::shared_ptr<tcp::acceptor> admin;
  std::unordered_map<uint64_t, Connection*> connections;
  std::multimap<MuxKey, std::shared_ptr<ClientMux>> mux;  // docs/mux.md
  uint64_t next_id = 0;
  std::thread thread;

  ~Worker() {
    // Acceptors and pending handlers need the io_context; the io_context's pending handlers
    // (connection frames) need `connections`. So: acceptors, then the io_context, then the rest.
    acceptors.clear();
    admin.reset();
    mux.clear();
    guard.reset();
    io.reset();
  }
};

// Everything the runtime shares between its owner thread and its workers.
struct State {
  RuntimeOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  bool started = false;
  bool stopped = false;
  std::atomic<bool> ready{false};
  std::atomic<int> admin_port{0};  // read by AdminPort() from any thread

  // Owner thread only.
  struct Bound {
    std::string address;
    int requested_port = 0;
  };
  std::map<std::string, Bound> bound;
  std::shared_ptr<const Snapshot> current;
  // Passive health by cluster name and endpoint address, kept across snapshots; with the
  // endpoint's catalog health in the last applied config.
  struct Outlier {
    std::shared_ptr<EndpointOutlier> state;
    Endpoint::Health health = Endpoint::Health::kPassing;
  };
  using ClusterOutliers = std::map<std::string, Outlier>;
  std::map<std::string, ClusterOutliers> outliers;

  // Any thread, under mu.
  mutable std::mutex mu;
  std::map<std::string, int, std::less<>> ports;
  std::map<std::string, std::shared_ptr<ListenerCounters>, std::less<>> listener_counters;
  std::map<std::string, std::shared_ptr<ClusterCounters>, std::less<>> cluster_counters;
  std::map<std::string, std::shared_ptr<RouteCounters>, std::less<>> route_counters;
  std::atomic<uint64_t> version{0};

  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> connection_errors{0};
  std::mutex drain_mu;
  std::condition_variable drained;

  void ConnectionEnded() {
    if (active.fetch_sub(1) == 1) {
      std::lock_guard lock(drain_mu);
      drained.notify_all();
    }
  }

  RuntimeStats Stats() const {
    RuntimeStats out;
    out.version = version.load();
    out.active_connections = active.load();
    out.connection_errors = connection_errors.load();
    std::lock_guard lock(mu);
    for (const auto& [name, c] : listener_counters) {
      out.listeners.push_back(Read(name, *c));
      auto it = ports.find(name);
      out.listeners.back().port = it == ports.end() ? 0 : it->second;
    }
    for (const auto& [name, c] : cluster_counters) out.clusters.push_back(Read(name, *c));
    for (const auto& [name, c] : route_counters) out.routes.push_back(Read(name, *c));
    return out;
  }
};

// One downstream connection and, once dialed, its upstream. Lives in its coroutine's frame and
// on its worker's list, so Drain can close its sockets.
struct Connection {
  Worker* w;
  uint64_t id;
  std::shared_ptr<const Snapshot> snap;
  const Listener* listener;
  ListenerCounters* lc;
  tcp::socket down;
  tcp::socket up;
  std::string peer;
  ClusterState* cluster = nullptr;  // the cluster of the endpoint dialed
  size_t endpoint = 0;
  std::function<void()> close_extra;  // closes what else the connection holds (L7 upstreams)
  std::function<void()> drain;        // a mux server connection: no new streams (docs/mux.md)
  // A public listener's client, once its certificate verified and authz let it in: every later
  // config's authz is checked against it (CloseNewlyDenied).
  std::string peer_id;
  bool revoked = false;  // closed by a later config's authz; counted and logged once
  // On an inbound_http chain each request is checked against the newest authz instead: a deny
  // answers the next request 403 rather than closing the connection.
  bool per_request_authz = false;

  Connection(Worker* worker, std::shared_ptr<const Snapshot> s, const Listener* l,
             tcp::socket socket)
      : w(worker),
        id(++worker->next_id),
        snap(std::move(s)),
        listener(l),
        lc(snap->listener_counters.at(l->name).get()),
        down(std::move(socket)),
        up(*worker->io),
        peer(PeerOf(down)) {
    w->connections[id] = this;
    w->rt->active.fetch_add(1);
    lc->accepted.fetch_add(1, kRelaxed);
    lc->active.fetch_add(1, kRelaxed);
  }

  ~Connection() {
    if (cluster != nullptr) {
      cluster->Release(endpoint);
      cluster->counters().active.fetch_sub(1, kRelaxed);
    }
    lc->active.fetch_sub(1, kRelaxed);
    w->connections.erase(id);
    w->rt->ConnectionEnded();
  }

  void Close() {
    error_code ignored;
    down.close(ignored);
    up.close(ignored);
    if (close_extra) close_extra();
  }

  // Gives up the upstream dialed (its handshake failed) so that another endpoint can be dialed.
  void Undial() {
    if (cluster != nullptr) {
      cluster->Release(endpoint);
      cluster->counters().active.fetch_sub(1, kRelaxed);
      cluster = nullptr;
    }
    error_code ignored;
    up.close(ignored);
  }

  // Logs before counting, so whoever sees the count can also read the line.
  void Refuse(RefuseReason reason, std::string_view detail) {
    // A revoked connection had been let in: it is closed, not refused.
    const char* verb = reason == RefuseReason::kRevoked ? " closed: " : " refused: ";
    Log(reason == RefuseReason::kEmpty ? LogLevel::kDebug : LogLevel::kWarn, kLog,
        "listener=" + listener->name + " peer=" + peer + verb +
            std::string(RefuseReasonName(reason)) + ": " + std::string(detail));
    lc->Refuse(reason);
    Close();
  }
};

// Closes the established connections of `w` whose client the authz of the worker's current
// snapshot denies. Consul leaves them open until they end; here an intention changed to deny (or
// a default turned to deny) also stops the traffic already flowing, since an operator who writes
// a deny means it. Runs on the worker, right after a new snapshot is installed.
void CloseNewlyDenied(Worker& w) {
  const Authz& authz = w.current->config->authz;
  for (auto& [id, c] : w.connections) {
    if (c->peer_id.empty() || c->revoked || c->per_request_authz) continue;
    AuthzDecision decision = Authorize(authz, c->peer_id);
    if (decision.allowed) continue;
    c->revoked = true;
    c->Refuse(RefuseReason::kRevoked, c->peer_id + ": " + decision.reason + " (config version " +
                                          std::to_string(w.current->config->version) + ")");
  }
}

// The endpoints to try for `primary`, in order: its usable ones, then those of its failover
// clusters, so that a connection whose primary endpoints all fail moves on to the failover
// (docs/proxy.md, "Failover"). Endpoints ejected by recent failures are left out, unless that
// leaves none at all: then passive health is ignored rather than refusing what the catalog
// calls healthy (Envoy's panic threshold, at 100%).
std::vector<std::pair<ClusterState*, size_t>> Candidates(const Snapshot& snap,
                                                         ClusterState* primary) {
  const auto now = EndpointOutlier::Clock::now();
  std::vector<ClusterState*> clusters{primary};
  for (const auto& name : primary->cluster().failover) {
    if (ClusterState* fo = snap.FindCluster(name)) clusters.push_back(fo);
  }
  std::vector<std::pair<ClusterState*, size_t>> candidates;
  for (bool include_ejected : {false, true}) {
    for (ClusterState* cs : clusters) {
      for (size_t i : cs->PickOrder(now, include_ejected)) candidates.emplace_back(cs, i);
    }
    if (!candidates.empty()) break;
  }
  return candidates;
}

// Connects `socket` to endpoint `i` of `cs` within the cluster's connect timeout, resolving a DNS
// name first. Counts a failure on the cluster; a success is counted by the caller.
asio::awaitable<error_code> ConnectEndpoint(tcp::socket& socket, ClusterState* cs, size_t i) {
  auto ex = co_await asio::this_coro::executor;
  const Endpoint& ep = cs->cluster().endpoints[i];
  asio::steady_timer timer(ex);
  timer.expires_after(cs->cluster().connect_timeout);
  error_code ec;
  std::vector<tcp::endpoint> targets;
  auto address = asio::ip::make_address(ep.address, ec);
  if (!ec) {
    targets.emplace_back(address, static_cast<uint16_t>(ep.port));
  } else {
    tcp::resolver resolver(ex);
    auto r = co_await (resolver.async_resolve(ep.address, std::to_string(ep.port), kTuple) ||
                       timer.async_wait(kTuple));
    if (r.index() == 0) {
      auto& [rec, results] = std::get<0>(r);
      ec = rec;
      for (const auto& entry : results) targets.push_back(entry.endpoint());
    } else {
      ec = asio::error::timed_out;
    }
  }
  for (const auto& target : targets) {
    socket = tcp::socket(ex);
    auto r = co_await (socket.async_connect(target, kTuple) || timer.async_wait(kTuple));
    ec = r.index() == 0 ? std::get<0>(std::get<0>(r)) : error_code(asio::error::timed_out);
    if (!ec) break;
  }
  if (!ec && targets.empty()) ec = asio::error::host_not_found;
  if (ec) {
    cs->counters().connect_failures.fetch_add(1, kRelaxed);
    error_code ignored;
    socket.close(ignored);
    co_return ec;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  co_return ec;
}

// Counts a failed connection to endpoint `i` of `cs` towards its ejection, and logs the ejection.
void NoteFailure(const Connection& c, ClusterState* cs, size_t i) {
  if (!cs->ReportFailure(i, EndpointOutlier::Clock::now())) return;
  const Endpoint& ep = cs->cluster().endpoints[i];
  LogWarn(kLog, "listener=" + c.listener->name + " cluster=" + cs->cluster().name + " endpoint " +
                    ep.address + ":" + std::to_string(ep.port) + " ejected after " +
                    std::to_string(cs->outlier(i).consecutive_failures()) +
                    " consecutive connection failures");
}

// Connects `socket` to the candidates from `next` on, each at most once, each within its
// cluster's connect timeout, and leaves `next` after the one connected. A failure counts towards
// the endpoint's ejection and is added to `tried`. The endpoint connected; nullopt when none
// answered or `c` was revoked meanwhile.
asio::awaitable<std::optional<std::pair<ClusterState*, size_t>>> ConnectFirst(
    const Connection& c, tcp::socket& socket,
    const std::vector<std::pair<ClusterState*, size_t>>& candidates, size_t& next,
    std::string& tried) {
  while (next < candidates.size()) {
    auto [cs, i] = candidates[next++];
    const Endpoint& ep = cs->cluster().endpoints[i];
    std::string where = ep.address + ":" + std::to_string(ep.port);
    error_code ec = co_await ConnectEndpoint(socket, cs, i);
    // Closed by a new authz while dialing: counted and logged already, and no other endpoint
    // is to be tried.
    if (c.revoked) co_return std::nullopt;
    if (!ec) co_return std::pair{cs, i};
    LogDebug(kLog, "listener=" + c.listener->name + " cluster=" + cs->cluster().name +
                       " endpoint " + where + ": connect failed: " + ec.message());
    NoteFailure(c, cs, i);
    tried += (tried.empty() ? "" : ", ") + where + " (" + ec.message() + ")";
  }
  co_return std::nullopt;
}

// Records that `c` goes to endpoint `i` of `cs` (a failover cluster of `primary`, or itself):
// the endpoint's share for the balancer and the cluster's counters, released by ~Connection.
void Assign(Connection& c, ClusterState* primary, ClusterState* cs, size_t i) {
  if (cs != primary) {
    LogDebug(kLog, "listener=" + c.listener->name + " cluster=" + primary->cluster().name +
                       ": failing over to " + cs->cluster().name);
  }
  c.cluster = cs;
  c.endpoint = i;
  cs->Acquire(i);
  cs->counters().connections.fetch_add(1, kRelaxed);
  cs->counters().active.fetch_add(1, kRelaxed);
}

// Dials the candidates of `primary` from `next` on (ConnectFirst) into `c.up`. The caller
// reports the success once the connection is fully up. nullopt on success; else the connection
// is refused, with `tried` in the reason.
asio::awaitable<std::optional<RefuseReason>> DialNext(
    Connection& c, ClusterState* primary,
    const std::vector<std::pair<ClusterState*, size_t>>& candidates, size_t& next,
    std::string& tried) {
  if (candidates.empty()) {
    c.Refuse(RefuseReason::kNoHealthyEndpoint, "cluster " + primary->cluster().name);
    co_return RefuseReason::kNoHealthyEndpoint;
  }
  auto got = co_await ConnectFirst(c, c.up, candidates, next, tried);
  if (c.revoked) co_return RefuseReason::kRevoked;
  if (!got) {
    c.Refuse(RefuseReason::kConnectFailed, "cluster " + primary->cluster().name + ": " + tried);
    co_return RefuseReason::kConnectFailed;
  }
  Assign(c, primary, got->first, got->second);
  co_return std::nullopt;
}

// Dials an endpoint of `primary`, or of its failover clusters (Candidates). nullopt on success.
asio::awaitable<std::optional<RefuseReason>> Dial(Connection& c, ClusterState* primary) {
  std::vector<std::pair<ClusterState*, size_t>> candidates = Candidates(*c.snap, primary);
  size_t next = 0;
  std::string tried;
  auto refused = co_await DialNext(c, primary, candidates, next, tried);
  if (!refused) c.cluster->ReportSuccess(c.endpoint);
  co_return refused;
}

// Copies src → dst until src ends. On a clean end, half-closes a plain dst and leaves the other
// direction running; a TLS dst cannot be half-closed without a concurrent shutdown, so (as
// Consul's built-in proxy does) the whole connection closes then, as it does on any error.
// The buffer starts small (most connections carry small messages, and each holds one buffer per
// direction for its whole life) and grows to a TLS record's size once a read fills it.
template <typename Src, typename Dst>
asio::awaitable<void> Pump(Connection& c, Src& src, Dst& dst, bool dst_is_tls,
                           std::atomic<uint64_t>& read_counter,
                           std::atomic<uint64_t>& write_counter) {
  constexpr size_t kFirst = 4 * 1024;
  constexpr size_t kMost = 16 * 1024;
  size_t size = kFirst;
  auto buf = std::make_unique_for_overwrite<char[]>(size);
  error_code ec;
  for (;;) {
    auto [rec, n] = co_await src.async_read_some(asio::buffer(buf.get(), size), kTuple);
    if (n > 0) {
      read_counter.fetch_add(n, kRelaxed);
      auto [wec, written] = co_await asio::async_write(dst, asio::buffer(buf.get(), n), kTuple);
      write_counter.fetch_add(written, kRelaxed);
      if (wec) {
        ec = wec;
        break;
      }
      if (n == size && size < kMost) {
        size = kMost;
        buf = std::make_unique_for_overwrite<char[]>(size);
      }
    }
    if (rec) {
      ec = rec;
      break;
    }
  }
  bool clean = ec == asio::error::eof || ec == ssl::error::stream_truncated;
  if (clean && !dst_is_tls) {
    error_code ignored;
    if constexpr (std::is_same_v<Dst, tcp::socket>) {
      dst.shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      dst.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
    }
  } else {
    c.Close();
  }
}

enum class Burst { kDrained, kEnd, kFailed };

#ifdef __linux__
// Moves what src has now to dst through `pipe_fds` with splice(2), `chunk` bytes at a time at
// most, until src would block.
asio::awaitable<Burst> SpliceBurst(tcp::socket& src, tcp::socket& dst, const int pipe_fds[2],
                                   size_t chunk, std::atomic<uint64_t>& read_counter,
                                   std::atomic<uint64_t>& write_counter) {
  for (;;) {
    ssize_t n = ::splice(src.native_handle(), nullptr, pipe_fds[1], nullptr, chunk,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) co_return Burst::kEnd;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) co_return Burst::kDrained;
      if (errno == EINTR) continue;
      co_return Burst::kFailed;
    }
    read_counter.fetch_add(static_cast<uint64_t>(n), kRelaxed);
    size_t in_pipe = static_cast<size_t>(n);
    while (in_pipe > 0) {
      ssize_t m = ::splice(pipe_fds[0], nullptr, dst.native_handle(), nullptr, in_pipe,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          auto [wec] = co_await dst.async_wait(tcp::socket::wait_write, kTuple);
          if (wec) co_return Burst::kFailed;
          continue;
        }
        if (errno == EINTR) continue;
        co_return Burst::kFailed;
      }
      in_pipe -= static_cast<size_t>(m);
      write_counter.fetch_add(static_cast<uint64_t>(m), kRelaxed);
    }
  }
}
#endif

// Moves bytes src → dst. Every wake-up reads into a small buffer first: a small message then
// costs one recv and one send, and Asio waits for the next one without re-arming epoll. A read
// that fills the buffer means a burst: the rest of it moves with splice(2) through a pipe (opened
// on the first burst), so bulk bytes never enter user space. Half-closes dst at src's end.
asio::awaitable<void> Splice(Connection& c, tcp::socket& src, tcp::socket& dst,
                             std::atomic<uint64_t>& read_counter,
                             std::atomic<uint64_t>& write_counter) {
  constexpr size_t kSmall = 4 * 1024;
  auto buf = std::make_unique_for_overwrite<char[]>(kSmall);
  int pipe_fds[2] = {-1, -1};
  bool can_splice = true;
  bool clean = false;
  for (;;) {
    auto [rec, n] = co_await src.async_read_some(asio::buffer(buf.get(), kSmall), kTuple);
    if (n > 0) {
      read_counter.fetch_add(n, kRelaxed);
      auto [wec, written] = co_await asio::async_write(dst, asio::buffer(buf.get(), n), kTuple);
      write_counter.fetch_add(written, kRelaxed);
      if (wec) break;
    }
    if (rec) {
      clean = rec == asio::error::eof;
      break;
    }
    if (n < kSmall) continue;
#ifdef __linux__
    if (pipe_fds[0] < 0 && can_splice) {
      error_code src_ec;
      error_code dst_ec;
      if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) pipe_fds[0] = pipe_fds[1] = -1;
      src.native_non_blocking(true, src_ec);
      dst.native_non_blocking(true, dst_ec);
      can_splice = pipe_fds[0] >= 0 && !src_ec && !dst_ec;
    }
    if (!can_splice) continue;
    const size_t chunk = SegmentChunk(static_cast<int>(dst.native_handle()));
    Burst burst = co_await SpliceBurst(src, dst, pipe_fds, chunk, read_counter, write_counter);
    if (burst == Burst::kDrained) continue;
    clean = burst == Burst::kEnd;
    break;
#else
    can_splice = false;
#endif
  }
  if (pipe_fds[0] >= 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
  }
  if (clean) {
    error_code ignored;
    dst.shutdown(tcp::socket::shutdown_send, ignored);
  } else {
    c.Close();
  }
}

const FilterChain* PlainChain(const Listener& listener) {
  if (const FilterChain* chain = MatchChain(listener, "")) return chain;
  return listener.chains.empty() ? nullptr : &listener.chains.front();
}

asio::awaitable<void> ServeInboundHttp(Connection& c, TlsStream& tls,
                                       ClusterState* app);

// A stream a mux client opened on a public listener's connection: a connection to the local app
// (docs/mux.md), found in the worker's newest config (the connection may be older than the app's
// current address). A stream the app does not accept is reset, with the refusal logged and
// counted as a refused connection would be.
asio::awaitable<void> ServeStream(Connection& c, std::shared_ptr<MuxStream> s,
                                  std::string app_name) {
  tcp::socket socket(co_await asio::this_coro::executor);
  std::shared_ptr<const Snapshot> snap = c.w->current;
  ClusterState* app = snap->FindCluster(app_name);
  if (app == nullptr) {
    LogWarn(kLog, "listener=" + c.listener->name + " peer=" + c.peer + " stream " +
                      std::to_string(s->id()) + " refused: unknown_cluster: " + app_name);
    c.lc->Refuse(RefuseReason::kUnknownCluster);
    s->Reset("unknown_cluster: " + app_name);
    co_return;
  }
  std::vector<std::pair<ClusterState*, size_t>> candidates = Candidates(*snap, app);
  size_t next = 0;
  std::string tried;
  std::optional<std::pair<ClusterState*, size_t>> got;
  if (!candidates.empty()) got = co_await ConnectFirst(c, socket, candidates, next, tried);
  if (!got) {
    RefuseReason reason =
        candidates.empty() ? RefuseReason::kNoHealthyEndpoint : RefuseReason::kConnectFailed;
    std::string detail = "cluster " + app->cluster().name + (tried.empty() ? "" : ": " + tried);
    LogWarn(kLog, "listener=" + c.listener->name + " peer=" + c.peer + " stream " +
                      std::to_string(s->id()) + " refused: " +
                      std::string(RefuseReasonName(reason)) + ": " + detail);
    c.lc->Refuse(reason);
    s->Reset(std::string(RefuseReasonName(reason)) + ": " + detail);
    co_return;
  }
  auto [cs, i] = *got;
  cs->Acquire(i);
  ClusterCounters& cc = cs->counters();
  cc.connections.fetch_add(1, kRelaxed);
  cc.active.fetch_add(1, kRelaxed);
  cs->ReportSuccess(i);
  auto ended = co_await s->Relay(
      socket, RelayCounters{&cc.bytes_received, &c.lc->bytes_out, &c.lc->bytes_in, &cc.bytes_sent});
  if (!ended.clean && !c.revoked) {
    LogDebug(kLog, "listener=" + c.listener->name + " peer=" + c.peer + " stream " +
                       std::to_string(s->id()) + " reset: " + ended.reason);
  }
  cc.active.fetch_sub(1, kRelaxed);
  cs->Release(i);
}

// A public listener's connection that selected gangway-mux/1: every stream is a connection to
// the local app, until the client closes the connection (or authz, or a drain, ends it).
asio::awaitable<void> ServeMux(Connection& c, TlsStream& tls,
                               const std::string& app) {
  MuxSession session(tls, MuxSession::Role::kServer,
                     "listener=" + c.listener->name + " peer=" + c.peer);
  c.drain = [&session] { session.GoAway("draining"); };
  auto ex = co_await asio::this_coro::executor;
  co_await session.Run([&c, &app, ex](std::shared_ptr<MuxStream> s) {
    asio::co_spawn(ex, ServeStream(c, std::move(s), app), asio::detached);
  });
  c.drain = nullptr;
  LogDebug(kLog, session.name() + ": multiplexed connection ended: " + session.error());
}

// kTerminateTls: mTLS server with the leaf, verify and authorize the client, plaintext to the
// local app.
asio::awaitable<void> TerminateTls(Connection& c, const FilterChain& chain,
                                   std::chrono::milliseconds timeout) {
  const Snapshot& snap = *c.snap;
  if (!snap.server_ctx) co_return c.Refuse(RefuseReason::kInternal, "no leaf to terminate TLS");
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  // A TCP health check connects and closes without a byte: not worth a warning. Readable with
  // nothing to read is that only when a peek finds the end of the stream: a wake-up can also come
  // with nothing behind it (the reactor's readiness of a descriptor closed just before and
  // reused), and the ClientHello then follows.
  for (;;) {
    auto first = co_await (c.down.async_wait(tcp::socket::wait_read, kTuple) ||
                           timer.async_wait(kTuple));
    if (first.index() == 1) co_return c.Refuse(RefuseReason::kTlsHandshake, "handshake timed out");
    if (error_code ec; c.down.available(ec) > 0) break;
    char byte;
    ssize_t got = ::recv(c.down.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got > 0) break;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    co_return c.Refuse(RefuseReason::kEmpty, "closed before sending a byte");
  }
  TlsStream tls(c.down, *snap.server_ctx);
  auto r = co_await (tls.async_handshake(ssl::stream_base::server, kTuple) ||
                     timer.async_wait(kTuple));
  if (r.index() == 1) co_return c.Refuse(RefuseReason::kTlsHandshake, "handshake timed out");
  if (auto [ec] = std::get<0>(r); ec) {
    const std::string& td = snap.config->trust_domain;
    std::string verify = PeerVerifyError(tls.native_handle(), td);
    if (!verify.empty()) co_return c.Refuse(RefuseReason::kUntrustedPeer, verify);
    if (ec.category() == asio::error::get_ssl_category()) {
      auto code = static_cast<unsigned long>(ec.value());
      if (IsNoPeerCertificateError(code)) {
        co_return c.Refuse(RefuseReason::kNoClientCertificate, ec.message());
      }
      if (IsUnknownCaAlert(code)) {
        co_return c.Refuse(RefuseReason::kTlsHandshake,
                           ec.message() + ": the client does not trust this proxy's " +
                               "certificate (trust domain " + td + "); it trusts other roots");
      }
    }
    co_return c.Refuse(RefuseReason::kTlsHandshake, ec.message());
  }
  std::string id = PeerSpiffeId(tls.native_handle());
  if (id.empty()) co_return c.Refuse(RefuseReason::kBadSpiffeId, "no spiffe:// URI SAN");
  std::string_view td = TrustDomainOf(id);
  if (!SameTrustDomain(td, snap.config->trust_domain)) {
    co_return c.Refuse(RefuseReason::kForeignTrustDomain,
                       id + " is from trust domain \"" + std::string(td) + "\", ours is \"" +
                           snap.config->trust_domain + "\"");
  }
  // The worker's newest authz, not the one of the snapshot the connection was accepted under: a
  // config that arrived during the handshake has already looked at this connection (it had no
  // peer_id yet) and will not look again.
  AuthzDecision decision = Authorize(c.w->current->config->authz, id, chain.inbound_http);
  if (!decision.allowed) co_return c.Refuse(RefuseReason::kUnauthorized, id + ": " + decision.reason);
  c.peer_id = id;
  c.per_request_authz = chain.inbound_http;
  ClusterState* cluster = snap.FindCluster(chain.cluster);
  if (cluster == nullptr) co_return c.Refuse(RefuseReason::kUnknownCluster, chain.cluster);
  if (!chain.inbound_http && NegotiatedMux(tls.native_handle())) {
    co_return co_await ServeMux(c, tls, chain.cluster);
  }
  if (co_await Dial(c, cluster)) co_return;
  ClusterCounters& cc = cluster->counters();
  if (chain.inbound_http) co_return co_await ServeInboundHttp(c, tls, cluster);
  co_await (Pump(c, tls, c.up, false, c.lc->bytes_in, cc.bytes_sent) &&
            Pump(c, c.up, tls, true, cc.bytes_received, c.lc->bytes_out));
}

// The client side of mTLS to a cluster: sends its SNI, verifies the chain against the roots and
// accepts the server only with one of the cluster's SPIFFE IDs. nullopt on success.
template <typename Stream>
asio::awaitable<std::optional<std::pair<RefuseReason, std::string>>> UpstreamHandshake(
    Stream& tls, const Snapshot& snap, ClusterState* cs, std::chrono::milliseconds timeout) {
  using Failure = std::pair<RefuseReason, std::string>;
  const Cluster& cluster = cs->cluster();
  if (!cluster.sni.empty()) SSL_set_tlsext_host_name(tls.native_handle(), cluster.sni.c_str());
  snap.tls->PrepareClient(tls.native_handle(), cluster.name);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto r = co_await (tls.async_handshake(ssl::stream_base::client, kTuple) ||
                     timer.async_wait(kTuple));
  if (r.index() == 1) co_return Failure{RefuseReason::kUpstreamTls, "handshake timed out"};
  if (auto [ec] = std::get<0>(r); ec) {
    std::string verify = PeerVerifyError(tls.native_handle(), snap.config->trust_domain);
    co_return Failure{RefuseReason::kUpstreamTls,
                      "cluster " + cluster.name + ": " + (verify.empty() ? ec.message() : verify)};
  }
  std::string id = PeerSpiffeId(tls.native_handle());
  bool expected = cluster.spiffe_ids.empty() && !id.empty();
  std::string want;
  for (const auto& pattern : cluster.spiffe_ids) {
    if (!id.empty() && SourceMatches(pattern, id)) expected = true;
    want += (want.empty() ? "" : ", ") + pattern;
  }
  if (!expected) {
    co_return Failure{RefuseReason::kWrongServerIdentity, "cluster " + cluster.name +
                                                              ": expected " + want + ", got " +
                                                              (id.empty() ? "no SPIFFE ID" : id)};
  }
  if (SSL_session_reused(tls.native_handle())) cs->counters().tls_resumed.fetch_add(1, kRelaxed);
  co_return std::nullopt;
}

// A worker's mTLS connection to one endpoint that carries the streams of many local
// connections (docs/mux.md), dialed under `snap`.
struct ClientMux {
  enum class State { kDialing, kReady, kFailed, kPlain };
  std::shared_ptr<const Snapshot> snap;
  ClusterState* cs;
  size_t endpoint;
  tcp::socket socket;
  std::optional<TlsStream> tls;
  std::unique_ptr<MuxSession> session;  // kReady
  State state = State::kDialing;
  std::string failure;  // kFailed: why
  RefuseReason failure_reason = RefuseReason::kConnectFailed;
  size_t waiting = 0;   // connections waiting for the dial
  asio::steady_timer settled;  // cancelled when the dial ends

  ClientMux(std::shared_ptr<const Snapshot> s, ClusterState* c, size_t i, asio::io_context& io)
      : snap(std::move(s)), cs(c), endpoint(i), socket(io), settled(io) {}
};

void Unpool(Worker& w, const std::shared_ptr<ClientMux>& m) {
  auto [b, e] = w.mux.equal_range(MuxKey{m->cs, m->endpoint});
  for (auto it = b; it != e; ++it) {
    if (it->second == m) {
      w.mux.erase(it);
      return;
    }
  }
}

asio::awaitable<void> RunClientMux(Worker* w, std::shared_ptr<ClientMux> m) {
  co_await m->session->Run(nullptr);
  m->cs->counters().mux_active.fetch_sub(1, kRelaxed);
  Unpool(*w, m);
  LogDebug(kLog, m->session->name() + ": multiplexed connection ended: " + m->session->error());
}

// The worker's connection to endpoint `i` of `cs` that takes another stream, waiting for one
// being dialed if need be. nullptr: dial one, or (with `failure` set) the dial waited for failed.
asio::awaitable<std::shared_ptr<ClientMux>> FindMux(Worker& w, ClusterState* cs, size_t i,
                                                    std::string& failure,
                                                    RefuseReason& failure_reason) {
  for (;;) {
    std::shared_ptr<ClientMux> dialing;
    auto [b, e] = w.mux.equal_range(MuxKey{cs, i});
    for (auto it = b; it != e; ++it) {
      const auto& m = it->second;
      if (m->state == ClientMux::State::kReady && m->session->accepting()) co_return m;
      if (m->state == ClientMux::State::kDialing && m->waiting < MuxSession::kMaxStreams) {
        dialing = m;
      }
    }
    if (!dialing) co_return nullptr;
    ++dialing->waiting;
    while (dialing->state == ClientMux::State::kDialing) co_await SleepUntilWoken(dialing->settled);
    --dialing->waiting;
    if (dialing->state == ClientMux::State::kFailed) {
      failure = dialing->failure;
      failure_reason = dialing->failure_reason;
      co_return nullptr;
    }
    if (dialing->state == ClientMux::State::kPlain) co_return nullptr;
  }
}

// kOriginateTls with multiplexing: the connection becomes a stream on the worker's connection to
// the endpoint chosen, dialed (with failover, as OriginateTls) when there is none. A server that
// does not select gangway-mux/1 gets this connection's bytes alone, as without multiplexing.
asio::awaitable<void> OriginateMux(Connection& c, ClusterState* primary,
                                   std::chrono::milliseconds timeout) {
  const Snapshot& snap = *c.snap;
  Worker& w = *c.w;
  std::vector<std::pair<ClusterState*, size_t>> candidates = Candidates(snap, primary);
  if (candidates.empty()) {
    co_return c.Refuse(RefuseReason::kNoHealthyEndpoint, "cluster " + primary->cluster().name);
  }
  std::string tried;
  // The last endpoint's failure: a failed handshake there is the refusal's reason, as in
  // OriginateTls (it names the cause, such as a chain from another CA).
  std::string failure;
  RefuseReason failure_reason = RefuseReason::kConnectFailed;
  for (const auto& [cs, i] : candidates) {
    const Endpoint& ep = cs->cluster().endpoints[i];
    std::string where = ep.address + ":" + std::to_string(ep.port);
    failure.clear();
    failure_reason = RefuseReason::kConnectFailed;
    std::shared_ptr<ClientMux> m = co_await FindMux(w, cs, i, failure, failure_reason);
    if (c.revoked) co_return;
    if (!m && !failure.empty()) {
      tried += (tried.empty() ? "" : ", ") + where + " (" + failure + ")";
      continue;
    }
    if (!m) {
      m = std::make_shared<ClientMux>(c.snap, cs, i, *w.io);
      w.mux.emplace(MuxKey{cs, i}, m);
      std::optional<std::pair<RefuseReason, std::string>> failed;
      error_code ec = co_await ConnectEndpoint(m->socket, cs, i);
      if (!ec) {
        m->tls.emplace(m->socket, *snap.client_ctx);
        SSL_set_alpn_protos(m->tls->native_handle(),
                            reinterpret_cast<const unsigned char*>(mux::kAlpnWire.data()),
                            static_cast<unsigned>(mux::kAlpnWire.size()));
        failed = co_await UpstreamHandshake(*m->tls, snap, cs, timeout);
      }
      if (ec || failed) {
        m->state = ClientMux::State::kFailed;
        m->failure = ec ? ec.message() : failed->second;
        if (failed) m->failure_reason = failed->first;
        failure = m->failure;
        failure_reason = m->failure_reason;
        Unpool(w, m);
        m->settled.cancel();
        if (c.revoked) co_return;
        // A server with the wrong identity is a configuration error: not retried elsewhere.
        if (failed && failed->first != RefuseReason::kUpstreamTls) {
          co_return c.Refuse(failed->first, failed->second);
        }
        LogDebug(kLog, "listener=" + c.listener->name + " endpoint " + where + ": " + m->failure);
        NoteFailure(c, cs, i);
        tried += (tried.empty() ? "" : ", ") + where + " (" + m->failure + ")";
        continue;
      }
      cs->ReportSuccess(i);
      if (!NegotiatedMux(m->tls->native_handle())) {
        m->state = ClientMux::State::kPlain;
        Unpool(w, m);
        m->settled.cancel();
        Assign(c, primary, cs, i);
        ClusterCounters& cc = cs->counters();
        c.close_extra = [m] {
          error_code ignored;
          m->socket.close(ignored);
        };
        co_await (Pump(c, c.down, *m->tls, true, c.lc->bytes_in, cc.bytes_sent) &&
                  Pump(c, *m->tls, c.down, false, cc.bytes_received, c.lc->bytes_out));
        co_return;
      }
      m->session = std::make_unique<MuxSession>(
          *m->tls, MuxSession::Role::kClient,
          "listener=" + c.listener->name + " cluster=" + cs->cluster().name + " endpoint " + where,
          w.rt->options.mux_idle_timeout);
      m->session->CountWindowOnlyWrites(&cs->counters().mux_window_only_writes);
      m->state = ClientMux::State::kReady;
      cs->counters().mux_sessions.fetch_add(1, kRelaxed);
      cs->counters().mux_active.fetch_add(1, kRelaxed);
      asio::co_spawn(*w.io, RunClientMux(&w, m), asio::detached);
      m->settled.cancel();
    }
    std::shared_ptr<MuxStream> stream = m->session->Open();
    if (!stream) {
      tried += (tried.empty() ? "" : ", ") + where + " (connection closed)";
      continue;
    }
    Assign(c, primary, cs, i);
    ClusterCounters& cc = cs->counters();
    auto ended = co_await stream->Relay(c.down, RelayCounters{&c.lc->bytes_in, &cc.bytes_sent,
                                                              &cc.bytes_received,
                                                              &c.lc->bytes_out});
    if (!ended.clean && !c.revoked) {
      LogWarn(kLog, "listener=" + c.listener->name + " peer=" + c.peer + " cluster=" +
                        cs->cluster().name + " stream " + std::to_string(stream->id()) + " ended: " +
                        ended.reason);
    }
    co_return;
  }
  if (failure_reason == RefuseReason::kUpstreamTls) co_return c.Refuse(failure_reason, failure);
  c.Refuse(RefuseReason::kConnectFailed, "cluster " + primary->cluster().name + ": " + tried);
}

// kOriginateTls: plaintext from the local app, mTLS with the leaf to the cluster, whose server
// must present one of the cluster's SPIFFE IDs.
asio::awaitable<void> OriginateTls(Connection& c, const FilterChain& chain,
                                   std::chrono::milliseconds timeout) {
  const Snapshot& snap = *c.snap;
  if (!snap.client_ctx) co_return c.Refuse(RefuseReason::kInternal, "no leaf to originate TLS");
  ClusterState* primary = snap.FindCluster(chain.cluster);
  if (primary == nullptr) co_return c.Refuse(RefuseReason::kUnknownCluster, chain.cluster);
  if (c.w->rt->options.multiplex) co_return co_await OriginateMux(c, primary, timeout);
  // A handshake that fails (a gateway on the way that closes the connection, a sidecar gone
  // behind it) is a failed connection too: the next candidate is dialed, failover included. A
  // server with the wrong identity is not retried: that is a configuration error.
  std::vector<std::pair<ClusterState*, size_t>> candidates = Candidates(snap, primary);
  size_t next = 0;
  std::string tried;
  std::optional<TlsStream> tls;
  for (;;) {
    if (co_await DialNext(c, primary, candidates, next, tried)) co_return;
    tls.emplace(c.up, *snap.client_ctx);
    auto failed = co_await UpstreamHandshake(*tls, snap, c.cluster, timeout);
    if (!failed) break;
    if (failed->first != RefuseReason::kUpstreamTls || next >= candidates.size()) {
      co_return c.Refuse(failed->first, failed->second);
    }
    const Endpoint& ep = c.cluster->cluster().endpoints[c.endpoint];
    LogDebug(kLog, "listener=" + c.listener->name + " endpoint " + ep.address + ":" +
                       std::to_string(ep.port) + ": " + failed->second);
    tried += (tried.empty() ? "" : ", ") + ep.address + ":" + std::to_string(ep.port) + " (" +
             failed->second + ")";
    NoteFailure(c, c.cluster, c.endpoint);
    tls.reset();
    c.Undial();
  }
  c.cluster->ReportSuccess(c.endpoint);
  ClusterCounters& cc = c.cluster->counters();
  co_await (Pump(c, c.down, *tls, true, c.lc->bytes_in, cc.bytes_sent) &&
            Pump(c, *tls, c.down, false, cc.bytes_received, c.lc->bytes_out));
}

struct HelloRead {
  net::PeekResult result;
  error_code ec;  // the connection ended first
};

asio::awaitable<HelloRead> ReadHello(tcp::socket& s, std::vector<uint8_t>& buf,
                                     const net::HelloLimits& limits) {
  for (;;) {
    net::PeekResult r = net::ParseClientHello(buf, limits);
    if (!r.need_more()) co_return HelloRead{std::move(r), {}};
    size_t have = buf.size();
    buf.resize(std::max(r.need_at_least, have + 2048));
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                              kTuple);
    buf.resize(have + n);
    if (ec) co_return HelloRead{std::move(r), ec};
  }
}

// A service SNI that names another trust domain, rebuilt in `trust_domain`; "" for any other
// name. A datacenter that bootstrapped its own CA dials our services with its trust domain in
// the SNI. Forwarding such a connection to the service it names lets the two sidecars fail the
// handshake with the cause ("x509: certificate signed by unknown authority" and both trust
// domains) rather than the client seeing a connection closed by the gateway. The gateway
// decrypts nothing, so this lets no one in: the sidecar still verifies the client's chain.
std::string ServiceSniInTrustDomain(std::string_view sni, std::string_view trust_domain) {
  Result<identity::SniName> name = identity::ParseSni(sni);
  if (!name.ok() || name->kind != identity::SniKind::kService ||
      SameTrustDomain(name->domain, trust_domain)) {
    return {};
  }
  name->domain = std::string(trust_domain);
  return name->Name();
}

// kTcpProxy / kSniCluster: route by the ClientHello's SNI, forward its bytes unchanged, then
// splice both ways. The gateway holds no key and decrypts nothing.
asio::awaitable<void> RouteBySni(Connection& c, const RuntimeOptions& options) {
  std::vector<uint8_t> buf;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(options.handshake_timeout);
  auto r = co_await (ReadHello(c.down, buf, options.hello_limits) || timer.async_wait(kTuple));
  if (r.index() == 1) {
    co_return c.Refuse(RefuseReason::kHelloTimeout,
                       "no ClientHello within " + std::to_string(options.handshake_timeout.count()) +
                           " ms (" + std::to_string(buf.size()) + " bytes)");
  }
  HelloRead& hello = std::get<0>(r);
  if (hello.result.kind == net::PeekResult::Kind::kError) {
    c.lc->hello_errors[static_cast<size_t>(hello.result.error)].fetch_add(1, kRelaxed);
    co_return c.Refuse(RefuseReason::kBadClientHello,
                       std::string(net::HelloErrorName(hello.result.error)) + ": " +
                           hello.result.message);
  }
  if (!hello.result.ok() && buf.empty()) {
    co_return c.Refuse(RefuseReason::kEmpty, "closed before sending a byte");
  }
  if (!hello.result.ok()) {
    co_return c.Refuse(RefuseReason::kBadClientHello,
                       "connection ended before a complete ClientHello: " + hello.ec.message());
  }
  const std::string& sni = hello.result.hello.sni;
  const FilterChain* chain = MatchChain(*c.listener, sni);
  if (chain == nullptr) co_return c.Refuse(RefuseReason::kNoChain, "sni \"" + sni + "\"");
  ClusterState* cluster = nullptr;
  if (chain->action == FilterChain::Action::kSniCluster) {
    cluster = c.snap->FindCluster(sni);
    const std::string& td = c.snap->config->trust_domain;
    if (std::string ours = ServiceSniInTrustDomain(sni, td); cluster == nullptr && !ours.empty()) {
      cluster = c.snap->FindCluster(ours);
      if (cluster != nullptr) {
        Log(LogLevel::kWarn, kLog,
            "listener=" + c.listener->name + " peer=" + c.peer + ": sni \"" + sni +
                "\" names another trust domain than this gateway's (" + td +
                "); forwarded to cluster " + cluster->cluster().name +
                ", whose sidecar refuses it unless it trusts the client's roots");
      }
    }
    if (cluster == nullptr) {
      co_return c.Refuse(RefuseReason::kUnknownCluster, "no cluster for sni \"" + sni + "\"");
    }
  } else if (chain->action == FilterChain::Action::kTcpProxy) {
    cluster = c.snap->FindCluster(chain->cluster);
    if (cluster == nullptr) co_return c.Refuse(RefuseReason::kUnknownCluster, chain->cluster);
  } else {
    co_return c.Refuse(RefuseReason::kInternal,
                       "gateway chain action " + std::string(ActionName(chain->action)));
  }
  if (co_await Dial(c, cluster)) co_return;
  ClusterCounters& cc = c.cluster->counters();
  c.lc->bytes_in.fetch_add(buf.size(), kRelaxed);
  auto [wec, written] = co_await asio::async_write(c.up, asio::buffer(buf), kTuple);
  cc.bytes_sent.fetch_add(written, kRelaxed);
  if (wec) {
    c.Close();
    co_return;
  }
  co_await (Splice(c, c.down, c.up, c.lc->bytes_in, cc.bytes_sent) &&
            Splice(c, c.up, c.down, cc.bytes_received, c.lc->bytes_out));
}

// ---- kHttpRoute ----

// One mTLS connection to an endpoint, kept for the next request of the same downstream
// connection to the same cluster while the upstream keeps it alive.
struct Upstream {
  ClusterState* cs;
  size_t endpoint;
  tcp::socket socket;
  TlsStream tls;
  beast::flat_buffer buf;

  Upstream(ClusterState* cluster, size_t i, tcp::socket s, ssl::context& ctx)
      : cs(cluster), endpoint(i), socket(std::move(s)), tls(socket, ctx) {
    cs->Acquire(i);
    cs->counters().connections.fetch_add(1, kRelaxed);
    cs->counters().active.fetch_add(1, kRelaxed);
  }
  ~Upstream() {
    cs->Release(endpoint);
    cs->counters().active.fetch_sub(1, kRelaxed);
  }
  void Close() {
    error_code ignored;
    socket.close(ignored);
  }
};

// The upstream connections of one downstream connection: idle ones by the cluster the route
// picked, and the one a request is using, so Drain can close them all.
struct UpstreamPool {
  std::map<ClusterState*, std::unique_ptr<Upstream>> idle;
  Upstream* busy = nullptr;

  void CloseAll() {
    for (auto& [cs, up] : idle) up->Close();
    if (busy != nullptr) busy->Close();
  }
};

constexpr char kNoHealthyUpstream[] = "no healthy upstream";
constexpr char kConnectFailure[] =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
constexpr char kConnectionTermination[] =
    "upstream connect error or disconnect/reset before headers. reset reason: connection "
    "termination";
constexpr char kUpstreamTimeout[] = "upstream request timeout";
constexpr char kStreamTimeout[] = "stream timeout";

bool IsHttpParseError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// A response the proxy writes itself (404, 503, 504, ...): text/plain, as Envoy's. False when
// the downstream write failed.
asio::awaitable<bool> SendLocal(Connection& c, RouteCounters& rc, int status, std::string_view body,
                                bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string(body) + "\n";
  res.keep_alive(keep_alive);
  res.prepare_payload();
  rc.Respond(status);
  auto [ec, n] = co_await http::async_write(c.down, res, kTuple);
  c.lc->bytes_out.fetch_add(n, kRelaxed);
  co_return !ec;
}

enum class Sent { kKeepGoing, kClose };

// Sends one routed request upstream and relays the response: retries, the request and idle
// timeouts and the route's and split's response header changes. The request is whole (its body
// buffered), so any attempt may be repeated.
asio::awaitable<Sent> Forward(Connection& c, const Route& route, const WeightedCluster& split,
                              RouteCounters& rc, ClusterState* primary, HttpRequest& req,
                              bool keep_alive, UpstreamPool& pool,
                              std::chrono::milliseconds handshake_timeout) {
  const Snapshot& snap = *c.snap;
  auto ex = co_await asio::this_coro::executor;
  auto candidates = Candidates(snap, primary);
  if (candidates.empty()) {
    LogDebug(kLog, "listener=" + c.listener->name + " cluster " + primary->cluster().name +
                       ": no healthy upstream");
    co_return co_await SendLocal(c, rc, 503, kNoHealthyUpstream, keep_alive) ? Sent::kKeepGoing
                                                                             : Sent::kClose;
  }
  // One timer for both timeouts: each wait on the upstream is armed for the request's deadline
  // or, sooner, the idle timeout from now; `idle_fired` tells them apart.
  using Clock = asio::steady_timer::clock_type;
  const Clock::time_point request_deadline = route.request_timeout.count() > 0
                                                 ? Clock::now() + route.request_timeout
                                                 : Clock::time_point::max();
  asio::steady_timer deadline(ex);
  bool idle_fired = false;
  auto arm = [&] {
    Clock::time_point at = request_deadline;
    idle_fired = false;
    if (route.idle_timeout.count() > 0 && Clock::now() + route.idle_timeout < at) {
      at = Clock::now() + route.idle_timeout;
      idle_fired = true;  // if it fires, it was the idle timeout
    }
    deadline.expires_at(at);
  };
  const int attempts = 1 + std::max(0, route.num_retries);
  size_t next = 0;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) rc.retries.fetch_add(1, kRelaxed);
    bool last = attempt + 1 == attempts;
    std::unique_ptr<Upstream> up;
    bool pooled = false;
    if (auto it = pool.idle.find(primary); it != pool.idle.end()) {
      up = std::move(it->second);
      pool.idle.erase(it);
      pooled = true;
    } else {
      auto [cs, i] = candidates[next++ % candidates.size()];
      tcp::socket socket(ex);
      error_code ec = co_await ConnectEndpoint(socket, cs, i);
      std::string failure;
      if (ec) {
        failure = ec.message();
      } else {
        up = std::make_unique<Upstream>(cs, i, std::move(socket), *snap.client_ctx);
        pool.busy = up.get();
        auto failed = co_await UpstreamHandshake(up->tls, snap, cs, handshake_timeout);
        pool.busy = nullptr;
        if (failed) failure = failed->second;
      }
      if (!failure.empty()) {
        const Endpoint& ep = cs->cluster().endpoints[i];
        LogDebug(kLog, "listener=" + c.listener->name + " cluster=" + cs->cluster().name +
                           " endpoint " + ep.address + ":" + std::to_string(ep.port) + ": " +
                           failure);
        if (!last && RetriesFailure(route, AttemptFailure::kConnect)) continue;
        co_return co_await SendLocal(c, rc, 503, kConnectFailure, keep_alive) ? Sent::kKeepGoing
                                                                              : Sent::kClose;
      }
    }
    pool.busy = up.get();
    ClusterCounters& cc = up->cs->counters();
    arm();
    auto w = co_await (http::async_write(up->tls, req, kTuple) || deadline.async_wait(kTuple));
    bool timed_out = w.index() == 1;
    error_code ec;
    if (!timed_out) {
      auto [wec, n] = std::get<0>(w);
      ec = wec;
      cc.bytes_sent.fetch_add(n, kRelaxed);
    }
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    if (req.method() == http::verb::head) parser.skip(true);
    if (!timed_out && !ec) {
      arm();
      auto r = co_await (http::async_read_header(up->tls, up->buf, parser, kTuple) ||
                         deadline.async_wait(kTuple));
      timed_out = r.index() == 1;
      if (!timed_out) {
        auto [rec, n] = std::get<0>(r);
        ec = rec;
        cc.bytes_received.fetch_add(n, kRelaxed);
      }
    }
    if (timed_out) {
      pool.busy = nullptr;
      up->Close();
      rc.timeouts.fetch_add(1, kRelaxed);
      co_return co_await SendLocal(c, rc, 504, idle_fired ? kStreamTimeout : kUpstreamTimeout,
                                   keep_alive)
          ? Sent::kKeepGoing
          : Sent::kClose;
    }
    if (ec) {
      pool.busy = nullptr;
      up->Close();
      // An idle connection the upstream closed meanwhile: try a fresh one, as a retry would not
      // be the request's fault.
      if (pooled) {
        --attempt;
        continue;
      }
      if (!last && RetriesFailure(route, AttemptFailure::kReset)) continue;
      co_return co_await SendLocal(c, rc, 503, kConnectionTermination, keep_alive)
          ? Sent::kKeepGoing
          : Sent::kClose;
    }
    auto& res = parser.get();
    int status = res.result_int();
    if (!last && RetriesResponse(route, status, res.base())) {
      pool.busy = nullptr;
      up->Close();  // its response body is not worth reading
      continue;
    }
    bool upstream_keep_alive = res.keep_alive();
    ApplyHeaderChanges(split.response_headers, res.base());
    ApplyHeaderChanges(route.response_headers, res.base());
    res.keep_alive(keep_alive);
    rc.Respond(status);
    // Beast's relay: read a piece of the body into `chunk`, write it on, until both are done.
    std::vector<char> chunk(16 * 1024);
    http::response_serializer<http::buffer_body> serializer(res);
    bool failed = false;
    do {
      if (!parser.is_done()) {
        res.body().data = chunk.data();
        res.body().size = chunk.size();
        arm();
        auto r = co_await (http::async_read(up->tls, up->buf, parser, kTuple) ||
                           deadline.async_wait(kTuple));
        if (r.index() == 1) {
          rc.timeouts.fetch_add(1, kRelaxed);
          failed = true;
          break;
        }
        auto [rec, n] = std::get<0>(r);
        cc.bytes_received.fetch_add(n, kRelaxed);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
          failed = true;
          break;
        }
        res.body().size = chunk.size() - res.body().size;
        res.body().data = chunk.data();
        res.body().more = !parser.is_done();
      } else {
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
      }
      auto [wec, n] = co_await http::async_write(c.down, serializer, kTuple);
      c.lc->bytes_out.fetch_add(n, kRelaxed);
      if (wec == http::error::need_buffer) wec = {};
      if (wec) {
        failed = true;
        break;
      }
    } while (!parser.is_done() || !serializer.is_done());
    pool.busy = nullptr;
    // The head has gone downstream: a failure now can only end the connection.
    if (failed) co_return Sent::kClose;
    if (upstream_keep_alive) {
      pool.idle[primary] = std::move(up);
    }
    co_return Sent::kKeepGoing;
  }
  co_return Sent::kClose;  // not reached: the last attempt always answers
}

// kHttpRoute: HTTP/1.1 requests from the local app, each routed by the chain's routes to a
// cluster, over mTLS as kOriginateTls. Keep-alive downstream and upstream; a pipelined request
// waits until the previous response has been written.
asio::awaitable<void> RouteHttp(Connection& c, const FilterChain& chain,
                                const RuntimeOptions& options) {
  const Snapshot& snap = *c.snap;
  if (!snap.client_ctx) co_return c.Refuse(RefuseReason::kInternal, "no leaf to originate TLS");
  auto table_it = snap.routes.find(&chain);
  if (table_it == snap.routes.end()) {
    co_return c.Refuse(RefuseReason::kInternal, "http_route chain without a route table");
  }
  const RouteTable& table = *table_it->second;
  UpstreamPool pool;
  c.close_extra = [&pool] { pool.CloseAll(); };
  beast::flat_buffer buf;
  const HttpLimits limits;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits.header_bytes));
    parser.body_limit(limits.body_bytes);
    auto [hec, hn] = co_await http::async_read_header(c.down, buf, parser, kTuple);
    c.lc->bytes_in.fetch_add(hn, kRelaxed);
    error_code ec = hec;
    if (!ec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
      // curl waits a second for this before sending a body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(c.down, asio::buffer(kContinue), kTuple);
      ec = wec;
    }
    if (!ec && !parser.is_done()) {
      auto [bec, bn] = co_await http::async_read(c.down, buf, parser, kTuple);
      c.lc->bytes_in.fetch_add(bn, kRelaxed);
      ec = bec;
    }
    if (ec) {
      if (IsHttpParseError(ec)) {
        int status = StatusForParseError(ec);
        LogDebug(kLog, "listener=" + c.listener->name + " peer=" + c.peer +
                           ": bad request: " + ec.message());
        table.unmatched->requests.fetch_add(1, kRelaxed);
        co_await SendLocal(c, *table.unmatched, status, "bad request: " + ec.message(), false);
      }
      break;
    }
    HttpRequest req = parser.release();
    req.erase(http::field::expect);
    bool keep_alive = req.keep_alive();
    int index = table.router.Match(req);
    if (index < 0) {
      table.unmatched->requests.fetch_add(1, kRelaxed);
      if (!co_await SendLocal(c, *table.unmatched, 404, "no route matched this request",
                              keep_alive)) {
        break;
      }
    } else {
      const Route& route = table.router.route(static_cast<size_t>(index));
      RouteCounters& rc = *table.counters[static_cast<size_t>(index)];
      // The route's request count, kept across snapshots, numbers its requests for the split.
      uint64_t n = rc.requests.fetch_add(1, kRelaxed);
      const WeightedCluster& split = HttpRouter::PickCluster(route, HttpRouter::SplitDraw(n));
      ClusterState* primary = snap.FindCluster(split.cluster);
      if (primary == nullptr) {
        co_return c.Refuse(RefuseReason::kUnknownCluster, "route cluster not in the snapshot");
      }
      HttpRouter::PrepareUpstream(route, split, req);
      Sent sent = co_await Forward(c, route, split, rc, primary, req, keep_alive, pool,
                                   options.handshake_timeout);
      if (sent == Sent::kClose) {
        c.Close();
        co_return;
      }
    }
    if (!keep_alive) break;
  }
  error_code ignored;
  c.down.shutdown(tcp::socket::shutdown_send, ignored);
  c.close_extra = nullptr;
  pool.CloseAll();
}

// ---- inbound_http: per-request authz at the destination ----

// Moves the rest of a message whose head `parser` has read from src to dst (head first), as
// Beast's relay example does: a piece of the body at a time, never the whole body in memory.
template <bool kIsRequest, typename Src, typename Dst>
asio::awaitable<bool> RelayMessage(Src& src, beast::flat_buffer& buf,
                                   http::parser<kIsRequest, http::buffer_body>& parser, Dst& dst,
                                   std::atomic<uint64_t>& read_counter,
                                   std::atomic<uint64_t>& write_counter) {
  auto& msg = parser.get();
  std::vector<char> chunk(16 * 1024);
  http::serializer<kIsRequest, http::buffer_body> serializer(msg);
  do {
    if (!parser.is_done()) {
      msg.body().data = chunk.data();
      msg.body().size = chunk.size();
      auto [rec, n] = co_await http::async_read(src, buf, parser, kTuple);
      read_counter.fetch_add(n, kRelaxed);
      if (rec == http::error::need_buffer) rec = {};
      if (rec) co_return false;
      msg.body().size = chunk.size() - msg.body().size;
      msg.body().data = chunk.data();
      msg.body().more = !parser.is_done();
    } else {
      msg.body().data = nullptr;
      msg.body().size = 0;
      msg.body().more = false;
    }
    auto [wec, n] = co_await http::async_write(dst, serializer, kTuple);
    write_counter.fetch_add(n, kRelaxed);
    if (wec == http::error::need_buffer) wec = {};
    if (wec) co_return false;
  } while (!parser.is_done() || !serializer.is_done());
  co_return true;
}

// A response the sidecar writes itself (403, 400): text/plain, as Envoy's.
asio::awaitable<bool> AnswerInbound(Connection& c, TlsStream& tls, int status,
                                    std::string_view body, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(tls, res, kTuple);
  c.lc->bytes_out.fetch_add(n, kRelaxed);
  co_return !ec;
}

// An inbound_http chain, after the handshake and the connection-level check: each request from
// the client is parsed and checked against the worker's newest authz (so a config that arrived
// since the previous request decides the next one), then answered 403 or relayed to the local
// app, whose response is relayed back as HTTP/1.1. One request at a time. The client's
// keep-alive does not depend on the app's: an app that closes after each response (an HTTP/1.0
// server) is dialed again for the next request. A 101 turns the connection into a byte stream.
asio::awaitable<void> ServeInboundHttp(Connection& c, TlsStream& tls,
                                       ClusterState* app) {
  beast::flat_buffer down_buf;
  beast::flat_buffer up_buf;
  const HttpLimits limits;
  bool app_open = true;  // dialed by TerminateTls
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits.header_bytes));
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(tls, down_buf, parser, kTuple);
    c.lc->bytes_in.fetch_add(hn, kRelaxed);
    if (hec) {
      if (IsHttpParseError(hec)) {
        LogDebug(kLog, "listener=" + c.listener->name + " peer=" + c.peer +
                           ": bad request: " + hec.message());
        co_await AnswerInbound(c, tls, StatusForParseError(hec), "bad request: " + hec.message(),
                               false);
      }
      break;
    }
    auto& req = parser.get();
    const bool keep_alive = req.keep_alive();
    const Snapshot& now = *c.w->current;
    AuthzDecision decision = now.inbound_authz
                                 ? now.inbound_authz->Check(c.peer_id, HttpRequest(req.base()))
                                 : Authorize(now.config->authz, c.peer_id);
    if (!decision.allowed) {
      std::string_view method(req.method_string().data(), req.method_string().size());
      std::string_view target(req.target().data(), req.target().size());
      Log(LogLevel::kWarn, kLog,
          "listener=" + c.listener->name + " peer=" + c.peer + " forbidden: " + c.peer_id + " " +
              std::string(method) + " " + std::string(PathOf(target)) + ": " + decision.reason +
              " (config version " + std::to_string(now.config->version) + ")");
      c.lc->Refuse(RefuseReason::kForbidden);
      // A body the client is still sending (or waiting to send, after Expect: 100-continue) is
      // not read: the answer closes the connection instead.
      bool keep = keep_alive && parser.is_done();
      if (!co_await AnswerInbound(c, tls, 403, kForbiddenBody, keep) || !keep) break;
      continue;
    }
    if (!app_open) {
      if (c.cluster != nullptr) {
        c.cluster->Release(c.endpoint);
        c.cluster->counters().active.fetch_sub(1, kRelaxed);
        c.cluster = nullptr;
      }
      c.up = tcp::socket(*c.w->io);
      up_buf.clear();
      if (co_await Dial(c, app)) co_return;  // refused: counted, logged and closed
      app_open = true;
    }
    ClusterCounters& cc = c.cluster->counters();
    if (req[http::field::expect] == "100-continue" && !parser.is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(tls, asio::buffer(kContinue), kTuple);
      if (wec) break;
      req.erase(http::field::expect);
    }
    if (!co_await RelayMessage(tls, down_buf, parser, c.up, c.lc->bytes_in, cc.bytes_sent)) break;
    http::response_parser<http::buffer_body> rp;
    rp.body_limit(boost::none);
    if (req.method() == http::verb::head) rp.skip(true);
    auto [rec, rn] = co_await http::async_read_header(c.up, up_buf, rp, kTuple);
    cc.bytes_received.fetch_add(rn, kRelaxed);
    if (rec) {
      // Nothing of a response has gone to the client: answer as Envoy does.
      co_await AnswerInbound(c, tls, 503,
                             "upstream connect error or disconnect/reset before headers. reset "
                             "reason: connection termination",
                             false);
      break;
    }
    auto& res = rp.get();
    const int status = res.result_int();
    const bool app_keep_alive = res.keep_alive();
    if (status != 101) {
      res.version(11);
      res.keep_alive(keep_alive);
      // A body that ends with the app's connection cannot end that way on a kept-alive one.
      if (keep_alive && rp.need_eof() && !res.chunked()) res.chunked(true);
    }
    if (!co_await RelayMessage(c.up, up_buf, rp, tls, cc.bytes_received, c.lc->bytes_out)) break;
    if (status == 101) {
      // An upgrade (WebSocket): from here on, bytes both ways, the buffered ones first. No
      // request will be checked again, so a later deny closes it as any L4 connection.
      c.per_request_authz = false;
      if (down_buf.size() > 0) {
        auto [ec, n] = co_await asio::async_write(c.up, down_buf.data(), kTuple);
        if (ec) break;
      }
      if (up_buf.size() > 0) {
        auto [ec, n] = co_await asio::async_write(tls, up_buf.data(), kTuple);
        if (ec) break;
      }
      co_await (Pump(c, tls, c.up, false, c.lc->bytes_in, cc.bytes_sent) &&
                Pump(c, c.up, tls, true, cc.bytes_received, c.lc->bytes_out));
      co_return;
    }
    if (!keep_alive) break;
    if (!app_keep_alive) {
      error_code ignored;
      c.up.close(ignored);
      app_open = false;
    }
  }
  c.Close();
}

asio::awaitable<void> Serve(Worker* w, std::shared_ptr<const Snapshot> snap,
                            const Listener* listener, tcp::socket socket) {
  Connection c(w, std::move(snap), listener, std::move(socket));
  const RuntimeOptions& options = w->rt->options;
  try {
    error_code ignored;
    c.down.set_option(tcp::no_delay(true), ignored);
    if (listener->kind == Listener::Kind::kGateway) {
      co_await RouteBySni(c, options);
    } else {
      const FilterChain* chain = PlainChain(*listener);
      if (chain == nullptr) {
        c.Refuse(RefuseReason::kNoChain, "listener has no chain");
      } else if (chain->action == FilterChain::Action::kTerminateTls) {
        co_await TerminateTls(c, *chain, options.handshake_timeout);
      } else if (chain->action == FilterChain::Action::kOriginateTls) {
        co_await OriginateTls(c, *chain, options.handshake_timeout);
      } else if (chain->action == FilterChain::Action::kHttpRoute) {
        co_await RouteHttp(c, *chain, options);
      } else {
        c.Refuse(RefuseReason::kInternal,
                 "chain action " + std::string(ActionName(chain->action)) + " needs a gateway");
      }
    }
  } catch (const std::exception& e) {
    w->rt->connection_errors.fetch_add(1);
    c.lc->Refuse(RefuseReason::kInternal);
    LogError(kLog, "listener=" + listener->name + " peer=" + c.peer + " error: " + e.what());
    c.Close();
  }
}

asio::awaitable<void> AcceptLoop(Worker* w, std::string name,
                                 std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      LogWarn(kLog, "listener=" + name + " accept failed: " + ec.message());
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(*w->io, std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      if (!acceptor->is_open()) co_return;
      continue;
    }
    std::shared_ptr<const Snapshot> snap = w->current;
    auto it = snap->listeners.find(name);
    if (it == snap->listeners.end()) continue;  // closed since; drop it
    asio::co_spawn(*w->io, Serve(w, snap, it->second, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminSession(State* rt, tcp::socket socket) {
  try {
    std::string head;
    asio::steady_timer timer(socket.get_executor(), std::chrono::seconds(5));
    auto r = co_await (
        asio::async_read_until(socket, asio::dynamic_buffer(head, kMaxAdminRequest), "\r\n\r\n",
                               kTuple) ||
        timer.async_wait(kTuple));
    if (r.index() == 1) co_return;
    std::string response = HandleAdminRequest(
        head, [rt] { return rt->Stats(); }, rt->ready.load());
    co_await asio::async_write(socket, asio::buffer(response), kTuple);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  } catch (const std::exception& e) {
    LogWarn(kLog, std::string("admin: ") + e.what());
  }
}

asio::awaitable<void> AdminLoop(State* rt, std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      continue;
    }
    asio::co_spawn(acceptor->get_executor(), AdminSession(rt, std::move(socket)), asio::detached);
  }
}

void CloseAcceptor(tcp::acceptor& a) {
  error_code ignored;
  a.close(ignored);
}

// The passive health of `cluster`'s endpoints for a new snapshot, taken from the runtime's (the
// owner thread's) by endpoint address and recorded in `next`. An endpoint the catalog had
// critical and now calls healthy starts afresh: the catalog has seen it recover.
std::vector<std::shared_ptr<EndpointOutlier>> KeepOutliers(
    const State& rt, const Cluster& cluster, std::map<std::string, State::ClusterOutliers>& next) {
  const State::ClusterOutliers* before = nullptr;
  if (auto it = rt.outliers.find(cluster.name); it != rt.outliers.end()) before = &it->second;
  State::ClusterOutliers& mine = next[cluster.name];
  std::vector<std::shared_ptr<EndpointOutlier>> out;
  for (const Endpoint& ep : cluster.endpoints) {
    const std::string key = ep.address + ":" + std::to_string(ep.port);
    State::Outlier& o = mine[key];
    if (!o.state) {
      const State::Outlier* prev = nullptr;
      if (before != nullptr) {
        if (auto it = before->find(key); it != before->end()) prev = &it->second;
      }
      if (prev == nullptr) {
        o.state = std::make_shared<EndpointOutlier>();
      } else {
        o.state = prev->state;
        if (prev->health == Endpoint::Health::kCritical &&
            ep.health != Endpoint::Health::kCritical) {
          o.state->Reset();
        }
      }
    }
    o.health = ep.health;
    out.push_back(o.state);
  }
  return out;
}

}  // namespace

struct Runtime::Impl : State {};

Runtime::Runtime() : impl_(std::make_unique<Impl>()) {}

Runtime::~Runtime() {
  if (impl_->started && !impl_->stopped) Drain(std::chrono::steady_clock::now());
}

Status Runtime::Start(const RuntimeOptions& options) {
  Impl& rt = *impl_;
  if (rt.started) return InvalidArgument("proxy runtime already started");
  rt.options = options;
  // splice(2) into a socket the peer reset raises SIGPIPE (it has no MSG_NOSIGNAL); a proxy must
  // see EPIPE instead of dying.
  ::signal(SIGPIPE, SIG_IGN);
  int n = options.workers > 0 ? options.workers
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::optional<ListenSockets> admin;
  if (options.admin_port >= 0) {
    auto opened = OpenListenSockets(options.admin_address, options.admin_port, 1);
    if (!opened.ok()) return Status(opened.status().code(), "admin: " + opened.status().message());
    admin = std::move(*opened);
    rt.admin_port = admin->port;
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->rt = &rt;
    w->index = i;
    w->io = std::make_unique<asio::io_context>(1);
    w->guard.emplace(w->io->get_executor());
    rt.workers.push_back(std::move(w));
  }
  if (admin) {
    Worker& w0 = *rt.workers[0];
    w0.admin = std::make_shared<tcp::acceptor>(*w0.io);
    error_code ec;
    w0.admin->assign(admin->v6 ? tcp::v6() : tcp::v4(), admin->fds[0], ec);
    if (ec) return Internal("admin: " + ec.message());
    asio::co_spawn(*w0.io, AdminLoop(&rt, w0.admin), asio::detached);
  }
  for (auto& w : rt.workers) {
    Worker* worker = w.get();
    w->thread = std::thread([worker] { worker->io->run(); });
  }
  rt.started = true;
  LogInfo(kLog, "runtime started: " + std::to_string(n) + " workers, admin " +
                    (admin ? options.admin_address + ":" + std::to_string(rt.admin_port.load())
                           : std::string("off")));
  return Status::Ok();
}

Status Runtime::Apply(std::shared_ptr<const Config> config, ApplyOrder order) {
  Impl& rt = *impl_;
  if (!rt.started || rt.stopped) return Unavailable("proxy runtime is not running");
  if (!config) return InvalidArgument("no config");
  if (rt.current && (config->version == rt.current->config->version ||
                     (order == ApplyOrder::kNewerOnly &&
                      config->version < rt.current->config->version))) {
    LogInfo(kLog, "config version " + std::to_string(config->version) + " ignored: version " +
                      std::to_string(rt.current->config->version) + " is applied");
    return Status::Ok();
  }
  if (Status s = Validate(*config); !s.ok()) return s;

  auto snap = std::make_shared<Snapshot>();
  snap->config = config;
  std::map<std::string, State::ClusterOutliers> outliers;  // rt.outliers once applied
  if (config->kind == Config::Kind::kConnectProxy) {
    Result<InboundAuthz> inbound = InboundAuthz::Build(config->authz);
    if (!inbound.ok()) return inbound.status();
    snap->inbound_authz = std::make_unique<InboundAuthz>(std::move(*inbound));
  }
  if (config->leaf) {
    auto tls = MeshTls::Build(*config, rt.current ? rt.current->tls.get() : nullptr);
    if (!tls.ok()) return tls.status();
    snap->tls = *tls;
    SSL_CTX_up_ref(snap->tls->server());
    snap->server_ctx = std::make_unique<ssl::context>(snap->tls->server());
    SSL_CTX_up_ref(snap->tls->client());
    snap->client_ctx = std::make_unique<ssl::context>(snap->tls->client());
  }
  {
    std::lock_guard lock(rt.mu);
    for (const auto& cluster : config->clusters) {
      auto& counters = rt.cluster_counters[cluster.name];
      if (!counters) counters = std::make_shared<ClusterCounters>();
      snap->clusters[Lower(cluster.name)] = std::make_unique<ClusterState>(
          cluster, counters, KeepOutliers(rt, cluster, outliers), rt.options.outliers);
    }
    for (const auto& listener : config->listeners) {
      auto& counters = rt.listener_counters[listener.name];
      if (!counters) counters = std::make_shared<ListenerCounters>();
      snap->listeners[listener.name] = &listener;
      snap->listener_counters[listener.name] = counters;
      for (const auto& chain : listener.chains) {
        if (!chain.route) continue;
        Result<HttpRouter> router = HttpRouter::Build(*chain.route);
        if (!router.ok()) return router.status();
        auto table = std::make_unique<RouteTable>(RouteTable{std::move(*router), {}, nullptr});
        auto counter = [&rt](const std::string& name) {
          auto& c = rt.route_counters[name];
          if (!c) c = std::make_shared<RouteCounters>();
          return c;
        };
        for (size_t i = 0; i < chain.route->routes.size(); ++i) {
          table->counters.push_back(counter(listener.name + "#" + std::to_string(i)));
        }
        table->unmatched = counter(listener.name + "#none");
        snap->routes[&chain] = std::move(table);
      }
    }
  }

  // Open what is new or moved before touching anything, so a bind error changes nothing.
  struct Open {
    std::string name;
    ListenSockets sockets;
  };
  std::vector<Open> opens;
  std::vector<std::string> closes;
  const int n = static_cast<int>(rt.workers.size());
  for (const auto& listener : config->listeners) {
    auto it = rt.bound.find(listener.name);
    if (it != rt.bound.end() && it->second.address == listener.address &&
        it->second.requested_port == listener.port) {
      continue;
    }
    auto sockets = OpenListenSockets(listener.address, listener.port, n);
    if (!sockets.ok()) {
      for (auto& o : opens) CloseFds(o.sockets.fds);
      return Status(sockets.status().code(),
                    "listener " + listener.name + ": " + sockets.status().message());
    }
    if (it != rt.bound.end()) closes.push_back(listener.name);
    opens.push_back({listener.name, std::move(*sockets)});
  }
  for (const auto& [name, b] : rt.bound) {
    if (!snap->listeners.count(name)) closes.push_back(name);
  }

  for (int i = 0; i < n; ++i) {
    Worker* w = rt.workers[i].get();
    std::vector<std::pair<std::string, std::pair<int, bool>>> mine;
    for (const auto& o : opens) mine.push_back({o.name, {o.sockets.fds[i], o.sockets.v6}});
    asio::post(*w->io, [w, snap, closes, mine = std::move(mine)] {
      for (const auto& name : closes) {
        auto it = w->acceptors.find(name);
        if (it == w->acceptors.end()) continue;
        CloseAcceptor(*it->second);
        w->acceptors.erase(it);
      }
      w->current = snap;
      CloseNewlyDenied(*w);
      // Connections dialed under an older config take no new stream (docs/mux.md).
      for (auto& [key, m] : w->mux) {
        if (m->snap != snap && m->session) m->session->GoAway("new config");
      }
      for (const auto& [name, fd] : mine) {
        auto acceptor = std::make_shared<tcp::acceptor>(*w->io);
        error_code ec;
        acceptor->assign(fd.second ? tcp::v6() : tcp::v4(), fd.first, ec);
        if (ec) {
          ::close(fd.first);
          LogError(kLog, "listener=" + name + ": " + ec.message());
          continue;
        }
        w->acceptors[name] = acceptor;
        asio::co_spawn(*w->io, AcceptLoop(w, name, acceptor), asio::detached);
      }
    });
  }

  {
    std::lock_guard lock(rt.mu);
    for (const auto& name : closes) {
      rt.bound.erase(name);
      rt.ports.erase(name);
    }
    for (const auto& o : opens) {
      const Listener* l = snap->listeners.at(o.name);
      rt.bound[o.name] = {l->address, l->port};
      rt.ports[o.name] = o.sockets.port;
      LogInfo(kLog, "listener=" + o.name + " listening on " + l->address + ":" +
                        std::to_string(o.sockets.port));
    }
  }
  rt.current = snap;
  rt.outliers = std::move(outliers);
  rt.version.store(config->version);
  rt.ready.store(true);
  return Status::Ok();
}

RuntimeStats Runtime::Stats() const { return impl_->Stats(); }

int Runtime::ListenerPort(std::string_view name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->ports.find(name);
  return it == impl_->ports.end() ? 0 : it->second;
}

int Runtime::AdminPort() const { return impl_->admin_port.load(); }

uint64_t Runtime::version() const { return impl_->version.load(); }

void Runtime::Drain(std::chrono::steady_clock::time_point deadline) {
  Impl& rt = *impl_;
  if (!rt.started || rt.stopped) return;
  rt.ready.store(false);
  for (auto& w : rt.workers) {
    Worker* worker = w.get();
    asio::post(*worker->io, [worker] {
      for (auto& [name, acceptor] : worker->acceptors) CloseAcceptor(*acceptor);
      worker->acceptors.clear();
      for (auto& [id, c] : worker->connections) {
        if (c->drain) c->drain();
      }
      for (auto& [key, m] : worker->mux) {
        if (m->session) m->session->GoAway("draining");
      }
    });
  }
  {
    std::lock_guard lock(rt.mu);
    rt.ports.clear();
  }
  rt.bound.clear();
  {
    std::unique_lock lock(rt.drain_mu);
    rt.drained.wait_until(lock, deadline, [&rt] { return rt.active.load() == 0; });
  }
  int64_t left = rt.active.load();
  if (left > 0) LogInfo(kLog, "drain deadline: closing " + std::to_string(left) + " connections");
  for (auto& w : rt.workers) {
    Worker* worker = w.get();
    asio::post(*worker->io, [worker] {
      for (auto& [id, c] : worker->connections) c->Close();
      for (auto& [key, m] : worker->mux) {
        if (m->session) {
          m->session->Close();
        } else {
          error_code ignored;
          m->socket.close(ignored);
        }
      }
      if (worker->admin) CloseAcceptor(*worker->admin);
      worker->guard.reset();
    });
  }
  for (auto& w : rt.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  rt.workers.clear();
  rt.stopped = true;
}

}  // namespace gangway::proxy
