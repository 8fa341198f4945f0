// ChunkSink: the one component that stores chunks (the mount's files, import). Chunks go in in
// stream order; their HMAC id, the one existence check, AES-GCM sealing and the store's Put run
// on a worker pool, at most max_bytes_in_flight of them at a time (the submitting thread blocks
// instead of memory growing), and the results come back in submission order. The first error
// is sticky: every later call reports it.
//
// A chunk is passed by reference: its bytes must stay valid until its work has finished, which
// the owner handed in with it guarantees (the sink drops the owner as soon as the chunk is
// stored, so memory is returned early).
//
// Thread-safe; one stream per sink (Add calls are ordered by the caller). The destructor waits
// for every chunk handed in.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

struct StoredChunk {
  uint64_t tag = 0;  // what the caller passed to Add, to match results to its own records
  ChunkRef ref;
  bool is_new = false;  // false: the repository had it already (deduplicated)
};

class ChunkSink {
 public:
  // pool: where the work runs; nullptr runs it on the calling thread inside Add.
  // max_bytes_in_flight: Add blocks while chunks of more bytes than this are being stored (one
  // chunk larger than it is still accepted alone).
  // key_id: the keys the chunks are sealed under (ObjectLayer::WriteKeyFor the file's path); the
  // sink checks that this slot holds them.
  ChunkSink(Repository* repo, ThreadPool* pool, uint64_t max_bytes_in_flight, uint32_t key_id);
  ~ChunkSink();
  ChunkSink(const ChunkSink&) = delete;
  ChunkSink& operator=(const ChunkSink&) = delete;

  // Hands one chunk over. chunk must stay valid while owner lives. Blocks for back-pressure.
  // Returns the sticky error, if any (then the chunk was not taken).
  Status Add(ByteView chunk, std::shared_ptr<const void> owner, uint64_t tag = 0);
  // Moves the results of the finished chunks at the head of the stream (in order) to *out,
  // without waiting. Returns the sticky error, if any.
  Status TakeFinished(std::vector<StoredChunk>* out);
  // Waits for every chunk handed in, then moves all results not yet taken to *out, in order.
  Status Drain(std::vector<StoredChunk>* out);

  // Counters over everything stored so far.
  uint64_t new_bytes() const;
  uint64_t dedup_bytes() const;
  uint64_t bytes_in_flight() const;

 private:
  struct Slot {
    uint64_t tag = 0;
    uint32_t size = 0;
    bool done = false;
    StoredChunk result;
  };
  // Runs on a worker: id, existence check, seal and store. Never holds mu_ while doing so.
  void Store(Slot* slot, ByteView chunk, std::shared_ptr<const void> owner);
  void TakeLocked(bool all, std::vector<StoredChunk>* out) REQUIRES(mu_);

  Repository* const repo_;
  ThreadPool* const pool_;
  const uint64_t max_in_flight_;
  const uint32_t key_id_;

  mutable Mutex mu_;
  CondVar cv_{&mu_};  // a slot finished
  // Submitted, not yet taken (deque: the workers' Slot pointers stay valid while the ends change).
  std::deque<Slot> slots_ GUARDED_BY(mu_);
  uint64_t in_flight_bytes_ GUARDED_BY(mu_) = 0;
  int running_ GUARDED_BY(mu_) = 0;  // chunks handed in and not finished
  Status error_ GUARDED_BY(mu_);
  uint64_t new_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t dedup_bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace weightfs::repo
