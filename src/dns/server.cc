#include "dns/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <random>

#include "core/log.h"
#include "dns/answer.h"
#include "dns/lookup.h"
#include "dns/message.h"

namespace gangway::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kBatch = 32;
constexpr size_t kMaxUdp = 65535;

uint32_t NowUnix() {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// A reply carrying only a header (and the question when there is one): FORMERR, REFUSED,
// NOTIMP, SERVFAIL.
std::string HeaderOnly(const Message* query, uint16_t id, uint8_t rcode, bool ra) {
  Message m;
  m.header.id = id;
  m.header.qr = true;
  m.header.rcode = rcode;
  m.header.ra = ra;
  if (query) {
    m.header.opcode = query->header.opcode;
    m.header.rd = query->header.rd;
    if (!query->questions.empty()) m.questions.push_back(query->questions.front());
  }
  std::string out;
  Encode(m, true, &out);
  return out;
}

// host[:port] of a recursor; IPv6 as [addr]:port or a bare address.
bool SplitRecursor(const std::string& spec, std::string* host, uint16_t* port) {
  *port = 53;
  std::string h = spec;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string::npos) return false;
    std::string rest = h.substr(close + 1);
    h = h.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      *port = static_cast<uint16_t>(std::stoi(rest.substr(1)));
    }
  } else if (std::count(h.begin(), h.end(), ':') == 1) {
    auto colon = h.find(':');
    *port = static_cast<uint16_t>(std::stoi(h.substr(colon + 1)));
    h = h.substr(0, colon);
  }
  *host = h;
  return !h.empty();
}

// The address of a client subnet option as text ("" for an unknown family).
std::string SubnetAddress(const ClientSubnet& subnet) {
  std::array<uint8_t, 16> bytes{};
  size_t n = subnet.family == 1 ? 4 : subnet.family == 2 ? 16 : 0;
  if (n == 0) return "";
  std::copy_n(subnet.address.begin(), std::min(n, subnet.address.size()), bytes.begin());
  char text[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text)) return "";
  return text;
}

std::string SockaddrIp(const sockaddr_storage& from) {
  char text[INET6_ADDRSTRLEN] = {};
  if (from.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&from);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) return text;
  } else if (from.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&from);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) return text;
  }
  return "";
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::EventLoop& l, Catalog& c, Config cfg)
      : loop(l), catalog(c), config(std::move(cfg)), udp_socket(l.context()),
        acceptor(l.context()), rng(std::random_device{}()) {}

  net::EventLoop& loop;
  Catalog& catalog;
  Config config;
  udp::socket udp_socket;
  tcp::acceptor acceptor;
  std::mt19937 rng;
  bool closed = false;
  Stats stats;

  // The batch being answered: replies that were ready at once go out together.
  struct Slot {
    sockaddr_storage from{};
    socklen_t from_len = 0;
    std::string reply;
  };
  std::array<Slot, kBatch> batch;
  std::vector<std::array<uint8_t, kMaxUdp>> buffers = std::vector<std::array<uint8_t, kMaxUdp>>(kBatch);

  // Binds UDP on address:port, then TCP on the same port. On failure both are closed.
  Result<int> Bind(const std::string& address, int port) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) return InvalidArgument("invalid DNS bind address \"" + address + "\": " + ec.message());
    boost::system::error_code ignored;
    udp::endpoint uep(addr, static_cast<unsigned short>(port));
    udp_socket.open(uep.protocol(), ec);
    if (!ec) udp_socket.bind(uep, ec);
    if (!ec) udp_socket.non_blocking(true, ec);
    if (ec) {
      udp_socket.close(ignored);
      return Unavailable("error starting DNS server on " + address + ":" + std::to_string(port) +
                         " (udp): " + ec.message());
    }
    int bound = udp_socket.local_endpoint().port();
    // A larger receive buffer rides out bursts while the loop does other work.
    udp_socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
    tcp::endpoint tep(addr, static_cast<unsigned short>(bound));
    acceptor.open(tep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(tep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor.close(ignored);
      udp_socket.close(ignored);
      return Unavailable("error starting DNS server on " + address + ":" + std::to_string(bound) +
                         " (tcp): " + ec.message());
    }
    return bound;
  }

  // ---- Answering.

  void Finish(Message msg, bool tcp, const std::function<void(std::string)>& done) {
    // Names built from catalog data (a 70-byte node name, an address with a backslash) that no
    // DNS name can carry are left out rather than sent cut.
    auto unencodable = [](const Record& r) {
      if (!ValidateName(r.name).ok()) return true;
      switch (r.type) {
        case kCNAME: case kPTR: case kNS: return !ValidateName(r.target).ok();
        case kSRV: return !ValidateName(r.srv.target).ok();
        default: return false;
      }
    };
    for (auto* section : {&msg.answer, &msg.authority, &msg.additional}) {
      std::erase_if(*section, unencodable);
    }
    Truncate(tcp, config, &msg);
    std::string out;
    Encode(msg, !config.disable_compression, &out);
    done(std::move(out));
  }

  // client: the sender (null: unknown), read only by prepared query lookups.
  void Answer(std::span<const uint8_t> bytes, bool tcp, std::function<void(std::string)> done,
              const sockaddr_storage* client) {
    ++stats.queries;
    auto parsed = Parse(bytes);
    if (!parsed.ok()) {
      ++stats.malformed;
      auto id = PeekId(bytes);
      if (!id) return done("");
      // A reply to a reply would feed a loop between two servers: only queries get FORMERR.
      if (bytes.size() >= 3 && (bytes[2] & 0x80) != 0) return done("");
      return done(HeaderOnly(nullptr, *id, kFormErr, !config.recursors.empty()));
    }
    Message query = std::move(*parsed);
    bool ra = !config.recursors.empty();
    if (query.header.qr) return done("");
    if (query.header.opcode != 0) return done(HeaderOnly(&query, query.header.id, kNotImp, ra));
    if (query.questions.empty()) return done(HeaderOnly(&query, query.header.id, kRefused, ra));
    const Question& q = query.questions.front();
    Lookup l = ParseName(q.name, config, q.type == kSRV);
    if (l.kind == Lookup::Kind::kOutside) {
      if (config.recursors.empty()) return done(HeaderOnly(&query, query.header.id, kRefused, ra));
      ++stats.recursed;
      return Recurse(std::string(bytes.begin(), bytes.end()), std::move(query), tcp, std::move(done));
    }
    Message reply = ReplyTo(query, l, config);
    if (q.type == kAXFR) {
      reply.header.rcode = kNotImp;
      return Finish(std::move(reply), tcp, done);
    }
    uint32_t now = NowUnix();
    std::string local = catalog.Datacenter();
    std::string dc = l.dc.empty() ? local : l.dc;
    uint16_t qtype = q.type;
    auto self = shared_from_this();
    // Any name in the domain answers SOA and NS questions about the domain.
    if (l.kind == Lookup::Kind::kDomain || (l.kind != Lookup::Kind::kInvalid &&
                                            l.kind != Lookup::Kind::kPtr &&
                                            (qtype == kSOA || qtype == kNS))) {
      if (qtype != kSOA && qtype != kNS) {
        NameError(l.domain, config, now, &reply);
        return Finish(std::move(reply), tcp, done);
      }
      return catalog.ServiceNodes(
          local, "consul", false,
          [self, l, qtype, local, now, tcp, reply = std::move(reply), done = std::move(done)](
              Result<std::vector<catalog::CheckServiceNode>> rows) mutable {
            std::vector<ServerNode> servers;
            if (rows.ok()) {
              for (const auto& r : *rows) servers.push_back({r.node.node, r.node.address});
            }
            AnswerDomain(l, qtype, local, servers, self->config, now, &reply);
            self->Finish(std::move(reply), tcp, done);
          });
    }
    // An error from the catalog: an unknown datacenter is NXDOMAIN, anything else SERVFAIL.
    auto failed = [self, now, tcp, done, l](Message& reply, const Status& s) {
      if (s.code() == Code::kNotFound) {
        NameError(l.domain, self->config, now, &reply);
        return self->Finish(std::move(reply), tcp, done);
      }
      LogDebug("agent.dns", "lookup of " + l.name + " failed: " + s.message());
      reply.header.rcode = kServFail;
      reply.header.aa = false;
      reply.answer.clear();
      reply.authority.clear();
      reply.additional.clear();
      self->Finish(std::move(reply), tcp, done);
    };
    switch (l.kind) {
      case Lookup::Kind::kService:
      case Lookup::Kind::kConnect: {
        bool connect = l.kind == Lookup::Kind::kConnect;
        bool remote_connect = connect && dc != local;
        auto answer = [self, l, qtype, dc, now, tcp, failed, reply, done](
                          Result<std::vector<catalog::CheckServiceNode>> rows) mutable {
          if (!rows.ok()) return failed(reply, rows.status());
          AnswerService(l, qtype, dc, std::move(*rows), self->config, now, self->rng, &reply);
          self->Finish(std::move(reply), tcp, done);
        };
        if (!remote_connect) return catalog.ServiceNodes(dc, l.service, connect, std::move(answer));
        // Another datacenter's Connect endpoints are reached through its mesh gateways, when
        // it has any; the service itself must exist there.
        return catalog.ServiceNodes(
            dc, l.service, true,
            [self, dc, answer = std::move(answer)](
                Result<std::vector<catalog::CheckServiceNode>> rows) mutable {
              if (!rows.ok() || rows->empty() || self->closed) return answer(std::move(rows));
              self->catalog.MeshGateways(
                  dc, [rows = std::move(*rows), answer = std::move(answer)](
                          Result<std::vector<catalog::CheckServiceNode>> gws) mutable {
                    if (gws.ok() && !gws->empty()) {
                      for (auto& g : *gws) {
                        auto wan = g.service.tagged_addresses.find("wan");
                        if (wan != g.service.tagged_addresses.end() && !wan->second.address.empty()) {
                          g.service.address = wan->second.address;
                          g.service.port = wan->second.port;
                        }
                      }
                      return answer(std::move(gws));
                    }
                    answer(std::move(rows));
                  });
            });
      }
      case Lookup::Kind::kNode:
        return catalog.Node(dc, l.service,
                            [self, l, qtype, dc, now, tcp, failed, reply, done](
                                Result<std::optional<catalog::Node>> node) mutable {
                              if (!node.ok()) return failed(reply, node.status());
                              AnswerNode(l, qtype, dc, *node, self->config, now, &reply);
                              self->Finish(std::move(reply), tcp, done);
                            });
      case Lookup::Kind::kAddr:
        AnswerAddr(l, qtype, config, now, &reply);
        return Finish(std::move(reply), tcp, done);
      case Lookup::Kind::kPtr:
        return catalog.Nodes(local, [self, l, qtype, local, now, tcp, failed, reply, done](
                                        Result<std::vector<catalog::Node>> nodes) mutable {
          if (!nodes.ok()) return failed(reply, nodes.status());
          if (self->closed) return;
          self->catalog.AllServiceNodes(
              local, [self, l, qtype, local, now, tcp, failed, reply, done,
                      nodes = std::move(*nodes)](
                         Result<std::vector<catalog::ServiceNode>> services) mutable {
                if (!services.ok()) return failed(reply, services.status());
                AnswerPtr(l, qtype, local, nodes, *services, self->config, now, &reply);
                self->Finish(std::move(reply), tcp, done);
              });
        });
      case Lookup::Kind::kQuery: {
        // The client a query near "_ip" sorts by: its subnet option, else the sender.
        std::string source = client ? SockaddrIp(*client) : "";
        if (query.edns && query.edns->subnet) {
          if (auto ip = SubnetAddress(*query.edns->subnet); !ip.empty()) source = ip;
        }
        return catalog.PreparedQuery(
            dc, l.service, source,
            [self, l, qtype, now, tcp, failed, reply, done](Result<QueryAnswer> q) mutable {
              if (!q.ok()) return failed(reply, q.status());
              AnswerQuery(l, qtype, *q, self->config, now, &reply);
              self->Finish(std::move(reply), tcp, done);
            });
      }
      default:
        // Invalid names and ingress gateways (not served).
        NameError(l.domain, config, now, &reply);
        return Finish(std::move(reply), tcp, done);
    }
  }

  // ---- Recursion: the query goes to each recursor in turn over the query's transport; the
  // first NOERROR or NXDOMAIN answer is returned as it came.

  void Recurse(std::string raw, Message query, bool tcp, std::function<void(std::string)> done) {
    std::vector<std::string> order = config.recursors;
    if (config.recursor_random) std::shuffle(order.begin(), order.end(), rng);
    asio::co_spawn(loop.context(),
                   RecurseAll(shared_from_this(), std::move(raw), std::move(query), tcp,
                              std::move(order), std::move(done)),
                   asio::detached);
  }

  static asio::awaitable<void> RecurseAll(std::shared_ptr<Impl> self, std::string raw,
                                          Message query, bool tcp, std::vector<std::string> order,
                                          std::function<void(std::string)> done) {
    for (const auto& spec : order) {
      std::string host;
      uint16_t port = 53;
      if (!SplitRecursor(spec, &host, &port)) continue;
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(host, ec);
      if (ec) continue;
      // (Two statements: GCC 12 miscompiles a co_await of a conditional expression.)
      std::string answer;
      if (tcp) {
        answer = co_await AskTcp(self, raw, tcp::endpoint(addr, port));
      } else {
        answer = co_await AskUdp(self, raw, udp::endpoint(addr, port));
      }
      if (answer.size() < 12 || (static_cast<uint8_t>(answer[0]) << 8 | static_cast<uint8_t>(answer[1])) !=
                                    query.header.id) {
        continue;
      }
      uint8_t rcode = static_cast<uint8_t>(answer[3]) & 0x0f;
      if (rcode != kNoError && rcode != kNXDomain) continue;
      done(std::move(answer));
      co_return;
    }
    LogDebug("agent.dns", "all recursors failed for " + (query.questions.empty() ? std::string("?") : query.questions[0].name));
    done(HeaderOnly(&query, query.header.id, kServFail, true));
  }

  static asio::awaitable<std::string> AskUdp(std::shared_ptr<Impl> self, std::string raw,
                                             udp::endpoint to) {
    udp::socket s(self->loop.context());
    boost::system::error_code ec;
    s.open(to.protocol(), ec);
    if (ec) co_return "";
    asio::steady_timer timer(self->loop.context());
    timer.expires_after(self->config.recursor_timeout);
    auto [sec, sn] = co_await s.async_send_to(asio::buffer(raw), to, kTuple);
    (void)sn;
    if (sec) co_return "";
    std::string buf(kMaxUdp, '\0');
    for (;;) {
      udp::endpoint from;
      auto result = co_await (s.async_receive_from(asio::buffer(buf), from, kTuple) ||
                              timer.async_wait(kTuple));
      if (result.index() == 1) co_return "";
      auto [rec, n] = std::get<0>(result);
      if (rec) co_return "";
      if (from != to) continue;  // only the recursor's own answer counts
      buf.resize(n);
      co_return buf;
    }
  }

  static asio::awaitable<std::string> AskTcp(std::shared_ptr<Impl> self, std::string raw,
                                             tcp::endpoint to) {
    tcp::socket s(self->loop.context());
    asio::steady_timer timer(self->loop.context());
    timer.expires_after(self->config.recursor_timeout);
    auto exchange = [&]() -> asio::awaitable<std::string> {
      auto [cec] = co_await s.async_connect(to, kTuple);
      if (cec) co_return "";
      std::string framed;
      framed.push_back(static_cast<char>(raw.size() >> 8));
      framed.push_back(static_cast<char>(raw.size() & 0xff));
      framed += raw;
      auto [wec, wn] = co_await asio::async_write(s, asio::buffer(framed), kTuple);
      (void)wn;
      if (wec) co_return "";
      uint8_t len[2];
      auto [lec, ln] = co_await asio::async_read(s, asio::buffer(len), kTuple);
      (void)ln;
      if (lec) co_return "";
      std::string body(static_cast<size_t>(len[0] << 8 | len[1]), '\0');
      auto [bec, bn] = co_await asio::async_read(s, asio::buffer(body), kTuple);
      (void)bn;
      if (bec) co_return "";
      co_return body;
    };
    auto result = co_await (exchange() || timer.async_wait(kTuple));
    if (result.index() == 1) co_return "";
    co_return std::get<0>(result);
  }

  // ---- UDP: a batch per wake-up.

  void StartUdp() {
    auto self = shared_from_this();
    udp_socket.async_wait(udp::socket::wait_read, [self](boost::system::error_code ec) {
      if (ec || self->closed) return;
      self->ReadBatch();
      self->StartUdp();
    });
  }

  void ReadBatch() {
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iovs{};
    for (size_t i = 0; i < kBatch; ++i) {
      iovs[i] = {buffers[i].data(), buffers[i].size()};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &batch[i].from;
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    int fd = udp_socket.native_handle();
    int n = recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      Slot& slot = batch[static_cast<size_t>(i)];
      slot.from_len = msgs[static_cast<size_t>(i)].msg_hdr.msg_namelen;
      slot.reply.clear();
      // 0: still inside this batch (the reply joins the sendmmsg); 1: answered later.
      auto window = std::make_shared<int>(0);
      auto weak = weak_from_this();
      size_t len = msgs[static_cast<size_t>(i)].msg_len;
      bool oversized = (msgs[static_cast<size_t>(i)].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      sockaddr_storage from = slot.from;
      socklen_t from_len = slot.from_len;
      auto deliver = [weak, i, window, from, from_len](std::string reply) {
        auto self = weak.lock();
        if (!self || self->closed) return;
        if (*window == 0) {
          self->batch[static_cast<size_t>(i)].reply = std::move(reply);
          return;
        }
        if (reply.empty()) return;
        ::sendto(self->udp_socket.native_handle(), reply.data(), reply.size(), MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&from), from_len);
      };
      if (oversized) {
        ++stats.queries;
        ++stats.malformed;
        auto id = PeekId(std::span<const uint8_t>(buffers[static_cast<size_t>(i)].data(), len));
        if (id) deliver(HeaderOnly(nullptr, *id, kFormErr, !config.recursors.empty()));
      } else {
        Answer(std::span<const uint8_t>(buffers[static_cast<size_t>(i)].data(), len), false, deliver,
               &from);
      }
      *window = 1;
    }
    std::array<mmsghdr, kBatch> out{};
    std::array<iovec, kBatch> out_iov{};
    unsigned m = 0;
    for (int i = 0; i < n; ++i) {
      Slot& slot = batch[static_cast<size_t>(i)];
      if (slot.reply.empty()) continue;
      out_iov[m] = {slot.reply.data(), slot.reply.size()};
      out[m].msg_hdr.msg_iov = &out_iov[m];
      out[m].msg_hdr.msg_iovlen = 1;
      out[m].msg_hdr.msg_name = &slot.from;
      out[m].msg_hdr.msg_namelen = slot.from_len;
      ++m;
    }
    unsigned sent = 0;
    while (sent < m) {
      int r = sendmmsg(fd, out.data() + sent, m - sent, MSG_DONTWAIT);
      if (r <= 0) break;  // a full send buffer drops the rest, as a busy resolver does
      sent += static_cast<unsigned>(r);
    }
  }

  // ---- TCP: length-prefixed messages, several per connection.

  asio::awaitable<void> Accept() {
    auto self = shared_from_this();
    while (!closed) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || closed) co_return;
        continue;
      }
      asio::co_spawn(acceptor.get_executor(), Serve(self, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> Serve(std::shared_ptr<Impl> self, tcp::socket socket) {
    asio::steady_timer idle(self->loop.context());
    for (;;) {
      idle.expires_after(std::chrono::seconds(10));
      uint8_t len[2];
      auto read = co_await (asio::async_read(socket, asio::buffer(len), kTuple) || idle.async_wait(kTuple));
      if (read.index() == 1) break;
      auto [lec, ln] = std::get<0>(read);
      (void)ln;
      if (lec) break;
      std::vector<uint8_t> body(static_cast<size_t>(len[0] << 8 | len[1]));
      auto body_read = co_await (asio::async_read(socket, asio::buffer(body), kTuple) || idle.async_wait(kTuple));
      if (body_read.index() == 1) break;
      auto [bec, bn] = std::get<0>(body_read);
      (void)bn;
      if (bec || self->closed) break;
      // The answer may come later (another datacenter): wait for it on a timer cancelled by
      // the reply.
      auto reply = std::make_shared<std::optional<std::string>>();
      auto wake = std::make_shared<asio::steady_timer>(self->loop.context());
      wake->expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code pec;
      auto peer = socket.remote_endpoint(pec);
      sockaddr_storage from{};
      if (!pec) std::memcpy(&from, peer.data(), std::min<size_t>(peer.size(), sizeof from));
      self->Answer(body, true, [reply, wake](std::string r) {
        *reply = std::move(r);
        wake->cancel();
      }, pec ? nullptr : &from);
      while (!reply->has_value()) {
        auto [wec] = co_await wake->async_wait(kTuple);
        (void)wec;
      }
      if ((*reply)->empty()) continue;
      std::string framed;
      framed.push_back(static_cast<char>((*reply)->size() >> 8));
      framed.push_back(static_cast<char>((*reply)->size() & 0xff));
      framed += **reply;
      auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(framed), kTuple);
      (void)wn;
      if (wec) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  }
};

Server::Server(net::EventLoop& loop, Catalog& catalog, Config config)
    : impl_(std::make_shared<Impl>(loop, catalog, std::move(config))) {}

Server::~Server() { Close(); }

Result<int> Server::Listen(const std::string& address, int port) {
  // Port 0: the kernel picks a free UDP port, which TCP may already use; try a few.
  Status last;
  for (int attempt = 0; attempt < (port == 0 ? 20 : 1); ++attempt) {
    auto bound = impl_->Bind(address, port);
    if (bound.ok()) {
      impl_->StartUdp();
      asio::co_spawn(impl_->acceptor.get_executor(), impl_->Accept(), asio::detached);
      return bound;
    }
    last = bound.status();
  }
  return last;
}

void Server::Close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->udp_socket.close(ignored);
}

void Server::Answer(std::span<const uint8_t> query, bool tcp, std::function<void(std::string)> done) {
  impl_->Answer(query, tcp, std::move(done), nullptr);
}

Server::Stats Server::stats() const { return impl_->stats; }

}  // namespace gangway::dns
