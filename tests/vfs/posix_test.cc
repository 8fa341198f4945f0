// POSIX owners, modes and special files in the FileSystem, without FUSE: new
// entries belong to their creator (the group of a setgid directory), chown/chgrp/chmod/utimens
// follow POSIX's rules, mode bits are enforced with FsOptions::mode_check (sticky directories,
// search permission, root's bypass), FIFOs and device nodes are tree entries that survive a
// remount, and an entry stored without an owner shows the mounting user.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/repo_fixtures.h"
#include "support/status_util.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {
namespace {

using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::SharedStore;

constexpr char kPass[] = "posix test";
constexpr uint32_t kMounter = 500;  // the mounting user (FsOptions::uid)
constexpr uint32_t kStaff = 3000;   // a group alice and bob are in
constexpr uint32_t kOther = 3001;   // a group only carol is in

Caller User(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  c.groups = std::move(groups);
  return c;
}

const Caller kRoot = User(0, 0);
const Caller kAlice = User(1000, 1000, {kStaff});
const Caller kBob = User(1001, 1001, {kStaff});
const Caller kCarol = User(1002, 1002, {kOther});

class PosixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
    ASSERT_NO_FATAL_FAILURE(Mount(true));
    // A world-writable directory everybody may work in (the mount root belongs to the mounter).
    REPO_ASSERT_OK_AND_ASSIGN(EntryOut w, fs_->Mkdir(kRoot, kRootNode, "w", 0777));
    work_ = w.attr.ino;
  }
  void TearDown() override {
    if (fs_) REPO_EXPECT_OK(fs_->Shutdown());
  }
  void Mount(bool mode_check) {
    if (fs_) REPO_ASSERT_OK(fs_->Shutdown());
    fs_.reset();
    FsOptions o;
    o.commit_interval_s = 3600;
    o.uid = kMounter;
    o.gid = kMounter;
    o.mode_check = mode_check;
    REPO_ASSERT_OK_AND_ASSIGN(fs_, FileSystem::Create(repo_.get(), o));
  }
  // Commits and mounts the committed tree again.
  void Remount(bool mode_check = true) {
    REPO_ASSERT_OK(fs_->Commit());
    ASSERT_NO_FATAL_FAILURE(Mount(mode_check));
  }
  NodeId MakeFile(const Caller& c, NodeId dir, const std::string& name, uint32_t mode) {
    auto r = fs_->Create(c, dir, name, mode, true);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    if (!r.ok()) return 0;
    REPO_EXPECT_OK(fs_->Flush(c, r->first.attr.ino, r->second.handle));
    REPO_EXPECT_OK(fs_->Release(r->first.attr.ino, r->second.handle));
    return r->first.attr.ino;
  }
  Attr AttrOf(NodeId ino) {
    auto a = fs_->GetAttr(kRoot, ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }
  NodeId Lookup(NodeId dir, const std::string& name) {
    auto e = fs_->Lookup(kRoot, dir, name);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status().ToString();
    return e.ok() ? e->attr.ino : 0;
  }
  Status Chmod(const Caller& c, NodeId ino, uint32_t mode) {
    SetAttrRequest r;
    r.set_mode = true;
    r.mode = mode;
    return fs_->SetAttr(c, ino, r).status();
  }
  Status Chown(const Caller& c, NodeId ino, std::optional<uint32_t> uid,
               std::optional<uint32_t> gid) {
    SetAttrRequest r;
    r.set_uid = uid.has_value();
    r.uid = uid.value_or(0);
    r.set_gid = gid.has_value();
    r.gid = gid.value_or(0);
    return fs_->SetAttr(c, ino, r).status();
  }
  Status OpenClose(const Caller& c, NodeId ino, bool write) {
    auto h = fs_->Open(c, ino, write, false, !write);
    if (!h.ok()) return h.status();
    return fs_->Release(ino, h->handle);
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<FileSystem> fs_;
  NodeId work_ = 0;
};

TEST_F(PosixTest, NewEntriesBelongToTheirCreatorAndSurviveARemount) {
  const NodeId f = MakeFile(kAlice, work_, "f", 0640);
  REPO_ASSERT_OK(fs_->Mkdir(kBob, work_, "d", 0750).status());
  EXPECT_EQ(AttrOf(f).uid, 1000u);
  EXPECT_EQ(AttrOf(f).gid, 1000u);
  ASSERT_NO_FATAL_FAILURE(Remount());
  const NodeId w = Lookup(kRootNode, "w");
  const Attr fa = AttrOf(Lookup(w, "f"));
  EXPECT_EQ(fa.uid, 1000u);
  EXPECT_EQ(fa.mode, 0640u);
  const Attr da = AttrOf(Lookup(w, "d"));
  EXPECT_EQ(da.uid, 1001u);
  EXPECT_EQ(da.gid, 1001u);
  // The root's own entry "w" was made by root; the mount root is the mounting user's.
  EXPECT_EQ(AttrOf(w).uid, 0u);
  EXPECT_EQ(AttrOf(kRootNode).uid, kMounter);
  EXPECT_EQ(AttrOf(kRootNode).gid, kMounter);
}

TEST_F(PosixTest, SetgidDirectoryPassesItsGroupOn) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut shared, fs_->Mkdir(kAlice, work_, "shared", 0777));
  REPO_ASSERT_OK(Chown(kAlice, shared.attr.ino, std::nullopt, kStaff));
  REPO_ASSERT_OK(Chmod(kAlice, shared.attr.ino, 02777));
  const NodeId f = MakeFile(kCarol, shared.attr.ino, "f", 0644);
  EXPECT_EQ(AttrOf(f).gid, kStaff);
  EXPECT_EQ(AttrOf(f).uid, 1002u);
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut sub, fs_->Mkdir(kCarol, shared.attr.ino, "sub", 0755));
  EXPECT_EQ(sub.attr.gid, kStaff);
  EXPECT_EQ(sub.attr.mode, 02755u);  // a new subdirectory inherits setgid
  // Outside a setgid directory a file gets its creator's primary group.
  EXPECT_EQ(AttrOf(MakeFile(kCarol, work_, "g", 0644)).gid, 1002u);
}

TEST_F(PosixTest, ChownFollowsPosixRules) {
  const NodeId f = MakeFile(kAlice, work_, "f", 06755);
  const int64_t ctime = AttrOf(f).ctime_ns;
  // The owner may change the group to one it is in, not to another, and not the owner.
  REPO_EXPECT_OK(Chown(kAlice, f, std::nullopt, kStaff));
  EXPECT_EQ(AttrOf(f).gid, kStaff);
  EXPECT_EQ(AttrOf(f).mode, 0755u);  // chown of a file clears setuid and setgid (g+x set)
  EXPECT_GE(AttrOf(f).ctime_ns, ctime);
  EXPECT_CODE(Chown(kAlice, f, std::nullopt, kOther), Code::kNotPermitted);
  EXPECT_CODE(Chown(kAlice, f, 1001, std::nullopt), Code::kNotPermitted);
  // A non-owner may not even change nothing.
  EXPECT_CODE(Chown(kBob, f, std::nullopt, kStaff), Code::kNotPermitted);
  // Root changes anything.
  REPO_EXPECT_OK(Chown(kRoot, f, 1002, kOther));
  EXPECT_EQ(AttrOf(f).uid, 1002u);
  EXPECT_EQ(AttrOf(f).gid, kOther);
  // A directory keeps its setgid bit on chown.
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(kAlice, work_, "d", 02755));
  REPO_EXPECT_OK(Chown(kRoot, d.attr.ino, 1001, std::nullopt));
  EXPECT_EQ(AttrOf(d.attr.ino).mode, 02755u);
  // Owners are stored whether or not mode bits are enforced; chown's rules apply either way.
  ASSERT_NO_FATAL_FAILURE(Remount(false));
  const NodeId f2 = Lookup(Lookup(kRootNode, "w"), "f");
  EXPECT_EQ(AttrOf(f2).uid, 1002u);
  EXPECT_CODE(Chown(kAlice, f2, 1000, std::nullopt), Code::kNotPermitted);
}

TEST_F(PosixTest, ChmodOnlyByOwnerOrRoot) {
  const NodeId f = MakeFile(kAlice, work_, "f", 0644);
  EXPECT_CODE(Chmod(kBob, f, 0777), Code::kNotPermitted);
  REPO_EXPECT_OK(Chmod(kAlice, f, 0600));
  EXPECT_EQ(AttrOf(f).mode, 0600u);
  REPO_EXPECT_OK(Chmod(kRoot, f, 0640));
  // A non-root owner outside the file's group cannot set setgid: it is cleared.
  REPO_ASSERT_OK(Chown(kRoot, f, std::nullopt, kOther));
  REPO_EXPECT_OK(Chmod(kAlice, f, 02755));
  EXPECT_EQ(AttrOf(f).mode, 0755u);
  REPO_EXPECT_OK(Chmod(kRoot, f, 02755));
  EXPECT_EQ(AttrOf(f).mode, 02755u);
  // Clearing setuid/setgid alone (what the kernel asks before another user's write) needs only
  // write permission; anything more stays the owner's.
  REPO_ASSERT_OK(Chmod(kRoot, f, 06776));
  EXPECT_CODE(Chmod(kBob, f, 0777), Code::kNotPermitted);
  REPO_EXPECT_OK(Chmod(kBob, f, 0776));
  EXPECT_EQ(AttrOf(f).mode, 0776u);
}

TEST_F(PosixTest, ModeBitsDecideOpen) {
  const NodeId f = MakeFile(kAlice, work_, "f", 0640);
  REPO_ASSERT_OK(Chown(kAlice, f, std::nullopt, kStaff));
  REPO_EXPECT_OK(OpenClose(kAlice, f, true));
  REPO_EXPECT_OK(OpenClose(kBob, f, false));                       // group may read
  EXPECT_CODE(OpenClose(kBob, f, true), Code::kPermissionDenied);  // not write
  EXPECT_CODE(OpenClose(kCarol, f, false), Code::kPermissionDenied);
  // chmod 000: even the owner may not read; root may.
  REPO_ASSERT_OK(Chmod(kAlice, f, 0));
  EXPECT_CODE(OpenClose(kAlice, f, false), Code::kPermissionDenied);
  REPO_EXPECT_OK(OpenClose(kRoot, f, false));
  // Root needs some x bit to execute.
  EXPECT_CODE(fs_->Access(kRoot, f, false, false, true), Code::kPermissionDenied);
  REPO_EXPECT_OK(fs_->Access(kRoot, f, true, true, false));
  // Without mode_check the policy alone decides (here: none).
  ASSERT_NO_FATAL_FAILURE(Remount(false));
  REPO_EXPECT_OK(OpenClose(kAlice, Lookup(Lookup(kRootNode, "w"), "f"), false));
}

TEST_F(PosixTest, DirectoriesNeedWriteAndSearch) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(kAlice, work_, "d", 0755));
  MakeFile(kAlice, d.attr.ino, "f", 0644);
  EXPECT_CODE(fs_->Create(kBob, d.attr.ino, "g", 0644, true), Code::kPermissionDenied);
  EXPECT_CODE(fs_->Mkdir(kBob, d.attr.ino, "g", 0755), Code::kPermissionDenied);
  EXPECT_CODE(fs_->Unlink(kBob, d.attr.ino, "f"), Code::kPermissionDenied);
  EXPECT_CODE(fs_->Rename(kBob, d.attr.ino, "f", work_, "f", 0), Code::kPermissionDenied);
  EXPECT_CODE(fs_->Mknod(kBob, d.attr.ino, "p", NodeType::kFifo, 0644, 0), Code::kPermissionDenied);
  REPO_EXPECT_OK(fs_->Lookup(kBob, d.attr.ino, "f").status());
  // Without search permission nothing below can be reached, even with a known node id.
  REPO_ASSERT_OK(Chmod(kAlice, d.attr.ino, 0700));
  EXPECT_CODE(fs_->Lookup(kBob, d.attr.ino, "f"), Code::kPermissionDenied);
  const NodeId f = Lookup(d.attr.ino, "f");
  EXPECT_CODE(OpenClose(kBob, f, false), Code::kPermissionDenied);
  EXPECT_CODE(fs_->OpenDir(kBob, d.attr.ino), Code::kPermissionDenied);
  REPO_EXPECT_OK(fs_->Lookup(kAlice, d.attr.ino, "f").status());
  REPO_EXPECT_OK(fs_->Lookup(kRoot, d.attr.ino, "f").status());
  // A directory moved to another parent needs write on itself (its ".." changes).
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut ro, fs_->Mkdir(kBob, work_, "ro", 0555));
  REPO_ASSERT_OK(fs_->Mkdir(kBob, work_, "to", 0755).status());
  EXPECT_CODE(fs_->Rename(kBob, work_, "ro", Lookup(work_, "to"), "ro", 0),
              Code::kPermissionDenied);
  REPO_EXPECT_OK(fs_->Rename(kBob, work_, "ro", work_, "ro2", 0));
  (void)ro;
}

TEST_F(PosixTest, StickyDirectoryProtectsOthersEntries) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut tmp, fs_->Mkdir(kRoot, work_, "tmp", 01777));
  const NodeId t = tmp.attr.ino;
  MakeFile(kAlice, t, "a", 0666);
  MakeFile(kBob, t, "b", 0666);
  EXPECT_CODE(fs_->Unlink(kBob, t, "a"), Code::kNotPermitted);
  EXPECT_CODE(fs_->Rename(kBob, t, "a", t, "x", 0), Code::kNotPermitted);
  EXPECT_CODE(fs_->Rename(kBob, t, "b", t, "a", 0), Code::kNotPermitted);  // replacing alice's
  REPO_EXPECT_OK(fs_->Rename(kBob, t, "b", t, "b2", 0));
  REPO_EXPECT_OK(fs_->Unlink(kBob, t, "b2"));
  REPO_EXPECT_OK(fs_->Unlink(kRoot, t, "a"));  // root, and the directory's owner, may
  REPO_ASSERT_OK(fs_->Mkdir(kAlice, t, "ad", 0777).status());
  EXPECT_CODE(fs_->Rmdir(kBob, t, "ad"), Code::kNotPermitted);
  REPO_EXPECT_OK(fs_->Rmdir(kAlice, t, "ad"));
}

TEST_F(PosixTest, TimesByOwnerOrWithWritePermission) {
  const NodeId f = MakeFile(kAlice, work_, "f", 0664);
  REPO_ASSERT_OK(Chown(kAlice, f, std::nullopt, kStaff));
  SetAttrRequest explicit_times;
  explicit_times.set_mtime = explicit_times.set_atime = true;
  explicit_times.mtime_ns = explicit_times.atime_ns = 1700000000000000000;
  SetAttrRequest now = explicit_times;
  now.times_now = true;
  EXPECT_CODE(fs_->SetAttr(kBob, f, explicit_times), Code::kNotPermitted);
  REPO_EXPECT_OK(fs_->SetAttr(kBob, f, now).status());  // group write
  EXPECT_CODE(fs_->SetAttr(kCarol, f, now), Code::kPermissionDenied);
  REPO_EXPECT_OK(fs_->SetAttr(kAlice, f, explicit_times).status());
  EXPECT_EQ(AttrOf(f).mtime_ns, 1700000000000000000);
}

TEST_F(PosixTest, SpecialFilesAreEntries) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut fifo,
                            fs_->Mknod(kAlice, work_, "fifo", NodeType::kFifo, 0640, 0));
  EXPECT_EQ(fifo.attr.type, NodeType::kFifo);
  EXPECT_EQ(fifo.attr.uid, 1000u);
  REPO_ASSERT_OK(fs_->Mknod(kAlice, work_, "sock", NodeType::kSocket, 0755, 0).status());
  const uint64_t kNull = (1u << 8) | 3;  // makedev(1, 3)
  EXPECT_CODE(fs_->Mknod(kAlice, work_, "null", NodeType::kCharDevice, 0666, kNull),
              Code::kNotPermitted);
  REPO_ASSERT_OK(fs_->Mknod(kRoot, work_, "null", NodeType::kCharDevice, 0666, kNull).status());
  REPO_ASSERT_OK(fs_->Mknod(kRoot, work_, "sda", NodeType::kBlockDevice, 0660, (8u << 8)).status());
  EXPECT_CODE(fs_->Mknod(kRoot, work_, "fifo", NodeType::kFifo, 0640, 0), Code::kAlreadyExists);
  // A regular file by mknod: empty, owned by the caller, kept like a file created and closed.
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut plain,
                            fs_->Mknod(kAlice, work_, "f", NodeType::kFile, 0640, 0));
  EXPECT_EQ(plain.attr.type, NodeType::kFile);
  EXPECT_EQ(plain.attr.size, 0u);
  EXPECT_CODE(fs_->Mknod(kAlice, work_, "f", NodeType::kFile, 0640, 0), Code::kAlreadyExists);
  ASSERT_NO_FATAL_FAILURE(Remount());
  const NodeId w = Lookup(kRootNode, "w");
  EXPECT_EQ(AttrOf(Lookup(w, "fifo")).type, NodeType::kFifo);
  EXPECT_EQ(AttrOf(Lookup(w, "fifo")).mode, 0640u);
  EXPECT_EQ(AttrOf(Lookup(w, "sock")).type, NodeType::kSocket);
  const Attr null = AttrOf(Lookup(w, "null"));
  EXPECT_EQ(null.type, NodeType::kCharDevice);
  EXPECT_EQ(null.rdev, kNull);
  EXPECT_EQ(AttrOf(Lookup(w, "sda")).type, NodeType::kBlockDevice);
  EXPECT_EQ(AttrOf(Lookup(w, "sda")).rdev, 8u << 8);
  const Attr f = AttrOf(Lookup(w, "f"));
  EXPECT_EQ(f.type, NodeType::kFile);
  EXPECT_EQ(f.mode, 0640u);
  EXPECT_EQ(f.uid, 1000u);
  // They are no regular files: nothing to open for content, truncate or read.
  EXPECT_CODE(fs_->Open(kRoot, Lookup(w, "fifo"), false, false), Code::kInvalidArgument);
  REPO_EXPECT_OK(fs_->Unlink(kAlice, w, "fifo"));
}

TEST_F(PosixTest, EntriesWithoutOwnerShowTheMountingUser) {
  // A tree written before owners were stored (no owner recorded) shows whoever mounts it, and
  // is written back without one (its encoding unchanged).
  repo::TreeObject t;
  repo::TreeEntry e;
  e.name = "old";
  e.type = repo::EntryType::kSymlink;
  e.mode = 0777;
  e.target = "x";
  e.size = 1;
  t.entries.push_back(e);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId root, repo_->objects().PutTree(t, "/"));
  REPO_ASSERT_OK(fs_->Shutdown());
  fs_.reset();
  REPO_ASSERT_OK_AND_ASSIGN(repo::Versioned<repo::MainRef> main, repo_->refs().ReadMain());
  repo::MainRef next = main.value;
  next.live_root = root;
  next.generation++;
  REPO_ASSERT_OK(repo_->refs().WriteMain(next, main.raw));
  ASSERT_NO_FATAL_FAILURE(Mount(true));
  const Attr a = AttrOf(Lookup(kRootNode, "old"));
  EXPECT_EQ(a.uid, kMounter);
  EXPECT_EQ(a.gid, kMounter);
  REPO_ASSERT_OK(fs_->Mkdir(kRoot, kRootNode, "new", 0755).status());
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(main, repo_->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeObject back, repo_->objects().LoadTree(main.value.live_root));
  ASSERT_NE(back.Find("old"), nullptr);
  EXPECT_FALSE(back.Find("old")->has_owner);
  EXPECT_TRUE(back.Find("new")->has_owner);
}

Status WriteAt(FileSystem* fs, const Caller& c, NodeId ino, const std::string& text) {
  auto h = fs->Open(c, ino, true, false);
  if (!h.ok()) return h.status();
  auto w = fs->Write(c, ino, h->handle, 0, AsBytes(text));
  if (!w.ok()) return w.status();
  RETURN_IF_ERROR(fs->Flush(c, ino, h->handle));
  return fs->Release(ino, h->handle);
}

std::string ReadText(FileSystem* fs, const Caller& c, NodeId ino) {
  auto h = fs->Open(c, ino, false, false);
  if (!h.ok()) return "<" + h.status().ToString() + ">";
  auto data = fs->Read(c, ino, h->handle, 0, 1 << 20);
  fs->Release(ino, h->handle).IgnoreError();
  return data.ok() ? std::string(data->begin(), data->end()) : "<" + data.status().ToString() + ">";
}

TEST_F(PosixTest, HardLinksShareOneNode) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(kAlice, work_, "d", 0755));
  const NodeId f = MakeFile(kAlice, work_, "f", 0644);
  REPO_ASSERT_OK(WriteAt(fs_.get(), kAlice, f, "first"));
  const int64_t ctime = AttrOf(f).ctime_ns;
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut l, fs_->Link(kAlice, f, d.attr.ino, "g"));
  EXPECT_EQ(l.attr.ino, f);
  EXPECT_EQ(l.attr.nlink, 2u);
  EXPECT_GE(AttrOf(f).ctime_ns, ctime);
  EXPECT_EQ(Lookup(d.attr.ino, "g"), f);
  REPO_ASSERT_OK(WriteAt(fs_.get(), kAlice, Lookup(d.attr.ino, "g"), "SECOND"));
  EXPECT_EQ(ReadText(fs_.get(), kAlice, Lookup(work_, "f")), "SECOND");
  EXPECT_CODE(fs_->Link(kAlice, f, d.attr.ino, "g"), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Link(kAlice, d.attr.ino, work_, "dirlink"), Code::kNotPermitted);
  // Renaming one name keeps the count; renaming a name over another of the same file does nothing.
  REPO_ASSERT_OK(fs_->Rename(kAlice, d.attr.ino, "g", d.attr.ino, "h", 0));
  EXPECT_EQ(AttrOf(f).nlink, 2u);
  REPO_ASSERT_OK(fs_->Rename(kAlice, d.attr.ino, "h", work_, "f", 0));
  EXPECT_EQ(AttrOf(f).nlink, 2u);
  // Committed and mounted again: still one node, reached by either name first.
  ASSERT_NO_FATAL_FAILURE(Remount());
  const NodeId w = Lookup(kRootNode, "w");
  const NodeId dd = Lookup(w, "d");
  const NodeId h = Lookup(dd, "h");
  EXPECT_EQ(AttrOf(h).nlink, 2u);
  EXPECT_EQ(Lookup(w, "f"), h);
  EXPECT_EQ(ReadText(fs_.get(), kAlice, h), "SECOND");
  // Unlinking one name keeps the other.
  REPO_ASSERT_OK(fs_->Unlink(kAlice, w, "f"));
  EXPECT_EQ(AttrOf(h).nlink, 1u);
  EXPECT_EQ(ReadText(fs_.get(), kAlice, h), "SECOND");
  ASSERT_NO_FATAL_FAILURE(Remount());
  const NodeId h2 = Lookup(Lookup(Lookup(kRootNode, "w"), "d"), "h");
  EXPECT_EQ(AttrOf(h2).nlink, 1u);
  EXPECT_EQ(ReadText(fs_.get(), kAlice, h2), "SECOND");
}

TEST_F(PosixTest, HardLinkReplacedByRenameAndChangedThroughAnUnloadedName) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut a, fs_->Mkdir(kRoot, work_, "a", 0777));
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut b, fs_->Mkdir(kRoot, work_, "b", 0777));
  const NodeId f = MakeFile(kAlice, a.attr.ino, "f", 0644);
  REPO_ASSERT_OK(WriteAt(fs_.get(), kAlice, f, "v1"));
  REPO_ASSERT_OK(fs_->Link(kAlice, f, b.attr.ino, "g").status());
  const NodeId other = MakeFile(kAlice, a.attr.ino, "other", 0644);
  REPO_ASSERT_OK(
      fs_->Rename(kAlice, a.attr.ino, "other", b.attr.ino, "g", 0));  // replaces one name
  EXPECT_EQ(AttrOf(f).nlink, 1u);
  EXPECT_NE(Lookup(b.attr.ino, "g"), f);
  (void)other;
  REPO_ASSERT_OK(fs_->Link(kAlice, f, b.attr.ino, "g2").status());
  ASSERT_NO_FATAL_FAILURE(Remount());
  // Only a/ is looked up before the write: b/ holds the other name, and must be written anew.
  const NodeId w = Lookup(kRootNode, "w");
  const NodeId f2 = Lookup(Lookup(w, "a"), "f");
  REPO_ASSERT_OK(WriteAt(fs_.get(), kAlice, f2, "v2 longer"));
  ASSERT_NO_FATAL_FAILURE(Remount());
  const NodeId g2 = Lookup(Lookup(Lookup(kRootNode, "w"), "b"), "g2");
  EXPECT_EQ(ReadText(fs_.get(), kAlice, g2), "v2 longer");
  EXPECT_EQ(AttrOf(g2).nlink, 2u);
}

TEST_F(PosixTest, LinkingAnotherUsersFileNeedsReadAndWrite) {
  const NodeId f = MakeFile(kAlice, work_, "f", 0644);
  EXPECT_CODE(fs_->Link(kBob, f, work_, "mine"), Code::kNotPermitted);  // protected_hardlinks
  REPO_ASSERT_OK(Chmod(kAlice, f, 0666));
  REPO_EXPECT_OK(fs_->Link(kBob, f, work_, "mine").status());
  REPO_EXPECT_OK(fs_->Link(kAlice, f, work_, "hers").status());
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut fifo,
                            fs_->Mknod(kAlice, work_, "p", NodeType::kFifo, 0666, 0));
  EXPECT_CODE(fs_->Link(kBob, fifo.attr.ino, work_, "p2"), Code::kNotPermitted);
  REPO_EXPECT_OK(fs_->Link(kRoot, fifo.attr.ino, work_, "p2").status());
  EXPECT_EQ(AttrOf(fifo.attr.ino).nlink, 2u);
}

}  // namespace
}  // namespace weightfs::vfs
