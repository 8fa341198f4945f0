#include "weightfs/repo/import_export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "weightfs/repo/file_io.h"

namespace weightfs::repo {
namespace {

namespace fs = boost::filesystem;
// Reads this large give the workers whole chunks to seal while the next read runs.
constexpr size_t kIoBlock = 4 << 20;
// What O_DIRECT reads must be aligned to (buffer, offset and size); FileWriter's buffers are.
constexpr size_t kDirectAlign = 4096;

// An owned file descriptor whose Close() reports errors.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  Status Close(const std::string& path) {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus(errno, "closing " + path);
    return Status::Ok();
  }

 private:
  int fd_;
};

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

Result<std::map<std::string, Bytes>> ReadUserXattrs(const std::string& path) {
  std::map<std::string, Bytes> out;
  ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    return ErrnoStatus(errno, "listing extended attributes of " + path);
  }
  std::string names(static_cast<size_t>(n), '\0');
  n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return ErrnoStatus(errno, "listing extended attributes of " + path);
  for (size_t pos = 0; pos < static_cast<size_t>(n);) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.rfind("user.", 0) != 0) continue;
    ssize_t len = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (len < 0) return ErrnoStatus(errno, "reading extended attribute " + name + " of " + path);
    Bytes value(static_cast<size_t>(len));
    len = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (len < 0) return ErrnoStatus(errno, "reading extended attribute " + name + " of " + path);
    value.resize(static_cast<size_t>(len));
    out.emplace(name, std::move(value));
  }
  return out;
}

Result<TreeEntry> ImportFile(Repository* repo, ThreadPool* pool, const std::string& path,
                             const std::string& dest, const struct stat& st, ImportStats* stats,
                             const ProgressFn& progress) {
  // Sealed from the start under the keys of the scope it is going to.
  ASSIGN_OR_RETURN(uint32_t key_id, repo->objects().WriteKeyFor(dest));
  // The file is read once, with O_DIRECT where its filesystem allows: a buffered read copies
  // every byte out of page-cache pages the kernel must first allocate (a quarter of an import's
  // CPU). A filesystem or a request O_DIRECT refuses falls back to buffered reads.
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  bool direct = raw >= 0;
  if (raw < 0 && errno == EINVAL) raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ErrnoStatus(errno, "opening " + path);
  Fd fd(raw);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  FileWriter writer(repo, key_id, /*detect_safetensors=*/true, pool);
  for (;;) {
    // Read straight into the writer's buffer: chunks are cut and sealed from there.
    std::span<uint8_t> space = writer.Space();
    size_t want = std::min(space.size(), kIoBlock);
    if (direct &&
        (reinterpret_cast<uintptr_t>(space.data()) % kDirectAlign != 0 || want < kDirectAlign)) {
      direct = ::fcntl(fd.get(), F_SETFL, 0) != 0;  // not aligned: buffered from here on
    }
    if (direct) want = want / kDirectAlign * kDirectAlign;
    ssize_t n = ::read(fd.get(), space.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct && ::fcntl(fd.get(), F_SETFL, 0) == 0) {
        direct = false;
        continue;
      }
      return ErrnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;
    RETURN_IF_ERROR(writer.Commit(static_cast<size_t>(n)));
    stats->bytes += static_cast<uint64_t>(n);
    if (progress) progress(stats->bytes);
  }
  RETURN_IF_ERROR(fd.Close(path));
  ASSIGN_OR_RETURN(ObjectId id, writer.Finish());
  stats->files++;
  stats->new_bytes += writer.new_bytes();
  TreeEntry e;
  e.type = EntryType::kFile;
  e.mode = st.st_mode & 07777;
  e.size = writer.file().size;
  e.mtime_ns = MtimeNs(st);
  e.id = id;
  ASSIGN_OR_RETURN(e.xattrs, ReadUserXattrs(path));
  return e;
}

// Run as root, an import records each source file's owner and group (as `tar -p` would restore
// them); run as another user it records none, so the entries show whoever mounts the repository
// (and the trees keep their old encoding).
void RecordOwner(const struct stat& st, TreeEntry* e) {
  if (::geteuid() != 0) return;
  e->has_owner = true;
  e->uid = st.st_uid;
  e->gid = st.st_gid;
}

std::optional<EntryType> SpecialType(mode_t mode) {
  if (S_ISFIFO(mode)) return EntryType::kFifo;
  if (S_ISSOCK(mode)) return EntryType::kSocket;
  if (S_ISCHR(mode)) return EntryType::kCharDevice;
  if (S_ISBLK(mode)) return EntryType::kBlockDevice;
  return std::nullopt;
}

// The files imported so far that have more than one name (hard links), by device and inode.
using ImportLinks = std::map<std::pair<dev_t, ino_t>, TreeEntry>;

Result<TreeEntry> ImportStat(Repository* repo, ThreadPool* pool, const std::string& path,
                             const std::string& dest, const struct stat& st, ImportStats* stats,
                             const ProgressFn& progress, ImportLinks* links);

// Imports path into the repository path dest (whose scope decides the keys).
Result<TreeEntry> ImportRec(Repository* repo, ThreadPool* pool, const std::string& path,
                            const std::string& dest, ImportStats* stats, const ProgressFn& progress,
                            ImportLinks* links) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "reading " + path);
  if (S_ISDIR(st.st_mode) || st.st_nlink < 2)
    return ImportStat(repo, pool, path, dest, st, stats, progress, links);
  // Another name of a file imported already is the same entry, in the same link group. (A file
  // whose other names lie outside the source gets a group of one, which a mount drops.)
  const auto key = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = links->find(key); it != links->end()) return it->second;
  ASSIGN_OR_RETURN(TreeEntry e, ImportStat(repo, pool, path, dest, st, stats, progress, links));
  e.link_group = NewLinkGroup();
  links->emplace(key, e);
  return e;
}

Result<TreeEntry> ImportStat(Repository* repo, ThreadPool* pool, const std::string& path,
                             const std::string& dest, const struct stat& st, ImportStats* stats,
                             const ProgressFn& progress, ImportLinks* links) {
  if (S_ISREG(st.st_mode)) {
    ASSIGN_OR_RETURN(TreeEntry file, ImportFile(repo, pool, path, dest, st, stats, progress));
    RecordOwner(st, &file);
    return file;
  }
  TreeEntry e;
  e.mode = st.st_mode & 07777;
  e.mtime_ns = MtimeNs(st);
  RecordOwner(st, &e);
  if (std::optional<EntryType> special = SpecialType(st.st_mode)) {
    // A FIFO, socket or device node is recorded as such (a device with its number); nothing is
    // read from it.
    e.type = *special;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) e.rdev = st.st_rdev;
    return e;
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoStatus(errno, "reading symlink " + path);
    target.resize(static_cast<size_t>(n));
    e.type = EntryType::kSymlink;
    e.size = target.size();
    e.target = std::move(target);
    return e;
  }
  if (!S_ISDIR(st.st_mode)) return Unsupported(path + " has a file type weightfs does not know");
  std::vector<std::string> names;
  try {
    for (const fs::directory_entry& d : fs::directory_iterator(path)) {
      names.push_back(d.path().filename().string());
    }
  } catch (const fs::filesystem_error& err) {
    return IoError("listing " + path + ": " + err.code().message());
  }
  std::sort(names.begin(), names.end());
  TreeObject tree;
  for (const std::string& name : names) {
    RETURN_IF_ERROR(ValidateName(name).WithContext(path));
    ASSIGN_OR_RETURN(TreeEntry child,
                     ImportRec(repo, pool, path + "/" + name,
                               (dest == "/" ? "" : dest) + "/" + name, stats, progress, links));
    child.name = name;
    tree.entries.push_back(std::move(child));
  }
  ASSIGN_OR_RETURN(e.id, repo->objects().PutTree(tree, dest));
  ASSIGN_OR_RETURN(e.xattrs, ReadUserXattrs(path));
  e.type = EntryType::kDirectory;
  return e;
}

Status SetMetadata(const TreeEntry& entry, const std::string& dest) {
  for (const auto& [name, value] : entry.xattrs) {
    if (::lsetxattr(dest.c_str(), name.c_str(), value.data(), value.size(), 0) != 0 &&
        errno != ENOTSUP) {
      return ErrnoStatus(errno, "setting extended attribute " + name + " on " + dest);
    }
  }
  // Owners first: chown clears setuid and setgid, which the chmod below sets again. Only root may
  // give files away; another user's export leaves them its own.
  if (entry.has_owner && ::geteuid() == 0 && ::lchown(dest.c_str(), entry.uid, entry.gid) != 0) {
    return ErrnoStatus(errno, "setting the owner of " + dest);
  }
  if (entry.type != EntryType::kSymlink && ::chmod(dest.c_str(), entry.mode) != 0) {
    return ErrnoStatus(errno, "setting the mode of " + dest);
  }
  struct timespec times[2];
  times[0].tv_sec = entry.mtime_ns / 1000000000;
  times[0].tv_nsec = entry.mtime_ns % 1000000000;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, dest.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, "setting the time of " + dest);
  }
  return Status::Ok();
}

}  // namespace

Result<TreeEntry> ImportPath(Repository* repo, const std::string& src, const std::string& dest,
                             ImportStats* stats, const ProgressFn& progress) {
  // Hashing and sealing run on every core while this thread reads.
  ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  ImportLinks links;
  return ImportRec(repo, &pool, src, dest, stats, progress, &links);
}

Result<uint64_t> LocalSize(const std::string& src) {
  uint64_t total = 0;
  try {
    fs::path p(src);
    if (fs::is_regular_file(fs::symlink_status(p))) return fs::file_size(p);
    if (!fs::is_directory(fs::symlink_status(p))) return uint64_t{0};
    for (fs::recursive_directory_iterator it(p), end; it != end; ++it) {
      if (fs::is_regular_file(it->symlink_status())) total += fs::file_size(it->path());
    }
  } catch (const fs::filesystem_error& err) {
    return IoError("reading " + src + ": " + err.code().message());
  }
  return total;
}

namespace {

// Memory and workers of an export's reader: chunks are decrypted ahead of the writes.
constexpr int64_t kExportCache = 128 << 20;
constexpr int kExportThreads = 3;

// mknod(2) makes every special file (a socket node too, unbound); only root may make devices.
Status ExportSpecial(const TreeEntry& entry, const std::string& dest) {
  const mode_t type = entry.type == EntryType::kFifo         ? S_IFIFO
                      : entry.type == EntryType::kSocket     ? S_IFSOCK
                      : entry.type == EntryType::kCharDevice ? S_IFCHR
                                                             : S_IFBLK;
  ::unlink(dest.c_str());
  if (::mknod(dest.c_str(), type | 0600, static_cast<dev_t>(entry.rdev)) != 0) {
    const bool device = type == S_IFCHR || type == S_IFBLK;
    return ErrnoStatus(
        errno, std::string("creating ") + EntryTypeName(entry.type) + " " + dest +
                   (device && errno == EPERM ? " (only root may create device nodes)" : ""));
  }
  return Status::Ok();
}

// Where each link group's first name was exported (hard links).
using ExportLinks = std::map<uint64_t, std::string>;

// A name of a hard-linked file after its first is exported as a link to that one (true).
Result<bool> ExportedAsLink(const TreeEntry& entry, const std::string& dest, ExportLinks* links) {
  if (entry.link_group == 0) return false;
  auto [first, is_first] = links->emplace(entry.link_group, dest);
  if (is_first) return false;
  ::unlink(dest.c_str());
  if (::link(first->second.c_str(), dest.c_str()) != 0) {
    return ErrnoStatus(errno, "linking " + dest + " to " + first->second);
  }
  return true;
}

Status ExportWith(const Repository& repo, ChunkReader* reader, const TreeEntry& entry,
                  const std::string& dest, const ProgressFn& progress, uint64_t* bytes_done,
                  ExportLinks* links) {
  ASSIGN_OR_RETURN(bool linked, ExportedAsLink(entry, dest, links));
  if (linked) return Status::Ok();
  switch (entry.type) {
    case EntryType::kSymlink: {
      ::unlink(dest.c_str());
      if (::symlink(entry.target.c_str(), dest.c_str()) != 0)
        return ErrnoStatus(errno, "creating symlink " + dest);
      break;
    }
    case EntryType::kFifo:
    case EntryType::kSocket:
    case EntryType::kCharDevice:
    case EntryType::kBlockDevice:
      RETURN_IF_ERROR(ExportSpecial(entry, dest));
      break;
    case EntryType::kDirectory: {
      if (::mkdir(dest.c_str(), 0700) != 0 && errno != EEXIST)
        return ErrnoStatus(errno, "creating " + dest);
      ASSIGN_OR_RETURN(TreeObject tree, repo.objects().LoadTree(entry.id));
      for (const TreeEntry& child : tree.entries) {
        RETURN_IF_ERROR(
            ExportWith(repo, reader, child, dest + "/" + child.name, progress, bytes_done, links));
      }
      break;
    }
    case EntryType::kFile: {
      ASSIGN_OR_RETURN(FileObject file, repo.objects().LoadFile(entry.id));
      if (file.size != entry.size) {
        return Corruption("file object " + entry.id.Hex() + " has size " +
                          std::to_string(file.size) + " but its directory entry says " +
                          std::to_string(entry.size));
      }
      // Write to a temporary name so a failed export never leaves a torn file under the real name.
      const std::string tmp = dest + ".weightfs-partial";
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (fd.get() < 0) return ErrnoStatus(errno, "creating " + tmp);
      FileReader file_reader(&repo, std::move(file), reader);
      Status s = file_reader.WriteTo(fd.get(), tmp, [&](uint64_t n) {
        *bytes_done += n;
        if (progress) progress(*bytes_done);
      });
      if (s.ok()) s = fd.Close(tmp);
      if (s.ok() && ::rename(tmp.c_str(), dest.c_str()) != 0)
        s = ErrnoStatus(errno, "renaming " + tmp);
      if (!s.ok()) {
        ::unlink(tmp.c_str());
        return s.WithContext(dest);
      }
      break;
    }
  }
  return SetMetadata(entry, dest);
}

}  // namespace

Status ExportEntry(const Repository& repo, const TreeEntry& entry, const std::string& dest,
                   const ProgressFn& progress, uint64_t* bytes_done) {
  ChunkReader reader(&repo, ChunkReader::Options{kExportCache, kExportThreads, nullptr});
  ExportLinks links;
  return ExportWith(repo, &reader, entry, dest, progress, bytes_done, &links);
}

}  // namespace weightfs::repo
