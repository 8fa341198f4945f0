// Directory operations: opendir, readdir, readdirplus, releasedir, fsyncdir.
#include <cstring>
#include <vector>

#include "fuse/answers.h"

namespace weightfs::fuse {
namespace {

// Appends d to buf[used..] as a readdirplus entry; returns the bytes it takes (more than what is
// left: it did not fit, and the lookup it made is undone). libfuse's formatting functions do not
// use the request, so none is passed. Each entry returned counts as a lookup.
size_t AddDirEntryPlus(AdapterContext& ctx, const Caller& lookup_caller, NodeId dir,
                       const vfs::DirEntry& d, std::vector<char>* buf, size_t used, bool* skip) {
  const bool dot = d.name == "." || d.name == "..";
  fuse_entry_param e;
  std::memset(&e, 0, sizeof(e));
  vfs::EntryOut out;
  if (!dot) {
    auto looked = ctx.fs->Lookup(lookup_caller, dir, d.name);
    if (!looked.ok()) {
      *skip = true;
      return 0;
    }
    out = *looked;
    FillEntry(out, &e);
  } else {
    FillStat(d.attr, &e.attr);  // ino 0: the kernel takes no reference for . and ..
  }
  const size_t left = buf->size() - used;
  const size_t n = fuse_add_direntry_plus(nullptr, buf->data() + used, left, d.name.c_str(), &e,
                                          static_cast<off_t>(d.next_offset));
  if (n > left && !dot) ctx.fs->Forget(out.attr.ino, 1);
  return n;
}

size_t AddDirEntry(const vfs::DirEntry& d, std::vector<char>* buf, size_t used) {
  struct stat st;
  FillStat(d.attr, &st);
  return fuse_add_direntry(nullptr, buf->data() + used, buf->size() - used, d.name.c_str(), &st,
                           static_cast<off_t>(d.next_offset));
}

}  // namespace

Reply AnswerOpenDir(AdapterContext& ctx, const Caller& c, NodeId ino) {
  auto r = ctx.fs->OpenDir(c, ino);
  if (!r.ok()) return FailureReply(ctx, "opendir", r.status());
  return OpenReply{*r, false};
}

Reply AnswerReadDir(AdapterContext& ctx, const Caller& c, const Caller& lookup_caller, NodeId ino,
                    uint64_t handle, size_t size, off_t offset, bool plus) {
  // At most as many entries as fit in size with one-character names (a dirent takes at least 32
  // bytes, a direntplus 160): enough to fill the buffer, without building the whole rest each time.
  const size_t max_entries = size / (plus ? 160 : 32) + 1;
  auto r = ctx.fs->ReadDir(c, ino, handle, static_cast<uint64_t>(offset), max_entries);
  if (!r.ok()) return FailureReply(ctx, plus ? "readdirplus" : "readdir", r.status());
  BufferReply out;
  out.data.resize(size);
  size_t used = 0;
  for (const vfs::DirEntry& d : *r) {
    bool skip = false;
    const size_t n = plus ? AddDirEntryPlus(ctx, lookup_caller, ino, d, &out.data, used, &skip)
                          : AddDirEntry(d, &out.data, used);
    if (skip) continue;
    if (n > size - used) break;
    used += n;
  }
  out.data.resize(used);
  return out;
}

Reply AnswerReleaseDir(AdapterContext& ctx, NodeId ino, uint64_t handle) {
  return StatusReply(ctx, "releasedir", ctx.fs->ReleaseDir(ino, handle));
}

Reply AnswerFsyncDir(AdapterContext& ctx, const Caller& c, NodeId ino) {
  return StatusReply(ctx, "fsyncdir", ctx.fs->FsyncDir(c, ino));
}

namespace {

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    AdapterContext* ctx = ContextOf(req);
    Reply reply = AnswerOpenDir(*ctx, CallerOf(req), ino);
    const auto* opened = std::get_if<OpenReply>(&reply);
    const uint64_t handle = opened ? opened->handle : 0;
    if (Send(req, std::move(reply), fi) != 0 && opened)
      ctx->fs->ReleaseDir(ino, handle).IgnoreError();
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdir", [&] {
    const Caller c = HandleCallerOf(req);
    Send(req, AnswerReadDir(*ContextOf(req), c, c, ino, fi->fh, size, off, false));
  });
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdirplus", [&] {
    Send(req, AnswerReadDir(*ContextOf(req), HandleCallerOf(req), CallerOf(req), ino, fi->fh, size,
                            off, true));
  });
}

void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "releasedir", [&] { Send(req, AnswerReleaseDir(*ContextOf(req), ino, fi->fh)); });
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Guard(req, "fsyncdir",
        [&] { Send(req, AnswerFsyncDir(*ContextOf(req), HandleCallerOf(req), ino)); });
}

}  // namespace

void AddDirOps(fuse_lowlevel_ops* ops) {
  ops->opendir = OpenDir;
  ops->readdir = ReadDir;
  ops->readdirplus = ReadDirPlus;
  ops->releasedir = ReleaseDir;
  ops->fsyncdir = FsyncDir;
}

}  // namespace weightfs::fuse
