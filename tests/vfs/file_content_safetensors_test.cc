// FileContent: a safetensors file written through the mount chunks exactly like an imported
// one (file_content_fixture.h).
#include "vfs/file_content.h"

#include <gtest/gtest.h>

#include "vfs/file_content_fixture.h"

namespace weightfs::vfs {
namespace {

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

}  // namespace
}  // namespace weightfs::vfs
