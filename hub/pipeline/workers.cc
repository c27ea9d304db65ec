#include "pipeline/workers.h"

#include <algorithm>
#include <atomic>

namespace hutong::pipeline {

struct Workers::Job {
  size_t count = 0;
  const std::function<void(size_t)>* chunk = nullptr;
  std::atomic<size_t> next{0};  // the next chunk nobody has taken
  std::mutex mu;
  std::condition_variable finished;
  size_t done = 0;  // chunks returned (under mu)
};

Workers::Workers(size_t helpers) {
  threads_.reserve(helpers);
  for (size_t i = 0; i < helpers; ++i)
    threads_.emplace_back([this] { serve(); });
}

Workers::~Workers() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_)
    thread.join();
}

size_t Workers::default_helpers() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores <= 1 ? 0 : std::min<size_t>(cores - 1, 3);
}

void Workers::work_on(Job& job) {
  size_t finished = 0;
  for (size_t i; (i = job.next.fetch_add(1)) < job.count;) {
    (*job.chunk)(i);
    ++finished;
  }
  if (finished == 0) return;
  std::lock_guard lock(job.mu);
  job.done += finished;
  if (job.done == job.count) job.finished.notify_all();
}

void Workers::run(size_t count, const std::function<void(size_t)>& chunk) {
  if (threads_.empty() || count <= 1) {
    for (size_t i = 0; i < count; ++i)
      chunk(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->count = count;
  job->chunk = &chunk;
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(job);
  }
  wake_.notify_all();
  work_on(*job);
  {
    // Every chunk is taken: no helper may pick the job up any more.
    std::lock_guard lock(mu_);
    std::erase(jobs_, job);
  }
  std::unique_lock lock(job->mu);
  job->finished.wait(lock, [&] { return job->done == job->count; });
}

void Workers::serve() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = jobs_.front();
      if (job->next.load() >= job->count) {
        // Taken to the last chunk: its caller removes it; let it.
        jobs_.pop_front();
        continue;
      }
    }
    work_on(*job);
  }
}

}  // namespace hutong::pipeline
