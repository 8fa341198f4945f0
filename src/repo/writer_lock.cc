#include "weightfs/repo/writer_lock.h"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "repo/lock_util.h"
#include "repo/records.h"
#include "weightfs/crypto/primitives.h"

namespace weightfs::repo {
namespace {

constexpr char kLockFile[] = "locks/writer";
// Offline commands name themselves "weightfs COMMAND" where a mount records its mountpoint.
constexpr char kCommandPrefix[] = "weightfs ";

Result<Bytes> LockContent(int pid, const std::string& mountpoint) {
  // The nonce makes the record unique to its writer (object stores judge a retried conditional
  // write by finding its bytes: two containers sharing a host name can have the same pid).
  ASSIGN_OR_RETURN(Bytes nonce, crypto::RandomBytes(8));
  nlohmann::json j = {{"host", lock_util::HostName()},
                      {"pid", pid},
                      {"time", static_cast<int64_t>(std::time(nullptr))},
                      {"mountpoint", mountpoint},
                      {"nonce", ToHex(nonce)}};
  return ToBytes(j.dump() + "\n");
}

std::string Describe(const LockRecord& r) {
  if (!r.parsed) return "another process (its lock record is missing or unreadable)";
  std::string out = "pid " + std::to_string(r.pid) + " on host " + (r.host.empty() ? "?" : r.host);
  out += " since " + lock_util::UtcTime(r.time);
  if (r.mountpoint) out += " (mounted on " + *r.mountpoint + ")";
  return out;
}

Status HeldBy(const LockRecord& r) {
  return ::weightfs::Busy("the repository is already mounted read-write by " + Describe(r) +
                          "; unmount it first, or mount with --read-only");
}

}  // namespace

Result<bool> WriterLock::HeldByMount(storage::ObjectStore* store) {
  ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
  const LockRecord r = ParseLockRecord(held);
  return r.parsed && r.mountpoint && !r.mountpoint->starts_with(kCommandPrefix);
}

Result<std::unique_ptr<WriterLock>> WriterLock::Acquire(storage::ObjectStore* store,
                                                        const std::string& mountpoint, int pid,
                                                        std::string* note) {
  ASSIGN_OR_RETURN(Bytes content, LockContent(pid, mountpoint));
  auto kernel = store->TryLock(kLockFile, /*shared=*/false);
  // A holder killed a moment ago (its pid gone or a zombie) may not have finished exiting, and
  // the kernel drops its lock when it has: wait for that (briefly) rather than refuse.
  for (int wait = 0; wait < 100 && kernel.status().code() == Code::kBusy; ++wait) {
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
    const LockRecord r = ParseLockRecord(held);
    if (r.host != lock_util::HostName() || lock_util::ProcessAlive(r.pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kernel = store->TryLock(kLockFile, /*shared=*/false);
  }
  if (kernel.ok()) {
    // Whoever wrote a record we find now has exited: the kernel released its lock.
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
    if (held) {
      *note = "took over a stale writer lock left by " + Describe(ParseLockRecord(held)) +
              " (that process no longer holds it)";
    }
    RETURN_IF_ERROR(store->WriteFile(kLockFile, content).WithContext("taking the writer lock"));
    return std::unique_ptr<WriterLock>(
        new WriterLock(store, content, mountpoint, std::move(kernel).value()));
  }
  if (kernel.status().code() == Code::kBusy) {
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
    return HeldBy(ParseLockRecord(held));
  }
  if (kernel.status().code() != Code::kUnsupported)
    return kernel.status().WithContext("taking the writer lock");

  // No kernel locks: the record alone, with the holder's liveness judged by its pid.
  for (int attempt = 0; attempt < 3; ++attempt) {
    Status s = store->CreateFileExclusive(kLockFile, content);
    if (s.ok())
      return std::unique_ptr<WriterLock>(new WriterLock(store, content, mountpoint, nullptr));
    if (s.code() != Code::kAlreadyExists) return s.WithContext("taking the writer lock");
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
    if (!held) continue;  // released meanwhile
    const LockRecord r = ParseLockRecord(held);
    if (r.host != lock_util::HostName() || lock_util::ProcessAlive(r.pid)) return HeldBy(r);
    *note =
        "took over a stale writer lock left by " + Describe(r) + " (that process no longer exists)";
    // Only replace the exact stale lock we read, so two takers cannot both win.
    Status cas = store->CompareAndSwapFile(kLockFile, held, content);
    if (cas.ok())
      return std::unique_ptr<WriterLock>(new WriterLock(store, content, mountpoint, nullptr));
    if (cas.code() != Code::kConflict) return cas;
  }
  return ::weightfs::Busy("the writer lock keeps changing; another mount is starting");
}

Status WriterLock::SetPid(int pid) {
  ASSIGN_OR_RETURN(Bytes next, LockContent(pid, mountpoint_));
  RETURN_IF_ERROR(store_->CompareAndSwapFile(kLockFile, content_, next));
  content_ = std::move(next);
  return Status::Ok();
}

Status WriterLock::Release() {
  if (!held_) return Status::Ok();
  held_ = false;
  Status s = Status::Ok();
  auto current = store_->ReadFile(kLockFile);
  if (!current.ok()) {
    s = current.status();
  } else if (*current && **current == content_) {
    s = store_->DeleteFile(kLockFile);
  }
  // The record goes first: whoever takes the kernel lock next must not take our record for a
  // stale one. The lock file stays (removing it could let two takers lock two different files).
  kernel_lock_.reset();
  return s;
}

WriterLock::~WriterLock() { Release().IgnoreError(); }

}  // namespace weightfs::repo
