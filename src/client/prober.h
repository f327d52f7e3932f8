// The network probes behind HTTP and TCP health checks, behind an interface so checks run on a
// simulated loop in tests. The agent owns one NetProber on its event loop; calls and callbacks
// are on that loop's thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/client.h"

namespace gangway::net {
class EventLoop;
}  // namespace gangway::net

namespace gangway::client {

class Prober {
 public:
  virtual ~Prober() = default;
  // Connects to host:port and closes; done(Ok) when the connection was accepted within timeout.
  virtual void ProbeTcp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                        std::function<void(Status)> done) = 0;
  // One HTTP request (req.timeout applies); done gets the response whatever its status code.
  virtual void FetchHttp(http::ClientRequest req,
                         std::function<void(Result<http::Response>)> done) = 0;
};

// Probes over real sockets on `loop` (net::ProbeTcp, http::FetchAsync). `loop` must outlive it.
std::unique_ptr<Prober> MakeNetProber(net::EventLoop& loop);

}  // namespace gangway::client
