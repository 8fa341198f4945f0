// ThreadPool: a fixed set of worker threads that run submitted tasks in FIFO order. The data
// path uses one to overlap storage I/O, decryption and sealing with the threads that serve
// requests (read-ahead, the write pipeline, parallel import and export).
// Thread-safe. The destructor runs every task already submitted, then joins the workers.
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"

namespace weightfs {

class ThreadPool {
 public:
  // threads >= 1.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues task; it runs on some worker. A task must not wait for another task of the same
  // pool that may still be queued behind it (it could deadlock a saturated pool).
  void Submit(std::function<void()> task) EXCLUDES(mu_);
  int size() const { return static_cast<int>(workers_.size()); }
  // Tasks queued and not yet started.
  size_t queued() const EXCLUDES(mu_);

 private:
  void Work() EXCLUDES(mu_);

  mutable Mutex mu_;  // a leaf lock, never held while a task runs
  CondVar cv_{&mu_};  // signalled when a task is queued or the pool stops
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // set by the constructor, joined by the destructor
};

}  // namespace weightfs
