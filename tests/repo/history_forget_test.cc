// History tools (repo/history.h): restore and forget policies.
#include "weightfs/repo/history.h"

#include "repo/history_test_util.h"

namespace weightfs::repo {
namespace {

using namespace history_test;  // NOLINT(google-build-using-namespace): the shared fixture

// --- restore ---

TEST_F(HistoryTest, RestoreIsANewSnapshot) {
  SnapshotInfo v1 = Commit("/dir/a", "version one");
  Commit("/dir/b", "bee");
  SnapshotInfo s3 = Commit("/dir/a", "version two");
  REPO_ASSERT_OK(SetTag(repo_.get(), "v1", v1.id, false));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo r, RestoreToLive(repo_.get(), "v1", "dir/a"));
  EXPECT_EQ(r.snapshot.message, "restore /dir/a from " + v1.id.Hex().substr(0, 16));
  EXPECT_EQ(r.snapshot.parent, s3.id);
  EXPECT_EQ(r.snapshot.seq, 4u);
  // History is untouched; the live tree has a's old content and keeps b.
  std::vector<SnapshotInfo> chain = Chain();
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[1].id, s3.id);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_EQ(main.value.live_root, r.snapshot.root);
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry a, LookupPath(*repo_, main.value.live_root, "/dir/a"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, ReadContent(*repo_, a.id));
  EXPECT_EQ(AsString(content), "version one");
  EXPECT_TRUE(LookupPath(*repo_, main.value.live_root, "/dir/b").ok());

  // Everything: the root of v1 (b disappears).
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo all,
                            RestoreToLive(repo_.get(), v1.id.Hex().substr(0, 10), "/"));
  EXPECT_EQ(all.snapshot.root, v1.snapshot.root);
  EXPECT_EQ(Chain().size(), 5u);

  EXPECT_EQ(RestoreToLive(repo_.get(), "v1", "/dir/b").status().code(), Code::kNotFound);
  EXPECT_EQ(RestoreToLive(repo_.get(), "live", "/").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Chain().size(), 5u);
}

// --- forget ---

TEST_F(HistoryTest, ForgetKeepLastRelinksAndKeepsNumbersGrowing) {
  std::vector<SnapshotInfo> s;
  s.reserve(5);
  for (int i = 0; i < 5; ++i) s.push_back(CommitUniqueAt(kMondayNs + i * 1000, i));
  REPO_ASSERT_OK(SetTag(repo_.get(), "old", s[1].id, false));
  REPO_ASSERT_OK(SetTag(repo_.get(), "kept", s[3].id, false));
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult dry, Forget(repo_.get(), Policy(2, 0, 0, false), true));
  EXPECT_EQ(dry.kept(), 2u);
  EXPECT_EQ(dry.forgotten(), 3u);
  REPO_ASSERT_OK_AND_ASSIGN(auto unchanged, repo_->refs().ReadMain());
  EXPECT_EQ(unchanged.raw, before.raw);

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(2, 0, 0, false), false));
  ASSERT_EQ(r.decisions.size(), 5u);
  EXPECT_EQ(r.decisions[0].reasons, (std::vector<std::string>{"head", "last"}));
  EXPECT_EQ(r.decisions[1].reasons, (std::vector<std::string>{"last"}));
  EXPECT_FALSE(r.decisions[2].keep);
  EXPECT_EQ(r.removed_tags, (std::vector<std::string>{"old"}));
  std::vector<SnapshotInfo> chain = Chain();
  ASSERT_EQ(chain.size(), 2u);
  // New objects, same content; the head is the old head's number + 1.
  EXPECT_EQ(chain[0].snapshot.seq, 6u);
  EXPECT_EQ(chain[1].snapshot.seq, 5u);
  EXPECT_EQ(chain[0].snapshot.parent, chain[1].id);
  EXPECT_FALSE(chain[1].snapshot.parent.has_value());
  EXPECT_EQ(chain[0].snapshot.root, s[4].snapshot.root);
  EXPECT_EQ(chain[1].snapshot.root, s[3].snapshot.root);
  EXPECT_EQ(chain[1].snapshot.time_ns, s[3].snapshot.time_ns);
  EXPECT_EQ(chain[1].snapshot.message, "s3");
  EXPECT_EQ(r.renamed.at(s[3].id), chain[1].id);
  ASSERT_TRUE(r.new_head.has_value());
  EXPECT_EQ(r.new_head->id, chain[0].id);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_EQ(main.value.head_seq, 6u);
  EXPECT_EQ(main.value.live_root, before.value.live_root);
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  EXPECT_EQ(tags.value, (std::map<std::string, ObjectId>{{"kept", chain[1].id}}));
  // Id prefixes of the new snapshots resolve; the repository checks clean.
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo by_prefix,
                            repo_->ResolveVersion(chain[1].id.Hex().substr(0, 8)));
  EXPECT_EQ(by_prefix.id, chain[1].id);
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, {}));
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();

  // A second forget with nothing to drop changes nothing; a new commit continues the numbers.
  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult again, Forget(repo_.get(), Policy(2, 0, 0, false), false));
  EXPECT_EQ(again.forgotten(), 0u);
  EXPECT_FALSE(again.new_head.has_value());
  SnapshotInfo after = Commit("/x", "later");
  EXPECT_EQ(after.snapshot.seq, 7u);
  EXPECT_EQ(Chain().size(), 3u);
}

TEST_F(HistoryTest, ForgetKeepDailyAndWeekly) {
  // Newest first in the chain: two per day on some days, across three weeks.
  const std::vector<int64_t> times = {
      kMondayNs + 8 * 3600LL * 1000000000LL,                // week 2, Mon 08:00
      kMondayNs + 20 * 3600LL * 1000000000LL,               // week 2, Mon 20:00
      kMondayNs + kDayNs + 9 * 3600LL * 1000000000LL,       // week 2, Tue
      kMondayNs + 7 * kDayNs + 10 * 3600LL * 1000000000LL,  // week 3, Mon 10:00
      kMondayNs + 7 * kDayNs + 11 * 3600LL * 1000000000LL,  // week 3, Mon 11:00
      kMondayNs + 15 * kDayNs,                              // week 4, Tue 00:00
  };
  std::vector<SnapshotInfo> s;
  for (size_t i = 0; i < times.size(); ++i)
    s.push_back(CommitUniqueAt(times[i], static_cast<int>(i)));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult daily, Forget(repo_.get(), Policy(0, 3, 0, false), true));
  std::vector<bool> keep;
  for (const auto& d : daily.decisions) keep.push_back(d.keep);
  // Newest first: week 4 Tue (day 1), week 3 Mon 11:00 (day 2), 10:00 (same day), Tue (day 3), ...
  EXPECT_EQ(keep, (std::vector<bool>{true, true, false, true, false, false}));
  EXPECT_EQ(daily.decisions[1].reasons, (std::vector<std::string>{"daily 2026-01-12"}));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult weekly, Forget(repo_.get(), Policy(0, 0, 2, false), true));
  keep.clear();
  for (const auto& d : weekly.decisions) keep.push_back(d.keep);
  EXPECT_EQ(keep, (std::vector<bool>{true, true, false, false, false, false}));
  EXPECT_EQ(weekly.decisions[1].reasons, (std::vector<std::string>{"weekly 2026-W03"}));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(1, 0, 3, false), false));
  EXPECT_EQ(r.kept(), 3u);
  std::vector<std::string> messages = Messages();
  EXPECT_EQ(messages, (std::vector<std::string>{"s5", "s4", "s2"}));
}

TEST_F(HistoryTest, ForgetKeepTaggedKeepsAndRemapsTags) {
  std::vector<SnapshotInfo> s;
  s.reserve(4);
  for (int i = 0; i < 4; ++i) s.push_back(CommitUniqueAt(kMondayNs + i * 1000, i));
  REPO_ASSERT_OK(SetTag(repo_.get(), "first", s[0].id, false));
  REPO_ASSERT_OK(SetTag(repo_.get(), "also-first", s[0].id, false));
  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(1, 0, 0, true), false));
  EXPECT_EQ(r.kept(), 2u);
  EXPECT_TRUE(r.removed_tags.empty());
  EXPECT_EQ(r.decisions[3].reasons, (std::vector<std::string>{"tagged also-first first"}));
  EXPECT_EQ(Messages(), (std::vector<std::string>{"s3", "s0"}));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo first, repo_->ResolveVersion("first"));
  EXPECT_EQ(first.id, Chain()[1].id);
  EXPECT_EQ(first.snapshot.root, s[0].snapshot.root);

  EXPECT_EQ(Forget(repo_.get(), {}, false).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Forget(repo_.get(), Policy(-1, 0, 0, false), false).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace weightfs::repo
