// FileContent: the content of one live file as an ordered list of segments: stored chunks
// (sealed in the repository), dirty plaintext in memory, and holes (zeros, never materialized).
// Writes patch segments; only the stored chunks cut by a write's edges are decrypted. Seal()
// runs the dirty runs through the content-defined chunker, so a file written through the mount
// chunks (and dedups) like an imported one; SealIdle() does that early under memory pressure
// while keeping the undecided tail in memory, so a file being written is never held whole.
// Thread-safe: reads share a lock, writes and sealing take it exclusively.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::vfs {

class FileContent {
 public:
  // dirty_counter: a filesystem-wide count of dirty bytes, kept up to date by this object.
  FileContent(repo::Repository* repo, repo::FileObject base, std::atomic<int64_t>* dirty_counter);
  ~FileContent();

  uint64_t size() const { return size_.load(); }
  // Bumped by every change; a file whose version moved since its last seal has news to commit.
  uint64_t version() const { return version_.load(); }
  bool dirty() const;
  int64_t dirty_bytes() const;

  // Reads up to len bytes at offset (short only at end of file).
  Status Read(uint64_t offset, uint64_t len, Bytes* out) const;
  Status Write(uint64_t offset, ByteView data);
  Status Truncate(uint64_t size);

  // Seals everything dirty and stores the file object; returns it and its id. Objects are not
  // synced (the commit syncs once before publishing the tree).
  Result<std::pair<ObjectId, repo::FileObject>> Seal();
  // Seals the dirty data except an undecided tail shorter than a chunk. Used when the dirty
  // bytes pass a memory budget.
  Status SealIdle();

 private:
  struct Segment {
    enum class Kind { kStored, kDirty, kZero } kind;
    uint64_t size = 0;
    ObjectId id;                  // kStored
    std::shared_ptr<Bytes> data;  // kDirty
  };

  // All private helpers require mu_ held exclusively (or shared for the const ones).
  size_t SegmentAt(uint64_t offset) const;  // index of the segment holding offset
  void RecomputeStarts();
  Status SplitAt(uint64_t offset, size_t* index);  // segment boundary at offset
  Status ReadSegment(const Segment& s, uint64_t start_in_seg, uint64_t len, Bytes* out) const;
  Status SealLocked(bool keep_tail);
  void DetectForcedCuts();
  void AddDirty(int64_t delta);

  repo::Repository* repo_;
  std::atomic<int64_t>* dirty_counter_;
  mutable std::shared_mutex mu_;
  std::vector<Segment> segs_;
  std::vector<uint64_t> starts_;  // starts_[i] = offset of segs_[i]; one extra entry = size
  int64_t dirty_bytes_ = 0;       // bytes held in kDirty segments
  std::atomic<uint64_t> size_{0};     // starts_.back(), readable without mu_
  std::atomic<uint64_t> version_{0};
  enum class CutState { kUnknown, kNone, kFound } cut_state_ = CutState::kUnknown;
  std::vector<uint64_t> forced_cuts_;  // absolute offsets (safetensors boundaries)
};

}  // namespace weightfs::vfs
