// The libfuse low-level adapter: trampolines that turn each request into one call of an Answer*
// function (answers.h), which makes the vfs::FileSystem call and returns the reply as a value,
// and send that reply exactly once (reply.h). Errnos are chosen only in errno_map.h.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fuse/errno_map.h"
#include "fuse/reply.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::fuse {

// Supplementary groups of recent callers, by pid: reading them costs a read of /proc per
// request, which dominated the daemon's time on shared mounts. Kept 1 s, like the policy's role
// cache, so a changed group membership counts within a second. Thread-safe.
class GroupCache {
 public:
  std::vector<uint32_t> Get(fuse_req_t req, const fuse_ctx& ctx) EXCLUDES(mu_);

 private:
  struct Entry {
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> groups;
    std::chrono::steady_clock::time_point expires;
  };
  Mutex mu_;
  std::unordered_map<pid_t, Entry> entries_ GUARDED_BY(mu_);
};

// What every request of a session shares. Set up before the session starts; read-only after.
struct AdapterContext {
  vfs::FileSystem* fs = nullptr;
  bool caller_groups = false;  // fill Caller::groups (the policy decides per caller)
  // Drops the kernel's entry (parent, name) soon after the current request was answered (a
  // request handler cannot: the kernel holds the directory's lock until the reply). Null: never.
  std::function<void(fuse_ino_t parent, const std::string& name)> invalidate_later;
  GroupCache groups;
  std::atomic<bool>* init_done = nullptr;  // set once the kernel's INIT was answered
  std::function<void(const std::string&)> log;
};

// The caller of a request that is decided by the policy (with its supplementary groups on a
// shared mount).
vfs::Caller CallerOf(fuse_req_t req);
// The caller of a request on an open handle (read, write, flush, fsync...): decided at open, so
// its groups are not read (that costs a read of /proc per request).
vfs::Caller HandleCallerOf(fuse_req_t req);
AdapterContext* ContextOf(fuse_req_t req);

// The reply to a request that failed with status: its errno. A failure that answers EIO
// (corruption, I/O and internal errors) is logged here, where it is answered, with op and detail
// (e.g. the offset).
ErrorReply FailureReply(const AdapterContext& ctx, const char* op, const Status& status,
                        ErrnoContext context = ErrnoContext::kDefault,
                        const std::string& detail = "");
// ErrorReply{0} for OK, else FailureReply.
inline ErrorReply StatusReply(const AdapterContext& ctx, const char* op, const Status& status,
                              ErrnoContext context = ErrnoContext::kDefault) {
  if (status.ok()) return ErrorReply{0};
  return FailureReply(ctx, op, status, context);
}

// Op tables are filled per family (ops_node.cc, ops_file.cc, ops_dir.cc).
void AddNodeOps(fuse_lowlevel_ops* ops);
void AddFileOps(fuse_lowlevel_ops* ops);
void AddDirOps(fuse_lowlevel_ops* ops);

// Logs an exception that escaped a callback (a bug) and replies EIO.
void ReplyUnexpected(fuse_req_t req, const char* op, const char* what) noexcept;

// Runs fn, and on an escaping exception logs it and replies EIO (callbacks are noexcept).
template <typename Fn>
void Guard(fuse_req_t req, const char* op, Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    ReplyUnexpected(req, op, e.what());
  } catch (...) {
    ReplyUnexpected(req, op, nullptr);
  }
}

}  // namespace weightfs::fuse
