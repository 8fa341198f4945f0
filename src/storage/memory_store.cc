// MemoryStore: an ObjectStore in two mutex-protected maps, for tests. It mirrors the local store
// beyond the basic contract too: a named file cannot be both a file and a directory ("a" and
// "a/b"), so code tested here does not break on disk. Thread-safe; mu_ is never held while a
// ForEach callback runs.
#include "weightfs/storage/memory_store.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"

namespace weightfs::storage {
namespace {

class MemoryStore : public ObjectStore {
 public:
  Status Put(const ObjectId& id, ByteView data) override {
    MutexLock lock(&mu_);
    objects_.try_emplace(id, Object{Bytes(data.begin(), data.end()), NowSeconds()});
    return Status::Ok();
  }

  Result<Bytes> Get(const ObjectId& id) override {
    MutexLock lock(&mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return Missing(id);
    return it->second.data;
  }

  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override {
    MutexLock lock(&mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return Missing(id);
    const Bytes& data = it->second.data;
    if (offset >= data.size()) return Bytes();
    const auto begin = data.begin() + static_cast<ptrdiff_t>(offset);
    return Bytes(begin,
                 begin + static_cast<ptrdiff_t>(std::min<uint64_t>(len, data.size() - offset)));
  }

  Result<bool> Contains(const ObjectId& id) override {
    MutexLock lock(&mu_);
    return objects_.count(id) > 0;
  }

  Result<uint64_t> Size(const ObjectId& id) override {
    MutexLock lock(&mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return Missing(id);
    return static_cast<uint64_t>(it->second.data.size());
  }

  Status Delete(const ObjectId& id) override {
    MutexLock lock(&mu_);
    if (objects_.erase(id) == 0) return Missing(id);
    return Status::Ok();
  }

  Status ForEach(const std::function<Status(const ObjectId& id, uint64_t size)>& fn) override {
    // A snapshot, so fn may call back into the store.
    std::vector<std::pair<ObjectId, uint64_t>> all;
    {
      MutexLock lock(&mu_);
      all.reserve(objects_.size());
      for (const auto& [id, obj] : objects_) all.emplace_back(id, obj.data.size());
    }
    for (const auto& [id, size] : all) RETURN_IF_ERROR(fn(id, size));
    return Status::Ok();
  }

  Result<int64_t> MTime(const ObjectId& id) override {
    MutexLock lock(&mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return Missing(id);
    return it->second.mtime;
  }

  Status Touch(const ObjectId& id) override {
    MutexLock lock(&mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return Missing(id);
    it->second.mtime = NowSeconds();
    return Status::Ok();
  }

  Status Sync() override { return Status::Ok(); }

  Result<std::optional<Bytes>> ReadFile(const std::string& name) override {
    RETURN_IF_ERROR(ValidateFileName(name));
    MutexLock lock(&mu_);
    return ReadLocked(name);
  }

  Status WriteFile(const std::string& name, ByteView data) override {
    RETURN_IF_ERROR(ValidateFileName(name));
    MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckWritable(name));
    files_[name] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }

  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override {
    RETURN_IF_ERROR(ValidateFileName(name));
    MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(std::optional<Bytes> current, ReadLocked(name));
    if (current != expected) {
      const char* why = !expected  ? "it already exists"
                        : !current ? "it does not exist"
                                   : "its content changed";
      return Conflict("compare-and-swap of " + name + ": " + why);
    }
    RETURN_IF_ERROR(CheckWritable(name));
    files_[name] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }

  Status CreateFileExclusive(const std::string& name, ByteView data) override {
    RETURN_IF_ERROR(ValidateFileName(name));
    MutexLock lock(&mu_);
    // Like link(2) on disk: a directory of that name also "exists".
    if (IsDirLocked(name)) return AlreadyExists("creating " + name + ": a directory exists there");
    RETURN_IF_ERROR(CheckWritable(name));
    if (!files_.try_emplace(name, data.begin(), data.end()).second) {
      return AlreadyExists("creating " + name + ": File exists");
    }
    return Status::Ok();
  }

  Status DeleteFile(const std::string& name) override {
    RETURN_IF_ERROR(ValidateFileName(name));
    MutexLock lock(&mu_);
    if (IsDirLocked(name)) return IsDirectory("deleting " + name + ": Is a directory");
    if (files_.erase(name) == 0) return NotFound("deleting " + name + ": No such file");
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListFiles(const std::string& dir) override {
    if (!dir.empty()) RETURN_IF_ERROR(ValidateFileName(dir));
    const std::string prefix = dir.empty() ? "" : dir + "/";
    std::vector<std::string> names;
    MutexLock lock(&mu_);
    for (auto it = files_.lower_bound(prefix);
         it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->first.find('/', prefix.size()) == std::string::npos) names.push_back(it->first);
    }
    return names;  // std::map keeps them sorted
  }

 private:
  struct Object {
    Bytes data;
    int64_t mtime;
  };

  static int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static Status Missing(const ObjectId& id) {
    return NotFound("object " + id.Hex() + " not found");
  }

  // True if some file lives below name, which makes name a directory.
  [[nodiscard]] bool IsDirLocked(const std::string& name) const REQUIRES(mu_) {
    const std::string prefix = name + "/";
    auto it = files_.lower_bound(prefix);
    return it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
  }

  Result<std::optional<Bytes>> ReadLocked(const std::string& name) const REQUIRES(mu_) {
    if (IsDirLocked(name)) return IsDirectory("reading " + name + ": Is a directory");
    auto it = files_.find(name);
    if (it == files_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }

  // A name can be written unless it is a directory or one of its parents is a file.
  Status CheckWritable(const std::string& name) const REQUIRES(mu_) {
    if (IsDirLocked(name)) return IsDirectory("writing " + name + ": Is a directory");
    for (size_t slash = name.find('/'); slash != std::string::npos;
         slash = name.find('/', slash + 1)) {
      if (files_.count(name.substr(0, slash))) {
        return NotDirectory("writing " + name + ": " + name.substr(0, slash) +
                            " is a file, not a directory");
      }
    }
    return Status::Ok();
  }

  mutable Mutex mu_;  // never held while a ForEach callback runs
  std::map<ObjectId, Object> objects_ GUARDED_BY(mu_);
  std::map<std::string, Bytes> files_ GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<ObjectStore> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace weightfs::storage
