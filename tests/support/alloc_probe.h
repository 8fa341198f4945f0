// Measures what the current thread allocates through operator new while a probe is alive, so that
// tests can assert that a decoder fed hostile input never asks for an absurd amount of memory.
// Linking alloc_probe.cc into a test binary replaces the global operator new and new[] (malloc
// plus a thread-local check) for the whole binary. Sanitizer builds keep their own allocator:
// there Available() is false and a probe measures nothing.
#pragma once

#include <cstddef>

namespace weightfs::testing {

class AllocationProbe {
 public:
  // Starts measuring on this thread; a probe made while another is alive measures alone until it
  // is destroyed.
  AllocationProbe();
  ~AllocationProbe();
  AllocationProbe(const AllocationProbe&) = delete;
  AllocationProbe& operator=(const AllocationProbe&) = delete;

  // Whether this build measures allocations at all.
  static bool Available();
  // The largest single allocation so far, and the sum of all of them (frees not subtracted).
  size_t largest() const { return largest_; }
  size_t total() const { return total_; }

  // Called by the replaced operator new.
  void Record(size_t n) {
    if (n > largest_) largest_ = n;
    total_ += n;
  }

 private:
  AllocationProbe* outer_;
  size_t largest_ = 0;
  size_t total_ = 0;
};

}  // namespace weightfs::testing
