// FileSystem without FUSE, over an in-memory repository (filesystem_fixture.h):
// what a commit publishes (close/fsync views only: a file never closed is not in the
// committed tree), read-only mounts and node lifetime (Forget).
#include "weightfs/vfs/filesystem.h"

#include <gtest/gtest.h>

#include "vfs/filesystem_fixture.h"

namespace weightfs::vfs {
namespace {

// --- commits ---

TEST_F(FileSystemTest, CommitThenSecondMountSeesExactlyTheCommittedState) {
  const uint64_t seed = TestSeed(0xc0);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const NodeId models = MakeDir(kRootNode, "models");
  const NodeId m1 = MakeDir(models, "m1");
  MakeFile(m1, "weights.bin", RandomBytes(rng, 700 * kKiB), 0600);
  MakeFile(m1, "config.json", AsBytes("{\"a\": 1}"));
  MakeFile(kRootNode, "empty", AsBytes(""));
  REPO_ASSERT_OK(fs_->Symlink(c_, models, "latest", "m1").status());
  REPO_ASSERT_OK(fs_->SetXattr(c_, m1, "user.origin", AsBytes("hub"), false, false));
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_GT(Generation(), gen);
  // A commit with nothing new does not touch refs/main.
  const uint64_t gen2 = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(Generation(), gen2);

  const SnapMap live = WalkFs(fs_.get());
  const SnapMap committed = Committed();
  EXPECT_EQ(committed.size(), 6u) << Describe(committed);
  EXPECT_TRUE(live == committed) << "live:\n"
                                 << Describe(live) << "committed:\n"
                                 << Describe(committed);

  // Changes after the commit are not seen by a second mount until committed.
  MakeFile(kRootNode, "later", AsBytes("later"));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo2, store_.Open(Passphrase(kPass)));
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
    const SnapMap seen = WalkFs(fs2.get());
    EXPECT_TRUE(seen == committed) << "second mount:\n"
                                   << Describe(seen) << "committed:\n"
                                   << Describe(committed);
    REPO_ASSERT_OK(fs2->Shutdown());
  }
  REPO_ASSERT_OK(fs_->Commit());
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
    const SnapMap seen = WalkFs(fs2.get());
    EXPECT_EQ(seen.size(), committed.size() + 1);
    EXPECT_EQ(seen.count("/later"), 1u);
    EXPECT_TRUE(seen == Committed());
    EXPECT_TRUE(seen == WalkFs(fs_.get()));
    REPO_ASSERT_OK(fs2->Shutdown());
  }
}

TEST_F(FileSystemTest, UnflushedFileIsNotCommitted) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "partial", 0644, true));
  const NodeId ino = created.first.attr.ino;
  const uint64_t h = created.second.handle;
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("half of it")).status());
  MakeFile(kRootNode, "done", "closed");
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.count("/partial"), 0u) << "a file never closed reached the committed tree";
  EXPECT_EQ(m.count("/done"), 1u);
  // A restart at this point (a crash: no shutdown) sees the same.
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto repo2, store_.Open(Passphrase(kPass)));
    FsOptions ro = Options();
    ro.read_only = true;
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), ro));
    EXPECT_CODE(fs2->Lookup(c_, kRootNode, "partial"), Code::kNotFound);
  }
  // After its close it is.
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "half of it");
  // Later writes without a close leave the committed view as of the last close.
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("HALF")).status());
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 10, AsBytes(" and more")).status());
  MakeDir(kRootNode, "another-change");
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "half of it");
  EXPECT_EQ(ReadText(ino), "HALF of it and more");
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Release(ino, h));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "HALF of it and more");
}

TEST_F(FileSystemTest, CreatedEmptyFileAppearsAtClose) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "touched", 0644, true));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_CODE(CommittedEntry("/touched"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Flush(c_, created.first.attr.ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(created.first.attr.ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/touched"));
  EXPECT_EQ(e.type, repo::EntryType::kFile);
  EXPECT_EQ(e.size, 0u);
}

TEST_F(FileSystemTest, FsyncCommitsImmediately) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "f", 0644, true));
  const NodeId ino = created.first.attr.ino;
  REPO_ASSERT_OK(fs_->Write(c_, ino, created.second.handle, 0, AsBytes("durable")).status());
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Fsync(c_, ino));
  EXPECT_GT(Generation(), gen);
  EXPECT_EQ(CommittedText("/f"), "durable");
  // Still open: more writes, fsync again.
  REPO_ASSERT_OK(fs_->Write(c_, ino, created.second.handle, 7, AsBytes("!")).status());
  REPO_ASSERT_OK(fs_->Fsync(c_, ino));
  EXPECT_EQ(CommittedText("/f"), "durable!");
  REPO_ASSERT_OK(fs_->Release(ino, created.second.handle));
  // fsync on a directory commits too.
  MakeDir(kRootNode, "d");
  REPO_ASSERT_OK(fs_->FsyncDir(c_, kRootNode));
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/d"));
  EXPECT_EQ(e.type, repo::EntryType::kDirectory);
}

TEST_F(FileSystemTest, ShutdownSealsOpenFiles) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "open", 0644, true));
  REPO_ASSERT_OK(
      fs_->Write(c_, created.first.attr.ino, created.second.handle, 0, AsBytes("at unmount"))
          .status());
  REPO_ASSERT_OK(fs_->Shutdown());
  EXPECT_EQ(CommittedText("/open"), "at unmount");
  REPO_ASSERT_OK(fs_->Shutdown());  // idempotent
}

TEST_F(FileSystemTest, BackgroundCommitThread) {
  FsOptions o = Options();
  o.commit_interval_s = 0.01;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  fs_->Start();
  MakeFile(kRootNode, "f", "by the loop");
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    seen = CommittedEntry("/f").ok();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << "the commit thread did not publish a closed file within 5 s";
  REPO_ASSERT_OK(fs_->Shutdown());
}

// --- read-only ---

TEST_F(FileSystemTest, ReadOnlyRefusesEveryChange) {
  const NodeId d = MakeDir(kRootNode, "d");
  MakeFile(d, "f", "content");
  MakeDir(kRootNode, "empty");
  REPO_ASSERT_OK(fs_->Symlink(c_, kRootNode, "l", "d/f").status());
  REPO_ASSERT_OK(fs_->SetXattr(c_, d, "user.k", AsBytes("v"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());
  FsOptions o = Options();
  o.read_only = true;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  EXPECT_TRUE(fs_->read_only());

  const NodeId rd = Ino(kRootNode, "d");
  const NodeId rf = Ino(rd, "f");
  EXPECT_CODE(fs_->Create(c_, kRootNode, "new", 0644, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Create(c_, rd, "f", 0644, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "new", 0755), Code::kReadOnly);
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "new", "t"), Code::kReadOnly);
  EXPECT_CODE(fs_->Unlink(c_, rd, "f"), Code::kReadOnly);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "empty"), Code::kReadOnly);
  EXPECT_CODE(fs_->Rename(c_, rd, "f", kRootNode, "g", 0), Code::kReadOnly);
  SetAttrRequest mode;
  mode.set_mode = true;
  mode.mode = 0600;
  EXPECT_CODE(fs_->SetAttr(c_, rf, mode), Code::kReadOnly);
  SetAttrRequest size;
  size.set_size = true;
  size.size = 0;
  EXPECT_CODE(fs_->SetAttr(c_, rf, size), Code::kReadOnly);
  SetAttrRequest mtime;
  mtime.set_mtime = true;
  mtime.mtime_ns = 5;
  EXPECT_CODE(fs_->SetAttr(c_, rf, mtime), Code::kReadOnly);
  EXPECT_CODE(fs_->Open(c_, rf, true, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Open(c_, rf, false, true), Code::kReadOnly);
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o2, fs_->Open(c_, rf, false, false));
  EXPECT_CODE(fs_->Write(c_, rf, o2.handle, 0, AsBytes("x")), Code::kReadOnly);
  EXPECT_CODE(fs_->Fallocate(c_, rf, 0, 100), Code::kReadOnly);
  EXPECT_CODE(fs_->SetXattr(c_, rd, "user.k", AsBytes("w"), false, false), Code::kReadOnly);
  EXPECT_CODE(fs_->SetXattr(c_, rd, "user.new", AsBytes("w"), false, false), Code::kReadOnly);
  EXPECT_CODE(fs_->RemoveXattr(c_, rd, "user.k"), Code::kReadOnly);
  // Reading works, and flush/fsync/commit change nothing.
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, rf, o2.handle, 0, 100));
  EXPECT_EQ(got, ToBytes("content"));
  REPO_EXPECT_OK(fs_->Flush(c_, rf, o2.handle));
  REPO_EXPECT_OK(fs_->Fsync(c_, rf));
  REPO_EXPECT_OK(fs_->Release(rf, o2.handle));
  REPO_EXPECT_OK(fs_->FsyncDir(c_, rd));
  REPO_EXPECT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(std::string t, fs_->ReadLink(c_, Ino(kRootNode, "l")));
  EXPECT_EQ(t, "d/f");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes xv, fs_->GetXattr(c_, rd, "user.k"));
  EXPECT_EQ(xv, ToBytes("v"));
  const SnapMap seen = WalkFs(fs_.get());
  EXPECT_EQ(seen.size(), 4u) << Describe(seen);
  REPO_ASSERT_OK(fs_->Shutdown());
  REPO_ASSERT_OK_AND_ASSIGN(auto after, repo_->refs().ReadMain());
  EXPECT_EQ(after.raw, before.raw) << "a read-only mount rewrote refs/main";
}

// --- node lifetime ---

TEST_F(FileSystemTest, ForgetDropsUnlinkedNodes) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created,
                            fs_->Create(c_, kRootNode, "f", 0644, true));  // nlookup 1
  const NodeId f = created.first.attr.ino;
  REPO_ASSERT_OK(fs_->Flush(c_, f, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(f, created.second.handle));
  EXPECT_EQ(Ino(kRootNode, "f"), f);  // nlookup 2
  // A linked node survives the kernel forgetting it (it reloads on the next lookup).
  fs_->Forget(f, 2);
  REPO_ASSERT_OK(fs_->GetAttr(c_, f).status());
  EXPECT_EQ(Ino(kRootNode, "f"), f);  // nlookup 1
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "f"));
  REPO_ASSERT_OK(fs_->GetAttr(c_, f).status());  // the kernel still holds it
  fs_->Forget(f, 1);
  EXPECT_CODE(fs_->GetAttr(c_, f), Code::kNotFound);

  // An open handle keeps an unlinked, forgotten node until the release.
  REPO_ASSERT_OK_AND_ASSIGN(auto g, fs_->Create(c_, kRootNode, "g", 0644, true));
  const NodeId gi = g.first.attr.ino;
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "g"));
  fs_->Forget(gi, 1);
  REPO_ASSERT_OK(fs_->GetAttr(c_, gi).status());
  REPO_ASSERT_OK(fs_->Write(c_, gi, g.second.handle, 0, AsBytes("tmp")).status());
  REPO_ASSERT_OK(fs_->Release(gi, g.second.handle));
  EXPECT_CODE(fs_->GetAttr(c_, gi), Code::kNotFound);

  // A removed directory too.
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(c_, kRootNode, "d", 0755));
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "d"));
  REPO_ASSERT_OK(fs_->GetAttr(c_, d.attr.ino).status());
  fs_->Forget(d.attr.ino, 1);
  EXPECT_CODE(fs_->GetAttr(c_, d.attr.ino), Code::kNotFound);
  // A rename victim too.
  MakeFile(kRootNode, "a", "a");
  const NodeId b = MakeFile(kRootNode, "b", "b");
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", 0));
  REPO_ASSERT_OK(fs_->GetAttr(c_, b).status());
  fs_->Forget(b, 1);
  EXPECT_CODE(fs_->GetAttr(c_, b), Code::kNotFound);
  // Forgetting more than was looked up, or an unknown node, is harmless.
  fs_->Forget(9999, 3);
  fs_->Forget(Ino(kRootNode, "b"), 100);
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "a");
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.size(), 1u) << Describe(m);
}

TEST_F(FileSystemTest, StatFs) {
  REPO_ASSERT_OK_AND_ASSIGN(StatFsOut s, fs_->StatFs(c_));
  EXPECT_EQ(s.name_max, 255u);
  FsOptions o = Options();
  o.statfs = []() -> Result<StatFsOut> {
    StatFsOut out;
    out.blocks = 1000;
    out.blocks_free = 10;
    return out;
  };
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  REPO_ASSERT_OK_AND_ASSIGN(s, fs_->StatFs(c_));
  EXPECT_EQ(s.blocks, 1000u);
  EXPECT_EQ(s.blocks_free, 10u);
}

}  // namespace
}  // namespace weightfs::vfs
