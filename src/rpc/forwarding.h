// Forwarding over the server RPC (docs/rpc.md): which server answers for a datacenter (from the
// gossip pools), HTTP API requests sent to it ("HTTP"), and state-store writes sent to it
// ("Catalog.Apply"); plus the server side of both methods. Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "catalog/applier.h"
#include "gossip/pool.h"
#include "http/message.h"
#include "http/reply_group.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"

namespace gangway::rpc {

// How long a forwarded request keeps trying while there is no leader or the chosen server is
// unreachable (Consul's RPCHoldTimeout), and the pause between tries.
inline constexpr Duration kRpcHoldTimeout = std::chrono::seconds(7);
inline constexpr Duration kRpcRetryPause = std::chrono::milliseconds(250);

// Header carrying how many times a request was forwarded (a loop guard).
inline constexpr const char* kHopsHeader = "X-Gangway-Forward-Hops";
// client -> server -> other datacenter's server -> its leader.
inline constexpr int kMaxHops = 3;

// Servers' RPC addresses per datacenter, from gossip: the LAN pool for our datacenter, the WAN
// pool (servers only) for the others.
class ServerDirectory {
 public:
  ServerDirectory(std::string datacenter, gossip::Pool* lan, gossip::Pool* wan);
  // "ip:port" of every alive server of `dc` known here (empty when none).
  std::vector<std::string> Servers(const std::string& dc) const;
  bool has_wan() const { return wan_ != nullptr; }
  const std::string& datacenter() const { return dc_; }

 private:
  std::string dc_;
  gossip::Pool* lan_;
  gossip::Pool* wan_;
};

class Forwarder : public catalog::Applier {
 public:
  Forwarder(net::EventLoop& loop, Client& client, ServerDirectory directory);

  // Sends an HTTP API request to a server of `dc` (a client agent: always a server of its own
  // datacenter, which forwards on) and relays its answer. Consul's texts when nobody can take
  // it: "No known Consul servers" (our datacenter), "No path to datacenter" (another).
  void ForwardHttp(http::Request req, const std::string& dc,
                   std::shared_ptr<http::Cancellation> cancel, http::Reply reply);

  // catalog::Applier for agents without a local server: the write goes to a server.
  void Apply(catalog::Command cmd, std::function<void(catalog::ApplyResult)> done) override;
  // With `token` ("": the one SetApplyToken gives, if any).
  void ApplyWithToken(catalog::Command cmd, const std::string& token,
                      std::function<void(catalog::ApplyResult)> done) override;
  // The write goes to the server at `address` (a follower forwarding to its leader).
  void ApplyAt(const std::string& address, catalog::Command cmd,
               std::function<void(catalog::ApplyResult)> done, std::string token = {});
  // On a server: how to find the leader's RPC address ("" when unknown); requests for our own
  // datacenter that reach ForwardHttp go there.
  void SetLeader(std::function<std::string()> leader) { leader_ = std::move(leader); }
  // A client agent's writes carry its ACL token ("Catalog.ApplyToken") when this returns one;
  // servers forward to their leader without (docs/rpc.md, "Catalog.Apply and ACLs").
  void SetApplyToken(std::function<std::string()> token) { apply_token_ = std::move(token); }

 private:
  // One forwarded HTTP request across its retries.
  struct HttpAttempt {
    std::string dc;
    ForwardedRequest f;
    Duration timeout{};
    std::chrono::steady_clock::time_point hold_until{};
    http::Reply reply;
    std::function<void()> stop;
    std::unique_ptr<Timer> retry;
    bool cancelled = false;
  };
  // Blocking reads waiting on one forwarded request (keyed by datacenter, target, headers).
  struct Coalesced {
    http::ReplyGroup replies;
    std::shared_ptr<http::Cancellation> upstream;
    bool answered = false;
  };
  std::string Pick(const std::string& dc, Status* why);
  void TryHttp(const std::shared_ptr<HttpAttempt>& a);

  net::EventLoop& loop_;
  Client& client_;
  ServerDirectory directory_;
  std::function<std::string()> leader_;
  std::function<std::string()> apply_token_;
  size_t next_ = 0;
  std::unordered_map<std::string, std::shared_ptr<Coalesced>> coalesced_;
};

// With ACLs on, who may apply what over RPC. Null members: ACLs are off, anyone may.
struct ApplyGuard {
  // Whether a caller ("ip:port") is a server of this datacenter, trusted to forward writes it
  // already authorized to its leader without a token.
  std::function<bool(const std::string& remote)> trusted_peer;
  // Whether `token` may apply `cmd`; done(PermissionDenied with Consul's text) when not.
  std::function<void(const std::string& token, const catalog::Command& cmd,
                     std::function<void(Status)> done)>
      authorize;
};

// "Catalog.ApplyToken" bodies: the token's length (4 bytes, big-endian), the token, then the
// command as catalog::EncodeCommand writes it. The decoder takes untrusted bytes.
std::string EncodeTokenCommand(const std::string& token, const catalog::Command& cmd);
Result<std::pair<std::string, catalog::Command>> DecodeTokenCommand(std::string_view body);

// Registers "HTTP" (runs forwarded requests through `api`) and, when `applier` is set,
// "Catalog.Apply" and "Catalog.ApplyToken" (apply commands through it, as `guard` allows) on
// `server`; also "Status.Ping".
void ServeForwarded(Server& server, http::Handler& api, catalog::Applier* applier,
                    ApplyGuard guard = {});

// How long to wait for a forwarded request: a blocking query's wait (capped at 10 min, plus
// jitter) and a margin, otherwise 30 s.
Duration ForwardTimeout(const http::Request& req);

}  // namespace gangway::rpc
