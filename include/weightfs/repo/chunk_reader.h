// The read half of the data path: the one component that reads file content out of a repository
// (used by the mount, cat, export, diff and restore).
//
// A read is served from ChunkFrames: frames of one chunk object read from the store into one
// buffer and decrypted there in place, so the reply goes out from the buffer the data was read
// into (PieceList views, no gather). Random reads fetch only the frames they touch; sequential
// readers go through a bounded cache of whole decrypted chunks that a worker pool fills ahead of
// them (ReadAhead decides how far), so the disk or the network, decryption and the FUSE reply
// overlap. Everything is written against the ObjectStore interface: a remote store with slow
// requests gets the same overlap from many loads in flight.
//
// A frame that fails authentication fails only the reads that touch it (kCorruption naming the
// object and frame): the rest of the chunk is still served.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "weightfs/core/buffer_pool.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {

class Repository;

// Opened frames [first_frame, first_frame + frame_count) of one chunk. Immutable once made;
// shared by the cache and the replies sent from it.
class ChunkFrames {
 public:
  ChunkFrames() = default;
  ~ChunkFrames();  // hands the buffer back to the reader's pool
  ChunkFrames(const ChunkFrames&) = delete;
  ChunkFrames& operator=(const ChunkFrames&) = delete;

  const ObjectId& id() const { return id_; }
  uint64_t chunk_size() const { return chunk_size_; }
  // Whether [offset, offset + len) of the chunk lies in these frames.
  bool Covers(uint64_t offset, uint64_t len) const;
  // kCorruption (naming the object and frame) when [offset, offset + len) touches a frame that
  // failed authentication or was missing.
  Status Check(uint64_t offset, uint64_t len) const;
  // Appends views of [offset, offset + len) of the chunk to *out, owned by self (== this).
  // Requires Covers(offset, len).
  static void AppendTo(const std::shared_ptr<const ChunkFrames>& self, uint64_t offset,
                       uint64_t len, PieceList* out);
  // Bytes of memory the frames hold.
  size_t memory() const { return buf_.size(); }

 private:
  friend class ChunkReader;
  ObjectId id_;
  uint64_t chunk_size_ = 0;
  uint64_t first_ = 0;  // first frame held
  uint64_t count_ = 0;  // frames held
  UninitBuffer buf_;
  size_t base_ = 0;                      // frame first_ starts at buf_.data() + base_
  std::vector<uint64_t> bad_;            // frames that failed, sorted
  std::shared_ptr<BufferPool> recycle_;  // where buf_ goes back to (may outlive the reader)
};

// Reads chunk frames and keeps a cache of whole decrypted chunks, filled ahead of readers.
// Thread-safe. Its lock is a leaf, never held across I/O or decryption.
class ChunkReader {
 public:
  struct Options {
    // Bytes of decrypted chunks kept, counting loads in flight.
    int64_t cache_bytes = 256 << 20;
    // Workers that load ahead of readers (more than cores: a remote store's requests wait).
    // 0: no workers, Prefetch does nothing.
    int threads = 4;
    // Memory used elsewhere under the same budget (the mount's unsealed writes): the cache
    // keeps cache_bytes minus this. May be null.
    const std::atomic<int64_t>* shared_usage = nullptr;
  };

  ChunkReader(const Repository* repo, Options options);
  // Waits for the loads in flight.
  ~ChunkReader();

  // The frames of the chunk that hold [offset, offset + len), read and opened on this thread
  // (not cached; a cached whole chunk is used when present). kCorruption for a missing object.
  Result<std::shared_ptr<const ChunkFrames>> ReadFrames(const ObjectId& id, uint64_t chunk_size,
                                                        uint64_t offset, uint64_t len);
  // The whole chunk through the cache: a cached one, one a worker is loading (waits for it), or
  // one loaded now on this thread.
  Result<std::shared_ptr<const ChunkFrames>> GetChunk(const ObjectId& id, uint64_t chunk_size);
  // Starts loading the whole chunk on a worker unless it is cached or in flight. Returns false
  // when the cache has no room for it without dropping chunks that were loaded ahead and not
  // read yet (the reader is behind: loading more would only evict what it needs next).
  bool Prefetch(const ObjectId& id, uint64_t chunk_size);

  // Sequential streams reading through this reader (ReadAhead keeps it): their windows share
  // the cache.
  std::atomic<int>* stream_count() { return &streams_; }

  // Memory held by cached and in-flight chunks.
  int64_t cached_bytes() const;
  int64_t capacity() const;

 private:
  struct Entry {
    std::shared_ptr<const ChunkFrames> frames;  // null while loading
    int64_t bytes = 0;
    bool read = false;  // a reader has used it (prefetched entries start unread)
    std::chrono::steady_clock::time_point since;  // when it was added
    std::list<ObjectId>::iterator lru;
    // Readers waiting for this load (bound to mu_), made by the first one: a finished load
    // wakes only the readers of its chunk.
    std::shared_ptr<CondVar> waiters;
  };

  // Reads and opens frames [first, first + count) of a chunk: LoadOnce, and once more when a
  // frame failed and the store dropped a cached copy (ObjectStore::DropCachedCopy).
  Result<std::shared_ptr<ChunkFrames>> Load(const ObjectId& id, uint64_t chunk_size, uint64_t first,
                                            uint64_t count) const;
  Result<std::shared_ptr<ChunkFrames>> LoadOnce(const ObjectId& id, uint64_t chunk_size,
                                                uint64_t first, uint64_t count) const;
  // Runs a whole-chunk load and publishes it (or drops the entry on failure).
  Result<std::shared_ptr<const ChunkFrames>> LoadAndPublish(const ObjectId& id,
                                                            uint64_t chunk_size);
  int64_t Budget() const;
  // Evicts least recently used loaded entries until need bytes fit: read ones, and for a
  // demand load also unread ones older than kStaleUnread (a reader that stopped). Evicting a
  // fresh unread entry would only make its reader load it again. Returns whether they fit.
  bool MakeRoomLocked(int64_t need, bool demand) REQUIRES(mu_);
  void EraseLocked(std::unordered_map<ObjectId, Entry, ObjectIdHash>::iterator it) REQUIRES(mu_);
  // Marks an entry used by a reader; keeps the used ones within kKeepRead bytes (a streaming
  // reader does not come back, and their buffers are better reused than new ones faulted in).
  void MarkReadLocked(Entry* e) REQUIRES(mu_);
  static constexpr int64_t kKeepRead = 32 << 20;
  static constexpr std::chrono::milliseconds kStaleUnread{2000};

  const Repository* repo_;
  const Options options_;
  // Buffers of dropped chunks, reused (a quarter of the cache at most, counted in it).
  std::shared_ptr<BufferPool> buffers_;

  mutable Mutex mu_;
  std::unordered_map<ObjectId, Entry, ObjectIdHash> entries_ GUARDED_BY(mu_);
  std::list<ObjectId> lru_ GUARDED_BY(mu_);  // most recent first
  int64_t used_ GUARDED_BY(mu_) = 0;         // bytes of every entry
  int64_t read_bytes_ GUARDED_BY(mu_) = 0;   // bytes of loaded entries a reader has used
  int in_flight_ GUARDED_BY(mu_) = 0;        // worker loads not finished
  CondVar idle_cv_{&mu_};                    // in_flight_ reached 0
  std::atomic<int> streams_{0};

  // Last member: destroyed (joined) first, while the cache it fills still exists.
  std::unique_ptr<ThreadPool> pool_;
};

// ReadAhead: per open file, recognizes sequential streams among its reads (several at once: 8
// threads reading their own regions are 8 streams) and says how far ahead to load. A stream's
// window starts small and doubles while reads keep coming in order; a read that fits no stream
// starts a new one (replacing the least recently used) with no window. A file whose name says it
// holds weights, or that is read from its start with large requests, starts sequential.
// Thread-safe.
class ReadAhead {
 public:
  static constexpr uint64_t kInitialWindow = 2 << 20;
  static constexpr uint64_t kWeightFileWindow = 8 << 20;
  static constexpr uint64_t kLargeRequest = 128 << 10;
  static constexpr int kMaxStreams = 16;

  // max_window: the largest window (a fraction of the cache), shared by the sequential streams
  // counted in *shared_streams (every file's, so that all windows fit the cache; may be null).
  explicit ReadAhead(uint64_t max_window, bool weight_file = false,
                     std::atomic<int>* shared_streams = nullptr)
      : max_window_(max_window), weight_file_(weight_file), shared_(shared_streams) {}
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  struct Decision {
    bool sequential = false;
    // Load ahead [ahead_from, ahead_to): the part of the stream's window that no earlier read
    // of the stream asked for (empty when not sequential or nothing new), so that each chunk is
    // asked for once, not once per read while it stays in the window.
    uint64_t ahead_from = 0;
    uint64_t ahead_to = 0;
    uint64_t stream = 0;  // names the stream for Reached
  };
  Decision OnRead(uint64_t offset, uint64_t len);
  // The loads a decision asked for stopped at `reached` (the cache had no room): the stream asks
  // again from there on its next read.
  void Reached(uint64_t stream, uint64_t reached);

 private:
  struct Stream {
    uint64_t next = 0;      // where the stream's next read is expected
    uint64_t window = 0;    // 0: not (yet) sequential
    uint64_t ahead_to = 0;  // loads asked for up to here
    uint64_t last_use = 0;
    uint64_t id = 0;
  };
  // A read this far behind or ahead of a sequential stream's position still continues it
  // (reads of one stream arrive out of order from several kernel threads; a reader may skip
  // into what was loaded ahead); a stream without a window needs a read within kLargeRequest.
  static constexpr uint64_t kBackSlack = 1 << 20;
  static constexpr uint64_t kForwardSlack = 16 << 20;

  // Counts this file's sequential streams into shared_.
  void CountLocked() REQUIRES(mu_);

  const uint64_t max_window_;
  const bool weight_file_;
  std::atomic<int>* const shared_;
  Mutex mu_;
  int counted_ GUARDED_BY(mu_) = 0;  // what this file added to *shared_
  std::vector<Stream> streams_ GUARDED_BY(mu_);
  uint64_t clock_ GUARDED_BY(mu_) = 0;
  uint64_t next_id_ GUARDED_BY(mu_) = 0;
};

// Whether a file name says it holds model weights (read whole, from the start).
bool IsWeightFileName(std::string_view name);

}  // namespace weightfs::repo
