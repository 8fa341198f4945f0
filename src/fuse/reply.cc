#include "fuse/reply.h"

#include <sys/uio.h>

#include <cstring>

namespace weightfs::fuse {
namespace {

template <class... Fns>
struct Overloaded : Fns... {
  using Fns::operator()...;
};
template <class... Fns>
Overloaded(Fns...) -> Overloaded<Fns...>;

void SetOpenFlags(const OpenReply& open, fuse_file_info* fi) {
  fi->fh = open.handle;
  fi->keep_cache = open.keep_cache;
  fi->direct_io = 0;  // shared mmap must work (safetensors, llama.cpp)
}

int SendIov(fuse_req_t req, const PieceList& pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.pieces().size());
  for (ByteView p : pieces.pieces()) iov.push_back(iovec{const_cast<uint8_t*>(p.data()), p.size()});
  return fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
}

void ToTimespec(int64_t ns, struct timespec* ts) {
  ts->tv_sec = ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
  if (ts->tv_nsec < 0) {
    ts->tv_nsec += 1000000000;
    ts->tv_sec -= 1;
  }
}

}  // namespace

int Send(fuse_req_t req, Reply reply, fuse_file_info* fi) {
  return std::visit(
      Overloaded{
          [&](const ErrorReply& r) { return fuse_reply_err(req, r.error); },
          [&](const NoReply&) {
            fuse_reply_none(req);
            return 0;
          },
          [&](const EntryReply& r) { return fuse_reply_entry(req, &r.entry); },
          [&](const AttrReply& r) { return fuse_reply_attr(req, &r.attr, r.timeout); },
          [&](const OpenReply& r) {
            SetOpenFlags(r, fi);
            return fuse_reply_open(req, fi);
          },
          [&](const CreateReply& r) {
            SetOpenFlags(r.open, fi);
            return fuse_reply_create(req, &r.entry, fi);
          },
          [&](const BufferReply& r) { return fuse_reply_buf(req, r.data.data(), r.data.size()); },
          [&](const XattrSizeReply& r) { return fuse_reply_xattr(req, r.size); },
          [&](const WriteReply& r) { return fuse_reply_write(req, r.count); },
          [&](const LseekReply& r) { return fuse_reply_lseek(req, r.offset); },
          [&](const ReadlinkReply& r) { return fuse_reply_readlink(req, r.target.c_str()); },
          [&](const StatfsReply& r) { return fuse_reply_statfs(req, &r.st); },
          // Sent straight from the buffers the chunks were decrypted into (one writev).
          [&](const IovReply& r) { return SendIov(req, r.pieces); },
      },
      reply);
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

EntryReply EntryReplyOf(const vfs::EntryOut& entry) {
  EntryReply r;
  FillEntry(entry, &r.entry);
  return r;
}

AttrReply AttrReplyOf(const vfs::Attr& attr, double timeout) {
  AttrReply r;
  FillStat(attr, &r.attr);
  r.timeout = timeout;
  return r;
}

}  // namespace weightfs::fuse
