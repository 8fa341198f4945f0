// FileSystem without FUSE, over an in-memory repository (filesystem_fixture.h):
// attributes, xattrs, truncation, holes and other POSIX details.
#include "weightfs/vfs/filesystem.h"

#include <gtest/gtest.h>

#include "vfs/filesystem_fixture.h"

namespace weightfs::vfs {
namespace {

// --- attributes ---

TEST_F(FileSystemTest, SetAttrModeMtimeSize) {
  const NodeId f = MakeFile(kRootNode, "f", "0123456789");
  SetAttrRequest mode;
  mode.set_mode = true;
  mode.mode = 0100600;  // only the permission bits are kept
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->SetAttr(c_, f, mode));
  EXPECT_EQ(a.mode, 0600u);
  SetAttrRequest mtime;
  mtime.set_mtime = true;
  mtime.mtime_ns = 1234567890123456789;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, mtime));
  EXPECT_EQ(a.mtime_ns, 1234567890123456789);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/f"));
  EXPECT_EQ(e.mode, 0600u);
  EXPECT_EQ(e.mtime_ns, 1234567890123456789);

  // truncate(2) on a closed file: shrink, then grow with zeros; each is committed as is.
  SetAttrRequest shrink;
  shrink.set_size = true;
  shrink.size = 4;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, shrink));
  EXPECT_EQ(a.size, 4u);
  EXPECT_NE(a.mtime_ns, 1234567890123456789) << "a truncate moves mtime";
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "0123");
  SetAttrRequest grow;
  grow.set_size = true;
  grow.size = 8;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, grow));
  EXPECT_EQ(a.size, 8u);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), std::string("0123\0\0\0\0", 8));
  EXPECT_EQ(ReadText(f), std::string("0123\0\0\0\0", 8));

  // ftruncate on an open file is published at its close.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, false));
  SetAttrRequest zero;
  zero.set_size = true;
  zero.size = 0;
  REPO_ASSERT_OK(fs_->SetAttr(c_, f, zero).status());
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f").size(), 8u);
  REPO_ASSERT_OK(fs_->Flush(c_, f, o.handle));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "");

  SetAttrRequest owner;
  owner.set_uid = true;
  owner.uid = 4242;
  Caller stranger = c_;
  stranger.uid = 4242;
  EXPECT_CODE(fs_->SetAttr(stranger, f, owner),
              Code::kNotPermitted);                     // EPERM, as chown(2) by a non-owner
  REPO_EXPECT_OK(fs_->SetAttr(c_, f, owner).status());  // root gives files away
  EXPECT_EQ(fs_->GetAttr(c_, f)->uid, 4242u);
  const NodeId d = MakeDir(kRootNode, "d");
  EXPECT_CODE(fs_->SetAttr(c_, d, zero), Code::kIsDirectory);
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut l, fs_->Symlink(c_, kRootNode, "l", "t"));
  EXPECT_CODE(fs_->SetAttr(c_, l.attr.ino, zero), Code::kInvalidArgument);
  // A directory's mode reaches the tree too.
  SetAttrRequest dmode;
  dmode.set_mode = true;
  dmode.mode = 0700;
  REPO_ASSERT_OK(fs_->SetAttr(c_, d, dmode).status());
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/d"));
  EXPECT_EQ(e.mode, 0700u);
}

TEST_F(FileSystemTest, OpenTruncateAndFallocate) {
  const NodeId f = MakeFile(kRootNode, "f", "old content");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, true));
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 0u);
  REPO_ASSERT_OK(fs_->Fallocate(c_, f, 0, 100));
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 100u);
  REPO_ASSERT_OK(fs_->Fallocate(c_, f, 0, 10));  // never shrinks
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 100u);
  // Until the close, the committed view is the old content.
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "old content");
  REPO_ASSERT_OK(fs_->Flush(c_, f, o.handle));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), std::string(100, '\0'));
}

TEST_F(FileSystemTest, Xattrs) {
  const NodeId f = MakeFile(kRootNode, "f", "x");
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.a", AsBytes("1"), false, false));
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.b", AsBytes(""), true, false));
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.a", AsBytes("2"), true, false), Code::kAlreadyExists);
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.c", AsBytes("2"), false, true), Code::kNotFound);
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.a", AsBytes("22"), false, true));
  EXPECT_CODE(fs_->SetXattr(c_, f, "trusted.x", AsBytes("1"), false, false), Code::kUnsupported);
  EXPECT_CODE(fs_->SetXattr(c_, f, "security.selinux", AsBytes("1"), false, false),
              Code::kUnsupported);
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.big", Bytes(64 * kKiB + 1, 'v'), false, false),
              Code::kNoSpace);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes v, fs_->GetXattr(c_, f, "user.a"));
  EXPECT_EQ(v, ToBytes("22"));
  EXPECT_CODE(fs_->GetXattr(c_, f, "user.none"), Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, fs_->ListXattr(c_, f));
  EXPECT_EQ(names, (std::vector<std::string>{"user.a", "user.b"}));
  const NodeId d = MakeDir(kRootNode, "d");
  REPO_ASSERT_OK(fs_->SetXattr(c_, d, "user.dir", AsBytes("yes"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/f"));
  EXPECT_EQ(e.xattrs.size(), 2u);
  EXPECT_EQ(e.xattrs["user.a"], ToBytes("22"));
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/d"));
  EXPECT_EQ(e.xattrs["user.dir"], ToBytes("yes"));

  REPO_ASSERT_OK(fs_->RemoveXattr(c_, f, "user.a"));
  EXPECT_CODE(fs_->RemoveXattr(c_, f, "user.a"), Code::kNotFound);
  EXPECT_CODE(fs_->GetXattr(c_, f, "user.a"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/f"));
  EXPECT_EQ(e.xattrs.size(), 1u);
  EXPECT_EQ(e.xattrs.count("user.b"), 1u);
  // A fresh mount sees them.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  REPO_ASSERT_OK_AND_ASSIGN(names, fs_->ListXattr(c_, Ino(kRootNode, "f")));
  EXPECT_EQ(names, (std::vector<std::string>{"user.b"}));
  REPO_ASSERT_OK_AND_ASSIGN(v, fs_->GetXattr(c_, Ino(kRootNode, "d"), "user.dir"));
  EXPECT_EQ(v, ToBytes("yes"));
}

// --- POSIX details, holes, a final commit that fails ---

TEST_F(FileSystemTest, NamesLongerThan255BytesAreNameTooLongNotNotFound) {
  const std::string long_name(256, 'a');
  MakeFile(kRootNode, "ok", "x");
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, long_name),
              Code::kNameTooLong);  // stat, truncate, chmod...
  EXPECT_CODE(fs_->Unlink(c_, kRootNode, long_name), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, long_name), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, long_name, kRootNode, "b", 0), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "ok", kRootNode, long_name, 0), Code::kNameTooLong);
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, std::string(255, 'a')), Code::kNotFound);
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, VersionsView::kName + std::string(250, 'x')),
              Code::kNameTooLong);
}

TEST_F(FileSystemTest, DirectoryLinkCountIsTwoPlusSubdirectories) {
  auto nlink = [&](NodeId ino, FileSystem* fs) -> uint32_t {
    auto a = fs->GetAttr(c_, ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->nlink : 0;
  };
  const NodeId d = MakeDir(kRootNode, "d");
  EXPECT_EQ(nlink(d, fs_.get()), 2u);
  const NodeId a = MakeDir(d, "a");
  MakeDir(d, "b");
  MakeFile(d, "file", "not a directory");
  EXPECT_EQ(nlink(d, fs_.get()), 4u);  // mkdir d d/a d/b; stat -c %h d
  EXPECT_EQ(nlink(a, fs_.get()), 2u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 3u);
  // rename moves a link; rmdir drops one; a directory replaced by a rename drops one.
  MakeDir(kRootNode, "e");
  REPO_ASSERT_OK(fs_->Rename(c_, d, "a", kRootNode, "a2", 0));
  EXPECT_EQ(nlink(d, fs_.get()), 3u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 5u);
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "e", d, "b", 0));
  EXPECT_EQ(nlink(d, fs_.get()), 3u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 4u);
  REPO_ASSERT_OK(fs_->Rmdir(c_, d, "b"));
  EXPECT_EQ(nlink(d, fs_.get()), 2u);
  MakeDir(d, "c1");
  MakeDir(d, "c2");
  MakeDir(d, "c3");
  REPO_ASSERT_OK(fs_->Commit());
  // A second mount counts from the stored trees, before and without listing them.
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo_.get(), Options()));
  EXPECT_EQ(nlink(kRootNode, fs2.get()), 4u);  // d, a2, and 2
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut le, fs2->Lookup(c_, kRootNode, "d"));
  EXPECT_EQ(le.attr.nlink, 5u);
  EXPECT_EQ(nlink(le.attr.ino, fs2.get()), 5u);
  REPO_ASSERT_OK(fs2->Shutdown());
}

TEST_F(FileSystemTest, TruncateToTheSameSizeChangesNoTime) {
  const NodeId f = MakeFile(kRootNode, "f", "0123456789");
  SetAttrRequest t;
  t.set_mtime = true;
  t.mtime_ns = 1000000000;
  REPO_ASSERT_OK_AND_ASSIGN(Attr before, fs_->SetAttr(c_, f, t));
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  SetAttrRequest same;
  same.set_size = true;
  same.size = 10;
  REPO_ASSERT_OK_AND_ASSIGN(Attr after, fs_->SetAttr(c_, f, same));
  EXPECT_EQ(after.size, 10u);
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_EQ(after.ctime_ns, before.ctime_ns);
  // Nothing changed, so nothing is committed either.
  const uint64_t gen2 = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(Generation(), gen2);
  EXPECT_GE(gen2, gen);
  // The same through an open handle (ftruncate).
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, false));
  REPO_ASSERT_OK_AND_ASSIGN(after, fs_->SetAttr(c_, f, same));
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_EQ(after.ctime_ns, before.ctime_ns);
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  // A real change still moves both.
  SetAttrRequest shrink;
  shrink.set_size = true;
  shrink.size = 3;
  REPO_ASSERT_OK_AND_ASSIGN(after, fs_->SetAttr(c_, f, shrink));
  EXPECT_GT(after.mtime_ns, before.mtime_ns);
  EXPECT_GT(after.ctime_ns, before.ctime_ns);
}

TEST_F(FileSystemTest, TerabyteTruncateIsAHoleWithoutBlocks) {
  constexpr uint64_t kTiB = uint64_t{1} << 40;
  const NodeId f = MakeFile(kRootNode, "sparse", "data");
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.blocks, 1u);
  SetAttrRequest grow;
  grow.set_size = true;
  grow.size = kTiB;
  const auto start = std::chrono::steady_clock::now();
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, grow));  // truncate -s 1T, sealed at once
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(a.size, kTiB);
  EXPECT_EQ(a.blocks, 1u);  // the 4 bytes of data; the hole holds no blocks
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/sparse"));
  EXPECT_EQ(e.size, kTiB);
  EXPECT_EQ(e.hole_bytes, kTiB - 4);
  REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject file, repo_->objects().LoadFile(e.id));
  ASSERT_EQ(file.chunks.size(), 2u);
  EXPECT_TRUE(file.chunks[1] == repo::ChunkRef::Hole(kTiB - 4));

  // SEEK_DATA / SEEK_HOLE on an open handle.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, false, false));
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 0, true).value(), std::optional<uint64_t>(4));
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 4, false).value(), std::nullopt);
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 2, false).value(), std::optional<uint64_t>(2));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes far, fs_->Read(c_, f, o.handle, kTiB - 4096, 8192));
  EXPECT_EQ(far, Bytes(4096, 0));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));

  // Another mount reports the same blocks from the tree entry, without loading the file.
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo_.get(), Options()));
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut le, fs2->Lookup(c_, kRootNode, "sparse"));
  EXPECT_EQ(le.attr.size, kTiB);
  EXPECT_EQ(le.attr.blocks, 1u);
  REPO_ASSERT_OK(fs2->Shutdown());
}

// A file closed, then the disk fills before the commit: the final commit
// fails, and nothing may be dropped; once space returns, calling Shutdown again commits it.
TEST_F(FileSystemTest, FailedFinalCommitIsRetriedNotDropped) {
  auto fault_owned = std::make_unique<storage::FaultStore>(store_.get(), storage::FaultPlan{});
  storage::FaultStore* fault = fault_owned.get();
  REPO_ASSERT_OK_AND_ASSIGN(auto repo2,
                            repo::Repository::Open(std::move(fault_owned), Passphrase(kPass)));
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
  MakeFile(kRootNode, "closed.bin", AsBytes("written and closed before the disk filled"), 0644,
           fs2.get());
  storage::FaultPlan full;
  full.fail_writes_after = 0;
  full.fail_code = Code::kNoSpace;
  fault->SetPlan(full);
  EXPECT_CODE(fs2->Shutdown(), Code::kNoSpace);
  EXPECT_CODE(CommittedEntry("/closed.bin"), Code::kNotFound);
  EXPECT_CODE(fs2->Shutdown(), Code::kNoSpace);  // still full: still failing, never "done"
  fault->SetPlan(storage::FaultPlan{});          // space is back
  REPO_ASSERT_OK(fs2->Shutdown());
  EXPECT_EQ(CommittedText("/closed.bin"), "written and closed before the disk filled");
  REPO_ASSERT_OK(fs2->Shutdown());  // idempotent once done
}

}  // namespace
}  // namespace weightfs::vfs
