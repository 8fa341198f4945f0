// ThreadPool: a fixed set of worker threads that run submitted tasks in FIFO order. The data
// path uses one to overlap storage I/O, decryption and sealing with the threads that serve
// requests (read-ahead, the write pipeline, parallel import and export).
// Thread-safe. The destructor runs every task already submitted, then joins the workers.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
  void Submit(std::function<void()> task);
  int size() const { return static_cast<int>(workers_.size()); }
  // Tasks queued and not yet started.
  size_t queued() const;

 private:
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace weightfs
