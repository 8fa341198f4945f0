// File operations: create, open, read, write, flush, release, fsync, fallocate.
#include <fcntl.h>
#include <sys/uio.h>

#include <vector>

#include "fuse/adapter.h"

namespace weightfs::fuse {
namespace {

void SetOpenFlags(const vfs::OpenOut& out, fuse_file_info* fi) {
  fi->fh = out.handle;
  fi->keep_cache = out.keep_cache;
  fi->direct_io = 0;  // shared mmap must work (safetensors, llama.cpp)
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Guard(req, "create", [&] {
    auto r = Fs(req).Create(CallerOf(req), parent, name, mode, fi->flags & O_EXCL,
                            (fi->flags & O_ACCMODE) != O_WRONLY);
    if (Failed(req, r)) return;
    fuse_entry_param e;
    FillEntry(r->first, &e);
    SetOpenFlags(r->second, fi);
    if (fuse_reply_create(req, &e, fi) != 0) {
      // The kernel did not take the reply (the caller was interrupted): undo the open.
      Fs(req).Release(r->first.attr.ino, r->second.handle).IgnoreError();
      Fs(req).Forget(r->first.attr.ino, 1);
    }
  });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "open", [&] {
    const int acc = fi->flags & O_ACCMODE;
    const bool write = acc == O_WRONLY || acc == O_RDWR;
    if (write && ContextOf(req)->read_only) return (void)fuse_reply_err(req, EROFS);
    auto r = Fs(req).Open(CallerOf(req), ino, write, fi->flags & O_TRUNC, acc != O_WRONLY);
    if (Failed(req, r)) return;
    SetOpenFlags(*r, fi);
    if (fuse_reply_open(req, fi) != 0) Fs(req).Release(ino, r->handle).IgnoreError();
  });
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "read", [&] {
    PieceList pieces;
    Status s =
        Fs(req).Read(HandleCallerOf(req), ino, fi->fh, static_cast<uint64_t>(off), size, &pieces);
    if (!s.ok()) return ReplyStatus(req, s);
    // Sent straight from the buffers the chunks were decrypted into (one writev).
    std::vector<iovec> iov;
    iov.reserve(pieces.pieces().size());
    for (ByteView p : pieces.pieces())
      iov.push_back(iovec{const_cast<uint8_t*>(p.data()), p.size()});
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  Guard(req, "write", [&] {
    auto r = Fs(req).Write(HandleCallerOf(req), ino, fi->fh, static_cast<uint64_t>(off),
                           ByteView(reinterpret_cast<const uint8_t*>(buf), size));
    if (Failed(req, r)) return;
    fuse_reply_write(req, *r);
  });
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "flush", [&] { ReplyStatus(req, Fs(req).Flush(HandleCallerOf(req), ino, fi->fh)); });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "release", [&] { ReplyStatus(req, Fs(req).Release(ino, fi->fh)); });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Guard(req, "fsync", [&] { ReplyStatus(req, Fs(req).Fsync(HandleCallerOf(req), ino)); });
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
               fuse_file_info*) {
  Guard(req, "fallocate", [&] {
    if (mode != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
    if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
    ReplyStatus(req, Fs(req).Fallocate(HandleCallerOf(req), ino, static_cast<uint64_t>(offset),
                                       static_cast<uint64_t>(length)));
  });
}

// The kernel answers SEEK_SET/CUR/END itself; SEEK_DATA and SEEK_HOLE come here (without this
// op the kernel would treat the whole file as data).
void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) {
  Guard(req, "lseek", [&] {
    if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0)
      return (void)fuse_reply_err(req, EINVAL);
    auto r = Fs(req).SeekDataOrHole(HandleCallerOf(req), ino, static_cast<uint64_t>(off),
                                    whence == SEEK_HOLE);
    if (Failed(req, r)) return;
    if (!*r) return (void)fuse_reply_err(req, ENXIO);
    fuse_reply_lseek(req, static_cast<off_t>(**r));
  });
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
