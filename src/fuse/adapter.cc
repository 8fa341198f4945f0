#include "fuse/adapter.h"

#include <algorithm>
#include <vector>

#include <cerrno>
#include <cstring>

namespace weightfs::fuse {

int ErrnoFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return ENOENT;
    case Code::kAlreadyExists:
      return EEXIST;
    case Code::kNotDirectory:
      return ENOTDIR;
    case Code::kIsDirectory:
      return EISDIR;
    case Code::kNotEmpty:
      return ENOTEMPTY;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kPermissionDenied:
      return EACCES;
    case Code::kReadOnly:
      return EROFS;
    case Code::kNoSpace:
      return ENOSPC;
    case Code::kCorruption:
      return EIO;
    case Code::kIoError:
      return EIO;
    case Code::kUnsupported:
      return EOPNOTSUPP;
    case Code::kConflict:
      return EIO;
    case Code::kBusy:
      return EBUSY;
    case Code::kWrongKey:
      return EACCES;
    case Code::kNameTooLong:
      return ENAMETOOLONG;
    case Code::kNotPermitted:
      return EPERM;
    case Code::kInternal:
      return EIO;
  }
  return EIO;
}

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
    std::lock_guard lock(mu_);
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
  std::lock_guard lock(mu_);
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

void ReplyError(fuse_req_t req, const Status& s) {
  if (s.code() == Code::kCorruption || s.code() == Code::kInternal || s.code() == Code::kIoError) {
    if (auto* ctx = ContextOf(req); ctx && ctx->log) ctx->log("EIO: " + s.message());
  }
  fuse_reply_err(req, ErrnoFor(s));
}

static void ToTimespec(int64_t ns, struct timespec* ts) {
  ts->tv_sec = ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
  if (ts->tv_nsec < 0) {
    ts->tv_nsec += 1000000000;
    ts->tv_sec -= 1;
  }
}

mode_t FileTypeBits(vfs::NodeType type) {
  switch (type) {
    case vfs::NodeType::kFile:
      return S_IFREG;
    case vfs::NodeType::kDirectory:
      return S_IFDIR;
    case vfs::NodeType::kSymlink:
      return S_IFLNK;
    case vfs::NodeType::kFifo:
      return S_IFIFO;
    case vfs::NodeType::kSocket:
      return S_IFSOCK;
    case vfs::NodeType::kCharDevice:
      return S_IFCHR;
    case vfs::NodeType::kBlockDevice:
      return S_IFBLK;
  }
  return S_IFREG;
}

std::optional<vfs::NodeType> NodeTypeOfMode(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return vfs::NodeType::kFile;
    case S_IFDIR:
      return vfs::NodeType::kDirectory;
    case S_IFLNK:
      return vfs::NodeType::kSymlink;
    case S_IFIFO:
      return vfs::NodeType::kFifo;
    case S_IFSOCK:
      return vfs::NodeType::kSocket;
    case S_IFCHR:
      return vfs::NodeType::kCharDevice;
    case S_IFBLK:
      return vfs::NodeType::kBlockDevice;
  }
  return std::nullopt;
}

void FillStat(const vfs::Attr& a, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = a.ino;
  st->st_mode = FileTypeBits(a.type) | (a.mode & 07777);
  st->st_rdev = static_cast<dev_t>(a.rdev);
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = 1 << 20;
  st->st_blocks = static_cast<blkcnt_t>(a.blocks);
  ToTimespec(a.atime_ns, &st->st_atim);
  ToTimespec(a.mtime_ns, &st->st_mtim);
  ToTimespec(a.ctime_ns, &st->st_ctim);
}

void FillEntry(const vfs::EntryOut& in, fuse_entry_param* out) {
  std::memset(out, 0, sizeof(*out));
  out->ino = in.attr.ino;
  out->generation = 1;
  FillStat(in.attr, &out->attr);
  out->entry_timeout = in.entry_timeout;
  out->attr_timeout = in.attr_timeout;
}

}  // namespace weightfs::fuse
