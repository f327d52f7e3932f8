#include "client/checks.h"

#include <algorithm>

#include "client/grpc_health.h"
#include "core/duration.h"
#include "core/strings.h"
#include "http/client.h"

namespace gangway::client {

StatusHandler::StatusHandler(int success_before_passing, int failures_before_warning,
                             int failures_before_critical)
    : success_before_passing_(std::max(1, success_before_passing)),
      failures_before_warning_(failures_before_warning),
      failures_before_critical_(std::max(1, failures_before_critical)) {}

std::string StatusHandler::OnResult(const std::string& raw) {
  if (raw == catalog::kPassing) {
    failures_ = 0;
    ++successes_;
    return successes_ >= success_before_passing_ ? catalog::kPassing : "";
  }
  if (raw == catalog::kWarning) {
    // Warnings reset the success run but are reported as they come, like Consul.
    successes_ = 0;
    failures_ = 0;
    return catalog::kWarning;
  }
  successes_ = 0;
  ++failures_;
  if (failures_ >= failures_before_critical_) return catalog::kCritical;
  if (failures_before_warning_ > 0 && failures_ >= failures_before_warning_) return catalog::kWarning;
  return "";
}

CheckRunner::CheckRunner(Loop& loop, Prober& prober, catalog::CheckRegistration def, Report report)
    : loop_(loop),
      prober_(prober),
      def_(std::move(def)),
      report_(std::move(report)),
      handler_(def_.success_before_passing, def_.failures_before_warning,
               def_.failures_before_critical),
      alive_(std::make_shared<bool>(true)) {}

CheckRunner::~CheckRunner() { *alive_ = false; }

void CheckRunner::Start() {
  if (is_ttl()) {
    Schedule(std::chrono::nanoseconds(def_.definition.ttl_ns));
    return;
  }
  if (!def_.definition.http.empty() || !def_.definition.tcp.empty() ||
      !def_.definition.udp.empty() || !def_.definition.script_args.empty() ||
      !def_.definition.grpc.empty() || !def_.definition.h2ping.empty()) {
    // The first probe runs promptly so a new service shows its real state quickly.
    Schedule(std::chrono::milliseconds(10));
  }
}

void CheckRunner::Schedule(std::chrono::nanoseconds delay) {
  timer_ = loop_.After(delay, [this] {
    if (is_ttl()) {
      report_(catalog::kCritical, "TTL expired");
      return;
    }
    RunOnce();
  });
}

void CheckRunner::SetTTL(const std::string& status, const std::string& output) {
  std::string out = output.substr(0, kCheckOutputMax);
  report_(status, out);
  Schedule(std::chrono::nanoseconds(def_.definition.ttl_ns));
}

void CheckRunner::Outcome(const std::string& status, const std::string& output) {
  std::string reported = handler_.OnResult(status);
  if (!reported.empty()) report_(reported, output.substr(0, kCheckOutputMax));
  auto interval = std::chrono::nanoseconds(def_.definition.interval_ns);
  if (interval <= std::chrono::nanoseconds(0)) interval = std::chrono::seconds(10);
  Schedule(interval);
}

std::pair<std::string, std::string> ScriptOutcome(const ScriptResult& r,
                                                  std::chrono::nanoseconds timeout) {
  if (!r.start_error.empty()) return {catalog::kCritical, r.start_error};
  std::string output = r.output;
  if (r.output_total > r.output.size()) {
    output = "Captured " + std::to_string(r.output.size()) + " of " +
             std::to_string(r.output_total) + " bytes\n...\n" + r.output;
  }
  if (r.timed_out) {
    std::string text = "Timed out (" + FormatDuration(timeout) + ") running check";
    if (!output.empty()) text += "\n\n" + output;
    return {catalog::kCritical, text};
  }
  if (r.exit_code == 0) return {catalog::kPassing, output};
  if (r.exit_code == 1) return {catalog::kWarning, output};
  return {catalog::kCritical, output};
}

void CheckRunner::RunOnce() {
  auto timeout = std::chrono::nanoseconds(def_.definition.timeout_ns);
  std::weak_ptr<bool> alive = alive_;
  if (!def_.definition.script_args.empty()) {
    // Consul's default for scripts is 30 s.
    if (timeout <= std::chrono::nanoseconds(0)) timeout = std::chrono::seconds(30);
    prober_.RunScript(def_.definition.script_args, timeout, kCheckOutputMax,
                      [this, alive, timeout](ScriptResult r) {
                        if (alive.expired()) return;
                        auto [status, output] = ScriptOutcome(r, timeout);
                        Outcome(status, output);
                      });
    return;
  }
  if (timeout <= std::chrono::nanoseconds(0)) timeout = std::chrono::seconds(10);
  if (!def_.definition.grpc.empty()) {
    RunGrpc(timeout);
    return;
  }
  if (!def_.definition.h2ping.empty()) {
    RunH2Ping(timeout);
    return;
  }
  if (!def_.definition.tcp.empty() || !def_.definition.udp.empty()) {
    bool udp = def_.definition.tcp.empty();
    const std::string target = udp ? def_.definition.udp : def_.definition.tcp;
    size_t colon = target.rfind(':');
    std::string host = colon == std::string::npos ? target : target.substr(0, colon);
    int port = 0;
    if (colon != std::string::npos) {
      try {
        port = std::stoi(target.substr(colon + 1));
      } catch (...) {
        port = 0;
      }
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const std::string kind = udp ? "UDP" : "TCP";
    if (port <= 0 || port > 65535) {
      Outcome(catalog::kCritical, "invalid " + kind + " check address \"" + target + "\"");
      return;
    }
    auto done = [this, alive, target, kind](Status s) {
      if (alive.expired()) return;
      if (s.ok()) {
        Outcome(catalog::kPassing, kind + " connect " + target + ": Success");
      } else {
        Outcome(catalog::kCritical, s.message());
      }
    };
    if (udp) {
      prober_.ProbeUdp(host, port, timeout, std::move(done));
    } else {
      prober_.ProbeTcp(host, port, timeout, std::move(done));
    }
    return;
  }
  http::ClientRequest req;
  std::string url = def_.definition.http;
  if (!http::ParseUrl(url, &req.host, &req.port, &req.target)) {
    Outcome(catalog::kCritical, "invalid HTTP check URL \"" + url + "\"");
    return;
  }
  req.method = def_.definition.method.empty() ? "GET" : def_.definition.method;
  req.body = def_.definition.body;
  req.timeout = timeout;
  for (const auto& [name, values] : def_.definition.header) {
    for (const auto& v : values) req.headers.emplace_back(name, v);
  }
  std::string method = req.method;
  prober_.FetchHttp(std::move(req), [this, alive, url, method](Result<http::Response> r) {
    if (alive.expired()) return;
    if (!r.ok()) {
      Outcome(catalog::kCritical, method + " \"" + url + "\": " + r.status().message());
      return;
    }
    int code = r->status;
    std::string body = r->body.substr(0, kCheckOutputMax);
    std::string out = "HTTP " + method + " " + url + ": " + std::to_string(code) + " Output: " + body;
    if (code >= 200 && code < 300) {
      Outcome(catalog::kPassing, out);
    } else if (code == 429) {
      Outcome(catalog::kWarning, out);
    } else {
      Outcome(catalog::kCritical, out);
    }
  });
}

void CheckRunner::RunGrpc(std::chrono::nanoseconds timeout) {
  const std::string& target = def_.definition.grpc;
  auto parsed = ParseGrpcTarget(target);
  if (!parsed.ok()) {
    Outcome(catalog::kCritical, parsed.status().message());
    return;
  }
  net::H2Endpoint to{.host = parsed->host,
                     .port = parsed->port,
                     .tls = def_.definition.grpc_use_tls,
                     .tls_skip_verify = def_.definition.tls_skip_verify,
                     .tls_server_name = def_.definition.tls_server_name};
  net::H2Request req;
  req.path = std::string(kGrpcHealthCheckPath);
  req.authority = parsed->authority;
  req.headers = {{"content-type", "application/grpc"},
                 {"te", "trailers"},
                 {"user-agent", "gangway-health-check"},
                 {"grpc-timeout", GrpcTimeout(timeout)}};
  req.body = GrpcFrame(EncodeHealthCheckRequest(parsed->service));
  std::weak_ptr<bool> alive = alive_;
  prober_.CallH2(to, std::move(req), timeout, kGrpcMaxMessage + 5 + 1,
                 [this, alive, target](net::H2Result r) {
                   if (alive.expired()) return;
                   auto [status, output] = GrpcCheckOutcome(target, r);
                   Outcome(status, output);
                 });
}

void CheckRunner::RunH2Ping(std::chrono::nanoseconds timeout) {
  const std::string& target = def_.definition.h2ping;
  net::H2Endpoint to{.tls = def_.definition.h2ping_use_tls,
                     .tls_skip_verify = def_.definition.tls_skip_verify,
                     .tls_server_name = def_.definition.tls_server_name};
  if (!SplitHostPort(target, &to.host, &to.port)) {
    Outcome(catalog::kCritical,
            "invalid H2PING check target \"" + target + "\": want \"host:port\"");
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  prober_.PingH2(to, timeout, [this, alive, target](net::H2Result r) {
    if (alive.expired()) return;
    auto [status, output] = H2PingOutcome(target, r);
    Outcome(status, output);
  });
}

std::string GrpcTimeout(std::chrono::nanoseconds timeout) {
  // At most 8 digits (gRPC over HTTP/2, "Timeout"): milliseconds, or seconds when longer.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  if (ms < 1) ms = 1;
  if (ms <= 99999999) return std::to_string(ms) + "m";
  return std::to_string(std::min<int64_t>(ms / 1000, 99999999)) + "S";
}

}  // namespace gangway::client
