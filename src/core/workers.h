// Workers: a few threads for CPU-heavy work the control loop must not wait for (key generation,
// certificate signing with fresh keys). Work runs on a worker; its result is posted back to the
// caller's loop. Destroying Workers finishes the queued work and joins the threads, so it must
// be destroyed before the loop its results are posted to.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/loop.h"

namespace gangway {

class Workers {
 public:
  explicit Workers(unsigned threads = 1);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `work` on a worker thread, then `done(result)` on `loop`. Any thread.
  template <typename Work, typename Done>
  void Run(Loop& loop, Work work, Done done) {
    Submit([&loop, work = std::move(work), done = std::move(done)]() mutable {
      auto result = std::make_shared<std::invoke_result_t<Work&>>(work());
      loop.Post([done = std::move(done), result]() mutable { done(std::move(*result)); });
    });
  }

  // Runs `fn` on a worker thread. Any thread.
  void Submit(std::function<void()> fn);

 private:
  void Main();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gangway
