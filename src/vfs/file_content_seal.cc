// FileContent's write pipeline: streaming appends, the chunk sink, and sealing dirty data into
// content-defined chunks (see file_content.h).
#include <algorithm>
#include <unordered_map>

#include "vfs/file_content.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::vfs {
namespace {

// Bytes of one file's chunks being hashed, sealed and stored at once: enough to keep the
// workers busy while the writer goes on, small next to the dirty budget.
constexpr uint64_t kMaxInFlight = 16 << 20;

}  // namespace

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

FileContent::Segment* FileContent::AppendPendingLocked(ByteView piece) {
  // The pending chunk, if any, is the last segment (see streaming_).
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
}

void FileContent::AppendStreamLocked(ByteView data, std::vector<Submission>* subs) {
  // Keeps the bytes of a catch-up alive while they are fed again.
  Segment held{Segment::Kind::kDirty, 0, ObjectId(), nullptr};
  if (cut_state_ == CutState::kUnknown) {
    // No cut is decided before the safetensors cuts are known, so nothing is scanned yet.
    AppendPendingLocked(data);
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
    Segment* p = AppendPendingLocked(data.first(n));
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
  if (!sink_) {
    // At least eight average chunks (S3 repositories have 4 MiB ones).
    const uint64_t in_flight =
        std::max<uint64_t>(kMaxInFlight, 8 * uint64_t{repo_->config().chunker.avg_size});
    sink_ = std::make_unique<repo::ChunkSink>(repo_, pool_, in_flight,
                                              repo_->objects().UnscopedKeyId());
  }
  for (Submission& sub : *subs) {
    // May block (back-pressure); mu_ is not held, so reads go on meanwhile.
    Status s = sink_->Add(ByteView(sub.data->data(), sub.data->size()), sub.data, sub.tag);
    if (!s.ok()) {
      sink_.reset();  // waits for its workers
      WriterLock lock(&mu_);
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
    WriterLock lock(&mu_);
    AbandonInFlightLocked();
    return s;
  }
  if (done.empty()) return Status::Ok();
  WriterLock lock(&mu_);
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
    if (keep_tail && j == segs_.size() && streaming_) {
      // The pending chunk: the finder already knows it has no cut yet.
      for (size_t k = i; k < j; ++k) out.push_back(std::move(segs_[k]));
    } else {
      RETURN_IF_ERROR(RechunkRunLocked(i, j, keep_tail && j == segs_.size(), &out, subs));
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

Status FileContent::RechunkRunLocked(size_t first, size_t last, bool keep_tail,
                                     std::vector<Segment>* out, std::vector<Submission>* subs) {
  const uint64_t run_start = starts_[first], run_end = starts_[last];
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
  for (size_t k = first; k < last; ++k) {
    const Segment& s = segs_[k];
    WFS_CHECK(s.kind == Segment::Kind::kDirty);
    RETURN_IF_ERROR(chunker.Write(ByteView(s.data->data(), s.size)));
  }
  if (!keep_tail) RETURN_IF_ERROR(chunker.Finish());
  for (Segment& s : sealed) {
    DecideLocked(&s, subs);
    out->push_back(std::move(s));
  }
  if (emitted < run_end - run_start) {
    // The undecided tail stays dirty; its bytes are the run's last ones.
    Bytes tail;
    const uint64_t tail_start = run_start + emitted;
    for (size_t k = first; k < last; ++k) {
      const uint64_t s0 = starts_[k], s1 = starts_[k + 1];
      if (s1 <= tail_start) continue;
      const uint64_t from = tail_start > s0 ? tail_start - s0 : 0;
      RETURN_IF_ERROR(ReadSegment(segs_[k], from, segs_[k].size - from, &tail));
    }
    const uint64_t n = tail.size();
    out->push_back(
        Segment{Segment::Kind::kDirty, n, ObjectId(), std::make_shared<Bytes>(std::move(tail))});
  }
  return Status::Ok();
}

Result<std::pair<ObjectId, repo::FileObject>> FileContent::Seal() {
  MutexLock write_lock(&write_mu_);
  std::vector<Submission> subs;
  {
    WriterLock lock(&mu_);
    RETURN_IF_ERROR(SealLocked(false, &subs));
  }
  RETURN_IF_ERROR(Submit(&subs));
  // Every chunk of the file must be stored before the file object names it.
  RETURN_IF_ERROR(CollectStored(true));
  repo::FileObject file;
  {
    WriterLock lock(&mu_);
    ASSIGN_OR_RETURN(file, FileObjectLocked());
    ResumeStreamLocked();
  }
  ASSIGN_OR_RETURN(ObjectId id, repo_->objects().PutFile(file, repo_->objects().UnscopedKeyId()));
  return std::make_pair(id, std::move(file));
}

Result<repo::FileObject> FileContent::FileObjectLocked() const {
  repo::FileObject file;
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
    if (s.kind != Segment::Kind::kStored) return Internal("a sealed file still has unstored data");
    file.chunks.push_back(repo::ChunkRef{s.id, s.size});
  }
  return file;
}

Status FileContent::SealIdle() {
  MutexLock write_lock(&write_mu_);
  std::vector<Submission> subs;
  {
    WriterLock lock(&mu_);
    RETURN_IF_ERROR(SealLocked(true, &subs));
    if (!streaming_) ResumeStreamLocked();
  }
  RETURN_IF_ERROR(Submit(&subs));
  // The caller is over its memory budget, and chunks in flight leave memory only once stored.
  return CollectStored(true);
}

}  // namespace weightfs::vfs
