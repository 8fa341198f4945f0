// The ObjectStore contract, run against every implementation: the local store in a fresh
// directory, the memory store, a FaultStore with an empty plan over a memory store, a
// CachingStore over a memory store and over a local store, and the S3 store on the fake S3
// server, with and without conditional writes (skipped without python3), and on the real server
// of the s3server fixture (ctest -L s3; skipped elsewhere).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/s3_real_server.h"
#include "storage/s3_test_util.h"
#include "storage/storage_test_util.h"
#include "weightfs/storage/caching_store.h"
#include "weightfs/storage/fault_store.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/storage/memory_store.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::storage {
namespace {

using testing::TempDir;
using testing::TestData;
using testing::TestId;

// A FaultStore that owns the store it wraps.
class OwningFaultStore : public FaultStore {
 public:
  explicit OwningFaultStore(std::unique_ptr<ObjectStore> target)
      : FaultStore(target.get(), FaultPlan{}), owned_(std::move(target)) {}

 private:
  std::unique_ptr<ObjectStore> owned_;
};

struct StoreCase {
  const char* name;
  std::function<std::unique_ptr<ObjectStore>(const std::string& dir)> make;
  // Why the store cannot be made here (the case is skipped), or empty.
  std::function<std::string()> unavailable = [] { return std::string(); };
};

void PrintTo(const StoreCase& c, std::ostream* os) { *os << c.name; }

std::unique_ptr<ObjectStore> MakeLocal(const std::string& dir) {
  auto store = OpenLocalStore(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// A CachingStore in dir/cache over backing (a small bound, so that the suite evicts too).
std::unique_ptr<ObjectStore> MakeCaching(const std::string& dir,
                                         std::unique_ptr<ObjectStore> backing) {
  if (!backing) return nullptr;
  auto store = OpenCachingStore(std::move(backing), CacheOptions{dir + "/cache", 64 << 10, {}});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

class StoreContractTest : public ::testing::TestWithParam<StoreCase> {
 protected:
  void SetUp() override {
    if (std::string why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
    store_ = GetParam().make(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  std::optional<Bytes> Read(const std::string& name) {
    auto r = store_->ReadFile(name);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

// --- objects ---

TEST_P(StoreContractTest, PutThenGetReturnsTheBytes) {
  const ObjectId id = TestId(0x12, 1);
  const Bytes data = TestData(10000, 1);
  WFS_ASSERT_OK(store_->Put(id, data));
  auto got = store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
}

TEST_P(StoreContractTest, EmptyObject) {
  const ObjectId id = TestId(0x00, 2);
  WFS_ASSERT_OK(store_->Put(id, Bytes{}));
  auto got = store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
  auto size = store_->Size(id);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 0u);
  auto range = store_->GetRange(id, 0, 10);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->empty());
}

TEST_P(StoreContractTest, MissingObjectIsNotFound) {
  const ObjectId id = TestId(0x34, 3);
  EXPECT_EQ(store_->Get(id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetRange(id, 0, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Size(id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->MTime(id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete(id).code(), Code::kNotFound);
  auto contains = store_->Contains(id);
  ASSERT_TRUE(contains.ok());
  EXPECT_FALSE(*contains);
}

TEST_P(StoreContractTest, GetRange) {
  const ObjectId id = TestId(0x56, 4);
  const Bytes data = TestData(1000, 4);
  WFS_ASSERT_OK(store_->Put(id, data));
  auto slice = [&](uint64_t off, uint64_t len) {
    auto r = store_->GetRange(id, off, len);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Bytes{};
  };
  EXPECT_EQ(slice(0, 1000), data);
  EXPECT_EQ(slice(100, 50), Bytes(data.begin() + 100, data.begin() + 150));
  EXPECT_EQ(slice(999, 1), Bytes{data[999]});
  // Past the end: shorter at the end of the object, empty beyond it.
  EXPECT_EQ(slice(900, 500), Bytes(data.begin() + 900, data.end()));
  EXPECT_EQ(slice(0, std::numeric_limits<uint64_t>::max()), data);
  EXPECT_EQ(slice(500, std::numeric_limits<uint64_t>::max()),
            Bytes(data.begin() + 500, data.end()));
  EXPECT_TRUE(slice(1000, 10).empty());
  EXPECT_TRUE(slice(5000, 10).empty());
  EXPECT_TRUE(slice(std::numeric_limits<uint64_t>::max(), 10).empty());
  // Zero length.
  EXPECT_TRUE(slice(0, 0).empty());
  EXPECT_TRUE(slice(500, 0).empty());
}

TEST_P(StoreContractTest, PutTwiceIsIdempotentAndKeepsFirstBytes) {
  const ObjectId id = TestId(0x78, 5);
  const Bytes first = TestData(300, 5);
  const Bytes second = TestData(200, 6);
  WFS_ASSERT_OK(store_->Put(id, first));
  WFS_ASSERT_OK(store_->Put(id, first));
  WFS_ASSERT_OK(store_->Put(id, second));
  auto got = store_->Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, first);
  auto size = store_->Size(id);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, first.size());
}

TEST_P(StoreContractTest, ContainsSizeDelete) {
  const ObjectId id = TestId(0x9a, 7);
  const Bytes data = TestData(4321, 7);
  EXPECT_FALSE(*store_->Contains(id));
  WFS_ASSERT_OK(store_->Put(id, data));
  EXPECT_TRUE(*store_->Contains(id));
  auto size = store_->Size(id);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 4321u);
  WFS_ASSERT_OK(store_->Delete(id));
  EXPECT_FALSE(*store_->Contains(id));
  EXPECT_EQ(store_->Get(id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete(id).code(), Code::kNotFound);
  // Deleted objects can be stored again.
  WFS_ASSERT_OK(store_->Put(id, data));
  EXPECT_EQ(*store_->Get(id), data);
}

TEST_P(StoreContractTest, ForEachListsExactlyWhatWasPut) {
  std::map<ObjectId, uint64_t> want;
  for (uint32_t i = 0; i < 40; ++i) {
    // Several ids share a fan-out prefix, several do not.
    const ObjectId id = TestId(static_cast<uint8_t>(i % 7 * 37), i);
    const Bytes data = TestData(i * 13, i);
    WFS_ASSERT_OK(store_->Put(id, data));
    want[id] = data.size();
  }
  const ObjectId gone = TestId(0xee, 999);
  WFS_ASSERT_OK(store_->Put(gone, TestData(5, 999)));
  WFS_ASSERT_OK(store_->Delete(gone));

  std::map<ObjectId, uint64_t> got;
  WFS_ASSERT_OK(store_->ForEach([&](const ObjectId& id, uint64_t size) {
    EXPECT_TRUE(got.emplace(id, size).second) << "listed twice: " << id.Hex();
    return Status::Ok();
  }));
  EXPECT_EQ(got, want);
}

TEST_P(StoreContractTest, ForEachStopsAtTheFirstError) {
  for (uint32_t i = 0; i < 10; ++i) WFS_ASSERT_OK(store_->Put(TestId(0x10, i), TestData(10, i)));
  int calls = 0;
  Status s = store_->ForEach(
      [&](const ObjectId&, uint64_t) { return ++calls == 3 ? Busy("stop here") : Status::Ok(); });
  EXPECT_EQ(s.code(), Code::kBusy);
  EXPECT_EQ(s.message(), "stop here");
  EXPECT_EQ(calls, 3);
}

TEST_P(StoreContractTest, ForEachOnAnEmptyStore) {
  int calls = 0;
  WFS_EXPECT_OK(store_->ForEach([&](const ObjectId&, uint64_t) {
    ++calls;
    return Status::Ok();
  }));
  EXPECT_EQ(calls, 0);
}

TEST_P(StoreContractTest, MTimeIsWhenTheObjectWasWritten) {
  const ObjectId id = TestId(0xbc, 8);
  const int64_t before = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  WFS_ASSERT_OK(store_->Put(id, TestData(10, 8)));
  auto mtime = store_->MTime(id);
  ASSERT_TRUE(mtime.ok()) << mtime.status().ToString();
  EXPECT_GE(*mtime, before - 2);
  EXPECT_LE(*mtime, before + 60);
}

TEST_P(StoreContractTest, Sync) {
  WFS_EXPECT_OK(store_->Sync());  // nothing pending
  for (uint32_t i = 0; i < 5; ++i) WFS_ASSERT_OK(store_->Put(TestId(0xcd, i), TestData(100, i)));
  WFS_ASSERT_OK(store_->Delete(TestId(0xcd, 2)));
  WFS_EXPECT_OK(store_->Sync());
  WFS_EXPECT_OK(store_->Sync());
  EXPECT_EQ(*store_->Get(TestId(0xcd, 4)), TestData(100, 4));
}

TEST_P(StoreContractTest, ConcurrentPutsOfTheSameObject) {
  const ObjectId id = TestId(0xde, 9);
  const Bytes data = TestData(100000, 9);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (!store_->Put(id, data).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*store_->Get(id), data);
}

// --- named files ---

TEST_P(StoreContractTest, ReadMissingFileIsNullopt) {
  auto r = store_->ReadFile("config");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->has_value());
  r = store_->ReadFile("no/such/dir/file");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->has_value());
}

TEST_P(StoreContractTest, WriteReadOverwrite) {
  WFS_ASSERT_OK(store_->WriteFile("config", AsBytes("version 1, long")));
  EXPECT_EQ(Read("config"), ToBytes("version 1, long"));
  WFS_ASSERT_OK(store_->WriteFile("config", AsBytes("v2")));
  EXPECT_EQ(Read("config"), ToBytes("v2"));
  WFS_ASSERT_OK(store_->WriteFile("keys/nested/deep/admin", AsBytes("k")));
  EXPECT_EQ(Read("keys/nested/deep/admin"), ToBytes("k"));
  WFS_ASSERT_OK(store_->WriteFile("empty", Bytes{}));
  EXPECT_EQ(Read("empty"), Bytes{});
}

TEST_P(StoreContractTest, CompareAndSwap) {
  WFS_ASSERT_OK(store_->WriteFile("refs/main", AsBytes("a")));
  WFS_EXPECT_OK(store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("b")));
  EXPECT_EQ(Read("refs/main"), ToBytes("b"));

  Status wrong = store_->CompareAndSwapFile("refs/main", ToBytes("a"), AsBytes("c"));
  EXPECT_EQ(wrong.code(), Code::kConflict) << wrong.ToString();
  EXPECT_EQ(Read("refs/main"), ToBytes("b"));

  // Present, but the caller expected it missing.
  Status present = store_->CompareAndSwapFile("refs/main", std::nullopt, AsBytes("d"));
  EXPECT_EQ(present.code(), Code::kConflict) << present.ToString();
  EXPECT_EQ(Read("refs/main"), ToBytes("b"));

  // The empty file is not the missing file.
  WFS_ASSERT_OK(store_->WriteFile("refs/empty", Bytes{}));
  EXPECT_EQ(store_->CompareAndSwapFile("refs/empty", std::nullopt, AsBytes("x")).code(),
            Code::kConflict);
  WFS_EXPECT_OK(store_->CompareAndSwapFile("refs/empty", Bytes{}, AsBytes("x")));
}

TEST_P(StoreContractTest, CompareAndSwapFromMissing) {
  WFS_EXPECT_OK(store_->CompareAndSwapFile("refs/new/branch", std::nullopt, AsBytes("1")));
  EXPECT_EQ(Read("refs/new/branch"), ToBytes("1"));
  // Missing, but the caller expected content.
  Status s = store_->CompareAndSwapFile("refs/other", ToBytes("1"), AsBytes("2"));
  EXPECT_EQ(s.code(), Code::kConflict) << s.ToString();
  EXPECT_EQ(Read("refs/other"), std::nullopt);
}

TEST_P(StoreContractTest, CreateFileExclusive) {
  WFS_ASSERT_OK(store_->CreateFileExclusive("locks/writer", AsBytes("pid 1")));
  Status again = store_->CreateFileExclusive("locks/writer", AsBytes("pid 2"));
  EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
  EXPECT_EQ(Read("locks/writer"), ToBytes("pid 1"));
  WFS_ASSERT_OK(store_->DeleteFile("locks/writer"));
  WFS_EXPECT_OK(store_->CreateFileExclusive("locks/writer", AsBytes("pid 3")));
  EXPECT_EQ(Read("locks/writer"), ToBytes("pid 3"));
}

TEST_P(StoreContractTest, DeleteFile) {
  WFS_ASSERT_OK(store_->WriteFile("keys/admin", AsBytes("x")));
  WFS_ASSERT_OK(store_->DeleteFile("keys/admin"));
  EXPECT_EQ(Read("keys/admin"), std::nullopt);
  EXPECT_EQ(store_->DeleteFile("keys/admin").code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteFile("nodir/x").code(), Code::kNotFound);
}

TEST_P(StoreContractTest, ListFilesGivesDirectChildrenSorted) {
  // An object, so a local store has its objects/ directory in the root.
  WFS_ASSERT_OK(store_->Put(TestId(0xab, 1), TestData(10, 1)));
  for (const char* name : {"config", "keys/user", "keys/admin", "keys/sub/inner", "refs/main",
                           "refs/tags/v1", "refs/tags/v2"}) {
    WFS_ASSERT_OK(store_->WriteFile(name, AsBytes(name)));
  }
  WFS_ASSERT_OK(store_->CompareAndSwapFile("refs/main", ToBytes("refs/main"), AsBytes("2")));
  auto list = [&](const std::string& dir) {
    auto r = store_->ListFiles(dir);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{"<error>"};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(list("keys"), (V{"keys/admin", "keys/user"}));
  EXPECT_EQ(list("keys/sub"), (V{"keys/sub/inner"}));
  EXPECT_EQ(list("refs"), (V{"refs/main"}));
  EXPECT_EQ(list("refs/tags"), (V{"refs/tags/v1", "refs/tags/v2"}));
  EXPECT_EQ(list(""), (V{"config"}));
  EXPECT_EQ(list("missing"), V{});
  EXPECT_EQ(list("config"), V{});  // a file, not a directory
  EXPECT_EQ(store_->ListFiles("../x").status().code(), Code::kInvalidArgument);
}

TEST_P(StoreContractTest, FileOperationsRejectInvalidNames) {
  for (const std::string& bad :
       std::vector<std::string>{"../x", "/abs", "a//b", "a/./b", "", "with space", "a/"}) {
    SCOPED_TRACE("name '" + bad + "'");
    EXPECT_EQ(store_->ReadFile(bad).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->WriteFile(bad, AsBytes("x")).code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->CompareAndSwapFile(bad, std::nullopt, AsBytes("x")).code(),
              Code::kInvalidArgument);
    EXPECT_EQ(store_->CreateFileExclusive(bad, AsBytes("x")).code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->DeleteFile(bad).code(), Code::kInvalidArgument);
  }
  // Named files cannot reach into the object namespace.
  EXPECT_EQ(store_->WriteFile("objects/ab/x", AsBytes("x")).code(), Code::kInvalidArgument);
}

TEST_P(StoreContractTest, AFileIsNotADirectory) {
  WFS_ASSERT_OK(store_->WriteFile("a", AsBytes("file")));
  Status under = store_->WriteFile("a/b", AsBytes("x"));
  EXPECT_EQ(under.code(), Code::kNotDirectory) << under.ToString();
  EXPECT_EQ(Read("a/b"), std::nullopt);
  EXPECT_EQ(Read("a"), ToBytes("file"));

  WFS_ASSERT_OK(store_->WriteFile("d/e", AsBytes("x")));
  EXPECT_EQ(store_->WriteFile("d", AsBytes("x")).code(), Code::kIsDirectory);
  EXPECT_EQ(store_->ReadFile("d").status().code(), Code::kIsDirectory);
  EXPECT_EQ(store_->CreateFileExclusive("d", AsBytes("x")).code(), Code::kAlreadyExists);
}

TEST_P(StoreContractTest, ConcurrentCompareAndSwapIncrements) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 50;
  std::atomic<int> errors{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIncrements; ++i) {
        for (;;) {
          auto cur = store_->ReadFile("counter");
          if (!cur.ok()) {
            ++errors;
            return;
          }
          int value = cur->has_value() ? std::stoi(std::string(AsString(**cur))) : 0;
          // "VALUE:WRITER": bytes unique to the writer, as the interface asks.
          const std::string next = std::to_string(value + 1) + ":" + std::to_string(t);
          Status s = store_->CompareAndSwapFile("counter", *cur, AsBytes(next));
          if (s.ok()) break;
          if (s.code() != Code::kConflict) {
            ++errors;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  const std::optional<Bytes> counter = Read("counter");
  ASSERT_TRUE(counter.has_value());
  EXPECT_EQ(std::stoi(std::string(AsString(*counter))), kThreads * kIncrements);
  RecordProperty("conflicts_retried", conflicts.load());
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, StoreContractTest,
    ::testing::Values(
        StoreCase{"Local", MakeLocal},
        StoreCase{"Memory", [](const std::string&) { return NewMemoryStore(); }},
        StoreCase{"FaultOverMemory",
                  [](const std::string&) -> std::unique_ptr<ObjectStore> {
                    return std::make_unique<OwningFaultStore>(NewMemoryStore());
                  }},
        StoreCase{"CachingOverMemory",
                  [](const std::string& dir) { return MakeCaching(dir, NewMemoryStore()); }},
        StoreCase{"CachingOverLocal",
                  [](const std::string& dir) {
                    std::filesystem::create_directories(dir + "/backing");
                    return MakeCaching(dir, MakeLocal(dir + "/backing"));
                  }},
        StoreCase{"S3Fake", [](const std::string&) { return s3::testing::S3TestStore::Make({}); },
                  s3::testing::FakeS3Unavailable},
        StoreCase{
            "S3FakeNoConditionalWrites",
            [](const std::string&) { return s3::testing::S3TestStore::Make({"--no-conditional"}); },
            s3::testing::FakeS3Unavailable},
        StoreCase{"S3RealServer",
                  [](const std::string&) { return s3::testing::S3TestStore::MakeOnRealServer(); },
                  s3::testing::RealS3Unavailable}),
    [](const ::testing::TestParamInfo<StoreCase>& info) { return std::string(info.param.name); });

// --- file names ---

TEST(ValidateFileNameTest, AcceptsStoreNames) {
  for (const std::string& good :
       std::vector<std::string>{"config", "keys/admin", "refs/tags/v1.0_rc-2", ".hidden", "a/b/c/d",
                                "objectsX", "x/objects", std::string(255, 'n')}) {
    WFS_EXPECT_OK(ValidateFileName(good));
  }
}

TEST(ValidateFileNameTest, RejectsBadNames) {
  for (const std::string& bad : std::vector<std::string>{
           "../x", "x/..", "..", ".", "/abs", "a//b", "a/./b", "", "with space", "a/", "/",
           "tab\tname", "a\\b", "~tmp", "uni\xc3\xa9", "objects", "objects/ab/cd"}) {
    Status s = ValidateFileName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << "'" << bad << "': " << s.ToString();
    EXPECT_NE(s.message().find("invalid store file name"), std::string::npos) << s.message();
  }
  EXPECT_EQ(ValidateFileName(std::string(256, 'n')).code(), Code::kNameTooLong);
  EXPECT_EQ(ValidateFileName(std::string("a\0b", 3)).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace weightfs::storage
