#include "weightfs/repo/chunk_sink.h"

#include <limits>

namespace weightfs::repo {

ChunkSink::ChunkSink(Repository* repo, ThreadPool* pool, uint64_t max_bytes_in_flight,
                     uint32_t key_id)
    : repo_(repo), pool_(pool), max_in_flight_(max_bytes_in_flight), key_id_(key_id) {}

ChunkSink::~ChunkSink() {
  // Workers hold pointers into slots_ and to this object.
  MutexLock lock(&mu_);
  cv_.Wait([&] {
    mu_.AssertHeld();
    return running_ == 0;
  });
}

Status ChunkSink::Add(ByteView chunk, std::shared_ptr<const void> owner, uint64_t tag) {
  WFS_CHECK(chunk.size() <= std::numeric_limits<uint32_t>::max());
  Slot* slot = nullptr;
  {
    MutexLock lock(&mu_);
    // Back-pressure: wait until this chunk fits, but always let one chunk through alone.
    cv_.Wait([&] {
      mu_.AssertHeld();
      return !error_.ok() || in_flight_bytes_ == 0 ||
             in_flight_bytes_ + chunk.size() <= max_in_flight_;
    });
    if (!error_.ok()) return error_;
    slots_.push_back(Slot{tag, static_cast<uint32_t>(chunk.size()), false, {}});
    slot = &slots_.back();
    in_flight_bytes_ += chunk.size();
    running_++;
  }
  if (pool_ == nullptr) {
    Store(slot, chunk, std::move(owner));
    MutexLock lock(&mu_);
    return error_;
  }
  pool_->Submit([this, slot, chunk, owner = std::move(owner)]() mutable {
    Store(slot, chunk, std::move(owner));
  });
  return Status::Ok();
}

void ChunkSink::Store(Slot* slot, ByteView chunk, std::shared_ptr<const void> owner) {
  Status s;
  bool is_new = false;
  ObjectId id;
  {
    MutexLock lock(&mu_);
    s = error_;  // after an error nothing more is stored
  }
  if (s.ok()) {
    id = repo_->objects().ComputeId(ObjectType::kChunk, chunk, key_id_);
    s = repo_->EnsureWriteLease();  // before the check: gc must see who may reuse its candidates
    Result<bool> exists = s.ok() ? repo_->store()->Contains(id) : Result<bool>(s);
    // A reused chunk counts as just written, so gc's grace period and this process's lease
    // protect it too (best effort: an object file this user may not touch is still a valid
    // object); one that gc deleted between the check and the touch is stored again.
    if (exists.ok() && *exists && repo_->store()->Touch(id).code() == Code::kNotFound)
      exists = false;
    if (!exists.ok()) {
      s = exists.status();
    } else if (!*exists) {
      s = repo_->objects().StoreNewObject(ObjectType::kChunk, id, chunk, key_id_);
      is_new = true;
    }
  }
  owner.reset();  // the chunk's memory may go now, before the result is taken
  MutexLock lock(&mu_);
  if (!s.ok() && error_.ok()) error_ = s.WithContext("storing a chunk");
  slot->done = true;
  slot->result = StoredChunk{slot->tag, ChunkRef{id, slot->size}, is_new};
  (is_new ? new_bytes_ : dedup_bytes_) += s.ok() ? slot->size : 0;
  in_flight_bytes_ -= slot->size;
  running_--;
  cv_.SignalAll();
}

void ChunkSink::TakeLocked(bool all, std::vector<StoredChunk>* out) {
  while (!slots_.empty() && (all || slots_.front().done)) {
    out->push_back(slots_.front().result);
    slots_.pop_front();
  }
}

Status ChunkSink::TakeFinished(std::vector<StoredChunk>* out) {
  MutexLock lock(&mu_);
  if (!error_.ok()) return error_;
  TakeLocked(false, out);
  return Status::Ok();
}

Status ChunkSink::Drain(std::vector<StoredChunk>* out) {
  MutexLock lock(&mu_);
  cv_.Wait([&] {
    mu_.AssertHeld();
    return running_ == 0;
  });
  if (!error_.ok()) return error_;
  TakeLocked(true, out);
  return Status::Ok();
}

uint64_t ChunkSink::new_bytes() const {
  MutexLock lock(&mu_);
  return new_bytes_;
}

uint64_t ChunkSink::dedup_bytes() const {
  MutexLock lock(&mu_);
  return dedup_bytes_;
}

uint64_t ChunkSink::bytes_in_flight() const {
  MutexLock lock(&mu_);
  return in_flight_bytes_;
}

}  // namespace weightfs::repo
