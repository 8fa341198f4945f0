// The one place the FUSE adapter chooses errnos: from a VFS Status (with the request's context
// where POSIX names the same failure differently), or for the few answers of the protocol itself
// that are no failure of the file system.
#pragma once

#include "weightfs/core/status.h"

namespace weightfs::fuse {

// Where a Status is reported, when that changes its errno.
enum class ErrnoContext {
  kDefault,
  kXattr,  // get/set/remove xattr: kNotFound is ENODATA (no such attribute, or no such node)
};

// The errno a request answers for status (0 for OK). Corruption, authentication failures,
// conflicts and internal errors are EIO.
int ErrnoFor(const Status& status, ErrnoContext context = ErrnoContext::kDefault);

// Answers of the protocol that no Status describes.
enum class ReplyCondition {
  kNoDataOrHole,        // lseek SEEK_DATA/SEEK_HOLE found nothing at or after the offset: ENXIO
  kBufferTooSmall,      // getxattr/listxattr's value is larger than the caller's buffer: ERANGE
  kUnexpectedException  // a callback threw (a bug): EIO
};
int ErrnoFor(ReplyCondition condition);

}  // namespace weightfs::fuse
