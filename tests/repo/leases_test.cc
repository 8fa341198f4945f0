// Leases, the gc lock and the writer lock's kernel lock (leases.h, writer_lock.h), on a local
// store: a dead holder (a child process that exits without releasing) never blocks, a live one
// does; gc honours the roots of read leases and the window of write leases of other
// repositories, and not its own; refs/tags generations and their local record (local_state.h).
#include <gtest/gtest.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "support/repo_fixtures.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::repo {
namespace {

using testing::CommitFile;
using testing::FastInit;
using testing::Passphrase;
using testing::TempDir;

constexpr char kPass[] = "lease test passphrase";

// Runs fn in a child process that exits with fn's result without running destructors (as if
// killed), and waits for it. The child's locks die with it.
int InChild(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void AgeObject(const std::string& repo_dir, const ObjectId& id, int64_t seconds) {
  const std::string hex = id.Hex();
  const std::string path = repo_dir + "/objects/" + hex.substr(0, 2) + "/" + hex;
  const auto t = static_cast<time_t>(std::time(nullptr) - seconds);
  struct timeval tv[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
}

class LeasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = testing::LocalStoreAt(dir_.path());
    ASSERT_NE(store, nullptr);
    REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
  }
  std::unique_ptr<Repository> Open() {
    auto r = Repository::Open(testing::LocalStoreAt(dir_.path()), Passphrase(kPass));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  TempDir dir_;
};

TEST_F(LeasesTest, WriterLockOfADeadProcessIsTakenOverAtOnce) {
  auto store = testing::LocalStoreAt(dir_.path());
  // A child takes the lock and dies without releasing it: its record stays, its flock goes.
  EXPECT_EQ(InChild([&] {
              std::string note;
              auto l = WriterLock::Acquire(store.get(), "/mnt/dead", ::getpid(), &note);
              if (!l.ok()) return 1;
              (void)l->release();  // never released: the process "crashes"
              return 0;
            }),
            0);
  REPO_ASSERT_OK_AND_ASSIGN(auto record, store->ReadFile("locks/writer"));
  ASSERT_TRUE(record.has_value());
  std::string note;
  REPO_ASSERT_OK_AND_ASSIGN(auto lock,
                            WriterLock::Acquire(store.get(), "/mnt/next", ::getpid(), &note));
  EXPECT_NE(note.find("stale"), std::string::npos) << note;
  EXPECT_NE(note.find("/mnt/dead"), std::string::npos) << note;
  // A live holder (this process, through another open of the lock file) is refused, naming it.
  auto other = testing::LocalStoreAt(dir_.path());
  std::string note2;
  auto refused = WriterLock::Acquire(other.get(), "/mnt/third", ::getpid(), &note2);
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_NE(refused.status().message().find("/mnt/next"), std::string::npos)
      << refused.status().message();
  REPO_EXPECT_OK(lock->Release());
  REPO_ASSERT_OK_AND_ASSIGN(auto again,
                            WriterLock::Acquire(other.get(), "/mnt/third", ::getpid(), &note2));
  EXPECT_TRUE(note2.empty()) << note2;  // a released lock is not "stale"
}

TEST_F(LeasesTest, LeasesOfDeadProcessesAreRemovedAndLiveOnesListed) {
  auto store = testing::LocalStoreAt(dir_.path());
  EXPECT_EQ(InChild([&] {
              auto l = Lease::Register(store.get(), LeaseKind::kWrite, "dead writer");
              if (!l.ok()) return 1;
              (void)l->release();
              return 0;
            }),
            0);
  REPO_ASSERT_OK_AND_ASSIGN(
      auto live, Lease::Register(store.get(), LeaseKind::kRead, "reader", [&] {
        return Result<std::vector<ObjectId>>(std::vector<ObjectId>{ObjectId()});
      }));
  int removed = 0;
  REPO_ASSERT_OK_AND_ASSIGN(auto leases, LiveLeases(store.get(), &removed));
  EXPECT_EQ(removed, 1);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].name, live->name());
  EXPECT_EQ(leases[0].kind, LeaseKind::kRead);
  EXPECT_EQ(leases[0].pid, ::getpid());
  ASSERT_EQ(leases[0].roots.size(), 1u);
  REPO_EXPECT_OK(live->Release());
  REPO_ASSERT_OK_AND_ASSIGN(leases, LiveLeases(store.get(), &removed));
  EXPECT_TRUE(leases.empty());
  REPO_ASSERT_OK_AND_ASSIGN(auto files, store->ListFiles("locks"));
  EXPECT_TRUE(files.empty()) << files.front();
}

TEST_F(LeasesTest, GcKeepsTheTreeOfAReadLeaseAndFreesItOnceReleased) {
  auto writer = Open();
  REPO_ASSERT_OK(CommitFile(writer.get(), "/model", AsBytes("old weights"), "v1").status());
  REPO_ASSERT_OK_AND_ASSIGN(auto main, writer->refs().ReadMain());
  const ObjectId served = main.value.live_root;
  auto reader_store = testing::LocalStoreAt(dir_.path());
  REPO_ASSERT_OK_AND_ASSIGN(auto lease,
                            Lease::Register(reader_store.get(), LeaseKind::kRead, "ro mount", [&] {
                              return Result<std::vector<ObjectId>>(std::vector<ObjectId>{served});
                            }));
  REPO_ASSERT_OK(CommitFile(writer.get(), "/model", AsBytes("new weights"), "v2").status());
  REPO_ASSERT_OK(Forget(writer.get(), ForgetPolicy{1, 0, 0, false}, false).status());
  writer.reset();  // its write lease goes with it
  auto collector = Open();
  GcOptions options;
  options.grace_seconds = 0;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(collector.get(), options));
  EXPECT_EQ(r.leases, 1u);
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e, LookupPath(*collector, served, "/model"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*collector, e.id));
  EXPECT_EQ(AsString(content), "old weights");
  REPO_EXPECT_OK(lease->Release());
  REPO_ASSERT_OK_AND_ASSIGN(GcReport after, CollectGarbage(collector.get(), options));
  EXPECT_GT(after.deleted_objects, 0u);
  EXPECT_EQ(collector->objects().LoadTree(served).status().code(), Code::kCorruption);  // now gone
}

TEST_F(LeasesTest, AReadLeaseNamesTheTreesItIsUpdatedTo) {
  auto store = testing::LocalStoreAt(dir_.path());
  const ObjectId first = ObjectId::FromBytes(Bytes(ObjectId::kSize, 1)).value();
  const ObjectId second = ObjectId::FromBytes(Bytes(ObjectId::kSize, 2)).value();
  REPO_ASSERT_OK_AND_ASSIGN(
      auto lease, Lease::Register(store.get(), LeaseKind::kRead, "refreshing reader", [&] {
        return Result<std::vector<ObjectId>>(std::vector<ObjectId>{first});
      }));
  // The roots are made while gc is held off: a gc holding the lock makes the update wait.
  REPO_ASSERT_OK(lease->UpdateRoots([&] {
    return Result<std::vector<ObjectId>>(std::vector<ObjectId>{first, second});
  }));
  int removed = 0;
  REPO_ASSERT_OK_AND_ASSIGN(auto leases, LiveLeases(store.get(), &removed));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].roots, (std::vector<ObjectId>{first, second}));
  // A failure to make the roots leaves the record as it was.
  EXPECT_CODE(lease->UpdateRoots([] { return Result<std::vector<ObjectId>>(IoError("no")); }),
              Code::kIoError);
  REPO_ASSERT_OK_AND_ASSIGN(leases, LiveLeases(store.get(), &removed));
  EXPECT_EQ(leases[0].roots, (std::vector<ObjectId>{first, second}));
  REPO_EXPECT_OK(lease->Release());
  EXPECT_CODE(lease->UpdateRoots(
                  [&] { return Result<std::vector<ObjectId>>(std::vector<ObjectId>{first}); }),
              Code::kInternal);
}

TEST_F(LeasesTest, GcKeepsWhatALiveWriterWroteButFreesOlderGarbage) {
  auto writer = Open();
  REPO_ASSERT_OK(CommitFile(writer.get(), "/a", AsBytes("first"), "1").status());
  // Garbage from before the writer's lease (aged), and garbage the writer wrote (not aged).
  REPO_ASSERT_OK_AND_ASSIGN(
      ObjectId old_garbage,
      writer->objects().PutObject(ObjectType::kChunk, AsBytes("old garbage"), kLegacyKeyId));
  REPO_ASSERT_OK_AND_ASSIGN(
      ObjectId new_garbage,
      writer->objects().PutObject(ObjectType::kChunk, AsBytes("new garbage"), kLegacyKeyId));
  AgeObject(dir_.path(), old_garbage, 3600);
  auto collector = Open();
  GcOptions options;
  options.grace_seconds = 0;
  options.force = true;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(collector.get(), options));
  EXPECT_EQ(r.leases, 1u);
  EXPECT_GE(r.leased_objects, 1u);  // new_garbage, and the empty tree the first commit replaced
  EXPECT_EQ(r.deleted_objects, 1u);
  EXPECT_FALSE(*collector->store()->Contains(old_garbage));
  EXPECT_TRUE(*collector->store()->Contains(new_garbage));
  // gc's own repository's lease protects nothing: the same gc from the writer frees it.
  REPO_ASSERT_OK_AND_ASSIGN(GcReport own, CollectGarbage(writer.get(), options));
  EXPECT_EQ(own.leases, 0u);
  EXPECT_FALSE(*collector->store()->Contains(new_garbage));
  // Reusing an object gc deleted stores it again (the touch finds it gone).
  REPO_ASSERT_OK(writer->objects()
                     .PutObject(ObjectType::kChunk, AsBytes("new garbage"), kLegacyKeyId)
                     .status());
  EXPECT_TRUE(*collector->store()->Contains(new_garbage));
}

TEST_F(LeasesTest, TwoGcsAtOnceAndAWriterWaitingForGc) {
  auto store = testing::LocalStoreAt(dir_.path());
  REPO_ASSERT_OK_AND_ASSIGN(auto gc, GcLock::Acquire(store.get()));
  auto other = testing::LocalStoreAt(dir_.path());
  auto second = GcLock::Acquire(other.get());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("another gc"), std::string::npos)
      << second.status().message();
  // A writer registering now waits until gc lets go.
  std::atomic<bool> registered{false};
  std::thread w([&] {
    auto l = Lease::Register(other.get(), LeaseKind::kWrite, "waiting writer");
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    registered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(registered.load());
  gc.reset();
  w.join();
  EXPECT_TRUE(registered.load());
}

TEST_F(LeasesTest, TagsCarryAGenerationAndADeletedOrRolledBackTagsRefIsDetected) {
  TempDir state;
  auto repo = Open();
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s1, CommitFile(repo.get(), "/a", AsBytes("1"), "1"));
  REPO_ASSERT_OK(SetTag(repo.get(), "v1", s1.id, false));
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t g1, repo->refs().TagsGeneration());
  EXPECT_EQ(g1, 1u);
  std::string note;
  REPO_ASSERT_OK(CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false, &note));
  REPO_ASSERT_OK_AND_ASSIGN(auto v1_raw, repo->store()->ReadFile("refs/tags"));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s2, CommitFile(repo.get(), "/a", AsBytes("2"), "2"));
  REPO_ASSERT_OK(SetTag(repo.get(), "v2", s2.id, false));
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t g2, repo->refs().TagsGeneration());
  EXPECT_EQ(g2, 2u);
  REPO_ASSERT_OK(CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false, &note));
  // Rolled back to the genuine older refs/tags.
  REPO_ASSERT_OK(repo->store()->WriteFile("refs/tags", *v1_raw));
  Status rolled = CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false, &note);
  EXPECT_EQ(rolled.code(), Code::kCorruption);
  EXPECT_NE(rolled.message().find("backwards"), std::string::npos) << rolled.message();
  // Deleted.
  REPO_ASSERT_OK(repo->store()->DeleteFile("refs/tags"));
  Status deleted = CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false, &note);
  EXPECT_EQ(deleted.code(), Code::kCorruption);
  EXPECT_NE(deleted.message().find("missing"), std::string::npos) << deleted.message();
  EXPECT_TRUE(LostTaggedSnapshots(*repo, StateScope{state.path(), ""}).empty());
  // Accepted: the snapshots the lost tags named are remembered, and gc keeps them.
  REPO_ASSERT_OK(CheckAndRecordTags(*repo, StateScope{state.path(), ""}, true, &note));
  EXPECT_NE(note.find("accepted"), std::string::npos) << note;
  const auto lost = LostTaggedSnapshots(*repo, StateScope{state.path(), ""});
  EXPECT_EQ(std::set<ObjectId>(lost.begin(), lost.end()), (std::set<ObjectId>{s1.id, s2.id}));
  REPO_ASSERT_OK(CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false,
                                    &note));  // the new state is the norm now
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s3, CommitFile(repo.get(), "/a", AsBytes("3"), "3"));
  REPO_ASSERT_OK(Forget(repo.get(), ForgetPolicy{1, 0, 0, false}, false).status());
  GcOptions options;
  options.grace_seconds = 0;
  options.keep_snapshots = lost;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(repo.get(), options));
  EXPECT_EQ(r.kept_snapshots, 2u);
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotObject kept, repo->objects().LoadSnapshot(s1.id));
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e, LookupPath(*repo, kept.root, "/a"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*repo, e.id));
  EXPECT_EQ(AsString(content), "1");
  // Tagged again: no longer "lost".
  REPO_ASSERT_OK(SetTag(repo.get(), "v1", s1.id, false));
  REPO_ASSERT_OK(CheckAndRecordTags(*repo, StateScope{state.path(), ""}, false, &note));
  const auto still = LostTaggedSnapshots(*repo, StateScope{state.path(), ""});
  EXPECT_EQ(std::set<ObjectId>(still.begin(), still.end()), (std::set<ObjectId>{s2.id}));
  (void)s3;
}

}  // namespace
}  // namespace weightfs::repo
