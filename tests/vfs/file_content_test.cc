// FileContent: a randomized differential test against a plain byte-vector model (writes at any
// offset including far past the end, truncates, reads, seals and idle seals, reopening from the
// sealed file object), plus the edge cases that matter for a weights store: holes are never
// materialized, an overwrite only re-chunks near the write, and a safetensors file written
// through the mount chunks exactly like an imported one. In-memory store, cheap KDF, small
// chunks; the seed is printed and can be set with WEIGHTFS_TEST_SEED.
#include "vfs/file_content.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/repo_fixtures.h"
#include "support/safetensors_gen.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::vfs {
namespace {

using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::RandomBytes;
using repo::testing::SharedStore;
using repo::testing::StoredBytes;
using repo::testing::TestSeed;

constexpr char kPass[] = "file content test";
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
// The smallest chunks a repository accepts, so that a few MiB make many chunks.
constexpr repo::ChunkerParams kSmallChunks{64 * 1024, 128 * 1024, 512 * 1024};

class FileContentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::InitOptions opts = FastInit();
    opts.chunker = kSmallChunks;
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase(kPass), opts));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
    ASSERT_EQ(repo_->config().chunker.max_size, kSmallChunks.max_size);
  }

  // The whole content of c.
  static Bytes ReadAll(const FileContent& c) {
    Bytes out;
    Status s = c.Read(0, c.size(), &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Checks a sealed file object against the model and reopens it as a fresh FileContent whose
  // whole content must equal the model.
  void CheckSealed(const ObjectId& id, const repo::FileObject& file, const Bytes& model) {
    ASSERT_EQ(file.size, model.size());
    uint64_t sum = 0;
    for (size_t i = 0; i < file.chunks.size(); ++i) {
      const repo::ChunkRef& c = file.chunks[i];
      ASSERT_GT(c.size, 0u) << "empty chunk in a sealed file";
      if (c.hole) {
        ASSERT_FALSE(i > 0 && file.chunks[i - 1].hole) << "two holes in a row";
      } else {
        ASSERT_LE(c.size, kSmallChunks.max_size);
      }
      sum += c.size;
    }
    ASSERT_EQ(sum, file.size);
    REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject loaded, repo_->objects().LoadFile(id));
    ASSERT_EQ(loaded.size, file.size);
    ASSERT_TRUE(loaded.chunks == file.chunks);
    std::atomic<int64_t> counter{0};
    FileContent fresh(repo_.get(), file, &counter);
    ASSERT_EQ(fresh.size(), model.size());
    ASSERT_EQ(fresh.dirty_bytes(), 0);
    ASSERT_FALSE(fresh.dirty());
    Bytes all = ReadAll(fresh);
    ASSERT_EQ(all.size(), model.size());
    ASSERT_TRUE(all == model) << "reopened content differs at offset "
                              << (std::mismatch(all.begin(), all.end(), model.begin()).first -
                                  all.begin());
    ASSERT_EQ(counter.load(), 0);
  }

  static std::vector<ObjectId> Ids(const repo::FileObject& f) {
    std::vector<ObjectId> ids;
    for (const repo::ChunkRef& c : f.chunks) ids.push_back(c.id);
    return ids;
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
};

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

// Issue #10 item 4: `truncate -s 1T` chunked and hashed the whole hole (minutes of CPU under the
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

// --- safetensors: written through the mount vs imported ---

class SafetensorsContentTest : public FileContentTest {
 protected:
  void MakeModel(uint64_t seed) {
    std::mt19937_64 rng(seed);
    tensors_.clear();
    for (int i = 0; i < 12; ++i) {
      testgen::GenTensor t;
      t.name = "layer." + std::to_string(i) + ".weight";
      const uint64_t n = 20 * kKiB + rng() % (1536 * kKiB);
      t.shape = {n};
      t.data = RandomBytes(rng, n);
      tensors_.push_back(std::move(t));
    }
  }

  // Tensor byte ranges, from the repository's own header parser.
  static std::vector<repo::TensorInfo> Layout(const Bytes& file) {
    auto end = repo::SafetensorsHeaderEnd(file);
    EXPECT_TRUE(end.has_value());
    if (!end) return {};
    auto parsed = repo::ParseSafetensorsHeader(ByteView(file).first(*end));
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    return parsed.ok() ? parsed->tensors : std::vector<repo::TensorInfo>{};
  }

  // The chunks of f that lie in [begin, end); they must cover it exactly.
  static std::vector<repo::ChunkRef> ChunksIn(const repo::FileObject& f, uint64_t begin,
                                              uint64_t end) {
    std::vector<repo::ChunkRef> out;
    uint64_t pos = 0, covered = 0;
    bool aligned_start = false;
    for (const repo::ChunkRef& c : f.chunks) {
      if (pos == begin) aligned_start = true;
      if (pos >= begin && pos + c.size <= end) {
        out.push_back(c);
        covered += c.size;
      }
      pos += c.size;
    }
    EXPECT_TRUE(aligned_start && covered == end - begin)
        << "chunks do not start and end at the tensor's bytes [" << begin << ", " << end << ")";
    return out;
  }

  // Writes data into a new FileContent in 1 MiB pieces, with an idle seal after each piece if
  // idle, and seals it.
  void WriteThroughContent(const Bytes& data, bool idle, repo::FileObject* out) {
    std::atomic<int64_t> counter{0};
    FileContent fc(repo_.get(), repo::FileObject{}, &counter);
    for (uint64_t off = 0; off < data.size(); off += kMiB) {
      const uint64_t n = std::min<uint64_t>(kMiB, data.size() - off);
      REPO_ASSERT_OK(fc.Write(off, ByteView(data).subspan(off, n)));
      if (idle) {
        REPO_ASSERT_OK(fc.SealIdle());
        ASSERT_LT(fc.dirty_bytes(), static_cast<int64_t>(kSmallChunks.max_size));
      }
    }
    REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
    ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, data));
    *out = sealed.second;
  }

  std::vector<testgen::GenTensor> tensors_;
};

TEST_F(SafetensorsContentTest, WrittenInPiecesChunksLikeImport) {
  const uint64_t seed = TestSeed(0x5afe);
  REPO_TRACE_SEED(seed);
  MakeModel(seed);
  const Bytes file = testgen::MakeSafetensors(tensors_, {{"format", "pt"}});
  const std::vector<repo::TensorInfo> layout = Layout(file);
  ASSERT_EQ(layout.size(), tensors_.size());

  repo::FileObject imported;
  REPO_ASSERT_OK(repo::testing::WriteContent(repo_.get(), file, kMiB, &imported).status());
  // The import cuts at every tensor boundary (the premise of the comparisons below).
  for (const repo::TensorInfo& t : layout) ChunksIn(imported, t.begin, t.end);

  for (bool idle : {true, false}) {
    SCOPED_TRACE(idle ? "1 MiB writes with idle seals" : "1 MiB writes, one seal");
    repo::FileObject written;
    ASSERT_NO_FATAL_FAILURE(WriteThroughContent(file, idle, &written));
    EXPECT_TRUE(Ids(written) == Ids(imported))
        << "a safetensors file written through the mount does not chunk like "
        << "its import (" << written.chunks.size() << " vs " << imported.chunks.size()
        << " chunks)";
    for (const repo::TensorInfo& t : layout) {
      SCOPED_TRACE("tensor " + t.name);
      auto w = ChunksIn(written, t.begin, t.end);
      auto i = ChunksIn(imported, t.begin, t.end);
      EXPECT_TRUE(w == i) << "tensor chunks differ from the import";
    }
  }
}

TEST_F(SafetensorsContentTest, UnchangedTensorsKeepTheirChunks) {
  const uint64_t seed = TestSeed(0x5afe2);
  REPO_TRACE_SEED(seed);
  MakeModel(seed);
  const Bytes v1 = testgen::MakeSafetensors(tensors_);
  repo::FileObject imported;
  REPO_ASSERT_OK(repo::testing::WriteContent(repo_.get(), v1, kMiB, &imported).status());

  // v2: one tensor in the middle fine-tuned (same shape, new bytes).
  constexpr size_t kChanged = 5;
  std::mt19937_64 rng(seed ^ 0xabc);
  tensors_[kChanged].data = RandomBytes(rng, tensors_[kChanged].data.size());
  const Bytes v2 = testgen::MakeSafetensors(tensors_);
  ASSERT_EQ(v2.size(), v1.size());
  const std::vector<repo::TensorInfo> layout = Layout(v2);
  ASSERT_EQ(layout.size(), tensors_.size());

  // Written whole through the mount, in pieces with idle seals.
  repo::FileObject written;
  ASSERT_NO_FATAL_FAILURE(WriteThroughContent(v2, true, &written));
  // Patched in place: v1 reopened from its import, the tensor overwritten.
  std::atomic<int64_t> counter{0};
  FileContent patched(repo_.get(), imported, &counter);
  const repo::TensorInfo& ct = layout[kChanged];
  REPO_ASSERT_OK(patched.Write(ct.begin, ByteView(v2).subspan(ct.begin, ct.end - ct.begin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto patched_sealed, patched.Seal());
  ASSERT_NO_FATAL_FAILURE(CheckSealed(patched_sealed.first, patched_sealed.second, v2));

  for (size_t k = 0; k < layout.size(); ++k) {
    const repo::TensorInfo& t = layout[k];
    SCOPED_TRACE("tensor " + t.name);
    auto old_chunks = ChunksIn(imported, t.begin, t.end);
    auto w = ChunksIn(written, t.begin, t.end);
    auto p = ChunksIn(patched_sealed.second, t.begin, t.end);
    if (k == kChanged) {
      EXPECT_FALSE(w == old_chunks);
      EXPECT_TRUE(w == p) << "the changed tensor chunks differently written whole and patched";
    } else {
      EXPECT_TRUE(w == old_chunks)
          << "an unchanged tensor written through the mount got new chunks";
      EXPECT_TRUE(p == old_chunks) << "an unchanged tensor got new chunks from a patch elsewhere";
    }
  }
}

// Pieces arriving out of order (as from a parallel downloader) but sealed once at the close:
// the dirty data is chunked as one stream, so the result is the import's.
TEST_F(SafetensorsContentTest, OutOfOrderPiecesSealedAtCloseChunkLikeImport) {
  const uint64_t seed = TestSeed(0x5afe3);
  REPO_TRACE_SEED(seed);
  MakeModel(seed);
  const Bytes file = testgen::MakeSafetensors(tensors_);
  repo::FileObject imported;
  REPO_ASSERT_OK(repo::testing::WriteContent(repo_.get(), file, kMiB, &imported).status());
  std::vector<uint64_t> offsets;
  for (uint64_t off = 0; off < file.size(); off += kMiB) offsets.push_back(off);
  std::mt19937_64 rng(seed);
  std::shuffle(offsets.begin(), offsets.end(), rng);
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  for (uint64_t off : offsets) {
    REPO_ASSERT_OK(
        fc.Write(off, ByteView(file).subspan(off, std::min<uint64_t>(kMiB, file.size() - off))));
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, file));
  EXPECT_TRUE(Ids(sealed.second) == Ids(imported));
}

// KNOWN LIMITATION (disabled; run with --gtest_also_run_disabled_tests): the same out-of-order
// pieces with idle seals in between (what the dirty budget triggers for a large file) keep no
// tensor's chunks. SealIdle finishes every dirty run that is not the file's tail, so chunks end
// at the edges of holes (the pieces' edges), and forced cuts are decided once: if the first
// bytes are still a hole at the first idle seal, the file is taken as "not safetensors" for
// good (cut_state_ = kNone; a later write of the header does not reset it).
TEST_F(SafetensorsContentTest, DISABLED_OutOfOrderPiecesWithIdleSealsKeepTensorChunks) {
  const uint64_t seed = TestSeed(0x5afe3);
  REPO_TRACE_SEED(seed);
  MakeModel(seed);
  const Bytes file = testgen::MakeSafetensors(tensors_);
  const std::vector<repo::TensorInfo> layout = Layout(file);
  repo::FileObject imported;
  REPO_ASSERT_OK(repo::testing::WriteContent(repo_.get(), file, kMiB, &imported).status());
  std::vector<uint64_t> offsets;
  for (uint64_t off = 0; off < file.size(); off += kMiB) offsets.push_back(off);
  std::mt19937_64 rng(seed);
  std::shuffle(offsets.begin(), offsets.end(), rng);
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter);
  for (uint64_t off : offsets) {
    REPO_ASSERT_OK(
        fc.Write(off, ByteView(file).subspan(off, std::min<uint64_t>(kMiB, file.size() - off))));
    REPO_ASSERT_OK(fc.SealIdle());
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, file));
  for (const repo::TensorInfo& t : layout) {
    SCOPED_TRACE("tensor " + t.name);
    EXPECT_TRUE(ChunksIn(sealed.second, t.begin, t.end) == ChunksIn(imported, t.begin, t.end));
  }
}

// --- the write pipeline ---

// Chunks handed to the sink stay readable (and counted as dirty) until they are stored; an
// overwrite of a chunk in flight wins; Seal waits for every chunk and the file reopens intact.
TEST_F(FileContentTest, ReadsSeeChunksInFlight) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  auto gate_store = std::make_unique<repo::testing::GateStore>(store_.get());
  repo::testing::GateStore* gate = gate_store.get();
  REPO_ASSERT_OK_AND_ASSIGN(auto gated,
                            repo::Repository::Open(std::move(gate_store), Passphrase(kPass)));
  ThreadPool pool(2);
  std::atomic<int64_t> counter{0};
  auto fc = std::make_unique<FileContent>(gated.get(), repo::FileObject{}, &counter, &pool);

  Bytes model = RandomBytes(rng, 3 * kMiB + 12345);
  gate->Close();  // nothing gets stored until the gate opens
  for (uint64_t off = 0; off < model.size(); off += 128 * kKiB) {
    const uint64_t n = std::min<uint64_t>(128 * kKiB, model.size() - off);
    REPO_ASSERT_OK(fc->Write(off, ByteView(model).subspan(off, n)));
  }
  EXPECT_EQ(counter.load(), static_cast<int64_t>(model.size())) << "bytes in flight count as dirty";
  EXPECT_TRUE(fc->dirty());
  ASSERT_TRUE(ReadAll(*fc) == model);
  for (int i = 0; i < 200; ++i) {
    const uint64_t off = rng() % model.size();
    const uint64_t len = 1 + rng() % (700 * kKiB);
    Bytes part;
    REPO_ASSERT_OK(fc->Read(off, len, &part));
    const uint64_t n = std::min<uint64_t>(len, model.size() - off);
    ASSERT_EQ(part.size(), n);
    ASSERT_TRUE(std::equal(part.begin(), part.end(), model.begin() + off)) << "read at " << off;
  }
  // Overwrite bytes inside the first chunks (in flight): the new bytes win.
  Bytes patch = RandomBytes(rng, 3000);
  REPO_ASSERT_OK(fc->Write(100 * kKiB, patch));
  std::copy(patch.begin(), patch.end(), model.begin() + 100 * kKiB);
  ASSERT_TRUE(ReadAll(*fc) == model);

  gate->Open();
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc->Seal());
  EXPECT_EQ(counter.load(), 0);
  EXPECT_FALSE(fc->dirty());
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, model));
}

// Sequential writes through the pipeline chunk exactly like an import of the same bytes, while
// another thread keeps reading what has been written.
TEST_F(FileContentTest, PipelinedWritesChunkLikeImportUnderConcurrentReads) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes model = RandomBytes(rng, 9 * kMiB + 777);
  repo::FileObject imported;
  REPO_ASSERT_OK(repo::testing::WriteContent(repo_.get(), model, kMiB, &imported).status());

  ThreadPool pool(3);
  std::atomic<int64_t> counter{0};
  FileContent fc(repo_.get(), repo::FileObject{}, &counter, &pool);
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0}, reads{0};
  std::thread reader([&] {
    std::mt19937_64 r(seed + 1);
    while (!done.load()) {
      const uint64_t size = fc.size();
      if (size == 0) continue;
      const uint64_t off = r() % size;
      Bytes part;
      if (!fc.Read(off, 1 + r() % (256 * kKiB), &part).ok() ||
          !std::equal(part.begin(), part.end(), model.begin() + off)) {
        bad_reads++;
      }
      reads++;
    }
  });
  for (uint64_t off = 0; off < model.size();) {
    const uint64_t n = std::min<uint64_t>(1 + rng() % (300 * kKiB), model.size() - off);
    REPO_ASSERT_OK(fc.Write(off, ByteView(model).subspan(off, n)));
    off += n;
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed, fc.Seal());
  done = true;
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0) << "of " << reads.load() << " reads";
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed.first, sealed.second, model));
  EXPECT_TRUE(Ids(sealed.second) == Ids(imported)) << "the pipeline cut the file unlike an import";

  // Appending after a seal and sealing again: still readable and intact.
  Bytes more = RandomBytes(rng, 2 * kMiB);
  REPO_ASSERT_OK(fc.Write(model.size(), more));
  Bytes all = model;
  all.insert(all.end(), more.begin(), more.end());
  REPO_ASSERT_OK_AND_ASSIGN(auto sealed2, fc.Seal());
  ASSERT_NO_FATAL_FAILURE(CheckSealed(sealed2.first, sealed2.second, all));
}

}  // namespace
}  // namespace weightfs::vfs
