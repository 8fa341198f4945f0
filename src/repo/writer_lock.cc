#include "weightfs/repo/writer_lock.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

namespace weightfs::repo {
namespace {

constexpr char kLockFile[] = "locks/writer";

std::string HostName() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

Bytes LockContent(int pid, const std::string& mountpoint) {
  nlohmann::json j = {{"host", HostName()}, {"pid", pid}, {"time", static_cast<int64_t>(std::time(nullptr))},
                      {"mountpoint", mountpoint}};
  return ToBytes(j.dump() + "\n");
}

bool ProcessAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

std::string Describe(const nlohmann::json& j) {
  std::string out = "pid " + std::to_string(j.value("pid", 0)) + " on host " + j.value("host", std::string("?"));
  std::time_t t = j.value("time", int64_t{0});
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  out += std::string(" since ") + buf;
  if (j.contains("mountpoint")) out += " (mounted on " + j.value("mountpoint", std::string()) + ")";
  return out;
}

}  // namespace

Result<std::unique_ptr<WriterLock>> WriterLock::Acquire(storage::ObjectStore* store, const std::string& mountpoint,
                                                        int pid, std::string* note) {
  Bytes content = LockContent(pid, mountpoint);
  for (int attempt = 0; attempt < 3; ++attempt) {
    Status s = store->CreateFileExclusive(kLockFile, content);
    if (s.ok()) return std::unique_ptr<WriterLock>(new WriterLock(store, content, mountpoint));
    if (s.code() != Code::kAlreadyExists) return s.WithContext("taking the writer lock");
    ASSIGN_OR_RETURN(std::optional<Bytes> held, store->ReadFile(kLockFile));
    if (!held) continue;  // released meanwhile
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(AsString(*held));
    } catch (const nlohmann::json::exception&) {
      j = nlohmann::json::object();
    }
    const bool same_host = j.value("host", std::string()) == HostName();
    if (!same_host || ProcessAlive(j.value("pid", 0))) {
      return Status(Code::kBusy, "the repository is already mounted read-write by " + Describe(j) +
                                     "; unmount it first, or mount with --read-only");
    }
    *note = "took over a stale writer lock left by " + Describe(j) + " (that process no longer exists)";
    // Only replace the exact stale lock we read, so two takers cannot both win.
    Status cas = store->CompareAndSwapFile(kLockFile, held, content);
    if (cas.ok()) return std::unique_ptr<WriterLock>(new WriterLock(store, content, mountpoint));
    if (cas.code() != Code::kConflict) return cas;
  }
  return Status(Code::kBusy, "the writer lock keeps changing; another mount is starting");
}

Status WriterLock::SetPid(int pid) {
  Bytes next = LockContent(pid, mountpoint_);
  RETURN_IF_ERROR(store_->CompareAndSwapFile(kLockFile, content_, next));
  content_ = std::move(next);
  return Status::Ok();
}

Status WriterLock::Release() {
  if (!held_) return Status::Ok();
  held_ = false;
  ASSIGN_OR_RETURN(std::optional<Bytes> current, store_->ReadFile(kLockFile));
  if (!current || *current != content_) return Status::Ok();  // not ours any more
  return store_->DeleteFile(kLockFile);
}

WriterLock::~WriterLock() { Release().IgnoreError(); }

}  // namespace weightfs::repo
