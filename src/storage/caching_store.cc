// CachingStore: the ObjectStore calls. Hits read the entry's file; a miss fetches the whole
// object once and keeps it. The directory's bookkeeping is in caching_store_dir.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "storage/caching_store_impl.h"
#include "storage/local_store_impl.h"  // CreateTempFile, RemoveTemp

namespace weightfs::storage {

CachingStore::CachingStore(std::shared_ptr<ObjectStore> backing, CacheOptions options)
    : backing_(std::move(backing)),
      options_(std::move(options)),
      objects_dir_(options_.dir + "/objects"),
      tmp_dir_(options_.dir + "/tmp"),
      rng_(std::random_device{}()) {}

std::string CachingStore::EntryDir(const ObjectId& id) const {
  return objects_dir_ + "/" + id.Hex().substr(0, 2);
}

std::string CachingStore::EntryPath(const ObjectId& id) const {
  const std::string hex = id.Hex();
  return objects_dir_ + "/" + hex.substr(0, 2) + "/" + hex;
}

std::shared_ptr<CachingStore::EntryFds> CachingStore::OpenEntry(const ObjectId& id) {
  std::shared_ptr<EntryFds> kept;
  {
    MutexLock lock(&fds_mu_);
    if (auto it = fds_.find(id); it != fds_.end()) {
      fd_lru_.splice(fd_lru_.begin(), fd_lru_, it->second);
      kept = it->second->second;
    }
  }
  // A kept descriptor of an entry evicted or dropped since (by any process) would keep its disk
  // space in use and, for a dropped one, serve the damaged bytes again: open what is there now.
  struct stat st;
  if (kept && ::fstat(kept->buffered.get(), &st) == 0 && st.st_nlink > 0) {
    MaybeBump(kept.get(), id);
    return kept;
  }
  if (kept) ForgetFds(id);
  const std::string path = EntryPath(id);
  auto opened = std::make_shared<EntryFds>();
  auto buffered = OpenFile(path, O_RDONLY);
  if (!buffered.ok()) {
    if (buffered.status().code() != Code::kNotFound) LogCacheFailure(buffered.status());
    return nullptr;
  }
  opened->buffered = std::move(*buffered);
  if (direct_io_.load(std::memory_order_relaxed)) {
    auto direct = OpenFile(path, O_RDONLY | O_DIRECT);
    if (direct.ok()) {
      opened->direct = std::move(*direct);
    } else if (direct.status().code() == Code::kInvalidArgument) {
      direct_io_.store(false, std::memory_order_relaxed);  // e.g. tmpfs
    }
  }
  if (::fstat(opened->buffered.get(), &st) == 0) opened->bumped.store(st.st_mtim.tv_sec);
  MaybeBump(opened.get(), id);
  MutexLock lock(&fds_mu_);
  if (auto it = fds_.find(id); it != fds_.end()) return it->second->second;  // raced: keep one
  fd_lru_.emplace_front(id, opened);
  fds_[id] = fd_lru_.begin();
  if (fd_lru_.size() > kMaxOpenEntries) {
    fds_.erase(fd_lru_.back().first);
    fd_lru_.pop_back();  // closes once the last reader lets go
  }
  return opened;
}

void CachingStore::MaybeBump(EntryFds* fds, const ObjectId& id) {
  const int64_t now = NowSeconds();
  int64_t last = fds->bumped.load(std::memory_order_relaxed);
  if (now - last < kBumpSeconds) return;
  if (!fds->bumped.compare_exchange_strong(last, now)) return;  // another reader bumps it
  // Best effort: an entry this user may not touch (a cache shared with another user) just ages.
  ::futimens(fds->buffered.get(), nullptr);
}

bool CachingStore::ForgetFds(const ObjectId& id) {
  MutexLock lock(&fds_mu_);
  auto it = fds_.find(id);
  if (it == fds_.end()) return false;
  fd_lru_.erase(it->second);
  fds_.erase(it);
  return true;
}

Result<std::shared_ptr<const Bytes>> CachingStore::Fetch(const ObjectId& id) {
  std::shared_ptr<Flight> flight;
  {
    MutexLock lock(&flights_mu_);
    for (auto it = flights_.find(id); it != flights_.end(); it = flights_.find(id)) {
      flight = it->second;
      ++flight->waiters;
      flights_cv_.Wait([&] {
        flights_mu_.AssertHeld();
        return flight->done;
      });
      if (!flight->partial) return flight->result;
    }
    flight = std::make_shared<Flight>();
    flights_.emplace(id, flight);
  }
  // A fetch that finished between this reader's miss and now kept the object: read that.
  std::shared_ptr<const Bytes> data;
  Status status;
  if (auto entry = OpenEntry(id)) {
    auto bytes = PreadRange(entry->buffered.get(), 0, UINT64_MAX, EntryPath(id));
    if (bytes.ok()) data = std::make_shared<const Bytes>(std::move(*bytes));
  }
  if (!data) {
    auto got = backing_->Get(id);
    if (got.ok()) {
      data = std::make_shared<const Bytes>(std::move(*got));
      Keep(id, *data);
    } else {
      status = got.status();
    }
  }
  Result<std::shared_ptr<const Bytes>> result = data ? Result<std::shared_ptr<const Bytes>>(data)
                                                     : Result<std::shared_ptr<const Bytes>>(status);
  MutexLock lock(&flights_mu_);
  Land(id, flight.get(), result, /*partial=*/false);
  return result;
}

void CachingStore::Land(const ObjectId& id, Flight* flight,
                        Result<std::shared_ptr<const Bytes>> result, bool partial) {
  flight->result = std::move(result);
  flight->partial = partial;
  flight->done = true;
  flights_.erase(id);
  flights_cv_.SignalAll();
}

Result<std::optional<size_t>> CachingStore::FetchInto(const ObjectId& id, std::span<uint8_t> dest) {
  auto flight = std::make_shared<Flight>();
  {
    MutexLock lock(&flights_mu_);
    if (flights_.contains(id)) return std::optional<size_t>();
    flights_.emplace(id, flight);
  }
  Result<size_t> got = backing_->ReadInto(id, 0, dest);
  // Less than asked for: the object ended, so dest holds all of it.
  const bool whole = got.ok() && *got < dest.size();
  if (whole) Keep(id, dest.first(*got));
  MutexLock lock(&flights_mu_);
  if (!got.ok()) {
    Land(id, flight.get(), got.status(), /*partial=*/false);
    return got.status();
  }
  // Readers that came meanwhile (rare: the read-ahead and a reader on the same chunk) get a
  // copy of the object, or fetch it themselves when this read may have stopped short of its end.
  std::shared_ptr<const Bytes> copy;
  if (whole && flight->waiters > 0)
    copy = std::make_shared<const Bytes>(dest.begin(), dest.begin() + *got);
  Land(id, flight.get(), copy, /*partial=*/!whole);
  return std::optional<size_t>(*got);
}

void CachingStore::Keep(const ObjectId& id, ByteView data) {
  if (data.size() > options_.max_bytes) return;
  Status s = WriteEntry(id, data);
  if (!s.ok()) {
    LogCacheFailure(s);
    return;
  }
  Account(id, data.size());
  added_since_scan_ += data.size();
  EvictIfOver();
  MaybeRescan();
}

Status CachingStore::WriteEntry(const ObjectId& id, ByteView data) {
  const std::string path = EntryPath(id);
  struct stat st;
  // Present already (kept by another reader or process): one id is one content.
  if (::stat(path.c_str(), &st) == 0) return Status::Ok();
  auto temp = CreateTempFile(tmp_dir_, path);
  if (!temp.ok() && temp.status().code() == Code::kNotFound) {
    // tmp/ was removed (by hand): make it again.
    if (::mkdir(tmp_dir_.c_str(), 0755) != 0 && errno != EEXIST)
      return ErrnoStatus(errno, "creating " + tmp_dir_);
    temp = CreateTempFile(tmp_dir_, path);
  }
  if (!temp.ok()) return temp.status();
  auto& [fd, tmp] = *temp;
  // Straight to the disk where it can (an entry is read back with O_DIRECT too).
  Status s = WriteMostlyDirect(fd.get(), data, direct_io_.load(std::memory_order_relaxed), tmp);
  if (s.ok()) s = fd.Close(tmp);
  // No fsync: a torn entry fails authentication and is fetched again.
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (errno == ENOENT) {
      const std::string dir = EntryDir(id);
      if (::mkdir(objects_dir_.c_str(), 0755) != 0 && errno != EEXIST) {
        s = ErrnoStatus(errno, "creating " + objects_dir_);
      } else if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        s = ErrnoStatus(errno, "creating " + dir);
      } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
        s = ErrnoStatus(errno, "storing " + path);
      }
    } else {
      s = ErrnoStatus(errno, "storing " + path);
    }
  }
  if (!s.ok()) RemoveTemp(tmp);
  return s;
}

// --- objects ---

Status CachingStore::Put(const ObjectId& id, ByteView data) {
  RETURN_IF_ERROR(backing_->Put(id, data));
  Keep(id, data);
  return Status::Ok();
}

void CachingStore::DropUnreadable(const ObjectId& id, const Status& s) {
  LogCacheFailure(s);
  ForgetFds(id);
  if (::unlink(EntryPath(id).c_str()) == 0) Unaccount(id);
}

Result<Bytes> CachingStore::Get(const ObjectId& id) {
  if (auto fds = OpenEntry(id)) {
    auto got = PreadRange(fds->buffered.get(), 0, UINT64_MAX, EntryPath(id));
    if (got.ok()) return got;
    DropUnreadable(id, got.status());
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Bytes> data, Fetch(id));
  return *data;
}

Result<Bytes> CachingStore::GetRange(const ObjectId& id, uint64_t offset, uint64_t len) {
  if (auto fds = OpenEntry(id)) {
    auto got = PreadRange(fds->buffered.get(), offset, len, EntryPath(id));
    if (got.ok()) return got;
    DropUnreadable(id, got.status());
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Bytes> data, Fetch(id));
  if (offset >= data->size()) return Bytes();
  const uint64_t n = std::min<uint64_t>(len, data->size() - offset);
  return Bytes(data->begin() + static_cast<ptrdiff_t>(offset),
               data->begin() + static_cast<ptrdiff_t>(offset + n));
}

Result<size_t> CachingStore::ReadInto(const ObjectId& id, uint64_t offset,
                                      std::span<uint8_t> dest) {
  if (auto fds = OpenEntry(id)) {
    auto n = PreadInto(fds->buffered.get(), fds->direct.valid() ? fds->direct.get() : -1, offset,
                       dest, EntryPath(id));
    if (n.ok()) return n;
    DropUnreadable(id, n.status());
  }
  if (offset == 0 && !dest.empty()) {
    // A read from the start (a chunk reader's, into a buffer larger than the object): the
    // object comes straight into the caller's buffer.
    ASSIGN_OR_RETURN(std::optional<size_t> direct, FetchInto(id, dest));
    if (direct) return *direct;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Bytes> data, Fetch(id));
  if (offset >= data->size()) return size_t{0};
  const size_t n = std::min<uint64_t>(dest.size(), data->size() - offset);
  if (n > 0) std::memcpy(dest.data(), data->data() + offset, n);
  return n;
}

Result<bool> CachingStore::Contains(const ObjectId& id) {
  struct stat st;
  if (::stat(EntryPath(id).c_str(), &st) == 0) return true;
  return backing_->Contains(id);
}

Result<uint64_t> CachingStore::Size(const ObjectId& id) {
  struct stat st;
  if (::stat(EntryPath(id).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  return backing_->Size(id);
}

Status CachingStore::Delete(const ObjectId& id) {
  Status s = backing_->Delete(id);
  ForgetFds(id);
  if (::unlink(EntryPath(id).c_str()) == 0) Unaccount(id);
  return s;
}

bool CachingStore::DropCachedCopy(const ObjectId& id) {
  const bool had_fds = ForgetFds(id);
  const bool had_file = ::unlink(EntryPath(id).c_str()) == 0;
  if (had_file) Unaccount(id);
  if (had_fds || had_file) {
    Log("cache: object " + id.Hex() +
        " failed authentication; its cached copy was dropped and it is read again from the "
        "backing store");
  }
  return had_fds || had_file;
}

Status CachingStore::ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) {
  return backing_->ForEach(fn);
}
Result<int64_t> CachingStore::MTime(const ObjectId& id) { return backing_->MTime(id); }
Status CachingStore::Touch(const ObjectId& id) { return backing_->Touch(id); }
Status CachingStore::Sync() { return backing_->Sync(); }

// --- named files: always the backing store's ---

Result<std::optional<Bytes>> CachingStore::ReadFile(const std::string& name) {
  return backing_->ReadFile(name);
}
Result<std::optional<Bytes>> CachingStore::ReadFileAtMost(const std::string& name,
                                                          size_t max_size) {
  return backing_->ReadFileAtMost(name, max_size);
}
Status CachingStore::WriteFile(const std::string& name, ByteView data) {
  return backing_->WriteFile(name, data);
}
Status CachingStore::CompareAndSwapFile(const std::string& name,
                                        const std::optional<Bytes>& expected, ByteView data) {
  return backing_->CompareAndSwapFile(name, expected, data);
}
Status CachingStore::CreateFileExclusive(const std::string& name, ByteView data) {
  return backing_->CreateFileExclusive(name, data);
}
Status CachingStore::DeleteFile(const std::string& name) { return backing_->DeleteFile(name); }
Result<std::vector<std::string>> CachingStore::ListFiles(const std::string& dir) {
  return backing_->ListFiles(dir);
}
Result<std::unique_ptr<FileLock>> CachingStore::TryLock(const std::string& name, bool shared) {
  return backing_->TryLock(name, shared);
}

}  // namespace weightfs::storage
