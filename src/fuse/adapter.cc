#include "fuse/adapter.h"

#include <algorithm>
#include <vector>

namespace weightfs::fuse {

AdapterContext* ContextOf(fuse_req_t req) {
  return static_cast<AdapterContext*>(fuse_req_userdata(req));
}

vfs::Caller HandleCallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  vfs::Caller c;
  c.uid = ctx->uid;
  c.gid = ctx->gid;
  c.pid = static_cast<uint32_t>(ctx->pid);
  return c;
}

std::vector<uint32_t> GroupCache::Get(fuse_req_t req, const fuse_ctx& ctx) {
  const auto now = std::chrono::steady_clock::now();
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(ctx.pid);
    if (it != entries_.end() && it->second.expires > now && it->second.uid == ctx.uid &&
        it->second.gid == ctx.gid) {
      return it->second.groups;
    }
  }
  // The kernel does not send supplementary groups; libfuse reads them from /proc/PID/task.
  // A caller that has exited meanwhile keeps only its primary group.
  std::vector<gid_t> groups(64);
  int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
  if (n > static_cast<int>(groups.size())) {
    groups.resize(static_cast<size_t>(n));
    n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
  }
  Entry e{ctx.uid, ctx.gid, {}, now + std::chrono::seconds(1)};
  for (int i = 0; i < std::min(n, static_cast<int>(groups.size())); ++i) {
    e.groups.push_back(static_cast<uint32_t>(groups[static_cast<size_t>(i)]));
  }
  MutexLock lock(&mu_);
  if (entries_.size() > 4096) entries_.clear();
  entries_[ctx.pid] = e;
  return e.groups;
}

vfs::Caller CallerOf(fuse_req_t req) {
  vfs::Caller c = HandleCallerOf(req);
  AdapterContext* ctx = ContextOf(req);
  if (ctx->caller_groups) c.groups = ctx->groups.Get(req, *fuse_req_ctx(req));
  return c;
}

ErrorReply FailureReply(const AdapterContext& ctx, const char* op, const Status& s,
                        ErrnoContext context, const std::string& detail) {
  const Code code = s.code();
  const bool notable = code == Code::kCorruption || code == Code::kInternal ||
                       code == Code::kIoError || code == Code::kNoSpace;
  if (notable && ctx.log) {
    ctx.log(std::string(op) + " failed" + (detail.empty() ? "" : " " + detail) + ": " +
            s.message());
  }
  return ErrorReply{ErrnoFor(s, context)};
}

void ReplyUnexpected(fuse_req_t req, const char* op, const char* what) noexcept {
  try {
    if (auto* ctx = ContextOf(req); ctx && ctx->log)
      ctx->log(std::string(op) + ": unexpected exception" + (what ? std::string(": ") + what : ""));
  } catch (...) {
  }
  fuse_reply_err(req, ErrnoFor(ReplyCondition::kUnexpectedException));
}

}  // namespace weightfs::fuse
