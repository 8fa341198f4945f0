// BufferPool: keeps freed data buffers for reuse. Every fresh megabyte-sized buffer costs page
// faults and the kernel's zeroing on first touch; a reader or writer that streams gigabytes
// through a few megabytes of buffers should pay that once. Bounded: at most max_free bytes wait
// in the pool.
// Thread-safe.
#pragma once

#include <cstddef>
#include <map>

#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"

namespace weightfs {

class BufferPool {
 public:
  explicit BufferPool(size_t max_free) : max_free_(max_free) {}

  // A buffer of size bytes (contents undefined): a pooled one that fits well, or a new one with
  // its capacity rounded up so that it fits later requests of similar sizes.
  UninitBuffer Take(size_t size) EXCLUDES(mu_);
  // Returns a buffer to the pool (dropped when the pool is full).
  void Give(UninitBuffer buffer) EXCLUDES(mu_);
  size_t free_bytes() const EXCLUDES(mu_);
  size_t max_free() const { return max_free_; }

 private:
  const size_t max_free_;
  mutable Mutex mu_;  // a leaf lock, never held while a buffer is mapped
  std::multimap<size_t, UninitBuffer> free_ GUARDED_BY(mu_);  // by capacity
  size_t free_bytes_ GUARDED_BY(mu_) = 0;                     // sum of free_'s capacities
};

}  // namespace weightfs
