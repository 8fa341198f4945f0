// ErrnoFor: the errno of every status code, the xattr context's ENODATA, and the protocol's own
// answers (ENXIO, ERANGE, EIO).
#include "fuse/errno_map.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace weightfs::fuse {
namespace {

const std::vector<std::pair<Code, int>>& EveryCode() {
  static const std::vector<std::pair<Code, int>> codes = {
      {Code::kOk, 0},
      {Code::kNotFound, ENOENT},
      {Code::kAlreadyExists, EEXIST},
      {Code::kNotDirectory, ENOTDIR},
      {Code::kIsDirectory, EISDIR},
      {Code::kNotEmpty, ENOTEMPTY},
      {Code::kInvalidArgument, EINVAL},
      {Code::kPermissionDenied, EACCES},
      {Code::kReadOnly, EROFS},
      {Code::kNoSpace, ENOSPC},
      {Code::kCorruption, EIO},
      {Code::kIoError, EIO},
      {Code::kUnsupported, EOPNOTSUPP},
      {Code::kConflict, EIO},
      {Code::kBusy, EBUSY},
      {Code::kWrongKey, EACCES},
      {Code::kNameTooLong, ENAMETOOLONG},
      {Code::kNotPermitted, EPERM},
      {Code::kInternal, EIO},
  };
  return codes;
}

Status StatusWith(Code code) {
  switch (code) {
    case Code::kOk:
      return Status::Ok();
    case Code::kNotFound:
      return NotFound("x");
    case Code::kAlreadyExists:
      return AlreadyExists("x");
    case Code::kNotDirectory:
      return NotDirectory("x");
    case Code::kIsDirectory:
      return IsDirectory("x");
    case Code::kNotEmpty:
      return NotEmpty("x");
    case Code::kInvalidArgument:
      return InvalidArgument("x");
    case Code::kPermissionDenied:
      return PermissionDenied("x");
    case Code::kReadOnly:
      return ReadOnly("x");
    case Code::kNoSpace:
      return NoSpace("x");
    case Code::kCorruption:
      return Corruption("x");
    case Code::kIoError:
      return IoError("x");
    case Code::kUnsupported:
      return Unsupported("x");
    case Code::kConflict:
      return Conflict("x");
    case Code::kBusy:
      return Busy("x");
    case Code::kWrongKey:
      return WrongKey("x");
    case Code::kNameTooLong:
      return NameTooLong("x");
    case Code::kNotPermitted:
      return NotPermitted("x");
    case Code::kInternal:
      return Internal("x");
  }
  return Internal("unknown code");
}

TEST(ErrnoForTest, EveryCodeHasItsErrno) {
  for (const auto& [code, want] : EveryCode()) {
    const Status s = StatusWith(code);
    ASSERT_EQ(s.code(), code) << CodeName(code);
    EXPECT_EQ(ErrnoFor(s), want) << CodeName(code);
  }
}

TEST(ErrnoForTest, XattrContextAnswersNotFoundWithEnodata) {
  for (const auto& [code, want] : EveryCode()) {
    const int got = ErrnoFor(StatusWith(code), ErrnoContext::kXattr);
    EXPECT_EQ(got, code == Code::kNotFound ? ENODATA : want) << CodeName(code);
  }
}

TEST(ErrnoForTest, ProtocolAnswers) {
  EXPECT_EQ(ErrnoFor(ReplyCondition::kNoDataOrHole), ENXIO);
  EXPECT_EQ(ErrnoFor(ReplyCondition::kBufferTooSmall), ERANGE);
  EXPECT_EQ(ErrnoFor(ReplyCondition::kUnexpectedException), EIO);
}

}  // namespace
}  // namespace weightfs::fuse
