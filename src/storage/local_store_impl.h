// LocalStore: the ObjectStore over a local directory (see weightfs/storage/local_store.h).
// Objects are written to a temp file and renamed into objects/<2 hex>/<64 hex> without an fsync;
// Sync() then fsyncs every file and directory touched since the previous Sync, so durability
// costs one batch per snapshot instead of one fsync per chunk. Named files are published one by
// one with temp file + fsync + rename + fsync of the directory.
// Thread-safe. Lock order: files_mu_ before the lock file's flock; fds_mu_ and pending_mu_ are
// leaves, never held across I/O.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/posix_io.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

class LocalStore : public ObjectStore {
 public:
  // root: an absolute path to an existing directory, without a trailing slash.
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  Status Put(const ObjectId& id, ByteView data) override;
  Result<Bytes> Get(const ObjectId& id) override;
  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override;
  Result<size_t> ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest) override;
  Result<bool> Contains(const ObjectId& id) override;
  Result<uint64_t> Size(const ObjectId& id) override;
  Status Delete(const ObjectId& id) override;
  Status ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) override;
  Result<int64_t> MTime(const ObjectId& id) override;
  Status Touch(const ObjectId& id) override;
  Status Sync() override;
  // Above this many pending files and directories, Sync uses one syncfs instead of fsyncs.
  static constexpr size_t kSyncfsThreshold = 32;

  Result<std::optional<Bytes>> ReadFile(const std::string& name) override;
  Result<std::optional<Bytes>> ReadFileAtMost(const std::string& name, size_t max_size) override;
  Status WriteFile(const std::string& name, ByteView data) override;
  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override;
  Status CreateFileExclusive(const std::string& name, ByteView data) override;
  Status DeleteFile(const std::string& name) override;
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> TryLock(const std::string& name, bool shared) override;

 private:
  std::string ObjectDir(const ObjectId& id) const;
  std::string ObjectPath(const ObjectId& id) const;
  std::string FilePath(const std::string& name) const { return root_ + "/" + name; }

  // Remembers a written object (or one found already present) and its directory for Sync().
  void AddPending(std::string file, std::string dir) EXCLUDES(pending_mu_);
  // Creates objects/ and objects/<2 hex>/ if missing.
  Status MakeObjectDir(const std::string& dir);

  // Takes an exclusive flock on the store's lock file, which serializes the changes of named
  // files across processes and separately opened stores; closing the descriptor releases it.
  // A change holds files_mu_ first (MutexLock), then this descriptor, declared after the
  // MutexLock so that the flock is released first.
  Result<UniqueFd> LockFilesAcrossProcesses() REQUIRES(files_mu_);
  // mkdir -p of name's parent directories below root_, fsyncing the parent of each one made.
  // Safe without files_mu_ (a directory made meanwhile by another is fine).
  Status MakeFileDirs(const std::string& name);
  // Reads a named file; nullopt when it (or a parent directory) is missing.
  Result<std::optional<Bytes>> ReadNamed(const std::string& name);
  // Durably publishes name = data: temp file, fsync, rename (or link when exclusive, failing
  // with kAlreadyExists if name exists), fsync of the directory. The caller holds files_mu_ and
  // the flock of LockFilesAcrossProcesses.
  Status Publish(const std::string& name, ByteView data, bool exclusive) REQUIRES(files_mu_);

  Status SyncFilesystem();
  // The kept-open descriptors of an object: one for buffered reads and, where the filesystem
  // allows it, one opened with O_DIRECT (invalid otherwise).
  struct ObjectFds {
    UniqueFd buffered;
    UniqueFd direct;
  };
  // Opened on a miss.
  Result<std::shared_ptr<const ObjectFds>> OpenObject(const ObjectId& id) EXCLUDES(fds_mu_);

  const std::string root_;

  // Descriptors of recently read objects, so a hot object costs an fstat and a pread instead of
  // an open and a close too. A kept descriptor whose file is gone (nlink 0) is reopened.
  static constexpr size_t kMaxOpenObjects = 256;
  std::atomic<bool> direct_io_{true};  // false once the filesystem refused O_DIRECT
  Mutex fds_mu_;                       // a leaf lock, never held across I/O
  // Most recently used first; fds_ indexes it by object id.
  std::list<std::pair<ObjectId, std::shared_ptr<const ObjectFds>>> fd_lru_ GUARDED_BY(fds_mu_);
  std::unordered_map<ObjectId, decltype(fd_lru_)::iterator, ObjectIdHash> fds_ GUARDED_BY(fds_mu_);

  // Files and directories written since the last successful Sync.
  Mutex pending_mu_;  // a leaf lock, never held across I/O
  std::set<std::string> pending_files_ GUARDED_BY(pending_mu_);
  std::set<std::string> pending_dirs_ GUARDED_BY(pending_mu_);

  // Serializes the changes of named files within the process (before the flock of
  // LockFilesAcrossProcesses); held across their I/O.
  Mutex files_mu_;
};

// Creates a new temp file in dir for eventually replacing final_path (named in errors).
// Returns the open descriptor and the temp file's path.
Result<std::pair<UniqueFd, std::string>> CreateTempFile(const std::string& dir,
                                                        const std::string& final_path);

// Best-effort removal of a temp file after a failed write.
void RemoveTemp(const std::string& path);

}  // namespace weightfs::storage
