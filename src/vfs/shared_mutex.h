// SharedMutex, ReaderLock and WriterLock: std::shared_mutex with clang's thread-safety
// annotations (as weightfs::Mutex in core/mutex.h), for state that many readers share and few
// writers change (a file's segments). SharedMutex is thread-safe; a lock object belongs to the
// thread that made it.
#pragma once

#include <shared_mutex>

#include "weightfs/core/thread_annotations.h"

#define WFS_ACQUIRE_SHARED(...) WFS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define WFS_RELEASE_SHARED(...) WFS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define WFS_REQUIRES_SHARED(...) WFS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define WFS_RELEASE_GENERIC(...) WFS_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))

namespace weightfs::vfs {

class CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() WFS_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() WFS_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds mu exclusively from construction to destruction.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds mu shared from construction to destruction.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) WFS_ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() WFS_RELEASE_GENERIC() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace weightfs::vfs
