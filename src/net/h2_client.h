// A minimal HTTP/2 client for health probes (gRPC and H2PING checks): each call opens a new
// connection (h2c with prior knowledge, or TLS with ALPN "h2"), does one request or one PING,
// and closes. libnghttp2 frames the protocol in memory; Asio carries the bytes on the loop, so
// nothing blocks. Owned by the agent's prober; calls and callbacks on the loop's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/event_loop.h"

namespace gangway::net {

struct H2Endpoint {
  std::string host;  // name or IP (no brackets)
  int port = 0;
  bool tls = false;
  bool tls_skip_verify = false;
  std::string tls_server_name;  // SNI and the name to verify; default: host
};

using H2Headers = std::vector<std::pair<std::string, std::string>>;

struct H2Request {
  std::string path;
  std::string authority;
  H2Headers headers;  // regular headers; :method is POST, :scheme follows the endpoint
  std::string body;
};

// Where a call stopped, so that callers word the failure as their protocol does.
enum class H2Stage {
  kOk,
  kDial,        // resolving or connecting (message like Go's "dial tcp 127.0.0.1:1: connect: ...")
  kHandshake,   // TLS (message as Go's crypto/tls words it)
  kConnection,  // after the connection was up: closed, reset, HTTP/2 protocol error
};

struct H2Result {
  H2Stage stage = H2Stage::kOk;
  bool timed_out = false;     // the deadline passed (stage says where)
  bool got_settings = false;  // the server's connection preface (SETTINGS) arrived
  std::string error;          // when stage != kOk
  // A request's answer (a stream reset is kOk with reset_code set):
  int status = 0;  // :status
  H2Headers headers;
  H2Headers trailers;
  std::string body;  // at most max_body bytes
  bool body_truncated = false;
  uint32_t reset_code = 0;  // RST_STREAM error code, 0 when the stream ended normally
};

// Builds TLS client contexts once (CA: ca_file/ca_path, else the system's roots).
class H2Client {
 public:
  explicit H2Client(EventLoop& loop, std::string ca_file = "", std::string ca_path = "");
  ~H2Client();

  // One request; done once with the answer or where it failed, within timeout.
  void Request(const H2Endpoint& to, H2Request req, std::chrono::nanoseconds timeout,
               size_t max_body, std::function<void(H2Result)> done);
  // One PING; done(kOk) when its ACK arrived within timeout.
  void Ping(const H2Endpoint& to, std::chrono::nanoseconds timeout,
            std::function<void(H2Result)> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Go's wording of an HTTP/2 error code ("PROTOCOL_ERROR", "unknown error code 0x42").
std::string H2ErrorCodeName(uint32_t code);

}  // namespace gangway::net
