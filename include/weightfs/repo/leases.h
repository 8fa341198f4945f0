// Leases: how running writers and readers tell gc what it must not delete.
//
// A lease is a record locks/lease-<random> (JSON: kind, host, pid, since, what, roots) whose
// owner holds a kernel lock on it (ObjectStore::TryLock) for as long as it lives:
//  - a write lease (every process that writes objects or refs: offline import, snapshot,
//    restore, forget, tag, policy set, and read-write mounts) protects every object whose
//    modification time is not older than the lease's `since` (less a slack for clocks): whatever
//    it wrote or reused (a reused object is touched) and has not published yet;
//  - a read lease (a --read-only mount) names the root trees it serves; gc marks them live.
// A lease whose owner is gone (its kernel lock is free, or without kernel locks its pid is gone
// from this host) is stale: gc ignores and removes it. Without kernel locks (object storage) the
// owner may live on another host, where its pid says nothing: there the owner renews its record
// every kLeaseRenewSeconds, and a record of another host not renewed for kLeaseExpirySeconds
// is stale (its owner died, or lost the store for that long).
//
// The gc lock (locks/gc, exclusive) orders leases and sweeps: gc holds it from before it reads
// the leases until its last deletion, and a lease is registered while holding it shared. So a
// lease either is visible to a sweep, or its owner waits until the sweep is over; objects an
// owner wrote before its lease existed are named by refs before the lease is released
// (publishing happens while the lease is held).
//
// Thread-safety: a Lease may be used from several threads; the free functions are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/periodic.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

enum class LeaseKind : uint8_t { kWrite, kRead };

// gc keeps objects younger than a write lease's `since` minus this (clock and timestamp slack
// between the writer's clock and the filesystem's).
inline constexpr int64_t kLeaseClockSlackSeconds = 120;
// How long a lease waits for a running gc to finish before giving up with kBusy.
inline constexpr int64_t kLeaseWaitForGcSeconds = 600;
// Without kernel locks: how often an owner renews its lease, and after how long without a
// renewal a lease of another host is stale (minutes: clocks of hosts may differ a little).
inline constexpr int64_t kLeaseRenewSeconds = 60;
inline constexpr int64_t kLeaseExpirySeconds = 900;

struct LeaseInfo {
  std::string name;  // "locks/lease-..."
  LeaseKind kind = LeaseKind::kWrite;
  std::string host;
  int pid = 0;
  int64_t since = 0;    // seconds since the epoch
  int64_t renewed = 0;  // last renewal (0: none yet; stores without kernel locks renew)
  std::string what;
  std::vector<ObjectId> roots;  // read leases: the trees served
};

class Lease {
 public:
  // Registers a lease while holding the gc lock shared (waiting up to kLeaseWaitForGcSeconds
  // while a gc sweeps; kBusy after that). make_roots, when given, runs under the shared gc lock
  // before the record is written and returns the read lease's roots: no sweep can run between
  // the moment it reads refs and the moment the lease names what it read.
  static Result<std::unique_ptr<Lease>> Register(
      storage::ObjectStore* store, LeaseKind kind, std::string what,
      const std::function<Result<std::vector<ObjectId>>()>& make_roots = {});
  ~Lease();
  // A read lease's trees change (a read-only mount serving a newer live tree): make_roots runs
  // under the shared gc lock, like Register's, and the record is rewritten with what it returns.
  Status UpdateRoots(const std::function<Result<std::vector<ObjectId>>()>& make_roots)
      EXCLUDES(mu_);
  // Deletes the record and drops the kernel lock. In a forked child (another pid than the one
  // that registered) it does nothing: the lease stays with the process that holds its lock.
  Status Release() EXCLUDES(mu_);
  const std::string& name() const { return info_.name; }
  // Tests: renew every interval instead of kLeaseRenewSeconds (leases registered afterwards).
  static void SetRenewIntervalForTesting(std::chrono::milliseconds interval);
  // Its roots change only through UpdateRoots: read them on the thread that calls it.
  const LeaseInfo& info() const { return info_; }

 private:
  Lease(storage::ObjectStore* store, LeaseInfo info, std::unique_ptr<storage::FileLock> kernel_lock)
      : store_(store),
        owner_pid_(info.pid),
        info_(std::move(info)),
        kernel_lock_(std::move(kernel_lock)) {}
  storage::ObjectStore* store_;
  const int owner_pid_;  // the process that registered it (and runs renewer_)
  LeaseInfo info_;
  Mutex mu_;
  // Null without kernel locks.
  std::unique_ptr<storage::FileLock> kernel_lock_ GUARDED_BY(mu_);
  bool released_ GUARDED_BY(mu_) = false;
  // Without a kernel lock: rewrites the record with a new renewal time (Renew).
  void Renew() EXCLUDES(mu_);
  std::unique_ptr<Periodic> renewer_;  // null with a kernel lock; stopped by Release
};

// gc's exclusive hold of locks/gc (with a record naming it); released when destroyed.
class GcLock {
 public:
  // Retries for a few seconds while writers register (they hold it shared for a moment); kBusy
  // naming the other gc when one runs. Stores without kernel locks get a lock that holds nothing.
  static Result<std::unique_ptr<GcLock>> Acquire(storage::ObjectStore* store);
  ~GcLock();

 private:
  GcLock(storage::ObjectStore* store, std::unique_ptr<storage::FileLock> lock)
      : store_(store), lock_(std::move(lock)) {}
  storage::ObjectStore* store_;
  std::unique_ptr<storage::FileLock> lock_;
};

// The leases whose owners are alive. Stale ones are removed (best effort); *removed counts them.
Result<std::vector<LeaseInfo>> LiveLeases(storage::ObjectStore* store, int* removed);

}  // namespace weightfs::repo
