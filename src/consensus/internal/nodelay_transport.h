// NodelayTransport: libraft's uv TCP transport with TCP_NODELAY on every connection. libraft 0.15
// leaves Nagle's algorithm on, so a small AppendEntries (or its answer) can sit behind a delayed
// ACK for 40 ms. Wraps, does not replace: every call is the TCP transport's. Raft thread only.
#pragma once

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

namespace gangway::consensus::internal {

class NodelayTransport {
 public:
  // `inner` is an initialised raft_uv_tcp transport; it must outlive this wrapper.
  explicit NodelayTransport(raft_uv_transport* inner);
  NodelayTransport(const NodelayTransport&) = delete;
  NodelayTransport& operator=(const NodelayTransport&) = delete;

  // What raft_uv_init should be given.
  raft_uv_transport* get() { return &outer_; }

 private:
  static int Init(raft_uv_transport* t, raft_id id, const char* address);
  static int Listen(raft_uv_transport* t, raft_uv_accept_cb cb);
  static int Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                     raft_uv_connect_cb cb);
  static void Close(raft_uv_transport* t, raft_uv_transport_close_cb cb);

  raft_uv_transport outer_{};
  raft_uv_transport* inner_;
  raft_uv_accept_cb accept_cb_ = nullptr;
  raft_uv_transport_close_cb close_cb_ = nullptr;
};

}  // namespace gangway::consensus::internal
