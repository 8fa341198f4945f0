#include "support/alloc_probe.h"

#include <cstdlib>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define WFS_SANITIZED_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WFS_SANITIZED_ALLOCATOR 1
#endif

namespace weightfs::testing {
namespace {
thread_local AllocationProbe* g_probe = nullptr;
}  // namespace

AllocationProbe::AllocationProbe() : outer_(g_probe) { g_probe = this; }
AllocationProbe::~AllocationProbe() { g_probe = outer_; }

#ifdef WFS_SANITIZED_ALLOCATOR
bool AllocationProbe::Available() { return false; }
#else
bool AllocationProbe::Available() { return true; }

namespace {
void* Allocate(size_t n) {
  if (g_probe != nullptr) g_probe->Record(n);
  for (;;) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}
}  // namespace
#endif

}  // namespace weightfs::testing

#ifndef WFS_SANITIZED_ALLOCATOR
// The default operator delete frees with std::free, which matches these.
void* operator new(size_t n) { return weightfs::testing::Allocate(n); }
void* operator new[](size_t n) { return weightfs::testing::Allocate(n); }
#endif
