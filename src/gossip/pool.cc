#include "gossip/pool.h"

#include <random>

#include "core/base64.h"

namespace gangway::gossip {

Result<std::unique_ptr<Pool>> Pool::Start(net::EventLoop& loop, PoolOptions options,
                                          SerfHandlers handlers) {
  std::unique_ptr<Pool> p(new Pool());
  p->options_ = options;
  auto t = UdpTransport::Bind(loop, options.bind_ip, options.port, options.advertise_ip);
  if (!t.ok()) return t.status();
  p->transport_ = std::move(*t);
  p->random_ = std::make_unique<SeededRandom>(std::random_device{}());
  SerfOptions so = options.profile == PoolOptions::Profile::kWan   ? SerfOptions::Wan(options.name)
                   : options.profile == PoolOptions::Profile::kLocal ? SerfOptions::Local(options.name)
                                                                     : SerfOptions::Lan(options.name);
  so.tags = options.tags;
  so.merge = options.merge;
  so.disable_coordinates = options.disable_coordinates;
  Options& ml = so.memberlist;
  if (options.gossip_nodes > 0) ml.gossip_nodes = options.gossip_nodes;
  if (options.gossip_interval.count() > 0) ml.gossip_interval = options.gossip_interval;
  if (options.probe_interval.count() > 0) ml.probe_interval = options.probe_interval;
  if (options.probe_timeout.count() > 0) ml.probe_timeout = options.probe_timeout;
  if (options.retransmit_mult > 0) ml.retransmit_mult = options.retransmit_mult;
  if (options.suspicion_mult > 0) ml.suspicion_mult = options.suspicion_mult;
  if (!options.encrypt_key.empty()) {
    auto key = Base64Decode(options.encrypt_key);
    if (!key.ok()) return InvalidArgument("encrypt: not valid base64: " + key.status().message());
    if (Status s = Keyring::ValidateKey(*key); !s.ok()) {
      return InvalidArgument("encrypt: " + s.message() + " (generate one with: gangway keygen)");
    }
    auto kr = Keyring::Create({}, *key);
    if (!kr.ok()) return kr.status();
    p->keyring_ = std::make_unique<Keyring>(std::move(*kr));
    so.memberlist.keyring = p->keyring_.get();
    so.memberlist.gossip_verify_incoming = options.verify_incoming;
    so.memberlist.gossip_verify_outgoing = options.verify_outgoing;
  }
  Serf::Deps deps;
  deps.loop = &loop;
  deps.transport = p->transport_.get();
  deps.random = p->random_.get();
  // The Serf posts its handlers to the loop and dies before the pool, so `raw` is valid there.
  Pool* raw = p.get();
  handlers.on_user_event = [raw, first = std::move(handlers.on_user_event)](const UserEvent& e) {
    if (first) first(e);
    auto extra = raw->user_event_handlers_;
    for (const auto& h : extra) h(e);
  };
  deps.handlers = std::move(handlers);
  auto s = Serf::Create(std::move(so), deps);
  if (!s.ok()) return s.status();
  p->serf_ = std::move(*s);
  return p;
}

Pool::~Pool() { Shutdown(); }

void Pool::Join(const std::vector<std::string>& addrs, std::function<void(int, Status)> done) {
  std::vector<Address> parsed;
  for (const auto& a : addrs) {
    auto addr = Address::Parse(a, static_cast<uint16_t>(options_.port ? options_.port : port()));
    if (!addr.ok()) {
      done(0, InvalidArgument("invalid join address \"" + a + "\": " + addr.status().message()));
      return;
    }
    parsed.push_back(*addr);
  }
  serf_->Join(std::move(parsed), true, std::move(done));
}

void Pool::Leave(std::function<void(Status)> done) { serf_->Leave(std::move(done)); }

void Pool::ForceLeave(const std::string& node, bool prune, std::function<void(Status)> done) {
  serf_->RemoveFailedNode(node, prune, std::move(done));
}

void Pool::Shutdown() {
  if (serf_) serf_->Shutdown();
  if (transport_) transport_->Shutdown();
}

}  // namespace gangway::gossip
