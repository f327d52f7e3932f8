// HandoffTransport: a raft_uv_transport for libraft 0.15 that carries Raft on the server RPC port
// (docs/consensus.md, "Transport"). It dials peers itself (mode byte 0x01 + handshake), or through
// a Dialer (Raft inside TLS: the dialer hands back a connected fd), and owns no listening socket:
// connections accepted by the RPC server arrive through a HandoffInbox. Everything but
// HandoffInbox::Push and the Dialer's completions runs on the raft thread.
#pragma once

#include <uv.h>

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gangway::consensus::internal {

class HandoffTransport;

// Connections handed over by the owner of the RPC port, on their way to the raft thread.
// Shared by RaftNode (any thread pushes) and its transport (the raft thread drains).
class HandoffInbox {
 public:
  // Any thread. Takes ownership of fd: it is queued for the raft thread, or closed at once when
  // the transport is not accepting (not started yet, or shut down).
  void Push(int fd, std::string already_read);

 private:
  friend class HandoffTransport;
  struct Conn {
    int fd;
    std::string already_read;
  };
  std::mutex mu_;
  uv_async_t* wake_ = nullptr;  // set while the transport accepts
  std::deque<Conn> queue_;
};

// RaftOptions::dial: called on the raft thread with a peer's address; calls done exactly once,
// on any thread, with a connected stream fd whose mode byte(s) are already sent, or -1 and why.
using Dialer =
    std::function<void(std::string address, std::function<void(int fd, std::string error)> done)>;

// What Dialers hand back, on its way to the raft thread. Shared with the Dialer's completions,
// which may outlive the transport: a result that finds no transport closes its fd.
class DialResults {
 public:
  // Any thread. Takes ownership of fd (when >= 0).
  void Push(uint64_t dial, int fd, std::string error);

 private:
  friend class HandoffTransport;
  struct Result {
    uint64_t dial;
    int fd;
    std::string error;
  };
  std::mutex mu_;
  uv_async_t* wake_ = nullptr;  // set from Init until Close
  std::deque<Result> queue_;
};

class HandoffTransport {
 public:
  // timeout bounds a dial (TCP connect or the Dialer, handshake, answer) and an incoming
  // handshake. Without a dialer, peers are dialed over plain TCP with the mode byte 0x01.
  HandoffTransport(uv_loop_t* loop, std::shared_ptr<HandoffInbox> inbox,
                   std::chrono::milliseconds timeout, Dialer dialer = nullptr);
  ~HandoffTransport();
  HandoffTransport(const HandoffTransport&) = delete;
  HandoffTransport& operator=(const HandoffTransport&) = delete;

  // What raft_uv_init should be given. libraft owns its `data` field.
  raft_uv_transport* get() { return &transport_; }

 private:
  struct Dial;
  struct Incoming;

  static int Init(raft_uv_transport* t, raft_id id, const char* address);
  static int Listen(raft_uv_transport* t, raft_uv_accept_cb cb);
  static int Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                     raft_uv_connect_cb cb);
  static void Close(raft_uv_transport* t, raft_uv_transport_close_cb cb);

  static void DialTimedOut(uv_timer_t* timer);
  int ConnectThroughDialer(raft_uv_connect* req, const char* address, raft_uv_connect_cb cb);
  void Dialed(uint64_t dial, int fd, std::string error);
  void SendHandshake(Dial* d, std::string* bytes);
  void DialFailed(Dial* d, const std::string& why);
  void Drain();
  void Adopt(int fd, std::string already_read);
  void ContinueHandshake(Incoming* in);
  void AcceptHandshake(Incoming* in);
  void Refuse(Incoming* in, const std::string& why);
  void CloseIncoming(Incoming* in);
  void AbortDial(Dial* d, int status);
  void MaybeFireClose();

  raft_uv_transport transport_{};
  uv_loop_t* loop_;
  std::shared_ptr<HandoffInbox> inbox_;
  uint64_t timeout_ms_;
  raft_id id_ = 0;
  std::string address_;
  std::string hello_;      // mode byte + our handshake, sent on every dial of our own
  std::string handshake_;  // our handshake alone, sent on what the dialer connected
  Dialer dialer_;
  std::shared_ptr<DialResults> dialed_ = std::make_shared<DialResults>();
  uint64_t next_dial_ = 0;
  // Per peer address, the last dial failure logged; cleared once a dial succeeds. A peer that
  // stays unreachable is logged once, not at every retry.
  std::unordered_map<std::string, std::string> dial_errors_;

  uv_async_t wake_{};
  bool wake_open_ = false;
  raft_uv_accept_cb accept_cb_ = nullptr;
  bool closing_ = false;
  raft_uv_transport_close_cb close_cb_ = nullptr;

  std::unordered_map<Dial*, std::unique_ptr<Dial>> dials_;
  std::unordered_map<Incoming*, std::unique_ptr<Incoming>> incoming_;
};

}  // namespace gangway::consensus::internal
