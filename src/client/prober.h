// The network probes behind HTTP, TCP, UDP, gRPC and H2PING health checks, behind an interface
// so checks run on a simulated loop in tests. The agent owns one NetProber on its event loop;
// calls and callbacks are on that loop's thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/client.h"
#include "net/h2_client.h"

namespace gangway::net {
class EventLoop;
}  // namespace gangway::net

namespace gangway::client {

// How a script check's process ended.
struct ScriptResult {
  std::string start_error;  // set when the process could not be started
  int exit_code = -1;       // -1: killed by a signal or by the timeout
  bool timed_out = false;
  std::string output;       // stdout and stderr together: the last max_output bytes
  size_t output_total = 0;  // bytes written in all
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Connects to host:port and closes; done(Ok) when the connection was accepted within timeout.
  virtual void ProbeTcp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                        std::function<void(Status)> done) = 0;
  // One datagram to host:port (Consul's UDP check); done(Ok) on a reply or on silence until
  // timeout, an error when sending or reading fails (ICMP port unreachable).
  virtual void ProbeUdp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                        std::function<void(Status)> done) = 0;
  // One HTTP request (req.timeout applies); done gets the response whatever its status code.
  virtual void FetchHttp(http::ClientRequest req,
                         std::function<void(Result<http::Response>)> done) = 0;
  // One HTTP/2 request on a new connection (gRPC checks); done once, within timeout.
  virtual void CallH2(const net::H2Endpoint& to, net::H2Request req,
                      std::chrono::nanoseconds timeout, size_t max_body,
                      std::function<void(net::H2Result)> done) = 0;
  // One HTTP/2 PING on a new connection (H2PING checks); done once, within timeout.
  virtual void PingH2(const net::H2Endpoint& to, std::chrono::nanoseconds timeout,
                      std::function<void(net::H2Result)> done) = 0;
  // Runs args[0] with args (no shell, the agent's environment) in a process group of its own,
  // off the loop; on timeout the group is killed. done on the loop's thread.
  virtual void RunScript(std::vector<std::string> args, std::chrono::nanoseconds timeout,
                         size_t max_output, std::function<void(ScriptResult)> done) = 0;
};

// Probes over real sockets on `loop` (net::ProbeTcp, http::FetchAsync, net::H2Client), scripts
// on threads of its own. TLS probes verify servers against ca_file/ca_path (the system's roots
// when both are empty) unless the check sets TLSSkipVerify. `loop` must outlive it.
std::unique_ptr<Prober> MakeNetProber(net::EventLoop& loop, std::string ca_file = "",
                                      std::string ca_path = "");

}  // namespace gangway::client
