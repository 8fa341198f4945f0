// Node operations: lookup, attributes, links, namespace changes, xattrs, statfs.
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "fuse/adapter.h"
#include "weightfs/core/clock.h"

namespace weightfs::fuse {
namespace {

void ReplyEntry(fuse_req_t req, const Result<vfs::EntryOut>& r) {
  if (Failed(req, r)) return;
  fuse_entry_param e;
  FillEntry(*r, &e);
  fuse_reply_entry(req, &e);
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup", [&] { ReplyEntry(req, Fs(req).Lookup(CallerOf(req), parent, name)); });
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Guard(req, "forget", [&] {
    Fs(req).Forget(ino, nlookup);
    fuse_reply_none(req);
  });
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  Guard(req, "forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  });
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, "getattr", [&] {
    double timeout = 0;
    auto r = Fs(req).GetAttr(CallerOf(req), ino, &timeout);
    if (Failed(req, r)) return;
    struct stat st;
    FillStat(*r, &st);
    fuse_reply_attr(req, &st, timeout);
  });
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Guard(req, "setattr", [&] {
    vfs::SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) r.set_mode = true, r.mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_SIZE)
      r.set_size = true, r.size = static_cast<uint64_t>(attr->st_size);
    if (to_set & FUSE_SET_ATTR_UID) r.set_uid = true, r.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) r.set_gid = true, r.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_MTIME) r.set_mtime = true, r.mtime_ns = ToNs(attr->st_mtim);
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.set_mtime = true, r.mtime_ns = NowNs();
    if (to_set & FUSE_SET_ATTR_ATIME) r.set_atime = true, r.atime_ns = ToNs(attr->st_atim);
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.set_atime = true, r.atime_ns = NowNs();
    // Explicit times need the owner; "now" also write permission (utimensat(2)).
    const bool explicit_mtime =
        (to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW);
    const bool explicit_atime =
        (to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW);
    r.times_now = !explicit_mtime && !explicit_atime;
    double timeout = 0;
    AdapterContext* ctx = ContextOf(req);
    auto out = ctx->fs->SetAttr(CallerOf(req), ino, r, &timeout);
    if (Failed(req, out)) return;
    struct stat st;
    FillStat(*out, &st);
    fuse_reply_attr(req, &st, timeout);
    // Names below a directory whose mode or owner changed were looked up under the old search
    // permission; on a shared mount the kernel must not keep serving them to other users.
    const bool ownership = r.set_mode || r.set_uid || r.set_gid;
    if (ownership && out->type == vfs::NodeType::kDirectory && ctx->invalidate_later) {
      if (auto entry = ctx->fs->EntryNameOf(ino))
        ctx->invalidate_later(entry->first, entry->second);
    }
  });
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, "readlink", [&] {
    auto r = Fs(req).ReadLink(CallerOf(req), ino);
    if (Failed(req, r)) return;
    fuse_reply_readlink(req, r->c_str());
  });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, "mkdir", [&] { ReplyEntry(req, Fs(req).Mkdir(CallerOf(req), parent, name, mode)); });
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, "mknod", [&] {
    const std::optional<vfs::NodeType> type = NodeTypeOfMode(mode);
    if (!type) return (void)fuse_reply_err(req, EINVAL);
    if (*type != vfs::NodeType::kFile) {
      return ReplyEntry(req, Fs(req).Mknod(CallerOf(req), parent, name, *type, mode & 07777, rdev));
    }
    auto r = Fs(req).Create(CallerOf(req), parent, name, mode, true);
    if (Failed(req, r)) return;
    Status s = Fs(req).Flush(CallerOf(req), r->first.attr.ino, 0);
    Fs(req).Release(r->first.attr.ino, 0).IgnoreError();
    if (!s.ok()) return ReplyError(req, s);
    fuse_entry_param e;
    FillEntry(r->first, &e);
    fuse_reply_entry(req, &e);
  });
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, "symlink",
        [&] { ReplyEntry(req, Fs(req).Symlink(CallerOf(req), parent, name, link)); });
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, "link",
        [&] { ReplyEntry(req, Fs(req).Link(CallerOf(req), ino, newparent, newname)); });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "unlink", [&] { ReplyStatus(req, Fs(req).Unlink(CallerOf(req), parent, name)); });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "rmdir", [&] { ReplyStatus(req, Fs(req).Rmdir(CallerOf(req), parent, name)); });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
            const char* newname, unsigned int flags) {
  Guard(req, "rename", [&] {
    uint32_t f = 0;
    if (flags & RENAME_NOREPLACE) f |= vfs::FileSystem::kRenameNoReplace;
    if (flags & ~static_cast<unsigned int>(RENAME_NOREPLACE))
      return (void)fuse_reply_err(req, EINVAL);
    AdapterContext* ctx = ContextOf(req);  // req (and what it points to) is gone once answered
    const std::string moved_to = newname;
    Status s = ctx->fs->Rename(CallerOf(req), parent, name, newparent, newname, f);
    ReplyStatus(req, s);
    // The kernel moves the cached entry, with the time it may still be used, to the new name; on a
    // shared mount that name may be one whose visibility differs between callers (and so must not
    // be cached), and so may the names below a moved directory.
    if (s.ok() && ctx->invalidate_later) ctx->invalidate_later(newparent, moved_to);
  });
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] {
    auto r = Fs(req).StatFs(CallerOf(req));
    if (Failed(req, r)) return;
    struct statvfs st;
    std::memset(&st, 0, sizeof(st));
    st.f_bsize = r->block_size;
    st.f_frsize = r->block_size;
    st.f_blocks = r->blocks;
    st.f_bfree = r->blocks_free;
    st.f_bavail = r->blocks_avail;
    st.f_files = r->files;
    st.f_ffree = r->files_free;
    st.f_favail = r->files_free;
    st.f_namemax = r->name_max;
    fuse_reply_statfs(req, &st);
  });
}

// Replies to a get/list xattr request: the size when size == 0, else the data or ERANGE.
void ReplyBuffer(fuse_req_t req, const void* data, size_t len, size_t size) {
  if (size == 0) return (void)fuse_reply_xattr(req, len);
  if (len > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, static_cast<const char*>(data), len);
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  Guard(req, "setxattr", [&] {
    Status s = Fs(req).SetXattr(CallerOf(req), ino, name,
                                ByteView(reinterpret_cast<const uint8_t*>(value), size),
                                flags & XATTR_CREATE, flags & XATTR_REPLACE);
    if (s.code() == Code::kNotFound) return (void)fuse_reply_err(req, ENODATA);
    ReplyStatus(req, s);
  });
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, "getxattr", [&] {
    auto r = Fs(req).GetXattr(CallerOf(req), ino, name);
    if (!r.ok() && r.status().code() == Code::kNotFound) return (void)fuse_reply_err(req, ENODATA);
    if (Failed(req, r)) return;
    ReplyBuffer(req, r->data(), r->size(), size);
  });
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, "listxattr", [&] {
    auto r = Fs(req).ListXattr(CallerOf(req), ino);
    if (Failed(req, r)) return;
    std::string buf;
    for (const std::string& n : *r) buf.append(n).push_back('\0');
    ReplyBuffer(req, buf.data(), buf.size(), size);
  });
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Guard(req, "removexattr", [&] {
    Status s = Fs(req).RemoveXattr(CallerOf(req), ino, name);
    if (s.code() == Code::kNotFound) return (void)fuse_reply_err(req, ENODATA);
    ReplyStatus(req, s);
  });
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  Guard(req, "access", [&] {
    ReplyStatus(req, Fs(req).Access(CallerOf(req), ino, mask & R_OK, mask & W_OK, mask & X_OK));
  });
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
