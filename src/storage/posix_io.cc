#include "storage/posix_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <random>

#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

Status UniqueFd::Close(const std::string& path) {
  if (fd_ < 0) return Status::Ok();
  // close(2) must not be retried on EINTR on Linux: the descriptor is already released.
  int rc = ::close(Release());
  if (rc != 0 && errno != EINTR) return ErrnoStatus(errno, "closing " + path);
  return Status::Ok();
}

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "opening " + path);
  return UniqueFd(fd);
}

Status WriteAll(int fd, ByteView data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing " + path);
    }
    // write(2) returning 0 for a non-empty buffer would loop forever; treat it as a full disk,
    // which is the only case where a regular file does this.
    if (n == 0) return ErrnoStatus(ENOSPC, "writing " + path);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteMostlyDirect(int fd, ByteView data, bool try_direct, const std::string& path) {
  // A smaller file is written through the page cache: O_DIRECT's synchronous device write
  // would cost more than the copy it saves.
  constexpr size_t kMinDirectWrite = 64 << 10;
  size_t bulk = 0;
  if (try_direct && reinterpret_cast<uintptr_t>(data.data()) % kReadAlignment == 0) {
    bulk = data.size() / kReadAlignment * kReadAlignment;
  }
  const int flags = bulk >= kMinDirectWrite ? ::fcntl(fd, F_GETFL) : -1;
  if (flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) {
    Status s = WriteAll(fd, data.first(bulk), path);
    const bool refused = s.code() == Code::kInvalidArgument;  // e.g. larger device blocks
    if (::fcntl(fd, F_SETFL, flags) != 0) return ErrnoStatus(errno, "writing " + path);
    if (s.ok()) {
      data = data.subspan(bulk);
    } else if (!refused) {
      return s;
    } else if (::lseek(fd, 0, SEEK_SET) != 0) {  // rewrite it all, buffered
      return ErrnoStatus(errno, "writing " + path);
    }
  }
  return WriteAll(fd, data, path);
}

Result<size_t> PreadInto(int buffered_fd, int direct_fd, uint64_t offset, std::span<uint8_t> dest,
                         const std::string& path) {
  // An aligned read bypasses the page cache: the data path keeps the plaintext it decrypts, and
  // a second (ciphertext) copy in the kernel would cost a copy per read and memory besides.
  const bool aligned = offset % kReadAlignment == 0 && dest.size() % kReadAlignment == 0 &&
                       reinterpret_cast<uintptr_t>(dest.data()) % kReadAlignment == 0;
  int fd = direct_fd >= 0 && aligned ? direct_fd : buffered_fd;
  size_t done = 0;
  while (done < dest.size()) {
    ssize_t n =
        ::pread(fd, dest.data() + done, dest.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && fd != buffered_fd) {
        fd = buffered_fd;  // a device with larger blocks than kReadAlignment
        continue;
      }
      return ErrnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;  // end of the file
    done += static_cast<size_t>(n);
    if (fd != buffered_fd && done < dest.size()) {
      // A direct read that stops short off a block boundary stopped at the file's end (a
      // second read would only say so); one that stopped on a boundary continues buffered.
      if ((offset + done) % kReadAlignment != 0) break;
      fd = buffered_fd;
    }
  }
  return done;
}

Result<Bytes> PreadRange(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  // Size the buffer from the file so a huge len on a small object does not allocate len bytes.
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "reading " + path);
  const auto size = static_cast<uint64_t>(st.st_size);
  uint64_t avail = offset >= size ? 0 : size - offset;
  Bytes out(std::min(len, avail));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;  // the file shrank under us; return what exists
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Result<Bytes> ReadToEnd(int fd, const std::string& path) {
  Bytes out;
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "reading " + path);
  out.resize(static_cast<size_t>(st.st_size) + 1);  // +1 to see EOF without a second resize
  size_t done = 0;
  for (;;) {
    if (done == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Status Fsync(int fd, const std::string& path) {
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoStatus(errno, "syncing " + path);
  return Status::Ok();
}

Status FsyncPath(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  RETURN_IF_ERROR(Fsync(fd.get(), path));
  return fd.Close(path);
}

std::string TempFileName() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  // A forked child inherits the generator's state; mixing in the pid keeps its names apart.
  uint64_t r = rng() ^ (static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull);
  char buf[32];
  std::snprintf(buf, sizeof(buf), ".~tmp-%016llx", static_cast<unsigned long long>(r));
  return buf;
}

}  // namespace weightfs::storage
