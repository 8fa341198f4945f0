// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with clang's
// thread-safety annotations, so that members can be declared GUARDED_BY a Mutex and functions
// REQUIRES one, and clang checks every access (thread_annotations.h). Same semantics and cost as
// the standard types. Mutex is thread-safe; a MutexLock belongs to the thread that made it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "weightfs/core/thread_annotations.h"

namespace weightfs {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the caller holds the lock (where it cannot see it, e.g. a callback).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds mu from construction to destruction; Unlock()/Lock() release and retake it in between
// (for I/O or crypto that must not run under the lock).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    held_ = false;
    mu_->Unlock();
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// A condition variable bound to one Mutex, which the caller of every Wait must hold (not
// checked by the analysis, which cannot name the bound mutex; as in LevelDB's port::CondVar).
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases the mutex while waiting, holds it again on return; spurious wake-ups happen.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Waits until pred() holds (pred runs with the mutex held).
  template <typename Pred>
  void Wait(Pred pred) {
    while (!pred()) Wait();
  }
  // The same with a deadline; returns pred()'s last value.
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(std::chrono::duration<Rep, Period> timeout, Pred pred) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    bool result = cv_.wait_for(lock, timeout, pred);
    lock.release();
    return result;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace weightfs
