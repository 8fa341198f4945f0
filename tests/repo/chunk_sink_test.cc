// ChunkSink: results come back in submission order with many chunks in flight, the bytes in
// flight never pass the bound (the submitter blocks instead), an error from the store is
// reported and sticky, and deduplicated chunks are counted apart from new ones. In-memory store
// (behind a gate or a fault plan), cheap KDF; the seed is printed and can be set with
// WEIGHTFS_TEST_SEED.
#include "weightfs/repo/chunk_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/storage/fault_store.h"

namespace weightfs::repo {
namespace {

using testing::FastInit;
using testing::GateStore;
using testing::Passphrase;
using testing::RandomBytes;
using testing::SharedStore;
using testing::TestSeed;

constexpr char kPass[] = "chunk sink test";

class ChunkSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    auto gate = std::make_unique<GateStore>(store_.get());
    gate_ = gate.get();
    auto repo = Repository::Open(std::move(gate), Passphrase(kPass));
    REPO_ASSERT_OK(repo.status());
    repo_ = std::move(repo).value();
  }

  SharedStore store_;
  GateStore* gate_ = nullptr;
  std::unique_ptr<Repository> repo_;
  ThreadPool pool_{4};
};

TEST_F(ChunkSinkTest, ResultsInOrderWithManyInFlight) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  constexpr int kChunks = 300;
  std::vector<std::shared_ptr<Bytes>> chunks;
  chunks.reserve(kChunks);
  for (int i = 0; i < kChunks; ++i) {
    chunks.push_back(std::make_shared<Bytes>(RandomBytes(rng, 1 + rng() % (64 * 1024))));
  }
  ChunkSink sink(repo_.get(), &pool_, 1 << 20, kLegacyKeyId);
  std::vector<StoredChunk> results;
  for (int i = 0; i < kChunks; ++i) {
    REPO_ASSERT_OK(sink.Add(*chunks[i], chunks[i], static_cast<uint64_t>(i)));
    if (i % 50 == 0) REPO_ASSERT_OK(sink.TakeFinished(&results));
  }
  REPO_ASSERT_OK(sink.Drain(&results));
  ASSERT_EQ(results.size(), static_cast<size_t>(kChunks));
  for (int i = 0; i < kChunks; ++i) {
    ASSERT_EQ(results[i].tag, static_cast<uint64_t>(i));
    EXPECT_EQ(results[i].ref.size, chunks[i]->size());
    EXPECT_EQ(results[i].ref.id,
              repo_->objects().ComputeId(ObjectType::kChunk, *chunks[i], kLegacyKeyId));
    REPO_ASSERT_OK_AND_ASSIGN(Bytes back,
                              repo_->objects().GetObject(ObjectType::kChunk, results[i].ref.id));
    EXPECT_TRUE(back == *chunks[i]) << "chunk " << i;
  }
  EXPECT_EQ(sink.bytes_in_flight(), 0u);
}

TEST_F(ChunkSinkTest, BackPressureBoundsBytesInFlight) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  constexpr uint64_t kBound = 100 * 1024;
  constexpr size_t kChunk = 30 * 1024;
  constexpr int kChunks = 10;
  std::vector<std::shared_ptr<Bytes>> chunks;
  chunks.reserve(kChunks);
  for (int i = 0; i < kChunks; ++i)
    chunks.push_back(std::make_shared<Bytes>(RandomBytes(rng, kChunk)));
  ChunkSink sink(repo_.get(), &pool_, kBound, kLegacyKeyId);
  gate_->Close();
  std::atomic<int> added{0};
  std::thread adder([&] {
    for (int i = 0; i < kChunks; ++i) {
      EXPECT_TRUE(sink.Add(*chunks[i], chunks[i], i).ok());
      added++;
    }
  });
  // Three chunks fit under the bound; the fourth must wait for the gate.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(added.load(), 3);
  EXPECT_LE(sink.bytes_in_flight(), kBound);
  gate_->Open();
  adder.join();
  std::vector<StoredChunk> results;
  REPO_ASSERT_OK(sink.Drain(&results));
  ASSERT_EQ(results.size(), static_cast<size_t>(kChunks));

  // A chunk larger than the bound still goes through, alone.
  auto big = std::make_shared<Bytes>(RandomBytes(rng, 2 * kBound));
  REPO_ASSERT_OK(sink.Add(*big, big, 99));
  results.clear();
  REPO_ASSERT_OK(sink.Drain(&results));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].ref.size, big->size());
}

TEST_F(ChunkSinkTest, StoreErrorIsReportedAndSticky) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  storage::FaultPlan plan;
  plan.fail_writes_after = gate_->writes() + 3;  // the fourth Put fails
  plan.fail_code = Code::kNoSpace;
  gate_->SetPlan(plan);
  ChunkSink sink(repo_.get(), &pool_, 1 << 20, kLegacyKeyId);
  Status first_failure;
  for (int i = 0; i < 20 && first_failure.ok(); ++i) {
    auto chunk = std::make_shared<Bytes>(RandomBytes(rng, 4096));
    first_failure = sink.Add(*chunk, chunk, i);
  }
  std::vector<StoredChunk> results;
  Status drained = sink.Drain(&results);
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.code(), Code::kNoSpace) << drained.ToString();
  // Sticky: nothing more is accepted, and every call says why.
  gate_->SetPlan(storage::FaultPlan{});
  auto more = std::make_shared<Bytes>(RandomBytes(rng, 4096));
  Status again = sink.Add(*more, more, 100);
  EXPECT_EQ(again.code(), Code::kNoSpace) << again.ToString();
  EXPECT_EQ(sink.TakeFinished(&results).code(), Code::kNoSpace);
  EXPECT_EQ(sink.Drain(&results).code(), Code::kNoSpace);
}

TEST_F(ChunkSinkTest, DeduplicatedChunksAreCounted) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  auto a = std::make_shared<Bytes>(RandomBytes(rng, 5000));
  auto b = std::make_shared<Bytes>(RandomBytes(rng, 7000));
  auto c = std::make_shared<Bytes>(RandomBytes(rng, 11000));
  {
    ChunkSink first(repo_.get(), &pool_, 1 << 20, kLegacyKeyId);
    REPO_ASSERT_OK(first.Add(*a, a));
    REPO_ASSERT_OK(first.Add(*b, b));
    std::vector<StoredChunk> r;
    REPO_ASSERT_OK(first.Drain(&r));
    EXPECT_EQ(first.new_bytes(), a->size() + b->size());
    EXPECT_EQ(first.dedup_bytes(), 0u);
  }
  const int64_t writes_before = gate_->writes();
  ChunkSink second(repo_.get(), nullptr, 1 << 20, kLegacyKeyId);  // the inline mode counts the same
  REPO_ASSERT_OK(second.Add(*a, a, 1));
  REPO_ASSERT_OK(second.Add(*c, c, 2));
  REPO_ASSERT_OK(second.Add(*b, b, 3));
  std::vector<StoredChunk> r;
  REPO_ASSERT_OK(second.Drain(&r));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_FALSE(r[0].is_new);
  EXPECT_TRUE(r[1].is_new);
  EXPECT_FALSE(r[2].is_new);
  EXPECT_EQ(second.new_bytes(), c->size());
  EXPECT_EQ(second.dedup_bytes(), a->size() + b->size());
  EXPECT_EQ(gate_->writes() - writes_before, 1) << "only the new chunk is written";
}

}  // namespace
}  // namespace weightfs::repo
