// Streaming file content in and out of a repository.
// FileWriter turns a byte stream into sealed chunks as it arrives (the file is never held whole
// in memory) and finally a file object. FileReader reads any range of a stored file, opening
// only the frames that hold it. Neither is thread-safe; use one per stream.
#pragma once

#include <memory>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"
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

class FileReader {
 public:
  FileReader(const Repository* repo, FileObject file);
  uint64_t size() const { return file_.size; }
  // Reads up to len bytes at offset into *out (cleared first); shorter only at end of file.
  Status ReadAt(uint64_t offset, uint64_t len, Bytes* out);
  // Calls fn with each whole chunk's plaintext in order (for export and cat).
  Status ForEachChunk(const std::function<Status(ByteView)>& fn);

 private:
  const Repository* repo_;
  FileObject file_;
  std::vector<uint64_t> starts_;  // starts_[i] = offset of chunk i
};

}  // namespace weightfs::repo
