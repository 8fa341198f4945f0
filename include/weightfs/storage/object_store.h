// ObjectStore: where a repository's bytes live. Two namespaces:
//  - objects: immutable blobs named by ObjectId (already sealed by the repo layer). Put is
//    idempotent: putting an id that exists leaves the stored bytes alone.
//  - files: small named blobs ("config", "keys/admin", "refs/main", "locks/writer"), names are
//    '/'-separated relative paths of [A-Za-z0-9._-] segments. Replaced atomically.
// Durability contract: after Sync() returns OK, every object put before the call survives a
// crash. WriteFile / CompareAndSwapFile / CreateFileExclusive are durable when they return
// (temp file, fsync, rename, fsync directory), so a ref is never published before its objects
// if the caller syncs objects first.
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"

namespace weightfs::storage {

// Reads aligned to this (offset, size and buffer address) can go straight from the device.
inline constexpr size_t kReadAlignment = 4096;

// A lock held through ObjectStore::TryLock; released when destroyed (or when its holder dies).
class FileLock {
 public:
  virtual ~FileLock() = default;
  // Removes the lock file while the lock is still held, for a name never locked again.
  virtual Status RemoveFile() = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // --- objects ---
  virtual Status Put(const ObjectId& id, ByteView data) = 0;
  // kNotFound when missing.
  virtual Result<Bytes> Get(const ObjectId& id) = 0;
  // Reads up to len bytes at offset; shorter only at the end of the object.
  virtual Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) = 0;
  // Reads up to dest.size() bytes at offset straight into dest and returns how many; shorter
  // only at the end of the object. kNotFound when missing. The data path's read: no buffer is
  // allocated (the default goes through GetRange; stores override it). A read whose offset,
  // size and buffer are multiples of kReadAlignment may bypass the kernel's page cache.
  virtual Result<size_t> ReadInto(const ObjectId& id, uint64_t offset, std::span<uint8_t> dest);
  virtual Result<bool> Contains(const ObjectId& id) = 0;
  // kNotFound when missing.
  virtual Result<uint64_t> Size(const ObjectId& id) = 0;
  // kNotFound when missing.
  virtual Status Delete(const ObjectId& id) = 0;
  // Calls fn for every stored object (order unspecified). Stops at the first non-OK from fn.
  virtual Status ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) = 0;
  // Modification time of an object in seconds since the epoch (for gc grace periods).
  virtual Result<int64_t> MTime(const ObjectId& id) = 0;
  // Sets an object's modification time to now: a reused (deduplicated) object is as young as a
  // new one for gc's grace period. kNotFound when missing.
  virtual Status Touch(const ObjectId& id) = 0;
  virtual Status Sync() = 0;
  // Drops this store's local cached copy of an object (a CachingStore's), so that the next read
  // fetches it from where it is stored: the repo layer calls it when an object fails
  // authentication, and reads again once if it returns true. False when there was no cached
  // copy (the default: a store without a cache). A store that wraps another forwards it.
  virtual bool DropCachedCopy(const ObjectId& id);

  // --- small named files ---
  // std::nullopt when missing.
  virtual Result<std::optional<Bytes>> ReadFile(const std::string& name) = 0;
  // Like ReadFile, for a file that is never larger than max_size when intact: a larger one is
  // kCorruption and is not read into memory (a 4 GiB sparse ref must not cost 4 GiB). The
  // default reads the file and then checks; stores whose files can be large override it.
  virtual Result<std::optional<Bytes>> ReadFileAtMost(const std::string& name, size_t max_size);
  virtual Status WriteFile(const std::string& name, ByteView data) = 0;
  // Replaces name with data only if its current content equals expected (nullopt: missing).
  // kConflict otherwise. Atomic with respect to other CompareAndSwapFile calls on the same
  // store, also across processes for the local store. Write bytes unique to the writer (a
  // random nonce, a pid and time): a remote store whose write may have been applied before its
  // answer was lost judges success by finding exactly data in the file.
  virtual Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                                    ByteView data) = 0;
  // kAlreadyExists if the file exists. As for CompareAndSwapFile, data should be unique to the
  // writer.
  virtual Status CreateFileExclusive(const std::string& name, ByteView data) = 0;
  // kNotFound when missing.
  virtual Status DeleteFile(const std::string& name) = 0;
  // Names (relative to the store root, e.g. "keys/admin") of the files directly in dir.
  virtual Result<std::vector<std::string>> ListFiles(const std::string& dir) = 0;

  // --- locks the kernel releases ---
  // Takes a lock (shared or exclusive) on a lock file beside the named file `name` (the lock
  // file is not a named file: ListFiles never shows it). The kernel drops the lock when its
  // holder exits or dies, so a dead holder never blocks anybody (flock(2) on local and network
  // filesystems). Never waits: kBusy while another holder (in this process too) holds it in a
  // conflicting mode. kUnsupported for stores without such locks (the default: in memory).
  virtual Result<std::unique_ptr<FileLock>> TryLock(const std::string& name, bool shared);
};

// The kCorruption of ReadFileAtMost.
Status FileTooLarge(const std::string& name, uint64_t size, size_t max_size);

// Checks a file name: relative, '/'-separated, segments of [A-Za-z0-9._-], no "." or "..".
Status ValidateFileName(const std::string& name);

}  // namespace weightfs::storage
