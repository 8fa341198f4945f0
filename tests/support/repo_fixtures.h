// Repositories for tests of the repo layer and the layers above it: repositories on in-memory or
// local stores with the cheap test KDF, stores that hold objects back, and small read/write
// shortcuts. The names live in weightfs::repo::testing, with the generic helpers of files.h and
// random.h brought in, so that `testing::X` reads the same inside namespace weightfs::repo.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "support/files.h"
#include "support/random.h"
#include "support/status_util.h"
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

// The repo and vfs tests' names for the assertions of status_util.h.
#define REPO_ASSERT_OK(expr) WFS_ASSERT_OK(expr)
#define REPO_EXPECT_OK(expr) WFS_EXPECT_OK(expr)
#define REPO_ASSERT_OK_AND_ASSIGN(lhs, expr) WFS_ASSERT_OK_AND_ASSIGN(lhs, expr)
#define REPO_TRACE_SEED(seed) WFS_TRACE_SEED(seed)

namespace weightfs::repo::testing {

using ::weightfs::testing::RandomBytes;
using ::weightfs::testing::ReadLocalFile;
using ::weightfs::testing::TempDir;
using ::weightfs::testing::TestSeed;
using ::weightfs::testing::WriteLocalFile;

Credential Passphrase(const std::string& p);

// Init options with the cheap KDF (tests only).
InitOptions FastInit();

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
  void Close();
  void Open();
  Result<bool> Contains(const ObjectId& id) override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

// The local store in dir; nullptr and a test failure when it does not open.
std::unique_ptr<storage::ObjectStore> LocalStoreAt(const std::string& dir);

// Every object in the store with its sealed bytes.
std::map<ObjectId, Bytes> AllObjects(storage::ObjectStore* store);

// Sum of the sizes of every stored object.
uint64_t StoredBytes(storage::ObjectStore* store);

// Streams data through a FileWriter in pieces of `piece` bytes; returns the file object's id.
Result<ObjectId> WriteContent(Repository* repo, ByteView data, size_t piece = 1 << 20,
                              FileObject* file = nullptr, uint64_t* new_bytes = nullptr,
                              uint32_t key_id = kLegacyKeyId);

// The whole content of a stored file object, through FileReader::ReadAt.
Result<Bytes> ReadContent(const Repository& repo, const ObjectId& file_id);

// A file entry for content already stored as file object id.
TreeEntry FileEntry(const ObjectId& id, uint64_t size, uint32_t mode = 0644);

// Stores data and records a snapshot in which it sits at path (on top of the live tree).
Result<SnapshotInfo> CommitFile(Repository* repo, const std::string& path, ByteView data,
                                const std::string& message);

}  // namespace weightfs::repo::testing
