// CachingStore: the cache directory. Opening, the count of its bytes, eviction (of two random
// entries the one whose mtime is older, as JuiceFS does: no shared index to keep consistent
// between processes), scans, stats and clearing.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "storage/boost_status.h"
#include "storage/caching_store_impl.h"
#include "storage/local_store_impl.h"  // CreateTempFile, RemoveTemp
#include "weightfs/core/names.h"

namespace weightfs::storage {
namespace {

// A temp file this old is a leftover of a process that died while writing it.
constexpr int64_t kStaleTempSeconds = 600;
constexpr const char* kMaxBytesFile = "max_bytes";

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

// The names in dir (without "." and ".."); empty when dir does not exist.
Result<std::vector<std::string>> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DirPtr d(::opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT) return names;
    return ErrnoStatus(errno, "listing " + dir);
  }
  errno = 0;
  while (struct dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
    errno = 0;
  }
  if (errno != 0) return ErrnoStatus(errno, "listing " + dir);
  return names;
}

// Removes the temp files of tmp_dir older than kStaleTempSeconds (another process may be writing
// a younger one now).
void RemoveStaleTemps(const std::string& tmp_dir) {
  auto names = ListDir(tmp_dir);
  if (!names.ok()) return;
  const int64_t now = NowSeconds();
  for (const std::string& name : *names) {
    const std::string path = tmp_dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        now - st.st_mtim.tv_sec > kStaleTempSeconds) {
      ::unlink(path.c_str());
    }
  }
}

Status MakeDirs(const std::string& dir) {
  try {
    boost::system::error_code ec;
    boost::filesystem::create_directories(dir, ec);
    if (ec) return BoostErrorStatus(ec, "creating the cache directory " + dir);
  } catch (const std::exception& e) {
    return IoError("creating the cache directory " + dir + ": " + e.what());
  }
  return Status::Ok();
}

// A cache directory that exists must be a directory (a missing one is an empty cache).
Status CheckCacheDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return NotDirectory("the cache directory " + dir +
                        " is not a directory: name a directory with --cache-dir");
  }
  return Status::Ok();
}

}  // namespace

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ForEachCacheEntry(
    const std::string& dir,
    const std::function<void(const ObjectId&, uint64_t, const std::string&)>& fn) {
  const std::string objects = dir + "/objects";
  ASSIGN_OR_RETURN(std::vector<std::string> fans, ListDir(objects));
  for (const std::string& fan : fans) {
    if (fan.size() != 2 || !IsLowerHex(fan)) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(objects + "/" + fan));
    for (const std::string& name : names) {
      if (name.size() != 2 * ObjectId::kSize || !IsLowerHex(name) || name.compare(0, 2, fan) != 0)
        continue;
      const std::string path = objects + "/" + fan + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone meanwhile
      auto id = ObjectId::FromHex(name);
      if (id.ok()) fn(*id, static_cast<uint64_t>(st.st_size), path);
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<ObjectStore>> OpenCachingStore(std::shared_ptr<ObjectStore> backing,
                                                      CacheOptions options) {
  if (options.dir.empty()) {
    return InvalidArgument("the cache directory is empty: name one (--cache-dir)");
  }
  if (!backing) return InvalidArgument("a cache needs a backing store");
  try {
    options.dir = boost::filesystem::absolute(options.dir).lexically_normal().string();
  } catch (const std::exception& e) {
    return IoError("opening the cache directory " + options.dir + ": " + e.what());
  }
  while (options.dir.size() > 1 && (options.dir.back() == '/' || options.dir.ends_with("/.")))
    options.dir.resize(options.dir.size() - (options.dir.back() == '/' ? 1 : 2));
  auto store = std::make_unique<CachingStore>(std::move(backing), std::move(options));
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

Status CachingStore::Init() {
  RETURN_IF_ERROR(MakeDirs(objects_dir_));
  RETURN_IF_ERROR(MakeDirs(tmp_dir_));
  RemoveStaleTemps(tmp_dir_);
  RETURN_IF_ERROR(Rescan());
  // Recorded for `weightfs cache stats` (best effort: the cache works without it).
  const std::string max_path = options_.dir + "/" + kMaxBytesFile;
  const std::string text = std::to_string(options_.max_bytes) + "\n";
  auto temp = CreateTempFile(tmp_dir_, max_path);
  if (temp.ok()) {
    auto& [fd, tmp] = *temp;
    Status s = WriteAll(fd.get(),
                        ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()), tmp);
    if (s.ok()) s = fd.Close(tmp);
    if (!s.ok() || ::rename(tmp.c_str(), max_path.c_str()) != 0) RemoveTemp(tmp);
  }
  EvictIfOver();
  return Status::Ok();
}

void CachingStore::Account(const ObjectId& id, uint64_t size) {
  MutexLock lock(&index_mu_);
  auto [it, inserted] = known_.try_emplace(id, Known{size, index_.size()});
  if (!inserted) return;
  index_.push_back(id);
  used_ += size;
}

void CachingStore::Unaccount(const ObjectId& id) {
  MutexLock lock(&index_mu_);
  auto it = known_.find(id);
  if (it == known_.end()) return;
  used_ -= it->second.size;
  const size_t pos = it->second.pos;
  if (pos + 1 != index_.size()) {
    index_[pos] = index_.back();
    known_[index_[pos]].pos = pos;
  }
  index_.pop_back();
  known_.erase(it);
}

void CachingStore::EvictIfOver() {
  bool expected = false;
  // One evicting thread is enough; the others' additions are counted and it evicts for them.
  if (!evicting_.compare_exchange_strong(expected, true)) return;
  for (;;) {
    {
      MutexLock lock(&index_mu_);
      if (used_ <= options_.max_bytes) break;
    }
    if (!EvictOne()) break;
  }
  evicting_.store(false);
}

bool CachingStore::EvictOne() {
  ObjectId a, b;
  {
    MutexLock lock(&index_mu_);
    if (index_.empty()) return false;
    // Two different entries (when there are two): of a pair, the older always goes.
    const size_t n = index_.size();
    const size_t i = std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
    size_t j = n < 2 ? i : std::uniform_int_distribution<size_t>(0, n - 2)(rng_);
    if (n >= 2 && j >= i) ++j;
    a = index_[i];
    b = index_[j];
  }
  // Every round drops at least one entry from the count (evicted, or found gone), so the loop
  // of EvictIfOver ends.
  struct stat sa, sb;
  const bool has_a = ::stat(EntryPath(a).c_str(), &sa) == 0;
  const bool has_b = b != a && ::stat(EntryPath(b).c_str(), &sb) == 0;
  if (!has_a) Unaccount(a);
  if (b != a && !has_b) Unaccount(b);
  if (!has_a && !has_b) return true;
  ObjectId victim = a;
  if (!has_a || (has_b && (sb.st_mtim.tv_sec < sa.st_mtim.tv_sec ||
                           (sb.st_mtim.tv_sec == sa.st_mtim.tv_sec &&
                            sb.st_mtim.tv_nsec < sa.st_mtim.tv_nsec)))) {
    victim = b;
  }
  ForgetFds(victim);
  if (::unlink(EntryPath(victim).c_str()) != 0 && errno != ENOENT) {
    Log("cache: could not evict " + EntryPath(victim) + ": " + std::strerror(errno));
  }
  Unaccount(victim);  // not counted either way: an entry that cannot be removed is not ours
  return true;
}

void CachingStore::MaybeRescan() {
  if (NowSeconds() - last_scan_.load() < kRescanSeconds &&
      added_since_scan_.load() < options_.max_bytes / kRescanFraction) {
    return;
  }
  bool expected = false;
  if (!scanning_.compare_exchange_strong(expected, true)) return;
  Status s = Rescan();
  scanning_.store(false);
  if (!s.ok()) Log("cache: counting the entries of " + options_.dir + " failed: " + s.ToString());
  EvictIfOver();
}

Status CachingStore::Rescan() {
  last_scan_.store(NowSeconds());
  added_since_scan_.store(0);
  std::vector<std::pair<ObjectId, uint64_t>> found;
  RETURN_IF_ERROR(
      ForEachCacheEntry(options_.dir, [&](const ObjectId& id, uint64_t size, const std::string&) {
        found.emplace_back(id, size);
      }));
  MutexLock lock(&index_mu_);
  index_.clear();
  known_.clear();
  used_ = 0;
  for (const auto& [id, size] : found) {
    known_.emplace(id, Known{size, index_.size()});
    index_.push_back(id);
    used_ += size;
  }
  return Status::Ok();
}

void CachingStore::Log(const std::string& message) {
  if (options_.log) options_.log(message);
}

void CachingStore::LogCacheFailure(const Status& s) {
  const int64_t now = NowSeconds();
  int64_t last = last_failure_log_.load();
  if (now - last < 60 || !last_failure_log_.compare_exchange_strong(last, now)) return;
  Log("cache: using " + options_.dir +
      " failed (reads still work, from the backing store): " + s.ToString());
}

// --- stats and clear, for `weightfs cache` ---

Result<CacheDirStats> ScanCacheDir(const std::string& dir) {
  RETURN_IF_ERROR(CheckCacheDir(dir));
  CacheDirStats stats;
  RETURN_IF_ERROR(ForEachCacheEntry(dir, [&](const ObjectId&, uint64_t size, const std::string&) {
    ++stats.entries;
    stats.bytes += size;
  }));
  const std::string max_path = dir + "/" + kMaxBytesFile;
  if (auto fd = OpenFile(max_path, O_RDONLY); fd.ok()) {
    auto text = PreadRange(fd->get(), 0, 64, max_path);
    if (text.ok()) {
      const std::string s(text->begin(), text->end());
      char* end = nullptr;
      const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (end != s.c_str() && (*end == '\n' || *end == '\0')) stats.max_bytes = v;
    }
  }
  return stats;
}

Result<CacheDirStats> ClearCacheDir(const std::string& dir) {
  RETURN_IF_ERROR(CheckCacheDir(dir));
  CacheDirStats removed;
  Status failed;
  RETURN_IF_ERROR(
      ForEachCacheEntry(dir, [&](const ObjectId&, uint64_t size, const std::string& path) {
        if (::unlink(path.c_str()) == 0) {
          ++removed.entries;
          removed.bytes += size;
        } else if (errno != ENOENT && failed.ok()) {
          failed = ErrnoStatus(errno, "removing " + path);
        }
      }));
  RETURN_IF_ERROR(failed);
  RemoveStaleTemps(dir + "/tmp");
  return removed;
}

}  // namespace weightfs::storage
