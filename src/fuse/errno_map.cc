#include "fuse/errno_map.h"

#include <cerrno>

namespace weightfs::fuse {
namespace {

int DefaultErrnoFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return ENOENT;
    case Code::kAlreadyExists:
      return EEXIST;
    case Code::kNotDirectory:
      return ENOTDIR;
    case Code::kIsDirectory:
      return EISDIR;
    case Code::kNotEmpty:
      return ENOTEMPTY;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kPermissionDenied:
      return EACCES;
    case Code::kReadOnly:
      return EROFS;
    case Code::kNoSpace:
      return ENOSPC;
    case Code::kCorruption:
    case Code::kIoError:
      return EIO;
    case Code::kUnsupported:
      return EOPNOTSUPP;
    case Code::kConflict:
      return EIO;
    case Code::kBusy:
      return EBUSY;
    case Code::kWrongKey:
      return EACCES;
    case Code::kNameTooLong:
      return ENAMETOOLONG;
    case Code::kNotPermitted:
      return EPERM;
    case Code::kInternal:
      return EIO;
  }
  return EIO;
}

}  // namespace

int ErrnoFor(const Status& status, ErrnoContext context) {
  if (context == ErrnoContext::kXattr && status.code() == Code::kNotFound) return ENODATA;
  return DefaultErrnoFor(status.code());
}

int ErrnoFor(ReplyCondition condition) {
  switch (condition) {
    case ReplyCondition::kNoDataOrHole:
      return ENXIO;
    case ReplyCondition::kBufferTooSmall:
      return ERANGE;
    case ReplyCondition::kUnexpectedException:
      return EIO;
  }
  return EIO;
}

}  // namespace weightfs::fuse
