// One mTLS connection carrying many application connections as `gangway-mux/1` streams
// (docs/mux.md): the frame reader and the batching writer of the connection, and each stream's
// relay to its plain socket with flow control. Single-threaded: a session and its streams live
// on one worker's io_context.
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/mux.h"
#include "proxy/tls_stream.h"

namespace gangway::proxy {

class MuxSession;

// Waits until `timer` is cancelled: how a coroutine waiting for a condition is woken on its
// io_context. The caller checks its condition first and again after.
boost::asio::awaitable<void> SleepUntilWoken(boost::asio::steady_timer& timer);

// Whether the handshake on `ssl` selected gangway-mux/1.
bool NegotiatedMux(const SSL* ssl);

// The byte counters a relay bumps: read from / written to its plain socket, sent / received on
// the stream (payload only, without frame headers).
struct RelayCounters {
  std::atomic<uint64_t>* socket_read;
  std::atomic<uint64_t>* stream_sent;
  std::atomic<uint64_t>* stream_received;
  std::atomic<uint64_t>* socket_written;
};

class MuxStream {
 public:
  MuxStream(MuxSession* session, uint32_t id);
  ~MuxStream();
  MuxStream(const MuxStream&) = delete;
  MuxStream& operator=(const MuxStream&) = delete;

  uint32_t id() const { return id_; }

  struct Ended {
    bool clean = false;  // both directions ended with FIN
    std::string reason;  // else why the stream was reset, and by whom
  };
  // Relays between the stream and `socket` until both directions have ended (the socket's send
  // side is shut down after the peer's FIN) or the stream is reset (the socket is closed).
  boost::asio::awaitable<Ended> Relay(boost::asio::ip::tcp::socket& socket, RelayCounters counters);

  // Aborts the stream: tells the peer why, and closes the socket of a running relay.
  void Reset(std::string_view reason);

 private:
  friend class MuxSession;
  boost::asio::awaitable<void> FromSocket(RelayCounters& counters);
  boost::asio::awaitable<void> ToSocket(RelayCounters& counters);
  // Frames from the peer; false when the peer broke the protocol (the session fails).
  bool OnData(std::string_view payload, std::string& error);
  // Writes the DATA this stream got in the current read batch with one sendmsg; what the socket
  // does not take now is queued for ToSocket.
  void FlushBatch();
  bool CanWriteDirectly() const {
    return socket_ != nullptr && inbox_.empty() && !writing_ && !reset_;
  }
  // Bytes written to the socket, credited back to the peer (docs/mux.md, "Flow control").
  void Consumed(size_t n);
  // Sends the credit for what was consumed (a WINDOW frame, if any).
  void Credit();
  bool OnFin(std::string& error);
  bool OnWindow(uint32_t increment, std::string& error);
  void OnReset(std::string reason, bool by_peer);

  MuxSession* session_;
  uint32_t id_;
  boost::asio::ip::tcp::socket* socket_ = nullptr;  // while Relay runs
  RelayCounters* counters_ = nullptr;                // while Relay runs
  std::string inbox_;             // received, not yet written to the socket
  bool writing_ = false;          // ToSocket has a write in flight
  // Payloads of the current read batch, pointing into the session's read buffer (only while
  // inbox_ is empty and no write is in flight, so that the bytes stay in order).
  static constexpr size_t kMaxBatch = 8;
  std::array<iovec, kMaxBatch> batch_{};
  size_t batch_n_ = 0;
  bool batched_ = false;  // in the session's list of streams to flush
  uint32_t send_window_ = mux::kWindow;
  uint32_t received_unacked_ = 0;  // received and not yet credited back with WINDOW
  uint32_t consumed_ = 0;          // written to the socket, not yet credited
  bool credit_due_ = false;        // in the session's credit_due_: goes with its next write
  bool peer_fin_ = false;
  bool reset_ = false;
  std::string reset_reason_;
  boost::asio::steady_timer wake_to_socket_;    // inbox, FIN or reset
  boost::asio::steady_timer wake_from_socket_;  // window, writable session or reset
};

class MuxSession {
 public:
  using Tls = TlsStream;
  enum class Role { kClient, kServer };
  // Streams one client connection carries before the client opens another.
  static constexpr size_t kMaxStreams = 128;
  // Queued output above which streams stop reading their sockets.
  static constexpr size_t kOutHigh = 128 * 1024;
  // The most a written queue buffer keeps for the next one; a bigger one is freed. Above a
  // stream's largest read (kReadFrames frames and their headers) and the queue's high mark, so
  // that a connection moving bulk data does not free and allocate its queue on every write.
  static constexpr size_t kOutKeep = 256 * 1024;

  // `name` prefixes log lines ("listener=x peer=y"). `idle_timeout` (client): close after that
  // long without a stream; zero for never.
  MuxSession(Tls& tls, Role role, std::string name,
             std::chrono::steady_clock::duration idle_timeout = {});
  ~MuxSession();
  MuxSession(const MuxSession&) = delete;
  MuxSession& operator=(const MuxSession&) = delete;

  using OnOpen = std::function<void(std::shared_ptr<MuxStream>)>;
  // Reads and writes frames until the connection ends, Close(), a protocol error, or a GOAWAY
  // with no stream left; then resets every stream and returns once no stream object is left.
  // A server calls `on_open` for each stream the client opens.
  boost::asio::awaitable<void> Run(OnOpen on_open);

  // Client: a new stream, or nullptr when !accepting().
  std::shared_ptr<MuxStream> Open();
  bool accepting() const;
  // No new streams; the connection closes once the last stream has ended.
  void GoAway(std::string_view reason);
  void Close();

  // Counts the writes that carried nothing but WINDOW frames (docs/mux.md, "Flow control").
  void CountWindowOnlyWrites(std::atomic<uint64_t>* counter) { window_only_writes_ = counter; }

  bool closed() const { return closed_; }
  size_t streams() const { return streams_.size(); }
  // Why the connection ended ("" while it runs).
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

 private:
  friend class MuxStream;
  boost::asio::awaitable<void> ReadLoop(OnOpen& on_open);
  boost::asio::awaitable<void> WriteLoop();
  boost::asio::awaitable<void> IdleLoop();
  bool Dispatch(const mux::Frame& frame, OnOpen& on_open);
  // Ends a read batch: every stream writes what it got in it (MuxStream::FlushBatch).
  void FlushBatches();
  void Fail(std::string error);
  void Send(mux::FrameType type, uint32_t stream, std::string_view payload = {});
  // Reads up to `most` bytes from `fd` (without waiting) straight into the queue, as DATA frames
  // of `stream`: recvmsg's result (0 at the end, -1 with errno).
  ssize_t ReadData(int fd, uint32_t stream, size_t most);
  // The most one ReadData takes: eight full frames (128 KiB), so that one recvmsg takes a 64 KiB
  // answer and its headers whole.
  static constexpr size_t kReadFrames = 8;
  // The most a multiplexed connection's reader takes from the socket before dispatching.
  static constexpr size_t kReadBatch = 256 * 1024;
  void SendWindow(uint32_t stream, uint32_t increment);
  // Queues the WINDOW frames due on streams (MuxStream::Consumed) in front of a write.
  void AppendDueCredit();
  bool Congested() const { return out_.size() > kOutHigh; }
  void Forget(uint32_t id);
  void MaybeFinish();
  bool Known(uint32_t id) const;

  Tls& tls_;
  Role role_;
  std::string name_;
  std::chrono::steady_clock::duration idle_timeout_;
  std::unordered_map<uint32_t, std::shared_ptr<MuxStream>> streams_;
  std::vector<std::shared_ptr<MuxStream>> batched_;  // streams with DATA of this read batch
  size_t live_ = 0;  // MuxStream objects not yet destroyed
  uint32_t next_id_ = 1;       // client: the next stream ID to open
  uint32_t last_peer_id_ = 0;  // server: the last stream ID the client opened
  bool closed_ = false;
  bool finishing_ = false;  // flush, then close
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
  bool blocked_ = false;  // some stream waits for the queue to drain
  mux::Bytes out_;
  size_t out_credit_bytes_ = 0;            // of out_, the bytes of WINDOW frames
  std::vector<uint32_t> credit_due_;       // streams whose credit goes with the next write
  std::atomic<uint64_t>* window_only_writes_ = nullptr;
  std::string error_;
  std::chrono::steady_clock::time_point idle_since_;
  boost::asio::steady_timer wake_writer_;
  boost::asio::steady_timer streams_gone_;
  boost::asio::steady_timer idle_timer_;
};

}  // namespace gangway::proxy
