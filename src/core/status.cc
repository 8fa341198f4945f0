#include "weightfs/core/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace weightfs {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not found";
    case Code::kAlreadyExists:
      return "already exists";
    case Code::kNotDirectory:
      return "not a directory";
    case Code::kIsDirectory:
      return "is a directory";
    case Code::kNotEmpty:
      return "not empty";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kReadOnly:
      return "read-only";
    case Code::kNoSpace:
      return "no space left";
    case Code::kCorruption:
      return "corruption";
    case Code::kIoError:
      return "I/O error";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kConflict:
      return "conflict";
    case Code::kBusy:
      return "busy";
    case Code::kWrongKey:
      return "wrong key";
    case Code::kNameTooLong:
      return "name too long";
    case Code::kNotPermitted:
      return "operation not permitted";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const { return ok() ? "OK" : message_; }

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

Status ErrnoStatus(int err, const std::string& context) {
  Code code = Code::kIoError;
  switch (err) {
    case ENOENT:
      code = Code::kNotFound;
      break;
    case EEXIST:
      code = Code::kAlreadyExists;
      break;
    case ENOTDIR:
      code = Code::kNotDirectory;
      break;
    case EISDIR:
      code = Code::kIsDirectory;
      break;
    case ENOTEMPTY:
      code = Code::kNotEmpty;
      break;
    case EINVAL:
      code = Code::kInvalidArgument;
      break;
    case EACCES:
      code = Code::kPermissionDenied;
      break;
    case EPERM:
      code = Code::kNotPermitted;
      break;
    case EROFS:
      code = Code::kReadOnly;
      break;
    case ENOSPC:
    case EDQUOT:
      code = Code::kNoSpace;
      break;
    case ENAMETOOLONG:
      code = Code::kNameTooLong;
      break;
    case EBUSY:
      code = Code::kBusy;
      break;
    default:
      break;
  }
  return Status(code, context + ": " + std::strerror(err));
}

void Die(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "weightfs: internal error at %s:%d: %s\n", file, line, what.c_str());
  std::abort();
}

}  // namespace weightfs
