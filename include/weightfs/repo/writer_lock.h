// The writer lock of a repository: at most one read-write mount (or gc, or offline restore) at
// a time. Two parts: locks/writer, a record naming host, pid, start time and mountpoint (for
// messages, and for stores without kernel locks), and, on stores that have them, a flock on
// locks/writer.~lock held for as long as the lock is held. The kernel releases the flock when
// its holder exits or is killed, so a lock left by a dead (or zombie) process never blocks: it
// is taken over with a message saying so. Without kernel locks, a record whose process is gone
// from this host is stale. A live holder is refused with a message naming it.
// Not thread-safe; one per process.
#pragma once

#include <memory>
#include <string>

#include "weightfs/core/status.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class WriterLock {
 public:
  // Takes the lock for pid (the process that will hold it). *note receives a line to show the
  // user when a stale lock was taken over. kBusy when another live process holds it.
  static Result<std::unique_ptr<WriterLock>> Acquire(storage::ObjectStore* store,
                                                     const std::string& mountpoint, int pid,
                                                     std::string* note);
  // Whether the lock's record names a mount (which holds the lock until it is unmounted), not an
  // offline command (gc, import, restore, which end by themselves). False when the record is
  // missing or unreadable (e.g. the lock is changing hands).
  static Result<bool> HeldByMount(storage::ObjectStore* store);
  // Releases the lock if this process still holds it.
  ~WriterLock();
  Status Release();
  // Rewrites the lock for a new pid (after fork).
  Status SetPid(int pid);

 private:
  WriterLock(storage::ObjectStore* store, Bytes content, std::string mountpoint,
             std::unique_ptr<storage::FileLock> kernel_lock)
      : store_(store),
        content_(std::move(content)),
        mountpoint_(std::move(mountpoint)),
        kernel_lock_(std::move(kernel_lock)) {}
  storage::ObjectStore* store_;
  Bytes content_;
  std::string mountpoint_;
  std::unique_ptr<storage::FileLock> kernel_lock_;  // null where the store has none
  bool held_ = true;
};

}  // namespace weightfs::repo
