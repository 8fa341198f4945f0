// Periodic: runs a function every interval on a thread of its own until destroyed (a read-only
// mount's live-tree refresh, the renewal of leases on stores without kernel locks). Thread-safe;
// the destructor stops the thread and waits for a run in progress.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"

namespace weightfs {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)), thread_([this] { Loop(); }) {}
  ~Periodic() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Loop() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    while (!stop_) {
      // The predicate runs with mu_ held (inside WaitFor), which the analysis cannot see.
      cv_.WaitFor(interval_, [this]() NO_THREAD_SAFETY_ANALYSIS { return stop_; });
      if (stop_) break;
      lock.Unlock();
      fn_();
      lock.Lock();
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  Mutex mu_;
  CondVar cv_{&mu_};
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace weightfs
