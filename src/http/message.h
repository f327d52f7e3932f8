// HTTP request/response values passed between the server (Beast, in server.cc) and handlers, so
// handlers never see Beast. Plain values; any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gangway::http {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // raw request target
  std::string path;    // percent-decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string remote_address;

  bool Has(const std::string& name) const;
  // First value of a query parameter (present without value: "").
  std::optional<std::string> Query(const std::string& name) const;
  std::vector<std::string> QueryAll(const std::string& name) const;

  // Splits "path?query" into path and decoded parameters. False on a malformed target.
  static bool ParseTarget(const std::string& target, std::string* path,
                          std::vector<std::pair<std::string, std::string>>* query);
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A response that many requests share (the waiters of one blocking query) keeps its body here
  // instead, so that copying the Response does not copy the bytes. Readers use Body().
  std::shared_ptr<const std::string> shared_body;

  const std::string& Body() const { return shared_body ? *shared_body : body; }
  // Moves `body` into `shared_body`; copies made afterwards share it.
  void ShareBody();
  // Copies a shared body back into `body`, for code that reads `body` directly.
  void UnshareBody();

  void Set(const std::string& name, std::string value);
  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

// A response sink: call exactly once, on the loop thread that delivered the request.
using Reply = std::function<void(Response)>;

// Set by the server on each request; fires at most once if the client goes away before the reply
// (a blocking query can then release its waiter). Runs on the thread that calls the Handler.
// The server keeps the Cancellation alive through the Reply, so on_cancel must not own the Reply
// (a weak_ptr to what holds it is the usual shape).
struct Cancellation {
  std::function<void()> on_cancel;
  // Set by the server when the Reply is called; on_cancel is not called afterwards.
  bool answered = false;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(Request req, std::shared_ptr<Cancellation> cancel, Reply reply) = 0;
};

}  // namespace gangway::http
