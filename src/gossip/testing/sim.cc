#include "gossip/testing/sim.h"

#include <deque>

namespace gangway::gossip::testing {

// ---------------------------------------------------------------------------------------------
// Endpoints and streams

class SimTransport final : public Transport {
 public:
  SimTransport(SimNetwork* net, Address addr) : net_(net), addr_(std::move(addr)) {}

  Address LocalAddress() const override { return addr_; }
  Status SendPacket(const Address& to, std::string bytes) override {
    net_->SendPacket(addr_, to, std::move(bytes));
    return Status::Ok();
  }
  void OpenStream(const Address& to, Duration timeout, OpenCallback done) override {
    net_->OpenStream(addr_, to, timeout, std::move(done));
  }
  void SetPacketHandler(PacketHandler handler) override { packet_handler_ = std::move(handler); }
  void SetStreamHandler(StreamHandler handler) override { stream_handler_ = std::move(handler); }

  const PacketHandler& packet_handler() const { return packet_handler_; }
  const StreamHandler& stream_handler() const { return stream_handler_; }

 private:
  SimNetwork* net_;
  Address addr_;
  PacketHandler packet_handler_;
  StreamHandler stream_handler_;
};

// Both ends of one connection. Direction d carries what end d writes to end 1 - d, one segment
// at a time (stop-and-wait keeps it in order despite resends).
struct SimNetwork::Pipe {
  struct Segment {
    std::string data;
    bool fin = false;
  };
  struct End {
    Address addr;
    bool open = true;  // the Stream exists and has not been closed
    bool fin_sent = false;
    std::string inbox;
    bool eof = false;  // the peer's FIN arrived
    std::function<void(Result<std::string>)> pending_read;
    std::deque<Segment> outbox;
    bool in_flight = false;
  };
  End ends[2];
};

class SimStream final : public Stream {
 public:
  SimStream(SimNetwork* net, std::shared_ptr<SimNetwork::Pipe> pipe, int side)
      : net_(net), pipe_(std::move(pipe)), side_(side) {}
  ~SimStream() override { Close(); }

  void Write(std::string bytes, std::function<void(Status)> done) override {
    auto& end = pipe_->ends[side_];
    Status s;
    if (!end.open || end.fin_sent) {
      s = Unavailable("write on a closed stream");
    } else {
      end.outbox.push_back({std::move(bytes), false});
      net_->Kick(pipe_, side_);
    }
    // Completion as the kernel would report it: once buffered.
    net_->loop()->Post([pipe = pipe_, side = side_, done = std::move(done), s] {
      if (pipe->ends[side].open) done(s);
    });
  }

  void Read(std::function<void(Result<std::string>)> done) override {
    auto& end = pipe_->ends[side_];
    if (!end.open) return;
    end.pending_read = std::move(done);
    Deliver(pipe_, side_, net_->loop());
  }

  void Close() override {
    auto& end = pipe_->ends[side_];
    if (!end.open) return;
    end.open = false;
    end.pending_read = nullptr;
    if (!end.fin_sent) {
      end.fin_sent = true;
      end.outbox.push_back({{}, true});
      net_->Kick(pipe_, side_);
    }
  }

  Address remote() const override { return pipe_->ends[1 - side_].addr; }

  // Hands buffered bytes (or end of stream) to a waiting Read, from the loop.
  static void Deliver(const std::shared_ptr<SimNetwork::Pipe>& pipe, int side, SimLoop* loop) {
    auto& end = pipe->ends[side];
    if (!end.pending_read || !end.open) return;
    if (end.inbox.empty() && !end.eof) return;
    auto fn = std::move(end.pending_read);
    end.pending_read = nullptr;
    std::string data = std::move(end.inbox);
    end.inbox.clear();
    loop->Post([pipe, side, fn = std::move(fn), data = std::move(data)]() mutable {
      if (pipe->ends[side].open) fn(std::move(data));
    });
  }

 private:
  SimNetwork* net_;
  std::shared_ptr<SimNetwork::Pipe> pipe_;
  int side_;
};

// ---------------------------------------------------------------------------------------------
// SimNetwork

SimNetwork::SimNetwork(SimLoop* loop, uint64_t seed) : loop_(loop), random_(seed) {}

SimNetwork::~SimNetwork() = default;

Transport* SimNetwork::AddNode(const Address& addr) {
  auto t = std::make_unique<SimTransport>(this, addr);
  Transport* raw = t.get();
  endpoints_[addr] = std::move(t);
  return raw;
}

void SimNetwork::SetLink(const Address& from, const Address& to, const LinkOptions& link) {
  links_[{from, to}] = link;
}

void SimNetwork::Partition(const std::vector<std::vector<Address>>& groups) {
  group_.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const Address& a : groups[g]) group_[a] = static_cast<int>(g);
  }
}

void SimNetwork::Heal() { group_.clear(); }

bool SimNetwork::Reachable(const Address& from, const Address& to) const {
  if (crashed_.count(from) || crashed_.count(to)) return false;
  if (blocked_.count({from, to})) return false;
  auto f = group_.find(from);
  auto t = group_.find(to);
  if (f != group_.end() && t != group_.end() && f->second != t->second) return false;
  return true;
}

const LinkOptions& SimNetwork::Link(const Address& from, const Address& to) const {
  auto it = links_.find({from, to});
  return it == links_.end() ? default_link_ : it->second;
}

Duration SimNetwork::SampleDelay(const Address& from, const Address& to) {
  const LinkOptions& link = Link(from, to);
  return link.delay + UniformDuration(random_, link.jitter);
}

void SimNetwork::SendPacket(const Address& from, const Address& to, std::string bytes) {
  ++stats_.packets_sent;
  stats_.bytes_sent += bytes.size();
  if (!Reachable(from, to)) {
    ++stats_.packets_blocked;
    return;
  }
  if (Bernoulli(random_, Link(from, to).loss)) {
    ++stats_.packets_lost;
    return;
  }
  const Duration delay = SampleDelay(from, to);
  auto deliver = [this, from, to, bytes = std::move(bytes)]() mutable {
    // Partitions and crashes that happen while the packet is in flight still stop it.
    if (!Reachable(from, to)) {
      ++stats_.packets_blocked;
      return;
    }
    auto it = endpoints_.find(to);
    if (it == endpoints_.end() || !it->second->packet_handler()) return;
    ++stats_.packets_delivered;
    auto handler = it->second->packet_handler();
    handler(from, std::move(bytes));
  };
  loop_->Defer(delay, std::move(deliver));
}

void SimNetwork::InjectPacket(const Address& from, const Address& to, std::string bytes) {
  SendPacket(from, to, std::move(bytes));
}

void SimNetwork::Transmit(Address from, Address to, Duration rto, int attempt,
                          std::function<void()> arrived) {
  constexpr int kMaxAttempts = 8;  // about a minute of resends, longer than any stream deadline
  if (attempt >= kMaxAttempts) return;
  auto resend = [this, from, to, rto, attempt, arrived] {
    ++stats_.segments_resent;
    Transmit(from, to, rto * 2, attempt + 1, arrived);
  };
  if (!Reachable(from, to) || Bernoulli(random_, Link(from, to).loss)) {
    loop_->Defer(rto, resend);
    return;
  }
  const Duration delay = SampleDelay(from, to);
  loop_->Defer(delay, [this, from, to, rto, delay, resend, arrived] {
    if (!Reachable(from, to)) {
      loop_->Defer(rto - delay, resend);
      return;
    }
    arrived();
  });
}

void SimNetwork::Kick(const std::shared_ptr<Pipe>& pipe, int dir) {
  auto& end = pipe->ends[dir];
  if (end.in_flight || end.outbox.empty()) return;
  end.in_flight = true;
  const Address from = end.addr;
  const Address to = pipe->ends[1 - dir].addr;
  Transmit(from, to, std::chrono::milliseconds(200), 0, [this, pipe, dir] {
    auto& src = pipe->ends[dir];
    auto& dst = pipe->ends[1 - dir];
    Pipe::Segment seg = std::move(src.outbox.front());
    src.outbox.pop_front();
    src.in_flight = false;
    if (seg.fin) {
      dst.eof = true;
    } else {
      dst.inbox += seg.data;
    }
    SimStream::Deliver(pipe, 1 - dir, loop_);
    Kick(pipe, dir);
  });
}

void SimNetwork::OpenStream(const Address& from, const Address& to, Duration timeout,
                            Transport::OpenCallback done) {
  ++stats_.streams_opened;
  struct Attempt {
    Transport::OpenCallback done;
    std::unique_ptr<Timer> timer;
    bool settled = false;
  };
  auto attempt = std::make_shared<Attempt>();
  attempt->done = std::move(done);
  auto settle = [](const std::shared_ptr<Attempt>& a, Result<std::unique_ptr<Stream>> r) {
    if (a->settled) return;
    a->settled = true;
    a->timer.reset();
    auto fn = std::move(a->done);
    fn(std::move(r));
  };
  // The timer holds the attempt weakly, or attempt -> timer -> callback -> attempt would leak.
  attempt->timer = loop_->After(timeout, [this, settle, weak = std::weak_ptr<Attempt>(attempt)] {
    auto a = weak.lock();
    if (a == nullptr || a->settled) return;
    ++stats_.streams_timed_out;
    settle(a, Unavailable("connect: i/o timeout"));
  });
  auto pipe = std::make_shared<Pipe>();
  pipe->ends[0].addr = from;
  pipe->ends[1].addr = to;
  // SYN (first resend after 1 s, as Linux does), then SYN-ACK or RST.
  Transmit(from, to, std::chrono::seconds(1), 0, [this, from, to, pipe, attempt, settle] {
    auto it = endpoints_.find(to);
    if (it == endpoints_.end() || !it->second->stream_handler()) {
      ++stats_.streams_refused;
      Transmit(to, from, std::chrono::seconds(1), 0,
               [settle, attempt] { settle(attempt, Unavailable("connect: connection refused")); });
      return;
    }
    auto handler = it->second->stream_handler();
    handler(std::make_unique<SimStream>(this, pipe, 1));
    Transmit(to, from, std::chrono::seconds(1), 0, [this, pipe, attempt, settle] {
      if (attempt->settled) {
        // The dialer gave up: its kernel resets the connection, which the listener reads as
        // the end of the stream.
        auto& end = pipe->ends[0];
        end.open = false;
        if (!end.fin_sent) {
          end.fin_sent = true;
          end.outbox.push_back({{}, true});
          Kick(pipe, 0);
        }
        return;
      }
      settle(attempt, std::unique_ptr<Stream>(std::make_unique<SimStream>(this, pipe, 0)));
    });
  });
}

Status SeededNonceSource::Next(Nonce* out) {
  for (size_t i = 0; i < out->size(); i += 8) {
    uint64_t v = random_.Next();
    for (size_t j = i; j < out->size() && j < i + 8; ++j, v >>= 8) {
      (*out)[j] = static_cast<uint8_t>(v);
    }
  }
  return Status::Ok();
}

}  // namespace gangway::gossip::testing
