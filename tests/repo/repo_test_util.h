// Helpers shared by the repository tests: seeded randomness, scratch directories, repositories
// on in-memory or local stores with the cheap test KDF, and small read/write shortcuts.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/tree_ops.h"
#include "weightfs/storage/fault_store.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/storage/memory_store.h"

#define REPO_ASSERT_OK(expr)                                          \
  do {                                                                \
    const ::weightfs::Status repo_s_ = (expr);                        \
    ASSERT_TRUE(repo_s_.ok()) << #expr << ": " << repo_s_.ToString(); \
  } while (0)

#define REPO_EXPECT_OK(expr)                                          \
  do {                                                                \
    const ::weightfs::Status repo_s_ = (expr);                        \
    EXPECT_TRUE(repo_s_.ok()) << #expr << ": " << repo_s_.ToString(); \
  } while (0)

// lhs = value of a Result expression, or a fatal failure with the status.
#define REPO_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  REPO_ASSERT_OK_AND_ASSIGN_IMPL(WFS_CONCAT(repo_r_, __LINE__), lhs, expr)
#define REPO_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)               \
  auto tmp = (expr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

// Puts the seed into every failure message of the current scope.
#define REPO_TRACE_SEED(seed)                   \
  SCOPED_TRACE("seed=" + std::to_string(seed) + \
               " (rerun with WEIGHTFS_TEST_SEED=" + std::to_string(seed) + ")")

namespace weightfs::repo::testing {

// The seed of a test's randomness: WEIGHTFS_TEST_SEED, else a fixed default. Printed so that a
// failing run can be replayed.
inline uint64_t TestSeed(uint64_t default_seed = 0x77f5eed) {
  const char* env = std::getenv("WEIGHTFS_TEST_SEED");
  uint64_t seed = env != nullptr && *env ? std::strtoull(env, nullptr, 0) : default_seed;
  std::printf("[   SEED   ] WEIGHTFS_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

inline Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/weightfs-repo-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    // Exported trees may hold read-only directories; make them writable so removal works.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline Credential Passphrase(const std::string& p) {
  Credential c;
  c.kind = Credential::Kind::kPassphrase;
  c.secret = SecretBytes(AsBytes(p));
  return c;
}

// Init options with the cheap KDF (tests only).
inline InitOptions FastInit() {
  InitOptions o;
  o.scrypt = kTestScrypt;
  o.allow_weak_kdf = true;
  return o;
}

// A store that outlives the repositories opened on it: each Open gets a non-owning view (a
// FaultStore with no faults planned), so a test can close and reopen the same in-memory
// repository, or look at its objects behind the repository's back.
class SharedStore {
 public:
  explicit SharedStore(std::unique_ptr<storage::ObjectStore> base = storage::NewMemoryStore())
      : base_(std::move(base)) {}
  storage::ObjectStore* get() const { return base_.get(); }
  std::unique_ptr<storage::ObjectStore> View() const {
    return std::make_unique<storage::FaultStore>(base_.get(), storage::FaultPlan{});
  }
  Result<std::unique_ptr<Repository>> Open(const Credential& c,
                                           const std::string& slot = "") const {
    return Repository::Open(View(), c, slot);
  }

 private:
  std::unique_ptr<storage::ObjectStore> base_;
};

// A store whose Contains waits while the gate is closed: chunks stay in flight as long as the
// test wants.
class GateStore : public storage::FaultStore {
 public:
  explicit GateStore(storage::ObjectStore* target) : FaultStore(target, storage::FaultPlan{}) {}
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  Result<bool> Contains(const ObjectId& id) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    lock.unlock();
    return FaultStore::Contains(id);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

inline std::unique_ptr<storage::ObjectStore> LocalStoreAt(const std::string& dir) {
  auto s = storage::OpenLocalStore(dir);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Every object in the store with its sealed bytes.
inline std::map<ObjectId, Bytes> AllObjects(storage::ObjectStore* store) {
  std::map<ObjectId, Bytes> out;
  Status s = store->ForEach([&](const ObjectId& id, uint64_t) {
    ASSIGN_OR_RETURN(out[id], store->Get(id));
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Sum of the sizes of every stored object.
inline uint64_t StoredBytes(storage::ObjectStore* store) {
  uint64_t total = 0;
  Status s = store->ForEach([&](const ObjectId&, uint64_t size) {
    total += size;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return total;
}

// Streams data through a FileWriter in pieces of `piece` bytes; returns the file object's id.
inline Result<ObjectId> WriteContent(Repository* repo, ByteView data, size_t piece = 1 << 20,
                                     FileObject* file = nullptr, uint64_t* new_bytes = nullptr) {
  FileWriter w(repo);
  for (size_t off = 0; off < data.size(); off += piece) {
    RETURN_IF_ERROR(w.Write(data.subspan(off, std::min(piece, data.size() - off))));
  }
  ASSIGN_OR_RETURN(ObjectId id, w.Finish());
  if (file) *file = w.file();
  if (new_bytes) *new_bytes = w.new_bytes();
  return id;
}

// The whole content of a stored file object, through FileReader::ReadAt.
inline Result<Bytes> ReadContent(const Repository& repo, const ObjectId& file_id) {
  ASSIGN_OR_RETURN(FileObject f, repo.objects().LoadFile(file_id));
  FileReader r(&repo, std::move(f));
  Bytes out;
  RETURN_IF_ERROR(r.ReadAt(0, r.size(), &out));
  return out;
}

// A file entry for content already stored as file object id.
inline TreeEntry FileEntry(const ObjectId& id, uint64_t size, uint32_t mode = 0644) {
  TreeEntry e;
  e.type = EntryType::kFile;
  e.mode = mode;
  e.size = size;
  e.mtime_ns = 1700000000123456789;
  e.id = id;
  return e;
}

// Stores data and records a snapshot in which it sits at path (on top of the live tree).
inline Result<SnapshotInfo> CommitFile(Repository* repo, const std::string& path, ByteView data,
                                       const std::string& message) {
  ASSIGN_OR_RETURN(ObjectId id, WriteContent(repo, data));
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  return repo->CommitSnapshot(
      [&](const MainRef& m) {
        return PutAtPath(repo, m.live_root, parts, FileEntry(id, data.size()));
      },
      message);
}

inline Bytes ReadLocalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void WriteLocalFile(const std::string& path, ByteView data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << "writing " << path;
}

}  // namespace weightfs::repo::testing
