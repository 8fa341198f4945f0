// Directory operations: opendir, readdir, readdirplus, releasedir, fsyncdir.
#include <vector>

#include "fuse/adapter.h"

namespace weightfs::fuse {
namespace {

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    auto r = Fs(req).OpenDir(CallerOf(req), ino);
    if (Failed(req, r)) return;
    fi->fh = *r;
    if (fuse_reply_open(req, fi) != 0) Fs(req).ReleaseDir(ino, *r).IgnoreError();
  });
}

void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  // At most as many entries as fit in size with one-character names (a dirent takes at least 32
  // bytes, a direntplus 160): enough to fill the buffer, without building the whole rest each time.
  const size_t max_entries = size / (plus ? 160 : 32) + 1;
  auto r =
      Fs(req).ReadDir(HandleCallerOf(req), ino, fi->fh, static_cast<uint64_t>(off), max_entries);
  if (Failed(req, r)) return;
  std::vector<char> buf(size);
  size_t used = 0;
  for (const vfs::DirEntry& d : *r) {
    const bool dot = d.name == "." || d.name == "..";
    size_t n;
    if (plus) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      vfs::EntryOut out;
      if (!dot) {
        // Each entry returned by readdirplus counts as a lookup.
        auto looked = Fs(req).Lookup(CallerOf(req), ino, d.name);
        if (!looked.ok()) continue;
        out = *looked;
        FillEntry(out, &e);
      } else {
        FillStat(d.attr, &e.attr);  // ino 0: the kernel takes no reference for . and ..
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                 static_cast<off_t>(d.next_offset));
      if (n > size - used) {
        if (!dot) Fs(req).Forget(out.attr.ino, 1);
        break;
      }
    } else {
      struct stat st;
      FillStat(d.attr, &st);
      n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st,
                            static_cast<off_t>(d.next_offset));
      if (n > size - used) break;
    }
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdir", [&] { ReadDirCommon(req, ino, size, off, fi, false); });
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "readdirplus", [&] { ReadDirCommon(req, ino, size, off, fi, true); });
}

void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "releasedir", [&] { ReplyStatus(req, Fs(req).ReleaseDir(ino, fi->fh)); });
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Guard(req, "fsyncdir", [&] { ReplyStatus(req, Fs(req).FsyncDir(HandleCallerOf(req), ino)); });
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
