// LocalStore: opening, the object namespace and batched Sync. Named files are in
// local_store_files.cc.
#include "weightfs/storage/local_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>

#include "storage/boost_status.h"
#include "storage/local_store_impl.h"
#include "weightfs/core/names.h"

namespace weightfs::storage {
namespace {

namespace bfs = boost::filesystem;

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirMode = 0755;
constexpr int kTempAttempts = 16;

// An existing directory is fine.
Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), kDirMode) == 0 || errno == EEXIST) return Status::Ok();
  return ErrnoStatus(errno, "creating directory " + path);
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root) {
  std::string abs;
  try {
    // A FUSE daemon changes its working directory to "/", so a relative root must be resolved
    // now.
    abs = bfs::absolute(bfs::path(root)).lexically_normal().string();
  } catch (const bfs::filesystem_error& e) {
    return BoostErrorStatus(e.code(), "opening local store at " + root);
  } catch (const std::exception& e) {
    return IoError("opening local store at " + root + ": " + e.what());
  }
  // lexically_normal turns a trailing '/' into "/.": strip both, so messages show clean paths.
  for (;;) {
    if (abs.size() > 2 && abs.ends_with("/.")) {
      abs.resize(abs.size() - 2);
    } else if (abs == "/.") {
      abs = "/";
    } else if (abs.size() > 1 && abs.back() == '/') {
      abs.pop_back();
    } else {
      break;
    }
  }
  struct stat st;
  if (::stat(abs.c_str(), &st) != 0) return ErrnoStatus(errno, "opening local store at " + abs);
  if (!S_ISDIR(st.st_mode)) {
    return NotDirectory("opening local store at " + abs + ": not a directory");
  }
  return std::unique_ptr<ObjectStore>(std::make_unique<LocalStore>(abs));
}

Result<std::pair<UniqueFd, std::string>> CreateTempFile(const std::string& dir,
                                                        const std::string& final_path) {
  for (int attempt = 0; attempt < kTempAttempts; ++attempt) {
    std::string tmp = dir + "/" + TempFileName();
    int fd;
    do {
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) return std::make_pair(UniqueFd(fd), std::move(tmp));
    if (errno != EEXIST) return ErrnoStatus(errno, "creating a temporary file for " + final_path);
  }
  return IoError("creating a temporary file for " + final_path + ": every name tried exists");
}

void RemoveTemp(const std::string& path) { ::unlink(path.c_str()); }

std::string LocalStore::ObjectDir(const ObjectId& id) const {
  return root_ + "/objects/" + id.Hex().substr(0, 2);
}

std::string LocalStore::ObjectPath(const ObjectId& id) const {
  std::string hex = id.Hex();
  return root_ + "/objects/" + hex.substr(0, 2) + "/" + hex;
}

void LocalStore::AddPending(std::string file, std::string dir) {
  MutexLock lock(&pending_mu_);
  pending_files_.insert(std::move(file));
  pending_dirs_.insert(std::move(dir));
  // The chain of entries leading to the object, too: objects/ or its fan-out directory may have
  // been made by another process that never synced. Two more fsyncs per Sync, not per object.
  pending_dirs_.insert(root_ + "/objects");
  pending_dirs_.insert(root_);
}

Status LocalStore::MakeObjectDir(const std::string& dir) {
  // The new entries become durable in Sync() through AddPending.
  RETURN_IF_ERROR(MakeDir(root_ + "/objects"));
  return MakeDir(dir);
}

Status LocalStore::Put(const ObjectId& id, ByteView data) {
  const std::string path = ObjectPath(id);
  const std::string dir = ObjectDir(id);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    // Already stored, maybe by a writer that has not synced yet: the durability promise of the
    // next Sync() covers it too.
    AddPending(path, dir);
    return Status::Ok();
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "checking " + path);

  auto temp = CreateTempFile(dir, path);
  if (!temp.ok() && temp.status().code() == Code::kNotFound) {
    // Directories are made on the first miss only, so a Put costs no mkdir calls normally.
    RETURN_IF_ERROR(MakeObjectDir(dir));
    temp = CreateTempFile(dir, path);
  }
  if (!temp.ok()) return temp.status();
  auto& [fd, tmp] = *temp;
  Status s = WriteMostlyDirect(fd.get(), data, direct_io_.load(std::memory_order_relaxed), path);
  if (s.ok()) s = fd.Close(path);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus(errno, "storing " + path);
  if (!s.ok()) {
    RemoveTemp(tmp);
    return s;
  }
  AddPending(path, dir);
  return Status::Ok();
}

Result<Bytes> LocalStore::Get(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  return ReadToEnd(fd.get(), path);
}

Result<Bytes> LocalStore::GetRange(const ObjectId& id, uint64_t offset, uint64_t len) {
  ASSIGN_OR_RETURN(std::shared_ptr<const ObjectFds> fds, OpenObject(id));
  return PreadRange(fds->buffered.get(), offset, len, ObjectPath(id));
}

Result<std::shared_ptr<const LocalStore::ObjectFds>> LocalStore::OpenObject(const ObjectId& id) {
  std::shared_ptr<const ObjectFds> kept;
  {
    MutexLock lock(&fds_mu_);
    if (auto it = fds_.find(id); it != fds_.end()) {
      fd_lru_.splice(fd_lru_.begin(), fd_lru_, it->second);
      kept = it->second->second;
    }
  }
  // A kept descriptor whose file was deleted or replaced (by gc in another process, or by
  // someone editing the repository) no longer names the object: open it again, so the store
  // reads what is stored now, as an uncached read would.
  struct stat st;
  if (kept && ::fstat(kept->buffered.get(), &st) == 0 && st.st_nlink > 0) return kept;
  if (kept) {
    MutexLock lock(&fds_mu_);
    if (auto it = fds_.find(id); it != fds_.end() && it->second->second == kept) {
      fd_lru_.erase(it->second);
      fds_.erase(it);
    }
  }
  const std::string path = ObjectPath(id);
  auto opened = std::make_shared<ObjectFds>();
  ASSIGN_OR_RETURN(opened->buffered, OpenFile(path, O_RDONLY));
  if (direct_io_.load(std::memory_order_relaxed)) {
    auto direct = OpenFile(path, O_RDONLY | O_DIRECT);
    if (direct.ok()) {
      opened->direct = std::move(*direct);
    } else if (direct.status().code() == Code::kInvalidArgument) {
      direct_io_.store(false, std::memory_order_relaxed);  // e.g. an older tmpfs
    }
  }
  std::shared_ptr<const ObjectFds> fds = std::move(opened);
  MutexLock lock(&fds_mu_);
  if (auto it = fds_.find(id); it != fds_.end()) return it->second->second;  // raced: keep one
  fd_lru_.emplace_front(id, fds);
  fds_[id] = fd_lru_.begin();
  if (fd_lru_.size() > kMaxOpenObjects) {
    fds_.erase(fd_lru_.back().first);
    fd_lru_.pop_back();  // closes once the last reader lets go
  }
  return fds;
}

Result<size_t> LocalStore::ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest) {
  ASSIGN_OR_RETURN(std::shared_ptr<const ObjectFds> fds, OpenObject(id));
  return PreadInto(fds->buffered.get(), fds->direct.valid() ? fds->direct.get() : -1, offset, dest,
                   ObjectPath(id));
}

Result<bool> LocalStore::Contains(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "checking " + path);
}

Result<uint64_t> LocalStore::Size(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "reading the size of " + path);
  return static_cast<uint64_t>(st.st_size);
}

Result<int64_t> LocalStore::MTime(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "reading the mtime of " + path);
  return static_cast<int64_t>(st.st_mtim.tv_sec);
}

Status LocalStore::Touch(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) != 0)
    return ErrnoStatus(errno, "touching " + path);
  return Status::Ok();
}

Status LocalStore::Delete(const ObjectId& id) {
  const std::string path = ObjectPath(id);
  {
    MutexLock lock(&fds_mu_);
    if (auto it = fds_.find(id); it != fds_.end()) {
      fd_lru_.erase(it->second);
      fds_.erase(it);
    }
  }
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "deleting " + path);
  MutexLock lock(&pending_mu_);
  pending_files_.erase(path);
  // The next Sync makes the removal durable too.
  pending_dirs_.insert(ObjectDir(id));
  return Status::Ok();
}

Status LocalStore::ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) {
  const bfs::path objects = bfs::path(root_) / "objects";
  try {
    boost::system::error_code ec;
    bfs::directory_iterator fan(objects, ec);
    if (ec == boost::system::errc::no_such_file_or_directory) return Status::Ok();
    if (ec) return BoostErrorStatus(ec, "listing " + objects.string());
    for (; fan != bfs::directory_iterator(); fan.increment(ec)) {
      if (ec) return BoostErrorStatus(ec, "listing " + objects.string());
      const std::string prefix = fan->path().filename().string();
      if (prefix.size() != 2 || !IsLowerHex(prefix)) continue;
      if (!bfs::is_directory(fan->symlink_status(ec))) continue;
      bfs::directory_iterator it(fan->path(), ec);
      if (ec) return BoostErrorStatus(ec, "listing " + fan->path().string());
      for (; it != bfs::directory_iterator(); it.increment(ec)) {
        if (ec) return BoostErrorStatus(ec, "listing " + fan->path().string());
        // Temp files (".~tmp-…") and anything else that is not an object name are skipped.
        const std::string name = it->path().filename().string();
        if (name.size() != 2 * ObjectId::kSize || !IsLowerHex(name) ||
            name.compare(0, 2, prefix) != 0) {
          continue;
        }
        struct stat st;
        if (::lstat(it->path().c_str(), &st) != 0) {
          if (errno == ENOENT) continue;  // deleted while we were listing
          return ErrnoStatus(errno, "reading the size of " + it->path().string());
        }
        if (!S_ISREG(st.st_mode)) continue;
        ASSIGN_OR_RETURN(ObjectId id, ObjectId::FromHex(name));
        RETURN_IF_ERROR(fn(id, static_cast<uint64_t>(st.st_size)));
      }
      if (ec) return BoostErrorStatus(ec, "listing " + fan->path().string());
    }
    if (ec) return BoostErrorStatus(ec, "listing " + objects.string());
  } catch (const bfs::filesystem_error& e) {
    return BoostErrorStatus(e.code(), "listing " + objects.string());
  }
  return Status::Ok();
}

Status LocalStore::SyncFilesystem() {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(root_, O_RDONLY | O_DIRECTORY));
  if (::syncfs(fd.get()) != 0) return ErrnoStatus(errno, "syncing the filesystem of " + root_);
  return Status::Ok();
}

Status LocalStore::Sync() {
  std::set<std::string> files;
  std::set<std::string> dirs;
  {
    MutexLock lock(&pending_mu_);
    files.swap(pending_files_);
    dirs.swap(pending_dirs_);
  }
  if (files.size() + dirs.size() > kSyncfsThreshold) {
    // One syncfs flushes the whole filesystem; far cheaper than an fsync per object when a
    // batch holds many (a 2 GiB import writes about 2000 chunk objects).
    Status s = SyncFilesystem();
    if (s.ok()) return s;
    MutexLock lock(&pending_mu_);
    pending_files_.merge(files);
    pending_dirs_.merge(dirs);
    return s;
  }
  // Files before directories: the data, then the names that point at it.
  Status s;
  for (const std::string& file : files) {
    s = FsyncPath(file);
    if (s.code() == Code::kNotFound) s = Status::Ok();  // deleted since it was written
    if (!s.ok()) break;
  }
  if (s.ok()) {
    for (const std::string& dir : dirs) {
      s = FsyncPath(dir);
      if (!s.ok()) break;
    }
  }
  if (!s.ok()) {
    // Nothing is confirmed durable, so everything stays pending for the next Sync. Syncing a
    // file twice is harmless.
    MutexLock lock(&pending_mu_);
    pending_files_.merge(files);
    pending_dirs_.merge(dirs);
  }
  return s;
}

}  // namespace weightfs::storage
