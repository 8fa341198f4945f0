#include "vfs/file_content.h"

#include <algorithm>
#include <cstring>
#include <mutex>

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

FileContent::FileContent(repo::Repository* repo, repo::FileObject base, std::atomic<int64_t>* dirty_counter)
    : repo_(repo),
      dirty_counter_(dirty_counter),
      own_reader_(std::make_unique<repo::ChunkReader>(repo, repo::ChunkReader::Options{0, 0, nullptr})),
      reader_(own_reader_.get()) {
  segs_.reserve(base.chunks.size());
  for (const repo::ChunkRef& c : base.chunks) {
    segs_.push_back(Segment{Segment::Kind::kStored, c.size, c.id, nullptr});
  }
  RecomputeStarts();
}

FileContent::~FileContent() { AddDirty(-dirty_bytes_); }

void FileContent::AddDirty(int64_t delta) {
  dirty_bytes_ += delta;
  if (dirty_counter_) dirty_counter_->fetch_add(delta);
}

void FileContent::RecomputeStarts() {
  starts_.resize(segs_.size() + 1);
  uint64_t pos = 0;
  for (size_t i = 0; i < segs_.size(); ++i) {
    starts_[i] = pos;
    pos += segs_[i].size;
  }
  starts_[segs_.size()] = pos;
  size_.store(pos);
}

bool FileContent::dirty() const {
  std::shared_lock lock(mu_);
  return std::any_of(segs_.begin(), segs_.end(), [](const Segment& s) { return s.kind != Segment::Kind::kStored; });
}

int64_t FileContent::dirty_bytes() const {
  std::shared_lock lock(mu_);
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
  read_ahead_ = std::make_unique<repo::ReadAhead>(std::min<uint64_t>(max_window, 64 << 20), weight_file);
}

Status FileContent::ReadSegmentPieces(const Segment& s, uint64_t start, uint64_t len, bool whole_chunks,
                                      PieceList* out) const {
  switch (s.kind) {
    case Segment::Kind::kStored: {
      auto frames = whole_chunks ? reader_->GetChunk(s.id, s.size) : reader_->ReadFrames(s.id, s.size, start, len);
      if (!frames.ok()) return frames.status();
      RETURN_IF_ERROR((*frames)->Check(start, len));
      repo::ChunkFrames::AppendTo(*frames, start, len, out);
      return Status::Ok();
    }
    case Segment::Kind::kDirty:
      // The view keeps the buffer alive, and a buffer with another owner is never appended to
      // (Write starts a new segment instead), so the bytes cannot move under the reply.
      out->Add(ByteView(s.data->data() + start, len), s.data);
      return Status::Ok();
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

void FileContent::PrefetchLocked(uint64_t from, uint64_t to) const {
  const uint64_t size = starts_.back();
  if (from >= size) return;
  to = std::min(to, size);
  for (size_t i = SegmentAt(from); i < segs_.size() && starts_[i] < to; ++i) {
    if (segs_[i].kind == Segment::Kind::kStored && !reader_->Prefetch(segs_[i].id, segs_[i].size)) return;
  }
}

Status FileContent::Read(uint64_t offset, uint64_t len, PieceList* out) const {
  std::shared_lock lock(mu_);
  const uint64_t size = starts_.back();
  if (offset >= size || len == 0) return Status::Ok();
  len = std::min(len, size - offset);
  repo::ReadAhead::Decision ahead;
  if (read_ahead_) ahead = read_ahead_->OnRead(offset, len);
  // Loads ahead start before this read waits for its own data.
  if (ahead.ahead_to > ahead.ahead_from) PrefetchLocked(ahead.ahead_from, ahead.ahead_to);
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
  first.size = cut;
  second.size = s.size - cut;
  if (s.kind == Segment::Kind::kStored) {
    // A stored chunk cannot be cut: its plaintext becomes two dirty pieces.
    Bytes plain;
    RETURN_IF_ERROR(ReadSegment(s, 0, s.size, &plain));
    first = Segment{Segment::Kind::kDirty, cut, ObjectId(), std::make_shared<Bytes>(plain.begin(), plain.begin() + cut)};
    second = Segment{Segment::Kind::kDirty, s.size - cut, ObjectId(), std::make_shared<Bytes>(plain.begin() + cut, plain.end())};
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
  std::unique_lock lock(mu_);
  version_.fetch_add(1);
  uint64_t size = starts_.back();
  if (offset > size) {
    // A hole: zeros that are never held in memory.
    segs_.push_back(Segment{Segment::Kind::kZero, offset - size, ObjectId(), nullptr});
    RecomputeStarts();
    size = offset;
  }
  const uint64_t end = offset + data.size();
  const uint64_t overlap_end = std::min(end, size);
  if (offset < overlap_end) {
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
    data = data.subspan(n);
  }
  // Appends grow the last dirty segment (sole owner of its buffer) or start new ones.
  while (!data.empty()) {
    Segment* last = segs_.empty() ? nullptr : &segs_.back();
    if (last && last->kind == Segment::Kind::kDirty && last->size < kMaxDirtySegment && last->data.use_count() == 1) {
      uint64_t n = std::min<uint64_t>(data.size(), kMaxDirtySegment - last->size);
      last->data->insert(last->data->end(), data.begin(), data.begin() + n);
      last->size += n;
      AddDirty(static_cast<int64_t>(n));
      data = data.subspan(n);
    } else {
      auto buf = std::make_shared<Bytes>();
      buf->reserve(std::min<uint64_t>(kMaxDirtySegment, std::max<uint64_t>(data.size(), 64 * 1024)));
      segs_.push_back(Segment{Segment::Kind::kDirty, 0, ObjectId(), buf});
    }
  }
  RecomputeStarts();
  return Status::Ok();
}

Status FileContent::Truncate(uint64_t new_size) {
  std::unique_lock lock(mu_);
  version_.fetch_add(1);
  const uint64_t size = starts_.back();
  if (new_size == size) return Status::Ok();
  if (new_size > size) {
    segs_.push_back(Segment{Segment::Kind::kZero, new_size - size, ObjectId(), nullptr});
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
  return Status::Ok();
}

void FileContent::DetectForcedCuts() {
  if (cut_state_ != CutState::kUnknown) return;
  const uint64_t size = starts_.back();
  // The probe is the length and the JSON's opening brace; fewer bytes always read as "not
  // safetensors", so wait until all of them exist.
  constexpr uint64_t kProbe = repo::kSafetensorsProbeSize;
  if (size < kProbe) return;  // decided once enough bytes exist
  Bytes head;
  head.reserve(kProbe);
  for (size_t i = 0; head.size() < kProbe && i < segs_.size(); ++i) {
    if (!ReadSegment(segs_[i], 0, std::min<uint64_t>(kProbe - head.size(), segs_[i].size), &head).ok()) return;
  }
  std::optional<uint64_t> header_end = repo::SafetensorsHeaderEnd(head);
  if (!header_end) {
    cut_state_ = CutState::kNone;
    return;
  }
  if (size < *header_end) return;  // the header is not complete yet
  Bytes header;
  header.reserve(*header_end);
  for (size_t i = 0; header.size() < *header_end && i < segs_.size(); ++i) {
    if (!ReadSegment(segs_[i], 0, std::min<uint64_t>(*header_end - header.size(), segs_[i].size), &header).ok()) return;
  }
  auto parsed = repo::ParseSafetensorsHeader(header);
  if (!parsed.ok()) {
    cut_state_ = CutState::kNone;
    return;
  }
  forced_cuts_.push_back(parsed->header_end);
  for (const repo::TensorInfo& t : parsed->tensors) {
    forced_cuts_.push_back(t.begin);
    forced_cuts_.push_back(t.end);
  }
  std::sort(forced_cuts_.begin(), forced_cuts_.end());
  forced_cuts_.erase(std::unique(forced_cuts_.begin(), forced_cuts_.end()), forced_cuts_.end());
  cut_state_ = CutState::kFound;
}

Status FileContent::SealLocked(bool keep_tail) {
  DetectForcedCuts();
  std::vector<Segment> out;
  out.reserve(segs_.size());
  size_t i = 0;
  while (i < segs_.size()) {
    if (segs_[i].kind == Segment::Kind::kStored) {
      out.push_back(std::move(segs_[i++]));
      continue;
    }
    // A maximal run of dirty and zero segments, re-chunked as one stream.
    size_t j = i;
    while (j < segs_.size() && segs_[j].kind != Segment::Kind::kStored) ++j;
    const uint64_t run_start = starts_[i], run_end = starts_[j];
    const bool is_tail = j == segs_.size();
    std::vector<Segment> sealed;
    uint64_t emitted = 0;
    repo::Chunker chunker(repo_->config().chunker, repo_->gear(), false, [&](ByteView chunk) -> Status {
      ObjectId id = repo_->ComputeId(repo::ObjectType::kChunk, chunk);
      RETURN_IF_ERROR(repo_->PutObjectWithId(repo::ObjectType::kChunk, id, chunk));
      sealed.push_back(Segment{Segment::Kind::kStored, chunk.size(), id, nullptr});
      emitted += chunk.size();
      return Status::Ok();
    });
    for (uint64_t cut : forced_cuts_) {
      if (cut > run_start && cut < run_end) chunker.AddForcedCut(cut - run_start);
    }
    for (size_t k = i; k < j; ++k) {
      const Segment& s = segs_[k];
      if (s.kind == Segment::Kind::kDirty) {
        RETURN_IF_ERROR(chunker.Write(*s.data));
      } else {
        for (uint64_t left = s.size; left > 0;) {
          uint64_t n = std::min(left, kZeroBlock);
          RETURN_IF_ERROR(chunker.Write(ByteView(ZeroBlock().data(), n)));
          left -= n;
        }
      }
    }
    if (!(keep_tail && is_tail)) RETURN_IF_ERROR(chunker.Finish());
    for (Segment& s : sealed) out.push_back(std::move(s));
    if (emitted < run_end - run_start) {
      // The undecided tail stays dirty; its bytes are the run's last ones.
      Bytes tail;
      uint64_t tail_start = run_start + emitted;
      for (size_t k = i; k < j; ++k) {
        uint64_t s0 = starts_[k], s1 = starts_[k + 1];
        if (s1 <= tail_start) continue;
        uint64_t from = tail_start > s0 ? tail_start - s0 : 0;
        RETURN_IF_ERROR(ReadSegment(segs_[k], from, segs_[k].size - from, &tail));
      }
      uint64_t n = tail.size();
      out.push_back(Segment{Segment::Kind::kDirty, n, ObjectId(), std::make_shared<Bytes>(std::move(tail))});
    }
    i = j;
  }
  int64_t dirty = 0;
  for (const Segment& s : out) {
    if (s.kind == Segment::Kind::kDirty) dirty += static_cast<int64_t>(s.size);
  }
  segs_ = std::move(out);
  AddDirty(dirty - dirty_bytes_);
  RecomputeStarts();
  return Status::Ok();
}

Result<std::pair<ObjectId, repo::FileObject>> FileContent::Seal() {
  std::unique_lock lock(mu_);
  RETURN_IF_ERROR(SealLocked(false));
  repo::FileObject file;
  file.size = starts_.back();
  file.chunks.reserve(segs_.size());
  for (const Segment& s : segs_) file.chunks.push_back(repo::ChunkRef{s.id, static_cast<uint32_t>(s.size)});
  ASSIGN_OR_RETURN(ObjectId id, repo_->PutFile(file));
  return std::make_pair(id, std::move(file));
}

Status FileContent::SealIdle() {
  std::unique_lock lock(mu_);
  return SealLocked(true);
}

}  // namespace weightfs::vfs
