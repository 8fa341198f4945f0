#include "weightfs/repo/chunk_reader.h"

#include <algorithm>
#include <cstring>

#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {
namespace {

using crypto::kFrameSize;
using crypto::kObjectHeaderSize;
using crypto::kSealedFrameSize;
using crypto::ObjectCipher;

constexpr uint8_t kChunkType = static_cast<uint8_t>(ObjectType::kChunk);
// The cache never shrinks below this, however much the writes of the mount hold.
constexpr int64_t kMinBudget = 16 << 20;
constexpr int64_t kAlignSlack = 2 * storage::kReadAlignment;  // a load's buffer rounding

// For a read from the middle of a chunk: the header every object sealed with the current key has
// saves a second (often cold) request. The frames' additional data covers the header, so only
// the right one opens them; the guess is tried out of place on the first frame, since a failed
// in-place open wipes the frame. Returns the header to open the frames with; *opened_first is
// true when the guess opened the first frame, whose plaintext is then in place (a copy, not a
// second decryption; a random 4 KiB read opens just this one frame).
Result<Bytes> MiddleReadHeader(const ObjectCipher& cipher, storage::ObjectStore* store,
                               const ObjectId& id, uint64_t sealed_size, uint64_t first,
                               std::span<uint8_t> frames, bool* opened_first) {
  Bytes header = cipher.CurrentHeader(kChunkType);
  const size_t first_len = std::min<size_t>(frames.size(), kSealedFrameSize);
  Bytes probe;
  Status guess = first_len == 0 ? Corruption("frame missing")
                                : cipher.OpenFrames(kChunkType, id, header, sealed_size, first,
                                                    frames.first(first_len), &probe);
  if (guess.ok()) {
    std::memcpy(frames.data(), probe.data(), probe.size());
    *opened_first = true;
    return header;
  }
  header.resize(kObjectHeaderSize);
  auto h = store->ReadInto(id, 0, std::span<uint8_t>(header.data(), header.size()));
  if (!h.ok()) return h.status();
  if (*h != kObjectHeaderSize) {
    return Corruption("chunk object " + id.Hex() + " is shorter than its header");
  }
  return header;
}

}  // namespace

ChunkFrames::~ChunkFrames() {
  if (recycle_) recycle_->Give(std::move(buf_));
}

bool ChunkFrames::Covers(uint64_t offset, uint64_t len) const {
  if (len == 0) return offset <= chunk_size_;
  if (offset + len > chunk_size_) return false;
  return offset / kFrameSize >= first_ && (offset + len - 1) / kFrameSize < first_ + count_;
}

Status ChunkFrames::Check(uint64_t offset, uint64_t len) const {
  if (bad_.empty() || len == 0) return Status::Ok();
  const uint64_t f0 = offset / kFrameSize, f1 = (offset + len - 1) / kFrameSize;
  auto it = std::lower_bound(bad_.begin(), bad_.end(), f0);
  if (it == bad_.end() || *it > f1) return Status::Ok();
  return Corruption("chunk object " + id_.Hex() + ": frame " + std::to_string(*it) +
                    " failed authentication");
}

void ChunkFrames::AppendTo(const std::shared_ptr<const ChunkFrames>& self, uint64_t offset,
                           uint64_t len, PieceList* out) {
  const ChunkFrames& f = *self;
  while (len > 0) {
    const uint64_t frame = offset / kFrameSize;
    const uint64_t in_frame = offset % kFrameSize;
    const uint64_t n = std::min(len, kFrameSize - in_frame);
    const uint8_t* p = f.buf_.data() + f.base_ + (frame - f.first_) * kSealedFrameSize + in_frame;
    out->Add(ByteView(p, n), self);
    offset += n;
    len -= n;
  }
}

ChunkReader::ChunkReader(const Repository* repo, Options options)
    : repo_(repo),
      options_(options),
      buffers_(std::make_shared<BufferPool>(
          static_cast<size_t>(std::clamp<int64_t>(options.cache_bytes / 4, 0, 64 << 20)))) {
  if (options_.threads > 0) pool_ = std::make_unique<ThreadPool>(options_.threads);
}

ChunkReader::~ChunkReader() {
  MutexLock lock(&mu_);
  idle_cv_.Wait([&] {
    mu_.AssertHeld();
    return in_flight_ == 0;
  });
}

int64_t ChunkReader::capacity() const { return options_.cache_bytes; }

int64_t ChunkReader::cached_bytes() const {
  MutexLock lock(&mu_);
  return used_;
}

int64_t ChunkReader::Budget() const {
  int64_t b = options_.cache_bytes - static_cast<int64_t>(buffers_->max_free());
  if (options_.shared_usage) b -= std::max<int64_t>(0, options_.shared_usage->load());
  // Room for two of the largest chunks, whatever the writes hold: below that a read would load
  // a whole chunk for every FUSE request without keeping it.
  const int64_t floor = std::max<int64_t>(
      kMinBudget,
      2 * static_cast<int64_t>(ObjectCipher::SealedSize(repo_->config().chunker.max_size) +
                               kAlignSlack));
  return std::max(b, std::min(floor, options_.cache_bytes));
}

Result<std::shared_ptr<ChunkFrames>> ChunkReader::Load(const ObjectId& id, uint64_t chunk_size,
                                                       uint64_t first, uint64_t count) const {
  auto f = LoadOnce(id, chunk_size, first, count);
  // A frame that failed authentication may be a damaged copy in a local cache (a torn or
  // flipped entry): drop it and read the object again from where it is stored, once.
  const bool damaged = f.ok() ? !(*f)->bad_.empty() : f.status().code() == Code::kCorruption;
  if (damaged && repo_->store()->DropCachedCopy(id)) return LoadOnce(id, chunk_size, first, count);
  return f;
}

Result<std::shared_ptr<ChunkFrames>> ChunkReader::LoadOnce(const ObjectId& id, uint64_t chunk_size,
                                                           uint64_t first, uint64_t count) const {
  const ObjectCipher& cipher = repo_->objects().cipher();
  const uint64_t sealed_size = ObjectCipher::SealedSize(chunk_size);
  auto f = std::make_shared<ChunkFrames>();
  f->id_ = id;
  f->chunk_size_ = chunk_size;
  f->first_ = first;
  f->count_ = count;
  // One read: from the object's start when frame 0 is wanted (the header comes along), else
  // from the first frame wanted; widened to the store's alignment so that it can come straight
  // from the device (the buffer is page-aligned).
  const uint64_t begin = first == 0 ? 0 : ObjectCipher::FrameOffset(first);
  const uint64_t end = std::min(ObjectCipher::FrameOffset(first + count), sealed_size);
  constexpr uint64_t kAlign = storage::kReadAlignment;
  const uint64_t aligned_begin = begin / kAlign * kAlign;
  // An object whose end is aligned gets a page more: a read that stops short shows a store
  // (the node cache) that the object was read whole.
  const uint64_t aligned_end =
      end == sealed_size && end % kAlign == 0 ? end + kAlign : (end + kAlign - 1) / kAlign * kAlign;
  const size_t slack = begin - aligned_begin;
  f->buf_ = buffers_->Take(aligned_end - aligned_begin);
  f->recycle_ = buffers_;
  auto got = repo_->store()->ReadInto(id, aligned_begin, f->buf_.span());
  if (!got.ok() && got.status().code() == Code::kNotFound)
    return Corruption("chunk object " + id.Hex() + " is missing");
  if (!got.ok()) return got.status();
  // A short object: its missing frames fail below. Bytes past end (alignment) are dropped.
  f->buf_.Shrink(std::min<uint64_t>(*got, end - aligned_begin));
  const size_t have = f->buf_.size() > slack ? f->buf_.size() - slack : 0;
  std::span<uint8_t> frames;
  Bytes header;
  uint64_t open_first = first, open_count = count;  // the frames still to open in place
  if (first == 0) {
    if (have < kObjectHeaderSize) {
      return Corruption("chunk object " + id.Hex() + " is shorter than its header");
    }
    header.assign(f->buf_.data(), f->buf_.data() + kObjectHeaderSize);
    f->base_ = kObjectHeaderSize;
    frames = f->buf_.span().subspan(kObjectHeaderSize);
  } else {
    f->base_ = slack;
    frames = f->buf_.span().subspan(slack, have);
    bool opened_first = false;
    ASSIGN_OR_RETURN(header, MiddleReadHeader(cipher, repo_->store(), id, sealed_size, first,
                                              frames, &opened_first));
    if (opened_first) {
      ++open_first;
      --open_count;
    }
  }
  if (open_count == 0) return f;
  const size_t opened = static_cast<size_t>(open_first - first) * kSealedFrameSize;
  Status s = cipher.OpenFramesInPlace(kChunkType, id, header, sealed_size, open_first, open_count,
                                      frames.subspan(std::min(opened, frames.size())), &f->bad_);
  // The authenticated config fixes every object's format: a header claiming another one was
  // tampered with (corruption, EIO), not "unsupported".
  if (s.code() == Code::kUnsupported) return Corruption(s.message());
  RETURN_IF_ERROR(s);
  return f;
}

Result<std::shared_ptr<const ChunkFrames>> ChunkReader::ReadFrames(const ObjectId& id,
                                                                   uint64_t chunk_size,
                                                                   uint64_t offset, uint64_t len) {
  if (offset > chunk_size || len > chunk_size - offset) {
    return Corruption("chunk object " + id.Hex() + " is shorter than its file says");
  }
  {
    MutexLock lock(&mu_);
    if (auto it = entries_.find(id); it != entries_.end() && it->second.frames) {
      // One id is one content: a file object that gives its chunk another size is damaged.
      if (it->second.frames->chunk_size() != chunk_size) {
        return Corruption("chunk object " + id.Hex() + " is shorter than its file says");
      }
      MarkReadLocked(&it->second);
      return it->second.frames;
    }
  }
  const uint64_t first = len == 0 ? 0 : offset / kFrameSize;
  const uint64_t last = len == 0 ? 0 : (offset + len - 1) / kFrameSize;
  ASSIGN_OR_RETURN(std::shared_ptr<ChunkFrames> f, Load(id, chunk_size, first, last - first + 1));
  return std::shared_ptr<const ChunkFrames>(std::move(f));
}

void ChunkReader::MarkReadLocked(Entry* e) {
  lru_.splice(lru_.begin(), lru_, e->lru);
  if (e->read) return;
  e->read = true;
  read_bytes_ += e->bytes;
  // The least recently used entries that were read go first.
  for (auto victim = lru_.end(); read_bytes_ > kKeepRead && victim != lru_.begin();) {
    --victim;
    auto it = entries_.find(*victim);
    if (it->second.read && it->second.frames && &it->second != e) {
      victim = std::next(victim);
      EraseLocked(it);
    }
  }
}

void ChunkReader::EraseLocked(std::unordered_map<ObjectId, Entry, ObjectIdHash>::iterator it) {
  if (it->second.read) read_bytes_ -= it->second.bytes;
  used_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

bool ChunkReader::MakeRoomLocked(int64_t need, bool demand) {
  const int64_t budget = Budget();
  const auto stale_before = std::chrono::steady_clock::now() - kStaleUnread;
  auto victim = lru_.end();
  while (used_ + need > budget) {
    // The least recently used loaded entry that may go.
    bool found = false;
    while (victim != lru_.begin()) {
      --victim;
      auto it = entries_.find(*victim);
      const Entry& e = it->second;
      if (e.frames && (e.read || (demand && e.since < stale_before))) {
        victim = std::next(victim);  // stays valid: only the erased node is invalidated
        EraseLocked(it);
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

Result<std::shared_ptr<const ChunkFrames>> ChunkReader::LoadAndPublish(const ObjectId& id,
                                                                       uint64_t chunk_size) {
  auto loaded = Load(id, chunk_size, 0, ObjectCipher::FrameCount(chunk_size));
  MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.waiters) it->second.waiters->SignalAll();
  if (!loaded.ok()) {
    if (it != entries_.end() && !it->second.frames) EraseLocked(it);
    return loaded.status();
  }
  std::shared_ptr<const ChunkFrames> frames = std::move(loaded).value();
  if (it != entries_.end() && !it->second.frames) {
    it->second.frames = frames;
    // Sized by the request; a short (damaged) object holds less.
    const int64_t delta = static_cast<int64_t>(frames->memory()) - it->second.bytes;
    used_ += delta;
    if (it->second.read) read_bytes_ += delta;
    it->second.bytes = static_cast<int64_t>(frames->memory());
  }
  return frames;
}

Result<std::shared_ptr<const ChunkFrames>> ChunkReader::GetChunk(const ObjectId& id,
                                                                 uint64_t chunk_size) {
  const auto bytes = static_cast<int64_t>(ObjectCipher::SealedSize(chunk_size));
  MutexLock lock(&mu_);
  for (;;) {
    auto it = entries_.find(id);
    if (it == entries_.end()) break;
    if (it->second.frames) {
      if (it->second.frames->chunk_size() != chunk_size) {
        return Corruption("chunk object " + id.Hex() + " is shorter than its file says");
      }
      MarkReadLocked(&it->second);
      return it->second.frames;
    }
    // A worker is loading it. The condition is held here too: the entry may go meanwhile.
    if (!it->second.waiters) it->second.waiters = std::make_shared<CondVar>(&mu_);
    std::shared_ptr<CondVar> waiters = it->second.waiters;
    waiters->Wait();
  }
  if (!MakeRoomLocked(bytes, true)) {
    // Every byte of the cache is in flight: read this one without keeping it.
    lock.Unlock();
    ASSIGN_OR_RETURN(std::shared_ptr<ChunkFrames> f,
                     Load(id, chunk_size, 0, ObjectCipher::FrameCount(chunk_size)));
    return std::shared_ptr<const ChunkFrames>(std::move(f));
  }
  lru_.push_front(id);
  auto [it, inserted] = entries_.emplace(
      id, Entry{nullptr, bytes, false, std::chrono::steady_clock::now(), lru_.begin(), nullptr});
  used_ += bytes;
  MarkReadLocked(&it->second);
  lock.Unlock();
  return LoadAndPublish(id, chunk_size);
}

bool ChunkReader::Prefetch(const ObjectId& id, uint64_t chunk_size) {
  if (!pool_) return false;
  const auto bytes = static_cast<int64_t>(ObjectCipher::SealedSize(chunk_size));
  {
    MutexLock lock(&mu_);
    if (entries_.contains(id)) return true;
    if (!MakeRoomLocked(bytes, false)) return false;
    lru_.push_front(id);
    entries_.emplace(
        id, Entry{nullptr, bytes, false, std::chrono::steady_clock::now(), lru_.begin(), nullptr});
    used_ += bytes;
    ++in_flight_;
  }
  pool_->Submit([this, id, chunk_size] {
    // A failed load drops the entry; the reader that needs the chunk loads it again and gets
    // the error itself.
    LoadAndPublish(id, chunk_size).status().IgnoreError();
    MutexLock lock(&mu_);
    if (--in_flight_ == 0) idle_cv_.SignalAll();
  });
  return true;
}

ReadAhead::Decision ReadAhead::OnRead(uint64_t offset, uint64_t len) {
  MutexLock lock(&mu_);
  ++clock_;
  Stream* s = nullptr;
  uint64_t best = UINT64_MAX;
  for (Stream& st : streams_) {
    // A stream without a window continues only with a read right at its end (random reads
    // must not look sequential); one with a window also with a skip into what it loaded ahead.
    const uint64_t back = st.window > 0 ? kBackSlack : kLargeRequest;
    const uint64_t forward = st.window > 0 ? std::min(st.window, kForwardSlack) : kLargeRequest;
    if (offset + back < st.next || offset > st.next + forward) continue;
    const uint64_t distance = offset > st.next ? offset - st.next : st.next - offset;
    if (distance < best) {
      best = distance;
      s = &st;
    }
  }
  // Streams reading at once (of every file) share the largest window, so that all their
  // windows fit the cache.
  int active = 1;
  for (const Stream& st : streams_) active += st.window > 0 && &st != s ? 1 : 0;
  if (shared_)
    active = std::max(active, shared_->load() + (s != nullptr && s->window == 0 ? 1 : 0));
  const uint64_t cap = std::max<uint64_t>(max_window_ / std::max(active, 1), kInitialWindow);
  if (s != nullptr) {
    s->window = s->window == 0 ? kInitialWindow : std::min(s->window * 2, cap);
    s->next = std::max(s->next, offset + len);
  } else {
    if (static_cast<int>(streams_.size()) < kMaxStreams) {
      streams_.emplace_back();
      s = &streams_.back();
    } else {
      s = &*std::min_element(
          streams_.begin(), streams_.end(),
          [](const Stream& a, const Stream& b) { return a.last_use < b.last_use; });
    }
    *s = Stream{};
    s->id = ++next_id_;
    s->next = offset + len;
    if (offset == 0 && (weight_file_ || len >= kLargeRequest)) {
      s->window = std::min(weight_file_ ? kWeightFileWindow : kInitialWindow, max_window_);
    }
  }
  s->last_use = clock_;
  CountLocked();
  Decision d;
  d.sequential = s->window > 0;
  d.stream = s->id;
  if (d.sequential) {
    d.ahead_to = offset + len + s->window;
    d.ahead_from = std::min(std::max(offset + len, s->ahead_to), d.ahead_to);
    s->ahead_to = std::max(s->ahead_to, d.ahead_to);
  }
  return d;
}

void ReadAhead::Reached(uint64_t stream, uint64_t reached) {
  MutexLock lock(&mu_);
  for (Stream& st : streams_) {
    if (st.id == stream) st.ahead_to = std::min(st.ahead_to, reached);
  }
}

ReadAhead::~ReadAhead() {
  if (shared_) shared_->fetch_sub(counted_);
}

void ReadAhead::CountLocked() {
  if (!shared_) return;
  int n = 0;
  for (const Stream& st : streams_) n += st.window > 0 ? 1 : 0;
  shared_->fetch_add(n - counted_);
  counted_ = n;
}

bool IsWeightFileName(std::string_view name) {
  static constexpr std::string_view kExtensions[] = {
      ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".h5", ".npy", ".msgpack"};
  for (std::string_view ext : kExtensions) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return true;
  }
  return false;
}

}  // namespace weightfs::repo
