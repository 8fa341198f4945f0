// Shared by the history_*_test.cc files: the HistoryTest fixture (an in-memory repository with
// helpers to commit snapshots at chosen times) and policy/check helpers.
#pragma once

#include "weightfs/repo/history.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "support/repo_fixtures.h"
#include "support/safetensors_gen.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::repo::history_test {

using testgen::GenTensor;
using testgen::MakeSafetensors;
using testing::AllObjects;
using testing::CommitFile;
using testing::FastInit;
using testing::FileEntry;
using testing::Passphrase;
using testing::RandomBytes;
using testing::ReadContent;
using testing::SharedStore;
using testing::TempDir;
using testing::TestSeed;
using testing::WriteContent;

inline constexpr char kPass[] = "correct horse battery staple";
inline constexpr int64_t kDayNs = 86400LL * 1000000000LL;
// 2026-01-05 00:00:00 UTC, a Monday.
inline constexpr int64_t kMondayNs = 1767571200LL * 1000000000LL;

inline ForgetPolicy Policy(int last, int daily, int weekly, bool tagged) {
  ForgetPolicy p;
  p.keep_last = last;
  p.keep_daily = daily;
  p.keep_weekly = weekly;
  p.keep_tagged = tagged;
  return p;
}

inline CheckOptions DeepCheck() {
  CheckOptions o;
  o.read_data = true;
  return o;
}

inline int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
  }

  // Commits data at path and returns the snapshot.
  SnapshotInfo Commit(const std::string& path, const std::string& data,
                      const std::string& message = "c") {
    auto s = CommitFile(repo_.get(), path, AsBytes(data), message);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }

  // Commits a snapshot of a live tree changed by change(root), with the given time.
  SnapshotInfo CommitAt(int64_t time_ns, const std::string& message,
                        const std::function<Result<ObjectId>(const ObjectId&)>& change) {
    auto main = repo_->refs().ReadMain();
    EXPECT_TRUE(main.ok());
    auto root = change(main->value.live_root);
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    SnapshotObject s;
    s.root = *root;
    s.parent = main->value.head;
    s.seq = main->value.head_seq + 1;
    s.time_ns = time_ns;
    s.author = "admin";
    s.message = message;
    auto id = repo_->objects().PutObject(ObjectType::kSnapshot, EncodeSnapshot(s), kLegacyKeyId);
    EXPECT_TRUE(id.ok());
    MainRef next = main->value;
    next.head = *id;
    next.head_seq = s.seq;
    next.live_root = *root;
    next.generation++;
    EXPECT_TRUE(repo_->refs().WriteMain(next, main->raw).ok());
    return SnapshotInfo{*id, s};
  }

  // A snapshot at time_ns in which /f<i> holds content unique to it.
  SnapshotInfo CommitUniqueAt(int64_t time_ns, int i) {
    return CommitAt(time_ns, "s" + std::to_string(i),
                    [&](const ObjectId& root) -> Result<ObjectId> {
                      const std::string data = "content of snapshot " + std::to_string(i);
                      ASSIGN_OR_RETURN(ObjectId id, WriteContent(repo_.get(), AsBytes(data)));
                      return PutAtPath(repo_.get(), root, {"f" + std::to_string(i)},
                                       FileEntry(id, data.size()));
                    });
  }

  // A new root without top-level entry name.
  ObjectId RemoveTop(const ObjectId& root, const std::string& name) {
    auto tree = repo_->objects().LoadTree(root);
    EXPECT_TRUE(tree.ok());
    std::erase_if(tree->entries, [&](const TreeEntry& e) { return e.name == name; });
    auto id = repo_->objects().PutTree(*tree, "/");
    EXPECT_TRUE(id.ok());
    return *id;
  }

  std::vector<ObjectId> Ids(const std::vector<SnapshotInfo>& snaps) {
    std::vector<ObjectId> out;
    out.reserve(snaps.size());
    for (const auto& s : snaps) out.push_back(s.id);
    return out;
  }

  std::vector<SnapshotInfo> Chain() {
    auto snaps = repo_->ListSnapshots();
    EXPECT_TRUE(snaps.ok()) << snaps.status().ToString();
    return snaps.ok() ? *snaps : std::vector<SnapshotInfo>{};
  }

  std::vector<std::string> Messages() {
    std::vector<std::string> out;
    for (const auto& s : Chain()) out.push_back(s.snapshot.message);
    return out;
  }

  SharedStore store_;
  std::unique_ptr<Repository> repo_;
};

}  // namespace weightfs::repo::history_test
