// HTTP/1.1 clients: a blocking one for the CLI (one request per call, its own io_context), and an
// asynchronous one on an EventLoop for HTTP health checks. Neither follows redirects.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/message.h"
#include "net/event_loop.h"
#include "x509/tls_context.h"

namespace gangway::http {

struct ClientRequest {
  std::string method = "GET";
  std::string host;  // name or IP
  int port = 80;
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
  // HTTPS when set (a client context). The server's certificate must then carry tls_server_name
  // (default: host) when the context verifies (verify_outgoing). Blocking Fetch only.
  std::shared_ptr<const x509::TlsContext> tls;
  std::string tls_server_name;
};

// Parses "http://host:port/path" (scheme optional for "host:port"); false when malformed or
// https:// (use ParseUrlScheme).
bool ParseUrl(const std::string& url, std::string* host, int* port, std::string* target);

// Blocking request; the Response carries status, headers and body.
Result<Response> Fetch(const ClientRequest& req);

// Asynchronous request on the loop; done runs on the loop thread.
void FetchAsync(net::EventLoop& loop, ClientRequest req, std::function<void(Result<Response>)> done);

}  // namespace gangway::http
