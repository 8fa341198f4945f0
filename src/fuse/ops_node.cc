// Node operations: lookup, attributes, links, namespace changes, xattrs, statfs, access.
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "fuse/answers.h"
#include "weightfs/core/clock.h"

namespace weightfs::fuse {
namespace {

Reply EntryAnswer(AdapterContext& ctx, const char* op, const Result<vfs::EntryOut>& r) {
  if (!r.ok()) return FailureReply(ctx, op, r.status());
  return EntryReplyOf(*r);
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// getxattr and listxattr: the size when size == 0, else the data, or ERANGE when it does not fit.
Reply BufferAnswer(const void* data, size_t len, size_t size) {
  if (size == 0) return XattrSizeReply{len};
  if (len > size) return ErrorReply{ErrnoFor(ReplyCondition::kBufferTooSmall)};
  const char* begin = static_cast<const char*>(data);
  return BufferReply{std::vector<char>(begin, begin + len)};
}

}  // namespace

Reply AnswerLookup(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name) {
  return EntryAnswer(ctx, "lookup", ctx.fs->Lookup(c, parent, name));
}

Reply AnswerGetAttr(AdapterContext& ctx, const Caller& c, NodeId ino) {
  double timeout = 0;
  auto r = ctx.fs->GetAttr(c, ino, &timeout);
  if (!r.ok()) return FailureReply(ctx, "getattr", r.status());
  return AttrReplyOf(*r, timeout);
}

vfs::SetAttrRequest SetAttrRequestOf(const struct stat& attr, int to_set) {
  vfs::SetAttrRequest r;
  if (to_set & FUSE_SET_ATTR_MODE) r.set_mode = true, r.mode = attr.st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_SIZE) r.set_size = true, r.size = static_cast<uint64_t>(attr.st_size);
  if (to_set & FUSE_SET_ATTR_UID) r.set_uid = true, r.uid = attr.st_uid;
  if (to_set & FUSE_SET_ATTR_GID) r.set_gid = true, r.gid = attr.st_gid;
  if (to_set & FUSE_SET_ATTR_MTIME) r.set_mtime = true, r.mtime_ns = ToNs(attr.st_mtim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.set_mtime = true, r.mtime_ns = NowNs();
  if (to_set & FUSE_SET_ATTR_ATIME) r.set_atime = true, r.atime_ns = ToNs(attr.st_atim);
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.set_atime = true, r.atime_ns = NowNs();
  // Explicit times need the owner; "now" also write permission (utimensat(2)).
  const bool explicit_mtime = (to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW);
  const bool explicit_atime = (to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW);
  r.times_now = !explicit_mtime && !explicit_atime;
  return r;
}

Reply AnswerSetAttr(AdapterContext& ctx, const Caller& c, NodeId ino,
                    const vfs::SetAttrRequest& request) {
  double timeout = 0;
  auto r = ctx.fs->SetAttr(c, ino, request, &timeout);
  if (!r.ok()) return FailureReply(ctx, "setattr", r.status());
  return AttrReplyOf(*r, timeout);
}

Reply AnswerReadLink(AdapterContext& ctx, const Caller& c, NodeId ino) {
  auto r = ctx.fs->ReadLink(c, ino);
  if (!r.ok()) return FailureReply(ctx, "readlink", r.status());
  return ReadlinkReply{std::move(r).value()};
}

Reply AnswerMkdir(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                  mode_t mode) {
  return EntryAnswer(ctx, "mkdir", ctx.fs->Mkdir(c, parent, name, mode));
}

Reply AnswerMknod(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                  mode_t mode, dev_t rdev) {
  const std::optional<vfs::NodeType> type = NodeTypeOfMode(mode);
  if (!type) return FailureReply(ctx, "mknod", InvalidArgument("mknod of an unknown file type"));
  return EntryAnswer(ctx, "mknod", ctx.fs->Mknod(c, parent, name, *type, mode & 07777, rdev));
}

Reply AnswerSymlink(AdapterContext& ctx, const Caller& c, const char* link, NodeId parent,
                    const char* name) {
  return EntryAnswer(ctx, "symlink", ctx.fs->Symlink(c, parent, name, link));
}

Reply AnswerLink(AdapterContext& ctx, const Caller& c, NodeId ino, NodeId new_parent,
                 const char* new_name) {
  return EntryAnswer(ctx, "link", ctx.fs->Link(c, ino, new_parent, new_name));
}

Reply AnswerUnlink(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name) {
  return StatusReply(ctx, "unlink", ctx.fs->Unlink(c, parent, name));
}

Reply AnswerRmdir(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name) {
  return StatusReply(ctx, "rmdir", ctx.fs->Rmdir(c, parent, name));
}

Reply AnswerRename(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                   NodeId new_parent, const char* new_name, unsigned int flags) {
  if (flags & ~static_cast<unsigned int>(RENAME_NOREPLACE))
    return FailureReply(ctx, "rename", InvalidArgument("unsupported rename flags"));
  const uint32_t f = (flags & RENAME_NOREPLACE) ? vfs::FileSystem::kRenameNoReplace : 0;
  return StatusReply(ctx, "rename", ctx.fs->Rename(c, parent, name, new_parent, new_name, f));
}

Reply AnswerStatFs(AdapterContext& ctx, const Caller& c) {
  auto r = ctx.fs->StatFs(c);
  if (!r.ok()) return FailureReply(ctx, "statfs", r.status());
  StatfsReply out;
  std::memset(&out.st, 0, sizeof(out.st));
  out.st.f_bsize = r->block_size;
  out.st.f_frsize = r->block_size;
  out.st.f_blocks = r->blocks;
  out.st.f_bfree = r->blocks_free;
  out.st.f_bavail = r->blocks_avail;
  out.st.f_files = r->files;
  out.st.f_ffree = r->files_free;
  out.st.f_favail = r->files_free;
  out.st.f_namemax = r->name_max;
  return out;
}

Reply AnswerSetXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name,
                     const char* value, size_t size, int flags) {
  Status s = ctx.fs->SetXattr(c, ino, name, ByteView(reinterpret_cast<const uint8_t*>(value), size),
                              flags & XATTR_CREATE, flags & XATTR_REPLACE);
  return StatusReply(ctx, "setxattr", s, ErrnoContext::kXattr);
}

Reply AnswerGetXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name,
                     size_t size) {
  auto r = ctx.fs->GetXattr(c, ino, name);
  if (!r.ok()) return FailureReply(ctx, "getxattr", r.status(), ErrnoContext::kXattr);
  return BufferAnswer(r->data(), r->size(), size);
}

Reply AnswerListXattr(AdapterContext& ctx, const Caller& c, NodeId ino, size_t size) {
  auto r = ctx.fs->ListXattr(c, ino);
  if (!r.ok()) return FailureReply(ctx, "listxattr", r.status());
  std::string buf;
  for (const std::string& n : *r) buf.append(n).push_back('\0');
  return BufferAnswer(buf.data(), buf.size(), size);
}

Reply AnswerRemoveXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name) {
  return StatusReply(ctx, "removexattr", ctx.fs->RemoveXattr(c, ino, name), ErrnoContext::kXattr);
}

Reply AnswerAccess(AdapterContext& ctx, const Caller& c, NodeId ino, int mask) {
  return StatusReply(ctx, "access", ctx.fs->Access(c, ino, mask & R_OK, mask & W_OK, mask & X_OK));
}

namespace {

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup",
        [&] { Send(req, AnswerLookup(*ContextOf(req), CallerOf(req), parent, name)); });
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Guard(req, "forget", [&] {
    ContextOf(req)->fs->Forget(ino, nlookup);
    Send(req, NoReply{});
  });
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  Guard(req, "forget_multi", [&] {
    vfs::FileSystem* fs = ContextOf(req)->fs;
    for (size_t i = 0; i < count; ++i) fs->Forget(forgets[i].ino, forgets[i].nlookup);
    Send(req, NoReply{});
  });
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, "getattr", [&] { Send(req, AnswerGetAttr(*ContextOf(req), CallerOf(req), ino)); });
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Guard(req, "setattr", [&] {
    AdapterContext* ctx = ContextOf(req);  // req (and what it points to) is gone once answered
    const vfs::SetAttrRequest r = SetAttrRequestOf(*attr, to_set);
    Reply reply = AnswerSetAttr(*ctx, CallerOf(req), ino, r);
    const auto* out = std::get_if<AttrReply>(&reply);
    const bool directory = out && S_ISDIR(out->attr.st_mode);
    Send(req, std::move(reply));
    // Names below a directory whose mode or owner changed were looked up under the old search
    // permission; on a shared mount the kernel must not keep serving them to other users.
    const bool ownership = r.set_mode || r.set_uid || r.set_gid;
    if (ownership && directory && ctx->invalidate_later) {
      if (auto entry = ctx->fs->EntryNameOf(ino))
        ctx->invalidate_later(entry->first, entry->second);
    }
  });
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, "readlink", [&] { Send(req, AnswerReadLink(*ContextOf(req), CallerOf(req), ino)); });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, "mkdir",
        [&] { Send(req, AnswerMkdir(*ContextOf(req), CallerOf(req), parent, name, mode)); });
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, "mknod",
        [&] { Send(req, AnswerMknod(*ContextOf(req), CallerOf(req), parent, name, mode, rdev)); });
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, "symlink",
        [&] { Send(req, AnswerSymlink(*ContextOf(req), CallerOf(req), link, parent, name)); });
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, "link",
        [&] { Send(req, AnswerLink(*ContextOf(req), CallerOf(req), ino, newparent, newname)); });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "unlink",
        [&] { Send(req, AnswerUnlink(*ContextOf(req), CallerOf(req), parent, name)); });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "rmdir",
        [&] { Send(req, AnswerRmdir(*ContextOf(req), CallerOf(req), parent, name)); });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
            const char* newname, unsigned int flags) {
  Guard(req, "rename", [&] {
    AdapterContext* ctx = ContextOf(req);  // req (and what it points to) is gone once answered
    const std::string moved_to = newname;
    Reply reply = AnswerRename(*ctx, CallerOf(req), parent, name, newparent, newname, flags);
    const bool ok = ErrorOf(reply) == 0;
    Send(req, std::move(reply));
    // The kernel moves the cached entry, with the time it may still be used, to the new name; on a
    // shared mount that name may be one whose visibility differs between callers (and so must not
    // be cached), and so may the names below a moved directory.
    if (ok && ctx->invalidate_later) ctx->invalidate_later(newparent, moved_to);
  });
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] { Send(req, AnswerStatFs(*ContextOf(req), CallerOf(req))); });
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  Guard(req, "setxattr", [&] {
    Send(req, AnswerSetXattr(*ContextOf(req), CallerOf(req), ino, name, value, size, flags));
  });
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, "getxattr",
        [&] { Send(req, AnswerGetXattr(*ContextOf(req), CallerOf(req), ino, name, size)); });
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, "listxattr",
        [&] { Send(req, AnswerListXattr(*ContextOf(req), CallerOf(req), ino, size)); });
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Guard(req, "removexattr",
        [&] { Send(req, AnswerRemoveXattr(*ContextOf(req), CallerOf(req), ino, name)); });
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  Guard(req, "access", [&] { Send(req, AnswerAccess(*ContextOf(req), CallerOf(req), ino, mask)); });
}

}  // namespace

void AddNodeOps(fuse_lowlevel_ops* ops) {
  ops->lookup = Lookup;
  ops->forget = Forget;
  ops->forget_multi = ForgetMulti;
  ops->getattr = GetAttr;
  ops->setattr = SetAttr;
  ops->readlink = ReadLink;
  ops->mknod = Mknod;
  ops->mkdir = Mkdir;
  ops->symlink = Symlink;
  ops->link = Link;
  ops->unlink = Unlink;
  ops->rmdir = Rmdir;
  ops->rename = Rename;
  ops->statfs = StatFs;
  ops->setxattr = SetXattr;
  ops->getxattr = GetXattr;
  ops->listxattr = ListXattr;
  ops->removexattr = RemoveXattr;
  ops->access = Access;
}

}  // namespace weightfs::fuse
