#include "weightfs/repo/file_io.h"

#include <algorithm>

namespace weightfs::repo {

FileWriter::FileWriter(Repository* repo, bool detect_safetensors)
    : repo_(repo),
      chunker_(repo->config().chunker, repo->gear(), detect_safetensors,
               [this](ByteView chunk) { return StoreChunk(chunk); }) {}

Status FileWriter::StoreChunk(ByteView chunk) {
  ObjectId id = repo_->ComputeId(ObjectType::kChunk, chunk);
  ASSIGN_OR_RETURN(bool exists, repo_->store()->Contains(id));
  if (!exists) {
    RETURN_IF_ERROR(repo_->PutObjectWithId(ObjectType::kChunk, id, chunk));
    new_bytes_ += chunk.size();
  } else {
    repo_->store()->Touch(id).IgnoreError();  // young again for gc's grace period (best effort)
  }
  file_.chunks.push_back(ChunkRef{id, static_cast<uint32_t>(chunk.size())});
  file_.size += chunk.size();
  return Status::Ok();
}

Status FileWriter::Write(ByteView data) { return chunker_.Write(data); }

Result<ObjectId> FileWriter::Finish() {
  RETURN_IF_ERROR(chunker_.Finish());
  return repo_->PutFile(file_);
}

FileReader::FileReader(const Repository* repo, FileObject file) : repo_(repo), file_(std::move(file)) {
  starts_.reserve(file_.chunks.size());
  uint64_t pos = 0;
  for (const ChunkRef& c : file_.chunks) {
    starts_.push_back(pos);
    pos += c.size;
  }
}

Status FileReader::ReadAt(uint64_t offset, uint64_t len, Bytes* out) {
  out->clear();
  if (offset >= file_.size) return Status::Ok();
  len = std::min(len, file_.size - offset);
  out->reserve(len);
  // The chunk holding offset: the last one starting at or before it.
  size_t i = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
  while (len > 0 && i < file_.chunks.size()) {
    const ChunkRef& c = file_.chunks[i];
    uint64_t in_chunk = offset - starts_[i];
    uint64_t n = std::min<uint64_t>(len, c.size - in_chunk);
    ASSIGN_OR_RETURN(Bytes part, repo_->ReadChunkRange(c.id, c.size, in_chunk, n));
    if (part.size() != n) return Corruption("chunk " + c.id.Hex() + " is shorter than its file says");
    out->insert(out->end(), part.begin(), part.end());
    offset += n;
    len -= n;
    ++i;
  }
  return Status::Ok();
}

Status FileReader::ForEachChunk(const std::function<Status(ByteView)>& fn) {
  for (const ChunkRef& c : file_.chunks) {
    ASSIGN_OR_RETURN(Bytes plain, repo_->GetObject(ObjectType::kChunk, c.id));
    if (plain.size() != c.size) {
      return Corruption("chunk " + c.id.Hex() + " has " + std::to_string(plain.size()) +
                        " bytes, its file says " + std::to_string(c.size));
    }
    RETURN_IF_ERROR(fn(plain));
  }
  return Status::Ok();
}

}  // namespace weightfs::repo
