// FaultStore wraps another ObjectStore and injects failures for tests: I/O errors, a full disk,
// corrupted reads, failing after a number of writes. Thread-safe.
#pragma once

#include <atomic>
#include <memory>

#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

struct FaultPlan {
  // Writes (Put, WriteFile, CompareAndSwapFile, CreateFileExclusive) after this many succeed
  // fail with fail_code. -1: never.
  int64_t fail_writes_after = -1;
  Code fail_code = Code::kNoSpace;
  // Every read (Get, GetRange, ReadFile) fails with kIoError.
  bool fail_reads = false;
  // Get and GetRange return data with one bit flipped (the first byte's lowest bit).
  bool corrupt_reads = false;
  // Sync fails with kIoError.
  bool fail_sync = false;
};

class FaultStore : public ObjectStore {
 public:
  FaultStore(ObjectStore* target, FaultPlan plan);
  void SetPlan(FaultPlan plan) EXCLUDES(mu_);
  int64_t writes() const { return writes_.load(); }
  // (ObjectStore methods follow.)
  Status Put(const ObjectId& id, ByteView data) override;
  Result<Bytes> Get(const ObjectId& id) override;
  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override;
  Result<bool> Contains(const ObjectId& id) override;
  Result<uint64_t> Size(const ObjectId& id) override;
  Status Delete(const ObjectId& id) override;
  Status ForEach(const std::function<Status(const ObjectId&, uint64_t)>& fn) override;
  Result<int64_t> MTime(const ObjectId& id) override;
  Status Touch(const ObjectId& id) override;
  Status Sync() override;
  Result<std::optional<Bytes>> ReadFile(const std::string& name) override;
  Status WriteFile(const std::string& name, ByteView data) override;
  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override;
  Status CreateFileExclusive(const std::string& name, ByteView data) override;
  Status DeleteFile(const std::string& name) override;
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> TryLock(const std::string& name, bool shared) override;
  bool DropCachedCopy(const ObjectId& id) override;

 private:
  // Counts a write, or fails it as the plan says.
  Status CountWrite() EXCLUDES(mu_);
  // A copy of the plan, so that mu_ is never held across a call to target_.
  FaultPlan CurrentPlan() const EXCLUDES(mu_);

  ObjectStore* const target_;
  mutable Mutex mu_;  // a leaf lock
  FaultPlan plan_ GUARDED_BY(mu_);
  // Writes counted since the plan was set; changed under mu_, read without it by writes().
  std::atomic<int64_t> writes_{0};
};

}  // namespace weightfs::storage
