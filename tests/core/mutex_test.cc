#include "weightfs/core/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace weightfs {
namespace {

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    ++value_;
    cv_.SignalAll();
  }
  // Waits until the count reaches n (or the timeout passes); returns the count seen.
  int WaitFor(int n, std::chrono::milliseconds timeout) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.WaitFor(timeout, [&]() NO_THREAD_SAFETY_ANALYSIS { return value_ >= n; });
    return value_;
  }
  int WaitUntil(int n) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    while (value_ < n) cv_.Wait();
    return value_;
  }
  // Unlock/Lock inside a scope: the value may change meanwhile.
  int ReadAroundUnlock() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    int before = value_;
    lock.Unlock();
    std::this_thread::yield();
    lock.Lock();
    return value_ - before;
  }

 private:
  Mutex mu_;
  CondVar cv_{&mu_};
  int value_ GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, CountsFromManyThreadsAndWakesWaiters) {
  Counter counter;
  std::thread waiter([&] { EXPECT_EQ(counter.WaitUntil(4000), 4000); });
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) counter.Add();
    });
  }
  for (auto& t : threads) t.join();
  waiter.join();
  EXPECT_EQ(counter.WaitFor(4000, std::chrono::milliseconds(0)), 4000);
  EXPECT_GE(counter.ReadAroundUnlock(), 0);
}

TEST(MutexTest, WaitForTimesOutWithTheCurrentValue) {
  Counter counter;
  counter.Add();
  EXPECT_EQ(counter.WaitFor(2, std::chrono::milliseconds(20)), 1);
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Mutex mu;
  MutexLock lock(&mu);
  std::thread other([&] {
    bool got = mu.TryLock();
    if (got) mu.Unlock();
    EXPECT_FALSE(got);
  });
  other.join();
}

}  // namespace
}  // namespace weightfs
