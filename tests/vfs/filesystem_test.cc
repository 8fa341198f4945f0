// FileSystem without FUSE, over an in-memory repository (filesystem_fixture.h):
// files, directories, unlink, rename and symlinks.
#include "weightfs/vfs/filesystem.h"

#include <gtest/gtest.h>

#include "vfs/filesystem_fixture.h"

namespace weightfs::vfs {
namespace {

// --- files ---

TEST_F(FileSystemTest, CreateWriteFlushReleaseThenLookupGetAttrRead) {
  auto created = fs_->Create(c_, kRootNode, "a.txt", 0640, true);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const NodeId ino = created->first.attr.ino;
  EXPECT_NE(ino, kRootNode);
  EXPECT_EQ(created->first.attr.type, NodeType::kFile);
  EXPECT_EQ(created->first.attr.size, 0u);
  EXPECT_EQ(created->first.attr.mode, 0640u);
  const uint64_t h = created->second.handle;
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t n, fs_->Write(c_, ino, h, 0, AsBytes("hello")));
  EXPECT_EQ(n, 5u);
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 5, AsBytes(", world")).status());
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("J")).status());
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Release(ino, h));

  REPO_ASSERT_OK_AND_ASSIGN(EntryOut e, fs_->Lookup(c_, kRootNode, "a.txt"));
  EXPECT_EQ(e.attr.ino, ino);
  EXPECT_EQ(e.attr.size, 12u);
  EXPECT_EQ(e.attr.mode, 0640u);
  EXPECT_EQ(e.attr.nlink, 1u);
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, ino));
  EXPECT_EQ(a.size, 12u);
  EXPECT_GT(a.mtime_ns, 0);
  EXPECT_EQ(ReadText(ino), "Jello, world");

  // Partial and past-the-end reads.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, false, false));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes part, fs_->Read(c_, ino, o.handle, 7, 100));
  EXPECT_EQ(std::string(part.begin(), part.end()), "world");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes none, fs_->Read(c_, ino, o.handle, 12, 100));
  EXPECT_TRUE(none.empty());
  REPO_ASSERT_OK(fs_->Release(ino, o.handle));

  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "missing"), Code::kNotFound);
  EXPECT_CODE(fs_->Create(c_, kRootNode, "a.txt", 0644, true), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Create(c_, kRootNode, "a/b", 0644, true), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Create(c_, kRootNode, std::string(256, 'n'), 0644, true), Code::kNameTooLong);
  EXPECT_CODE(fs_->GetAttr(c_, 9999), Code::kNotFound);
  // Without O_EXCL an existing file is opened, not replaced.
  REPO_ASSERT_OK_AND_ASSIGN(auto again, fs_->Create(c_, kRootNode, "a.txt", 0644, false));
  EXPECT_EQ(again.first.attr.ino, ino);
  EXPECT_EQ(again.first.attr.size, 12u);
  REPO_ASSERT_OK(fs_->Release(ino, again.second.handle));
  // Reading a directory as a file is refused.
  const NodeId d = MakeDir(kRootNode, "dir");
  EXPECT_CODE(fs_->Open(c_, d, false, false), Code::kIsDirectory);
}

TEST_F(FileSystemTest, LargeFileRandomReadsAndReopen) {
  const uint64_t seed = TestSeed(0xf11e);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 3 * kMiB + 777);
  const NodeId ino = MakeFile(kRootNode, "big.bin", data);
  REPO_ASSERT_OK(fs_->Commit());
  for (int round = 0; round < 2; ++round) {
    REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, false, false));
    for (int i = 0; i < 50; ++i) {
      const uint64_t off = rng() % (data.size() + 100);
      const uint64_t len = rng() % (300 * kKiB);
      REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, ino, o.handle, off, len));
      const uint64_t want = off >= data.size() ? 0 : std::min<uint64_t>(len, data.size() - off);
      ASSERT_EQ(got.size(), want);
      ASSERT_TRUE(
          std::equal(got.begin(), got.end(),
                     data.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(off, data.size()))));
    }
    REPO_ASSERT_OK(fs_->Release(ino, o.handle));
  }
  EXPECT_TRUE(ReadAll(ino) == data);
  EXPECT_TRUE(Committed()["/big.bin"].content == data);
}

TEST_F(FileSystemTest, SmallDirtyBudgetSealsEarlyAndStaysCorrect) {
  FsOptions o = Options();
  o.dirty_budget = 1 * kMiB;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  const uint64_t seed = TestSeed(0xb0d9);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 6 * kMiB);
  const uint64_t stored_before = StoredBytes(store_.get());
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "big", 0644, true));
  const NodeId ino = created.first.attr.ino;
  for (uint64_t off = 0; off < data.size(); off += 64 * kKiB) {
    REPO_ASSERT_OK(
        fs_->Write(c_, ino, created.second.handle, off, ByteView(data).subspan(off, 64 * kKiB))
            .status());
  }
  // Past the budget the decided chunks went to the store before any close.
  EXPECT_GT(StoredBytes(store_.get()) - stored_before, 4 * kMiB);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes mid, fs_->Read(c_, ino, created.second.handle, 2 * kMiB - 5, 10));
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), data.begin() + 2 * kMiB - 5));
  REPO_ASSERT_OK(fs_->Flush(c_, ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed()["/big"].content == data);
  EXPECT_TRUE(ReadAll(ino) == data);
}

// --- directories ---

TEST_F(FileSystemTest, MkdirRmdir) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(c_, kRootNode, "d", 0750));
  EXPECT_EQ(d.attr.type, NodeType::kDirectory);
  EXPECT_EQ(d.attr.mode, 0750u);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "d", 0755), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, std::string(256, 'x'), 0755), Code::kNameTooLong);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "..", 0755), Code::kInvalidArgument);
  MakeFile(d.attr.ino, "f", "x");
  const NodeId sub = MakeDir(d.attr.ino, "sub");
  EXPECT_NE(sub, 0u);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  EXPECT_CODE(fs_->Rmdir(c_, d.attr.ino, "f"), Code::kNotDirectory);
  EXPECT_CODE(fs_->Unlink(c_, d.attr.ino, "sub"), Code::kIsDirectory);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "nope"), Code::kNotFound);
  EXPECT_CODE(fs_->Mkdir(c_, Ino(d.attr.ino, "f"), "x", 0755), Code::kNotDirectory);
  REPO_ASSERT_OK(fs_->Unlink(c_, d.attr.ino, "f"));
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  REPO_ASSERT_OK(fs_->Rmdir(c_, d.attr.ino, "sub"));
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "d"));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "d"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed().empty()) << Describe(Committed());
}

TEST_F(FileSystemTest, RmdirOfCommittedDirectoryLoadsItFirst) {
  const NodeId d = MakeDir(kRootNode, "d");
  MakeFile(d, "f", "data");
  MakeDir(kRootNode, "empty");
  REPO_ASSERT_OK(fs_->Commit());
  // A fresh mount has not loaded d: rmdir must still see its child.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "empty"));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.size(), 2u) << Describe(m);
  EXPECT_EQ(m["/d/f"].content, ToBytes("data"));
}

TEST_F(FileSystemTest, ReadDirOffsets) {
  const NodeId d = MakeDir(kRootNode, "d");
  const std::vector<std::string> names = {"alpha", "beta", "delta", "epsilon", "gamma", "zeta"};
  // Created out of order; listed in name order.
  for (const char* n : {"gamma", "alpha", "zeta", "beta", "epsilon"}) MakeFile(d, n, n);
  MakeDir(d, "delta");
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t h, fs_->OpenDir(c_, d));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> all, fs_->ReadDir(c_, d, h, 0));
  ASSERT_EQ(all.size(), names.size() + 2);
  EXPECT_EQ(all[0].name, ".");
  EXPECT_EQ(all[0].attr.ino, d);
  EXPECT_EQ(all[1].name, "..");
  EXPECT_EQ(all[1].attr.ino, kRootNode);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(all[i + 2].name, names[i]);
    EXPECT_EQ(all[i + 2].attr.type, names[i] == "delta" ? NodeType::kDirectory : NodeType::kFile);
  }
  // Continuing from any entry's next_offset gives exactly the rest.
  for (size_t k = 0; k < all.size(); ++k) {
    SCOPED_TRACE("continuing after entry " + std::to_string(k));
    REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> rest,
                              fs_->ReadDir(c_, d, h, all[k].next_offset));
    ASSERT_EQ(rest.size(), all.size() - k - 1);
    for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].name, all[k + 1 + i].name);
  }
  // Entries removed after opendir are skipped, not returned stale.
  REPO_ASSERT_OK(fs_->Unlink(c_, d, "beta"));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> after, fs_->ReadDir(c_, d, h, 0));
  EXPECT_EQ(after.size(), all.size() - 1);
  for (const DirEntry& e : after) EXPECT_NE(e.name, "beta");
  REPO_ASSERT_OK(fs_->ReleaseDir(d, h));
  EXPECT_CODE(fs_->ReadDir(c_, d, h, 0), Code::kInvalidArgument);

  // The root: "." and ".." are both the root.
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t rh, fs_->OpenDir(c_, kRootNode));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> root, fs_->ReadDir(c_, kRootNode, rh, 0));
  ASSERT_EQ(root.size(), 3u);
  EXPECT_EQ(root[1].attr.ino, kRootNode);
  EXPECT_EQ(root[2].name, "d");
  REPO_ASSERT_OK(fs_->ReleaseDir(kRootNode, rh));
  EXPECT_CODE(fs_->OpenDir(c_, Ino(d, "alpha")), Code::kNotDirectory);
}

// --- unlink, rename, symlinks ---

TEST_F(FileSystemTest, UnlinkWhileOpenKeepsReading) {
  const NodeId ino = MakeFile(kRootNode, "f", "still here");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, true, false));
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "f"));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "f"), Code::kNotFound);
  EXPECT_CODE(fs_->Unlink(c_, kRootNode, "f"), Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, ino));
  EXPECT_EQ(a.nlink, 0u);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed().empty());
  // The open handle reads (and writes) the unlinked file; nothing of it reaches the tree.
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, ino, o.handle, 0, 100));
  EXPECT_EQ(std::string(got.begin(), got.end()), "still here");
  REPO_ASSERT_OK(fs_->Write(c_, ino, o.handle, 10, AsBytes("!")).status());
  REPO_ASSERT_OK_AND_ASSIGN(got, fs_->Read(c_, ino, o.handle, 0, 100));
  EXPECT_EQ(std::string(got.begin(), got.end()), "still here!");
  REPO_ASSERT_OK(fs_->Flush(c_, ino, o.handle));
  // A new file of the same name is a different node.
  const NodeId other = MakeFile(kRootNode, "f", "new");
  EXPECT_NE(other, ino);
  REPO_ASSERT_OK(fs_->Release(ino, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m["/f"].content, ToBytes("new"));
}

TEST_F(FileSystemTest, RenameOverExistingFile) {
  const NodeId a = MakeFile(kRootNode, "a", "AAA");
  const NodeId b = MakeFile(kRootNode, "b", "BBBBB");
  // The victim stays readable through a handle opened before the rename.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut ob, fs_->Open(c_, b, false, false));
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", 0));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "a"), Code::kNotFound);
  EXPECT_EQ(Ino(kRootNode, "b"), a);
  EXPECT_EQ(ReadText(a), "AAA");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes old, fs_->Read(c_, b, ob.handle, 0, 100));
  EXPECT_EQ(std::string(old.begin(), old.end()), "BBBBB");
  REPO_ASSERT_OK(fs_->Release(b, ob.handle));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  ASSERT_EQ(m.size(), 1u) << Describe(m);
  EXPECT_EQ(m["/b"].content, ToBytes("AAA"));
  // Renaming onto itself is a no-op.
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "b", kRootNode, "b", 0));
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "AAA");
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "nope", kRootNode, "x", 0), Code::kNotFound);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "b", kRootNode, "x", 2), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "b", kRootNode, "x/y", 0), Code::kInvalidArgument);
}

TEST_F(FileSystemTest, RenameNoReplace) {
  MakeFile(kRootNode, "a", "A");
  MakeFile(kRootNode, "b", "B");
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", FileSystem::kRenameNoReplace),
              Code::kAlreadyExists);
  EXPECT_EQ(ReadText(Ino(kRootNode, "a")), "A");
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "B");
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "c", FileSystem::kRenameNoReplace));
  EXPECT_EQ(ReadText(Ino(kRootNode, "c")), "A");
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "a"), Code::kNotFound);
}

TEST_F(FileSystemTest, RenameDirectories) {
  const NodeId d = MakeDir(kRootNode, "d");
  const NodeId e = MakeDir(d, "e");
  MakeFile(e, "f", "deep");
  const NodeId full = MakeDir(kRootNode, "full");
  MakeFile(full, "x", "x");
  MakeDir(kRootNode, "empty");
  MakeFile(kRootNode, "file", "file");

  // A directory cannot move below itself.
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", e, "d2", 0), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", d, "d2", 0), Code::kInvalidArgument);
  // Onto a non-empty directory, onto a file, a file onto a directory.
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", kRootNode, "full", 0), Code::kNotEmpty);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", kRootNode, "file", 0), Code::kNotDirectory);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "file", kRootNode, "empty", 0), Code::kIsDirectory);
  // Onto an empty directory: replaces it.
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "d", kRootNode, "empty", 0));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "d"), Code::kNotFound);
  EXPECT_EQ(Ino(kRootNode, "empty"), d);
  // Across directories, and the ".." of a moved directory follows it.
  REPO_ASSERT_OK(fs_->Rename(c_, d, "e", full, "e", 0));
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t h, fs_->OpenDir(c_, e));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> ents, fs_->ReadDir(c_, e, h, 0));
  REPO_ASSERT_OK(fs_->ReleaseDir(e, h));
  ASSERT_GE(ents.size(), 2u);
  EXPECT_EQ(ents[1].attr.ino, full);
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  std::vector<std::string> paths;
  for (const auto& [p, s] : m) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{"/empty", "/file", "/full", "/full/e", "/full/e/f",
                                             "/full/x"}))
      << Describe(m);
  EXPECT_EQ(m["/full/e/f"].content, ToBytes("deep"));
}

// A fresh mount loads a directory only when its children are needed. Changing such a directory
// itself (moving it, its mode, times or xattrs) must not publish it as empty.
TEST_F(FileSystemTest, ChangingAnUnloadedDirectoryKeepsItsContent) {
  const NodeId d = MakeDir(kRootNode, "d");
  const NodeId sub = MakeDir(d, "sub");
  MakeFile(sub, "f", "payload");
  REPO_ASSERT_OK(fs_->SetXattr(c_, sub, "user.k", AsBytes("v"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  const SnapMap original = Committed();
  ASSERT_EQ(original.size(), 3u);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  const ObjectId original_root = main.value.live_root;

  struct Case {
    const char* what;
    std::function<Status(NodeId d_ino)> change;
  };
  const std::vector<Case> cases = {
      {"rename", [&](NodeId) { return fs_->Rename(c_, kRootNode, "d", kRootNode, "moved", 0); }},
      {"chmod",
       [&](NodeId ino) {
         SetAttrRequest r;
         r.set_mode = true;
         r.mode = 0700;
         return fs_->SetAttr(c_, ino, r).status();
       }},
      {"utimes",
       [&](NodeId ino) {
         SetAttrRequest r;
         r.set_mtime = true;
         r.mtime_ns = 42;
         return fs_->SetAttr(c_, ino, r).status();
       }},
      {"setxattr",
       [&](NodeId ino) { return fs_->SetXattr(c_, ino, "user.new", AsBytes("1"), false, false); }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    // Each case starts from the original tree in a fresh mount.
    ASSERT_NO_FATAL_FAILURE(Mount(Options()));
    fs_.reset();
    REPO_ASSERT_OK_AND_ASSIGN(auto cur, repo_->refs().ReadMain());
    repo::MainRef next = cur.value;
    next.live_root = original_root;
    next.generation++;
    REPO_ASSERT_OK(repo_->refs().WriteMain(next, cur.raw));
    ASSERT_NO_FATAL_FAILURE(Mount(Options()));
    const NodeId di = Ino(kRootNode, "d");
    REPO_ASSERT_OK(k.change(di));
    REPO_ASSERT_OK(fs_->Commit());
    SnapMap m = Committed();
    const std::string top = std::string(k.what) == "rename" ? "/moved" : "/d";
    EXPECT_EQ(m.size(), 3u) << Describe(m);
    EXPECT_EQ(m[top + "/sub/f"].content, ToBytes("payload")) << Describe(m);
    EXPECT_EQ(m[top + "/sub"].xattrs["user.k"], ToBytes("v"));
  }
}

TEST_F(FileSystemTest, SymlinkReadLink) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut l, fs_->Symlink(c_, kRootNode, "link", "../some/target"));
  EXPECT_EQ(l.attr.type, NodeType::kSymlink);
  EXPECT_EQ(l.attr.size, std::string("../some/target").size());
  REPO_ASSERT_OK_AND_ASSIGN(std::string t, fs_->ReadLink(c_, l.attr.ino));
  EXPECT_EQ(t, "../some/target");
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "link", "x"), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "empty", ""), Code::kInvalidArgument);
  const NodeId f = MakeFile(kRootNode, "f", "x");
  EXPECT_CODE(fs_->ReadLink(c_, f), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Open(c_, l.attr.ino, false, false), Code::kInvalidArgument);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/link"));
  EXPECT_EQ(e.type, repo::EntryType::kSymlink);
  EXPECT_EQ(e.target, "../some/target");
  // And back through a fresh mount.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  REPO_ASSERT_OK_AND_ASSIGN(std::string t2, fs_->ReadLink(c_, Ino(kRootNode, "link")));
  EXPECT_EQ(t2, "../some/target");
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "link"));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_CODE(CommittedEntry("/link"), Code::kNotFound);
}

}  // namespace
}  // namespace weightfs::vfs
