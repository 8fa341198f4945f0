// File operations: create, open, read, write, flush, release, fsync, fallocate, lseek.
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "fuse/answers.h"

namespace weightfs::fuse {
namespace {

OpenReply OpenReplyOf(const vfs::OpenOut& out) { return OpenReply{out.handle, out.keep_cache}; }

std::string AtOffset(off_t offset) { return "at offset " + std::to_string(offset); }

}  // namespace

Reply AnswerCreate(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                   mode_t mode, int flags) {
  auto r = ctx.fs->Create(c, parent, name, mode, flags & O_EXCL, (flags & O_ACCMODE) != O_WRONLY);
  if (!r.ok()) return FailureReply(ctx, "create", r.status());
  return CreateReply{EntryReplyOf(r->first).entry, OpenReplyOf(r->second)};
}

// A write on a read-only mount (or below .versions) is refused by the VFS (kReadOnly).
Reply AnswerOpen(AdapterContext& ctx, const Caller& c, NodeId ino, int flags) {
  const int acc = flags & O_ACCMODE;
  const bool write = acc == O_WRONLY || acc == O_RDWR;
  auto r = ctx.fs->Open(c, ino, write, flags & O_TRUNC, acc != O_WRONLY);
  if (!r.ok()) return FailureReply(ctx, "open", r.status());
  return OpenReplyOf(*r);
}

Reply AnswerRead(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle, size_t size,
                 off_t offset) {
  IovReply out;
  Status s = ctx.fs->Read(c, ino, handle, static_cast<uint64_t>(offset), size, &out.pieces);
  if (!s.ok()) return FailureReply(ctx, "read", s, ErrnoContext::kDefault, AtOffset(offset));
  return out;
}

Reply AnswerWrite(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle,
                  const char* data, size_t size, off_t offset) {
  auto r = ctx.fs->Write(c, ino, handle, static_cast<uint64_t>(offset),
                         ByteView(reinterpret_cast<const uint8_t*>(data), size));
  if (!r.ok())
    return FailureReply(ctx, "write", r.status(), ErrnoContext::kDefault, AtOffset(offset));
  return WriteReply{static_cast<size_t>(*r)};
}

Reply AnswerFlush(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle) {
  return StatusReply(ctx, "flush", ctx.fs->Flush(c, ino, handle));
}

Reply AnswerRelease(AdapterContext& ctx, NodeId ino, uint64_t handle) {
  return StatusReply(ctx, "release", ctx.fs->Release(ino, handle));
}

Reply AnswerFsync(AdapterContext& ctx, const Caller& c, NodeId ino) {
  return StatusReply(ctx, "fsync", ctx.fs->Fsync(c, ino));
}

Reply AnswerFallocate(AdapterContext& ctx, const Caller& c, NodeId ino, int mode, off_t offset,
                      off_t length) {
  if (mode != 0) return FailureReply(ctx, "fallocate", Unsupported("fallocate modes other than 0"));
  if (offset < 0 || length <= 0)
    return FailureReply(ctx, "fallocate",
                        InvalidArgument("fallocate of an empty or negative range"));
  return StatusReply(
      ctx, "fallocate",
      ctx.fs->Fallocate(c, ino, static_cast<uint64_t>(offset), static_cast<uint64_t>(length)));
}

Reply AnswerLseek(AdapterContext& ctx, const Caller& c, NodeId ino, off_t offset, int whence) {
  if ((whence != SEEK_DATA && whence != SEEK_HOLE) || offset < 0)
    return FailureReply(ctx, "lseek", InvalidArgument("lseek: only SEEK_DATA and SEEK_HOLE"));
  auto r = ctx.fs->SeekDataOrHole(c, ino, static_cast<uint64_t>(offset), whence == SEEK_HOLE);
  if (!r.ok()) return FailureReply(ctx, "lseek", r.status());
  if (!*r) return ErrorReply{ErrnoFor(ReplyCondition::kNoDataOrHole)};
  return LseekReply{static_cast<off_t>(**r)};
}

namespace {

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Guard(req, "create", [&] {
    AdapterContext* ctx = ContextOf(req);
    Reply reply = AnswerCreate(*ctx, CallerOf(req), parent, name, mode, fi->flags);
    const auto* created = std::get_if<CreateReply>(&reply);
    const NodeId ino = created ? created->entry.ino : 0;
    const uint64_t handle = created ? created->open.handle : 0;
    if (Send(req, std::move(reply), fi) != 0 && created) {
      // The kernel did not take the reply (the caller was interrupted): undo the open.
      ctx->fs->Release(ino, handle).IgnoreError();
      ctx->fs->Forget(ino, 1);
    }
  });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "open", [&] {
    AdapterContext* ctx = ContextOf(req);
    Reply reply = AnswerOpen(*ctx, CallerOf(req), ino, fi->flags);
    const auto* opened = std::get_if<OpenReply>(&reply);
    const uint64_t handle = opened ? opened->handle : 0;
    if (Send(req, std::move(reply), fi) != 0 && opened) ctx->fs->Release(ino, handle).IgnoreError();
  });
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "read", [&] {
    Send(req, AnswerRead(*ContextOf(req), HandleCallerOf(req), ino, fi->fh, size, off));
  });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  Guard(req, "write", [&] {
    Send(req, AnswerWrite(*ContextOf(req), HandleCallerOf(req), ino, fi->fh, buf, size, off));
  });
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "flush",
        [&] { Send(req, AnswerFlush(*ContextOf(req), HandleCallerOf(req), ino, fi->fh)); });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "release", [&] { Send(req, AnswerRelease(*ContextOf(req), ino, fi->fh)); });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Guard(req, "fsync", [&] { Send(req, AnswerFsync(*ContextOf(req), HandleCallerOf(req), ino)); });
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
               fuse_file_info*) {
  Guard(req, "fallocate", [&] {
    Send(req, AnswerFallocate(*ContextOf(req), HandleCallerOf(req), ino, mode, offset, length));
  });
}

// The kernel answers SEEK_SET/CUR/END itself; SEEK_DATA and SEEK_HOLE come here (without this
// op the kernel would treat the whole file as data).
void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) {
  Guard(req, "lseek",
        [&] { Send(req, AnswerLseek(*ContextOf(req), HandleCallerOf(req), ino, off, whence)); });
}

}  // namespace

void AddFileOps(fuse_lowlevel_ops* ops) {
  ops->create = Create;
  ops->open = Open;
  ops->read = Read;
  ops->write = Write;
  ops->flush = Flush;
  ops->release = Release;
  ops->fsync = Fsync;
  ops->fallocate = Fallocate;
  ops->lseek = Lseek;
}

}  // namespace weightfs::fuse
