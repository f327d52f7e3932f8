#include "rpc/forwarding.h"

#include <algorithm>

#include "core/log.h"
#include "rpc/frame.h"

namespace gangway::rpc {

namespace {

std::string TagOf(const gossip::Member& m, const char* key) {
  auto it = m.tags.find(key);
  return it == m.tags.end() ? "" : it->second;
}

int HopsOf(const http::Request& req) {
  auto it = req.headers.find(kHopsHeader);
  if (it == req.headers.end()) return 0;
  int n = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || n > 100) return kMaxHops + 1;
    n = n * 10 + (c - '0');
  }
  return n;
}

http::Response ErrorText(int status, const std::string& text) {
  return http::Response::Text(status, text);
}

}  // namespace

ServerDirectory::ServerDirectory(std::string datacenter, gossip::Pool* lan, gossip::Pool* wan)
    : dc_(std::move(datacenter)), lan_(lan), wan_(wan) {}

std::vector<std::string> ServerDirectory::Servers(const std::string& dc) const {
  std::vector<std::string> out;
  gossip::Pool* pool = dc == dc_ ? lan_ : wan_;
  if (!pool) return out;
  for (const auto& m : pool->Members()) {
    if (m.status != gossip::MemberStatus::kAlive) continue;
    if (TagOf(m, "role") != "consul" || TagOf(m, "dc") != dc) continue;
    std::string port = TagOf(m, "port");
    if (port.empty() || port == "0") continue;
    std::string ip = m.addr.IpString();
    out.push_back((ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + port);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Forwarder::Forwarder(net::EventLoop& loop, Client& client, ServerDirectory directory)
    : loop_(loop), client_(client), directory_(std::move(directory)) {}

std::string Forwarder::Pick(const std::string& dc, Status* why) {
  // A server asked about its own datacenter: the leader answers.
  if (leader_ && dc == directory_.datacenter()) {
    std::string leader = leader_();
    if (leader.empty()) *why = NoLeader();
    return leader;
  }
  // A client agent has no WAN pool: its own servers forward on.
  std::string via = directory_.has_wan() ? dc : directory_.datacenter();
  auto servers = directory_.Servers(via);
  if (servers.empty()) {
    *why = via == directory_.datacenter() ? Unavailable("No known Consul servers")
                                          : Unavailable("No path to datacenter");
    return "";
  }
  // Round robin spreads load and moves past a server that just failed.
  return servers[next_++ % servers.size()];
}

Duration ForwardTimeout(const http::Request& req) {
  if (!req.Query("index")) return std::chrono::seconds(30);
  Duration wait = std::chrono::minutes(5);
  if (auto w = req.Query("wait"); w && !w->empty()) {
    if (auto d = ParseDuration(*w); d.ok()) wait = *d;
  }
  wait = std::min<Duration>(wait, std::chrono::minutes(10));
  return wait + wait / 16 + std::chrono::seconds(5);
}

void Forwarder::ForwardHttp(http::Request req, const std::string& dc,
                            std::shared_ptr<http::Cancellation> cancel, http::Reply reply) {
  int hops = HopsOf(req);
  if (hops >= kMaxHops) {
    reply(ErrorText(500, "rpc: request for datacenter \"" + dc + "\" was forwarded " +
                             std::to_string(hops) + " times already; refusing to forward again"));
    return;
  }
  if (req.method == "GET" && req.Query("index")) {
    // Identical blocking reads share one forwarded request: N watchers of a key behind this
    // agent cost the server one parked query, not N (docs/rpc.md "Coalescing").
    std::string key = dc + '\n' + req.target;
    for (const auto& [k, v] : req.headers) key.append("\n").append(k).append(":").append(v);
    auto& slot = coalesced_[key];
    const bool first = slot == nullptr;
    if (first) slot = std::make_shared<Coalesced>();
    auto group = slot;
    http::ReplyGroup::Id id = group->replies.Add(std::move(reply));
    if (cancel) {
      cancel->on_cancel = [this, key, weak = std::weak_ptr<Coalesced>(group), id] {
        auto g = weak.lock();
        if (!g || g->answered) return;
        g->replies.Remove(id);
        if (!g->replies.empty()) return;
        // The last reader went away: stop the forwarded request too.
        if (auto it = coalesced_.find(key); it != coalesced_.end() && it->second == g) {
          coalesced_.erase(it);
        }
        if (g->upstream->on_cancel) g->upstream->on_cancel();
      };
    }
    if (!first) return;
    group->upstream = std::make_shared<http::Cancellation>();
    cancel = group->upstream;
    reply = [this, key, group](http::Response r) {
      if (auto it = coalesced_.find(key); it != coalesced_.end() && it->second == group) {
        coalesced_.erase(it);
      }
      group->answered = true;
      group->replies.Send(std::move(r));  // one copy of the bytes for every reader
    };
  }
  auto attempt = std::make_shared<HttpAttempt>();
  attempt->dc = dc;
  attempt->f.method = req.method;
  attempt->f.target = req.target;
  for (const auto& [k, v] : req.headers) {
    if (k == kHopsHeader) continue;
    attempt->f.headers[k] = v;
  }
  attempt->f.body = std::move(req.body);
  attempt->f.hops = hops + 1;
  attempt->timeout = ForwardTimeout(req);
  attempt->hold_until = loop_.Now() + kRpcHoldTimeout;
  attempt->reply = std::move(reply);
  if (cancel) {
    std::weak_ptr<HttpAttempt> weak = attempt;
    cancel->on_cancel = [weak] {
      auto a = weak.lock();
      if (!a) return;
      a->cancelled = true;
      a->retry.reset();
      if (a->stop) a->stop();
    };
  }
  TryHttp(attempt);
}

void Forwarder::TryHttp(const std::shared_ptr<HttpAttempt>& a) {
  if (a->cancelled) return;
  auto retry_or_fail = [this, a](const Status& s) {
    if (Retryable(s) && loop_.Now() + kRpcRetryPause < a->hold_until && !a->cancelled) {
      a->retry = loop_.After(kRpcRetryPause, [this, a] { TryHttp(a); });
      return;
    }
    a->reply(ErrorText(500, s.message()));
  };
  Status why;
  std::string server = Pick(a->dc, &why);
  if (server.empty()) return retry_or_fail(why);
  // The datacenter of the server picked, for its TLS name: a client agent always asks its own.
  std::string server_dc = directory_.has_wan() ? a->dc : directory_.datacenter();
  a->stop = client_.Call(server, "HTTP", EncodeForwardedRequest(a->f), a->timeout,
                         [a, server, retry_or_fail](Result<std::string> r) {
                           if (!r.ok()) {
                             LogWarn("agent.rpc", "forwarding to " + server + " failed: " +
                                                      r.status().message());
                             return retry_or_fail(r.status());
                           }
                           auto resp = DecodeForwardedResponse(*r);
                           if (!resp.ok()) {
                             a->reply(ErrorText(500, "rpc: bad answer from " + server + ": " +
                                                         resp.status().message()));
                             return;
                           }
                           http::Response out;
                           out.status = resp->status;
                           out.headers = std::move(resp->headers);
                           out.body = std::move(resp->body);
                           a->reply(std::move(out));
                         },
                         server_dc);
}

void Forwarder::Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) {
  ApplyWithToken(std::move(cmd), std::string(), std::move(done));
}

void Forwarder::ApplyWithToken(catalog::Command cmd, const std::string& token,
                               std::function<void(catalog::ApplyResult)> done) {
  Status why;
  std::string server = Pick(directory_.datacenter(), &why);
  if (server.empty()) {
    catalog::ApplyResult r;
    r.status = std::move(why);
    loop_.Post([done = std::move(done), r = std::move(r)] { done(r); });
    return;
  }
  ApplyAt(server, std::move(cmd), std::move(done), token);
}

std::string EncodeTokenCommand(const std::string& token, const catalog::Command& cmd) {
  std::string out;
  const auto n = static_cast<uint32_t>(token.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out += token;
  out += catalog::EncodeCommand(cmd);
  return out;
}

Result<std::pair<std::string, catalog::Command>> DecodeTokenCommand(std::string_view body) {
  if (body.size() < 4) return InvalidArgument("token command: truncated length");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(body[i]);
  if (n > 4096 || body.size() - 4 < n) return InvalidArgument("token command: bad token length");
  std::string token(body.substr(4, n));
  auto cmd = catalog::DecodeCommand(body.substr(4 + n));
  if (!cmd.ok()) return cmd.status();
  return std::make_pair(std::move(token), std::move(*cmd));
}

void Forwarder::ApplyAt(const std::string& server, catalog::Command cmd,
                        std::function<void(catalog::ApplyResult)> done, std::string token) {
  if (token.empty() && apply_token_) token = apply_token_();
  const char* method = token.empty() ? "Catalog.Apply" : "Catalog.ApplyToken";
  std::string body = token.empty() ? catalog::EncodeCommand(cmd) : EncodeTokenCommand(token, cmd);
  client_.Call(server, method, std::move(body), std::chrono::seconds(30),
               [done = std::move(done), server](Result<std::string> r) {
                 catalog::ApplyResult out;
                 if (!r.ok()) {
                   out.status = r.status();
                 } else if (auto decoded = catalog::DecodeApplyResult(*r); !decoded.ok()) {
                   out.status = Internal("rpc: bad apply result from " + server + ": " +
                                         decoded.status().message());
                 } else {
                   out = std::move(*decoded);
                 }
                 done(std::move(out));
               });
}

void ServeForwarded(Server& server, http::Handler& api, catalog::Applier* applier,
                    ApplyGuard guard) {
  server.Register("Status.Ping", [](std::string, std::shared_ptr<CallContext>, ReplyFn reply) {
    reply(std::string());
  });
  server.Register("HTTP", [&api](std::string body, std::shared_ptr<CallContext> ctx, ReplyFn reply) {
    auto f = DecodeForwardedRequest(body);
    if (!f.ok()) return reply(f.status());
    http::Request req;
    req.method = f->method;
    req.target = f->target;
    if (!http::Request::ParseTarget(req.target, &req.path, &req.query)) {
      return reply(InvalidArgument("forwarded request: malformed target \"" + req.target + "\""));
    }
    for (auto& [k, v] : f->headers) req.headers[k] = std::move(v);
    req.headers[kHopsHeader] = std::to_string(f->hops);
    req.body = std::move(f->body);
    req.remote_address = ctx->remote;
    auto cancel = std::make_shared<http::Cancellation>();
    ctx->on_cancel = [cancel] {
      if (auto fn = std::move(cancel->on_cancel)) fn();
    };
    api.Handle(std::move(req), cancel, [reply](http::Response r) {
      ForwardedResponse out;
      out.status = r.status;
      out.headers = std::move(r.headers);
      out.body = r.shared_body ? *r.shared_body : std::move(r.body);
      reply(EncodeForwardedResponse(out));
    });
  });
  if (!applier) return;
  auto refused = [](ReplyFn reply, Status s) {
    catalog::ApplyResult r;
    r.status = std::move(s);
    r.success = false;
    reply(catalog::EncodeApplyResult(r));
  };
  server.Register("Catalog.Apply", [applier, guard, refused](std::string body,
                                                             std::shared_ptr<CallContext> ctx,
                                                             ReplyFn reply) {
    auto cmd = catalog::DecodeCommand(body);
    if (!cmd.ok()) return reply(cmd.status());
    // With ACLs on, a write without a token is taken only from this datacenter's servers.
    if (guard.trusted_peer && !guard.trusted_peer(ctx ? ctx->remote : "")) {
      return refused(reply, PermissionDenied("Permission denied: a write over RPC from " +
                                             (ctx ? ctx->remote : std::string("?")) +
                                             " carries no ACL token"));
    }
    applier->Apply(std::move(*cmd), [reply](catalog::ApplyResult r) {
      reply(catalog::EncodeApplyResult(r));
    });
  });
  server.Register("Catalog.ApplyToken", [applier, guard, refused](std::string body,
                                                                  std::shared_ptr<CallContext>,
                                                                  ReplyFn reply) {
    auto decoded = DecodeTokenCommand(body);
    if (!decoded.ok()) return reply(decoded.status());
    auto cmd = std::make_shared<catalog::Command>(std::move(decoded->second));
    auto apply = [applier, cmd, reply] {
      applier->Apply(std::move(*cmd), [reply](catalog::ApplyResult r) {
        reply(catalog::EncodeApplyResult(r));
      });
    };
    if (!guard.authorize) return apply();
    guard.authorize(decoded->first, *cmd, [apply, reply, refused](Status s) {
      if (!s.ok()) return refused(reply, s);
      apply();
    });
  });
}

}  // namespace gangway::rpc
