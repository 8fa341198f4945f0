#include "weightfs/repo/file_io.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "weightfs/repo/safetensors.h"

namespace weightfs::repo {

namespace {

// The writer's buffer: large enough that the undecided tail moved to a new buffer when one
// fills (at most a chunk, on average half of one) is a small fraction of what was read.
constexpr size_t kWriterBuffer = 16 << 20;
constexpr size_t kPage = 4096;
// Chunks being hashed, sealed and stored at once per file: enough to keep every worker busy.
constexpr uint64_t kWriterInFlight = 64 << 20;
// Buffers kept for reuse: enough to cover the bytes in flight.
constexpr size_t kMaxSpareBuffers = kWriterInFlight / kWriterBuffer + 2;
// Holes are read as views of one static block of zeros; ForEachChunk hands them out this large.
constexpr uint64_t kZeroPiece = 1 << 20;

void AddZeros(uint64_t n, PieceList* out) {
  static const Bytes* const zeros = new Bytes(kZeroPiece, 0);
  for (uint64_t left = n; left > 0;) {
    const uint64_t k = std::min(left, kZeroPiece);
    out->Add(ByteView(zeros->data(), k), nullptr);
    left -= k;
  }
}

}  // namespace

FileWriter::FileWriter(Repository* repo, uint32_t key_id, bool detect_safetensors, ThreadPool* pool)
    : repo_(repo),
      key_id_(key_id),
      finder_(repo->config().chunker, repo->gear()),
      detecting_(detect_safetensors),
      sink_(repo, pool, kWriterInFlight, key_id) {}

std::span<uint8_t> FileWriter::Space() {
  if (!buf_ || filled_ == buf_->size()) {
    // A new buffer takes over the pending chunk (or, while detecting, the whole header so far).
    const size_t pending = buf_ ? filled_ - chunk_off_ : 0;
    // The pending bytes are placed to end on a page boundary (a reader filling Space() with
    // O_DIRECT needs its start aligned). While detecting, the buffer must hold the stream from
    // byte 0; it is then aligned anyway when every read so far was whole pages.
    const size_t pad = detecting_ ? 0 : (kPage - pending % kPage) % kPage;
    const size_t want = (std::max(kWriterBuffer, 2 * pending) + pad + kPage - 1) / kPage * kPage;
    // Reuse a buffer whose chunks are all stored (only this writer still holds it): fresh
    // memory costs a page fault per 4 KiB on the first touch, more than the read itself.
    std::shared_ptr<UninitBuffer> next;
    for (auto it = spare_.begin(); it != spare_.end(); ++it) {
      if (it->use_count() == 1 && (*it)->size() >= want) {
        // The sink dropped its last reference after its last read of the bytes.
        std::atomic_thread_fence(std::memory_order_acquire);
        next = std::move(*it);
        spare_.erase(it);
        break;
      }
    }
    if (!next) next = std::make_shared<UninitBuffer>(UninitBuffer::Mapped(want));  // page-aligned
    if (buf_ && spare_.size() < kMaxSpareBuffers) spare_.push_back(buf_);
    if (pending > 0) std::memcpy(next->data() + pad, buf_->data() + chunk_off_, pending);
    scanned_ = scanned_ - chunk_off_ + pad;
    filled_ = pad + pending;
    chunk_off_ = pad;
    buf_ = std::move(next);
  }
  return buf_->span().subspan(filled_);
}

Status FileWriter::Commit(size_t n) {
  WFS_CHECK(buf_ && n <= buf_->size() - filled_);
  filled_ += n;
  file_.size += n;
  return ScanAndEmit(/*at_end=*/false);
}

Status FileWriter::Write(ByteView data) {
  while (!data.empty()) {
    std::span<uint8_t> space = Space();
    const size_t n = std::min(space.size(), data.size());
    std::memcpy(space.data(), data.data(), n);
    RETURN_IF_ERROR(Commit(n));
    data = data.subspan(n);
  }
  return Status::Ok();
}

Status FileWriter::ScanAndEmit(bool at_end) {
  if (detecting_) {
    // Nothing is cut before the safetensors cuts are known. While detecting, the buffer holds
    // the stream from its first byte (chunk_off_ is 0 and nothing was emitted).
    SafetensorsCutProbe probe =
        ProbeSafetensorsCuts(ByteView(buf_ ? buf_->data() : nullptr, filled_), at_end);
    if (!probe.decided) return Status::Ok();
    detecting_ = false;
    for (uint64_t cut : probe.cuts) finder_.AddForcedCut(cut);
  }
  while (scanned_ < filled_) {
    bool cut = false;
    scanned_ += finder_.Scan(ByteView(buf_->data() + scanned_, filled_ - scanned_), &cut);
    if (!cut) break;
    RETURN_IF_ERROR(sink_.Add(ByteView(buf_->data() + chunk_off_, scanned_ - chunk_off_), buf_));
    chunk_off_ = scanned_;
  }
  if (at_end && chunk_off_ < filled_) {
    RETURN_IF_ERROR(sink_.Add(ByteView(buf_->data() + chunk_off_, filled_ - chunk_off_), buf_));
    chunk_off_ = filled_;
  }
  // Collect what is done, so results do not pile up for a long file.
  std::vector<StoredChunk> done;
  RETURN_IF_ERROR(sink_.TakeFinished(&done));
  for (const StoredChunk& c : done) file_.chunks.push_back(c.ref);
  return Status::Ok();
}

Result<ObjectId> FileWriter::Finish() {
  RETURN_IF_ERROR(ScanAndEmit(/*at_end=*/true));
  std::vector<StoredChunk> done;
  RETURN_IF_ERROR(sink_.Drain(&done));
  for (const StoredChunk& c : done) file_.chunks.push_back(c.ref);
  buf_.reset();
  return repo_->objects().PutFile(file_, key_id_);
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
    if (c.hole) {
      AddZeros(n, out);
    } else {
      ASSIGN_OR_RETURN(std::shared_ptr<const ChunkFrames> frames,
                       reader_->ReadFrames(c.id, c.size, in_chunk, n));
      RETURN_IF_ERROR(frames->Check(in_chunk, n));
      ChunkFrames::AppendTo(frames, in_chunk, n, out);
    }
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

Status FileReader::WriteTo(int fd, const std::string& what,
                           const std::function<void(uint64_t)>& written) {
  std::vector<struct iovec> iov;
  return ForEachChunk([&](const PieceList& pieces) {
    iov.clear();
    for (ByteView piece : pieces.pieces()) {
      iov.push_back({const_cast<uint8_t*>(piece.data()), piece.size()});
    }
    // A chunk is at most 64 frames; writev takes up to IOV_MAX (1024) pieces at once.
    for (size_t first = 0; first < iov.size();) {
      const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
      ssize_t n = ::writev(fd, iov.data() + first, count);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "writing " + what);
      }
      if (written) written(static_cast<uint64_t>(n));
      // A short write: skip what went out, and go on from the middle of a piece if need be.
      for (auto left = static_cast<size_t>(n); left > 0;) {
        const size_t k = std::min(left, iov[first].iov_len);
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + k;
        iov[first].iov_len -= k;
        left -= k;
        if (iov[first].iov_len == 0) ++first;
      }
    }
    return Status::Ok();
  });
}

Status FileReader::ForEachChunk(const std::function<Status(const PieceList&)>& fn) {
  size_t ahead = 0;  // chunks before this one were asked for
  uint64_t ahead_bytes = 0;
  for (size_t i = 0; i < file_.chunks.size(); ++i) {
    const ChunkRef& c = file_.chunks[i];
    if (ahead <= i) {
      ahead = i + 1;
      ahead_bytes = 0;
    } else if (!c.hole) {
      ahead_bytes -= c.size;
    }
    // Holes are skipped by the read-ahead (nothing to load) and count nothing against it.
    while (ahead < file_.chunks.size() && ahead_bytes < kAhead &&
           (file_.chunks[ahead].hole ||
            reader_->Prefetch(file_.chunks[ahead].id, file_.chunks[ahead].size))) {
      if (!file_.chunks[ahead].hole) ahead_bytes += file_.chunks[ahead].size;
      ++ahead;
    }
    if (c.hole) {
      for (uint64_t left = c.size; left > 0;) {
        PieceList zeros;
        const uint64_t n = std::min<uint64_t>(left, kZeroPiece);
        AddZeros(n, &zeros);
        RETURN_IF_ERROR(fn(zeros));
        left -= n;
      }
      continue;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkFrames> frames, reader_->GetChunk(c.id, c.size));
    RETURN_IF_ERROR(frames->Check(0, c.size));
    PieceList pieces;
    ChunkFrames::AppendTo(frames, 0, c.size, &pieces);
    RETURN_IF_ERROR(fn(pieces));
  }
  return Status::Ok();
}

}  // namespace weightfs::repo
