// FaultStore injects the failures other layers' tests need; these tests pin down each one.
#include "weightfs/storage/fault_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "storage/storage_test_util.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::storage {
namespace {

using testing::TestData;
using testing::TestId;

class FaultStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ObjectStore> inner_ = NewMemoryStore();
};

TEST_F(FaultStoreTest, FailWritesAfterTwo) {
  FaultStore store(inner_.get(), FaultPlan{.fail_writes_after = 2});
  WFS_ASSERT_OK(store.Put(TestId(1, 1), TestData(10, 1)));
  WFS_ASSERT_OK(store.WriteFile("config", AsBytes("c")));
  EXPECT_EQ(store.writes(), 2);

  Status put = store.Put(TestId(1, 2), TestData(10, 2));
  EXPECT_EQ(put.code(), Code::kNoSpace) << put.ToString();
  EXPECT_NE(put.message().find(TestId(1, 2).Hex()), std::string::npos) << put.message();
  EXPECT_FALSE(*inner_->Contains(TestId(1, 2)));
  EXPECT_EQ(store.WriteFile("x", AsBytes("x")).code(), Code::kNoSpace);
  EXPECT_EQ(store.CompareAndSwapFile("config", ToBytes("c"), AsBytes("d")).code(), Code::kNoSpace);
  EXPECT_EQ(store.CreateFileExclusive("y", AsBytes("y")).code(), Code::kNoSpace);
  EXPECT_EQ(*inner_->ReadFile("config"), ToBytes("c"));
  EXPECT_EQ(*inner_->ReadFile("x"), std::nullopt);
  EXPECT_EQ(store.writes(), 2);

  // Reads, deletes and Sync are not writes.
  EXPECT_EQ(*store.Get(TestId(1, 1)), TestData(10, 1));
  WFS_EXPECT_OK(store.Sync());
  WFS_EXPECT_OK(store.Delete(TestId(1, 1)));
  WFS_EXPECT_OK(store.DeleteFile("config"));
}

TEST_F(FaultStoreTest, FailCodeIsConfigurable) {
  FaultStore store(inner_.get(), FaultPlan{.fail_writes_after = 0, .fail_code = Code::kIoError});
  EXPECT_EQ(store.Put(TestId(1, 1), TestData(1, 1)).code(), Code::kIoError);
}

TEST_F(FaultStoreTest, SetPlanCountsFromNow) {
  FaultStore store(inner_.get(), FaultPlan{});
  for (uint32_t i = 0; i < 5; ++i) WFS_ASSERT_OK(store.Put(TestId(2, i), TestData(1, i)));
  EXPECT_EQ(store.writes(), 5);
  store.SetPlan(FaultPlan{.fail_writes_after = 1});
  WFS_EXPECT_OK(store.Put(TestId(2, 10), TestData(1, 10)));
  EXPECT_EQ(store.Put(TestId(2, 11), TestData(1, 11)).code(), Code::kNoSpace);
  store.SetPlan(FaultPlan{});
  WFS_EXPECT_OK(store.Put(TestId(2, 11), TestData(1, 11)));
}

TEST_F(FaultStoreTest, CorruptReadsFlipsTheFirstBit) {
  const Bytes data = TestData(100, 3);
  WFS_ASSERT_OK(inner_->Put(TestId(3, 1), data));
  WFS_ASSERT_OK(inner_->WriteFile("config", AsBytes("c")));
  FaultStore store(inner_.get(), FaultPlan{.corrupt_reads = true});

  Bytes want = data;
  want[0] ^= 1;
  EXPECT_EQ(*store.Get(TestId(3, 1)), want);
  Bytes range_want(data.begin() + 10, data.begin() + 20);
  range_want[0] ^= 1;
  EXPECT_EQ(*store.GetRange(TestId(3, 1), 10, 10), range_want);
  EXPECT_TRUE(store.GetRange(TestId(3, 1), 100, 10)->empty());  // nothing to corrupt
  // The stored bytes and the named files are untouched.
  EXPECT_EQ(*inner_->Get(TestId(3, 1)), data);
  EXPECT_EQ(*store.ReadFile("config"), ToBytes("c"));
  // Missing stays missing.
  EXPECT_EQ(store.Get(TestId(3, 2)).status().code(), Code::kNotFound);
}

TEST_F(FaultStoreTest, FailReadsGivesIoError) {
  WFS_ASSERT_OK(inner_->Put(TestId(4, 1), TestData(10, 4)));
  WFS_ASSERT_OK(inner_->WriteFile("config", AsBytes("c")));
  FaultStore store(inner_.get(), FaultPlan{.fail_reads = true});
  EXPECT_EQ(store.Get(TestId(4, 1)).status().code(), Code::kIoError);
  EXPECT_EQ(store.GetRange(TestId(4, 1), 0, 5).status().code(), Code::kIoError);
  EXPECT_EQ(store.ReadFile("config").status().code(), Code::kIoError);
  EXPECT_TRUE(*store.Contains(TestId(4, 1)));
  WFS_EXPECT_OK(store.Put(TestId(4, 2), TestData(10, 5)));
}

TEST_F(FaultStoreTest, FailSync) {
  FaultStore store(inner_.get(), FaultPlan{.fail_sync = true});
  EXPECT_EQ(store.Sync().code(), Code::kIoError);
}

TEST_F(FaultStoreTest, ExactlyTheAllowedWritesPassUnderConcurrency) {
  FaultStore store(inner_.get(), FaultPlan{.fail_writes_after = 100});
  std::atomic<int> ok{0};
  std::atomic<int> no_space{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = 0; i < 50; ++i) {
        Status s = store.Put(TestId(static_cast<uint8_t>(t), i), TestData(4, i));
        if (s.ok()) ++ok;
        if (s.code() == Code::kNoSpace) ++no_space;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(no_space.load(), 300);
  int stored = 0;
  WFS_ASSERT_OK(inner_->ForEach([&](const ObjectId&, uint64_t) {
    ++stored;
    return Status::Ok();
  }));
  EXPECT_EQ(stored, 100);
}

}  // namespace
}  // namespace weightfs::storage
