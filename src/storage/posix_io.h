// Small POSIX file helpers for the local object store: an owning file descriptor and EINTR-safe
// whole-buffer reads and writes that turn errno into a Status naming the path. Every descriptor
// is opened with O_CLOEXEC. Free functions are thread-safe; a UniqueFd is thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::storage {

// Owns one file descriptor. Close() reports the close(2) error (for files that were written,
// where a late error such as ENOSPC on NFS can surface); the destructor closes silently.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  // `path` names the file in the error message.
  Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added and EINTR retried. On failure the Status says "opening <path>".
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0);

// Writes all of data at the current offset; "writing <path>: <strerror>" on failure.
Status WriteAll(int fd, ByteView data, const std::string& path);

// Writes a new file's bytes to fd (a fresh file, at offset 0): the page-aligned bulk with
// O_DIRECT when data's buffer is page-aligned, try_direct is set and the filesystem takes it,
// the rest buffered. A file written once and read back (if at all) with O_DIRECT gains nothing
// from the page cache, and a buffered write copies every byte into pages the kernel must first
// allocate and zero, only to write them out later.
Status WriteMostlyDirect(int fd, ByteView data, bool try_direct, const std::string& path);

// Reads up to len bytes at offset with pread, looping over short reads; stops early only at end
// of file.
Result<Bytes> PreadRange(int fd, uint64_t offset, uint64_t len, const std::string& path);

// Reads up to dest.size() bytes at offset into dest, looping over short reads; stops early only
// at end of file. Returns the bytes read. direct_fd (or -1) is the same file opened with
// O_DIRECT: used when offset, size and buffer are multiples of kReadAlignment, falling back to
// buffered_fd where the device refuses (larger blocks) and for a tail past a block boundary.
Result<size_t> PreadInto(int buffered_fd, int direct_fd, uint64_t offset, std::span<uint8_t> dest,
                         const std::string& path);

// Reads a whole file from offset 0 until end of file.
Result<Bytes> ReadToEnd(int fd, const std::string& path);

// fsync(2) on fd; "syncing <path>: ..." on failure.
Status Fsync(int fd, const std::string& path);

// Opens path (a file or a directory) read-only and fsyncs it.
Status FsyncPath(const std::string& path);

// A file name no valid store name can equal (it contains '~'), unique with high probability:
// ".~tmp-<16 hex digits>".
std::string TempFileName();

}  // namespace weightfs::storage
