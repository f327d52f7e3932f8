// End to end over real sockets on 127.0.0.1 and real mTLS: sidecars, gateways, refusals, config
// reloads and drain, each runtime with its own worker threads.
#include "proxy/runtime.h"
#include "proxy/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <future>
#include <thread>

#include "proxy/testing/harness.h"
#include "x509/x509.h"

namespace gangway::proxy {
namespace {

using testing::ClosedPort;
using testing::ConnectTcp;
using testing::EchoServer;
using testing::Identity;
using testing::ReadN;
using testing::ReadsEof;
using testing::TestCa;
using testing::TlsClient;
using testing::WaitFor;
using testing::WriteAll;

constexpr char kTd[] = "11111111-2222-3333-4444-555555555555.consul";
constexpr char kForeignTd[] = "99999999-8888-7777-6666-555555555555.consul";

std::string Sni(const std::string& svc, const std::string& dc = "dc1") {
  return svc + ".default." + dc + ".internal." + kTd;
}

// One CA and the leaves every test uses, made once (key generation is the slow part).
struct Pki {
  TestCa ca{kTd};
  TestCa foreign{kForeignTd};
  Identity web = ca.Leaf("web");
  Identity api = ca.Leaf("api", "dc2");
  Identity foreign_web = foreign.Leaf("web");
};
const Pki& Certs() {
  static const Pki* pki = new Pki();
  return *pki;
}

Endpoint Local(int port, Endpoint::Health health = Endpoint::Health::kPassing) {
  Endpoint e;
  e.address = "127.0.0.1";
  e.port = port;
  e.health = health;
  return e;
}

Config Base(uint64_t version, const std::string& service, const Identity* leaf) {
  Config c;
  c.version = version;
  c.kind = leaf ? Config::Kind::kConnectProxy : Config::Kind::kMeshGateway;
  c.proxy_id = service + (leaf ? "-sidecar-proxy" : "");
  c.service = service;
  c.datacenter = "dc1";
  c.trust_domain = kTd;
  if (leaf) {
    c.leaf = Leaf{leaf->cert_pem, leaf->key_pem, leaf->spiffe_id, "2099-01-01T00:00:00Z"};
    c.roots_pem = {Certs().ca.root_pem()};
  }
  return c;
}

// A sidecar's public listener terminating mTLS in front of its app at `app_port`.
void AddPublic(Config& c, int app_port) {
  Listener l;
  l.name = "public";
  l.address = "127.0.0.1";
  l.kind = Listener::Kind::kPublic;
  l.chains.push_back({{}, FilterChain::Action::kTerminateTls, "local_app"});
  c.listeners.push_back(l);
  Cluster app;
  app.name = "local_app";
  app.endpoints = {Local(app_port)};
  c.clusters.push_back(app);
}

// api's sidecar: its public listener in front of the app at `app_port`.
Config ApiSidecar(uint64_t version, int app_port) {
  Config c = Base(version, "api", &Certs().api);
  AddPublic(c, app_port);
  return c;
}

// web's sidecar: an upstream listener "api" originating mTLS to `endpoints` for api's SNI.
Config WebSidecar(uint64_t version, std::vector<Endpoint> endpoints,
                  std::vector<std::string> spiffe_ids = {}) {
  Config c = Base(version, "web", &Certs().web);
  AddPublic(c, ClosedPort());
  Listener l;
  l.name = "upstream-api";
  l.address = "127.0.0.1";
  l.kind = Listener::Kind::kUpstream;
  l.chains.push_back({{}, FilterChain::Action::kOriginateTls, Sni("api", "dc2")});
  c.listeners.push_back(l);
  Cluster api;
  api.name = Sni("api", "dc2");
  api.tls = Cluster::Tls::kOriginate;
  api.sni = api.name;
  api.spiffe_ids =
      spiffe_ids.empty() ? std::vector<std::string>{Certs().api.spiffe_id} : spiffe_ids;
  api.connect_timeout = std::chrono::milliseconds(2000);
  api.endpoints = std::move(endpoints);
  c.clusters.push_back(api);
  return c;
}

// A mesh gateway: "*.dc2.internal.<td>" to `remote_port` (dc2's gateway) when set, and every
// other SNI to the cluster it names, whose endpoints `local` lists.
Config Gateway(uint64_t version, std::vector<std::pair<std::string, std::vector<Endpoint>>> local,
               int remote_port = 0) {
  Config c = Base(version, "mesh-gateway", nullptr);
  Listener l;
  l.name = "gateway";
  l.address = "127.0.0.1";
  l.kind = Listener::Kind::kGateway;
  if (remote_port != 0) {
    std::string dc2 = std::string("dc2.internal.") + kTd;
    l.chains.push_back({{"*." + dc2}, FilterChain::Action::kTcpProxy, dc2});
    Cluster remote;
    remote.name = dc2;
    remote.endpoints = {Local(remote_port)};
    c.clusters.push_back(remote);
  }
  l.chains.push_back({{}, FilterChain::Action::kSniCluster, ""});
  c.listeners.push_back(l);
  for (auto& [name, endpoints] : local) {
    Cluster cl;
    cl.name = name;
    cl.endpoints = std::move(endpoints);
    c.clusters.push_back(cl);
  }
  return c;
}

std::shared_ptr<const Config> Share(Config c) { return std::make_shared<const Config>(std::move(c)); }

RuntimeOptions TestOptions() {
  RuntimeOptions options;
  options.workers = 2;
  options.admin_port = -1;
  options.handshake_timeout = std::chrono::milliseconds(3000);
  return options;
}

class Proxy {
 public:
  explicit Proxy(Config config, int admin_port = -1, OutlierPolicy outliers = {},
                 bool multiplex = true, int workers = 2)
      : Proxy(std::move(config), [&] {
          RuntimeOptions options = TestOptions();
          options.workers = workers;
          options.admin_port = admin_port;
          options.multiplex = multiplex;
          options.outliers = outliers;
          return options;
        }()) {}
  Proxy(Config config, const RuntimeOptions& options) {
    Status s = runtime.Start(options);
    EXPECT_TRUE(s.ok()) << s.message();
    s = runtime.Apply(Share(std::move(config)));
    EXPECT_TRUE(s.ok()) << s.message();
  }
  int Port(std::string_view listener) const { return runtime.ListenerPort(listener); }
  ListenerStats Listener(std::string_view name) const {
    RuntimeStats s = runtime.Stats();
    const ListenerStats* l = s.Listener(name);
    return l ? *l : ListenerStats{};
  }
  ClusterStats Cluster(std::string_view name) const {
    RuntimeStats s = runtime.Stats();
    const ClusterStats* c = s.Cluster(name);
    return c ? *c : ClusterStats{};
  }
  bool WaitRefused(std::string_view listener, RefuseReason reason, uint64_t n = 1) const {
    return WaitFor([&] { return Listener(listener).Refused(reason) >= n; });
  }

  Runtime runtime;
};

// Sends `payload` into `port` and expects it echoed back.
void ExpectEcho(int port, const std::string& payload) {
  int fd = ConnectTcp(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, payload));
  EXPECT_EQ(ReadN(fd, payload.size()), payload);
  ::close(fd);
}

std::string Payload(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(ProxyRuntime, SidecarToSidecarRoundTrips) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));

  ExpectEcho(web.Port("upstream-api"), Payload(100000));
  ExpectEcho(web.Port("upstream-api"), "second");

  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").bytes_out >= 100006; }));
  EXPECT_EQ(api.Listener("public").RefusedTotal(), 0u);
  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connections, 2u);
  EXPECT_EQ(c.bytes_sent, 100006u);
  // Two connections as streams of one multiplexed connection per worker (docs/mux.md).
  EXPECT_EQ(api.Listener("public").accepted, c.mux_sessions);
  EXPECT_EQ(api.Cluster("local_app").connections, 2u);
}

// Without multiplexing, the second connection through the same upstream resumes the first one's
// TLS session, and the resumed session still carries web's certificate: api's listener only lets
// web in (the default denies), so a resumed session without the client's identity would be
// refused.
TEST(ProxyRuntime, SecondConnectionResumesTheSession) {
  EchoServer echo;
  Config api_config = ApiSidecar(1, echo.port());
  api_config.authz.default_allow = false;
  api_config.authz.rules.push_back({Certs().web.spiffe_id, true, 9, "allow-web"});
  Proxy api(std::move(api_config));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, /*multiplex=*/false);

  ExpectEcho(web.Port("upstream-api"), "first");
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).tls_resumed, 0u);
  ExpectEcho(web.Port("upstream-api"), "second");
  ExpectEcho(web.Port("upstream-api"), "third");

  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connections, 3u);
  EXPECT_EQ(c.tls_resumed, 2u);
  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").bytes_out >= 16; }));
  EXPECT_EQ(api.Listener("public").accepted, 3u);
  EXPECT_EQ(api.Listener("public").RefusedTotal(), 0u);
}

// A next config from the same leaf, roots and ALPN choice shares the TLS contexts (and so the
// tickets and ticket keys); a new leaf or new roots build new ones.
TEST(MeshTlsContexts, ANextConfigWithTheSameCertificatesSharesThem) {
  auto v1 = MeshTls::Build(WebSidecar(1, {Local(1001)}));
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  auto v2 = MeshTls::Build(WebSidecar(2, {Local(1002), Local(1003)}), v1->get());
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ((*v2)->server(), (*v1)->server());
  EXPECT_EQ((*v2)->client(), (*v1)->client());

  Config other_leaf = WebSidecar(3, {Local(1002)});
  other_leaf.leaf = Leaf{Certs().api.cert_pem, Certs().api.key_pem, Certs().api.spiffe_id,
                         "2099-01-01T00:00:00Z"};
  auto v3 = MeshTls::Build(other_leaf, v2->get());
  ASSERT_TRUE(v3.ok());
  EXPECT_NE((*v3)->server(), (*v2)->server());
  EXPECT_NE((*v3)->client(), (*v2)->client());

  Config more_roots = WebSidecar(4, {Local(1002)});
  more_roots.roots_pem.push_back(Certs().foreign.root_pem());
  auto v4 = MeshTls::Build(more_roots, v1->get());
  ASSERT_TRUE(v4.ok());
  EXPECT_NE((*v4)->client(), (*v1)->client());
  // The public listener turning to HTTP (L7 intentions) stops selecting multiplexing: new
  // contexts, or a resumed client would still see the old ALPN choice.
  Config l7 = WebSidecar(5, {Local(1001)});
  l7.listeners[0].chains[0].inbound_http = true;
  auto v5 = MeshTls::Build(l7, v1->get());
  ASSERT_TRUE(v5.ok());
  EXPECT_NE((*v5)->server(), (*v1)->server());
  // A leaf that does not parse is refused even when the rest matches.
  Config bad = WebSidecar(6, {Local(1002)});
  bad.leaf->cert_pem = "garbage";
  EXPECT_FALSE(MeshTls::Build(bad, v1->get()).ok());
}

// Two sidecars' contexts agree on AES-128-GCM, as Envoy and Go do, whatever OpenSSL's default
// order (AES-256-GCM first) says.
TEST(MeshTlsContexts, SidecarsNegotiateAes128Gcm) {
  auto web = MeshTls::Build(WebSidecar(1, {Local(1001)}));
  auto api = MeshTls::Build(ApiSidecar(1, 1002));
  ASSERT_TRUE(web.ok() && api.ok());
  std::unique_ptr<SSL, decltype(&SSL_free)> client(SSL_new((*web)->client()), SSL_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> server(SSL_new((*api)->server()), SSL_free);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  ASSERT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  bool done = false;
  for (int i = 0; i < 20 && !done; ++i) {
    int c = SSL_do_handshake(client.get());
    int s = SSL_do_handshake(server.get());
    done = c == 1 && s == 1;
  }
  ASSERT_TRUE(done) << x509::DrainOpenSslErrors();
  EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(client.get())),
               "TLS_AES_128_GCM_SHA256");
  EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(server.get())),
               "TLS_AES_128_GCM_SHA256");
}

// After a new config (here: the same endpoint, a new version) the next connection resumes the
// session of one dialed under the old config: no full handshake per config change.
TEST(ProxyRuntime, ConnectionsResumeAcrossANewConfig) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, /*multiplex=*/false);
  ExpectEcho(web.Port("upstream-api"), "first");
  ASSERT_TRUE(web.runtime.Apply(Share(WebSidecar(2, {Local(api.Port("public"))}))).ok());
  ASSERT_TRUE(api.runtime.Apply(Share(ApiSidecar(2, echo.port()))).ok());
  for (int i = 0; i < 4; ++i) ExpectEcho(web.Port("upstream-api"), "after " + std::to_string(i));
  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connections, 5u);
  EXPECT_EQ(c.tls_resumed, 4u);
  EXPECT_EQ(web.runtime.version(), 2u);
  EXPECT_EQ(api.runtime.version(), 2u);
}

// Sends `payload` from one thread and reads from another until EOF, after a half-close of the
// sending side: the echo app closes its side when its client does.
std::string EchoWithHalfClose(int port, const std::string& payload) {
  int fd = ConnectTcp(port);
  if (fd < 0) return "connect failed";
  std::thread writer([&] {
    WriteAll(fd, payload);
    ::shutdown(fd, SHUT_WR);
  });
  std::string got = ReadN(fd, payload.size() + 1);
  writer.join();
  ::close(fd);
  return got;
}

// Upstream connections become streams on a shared mTLS connection (docs/mux.md): 30 of them, 10
// at a time, reach api's app over at most one TLS connection per worker, each app connection
// counted as a connection of its own on both sides.
TEST(ProxyRuntime, ConnectionsShareMultiplexedTlsConnections) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  ExpectEcho(web.Port("upstream-api"), "first");
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> clients;
    for (int i = 0; i < 10; ++i) {
      clients.emplace_back([&, i] {
        ExpectEcho(web.Port("upstream-api"), "conn " + std::to_string(round * 10 + i));
      });
    }
    for (auto& t : clients) t.join();
  }
  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connections, 31u);
  EXPECT_GE(c.mux_sessions, 1u);
  EXPECT_LE(c.mux_sessions, 2u);  // one per worker at most
  EXPECT_EQ(api.Listener("public").accepted, c.mux_sessions);
  EXPECT_TRUE(WaitFor([&] { return api.Cluster("local_app").connections == 31u; }));
  EXPECT_TRUE(WaitFor([&] { return api.Cluster("local_app").active == 0; }));
  EXPECT_EQ(api.Listener("public").RefusedTotal(), 0u);
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);
}

// Each stream has a window of 256 KiB: 3 MB each way on four streams at once arrive intact, and
// a half-close travels as FIN both ways (the app sees EOF, closes, and the client sees EOF).
TEST(ProxyRuntime, MultiplexedStreamsCarryLargeTransfersAndHalfCloses) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  const std::string payload = Payload(3 * 1024 * 1024);
  std::vector<std::thread> clients;
  std::atomic<int> intact{0};
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      if (EchoWithHalfClose(web.Port("upstream-api"), payload) == payload) ++intact;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(intact.load(), 4);
  EXPECT_LE(web.Cluster(Sni("api", "dc2")).mux_sessions, 2u);
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).bytes_sent, 4u * payload.size());
  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").bytes_out == 4u * payload.size(); }));
}

// An app that writes its answer and ends at once: the answer's DATA frames and the FIN behind
// them reach web's sidecar in one read, and every byte is written to the client before its
// socket is shut down. Sizes around the 16 KiB frame, OpenSSL's 64 KiB read-ahead and the
// 256 KiB read batch.
TEST(ProxyRuntime, AnAnswerAndTheCloseBehindItArriveInOrder) {
  const std::vector<size_t> sizes = {1,      16376,  16377,  65504,  65536,
                                     65600,  200000, 262100, 262144, 262200};
  std::atomic<size_t> next{0};
  testing::TcpServer app(
      [&](int fd) {
        size_t n = sizes[next.fetch_add(1) % sizes.size()];
        WriteAll(fd, Payload(n));
        ::shutdown(fd, SHUT_WR);  // the server closes the descriptor
      },
      "answer-and-close app");
  Proxy api(ApiSidecar(1, app.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, true, /*workers=*/1);
  for (size_t round = 0; round < 3 * sizes.size(); ++round) {
    const size_t n = sizes[round % sizes.size()];
    int fd = ConnectTcp(web.Port("upstream-api"));
    ASSERT_GE(fd, 0);
    std::string got = ReadN(fd, n + 1);  // the answer, then EOF
    ::close(fd);
    EXPECT_EQ(got.size(), n) << "round " << round;
    EXPECT_TRUE(got == Payload(n)) << "round " << round;
  }
}

// Credit for an answer rides with the next request (docs/mux.md, "Flow control"): 24 answers of
// 64 KiB on one keep-alive connection, and web's sidecar never writes to the multiplexed
// connection just to give credit back. A write of WINDOW frames alone would go through every
// hop on its own.
TEST(ProxyRuntime, CreditForAnAnswerGoesWithTheNextRequest) {
  constexpr size_t kAnswer = 64 * 1024;
  testing::TcpServer app(
      [&](int fd) {
        char request;
        while (::read(fd, &request, 1) == 1) {
          if (!WriteAll(fd, Payload(kAnswer))) return;
        }
      },
      "64 KiB answers app");
  Proxy api(ApiSidecar(1, app.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, true, /*workers=*/1);
  int fd = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 24; ++i) {
    ASSERT_TRUE(WriteAll(fd, "?"));
    ASSERT_EQ(ReadN(fd, kAnswer), Payload(kAnswer)) << "answer " << i;
  }
  ::close(fd);
  // The sidecar counts what it wrote after the write, so the client may have read it first.
  EXPECT_TRUE(
      WaitFor([&] { return web.Cluster(Sni("api", "dc2")).bytes_received == 24 * kAnswer; }));
  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.mux_sessions, 1u);
  EXPECT_EQ(c.mux_window_only_writes, 0u);
}

// A stream whose reader stopped does not stall the others on its connection (docs/mux.md, "Flow
// control"): 64 MB echoed back to a client that never reads fill every socket buffer and the
// stream's windows on the way, and another connection through the same multiplexed connection
// still gets its answer.
TEST(ProxyRuntime, AStalledStreamDoesNotStallItsConnection) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, true, /*workers=*/1);
  int stalled = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(stalled, 0);
  const std::string big = Payload(64 * 1024 * 1024);
  std::thread writer([&] { WriteAll(stalled, big); });  // gives up after its 5 s timeout
  // The stream stops moving once its windows are used up.
  uint64_t last = 0;
  EXPECT_TRUE(WaitFor([&] {
    uint64_t now = web.Cluster(Sni("api", "dc2")).bytes_received;
    bool settled = now > 0 && now == last;
    last = now;
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return settled;
  }));
  EXPECT_LT(last, big.size());
  ExpectEcho(web.Port("upstream-api"), "through");
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_sessions, 1u);  // the same connection
  ::shutdown(stalled, SHUT_RDWR);
  writer.join();
  ::close(stalled);
}

// A new config takes new streams to a new connection (docs/mux.md); the old connection keeps
// its stream to the end, then closes: api's sidecar sees it go.
TEST(ProxyRuntime, ANewConfigMovesNewStreamsToANewConnection) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  int fd = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "old"));
  ASSERT_EQ(ReadN(fd, 3), "old");
  const uint64_t before = web.Cluster(Sni("api", "dc2")).mux_sessions;

  ASSERT_TRUE(web.runtime.Apply(Share(WebSidecar(2, {Local(api.Port("public"))}))).ok());
  // Apply posts version 2 to the workers: probe until a new connection was dialed under it.
  EXPECT_TRUE(WaitFor([&] {
    ExpectEcho(web.Port("upstream-api"), "new");
    return web.Cluster(Sni("api", "dc2")).mux_sessions > before;
  }));
  // The old connection still carries its stream.
  ASSERT_TRUE(WriteAll(fd, "still"));
  EXPECT_EQ(ReadN(fd, 5), "still");
  const int64_t open_before_close = api.Listener("public").active;
  ::close(fd);
  // Its last stream ended: the old connection goes away.
  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").active < open_before_close; }));
  ExpectEcho(web.Port("upstream-api"), "after");
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);
}

// With multiplexing off, every connection is a TLS connection of its own.
TEST(ProxyRuntime, MultiplexOffDialsPerConnection) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), -1, {}, /*multiplex=*/false);
  for (int i = 0; i < 5; ++i) ExpectEcho(web.Port("upstream-api"), "plain");
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_sessions, 0u);
  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").accepted == 5u; }));
}

TEST(ProxyRuntime, ThroughOneGatewayBySni) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy gw(Gateway(1, {{Sni("api", "dc2"), {Local(api.Port("public"))}}}));
  Proxy web(WebSidecar(1, {Local(gw.Port("gateway"))}));

  std::string payload = Payload(300000);
  ExpectEcho(web.Port("upstream-api"), payload);
  EXPECT_TRUE(WaitFor([&] {
    ClusterStats c = gw.Cluster(Sni("api", "dc2"));
    return c.bytes_received >= payload.size() && gw.Listener("gateway").bytes_out >= payload.size();
  }));
  ClusterStats c = gw.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connections, 1u);
  // TLS overhead on top of the payload, both ways; the gateway saw ciphertext only.
  EXPECT_GT(c.bytes_sent, payload.size());
  EXPECT_GT(gw.Listener("gateway").bytes_in, payload.size());
}

TEST(ProxyRuntime, ThroughTwoGatewaysInARow) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy gw2(Gateway(1, {{Sni("api", "dc2"), {Local(api.Port("public"))}}}));
  Proxy gw1(Gateway(1, {}, gw2.Port("gateway")));
  Proxy web(WebSidecar(1, {Local(gw1.Port("gateway"))}));

  ExpectEcho(web.Port("upstream-api"), Payload(50000));
  std::string dc2 = std::string("dc2.internal.") + kTd;
  EXPECT_TRUE(WaitFor([&] { return gw1.Cluster(dc2).bytes_received >= 50000; }));
  EXPECT_EQ(gw1.Cluster(dc2).connections, 1u);
  EXPECT_EQ(gw2.Cluster(Sni("api", "dc2")).connections, 1u);
}

TEST(ProxyRuntime, PublicListenerRefusesBadClients) {
  EchoServer echo;
  Config config = ApiSidecar(1, echo.port());
  // The foreign CA is trusted here, so only the trust-domain check can refuse its leaf.
  config.roots_pem.push_back(Certs().foreign.root_pem());
  Proxy api(std::move(config));
  int port = api.Port("public");
  std::vector<std::string> roots = {Certs().ca.root_pem()};
  {
    TlsClient anonymous(port, Sni("api", "dc2"), nullptr, roots);
    anonymous.Write("x");
    EXPECT_EQ(anonymous.Read(1), "");
  }
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kNoClientCertificate));
  {
    TlsClient foreign(port, Sni("api", "dc2"), &Certs().foreign_web, roots);
    foreign.Write("x");
    EXPECT_EQ(foreign.Read(1), "");
  }
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kForeignTrustDomain));
  {
    // Signed by a CA nobody here trusts.
    TestCa stranger(kTd);
    Identity leaf = stranger.Leaf("web");
    TlsClient untrusted(port, Sni("api", "dc2"), &leaf, roots);
    untrusted.Write("x");
    EXPECT_EQ(untrusted.Read(1), "");
  }
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kUntrustedPeer));
  {
    TlsClient good(port, Sni("api", "dc2"), &Certs().web, roots);
    ASSERT_TRUE(good.Write("still serving"));
    EXPECT_EQ(good.Read(13), "still serving");
  }
  ListenerStats s = api.Listener("public");
  EXPECT_EQ(s.RefusedTotal(), 3u);
  EXPECT_EQ(s.accepted, 4u);
}

// The log lines of whatever `body` makes the proxies refuse; `body` waits for the refusals.
std::string LogOf(const std::function<void()>& body) {
  ::testing::internal::CaptureStderr();
  body();
  return ::testing::internal::GetCapturedStderr();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ProxyRuntime, ClientFromAnotherCaIsRefusedNamingBothTrustDomains) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  std::string log = LogOf([&] {
    TlsClient foreign(api.Port("public"), Sni("api", "dc2"), &Certs().foreign_web,
                      {Certs().ca.root_pem()});
    foreign.Write("x");
    EXPECT_EQ(foreign.Read(1), "");
    EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kUntrustedPeer));
  });
  EXPECT_TRUE(Contains(log, "listener=public peer=127.0.0.1:")) << log;
  EXPECT_TRUE(Contains(log,
                       "refused: untrusted_peer: x509: certificate signed by unknown "
                       "authority: the peer's certificate " +
                           Certs().foreign_web.spiffe_id + " is from trust domain " + kForeignTd +
                           ", this proxy trusts trust domain " + kTd))
      << log;
}

// S6 in one process: dc2 bootstrapped its own CA. web (trust domain kTd) dials api through
// dc2's gateway with an SNI in kTd; the gateway forwards it to api's sidecar (kForeignTd), and
// both sidecars name the cause instead of a closed connection.
TEST(ProxyRuntime, SeparateRootsFailWithTheCauseThroughAGateway) {
  EchoServer echo;
  static const Identity api_leaf = Certs().foreign.Leaf("api", "dc2");
  Config api_config = Base(1, "api", &api_leaf);
  api_config.trust_domain = kForeignTd;
  api_config.roots_pem = {Certs().foreign.root_pem()};
  AddPublic(api_config, echo.port());
  Proxy api(std::move(api_config));
  std::string foreign_api = std::string("api.default.dc2.internal.") + kForeignTd;
  Config gw_config = Gateway(1, {{foreign_api, {Local(api.Port("public"))}}});
  gw_config.trust_domain = kForeignTd;
  Proxy gw(std::move(gw_config));
  Proxy web(WebSidecar(1, {Local(gw.Port("gateway"))}));

  std::string log = LogOf([&] {
    int fd = ConnectTcp(web.Port("upstream-api"));
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(ReadsEof(fd));
    ::close(fd);
    EXPECT_TRUE(web.WaitRefused("upstream-api", RefuseReason::kUpstreamTls));
    EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kTlsHandshake));
  });
  EXPECT_EQ(gw.Cluster(foreign_api).connections, 1u);
  EXPECT_EQ(gw.Listener("gateway").RefusedTotal(), 0u);
  EXPECT_TRUE(Contains(log, "names another trust domain than this gateway's")) << log;
  EXPECT_TRUE(Contains(log, "refused: upstream_tls: cluster " + Sni("api", "dc2") +
                                ": x509: certificate signed by unknown authority: the peer's "
                                "certificate " +
                                api_leaf.spiffe_id + " is from trust domain " + kForeignTd +
                                ", this proxy trusts trust domain " + kTd))
      << log;
  // TLS 1.3: the client judges the server first, so api's sidecar only hears the alert.
  EXPECT_TRUE(Contains(log, "refused: tls_handshake: tlsv1 alert unknown ca")) << log;
  EXPECT_TRUE(Contains(log, "the client does not trust this proxy's certificate (trust domain " +
                                std::string(kForeignTd) + ")"))
      << log;
}

TEST(ProxyRuntime, IntentionDenyIsRefusedAtThePublicListener) {
  EchoServer echo;
  Config config = ApiSidecar(1, echo.port());
  config.authz.default_allow = false;
  config.authz.rules.push_back({Certs().web.spiffe_id, false, 9, "deny-web"});
  Proxy api(std::move(config));
  TlsClient web(api.Port("public"), Sni("api", "dc2"), &Certs().web, {Certs().ca.root_pem()});
  web.Write("x");
  EXPECT_EQ(web.Read(1), "");
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kUnauthorized));
}

TEST(ProxyRuntime, UpstreamRefusesAServerWithTheWrongIdentity) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  std::string db = std::string("spiffe://") + kTd + "/ns/default/dc/dc2/svc/db";
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}, {db}));
  int fd = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ReadsEof(fd));
  ::close(fd);
  EXPECT_TRUE(web.WaitRefused("upstream-api", RefuseReason::kWrongServerIdentity));
}

TEST(ProxyRuntime, GatewayRefusesWhatItCannotRoute) {
  EchoServer echo;
  Proxy gw(Gateway(1, {{Sni("api", "dc2"), {Local(echo.port())}},
                       {Sni("db", "dc2"), {Local(echo.port(), Endpoint::Health::kCritical)}}}));
  int port = gw.Port("gateway");
  {
    TlsClient unknown(port, Sni("nope", "dc2"), nullptr, {});
    EXPECT_FALSE(unknown.handshake_ok());
  }
  EXPECT_TRUE(gw.WaitRefused("gateway", RefuseReason::kUnknownCluster));
  {
    TlsClient sick(port, Sni("db", "dc2"), nullptr, {});
    EXPECT_FALSE(sick.handshake_ok());
  }
  EXPECT_TRUE(gw.WaitRefused("gateway", RefuseReason::kNoHealthyEndpoint));
  {
    int fd = ConnectTcp(port);
    WriteAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(ReadsEof(fd));
    ::close(fd);
  }
  EXPECT_TRUE(gw.WaitRefused("gateway", RefuseReason::kBadClientHello, 1));
  {
    // A record header and a handshake header announcing a 16 MiB ClientHello.
    const unsigned char oversized[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff};
    int fd = ConnectTcp(port);
    WriteAll(fd, std::string_view(reinterpret_cast<const char*>(oversized), sizeof(oversized)));
    EXPECT_TRUE(ReadsEof(fd));
    ::close(fd);
  }
  EXPECT_TRUE(gw.WaitRefused("gateway", RefuseReason::kBadClientHello, 2));
  ListenerStats s = gw.Listener("gateway");
  EXPECT_EQ(s.hello_errors[static_cast<size_t>(net::HelloError::kNotHandshake)], 1u);
  EXPECT_EQ(s.hello_errors[static_cast<size_t>(net::HelloError::kTooLarge)], 1u);
  // Nothing reached the backend, and a good client still gets through.
  EXPECT_EQ(gw.Cluster(Sni("api", "dc2")).connections, 0u);
  {
    TlsClient good(port, Sni("api", "dc2"), nullptr, {});
    // The echo app answers the ClientHello with itself, which is no ServerHello; what matters is
    // that the gateway forwarded it.
    EXPECT_FALSE(good.handshake_ok());
  }
  EXPECT_TRUE(WaitFor([&] { return gw.Cluster(Sni("api", "dc2")).connections == 1; }));
  EXPECT_EQ(gw.Listener("gateway").RefusedTotal(), 4u);
}

TEST(ProxyRuntime, GatewayClosesAClientThatSendsNoHelloInTime) {
  EchoServer echo;
  Proxy gw(Gateway(1, {{Sni("api", "dc2"), {Local(echo.port())}}}));
  int fd = ConnectTcp(gw.Port("gateway"));
  WriteAll(fd, std::string("\x16\x03\x01", 3));  // the start of a record, then silence
  EXPECT_TRUE(ReadsEof(fd));
  ::close(fd);
  EXPECT_TRUE(gw.WaitRefused("gateway", RefuseReason::kHelloTimeout));
}

TEST(ProxyRuntime, ConnectFailureMovesToTheNextEndpoint) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(ClosedPort()), Local(api.Port("public"))}));
  ExpectEcho(web.Port("upstream-api"), "hello");
  ClusterStats c = web.Cluster(Sni("api", "dc2"));
  EXPECT_EQ(c.connect_failures, 1u);
  EXPECT_EQ(c.connections, 1u);
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);

  // Every endpoint down: refused as a connect failure.
  Status s = web.runtime.Apply(Share(WebSidecar(2, {Local(ClosedPort())})));
  ASSERT_TRUE(s.ok()) << s.message();
  int fd = ConnectTcp(web.Port("upstream-api"));
  EXPECT_TRUE(ReadsEof(fd));
  ::close(fd);
  EXPECT_TRUE(web.WaitRefused("upstream-api", RefuseReason::kConnectFailed));
}

// web's sidecar whose upstream api (dc2) has `primary` and fails over to api in dc3 at
// `failover`.
Config WebWithFailover(uint64_t version, std::vector<Endpoint> primary, Endpoint failover) {
  Config c = WebSidecar(version, std::move(primary));
  Cluster dc3 = c.clusters.back();
  dc3.name = Sni("api", "dc3");
  dc3.endpoints = {failover};
  c.clusters.back().failover = {dc3.name};
  c.clusters.push_back(dc3);
  return c;
}

OutlierPolicy LongEjection() {
  OutlierPolicy p;
  p.base_ejection = p.max_ejection = std::chrono::minutes(10);
  return p;
}

// The primary's only endpoint refuses connections while the catalog still calls it healthy (a
// gateway just killed, a datacenter gone): each connection moves on to the failover cluster, and
// after two failures the primary is no longer tried at all.
TEST(ProxyRuntime, ConnectFailuresFailOverAndEjectTheEndpoint) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebWithFailover(1, {Local(ClosedPort())}, Local(api.Port("public"))), -1,
            LongEjection());
  for (int i = 0; i < 4; ++i) ExpectEcho(web.Port("upstream-api"), "hello " + std::to_string(i));
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 2u);  // then ejected
  EXPECT_EQ(web.Cluster(Sni("api", "dc3")).connections, 4u);
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);
}

// A config whose failover cluster is ejected too still tries them all rather than refusing
// what the catalog calls healthy; a new config keeps the ejections it did not change.
TEST(ProxyRuntime, EjectionsOutliveAConfigAndNeverLeaveNothingToTry) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  const int dead = ClosedPort();
  Proxy web(WebWithFailover(1, {Local(dead)}, Local(api.Port("public"))), -1, LongEjection());
  ExpectEcho(web.Port("upstream-api"), "one");
  ExpectEcho(web.Port("upstream-api"), "two");
  ASSERT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 2u);

  // Version 2 (a new leaf, say) lists the same endpoint: still ejected, not dialed.
  Status s = web.runtime.Apply(Share(WebWithFailover(2, {Local(dead)}, Local(api.Port("public")))));
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectEcho(web.Port("upstream-api"), "three");
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 2u);

  // Version 3 fails over to a dead endpoint as well: with both ejected, both are tried anyway.
  s = web.runtime.Apply(Share(WebWithFailover(3, {Local(dead)}, Local(ClosedPort()))));
  ASSERT_TRUE(s.ok()) << s.message();
  for (int i = 0; i < 3; ++i) {
    int fd = ConnectTcp(web.Port("upstream-api"));
    EXPECT_TRUE(ReadsEof(fd));
    ::close(fd);
  }
  EXPECT_TRUE(web.WaitRefused("upstream-api", RefuseReason::kConnectFailed, 3));
  EXPECT_EQ(web.Listener("upstream-api").Refused(RefuseReason::kNoHealthyEndpoint), 0u);
  // The first two dialed only dc3's endpoint (then ejected); the third, with both ejected, both.
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 3u);
  EXPECT_EQ(web.Cluster(Sni("api", "dc3")).connect_failures, 3u);
}

// The catalog seeing an ejected endpoint critical and then passing again is news the proxy
// trusts: the endpoint starts afresh instead of waiting out its ejection.
TEST(ProxyRuntime, ACatalogRecoveryEndsAnEjection) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  const int dead = ClosedPort();
  const int dc3 = api.Port("public");
  Proxy web(WebWithFailover(1, {Local(dead)}, Local(dc3)), -1, LongEjection());
  auto failures = [&] { return web.Cluster(Sni("api", "dc2")).connect_failures; };
  ExpectEcho(web.Port("upstream-api"), "one");
  ExpectEcho(web.Port("upstream-api"), "two");
  ASSERT_EQ(failures(), 2u);
  ASSERT_TRUE(
      web.runtime
          .Apply(Share(WebWithFailover(2, {Local(dead, Endpoint::Health::kCritical)}, Local(dc3))))
          .ok());
  ExpectEcho(web.Port("upstream-api"), "three");
  ASSERT_TRUE(web.runtime.Apply(Share(WebWithFailover(3, {Local(dead)}, Local(dc3)))).ok());
  ExpectEcho(web.Port("upstream-api"), "four");
  EXPECT_EQ(failures(), 3u);  // tried again at once
  ExpectEcho(web.Port("upstream-api"), "five");
  EXPECT_EQ(failures(), 4u);  // two in a row since the recovery: ejected again
  ExpectEcho(web.Port("upstream-api"), "six");
  EXPECT_EQ(failures(), 4u);
}

// The primary's endpoint accepts and closes without a handshake: a gateway with nothing behind
// it, or a gateway whose next hop is gone. That fails over as a refused connection does.
TEST(ProxyRuntime, AnUpstreamHandshakeFailureFailsOver) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  std::atomic<int> accepted{0};
  testing::TcpServer closer(
      [&accepted](int fd) {
        accepted.fetch_add(1);
        ::shutdown(fd, SHUT_RDWR);
      },
      "closer");
  Proxy web(WebWithFailover(1, {Local(closer.port())}, Local(api.Port("public"))), -1,
            LongEjection());
  for (int i = 0; i < 4; ++i) ExpectEcho(web.Port("upstream-api"), "hi " + std::to_string(i));
  EXPECT_EQ(accepted.load(), 2);  // then ejected
  EXPECT_EQ(web.Cluster(Sni("api", "dc3")).connections, 4u);
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);
}

// Once the ejection is over, one connection tries the primary again: when it has healed, the
// traffic comes back to it.
TEST(ProxyRuntime, AHealedPrimaryGetsItsTrafficBack) {
  EchoServer echo;
  Proxy dc3(ApiSidecar(1, echo.port()));
  const int port = ClosedPort();
  OutlierPolicy quick;
  quick.base_ejection = std::chrono::milliseconds(200);
  quick.max_ejection = std::chrono::milliseconds(400);
  Proxy web(WebWithFailover(1, {Local(port)}, Local(dc3.Port("public"))), -1, quick);
  ExpectEcho(web.Port("upstream-api"), "one");
  ExpectEcho(web.Port("upstream-api"), "two");
  ASSERT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 2u);

  // api's sidecar in dc2 comes (back) up on the primary's address.
  Config healed = ApiSidecar(1, echo.port());
  healed.listeners[0].port = port;
  Proxy dc2(healed);
  ASSERT_EQ(dc2.Port("public"), port);
  int i = 0;
  EXPECT_TRUE(WaitFor([&] {
    ExpectEcho(web.Port("upstream-api"), "again " + std::to_string(i++));
    return web.Cluster(Sni("api", "dc2")).connections >= 1;
  }));
  uint64_t failed_over = web.Cluster(Sni("api", "dc3")).connections;
  for (int k = 0; k < 3; ++k) ExpectEcho(web.Port("upstream-api"), "back " + std::to_string(k));
  EXPECT_EQ(web.Cluster(Sni("api", "dc3")).connections, failed_over);
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).connections, 4u);
  EXPECT_EQ(web.Listener("upstream-api").RefusedTotal(), 0u);
}

TEST(ProxyRuntime, NoHealthyEndpointIsRefusedWithItsReason) {
  Proxy web(WebSidecar(1, {Local(ClosedPort(), Endpoint::Health::kCritical)}));
  int fd = ConnectTcp(web.Port("upstream-api"));
  EXPECT_TRUE(ReadsEof(fd));
  ::close(fd);
  EXPECT_TRUE(web.WaitRefused("upstream-api", RefuseReason::kNoHealthyEndpoint));
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).connect_failures, 0u);
}

TEST(ProxyRuntime, NewConfigLeavesEstablishedConnectionsAlone) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  int old_port = web.Port("upstream-api");
  int fd = ConnectTcp(old_port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "before"));
  ASSERT_EQ(ReadN(fd, 6), "before");

  // Version 2 renames the listener: the old one closes, a new one opens.
  Config v2 = WebSidecar(2, {Local(api.Port("public"))});
  v2.listeners[1].name = "upstream-api-2";
  ASSERT_EQ(v2.listeners[1].kind, Listener::Kind::kUpstream);
  ASSERT_TRUE(web.runtime.Apply(Share(v2)).ok());
  EXPECT_EQ(web.runtime.version(), 2u);
  EXPECT_EQ(web.Port("upstream-api"), 0);
  EXPECT_TRUE(WaitFor([&] {
    int probe = ConnectTcp(old_port);
    if (probe < 0) return true;
    ::close(probe);
    return false;
  }));
  // The established connection still carries bytes, under the config it started with.
  ASSERT_TRUE(WriteAll(fd, "after"));
  EXPECT_EQ(ReadN(fd, 5), "after");
  ::close(fd);
  ExpectEcho(web.Port("upstream-api-2"), "new listener");

  // An older or equal version is ignored.
  Config stale = WebSidecar(2, {Local(api.Port("public"))});
  ASSERT_TRUE(web.runtime.Apply(Share(stale)).ok());
  EXPECT_EQ(web.Port("upstream-api"), 0);
  EXPECT_NE(web.Port("upstream-api-2"), 0);
  Config older = WebSidecar(1, {Local(api.Port("public"))});
  ASSERT_TRUE(web.runtime.Apply(Share(older)).ok());
  EXPECT_EQ(web.runtime.version(), 2u);

  // Unless the caller allows it (an agent restarted with its clock behind): then it is applied.
  ASSERT_TRUE(web.runtime.Apply(Share(older), ApplyOrder::kAllowOlder).ok());
  EXPECT_EQ(web.runtime.version(), 1u);
  EXPECT_NE(web.Port("upstream-api"), 0);
  EXPECT_EQ(web.Port("upstream-api-2"), 0);
}

// A config whose authz denies the client of an established connection closes that connection
// (counted as `revoked`, logged once), and only that one: other clients' connections carry on.
TEST(ProxyRuntime, NewDenyClosesTheEstablishedConnectionsItDenies) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  int fd = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "before"));
  ASSERT_EQ(ReadN(fd, 6), "before");
  // Another source (api's own identity) with a connection of its own.
  TlsClient other(api.Port("public"), Sni("api", "dc2"), &Certs().api, {Certs().ca.root_pem()});
  ASSERT_TRUE(other.Write("a"));
  ASSERT_EQ(other.Read(1), "a");

  ::testing::internal::CaptureStderr();
  Config v2 = ApiSidecar(2, echo.port());
  v2.authz.rules.push_back({Certs().web.spiffe_id, false, 9, "web => api"});
  ASSERT_TRUE(api.runtime.Apply(Share(v2)).ok());
  EXPECT_TRUE(ReadsEof(fd)) << "web's established connection is closed";
  ::close(fd);
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kRevoked));
  // A later version that still denies does not count or log it again.
  Config v3 = v2;
  v3.version = 3;
  ASSERT_TRUE(api.runtime.Apply(Share(v3)).ok());
  ASSERT_TRUE(other.Write("b"));
  EXPECT_EQ(other.Read(1), "b") << "a source the new config allows keeps its connection";
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(api.Listener("public").Refused(RefuseReason::kRevoked), 1u);
  EXPECT_EQ(api.Listener("public").Refused(RefuseReason::kUnauthorized), 0u);
  EXPECT_NE(log.find(" closed: revoked: " + Certs().web.spiffe_id +
                     ": intention web => api denies (config version 2)"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(" closed: revoked: ", log.find(" closed: revoked: ") + 1), std::string::npos)
      << "logged once: " << log;

  // New connections from web are refused as before.
  int again = ConnectTcp(web.Port("upstream-api"));
  ASSERT_GE(again, 0);
  ASSERT_TRUE(WriteAll(again, "x"));
  EXPECT_TRUE(ReadsEof(again));
  ::close(again);
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kUnauthorized));
}

// A default that turns to deny closes the connections no rule allows.
TEST(ProxyRuntime, DefaultTurnedToDenyClosesConnectionsNoRuleAllows) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  TlsClient web(api.Port("public"), Sni("api", "dc2"), &Certs().web, {Certs().ca.root_pem()});
  TlsClient allowed(api.Port("public"), Sni("api", "dc2"), &Certs().api, {Certs().ca.root_pem()});
  ASSERT_TRUE(web.Write("1"));
  ASSERT_EQ(web.Read(1), "1");
  ASSERT_TRUE(allowed.Write("1"));
  ASSERT_EQ(allowed.Read(1), "1");

  Config v2 = ApiSidecar(2, echo.port());
  v2.authz.default_allow = false;
  v2.authz.rules.push_back({Certs().api.spiffe_id, true, 9, "api => api"});
  ASSERT_TRUE(api.runtime.Apply(Share(v2)).ok());
  EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kRevoked));
  web.Write("2");
  EXPECT_EQ(web.Read(1), "");
  ASSERT_TRUE(allowed.Write("2"));
  EXPECT_EQ(allowed.Read(1), "2");
  EXPECT_EQ(api.Listener("public").Refused(RefuseReason::kRevoked), 1u);
}

TEST(ProxyRuntime, ApplyRefusesAnInvalidConfigAndKeepsTheOldOne) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Config bad = ApiSidecar(2, echo.port());
  bad.leaf->private_key_pem = Certs().web.key_pem;  // not the certificate's key
  EXPECT_FALSE(api.runtime.Apply(Share(bad)).ok());
  EXPECT_EQ(api.runtime.version(), 1u);
  TlsClient web(api.Port("public"), Sni("api", "dc2"), &Certs().web, {Certs().ca.root_pem()});
  ASSERT_TRUE(web.Write("ok"));
  EXPECT_EQ(web.Read(2), "ok");
}

TEST(ProxyRuntime, DrainLetsConnectionsFinishThenClosesTheRest) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  int port = web.Port("upstream-api");
  int fd = ConnectTcp(port);
  ASSERT_TRUE(WriteAll(fd, "one"));
  ASSERT_EQ(ReadN(fd, 3), "one");

  auto drained = std::async(std::launch::async, [&] {
    web.runtime.Drain(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  });
  // Listeners close at once; the open connection keeps working until the client is done.
  EXPECT_TRUE(WaitFor([&] {
    int probe = ConnectTcp(port);
    if (probe < 0) return true;
    ::close(probe);
    return false;
  }));
  ASSERT_TRUE(WriteAll(fd, "two"));
  EXPECT_EQ(ReadN(fd, 3), "two");
  ::close(fd);
  EXPECT_EQ(drained.wait_for(std::chrono::seconds(4)), std::future_status::ready);

  // A connection that never finishes is closed at the deadline.
  ASSERT_TRUE(WaitFor([&] { return api.Listener("public").active == 0; }));
  uint64_t accepted = api.Listener("public").accepted;
  int idle = ConnectTcp(api.Port("public"));
  ASSERT_GE(idle, 0);
  ASSERT_TRUE(WaitFor([&] {
    ListenerStats l = api.Listener("public");
    return l.accepted == accepted + 1 && l.active == 1;
  }));
  auto start = std::chrono::steady_clock::now();
  api.runtime.Drain(start + std::chrono::milliseconds(200));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_TRUE(ReadsEof(idle));
  ::close(idle);
}

TEST(ProxyRuntime, AdminServesStatsAndReady) {
  EchoServer echo;
  Proxy api(ApiSidecar(7, echo.port()), 0);
  int port = api.runtime.AdminPort();
  ASSERT_GT(port, 0);
  auto get = [&](const std::string& path) {
    int fd = ConnectTcp(port);
    WriteAll(fd, "GET " + path + " HTTP/1.0\r\n\r\n");
    std::string all;
    for (std::string chunk; !(chunk = ReadN(fd, 4096)).empty();) all += chunk;
    ::close(fd);
    return all;
  };
  std::string ready = get("/ready");
  EXPECT_NE(ready.find("200 OK"), std::string::npos) << ready;
  std::string stats = get("/stats");
  EXPECT_NE(stats.find("\"Version\": 7"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"public\""), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"local_app\""), std::string::npos) << stats;
  EXPECT_NE(get("/nope").find("404"), std::string::npos);
}


// A stream whose app cannot be reached is reset: api's sidecar logs and counts the refusal, web's
// closes the local connection and says why; the shared connection carries on.
TEST(ProxyRuntime, AStreamTheAppRefusesIsResetAndNamed) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, ClosedPort()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  std::string log = LogOf([&] {
    int fd = ConnectTcp(web.Port("upstream-api"));
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(ReadsEof(fd));
    ::close(fd);
    EXPECT_TRUE(api.WaitRefused("public", RefuseReason::kConnectFailed));
    EXPECT_TRUE(WaitFor([&] { return web.Cluster(Sni("api", "dc2")).active == 0; }));
  });
  EXPECT_TRUE(Contains(log, " stream 1 refused: connect_failed: cluster local_app: ")) << log;
  EXPECT_TRUE(Contains(log, " stream 1 ended: reset by the peer: connect_failed: ")) << log;
  // The app comes back: a later stream on the same connection reaches it (once each of api's
  // workers has the new config; Apply posts it to them).
  Config fixed = ApiSidecar(2, echo.port());
  ASSERT_TRUE(api.runtime.Apply(Share(fixed)).ok());
  EXPECT_TRUE(WaitFor([&] { return EchoWithHalfClose(web.Port("upstream-api"), "back") == "back"; }));
  EXPECT_EQ(api.Listener("public").accepted, web.Cluster(Sni("api", "dc2")).mux_sessions);
}

// A multiplexed connection without streams closes after the idle timeout; the next connection
// to that endpoint dials a new one.
TEST(ProxyRuntime, IdleMultiplexedConnectionClosesAndTheNextDialsAgain) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  RuntimeOptions options = TestOptions();
  options.mux_idle_timeout = std::chrono::milliseconds(300);
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}), options);
  ExpectEcho(web.Port("upstream-api"), "first");
  auto echoed = std::chrono::steady_clock::now();
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_sessions, 1u);
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_active, 1);
  // Idle: the client closes its connection, not before the timeout, and the server sees it go.
  EXPECT_TRUE(WaitFor([&] { return api.Listener("public").active == 0; }));
  EXPECT_GE(std::chrono::steady_clock::now() - echoed, std::chrono::milliseconds(250));
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).active, 0u);
  EXPECT_TRUE(WaitFor([&] { return web.Cluster(Sni("api", "dc2")).mux_active == 0; }));
  ExpectEcho(web.Port("upstream-api"), "second");
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_sessions, 2u);
  EXPECT_EQ(web.Cluster(Sni("api", "dc2")).mux_active, 1);
  EXPECT_EQ(api.Listener("public").accepted, 2u);
}

// A drain tells the clients of multiplexed connections to go away (GOAWAY): an idle one closes
// at once, so the drain does not wait for its deadline to close it.
TEST(ProxyRuntime, DrainSendsGoAwayAndIdleMultiplexedConnectionsClose) {
  EchoServer echo;
  Proxy api(ApiSidecar(1, echo.port()));
  Proxy web(WebSidecar(1, {Local(api.Port("public"))}));
  ExpectEcho(web.Port("upstream-api"), "idle after this");
  ASSERT_TRUE(WaitFor([&] { return api.Cluster("local_app").active == 0; }));
  ASSERT_GE(api.Listener("public").active, 1);
  std::string log = LogOf([&] {
    api.runtime.Drain(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  });
  EXPECT_FALSE(Contains(log, "drain deadline: closing")) << log;
  EXPECT_TRUE(WaitFor([&] { return web.Cluster(Sni("api", "dc2")).active == 0; }));
}

}  // namespace
}  // namespace gangway::proxy
