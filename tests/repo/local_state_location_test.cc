// Rollback detection per repository location (local_state.h): a replica, which shares its
// source's repository id and may be older, is not a rollback of the source; an older copy put
// back at the same location still is; a record written before locations were recorded is taken
// over by the first location.
#include <sys/stat.h>

#include "support/repo_fixtures.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/repo/replica.h"

namespace weightfs::repo {
namespace {

using testing::CommitFile;
using testing::FastInit;
using testing::Passphrase;
using testing::SharedStore;
using testing::TempDir;

constexpr char kPass[] = "correct horse battery staple";

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

class LocationStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(src_store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(src_, src_store_.Open(Passphrase(kPass)));
    REPO_ASSERT_OK_AND_ASSIGN(one_, CommitFile(src_.get(), "/a", AsBytes("1"), "one"));
    REPO_ASSERT_OK(CommitFile(src_.get(), "/a", AsBytes("2"), "two").status());
    // The replica has snapshot #1 only: older than the source, legitimately.
    REPO_ASSERT_OK(InitReplica(*src_, dst_store_.get()));
    REPO_ASSERT_OK_AND_ASSIGN(dst_, dst_store_.Open(Passphrase(kPass)));
    CopyOptions options;
    options.versions = {one_.id.Hex()};
    REPO_ASSERT_OK(CopyToReplica(src_.get(), dst_.get(), options, nullptr).status());
  }

  StateScope At(const std::string& location) const { return {state_.path(), location}; }

  TempDir state_;
  SharedStore src_store_, dst_store_;
  std::unique_ptr<Repository> src_, dst_;
  SnapshotInfo one_;
};

TEST_F(LocationStateTest, AnOlderReplicaElsewhereIsNoRollback) {
  std::string note;
  REPO_ASSERT_OK(CheckAndRecordHead(*src_, At("/data/source"), false, &note));
  REPO_EXPECT_OK(CheckAndRecordHead(*dst_, At("/backup/replica"), false, &note));
  REPO_EXPECT_OK(CheckAndRecordPolicy(*dst_, At("/backup/replica"), false, &note));
  REPO_EXPECT_OK(CheckAndRecordTags(*dst_, At("/backup/replica"), false, &note));
  // Keyed by the id alone, the replica would look rolled back (the reason for locations).
  REPO_ASSERT_OK(CheckAndRecordHead(*src_, At(""), false, &note));
  EXPECT_CODE(CheckAndRecordHead(*dst_, At(""), false, &note), Code::kCorruption);
}

TEST_F(LocationStateTest, AnOlderCopyAtTheSameLocationIsStillARollback) {
  std::string note;
  REPO_ASSERT_OK(CheckAndRecordHead(*src_, At("/data/source"), false, &note));
  // The replica's (older) content shows up where the source was seen.
  Status s = CheckAndRecordHead(*dst_, At("/data/source"), false, &note);
  EXPECT_CODE(s, Code::kCorruption);
  EXPECT_NE(s.message().find("went backwards"), std::string::npos) << s.message();
}

TEST_F(LocationStateTest, AnOlderRecordIsTakenOverByTheFirstLocation) {
  std::string note;
  // A record written before locations existed: named by the id alone.
  REPO_ASSERT_OK(CheckAndRecordHead(*src_, At(""), false, &note));
  const std::string legacy = state_.path() + "/" + ToHex(src_->config().repo_id);
  ASSERT_TRUE(Exists(legacy));
  // The first location takes it over: what it remembers (#2) still counts there.
  EXPECT_CODE(CheckAndRecordHead(*dst_, At("/data/source"), false, &note), Code::kCorruption);
  EXPECT_FALSE(Exists(legacy));
  REPO_EXPECT_OK(CheckAndRecordHead(*src_, At("/data/source"), false, &note));
  // Another location starts afresh.
  REPO_EXPECT_OK(CheckAndRecordHead(*dst_, At("/backup/replica"), false, &note));
}

}  // namespace
}  // namespace weightfs::repo
