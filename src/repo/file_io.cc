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

FileReader::FileReader(const Repository* repo, FileObject file, ChunkReader* reader)
    : repo_(repo), file_(std::move(file)), reader_(reader) {
  if (reader_ == nullptr) {
    own_reader_ = std::make_unique<ChunkReader>(repo_, ChunkReader::Options{0, 0, nullptr});
    reader_ = own_reader_.get();
  }
  starts_.reserve(file_.chunks.size());
  uint64_t pos = 0;
  for (const ChunkRef& c : file_.chunks) {
    starts_.push_back(pos);
    pos += c.size;
  }
}

FileReader::~FileReader() = default;

Status FileReader::ReadPieces(uint64_t offset, uint64_t len, PieceList* out) {
  if (offset >= file_.size) return Status::Ok();
  len = std::min(len, file_.size - offset);
  // The chunk holding offset: the last one starting at or before it.
  size_t i = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
  while (len > 0 && i < file_.chunks.size()) {
    const ChunkRef& c = file_.chunks[i];
    const uint64_t in_chunk = offset - starts_[i];
    const uint64_t n = std::min<uint64_t>(len, c.size - in_chunk);
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkFrames> frames,
                     reader_->ReadFrames(c.id, c.size, in_chunk, n));
    RETURN_IF_ERROR(frames->Check(in_chunk, n));
    ChunkFrames::AppendTo(frames, in_chunk, n, out);
    offset += n;
    len -= n;
    ++i;
  }
  return Status::Ok();
}

Status FileReader::ReadAt(uint64_t offset, uint64_t len, Bytes* out) {
  out->clear();
  PieceList pieces;
  RETURN_IF_ERROR(ReadPieces(offset, len, &pieces));
  pieces.AppendTo(out);
  return Status::Ok();
}

Status FileReader::ForEachPiece(const std::function<Status(ByteView)>& fn) {
  size_t ahead = 0;  // chunks before this one were asked for
  uint64_t ahead_bytes = 0;
  for (size_t i = 0; i < file_.chunks.size(); ++i) {
    const ChunkRef& c = file_.chunks[i];
    if (ahead <= i) {
      ahead = i + 1;
      ahead_bytes = 0;
    } else {
      ahead_bytes -= c.size;
    }
    while (ahead < file_.chunks.size() && ahead_bytes < kAhead &&
           reader_->Prefetch(file_.chunks[ahead].id, file_.chunks[ahead].size)) {
      ahead_bytes += file_.chunks[ahead].size;
      ++ahead;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkFrames> frames, reader_->GetChunk(c.id, c.size));
    RETURN_IF_ERROR(frames->Check(0, c.size));
    PieceList pieces;
    ChunkFrames::AppendTo(frames, 0, c.size, &pieces);
    for (ByteView piece : pieces.pieces()) RETURN_IF_ERROR(fn(piece));
  }
  return Status::Ok();
}

}  // namespace weightfs::repo
