// Streaming file content in and out of a repository.
// FileWriter turns a byte stream into sealed chunks as it arrives (the file is never held whole
// in memory; chunks are cut in place in its buffer and stored by a ChunkSink) and finally a file
// object. FileReader reads any range of a stored file, opening only the frames that hold it.
// Neither is thread-safe; use one per stream.
#pragma once

#include <memory>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_pool.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/chunk_sink.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

class FileWriter {
 public:
  // detect_safetensors: add forced cuts at safetensors tensor boundaries when the stream is one.
  // pool: the workers that hash, seal and store chunks (nullptr: the calling thread does it).
  // key_id: the keys the file is sealed under (ObjectLayer::WriteKeyFor its path).
  FileWriter(Repository* repo, uint32_t key_id, bool detect_safetensors = true,
             ThreadPool* pool = nullptr);
  // Copies data into the writer's buffer (once; chunks are cut and stored from there).
  Status Write(ByteView data);
  // For a caller that can fill the buffer itself (read(2)): Space() is where the next bytes go
  // (never empty), Commit(n) says that n of them were filled.
  std::span<uint8_t> Space();
  Status Commit(size_t n);
  // Stores the file object (objects are not synced; the caller syncs before publishing a ref).
  Result<ObjectId> Finish();
  const FileObject& file() const { return file_; }
  // Bytes of chunks that were new to the repository (not deduplicated).
  uint64_t new_bytes() const { return sink_.new_bytes(); }

 private:
  // Scans the committed bytes not yet scanned and hands every finished chunk to the sink.
  Status ScanAndEmit(bool at_end);

  Repository* repo_;
  uint32_t key_id_;
  FileObject file_;
  CutFinder finder_;
  bool detecting_;
  ChunkSink sink_;
  // The current buffer: the pending chunk starts at chunk_off_, bytes up to scanned_ are
  // scanned, up to filled_ committed. Earlier bytes belong to chunks in the sink, which keep
  // the buffer alive through shared ownership.
  std::shared_ptr<UninitBuffer> buf_;
  // Earlier buffers, reused once the sink has dropped them.
  std::vector<std::shared_ptr<UninitBuffer>> spare_;
  size_t chunk_off_ = 0;
  size_t scanned_ = 0;
  size_t filled_ = 0;
};

// Reads a stored file through a ChunkReader: any range (only the frames that hold it), or the
// whole file in order with chunks loaded ahead on the reader's workers. Not thread-safe.
class FileReader {
 public:
  // reader: shared, with a cache and workers (export, cat); null: a private one without either.
  FileReader(const Repository* repo, FileObject file, ChunkReader* reader = nullptr);
  ~FileReader();
  uint64_t size() const { return file_.size; }
  // Reads up to len bytes at offset into *out (cleared first); shorter only at end of file.
  Status ReadAt(uint64_t offset, uint64_t len, Bytes* out);
  // Appends views of up to len bytes at offset to *out; shorter only at end of file.
  Status ReadPieces(uint64_t offset, uint64_t len, PieceList* out);
  // Writes the file's bytes in order to fd, one writev per chunk straight from the decrypted
  // frames, loading up to kAhead bytes of chunks ahead (for export and cat). written (may be
  // empty) hears the size of each piece written; what names fd in errors.
  Status WriteTo(int fd, const std::string& what, const std::function<void(uint64_t)>& written);
  static constexpr uint64_t kAhead = 64 << 20;

 private:
  // Calls fn with the file's bytes in order, a chunk's pieces (or up to a MiB of a hole) at a
  // time.
  Status ForEachChunk(const std::function<Status(const PieceList&)>& fn);

  const Repository* repo_;
  FileObject file_;
  std::unique_ptr<ChunkReader> own_reader_;
  ChunkReader* reader_;
  std::vector<uint64_t> starts_;  // starts_[i] = offset of chunk i
};

}  // namespace weightfs::repo
