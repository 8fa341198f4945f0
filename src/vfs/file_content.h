// FileContent: the content of one live file as an ordered list of segments: stored chunks
// (sealed in the repository), dirty plaintext in memory, and holes (zeros, never materialized).
// Writes patch segments; only the stored chunks cut by a write's edges are decrypted.
//
// Writes in a pipeline: while a file is written sequentially (the common case: cp, dd, a
// framework saving weights), each append is copied once into the pending chunk's buffer and a
// CutFinder scans it where it lies; a chunk whose end is decided is handed at once to the
// file's ChunkSink, which hashes, seals and stores it on the worker pool while the next writes
// arrive. Until its result is applied the chunk stays a dirty segment (tagged as in flight,
// never modified), so reads see its bytes and the dirty budget counts them. Any other change
// (a write inside the file, a hole, a truncate) leaves streaming, and Seal() runs the dirty runs
// through the same content-defined chunker (holes are never chunked: they stay holes, in memory
// and in the file object), so a file written through the mount chunks (and
// dedups) like an imported one whichever way it was written. SealIdle() does that early under
// memory pressure while keeping the undecided tail in memory, so a file being written is never
// held whole. Seal() waits for every chunk in flight before it builds the file object.
//
// Thread-safe. Lock order: write_mu_ (serializes the mutators, held while they wait for the
// sink) before mu_ (the segments: readers share it, and it is never held while waiting for the
// sink or storing). A caller may hold the NodeTable's mutex when it calls in (that mutex comes
// first in the lock order), but not across Write, Truncate, Seal or SealIdle, which wait for I/O.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "vfs/shared_mutex.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/chunk_sink.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::vfs {

class FileContent {
 public:
  // dirty_counter: a filesystem-wide count of dirty bytes, kept up to date by this object.
  // pool: where chunks are hashed, sealed and stored (nullptr: on the writing thread).
  FileContent(repo::Repository* repo, const repo::FileObject& base,
              std::atomic<int64_t>* dirty_counter, ThreadPool* pool = nullptr);
  ~FileContent();

  uint64_t size() const { return size_.load(); }
  // Bytes of size that are holes (zeros that are stored as nothing).
  uint64_t hole_bytes() const { return hole_bytes_.load(); }
  // Bumped by every change; a file whose version moved since its last seal has news to commit.
  uint64_t version() const { return version_.load(); }
  bool dirty() const EXCLUDES(mu_);
  int64_t dirty_bytes() const EXCLUDES(mu_);

  // Makes reads go through reader (shared by the mount: its cache and read-ahead workers) with
  // a read-ahead state of this file's own. weight_file: the name says it holds weights, read
  // whole from the start. Call once, before the content is shared between threads. Without
  // it, reads fetch only the frames they need, without cache or read-ahead.
  void SetReader(repo::ChunkReader* reader, bool weight_file);

  // Appends views of up to len bytes at offset (short only at end of file) to *out. The views
  // stay valid while *out lives, whatever happens to the file meanwhile.
  Status Read(uint64_t offset, uint64_t len, PieceList* out) const EXCLUDES(mu_);
  // The same bytes, copied into *out (cleared first).
  Status Read(uint64_t offset, uint64_t len, Bytes* out) const EXCLUDES(mu_);
  Status Write(uint64_t offset, ByteView data) EXCLUDES(write_mu_, mu_);
  // Growing adds a hole: O(1), whatever the size.
  Status Truncate(uint64_t size) EXCLUDES(write_mu_, mu_);
  // lseek's SEEK_DATA (hole false) and SEEK_HOLE (hole true): the first offset >= offset that is
  // data, or in a hole (the end of the file counts as one). nullopt: none (ENXIO).
  std::optional<uint64_t> Seek(uint64_t offset, bool hole) const EXCLUDES(mu_);

  // Seals everything dirty and stores the file object; returns it and its id. Objects are not
  // synced (the commit syncs once before publishing the tree).
  Result<std::pair<ObjectId, repo::FileObject>> Seal() EXCLUDES(write_mu_, mu_);
  // Seals the dirty data except an undecided tail shorter than a chunk. Used when the dirty
  // bytes pass a memory budget.
  Status SealIdle() EXCLUDES(write_mu_, mu_);

 private:
  struct Segment {
    enum class Kind { kStored, kDirty, kZero } kind;
    uint64_t size = 0;
    ObjectId id;                  // kStored
    std::shared_ptr<Bytes> data;  // kDirty
    // kDirty: nonzero while the segment is a decided chunk in the sink (its bytes are then
    // never modified; the sink's result, matched by this tag, makes it kStored).
    uint64_t tag = 0;
  };
  // A chunk to hand to the sink once mu_ is released.
  struct Submission {
    uint64_t tag;
    std::shared_ptr<Bytes> data;
  };

  // The helpers below require mu_: exclusively, or shared for those marked so.
  size_t SegmentAt(uint64_t offset) const WFS_REQUIRES_SHARED(mu_);  // segment holding offset
  void RecomputeStarts() REQUIRES(mu_);
  // Appends a hole of n bytes at the end (merged with a hole there).
  void AppendHoleLocked(uint64_t n) REQUIRES(mu_);
  Status SplitAt(uint64_t offset, size_t* index) REQUIRES(mu_);  // segment boundary at offset
  Status ReadSegment(const Segment& s, uint64_t start_in_seg, uint64_t len, Bytes* out) const;
  // whole_chunks: read a stored chunk whole through the reader's cache (a sequential reader
  // will want the rest), else only the frames the range touches.
  Status ReadSegmentPieces(const Segment& s, uint64_t start_in_seg, uint64_t len, bool whole_chunks,
                           PieceList* out) const;
  // Asks the reader to load the stored chunks in [from, to) ahead of the reader. Returns how
  // far it got: to, or the start of the first chunk the cache had no room for.
  uint64_t PrefetchLocked(uint64_t from, uint64_t to) const WFS_REQUIRES_SHARED(mu_);
  Status SealLocked(bool keep_tail, std::vector<Submission>* subs) REQUIRES(mu_);
  // SealLocked for the undecided run segs_[first, last): its chunks go to *out and *subs, an
  // undecided tail (keep_tail, at the end of the file) stays dirty.
  Status RechunkRunLocked(size_t first, size_t last, bool keep_tail, std::vector<Segment>* out,
                          std::vector<Submission>* subs) REQUIRES(mu_);
  // The file object of a file whose segments are all stored or holes.
  Result<repo::FileObject> FileObjectLocked() const WFS_REQUIRES_SHARED(mu_);
  void DetectForcedCuts() REQUIRES(mu_);
  void AddDirty(int64_t delta) REQUIRES(mu_);
  // A write anywhere (holes, overwrites, appends) as plain dirty data.
  Status WriteLocked(uint64_t offset, ByteView data) REQUIRES(mu_);
  // Overwrites the stored part of the file in [offset, overlap_end) with data's first bytes.
  Status OverwriteLocked(uint64_t offset, uint64_t overlap_end, ByteView data) REQUIRES(mu_);
  // Appends piece to the pending chunk (the last segment), starting one if there is none.
  Segment* AppendPendingLocked(ByteView piece) REQUIRES(mu_);
  // The streaming append (see the class comment); data goes at the end of the file.
  void AppendStreamLocked(ByteView data, std::vector<Submission>* subs) REQUIRES(mu_);
  // Turns a decided dirty segment into a chunk in flight.
  void DecideLocked(Segment* s, std::vector<Submission>* subs) REQUIRES(mu_);
  // Starts streaming if the file allows it: all segments decided except a dirty tail.
  void ResumeStreamLocked() REQUIRES(mu_);
  // Makes the segments whose chunks were stored kStored.
  void ApplyStoredLocked(const std::vector<repo::StoredChunk>& stored) REQUIRES(mu_);
  // After a sink error: chunks in flight become plain dirty data again (a later Seal retries).
  void AbandonInFlightLocked() REQUIRES(mu_);

  // Require write_mu_ and take mu_ themselves.
  Status Submit(std::vector<Submission>* subs) REQUIRES(write_mu_) EXCLUDES(mu_);
  // Applies the finished results without waiting (all: wait for every chunk in flight).
  Status CollectStored(bool all) REQUIRES(write_mu_) EXCLUDES(mu_);

  repo::Repository* repo_;
  std::atomic<int64_t>* dirty_counter_;
  // Reads go through reader_ (the mount's, or own_reader_ without cache or workers).
  std::unique_ptr<repo::ChunkReader> own_reader_;
  repo::ChunkReader* reader_ = nullptr;
  std::unique_ptr<repo::ReadAhead> read_ahead_;  // null: no read-ahead
  ThreadPool* pool_;
  Mutex write_mu_ ACQUIRED_BEFORE(mu_);
  std::unique_ptr<repo::ChunkSink> sink_ GUARDED_BY(write_mu_);  // created on first use
  mutable SharedMutex mu_;
  std::vector<Segment> segs_ GUARDED_BY(mu_);
  // starts_[i] = offset of segs_[i]; one extra entry = size
  std::vector<uint64_t> starts_ GUARDED_BY(mu_);
  int64_t dirty_bytes_ GUARDED_BY(mu_) = 0;  // bytes held in kDirty segments
  std::atomic<uint64_t> size_{0};            // starts_.back(), readable without mu_
  std::atomic<uint64_t> hole_bytes_{0};      // bytes in kZero segments, readable without mu_
  std::atomic<uint64_t> version_{0};
  enum class CutState { kUnknown, kNone, kFound };
  CutState cut_state_ GUARDED_BY(mu_) = CutState::kUnknown;
  std::vector<uint64_t> forced_cuts_ GUARDED_BY(mu_);  // absolute offsets (safetensors boundaries)
  uint64_t next_tag_ GUARDED_BY(mu_) = 1;
  // Streaming: the file is all decided chunks up to finder_->chunk_start(), then at most one
  // dirty segment (the pending chunk). finder_ has scanned all of it once the cut state is
  // decided, none of it before.
  bool streaming_ GUARDED_BY(mu_) = false;
  std::optional<repo::CutFinder> finder_ GUARDED_BY(mu_);
};

}  // namespace weightfs::vfs
