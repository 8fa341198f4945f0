// Streaming file content in and out of a repository.
// FileWriter turns a byte stream into sealed chunks as it arrives (the file is never held whole
// in memory) and finally a file object. FileReader reads any range of a stored file, opening
// only the frames that hold it. Neither is thread-safe; use one per stream.
#pragma once

#include <memory>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"
#include "weightfs/core/pieces.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

class FileWriter {
 public:
  // detect_safetensors: add forced cuts at safetensors tensor boundaries when the stream is one.
  explicit FileWriter(Repository* repo, bool detect_safetensors = true);
  Status Write(ByteView data);
  // Stores the file object (objects are not synced; the caller syncs before publishing a ref).
  Result<ObjectId> Finish();
  const FileObject& file() const { return file_; }
  // Bytes of chunks that were new to the repository (not deduplicated).
  uint64_t new_bytes() const { return new_bytes_; }

 private:
  Status StoreChunk(ByteView chunk);

  Repository* repo_;
  FileObject file_;
  uint64_t new_bytes_ = 0;
  Chunker chunker_;
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
  // Calls fn with the file's bytes in order, a piece (at most a frame) at a time, loading up to
  // kAhead bytes of chunks ahead (for export and cat).
  Status ForEachPiece(const std::function<Status(ByteView)>& fn);
  static constexpr uint64_t kAhead = 64 << 20;

 private:
  const Repository* repo_;
  FileObject file_;
  std::unique_ptr<ChunkReader> own_reader_;
  ChunkReader* reader_;
  std::vector<uint64_t> starts_;  // starts_[i] = offset of chunk i
};

}  // namespace weightfs::repo
