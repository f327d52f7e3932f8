// Fuzz target for the server RPC's untrusted bytes (docs/rpc.md): the stream is split into
// frames, and every frame body is decoded as each method's body would be (a forwarded HTTP
// request, its response, a Catalog.Apply result). Beyond "no crash": a decoded frame re-encodes
// to the bytes it came from, and decoded bodies survive an encode/decode round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "catalog/commands.h"
#include "rpc/frame.h"

namespace {

using namespace gangway;  // NOLINT: a fuzz harness

void Check(bool ok) {
  if (!ok) std::abort();
}

void Bodies(std::string_view body) {
  if (auto q = rpc::DecodeForwardedRequest(body); q.ok()) {
    auto again = rpc::DecodeForwardedRequest(rpc::EncodeForwardedRequest(*q));
    Check(again.ok() && again->target == q->target && again->body == q->body &&
          again->headers == q->headers && again->hops == q->hops);
  }
  if (auto r = rpc::DecodeForwardedResponse(body); r.ok()) {
    auto again = rpc::DecodeForwardedResponse(rpc::EncodeForwardedResponse(*r));
    Check(again.ok() && again->status == r->status && again->headers == r->headers &&
          again->body == r->body);
  }
  if (auto a = catalog::DecodeApplyResult(body); a.ok()) {
    auto again = catalog::DecodeApplyResult(catalog::EncodeApplyResult(*a));
    Check(again.ok() && again->success == a->success &&
          again->status.code() == a->status.code() &&
          again->txn_results.size() == a->txn_results.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Bodies(in);
  rpc::FrameDecoder d;
  // Split the input in two feeds to exercise partial frames.
  d.Feed(in.substr(0, size / 2));
  d.Feed(in.substr(size / 2));
  size_t consumed = 0;
  for (int i = 0; i < 1000; ++i) {
    auto f = d.Next();
    if (!f.ok() || !*f) break;
    std::string enc = rpc::EncodeFrame(**f);
    Check(in.substr(consumed, enc.size()) == enc);
    consumed += enc.size();
    Bodies((*f)->body);
  }
  return 0;
}
