#include "gossip/udp_transport.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

namespace gangway::gossip {
namespace {

using namespace std::chrono_literals;

// Runs the loop until done() or a deadline (the test fails on the deadline).
void RunUntil(net::EventLoop& loop, const std::function<bool()>& done) {
  auto deadline = loop.After(5s, [&] { loop.Stop(); });
  std::function<void()> poll;
  std::unique_ptr<Timer> tick;
  poll = [&] {
    if (done()) {
      loop.Stop();
      return;
    }
    tick = loop.After(5ms, poll);
  };
  tick = loop.After(0ms, poll);
  loop.Run();
  loop.context().restart();
}

TEST(UdpTransport, PacketsAndStreamsOnLoopback) {
  net::EventLoop loop;
  auto a = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  auto b = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_NE((*a)->port(), 0);
  EXPECT_EQ((*a)->LocalAddress().ip, std::string("\x7f\x00\x00\x01", 4));

  std::string got_packet;
  Address got_from;
  (*b)->SetPacketHandler([&](const Address& from, std::string bytes) {
    got_from = from;
    got_packet = std::move(bytes);
  });
  ASSERT_TRUE((*a)->SendPacket((*b)->LocalAddress(), "hello gossip").ok());
  RunUntil(loop, [&] { return !got_packet.empty(); });
  EXPECT_EQ(got_packet, "hello gossip");
  EXPECT_EQ(got_from.port, (*a)->LocalAddress().port);

  // A stream: a writes a request and closes its side; b answers and closes.
  std::unique_ptr<Stream> server_side;
  std::string server_got;
  // Read loops live at test scope so the callbacks can re-arm them.
  std::function<void(Result<std::string>)> server_read, client_read;
  (*b)->SetStreamHandler([&](std::unique_ptr<Stream> s) {
    server_side = std::move(s);
    server_read = [&](Result<std::string> r) {
      ASSERT_TRUE(r.ok());
      if (r->empty()) {
        server_side->Write("pong:" + server_got, [](Status) {});
        server_side->Close();
        return;
      }
      server_got += *r;
      server_side->Read(server_read);
    };
    server_side->Read(server_read);
  });
  std::unique_ptr<Stream> client_side;
  std::string client_got;
  bool client_eof = false;
  (*a)->OpenStream((*b)->LocalAddress(), 2s, [&](Result<std::unique_ptr<Stream>> s) {
    ASSERT_TRUE(s.ok()) << s.status().message();
    client_side = std::move(*s);
    client_side->Write("ping", [](Status st) { EXPECT_TRUE(st.ok()); });
    client_side->Close();
    client_read = [&](Result<std::string> r) {
      ASSERT_TRUE(r.ok());
      if (r->empty()) {
        client_eof = true;
        return;
      }
      client_got += *r;
      client_side->Read(client_read);
    };
    client_side->Read(client_read);
  });
  RunUntil(loop, [&] { return client_eof; });
  EXPECT_EQ(server_got, "ping");
  EXPECT_EQ(client_got, "pong:ping");
}

TEST(UdpTransport, DialRefusedAndBadBind) {
  net::EventLoop loop;
  auto a = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  ASSERT_TRUE(a.ok());
  // A port nothing listens on: bind a transport, note its port, shut it down.
  auto b = UdpTransport::Bind(loop, "127.0.0.1", 0, "");
  ASSERT_TRUE(b.ok());
  Address dead = (*b)->LocalAddress();
  (*b)->Shutdown();
  bool done = false;
  Status st;
  (*a)->OpenStream(dead, 2s, [&](Result<std::unique_ptr<Stream>> s) {
    done = true;
    st = s.status();
  });
  RunUntil(loop, [&] { return done; });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("dial tcp 127.0.0.1:"), std::string::npos) << st.message();

  EXPECT_FALSE(UdpTransport::Bind(loop, "not-an-ip", 0, "").ok());
  EXPECT_FALSE((*a)->SendPacket(Address{"xyz", 1}, "x").ok());
}

}  // namespace
}  // namespace gangway::gossip
