// The adapter's requests, each as a function from the request's arguments to its reply: one
// vfs::FileSystem call and the conversion of its result. No libfuse request is involved, so tests
// call these with a FileSystem over an in-memory repository; the callbacks in ops_*.cc only build
// the Caller, call one of these and send the reply.
#pragma once

#include <sys/stat.h>

#include <string>

#include "fuse/adapter.h"
#include "fuse/reply.h"
#include "weightfs/vfs/filesystem.h"
#include "weightfs/vfs/types.h"

namespace weightfs::fuse {

using vfs::Caller;
using vfs::NodeId;

// Node operations (ops_node.cc).
Reply AnswerLookup(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name);
Reply AnswerGetAttr(AdapterContext& ctx, const Caller& c, NodeId ino);
// The VFS request for setattr's to_set bits (FUSE_SET_ATTR_*) and values.
vfs::SetAttrRequest SetAttrRequestOf(const struct stat& attr, int to_set);
Reply AnswerSetAttr(AdapterContext& ctx, const Caller& c, NodeId ino,
                    const vfs::SetAttrRequest& request);
Reply AnswerReadLink(AdapterContext& ctx, const Caller& c, NodeId ino);
Reply AnswerMkdir(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                  mode_t mode);
Reply AnswerMknod(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                  mode_t mode, dev_t rdev);
Reply AnswerSymlink(AdapterContext& ctx, const Caller& c, const char* link, NodeId parent,
                    const char* name);
Reply AnswerLink(AdapterContext& ctx, const Caller& c, NodeId ino, NodeId new_parent,
                 const char* new_name);
Reply AnswerUnlink(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name);
Reply AnswerRmdir(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name);
// flags: rename(2)'s RENAME_* bits.
Reply AnswerRename(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                   NodeId new_parent, const char* new_name, unsigned int flags);
Reply AnswerStatFs(AdapterContext& ctx, const Caller& c);
// flags: XATTR_CREATE, XATTR_REPLACE.
Reply AnswerSetXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name,
                     const char* value, size_t size, int flags);
// size: the caller's buffer (0: asks for the size needed).
Reply AnswerGetXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name,
                     size_t size);
Reply AnswerListXattr(AdapterContext& ctx, const Caller& c, NodeId ino, size_t size);
Reply AnswerRemoveXattr(AdapterContext& ctx, const Caller& c, NodeId ino, const char* name);
// mask: access(2)'s R_OK, W_OK, X_OK bits.
Reply AnswerAccess(AdapterContext& ctx, const Caller& c, NodeId ino, int mask);

// File operations (ops_file.cc); flags are open(2)'s.
Reply AnswerCreate(AdapterContext& ctx, const Caller& c, NodeId parent, const char* name,
                   mode_t mode, int flags);
Reply AnswerOpen(AdapterContext& ctx, const Caller& c, NodeId ino, int flags);
Reply AnswerRead(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle, size_t size,
                 off_t offset);
Reply AnswerWrite(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle,
                  const char* data, size_t size, off_t offset);
Reply AnswerFlush(AdapterContext& ctx, const Caller& c, NodeId ino, uint64_t handle);
Reply AnswerRelease(AdapterContext& ctx, NodeId ino, uint64_t handle);
Reply AnswerFsync(AdapterContext& ctx, const Caller& c, NodeId ino);
// mode: fallocate(2)'s FALLOC_FL_* bits (only 0 is supported).
Reply AnswerFallocate(AdapterContext& ctx, const Caller& c, NodeId ino, int mode, off_t offset,
                      off_t length);
// whence: SEEK_DATA or SEEK_HOLE (the kernel answers the others itself).
Reply AnswerLseek(AdapterContext& ctx, const Caller& c, NodeId ino, off_t offset, int whence);

// Directory operations (ops_dir.cc).
Reply AnswerOpenDir(AdapterContext& ctx, const Caller& c, NodeId ino);
// A listing of at most size bytes from offset on. lookup_caller: whom readdirplus's lookups are
// decided for (each entry it returns counts as a lookup).
Reply AnswerReadDir(AdapterContext& ctx, const Caller& c, const Caller& lookup_caller, NodeId ino,
                    uint64_t handle, size_t size, off_t offset, bool plus);
Reply AnswerReleaseDir(AdapterContext& ctx, NodeId ino, uint64_t handle);
Reply AnswerFsyncDir(AdapterContext& ctx, const Caller& c, NodeId ino);

}  // namespace weightfs::fuse
