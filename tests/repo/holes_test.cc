// Holes in file objects: a file object lists holes beside its chunks (file
// encoding v2, only when it has one), trees carry each file's hole bytes (tree encoding v2, only
// when one is not 0), and everything that reads file objects treats a hole as zeros that are no
// object: readers, check, stats. Objects without holes keep the v1 bytes, so their ids (and dedup
// against old repositories) do not change; tests/golden keeps the old format opening.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "support/repo_fixtures.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using testing::FastInit;
using testing::FileEntry;
using testing::Passphrase;
using testing::SharedStore;

constexpr char kPass[] = "holes test";

ObjectId SomeId(uint8_t b) {
  Bytes raw(ObjectId::kSize, b);
  auto id = ObjectId::FromBytes(raw);
  EXPECT_TRUE(id.ok());
  return *id;
}

TEST(HoleEncodingTest, FileWithoutHolesKeepsTheV1Bytes) {
  FileObject f;
  f.size = 10;
  f.chunks = {ChunkRef{SomeId(1), 4}, ChunkRef{SomeId(2), 6}};
  const Bytes enc = EncodeFile(f);
  // v1: version, size, count, then (id, u32 size) per chunk: no tags.
  ASSERT_EQ(enc.size(), 1u + 8 + 8 + 2 * (ObjectId::kSize + 4));
  EXPECT_EQ(enc[0], 1);
  REPO_ASSERT_OK_AND_ASSIGN(FileObject back, DecodeFile(enc));
  EXPECT_EQ(back.chunks, f.chunks);
  EXPECT_EQ(back.HoleBytes(), 0u);
}

TEST(HoleEncodingTest, FileWithHolesRoundTrips) {
  constexpr uint64_t kHuge = uint64_t{1} << 50;  // far beyond any chunk size (32 bits)
  FileObject f;
  f.size = 4 + kHuge + 6 + 100;
  f.chunks = {ChunkRef{SomeId(1), 4}, ChunkRef::Hole(kHuge), ChunkRef{SomeId(2), 6},
              ChunkRef::Hole(100)};
  const Bytes enc = EncodeFile(f);
  EXPECT_EQ(enc[0], 2);
  EXPECT_LT(enc.size(), 200u);  // O(1) per hole, whatever its size
  REPO_ASSERT_OK_AND_ASSIGN(FileObject back, DecodeFile(enc));
  EXPECT_EQ(back.size, f.size);
  EXPECT_EQ(back.chunks, f.chunks);
  EXPECT_EQ(back.HoleBytes(), kHuge + 100);
}

TEST(HoleEncodingTest, MalformedHolesAreCorruption) {
  FileObject f;
  f.size = 8;
  f.chunks = {ChunkRef{SomeId(1), 4}, ChunkRef::Hole(4)};
  const Bytes good = EncodeFile(f);
  REPO_ASSERT_OK(DecodeFile(good).status());
  // Layout: version(1) size(8) count(8) | tag(1) id(32) u32 | tag(1) u64.
  const size_t hole_tag = 1 + 8 + 8 + 1 + ObjectId::kSize + 4;
  Bytes bad = good;
  bad[hole_tag] = 7;  // unknown piece kind
  EXPECT_EQ(DecodeFile(bad).status().code(), Code::kCorruption);
  bad = good;
  std::memset(bad.data() + hole_tag + 1, 0, 8);  // an empty hole
  EXPECT_EQ(DecodeFile(bad).status().code(), Code::kCorruption);
  bad = good;
  std::memset(bad.data() + hole_tag + 1, 0xff, 8);  // a hole that overflows the size
  EXPECT_EQ(DecodeFile(bad).status().code(), Code::kCorruption);
  bad = good;
  bad[0] = 3;  // a newer encoding: unsupported, not corruption
  EXPECT_EQ(DecodeFile(bad).status().code(), Code::kUnsupported);
}

TEST(HoleEncodingTest, TreeCarriesHoleBytesOnlyWhenNeeded) {
  TreeObject t;
  TreeEntry a = FileEntry(SomeId(1), 100);
  a.name = "a";
  TreeEntry b = FileEntry(SomeId(2), 1 << 20);
  b.name = "b";
  t.entries = {a, b};
  const Bytes v1 = EncodeTree(t);
  EXPECT_EQ(v1[0], 1);
  t.entries[1].hole_bytes = (1 << 20) - 10;
  const Bytes v2 = EncodeTree(t);
  EXPECT_EQ(v2[0], 2);
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject back, DecodeTree(v2));
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].hole_bytes, 0u);
  EXPECT_EQ(back.entries[1].hole_bytes, (1u << 20) - 10);
  EXPECT_EQ(back.entries[1], t.entries[1]);
  // More hole bytes than the file holds: corruption.
  t.entries[1].hole_bytes = (1 << 20) + 1;
  EXPECT_EQ(DecodeTree(EncodeTree(t)).status().code(), Code::kCorruption);
}

class HoleRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
  }
  SharedStore store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(HoleRepoTest, ReadersCheckAndStatsTreatHolesAsZeros) {
  constexpr uint64_t kHole = 3 << 20;
  const Bytes head = ToBytes("head bytes"), tail = ToBytes("tail");
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId c1,
                            repo_->objects().PutObject(ObjectType::kChunk, head, kLegacyKeyId));
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId c2,
                            repo_->objects().PutObject(ObjectType::kChunk, tail, kLegacyKeyId));
  FileObject f;
  f.chunks = {ChunkRef{c1, head.size()}, ChunkRef::Hole(kHole), ChunkRef{c2, tail.size()}};
  f.size = head.size() + kHole + tail.size();
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId fid, repo_->objects().PutFile(f, kLegacyKeyId));
  REPO_ASSERT_OK_AND_ASSIGN(FileObject loaded, repo_->objects().LoadFile(fid));

  Bytes want = head;
  want.resize(head.size() + kHole, 0);
  want.insert(want.end(), tail.begin(), tail.end());
  FileReader reader(repo_.get(), loaded);
  Bytes got;
  REPO_ASSERT_OK(reader.ReadAt(0, f.size, &got));
  EXPECT_TRUE(got == want);
  REPO_ASSERT_OK(reader.ReadAt(head.size() - 2, 5, &got));
  EXPECT_EQ(got, (Bytes{'e', 's', 0, 0, 0}));
  // Written out (export, cat): the hole as zeros, and every byte reported written.
  const int fd = ::memfd_create("holes_test", 0);
  ASSERT_GE(fd, 0);
  uint64_t reported = 0;
  REPO_ASSERT_OK(reader.WriteTo(fd, "the test file", [&](uint64_t n) { reported += n; }));
  EXPECT_EQ(reported, want.size());
  Bytes streamed(want.size() + 1);
  EXPECT_EQ(::pread(fd, streamed.data(), streamed.size(), 0), static_cast<ssize_t>(want.size()));
  ::close(fd);
  streamed.resize(want.size());
  EXPECT_TRUE(streamed == want);

  TreeEntry e = FileEntry(fid, f.size);
  e.hole_bytes = kHole;
  REPO_ASSERT_OK_AND_ASSIGN(
      auto snap,
      repo_->CommitSnapshot(
          [&](const MainRef& m) { return PutAtPath(repo_.get(), m.live_root, {"sparse"}, e); },
          "sparse file"));
  (void)snap;
  // A hole is no object: check finds nothing missing, and reads only the two chunks.
  CheckOptions opts;
  opts.read_data = true;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, opts));
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();
  EXPECT_EQ(report.chunks, 2u);
  EXPECT_EQ(report.chunk_bytes, head.size() + tail.size());
  REPO_ASSERT_OK_AND_ASSIGN(RepoStats stats, ComputeStats(*repo_));
  EXPECT_EQ(stats.unique_bytes, head.size() + tail.size());
  // The tree entry keeps its hole bytes.
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry back, LookupPath(*repo_, main.value.live_root, "/sparse"));
  EXPECT_EQ(back.hole_bytes, kHole);
}

}  // namespace
}  // namespace weightfs::repo
