#include "weightfs/repo/leases.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "repo/lock_util.h"
#include "repo/records.h"
#include "weightfs/crypto/primitives.h"

namespace weightfs::repo {
namespace {

constexpr char kLocksDir[] = "locks";
constexpr char kLeasePrefix[] = "locks/lease-";
constexpr char kGcLock[] = "locks/gc";

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::atomic<int64_t> g_renew_ms{kLeaseRenewSeconds * 1000};

// Without kernel locks: a lease of another host that was not renewed for kLeaseExpirySeconds.
bool Expired(const LeaseInfo& info, int64_t now) {
  return now - std::max(info.since, info.renewed) > kLeaseExpirySeconds;
}

// A shared hold of the gc lock, so that no sweep runs until it is dropped (null for stores
// without kernel locks); waits up to kLeaseWaitForGcSeconds while a gc sweeps.
Result<std::unique_ptr<storage::FileLock>> HoldGcShared(storage::ObjectStore* store) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kLeaseWaitForGcSeconds);
  for (;;) {
    auto l = store->TryLock(kGcLock, /*shared=*/true);
    if (l.ok()) return l;
    if (l.status().code() == Code::kUnsupported) return std::unique_ptr<storage::FileLock>();
    if (l.status().code() != Code::kBusy) return l.status().WithContext("registering with gc");
    if (std::chrono::steady_clock::now() > deadline) {
      return Busy("a gc of this repository has been deleting objects for more than " +
                  std::to_string(kLeaseWaitForGcSeconds) + " s; try again when it is done");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

Result<std::unique_ptr<Lease>> Lease::Register(
    storage::ObjectStore* store, LeaseKind kind, std::string what,
    const std::function<Result<std::vector<ObjectId>>()>& make_roots) {
  // Shared hold of the gc lock: no sweep runs until the record is written.
  ASSIGN_OR_RETURN(std::unique_ptr<storage::FileLock> gc_shared, HoldGcShared(store));

  LeaseInfo info;
  info.kind = kind;
  info.host = lock_util::HostName();
  info.pid = static_cast<int>(::getpid());
  info.since = Now();
  info.what = std::move(what);
  if (make_roots) {
    ASSIGN_OR_RETURN(info.roots, make_roots());
  }
  ASSIGN_OR_RETURN(Bytes random, crypto::RandomBytes(8));
  info.name = kLeasePrefix + ToHex(random);
  // The kernel lock before the record: gc takes a record whose lock is free for a dead owner's.
  std::unique_ptr<storage::FileLock> kernel;
  auto l = store->TryLock(info.name, /*shared=*/false);
  if (l.ok()) {
    kernel = std::move(l).value();
  } else if (l.status().code() != Code::kUnsupported) {
    return l.status().WithContext("taking a lease");
  }
  Status s = store->CreateFileExclusive(info.name, EncodeLeaseRecord(info));
  if (!s.ok()) {
    if (kernel) kernel->RemoveFile().IgnoreError();
    return s.WithContext("writing the lease " + info.name);
  }
  const bool renew = kernel == nullptr;
  std::unique_ptr<Lease> lease(new Lease(store, std::move(info), std::move(kernel)));
  if (renew) {
    Lease* raw = lease.get();
    lease->renewer_ = std::make_unique<Periodic>(std::chrono::milliseconds(g_renew_ms.load()),
                                                 [raw] { raw->Renew(); });
  }
  return lease;
}

void Lease::SetRenewIntervalForTesting(std::chrono::milliseconds interval) {
  g_renew_ms.store(interval.count());
}

void Lease::Renew() {
  MutexLock lock(&mu_);
  if (released_) return;
  LeaseInfo next = info_;
  next.renewed = Now();
  // A failure is tried again on the next tick; the lease only expires after many.
  if (store_->WriteFile(next.name, EncodeLeaseRecord(next)).ok()) info_ = std::move(next);
}

Status Lease::UpdateRoots(const std::function<Result<std::vector<ObjectId>>()>& make_roots) {
  MutexLock lock(&mu_);
  if (released_) return Internal("the lease was released before its roots changed");
  ASSIGN_OR_RETURN(std::unique_ptr<storage::FileLock> gc_shared, HoldGcShared(store_));
  ASSIGN_OR_RETURN(std::vector<ObjectId> roots, make_roots());
  if (roots == info_.roots) return Status::Ok();
  LeaseInfo next = info_;
  next.roots = std::move(roots);
  RETURN_IF_ERROR(store_->WriteFile(next.name, EncodeLeaseRecord(next))
                      .WithContext("updating the lease " + next.name));
  info_ = std::move(next);
  return Status::Ok();
}

Status Lease::Release() {
  if (owner_pid_ != static_cast<int>(::getpid())) {
    // A forked child: the renewal thread is the parent's (it does not exist here).
    (void)renewer_.release();  // NOLINT(bugprone-unused-return-value): deliberately leaked
    return Status::Ok();
  }
  renewer_.reset();  // before the lock: a renewal in progress takes it
  MutexLock lock(&mu_);
  if (released_) return Status::Ok();
  released_ = true;
  Status s = store_->DeleteFile(info_.name);
  if (s.code() == Code::kNotFound) s = Status::Ok();
  if (kernel_lock_) {
    Status r = kernel_lock_->RemoveFile();
    if (s.ok()) s = r;
    kernel_lock_.reset();
  }
  return s;
}

Lease::~Lease() { Release().IgnoreError(); }

Result<std::unique_ptr<GcLock>> GcLock::Acquire(storage::ObjectStore* store) {
  for (int attempt = 0;; ++attempt) {
    auto l = store->TryLock(kGcLock, /*shared=*/false);
    if (l.ok()) {
      nlohmann::json j = {
          {"host", lock_util::HostName()}, {"pid", static_cast<int>(::getpid())}, {"time", Now()}};
      RETURN_IF_ERROR(store->WriteFile(kGcLock, ToBytes(j.dump() + "\n")));
      return std::unique_ptr<GcLock>(new GcLock(store, std::move(l).value()));
    }
    if (l.status().code() == Code::kUnsupported)
      return std::unique_ptr<GcLock>(new GcLock(store, nullptr));
    if (l.status().code() != Code::kBusy) return l.status().WithContext("taking the gc lock");
    // Writers hold it shared for the moment it takes to register a lease.
    if (attempt < 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kGcLock));
    std::string who = "another gc";
    if (const LockRecord r = ParseLockRecord(held); r.parsed) {
      who += " (pid " + std::to_string(r.pid) + " on host " + (r.host.empty() ? "?" : r.host) +
             " since " + lock_util::UtcTime(r.time) + ")";
    }
    return Busy(who + " is running on this repository; wait for it to finish");
  }
}

GcLock::~GcLock() {
  if (lock_) store_->DeleteFile(kGcLock).IgnoreError();
}

Result<std::vector<LeaseInfo>> LiveLeases(storage::ObjectStore* store, int* removed) {
  *removed = 0;
  ASSIGN_OR_RETURN(std::vector<std::string> files, store->ListFiles(kLocksDir));
  std::vector<LeaseInfo> live;
  const std::string host = lock_util::HostName();
  for (const std::string& name : files) {
    if (name.rfind(kLeasePrefix, 0) != 0) continue;
    ASSIGN_OR_RETURN(std::optional<Bytes> data, store->ReadFile(name));
    if (!data) continue;  // released meanwhile
    auto info = DecodeLeaseRecord(name, *data);
    auto probe = store->TryLock(name, /*shared=*/false);
    if (probe.ok()) {
      // Its owner is gone (an owner takes the lock before writing the record).
      store->DeleteFile(name).IgnoreError();
      (*probe)->RemoveFile().IgnoreError();
      ++*removed;
      continue;
    }
    if (probe.status().code() == Code::kUnsupported) {
      const bool gone = info.ok() && (info->host == host ? !lock_util::ProcessAlive(info->pid)
                                                         : Expired(*info, Now()));
      if (gone) {
        store->DeleteFile(name).IgnoreError();
        ++*removed;
        continue;
      }
    } else if (probe.status().code() != Code::kBusy) {
      return probe.status().WithContext("checking the lease " + name);
    }
    // A live record that does not parse protects nothing we could name: refuse to guess.
    if (!info.ok()) return info.status();
    live.push_back(std::move(info).value());
  }
  return live;
}

}  // namespace weightfs::repo
