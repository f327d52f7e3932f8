// The parts of http::Server that its Replies and ReplyGroup reach: a connection waiting for its
// answer (PendingReply), the I/O thread it lives on (IoThread), and the Reply the server gives a
// handler (ConnectionReply). Internal to the http module.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/message.h"

namespace gangway::http::server_detail {

using ResponsePtr = std::shared_ptr<const Response>;

// The last head rendered in one batch of answers, for the next: the members of a ReplyGroup
// share one Response, so one rendering serves all of them. Lives on the I/O thread for the
// length of a batch.
struct HeadCache {
  ResponsePtr response;  // the answer the head was rendered for
  unsigned version = 0;
  bool keep_alive = false;
  std::shared_ptr<const std::string> head;

  std::shared_ptr<const std::string> Get(const ResponsePtr& r, unsigned version, bool keep_alive);
};

// Where a connection waits for its handler's answer; lives on the connection's thread.
struct PendingReply {
  explicit PendingReply(boost::asio::any_io_executor ex) : timer(ex) {
    timer.expires_at(boost::asio::steady_timer::time_point::max());
  }
  // Keeps the answer and wakes the connection's coroutine, except where the answer can go out
  // at once (see TrySend): then the coroutine stays parked until the client's next request.
  // The answer is only kept (and its reference count touched) when the coroutine needs it.
  void Deliver(const ResponsePtr& r, HeadCache* cache = nullptr) {
    if (answered) return;
    answered = true;
    if (parked && TrySend(r, cache)) return;
    Finish(r);
  }
  // Keeps the answer for the coroutine and wakes it: it writes the answer, or what TrySend left.
  void Finish(const ResponsePtr& r) {
    response = r;
    timer.cancel();
  }
  // Another I/O thread's try at this connection's answer (Fanout), while the connection's own
  // thread waits inside the same Fanout and so touches none of its objects: the one
  // non-blocking write and nothing else. False: the connection's thread finishes the answer,
  // with Deliver when `answered` is still false, else with Finish.
  bool SendFromAnotherThread(const ResponsePtr& r, HeadCache* cache) {
    if (answered) return true;
    if (!parked || fd < 0) return false;
    answered = true;
    return TrySend(r, cache);
  }
  // Writes the answer with one non-blocking sendmsg on a plain TCP connection whose coroutine
  // is parked waiting for the socket to become readable. True when all of it went and nothing
  // else is left to do: the parked wait then goes on as the wait for the next request. A woken
  // blocking query answers thousands of connections at once, and this way each costs one system
  // call instead of resuming its coroutine, cancelling its wait and scheduling a write.
  bool TrySend(const ResponsePtr& r, HeadCache* cache);

  boost::asio::steady_timer timer;
  bool answered = false;
  ResponsePtr response;  // the answer, when the coroutine writes it (or the rest of it)
  // Set by the connection: the socket to write to directly (plain TCP only, else -1) and how.
  int fd = -1;
  unsigned version = 11;
  bool keep_alive = true;
  // The coroutine waits on (timer || readable), so an answer written here needs nothing more.
  bool parked = false;
  // What TrySend wrote when it did not finish: the rendered head, and how many bytes of head +
  // body went out.
  std::shared_ptr<const std::string> head;
  size_t sent = 0;
  bool sent_all = false;
};

// Replies per post to an I/O thread: enough to amortise the hand-over, few enough that the
// thread starts writing while the loop is still answering.
constexpr size_t kReplyBatch = 64;

// One I/O thread and its io_context. `stopped` and `outbox` belong to the owner loop: `stopped`
// tells a late Reply that the context is gone.
struct IoThread {
  std::unique_ptr<boost::asio::io_context> context =
      std::make_unique<boost::asio::io_context>(1);
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
      context->get_executor()};
  std::thread thread;
  bool stopped = false;
  // Replies on their way to this thread. Handing them over in batches costs one post (one lock
  // of the thread's queue, one wake-up) per batch instead of per reply.
  std::vector<std::pair<std::weak_ptr<PendingReply>, ResponsePtr>> outbox;

  // Owner loop: queues one answer; the outbox goes when full or when the loop has finished
  // what it is doing now.
  void Queue(std::weak_ptr<PendingReply> pending, ResponsePtr r, boost::asio::io_context& owner,
             const std::shared_ptr<IoThread>& self);
  void Flush();
  // Members of other threads' Fanout parts this thread took care of. Any thread.
  std::atomic<uint64_t> answered_for_others{0};
};

// One answer for the parked connections of several I/O threads (ReplyGroup::Send), in one post
// per thread. Each thread answers its own connections, in chunks it claims from a counter. A
// thread that is through with its own then claims chunks of another thread's, as long as that
// thread is answering too: on two cores shared with other work, one thread often gets half a
// core and would otherwise finish its half long after the other.
//
// Why the helper may touch another thread's PendingReply: that thread is inside its Run of the
// same Fanout, so no handler of its own (the connection's coroutine included) runs, and Run
// does not return before every claimed member is through (`done`). The helper only makes the
// one non-blocking write; what needs the connection's executor (waking its coroutine) is handed
// back. Its lock() of a member never holds the last reference: the connection, which holds
// another, can only go on its own thread, after Run.
class Fanout {
 public:
  struct Part {
    std::shared_ptr<IoThread> io;
    std::vector<std::weak_ptr<PendingReply>> to;
  };
  // Owner loop. Parts of stopped threads are dropped.
  static void Start(ResponsePtr r, std::vector<Part> parts);

  // Members claimed at a time: few enough that a thread waiting for its helper waits briefly.
  static constexpr size_t kChunk = 16;

  // Tests only: called on a part's thread when its Run starts, once the part is answering (so
  // that a test can hold one thread there and see another help it).
  static inline void (*test_on_run)(size_t part) = nullptr;

 private:
  struct Share {
    std::shared_ptr<IoThread> io;
    std::vector<std::weak_ptr<PendingReply>> to;
    std::vector<uint8_t> handed_back;  // by a helper: the home thread finishes these
    std::atomic<int> state{0};         // kWaiting, kAnswering (home inside Run), kThrough
    std::atomic<size_t> next{0};       // the first member not claimed yet
    std::atomic<size_t> done{0};       // members through, by whichever thread
  };
  Fanout(ResponsePtr r, size_t n) : response_(std::move(r)), shares_(n) {}
  void Run(size_t i);          // on shares_[i].io's thread
  void Help(size_t j, HeadCache& cache, IoThread& self);

  const ResponsePtr response_;
  std::vector<Share> shares_;
};

// The Reply a handler gets: hands the answer to the connection's thread (or, with no I/O
// threads, to the connection directly). A named type, so that a ReplyGroup can recognise it.
struct ConnectionReply {
  boost::asio::io_context* owner;
  std::shared_ptr<IoThread> io;  // null: the connection lives on the owner loop
  std::shared_ptr<Cancellation> cancel;
  std::weak_ptr<PendingReply> pending;

  void operator()(Response r);
};

}  // namespace gangway::http::server_detail
