// The writer lock of a repository (locks/writer): at most one read-write mount at a time.
// The lock names host, pid, start time and mountpoint. A lock whose process is gone on this
// host is stale and taken over (with a message saying so); a live holder is refused with a
// message naming it. Not thread-safe; one per process.
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
  static Result<std::unique_ptr<WriterLock>> Acquire(storage::ObjectStore* store, const std::string& mountpoint,
                                                     int pid, std::string* note);
  // Releases the lock if this process still holds it.
  ~WriterLock();
  Status Release();
  // Rewrites the lock for a new pid (after fork).
  Status SetPid(int pid);

 private:
  WriterLock(storage::ObjectStore* store, Bytes content, std::string mountpoint)
      : store_(store), content_(std::move(content)), mountpoint_(std::move(mountpoint)) {}
  storage::ObjectStore* store_;
  Bytes content_;
  std::string mountpoint_;
  bool held_ = true;
};

}  // namespace weightfs::repo
