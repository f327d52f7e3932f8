#include "gossip/udp_transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "core/log.h"

namespace gangway::gossip {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

constexpr size_t kPacketBuffer = 65536;
constexpr size_t kStreamChunk = 65536;

asio::ip::address ToAsio(const Address& a) {
  if (a.ip.size() == 4) {
    asio::ip::address_v4::bytes_type b;
    std::copy(a.ip.begin(), a.ip.end(), b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy(a.ip.begin(), a.ip.begin() + std::min<size_t>(16, a.ip.size()), b.begin());
  return asio::ip::address_v6(b);
}

Address FromAsio(const asio::ip::address& addr, uint16_t port) {
  Address out;
  out.port = port;
  asio::ip::address a = addr;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    out.ip.assign(b.begin(), b.end());
  } else {
    auto b = a.to_v6().to_bytes();
    out.ip.assign(b.begin(), b.end());
  }
  return out;
}

// A TCP connection as a gossip Stream. Writes are queued and sent one after another.
class AsioStream : public Stream, public std::enable_shared_from_this<AsioStream> {
 public:
  AsioStream(tcp::socket socket, Address remote)
      : socket_(std::move(socket)), remote_(std::move(remote)), alive_(std::make_shared<bool>(true)) {}
  ~AsioStream() override {
    *alive_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  void Write(std::string bytes, std::function<void(Status)> done) override {
    queue_.push_back({std::make_shared<std::string>(std::move(bytes)), std::move(done)});
    if (queue_.size() == 1) WriteNext();
  }

  void Read(std::function<void(Result<std::string>)> done) override {
    auto buf = std::make_shared<std::string>(kStreamChunk, '\0');
    std::weak_ptr<bool> alive = alive_;
    socket_.async_read_some(asio::buffer(*buf), [alive, buf, done = std::move(done)](
                                                    const boost::system::error_code& ec, size_t n) {
      if (alive.expired() || ec == asio::error::operation_aborted) return;
      if (ec == asio::error::eof) return done(std::string());
      if (ec) return done(Status(Unavailable("stream read: " + ec.message())));
      buf->resize(n);
      done(std::move(*buf));
    });
  }

  void Close() override {
    boost::system::error_code ignored;
    if (queue_.empty()) {
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      close_after_writes_ = true;
    }
  }

  Address remote() const override { return remote_; }

 private:
  struct Pending {
    std::shared_ptr<std::string> bytes;
    std::function<void(Status)> done;
  };

  void WriteNext() {
    if (queue_.empty()) {
      if (close_after_writes_) {
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
      }
      return;
    }
    auto bytes = queue_.front().bytes;
    std::weak_ptr<bool> alive = alive_;
    asio::async_write(socket_, asio::buffer(*bytes),
                      [this, alive, bytes](const boost::system::error_code& ec, size_t) {
                        if (alive.expired() || ec == asio::error::operation_aborted) return;
                        auto p = std::move(queue_.front());
                        queue_.pop_front();
                        if (p.done) {
                          p.done(ec ? Status(Unavailable("stream write: " + ec.message()))
                                    : Status::Ok());
                        }
                        if (alive.expired()) return;
                        WriteNext();
                      });
  }

  tcp::socket socket_;
  Address remote_;
  std::deque<Pending> queue_;
  bool close_after_writes_ = false;
  std::shared_ptr<bool> alive_;
};

// Streams handed out are owned by unique_ptr; the asio object lives in a shared_ptr so that
// completion handlers can outlive neither.
class StreamHandle : public Stream {
 public:
  explicit StreamHandle(std::shared_ptr<AsioStream> s) : s_(std::move(s)) {}
  void Write(std::string bytes, std::function<void(Status)> done) override {
    s_->Write(std::move(bytes), std::move(done));
  }
  void Read(std::function<void(Result<std::string>)> done) override { s_->Read(std::move(done)); }
  void Close() override { s_->Close(); }
  Address remote() const override { return s_->remote(); }

 private:
  std::shared_ptr<AsioStream> s_;
};

}  // namespace

struct UdpTransport::Impl : std::enable_shared_from_this<UdpTransport::Impl> {
  explicit Impl(net::EventLoop& l) : loop(l), udp_socket(l.context()), acceptor(l.context()) {}
  net::EventLoop& loop;
  udp::socket udp_socket;
  tcp::acceptor acceptor;
  Address local;
  PacketHandler on_packet;
  StreamHandler on_stream;
  std::vector<char> buffer = std::vector<char>(kPacketBuffer);
  udp::endpoint from;
  bool closed = false;

  void ReceiveNext() {
    auto self = shared_from_this();
    udp_socket.async_receive_from(asio::buffer(buffer), from,
                                  [self](const boost::system::error_code& ec, size_t n) {
                                    if (self->closed || ec == asio::error::operation_aborted) return;
                                    if (!ec && n > 0 && self->on_packet) {
                                      self->on_packet(FromAsio(self->from.address(), self->from.port()),
                                                      std::string(self->buffer.data(), n));
                                    }
                                    self->ReceiveNext();
                                  });
  }

  void AcceptNext() {
    auto self = shared_from_this();
    acceptor.async_accept([self](const boost::system::error_code& ec, tcp::socket socket) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (!ec && self->on_stream) {
        boost::system::error_code rec;
        auto ep = socket.remote_endpoint(rec);
        Address remote = rec ? Address{} : FromAsio(ep.address(), ep.port());
        auto s = std::make_shared<AsioStream>(std::move(socket), remote);
        self->on_stream(std::make_unique<StreamHandle>(std::move(s)));
      }
      self->AcceptNext();
    });
  }
};

UdpTransport::UdpTransport(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

UdpTransport::~UdpTransport() { Shutdown(); }

Result<std::unique_ptr<UdpTransport>> UdpTransport::Bind(net::EventLoop& loop,
                                                         const std::string& bind_ip, int port,
                                                         const std::string& advertise_ip) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind_ip, ec);
  if (ec) return InvalidArgument("invalid gossip bind address \"" + bind_ip + "\"");
  // With port 0, the UDP port the kernel picks may be taken for TCP: try a few times.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto impl = std::make_shared<Impl>(loop);
    udp::endpoint uep(addr, static_cast<uint16_t>(port));
    impl->udp_socket.open(uep.protocol(), ec);
    if (!ec) impl->udp_socket.bind(uep, ec);
    if (ec) {
      return Unavailable("failed to bind gossip UDP " + bind_ip + ":" + std::to_string(port) +
                         ": " + ec.message());
    }
    boost::system::error_code ignored;
    impl->udp_socket.set_option(asio::socket_base::receive_buffer_size(2 << 20), ignored);
    uint16_t bound = impl->udp_socket.local_endpoint().port();
    tcp::endpoint tep(addr, bound);
    impl->acceptor.open(tep.protocol(), ec);
    if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl->acceptor.bind(tep, ec);
    if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      if (port == 0) continue;
      return Unavailable("failed to bind gossip TCP " + bind_ip + ":" + std::to_string(port) +
                         ": " + ec.message());
    }
    std::string adv = advertise_ip;
    if (adv.empty()) adv = addr.is_unspecified() ? "127.0.0.1" : bind_ip;
    auto adv_addr = asio::ip::make_address(adv, ec);
    if (ec) return InvalidArgument("invalid gossip advertise address \"" + adv + "\"");
    impl->local = FromAsio(adv_addr, bound);
    impl->ReceiveNext();
    impl->AcceptNext();
    return std::unique_ptr<UdpTransport>(new UdpTransport(std::move(impl)));
  }
  return Unavailable("could not find a port free for both UDP and TCP on " + bind_ip);
}

Address UdpTransport::LocalAddress() const { return impl_->local; }

int UdpTransport::port() const { return impl_->local.port; }

Status UdpTransport::SendPacket(const Address& to, std::string bytes) {
  if (impl_->closed) return Unavailable("transport closed");
  if (to.ip.size() != 4 && to.ip.size() != 16) return InvalidArgument("bad gossip address");
  udp::endpoint ep(ToAsio(to), to.port);
  auto buf = std::make_shared<std::string>(std::move(bytes));
  impl_->udp_socket.async_send_to(asio::buffer(*buf), ep,
                                  [buf](const boost::system::error_code&, size_t) {});
  return Status::Ok();
}

void UdpTransport::OpenStream(const Address& to, Duration timeout, OpenCallback done) {
  struct Dial {
    explicit Dial(asio::io_context& io) : socket(io), timer(io) {}
    tcp::socket socket;
    asio::steady_timer timer;
    OpenCallback done;
    bool finished = false;
  };
  auto& io = impl_->loop.context();
  auto d = std::make_shared<Dial>(io);
  d->done = std::move(done);
  if (to.ip.size() != 4 && to.ip.size() != 16) {
    asio::post(io, [d] { d->done(Status(InvalidArgument("bad gossip address"))); });
    return;
  }
  tcp::endpoint ep(ToAsio(to), to.port);
  Address remote = to;
  d->timer.expires_after(timeout);
  d->timer.async_wait([d, remote](const boost::system::error_code& ec) {
    if (ec || d->finished) return;
    d->finished = true;
    boost::system::error_code ignored;
    d->socket.close(ignored);
    d->done(Status(Unavailable("dial tcp " + remote.ToString() + ": i/o timeout")));
  });
  d->socket.async_connect(ep, [d, remote](const boost::system::error_code& ec) {
    if (d->finished) return;
    d->finished = true;
    d->timer.cancel();
    if (ec) {
      d->done(Status(Unavailable("dial tcp " + remote.ToString() + ": " + ec.message())));
      return;
    }
    auto s = std::make_shared<AsioStream>(std::move(d->socket), remote);
    d->done(std::unique_ptr<Stream>(std::make_unique<StreamHandle>(std::move(s))));
  });
}

void UdpTransport::SetPacketHandler(PacketHandler handler) { impl_->on_packet = std::move(handler); }

void UdpTransport::SetStreamHandler(StreamHandler handler) { impl_->on_stream = std::move(handler); }

void UdpTransport::Shutdown() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  impl_->on_packet = nullptr;
  impl_->on_stream = nullptr;
  boost::system::error_code ignored;
  impl_->udp_socket.close(ignored);
  impl_->acceptor.close(ignored);
}

}  // namespace gangway::gossip
