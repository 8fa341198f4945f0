// FileContent's write pipeline: chunks in flight stay readable, and pipelined writes chunk like
// an import (file_content_fixture.h).
#include "vfs/file_content.h"

#include <gtest/gtest.h>

#include "vfs/file_content_fixture.h"

namespace weightfs::vfs {
namespace {

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
