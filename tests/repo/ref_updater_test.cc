// RefUpdater::UpdateRef, the one compare-and-swap loop for every ref: a lost race is retried on
// the value the winner wrote (never overwriting it), the function's own errors and "no change"
// end it at once, and a ref that keeps changing gives kConflict after kRefUpdateAttempts.
// Also the snapshot id prefix resolver and the shared name checks (names.h).
#include "weightfs/repo/ref_updater.h"

#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/core/names.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/snapshot_ids.h"

namespace weightfs::repo {
namespace {

using testing::FastInit;
using testing::Passphrase;
using testing::SharedStore;

constexpr char kPass[] = "ref updater test";

class RefUpdaterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    auto r = store_.Open(Passphrase(kPass));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }

  // Another writer's change of refs/tags: adds tag name -> the empty tree's id.
  void OtherWriterAddsTag(const std::string& name) {
    auto tags = repo_->refs().ReadTags();
    ASSERT_TRUE(tags.ok()) << tags.status().ToString();
    tags->value[name] = repo_->objects().EmptyTreeId();
    REPO_ASSERT_OK(repo_->refs().WriteTags(tags->value, tags->raw));
  }

  SharedStore store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(RefUpdaterTest, ConflictIsRetriedOnTheWinnersValue) {
  std::vector<TagMap> seen;
  REPO_ASSERT_OK(repo_->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    seen.push_back(*tags);
    // The first time, another writer changes refs/tags between this read and the swap.
    if (seen.size() == 1) OtherWriterAddsTag("theirs");
    (*tags)["mine"] = repo_->objects().EmptyTreeId();
    return true;
  }));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count("theirs"), 0u);
  EXPECT_EQ(seen[1].count("theirs"), 1u);  // the retry saw the winner's value
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  EXPECT_EQ(tags.value.count("theirs"), 1u);  // not overwritten
  EXPECT_EQ(tags.value.count("mine"), 1u);
}

TEST_F(RefUpdaterTest, MainConflictKeepsTheOtherCommitAndBumpsTheGeneration) {
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId theirs, repo_->objects().PutTree(TreeObject{}, "/"));
  int calls = 0;
  std::vector<MainRef> observed;
  repo_->refs().SetMainObserver([&](const MainRef& m) { observed.push_back(m); });
  REPO_ASSERT_OK(repo_->refs().UpdateMain([&](MainRef* main) -> Result<bool> {
    if (++calls == 1) {
      // Another writer moves the head between this read and the swap.
      auto now = repo_->refs().ReadMain();
      if (!now.ok()) return now.status();
      MainRef other = now->value;
      other.head_seq = 7;
      other.generation++;
      RETURN_IF_ERROR(repo_->refs().WriteMain(other, now->raw));
    }
    main->live_root = theirs;
    return true;
  }));
  EXPECT_EQ(calls, 2);
  REPO_ASSERT_OK_AND_ASSIGN(auto after, repo_->refs().ReadMain());
  EXPECT_EQ(after.value.head_seq, 7u);  // the other writer's change survived
  EXPECT_EQ(after.value.live_root, theirs);
  EXPECT_EQ(after.value.generation, before.value.generation + 2);
  ASSERT_EQ(observed.size(), 2u);  // the other write and ours
  EXPECT_EQ(observed.back().generation, after.value.generation);
}

TEST_F(RefUpdaterTest, GivesUpWithConflictAfterTheAttemptLimit) {
  int calls = 0;
  Status s = repo_->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    ++calls;
    OtherWriterAddsTag("t" + std::to_string(calls));  // every swap loses
    (*tags)["mine"] = repo_->objects().EmptyTreeId();
    return true;
  });
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_NE(s.message().find("refs/tags kept changing"), std::string::npos) << s.message();
  EXPECT_EQ(calls, kRefUpdateAttempts);
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  EXPECT_EQ(tags.value.count("mine"), 0u);
  EXPECT_EQ(tags.value.size(), static_cast<size_t>(kRefUpdateAttempts));  // none overwritten
}

TEST_F(RefUpdaterTest, FunctionErrorsAndNoChangeEndAtOnce) {
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());
  int calls = 0;
  // A kConflict of the function's own is its verdict, not a lost race: not retried.
  Status s = repo_->refs().UpdateMain([&](MainRef*) -> Result<bool> {
    ++calls;
    return Conflict("changed under me");
  });
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "changed under me");
  EXPECT_EQ(calls, 1);
  REPO_ASSERT_OK(repo_->refs().UpdateMain([&](MainRef*) -> Result<bool> {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 2);
  REPO_ASSERT_OK_AND_ASSIGN(auto after, repo_->refs().ReadMain());
  EXPECT_EQ(after.raw, before.raw);  // nothing written
}

TEST_F(RefUpdaterTest, ByteLevelUpdateSeesAbsentRef) {
  int calls = 0;
  REPO_ASSERT_OK(repo_->refs().UpdateRef(
      "refs/tags", [&](const std::optional<Bytes>& current) -> Result<std::optional<Bytes>> {
        ++calls;
        EXPECT_FALSE(current.has_value());  // no tag was ever set
        return std::optional<Bytes>();
      }));
  EXPECT_EQ(calls, 1);
}

TEST(RetryOnConflictTest, StopsAtFirstNonConflict) {
  int calls = 0;
  Status s = RetryOnConflict("x", [&] { return ++calls < 3 ? Conflict("again") : Status::Ok(); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  s = RetryOnConflict("thing", [&] { return NotFound("gone"); });
  EXPECT_EQ(s.code(), Code::kNotFound);
}

// --- snapshot id prefixes ---

std::vector<SnapshotInfo> Snapshots(const std::vector<std::string>& hex_ids) {
  std::vector<SnapshotInfo> out;
  out.reserve(hex_ids.size());
  for (const std::string& h : hex_ids) out.push_back(SnapshotInfo{*ObjectId::FromHex(h), {}});
  return out;
}

TEST(SnapshotIdPrefixTest, FindsTheOneMatch) {
  const std::string a(64, 'a'), b = std::string(8, 'a') + std::string(56, 'b');
  auto list = Snapshots({a, b, std::string(64, 'c')});
  auto found = FindSnapshotByIdPrefix(list, "cccccccc");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ((*found)->id.Hex(), std::string(64, 'c'));
  found = FindSnapshotByIdPrefix(list, a);  // a whole id is a prefix too
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->id.Hex(), a);
  EXPECT_EQ(FindSnapshotByIdPrefix(list, "aaaaaaaa").status().code(), Code::kInvalidArgument);
  EXPECT_NE(FindSnapshotByIdPrefix(list, "aaaaaaaa").status().message().find("ambiguous"),
            std::string::npos);
  EXPECT_EQ(FindSnapshotByIdPrefix(list, "dddddddd").status().code(), Code::kNotFound);
  EXPECT_EQ(FindSnapshotByIdPrefix(list, a + "0").status().code(), Code::kNotFound);
}

TEST(SnapshotIdPrefixTest, RefusesMalformedPrefixes) {
  auto list = Snapshots({std::string(64, 'a')});
  for (const char* bad : {"", "aaaaaaa", "AAAAAAAA", "aaaaaaag", "aaaa aaa"}) {
    EXPECT_EQ(FindSnapshotByIdPrefix(list, bad).status().code(), Code::kInvalidArgument) << bad;
    EXPECT_FALSE(ValidateSnapshotIdPrefix(bad).ok()) << bad;
  }
  EXPECT_TRUE(ValidateSnapshotIdPrefix("0123abcd").ok());
}

TEST_F(RefUpdaterTest, ResolveVersionUsesThePrefixResolver) {
  REPO_ASSERT_OK_AND_ASSIGN(auto snap, SnapshotLive(repo_.get(), {}));
  const std::string hex = snap.id.Hex();
  REPO_ASSERT_OK_AND_ASSIGN(auto by_prefix, repo_->ResolveVersion(hex.substr(0, 8)));
  EXPECT_EQ(by_prefix.id, snap.id);
  EXPECT_EQ(repo_->ResolveVersion(hex.substr(0, 7)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(repo_->ResolveVersion("nosuchtag").status().code(), Code::kNotFound);
}

// --- shared name checks ---

TEST(NamesTest, IsLowerHex) {
  EXPECT_TRUE(IsLowerHex("0123456789abcdef"));
  EXPECT_FALSE(IsLowerHex(""));
  EXPECT_FALSE(IsLowerHex("ABCDEF"));
  EXPECT_FALSE(IsLowerHex("12g4"));
  EXPECT_FALSE(IsLowerHex("12 4"));
}

// The same table as tests/policy/role_name_test.cc: a key slot's role and a policy's role
// follow one rule (ValidateRoleName).
struct RoleCase {
  const char* name;
  bool valid;
};
constexpr RoleCase kRoleCases[] = {
    {"admin", true},
    {"ml-team.readers_2", true},
    {".hidden", true},
    {"-dash", true},
    {"A", true},
    {"", false},
    {"a b", false},
    {"no/such", false},
    {"caf\xc3\xa9", false},
};

TEST_F(RefUpdaterTest, KeySlotRolesFollowTheRoleNameRule) {
  int i = 0;
  for (const RoleCase& c : kRoleCases) {
    EXPECT_EQ(ValidateRoleName(c.name).ok(), c.valid) << c.name;
    const std::string slot = "slot" + std::to_string(i++);
    Status s = repo_->key_slots().AddKeySlot(slot, c.name, Passphrase("p"), kTestScrypt);
    EXPECT_EQ(s.ok(), c.valid) << c.name << ": " << s.ToString();
  }
  EXPECT_TRUE(ValidateRoleName(std::string(kMaxRoleNameLength, 'r')).ok());
  EXPECT_FALSE(ValidateRoleName(std::string(kMaxRoleNameLength + 1, 'r')).ok());
  EXPECT_FALSE(repo_->key_slots()
                   .AddKeySlot("long", std::string(kMaxRoleNameLength + 1, 'r'), Passphrase("p"),
                               kTestScrypt)
                   .ok());
}

}  // namespace
}  // namespace weightfs::repo
