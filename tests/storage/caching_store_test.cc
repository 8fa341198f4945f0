// CachingStore in one process: hits and misses (counted at the backing store), a cache that
// survives a restart, the shared fetch of concurrent misses, the bound, what goes through to the
// backing store, stats and clear. The contract suite (store_contract_test.cc) runs over it too;
// several processes at once are in caching_store_process_test.cc.
#include "weightfs/storage/caching_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_test_util.h"
#include "weightfs/storage/fault_store.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::storage {
namespace {

using testing::TempDir;
using testing::TestData;
using testing::TestId;
namespace fs = std::filesystem;

// Counts the object reads that reach the backing store (ReadInto reads through GetRange); both
// may be slowed down.
class CountingStore : public FaultStore {
 public:
  explicit CountingStore(ObjectStore* target) : FaultStore(target, FaultPlan{}) {}
  Result<Bytes> Get(const ObjectId& id) override {
    ++reads;
    ++whole_gets;
    if (get_delay.count() > 0) std::this_thread::sleep_for(get_delay);
    return FaultStore::Get(id);
  }
  Result<Bytes> GetRange(const ObjectId& id, uint64_t offset, uint64_t len) override {
    ++reads;
    if (get_delay.count() > 0) std::this_thread::sleep_for(get_delay);
    return FaultStore::GetRange(id, offset, len);
  }
  std::atomic<int> reads{0};
  std::atomic<int> whole_gets{0};  // of them, Get (the other way is GetRange)
  std::chrono::milliseconds get_delay{0};
};

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / fs::path("objects"))) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

std::string EntryPath(const std::string& dir, const ObjectId& id) {
  return dir + "/objects/" + id.Hex().substr(0, 2) + "/" + id.Hex();
}

// Reader t (of n, all at once) reads its (offset, buffer size) from `read` into a fresh buffer;
// returns how many got exactly the object's bytes there (all of them up to its end).
int ConcurrentReaders(ObjectStore* cache, const ObjectId& id, const Bytes& data, int n,
                      const std::function<std::pair<uint64_t, size_t>(int)>& read) {
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      const auto [at, size] = read(t);
      std::vector<uint8_t> buf(size);
      auto got = cache->ReadInto(id, at, buf);
      const size_t want = std::min<size_t>(size, data.size() - at);
      if (got.ok() && *got == want &&
          std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(want),
                     data.begin() + static_cast<ptrdiff_t>(at)))
        ++good;
    });
  }
  for (auto& th : threads) th.join();
  return good.load();
}

class CachingStoreTest : public ::testing::Test {
 protected:
  CachingStoreTest() : backing_(NewMemoryStore()) {
    counting_ = std::make_shared<CountingStore>(backing_.get());
  }

  std::unique_ptr<ObjectStore> Open(uint64_t max_bytes = kDefaultCacheMaxBytes) {
    CacheOptions o;
    o.dir = dir_.path() + "/cache";
    o.max_bytes = max_bytes;
    o.log = [this](const std::string& m) { logged_.push_back(m); };
    auto c = OpenCachingStore(counting_, o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::string cache_dir() const { return dir_.path() + "/cache"; }

  TempDir dir_;
  std::unique_ptr<ObjectStore> backing_;
  std::shared_ptr<CountingStore> counting_;
  std::vector<std::string> logged_;
};

TEST_F(CachingStoreTest, AMissFetchesOnceAndLaterReadsHit) {
  const ObjectId id = TestId(0x11, 1);
  const Bytes data = TestData(100000, 1);
  WFS_ASSERT_OK(backing_->Put(id, data));
  auto cache = Open();
  std::vector<uint8_t> buf(1000);
  auto n = cache->ReadInto(id, 5000, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 1000u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin() + 5000));
  EXPECT_EQ(counting_->reads.load(), 1);
  // Every read kind now hits, and the miss kept the whole object.
  auto whole = cache->Get(id);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, data);
  auto range = cache->GetRange(id, 99990, 100);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, Bytes(data.end() - 10, data.end()));
  auto size = cache->Size(id);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, data.size());
  EXPECT_EQ(counting_->reads.load(), 1);
  ASSERT_TRUE(fs::exists(EntryPath(cache_dir(), id)));
  EXPECT_EQ(fs::file_size(EntryPath(cache_dir(), id)), data.size());
}

TEST_F(CachingStoreTest, ANewStoreOnTheSameDirectoryHits) {
  const ObjectId id = TestId(0x12, 1);
  const Bytes data = TestData(70000, 2);
  WFS_ASSERT_OK(backing_->Put(id, data));
  {
    auto cache = Open();
    ASSERT_TRUE(cache->Get(id).ok());
  }
  ASSERT_EQ(counting_->reads.load(), 1);
  auto cache = Open();  // a remount, or another command of the machine
  auto got = cache->GetRange(id, 10, 20);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Bytes(data.begin() + 10, data.begin() + 30));
  EXPECT_EQ(counting_->reads.load(), 1);
}

TEST_F(CachingStoreTest, PutWritesThroughAndKeepsACopy) {
  auto cache = Open();
  const ObjectId id = TestId(0x13, 1);
  const Bytes data = TestData(5000, 3);
  WFS_ASSERT_OK(cache->Put(id, data));
  auto stored = backing_->Get(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, data);
  auto got = cache->Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, data);
  EXPECT_EQ(counting_->reads.load(), 0);
}

TEST_F(CachingStoreTest, ConcurrentMissesOfOneObjectShareOneFetch) {
  const ObjectId id = TestId(0x14, 1);
  const Bytes data = TestData(300000, 4);
  WFS_ASSERT_OK(backing_->Put(id, data));
  counting_->get_delay = std::chrono::milliseconds(200);
  auto cache = Open();
  // Not from offset 0: a read from the start goes straight into its buffer (below).
  EXPECT_EQ(
      ConcurrentReaders(cache.get(), id, data, 8,
                        [](int t) { return std::pair<uint64_t, size_t>((t + 1) * 4096, 4096); }),
      8);
  EXPECT_EQ(counting_->reads.load(), 1);
}

TEST_F(CachingStoreTest, AReadFromTheStartComesStraightIntoTheBufferAndIsKept) {
  const ObjectId id = TestId(0x15, 1);
  const Bytes data = TestData(100000, 5);
  WFS_ASSERT_OK(backing_->Put(id, data));
  auto cache = Open();
  // A chunk reader's buffer: page-aligned, its size rounded up; the entry is then written with
  // O_DIRECT where the filesystem takes it (its last partial page buffered).
  std::unique_ptr<uint8_t, decltype(&std::free)> mem(
      static_cast<uint8_t*>(std::aligned_alloc(kReadAlignment, 104 << 10)), &std::free);
  ASSERT_NE(mem, nullptr);
  std::span<uint8_t> buf(mem.get(), 104 << 10);
  auto n = cache->ReadInto(id, 0, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, data.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(counting_->reads.load(), 1);
  EXPECT_EQ(counting_->whole_gets.load(), 0);  // a read into buf, not a Get and a copy
  ASSERT_TRUE(fs::exists(EntryPath(cache_dir(), id)));
  EXPECT_EQ(fs::file_size(EntryPath(cache_dir(), id)), data.size());
  auto whole = cache->Get(id);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, data);
  EXPECT_EQ(counting_->reads.load(), 1);
}

TEST_F(CachingStoreTest, AReadFromTheStartThatMayStopShortIsNotKept) {
  const ObjectId id = TestId(0x16, 1);
  const Bytes data = TestData(100000, 6);
  WFS_ASSERT_OK(backing_->Put(id, data));
  auto cache = Open();
  for (size_t size : {size_t{1000}, data.size()}) {  // shorter, and exactly the object
    std::vector<uint8_t> buf(size);
    auto n = cache->ReadInto(id, 0, buf);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, size);
    EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin()));
    EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), id))) << "a possibly cut object was kept";
  }
  auto whole = cache->Get(id);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, data);
  EXPECT_TRUE(fs::exists(EntryPath(cache_dir(), id)));
}

TEST_F(CachingStoreTest, ReadersFromTheStartAndElsewhereAtOnceAllGetTheirBytes) {
  const ObjectId id = TestId(0x17, 1);
  const Bytes data = TestData(300000, 7);
  WFS_ASSERT_OK(backing_->Put(id, data));
  counting_->get_delay = std::chrono::milliseconds(50);
  auto cache = Open();
  // A third whole from the start, a third cut short from the start, a third elsewhere; every
  // read of the backing store takes 50 ms, so they overlap: some wait on a direct fetch that
  // turns out whole (they get a copy) or cut short (they fetch themselves).
  EXPECT_EQ(ConcurrentReaders(cache.get(), id, data, 12,
                              [&](int t) {
                                return std::pair<uint64_t, size_t>(
                                    t % 3 == 2 ? 8192 : 0, t % 3 == 0 ? data.size() + 4096 : 8192);
                              }),
            12);
  EXPECT_TRUE(fs::exists(EntryPath(cache_dir(), id)));
}

TEST_F(CachingStoreTest, StaysWithinItsBoundUnderManyPutsAndReads) {
  constexpr uint64_t kMax = 1 << 20;
  constexpr size_t kLargest = 96 << 10;
  auto cache = Open(kMax);
  std::mt19937 rng(7);
  std::map<uint32_t, Bytes> objects;
  for (uint32_t i = 0; i < 60; ++i) {
    objects[i] = TestData(1 + rng() % kLargest, i);
    WFS_ASSERT_OK(backing_->Put(TestId(static_cast<uint8_t>(i), i), objects[i]));
  }
  for (int op = 0; op < 600; ++op) {
    const uint32_t i = rng() % 60;
    const ObjectId id = TestId(static_cast<uint8_t>(i), i);
    if (op % 3 == 0) {
      WFS_ASSERT_OK(cache->Put(id, objects[i]));
    } else {
      auto got = cache->Get(id);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(*got, objects[i]) << "object " << i;
    }
    ASSERT_LE(DirBytes(cache_dir()), kMax) << "after operation " << op;
  }
  // The cache did its job: not every read went to the backing store.
  EXPECT_LT(counting_->reads.load(), 400);
  auto stats = ScanCacheDir(cache_dir());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->bytes, DirBytes(cache_dir()));
  EXPECT_EQ(stats->max_bytes, std::optional<uint64_t>(kMax));
}

TEST_F(CachingStoreTest, OpeningWithASmallerBoundEvicts) {
  {
    auto cache = Open();
    for (uint32_t i = 0; i < 20; ++i) WFS_ASSERT_OK(cache->Put(TestId(1, i), TestData(50000, i)));
  }
  EXPECT_EQ(DirBytes(cache_dir()), 20u * 50000);
  auto cache = Open(200000);
  EXPECT_LE(DirBytes(cache_dir()), 200000u);
  // An object larger than the whole cache is served and not kept.
  const Bytes big = TestData(300000, 99);
  WFS_ASSERT_OK(backing_->Put(TestId(2, 1), big));
  auto got = cache->Get(TestId(2, 1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, big);
  EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), TestId(2, 1))));
}

TEST_F(CachingStoreTest, AHitRenewsAnEntrySoThatAnOlderOneIsEvicted) {
  const ObjectId a = TestId(0x15, 1), b = TestId(0x16, 2);
  {
    auto cache = Open();
    WFS_ASSERT_OK(cache->Put(a, TestData(1000, 1)));
    WFS_ASSERT_OK(cache->Put(b, TestData(1000, 2)));
  }
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(EntryPath(cache_dir(), a), now - std::chrono::hours(1));
  fs::last_write_time(EntryPath(cache_dir(), b), now - std::chrono::hours(2));
  {
    auto cache = Open();
    ASSERT_TRUE(cache->GetRange(b, 0, 1).ok());  // b was used last
  }
  EXPECT_GT(fs::last_write_time(EntryPath(cache_dir(), b)), now - std::chrono::minutes(1));
  auto cache = Open(1500);  // room for one: a, now the older, goes
  EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), a)));
  EXPECT_TRUE(fs::exists(EntryPath(cache_dir(), b)));
  EXPECT_EQ(counting_->reads.load(), 0);
}

TEST_F(CachingStoreTest, DeleteAndDropCachedCopy) {
  auto cache = Open();
  const ObjectId a = TestId(0x21, 1), b = TestId(0x22, 2);
  WFS_ASSERT_OK(cache->Put(a, TestData(1000, 1)));
  WFS_ASSERT_OK(cache->Put(b, TestData(1000, 2)));
  WFS_ASSERT_OK(cache->Delete(a));
  EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), a)));
  auto has = cache->Contains(a);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
  EXPECT_EQ(cache->Get(a).status().code(), Code::kNotFound);

  ASSERT_TRUE(cache->Get(b).ok());  // keeps its descriptor open
  EXPECT_TRUE(cache->DropCachedCopy(b));
  EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), b)));
  EXPECT_FALSE(cache->DropCachedCopy(b));
  EXPECT_EQ(logged_.size(), 1u);
  const int before = counting_->reads.load();
  auto got = cache->Get(b);  // read again from the backing store, and kept again
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, TestData(1000, 2));
  EXPECT_EQ(counting_->reads.load(), before + 1);
  EXPECT_TRUE(fs::exists(EntryPath(cache_dir(), b)));
}

TEST_F(CachingStoreTest, ADroppedEntryIsNotServedFromAKeptDescriptor) {
  auto cache = Open();
  const ObjectId id = TestId(0x23, 1);
  const Bytes data = TestData(8192, 5);
  WFS_ASSERT_OK(cache->Put(id, data));
  ASSERT_TRUE(cache->Get(id).ok());
  // Another process replaces the entry (it dropped a damaged copy and fetched it again).
  Bytes other = data;
  other[0] ^= 1;
  const std::string path = EntryPath(cache_dir(), id);
  fs::remove(path);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(other.data()), 8192);
  auto got = cache->Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, other);  // what the directory holds now
}

TEST_F(CachingStoreTest, NamedFilesAndObjectQueriesGoToTheBackingStore) {
  auto cache = Open();
  WFS_ASSERT_OK(cache->WriteFile("refs/main", TestData(10, 1)));
  auto f = backing_->ReadFile("refs/main");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ(**f, TestData(10, 1));
  EXPECT_FALSE(fs::exists(cache_dir() + "/refs"));
  const ObjectId id = TestId(0x31, 1);
  WFS_ASSERT_OK(backing_->Put(id, TestData(10, 2)));
  auto has = cache->Contains(id);  // a miss asks the backing store and fetches nothing
  ASSERT_TRUE(has.ok());
  EXPECT_TRUE(*has);
  auto size = cache->Size(id);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10u);
  EXPECT_EQ(counting_->reads.load(), 0);
  EXPECT_FALSE(fs::exists(EntryPath(cache_dir(), id)));
  int listed = 0;
  WFS_ASSERT_OK(cache->ForEach([&](const ObjectId&, uint64_t) {
    ++listed;
    return Status::Ok();
  }));
  EXPECT_EQ(listed, 1);
}

TEST_F(CachingStoreTest, BackingErrorsPassThroughAndKeepNothing) {
  auto cache = Open();
  EXPECT_EQ(cache->Get(TestId(0x41, 1)).status().code(), Code::kNotFound);
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(cache->ReadInto(TestId(0x41, 1), 0, buf).status().code(), Code::kNotFound);
  WFS_ASSERT_OK(backing_->Put(TestId(0x41, 2), TestData(100, 1)));
  counting_->SetPlan(FaultPlan{.fail_reads = true});
  EXPECT_EQ(cache->Get(TestId(0x41, 2)).status().code(), Code::kIoError);
  auto stats = ScanCacheDir(cache_dir());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, 0u);
}

TEST_F(CachingStoreTest, AFailedCacheWriteIsLoggedAndTheReadServed) {
  auto cache = Open();
  // tmp/ turns into a file: no entry can be written.
  fs::remove_all(cache_dir() + "/tmp");
  std::ofstream(cache_dir() + "/tmp") << "x";
  const ObjectId id = TestId(0x51, 1);
  WFS_ASSERT_OK(backing_->Put(id, TestData(4000, 1)));
  auto got = cache->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, TestData(4000, 1));
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_NE(logged_[0].find("reads still work"), std::string::npos) << logged_[0];
  WFS_EXPECT_OK(cache->Put(TestId(0x51, 2), TestData(10, 2)));  // written through all the same
}

TEST_F(CachingStoreTest, AnEntryThatCannotBeReadIsServedFromTheBackingStore) {
  auto cache = Open();
  const ObjectId id = TestId(0x52, 1);
  WFS_ASSERT_OK(backing_->Put(id, TestData(4000, 1)));
  fs::create_directories(EntryPath(cache_dir(), id));  // opens, but every read fails (EISDIR)
  std::vector<uint8_t> buf(4000);
  auto n = cache->ReadInto(id, 0, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(Bytes(buf.begin(), buf.end()), TestData(4000, 1));
  auto got = cache->GetRange(id, 1, 2);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), 2u);
  ASSERT_FALSE(logged_.empty());
  EXPECT_NE(logged_[0].find(id.Hex()), std::string::npos) << logged_[0];
}

TEST_F(CachingStoreTest, StatsClearAndStaleTemps) {
  {
    auto cache = Open(1 << 30);
    for (uint32_t i = 0; i < 5; ++i) WFS_ASSERT_OK(cache->Put(TestId(3, i), TestData(1000, i)));
  }
  auto stats = ScanCacheDir(cache_dir());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, 5u);
  EXPECT_EQ(stats->bytes, 5000u);
  EXPECT_EQ(stats->max_bytes, std::optional<uint64_t>(1 << 30));
  // A temp file a dead process left an hour ago goes; one being written now stays.
  const std::string old_temp = cache_dir() + "/tmp/.~tmp-0000000000000001";
  const std::string new_temp = cache_dir() + "/tmp/.~tmp-0000000000000002";
  std::ofstream(old_temp) << "x";
  std::ofstream(new_temp) << "x";
  fs::last_write_time(old_temp, fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto removed = ClearCacheDir(cache_dir());
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->entries, 5u);
  EXPECT_EQ(removed->bytes, 5000u);
  EXPECT_FALSE(fs::exists(old_temp));
  EXPECT_TRUE(fs::exists(new_temp));
  stats = ScanCacheDir(cache_dir());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, 0u);
  // A cache that does not exist is empty; an empty dir is refused.
  auto none = ScanCacheDir(dir_.path() + "/none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->entries, 0u);
  EXPECT_FALSE(none->max_bytes.has_value());
  EXPECT_EQ(OpenCachingStore(counting_, CacheOptions{}).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace weightfs::storage
