// What a FUSE request is answered with, as a value: the adapter's callbacks compute one from the
// VFS's result (without the libfuse request, so tests can look at it) and Send passes it to the
// matching fuse_reply_* call, exactly once. A read's reply keeps the decrypted buffers it points
// into (IovReply), so the data is sent from them without a copy.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "weightfs/core/pieces.h"
#include "weightfs/vfs/types.h"

namespace weightfs::fuse {

struct ErrorReply {  // fuse_reply_err; error 0 is success without data
  int error = 0;
};
struct NoReply {};  // forget: the kernel expects no answer
struct EntryReply {
  fuse_entry_param entry;
};
struct AttrReply {
  struct stat attr;
  double timeout = 0;
};
struct OpenReply {  // sets the file info's handle and cache flags
  uint64_t handle = 0;
  bool keep_cache = false;
};
struct CreateReply {
  fuse_entry_param entry;
  OpenReply open;
};
struct BufferReply {  // readdir listings, xattr values and names
  std::vector<char> data;
};
struct XattrSizeReply {  // the size a get/list xattr would need (asked with size 0)
  size_t size = 0;
};
struct WriteReply {
  size_t count = 0;
};
struct LseekReply {
  off_t offset = 0;
};
struct ReadlinkReply {
  std::string target;
};
struct StatfsReply {
  struct statvfs st;
};
struct IovReply {  // read: views of the decrypted chunks, owned by the list
  PieceList pieces;
};

using Reply =
    std::variant<ErrorReply, NoReply, EntryReply, AttrReply, OpenReply, CreateReply, BufferReply,
                 XattrSizeReply, WriteReply, LseekReply, ReadlinkReply, StatfsReply, IovReply>;

// Sends reply (fi: the request's file info, for open and create). Returns fuse_reply_*'s result:
// non-zero when the kernel did not take it (the caller was interrupted), which an open must undo.
int Send(fuse_req_t req, Reply reply, fuse_file_info* fi = nullptr);

// The error a reply carries (0 for any other kind of reply).
inline int ErrorOf(const Reply& reply) {
  const ErrorReply* e = std::get_if<ErrorReply>(&reply);
  return e ? e->error : 0;
}

// Conversions from the VFS's types to the kernel's.
void FillStat(const vfs::Attr& attr, struct stat* st);
void FillEntry(const vfs::EntryOut& in, fuse_entry_param* out);
// S_IFREG, S_IFDIR, ... for a node type, and back (nullopt: a type weightfs does not know).
mode_t FileTypeBits(vfs::NodeType type);
std::optional<vfs::NodeType> NodeTypeOfMode(mode_t mode);
EntryReply EntryReplyOf(const vfs::EntryOut& entry);
AttrReply AttrReplyOf(const vfs::Attr& attr, double timeout);

}  // namespace weightfs::fuse
