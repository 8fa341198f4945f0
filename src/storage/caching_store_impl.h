// CachingStore: the ObjectStore of weightfs/storage/caching_store.h. caching_store.cc holds the
// ObjectStore calls (hits, the shared fetch of a miss, writing an entry), caching_store_dir.cc
// the directory: opening, the count of the cache's bytes, eviction, scans and clearing.
// Thread-safe. Locks: fds_mu_, flights_mu_ and index_mu_ are leaves, never held across I/O
// (flights_mu_ is released while waiting for a fetch).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/posix_io.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/storage/caching_store.h"

namespace weightfs::storage {

class CachingStore : public ObjectStore {
 public:
  // options.dir: an absolute path; Init makes it.
  CachingStore(std::shared_ptr<ObjectStore> backing, CacheOptions options);
  // Makes the directories, removes stale temp files, counts the entries, records max_bytes and
  // evicts down to it.
  Status Init();

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
  bool DropCachedCopy(const ObjectId& id) override;

  Result<std::optional<Bytes>> ReadFile(const std::string& name) override;
  Result<std::optional<Bytes>> ReadFileAtMost(const std::string& name, size_t max_size) override;
  Status WriteFile(const std::string& name, ByteView data) override;
  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override;
  Status CreateFileExclusive(const std::string& name, ByteView data) override;
  Status DeleteFile(const std::string& name) override;
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> TryLock(const std::string& name, bool shared) override;

  // A hit renews an entry's mtime (its age for eviction) at most this often.
  static constexpr int64_t kBumpSeconds = 60;
  // The count of the cache's bytes is redone from a scan (other processes add entries this one
  // does not see) when this process has added an eighth of max_bytes since the last one, or
  // kRescanSeconds have passed: with N processes filling the cache at once it holds at most
  // about max_bytes * (1 + N / 8) plus an object per process.
  static constexpr int64_t kRescanSeconds = 30;
  static constexpr uint64_t kRescanFraction = 8;

 private:
  // The open descriptors of a cached entry: buffered, and O_DIRECT where the filesystem allows.
  struct EntryFds {
    UniqueFd buffered;
    UniqueFd direct;
    std::atomic<int64_t> bumped{0};  // when the entry's mtime was last renewed (seconds)
  };
  // A fetch from the backing store that readers missing the same id wait for.
  struct Flight {
    bool done = false;
    Result<std::shared_ptr<const Bytes>> result = IoError("fetch not finished");
    int waiters = 0;
    // The fetch read less than the whole object (a reader's range): waiters fetch themselves.
    bool partial = false;
  };

  std::string EntryDir(const ObjectId& id) const;
  std::string EntryPath(const ObjectId& id) const;

  // The entry's descriptors, or nullptr when the cache does not hold it or cannot open it (a
  // failure is logged: the read goes to the backing store).
  std::shared_ptr<EntryFds> OpenEntry(const ObjectId& id) EXCLUDES(fds_mu_);
  // An entry whose read failed (a local I/O error) is logged and removed; the read goes on to
  // the backing store.
  void DropUnreadable(const ObjectId& id, const Status& s);
  void MaybeBump(EntryFds* fds, const ObjectId& id);
  // Forgets the kept descriptors of id; whether there were any.
  bool ForgetFds(const ObjectId& id) EXCLUDES(fds_mu_);
  // The whole object from the backing store, fetched once for all concurrent readers of id in
  // this process, and kept in the cache.
  Result<std::shared_ptr<const Bytes>> Fetch(const ObjectId& id) EXCLUDES(flights_mu_);
  // Reads the object from its start straight into dest (no intermediate copy) and keeps it
  // when it fitted whole; nullopt when another reader of this process is fetching it already
  // (the caller then waits for that fetch with Fetch).
  Result<std::optional<size_t>> FetchInto(const ObjectId& id, std::span<uint8_t> dest)
      EXCLUDES(flights_mu_);
  // Ends a flight: waiters get result (partial: fetch it themselves).
  void Land(const ObjectId& id, Flight* flight, Result<std::shared_ptr<const Bytes>> result,
            bool partial) REQUIRES(flights_mu_);
  // Keeps a copy of an object (unless it is present or larger than the cache); a failure is
  // logged, not returned: the caller has the bytes.
  void Keep(const ObjectId& id, ByteView data);
  Status WriteEntry(const ObjectId& id, ByteView data);

  // --- the count of the cache's bytes (caching_store_dir.cc) ---
  void Account(const ObjectId& id, uint64_t size) EXCLUDES(index_mu_);
  void Unaccount(const ObjectId& id) EXCLUDES(index_mu_);
  // Evicts entries until the counted bytes fit max_bytes (one thread at a time).
  void EvictIfOver() EXCLUDES(index_mu_);
  // Evicts one of two random entries (the older); false when nothing is left to evict.
  bool EvictOne() EXCLUDES(index_mu_);
  // Redoes the count from a scan when it is due (see kRescanSeconds).
  void MaybeRescan() EXCLUDES(index_mu_);
  Status Rescan() EXCLUDES(index_mu_);
  void Log(const std::string& message);
  // Logs a failure of the cache itself (keeping or reading an entry), at most once a minute
  // (a full disk would repeat it).
  void LogCacheFailure(const Status& s);

  const std::shared_ptr<ObjectStore> backing_;
  const CacheOptions options_;
  const std::string objects_dir_;
  const std::string tmp_dir_;

  static constexpr size_t kMaxOpenEntries = 64;
  std::atomic<bool> direct_io_{true};  // false once the filesystem refused O_DIRECT
  Mutex fds_mu_;
  std::list<std::pair<ObjectId, std::shared_ptr<EntryFds>>> fd_lru_ GUARDED_BY(fds_mu_);
  std::unordered_map<ObjectId, decltype(fd_lru_)::iterator, ObjectIdHash> fds_ GUARDED_BY(fds_mu_);

  Mutex flights_mu_;
  CondVar flights_cv_{&flights_mu_};
  std::unordered_map<ObjectId, std::shared_ptr<Flight>, ObjectIdHash> flights_
      GUARDED_BY(flights_mu_);

  // The entries this process knows of (from the last scan and its own additions) and their
  // sizes; eviction samples them.
  struct Known {
    uint64_t size = 0;
    size_t pos = 0;  // in index_
  };
  Mutex index_mu_;
  std::vector<ObjectId> index_ GUARDED_BY(index_mu_);
  std::unordered_map<ObjectId, Known, ObjectIdHash> known_ GUARDED_BY(index_mu_);
  uint64_t used_ GUARDED_BY(index_mu_) = 0;
  std::mt19937_64 rng_ GUARDED_BY(index_mu_);
  std::atomic<bool> evicting_{false};
  std::atomic<bool> scanning_{false};
  std::atomic<int64_t> last_scan_{0};          // seconds
  std::atomic<uint64_t> added_since_scan_{0};  // bytes
  std::atomic<int64_t> last_failure_log_{0};   // seconds
};

// Calls fn(id, size, path) for every entry of the cache directory dir.
Status ForEachCacheEntry(
    const std::string& dir,
    const std::function<void(const ObjectId&, uint64_t, const std::string&)>& fn);

// Seconds since the epoch.
int64_t NowSeconds();

}  // namespace weightfs::storage
