#include "vfs/file_content.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "weightfs/repo/chunker.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::vfs {
namespace {

constexpr uint64_t kZeroBlock = 1 << 20;
// A dirty segment grows by appends up to this size before a new one starts.
constexpr uint64_t kMaxDirtySegment = 4 << 20;

const Bytes& ZeroBlock() {
  static const Bytes zeros(kZeroBlock, 0);
  return zeros;
}

}  // namespace

FileContent::FileContent(repo::Repository* repo, const repo::FileObject& base,
                         std::atomic<int64_t>* dirty_counter, ThreadPool* pool)
    : repo_(repo),
      dirty_counter_(dirty_counter),
      own_reader_(
          std::make_unique<repo::ChunkReader>(repo, repo::ChunkReader::Options{0, 0, nullptr})),
      reader_(own_reader_.get()),
      pool_(pool) {
  WriterLock lock(&mu_);  // not shared yet; taken for the analysis and free
  segs_.reserve(base.chunks.size());
  for (const repo::ChunkRef& c : base.chunks) {
    segs_.push_back(c.hole ? Segment{Segment::Kind::kZero, c.size, ObjectId(), nullptr}
                           : Segment{Segment::Kind::kStored, c.size, c.id, nullptr});
  }
  RecomputeStarts();
  ResumeStreamLocked();
}

FileContent::~FileContent() {
  WriterLock lock(&mu_);
  AddDirty(-dirty_bytes_);
}

void FileContent::AddDirty(int64_t delta) {
  dirty_bytes_ += delta;
  if (dirty_counter_) dirty_counter_->fetch_add(delta);
}

void FileContent::RecomputeStarts() {
  starts_.resize(segs_.size() + 1);
  uint64_t pos = 0, holes = 0;
  for (size_t i = 0; i < segs_.size(); ++i) {
    starts_[i] = pos;
    pos += segs_[i].size;
    if (segs_[i].kind == Segment::Kind::kZero) holes += segs_[i].size;
  }
  starts_[segs_.size()] = pos;
  size_.store(pos);
  hole_bytes_.store(holes);
}

void FileContent::AppendHoleLocked(uint64_t n) {
  if (n == 0) return;
  if (!segs_.empty() && segs_.back().kind == Segment::Kind::kZero) {
    segs_.back().size += n;
  } else {
    segs_.push_back(Segment{Segment::Kind::kZero, n, ObjectId(), nullptr});
  }
}

std::optional<uint64_t> FileContent::Seek(uint64_t offset, bool hole) const {
  ReaderLock lock(&mu_);
  const uint64_t size = starts_.back();
  if (offset >= size) return std::nullopt;
  for (size_t i = SegmentAt(offset); i < segs_.size(); ++i) {
    if ((segs_[i].kind == Segment::Kind::kZero) == hole) return std::max(offset, starts_[i]);
  }
  if (hole) return size;  // the implicit hole at the end of the file
  return std::nullopt;
}

bool FileContent::dirty() const {
  ReaderLock lock(&mu_);
  // Holes are stored as holes: only unsealed data is dirty.
  return std::any_of(segs_.begin(), segs_.end(),
                     [](const Segment& s) { return s.kind == Segment::Kind::kDirty; });
}

int64_t FileContent::dirty_bytes() const {
  ReaderLock lock(&mu_);
  return dirty_bytes_;
}

size_t FileContent::SegmentAt(uint64_t offset) const {
  // The last segment starting at or before offset.
  auto it = std::upper_bound(starts_.begin(), starts_.end() - 1, offset);
  return static_cast<size_t>(it - starts_.begin()) - 1;
}

void FileContent::SetReader(repo::ChunkReader* reader, bool weight_file) {
  reader_ = reader;
  own_reader_.reset();
  // A window of at most a quarter of the cache, so a few streams at once still fit.
  const auto max_window = static_cast<uint64_t>(std::max<int64_t>(reader->capacity() / 4, 1 << 20));
  read_ahead_ = std::make_unique<repo::ReadAhead>(std::min<uint64_t>(max_window, 64 << 20),
                                                  weight_file, reader->stream_count());
}

Status FileContent::ReadSegmentPieces(const Segment& s, uint64_t start, uint64_t len,
                                      bool whole_chunks, PieceList* out) const {
  switch (s.kind) {
    case Segment::Kind::kStored: {
      auto frames = whole_chunks ? reader_->GetChunk(s.id, s.size)
                                 : reader_->ReadFrames(s.id, s.size, start, len);
      if (!frames.ok()) return frames.status();
      RETURN_IF_ERROR((*frames)->Check(start, len));
      repo::ChunkFrames::AppendTo(*frames, start, len, out);
      return Status::Ok();
    }
    case Segment::Kind::kDirty: {
      // Copied: the pending chunk's buffer is appended to in place after the lock is released,
      // and an append may move it. (Unsealed data is read rarely; loads read stored chunks.)
      auto copy =
          std::make_shared<const Bytes>(s.data->begin() + start, s.data->begin() + start + len);
      out->Add(ByteView(*copy), copy);
      return Status::Ok();
    }
    case Segment::Kind::kZero:
      for (uint64_t left = len; left > 0;) {
        const uint64_t n = std::min(left, kZeroBlock);
        out->Add(ByteView(ZeroBlock().data(), n), nullptr);
        left -= n;
      }
      return Status::Ok();
  }
  return Internal("bad segment kind");
}

Status FileContent::ReadSegment(const Segment& s, uint64_t start, uint64_t len, Bytes* out) const {
  PieceList pieces;
  RETURN_IF_ERROR(ReadSegmentPieces(s, start, len, false, &pieces));
  pieces.AppendTo(out);
  return Status::Ok();
}

uint64_t FileContent::PrefetchLocked(uint64_t from, uint64_t to) const {
  const uint64_t size = starts_.back();
  if (from >= size) return to;
  for (size_t i = SegmentAt(from); i < segs_.size() && starts_[i] < std::min(to, size); ++i) {
    if (segs_[i].kind == Segment::Kind::kStored && !reader_->Prefetch(segs_[i].id, segs_[i].size)) {
      return starts_[i];
    }
  }
  return to;
}

Status FileContent::Read(uint64_t offset, uint64_t len, PieceList* out) const {
  ReaderLock lock(&mu_);
  const uint64_t size = starts_.back();
  if (offset >= size || len == 0) return Status::Ok();
  len = std::min(len, size - offset);
  repo::ReadAhead::Decision ahead;
  if (read_ahead_) ahead = read_ahead_->OnRead(offset, len);
  // Loads ahead start before this read waits for its own data.
  if (ahead.ahead_to > ahead.ahead_from) {
    const uint64_t reached = PrefetchLocked(ahead.ahead_from, ahead.ahead_to);
    if (reached < ahead.ahead_to) read_ahead_->Reached(ahead.stream, reached);
  }
  for (size_t i = SegmentAt(offset); len > 0 && i < segs_.size(); ++i) {
    uint64_t in_seg = offset - starts_[i];
    uint64_t n = std::min(len, segs_[i].size - in_seg);
    RETURN_IF_ERROR(ReadSegmentPieces(segs_[i], in_seg, n, ahead.sequential, out));
    offset += n;
    len -= n;
  }
  return Status::Ok();
}

Status FileContent::Read(uint64_t offset, uint64_t len, Bytes* out) const {
  out->clear();
  PieceList pieces;
  RETURN_IF_ERROR(Read(offset, len, &pieces));
  pieces.AppendTo(out);
  return Status::Ok();
}

Status FileContent::SplitAt(uint64_t offset, size_t* index) {
  if (offset >= starts_.back()) {
    *index = segs_.size();
    return Status::Ok();
  }
  size_t i = SegmentAt(offset);
  uint64_t cut = offset - starts_[i];
  if (cut == 0) {
    *index = i;
    return Status::Ok();
  }
  Segment& s = segs_[i];
  Segment first = s, second = s;
  first.tag = second.tag = 0;  // new buffers, no longer the chunk in flight
  first.size = cut;
  second.size = s.size - cut;
  if (s.kind == Segment::Kind::kStored) {
    // A stored chunk cannot be cut: its plaintext becomes two dirty pieces.
    Bytes plain;
    RETURN_IF_ERROR(ReadSegment(s, 0, s.size, &plain));
    first = Segment{Segment::Kind::kDirty, cut, ObjectId(),
                    std::make_shared<Bytes>(plain.begin(), plain.begin() + cut)};
    second = Segment{Segment::Kind::kDirty, s.size - cut, ObjectId(),
                     std::make_shared<Bytes>(plain.begin() + cut, plain.end())};
    AddDirty(static_cast<int64_t>(s.size));
  } else if (s.kind == Segment::Kind::kDirty) {
    first.data = std::make_shared<Bytes>(s.data->begin(), s.data->begin() + cut);
    second.data = std::make_shared<Bytes>(s.data->begin() + cut, s.data->end());
  }
  segs_[i] = std::move(first);
  segs_.insert(segs_.begin() + i + 1, std::move(second));
  RecomputeStarts();
  *index = i + 1;
  return Status::Ok();
}

Status FileContent::Write(uint64_t offset, ByteView data) {
  if (data.empty()) return Status::Ok();
  MutexLock write_lock(&write_mu_);
  // A sink error is not this write's: its data stays dirty and the next Seal stores it again.
  CollectStored(false).IgnoreError();
  std::vector<Submission> subs;
  {
    WriterLock lock(&mu_);
    version_.fetch_add(1);
    if (streaming_ && offset == starts_.back()) {
      AppendStreamLocked(data, &subs);
    } else {
      streaming_ = false;
      RETURN_IF_ERROR(WriteLocked(offset, data));
    }
  }
  Submit(&subs).IgnoreError();  // as above: the chunks stay dirty and are retried
  return Status::Ok();
}

Status FileContent::WriteLocked(uint64_t offset, ByteView data) {
  uint64_t size = starts_.back();
  if (offset > size) {
    // A hole: zeros that are never held in memory.
    AppendHoleLocked(offset - size);
    RecomputeStarts();
    size = offset;
  }
  const uint64_t overlap_end = std::min<uint64_t>(offset + data.size(), size);
  if (offset < overlap_end) {
    RETURN_IF_ERROR(OverwriteLocked(offset, overlap_end, data));
    data = data.subspan(overlap_end - offset);
  }
  // Appends grow the last dirty segment (sole owner of its buffer) or start new ones.
  while (!data.empty()) {
    Segment* last = segs_.empty() ? nullptr : &segs_.back();
    if (last && last->kind == Segment::Kind::kDirty && last->tag == 0 &&
        last->size < kMaxDirtySegment && last->data.use_count() == 1) {
      uint64_t n = std::min<uint64_t>(data.size(), kMaxDirtySegment - last->size);
      last->data->insert(last->data->end(), data.begin(), data.begin() + n);
      last->size += n;
      AddDirty(static_cast<int64_t>(n));
      data = data.subspan(n);
    } else {
      auto buf = std::make_shared<Bytes>();
      buf->reserve(
          std::min<uint64_t>(kMaxDirtySegment, std::max<uint64_t>(data.size(), 64 * 1024)));
      segs_.push_back(Segment{Segment::Kind::kDirty, 0, ObjectId(), buf});
    }
  }
  RecomputeStarts();
  return Status::Ok();
}

Status FileContent::OverwriteLocked(uint64_t offset, uint64_t overlap_end, ByteView data) {
  size_t a = 0, b = 0;
  RETURN_IF_ERROR(SplitAt(offset, &a));
  RETURN_IF_ERROR(SplitAt(overlap_end, &b));
  int64_t removed = 0;
  for (size_t i = a; i < b; ++i) {
    if (segs_[i].kind == Segment::Kind::kDirty) removed += static_cast<int64_t>(segs_[i].size);
  }
  const uint64_t n = overlap_end - offset;
  segs_.erase(segs_.begin() + a, segs_.begin() + b);
  segs_.insert(segs_.begin() + a, Segment{Segment::Kind::kDirty, n, ObjectId(),
                                          std::make_shared<Bytes>(data.begin(), data.begin() + n)});
  AddDirty(static_cast<int64_t>(n) - removed);
  return Status::Ok();
}

Status FileContent::Truncate(uint64_t new_size) {
  MutexLock write_lock(&write_mu_);
  CollectStored(false).IgnoreError();  // see Write
  WriterLock lock(&mu_);
  const uint64_t size = starts_.back();
  if (new_size == size) return Status::Ok();  // no change: nothing to seal or commit
  version_.fetch_add(1);
  if (new_size > size) {
    AppendHoleLocked(new_size - size);
  } else {
    size_t i = 0;
    RETURN_IF_ERROR(SplitAt(new_size, &i));
    for (size_t j = i; j < segs_.size(); ++j) {
      if (segs_[j].kind == Segment::Kind::kDirty) AddDirty(-static_cast<int64_t>(segs_[j].size));
    }
    segs_.erase(segs_.begin() + i, segs_.end());
    // Forced cuts found in a header that was cut away no longer apply.
    if (new_size < repo::kSafetensorsProbeSize || cut_state_ == CutState::kFound) {
      cut_state_ = CutState::kUnknown;
      forced_cuts_.clear();
    }
  }
  RecomputeStarts();
  ResumeStreamLocked();
  return Status::Ok();
}

}  // namespace weightfs::vfs
