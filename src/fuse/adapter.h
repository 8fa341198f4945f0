// The libfuse low-level adapter: trampolines that turn each request into one vfs::FileSystem
// call and the result into exactly one reply. Status -> errno happens only in ErrnoFor.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "weightfs/core/status.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::fuse {

// Supplementary groups of recent callers, by pid: reading them costs a read of /proc per
// request, which dominated the daemon's time on shared mounts. Kept 1 s, like the policy's role
// cache, so a changed group membership counts within a second. Thread-safe.
class GroupCache {
 public:
  std::vector<uint32_t> Get(fuse_req_t req, const fuse_ctx& ctx);

 private:
  struct Entry {
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> groups;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mu_;
  std::unordered_map<pid_t, Entry> entries_;
};

struct AdapterContext {
  vfs::FileSystem* fs = nullptr;
  bool read_only = false;
  bool caller_groups = false;  // fill Caller::groups (the policy decides per caller)
  // Drops the kernel's entry (parent, name) soon after the current request was answered (a
  // request handler cannot: the kernel holds the directory's lock until the reply). Null: never.
  std::function<void(fuse_ino_t parent, const std::string& name)> invalidate_later;
  GroupCache groups;
  std::atomic<bool>* init_done = nullptr;  // set once the kernel's INIT was answered
  std::function<void(const std::string&)> log;
};

int ErrnoFor(const Status& status);
// The caller of a request that is decided by the policy (with its supplementary groups on a
// shared mount).
vfs::Caller CallerOf(fuse_req_t req);
// The caller of a request on an open handle (read, write, flush, fsync...): decided at open, so
// its groups are not read (that costs a read of /proc per request).
vfs::Caller HandleCallerOf(fuse_req_t req);
AdapterContext* ContextOf(fuse_req_t req);
void FillStat(const vfs::Attr& attr, struct stat* st);
// S_IFREG, S_IFDIR, ... for a node type, and back (nullopt: a type weightfs does not know).
mode_t FileTypeBits(vfs::NodeType type);
std::optional<vfs::NodeType> NodeTypeOfMode(mode_t mode);
void FillEntry(const vfs::EntryOut& in, fuse_entry_param* out);
// Replies with the errno for status, logging corruption and internal errors.
void ReplyError(fuse_req_t req, const Status& status);

inline vfs::FileSystem& Fs(fuse_req_t req) { return *ContextOf(req)->fs; }

// Replies with the error and returns true when r failed.
template <typename T>
bool Failed(fuse_req_t req, const Result<T>& r) {
  if (r.ok()) return false;
  ReplyError(req, r.status());
  return true;
}

inline void ReplyStatus(fuse_req_t req, const Status& s) {
  if (!s.ok()) return ReplyError(req, s);
  fuse_reply_err(req, 0);
}

// Op tables are filled per family (ops_node.cc, ops_file.cc, ops_dir.cc).
void AddNodeOps(fuse_lowlevel_ops* ops);
void AddFileOps(fuse_lowlevel_ops* ops);
void AddDirOps(fuse_lowlevel_ops* ops);

// Runs fn, and on an escaping exception logs it and replies EIO (callbacks are noexcept).
template <typename Fn>
void Guard(fuse_req_t req, const char* op, Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    if (auto* ctx = ContextOf(req); ctx && ctx->log)
      ctx->log(std::string(op) + ": unexpected exception: " + e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    if (auto* ctx = ContextOf(req); ctx && ctx->log)
      ctx->log(std::string(op) + ": unexpected exception");
    fuse_reply_err(req, EIO);
  }
}

}  // namespace weightfs::fuse
