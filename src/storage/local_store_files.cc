// LocalStore: small named files (config, keys, refs, locks). Every change is durable when it
// returns and is made under the store's files lock, so compare-and-swap is atomic across
// threads, separately opened stores and processes.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cerrno>

#include "storage/boost_status.h"
#include "storage/local_store_impl.h"

namespace weightfs::storage {
namespace {

namespace bfs = boost::filesystem;

constexpr mode_t kLockMode = 0644;
constexpr mode_t kDirMode = 0755;
// Contains '~', which ValidateFileName never accepts, so it cannot clash with a named file and
// ListFiles never shows it.
constexpr char kLockFileName[] = ".~files.lock";

std::string ParentDir(const std::string& path) { return path.substr(0, path.rfind('/')); }

bool LinkUnsupported(int err) {
  return err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
}

// A flock(2) held on a lock file: released when the descriptor closes, by us or by the kernel
// when the process dies.
class LocalFileLock : public FileLock {
 public:
  LocalFileLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status RemoveFile() override {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus(errno, "removing " + path_);
    return Status::Ok();
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<FileLock>> LocalStore::TryLock(const std::string& name, bool shared) {
  RETURN_IF_ERROR(ValidateFileName(name));
  RETURN_IF_ERROR(MakeFileDirs(name));
  // '~' never appears in a valid name, so the lock file is no named file and ListFiles skips it.
  const std::string path = FilePath(name) + ".~lock";
  for (int attempt = 0; attempt < 8; ++attempt) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDWR | O_CREAT | O_CLOEXEC, kLockMode));
    int rc;
    do {
      rc = ::flock(fd.get(), (shared ? LOCK_SH : LOCK_EX) | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return Busy(path + " is locked by another process");
      if (errno == ENOLCK || errno == EINVAL || errno == EOPNOTSUPP) {
        return Unsupported("the filesystem of " + path + " has no flock");
      }
      return ErrnoStatus(errno, "locking " + path);
    }
    // A holder may have removed the file between our open and our flock: a lock on a removed
    // file excludes nobody, so lock the file that is there now.
    struct stat held, now;
    if (::fstat(fd.get(), &held) == 0 && ::stat(path.c_str(), &now) == 0 &&
        held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
      return std::unique_ptr<FileLock>(std::make_unique<LocalFileLock>(std::move(fd), path));
    }
  }
  return Busy(path + " keeps being replaced");
}

Result<UniqueFd> LocalStore::LockFilesAcrossProcesses() {
  const std::string path = root_ + "/" + kLockFileName;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDWR | O_CREAT, kLockMode));
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoStatus(errno, "locking " + path);
  return fd;
}

Status LocalStore::MakeFileDirs(const std::string& name) {
  size_t slash = 0;
  while ((slash = name.find('/', slash)) != std::string::npos) {
    const std::string dir = FilePath(name.substr(0, slash));
    if (::mkdir(dir.c_str(), kDirMode) == 0) {
      // The new directory's own entry must be durable before a file inside it is.
      RETURN_IF_ERROR(FsyncPath(ParentDir(dir)));
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, "creating directory " + dir);
    }
    ++slash;
  }
  return Status::Ok();
}

Result<std::optional<Bytes>> LocalStore::ReadNamed(const std::string& name) {
  const std::string path = FilePath(name);
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    // ENOTDIR: a parent is a file, so this name cannot exist either.
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Bytes>();
    return ErrnoStatus(errno, "opening " + path);
  }
  UniqueFd owned(fd);
  ASSIGN_OR_RETURN(Bytes data, ReadToEnd(owned.get(), path));
  return std::optional<Bytes>(std::move(data));
}

Status LocalStore::Publish(const std::string& name, ByteView data, bool exclusive) {
  const std::string path = FilePath(name);
  const std::string dir = ParentDir(path);
  RETURN_IF_ERROR(MakeFileDirs(name));
  ASSIGN_OR_RETURN(auto temp, CreateTempFile(dir, path));
  auto& [fd, tmp] = temp;
  Status s = WriteAll(fd.get(), data, path);
  if (s.ok()) s = Fsync(fd.get(), path);
  if (s.ok()) s = fd.Close(path);
  if (s.ok() && exclusive) {
    // link(2) fails if the name exists, so even a writer that skips the files lock cannot be
    // overwritten. Without hard link support, the files lock alone makes check-then-rename safe.
    if (::link(tmp.c_str(), path.c_str()) == 0) {
      RemoveTemp(tmp);
    } else if (LinkUnsupported(errno)) {
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0) {
        s = ErrnoStatus(EEXIST, "creating " + path);
      } else if (errno != ENOENT) {
        s = ErrnoStatus(errno, "checking " + path);
      } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
        s = ErrnoStatus(errno, "creating " + path);
      }
    } else {
      s = ErrnoStatus(errno, "creating " + path);
    }
  } else if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus(errno, "replacing " + path);
  }
  if (!s.ok()) {
    RemoveTemp(tmp);
    return s;
  }
  return FsyncPath(dir);
}

Result<std::optional<Bytes>> LocalStore::ReadFile(const std::string& name) {
  RETURN_IF_ERROR(ValidateFileName(name));
  return ReadNamed(name);
}

Status LocalStore::WriteFile(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  MutexLock lock(&files_mu_);
  ASSIGN_OR_RETURN(UniqueFd flock_fd, LockFilesAcrossProcesses());
  return Publish(name, data, /*exclusive=*/false);
}

Status LocalStore::CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                                      ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  MutexLock lock(&files_mu_);
  ASSIGN_OR_RETURN(UniqueFd flock_fd, LockFilesAcrossProcesses());
  ASSIGN_OR_RETURN(std::optional<Bytes> current, ReadNamed(name));
  if (current.has_value() != expected.has_value() || (current && *current != *expected)) {
    const char* why = !expected  ? "it already exists"
                      : !current ? "it does not exist"
                                 : "its content changed";
    return Conflict("compare-and-swap of " + FilePath(name) + ": " + why);
  }
  Status s = Publish(name, data, /*exclusive=*/!expected.has_value());
  if (s.code() == Code::kAlreadyExists) {
    return Conflict("compare-and-swap of " + FilePath(name) + ": " + s.message());
  }
  return s;
}

Status LocalStore::CreateFileExclusive(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(ValidateFileName(name));
  MutexLock lock(&files_mu_);
  ASSIGN_OR_RETURN(UniqueFd flock_fd, LockFilesAcrossProcesses());
  return Publish(name, data, /*exclusive=*/true);
}

Status LocalStore::DeleteFile(const std::string& name) {
  RETURN_IF_ERROR(ValidateFileName(name));
  MutexLock lock(&files_mu_);
  ASSIGN_OR_RETURN(UniqueFd flock_fd, LockFilesAcrossProcesses());
  const std::string path = FilePath(name);
  if (::unlink(path.c_str()) != 0) {
    // A missing parent, or a parent that is a file, both mean the name does not exist.
    return ErrnoStatus(errno == ENOTDIR ? ENOENT : errno, "deleting " + path);
  }
  return FsyncPath(ParentDir(path));
}

Result<std::vector<std::string>> LocalStore::ListFiles(const std::string& dir) {
  // "" lists the store root.
  if (!dir.empty()) RETURN_IF_ERROR(ValidateFileName(dir));
  const bfs::path path = dir.empty() ? bfs::path(root_) : bfs::path(FilePath(dir));
  const std::string prefix = dir.empty() ? "" : dir + "/";
  std::vector<std::string> names;
  try {
    boost::system::error_code ec;
    bfs::directory_iterator it(path, ec);
    if (ec == boost::system::errc::no_such_file_or_directory ||
        ec == boost::system::errc::not_a_directory) {
      return names;
    }
    if (ec) return BoostErrorStatus(ec, "listing " + path.string());
    for (; it != bfs::directory_iterator(); it.increment(ec)) {
      if (ec) return BoostErrorStatus(ec, "listing " + path.string());
      const std::string name = it->path().filename().string();
      // Temp and lock files contain '~' and fail validation; so does anything foreign.
      if (!ValidateFileName(name).ok()) continue;
      bfs::file_status st = it->symlink_status(ec);
      if (ec == boost::system::errc::no_such_file_or_directory) continue;  // removed meanwhile
      if (ec) return BoostErrorStatus(ec, "listing " + path.string());
      if (!bfs::is_regular_file(st)) continue;
      names.push_back(prefix + name);
    }
    if (ec) return BoostErrorStatus(ec, "listing " + path.string());
  } catch (const bfs::filesystem_error& e) {
    return BoostErrorStatus(e.code(), "listing " + path.string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// fstat first, then at most one byte more than allowed (the file may grow meanwhile): a huge
// sparse file is refused without reading it.
Result<std::optional<Bytes>> LocalStore::ReadFileAtMost(const std::string& name, size_t max_size) {
  RETURN_IF_ERROR(ValidateFileName(name));
  const std::string path = FilePath(name);
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Bytes>();
    return ErrnoStatus(errno, "opening " + path);
  }
  UniqueFd fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "checking " + path);
  if (S_ISDIR(st.st_mode)) return ErrnoStatus(EISDIR, "reading " + path);
  if (static_cast<uint64_t>(st.st_size) > max_size) return FileTooLarge(name, st.st_size, max_size);
  ASSIGN_OR_RETURN(Bytes data, PreadRange(fd.get(), 0, uint64_t{max_size} + 1, path));
  if (data.size() > max_size) return FileTooLarge(name, data.size(), max_size);
  return std::optional<Bytes>(std::move(data));
}

}  // namespace weightfs::storage
