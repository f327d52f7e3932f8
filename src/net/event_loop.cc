#include "net/event_loop.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>

namespace gangway::net {

namespace asio = boost::asio;

namespace {
class AsioTimer : public Timer {
 public:
  AsioTimer(asio::io_context& io, std::chrono::nanoseconds d, std::function<void()> fn)
      : state_(std::make_shared<State>(io)) {
    state_->fn = std::move(fn);
    state_->timer.expires_after(d);
    state_->timer.async_wait([s = state_](const boost::system::error_code& ec) {
      if (ec || s->cancelled) return;
      auto fn = std::move(s->fn);
      fn();
    });
  }
  ~AsioTimer() override {
    state_->cancelled = true;
    state_->fn = nullptr;
    state_->timer.cancel();
  }

 private:
  struct State {
    explicit State(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    std::function<void()> fn;
    bool cancelled = false;
  };
  std::shared_ptr<State> state_;
};
}  // namespace

EventLoop::EventLoop() : io_(std::make_unique<asio::io_context>(1)) {}
EventLoop::~EventLoop() = default;

void EventLoop::Post(std::function<void()> fn) { asio::post(*io_, std::move(fn)); }

std::unique_ptr<Timer> EventLoop::After(std::chrono::nanoseconds d, std::function<void()> fn) {
  return std::make_unique<AsioTimer>(*io_, d, std::move(fn));
}

std::chrono::steady_clock::time_point EventLoop::Now() const {
  return std::chrono::steady_clock::now();
}

void EventLoop::Run() {
  auto guard = asio::make_work_guard(*io_);
  io_->run();
}

void EventLoop::Stop() { io_->stop(); }

asio::io_context& EventLoop::context() { return *io_; }

namespace {
// One probe in flight: its resolver, socket and deadline; Finish answers once and closes all.
template <typename Protocol>
struct Probe {
  explicit Probe(asio::io_context& io) : resolver(io), socket(io), timer(io) {}
  typename Protocol::resolver resolver;
  typename Protocol::socket socket;
  asio::steady_timer timer;
  std::function<void(Status)> done;
  bool finished = false;
  char reply[512];  // UDP: the answer, if any (its content does not matter)
  void Finish(Status s) {
    if (finished) return;
    finished = true;
    timer.cancel();
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    auto d = std::move(done);
    d(std::move(s));
  }
};
}  // namespace

void ProbeTcp(EventLoop& loop, const std::string& host, int port, std::chrono::nanoseconds timeout,
              std::function<void(Status)> done) {
  auto p = std::make_shared<Probe<asio::ip::tcp>>(loop.context());
  p->done = std::move(done);
  std::string target = host + ":" + std::to_string(port);
  p->timer.expires_after(timeout);
  p->timer.async_wait([p, target](const boost::system::error_code& ec) {
    if (!ec) p->Finish(Unavailable("dial tcp " + target + ": i/o timeout"));
  });
  p->resolver.async_resolve(
      host, std::to_string(port),
      [p, target](const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type r) {
        if (p->finished) return;
        if (ec) return p->Finish(Unavailable("dial tcp " + target + ": " + ec.message()));
        asio::async_connect(p->socket, r,
                            [p, target](const boost::system::error_code& ec2, const auto&) {
                              if (ec2) {
                                p->Finish(Unavailable("dial tcp " + target + ": " + ec2.message()));
                              } else {
                                p->Finish(Status::Ok());
                              }
                            });
      });
}

void ProbeUdp(EventLoop& loop, const std::string& host, int port, std::chrono::nanoseconds timeout,
              std::function<void(Status)> done) {
  auto p = std::make_shared<Probe<asio::ip::udp>>(loop.context());
  p->done = std::move(done);
  std::string target = host + ":" + std::to_string(port);
  p->resolver.async_resolve(
      host, std::to_string(port),
      [p, target, timeout](const boost::system::error_code& ec,
                           asio::ip::udp::resolver::results_type r) {
        if (p->finished) return;
        if (ec || r.empty()) {
          return p->Finish(Unavailable("dial udp " + target + ": " +
                                       (ec ? ec.message() : std::string("no address"))));
        }
        boost::system::error_code cec;
        auto to = r.begin()->endpoint();
        p->socket.open(to.protocol(), cec);
        if (!cec) p->socket.connect(to, cec);
        if (cec) return p->Finish(Unavailable("dial udp " + target + ": " + cec.message()));
        std::string local;
        if (auto ep = p->socket.local_endpoint(cec); !cec) {
          local = ep.address().to_string() + ":" + std::to_string(ep.port());
        }
        // No answer within the timeout is a success too: only an error (an ICMP port
        // unreachable) says nothing listens.
        p->timer.expires_after(timeout);
        p->timer.async_wait([p](const boost::system::error_code& tec) {
          if (!tec) p->Finish(Status::Ok());
        });
        static const char kPing[] = "gangway health check";
        p->socket.async_send(asio::buffer(kPing, sizeof kPing - 1),
                             [p, target, local](const boost::system::error_code& sec, size_t) {
                               if (sec) {
                                 return p->Finish(Unavailable("write udp " + local + "->" + target +
                                                              ": " + sec.message()));
                               }
                               p->socket.async_receive(
                                   asio::buffer(p->reply),
                                   [p, target, local](const boost::system::error_code& rec, size_t) {
                                     if (!rec) return p->Finish(Status::Ok());
                                     if (rec == asio::error::operation_aborted) return;
                                     p->Finish(Unavailable("read udp " + local + "->" + target +
                                                           ": " + rec.message()));
                                   });
                             });
      });
}

std::shared_ptr<void> OnSignals(EventLoop& loop, std::function<void(int)> fn) {
  auto set = std::make_shared<asio::signal_set>(loop.context(), SIGINT, SIGTERM);
  auto handler = std::make_shared<std::function<void(const boost::system::error_code&, int)>>();
  *handler = [set, fn = std::move(fn), weak = std::weak_ptr(handler)](
                 const boost::system::error_code& ec, int sig) {
    if (ec) return;
    fn(sig);
    if (auto h = weak.lock()) set->async_wait(*h);
  };
  set->async_wait(*handler);
  return handler;
}

}  // namespace gangway::net
