#include "agent/loopback.h"

namespace gangway::agent {

void LoopbackRequest(http::Handler* const* api, std::string method, std::string target,
                     std::string body, std::shared_ptr<http::Cancellation> cancel,
                     std::function<void(const http::Response&)> done,
                     const std::string& token) {
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  http::Request::ParseTarget(req.target, &req.path, &req.query);
  req.body = std::move(body);
  req.remote_address = "127.0.0.1";
  if (!token.empty()) req.headers["X-Consul-Token"] = token;
  if (!cancel) cancel = std::make_shared<http::Cancellation>();
  (*api)->Handle(std::move(req), std::move(cancel),
                 [done = std::move(done)](http::Response r) {
                   r.UnshareBody();  // callers read `body`
                   done(r);
                 });
}

}  // namespace gangway::agent
