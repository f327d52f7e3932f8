#include "consensus/internal/nodelay_transport.h"

#include <cstring>
#include <memory>

namespace gangway::consensus::internal {

namespace {

void NoDelay(uv_stream_t* stream) {
  if (stream != nullptr && stream->type == UV_TCP) {
    uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream), 1);
  }
}

// A connect request of ours wrapped around the caller's, which raft owns until its callback.
struct ConnectReq {
  raft_uv_connect inner{};
  raft_uv_connect* outer = nullptr;
};

}  // namespace

NodelayTransport::NodelayTransport(raft_uv_transport* inner) : inner_(inner) {
  inner_->data = this;
  outer_.impl = this;
  outer_.init = &NodelayTransport::Init;
  outer_.listen = &NodelayTransport::Listen;
  outer_.connect = &NodelayTransport::Connect;
  outer_.close = &NodelayTransport::Close;
}

int NodelayTransport::Init(raft_uv_transport* t, raft_id id, const char* address) {
  auto* self = static_cast<NodelayTransport*>(t->impl);
  int rv = self->inner_->init(self->inner_, id, address);
  if (rv != 0) std::memcpy(t->errmsg, self->inner_->errmsg, sizeof t->errmsg);
  return rv;
}

int NodelayTransport::Listen(raft_uv_transport* t, raft_uv_accept_cb cb) {
  auto* self = static_cast<NodelayTransport*>(t->impl);
  self->accept_cb_ = cb;
  int rv = self->inner_->listen(
      self->inner_, [](raft_uv_transport* inner, raft_id id, const char* address,
                       uv_stream_t* stream) {
        auto* s = static_cast<NodelayTransport*>(inner->data);
        NoDelay(stream);
        s->accept_cb_(&s->outer_, id, address, stream);
      });
  if (rv != 0) std::memcpy(t->errmsg, self->inner_->errmsg, sizeof t->errmsg);
  return rv;
}

int NodelayTransport::Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id,
                              const char* address, raft_uv_connect_cb cb) {
  auto* self = static_cast<NodelayTransport*>(t->impl);
  auto wrapped = std::make_unique<ConnectReq>();
  wrapped->outer = req;
  wrapped->inner.data = wrapped.get();
  req->cb = cb;
  int rv = self->inner_->connect(
      self->inner_, &wrapped->inner, id, address,
      [](raft_uv_connect* inner, uv_stream_t* stream, int status) {
        std::unique_ptr<ConnectReq> w(static_cast<ConnectReq*>(inner->data));
        if (status == 0) NoDelay(stream);
        w->outer->cb(w->outer, stream, status);
      });
  if (rv != 0) {
    std::memcpy(t->errmsg, self->inner_->errmsg, sizeof t->errmsg);
    return rv;
  }
  wrapped.release();  // owned by the pending request until its callback
  return 0;
}

void NodelayTransport::Close(raft_uv_transport* t, raft_uv_transport_close_cb cb) {
  auto* self = static_cast<NodelayTransport*>(t->impl);
  self->close_cb_ = cb;
  self->inner_->close(self->inner_, [](raft_uv_transport* inner) {
    auto* s = static_cast<NodelayTransport*>(inner->data);
    if (s->close_cb_ != nullptr) s->close_cb_(&s->outer_);
  });
}

}  // namespace gangway::consensus::internal
