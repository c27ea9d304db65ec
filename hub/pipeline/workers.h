// Helper threads that share the per-record work of a batch with the thread
// that stages it: a batch is cut into chunks, and the calling thread and every
// idle helper take chunks until none is left. The caller always takes part, so
// a batch is never waiting for a busy helper: with every helper busy (several
// connectors at once) it simply runs on the caller's thread alone.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace hutong::pipeline {

class Workers {
 public:
  // `helpers` threads besides the callers (0: every chunk runs on the caller).
  explicit Workers(size_t helpers);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // As many helpers as this machine has cores besides the one the caller
  // runs on, at most 3 (the pipeline's other stages need cores too).
  static size_t default_helpers();

  // Runs chunk(i) once for every i in [0, count), each on one thread; returns
  // when all have returned. chunk must not throw.
  void run(size_t count, const std::function<void(size_t)>& chunk);

  size_t helpers() const { return threads_.size(); }

 private:
  struct Job;
  void serve();
  static void work_on(Job& job);

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;  // jobs with chunks nobody has taken yet
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hutong::pipeline
