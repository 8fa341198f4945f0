// FileContent: a randomized differential test against a plain byte-vector model (writes at any
// offset including far past the end, truncates, reads, seals and idle seals, reopening from the
// sealed file object), plus the edge cases that matter for a weights store: holes are never
// materialized and an overwrite only re-chunks near the write. In-memory store, cheap KDF, small
// chunks (file_content_fixture.h); the seed is printed and can be set with WEIGHTFS_TEST_SEED.
#include "vfs/file_content.h"

#include <gtest/gtest.h>

#include "vfs/file_content_fixture.h"

namespace weightfs::vfs {
namespace {

// --- the differential test ---

TEST_F(FileContentTest, RandomOpsMatchModel) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  auto uniform = [&](uint64_t lo, uint64_t hi) {  // [lo, hi]
    return lo + rng() % (hi - lo + 1);
  };

  constexpr int kOps = 3000;
  constexpr uint64_t kMaxFile = 8 * kMiB;  // keeps whole-file comparisons cheap
  std::atomic<int64_t> counter{0};
  auto fc = std::make_unique<FileContent>(repo_.get(), repo::FileObject{}, &counter);
  Bytes model;
  int writes = 0, reads = 0, truncates = 0, idle_seals = 0, seals = 0, reopens = 0, far_writes = 0;

  for (int op = 0; op < kOps; ++op) {
    const uint64_t size = model.size();
    const uint64_t version_before = fc->version();
    const int kind = static_cast<int>(rng() % 100);
    std::string what;
    if (kind < 50) {
      // Write: mostly small, some medium, a few up to 2 MiB; offsets inside, around the end,
      // or far past it.
      const int sk = static_cast<int>(rng() % 100);
      const uint64_t len = sk < 60   ? uniform(1, 4 * kKiB)
                           : sk < 90 ? uniform(1, 256 * kKiB)
                                     : uniform(1, 2 * kMiB);
      const int ok = static_cast<int>(rng() % 100);
      uint64_t off;
      if (ok < 65) {
        off = uniform(0, size);
      } else if (ok < 88) {
        off = uniform(size > 64 * kKiB ? size - 64 * kKiB : 0, size + 64 * kKiB);
      } else {
        off = size + uniform(1 * kMiB, 4 * kMiB);
      }
      if (off + len > kMaxFile) off = uniform(0, kMaxFile - len);
      if (off > size + 1 * kMiB) ++far_writes;
      what = "write off=" + std::to_string(off) + " len=" + std::to_string(len);
      SCOPED_TRACE("op " + std::to_string(op) + ": " + what);
      Bytes data = RandomBytes(rng, len);
      REPO_ASSERT_OK(fc->Write(off, data));
      if (model.size() < off + len) model.resize(off + len, 0);
      std::memcpy(model.data() + off, data.data(), len);
      ASSERT_GT(fc->version(), version_before);
      ++writes;
    } else if (kind < 75) {
      // Read a random range, sometimes past the end.
      const uint64_t off = uniform(0, size + 1 * kMiB);
      const uint64_t len = rng() % 4 == 0 ? uniform(0, 2 * kMiB) : uniform(0, 64 * kKiB);
      SCOPED_TRACE("op " + std::to_string(op) + ": read off=" + std::to_string(off) +
                   " len=" + std::to_string(len));
      Bytes got;
      REPO_ASSERT_OK(fc->Read(off, len, &got));
      const uint64_t want = off >= size ? 0 : std::min(len, size - off);
      ASSERT_EQ(got.size(), want);
      ASSERT_TRUE(std::equal(got.begin(), got.end(),
                             model.begin() + static_cast<ptrdiff_t>(std::min(off, size))));
      ASSERT_EQ(fc->version(), version_before) << "a read changed the version";
      ++reads;
    } else if (kind < 85) {
      // Truncate: shrink, grow (a hole) or keep.
      const int tk = static_cast<int>(rng() % 10);
      uint64_t to = tk < 5 ? uniform(0, size) : tk < 9 ? size + uniform(1, 2 * kMiB) : size;
      to = std::min(to, kMaxFile);
      SCOPED_TRACE("op " + std::to_string(op) + ": truncate to=" + std::to_string(to));
      REPO_ASSERT_OK(fc->Truncate(to));
      model.resize(to, 0);
      if (to != size) {
        ASSERT_GT(fc->version(), version_before);
      }
      ++truncates;
    } else if (kind < 97) {
      SCOPED_TRACE("op " + std::to_string(op) + ": seal idle");
      REPO_ASSERT_OK(fc->SealIdle());
      // Only an undecided tail shorter than a chunk stays in memory.
      ASSERT_LT(fc->dirty_bytes(), static_cast<int64_t>(kSmallChunks.max_size));
      ASSERT_EQ(fc->version(), version_before) << "sealing is not a change";
      ++idle_seals;
    } else {
      SCOPED_TRACE("op " + std::to_string(op) + ": seal (size " + std::to_string(size) + ")");
      REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc->Seal());
      ASSERT_EQ(fc->dirty_bytes(), 0);
      ASSERT_FALSE(fc->dirty());
      ASSERT_EQ(counter.load(), 0);
      ASSERT_EQ(fc->version(), version_before) << "sealing is not a change";
      ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, model));
      Bytes all = ReadAll(*fc);
      ASSERT_TRUE(all == model) << "content after seal differs from the model";
      // Sealing again without a change stores the same file object.
      REPO_ASSERT_OK_AND_ASSIGN(auto again, fc->Seal());
      ASSERT_EQ(again.first, sealed.first);
      ++seals;
      if (rng() % 2 == 0) {
        // Carry on from the stored file object, as a file reopened after a close does.
        fc.reset();
        ASSERT_EQ(counter.load(), 0);
        fc = std::make_unique<FileContent>(repo_.get(), sealed.second, &counter);
        ++reopens;
      }
    }
    // Invariants after every operation.
    ASSERT_EQ(fc->size(), model.size()) << "after op " << op << " " << what;
    ASSERT_GE(fc->dirty_bytes(), 0);
    ASSERT_LE(static_cast<uint64_t>(fc->dirty_bytes()), model.size())
        << "dirty bytes count more than the file";
    ASSERT_EQ(counter.load(), fc->dirty_bytes()) << "the shared dirty counter drifted";
  }
  // Final seal and full comparison.
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc->Seal());
  ASSERT_EQ(fc->dirty_bytes(), 0);
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, model));
  fc.reset();
  EXPECT_EQ(counter.load(), 0);
  std::printf(
      "[   INFO   ] writes=%d (far past EOF %d) reads=%d truncates=%d idle seals=%d seals=%d "
      "reopens=%d\n",
      writes, far_writes, reads, truncates, idle_seals, seals, reopens);
  EXPECT_GT(seals, 10);
  EXPECT_GT(far_writes, 10);
}

// --- edge cases ---

TEST_F(FileContentTest, EmptyFileSealsToNoChunks) {
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  EXPECT_EQ(fc.size(), 0u);
  EXPECT_FALSE(fc.dirty());
  const uint64_t v = fc.version();
  REPO_ASSERT_OK(fc.Write(0, ByteView()));  // an empty write is no change
  EXPECT_EQ(fc.version(), v);
  EXPECT_EQ(fc.size(), 0u);
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  EXPECT_EQ(sealed.second.size, 0u);
  EXPECT_TRUE(sealed.second.chunks.empty());
  REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject loaded, repo_->objects().LoadFile(sealed.first));
  EXPECT_EQ(loaded.size, 0u);
  EXPECT_TRUE(loaded.chunks.empty());
  Bytes out{1, 2, 3};
  REPO_ASSERT_OK(fc.Read(0, 100, &out));
  EXPECT_TRUE(out.empty());

  // Written and then truncated back to nothing: empty again.
  REPO_ASSERT_OK(fc.Write(0, AsBytes("hello")));
  EXPECT_GT(fc.version(), v);
  REPO_ASSERT_OK(fc.Truncate(0));
  EXPECT_EQ(fc.dirty_bytes(), 0);
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed2, fc.Seal());
  EXPECT_TRUE(sealed2.second.chunks.empty());
  EXPECT_EQ(sealed2.first, sealed.first);
}

TEST_F(FileContentTest, HugeHoleIsNeverMaterialized) {
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  constexpr uint64_t kHole = 100 * kMiB;
  REPO_ASSERT_OK(fc.Write(kHole, AsBytes("x")));
  EXPECT_EQ(fc.size(), kHole + 1);
  EXPECT_LE(fc.dirty_bytes(), 64);
  EXPECT_EQ(counter.load(), fc.dirty_bytes());
  Bytes out;
  REPO_ASSERT_OK(fc.Read(kHole - 10, 100, &out));
  ASSERT_EQ(out.size(), 11u);
  EXPECT_EQ(out[10], 'x');
  EXPECT_TRUE(std::all_of(out.begin(), out.begin() + 10, [](uint8_t b) { return b == 0; }));

  const uint64_t stored_before = StoredBytes(store_.get());
  REPO_ASSERT_OK(fc.SealIdle());
  EXPECT_LT(fc.dirty_bytes(), static_cast<int64_t>(kSmallChunks.max_size));
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  EXPECT_EQ(fc.dirty_bytes(), 0);
  EXPECT_EQ(sealed.second.size, kHole + 1);
  // The hole is stored as a hole (never chunked): one hole entry, one chunk of one byte.
  ASSERT_EQ(sealed.second.chunks.size(), 2u);
  EXPECT_TRUE(sealed.second.chunks[0].hole);
  EXPECT_EQ(sealed.second.chunks[0].size, kHole);
  EXPECT_FALSE(sealed.second.chunks[1].hole);
  EXPECT_EQ(sealed.second.chunks[1].size, 1u);
  EXPECT_EQ(sealed.second.HoleBytes(), kHole);
  EXPECT_EQ(fc.hole_bytes(), kHole);
  EXPECT_LT(StoredBytes(store_.get()) - stored_before, 64 * kKiB);

  // Reopened, the hole reads as zeros and the byte is there.
  std::atomic<int64_t> counter2{0};
  FileContent fresh(repo_.get(), sealed.second, &counter2);
  REPO_ASSERT_OK(fresh.Read(kHole - 3 * kMiB, 4 * kMiB, &out));
  ASSERT_EQ(out.size(), 3 * kMiB + 1);
  EXPECT_EQ(out.back(), 'x');
  EXPECT_TRUE(std::all_of(out.begin(), out.end() - 1, [](uint8_t b) { return b == 0; }));

  // Growing by truncate is a hole too.
  FileContent grown(repo_.get(), repo::FileObject{}, &counter2);
  REPO_ASSERT_OK(grown.Truncate(kHole));
  EXPECT_EQ(grown.size(), kHole);
  EXPECT_EQ(grown.dirty_bytes(), 0);
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed_grown, grown.Seal());
  ASSERT_EQ(sealed_grown.second.chunks.size(), 1u);
  EXPECT_TRUE(sealed_grown.second.chunks[0] == repo::ChunkRef::Hole(kHole));
}

// `truncate -s 1T` chunked and hashed the whole hole (minutes of CPU under the
// file's locks). A hole costs O(1) now, whatever its size: growing, sealing, reading, seeking.
TEST_F(FileContentTest, TerabyteHoleCostsNothing) {
  constexpr uint64_t kTiB = uint64_t{1} << 40;
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  REPO_ASSERT_OK(fc.Write(0, AsBytes("head")));
  const auto start = std::chrono::steady_clock::now();
  REPO_ASSERT_OK(fc.Truncate(kTiB));
  REPO_ASSERT_OK(fc.Write(kTiB, AsBytes("tail")));
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  // Chunking 1 TiB of zeros takes hours; the hole takes microseconds. (Loose bound: a loaded CI.)
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(sealed.second.size, kTiB + 4);
  ASSERT_EQ(sealed.second.chunks.size(), 3u);
  EXPECT_FALSE(sealed.second.chunks[0].hole);
  EXPECT_TRUE(sealed.second.chunks[1] == repo::ChunkRef::Hole(kTiB - 4));
  EXPECT_FALSE(sealed.second.chunks[2].hole);
  EXPECT_EQ(fc.hole_bytes(), kTiB - 4);
  // The file object round-trips through the repository (file encoding v2).
  REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject loaded, repo_->objects().LoadFile(sealed.first));
  EXPECT_TRUE(loaded.chunks == sealed.second.chunks);

  std::atomic<int64_t> counter2{0};
  FileContent fresh(repo_.get(), loaded, &counter2);
  Bytes out;
  REPO_ASSERT_OK(fresh.Read(0, 8, &out));
  EXPECT_EQ(out, (Bytes{'h', 'e', 'a', 'd', 0, 0, 0, 0}));
  REPO_ASSERT_OK(fresh.Read(kTiB / 2, 1 << 20, &out));
  EXPECT_EQ(out.size(), 1u << 20);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0; }));
  REPO_ASSERT_OK(fresh.Read(kTiB - 2, 100, &out));
  EXPECT_EQ(out, (Bytes{0, 0, 't', 'a', 'i', 'l'}));

  // SEEK_DATA / SEEK_HOLE.
  EXPECT_EQ(fresh.Seek(0, false), std::optional<uint64_t>(0));
  EXPECT_EQ(fresh.Seek(0, true), std::optional<uint64_t>(4));
  EXPECT_EQ(fresh.Seek(4, false), std::optional<uint64_t>(kTiB));
  EXPECT_EQ(fresh.Seek(12345, true), std::optional<uint64_t>(12345));
  EXPECT_EQ(fresh.Seek(kTiB + 1, false), std::optional<uint64_t>(kTiB + 1));
  EXPECT_EQ(fresh.Seek(kTiB + 1, true),
            std::optional<uint64_t>(kTiB + 4));          // the end counts as a hole
  EXPECT_EQ(fresh.Seek(kTiB + 4, false), std::nullopt);  // at the end: ENXIO
  EXPECT_EQ(fresh.Seek(kTiB + 4, true), std::nullopt);

  // Filling part of the hole splits it; the rest stays a hole.
  REPO_ASSERT_OK(fresh.Write(kTiB / 2, AsBytes("middle")));
  EXPECT_EQ(fresh.hole_bytes(), kTiB - 4 - 6);
  REPO_ASSERT_OK_AND_ASSIGN(auto resealed, fresh.Seal());
  ASSERT_EQ(resealed.second.chunks.size(), 5u);
  EXPECT_TRUE(resealed.second.chunks[1].hole);
  EXPECT_FALSE(resealed.second.chunks[2].hole);
  EXPECT_TRUE(resealed.second.chunks[3].hole);
  REPO_ASSERT_OK(fresh.Read(kTiB / 2 - 1, 8, &out));
  EXPECT_EQ(out, (Bytes{0, 'm', 'i', 'd', 'd', 'l', 'e', 0}));
}

TEST_F(FileContentTest, OverwriteInSealedFileOnlyChangesNearbyChunks) {
  const uint64_t seed = TestSeed(0x0e11);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  Bytes model = RandomBytes(rng, 16 * kMiB);
  for (uint64_t off = 0; off < model.size(); off += kMiB) {
    REPO_ASSERT_OK(fc.Write(off, ByteView(model).subspan(off, kMiB)));
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto before, fc.Seal());
  const std::vector<ObjectId> a = Ids(before.second);
  ASSERT_GT(a.size(), 32u) << "expected many small chunks";

  struct Case {
    uint64_t offset;
    uint64_t len;
  };
  const Case cases[] = {
      {8 * kMiB + 12345, 100}, {0, 1}, {model.size() - 1, 1}, {5 * kMiB - 1000, 3000}};
  std::vector<ObjectId> prev = a;
  for (const Case& k : cases) {
    SCOPED_TRACE("overwrite at " + std::to_string(k.offset) + " len " + std::to_string(k.len));
    Bytes patch = RandomBytes(rng, k.len);
    REPO_ASSERT_OK(fc.Write(k.offset, patch));
    std::memcpy(model.data() + k.offset, patch.data(), k.len);
    // Only the chunks cut by the write's edges were opened and held in memory.
    EXPECT_LE(fc.dirty_bytes(), static_cast<int64_t>(2 * kSmallChunks.max_size));
    REPO_ASSERT_OK_AND_ASSIGN(auto after, fc.Seal());
    const std::vector<ObjectId> b = Ids(after.second);
    const std::set<ObjectId> old(prev.begin(), prev.end());
    size_t kept = 0;
    for (const ObjectId& id : b) kept += old.count(id);
    EXPECT_GE(kept + 4, prev.size()) << "kept " << kept << " of " << prev.size() << " chunks";
    EXPECT_LE(b.size(), prev.size() + 4);
    ASSERT_NO_FATAL_FAILURE(CheckSealed(after.first, after.second, model));
    prev = b;
  }
}

}  // namespace
}  // namespace weightfs::vfs
