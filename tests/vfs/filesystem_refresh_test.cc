// A read-only mount serving the live tree another writer commits (FileSystem::RefreshLiveTree,
// RefreshFromMain, NodeTable::Refresh): what changed is served, what did not keeps its inode,
// open handles keep what they opened, an older refs/main is never taken.
#include <chrono>
#include <set>
#include <thread>

#include "vfs/filesystem_fixture.h"
#include "weightfs/repo/leases.h"

namespace weightfs::vfs {
namespace {

class RefreshTest : public FileSystemTest {
 protected:
  // A read-only mount of the repository as committed now (fs_ is the writer).
  std::unique_ptr<FileSystem> ReadOnlyMount(double refresh_s = 0) {
    FsOptions o = Options();
    o.read_only = true;
    o.live_refresh_s = refresh_s;
    o.invalidate = [this](const KernelNames& names) {
      std::lock_guard lock(log_mu_);
      for (const auto& [parent, name] : names.entries) invalidated_.insert(name);
    };
    auto fs = FileSystem::Create(repo_.get(), std::move(o));
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    return fs.ok() ? std::move(fs).value() : nullptr;
  }
  std::set<std::string> invalidated_;
};

TEST_F(RefreshTest, ServesWhatTheWriterCommitted) {
  MakeFile(kRootNode, "a", "first a");
  const NodeId d = MakeDir(kRootNode, "d");
  MakeFile(d, "b", "b stays");
  MakeFile(d, "gone", "removed later");
  const NodeId e = MakeDir(d, "e");
  MakeFile(e, "c", "deep");
  REPO_ASSERT_OK(fs_->Commit());
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  const SnapMap before = WalkFs(ro.get());  // loads every directory
  const NodeId ro_a = Ino(kRootNode, "a", ro.get());
  const NodeId ro_d = Ino(kRootNode, "d", ro.get());
  const NodeId ro_b = Ino(ro_d, "b", ro.get());
  const NodeId ro_e = Ino(ro_d, "e", ro.get());
  const NodeId ro_c = Ino(ro_e, "c", ro.get());

  MakeFile(kRootNode, "new", "appeared");
  REPO_ASSERT_OK(fs_->Unlink(c_, d, "gone"));
  MakeFile(e, "c2", "beside c");
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "a"));
  MakeFile(kRootNode, "a", "second a, longer");
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(WalkFs(ro.get()), before) << "a read-only mount changed before any refresh";

  REPO_ASSERT_OK_AND_ASSIGN(bool changed, ro->RefreshFromMain());
  EXPECT_TRUE(changed);
  EXPECT_EQ(WalkFs(ro.get()), Committed()) << Describe(WalkFs(ro.get()));
  // Unchanged nodes keep their inode numbers; the rewritten file is a new node.
  EXPECT_EQ(Ino(kRootNode, "d", ro.get()), ro_d);
  EXPECT_EQ(Ino(ro_d, "b", ro.get()), ro_b);
  EXPECT_EQ(Ino(ro_d, "e", ro.get()), ro_e);
  EXPECT_EQ(Ino(ro_e, "c", ro.get()), ro_c);
  EXPECT_NE(Ino(kRootNode, "a", ro.get()), ro_a);
  EXPECT_CODE(ro->Lookup(c_, ro_d, "gone"), Code::kNotFound);
  // The kernel is told to forget exactly the names that changed.
  EXPECT_EQ(invalidated_, (std::set<std::string>{"a", "new", "gone", "c2"}));
  // Nothing new: no refresh.
  REPO_ASSERT_OK_AND_ASSIGN(changed, ro->RefreshFromMain());
  EXPECT_FALSE(changed);
  REPO_ASSERT_OK(ro->Shutdown());
}

TEST_F(RefreshTest, OpenHandlesKeepWhatTheyOpened) {
  std::mt19937_64 rng(TestSeed());
  const Bytes old_data = RandomBytes(rng, 300 * kKiB);
  const Bytes new_data = RandomBytes(rng, 200 * kKiB);
  const NodeId w = MakeFile(kRootNode, "weights.bin", old_data);
  REPO_ASSERT_OK(fs_->Commit());
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  const NodeId ino = Ino(kRootNode, "weights.bin", ro.get());
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut h, ro->Open(c_, ino, false, false));
  REPO_ASSERT_OK_AND_ASSIGN(auto wh, fs_->Open(c_, w, true, true));
  REPO_ASSERT_OK(fs_->Write(c_, w, wh.handle, 0, new_data).status());
  REPO_ASSERT_OK(fs_->Flush(c_, w, wh.handle));
  REPO_ASSERT_OK(fs_->Release(w, wh.handle));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(bool changed, ro->RefreshFromMain());
  ASSERT_TRUE(changed);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, ro->Read(c_, ino, h.handle, 0, old_data.size() + 10));
  EXPECT_EQ(got, old_data) << "an open handle switched to the new content";
  REPO_ASSERT_OK(ro->Release(ino, h.handle));
  EXPECT_EQ(ReadAll(Ino(kRootNode, "weights.bin", ro.get()), ro.get()), new_data);
  REPO_ASSERT_OK(ro->Shutdown());
}

TEST_F(RefreshTest, UnloadedDirectoriesLoadTheNewTreeLater) {
  const NodeId d = MakeDir(kRootNode, "never-listed");
  MakeFile(d, "x", "old x");
  REPO_ASSERT_OK(fs_->Commit());
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  MakeFile(d, "y", "new y");
  REPO_ASSERT_OK(fs_->Unlink(c_, d, "x"));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK(ro->RefreshFromMain().status());
  const NodeId ro_d = Ino(kRootNode, "never-listed", ro.get());
  EXPECT_CODE(ro->Lookup(c_, ro_d, "x"), Code::kNotFound);
  const Bytes y = ReadAll(Ino(ro_d, "y", ro.get()), ro.get());
  EXPECT_EQ(std::string(y.begin(), y.end()), "new y");
  REPO_ASSERT_OK(ro->Shutdown());
}

TEST_F(RefreshTest, AnOlderRefsMainIsNotTaken) {
  MakeFile(kRootNode, "v1", "one");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(auto old_main, repo_->refs().ReadMain());
  MakeFile(kRootNode, "v2", "two");
  REPO_ASSERT_OK(fs_->Commit());
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  // Someone puts the older (validly sealed) refs/main back.
  REPO_ASSERT_OK(store_.get()->WriteFile("refs/main", *old_main.raw));
  REPO_ASSERT_OK_AND_ASSIGN(bool changed, ro->RefreshFromMain());
  EXPECT_FALSE(changed);
  Ino(kRootNode, "v2", ro.get());  // still served
  std::lock_guard lock(log_mu_);
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("went back to generation") != std::string::npos;
  })) << "the rollback was not logged";
}

TEST_F(RefreshTest, ARunningMountRefreshesByItself) {
  auto ro = ReadOnlyMount(/*refresh_s=*/0.02);
  ASSERT_NE(ro, nullptr);
  ro->Start();
  MakeFile(kRootNode, "later", "committed after the mount");
  REPO_ASSERT_OK(fs_->Commit());
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    seen = ro->Lookup(c_, kRootNode, "later").ok();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << "the new file did not appear within 5 s";
  REPO_ASSERT_OK(ro->Shutdown());
  std::lock_guard lock(log_mu_);
  EXPECT_EQ(invalidated_.count("later"), 1u);
}

TEST_F(RefreshTest, TheReadLeaseNamesEveryTreeServedLately) {
  MakeFile(kRootNode, "f", "0");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  const ObjectId first = main.value.live_root;
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  REPO_ASSERT_OK_AND_ASSIGN(auto lease,
                            repo::Lease::Register(store_.get(), repo::LeaseKind::kRead, "ro", [&] {
                              return Result<std::vector<ObjectId>>(std::vector<ObjectId>{first});
                            }));
  ro->SetReadLease(lease.get(), {first});
  std::vector<ObjectId> served = {first};
  for (int i = 1; i <= static_cast<int>(FileSystem::kLeasedRoots) + 2; ++i) {
    MakeFile(kRootNode, "f" + std::to_string(i), std::to_string(i));
    REPO_ASSERT_OK(fs_->Commit());
    REPO_ASSERT_OK_AND_ASSIGN(bool changed, ro->RefreshFromMain());
    ASSERT_TRUE(changed);
    REPO_ASSERT_OK_AND_ASSIGN(main, repo_->refs().ReadMain());
    served.push_back(main.value.live_root);
    if (served.size() > FileSystem::kLeasedRoots) served.erase(served.begin());
    int removed = 0;
    REPO_ASSERT_OK_AND_ASSIGN(auto leases, repo::LiveLeases(store_.get(), &removed));
    auto read = std::find_if(leases.begin(), leases.end(), [](const repo::LeaseInfo& l) {
      return l.kind == repo::LeaseKind::kRead;
    });
    ASSERT_NE(read, leases.end());
    EXPECT_EQ(read->roots, served) << "after refresh " << i;
  }
  REPO_ASSERT_OK(ro->Shutdown());
  REPO_ASSERT_OK(lease->Release());
}

TEST_F(RefreshTest, AFailedRefreshKeepsTheOldTreeAndTheNextOneCatchesUp) {
  const NodeId d = MakeDir(kRootNode, "d");
  const NodeId e = MakeDir(d, "e");
  MakeFile(e, "f", "old");
  REPO_ASSERT_OK(fs_->Commit());
  auto ro = ReadOnlyMount();
  ASSERT_NE(ro, nullptr);
  const SnapMap before = WalkFs(ro.get());
  REPO_ASSERT_OK(fs_->Unlink(c_, e, "f"));
  MakeFile(e, "f", "new, longer");
  REPO_ASSERT_OK(fs_->Commit());
  // The new tree of d/e cannot be read for a while.
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry moved, CommittedEntry("/d/e"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes sealed, store_.get()->Get(moved.id));
  REPO_ASSERT_OK(store_.get()->Delete(moved.id));
  EXPECT_FALSE(ro->RefreshFromMain().ok());
  EXPECT_EQ(WalkFs(ro.get()), before) << "a failed refresh changed what is served";
  REPO_ASSERT_OK(store_.get()->Put(moved.id, sealed));
  REPO_ASSERT_OK_AND_ASSIGN(bool changed, ro->RefreshFromMain());
  EXPECT_TRUE(changed);
  EXPECT_EQ(WalkFs(ro.get()), Committed());
  REPO_ASSERT_OK(ro->Shutdown());
}

TEST_F(RefreshTest, AReadWriteMountRefusesAnotherTree) {
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_CODE(fs_->RefreshLiveTree(main.value.live_root), Code::kNotPermitted);
}

}  // namespace
}  // namespace weightfs::vfs
