// Reads through the mount's read path (FileContent over a shared ChunkReader with read-ahead
// workers): random seeks among sequential runs, short reads at the end, a damaged frame inside
// the read-ahead window, and the cache's memory bound while a reader stalls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>

#include "support/repo_fixtures.h"
#include "vfs/file_content.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/chunk_reader.h"
#include "weightfs/repo/file_io.h"

namespace weightfs::vfs {
namespace {

using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::RandomBytes;
using repo::testing::SharedStore;
using repo::testing::TestSeed;

constexpr char kPass[] = "read ahead test";
constexpr uint64_t kMiB = 1024 * 1024;
constexpr repo::ChunkerParams kSmallChunks{64 * 1024, 128 * 1024, 512 * 1024};

class ReadAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::InitOptions opts = FastInit();
    opts.chunker = kSmallChunks;
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase(kPass), opts));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
  }

  // Stores data as a file and returns its file object.
  repo::FileObject Store(const Bytes& data) {
    repo::FileWriter w(repo_.get(), repo::kLegacyKeyId, false);
    EXPECT_TRUE(w.Write(data).ok());
    auto id = w.Finish();
    EXPECT_TRUE(id.ok());
    return w.file();
  }

  // Replaces the stored object id with data (the memory store never overwrites on Put).
  void Replace(const ObjectId& id, const Bytes& data) {
    REPO_ASSERT_OK(store_.get()->Delete(id));
    REPO_ASSERT_OK(store_.get()->Put(id, data));
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(ReadAheadTest, RandomSeeksAndShortReadsReturnTheRightBytes) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 12 * kMiB + 12345);
  const repo::FileObject file = Store(data);
  ASSERT_GT(file.chunks.size(), 20u);

  repo::ChunkReader reader(repo_.get(), repo::ChunkReader::Options{4 * kMiB, 3, nullptr});
  std::atomic<int64_t> counter{0};
  FileContent content(repo_.get(), file, &counter, nullptr);
  content.SetReader(&reader, true);

  uint64_t pos = 0;
  int seeks = 0, short_reads = 0;
  for (int i = 0; i < 600; ++i) {
    if (rng() % 8 == 0) {  // a random seek, sometimes past the end
      pos = rng() % (data.size() + 4096);
      ++seeks;
    }
    const uint64_t len = 1 + rng() % (rng() % 4 == 0 ? 2 * kMiB : 128 * 1024);
    Bytes out;
    Status s = content.Read(pos, len, &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    const uint64_t want = pos >= data.size() ? 0 : std::min<uint64_t>(len, data.size() - pos);
    if (want < len) ++short_reads;
    ASSERT_EQ(out.size(), want) << "read " << len << " at " << pos;
    ASSERT_TRUE(
        std::equal(out.begin(), out.end(), data.begin() + std::min<uint64_t>(pos, data.size())))
        << "read " << len << " at " << pos;
    ASSERT_LE(reader.cached_bytes(), reader.capacity());
    pos += out.size();
    if (pos >= data.size()) pos = rng() % data.size();
  }
  EXPECT_GT(seeks, 20);
  EXPECT_GT(short_reads, 0);
}

TEST_F(ReadAheadTest, DamagedFrameInTheWindowFailsOnlyItsRange) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 6 * kMiB);
  const repo::FileObject file = Store(data);
  // A chunk with at least two frames, a few chunks in: the read-ahead loads it before any read
  // asks for it.
  size_t victim = 3;
  while (file.chunks[victim].size <= crypto::kFrameSize) ++victim;
  uint64_t victim_start = 0;
  for (size_t i = 0; i < victim; ++i) victim_start += file.chunks[i].size;
  const ObjectId& id = file.chunks[victim].id;
  REPO_ASSERT_OK_AND_ASSIGN(Bytes sealed, store_.get()->Get(id));
  sealed[crypto::ObjectCipher::FrameOffset(1) + 100] ^= 0x40;  // frame 1 of the chunk
  Replace(id, sealed);

  repo::ChunkReader reader(repo_.get(), repo::ChunkReader::Options{8 * kMiB, 2, nullptr});
  std::atomic<int64_t> counter{0};
  FileContent content(repo_.get(), file, &counter, nullptr);
  content.SetReader(&reader, true);

  const uint64_t bad_begin = victim_start + crypto::kFrameSize;
  const uint64_t bad_end =
      std::min<uint64_t>(bad_begin + crypto::kFrameSize, victim_start + file.chunks[victim].size);
  // Sequential 64 KiB reads over the whole file: the damaged frame's range fails with
  // kCorruption, every other range (the same chunk's other frames too) reads right.
  int failed = 0;
  for (uint64_t pos = 0; pos < data.size(); pos += 16 * 1024) {
    Bytes out;
    Status s = content.Read(pos, 16 * 1024, &out);
    const bool touches = pos < bad_end && pos + 16 * 1024 > bad_begin;
    if (touches) {
      EXPECT_EQ(s.code(), Code::kCorruption) << "at " << pos;
      EXPECT_NE(s.message().find(id.Hex()), std::string::npos) << s.message();
      ++failed;
    } else {
      ASSERT_TRUE(s.ok()) << "at " << pos << ": " << s.ToString();
      ASSERT_TRUE(std::equal(out.begin(), out.end(), data.begin() + pos)) << "at " << pos;
    }
  }
  EXPECT_GE(failed, static_cast<int>((bad_end - bad_begin) / (16 * 1024)));
}

TEST_F(ReadAheadTest, MissingChunkFailsItsReadsOnly) {
  std::mt19937_64 rng(TestSeed());
  const Bytes data = RandomBytes(rng, 4 * kMiB);
  const repo::FileObject file = Store(data);
  REPO_ASSERT_OK(store_.get()->Delete(file.chunks[2].id));
  repo::ChunkReader reader(repo_.get(), repo::ChunkReader::Options{8 * kMiB, 2, nullptr});
  std::atomic<int64_t> counter{0};
  FileContent content(repo_.get(), file, &counter, nullptr);
  content.SetReader(&reader, true);
  const uint64_t start2 = file.chunks[0].size + file.chunks[1].size;
  Bytes out;
  ASSERT_TRUE(content.Read(0, start2, &out).ok());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin()));
  EXPECT_EQ(content.Read(start2, 10, &out).code(), Code::kCorruption);
  const uint64_t start3 = start2 + file.chunks[2].size;
  ASSERT_TRUE(content.Read(start3, 1000, &out).ok());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + start3));
}

TEST_F(ReadAheadTest, CacheStaysWithinItsBoundWhileAReaderStalls) {
  std::mt19937_64 rng(TestSeed());
  const Bytes data = RandomBytes(rng, 24 * kMiB);
  const repo::FileObject file = Store(data);
  constexpr int64_t kCache = 4 * kMiB;
  repo::ChunkReader reader(repo_.get(), repo::ChunkReader::Options{kCache, 4, nullptr});
  // Several files' streams at once, each reading a little and then stalling while the workers
  // load ahead of it.
  // The counter outlives the readers, whose destructors update it.
  std::atomic<int64_t> counter{0};
  std::vector<std::unique_ptr<FileContent>> readers;
  for (int i = 0; i < 4; ++i) {
    readers.push_back(std::make_unique<FileContent>(repo_.get(), file, &counter, nullptr));
    readers.back()->SetReader(&reader, true);
    Bytes out;
    for (uint64_t pos = i * 5 * kMiB; pos < i * 5 * kMiB + 2 * kMiB; pos += 256 * 1024) {
      ASSERT_TRUE(readers.back()->Read(pos, 256 * 1024, &out).ok());
      ASSERT_TRUE(std::equal(out.begin(), out.end(), data.begin() + pos));
      ASSERT_LE(reader.cached_bytes(), kCache);
    }
  }
  for (int i = 0; i < 50; ++i) {  // the stall: loads in flight finish meanwhile
    ASSERT_LE(reader.cached_bytes(), kCache);
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
  }
  EXPECT_GT(reader.cached_bytes(), 0);
}

TEST(ReadAheadPolicyTest, WindowGrowsOnSequentialReadsAndResetsOnSeeks) {
  repo::ReadAhead ra(64 * kMiB);
  // A small first read in the middle of a file is not (yet) sequential.
  auto d = ra.OnRead(100 * kMiB, 4096);
  EXPECT_FALSE(d.sequential);
  uint64_t pos = 100 * kMiB + 4096;
  uint64_t last_window = 0;
  for (int i = 0; i < 10; ++i) {
    d = ra.OnRead(pos, kMiB);
    ASSERT_TRUE(d.sequential);
    const uint64_t window = d.ahead_to - (pos + kMiB);
    EXPECT_GE(window, last_window);
    // Only what no earlier read asked for is asked for again.
    EXPECT_EQ(d.ahead_from, i == 0 ? pos + kMiB : pos + kMiB - kMiB + last_window);
    EXPECT_LE(window, 64 * kMiB);
    last_window = window;
    pos += kMiB;
  }
  EXPECT_EQ(last_window, 64 * kMiB);
  // A far seek starts a new stream with no window.
  d = ra.OnRead(5 * kMiB, 4096);
  EXPECT_FALSE(d.sequential);
  // Reading from the start with large requests is sequential at once.
  d = ra.OnRead(0, kMiB);
  EXPECT_TRUE(d.sequential);
  // A weight file is sequential from its start whatever the request size.
  repo::ReadAhead weights(64 * kMiB, true);
  EXPECT_TRUE(weights.OnRead(0, 4096).sequential);
}

TEST(ReadAheadPolicyTest, LoadsThatFoundNoRoomAreAskedForAgain) {
  repo::ReadAhead ra(64 * kMiB, true);
  auto d = ra.OnRead(0, kMiB);
  ASSERT_TRUE(d.sequential);
  EXPECT_EQ(d.ahead_from, kMiB);
  const uint64_t asked = d.ahead_to;
  // Everything asked for: the next read asks only for what its larger window adds.
  d = ra.OnRead(kMiB, kMiB);
  EXPECT_EQ(d.ahead_from, asked);
  // The cache took the loads only up to 5 MiB: the next read asks again from there.
  ra.Reached(d.stream, 5 * kMiB);
  d = ra.OnRead(2 * kMiB, kMiB);
  EXPECT_EQ(d.ahead_from, 5 * kMiB);
  EXPECT_GT(d.ahead_to, d.ahead_from);
}

}  // namespace
}  // namespace weightfs::vfs
