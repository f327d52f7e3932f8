// Test-only HTTP/1.1 on plain POSIX: an app server whose handler sees each request (keep-alive,
// Content-Length bodies, as the router sends them) and a blocking client that reads one
// response (Content-Length or chunked). The server runs its own threads; a client is used by one.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/testing/harness.h"

namespace gangway::proxy::testing {

struct AppRequest {
  std::string method;
  std::string target;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct AppResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpApp {
 public:
  using Handler = std::function<AppResponse(const AppRequest&)>;
  explicit HttpApp(Handler handler);
  int port() const { return server_.port(); }

 private:
  void Session(int fd);

  Handler handler_;
  TcpServer server_;  // last: its sessions use handler_
};

struct HttpReply {
  int status = 0;  // 0: no complete response (closed, timed out, garbage)
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& name) const;
};

// Writes `raw` on `fd` and reads one response (5 s socket timeouts, from ConnectTcp).
HttpReply Exchange(int fd, const std::string& raw);
// A GET with keep-alive and the extra header lines given ("name: value\r\n" each).
std::string Get(const std::string& target, const std::string& extra = "");

}  // namespace gangway::proxy::testing
