// A repository over a CachingStore: an entry of the cache that fails authentication (a flipped
// byte, a torn write) is dropped and the object read again from the backing store, so the read
// succeeds; only an object that fails again (damaged where it is stored) is corruption.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/storage/caching_store.h"

namespace weightfs::repo {
namespace {

using testing::Passphrase;
namespace fs = std::filesystem;

constexpr char kPass[] = "cache retry test";

// Counts the object reads that reach the backing store (a cache's fetches: Get, or GetRange,
// through which ReadInto reads).
class CountingStore : public storage::FaultStore {
 public:
  explicit CountingStore(storage::ObjectStore* target) : FaultStore(target, storage::FaultPlan{}) {}
  Result<Bytes> Get(const ObjectId& id) override {
    ++gets;
    return FaultStore::Get(id);
  }
  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override {
    ++gets;
    return FaultStore::GetRange(id, offset, len);
  }
  std::atomic<int> gets{0};
};

class CacheRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(backing_.get(), Passphrase(kPass), testing::FastInit()));
    std::mt19937_64 rng(testing::TestSeed());
    data_ = testing::RandomBytes(rng, 3 << 20);
    auto repo = OpenCached();
    ASSERT_NE(repo, nullptr);
    REPO_ASSERT_OK_AND_ASSIGN(file_id_, testing::WriteContent(repo.get(), data_));
    REPO_ASSERT_OK_AND_ASSIGN(snapshot_, testing::CommitFile(repo.get(), "/m.bin", data_, "m"));
  }

  // A repository over a fresh CachingStore on the test's cache directory.
  std::unique_ptr<Repository> OpenCached() {
    storage::CacheOptions o{dir_.Sub("cache"), 1 << 30,
                            [this](const std::string& m) { logged_.push_back(m); }};
    auto cache = storage::OpenCachingStore(counting_, o);
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    if (!cache.ok()) return nullptr;
    auto repo = Repository::Open(std::move(cache).value(), Passphrase(kPass));
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    return repo.ok() ? std::move(repo).value() : nullptr;
  }

  std::vector<std::string> Entries() {
    std::vector<std::string> paths;
    for (const auto& e : fs::recursive_directory_iterator(dir_.Sub("cache") + "/objects")) {
      if (e.is_regular_file()) paths.push_back(e.path().string());
    }
    return paths;
  }

  static void FlipByte(const std::string& path, off_t at) {
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << path;
    uint8_t b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    ASSERT_EQ(::pwrite(fd, &b, 1, at), 1);
    ::close(fd);
  }

  // The cached entries of the snapshot, the file and its chunks (the objects the tests read)
  // hold what the backing store holds.
  void ExpectEntriesIntact(const Repository& repo) {
    auto file = repo.objects().LoadFile(file_id_);
    ASSERT_TRUE(file.ok());
    std::vector<ObjectId> ids = {snapshot_.id, file_id_};
    for (const ChunkRef& c : file->chunks) ids.push_back(c.id);
    for (const ObjectId& id : ids) {
      const std::string path =
          dir_.Sub("cache") + "/objects/" + id.Hex().substr(0, 2) + "/" + id.Hex();
      auto stored = backing_->Get(id);
      ASSERT_TRUE(stored.ok());
      EXPECT_TRUE(testing::ReadLocalFile(path) == *stored) << path;
    }
  }

  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> backing_{storage::NewMemoryStore()};
  std::shared_ptr<CountingStore> counting_ = std::make_shared<CountingStore>(backing_.get());
  std::vector<std::string> logged_;
  Bytes data_;
  ObjectId file_id_;
  SnapshotInfo snapshot_;
};

TEST_F(CacheRetryTest, FlippedEntriesAreDroppedAndFetchedAgain) {
  const std::vector<std::string> entries = Entries();
  ASSERT_GT(entries.size(), 3u);  // chunks, the file, the tree, the snapshot (kept by Put)
  for (const std::string& path : entries)
    FlipByte(path, static_cast<off_t>(fs::file_size(path) / 2));
  auto repo = OpenCached();
  ASSERT_NE(repo, nullptr);
  // Whole objects (snapshot, tree, file: ObjectLayer) and chunks (ChunkReader).
  REPO_EXPECT_OK(repo->objects().LoadSnapshot(snapshot_.id).status());
  auto got = testing::ReadContent(*repo, file_id_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data_);
  EXPECT_FALSE(logged_.empty());
  for (const std::string& m : logged_)
    EXPECT_NE(m.find("failed authentication"), std::string::npos);
  ExpectEntriesIntact(*repo);
}

TEST_F(CacheRetryTest, ADamagedEntryReadFromTheMiddleIsFetchedAgain) {
  // Random reads open only the frames they touch (ChunkReader::ReadFrames), with the header
  // guessed or read separately: damage the header and a frame past the first.
  for (const std::string& path : Entries()) {
    if (fs::file_size(path) < (1 << 20)) continue;
    FlipByte(path, 3);
    FlipByte(path, static_cast<off_t>(fs::file_size(path) - 100));
  }
  auto repo = OpenCached();
  ASSERT_NE(repo, nullptr);
  REPO_ASSERT_OK_AND_ASSIGN(FileObject file, repo->objects().LoadFile(file_id_));
  FileReader reader(repo.get(), file);
  std::mt19937_64 rng(testing::TestSeed());
  for (int i = 0; i < 20; ++i) {
    const uint64_t offset = rng() % data_.size();
    const uint64_t len = std::min<uint64_t>(1 + rng() % 200000, data_.size() - offset);
    Bytes out;
    REPO_ASSERT_OK(reader.ReadAt(offset, len, &out));
    ASSERT_TRUE(std::equal(out.begin(), out.end(), data_.begin() + static_cast<ptrdiff_t>(offset)))
        << "read of " << len << " at " << offset;
  }
  // The chunks no read touched are still damaged: a whole read drops and fetches them too.
  auto got = testing::ReadContent(*repo, file_id_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data_);
  ExpectEntriesIntact(*repo);
}

TEST_F(CacheRetryTest, ATornEntryIsFetchedAgain) {
  for (const std::string& path : Entries()) fs::resize_file(path, fs::file_size(path) / 2);
  auto repo = OpenCached();
  ASSERT_NE(repo, nullptr);
  auto got = testing::ReadContent(*repo, file_id_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data_);
}

TEST_F(CacheRetryTest, AnObjectDamagedInTheBackingStoreIsCorruptionAfterOneRetry) {
  auto repo = OpenCached();
  ASSERT_NE(repo, nullptr);
  REPO_ASSERT_OK_AND_ASSIGN(FileObject file, repo->objects().LoadFile(file_id_));
  ASSERT_FALSE(file.chunks.empty());
  const ObjectId chunk = file.chunks[0].id;
  // Damaged where it is stored, and in the cache.
  REPO_ASSERT_OK_AND_ASSIGN(Bytes sealed, backing_->Get(chunk));
  sealed[sealed.size() / 2] ^= 1;
  REPO_ASSERT_OK(backing_->Delete(chunk));
  REPO_ASSERT_OK(backing_->Put(chunk, sealed));
  const std::string entry =
      dir_.Sub("cache") + "/objects/" + chunk.Hex().substr(0, 2) + "/" + chunk.Hex();
  FlipByte(entry, static_cast<off_t>(fs::file_size(entry) / 2));
  const int before = counting_->gets.load();
  auto got = testing::ReadContent(*repo, file_id_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
  EXPECT_NE(got.status().message().find(chunk.Hex()), std::string::npos);
  EXPECT_EQ(counting_->gets.load(), before + 1);  // one retry, no loop
}

TEST_F(CacheRetryTest, WithoutACacheThereIsNoRetry) {
  // The backing store alone: DropCachedCopy says false, a damaged object is read once.
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, Repository::Open(std::make_unique<storage::FaultStore>(
                                                            counting_.get(), storage::FaultPlan{}),
                                                        Passphrase(kPass)));
  REPO_ASSERT_OK_AND_ASSIGN(FileObject file, repo->objects().LoadFile(file_id_));
  EXPECT_FALSE(repo->store()->DropCachedCopy(file.chunks[0].id));
  const int before = counting_->gets.load();
  counting_->SetPlan(storage::FaultPlan{.corrupt_reads = true});
  auto tree = repo->objects().LoadSnapshot(snapshot_.id);
  EXPECT_EQ(tree.status().code(), Code::kCorruption);
  EXPECT_EQ(counting_->gets.load(), before + 1);
}

}  // namespace
}  // namespace weightfs::repo
