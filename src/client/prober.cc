#include "client/prober.h"

#include "net/event_loop.h"

namespace gangway::client {
namespace {

class NetProber final : public Prober {
 public:
  explicit NetProber(net::EventLoop& loop) : loop_(loop) {}

  void ProbeTcp(const std::string& host, int port, std::chrono::nanoseconds timeout,
                std::function<void(Status)> done) override {
    net::ProbeTcp(loop_, host, port, timeout, std::move(done));
  }
  void FetchHttp(http::ClientRequest req,
                 std::function<void(Result<http::Response>)> done) override {
    http::FetchAsync(loop_, std::move(req), std::move(done));
  }

 private:
  net::EventLoop& loop_;
};

}  // namespace

std::unique_ptr<Prober> MakeNetProber(net::EventLoop& loop) {
  return std::make_unique<NetProber>(loop);
}

}  // namespace gangway::client
