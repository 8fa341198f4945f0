#include "vfs/file_content.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "weightfs/repo/chunker.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::vfs {
namespace {

constexpr uint64_t kZeroBlock = 1 << 20;
// A dirty segment grows by appends up to this size before a new one starts.
constexpr uint64_t kMaxDirtySegment = 4 << 20;
// Bytes of one file's chunks being hashed, sealed and stored at once: enough to keep the
// workers busy while the writer goes on, small next to the dirty budget.
constexpr uint64_t kMaxInFlight = 16 << 20;

const Bytes& ZeroBlock() {
  static const Bytes zeros(kZeroBlock, 0);
  return zeros;
}

}  // namespace

FileContent::FileContent(repo::Repository* repo, repo::FileObject base,
                         std::atomic<int64_t>* dirty_counter, ThreadPool* pool)
    : repo_(repo),
      dirty_counter_(dirty_counter),
      own_reader_(
          std::make_unique<repo::ChunkReader>(repo, repo::ChunkReader::Options{0, 0, nullptr})),
      reader_(own_reader_.get()),
      pool_(pool) {
  segs_.reserve(base.chunks.size());
  for (const repo::ChunkRef& c : base.chunks) {
    segs_.push_back(c.hole ? Segment{Segment::Kind::kZero, c.size, ObjectId(), nullptr}
                           : Segment{Segment::Kind::kStored, c.size, c.id, nullptr});
  }
  RecomputeStarts();
  ResumeStreamLocked();
}

FileContent::~FileContent() { AddDirty(-dirty_bytes_); }

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
  std::shared_lock lock(mu_);
  const uint64_t size = starts_.back();
  if (offset >= size) return std::nullopt;
  for (size_t i = SegmentAt(offset); i < segs_.size(); ++i) {
    if ((segs_[i].kind == Segment::Kind::kZero) == hole) return std::max(offset, starts_[i]);
  }
  if (hole) return size;  // the implicit hole at the end of the file
  return std::nullopt;
}

bool FileContent::dirty() const {
  std::shared_lock lock(mu_);
  // Holes are stored as holes: only unsealed data is dirty.
  return std::any_of(segs_.begin(), segs_.end(),
                     [](const Segment& s) { return s.kind == Segment::Kind::kDirty; });
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
  std::shared_lock lock(mu_);
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
  std::lock_guard write_lock(write_mu_);
  // A sink error is not this write's: its data stays dirty and the next Seal stores it again.
  CollectStored(false).IgnoreError();
  std::vector<Submission> subs;
  {
    std::unique_lock lock(mu_);
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
    segs_.insert(segs_.begin() + a,
                 Segment{Segment::Kind::kDirty, n, ObjectId(),
                         std::make_shared<Bytes>(data.begin(), data.begin() + n)});
    AddDirty(static_cast<int64_t>(n) - removed);
    data = data.subspan(n);
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

Status FileContent::Truncate(uint64_t new_size) {
  std::lock_guard write_lock(write_mu_);
  CollectStored(false).IgnoreError();  // see Write
  std::unique_lock lock(mu_);
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

void FileContent::DetectForcedCuts() {
  if (cut_state_ != CutState::kUnknown) return;
  const uint64_t size = starts_.back();
  // First the probe (length and opening brace), then the whole header it announces; the
  // decision is taken once, when enough bytes exist.
  uint64_t want = repo::kSafetensorsProbeSize;
  for (int round = 0; round < 2; ++round) {
    if (size < want) return;
    Bytes head;
    head.reserve(want);
    for (size_t i = 0; head.size() < want && i < segs_.size(); ++i) {
      if (!ReadSegment(segs_[i], 0, std::min<uint64_t>(want - head.size(), segs_[i].size), &head)
               .ok())
        return;
    }
    repo::SafetensorsCutProbe probe = repo::ProbeSafetensorsCuts(head, /*at_end=*/false);
    if (probe.decided) {
      forced_cuts_ = std::move(probe.cuts);
      cut_state_ = forced_cuts_.empty() ? CutState::kNone : CutState::kFound;
      return;
    }
    want = probe.needed;
  }
}

void FileContent::DecideLocked(Segment* s, std::vector<Submission>* subs) {
  s->tag = next_tag_++;
  subs->push_back(Submission{s->tag, s->data});
}

void FileContent::AppendStreamLocked(ByteView data, std::vector<Submission>* subs) {
  // The pending chunk, if any, is the last segment (see streaming_).
  auto append = [&](ByteView piece) -> Segment* {
    if (segs_.empty() || segs_.back().kind != Segment::Kind::kDirty || segs_.back().tag != 0) {
      auto buf = std::make_shared<Bytes>();
      // A whole chunk's room at once: growing the vector would copy the bytes again.
      buf->reserve(std::max<uint64_t>(repo_->config().chunker.max_size, piece.size()));
      segs_.push_back(Segment{Segment::Kind::kDirty, 0, ObjectId(), std::move(buf)});
    }
    Segment* p = &segs_.back();
    p->data->insert(p->data->end(), piece.begin(), piece.end());
    p->size += piece.size();
    AddDirty(static_cast<int64_t>(piece.size()));
    return p;
  };
  // Keeps the bytes of a catch-up alive while they are fed again.
  Segment held{Segment::Kind::kDirty, 0, ObjectId(), nullptr};
  if (cut_state_ == CutState::kUnknown) {
    // No cut is decided before the safetensors cuts are known, so nothing is scanned yet.
    append(data);
    RecomputeStarts();
    DetectForcedCuts();
    if (cut_state_ == CutState::kUnknown) return;
    for (uint64_t cut : forced_cuts_) finder_->AddForcedCut(cut);
    // Now the pending bytes are scanned: fed again, they are copied into chunk-aligned
    // buffers (once per stream, and only what came before the decision).
    held = std::move(segs_.back());
    segs_.pop_back();
    AddDirty(-static_cast<int64_t>(held.size));
    data = ByteView(held.data->data(), held.size);
  }
  while (!data.empty()) {
    bool cut = false;
    const size_t n = finder_->Scan(data, &cut);
    Segment* p = append(data.first(n));
    if (cut) DecideLocked(p, subs);
    data = data.subspan(n);
  }
  RecomputeStarts();
}

void FileContent::ResumeStreamLocked() {
  streaming_ = false;
  const size_t n = segs_.size();
  size_t tail = n;
  if (n > 0 && segs_[n - 1].kind == Segment::Kind::kDirty && segs_[n - 1].tag == 0) tail = n - 1;
  for (size_t i = 0; i < tail; ++i) {
    if (segs_[i].kind == Segment::Kind::kDirty && segs_[i].tag == 0) return;
  }
  finder_.emplace(repo_->config().chunker, repo_->gear());
  finder_->Restart(starts_[tail]);
  if (cut_state_ != CutState::kUnknown) {
    for (uint64_t cut : forced_cuts_) finder_->AddForcedCut(cut);
    if (tail < n) {
      // The tail was left undecided by the chunker, so the scan finds no cut in it; if it
      // does (a tail left by a truncate), the file is simply not streamed.
      bool cut = false;
      finder_->Scan(ByteView(segs_[tail].data->data(), segs_[tail].size), &cut);
      if (cut) return;
    }
  }
  streaming_ = true;
}

void FileContent::ApplyStoredLocked(const std::vector<repo::StoredChunk>& stored) {
  if (stored.empty()) return;
  std::unordered_map<uint64_t, const repo::ChunkRef*> by_tag;
  for (const repo::StoredChunk& c : stored) by_tag.emplace(c.tag, &c.ref);
  // Chunks in flight are mostly the file's last segments. A chunk whose segment was
  // overwritten meanwhile matches nothing (its result is dropped).
  size_t left = by_tag.size();
  for (size_t i = segs_.size(); i-- > 0 && left > 0;) {
    Segment& s = segs_[i];
    if (s.tag == 0) continue;
    auto it = by_tag.find(s.tag);
    if (it == by_tag.end()) continue;
    WFS_CHECK(it->second->size == s.size);
    s.kind = Segment::Kind::kStored;
    s.id = it->second->id;
    s.data.reset();
    s.tag = 0;
    AddDirty(-static_cast<int64_t>(s.size));
    --left;
  }
}

void FileContent::AbandonInFlightLocked() {
  for (Segment& s : segs_) s.tag = 0;
  streaming_ = false;
}

Status FileContent::Submit(std::vector<Submission>* subs) {
  if (subs->empty()) return Status::Ok();
  if (!sink_) sink_ = std::make_unique<repo::ChunkSink>(repo_, pool_, kMaxInFlight);
  for (Submission& sub : *subs) {
    // May block (back-pressure); mu_ is not held, so reads go on meanwhile.
    Status s = sink_->Add(ByteView(sub.data->data(), sub.data->size()), sub.data, sub.tag);
    if (!s.ok()) {
      sink_.reset();  // waits for its workers
      std::unique_lock lock(mu_);
      AbandonInFlightLocked();
      return s;
    }
  }
  subs->clear();
  return Status::Ok();
}

Status FileContent::CollectStored(bool all) {
  if (!sink_) return Status::Ok();
  std::vector<repo::StoredChunk> done;
  Status s = all ? sink_->Drain(&done) : sink_->TakeFinished(&done);
  if (!s.ok()) {
    sink_.reset();
    std::unique_lock lock(mu_);
    AbandonInFlightLocked();
    return s;
  }
  if (done.empty()) return Status::Ok();
  std::unique_lock lock(mu_);
  ApplyStoredLocked(done);
  return Status::Ok();
}

Status FileContent::SealLocked(bool keep_tail, std::vector<Submission>* subs) {
  DetectForcedCuts();
  // Stored chunks, chunks in flight and holes are decided; runs of the rest are chunked again.
  // A hole is never chunked: it ends the dirty run before it, and stays a hole.
  auto decided = [](const Segment& s) { return s.kind != Segment::Kind::kDirty || s.tag != 0; };
  std::vector<Segment> out;
  out.reserve(segs_.size());
  size_t i = 0;
  while (i < segs_.size()) {
    if (decided(segs_[i])) {
      out.push_back(std::move(segs_[i++]));
      continue;
    }
    // A maximal run of undecided dirty and zero segments, re-chunked as one stream.
    size_t j = i;
    while (j < segs_.size() && !decided(segs_[j])) ++j;
    const uint64_t run_start = starts_[i], run_end = starts_[j];
    const bool is_tail = j == segs_.size();
    if (keep_tail && is_tail && streaming_) {
      // The pending chunk: the finder already knows it has no cut yet.
      for (size_t k = i; k < j; ++k) out.push_back(std::move(segs_[k]));
      i = j;
      continue;
    }
    std::vector<Segment> sealed;
    uint64_t emitted = 0;
    repo::Chunker chunker(
        repo_->config().chunker, repo_->gear(), false, [&](ByteView chunk) -> Status {
          sealed.push_back(Segment{Segment::Kind::kDirty, chunk.size(), ObjectId(),
                                   std::make_shared<Bytes>(chunk.begin(), chunk.end())});
          emitted += chunk.size();
          return Status::Ok();
        });
    for (uint64_t cut : forced_cuts_) {
      if (cut > run_start && cut < run_end) chunker.AddForcedCut(cut - run_start);
    }
    for (size_t k = i; k < j; ++k) {
      const Segment& s = segs_[k];
      WFS_CHECK(s.kind == Segment::Kind::kDirty);
      RETURN_IF_ERROR(chunker.Write(ByteView(s.data->data(), s.size)));
    }
    if (!(keep_tail && is_tail)) RETURN_IF_ERROR(chunker.Finish());
    for (Segment& s : sealed) {
      DecideLocked(&s, subs);
      out.push_back(std::move(s));
    }
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
      out.push_back(
          Segment{Segment::Kind::kDirty, n, ObjectId(), std::make_shared<Bytes>(std::move(tail))});
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
  std::lock_guard write_lock(write_mu_);
  std::vector<Submission> subs;
  {
    std::unique_lock lock(mu_);
    RETURN_IF_ERROR(SealLocked(false, &subs));
  }
  RETURN_IF_ERROR(Submit(&subs));
  // Every chunk of the file must be stored before the file object names it.
  RETURN_IF_ERROR(CollectStored(true));
  repo::FileObject file;
  {
    std::unique_lock lock(mu_);
    file.size = starts_.back();
    file.chunks.reserve(segs_.size());
    for (const Segment& s : segs_) {
      if (s.kind == Segment::Kind::kZero) {
        // Adjacent holes (a split hole refilled by nothing) are one.
        if (!file.chunks.empty() && file.chunks.back().hole) {
          file.chunks.back().size += s.size;
        } else {
          file.chunks.push_back(repo::ChunkRef::Hole(s.size));
        }
        continue;
      }
      if (s.kind != Segment::Kind::kStored)
        return Internal("a sealed file still has unstored data");
      file.chunks.push_back(repo::ChunkRef{s.id, s.size});
    }
    ResumeStreamLocked();
  }
  ASSIGN_OR_RETURN(ObjectId id, repo_->objects().PutFile(file));
  return std::make_pair(id, std::move(file));
}

Status FileContent::SealIdle() {
  std::lock_guard write_lock(write_mu_);
  std::vector<Submission> subs;
  {
    std::unique_lock lock(mu_);
    RETURN_IF_ERROR(SealLocked(true, &subs));
    if (!streaming_) ResumeStreamLocked();
  }
  RETURN_IF_ERROR(Submit(&subs));
  // The caller is over its memory budget, and chunks in flight leave memory only once stored.
  return CollectStored(true);
}

}  // namespace weightfs::vfs
