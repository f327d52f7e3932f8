#include "apiclient/watch.h"

#include <utility>

#include "http/client.h"

namespace gangway::apiclient {

Duration WatchBackoff(int failures, Duration base, Duration max) {
  if (failures <= 0) return Duration(0);
  // Past the cap the square only risks overflow.
  if (failures > 1000) return max;
  Duration d = base * (static_cast<int64_t>(failures) * failures);
  return d > max ? max : d;
}

Watch::Watch(net::EventLoop& loop, AgentAddress address, std::string path, uint64_t index,
             Callback callback, WatchOptions options, ErrorCallback on_error)
    : loop_(loop),
      address_(std::move(address)),
      path_(std::move(path)),
      index_(index),
      callback_(std::move(callback)),
      options_(std::move(options)),
      on_error_(std::move(on_error)) {
  // Posted, so that no callback runs before the constructor's caller holds the Watch.
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (!alive.expired()) Query();
  });
}

Watch::~Watch() = default;

void Watch::Query() {
  if (address_.https && !options_.tls) {
    return Retry(InvalidArgument("watching https://" + address_.hostport +
                                 " needs a TLS client context"));
  }
  Params params = options_.params;
  if (index_ > 0) params.emplace_back("index", std::to_string(index_));
  params.emplace_back("wait", FormatDuration(options_.wait));
  http::ClientRequest req;
  req.method = "GET";
  req.host = address_.host;
  req.port = address_.port;
  req.target = BuildTarget(path_, params);
  // The agent adds up to wait/16 of jitter to a blocking query; allow that and a margin.
  req.timeout = options_.wait + options_.wait / 16 + std::chrono::seconds(10);
  if (!options_.token.empty()) req.headers.emplace_back("X-Consul-Token", options_.token);
  if (address_.https) {
    req.tls = options_.tls;
    req.tls_server_name = options_.tls_server_name;
  }
  std::weak_ptr<bool> alive = alive_;
  http::FetchAsync(loop_, std::move(req), [this, alive](Result<http::Response> answer) {
    if (!alive.expired()) OnAnswer(std::move(answer));
  });
}

void Watch::OnAnswer(Result<http::Response> answer) {
  if (!answer.ok()) return Retry(answer.status());
  if (answer->status != 200) return Retry(UnexpectedResponse(*answer));
  uint64_t index = IndexOf(*answer);
  if (index == 0) {
    // Without an index the next query could not block: it would spin against the agent.
    return Retry(Internal("the answer to GET " + path_ + " carries no X-Consul-Index"));
  }
  failures_ = 0;
  if (index == index_) return Query();  // the wait ran out with nothing new
  // An index that goes backwards means the servers' state was replaced (a snapshot restore, a
  // rebuilt cluster): start over from 0, as Consul's watch does, and report what is there now.
  index_ = index < index_ ? 0 : index;
  // As Consul's watch, an answer equal to the last one reported is not reported again (after a
  // reset the first answer is usually the same data at the same index).
  if (reported_ && answer->body == last_body_) return Query();
  reported_ = true;
  last_body_ = answer->body;
  std::weak_ptr<bool> alive = alive_;
  callback_(index, *answer);
  if (!alive.expired()) Query();
}

void Watch::Retry(const Status& error) {
  ++failures_;
  Duration pause = WatchBackoff(failures_, options_.retry_base, options_.retry_max);
  std::weak_ptr<bool> alive = alive_;
  if (on_error_) on_error_(error, pause);
  if (alive.expired()) return;
  retry_timer_ = loop_.After(pause, [this, alive] {
    if (!alive.expired()) Query();
  });
}

}  // namespace gangway::apiclient
