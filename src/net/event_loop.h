// EventLoop: the Loop interface over a Boost.Asio io_context, run by one thread. The control plane's
// state is owned by the thread that calls Run().
#pragma once

#include <memory>

#include "core/loop.h"
#include "core/status.h"

namespace boost::asio {
class io_context;
}

namespace gangway::net {

class EventLoop : public Loop {
 public:
  EventLoop();
  ~EventLoop() override;

  void Post(std::function<void()> fn) override;
  std::unique_ptr<Timer> After(std::chrono::nanoseconds d, std::function<void()> fn) override;
  std::chrono::steady_clock::time_point Now() const override;

  // Runs until Stop(). Stop() is safe from any thread (and from signal-handling code via Post).
  void Run();
  void Stop();
  boost::asio::io_context& context();

 private:
  std::unique_ptr<boost::asio::io_context> io_;
};

// Connects to host:port within timeout; done(ok status or the connect error). Loop thread only.
void ProbeTcp(EventLoop& loop, const std::string& host, int port, std::chrono::nanoseconds timeout,
              std::function<void(Status)> done);

// A UDP health probe as Consul's UDP check makes it: one datagram to host:port; done(Ok) when a
// reply or nothing arrives within timeout, an error when the send or the read fails (an ICMP
// port unreachable reads as "connection refused"). Loop thread only.
void ProbeUdp(EventLoop& loop, const std::string& host, int port, std::chrono::nanoseconds timeout,
              std::function<void(Status)> done);

// Calls fn(signal) on the loop thread for each SIGINT/SIGTERM received, for as long as the
// returned handle is kept. Loop thread only.
std::shared_ptr<void> OnSignals(EventLoop& loop, std::function<void(int)> fn);

}  // namespace gangway::net
