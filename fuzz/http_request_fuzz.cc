// Fuzzes the HTTP request path: raw bytes -> Beast's request parser (the server's limits) ->
// the API router and every endpoint handler, against a real dev-mode server and local agent.
// Blocking requests are cancelled at the end of each input, as a hung-up client would be.
#include <cstdint>
#include <memory>
#include <string_view>

#include "api/http_api.h"
#include "client/local_agent.h"
#include "http/server.h"
#include "net/event_loop.h"
#include "server/server.h"

namespace {
using namespace gangway;

struct World {
  World() {
    server::ServerOptions so;
    so.node_name = "fuzz";
    so.rpc_address = "127.0.0.1:8300";
    srv = std::make_unique<server::Server>(loop, so);
    client::LocalAgentOptions lo;
    lo.node_name = "fuzz";
    lo.node_id = "00000000-0000-4000-8000-000000000000";
    lo.datacenter = "dc1";
    lo.address = "127.0.0.1";
    agent = std::make_unique<client::LocalAgent>(loop, client::MakeNetProber(loop), *srv,
                                                 &srv->store(), lo);
    api::Backend b;
    b.loop = &loop;
    b.server = srv.get();
    b.agent = agent.get();
    b.info.node_name = "fuzz";
    b.info.datacenter = "dc1";
    b.info.server = true;
    api = std::make_unique<api::HttpApi>(b);
  }
  net::EventLoop loop;
  std::unique_ptr<server::Server> srv;
  std::unique_ptr<client::LocalAgent> agent;
  std::unique_ptr<api::HttpApi> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  auto req = http::ParseRequest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!req.ok()) return 0;
  auto cancel = std::make_shared<http::Cancellation>();
  bool replied = false;
  world->api->Handle(std::move(*req), cancel, [&replied](http::Response r) {
    replied = true;
    if (r.status < 100 || r.status > 599) __builtin_trap();
  });
  if (!replied && cancel->on_cancel) cancel->on_cancel();
  return 0;
}
