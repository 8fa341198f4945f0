// Status and Result<T>: how every fallible operation in weightfs reports failure.
// A Status is OK or carries a Code (what kind of failure, which decides the errno and the exit
// code) and a one-sentence message with context. Thread-compatible value types.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace weightfs {

enum class Code {
  kOk = 0,
  kNotFound,          // ENOENT
  kAlreadyExists,     // EEXIST
  kNotDirectory,      // ENOTDIR
  kIsDirectory,       // EISDIR
  kNotEmpty,          // ENOTEMPTY
  kInvalidArgument,   // EINVAL; bad input from a user
  kPermissionDenied,  // EACCES
  kNotPermitted,      // EPERM: the operation is not possible at all (e.g. changing an owner)
  kReadOnly,          // EROFS
  kNoSpace,           // ENOSPC
  kCorruption,        // EIO; authentication failed or structure broken: never "not found"
  kIoError,           // EIO; the OS failed
  kUnsupported,       // ENOTSUP / ENOSYS; also "format newer than this build"
  kConflict,          // a compare-and-swap lost a race
  kBusy,              // EBUSY; e.g. the writer lock is held
  kWrongKey,          // no key slot opens with the given passphrase or key file
  kNameTooLong,       // ENAMETOOLONG
  kInternal,          // a bug
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message" for errors, "OK" otherwise.
  std::string ToString() const;

  // Returns a copy whose message is "context: message". OK stays OK.
  Status WithContext(const std::string& context) const;

  // For call sites that deliberately drop a Status (best-effort cleanup).
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status NotDirectory(std::string m) { return {Code::kNotDirectory, std::move(m)}; }
inline Status IsDirectory(std::string m) { return {Code::kIsDirectory, std::move(m)}; }
inline Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status NotPermitted(std::string m) { return {Code::kNotPermitted, std::move(m)}; }
inline Status ReadOnly(std::string m) { return {Code::kReadOnly, std::move(m)}; }
inline Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
inline Status WrongKey(std::string m) { return {Code::kWrongKey, std::move(m)}; }
inline Status NameTooLong(std::string m) { return {Code::kNameTooLong, std::move(m)}; }

// Turns an errno value from a failed system call into a Status: "context: strerror".
Status ErrnoStatus(int err, const std::string& context);

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

#define WFS_CONCAT_INNER(a, b) a##b
#define WFS_CONCAT(a, b) WFS_CONCAT_INNER(a, b)

// lhs is a declaration ("Bytes data"), which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::weightfs::Status wfs_status_ = (expr);   \
    if (!wfs_status_.ok()) return wfs_status_; \
  } while (0)

#define WFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  WFS_ASSIGN_OR_RETURN_IMPL(WFS_CONCAT(wfs_result_, __LINE__), lhs, expr)
// NOLINTEND(bugprone-macro-parentheses)

// A broken internal invariant: log and abort.
[[noreturn]] void Die(const char* file, int line, const std::string& what);
#define WFS_CHECK(cond)                                                       \
  do {                                                                        \
    if (!(cond)) ::weightfs::Die(__FILE__, __LINE__, "check failed: " #cond); \
  } while (0)

}  // namespace weightfs
