// gc against concurrent writers on the same local repository: `gc --grace 0`
// in a loop beside offline snapshots and imports (separate Repository instances on separate
// store handles, as separate processes would be) must never delete an object a writer is about
// to publish. A store that holds every refs/main publication back a few milliseconds widens the
// window between writing objects and naming them, where the old gc deleted them.
#include <gtest/gtest.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/repo_fixtures.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/history.h"

namespace weightfs::repo {
namespace {

using testing::CommitFile;
using testing::FastInit;
using testing::Passphrase;
using testing::TempDir;

constexpr char kPass[] = "gc race passphrase";

// Delays each publication of refs/main: the writer's objects sit unnamed for a while.
class SlowPublishStore : public storage::FaultStore {
 public:
  explicit SlowPublishStore(std::unique_ptr<storage::ObjectStore> target)
      : FaultStore(target.get(), storage::FaultPlan{}), target_(std::move(target)) {}
  Status CompareAndSwapFile(const std::string& name, const std::optional<Bytes>& expected,
                            ByteView data) override {
    if (name == "refs/main") std::this_thread::sleep_for(std::chrono::milliseconds(15));
    return FaultStore::CompareAndSwapFile(name, expected, data);
  }

 private:
  std::unique_ptr<storage::ObjectStore> target_;
};

TEST(GcRaceTest, GcWithGraceZeroNeverDeletesWhatAConcurrentWriterPublishes) {
  TempDir dir;
  {
    auto store = testing::LocalStoreAt(dir.path());
    ASSERT_NE(store, nullptr);
    REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), FastInit()));
  }
  REPO_ASSERT_OK_AND_ASSIGN(
      auto writer,
      Repository::Open(std::make_unique<SlowPublishStore>(testing::LocalStoreAt(dir.path())),
                       Passphrase(kPass)));
  REPO_ASSERT_OK_AND_ASSIGN(auto collector,
                            Repository::Open(testing::LocalStoreAt(dir.path()), Passphrase(kPass)));
  REPO_ASSERT_OK(CommitFile(writer.get(), "/base", AsBytes("base content"), "base").status());
  // Old garbage, which gc must still free while the writer runs.
  REPO_ASSERT_OK_AND_ASSIGN(
      ObjectId garbage,
      collector->objects().PutObject(ObjectType::kChunk, AsBytes("old garbage"), kLegacyKeyId));
  {
    const std::string hex = garbage.Hex();
    const std::string path = dir.path() + "/objects/" + hex.substr(0, 2) + "/" + hex;
    const auto hour_ago = static_cast<time_t>(std::time(nullptr) - 3600);
    struct timeval tv[2] = {{hour_ago, 0}, {hour_ago, 0}};
    ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
  }

  std::atomic<bool> done{false};
  Status writer_status;
  std::thread w([&] {
    for (int i = 0; i < 40 && writer_status.ok(); ++i) {
      if (i % 4 == 0) {
        // An import: new chunks, file and tree objects, then the snapshot.
        writer_status = CommitFile(writer.get(), "/f" + std::to_string(i),
                                   AsBytes("content of file " + std::to_string(i)), "import")
                            .status();
      } else {
        writer_status =
            SnapshotLive(writer.get(), {"snapshot " + std::to_string(i), "", false}).status();
      }
    }
    done = true;
  });
  int runs = 0;
  uint64_t deleted = 0;
  Status gc_status;
  while (!done) {
    GcOptions options;
    options.grace_seconds = 0;
    auto r = CollectGarbage(collector.get(), options);
    if (!r.ok() && r.status().code() != Code::kBusy) gc_status = r.status();
    if (r.ok()) deleted += r->deleted_objects;
    ++runs;
  }
  w.join();
  std::printf("[   INFO   ] %d gc runs beside the writer, %llu objects deleted\n", runs,
              static_cast<unsigned long long>(deleted));
  REPO_EXPECT_OK(writer_status);
  REPO_EXPECT_OK(gc_status);
  EXPECT_GT(runs, 5);
  REPO_ASSERT_OK_AND_ASSIGN(bool garbage_left, collector->store()->Contains(garbage));
  EXPECT_FALSE(garbage_left) << "gc kept garbage older than every writer";

  REPO_ASSERT_OK_AND_ASSIGN(auto snapshots, collector->ListSnapshots());
  EXPECT_EQ(snapshots.size(), 41u);
  CheckOptions deep;
  deep.read_data = true;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*collector, deep));
  EXPECT_TRUE(report.problems.empty())
      << report.problems.size() << " problems, first: " << report.problems.front();
}

}  // namespace
}  // namespace weightfs::repo
